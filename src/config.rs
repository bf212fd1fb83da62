//! Configuration: the compiled-in `concord.toml`, overridden by a file and `CONCORD__SECTION__KEY`
//! environment variables, turned into a validated [`Config`] once at start.

use std::path::{Path, PathBuf};

use figment::providers::{Env, Format, Toml};
use figment::value::magic::RelativePathBuf;
use figment::Figment;
use serde::Deserialize;

pub use crate::answer::{GenerationConfig, PromptsConfig};
pub use crate::embed::EmbedConfig;
pub use crate::index::HnswConfig;
pub use crate::knowledge::chunk::ChunkingConfig;
pub use crate::models::ModelsConfig;
pub use crate::retrieve::{Fusion, RetrievalConfig, RetrievalMode};
pub use crate::telemetry::{LogConfig, LogFormat};

/// The reference configuration, compiled in as the defaults.
pub const DEFAULT_CONFIG: &str = include_str!("../concord.toml");

/// Errors found while loading or validating configuration. Each names the offending key.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("configuration file {path} does not exist")]
    MissingFile { path: PathBuf },
    #[error("configuration: {0}")]
    Parse(Box<figment::Error>),
    #[error("configuration key `{key}`: {message}")]
    Invalid { key: &'static str, message: String },
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    data: RawData,
    knowledge: RawKnowledge,
    models: RawModels,
    chunking: ChunkingConfig,
    embed: EmbedConfig,
    index: RawIndex,
    retrieval: RawRetrieval,
    generation: RawGeneration,
    prompts: RawPrompts,
    matching: crate::assistant::MatchSettings,
    policy: RawPolicy,
    check: crate::check::CheckSettings,
    triage: crate::assistant::TriageSettings,
    server: crate::server::ServerSettings,
    store: crate::store::StoreSettings,
    notify: crate::notify::NotifySettings,
    hours: crate::hours::HoursSettings,
    email: crate::notify::email::EmailSettings,
    privacy: crate::privacy::PrivacySettings,
    import: crate::import::ImportSettings,
    log: LogConfig,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPolicy {
    mode: String,
    send_min_context_similarity: f32,
    hold_min_context_similarity: f32,
    require_citation: bool,
    release_text: bool,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawGeneration {
    model_pl: String,
    model_en: String,
    device: crate::llm::DeviceChoice,
    threads: usize,
    context_tokens: usize,
    max_new_tokens: usize,
    max_passages: usize,
    dense_prefill: bool,
    dense_prefill_max_mb: usize,
    in_place_weights: bool,
    requantize: bool,
    prefix_cache_mb: usize,
    parallel: usize,
    queue_capacity: usize,
    queue_per_client: usize,
    skip_draft_at_queue: usize,
    temperature: f32,
    top_p: f32,
    repetition_penalty: f32,
    seed: u64,
    backend: String,
    openai: crate::llm::remote::RemoteSettings,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPrompts {
    #[serde(default)]
    dir: Option<RelativePathBuf>,
    business_name: String,
    canary: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawData {
    dir: RelativePathBuf,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawKnowledge {
    dir: RelativePathBuf,
    max_age_days: u32,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawModels {
    dir: RelativePathBuf,
    embedder: String,
    generator: String,
    allow_download: bool,
    hub_timeout_ms: u64,
    python: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawIndex {
    hnsw: HnswConfig,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRetrieval {
    mode: String,
    k: usize,
    candidates: usize,
    rrf_k_pl: f32,
    dense_weight_pl: f32,
    rrf_k_en: f32,
    dense_weight_en: f32,
}

/// Validated configuration. Paths are absolute or relative to the current directory.
#[derive(Debug, Clone)]
pub struct Config {
    pub data_dir: PathBuf,
    pub knowledge_dir: PathBuf,
    pub models: ModelsConfig,
    pub chunking: ChunkingConfig,
    pub embed: EmbedConfig,
    pub hnsw: HnswConfig,
    pub retrieval: RetrievalConfig,
    pub generation: GenerationConfig,
    pub prompts: PromptsConfig,
    /// When an approved answer is matched, and when surely enough to send (`[matching]`).
    pub matching: crate::assistant::MatchSettings,
    /// The decision policy (`[policy]`).
    pub policy: crate::assistant::PolicySettings,
    /// The consistency checker's thresholds (`[check]`).
    pub check: crate::check::CheckSettings,
    /// Which triage signals hand a conversation to a person (`[triage]`).
    pub triage: crate::assistant::TriageSettings,
    /// The HTTP service (`[server]`).
    pub server: crate::server::ServerSettings,
    /// The database (`[store]`); where it is: [`Config::store_location`].
    pub store: crate::store::StoreSettings,
    /// Webhooks for the shop's own systems (`[notify]`).
    pub notify: crate::notify::NotifySettings,
    /// When a person answers (`[hours]`), as validated settings.
    pub hours: crate::hours::HoursSettings,
    /// SMTP for staff alerts and replies to customers (`[email]`).
    pub email: crate::notify::email::EmailSettings,
    /// Retention periods and the privacy notice (`[privacy]`).
    pub privacy: crate::privacy::PrivacySettings,
    /// Articles older than this many days are stale (`[knowledge] max_age_days`; 0: never).
    pub knowledge_max_age_days: u32,
    /// Importing and re-syncing pages and documents (`[import]`).
    pub import: crate::import::ImportSettings,
    pub log: LogConfig,
}

impl Config {
    /// The database: `store.url`, else the SQLite file `store.path`, else `concord.db` in the
    /// data directory.
    pub fn store_location(&self) -> crate::store::StoreLocation {
        self.store.location(&self.data_dir)
    }

    /// Loads the defaults, then `file` if given, then `CONCORD__*` variables from the process
    /// environment, and validates the result.
    pub fn load(file: Option<&Path>) -> Result<Config, ConfigError> {
        Self::load_with_env(file, Env::prefixed("CONCORD__").split("__"))
    }

    /// The compiled-in defaults alone (no file, no environment).
    pub fn defaults() -> Result<Config, ConfigError> {
        Self::from_figment(Figment::from(Toml::string(DEFAULT_CONFIG)))
    }

    fn load_with_env(file: Option<&Path>, env: Env) -> Result<Config, ConfigError> {
        let mut figment = Figment::from(Toml::string(DEFAULT_CONFIG));
        if let Some(path) = file {
            if !path.is_file() {
                return Err(ConfigError::MissingFile {
                    path: path.to_path_buf(),
                });
            }
            figment = figment.merge(Toml::file_exact(path));
        }
        Self::from_figment(figment.merge(env))
    }

    fn from_figment(figment: Figment) -> Result<Config, ConfigError> {
        let raw: RawConfig = figment
            .extract()
            .map_err(|e| ConfigError::Parse(Box::new(e)))?;
        raw.validate()
    }
}

fn invalid(key: &'static str, message: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        key,
        message: message.into(),
    }
}

impl RawConfig {
    fn validate(self) -> Result<Config, ConfigError> {
        let c = self.chunking;
        if !(16..=512).contains(&c.max_tokens) {
            return Err(invalid(
                "chunking.max_tokens",
                format!("must be between 16 and 512, got {}", c.max_tokens),
            ));
        }
        if c.max_tokens + 2 > self.embed.max_seq_tokens {
            return Err(invalid(
                "chunking.max_tokens",
                format!(
                    "{} plus the 2 special tokens exceeds embed.max_seq_tokens = {}: passages would be truncated",
                    c.max_tokens, self.embed.max_seq_tokens
                ),
            ));
        }
        if c.overlap_tokens * 2 > c.max_tokens {
            return Err(invalid(
                "chunking.overlap_tokens",
                format!(
                    "must be at most half of chunking.max_tokens ({}), got {}",
                    c.max_tokens / 2,
                    c.overlap_tokens
                ),
            ));
        }
        let e = self.embed;
        if !(1..=256).contains(&e.batch_size) {
            return Err(invalid(
                "embed.batch_size",
                format!("must be between 1 and 256, got {}", e.batch_size),
            ));
        }
        if !(16..=512).contains(&e.max_seq_tokens) {
            return Err(invalid(
                "embed.max_seq_tokens",
                format!("must be between 16 and 512, got {}", e.max_seq_tokens),
            ));
        }
        let h = self.index.hnsw;
        if !(4..=255).contains(&h.max_connections) {
            return Err(invalid(
                "index.hnsw.max_connections",
                format!("must be between 4 and 255, got {}", h.max_connections),
            ));
        }
        if h.ef_construction < h.max_connections {
            return Err(invalid(
                "index.hnsw.ef_construction",
                format!(
                    "must be at least index.hnsw.max_connections ({}), got {}",
                    h.max_connections, h.ef_construction
                ),
            ));
        }
        let r = self.retrieval;
        let mode = r
            .mode
            .parse::<RetrievalMode>()
            .map_err(|m| invalid("retrieval.mode", m))?;
        if !(1..=100).contains(&r.k) {
            return Err(invalid(
                "retrieval.k",
                format!("must be between 1 and 100, got {}", r.k),
            ));
        }
        if r.candidates < r.k || r.candidates > 1000 {
            return Err(invalid(
                "retrieval.candidates",
                format!(
                    "must be between retrieval.k ({}) and 1000, got {}",
                    r.k, r.candidates
                ),
            ));
        }
        if h.ef_search < r.candidates {
            return Err(invalid(
                "index.hnsw.ef_search",
                format!(
                    "must be at least retrieval.candidates ({}), got {}",
                    r.candidates, h.ef_search
                ),
            ));
        }
        for (key, v) in [
            ("retrieval.rrf_k_pl", r.rrf_k_pl),
            ("retrieval.rrf_k_en", r.rrf_k_en),
            ("retrieval.dense_weight_pl", r.dense_weight_pl),
            ("retrieval.dense_weight_en", r.dense_weight_en),
        ] {
            if !(v.is_finite() && v >= 0.0) {
                return Err(invalid(key, format!("must be a number >= 0, got {v}")));
            }
        }
        if self.models.embedder.trim().is_empty() {
            return Err(invalid("models.embedder", "must name a model"));
        }
        if self.models.generator.trim().is_empty() {
            return Err(invalid("models.generator", "must name a model"));
        }
        let g = self.generation;
        let sampling = crate::llm::SamplingParams {
            temperature: g.temperature,
            top_p: g.top_p,
            repetition_penalty: g.repetition_penalty,
            repeat_last_n: 64,
            seed: g.seed,
        };
        sampling
            .validate()
            .map_err(|m| invalid("generation.temperature / top_p / repetition_penalty", m))?;
        if !(256..=131_072).contains(&g.context_tokens) {
            return Err(invalid(
                "generation.context_tokens",
                format!("must be between 256 and 131072, got {}", g.context_tokens),
            ));
        }
        if g.max_new_tokens == 0 || g.max_new_tokens * 2 > g.context_tokens {
            return Err(invalid(
                "generation.max_new_tokens",
                format!(
                    "must be between 1 and half of generation.context_tokens ({}), got {}",
                    g.context_tokens / 2,
                    g.max_new_tokens
                ),
            ));
        }
        if !(1..=20).contains(&g.max_passages) {
            return Err(invalid(
                "generation.max_passages",
                format!("must be between 1 and 20, got {}", g.max_passages),
            ));
        }
        self.matching
            .validate()
            .map_err(|(key, m)| invalid(key, m))?;
        let p = &self.policy;
        let policy_mode = p
            .mode
            .parse::<crate::assistant::Mode>()
            .map_err(|m| invalid("policy.mode", m))?;
        for (key, v) in [
            (
                "policy.send_min_context_similarity",
                p.send_min_context_similarity,
            ),
            (
                "policy.hold_min_context_similarity",
                p.hold_min_context_similarity,
            ),
        ] {
            if !(-1.0..=1.0).contains(&v) {
                return Err(invalid(key, format!("must be between -1 and 1, got {v}")));
            }
        }
        if p.hold_min_context_similarity > p.send_min_context_similarity {
            return Err(invalid(
                "policy.hold_min_context_similarity",
                format!(
                    "must not exceed policy.send_min_context_similarity ({}), got {}",
                    p.send_min_context_similarity, p.hold_min_context_similarity
                ),
            ));
        }
        for (key, v) in [
            ("check.min_similarity", self.check.min_similarity),
            ("check.min_coverage", self.check.min_coverage),
        ] {
            if !(0.0..=1.0).contains(&v) {
                return Err(invalid(key, format!("must be between 0 and 1, got {v}")));
            }
        }
        if self.check.focus_margin > 1.0 {
            return Err(invalid(
                "check.focus_margin",
                format!(
                    "must be at most 1 (negative turns the focus off), got {}",
                    self.check.focus_margin
                ),
            ));
        }
        self.triage.validate().map_err(|m| invalid("triage", m))?;
        self.server.validate().map_err(|(key, m)| invalid(key, m))?;
        self.store.validate().map_err(|m| invalid("store", m))?;
        self.notify.validate().map_err(|m| invalid("notify", m))?;
        crate::hours::OpeningHours::from_settings(&self.hours).map_err(|m| invalid("hours", m))?;
        self.email.validate().map_err(|m| invalid("email", m))?;
        self.privacy.validate().map_err(|m| invalid("privacy", m))?;
        self.import.validate().map_err(|m| invalid("import", m))?;
        if self.knowledge.max_age_days > 36_500 {
            return Err(invalid(
                "knowledge.max_age_days",
                format!(
                    "must be at most 36500 (0: never stale), got {}",
                    self.knowledge.max_age_days
                ),
            ));
        }
        let policy = crate::assistant::PolicySettings {
            mode: policy_mode,
            send_min_context_similarity: p.send_min_context_similarity,
            hold_min_context_similarity: p.hold_min_context_similarity,
            require_citation: p.require_citation,
            release_text: p.release_text,
        };
        if !(1..=64).contains(&g.parallel) {
            return Err(invalid(
                "generation.parallel",
                format!("must be between 1 and 64, got {}", g.parallel),
            ));
        }
        if !(1..=10_000).contains(&g.queue_capacity) {
            return Err(invalid(
                "generation.queue_capacity",
                format!("must be between 1 and 10000, got {}", g.queue_capacity),
            ));
        }
        if !(1..=g.queue_capacity).contains(&g.queue_per_client) {
            return Err(invalid(
                "generation.queue_per_client",
                format!(
                    "must be between 1 and generation.queue_capacity ({}), got {}",
                    g.queue_capacity, g.queue_per_client
                ),
            ));
        }
        if g.skip_draft_at_queue > g.queue_capacity {
            return Err(invalid(
                "generation.skip_draft_at_queue",
                format!(
                    "must be between 0 and generation.queue_capacity ({}), got {}",
                    g.queue_capacity, g.skip_draft_at_queue
                ),
            ));
        }
        let backend = match g.backend.as_str() {
            "local" => crate::answer::settings::Backend::Local,
            "openai" => {
                g.openai.validate().map_err(|(key, m)| invalid(key, m))?;
                crate::answer::settings::Backend::OpenAi(g.openai.clone())
            }
            other => {
                return Err(invalid(
                    "generation.backend",
                    format!("must be \"local\" or \"openai\", got \"{other}\""),
                ))
            }
        };
        if g.threads > 1024 {
            return Err(invalid(
                "generation.threads",
                format!("must be between 0 and 1024, got {}", g.threads),
            ));
        }
        let generator = self.models.generator.clone();
        let or_default = |m: String| {
            if m.trim().is_empty() {
                generator.clone()
            } else {
                m
            }
        };
        if self.prompts.business_name.trim().is_empty() {
            return Err(invalid("prompts.business_name", "must name the business"));
        }
        if self.prompts.canary.trim().chars().count() < 8 {
            return Err(invalid(
                "prompts.canary",
                "must be at least 8 characters that no answer would contain",
            ));
        }
        if self.models.hub_timeout_ms > 600_000 {
            return Err(invalid(
                "models.hub_timeout_ms",
                format!(
                    "must be at most 600000 (10 minutes), got {}",
                    self.models.hub_timeout_ms
                ),
            ));
        }
        if self
            .log
            .filter
            .parse::<tracing_subscriber::EnvFilter>()
            .is_err()
        {
            return Err(invalid(
                "log.filter",
                format!("`{}` is not a valid tracing filter", self.log.filter),
            ));
        }
        if c.overlap_tokens * 4 > c.max_tokens {
            tracing::warn!(
                overlap = c.overlap_tokens,
                max = c.max_tokens,
                "chunking.overlap_tokens is over a quarter of the passage size: the index grows a lot"
            );
        }
        Ok(Config {
            data_dir: self.data.dir.relative(),
            knowledge_dir: self.knowledge.dir.relative(),
            models: ModelsConfig {
                dir: self.models.dir.relative(),
                embedder: self.models.embedder,
                generator: self.models.generator,
                allow_download: self.models.allow_download,
                hub_timeout_ms: self.models.hub_timeout_ms,
                python: self.models.python,
            },
            chunking: c,
            embed: e,
            hnsw: h,
            retrieval: RetrievalConfig {
                mode,
                k: r.k,
                candidates: r.candidates,
                pl: Fusion {
                    rrf_k: r.rrf_k_pl,
                    dense_weight: r.dense_weight_pl,
                },
                en: Fusion {
                    rrf_k: r.rrf_k_en,
                    dense_weight: r.dense_weight_en,
                },
            },
            generation: GenerationConfig {
                model_pl: or_default(g.model_pl),
                model_en: or_default(g.model_en),
                device: g.device,
                threads: g.threads,
                context_tokens: g.context_tokens,
                max_new_tokens: g.max_new_tokens,
                max_passages: g.max_passages,
                dense_prefill: g.dense_prefill,
                dense_prefill_max_mb: g.dense_prefill_max_mb,
                in_place_weights: g.in_place_weights,
                requantize: g.requantize,
                prefix_cache_mb: g.prefix_cache_mb,
                parallel: g.parallel,
                queue_capacity: g.queue_capacity,
                queue_per_client: g.queue_per_client,
                skip_draft_at_queue: g.skip_draft_at_queue,
                sampling,
                backend,
            },
            prompts: PromptsConfig {
                dir: self.prompts.dir.map(|d| d.relative()),
                business_name: self.prompts.business_name,
                canary: self.prompts.canary.trim().to_string(),
            },
            matching: self.matching,
            policy,
            check: self.check,
            triage: self.triage,
            server: self.server,
            store: self.store,
            notify: self.notify,
            hours: self.hours,
            email: self.email,
            privacy: self.privacy,
            knowledge_max_age_days: self.knowledge.max_age_days,
            import: self.import,
            log: self.log,
        })
    }
}

#[cfg(test)]
#[allow(clippy::result_large_err)] // figment::Jail's closures return figment::Error
mod tests {
    use super::*;

    /// Loads the configuration with `vars` set in a jailed environment and returns the error text.
    fn error_with_env(vars: &[(&str, &str)]) -> String {
        let mut message = String::new();
        figment::Jail::expect_with(|jail| {
            for (k, v) in vars {
                jail.set_env(k, v);
            }
            message = match Config::load(None) {
                Ok(_) => "loaded without error".to_string(),
                Err(e) => e.to_string(),
            };
            Ok(())
        });
        message
    }

    #[test]
    fn default_config_is_valid() {
        let config = Config::defaults().expect("the compiled-in concord.toml validates");
        assert_eq!(config.retrieval.mode, RetrievalMode::Hybrid);
        assert_eq!(config.data_dir, PathBuf::from(".concord"));
        assert!(config.chunking.max_tokens <= config.embed.max_seq_tokens);
    }

    #[test]
    fn env_variables_override_defaults() {
        figment::Jail::expect_with(|jail| {
            jail.set_env("CONCORD__RETRIEVAL__RRF_K_PL", "40");
            jail.set_env("CONCORD__RETRIEVAL__MODE", "bm25");
            let config = Config::load(None).map_err(|e| e.to_string())?;
            assert_eq!(config.retrieval.pl.rrf_k, 40.0);
            assert_eq!(config.retrieval.mode, RetrievalMode::Bm25);
            Ok(())
        });
    }

    #[test]
    fn file_overrides_defaults_and_paths_are_relative_to_it() {
        figment::Jail::expect_with(|jail| {
            jail.create_dir("conf")?;
            jail.create_file(
                "conf/concord.toml",
                "[data]\ndir = \"state\"\n[retrieval]\nk = 5\n",
            )?;
            let config =
                Config::load(Some(Path::new("conf/concord.toml"))).map_err(|e| e.to_string())?;
            assert_eq!(config.retrieval.k, 5);
            assert_eq!(config.data_dir, PathBuf::from("conf/state"));
            // Keys the file does not set keep their defaults.
            assert_eq!(config.retrieval.candidates, 50);
            Ok(())
        });
    }

    #[test]
    fn invalid_values_name_their_key() {
        let err = error_with_env(&[("CONCORD__CHUNKING__MAX_TOKENS", "1000")]);
        assert!(err.contains("chunking.max_tokens"), "{err}");
        let err = error_with_env(&[("CONCORD__RETRIEVAL__MODE", "fuzzy")]);
        assert!(err.contains("retrieval.mode"), "{err}");
        let err = error_with_env(&[("CONCORD__POLICY__MODE", "yolo")]);
        assert!(err.contains("policy.mode"), "{err}");
        let err = error_with_env(&[("CONCORD__CHECK__MIN_COVERAGE", "1.5")]);
        assert!(err.contains("check.min_coverage"), "{err}");
        let err = error_with_env(&[("CONCORD__TRIAGE__REPEAT_COUNT", "0")]);
        assert!(err.contains("triage"), "{err}");
        let err = error_with_env(&[("CONCORD__RETRIEVAL__DENSE_WEIGHT_PL", "-1")]);
        assert!(err.contains("retrieval.dense_weight_pl"), "{err}");
        let err = error_with_env(&[("CONCORD__RETRIEVAL__K", "many")]);
        assert!(err.to_lowercase().contains("retrieval.k"), "{err}");
        let err = error_with_env(&[("CONCORD__GENERATION__BACKEND", "cloud")]);
        assert!(err.contains("generation.backend"), "{err}");
        // The remote server's settings are checked only when it is chosen.
        let err = error_with_env(&[
            ("CONCORD__GENERATION__BACKEND", "openai"),
            ("CONCORD__GENERATION__OPENAI__BASE_URL", "localhost:8080"),
        ]);
        assert!(err.contains("generation.openai.base_url"), "{err}");
    }

    #[test]
    fn the_remote_backend_is_chosen_with_its_settings() {
        figment::Jail::expect_with(|jail| {
            jail.set_env("CONCORD__GENERATION__BACKEND", "openai");
            jail.set_env("CONCORD__GENERATION__OPENAI__MODEL", "qwen");
            let config = Config::load(None).map_err(|e| e.to_string())?;
            match &config.generation.backend {
                crate::answer::Backend::OpenAi(s) => {
                    assert_eq!(s.model, "qwen");
                    assert_eq!(s.base_url, "http://127.0.0.1:8080/v1");
                }
                other => panic!("{other:?}"),
            }
            Ok(())
        });
        let config = Config::defaults().unwrap();
        assert_eq!(config.generation.backend, crate::answer::Backend::Local);
    }

    #[test]
    fn unknown_keys_and_missing_files_are_errors() {
        figment::Jail::expect_with(|jail| {
            jail.create_file("typo.toml", "[retrieval]\nrrf_kk = 3\n")?;
            let err = Config::load(Some(Path::new("typo.toml"))).unwrap_err();
            assert!(err.to_string().contains("rrf_kk"), "{err}");
            let err = Config::load(Some(Path::new("nope.toml"))).unwrap_err();
            assert!(matches!(err, ConfigError::MissingFile { .. }), "{err}");
            Ok(())
        });
    }
}
