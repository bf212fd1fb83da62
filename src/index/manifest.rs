//! The index manifest: what a built index holds (format version, embedder fingerprint, content
//! hashes of documents and canonical answers, artefact hashes), saved atomically as JSON.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::knowledge::chunk::ChunkingConfig;

/// Bumped whenever the on-disk layout changes; an index of another version is rebuilt, not read.
pub const FORMAT_VERSION: u32 = 1;

pub const MANIFEST_FILE: &str = "manifest.json";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EmbedderInfo {
    pub name: String,
    pub fingerprint: String,
    pub dim: usize,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChunkingInfo {
    pub max_tokens: usize,
    pub overlap_tokens: usize,
}

impl From<ChunkingConfig> for ChunkingInfo {
    fn from(c: ChunkingConfig) -> Self {
        ChunkingInfo {
            max_tokens: c.max_tokens,
            overlap_tokens: c.overlap_tokens,
        }
    }
}

/// An article in the index: its content hash and its passages (`first..first+count` in chunk order).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DocEntry {
    pub id: String,
    pub hash: String,
    pub first: usize,
    pub count: usize,
}

/// A canonical answer in the index: its content hash and its rows in the canonical vectors.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CanonicalEntry {
    pub id: String,
    pub hash: String,
    pub first: usize,
    pub count: usize,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    pub format_version: u32,
    /// Seconds since the Unix epoch when the build finished.
    pub built_at: u64,
    /// Where the knowledge came from (a directory or a JSONL file), for people reading it.
    pub source: String,
    pub embedder: EmbedderInfo,
    pub chunking: ChunkingInfo,
    pub documents: Vec<DocEntry>,
    pub canonicals: Vec<CanonicalEntry>,
    /// Basename hnsw_rs chose for the graph files (absent when there are no passages).
    pub hnsw_basename: Option<String>,
    /// sha256 of every artefact file, by path relative to the index directory.
    pub files: BTreeMap<String, String>,
}

#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    #[error("index manifest {path}: {source}")]
    Io {
        path: std::path::PathBuf,
        source: std::io::Error,
    },
    #[error("index manifest {path} is not valid: {message}")]
    Invalid {
        path: std::path::PathBuf,
        message: String,
    },
}

impl Manifest {
    pub fn load(dir: &Path) -> Result<Manifest, ManifestError> {
        let path = dir.join(MANIFEST_FILE);
        let text = fs_err::read_to_string(&path).map_err(|source| ManifestError::Io {
            path: path.clone(),
            source,
        })?;
        // Read the version first so that a newer layout gets a clear message, not a field error.
        #[derive(Deserialize)]
        struct Version {
            format_version: u32,
        }
        let v: Version = serde_json::from_str(&text).map_err(|e| ManifestError::Invalid {
            path: path.clone(),
            message: e.to_string(),
        })?;
        if v.format_version != FORMAT_VERSION {
            return Err(ManifestError::Invalid {
                path,
                message: format!(
                    "format version {} is not the supported {FORMAT_VERSION}: run `concord ingest` to rebuild",
                    v.format_version
                ),
            });
        }
        serde_json::from_str(&text).map_err(|e| ManifestError::Invalid {
            path,
            message: e.to_string(),
        })
    }

    /// Writes `manifest.json` atomically (temporary file, fsync, rename).
    pub fn save(&self, dir: &Path) -> Result<(), ManifestError> {
        let path = dir.join(MANIFEST_FILE);
        let json = serde_json::to_vec_pretty(self).expect("manifest serialises");
        crate::util::atomic_write(&path, &json).map_err(|source| ManifestError::Io { path, source })
    }
}
