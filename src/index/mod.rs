//! The on-disk index: each build is a fresh generation directory (passages, canonical answers,
//! vectors, HNSW graph, tantivy index, manifest), published by atomically replacing `CURRENT`.
//!
//! ```text
//! <data_dir>/index/CURRENT            name of the published generation (atomic rename)
//! <data_dir>/index/gen-<time>-<pid>/  manifest.json (written last), chunks.json, canonicals.json,
//!                                      chunk_vectors.bin, canonical_vectors.bin, vectors.hnsw.*, lexical/
//! ```
//! A crash or kill during a build leaves `CURRENT` naming the previous, complete generation;
//! unpublished generations are removed by the next build.

pub mod lexical;
pub mod manifest;
pub mod vector;
pub mod vocabulary;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::knowledge::{Canonical, Chunk};

/// Where the published index lives and how its graph is searched: enough to open the next
/// generation after a reload.
#[derive(Debug, Clone)]
pub struct IndexLocation {
    /// The data directory (the index is in its `index/`).
    pub data_dir: PathBuf,
    pub ef_search: usize,
}

impl IndexLocation {
    /// Opens the generation published now, checking it was built by `embedder`.
    pub fn open(&self, embedder: &ExpectedEmbedder<'_>) -> Result<Index, IndexError> {
        IndexDir::new(&self.data_dir).open(embedder, self.ef_search)
    }
}

/// The HNSW graph's parameters (`[index.hnsw]`).
#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct HnswConfig {
    pub max_connections: usize,
    pub ef_construction: usize,
    pub ef_search: usize,
}

pub use lexical::Lexical;
pub use manifest::{EmbedderInfo, Manifest};
pub use vector::{VectorIndex, Vectors};

const CURRENT: &str = "CURRENT";
const LOCK: &str = ".ingest.lock";
const CHUNKS: &str = "chunks.json";
const CANONICALS: &str = "canonicals.json";
const CHUNK_VECTORS: &str = "chunk_vectors.bin";
const CANONICAL_VECTORS: &str = "canonical_vectors.bin";
const LEXICAL: &str = "lexical";
const HNSW_BASENAME: &str = "vectors";

#[derive(Debug, thiserror::Error)]
pub enum IndexError {
    #[error("no index in {dir}: run `concord ingest` first")]
    NotBuilt { dir: PathBuf },
    #[error(
        "the index in {dir} was built with embedding model `{index_model}` ({index_fingerprint}), \
         but the configured model is `{model}` ({fingerprint}); run `concord ingest` to rebuild it"
    )]
    EmbedderMismatch {
        dir: PathBuf,
        index_model: String,
        index_fingerprint: String,
        model: String,
        fingerprint: String,
    },
    #[error("index file {path} is damaged (sha256 {actual}, manifest says {expected}); run `concord ingest` to rebuild")]
    Corrupt {
        path: PathBuf,
        expected: String,
        actual: String,
    },
    #[error("index {dir} is inconsistent: {message}; run `concord ingest` to rebuild")]
    Inconsistent { dir: PathBuf, message: String },
    #[error("another `concord ingest` is running on {dir}; wait for it to finish")]
    Busy { dir: PathBuf },
    #[error("index file {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("index file {path}: {message}")]
    Json { path: PathBuf, message: String },
    #[error(transparent)]
    Manifest(#[from] manifest::ManifestError),
    #[error(transparent)]
    Lexical(#[from] lexical::LexicalError),
    #[error(transparent)]
    Vector(#[from] vector::VectorError),
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> IndexError + '_ {
    move |source| IndexError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Rows of the canonical vectors: each row embeds one question phrasing (or the answer) of the
/// canonical answer at `canonical` (position in `canonicals.json`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CanonicalRow {
    pub canonical: u32,
    /// Index into the answer's `questions`, or `None` for the answer text itself.
    pub question: Option<u32>,
}

#[derive(Serialize, Deserialize)]
struct CanonicalFile {
    canonicals: Vec<Canonical>,
    rows: Vec<CanonicalRow>,
}

/// Everything a build writes, computed by ingestion.
pub struct BuildInput<'a> {
    pub source: String,
    pub embedder: EmbedderInfo,
    pub chunking: manifest::ChunkingInfo,
    pub documents: Vec<manifest::DocEntry>,
    pub chunks: &'a [Chunk],
    pub chunk_vectors: &'a Vectors,
    pub canonicals: &'a [Canonical],
    pub canonical_entries: Vec<manifest::CanonicalEntry>,
    pub canonical_rows: Vec<CanonicalRow>,
    pub canonical_vectors: &'a Vectors,
}

/// The embedding model a caller will query an index with.
#[derive(Debug, Clone, Copy)]
pub struct ExpectedEmbedder<'a> {
    pub name: &'a str,
    pub fingerprint: &'a str,
}

/// Steps of a build, reported as they complete (for progress display and crash tests).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum BuildStage {
    /// Passages and vectors written into the new generation.
    Data,
    /// Full-text index written.
    Lexical,
    /// HNSW graph written.
    Graph,
    /// Manifest written: the generation is complete but not yet published.
    Manifest,
    /// `CURRENT` names the new generation.
    Published,
}

/// The folder holding index generations, `<data_dir>/index`.
#[derive(Debug, Clone)]
pub struct IndexDir {
    root: PathBuf,
}

/// Held while a build runs; released on drop (or when the process dies).
pub struct BuildLock {
    _file: fs_err::File,
}

impl IndexDir {
    pub fn new(data_dir: &Path) -> IndexDir {
        IndexDir {
            root: data_dir.join("index"),
        }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The published generation, if any.
    pub fn current(&self) -> Result<Option<PathBuf>, IndexError> {
        let path = self.root.join(CURRENT);
        match fs_err::read_to_string(&path) {
            Ok(name) => {
                let name = name.trim();
                if name.is_empty() || name.contains(['/', '\\']) || name.starts_with('.') {
                    return Err(IndexError::Inconsistent {
                        dir: self.root.clone(),
                        message: format!("CURRENT names `{name}`"),
                    });
                }
                Ok(Some(self.root.join(name)))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(IndexError::Io { path, source: e }),
        }
    }

    /// Removes every generation but the published one (after an erasure: the one it replaced still
    /// holds the erased phrasings). Returns how many went.
    pub fn drop_previous(&self) -> Result<usize, IndexError> {
        let _lock = self.lock()?;
        let Some(current) = self.current()? else {
            return Ok(0);
        };
        let mut removed = 0;
        for entry in fs_err::read_dir(&self.root)
            .map_err(io_err(&self.root))?
            .flatten()
        {
            let p = entry.path();
            let is_gen = p
                .file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("gen-"));
            if is_gen && p.is_dir() && p != current {
                fs_err::remove_dir_all(&p).map_err(io_err(&p))?;
                removed += 1;
            }
        }
        Ok(removed)
    }

    /// Takes the build lock, failing at once if another build holds it.
    pub fn lock(&self) -> Result<BuildLock, IndexError> {
        fs_err::create_dir_all(&self.root).map_err(io_err(&self.root))?;
        let path = self.root.join(LOCK);
        let file = crate::util::open_lock_file(&path).map_err(io_err(&path))?;
        match file.file().try_lock() {
            Ok(()) => Ok(BuildLock { _file: file }),
            Err(std::fs::TryLockError::WouldBlock) => Err(IndexError::Busy {
                dir: self.root.clone(),
            }),
            Err(std::fs::TryLockError::Error(e)) => Err(IndexError::Io { path, source: e }),
        }
    }

    /// Opens the published generation, checking that it was built with `embedder_fingerprint`.
    pub fn open(
        &self,
        embedder: &ExpectedEmbedder<'_>,
        ef_search: usize,
    ) -> Result<Index, IndexError> {
        let Some(dir) = self.current()? else {
            return Err(IndexError::NotBuilt {
                dir: self.root.clone(),
            });
        };
        Index::open(&dir, Some(embedder), ef_search)
    }

    /// Writes a complete new generation beside the published one; returns its directory.
    /// Nothing is published until [`IndexDir::publish`].
    pub fn build(
        &self,
        _lock: &BuildLock,
        input: BuildInput<'_>,
        hnsw: &HnswConfig,
        on_stage: &dyn Fn(BuildStage),
    ) -> Result<PathBuf, IndexError> {
        let stamp = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        let name = format!(
            "gen-{}{:03}-{}",
            stamp.as_secs(),
            stamp.subsec_millis(),
            std::process::id()
        );
        let dir = self.root.join(&name);
        fs_err::create_dir_all(&dir).map_err(io_err(&dir))?;
        let mut files = BTreeMap::new();

        write_json(&dir, CHUNKS, &input.chunks, &mut files)?;
        write_json(
            &dir,
            CANONICALS,
            &CanonicalFile {
                canonicals: input.canonicals.to_vec(),
                rows: input.canonical_rows,
            },
            &mut files,
        )?;
        for (file, vectors) in [
            (CHUNK_VECTORS, input.chunk_vectors),
            (CANONICAL_VECTORS, input.canonical_vectors),
        ] {
            let bytes = vectors.to_bytes();
            fs_err::write(dir.join(file), &bytes).map_err(io_err(&dir.join(file)))?;
            files.insert(file.to_string(), crate::util::sha256_hex(&bytes));
        }
        on_stage(BuildStage::Data);
        lexical::build(&dir.join(LEXICAL), input.chunks, input.canonicals)?;
        on_stage(BuildStage::Lexical);
        let hnsw_basename = if input.chunk_vectors.is_empty() {
            None
        } else {
            let graph = VectorIndex::build(input.chunk_vectors, hnsw);
            let basename = graph.dump(&dir, HNSW_BASENAME)?;
            for ext in ["hnsw.graph", "hnsw.data"] {
                let file = format!("{basename}.{ext}");
                let path = dir.join(&file);
                let hash = crate::util::sha256_file(&path).map_err(io_err(&path))?;
                files.insert(file, hash);
            }
            Some(basename)
        };
        on_stage(BuildStage::Graph);
        let manifest = Manifest {
            format_version: manifest::FORMAT_VERSION,
            built_at: stamp.as_secs(),
            source: input.source,
            embedder: input.embedder,
            chunking: input.chunking,
            documents: input.documents,
            canonicals: input.canonical_entries,
            hnsw_basename,
            files,
        };
        // Everything above is on disk before the manifest exists: a generation without a
        // manifest is incomplete by definition.
        for file in manifest.files.keys() {
            if let Ok(f) = fs_err::File::open(dir.join(file)) {
                f.sync_all().map_err(io_err(&dir.join(file)))?;
            }
        }
        manifest.save(&dir)?;
        crate::util::sync_dir(&dir);
        on_stage(BuildStage::Manifest);
        Ok(dir)
    }

    /// Makes `generation` the published index (atomic rename of `CURRENT`), then removes
    /// generations that are neither it nor the one it replaced.
    pub fn publish(&self, _lock: &BuildLock, generation: &Path) -> Result<(), IndexError> {
        let name = generation
            .file_name()
            .and_then(|n| n.to_str())
            .ok_or_else(|| IndexError::Inconsistent {
                dir: self.root.clone(),
                message: format!("{} is not a generation directory", generation.display()),
            })?
            .to_string();
        let previous = self.current()?;
        let path = self.root.join(CURRENT);
        crate::util::atomic_write(&path, name.as_bytes()).map_err(io_err(&path))?;
        let keep: Vec<PathBuf> = [Some(generation.to_path_buf()), previous]
            .into_iter()
            .flatten()
            .collect();
        let entries = fs_err::read_dir(&self.root).map_err(io_err(&self.root))?;
        for entry in entries.flatten() {
            let p = entry.path();
            let is_gen = p
                .file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("gen-"));
            if is_gen && p.is_dir() && !keep.contains(&p) {
                if let Err(e) = fs_err::remove_dir_all(&p) {
                    tracing::warn!(error = %e, "could not remove an old index generation");
                }
            }
        }
        Ok(())
    }
}

fn write_json<T: Serialize + ?Sized>(
    dir: &Path,
    file: &str,
    value: &T,
    files: &mut BTreeMap<String, String>,
) -> Result<(), IndexError> {
    let bytes = serde_json::to_vec(value).map_err(|e| IndexError::Json {
        path: dir.join(file),
        message: e.to_string(),
    })?;
    fs_err::write(dir.join(file), &bytes).map_err(io_err(&dir.join(file)))?;
    files.insert(file.to_string(), crate::util::sha256_hex(&bytes));
    Ok(())
}

fn read_checked(dir: &Path, file: &str, manifest: &Manifest) -> Result<Vec<u8>, IndexError> {
    let path = dir.join(file);
    let bytes = fs_err::read(&path).map_err(io_err(&path))?;
    let expected = manifest
        .files
        .get(file)
        .ok_or_else(|| IndexError::Inconsistent {
            dir: dir.to_path_buf(),
            message: format!("the manifest does not list {file}"),
        })?;
    let actual = crate::util::sha256_hex(&bytes);
    if &actual != expected {
        return Err(IndexError::Corrupt {
            path,
            expected: expected.clone(),
            actual,
        });
    }
    Ok(bytes)
}

/// An opened index generation: passages, canonical answers, their vectors and both search
/// structures. Read-only; share it behind an `Arc` and swap in a new one after a rebuild.
pub struct Index {
    pub dir: PathBuf,
    pub manifest: Manifest,
    pub chunks: Vec<Chunk>,
    pub canonicals: Vec<Canonical>,
    pub canonical_rows: Vec<CanonicalRow>,
    pub chunk_vectors: Vectors,
    pub canonical_vectors: Vectors,
    pub hnsw: Option<VectorIndex>,
    pub lexical: Lexical,
    /// Term statistics for the match's coverage evidence (built on open).
    pub vocabulary: vocabulary::Vocabulary,
}

impl Index {
    /// Opens a generation directory, verifying every artefact against the manifest's hashes and,
    /// when given, the embedder fingerprint.
    pub fn open(
        dir: &Path,
        embedder: Option<&ExpectedEmbedder<'_>>,
        ef_search: usize,
    ) -> Result<Index, IndexError> {
        let manifest = Manifest::load(dir)?;
        if let Some(expected) = embedder {
            if manifest.embedder.fingerprint != expected.fingerprint {
                return Err(IndexError::EmbedderMismatch {
                    dir: dir.to_path_buf(),
                    index_model: manifest.embedder.name.clone(),
                    index_fingerprint: manifest.embedder.fingerprint.clone(),
                    model: expected.name.to_string(),
                    fingerprint: expected.fingerprint.to_string(),
                });
            }
        }
        let json =
            |file: &str| -> Result<Vec<u8>, IndexError> { read_checked(dir, file, &manifest) };
        let chunks: Vec<Chunk> =
            serde_json::from_slice(&json(CHUNKS)?).map_err(|e| IndexError::Json {
                path: dir.join(CHUNKS),
                message: e.to_string(),
            })?;
        let canon: CanonicalFile =
            serde_json::from_slice(&json(CANONICALS)?).map_err(|e| IndexError::Json {
                path: dir.join(CANONICALS),
                message: e.to_string(),
            })?;
        read_checked(dir, CHUNK_VECTORS, &manifest)?;
        read_checked(dir, CANONICAL_VECTORS, &manifest)?;
        let chunk_vectors = Vectors::read(&dir.join(CHUNK_VECTORS))?;
        let canonical_vectors = Vectors::read(&dir.join(CANONICAL_VECTORS))?;
        let dim = manifest.embedder.dim;
        let consistent = chunk_vectors.len() == chunks.len()
            && canonical_vectors.len() == canon.rows.len()
            && (chunk_vectors.is_empty() || chunk_vectors.dim == dim)
            && (canonical_vectors.is_empty() || canonical_vectors.dim == dim)
            && canon
                .rows
                .iter()
                .all(|r| (r.canonical as usize) < canon.canonicals.len());
        if !consistent {
            return Err(IndexError::Inconsistent {
                dir: dir.to_path_buf(),
                message: "passage, canonical and vector counts disagree".into(),
            });
        }
        let hnsw = match &manifest.hnsw_basename {
            None => None,
            Some(basename) => {
                for ext in ["hnsw.graph", "hnsw.data"] {
                    let file = format!("{basename}.{ext}");
                    let path = dir.join(&file);
                    let actual = crate::util::sha256_file(&path).map_err(io_err(&path))?;
                    let expected = manifest.files.get(&file).cloned().unwrap_or_default();
                    if actual != expected {
                        return Err(IndexError::Corrupt {
                            path,
                            expected,
                            actual,
                        });
                    }
                }
                Some(VectorIndex::load(dir, basename, ef_search)?)
            }
        };
        let lexical = Lexical::open(&dir.join(LEXICAL))?;
        let vocabulary = vocabulary::Vocabulary::build(&chunks, &canon.canonicals);
        Ok(Index {
            dir: dir.to_path_buf(),
            manifest,
            chunks,
            canonicals: canon.canonicals,
            canonical_rows: canon.rows,
            chunk_vectors,
            canonical_vectors,
            hnsw,
            lexical,
            vocabulary,
        })
    }
}
