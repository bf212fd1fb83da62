//! Generation: GGUF models run here (our own forward passes on candle, [`model`]; the tokenizer from
//! the GGUF metadata), or a remote OpenAI-compatible server ([`remote`]); streaming text, a fair queue.

pub mod activation;
pub mod cache;
pub mod detok;
pub mod generate;
pub mod gguf;
pub mod kquant;
pub mod layers;
pub mod model;
pub mod queue;
pub mod remote;
pub mod sampling;
pub mod tokenizer;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use candle_core::Device;
use serde::Serialize;

pub use cache::Cache;
pub use generate::{generate, Completion, FinishReason, GenerateRequest, Usage};
pub use gguf::{Arch, GgufFile, Hparams};
pub use model::{LoadOptions, Model};
pub use sampling::SamplingParams;
pub use tokenizer::GgufTokenizer;

#[derive(Debug, thiserror::Error)]
pub enum LlmError {
    #[error(transparent)]
    Io(#[from] std::io::Error),
    #[error("{path} is not a readable GGUF model file: {source}")]
    NotGguf {
        path: PathBuf,
        #[source]
        source: Box<candle_core::Error>,
    },
    #[error("{path} is truncated: tensor {tensor} ends at byte {needed}, the file has {actual} bytes; fetch it again (`concord models fetch`)")]
    Truncated {
        path: PathBuf,
        tensor: String,
        needed: u64,
        actual: u64,
    },
    #[error("{path} is damaged: {detail}")]
    Corrupt { path: PathBuf, detail: String },
    #[error("{path} is a `{arch}` model; Concord runs {}", Arch::SUPPORTED)]
    UnsupportedArch { path: PathBuf, arch: String },
    #[error("cannot load tensor {name} of {path}: {source}")]
    Tensor {
        path: PathBuf,
        name: String,
        #[source]
        source: Box<candle_core::Error>,
    },
    #[error(transparent)]
    Tokenizer(Box<tokenizer::TokenizerError>),
    #[error("the model computation failed: {0}")]
    Forward(#[source] Box<candle_core::Error>),
    #[error("nothing to generate from: the prompt is empty")]
    EmptyInput,
    #[error("token id {id} is outside the vocabulary of {vocab}")]
    BadToken { id: u32, vocab: usize },
    #[error("the prompt needs {needed} positions, the model is set up for {max}")]
    ContextFull { needed: usize, max: usize },
    #[error("invalid sampling settings: {0}")]
    Sampling(String),
    #[error("all {capacity} places in the generation queue are taken; try again shortly")]
    Busy { capacity: usize },
    #[error("the generation queue has shut down")]
    QueueClosed,
    /// The remote generation server failed (a message without internals of the request).
    #[error("{0}")]
    Remote(String),
    #[error("the generation server failed repeatedly and is left alone for a while")]
    Unavailable,
    #[error("cannot use device {device}: {source}")]
    Device {
        device: String,
        #[source]
        source: Box<candle_core::Error>,
    },
}

impl From<tokenizer::TokenizerError> for LlmError {
    fn from(e: tokenizer::TokenizerError) -> Self {
        LlmError::Tokenizer(Box::new(e))
    }
}

impl From<candle_core::Error> for LlmError {
    /// Errors of candle operations outside loading are failures of the computation.
    fn from(e: candle_core::Error) -> Self {
        LlmError::Forward(Box::new(e))
    }
}

/// The chat format a model was trained on, which decides how prompts are wrapped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ChatFormat {
    /// `<|im_start|>role ... <|im_end|>` (SmolLM2, Qwen).
    ChatMl,
    /// `<start_of_turn>user ... <end_of_turn>` (Gemma instruction-tuned).
    Gemma,
    /// `<|start_header_id|>role<|end_header_id|> ... <|eot_id|>` (Llama 3).
    Llama3,
    /// `[INST] ... [/INST]` (Mistral, Bielik).
    Mistral,
    /// No chat template: a base model, prompted by completion with examples.
    Completion,
}

impl ChatFormat {
    /// Recognises the format from the GGUF's `tokenizer.chat_template` (None: a base model).
    pub fn detect(chat_template: Option<&str>) -> ChatFormat {
        match chat_template {
            Some(t) if t.contains("<|im_start|>") => ChatFormat::ChatMl,
            Some(t) if t.contains("<start_of_turn>") => ChatFormat::Gemma,
            Some(t) if t.contains("<|start_header_id|>") => ChatFormat::Llama3,
            Some(t) if t.contains("[INST]") => ChatFormat::Mistral,
            _ => ChatFormat::Completion,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            ChatFormat::ChatMl => "chatml",
            ChatFormat::Gemma => "gemma",
            ChatFormat::Llama3 => "llama3",
            ChatFormat::Mistral => "mistral",
            ChatFormat::Completion => "completion",
        }
    }

    /// Token strings that end an assistant turn in this format.
    fn end_tokens(self) -> &'static [&'static str] {
        match self {
            ChatFormat::ChatMl => &["<|im_end|>", "<|endoftext|>"],
            ChatFormat::Gemma => &["<end_of_turn>", "<eos>"],
            ChatFormat::Llama3 => &["<|eot_id|>", "<|end_of_text|>"],
            ChatFormat::Mistral => &["</s>"],
            ChatFormat::Completion => &[],
        }
    }
}

/// Which device to run on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DeviceChoice {
    Cpu,
    /// The first CUDA GPU (needs a build with `--features cuda`).
    Cuda,
}

impl DeviceChoice {
    pub fn device(self) -> Result<Device, LlmError> {
        match self {
            DeviceChoice::Cpu => Ok(Device::Cpu),
            DeviceChoice::Cuda => Device::new_cuda(0).map_err(|source| LlmError::Device {
                device: "cuda:0".into(),
                source: Box::new(source),
            }),
        }
    }
}

/// A loaded generation model with its tokenizer and chat format: shareable between threads.
#[derive(Debug)]
pub struct Generator {
    pub name: String,
    model: Model,
    tokenizer: GgufTokenizer,
    format: ChatFormat,
    stop_ids: Vec<u32>,
    load_ms: f64,
}

impl Generator {
    /// Loads the GGUF model at `path` (and its tokenizer: `tokenizer.json` beside it, else the
    /// GGUF metadata).
    pub fn load(name: &str, path: &Path, opts: &LoadOptions) -> Result<Generator, LlmError> {
        let started = Instant::now();
        let mut file = GgufFile::open(path)?;
        file.arch()?;
        let tokenizer = if path.with_file_name(tokenizer::TOKENIZER_JSON).is_file() {
            tokenizer::load_tokenizer(path)?
        } else {
            tokenizer::tokenizer_from_gguf(file.content())?
        };
        let format = ChatFormat::detect(file.meta_str("tokenizer.chat_template"));
        let model = Model::load(&mut file, opts)?;
        let mut stop_ids: Vec<u32> = format
            .end_tokens()
            .iter()
            .filter_map(|t| tokenizer.token_id(t))
            .collect();
        stop_ids.extend(tokenizer.eos_id());
        stop_ids.sort_unstable();
        stop_ids.dedup();
        let load_ms = started.elapsed().as_secs_f64() * 1e3;
        tracing::info!(model = name, arch = ?model.hparams().arch, format = format.as_str(), load_ms = load_ms as u64, "generator loaded");
        Ok(Generator {
            name: name.to_string(),
            model,
            tokenizer,
            format,
            stop_ids,
            load_ms,
        })
    }

    pub fn model(&self) -> &Model {
        &self.model
    }

    pub fn tokenizer(&self) -> &GgufTokenizer {
        &self.tokenizer
    }

    pub fn format(&self) -> ChatFormat {
        self.format
    }

    /// Ids that end an answer: end of turn and end of sequence.
    pub fn stop_ids(&self) -> &[u32] {
        &self.stop_ids
    }

    /// Milliseconds it took to load.
    pub fn load_ms(&self) -> f64 {
        self.load_ms
    }

    /// `text` (from a customer or the knowledge base) made unable to write this model's control
    /// tokens; see [`GgufTokenizer::defuse`].
    pub fn defuse(&self, text: &str) -> String {
        self.tokenizer.defuse(text)
    }

    /// Token ids of a rendered prompt (special tokens written in it become their ids; BOS is
    /// added when the model asks for it and the text does not start with it).
    pub fn encode_prompt(&self, text: &str) -> Result<Vec<u32>, LlmError> {
        let mut ids = self.tokenizer.encode(text, false)?;
        if self.tokenizer.add_bos() {
            if let Some(bos) = self.tokenizer.bos_id() {
                if ids.first() != Some(&bos) {
                    ids.insert(0, bos);
                }
            }
        }
        Ok(ids)
    }

    /// Number of tokens `text` takes (without BOS).
    pub fn count_tokens(&self, text: &str) -> Result<usize, LlmError> {
        Ok(self.tokenizer.encode(text, false)?.len())
    }

    /// A fresh KV cache for one conversation.
    pub fn new_cache(&self) -> Cache {
        self.model.new_cache()
    }

    /// Generates on this thread (see [`generate()`]); `stop_strings` come from the prompt.
    pub fn generate(
        &self,
        cache: &mut Cache,
        req: &GenerateRequest,
        on_text: impl FnMut(&str) -> std::ops::ControlFlow<()>,
    ) -> Result<Completion, LlmError> {
        req.sampling.validate().map_err(LlmError::Sampling)?;
        generate(&self.model, &self.tokenizer, cache, req, on_text)
    }
}

/// Spin rounds of candle's matmul workers before they park (candle's default is 25,000).
const BARRIER_SPIN_LIMIT: u32 = 500;

/// Sets the threads used by the matrix products (candle's pool) and other ops (rayon); 0 means
/// candle's default (the physical cores). Takes effect only before the first model operation,
/// so call it at start-up. Always pinning the number also spares candle from working out the
/// default again on every f32 matrix product (it reads /proc/cpuinfo each time).
pub fn set_threads(n: usize) {
    // candle's matmul workers spin 25,000 rounds before parking after each product; during a
    // prompt that spinning takes a core from the dense (gemm) products that follow, so park
    // sooner. Measured side by side with llama.cpp on 2 cores (README "Generation figures"):
    // prompt +10%, single-token steps -5%, a shorter wait for a typical answer.
    if std::env::var_os("CANDLE_BARRIER_POOL_SPIN_LIMIT").is_none() {
        std::env::set_var(
            "CANDLE_BARRIER_POOL_SPIN_LIMIT",
            BARRIER_SPIN_LIMIT.to_string(),
        );
    }
    if n > 0 {
        std::env::set_var("CANDLE_NUM_THREADS", n.to_string());
        std::env::set_var("RAYON_NUM_THREADS", n.to_string());
        return;
    }
    // Keep what the environment says, fill in the default for what it does not.
    let default = candle_core::utils::get_num_threads().to_string();
    for var in ["RAYON_NUM_THREADS", "CANDLE_NUM_THREADS"] {
        if std::env::var_os(var).is_none() {
            std::env::set_var(var, &default);
        }
    }
}

/// A generator behind an `Arc`, as the queue and the server share it.
pub type SharedGenerator = Arc<Generator>;
