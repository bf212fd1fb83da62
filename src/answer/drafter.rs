//! The drafting service: the generation models per language (each loaded once) or the remote
//! server, the prompts and the generation queue, from `[models]`, `[generation]` and `[prompts]`.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use crate::index::Index;
use crate::knowledge::Lang;
use crate::llm::queue::{GenerationQueue, Ticket, Work};
use crate::llm::remote::RemoteGenerator;
use crate::llm::{Generator, LoadOptions, SharedGenerator};
use crate::models::{ModelError, ModelStore, ModelsConfig};

use super::settings::Backend;
use super::{
    plan_draft, plan_remote_draft, AnswerError, Ask, DraftPlan, DraftSettings, GenerationConfig,
    Prompts, PromptsConfig,
};

/// Who writes the drafts.
#[derive(Debug)]
enum Writers {
    /// Models in this process, one per language (a model used by both is loaded once).
    Local {
        generators: BTreeMap<String, SharedGenerator>,
        by_lang: BTreeMap<Lang, String>,
    },
    /// An OpenAI-compatible server, for both languages.
    Remote(Arc<RemoteGenerator>),
}

/// Generators, prompts and the queue.
#[derive(Debug)]
pub struct Drafter {
    writers: Writers,
    prompts: Prompts,
    settings: DraftSettings,
    queue: GenerationQueue,
}

/// The GGUF file of a generation model from the manifest, fetched if allowed and missing.
pub fn generator_file(models: &ModelsConfig, name: &str) -> Result<PathBuf, AnswerError> {
    let store = ModelStore::new(models)?;
    let model = store.ensure(name)?;
    let gguf = model
        .files
        .values()
        .find(|p| p.extension().is_some_and(|e| e == "gguf"))
        .cloned()
        .ok_or_else(|| ModelError::UnknownFile {
            model: name.to_string(),
            file: "*.gguf".into(),
            known: model.files.keys().cloned().collect(),
        })?;
    Ok(gguf)
}

/// Load options from `[generation]`.
pub fn load_options(generation: &GenerationConfig) -> Result<LoadOptions, AnswerError> {
    Ok(LoadOptions {
        max_context: generation.context_tokens,
        dense_prefill: generation.dense_prefill,
        dense_max_mb: generation.dense_prefill_max_mb,
        in_place: generation.in_place_weights,
        requantize: generation.requantize,
        prefix_cache_mb: generation.prefix_cache_mb,
        device: generation.device.device()?,
    })
}

/// Loads the named generation model as `[generation]` says.
pub fn load_generator(
    models: &ModelsConfig,
    generation: &GenerationConfig,
    name: &str,
) -> Result<Generator, AnswerError> {
    let path = generator_file(models, name)?;
    Ok(Generator::load(name, &path, &load_options(generation)?)?)
}

impl Drafter {
    /// Loads the model of each language (a model used by both is loaded once); `model`
    /// overrides both. With `backend = "openai"` nothing is loaded: the server writes.
    pub fn load(
        models: &ModelsConfig,
        generation: &GenerationConfig,
        prompts: &PromptsConfig,
        model: Option<&str>,
    ) -> Result<Drafter, AnswerError> {
        let writers = match &generation.backend {
            Backend::OpenAi(settings) if model.is_none() => {
                Writers::Remote(Arc::new(RemoteGenerator::new(settings)))
            }
            Backend::OpenAi(_) | Backend::Local => {
                let mut generators = BTreeMap::new();
                let mut by_lang = BTreeMap::new();
                for lang in [Lang::Pl, Lang::En] {
                    let name = model.unwrap_or(generation.model(lang)).to_string();
                    if !generators.contains_key(&name) {
                        let g = load_generator(models, generation, &name)?;
                        generators.insert(name.clone(), Arc::new(g));
                    }
                    by_lang.insert(lang, name);
                }
                Writers::Local {
                    generators,
                    by_lang,
                }
            }
        };
        Ok(Drafter {
            writers,
            prompts: Prompts::from_config(prompts.dir.as_deref())?,
            settings: DraftSettings::new(generation, prompts),
            queue: GenerationQueue::new(
                generation.parallel,
                generation.queue_capacity,
                generation.queue_per_client,
            ),
        })
    }

    /// The name drafts in `lang` record as their model (`openai:<model>` for a remote server).
    pub fn model_name(&self, lang: Lang) -> &str {
        match &self.writers {
            Writers::Local { by_lang, .. } => &by_lang[&lang],
            Writers::Remote(remote) => &remote.name,
        }
    }

    /// Whether the remote server's breaker lets drafts through; `None` for local models.
    pub fn remote_available(&self) -> Option<bool> {
        match &self.writers {
            Writers::Local { .. } => None,
            Writers::Remote(remote) => Some(remote.available()),
        }
    }

    pub fn settings(&self) -> &DraftSettings {
        &self.settings
    }

    pub fn prompts(&self) -> &Prompts {
        &self.prompts
    }

    pub fn queue(&self) -> &GenerationQueue {
        &self.queue
    }

    /// Builds the prompt for `ask` and queues its generation for `client` (the customer's
    /// address; `None` for local callers).
    pub fn draft(
        &self,
        index: &Index,
        ask: &Ask<'_>,
        client: Option<&str>,
    ) -> Result<(DraftPlan, Ticket), AnswerError> {
        let (plan, work) = match &self.writers {
            Writers::Local {
                generators,
                by_lang,
            } => {
                let generator = &generators[&by_lang[&ask.lang]];
                let (plan, request) =
                    plan_draft(generator, &self.prompts, &self.settings, index, ask)?;
                (plan, Work::local(generator.clone(), request))
            }
            Writers::Remote(remote) => {
                let (plan, request) =
                    plan_remote_draft(remote, &self.prompts, &self.settings, index, ask)?;
                (
                    plan,
                    Work::Remote {
                        generator: remote.clone(),
                        request,
                    },
                )
            }
        };
        let ticket = self.queue.submit(client, work)?;
        Ok((plan, ticket))
    }
}
