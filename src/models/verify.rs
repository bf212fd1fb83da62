//! File verification and installation: streaming sha256, the `.verified.json` stamp (size + mtime
//! + sha256 per file, so unchanged files are not re-hashed), and atomic `<file>.partial` installs.

use std::collections::BTreeMap;
use std::io::{self, IsTerminal, Read, Write};
use std::path::{Path, PathBuf};
use std::time::UNIX_EPOCH;

use indicatif::{ProgressBar, ProgressStyle};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::error::{io_err, io_err_at, ModelError};
use super::manifest::FileSpec;

/// Stamp file name inside a model folder.
pub const STAMP_FILE: &str = ".verified.json";

const BUF_SIZE: usize = 1 << 20;
/// Files at least this big get a progress bar (when stderr is a terminal).
const PROGRESS_MIN_BYTES: u64 = 16 << 20;

/// What was verified last time, per file name: a file whose size and mtime still match counts as
/// verified without hashing. A damaged or unreadable stamp is treated as empty.
#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Stamp {
    files: BTreeMap<String, StampEntry>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct StampEntry {
    size: u64,
    /// Modification time in nanoseconds since the Unix epoch.
    mtime_ns: u64,
    sha256: String,
}

impl Stamp {
    pub(crate) fn load(dir: &Path) -> Stamp {
        let path = dir.join(STAMP_FILE);
        let text = match fs_err::read_to_string(&path) {
            Ok(text) => text,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Stamp::default(),
            Err(e) => {
                tracing::warn!("{e}; files will be re-hashed");
                return Stamp::default();
            }
        };
        serde_json::from_str(&text).unwrap_or_else(|e| {
            tracing::warn!(path = %path.display(), "unreadable stamp ({e}); files will be re-hashed");
            Stamp::default()
        })
    }

    /// Writes the stamp atomically (temporary file beside it, fsync, rename).
    pub(crate) fn save(&self, dir: &Path) -> Result<(), ModelError> {
        let json = serde_json::to_vec_pretty(self).expect("a map of plain structs serializes");
        write_atomic(&dir.join(STAMP_FILE), &json)
    }

    /// True if the entry for `name` still describes the file (`meta`: same size and mtime) and
    /// records the expected hash.
    pub(crate) fn vouches_for(&self, name: &str, meta: &std::fs::Metadata, sha256: &str) -> bool {
        match (self.files.get(name), mtime_ns(meta)) {
            (Some(e), Some(mtime)) => {
                e.size == meta.len() && e.mtime_ns == mtime && e.sha256 == sha256
            }
            (Some(_) | None, None) | (None, Some(_)) => false,
        }
    }

    /// Records `name` as verified with `sha256`, taking size and mtime from the file now.
    pub(crate) fn record(
        &mut self,
        name: &str,
        path: &Path,
        sha256: &str,
    ) -> Result<(), ModelError> {
        let meta = fs_err::metadata(path).map_err(io_err(path))?;
        match mtime_ns(&meta) {
            Some(mtime_ns) => {
                self.files.insert(
                    name.to_string(),
                    StampEntry {
                        size: meta.len(),
                        mtime_ns,
                        sha256: sha256.to_string(),
                    },
                );
            }
            None => {
                self.files.remove(name);
            }
        }
        Ok(())
    }

    pub(crate) fn forget(&mut self, name: &str) {
        self.files.remove(name);
    }
}

fn mtime_ns(meta: &std::fs::Metadata) -> Option<u64> {
    let since = meta.modified().ok()?.duration_since(UNIX_EPOCH).ok()?;
    u64::try_from(since.as_nanos()).ok()
}

/// Outcome of checking one file against its manifest entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum FileCheck {
    /// Matches; `hashed` says whether it was hashed now (false: the stamp vouched for it).
    Verified {
        hashed: bool,
    },
    Missing,
    WrongSize {
        actual: u64,
    },
    WrongHash {
        actual: String,
    },
}

/// Checks `path` against `spec`. Without `full`, a stamp entry with the same size and mtime
/// stands in for hashing. Updates `stamp` when the file was hashed and matched.
pub(crate) fn check_file(
    path: &Path,
    key: &str,
    spec: &FileSpec,
    stamp: &mut Stamp,
    full: bool,
) -> Result<FileCheck, ModelError> {
    let meta = match fs_err::metadata(path) {
        Ok(meta) if meta.is_file() => meta,
        Ok(_) => return Ok(FileCheck::Missing),
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(FileCheck::Missing),
        Err(e) => return Err(io_err(path)(e)),
    };
    if meta.len() != spec.size {
        stamp.forget(key);
        return Ok(FileCheck::WrongSize { actual: meta.len() });
    }
    if !full && stamp.vouches_for(key, &meta, &spec.sha256) {
        return Ok(FileCheck::Verified { hashed: false });
    }
    tracing::info!(file = %path.display(), bytes = spec.size, "hashing");
    let actual = hash_file(path)?;
    if actual == spec.sha256 {
        stamp.record(key, path, &actual)?;
        Ok(FileCheck::Verified { hashed: true })
    } else {
        stamp.forget(key);
        Ok(FileCheck::WrongHash { actual })
    }
}

/// Streaming sha256 of a file (lowercase hex), with a progress bar for big files.
pub(crate) fn hash_file(path: &Path) -> Result<String, ModelError> {
    let mut file = fs_err::File::open(path).map_err(io_err(path))?;
    let len = file.metadata().map_err(io_err(path))?.len();
    let bar = progress_bar(len, &format!("verifying {}", file_label(path)));
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; BUF_SIZE];
    loop {
        let n = file.read(&mut buf).map_err(io_err(path))?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
        bar.inc(n as u64);
    }
    bar.finish_and_clear();
    Ok(hex::encode(hasher.finalize()))
}

/// Moves a file that failed verification aside to `<file>.bad` (replacing an older one) and
/// returns where it went.
pub(crate) fn quarantine(path: &Path) -> Result<PathBuf, ModelError> {
    let bad = with_suffix(path, ".bad");
    fs_err::rename(path, &bad).map_err(io_err(path))?;
    tracing::warn!(file = %path.display(), kept = %bad.display(), "file failed verification, moved aside");
    Ok(bad)
}

/// `path` with `suffix` appended to its file name.
pub(crate) fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(suffix);
    path.with_file_name(name)
}

fn file_label(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| path.display().to_string())
}

/// A byte-count progress bar on stderr, or a hidden one when stderr is not a terminal or the
/// work is small.
pub(crate) fn progress_bar(len: u64, message: &str) -> ProgressBar {
    if len < PROGRESS_MIN_BYTES || !io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(len);
    if let Ok(style) = ProgressStyle::with_template(
        "{msg:40!} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} eta {eta}",
    ) {
        bar.set_style(style.progress_chars("=> "));
    }
    bar.set_message(message.to_string());
    bar
}

/// Writes `bytes` to `path` atomically: a temporary file in the same folder, fsync, rename.
pub(crate) fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), ModelError> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let prefix = format!(".{}.", file_label(path));
    let mut builder = tempfile::Builder::new();
    builder.prefix(&prefix).suffix(".tmp");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        // tempfile's default is 0600; the stamp is as readable as the models (umask applies).
        builder.permissions(std::fs::Permissions::from_mode(0o644));
    }
    let mut tmp = builder
        .tempfile_in(dir)
        .map_err(io_err_at(dir, "cannot create a temporary file in"))?;
    tmp.write_all(bytes)
        .and_then(|()| tmp.as_file().sync_all())
        .map_err(io_err_at(tmp.path(), "cannot write"))?;
    tmp.persist(path)
        .map_err(|e| io_err_at(path, "cannot replace")(e.error))?;
    Ok(())
}

/// A `<file>.partial` being written: bytes are hashed as they go in, and [`Partial::install`]
/// checks size and sha256 before renaming it over `<file>`.
pub(crate) struct Partial {
    dest: PathBuf,
    path: PathBuf,
    file: fs_err::File,
    hasher: Sha256,
    written: u64,
}

impl Partial {
    pub(crate) fn create(dest: &Path) -> Result<Partial, ModelError> {
        let path = with_suffix(dest, ".partial");
        let file = fs_err::File::create(&path).map_err(io_err(&path))?;
        Ok(Partial {
            dest: dest.to_path_buf(),
            path,
            file,
            hasher: Sha256::new(),
            written: 0,
        })
    }

    /// Appends everything `reader` yields (`source` names it in errors); returns the size and
    /// sha256 of this segment alone.
    pub(crate) fn append(
        &mut self,
        reader: &mut dyn Read,
        source: &Path,
        bar: &ProgressBar,
    ) -> Result<(u64, String), ModelError> {
        let mut segment = Sha256::new();
        let mut size = 0u64;
        let mut buf = vec![0u8; BUF_SIZE];
        loop {
            let n = match reader.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(io_err_at(source, "cannot read")(e)),
            };
            let chunk = &buf[..n];
            self.file.write_all(chunk).map_err(io_err(&self.path))?;
            self.hasher.update(chunk);
            segment.update(chunk);
            size += n as u64;
            bar.inc(n as u64);
        }
        self.written += size;
        Ok((size, hex::encode(segment.finalize())))
    }

    /// Abandons the partial file, keeping it as `<file>.bad` for inspection.
    pub(crate) fn discard(self) -> Result<PathBuf, ModelError> {
        drop(self.file);
        let bad = with_suffix(&self.dest, ".bad");
        fs_err::rename(&self.path, &bad).map_err(io_err(&self.path))?;
        Ok(bad)
    }

    /// Verifies size and sha256 against `spec`, then fsyncs and renames into place. On mismatch
    /// the bytes are kept as `<file>.bad` and the error says so.
    pub(crate) fn install(self, model: &str, spec: &FileSpec) -> Result<String, ModelError> {
        let actual = hex::encode(self.hasher.clone().finalize());
        finish_install(
            model,
            spec,
            self.file,
            &self.path,
            &self.dest,
            self.written,
            actual,
        )
    }
}

/// Installs an already written file at `partial` (hashed by the caller) as `dest`.
pub(crate) fn install_hashed(
    model: &str,
    spec: &FileSpec,
    partial: &Path,
    dest: &Path,
    actual_sha: String,
) -> Result<String, ModelError> {
    let file = fs_err::OpenOptions::new()
        .read(true)
        .write(true)
        .open(partial)
        .map_err(io_err(partial))?;
    let size = file.metadata().map_err(io_err(partial))?.len();
    finish_install(model, spec, file, partial, dest, size, actual_sha)
}

fn finish_install(
    model: &str,
    spec: &FileSpec,
    file: fs_err::File,
    partial: &Path,
    dest: &Path,
    size: u64,
    actual: String,
) -> Result<String, ModelError> {
    file.sync_all().map_err(io_err(partial))?;
    drop(file);
    if size != spec.size {
        let bad = with_suffix(dest, ".bad");
        fs_err::rename(partial, &bad).map_err(io_err(partial))?;
        return Err(ModelError::SizeMismatch {
            model: model.to_string(),
            file: dest.display().to_string(),
            expected: spec.size,
            actual: size,
            kept: Some(bad),
        });
    }
    if actual != spec.sha256 {
        let bad = with_suffix(dest, ".bad");
        fs_err::rename(partial, &bad).map_err(io_err(partial))?;
        return Err(ModelError::HashMismatch {
            model: model.to_string(),
            file: dest.display().to_string(),
            expected: spec.sha256.clone(),
            actual,
            kept: Some(bad),
        });
    }
    fs_err::rename(partial, dest).map_err(io_err(partial))?;
    sync_dir(dest);
    Ok(actual)
}

/// Makes a rename durable by syncing the folder (best effort: not all platforms allow it).
fn sync_dir(path: &Path) {
    #[cfg(unix)]
    if let Some(dir) = path.parent() {
        let synced = fs_err::File::open(dir).and_then(|d| d.sync_all());
        if let Err(e) = synced {
            tracing::debug!("{e}");
        }
    }
    #[cfg(not(unix))]
    let _ = path;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec_for(name: &str, bytes: &[u8]) -> FileSpec {
        FileSpec {
            name: name.to_string(),
            size: bytes.len() as u64,
            sha256: hex::encode(Sha256::digest(bytes)),
            hub: None,
            pypi: Vec::new(),
        }
    }

    #[test]
    fn stamp_round_trips_and_vouches_only_for_unchanged_files() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("w.bin");
        fs_err::write(&path, b"weights").unwrap();
        let spec = spec_for("w.bin", b"weights");
        let mut stamp = Stamp::default();
        assert_eq!(
            check_file(&path, "w.bin", &spec, &mut stamp, false).unwrap(),
            FileCheck::Verified { hashed: true }
        );
        stamp.save(dir.path()).unwrap();
        let mut reloaded = Stamp::load(dir.path());
        assert_eq!(reloaded, stamp);
        assert_eq!(
            check_file(&path, "w.bin", &spec, &mut reloaded, false).unwrap(),
            FileCheck::Verified { hashed: false }
        );
        assert_eq!(
            check_file(&path, "w.bin", &spec, &mut reloaded, true).unwrap(),
            FileCheck::Verified { hashed: true }
        );
        // No stray temporary files are left beside the stamp.
        let names: Vec<String> = fs_err::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names.len(), 2, "{names:?}");
    }

    #[test]
    fn damaged_stamp_is_ignored() {
        let dir = tempfile::tempdir().unwrap();
        fs_err::write(dir.path().join(STAMP_FILE), b"{not json").unwrap();
        assert_eq!(Stamp::load(dir.path()), Stamp::default());
    }

    #[test]
    fn partial_install_checks_size_and_hash() {
        let dir = tempfile::tempdir().unwrap();
        let dest = dir.path().join("f.gguf");
        let spec = spec_for("f.gguf", b"abcdef");

        let mut ok = Partial::create(&dest).unwrap();
        let (n, sha) = ok
            .append(&mut &b"abc"[..], Path::new("src"), &ProgressBar::hidden())
            .unwrap();
        assert_eq!(
            (n, sha.as_str()),
            (3, hex::encode(Sha256::digest(b"abc")).as_str())
        );
        ok.append(&mut &b"def"[..], Path::new("src"), &ProgressBar::hidden())
            .unwrap();
        assert_eq!(ok.install("m", &spec).unwrap(), spec.sha256);
        assert_eq!(fs_err::read(&dest).unwrap(), b"abcdef");
        assert!(!with_suffix(&dest, ".partial").exists());

        let mut bad = Partial::create(&dest).unwrap();
        bad.append(
            &mut &b"abcdeX"[..],
            Path::new("src"),
            &ProgressBar::hidden(),
        )
        .unwrap();
        let err = bad.install("m", &spec).unwrap_err();
        assert!(matches!(err, ModelError::HashMismatch { .. }), "{err}");
        assert!(err.to_string().contains(&spec.sha256), "{err}");
        assert_eq!(
            fs_err::read(&dest).unwrap(),
            b"abcdef",
            "good file untouched"
        );
        assert_eq!(fs_err::read(with_suffix(&dest, ".bad")).unwrap(), b"abcdeX");
    }
}
