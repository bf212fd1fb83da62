//! The offline evaluation harness: suites run end to end through the gate ([`run`], [`suite`],
//! [`report`], [`audit`]), and the single-stage measurements: retrieval quality of each mode with
//! an RRF sweep, ([`drafts`]) draft faithfulness, ([`checker`], [`perturb`]) the checker.

pub mod audit;
pub mod checker;
pub mod drafts;
pub mod gate;
pub mod metrics;
pub mod perturb;
pub mod report;
pub mod run;
pub mod suite;

use std::collections::HashSet;
use std::path::Path;
use std::time::Instant;

use indicatif::ProgressBar;
use serde::{Deserialize, Serialize};

use crate::answer::AnswerError;
use crate::assistant::TurnError;
use crate::embed::{EmbedError, Embedder};
use crate::index::Index;
use crate::knowledge::{detect_lang, Lang};
use crate::llm::LlmError;
use crate::retrieve::{Fusion, RetrievalConfig, RetrievalMode};
use crate::retrieve::{RetrieveError, Retriever};

#[derive(Debug, thiserror::Error)]
pub enum EvalError {
    #[error("cannot read query file {path}: {source}")]
    Io {
        path: std::path::PathBuf,
        source: std::io::Error,
    },
    #[error("{path}:{line}: {message}")]
    Query {
        path: std::path::PathBuf,
        line: usize,
        message: String,
    },
    #[error("{path} holds no queries")]
    NoQueries { path: std::path::PathBuf },
    #[error(transparent)]
    Retrieve(#[from] RetrieveError),
    #[error(transparent)]
    Embed(#[from] EmbedError),
    /// Building a draft's prompt failed (boxed: these errors are large).
    #[error(transparent)]
    Answer(Box<AnswerError>),
    /// Generating a draft failed.
    #[error(transparent)]
    Llm(Box<LlmError>),
    /// A customer turn could not reach a decision.
    #[error(transparent)]
    Turn(Box<TurnError>),
}

impl From<TurnError> for EvalError {
    fn from(e: TurnError) -> Self {
        EvalError::Turn(Box::new(e))
    }
}

impl From<AnswerError> for EvalError {
    fn from(e: AnswerError) -> Self {
        EvalError::Answer(Box::new(e))
    }
}

impl From<LlmError> for EvalError {
    fn from(e: LlmError) -> Self {
        EvalError::Llm(Box::new(e))
    }
}

/// One evaluation question with the ids of the passages that answer it.
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct Query {
    pub id: String,
    pub question: String,
    pub relevant_ids: Vec<String>,
    #[serde(default)]
    pub answer: Option<String>,
}

/// Reads `{id, question, relevant_ids[, answer]}` lines; any bad line is an error naming it.
pub fn load_queries(path: &Path) -> Result<Vec<Query>, EvalError> {
    let text = fs_err::read_to_string(path).map_err(|source| EvalError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let q: Query = serde_json::from_str(line).map_err(|e| EvalError::Query {
            path: path.to_path_buf(),
            line: i + 1,
            message: e.to_string(),
        })?;
        if q.question.trim().is_empty() || q.relevant_ids.is_empty() {
            return Err(EvalError::Query {
                path: path.to_path_buf(),
                line: i + 1,
                message: "a query needs a question and at least one relevant id".into(),
            });
        }
        out.push(q);
    }
    if out.is_empty() {
        return Err(EvalError::NoQueries {
            path: path.to_path_buf(),
        });
    }
    Ok(out)
}

/// Which half of a question set: settings are chosen on `Dev` and reported on `Test` (and on
/// the whole), so that a figure is never measured on the questions it was tuned to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Split {
    Dev,
    Test,
    All,
}

impl Split {
    /// Whether an item with this id is in the split: a fixed half, by the first byte of the
    /// id's sha256 (stable across runs, machines and file order).
    pub fn contains(self, id: &str) -> bool {
        let dev = crate::util::sha256_hex(id.as_bytes()).as_bytes()[1].is_multiple_of(2);
        match self {
            Split::Dev => dev,
            Split::Test => !dev,
            Split::All => true,
        }
    }
}

/// Retrieval quality and speed of one mode.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ModeReport {
    #[serde(rename = "ndcg@10")]
    pub ndcg_10: f64,
    #[serde(rename = "recall@1")]
    pub recall_1: f64,
    #[serde(rename = "recall@5")]
    pub recall_5: f64,
    #[serde(rename = "recall@10")]
    pub recall_10: f64,
    #[serde(rename = "mrr@10")]
    pub mrr_10: f64,
    pub p50_ms: f64,
    pub p95_ms: f64,
    pub queries: usize,
}

#[derive(Debug, Clone, Serialize)]
pub struct RetrievalReport {
    pub bm25: ModeReport,
    pub dense: ModeReport,
    pub hybrid: ModeReport,
    /// Share of exact top-10 passage neighbours that the HNSW graph also returns.
    #[serde(rename = "hnsw_recall@10")]
    pub hnsw_recall_10: f64,
    /// Fusion settings used for Polish and for English questions.
    pub fusion_pl: FusionReport,
    pub fusion_en: FusionReport,
}

#[derive(Debug, Clone, Copy, Serialize)]
pub struct FusionReport {
    pub rrf_k: f32,
    pub dense_weight: f32,
}

impl From<Fusion> for FusionReport {
    fn from(f: Fusion) -> Self {
        FusionReport {
            rrf_k: f.rrf_k,
            dense_weight: f.dense_weight,
        }
    }
}

#[derive(Default)]
struct Acc {
    ndcg: f64,
    r1: f64,
    r5: f64,
    r10: f64,
    mrr: f64,
    latencies: Vec<f64>,
}

impl Acc {
    fn add(&mut self, ranked: &[String], relevant: &HashSet<String>, ms: f64) {
        self.ndcg += metrics::ndcg_at(ranked, relevant, 10);
        self.r1 += metrics::recall_at(ranked, relevant, 1);
        self.r5 += metrics::recall_at(ranked, relevant, 5);
        self.r10 += metrics::recall_at(ranked, relevant, 10);
        self.mrr += metrics::mrr_at(ranked, relevant, 10);
        self.latencies.push(ms);
    }

    fn report(&self) -> ModeReport {
        let n = self.latencies.len().max(1) as f64;
        ModeReport {
            ndcg_10: self.ndcg / n,
            recall_1: self.r1 / n,
            recall_5: self.r5 / n,
            recall_10: self.r10 / n,
            mrr_10: self.mrr / n,
            p50_ms: metrics::percentile(&self.latencies, 50.0),
            p95_ms: metrics::percentile(&self.latencies, 95.0),
            queries: self.latencies.len(),
        }
    }
}

/// Ranked distinct article ids for a retrieval.
fn ranked_docs(r: &crate::retrieve::Retrieval) -> Vec<String> {
    r.docs().into_iter().map(|d| d.0).collect()
}

/// Runs every query through each mode. Latency is per query and includes embedding the question
/// for dense and hybrid (the question is embedded once and the time counted in both).
pub fn evaluate_retrieval(
    index: &Index,
    embedder: &Embedder,
    config: RetrievalConfig,
    queries: &[Query],
    progress: &ProgressBar,
) -> Result<RetrievalReport, EvalError> {
    let retriever = Retriever::new(index, embedder, config);
    let (mut bm25, mut dense, mut hybrid) = (Acc::default(), Acc::default(), Acc::default());
    let mut hnsw_hits = 0usize;
    let mut hnsw_total = 0usize;
    // Passages are what is retrieved; ask for enough to fill 10 distinct articles.
    let k = 30;
    progress.set_length(queries.len() as u64);
    for q in queries {
        let relevant: HashSet<String> = q.relevant_ids.iter().cloned().collect();
        let lang = detect_lang(&q.question, Lang::En);
        let t = Instant::now();
        let r = retriever.retrieve_embedded(&q.question, lang, None, RetrievalMode::Bm25, k)?;
        bm25.add(&ranked_docs(&r), &relevant, ms(t));

        let t = Instant::now();
        let e = embedder.embed_one(&q.question, crate::embed::Role::Query)?;
        let embed_ms = ms(t);

        let t = Instant::now();
        let r =
            retriever.retrieve_embedded(&q.question, lang, Some(&e), RetrievalMode::Dense, k)?;
        dense.add(&ranked_docs(&r), &relevant, embed_ms + ms(t));

        let t = Instant::now();
        let r =
            retriever.retrieve_embedded(&q.question, lang, Some(&e), RetrievalMode::Hybrid, k)?;
        hybrid.add(&ranked_docs(&r), &relevant, embed_ms + ms(t));

        if let Some(h) = &index.hnsw {
            let exact: HashSet<u32> = index
                .chunk_vectors
                .exact_search(&e, 10)
                .into_iter()
                .map(|x| x.0)
                .collect();
            hnsw_hits += h
                .search(&e, 10)
                .iter()
                .filter(|x| exact.contains(&x.0))
                .count();
            hnsw_total += exact.len();
        }
        progress.inc(1);
    }
    progress.finish_and_clear();
    Ok(RetrievalReport {
        bm25: bm25.report(),
        dense: dense.report(),
        hybrid: hybrid.report(),
        hnsw_recall_10: if hnsw_total == 0 {
            1.0
        } else {
            hnsw_hits as f64 / hnsw_total as f64
        },
        fusion_pl: config.pl.into(),
        fusion_en: config.en.into(),
    })
}

/// One point of the fusion parameter sweep.
#[derive(Debug, Clone, Serialize)]
pub struct SweepPoint {
    pub rrf_k: f32,
    pub bm25_weight: f32,
    pub dense_weight: f32,
    #[serde(rename = "ndcg@10")]
    pub ndcg_10: f64,
    #[serde(rename = "recall@1")]
    pub recall_1: f64,
    #[serde(rename = "recall@10")]
    pub recall_10: f64,
    #[serde(rename = "mrr@10")]
    pub mrr_10: f64,
}

/// Hybrid quality over a grid of `rrf_k` and BM25/dense weights (question embeddings computed once).
pub fn sweep_fusion(
    index: &Index,
    embedder: &Embedder,
    base: RetrievalConfig,
    queries: &[Query],
    ks: &[f32],
    dense_weights: &[f32],
    progress: &ProgressBar,
) -> Result<Vec<SweepPoint>, EvalError> {
    progress.set_length(queries.len() as u64);
    let embeddings: Vec<Vec<f32>> = queries
        .iter()
        .map(|q| {
            progress.inc(1);
            embedder.embed_one(&q.question, crate::embed::Role::Query)
        })
        .collect::<Result<_, _>>()?;
    progress.finish_and_clear();
    let mut points = Vec::new();
    for &rrf_k in ks {
        for &dw in dense_weights {
            let cfg = base.with_fusion(Fusion {
                rrf_k,
                dense_weight: dw,
            });
            let retriever = Retriever::new(index, embedder, cfg);
            let mut acc = Acc::default();
            for (q, e) in queries.iter().zip(&embeddings) {
                let relevant: HashSet<String> = q.relevant_ids.iter().cloned().collect();
                let lang = detect_lang(&q.question, Lang::En);
                let r = retriever.retrieve_embedded(
                    &q.question,
                    lang,
                    Some(e),
                    RetrievalMode::Hybrid,
                    30,
                )?;
                acc.add(&ranked_docs(&r), &relevant, 0.0);
            }
            let m = acc.report();
            points.push(SweepPoint {
                rrf_k,
                bm25_weight: 1.0,
                dense_weight: dw,
                ndcg_10: m.ndcg_10,
                recall_1: m.recall_1,
                recall_10: m.recall_10,
                mrr_10: m.mrr_10,
            });
        }
    }
    Ok(points)
}

fn ms(t: Instant) -> f64 {
    t.elapsed().as_secs_f64() * 1000.0
}
