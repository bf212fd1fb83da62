//! Retrieval settings (`[retrieval]`): which retrievers answer, how many passages, and the
//! fusion per language.

use crate::knowledge::Lang;

/// Which retrievers answer a query.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum RetrievalMode {
    Hybrid,
    Bm25,
    Dense,
}

impl RetrievalMode {
    pub const ALL: [RetrievalMode; 3] = [Self::Bm25, Self::Dense, Self::Hybrid];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Hybrid => "hybrid",
            Self::Bm25 => "bm25",
            Self::Dense => "dense",
        }
    }
}

impl std::str::FromStr for RetrievalMode {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "hybrid" => Ok(Self::Hybrid),
            "bm25" => Ok(Self::Bm25),
            "dense" => Ok(Self::Dense),
            other => Err(format!(
                "unknown retrieval mode `{other}` (hybrid, bm25 or dense)"
            )),
        }
    }
}

#[derive(Debug, Clone, Copy)]
pub struct RetrievalConfig {
    pub mode: RetrievalMode,
    pub k: usize,
    pub candidates: usize,
    /// Fusion for Polish questions (BM25 weight 1).
    pub pl: Fusion,
    /// Fusion for English questions (BM25 weight 1).
    pub en: Fusion,
}

/// Reciprocal rank fusion settings: `score = Σ weight / (rrf_k + rank)`, BM25 weight 1.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Fusion {
    pub rrf_k: f32,
    pub dense_weight: f32,
}

impl RetrievalConfig {
    /// The fusion settings for a question in `lang`.
    pub fn fusion(&self, lang: Lang) -> Fusion {
        match lang {
            Lang::Pl => self.pl,
            Lang::En => self.en,
        }
    }

    /// The same settings for both languages (evaluation overrides and sweeps).
    pub fn with_fusion(self, fusion: Fusion) -> Self {
        RetrievalConfig {
            pl: fusion,
            en: fusion,
            ..self
        }
    }
}
