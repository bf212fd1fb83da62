//! Concord: a local, private customer-support assistant.
//!
//! The pipeline, as typed stages:
//!
//! ```text
//! knowledge/ --load--> Article, Canonical --chunk--> Chunk --embed--> Embedding
//!                                               |                    |
//!                                      tantivy (BM25)          hnsw_rs (HNSW)
//!                                               `--- hybrid fusion ---'
//! question --> Triage --> Retrieval (top passages + best canonical answer, with scores)
//!          --> Draft (local GGUF model or remote server) --> Check --> Decision --> Store --> widget
//! ```
//!
//! Pure stages ([`knowledge::parse`], [`knowledge::chunk`], [`retrieve::fusion`],
//! [`eval::metrics`]) take plain data; the I/O stages ([`embed::Embedder`], [`index::Index`]) are
//! built from [`config::Config`].

pub mod answer;
pub mod assistant;
pub mod check;
pub mod config;
pub mod console;
pub mod embed;
pub mod error;
pub mod eval;
pub mod hours;
pub mod import;
pub mod index;
pub mod ingest;
pub mod init;
pub mod knowledge;
pub mod llm;
pub mod math;
pub mod models;
pub mod notify;
pub mod pipeline;
pub mod privacy;
pub mod retrieve;
pub mod server;
pub mod sse;
pub mod staff;
pub mod store;
pub mod telemetry;
pub mod util;

pub use config::Config;
pub use error::Error;
pub use pipeline::Pipeline;

/// Result with the crate's error type.
pub type Result<T, E = Error> = std::result::Result<T, E>;
