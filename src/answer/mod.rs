//! Drafting an answer: retrieved passages and the matched canonical answer become a prompt that
//! fits the model's window ([`context`], [`prompt`]); the model's text becomes a [`Draft`].

pub mod context;
pub mod drafter;
pub mod prompt;
pub mod settings;

use serde::Serialize;

use crate::index::Index;
use crate::knowledge::{Canonical, CanonicalId, ChunkId, DocId, Lang};
use crate::llm::remote::{self, ChatRequest, RemoteGenerator};
use crate::llm::{
    Completion, FinishReason, GenerateRequest, Generator, LlmError, SamplingParams, Usage,
};
use crate::models::ModelError;
use crate::retrieve::Retrieval;
pub use drafter::Drafter;
pub use prompt::{
    DraftInput, Prompt, PromptCanonical, PromptError, PromptPassage, Prompts, Staffed,
};
pub use settings::{Backend, GenerationConfig, PromptsConfig};

#[derive(Debug, thiserror::Error)]
pub enum AnswerError {
    #[error(transparent)]
    Prompt(#[from] PromptError),
    #[error(transparent)]
    Llm(#[from] LlmError),
    #[error("the question is too long: the prompt needs more than the {budget} tokens the model has for it")]
    QuestionTooLong { budget: usize },
    /// The generation model could not be resolved (boxed: these errors are large).
    #[error(transparent)]
    Model(Box<ModelError>),
}

impl From<ModelError> for AnswerError {
    fn from(e: ModelError) -> Self {
        AnswerError::Model(Box::new(e))
    }
}

/// Drafting settings (from `[generation]` and `[prompts]`; [`DraftSettings::new`]).
#[derive(Debug, Clone)]
pub struct DraftSettings {
    pub max_new_tokens: usize,
    pub max_passages: usize,
    pub sampling: SamplingParams,
    pub business_name: String,
    pub canary: String,
}

impl DraftSettings {
    pub fn new(generation: &GenerationConfig, prompts: &PromptsConfig) -> Self {
        DraftSettings {
            max_new_tokens: generation.max_new_tokens,
            max_passages: generation.max_passages,
            sampling: generation.sampling.clone(),
            business_name: prompts.business_name.clone(),
            canary: prompts.canary.clone(),
        }
    }
}

/// A passage given to the model, as the answer cites it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Source {
    /// The number the prompt shows (`[1]`).
    pub n: usize,
    pub chunk: ChunkId,
    pub doc: DocId,
    pub title: String,
    pub url: Option<String>,
    pub score: f32,
}

/// A prompt ready to generate from, with what went into it (the request itself is returned beside
/// it: token ids for a local model, messages for a remote one).
#[derive(Debug, Clone)]
pub struct DraftPlan {
    pub prompt: Prompt,
    pub sources: Vec<Source>,
    /// Passages retrieved but left out to fit the window.
    pub dropped: usize,
    pub canonical: Option<CanonicalId>,
}

/// What a draft answers: the question in its language, what retrieval found for it, and the
/// approved answer the turn matched (decided once, by the gate).
#[derive(Debug, Clone, Copy)]
pub struct Ask<'a> {
    pub question: &'a str,
    pub lang: Lang,
    pub retrieval: &'a Retrieval,
    pub canonical: Option<&'a Canonical>,
}

/// A drafted answer.
#[derive(Debug, Clone, Serialize)]
pub struct Draft {
    pub text: String,
    /// Chunks the text cites, in order of first citation.
    pub cited: Vec<ChunkId>,
    pub sources: Vec<Source>,
    pub canonical: Option<CanonicalId>,
    pub finish: FinishReason,
    pub usage: Usage,
    pub template_hash: String,
    pub model: String,
}

/// What a prompt is made of, each text made unable to write control tokens.
struct Gathered {
    question: String,
    passages: Vec<PromptPassage>,
    sources: Vec<Source>,
    canonical: Option<PromptCanonical>,
}

/// The question, up to `max_passages` retrieved passages and the approved answer of `ask`, each
/// passed through `defuse` (customer and knowledge text cannot write a forged turn).
fn gather(
    defuse: impl Fn(&str) -> String,
    settings: &DraftSettings,
    index: &Index,
    ask: &Ask<'_>,
) -> Gathered {
    let mut sources = Vec::new();
    let mut passages = Vec::new();
    for sc in ask.retrieval.chunks.iter().take(settings.max_passages) {
        let Some(chunk) = index.chunks.get(sc.ord as usize) else {
            continue;
        };
        let n = passages.len() + 1;
        let mut title = chunk.title.clone();
        for h in &chunk.headings {
            title.push_str(" › ");
            title.push_str(h);
        }
        passages.push(PromptPassage {
            n,
            title: defuse(&title),
            text: defuse(chunk.text.trim()),
        });
        sources.push(Source {
            n,
            chunk: chunk.id.clone(),
            doc: chunk.doc.clone(),
            title,
            url: chunk.url.clone(),
            score: sc.score,
        });
    }
    Gathered {
        question: defuse(ask.question),
        passages,
        sources,
        canonical: ask.canonical.map(|c| PromptCanonical {
            answer: defuse(&c.answer),
        }),
    }
}

impl Gathered {
    /// The plan of a prompt rendered with the first `k` passages.
    fn plan(self, prompt: Prompt, k: usize, ask: &Ask<'_>) -> DraftPlan {
        let dropped = self.passages.len() - k;
        let mut sources = self.sources;
        sources.truncate(k);
        DraftPlan {
            prompt,
            sources,
            dropped,
            canonical: ask.canonical.map(|c| c.id.clone()),
        }
    }

    fn input<'a>(&'a self, settings: &'a DraftSettings, lang: Lang, k: usize) -> DraftInput<'a> {
        DraftInput {
            lang,
            business: &settings.business_name,
            canary: &settings.canary,
            question: &self.question,
            passages: &self.passages[..k],
            canonical: self.canonical.as_ref(),
        }
    }
}

/// Builds the prompt for `question` from `retrieval`: up to `max_passages` passages, fewer when
/// the prompt would not leave `max_new_tokens` in the model's window (least relevant dropped
/// first), and `canonical`, the approved answer the turn matched (decided once, by the gate).
/// Returns the plan and the request for the local model.
pub fn plan_draft(
    generator: &Generator,
    prompts: &Prompts,
    settings: &DraftSettings,
    index: &Index,
    ask: &Ask<'_>,
) -> Result<(DraftPlan, GenerateRequest), AnswerError> {
    let g = gather(|t| generator.defuse(t), settings, index, ask);
    let render =
        |k: usize| prompts.render_draft(generator.format(), &g.input(settings, ask.lang, k));
    let budget = generator
        .model()
        .max_context()
        .saturating_sub(settings.max_new_tokens);
    let fits = context::fit(
        g.passages.len(),
        budget,
        |k| -> Result<usize, AnswerError> { Ok(generator.encode_prompt(&render(k)?.text)?.len()) },
    )?;
    let k = fits.ok_or(AnswerError::QuestionTooLong { budget })?;
    let prompt = render(k)?;
    let ids = generator.encode_prompt(&prompt.text)?;
    let pieces = prompt_pieces(generator, prompts, &g.input(settings, ask.lang, k), &ids)?;
    let request = GenerateRequest {
        prompt: ids,
        pieces,
        max_tokens: settings.max_new_tokens,
        sampling: settings.sampling.clone(),
        stop_strings: prompt.stop_strings.clone(),
        stop_ids: generator.stop_ids().to_vec(),
    };
    Ok((g.plan(prompt, k, ask), request))
}

/// The same for a remote server: the system and user messages (the server applies its model's
/// chat template), passages dropped to fit its `context_tokens` by an estimate of the tokens
/// ([`remote::estimate_tokens`]).
pub fn plan_remote_draft(
    remote: &RemoteGenerator,
    prompts: &Prompts,
    settings: &DraftSettings,
    index: &Index,
    ask: &Ask<'_>,
) -> Result<(DraftPlan, ChatRequest), AnswerError> {
    let g = gather(remote::defuse, settings, index, ask);
    let render = |k: usize| prompts.render_chat(&g.input(settings, ask.lang, k));
    let budget = remote
        .settings()
        .context_tokens
        .saturating_sub(settings.max_new_tokens);
    let fits = context::fit(
        g.passages.len(),
        budget,
        |k| -> Result<usize, AnswerError> {
            let (_, messages) = render(k)?;
            // A few tokens of the template's own around each message.
            Ok(messages
                .iter()
                .map(|m| remote::estimate_tokens(&m.content) + 8)
                .sum())
        },
    )?;
    let k = fits.ok_or(AnswerError::QuestionTooLong { budget })?;
    let (prompt, messages) = render(k)?;
    let request = ChatRequest {
        messages,
        max_tokens: settings.max_new_tokens,
        sampling: settings.sampling.clone(),
        stop_strings: prompt.stop_strings.clone(),
    };
    Ok((g.plan(prompt, k, ask), request))
}

/// Ends of the pieces of a draft prompt (`ids`, rendered from `input`) that recur across
/// questions, ascending: the fixed instructions, then the context (approved answer and
/// passages); the question is the last piece. Each piece ends where the prompt stops agreeing
/// with the one for an empty question with less context (so a boundary that tokenizes
/// differently in context moves with it).
///
/// Measured (README "Prompt pieces"): every piece is one more forward pass, about 120 ms for
/// Gemma 3 270M on 2 cores whatever its length, and on the demo suite a question's approved
/// answer and passages rarely repeat an earlier question's in the same order, so a piece per
/// passage cost 19% of the time to first token. One piece for the whole context costs one pass
/// and makes a repeated question (a suggested question, a popular one) start at its question.
pub fn prompt_pieces(
    generator: &Generator,
    prompts: &Prompts,
    input: &DraftInput<'_>,
    ids: &[u32],
) -> Result<Vec<usize>, AnswerError> {
    let shared = |canonical: Option<&PromptCanonical>, n: usize| -> Result<usize, AnswerError> {
        let variant = prompts.render_draft(
            generator.format(),
            &DraftInput {
                question: "",
                passages: &input.passages[..n],
                canonical,
                ..*input
            },
        )?;
        let variant = generator.encode_prompt(&variant.text)?;
        Ok(ids.iter().zip(&variant).take_while(|(a, b)| a == b).count())
    };
    let mut pieces = vec![
        shared(None, 0)?,
        shared(input.canonical, input.passages.len())?,
    ];
    pieces.sort_unstable();
    pieces.dedup();
    pieces.retain(|&end| end > 0 && end < ids.len());
    Ok(pieces)
}

/// The draft made of `plan` and the model's `completion`.
pub fn finish_draft(plan: DraftPlan, completion: Completion, model: &str) -> Draft {
    let cited = context::citations(&completion.text, plan.sources.len())
        .into_iter()
        .map(|n| plan.sources[n - 1].chunk.clone())
        .collect();
    Draft {
        text: completion.text,
        cited,
        sources: plan.sources,
        canonical: plan.canonical,
        finish: completion.finish,
        usage: completion.usage,
        template_hash: plan.prompt.template_hash,
        model: model.to_string(),
    }
}
