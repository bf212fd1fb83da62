//! Sentence embeddings with candle: multilingual-e5-small (default; Polish and English) or a
//! BERT-family safetensors model such as all-MiniLM-L6-v2, masked mean pooling, L2 normalisation.

pub mod e5;
pub mod e5blob;
pub mod encoder;
pub mod pooling;
pub mod unigram;

use std::collections::HashMap;
use std::path::Path;
use std::sync::Mutex;

use candle_core::{DType, Device, Tensor};
use candle_nn::VarBuilder;
use candle_transformers::models::bert::{BertModel, Config as BertConfig};
use tokenizers::Tokenizer;
use tracing::instrument;

use crate::knowledge::chunk::Pieces;
use crate::models::{ModelsConfig, ResolvedModel};

/// What a text is to the embedder. e5 was trained with `query: ` before questions and
/// `passage: ` before the texts that answer them; models without roles ignore it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    /// A customer question, an approved answer's phrasing, or either side of a comparison
    /// between two texts of the same kind (draft against approved answer).
    Query,
    /// A knowledge passage or an approved answer's text.
    Passage,
}

/// The packed e5 file's name in the manifest.
pub const E5_FILE: &str = "e5-small-q4.bin";

/// Query embeddings kept for repeated questions (support questions repeat).
const QUERY_CACHE: usize = 1024;

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
    #[error("embedding model file {path}: {source}")]
    E5 {
        path: std::path::PathBuf,
        source: Box<e5::E5LoadError>,
    },
    #[error(transparent)]
    Model(Box<crate::models::ModelError>),
    #[error("embedding model: {0}")]
    E5Run(#[from] e5::E5Error),
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
    backend: Backend,
    device: Device,
    /// Padding id and the longest input in model tokens (specials included).
    pad_id: u32,
    max_tokens: usize,
    dim: usize,
    name: String,
    fingerprint: String,
    batch_size: usize,
    cache: Mutex<QueryCache>,
}

/// The two model families: a BERT safetensors model with its `tokenizer.json`, or the packed e5.
enum Backend {
    Bert {
        model: Box<BertModel>,
        tokenizer: Box<Tokenizer>,
    },
    E5 {
        model: e5::E5Model,
        tokenizer: Box<unigram::UnigramTokenizer>,
    },
}

/// A bounded map of recent query embeddings; emptied when full (cheap, and a busy day's repeats
/// refill it at once).
#[derive(Default)]
struct QueryCache {
    map: HashMap<String, Embedding>,
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
    /// Loads a resolved embedding model: the packed e5 file, or `config.json`,
    /// `model.safetensors` and `tokenizer.json` of a BERT model.
    pub fn load(model: &ResolvedModel, cfg: &EmbedConfig) -> Result<Embedder, EmbedError> {
        if let Some(path) = model.files.get(E5_FILE) {
            return Self::from_e5_file(&model.name, &model.fingerprint, path, cfg);
        }
        Self::from_files(
            &model.name,
            &model.fingerprint,
            model.file("config.json")?,
            model.file("model.safetensors")?,
            model.file("tokenizer.json")?,
            cfg,
        )
    }

    /// Loads multilingual-e5-small from its packed 4-bit file.
    #[instrument(skip_all, fields(model = name))]
    pub fn from_e5_file(
        name: &str,
        fingerprint: &str,
        path: &Path,
        cfg: &EmbedConfig,
    ) -> Result<Embedder, EmbedError> {
        let started = std::time::Instant::now();
        let device = Device::Cpu;
        let bytes = fs_err::read(path).map_err(|source| EmbedError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        let e5_err = |e: e5::E5LoadError| EmbedError::E5 {
            path: path.to_path_buf(),
            source: Box::new(e),
        };
        let blob = e5blob::Blob::parse(bytes).map_err(|e| e5_err(e.into()))?;
        let tokenizer = unigram::UnigramTokenizer::new(&blob.vocab, &blob.normalisation);
        let model = e5::E5Model::load(&blob, path).map_err(e5_err)?;
        let dim = model.hidden();
        let pad_id = blob.vocab.pad;
        let max_tokens = cfg.max_seq_tokens.min(blob.header.max_positions);
        drop(blob);
        tracing::info!(
            model = name,
            dim,
            load_ms = started.elapsed().as_millis() as u64,
            "embedding model loaded"
        );
        Ok(Embedder {
            backend: Backend::E5 {
                model,
                tokenizer: Box::new(tokenizer),
            },
            device,
            pad_id,
            max_tokens,
            dim,
            name: name.to_string(),
            fingerprint: fingerprint.to_string(),
            batch_size: cfg.batch_size,
            cache: Mutex::default(),
        })
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
        // Concord pads and truncates itself (`embed_batch`), so that the same tokenizer gives
        // the chunker offsets over whole sections.
        let pad_id = tokenizer.token_to_id("[PAD]").unwrap_or(0);
        tokenizer.with_padding(None);
        tokenizer
            .with_truncation(None)
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
            backend: Backend::Bert {
                model: Box::new(model),
                tokenizer: Box::new(tokenizer),
            },
            device,
            pad_id,
            max_tokens: cfg.max_seq_tokens.min(config.max_position_embeddings),
            dim: config.hidden_size,
            name: name.to_string(),
            fingerprint: fingerprint.to_string(),
            batch_size: cfg.batch_size,
            cache: Mutex::default(),
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

    /// The text the model reads for `text` in `role` (e5's instruction prefixes).
    fn with_role<'a>(&self, text: &'a str, role: Role) -> std::borrow::Cow<'a, str> {
        match (&self.backend, role) {
            (Backend::Bert { .. }, _) => text.into(),
            (Backend::E5 { .. }, Role::Query) => format!("query: {text}").into(),
            (Backend::E5 { .. }, Role::Passage) => format!("passage: {text}").into(),
        }
    }

    /// Embeds one text. Queries are kept in a small cache: a repeated question costs a lookup.
    pub fn embed_one(&self, text: &str, role: Role) -> Result<Embedding, EmbedError> {
        let cached = role == Role::Query;
        if cached {
            if let Some(v) = self.cache.lock().expect("cache lock").map.get(text) {
                return Ok(v.clone());
            }
        }
        let v = self
            .embed_batch(&[self.with_role(text, role).as_ref()])?
            .pop()
            .expect("one input gives one embedding");
        if cached {
            let mut cache = self.cache.lock().expect("cache lock");
            if cache.map.len() >= QUERY_CACHE {
                cache.map.clear();
            }
            cache.map.insert(text.to_string(), v.clone());
        }
        Ok(v)
    }

    /// Forgets the cached query embeddings (for benchmarks of the uncached path).
    pub fn clear_query_cache(&self) {
        self.cache.lock().expect("cache lock").map.clear();
    }

    /// Embeds many texts of one role in batches of `embed.batch_size`. Output order matches
    /// input order.
    pub fn embed(&self, texts: &[&str], role: Role) -> Result<Vec<Embedding>, EmbedError> {
        let inputs: Vec<(Role, &str)> = texts.iter().map(|&t| (role, t)).collect();
        self.embed_with_progress(&inputs, |_| {})
    }

    /// Embeds texts each with its role, grouping texts of similar length to waste little on
    /// padding, calling `progress(done)` after each batch. Output order matches input order.
    pub fn embed_with_progress(
        &self,
        inputs: &[(Role, &str)],
        mut progress: impl FnMut(usize),
    ) -> Result<Vec<Embedding>, EmbedError> {
        let texts: Vec<std::borrow::Cow<'_, str>> = inputs
            .iter()
            .map(|&(role, t)| self.with_role(t, role))
            .collect();
        let mut order: Vec<usize> = (0..texts.len()).collect();
        order.sort_by_key(|&i| texts[i].len());
        let mut out: Vec<Embedding> = vec![Vec::new(); texts.len()];
        let mut done = 0;
        for batch in order.chunks(self.batch_size.max(1)) {
            let batch_texts: Vec<&str> = batch.iter().map(|&i| texts[i].as_ref()).collect();
            let vectors = self.embed_batch(&batch_texts)?;
            for (&i, v) in batch.iter().zip(vectors) {
                out[i] = v;
            }
            done += batch.len();
            progress(done);
        }
        Ok(out)
    }

    /// One forward pass over `texts` (role prefixes already applied; padded to the longest).
    fn embed_batch(&self, texts: &[&str]) -> Result<Vec<Embedding>, EmbedError> {
        if texts.is_empty() {
            return Ok(Vec::new());
        }
        let encoded = texts
            .iter()
            .map(|t| self.token_ids_of(t))
            .collect::<Result<Vec<_>, _>>()?;
        let model = match &self.backend {
            Backend::Bert { model, .. } => model,
            // Packed without padding; no tensors on this path.
            Backend::E5 { model, .. } => {
                let mut pooled = model.mean_pooled(&encoded)?;
                for v in &mut pooled {
                    let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt().max(1e-12);
                    v.iter_mut().for_each(|x| *x /= norm);
                }
                return Ok(pooled);
            }
        };
        let n = encoded.len();
        let len = encoded.iter().map(Vec::len).max().unwrap_or(0);
        let mut ids = Vec::with_capacity(n * len);
        let mut mask = Vec::with_capacity(n * len);
        for e in &encoded {
            ids.extend(e.iter().copied());
            ids.extend(std::iter::repeat_n(self.pad_id, len - e.len()));
            mask.extend(std::iter::repeat_n(1u32, e.len()));
            mask.extend(std::iter::repeat_n(0u32, len - e.len()));
        }
        let ids = Tensor::from_vec(ids, (n, len), &self.device)?;
        let mask = Tensor::from_vec(mask, (n, len), &self.device)?;
        let type_ids = ids.zeros_like()?;
        let hidden = model.forward(&ids, &type_ids, Some(&mask))?;
        let pooled = pooling::masked_mean(&hidden, &mask)?;
        let normed = pooling::l2_normalize(&pooled)?;
        Ok(normed.to_vec2::<f32>()?)
    }

    /// The model's input ids for `text` in `role`, specials included (for tests and tools).
    pub fn token_ids(&self, text: &str, role: Role) -> Result<Vec<u32>, EmbedError> {
        self.token_ids_of(&self.with_role(text, role))
    }

    /// Ids of `text` with the model's specials, cut to `max_tokens` keeping the closing special.
    fn token_ids_of(&self, text: &str) -> Result<Vec<u32>, EmbedError> {
        let mut ids = match &self.backend {
            Backend::Bert { tokenizer, .. } => tokenizer
                .encode(text, true)
                .map_err(|e| EmbedError::Encode(e.to_string()))?
                .get_ids()
                .to_vec(),
            Backend::E5 { tokenizer, .. } => tokenizer.ids_with_specials(text),
        };
        if ids.len() > self.max_tokens && self.max_tokens >= 2 {
            let last = *ids.last().expect("longer than max_tokens");
            ids.truncate(self.max_tokens - 1);
            ids.push(last);
        }
        Ok(ids)
    }
}

impl Pieces for Embedder {
    fn piece_offsets(&self, text: &str) -> Result<Vec<(usize, usize)>, String> {
        match &self.backend {
            Backend::Bert { tokenizer, .. } => tokenizer.as_ref().piece_offsets(text),
            Backend::E5 { tokenizer, .. } => Ok(tokenizer.encode(text).offsets),
        }
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
