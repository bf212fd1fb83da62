//! The crate's error type: one variant per module error, so callers can match on the stage that
//! failed and the binary can print a chain of causes.

use crate::answer::AnswerError;
use crate::assistant::TurnError;
use crate::config::ConfigError;
use crate::embed::EmbedError;
use crate::eval::EvalError;
use crate::index::IndexError;
use crate::ingest::IngestError;
use crate::knowledge::KnowledgeError;
use crate::llm::LlmError;
use crate::models::ModelError;
use crate::retrieve::RetrieveError;
use crate::store::StoreError;

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
    #[error(transparent)]
    Llm(Box<LlmError>),
    #[error(transparent)]
    Answer(Box<AnswerError>),
    #[error(transparent)]
    Store(Box<StoreError>),
    #[error(transparent)]
    Turn(Box<TurnError>),
}

impl From<TurnError> for Error {
    fn from(e: TurnError) -> Self {
        Error::Turn(Box::new(e))
    }
}

impl From<StoreError> for Error {
    fn from(e: StoreError) -> Self {
        Error::Store(Box::new(e))
    }
}

impl From<LlmError> for Error {
    fn from(e: LlmError) -> Self {
        Error::Llm(Box::new(e))
    }
}

impl From<AnswerError> for Error {
    fn from(e: AnswerError) -> Self {
        Error::Answer(Box::new(e))
    }
}

impl From<ModelError> for Error {
    fn from(e: ModelError) -> Self {
        Error::Models(Box::new(e))
    }
}
