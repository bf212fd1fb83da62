//! Ingestion: knowledge source -> passages -> embeddings -> a new index generation, published
//! atomically. Unchanged articles and canonical answers reuse their vectors from the previous build.

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Instant;

use indicatif::ProgressBar;
use serde::Serialize;
use tracing::instrument;

use crate::embed::{EmbedError, Embedder, Role};
use crate::index::manifest::{CanonicalEntry, ChunkingInfo, DocEntry};
use crate::index::HnswConfig;
use crate::index::{
    BuildInput, BuildStage, CanonicalRow, EmbedderInfo, ExpectedEmbedder, Index, IndexDir,
    IndexError, Vectors,
};
use crate::knowledge::chunk::{ChunkError, ChunkingConfig};
use crate::knowledge::{chunk_article, Chunk, KnowledgeBase, KnowledgeError, LoadIssue};

/// How approved answers become embedded rows: each phrasing (and a diacritic-folded twin of each
/// Polish one) and the answer text. Part of each entry's reuse key.
const CANONICAL_ROWS: &str = "rows2";

/// How an index generation is built and where it is published (`[data]`, `[chunking]`,
/// `[index.hnsw]`).
#[derive(Debug, Clone)]
pub struct IngestSettings {
    pub data_dir: PathBuf,
    pub chunking: ChunkingConfig,
    pub hnsw: HnswConfig,
}

/// Where knowledge comes from.
#[derive(Debug, Clone)]
pub enum KnowledgeSource {
    /// A `knowledge/` directory (articles and canonical answers).
    Dir(PathBuf),
    /// A JSONL file of `{id, title, text}` passages.
    Jsonl(PathBuf),
    /// A JSONL file whose passages are also approved answers (a FAQ export: each answer is its
    /// own source; a non-empty title is its one phrasing).
    JsonlAnswers(PathBuf),
}

impl KnowledgeSource {
    pub fn load(&self) -> Result<KnowledgeBase, KnowledgeError> {
        match self {
            KnowledgeSource::Dir(d) => KnowledgeBase::load_dir(d),
            KnowledgeSource::Jsonl(f) => KnowledgeBase::load_jsonl(f),
            KnowledgeSource::JsonlAnswers(f) => {
                let mut kb = KnowledgeBase::load_jsonl(f)?;
                kb.passages_as_canonicals();
                Ok(kb)
            }
        }
    }

    pub fn describe(&self) -> String {
        match self {
            KnowledgeSource::Dir(d)
            | KnowledgeSource::Jsonl(d)
            | KnowledgeSource::JsonlAnswers(d) => d.display().to_string(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    #[error(transparent)]
    Knowledge(#[from] KnowledgeError),
    #[error(transparent)]
    Chunk(#[from] ChunkError),
    #[error(transparent)]
    Embed(#[from] EmbedError),
    #[error(transparent)]
    Index(#[from] IndexError),
    /// Strict ingestion refuses a knowledge base with files it cannot read, so that a broken
    /// file does not silently drop what it held from the index being served.
    #[error("{} knowledge file problem(s), nothing published: {}", issues.len(), list_issues(issues))]
    Invalid { issues: Vec<LoadIssue> },
}

fn list_issues(issues: &[LoadIssue]) -> String {
    issues
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ")
}

/// What an ingestion did.
#[derive(Debug, Clone, Serialize)]
pub struct IngestReport {
    pub source: String,
    pub articles: usize,
    pub canonicals: usize,
    pub chunks: usize,
    /// Passages embedded in this run (new or changed articles).
    pub embedded_chunks: usize,
    /// Passages whose vectors came from the previous build.
    pub reused_chunks: usize,
    pub embedded_canonical_rows: usize,
    pub reused_canonical_rows: usize,
    pub issues: Vec<LoadIssue>,
    pub generation: PathBuf,
    pub seconds: f64,
    pub embed_seconds: f64,
}

/// Vectors of the previous build, by content hash, for reuse.
struct Previous {
    docs: HashMap<String, (Vec<Chunk>, Vec<Vec<f32>>)>,
    canonicals: HashMap<String, (Vec<CanonicalRow>, Vec<Vec<f32>>)>,
}

impl Previous {
    fn empty() -> Self {
        Previous {
            docs: HashMap::new(),
            canonicals: HashMap::new(),
        }
    }

    /// Reads the published generation if it was built by the same embedder with the same
    /// chunking; anything else means starting from scratch.
    fn load(dir: &IndexDir, embedder: &Embedder, chunking: &ChunkingInfo, ef: usize) -> Previous {
        let Ok(Some(current)) = dir.current() else {
            return Previous::empty();
        };
        let expected = ExpectedEmbedder {
            name: embedder.name(),
            fingerprint: embedder.fingerprint(),
        };
        let index = match Index::open(&current, Some(&expected), ef) {
            Ok(index) => index,
            Err(e) => {
                tracing::warn!(error = %e, "previous index not reusable; embedding everything");
                return Previous::empty();
            }
        };
        if &index.manifest.chunking != chunking {
            tracing::info!("chunking settings changed; embedding everything");
            return Previous::empty();
        }
        let mut prev = Previous::empty();
        for d in &index.manifest.documents {
            let chunks = index.chunks[d.first..d.first + d.count].to_vec();
            let vectors = (d.first..d.first + d.count)
                .map(|i| index.chunk_vectors.row(i).to_vec())
                .collect();
            prev.docs.insert(d.hash.clone(), (chunks, vectors));
        }
        for c in &index.manifest.canonicals {
            let rows = index.canonical_rows[c.first..c.first + c.count].to_vec();
            let vectors = (c.first..c.first + c.count)
                .map(|i| index.canonical_vectors.row(i).to_vec())
                .collect();
            prev.canonicals.insert(c.hash.clone(), (rows, vectors));
        }
        prev
    }
}

/// Builds and publishes a new index generation from `source`.
pub fn ingest(
    config: &IngestSettings,
    source: &KnowledgeSource,
    embedder: &Embedder,
    progress: &ProgressBar,
) -> Result<IngestReport, IngestError> {
    ingest_with_stages(config, source, embedder, progress, &|_| {})
}

/// As [`ingest`], but a knowledge base with any file it cannot read is refused before anything
/// is built or published ([`IngestError::Invalid`]): the generation served now stays.
pub fn ingest_strict(
    config: &IngestSettings,
    source: &KnowledgeSource,
    embedder: &Embedder,
    progress: &ProgressBar,
) -> Result<IngestReport, IngestError> {
    build(config, source, embedder, progress, &|_| {}, true)
}

/// As [`ingest`], calling `on_stage` after each build step.
pub fn ingest_with_stages(
    config: &IngestSettings,
    source: &KnowledgeSource,
    embedder: &Embedder,
    progress: &ProgressBar,
    on_stage: &dyn Fn(BuildStage),
) -> Result<IngestReport, IngestError> {
    build(config, source, embedder, progress, on_stage, false)
}

#[instrument(skip_all, fields(source = %source.describe(), strict))]
fn build(
    config: &IngestSettings,
    source: &KnowledgeSource,
    embedder: &Embedder,
    progress: &ProgressBar,
    on_stage: &dyn Fn(BuildStage),
    strict: bool,
) -> Result<IngestReport, IngestError> {
    let started = Instant::now();
    let kb = source.load()?;
    if strict && !kb.issues.is_empty() {
        return Err(IngestError::Invalid { issues: kb.issues });
    }
    let source = source.describe();
    let dir = IndexDir::new(&config.data_dir);
    let lock = dir.lock()?;
    let chunking = ChunkingInfo::from(config.chunking);
    let prev = Previous::load(&dir, embedder, &chunking, config.hnsw.ef_search);

    // Passages: reuse unchanged articles, chunk the others.
    let mut documents = Vec::with_capacity(kb.articles.len());
    let mut chunks: Vec<Chunk> = Vec::new();
    let mut vectors: Vec<Option<Vec<f32>>> = Vec::new();
    let mut reused_chunks = 0;
    for article in &kb.articles {
        let hash = article.content_hash();
        let first = chunks.len();
        match prev.docs.get(&hash) {
            Some((old_chunks, old_vectors)) => {
                reused_chunks += old_chunks.len();
                chunks.extend(old_chunks.iter().cloned());
                vectors.extend(old_vectors.iter().cloned().map(Some));
            }
            None => {
                let new = chunk_article(article, embedder, &config.chunking)?;
                vectors.extend(std::iter::repeat_n(None, new.len()));
                chunks.extend(new);
            }
        }
        documents.push(DocEntry {
            id: article.id.0.clone(),
            hash,
            first,
            count: chunks.len() - first,
        });
    }

    // Canonical answers: one row per question phrasing plus one for the answer text.
    let mut canonical_entries = Vec::with_capacity(kb.canonicals.len());
    let mut canonical_rows = Vec::new();
    let mut canonical_texts: Vec<(Role, String)> = Vec::new();
    let mut canonical_vecs: Vec<Option<Vec<f32>>> = Vec::new();
    let mut reused_canonical_rows = 0;
    for (i, c) in kb.canonicals.iter().enumerate() {
        // The rows' scheme is part of the key: an index built with other rows embeds again.
        let hash = format!("{}:{CANONICAL_ROWS}", c.content_hash());
        let first = canonical_rows.len();
        let ord = i as u32;
        match prev.canonicals.get(&hash) {
            Some((rows, vecs)) => {
                reused_canonical_rows += rows.len();
                for (row, v) in rows.iter().zip(vecs) {
                    canonical_rows.push(CanonicalRow {
                        canonical: ord,
                        question: row.question,
                    });
                    canonical_texts.push((Role::Query, String::new()));
                    canonical_vecs.push(Some(v.clone()));
                }
            }
            None => {
                for (q, text) in c.questions.iter().enumerate() {
                    // Customers often type Polish without diacritics, which the embedder reads
                    // as other words: a folded twin of each phrasing matches them.
                    let folded = crate::util::fold(text);
                    let twin = (c.lang == crate::knowledge::Lang::Pl
                        && folded != text.to_lowercase())
                    .then_some(folded);
                    for text in std::iter::once(text.clone()).chain(twin) {
                        canonical_rows.push(CanonicalRow {
                            canonical: ord,
                            question: Some(q as u32),
                        });
                        canonical_texts.push((Role::Query, text));
                        canonical_vecs.push(None);
                    }
                }
                canonical_rows.push(CanonicalRow {
                    canonical: ord,
                    question: None,
                });
                canonical_texts.push((Role::Passage, c.answer.clone()));
                canonical_vecs.push(None);
            }
        }
        canonical_entries.push(CanonicalEntry {
            id: c.id.0.clone(),
            hash,
            first,
            count: canonical_rows.len() - first,
        });
    }

    // Embed what is new, in one pass so the progress bar shows the whole job.
    let chunk_todo: Vec<usize> = (0..chunks.len())
        .filter(|&i| vectors[i].is_none())
        .collect();
    let canon_todo: Vec<usize> = (0..canonical_rows.len())
        .filter(|&i| canonical_vecs[i].is_none())
        .collect();
    // Passages and approved answers are what answers; phrasings are questions (e5's roles).
    let mut texts: Vec<(Role, String)> = chunk_todo
        .iter()
        .map(|&i| (Role::Passage, chunks[i].embed_text()))
        .collect();
    texts.extend(canon_todo.iter().map(|&i| canonical_texts[i].clone()));
    progress.set_length(texts.len() as u64);
    let embed_started = Instant::now();
    let refs: Vec<(Role, &str)> = texts.iter().map(|(r, t)| (*r, t.as_str())).collect();
    let embedded =
        embedder.embed_with_progress(&refs, |done| progress.set_position(done as u64))?;
    let embed_seconds = embed_started.elapsed().as_secs_f64();
    let mut embedded = embedded.into_iter();
    for &i in &chunk_todo {
        vectors[i] = embedded.next();
    }
    for &i in &canon_todo {
        canonical_vecs[i] = embedded.next();
    }
    let dim = embedder.dim();
    let mut chunk_vectors = Vectors::new(dim);
    for v in &vectors {
        chunk_vectors.push(v.as_deref().expect("every passage has a vector by now"));
    }
    let mut canonical_vectors = Vectors::new(dim);
    for v in &canonical_vecs {
        canonical_vectors.push(
            v.as_deref()
                .expect("every canonical row has a vector by now"),
        );
    }

    let generation = dir.build(
        &lock,
        BuildInput {
            source: source.clone(),
            embedder: EmbedderInfo {
                name: embedder.name().to_string(),
                fingerprint: embedder.fingerprint().to_string(),
                dim,
            },
            chunking,
            documents,
            chunks: &chunks,
            chunk_vectors: &chunk_vectors,
            canonicals: &kb.canonicals,
            canonical_entries,
            canonical_rows,
            canonical_vectors: &canonical_vectors,
        },
        &config.hnsw,
        on_stage,
    )?;
    dir.publish(&lock, &generation)?;
    on_stage(BuildStage::Published);
    progress.finish_and_clear();
    let report = IngestReport {
        source,
        articles: kb.articles.len(),
        canonicals: kb.canonicals.len(),
        chunks: chunks.len(),
        embedded_chunks: chunk_todo.len(),
        reused_chunks,
        embedded_canonical_rows: canon_todo.len(),
        reused_canonical_rows,
        issues: kb.issues,
        generation,
        seconds: started.elapsed().as_secs_f64(),
        embed_seconds,
    };
    tracing::info!(
        articles = report.articles,
        canonicals = report.canonicals,
        chunks = report.chunks,
        embedded = report.embedded_chunks,
        reused = report.reused_chunks,
        seconds = report.seconds,
        "index published"
    );
    Ok(report)
}
