//! Retrieval: BM25 and dense search over an opened [`Index`], fused by weighted reciprocal rank
//! fusion, returning passages and the best canonical answers with every score kept visible.

pub mod fusion;
pub mod settings;

pub use settings::{Fusion, RetrievalConfig, RetrievalMode};

use std::collections::HashMap;
use std::time::Instant;

use serde::Serialize;
use tracing::instrument;

use crate::embed::{EmbedError, Embedder};
use crate::index::lexical::{LexicalError, KIND_CANONICAL, KIND_CHUNK};
use crate::index::Index;
use crate::knowledge::{CanonicalId, ChunkId, DocId};
use fusion::{reciprocal_rank_fusion, Ranked};

/// How many canonical answers a retrieval reports.
pub const CANONICAL_CANDIDATES: usize = 3;

#[derive(Debug, thiserror::Error)]
pub enum RetrieveError {
    #[error("the question is empty")]
    EmptyQuestion,
    #[error(transparent)]
    Embed(#[from] EmbedError),
    #[error(transparent)]
    Lexical(#[from] LexicalError),
}

/// A retriever's opinion of one result: 1-based rank and raw score (BM25 score, or cosine).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct RankScore {
    pub rank: usize,
    pub score: f32,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ScoredChunk {
    /// Position in `index.chunks`.
    pub ord: u32,
    pub id: ChunkId,
    pub doc: DocId,
    /// Fused score (RRF in hybrid mode; the single retriever's RRF term otherwise).
    pub score: f32,
    pub bm25: Option<RankScore>,
    pub dense: Option<RankScore>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CanonicalMatch {
    /// Position in `index.canonicals`.
    pub ord: u32,
    pub id: CanonicalId,
    pub score: f32,
    /// Best cosine similarity between the question and one of this answer's phrasings (or its
    /// text): a calibrated number between -1 and 1, which thresholds can use (0 in BM25 mode).
    pub similarity: f32,
    /// The phrasing that matched best, when it was a question rather than the answer text.
    pub matched_question: Option<String>,
    pub bm25: Option<RankScore>,
    pub dense: Option<RankScore>,
}

/// Time spent in each step, in milliseconds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Timings {
    pub embed_ms: f64,
    pub bm25_ms: f64,
    pub dense_ms: f64,
    pub fuse_ms: f64,
    pub total_ms: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Retrieval {
    pub mode: RetrievalMode,
    pub chunks: Vec<ScoredChunk>,
    pub canonical: Vec<CanonicalMatch>,
    /// Each retriever's own view of the approved answers, before fusion: what the match
    /// decision weighs (does the lexical side agree with the dense side, by what margin).
    pub evidence: CanonicalEvidence,
    pub timings: Timings,
}

/// Approved answers the lexical retriever reports as evidence for the match.
pub const EVIDENCE: usize = 10;

/// The approved answers in the question's language as each retriever sees them on its own,
/// before fusion: what the match decision weighs.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct CanonicalEvidence {
    /// Every approved answer by cosine similarity of its closest phrasing, best first:
    /// (ord, cosine). Empty without a question embedding.
    pub dense: Vec<(u32, f32)>,
    /// Cosine similarity of the question to each approved answer's text (e5's query-to-passage
    /// direction): (ord, cosine), same order as `dense`.
    pub answer: Vec<(u32, f32)>,
    /// The best by BM25 over the phrasings and answer texts (stemmed): (ord, score).
    pub lexical: Vec<(u32, f32)>,
    /// The weighed share of the question's terms each approved answer uses: (ord, share), same
    /// order as `dense`.
    pub coverage: Vec<(u32, f32)>,
    /// The weighed share of the question's terms the knowledge base uses anywhere.
    pub known: f32,
}

impl Retrieval {
    /// Distinct articles in result order (an article counts at its best passage).
    pub fn docs(&self) -> Vec<DocId> {
        let mut seen = std::collections::HashSet::new();
        self.chunks
            .iter()
            .filter(|c| seen.insert(c.doc.clone()))
            .map(|c| c.doc.clone())
            .collect()
    }
}

fn ms(since: Instant) -> f64 {
    since.elapsed().as_secs_f64() * 1000.0
}

/// Searches one index with one embedder.
pub struct Retriever<'a> {
    index: &'a Index,
    embedder: &'a Embedder,
    config: RetrievalConfig,
    /// The languages the index has passages or approved answers in (read once, not per query).
    languages: Vec<crate::knowledge::Lang>,
}

impl<'a> Retriever<'a> {
    pub fn new(index: &'a Index, embedder: &'a Embedder, config: RetrievalConfig) -> Self {
        let mut languages: Vec<crate::knowledge::Lang> = index
            .chunks
            .iter()
            .map(|c| c.lang)
            .chain(index.canonicals.iter().map(|c| c.lang))
            .collect();
        languages.sort();
        languages.dedup();
        Retriever {
            index,
            embedder,
            config,
            languages,
        }
    }

    /// Retrieves the top `k` passages and the best canonical answers for `question`, in the
    /// language detected from it (a customer turn decides the language once and calls
    /// [`Retriever::retrieve_in`]).
    pub fn retrieve(
        &self,
        question: &str,
        mode: RetrievalMode,
        k: usize,
    ) -> Result<Retrieval, RetrieveError> {
        let lang = crate::knowledge::detect_lang(question, crate::knowledge::Lang::En);
        self.retrieve_in(question, lang, mode, k)
    }

    /// As [`Retriever::retrieve`], in `lang` (its fusion settings).
    #[instrument(skip_all, fields(question_len = question.len(), mode = mode.as_str(), k))]
    pub fn retrieve_in(
        &self,
        question: &str,
        lang: crate::knowledge::Lang,
        mode: RetrievalMode,
        k: usize,
    ) -> Result<Retrieval, RetrieveError> {
        let started = Instant::now();
        if question.trim().is_empty() {
            return Err(RetrieveError::EmptyQuestion);
        }
        let embedding = match mode {
            RetrievalMode::Bm25 => None,
            RetrievalMode::Dense | RetrievalMode::Hybrid => Some(
                self.embedder
                    .embed_one(question, crate::embed::Role::Query)?,
            ),
        };
        let embed_ms = ms(started);
        let mut r = self.retrieve_embedded(question, lang, embedding.as_deref(), mode, k)?;
        r.timings.embed_ms = embed_ms;
        r.timings.total_ms = ms(started);
        Ok(r)
    }

    /// As [`Retriever::retrieve`], with the question's embedding already computed (`None` for
    /// BM25 only). Timings exclude embedding.
    pub fn retrieve_embedded(
        &self,
        question: &str,
        lang: crate::knowledge::Lang,
        embedding: Option<&[f32]>,
        mode: RetrievalMode,
        k: usize,
    ) -> Result<Retrieval, RetrieveError> {
        let started = Instant::now();
        let cfg = &self.config;
        let candidates = cfg.candidates.max(k);
        let use_bm25 = mode != RetrievalMode::Dense;
        let use_dense = mode != RetrievalMode::Bm25 && embedding.is_some();
        let mut t = Timings::default();
        // Answer in the customer's language: where the index has passages in it, only those
        // (and only approved answers in it) are candidates. Each side fetches twice as many
        // to keep `candidates` after the filter.
        let only = self.same_language(lang);
        let fetch = if only.is_some() {
            candidates * 2
        } else {
            candidates
        };
        let in_lang = |lang: Option<crate::knowledge::Lang>| only.is_none_or(|l| lang == Some(l));
        let chunk_ok = |ord: u32| in_lang(self.index.chunks.get(ord as usize).map(|c| c.lang));
        let canon_ok = |ord: u32| in_lang(self.index.canonicals.get(ord as usize).map(|c| c.lang));
        let keep = |list: Vec<(u32, f32)>, ok: &dyn Fn(u32) -> bool| -> Vec<(u32, f32)> {
            list.into_iter()
                .filter(|&(ord, _)| ok(ord))
                .take(candidates)
                .collect()
        };

        let t0 = Instant::now();
        let (bm25_chunks, bm25_canon) = if use_bm25 {
            (
                keep(
                    self.index.lexical.search(question, KIND_CHUNK, fetch)?,
                    &chunk_ok,
                ),
                keep(
                    self.index.lexical.search(question, KIND_CANONICAL, fetch)?,
                    &canon_ok,
                ),
            )
        } else {
            (Vec::new(), Vec::new())
        };
        t.bm25_ms = ms(t0);

        let t0 = Instant::now();
        // The question's cosine to every approved-answer row, computed once: the fused ranking
        // and the match's evidence both read it.
        let row_sims: Option<Vec<f32>> = embedding.filter(|_| use_dense).map(|q| {
            let v = &self.index.canonical_vectors;
            (0..self.index.canonical_rows.len())
                .map(|row| crate::index::vector::dot(v.row(row), q))
                .collect()
        });
        let (dense_chunks, dense_canon, best_row) = match (&row_sims, embedding) {
            (Some(sims), Some(q)) => {
                let chunks = match &self.index.hnsw {
                    Some(h) => keep(h.search(q, fetch), &chunk_ok),
                    None => Vec::new(),
                };
                let (canon, best_row) = self.dense_canonicals(sims);
                (chunks, keep(canon, &canon_ok), best_row)
            }
            _ => (Vec::new(), Vec::new(), HashMap::new()),
        };
        t.dense_ms = ms(t0);

        let t0 = Instant::now();
        // A single retriever's order is kept as is (any rrf_k gives the same ranking).
        let (wb, wd, rrf_k) = match mode {
            RetrievalMode::Hybrid => {
                let f = cfg.fusion(lang);
                (1.0, f.dense_weight, f.rrf_k)
            }
            RetrievalMode::Bm25 => (1.0, 0.0, 60.0),
            RetrievalMode::Dense => (0.0, 1.0, 60.0),
        };
        let chunks = fuse(&bm25_chunks, &dense_chunks, wb, wd, rrf_k, k)
            .into_iter()
            .map(|(ord, score, bm25, dense)| {
                let c = &self.index.chunks[ord as usize];
                ScoredChunk {
                    ord,
                    id: c.id.clone(),
                    doc: c.doc.clone(),
                    score,
                    bm25,
                    dense,
                }
            })
            .collect();
        let mut canonical: Vec<CanonicalMatch> = fuse(
            &bm25_canon,
            &dense_canon,
            wb,
            wd,
            rrf_k,
            CANONICAL_CANDIDATES,
        )
        .into_iter()
        .map(|(ord, score, bm25, dense)| {
            let c = &self.index.canonicals[ord as usize];
            let (similarity, question) = match (best_row.get(&ord), embedding) {
                (Some(&(row, sim)), _) => (sim, self.row_question(row)),
                (None, Some(q)) => {
                    let (row, sim) = self.best_row_of(ord, q);
                    (sim, row.and_then(|r| self.row_question(r)))
                }
                (None, None) => (f32::NAN, None),
            };
            CanonicalMatch {
                ord,
                id: c.id.clone(),
                score,
                similarity,
                matched_question: question,
                bm25,
                dense,
            }
        })
        .collect();
        // In BM25-only mode there is no question embedding: similarity is reported as 0.
        canonical.iter_mut().for_each(|c| {
            if c.similarity.is_nan() {
                c.similarity = 0.0;
            }
        });
        t.fuse_ms = ms(t0);
        t.total_ms = ms(started);
        let evidence = self.canonical_evidence(
            question,
            lang,
            row_sims.as_deref(),
            &canon_ok,
            bm25_canon.iter().take(EVIDENCE).copied().collect(),
        );
        Ok(Retrieval {
            mode,
            chunks,
            canonical,
            evidence,
            timings: t,
        })
    }

    /// The language to keep candidates to: `lang` when the index has passages or approved
    /// answers in it, else none (answer from whatever there is).
    fn same_language(&self, lang: crate::knowledge::Lang) -> Option<crate::knowledge::Lang> {
        self.languages.contains(&lang).then_some(lang)
    }

    /// The match's evidence: every approved answer allowed by `ok`, with the cosine of its
    /// closest phrasing and of its text, and how much of the question its words cover.
    fn canonical_evidence(
        &self,
        question: &str,
        lang: crate::knowledge::Lang,
        row_sims: Option<&[f32]>,
        ok: &dyn Fn(u32) -> bool,
        lexical: Vec<(u32, f32)>,
    ) -> CanonicalEvidence {
        let terms = self.index.vocabulary.weigh(question, lang);
        let Some(sims) = row_sims else {
            return CanonicalEvidence {
                lexical,
                known: terms.known(),
                ..CanonicalEvidence::default()
            };
        };
        // ord -> (closest phrasing, answer text)
        let mut per: HashMap<u32, (f32, f32)> = HashMap::new();
        for (r, &sim) in self.index.canonical_rows.iter().zip(sims) {
            if !ok(r.canonical) {
                continue;
            }
            let e = per
                .entry(r.canonical)
                .or_insert((f32::NEG_INFINITY, f32::NEG_INFINITY));
            match r.question {
                Some(_) => e.0 = e.0.max(sim),
                None => e.1 = sim,
            }
        }
        let mut ranked: Vec<(u32, (f32, f32))> = per
            .into_iter()
            .filter(|(_, (p, _))| p.is_finite())
            .collect();
        ranked.sort_by(|a, b| b.1 .0.total_cmp(&a.1 .0).then(a.0.cmp(&b.0)));
        CanonicalEvidence {
            dense: ranked.iter().map(|&(o, (p, _))| (o, p)).collect(),
            answer: ranked
                .iter()
                .map(|&(o, (p, a))| (o, if a.is_finite() { a } else { p }))
                .collect(),
            coverage: ranked
                .iter()
                .map(|&(o, _)| (o, terms.covered_by(&self.index.vocabulary, o)))
                .collect(),
            lexical,
            known: terms.known(),
        }
    }

    /// Exact search over canonical rows (their cosines to the question, `row_sims`): each
    /// canonical answer scored by its best row. Returns (canonical ord, similarity) best first, and the best row per canonical.
    fn dense_canonicals(&self, row_sims: &[f32]) -> (Vec<(u32, f32)>, BestRows) {
        let mut best: HashMap<u32, (usize, f32)> = HashMap::new();
        for (row, (r, &sim)) in self.index.canonical_rows.iter().zip(row_sims).enumerate() {
            let e = best.entry(r.canonical).or_insert((row, f32::NEG_INFINITY));
            if sim > e.1 {
                *e = (row, sim);
            }
        }
        let mut ranked: Vec<(u32, f32)> = best.iter().map(|(&c, &(_, s))| (c, s)).collect();
        ranked.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        (ranked, best)
    }

    fn best_row_of(&self, canonical: u32, q: &[f32]) -> (Option<usize>, f32) {
        let v = &self.index.canonical_vectors;
        self.index
            .canonical_rows
            .iter()
            .enumerate()
            .filter(|(_, r)| r.canonical == canonical)
            .map(|(row, _)| (Some(row), crate::index::vector::dot(v.row(row), q)))
            .fold(
                (None, f32::NEG_INFINITY),
                |a, b| if b.1 > a.1 { b } else { a },
            )
    }

    fn row_question(&self, row: usize) -> Option<String> {
        let r = &self.index.canonical_rows[row];
        let q = r.question? as usize;
        self.index.canonicals[r.canonical as usize]
            .questions
            .get(q)
            .cloned()
    }
}

/// Best-matching canonical row per canonical answer: ord -> (row, similarity).
type BestRows = HashMap<u32, (usize, f32)>;

type Fused = (u32, f32, Option<RankScore>, Option<RankScore>);

/// Fuses BM25 and dense lists of (ord, raw score), keeping each side's rank and score.
fn fuse(
    bm25: &[(u32, f32)],
    dense: &[(u32, f32)],
    wb: f32,
    wd: f32,
    rrf_k: f32,
    k: usize,
) -> Vec<Fused> {
    let side = |list: &[(u32, f32)]| -> HashMap<u32, RankScore> {
        list.iter()
            .enumerate()
            .map(|(i, &(ord, score))| (ord, RankScore { rank: i + 1, score }))
            .collect()
    };
    let (bm, de) = (side(bm25), side(dense));
    let b_ids: Vec<u32> = bm25.iter().map(|x| x.0).collect();
    let d_ids: Vec<u32> = dense.iter().map(|x| x.0).collect();
    reciprocal_rank_fusion(
        &[
            Ranked {
                weight: wb,
                items: &b_ids,
            },
            Ranked {
                weight: wd,
                items: &d_ids,
            },
        ],
        rrf_k,
        k,
    )
    .into_iter()
    .map(|(ord, score)| (ord, score, bm.get(&ord).copied(), de.get(&ord).copied()))
    .collect()
}
