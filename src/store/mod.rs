//! The store: conversations, messages with their provenance, drafts with verdicts, decisions with
//! reasons, feedback and the staff audit log, in SQLite (WAL, foreign keys, versioned migrations).
//!
//! Every write that acknowledges something to a customer commits (synchronous = FULL) before the
//! caller is told, so an acknowledged message survives a crash. The SQL is portable (`$n`
//! parameters, `RETURNING`), so a PostgreSQL deployment can run the same queries.

mod conversations;
mod records;

use std::path::{Path, PathBuf};

use std::time::Duration;

use serde::{Deserialize, Serialize};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::SqlitePool;

pub use conversations::NewConversation;
pub use records::{OutcomeRecord, StaffReply};

/// The schema version this build writes (the number of the newest migration).
pub const SCHEMA_VERSION: i64 = 6;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("cannot open the database {path}: {source}")]
    Open {
        path: PathBuf,
        #[source]
        source: sqlx::Error,
    },
    #[error("database {path} was written by a newer Concord (schema {found}, this build knows {known}); upgrade Concord")]
    TooNew {
        path: PathBuf,
        found: i64,
        known: i64,
    },
    #[error("migrating the database: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("database: {0}")]
    Db(#[from] sqlx::Error),
    #[error("no {what} `{id}`")]
    NotFound { what: &'static str, id: String },
    #[error("{0}")]
    Invalid(&'static str),
    #[error("{what} `{id}` already exists")]
    Conflict { what: &'static str, id: String },
    #[error("already {status} by {by}")]
    AlreadyReviewed { status: String, by: String },
    #[error("the conversation token does not match")]
    Unauthorized,
    #[error("the conversation is closed")]
    Closed,
    #[error("stored {what} is unreadable: {message}")]
    Corrupt { what: &'static str, message: String },
}

/// `[store]` settings.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct StoreSettings {
    /// The SQLite file; empty means `<data dir>/concord.db`.
    pub path: String,
    pub max_connections: u32,
    pub busy_timeout_ms: u64,
}

impl StoreSettings {
    pub fn validate(&self) -> Result<(), String> {
        if !(1..=64).contains(&self.max_connections) {
            return Err(format!(
                "store.max_connections must be between 1 and 64, got {}",
                self.max_connections
            ));
        }
        if self.busy_timeout_ms > 600_000 {
            return Err(format!(
                "store.busy_timeout_ms must be at most 600000, got {}",
                self.busy_timeout_ms
            ));
        }
        Ok(())
    }

    /// The database file for a data directory.
    pub fn resolve(&self, data_dir: &Path) -> PathBuf {
        if self.path.trim().is_empty() {
            data_dir.join("concord.db")
        } else {
            PathBuf::from(&self.path)
        }
    }
}

/// A conversation's id (`c_` + 32 hex digits).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ConversationId(pub String);

impl std::fmt::Display for ConversationId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// Who is answering in a conversation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ConversationStatus {
    /// The assistant answers.
    Bot,
    /// Handed off; no person has answered yet. The assistant stays quiet.
    WaitingStaff,
    /// A person has joined.
    Staff,
    Closed,
}

/// Who wrote a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Customer,
    /// The AI assistant (a checked draft or the approved answer).
    Assistant,
    /// A person on the shop's side.
    Staff,
    /// A fixed message (handoff, held, no answer).
    System,
}

macro_rules! text_enum {
    ($ty:ty, $what:literal, { $($variant:path => $text:literal),+ $(,)? }) => {
        impl $ty {
            pub fn as_str(self) -> &'static str {
                match self { $($variant => $text),+ }
            }
        }
        impl std::str::FromStr for $ty {
            type Err = StoreError;
            fn from_str(s: &str) -> Result<Self, StoreError> {
                match s {
                    $($text => Ok($variant),)+
                    other => Err(StoreError::Corrupt { what: $what, message: format!("unknown value `{other}`") }),
                }
            }
        }
    };
}

text_enum!(ConversationStatus, "conversation status", {
    ConversationStatus::Bot => "bot",
    ConversationStatus::WaitingStaff => "waiting_staff",
    ConversationStatus::Staff => "staff",
    ConversationStatus::Closed => "closed",
});

// After the macro, which they use.
mod contact;
mod outbox;
mod privacy;
mod review;
mod search;
pub mod seed;
mod service;
mod staff;
mod stats;
mod survey;

pub use contact::{normalize_email, Contact};
pub use outbox::{Delivery, EventKind, EventTexts, OutboxCounts, OutboxTarget};
pub use privacy::{Cutoffs, Erased, Subject};
pub use review::{
    CheckedAgainst, KnowledgeReportRow, ReviewAction, ReviewItem, ReviewKind, ReviewSummary,
    Reviewed,
};
pub use search::{
    ConversationFilter, ConversationRow, GapQuestion, GapReason, RatingFilter, DECISION_ACTIONS,
    HIT_END, HIT_START,
};
pub use service::{DayFigures, ServiceStats};
pub use staff::{NewSession, StaffMember, StaffRole, StaffSession};
pub(crate) use stats::question_key;
pub use stats::{Stats, StatsRange, TopQuestion};
pub use survey::{ConversationFeedback, Survey, SurveyAnswer, ThumbRow};

text_enum!(Role, "message role", {
    Role::Customer => "customer",
    Role::Assistant => "assistant",
    Role::Staff => "staff",
    Role::System => "system",
});

/// A source shown with an answer (chosen by the assistant with the reply).
pub use crate::assistant::SourceLink;

/// A stored conversation.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Conversation {
    #[serde(rename = "conversation_id")]
    pub id: ConversationId,
    pub status: ConversationStatus,
    pub lang: Option<crate::knowledge::Lang>,
    /// Customer context for slots, from the host page.
    #[serde(skip)]
    pub context: crate::assistant::SlotValues,
    pub created_at: i64,
    #[serde(skip)]
    pub updated_at: i64,
    /// The customer's satisfaction score (1-5), once given.
    pub csat: Option<i64>,
}

/// A stored message, as the customer API shows it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Message {
    pub id: i64,
    #[serde(skip)]
    pub conversation_id: ConversationId,
    pub role: Role,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub provenance: Option<crate::assistant::Provenance>,
    pub text: String,
    #[serde(skip)]
    pub reply_to: Option<i64>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub sources: Vec<SourceLink>,
    /// The decision that produced an assistant or system reply (`send`, `hold`...).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub decision: Option<String>,
    /// The staff member who wrote a staff message.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub author: Option<String>,
    pub created_at: i64,
}

/// The database, behind a small connection pool.
#[derive(Debug, Clone)]
pub struct Store {
    pool: SqlitePool,
    path: PathBuf,
    outbox: std::sync::Arc<outbox::Outbox>,
}

impl Store {
    /// Opens (creating if needed) the database file and applies pending migrations. Refuses a
    /// database written by a newer schema.
    pub async fn open(path: &Path, settings: &StoreSettings) -> Result<Store, StoreError> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            fs_err::create_dir_all(dir).map_err(|e| StoreError::Open {
                path: path.to_path_buf(),
                source: sqlx::Error::Io(e),
            })?;
        }
        let options = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .foreign_keys(true)
            // Deleted content is overwritten with zeros (erasure and retention, issue 20).
            .pragma("secure_delete", "ON")
            .busy_timeout(Duration::from_millis(settings.busy_timeout_ms));
        let pool = SqlitePoolOptions::new()
            .max_connections(settings.max_connections)
            .connect_with(options)
            .await
            .map_err(|source| StoreError::Open {
                path: path.to_path_buf(),
                source,
            })?;
        let store = Store {
            pool,
            path: path.to_path_buf(),
            outbox: Default::default(),
        };
        let found = store.schema_version().await?;
        if found > SCHEMA_VERSION {
            return Err(StoreError::TooNew {
                path: path.to_path_buf(),
                found,
                known: SCHEMA_VERSION,
            });
        }
        sqlx::migrate!("src/store/migrations")
            .run(&store.pool)
            .await?;
        Ok(store)
    }

    /// The newest applied migration (0 for a new database).
    pub async fn schema_version(&self) -> Result<i64, StoreError> {
        let table: Option<String> = sqlx::query_scalar(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name = '_sqlx_migrations'",
        )
        .fetch_optional(&self.pool)
        .await?;
        if table.is_none() {
            return Ok(0);
        }
        let v: Option<i64> =
            sqlx::query_scalar("SELECT MAX(version) FROM _sqlx_migrations WHERE success = TRUE")
                .fetch_one(&self.pool)
                .await?;
        Ok(v.unwrap_or(0))
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// A cheap query, for readiness checks.
    pub async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    /// Closes the pool, waiting for connections in use.
    pub async fn close(&self) {
        self.pool.close().await;
    }

    pub(crate) fn pool(&self) -> &SqlitePool {
        &self.pool
    }

    /// A transaction that writes: it takes the write lock at once (`BEGIN IMMEDIATE`), so a
    /// concurrent writer makes it wait (`busy_timeout_ms`) instead of failing when a read inside
    /// the transaction would later have to be upgraded.
    pub(crate) async fn write_tx(
        &self,
    ) -> Result<sqlx::Transaction<'static, sqlx::Sqlite>, StoreError> {
        Ok(self.pool.begin_with("BEGIN IMMEDIATE").await?)
    }
}

/// Unix time in milliseconds.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

fn json<T: Serialize>(value: &T) -> String {
    serde_json::to_string(value).expect("plain data serializes to JSON")
}

fn parse_json<T: serde::de::DeserializeOwned>(
    what: &'static str,
    text: &str,
) -> Result<T, StoreError> {
    serde_json::from_str(text).map_err(|e| StoreError::Corrupt {
        what,
        message: e.to_string(),
    })
}

#[cfg(test)]
mod tests;
