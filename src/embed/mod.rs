//! Sentence embeddings with candle: a BERT-family model (all-MiniLM-L6-v2 by default), masked mean
//! pooling and L2 normalisation, batched, matching sentence-transformers.

pub mod pooling;

use std::path::Path;

use candle_core::{DType, Device, Tensor};
use candle_nn::VarBuilder;
use candle_transformers::models::bert::{BertModel, Config as BertConfig};
use tokenizers::{PaddingParams, PaddingStrategy, Tokenizer, TruncationParams};
use tracing::instrument;

use crate::models::{ModelsConfig, ResolvedModel};

/// Embedding batches and input length (`[embed]`).
#[derive(Debug, Clone, Copy, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EmbedConfig {
    pub batch_size: usize,
    pub max_seq_tokens: usize,
}

/// An L2-normalised sentence embedding.
pub type Embedding = Vec<f32>;

#[derive(Debug, thiserror::Error)]
pub enum EmbedError {
    #[error("cannot read embedding model file {path}: {source}")]
    Io {
        path: std::path::PathBuf,
        source: std::io::Error,
    },
    #[error("embedding model config {path} is invalid: {message}")]
    Config {
        path: std::path::PathBuf,
        message: String,
    },
    #[error("embedding model tokenizer {path}: {message}")]
    Tokenizer {
        path: std::path::PathBuf,
        message: String,
    },
    #[error("tokenizing text for the embedder failed: {0}")]
    Encode(String),
    #[error("embedding model: {0}")]
    Candle(Box<candle_core::Error>),
    #[error(transparent)]
    Model(Box<crate::models::ModelError>),
}

impl From<candle_core::Error> for EmbedError {
    fn from(e: candle_core::Error) -> Self {
        EmbedError::Candle(Box::new(e))
    }
}

impl From<crate::models::ModelError> for EmbedError {
    fn from(e: crate::models::ModelError) -> Self {
        EmbedError::Model(Box::new(e))
    }
}

/// A loaded sentence-embedding model. Cheap to share behind an `Arc`; `embed` takes `&self`.
pub struct Embedder {
    model: BertModel,
    tokenizer: Tokenizer,
    device: Device,
    dim: usize,
    name: String,
    fingerprint: String,
    batch_size: usize,
}

impl std::fmt::Debug for Embedder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Embedder")
            .field("name", &self.name)
            .field("fingerprint", &self.fingerprint)
            .field("dim", &self.dim)
            .finish_non_exhaustive()
    }
}

impl Embedder {
    /// Loads a resolved embedding model (`config.json`, `model.safetensors`, `tokenizer.json`).
    pub fn load(model: &ResolvedModel, cfg: &EmbedConfig) -> Result<Embedder, EmbedError> {
        Self::from_files(
            &model.name,
            &model.fingerprint,
            model.file("config.json")?,
            model.file("model.safetensors")?,
            model.file("tokenizer.json")?,
            cfg,
        )
    }

    /// Loads from explicit files. `fingerprint` identifies the weights (an index records it).
    #[instrument(skip_all, fields(model = name))]
    pub fn from_files(
        name: &str,
        fingerprint: &str,
        config_path: &Path,
        weights_path: &Path,
        tokenizer_path: &Path,
        cfg: &EmbedConfig,
    ) -> Result<Embedder, EmbedError> {
        let started = std::time::Instant::now();
        let device = Device::Cpu;
        let config_text = fs_err::read_to_string(config_path).map_err(|source| EmbedError::Io {
            path: config_path.to_path_buf(),
            source,
        })?;
        let config: BertConfig =
            serde_json::from_str(&config_text).map_err(|e| EmbedError::Config {
                path: config_path.to_path_buf(),
                message: e.to_string(),
            })?;
        let weights = fs_err::read(weights_path).map_err(|source| EmbedError::Io {
            path: weights_path.to_path_buf(),
            source,
        })?;
        let vb = VarBuilder::from_buffered_safetensors(weights, DType::F32, &device)?;
        let model = BertModel::load(vb, &config)?;
        let mut tokenizer =
            Tokenizer::from_file(tokenizer_path).map_err(|e| EmbedError::Tokenizer {
                path: tokenizer_path.to_path_buf(),
                message: e.to_string(),
            })?;
        // sentence-transformers pads to the longest in the batch and truncates at
        // max_seq_length (256); the shipped tokenizer.json pads and truncates to a fixed 128.
        let pad_id = tokenizer.token_to_id("[PAD]").unwrap_or(0);
        tokenizer.with_padding(Some(PaddingParams {
            strategy: PaddingStrategy::BatchLongest,
            pad_id,
            pad_token: "[PAD]".into(),
            ..Default::default()
        }));
        tokenizer
            .with_truncation(Some(TruncationParams {
                max_length: cfg.max_seq_tokens.min(config.max_position_embeddings),
                ..Default::default()
            }))
            .map_err(|e| EmbedError::Tokenizer {
                path: tokenizer_path.to_path_buf(),
                message: e.to_string(),
            })?;
        tracing::info!(
            model = name,
            dim = config.hidden_size,
            load_ms = started.elapsed().as_millis() as u64,
            "embedding model loaded"
        );
        Ok(Embedder {
            model,
            tokenizer,
            device,
            dim: config.hidden_size,
            name: name.to_string(),
            fingerprint: fingerprint.to_string(),
            batch_size: cfg.batch_size,
        })
    }

    pub fn dim(&self) -> usize {
        self.dim
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn fingerprint(&self) -> &str {
        &self.fingerprint
    }

    /// The embedder's tokenizer (padding and truncation set), for token budgets in chunking.
    pub fn tokenizer(&self) -> &Tokenizer {
        &self.tokenizer
    }

    /// Embeds one text.
    pub fn embed_one(&self, text: &str) -> Result<Embedding, EmbedError> {
        let mut v = self.embed_batch(&[text])?;
        Ok(v.pop().expect("one input gives one embedding"))
    }

    /// Embeds many texts in batches of `embed.batch_size`, grouping texts of similar length to
    /// waste little on padding. Output order matches input order.
    pub fn embed(&self, texts: &[&str]) -> Result<Vec<Embedding>, EmbedError> {
        self.embed_with_progress(texts, |_| {})
    }

    /// As [`Embedder::embed`], calling `progress(done)` after each batch.
    pub fn embed_with_progress(
        &self,
        texts: &[&str],
        mut progress: impl FnMut(usize),
    ) -> Result<Vec<Embedding>, EmbedError> {
        let mut order: Vec<usize> = (0..texts.len()).collect();
        order.sort_by_key(|&i| texts[i].len());
        let mut out: Vec<Embedding> = vec![Vec::new(); texts.len()];
        let mut done = 0;
        for batch in order.chunks(self.batch_size) {
            let batch_texts: Vec<&str> = batch.iter().map(|&i| texts[i]).collect();
            let vectors = self.embed_batch(&batch_texts)?;
            for (&i, v) in batch.iter().zip(vectors) {
                out[i] = v;
            }
            done += batch.len();
            progress(done);
        }
        Ok(out)
    }

    /// One forward pass over `texts` (padded to the longest).
    fn embed_batch(&self, texts: &[&str]) -> Result<Vec<Embedding>, EmbedError> {
        if texts.is_empty() {
            return Ok(Vec::new());
        }
        let encodings = self
            .tokenizer
            .encode_batch(texts.to_vec(), true)
            .map_err(|e| EmbedError::Encode(e.to_string()))?;
        let len = encodings[0].get_ids().len();
        let n = encodings.len();
        let mut ids = Vec::with_capacity(n * len);
        let mut mask = Vec::with_capacity(n * len);
        for e in &encodings {
            ids.extend(e.get_ids().iter().copied());
            mask.extend(e.get_attention_mask().iter().copied());
        }
        let ids = Tensor::from_vec(ids, (n, len), &self.device)?;
        let mask = Tensor::from_vec(mask, (n, len), &self.device)?;
        let type_ids = ids.zeros_like()?;
        let hidden = self.model.forward(&ids, &type_ids, Some(&mask))?;
        let pooled = pooling::masked_mean(&hidden, &mask)?;
        let normed = pooling::l2_normalize(&pooled)?;
        Ok(normed.to_vec2::<f32>()?)
    }
}

/// Dot product of two normalised embeddings (= cosine similarity).
pub fn cosine(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

impl Embedder {
    /// Resolves the configured embedding model (fetching it if allowed and missing) and loads it.
    pub fn from_settings(
        models: &ModelsConfig,
        embed: &EmbedConfig,
    ) -> Result<Embedder, EmbedError> {
        let store = crate::models::ModelStore::new(models)?;
        let model = store.ensure(&models.embedder)?;
        Embedder::load(&model, embed)
    }
}
