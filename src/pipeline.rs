//! The assembled pipeline: configuration, embedder and the published index, opened once and
//! shared by the commands and the server (which swaps in a new index after a knowledge change).

use std::sync::Arc;

use crate::config::Config;
use crate::embed::Embedder;
use crate::index::{ExpectedEmbedder, Index, IndexDir};
use crate::retrieve::Retriever;

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

    /// As [`Pipeline::open`], with an embedder shared with other pipelines (the one serving
    /// now, while the next index is opened).
    pub fn with_shared_embedder(
        config: &Config,
        embedder: Arc<Embedder>,
    ) -> crate::Result<Pipeline> {
        let index = IndexDir::new(&config.data_dir).open(
            &ExpectedEmbedder {
                name: embedder.name(),
                fingerprint: embedder.fingerprint(),
            },
            config.hnsw.ef_search,
        )?;
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
