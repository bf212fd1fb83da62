//! The store: conversations, messages with their provenance, drafts with verdicts, decisions with
//! reasons, feedback and the staff audit log, in SQLite (embedded default) or PostgreSQL.
//!
//! Every write that acknowledges something to a customer commits (SQLite: synchronous = FULL)
//! before the caller is told, so an acknowledged message survives a crash. The SQL is portable
//! (`$n` parameters, `RETURNING`, `CASE` for flags) and runs through sqlx's `Any` driver; the few
//! places where the engines differ (full-text search, JSON, write locks) ask [`Store::engine`].

mod conversations;
mod records;

use std::path::{Path, PathBuf};

use std::time::Duration;

use serde::{Deserialize, Serialize};
use sqlx::any::{AnyConnectOptions, AnyPoolOptions, AnyRow};
use sqlx::{AnyPool, ConnectOptions, Executor, Row};

pub use conversations::NewConversation;
pub use records::{OutcomeRecord, StaffReply};

/// The schema version this build writes (the number of the newest migration).
pub const SCHEMA_VERSION: i64 = 7;

/// A transaction on either engine.
pub(crate) type Tx = sqlx::Transaction<'static, sqlx::Any>;

/// Which database engine a store runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Engine {
    Sqlite,
    Postgres,
}

/// Where the database is: a SQLite file or a PostgreSQL server.
#[derive(Clone, PartialEq, Eq)]
pub enum StoreLocation {
    Sqlite(PathBuf),
    /// A `postgres://` URL (it may hold a password: shown only through `Display`, which hides it).
    Postgres(String),
}

impl StoreLocation {
    pub fn engine(&self) -> Engine {
        match self {
            StoreLocation::Sqlite(_) => Engine::Sqlite,
            StoreLocation::Postgres(_) => Engine::Postgres,
        }
    }
}

/// The location without a password, for logs and errors.
impl std::fmt::Display for StoreLocation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StoreLocation::Sqlite(path) => write!(f, "{}", path.display()),
            StoreLocation::Postgres(url) => f.write_str(&hide_password(url)),
        }
    }
}

impl std::fmt::Debug for StoreLocation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "StoreLocation({self})")
    }
}

/// `postgres://user:secret@host/db` -> `postgres://user:***@host/db`.
fn hide_password(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    let (auth, host) = match rest.rfind('@') {
        Some(at) => rest.split_at(at),
        None => return url.to_string(),
    };
    match auth.split_once(':') {
        Some((user, _)) => format!("{scheme}://{user}:***{host}"),
        None => url.to_string(),
    }
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("cannot open the database {location}: {source}")]
    Open {
        location: StoreLocation,
        #[source]
        source: sqlx::Error,
    },
    #[error("database {location} was written by a newer Concord (schema {found}, this build knows {known}); upgrade Concord")]
    TooNew {
        location: StoreLocation,
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
    /// `sqlite://FILE` or `postgres://USER:PASSWORD@HOST:PORT/DB`; empty means the SQLite file
    /// of `path`.
    pub url: String,
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
        let url = self.url.trim();
        if !url.is_empty() {
            if !self.path.trim().is_empty() {
                return Err("set store.url or store.path, not both".into());
            }
            let known = ["sqlite://", "postgres://", "postgresql://"];
            if !known.iter().any(|k| url.starts_with(k)) {
                return Err(format!(
                    "store.url must start with sqlite://, postgres:// or postgresql://, got `{}`",
                    hide_password(url)
                ));
            }
            if url.starts_with("sqlite://") && url.len() == "sqlite://".len() {
                return Err("store.url `sqlite://` names no file".into());
            }
        }
        Ok(())
    }

    /// Where the database is, for a data directory.
    pub fn location(&self, data_dir: &Path) -> StoreLocation {
        let url = self.url.trim();
        if let Some(file) = url.strip_prefix("sqlite://") {
            StoreLocation::Sqlite(PathBuf::from(file))
        } else if !url.is_empty() {
            StoreLocation::Postgres(url.to_string())
        } else if self.path.trim().is_empty() {
            StoreLocation::Sqlite(data_dir.join("concord.db"))
        } else {
            StoreLocation::Sqlite(PathBuf::from(&self.path))
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
mod listen;
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
pub use listen::{Change, ChangeFeed};
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
    pool: AnyPool,
    location: StoreLocation,
    outbox: std::sync::Arc<outbox::Outbox>,
}

/// The statements every new connection runs: SQLite's durability and erasure settings (the
/// `Any` driver takes only a URL, so they cannot ride on the connect options).
fn sqlite_pragmas(busy_timeout_ms: u64) -> String {
    format!(
        "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON; \
         PRAGMA secure_delete = ON; PRAGMA busy_timeout = {busy_timeout_ms};"
    )
}

impl Store {
    /// Opens (creating if needed) a SQLite database file and applies pending migrations.
    pub async fn open(path: &Path, settings: &StoreSettings) -> Result<Store, StoreError> {
        Store::connect(&StoreLocation::Sqlite(path.to_path_buf()), settings).await
    }

    /// Opens the database at `location` (creating a SQLite file if needed) and applies pending
    /// migrations. Refuses a database written by a newer schema.
    pub async fn connect(
        location: &StoreLocation,
        settings: &StoreSettings,
    ) -> Result<Store, StoreError> {
        sqlx::any::install_default_drivers();
        let failed = |source| StoreError::Open {
            location: location.clone(),
            source,
        };
        let url = match location {
            StoreLocation::Sqlite(path) => {
                if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                    fs_err::create_dir_all(dir).map_err(|e| failed(sqlx::Error::Io(e)))?;
                }
                sqlx::sqlite::SqliteConnectOptions::new()
                    .filename(path)
                    .create_if_missing(true)
                    .to_url_lossy()
                    .to_string()
            }
            StoreLocation::Postgres(url) => url.clone(),
        };
        let options: AnyConnectOptions = url.parse().map_err(failed)?;
        let engine = location.engine();
        let pragmas = sqlite_pragmas(settings.busy_timeout_ms);
        let lock_timeout = settings.busy_timeout_ms;
        let pool = AnyPoolOptions::new()
            .max_connections(settings.max_connections)
            .acquire_timeout(Duration::from_millis(
                settings.busy_timeout_ms.max(1000) * 2,
            ))
            .after_connect(move |conn, _| {
                let setup = match engine {
                    Engine::Sqlite => pragmas.clone(),
                    // A write waits for another's lock as long as SQLite would.
                    Engine::Postgres => format!("SET lock_timeout = {lock_timeout}"),
                };
                Box::pin(async move {
                    conn.execute(setup.as_str()).await?;
                    Ok(())
                })
            })
            .connect_with(options)
            .await
            .map_err(failed)?;
        let store = Store {
            pool,
            location: location.clone(),
            outbox: Default::default(),
        };
        let found = store.schema_version().await?;
        if found > SCHEMA_VERSION {
            return Err(StoreError::TooNew {
                location: location.clone(),
                found,
                known: SCHEMA_VERSION,
            });
        }
        match engine {
            Engine::Sqlite => {
                sqlx::migrate!("src/store/migrations")
                    .run(&store.pool)
                    .await?
            }
            Engine::Postgres => {
                sqlx::migrate!("src/store/migrations_pg")
                    .run(&store.pool)
                    .await?
            }
        }
        Ok(store)
    }

    /// The newest applied migration (0 for a new database).
    pub async fn schema_version(&self) -> Result<i64, StoreError> {
        let exists = match self.engine() {
            Engine::Sqlite => {
                "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = '_sqlx_migrations'"
            }
            Engine::Postgres => {
                "SELECT COUNT(*) FROM pg_catalog.pg_tables \
                 WHERE tablename = '_sqlx_migrations' AND schemaname = current_schema()"
            }
        };
        let (tables,): (i64,) = sqlx::query_as(exists).fetch_one(&self.pool).await?;
        if tables == 0 {
            return Ok(0);
        }
        let v: Option<i64> =
            sqlx::query_scalar("SELECT MAX(version) FROM _sqlx_migrations WHERE success = TRUE")
                .fetch_one(&self.pool)
                .await?;
        Ok(v.unwrap_or(0))
    }

    pub fn location(&self) -> &StoreLocation {
        &self.location
    }

    pub fn engine(&self) -> Engine {
        self.location.engine()
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

    pub(crate) fn pool(&self) -> &AnyPool {
        &self.pool
    }

    /// A transaction that writes. Writers take turns, as SQLite has them do: SQLite takes its
    /// write lock at once (`BEGIN IMMEDIATE`), so a concurrent writer waits (`busy_timeout_ms`)
    /// instead of failing when a read inside the transaction would later need the lock;
    /// PostgreSQL takes a transaction-scoped advisory lock, so the read-then-write paths (claims,
    /// upserts, counters) see each other's commits exactly as they do on SQLite.
    pub(crate) async fn write_tx(&self) -> Result<Tx, StoreError> {
        match self.engine() {
            Engine::Sqlite => Ok(self.pool.begin_with("BEGIN IMMEDIATE").await?),
            Engine::Postgres => {
                let mut tx = self.pool.begin().await?;
                // (Through a subquery: `Any` cannot read the function's `void`.)
                sqlx::query("SELECT 1 FROM (SELECT pg_advisory_xact_lock(7242023)) AS locked")
                    .execute(&mut *tx)
                    .await?;
                Ok(tx)
            }
        }
    }
}

/// Creates the empty database `name` (lower-case letters, digits, `_`) on the PostgreSQL server
/// at `server` (a URL naming any database there) and returns its location. Blocking, on a thread
/// of its own, so that callers inside a runtime may use it too: for tests and set-up scripts.
pub fn create_postgres_database(server: &str, name: &str) -> Result<StoreLocation, StoreError> {
    if name.is_empty()
        || !name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
    {
        return Err(StoreError::Invalid(
            "a database name takes lower-case letters, digits and _",
        ));
    }
    let (server, name) = (server.to_string(), name.to_string());
    std::thread::spawn(move || {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| StoreError::Db(sqlx::Error::Io(e)))?
            .block_on(async {
                use sqlx::Connection;
                sqlx::any::install_default_drivers();
                let mut conn = sqlx::AnyConnection::connect(&server).await?;
                sqlx::query(&format!("CREATE DATABASE {name}"))
                    .execute(&mut conn)
                    .await?;
                let base = server.rsplit_once('/').map_or(server.as_str(), |(b, _)| b);
                Ok(StoreLocation::Postgres(format!("{base}/{name}")))
            })
    })
    .join()
    .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
}

/// A yes/no column or expression: PostgreSQL answers `BOOLEAN`, SQLite an integer (`Any` does
/// not convert between them).
pub(crate) fn flag(row: &AnyRow, column: &str) -> Result<Option<bool>, StoreError> {
    match row.try_get::<Option<bool>, _>(column) {
        Ok(v) => Ok(v),
        Err(_) => Ok(row.try_get::<Option<i64>, _>(column)?.map(|n| n != 0)),
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
pub(crate) mod tests;
