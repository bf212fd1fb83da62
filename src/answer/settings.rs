//! Drafting settings: the generation models and their limits (`[generation]`) and the prompt
//! templates (`[prompts]`).

use std::path::PathBuf;

use crate::knowledge::Lang;

/// How answers are drafted (`[generation]`).
#[derive(Debug, Clone)]
pub struct GenerationConfig {
    /// Generation model for Polish questions (a manifest name).
    pub model_pl: String,
    /// Generation model for English questions.
    pub model_en: String,
    pub device: crate::llm::DeviceChoice,
    /// Threads for the matrix products; 0 leaves candle's default (physical cores).
    pub threads: usize,
    pub context_tokens: usize,
    pub max_new_tokens: usize,
    pub max_passages: usize,
    pub dense_prefill: bool,
    /// Largest f32 copy `dense_prefill` makes, in MiB.
    pub dense_prefill_max_mb: usize,
    /// Without an f32 copy, read Q4_K/Q6_K weights in place (one copy of the weights) rather
    /// than through candle's repacked products (1.3-2.2x the weight memory).
    pub in_place_weights: bool,
    pub requantize: bool,
    /// MiB of earlier prompts' pieces each generation worker keeps per model for reuse.
    pub prefix_cache_mb: usize,
    pub parallel: usize,
    pub queue_capacity: usize,
    /// Drafts one client (address) may have waiting; clients take turns.
    pub queue_per_client: usize,
    /// Drafts waiting at which a matched approved answer is sent without a draft (0: never).
    pub skip_draft_at_queue: usize,
    pub sampling: crate::llm::SamplingParams,
    /// Who writes the drafts.
    pub backend: Backend,
}

/// Who writes the drafts (`[generation] backend`).
#[derive(Debug, Clone, PartialEq)]
pub enum Backend {
    /// The models of `model_pl` / `model_en`, in this process.
    Local,
    /// An OpenAI-compatible server (`[generation.openai]`).
    OpenAi(crate::llm::remote::RemoteSettings),
}

impl GenerationConfig {
    /// The generation model for questions in `lang`.
    pub fn model(&self, lang: Lang) -> &str {
        match lang {
            Lang::Pl => &self.model_pl,
            Lang::En => &self.model_en,
        }
    }
}

/// Where the prompt templates come from (`[prompts]`).
#[derive(Debug, Clone)]
pub struct PromptsConfig {
    /// A folder with edited templates, or `None` for the copies built into the binary.
    pub dir: Option<PathBuf>,
    pub business_name: String,
    /// A marker in the drafting instructions that must never appear in a reply.
    pub canary: String,
}
