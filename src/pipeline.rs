//! The assembly: the one place that turns a [`Config`] into running parts (embedder, published
//! index, generation models, the assistant). Every module below takes only its own section.
//!
//! The commands and the tests build through here; the library's modules never see `Config`.

use std::sync::Arc;

use crate::answer::drafter::load_generator as load_generator_with;
use crate::answer::Prompts;
use crate::answer::{DraftSettings, Drafter};
use crate::assistant::{Assistant, GateSettings};
use crate::config::Config;
use crate::embed::{EmbedError, Embedder};
use crate::eval::drafts::DraftSetup;
use crate::index::{ExpectedEmbedder, Index, IndexLocation};
use crate::ingest::IngestSettings;
use crate::llm::Generator;
use crate::retrieve::Retriever;
use crate::server::KnowledgeHome;

/// Configuration, embedder and the published index, opened once and shared by the commands.
#[derive(Clone)]
pub struct Pipeline {
    pub config: Config,
    /// Shared with the pipelines of later index generations.
    pub embedder: Arc<Embedder>,
    pub index: Arc<Index>,
}

impl Pipeline {
    /// Loads the configured embedder and opens the published index, refusing an index built
    /// with another embedding model.
    pub fn open(config: &Config) -> crate::Result<Pipeline> {
        Self::with_embedder(config, Embedder::from_config(config)?)
    }

    /// As [`Pipeline::open`], with an embedder the caller already loaded.
    pub fn with_embedder(config: &Config, embedder: Embedder) -> crate::Result<Pipeline> {
        Self::with_shared_embedder(config, Arc::new(embedder))
    }

    /// As [`Pipeline::open`], with an embedder shared with other pipelines.
    pub fn with_shared_embedder(
        config: &Config,
        embedder: Arc<Embedder>,
    ) -> crate::Result<Pipeline> {
        let index = index_location(config).open(&ExpectedEmbedder {
            name: embedder.name(),
            fingerprint: embedder.fingerprint(),
        })?;
        Ok(Pipeline {
            config: config.clone(),
            embedder,
            index: Arc::new(index),
        })
    }

    pub fn retriever(&self) -> Retriever<'_> {
        Retriever::new(&self.index, &self.embedder, self.config.retrieval)
    }
}

/// Where the published index of `config` is.
pub fn index_location(config: &Config) -> IndexLocation {
    IndexLocation {
        data_dir: config.data_dir.clone(),
        ef_search: config.hnsw.ef_search,
    }
}

/// How `config` builds and publishes an index.
pub fn ingest_settings(config: &Config) -> IngestSettings {
    IngestSettings {
        data_dir: config.data_dir.clone(),
        chunking: config.chunking,
        hnsw: config.hnsw,
    }
}

/// The knowledge the console edits and reloads.
pub fn knowledge_home(config: &Config) -> KnowledgeHome {
    KnowledgeHome {
        dir: config.knowledge_dir.clone(),
        ingest: ingest_settings(config),
    }
}

/// Loads the named generation model as `[generation]` says.
pub fn load_generator(config: &Config, name: &str) -> crate::Result<Generator> {
    Ok(load_generator_with(
        &config.models,
        &config.generation,
        name,
    )?)
}

impl Embedder {
    /// The configured embedding model (fetched if allowed and missing), loaded.
    pub fn from_config(config: &Config) -> Result<Embedder, EmbedError> {
        Embedder::from_settings(&config.models, &config.embed)
    }
}

impl Drafter {
    /// The configured generation models per language (`model` overrides both), prompts and
    /// queue.
    pub fn from_config(config: &Config, model: Option<&str>) -> crate::Result<Drafter> {
        Ok(Drafter::load(
            &config.models,
            &config.generation,
            &config.prompts,
            model,
        )?)
    }
}

impl DraftSettings {
    pub fn from_config(config: &Config) -> DraftSettings {
        DraftSettings::new(&config.generation, &config.prompts)
    }
}

impl GateSettings {
    /// The turn's settings: `[triage]`, `[matching]`, `[check]`, `[policy]`, `[prompts]`,
    /// `[retrieval]`, `[hours]` and the queue's `generation.skip_draft_at_queue`.
    pub fn from_config(c: &Config) -> GateSettings {
        GateSettings {
            triage: c.triage.clone(),
            matching: c.matching,
            check: c.check,
            policy: c.policy,
            business_name: c.prompts.business_name.clone(),
            canary: c.prompts.canary.clone(),
            retrieval: c.retrieval,
            index: index_location(c),
            skip_draft_at_queue: c.generation.skip_draft_at_queue,
            drafts: true,
            hours: crate::hours::OpeningHours::from_settings(&c.hours)
                .expect("validated with the configuration")
                .map(Arc::new),
        }
    }
}

impl Assistant {
    /// The whole assistant from the configuration: embedder, published index, generation models
    /// (`model` overrides both languages' model).
    pub fn load(config: &Config, model: Option<&str>) -> crate::Result<Assistant> {
        let pipeline = Pipeline::open(config)?;
        Ok(Assistant::assemble(
            pipeline,
            Drafter::from_config(config, model)?,
        ))
    }

    /// An assistant on an opened pipeline with a loaded drafter.
    pub fn assemble(pipeline: Pipeline, drafter: Drafter) -> Assistant {
        Self::with_shared(pipeline, Arc::new(drafter))
    }

    /// An assistant on `pipeline` with a drafter already serving elsewhere.
    pub fn with_shared(pipeline: Pipeline, drafter: Arc<Drafter>) -> Assistant {
        let settings = GateSettings::from_config(&pipeline.config);
        Assistant::new(pipeline.index, pipeline.embedder, drafter, settings)
    }
}

impl<'a> DraftSetup<'a> {
    /// Retrieval as the pipeline's configuration sets it.
    pub fn from_pipeline(
        pipeline: &'a Pipeline,
        generator: &'a Generator,
        prompts: &'a Prompts,
        settings: &'a DraftSettings,
    ) -> Self {
        DraftSetup {
            generator,
            prompts,
            settings,
            index: &pipeline.index,
            retriever: pipeline.retriever(),
            mode: pipeline.config.retrieval.mode,
            k: pipeline.config.retrieval.k,
            canonical_min_similarity: pipeline.config.matching.min_score,
        }
    }
}

/// The notifier `concord serve` runs, on `store` (attached from now on): webhooks
/// (`[notify]`), e-mail (`[email]`) with the texts of `[prompts]`, and the opening hours
/// (`[hours]`) for reminders. `None` when nothing is configured.
pub fn notifier(
    store: &crate::store::Store,
    config: &Config,
) -> Result<Option<crate::notify::Notifier>, crate::notify::NotifyError> {
    use crate::notify::{email::Mailer, NotifyError, Staffing};
    let staffing = Staffing::from_settings(&config.hours).map_err(NotifyError::Setup)?;
    let tz = config
        .hours
        .time_zone
        .trim()
        .parse()
        .map_err(|_| NotifyError::Setup("hours.time_zone is not a time zone".into()))?;
    let prompts = crate::answer::Prompts::from_config(config.prompts.dir.as_deref())
        .map_err(|e| NotifyError::Setup(e.to_string()))?;
    let mailer = Mailer::new(
        &config.email,
        prompts,
        &config.prompts.business_name,
        tz,
        &config.notify.public_url,
    )?;
    crate::notify::Notifier::new(
        store,
        &config.notify,
        staffing,
        mailer.map(|m| (m, &config.email)),
    )
}
