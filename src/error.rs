//! The crate's error type: one variant per module error, so callers can match on the stage that
//! failed and the binary can print a chain of causes.

use crate::config::ConfigError;
use crate::embed::EmbedError;
use crate::eval::EvalError;
use crate::index::IndexError;
use crate::ingest::IngestError;
use crate::knowledge::KnowledgeError;
use crate::models::ModelError;
use crate::retrieve::RetrieveError;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Models(Box<ModelError>),
    #[error(transparent)]
    Knowledge(#[from] KnowledgeError),
    #[error(transparent)]
    Embed(#[from] EmbedError),
    #[error(transparent)]
    Index(#[from] IndexError),
    #[error(transparent)]
    Ingest(#[from] IngestError),
    #[error(transparent)]
    Retrieve(#[from] RetrieveError),
    #[error(transparent)]
    Eval(#[from] EvalError),
}

impl From<ModelError> for Error {
    fn from(e: ModelError) -> Self {
        Error::Models(Box::new(e))
    }
}
