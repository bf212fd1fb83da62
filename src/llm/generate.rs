//! The generation loop: prompt (reusing cached pieces), then one token at a time until a stop
//! token, a stop string or the token limit, handing out text as it is produced.

use std::ops::ControlFlow;
use std::time::Instant;

use serde::Serialize;

use super::cache::Cache;
use super::detok::{TextStream, Update};
use super::model::Model;
use super::sampling::{Sampler, SamplingParams};
use super::tokenizer::GgufTokenizer;
use super::LlmError;

/// One generation, validated: token ids ready for the model.
#[derive(Debug, Clone)]
pub struct GenerateRequest {
    pub prompt: Vec<u32>,
    /// Ends of the prompt's pieces that recur across prompts (system text and instructions,
    /// then the approved answer, then each passage), ascending. The prompt is computed piece by
    /// piece and the cache keeps the pieces, so a later prompt starting with the same pieces
    /// reuses them; empty for none.
    pub pieces: Vec<usize>,
    pub max_tokens: usize,
    pub sampling: SamplingParams,
    /// Text that ends the answer (not included in it).
    pub stop_strings: Vec<String>,
    /// Token ids that end the answer (end of turn, end of sequence).
    pub stop_ids: Vec<u32>,
}

/// Why generation ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FinishReason {
    /// End-of-turn token or stop string.
    Stop,
    /// `max_tokens` reached.
    Length,
    /// The model's context is full.
    Context,
    /// The caller went away.
    Cancelled,
}

/// Token counts and speeds of one generation.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Usage {
    pub prompt_tokens: usize,
    /// Prompt tokens whose keys and values were reused from the previous request.
    pub cached_tokens: usize,
    pub generated_tokens: usize,
    /// Time to first token: prompt processing plus the first step, in milliseconds.
    pub ttft_ms: f64,
    /// Prompt tokens actually computed per second.
    pub prompt_tok_s: f64,
    /// Generated tokens per second, after the first.
    pub gen_tok_s: f64,
    pub total_ms: f64,
}

/// The finished generation.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Completion {
    pub text: String,
    /// The generated ids (without the stop token).
    #[serde(skip)]
    pub tokens: Vec<u32>,
    pub finish: FinishReason,
    pub usage: Usage,
}

/// Runs `req` on `model` with `cache` (its matching prefix is reused), calling `on_text` after
/// each token with the new piece of text (often empty); `on_text` returning `Break` cancels.
pub fn generate(
    model: &Model,
    tokenizer: &GgufTokenizer,
    cache: &mut Cache,
    req: &GenerateRequest,
    mut on_text: impl FnMut(&str) -> ControlFlow<()>,
) -> Result<Completion, LlmError> {
    let started = Instant::now();
    if req.prompt.is_empty() {
        return Err(LlmError::EmptyInput);
    }
    if req.prompt.len() >= model.max_context() {
        return Err(LlmError::ContextFull {
            needed: req.prompt.len() + 1,
            max: model.max_context(),
        });
    }
    let mut bounds: Vec<usize> = req
        .pieces
        .iter()
        .copied()
        .filter(|&b| b > 0 && b < req.prompt.len())
        .collect();
    bounds.sort_unstable();
    bounds.dedup();
    let cached = cache.reuse(&req.prompt, &bounds);
    let mut at = cached;
    for (i, &end) in bounds.iter().enumerate().filter(|(_, &b)| b > cached) {
        model.prefill(cache, &req.prompt[at..end])?;
        cache.piece_done(&req.prompt, &bounds, i);
        at = end;
    }
    let mut logits = model.forward(cache, &req.prompt[at..])?;
    let prompt_done = started.elapsed();
    let mut sampler = Sampler::new(req.sampling.clone());
    let mut stream = TextStream::new(req.stop_strings.clone());
    let mut generated: Vec<u32> = Vec::with_capacity(req.max_tokens);
    let mut ttft = None;
    let mut finish = FinishReason::Length;
    let mut buf: Vec<f32> = Vec::new();
    while generated.len() < req.max_tokens {
        buf.clear();
        buf.extend(logits.to_vec1::<f32>()?);
        // The cache holds exactly the prompt and the tokens generated so far.
        let next = sampler.sample(&mut buf, cache.tokens());
        if ttft.is_none() {
            ttft = Some(started.elapsed());
        }
        if req.stop_ids.contains(&next) {
            finish = FinishReason::Stop;
            break;
        }
        generated.push(next);
        let decoded = tokenizer.decode(&generated)?;
        let (piece, stopped) = match stream.update(decoded) {
            Update::Text(p) => (p, false),
            Update::Stopped(p) => (p, true),
        };
        // Called after every token, even without new text, so a gone caller is noticed at once.
        if on_text(&piece).is_break() {
            finish = FinishReason::Cancelled;
            break;
        }
        if stopped {
            finish = FinishReason::Stop;
            break;
        }
        if generated.len() == req.max_tokens {
            break;
        }
        if cache.tokens().len() + 1 > model.max_context() {
            finish = FinishReason::Context;
            break;
        }
        logits = model.forward(cache, &[next])?;
    }
    if finish != FinishReason::Cancelled {
        let rest = stream.finish();
        if !rest.is_empty() && on_text(&rest).is_break() {
            finish = FinishReason::Cancelled;
        }
    }
    let total = started.elapsed();
    let ttft = ttft.unwrap_or(total);
    let computed = req.prompt.len() - cached;
    let decode_secs = (total - ttft).as_secs_f64();
    let usage = Usage {
        prompt_tokens: req.prompt.len(),
        cached_tokens: cached,
        generated_tokens: generated.len(),
        ttft_ms: ttft.as_secs_f64() * 1e3,
        prompt_tok_s: rate(computed, prompt_done.as_secs_f64()),
        gen_tok_s: rate(generated.len().saturating_sub(1), decode_secs),
        total_ms: total.as_secs_f64() * 1e3,
    };
    Ok(Completion {
        text: stream.text().trim().to_string(),
        tokens: generated,
        finish,
        usage,
    })
}

fn rate(n: usize, secs: f64) -> f64 {
    if secs > 0.0 {
        n as f64 / secs
    } else {
        0.0
    }
}
