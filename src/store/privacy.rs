//! Personal data in the database: finding a person's conversations (by id, e-mail or order id),
//! exporting every row they have, erasing them so the bytes leave the file and the WAL, and
//! purging what is older than the retention periods.

use serde::Serialize;
use serde_json::{Map, Value};
use sqlx::{Column, Row, ValueRef};

use super::contact::normalize_email;
use super::records::audit_in;
use super::{now_ms, ConversationId, Engine, Store, StoreError};

/// Whose data a request is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Subject {
    /// One conversation.
    Conversation(ConversationId),
    /// Every conversation whose contact address, context or messages hold the address.
    Email(String),
    /// Every conversation whose context or messages hold the order id.
    Order(String),
}

impl Subject {
    /// Checks the identifier: an e-mail must look like one; an order id needs 4 to 64 characters
    /// with a digit (a shorter one would match unrelated messages).
    pub fn new(kind: &str, value: &str) -> Result<Subject, StoreError> {
        let v = value.trim();
        match kind {
            "conversation" if v.starts_with("c_") && v.len() <= 64 => {
                Ok(Subject::Conversation(ConversationId(v.to_string())))
            }
            "conversation" => Err(StoreError::Invalid("a conversation id starts with `c_`")),
            "email" => Ok(Subject::Email(normalize_email(v)?.to_lowercase())),
            "order" => {
                let n = v.chars().count();
                if !(4..=64).contains(&n)
                    || !v.chars().any(|c| c.is_ascii_digit())
                    || v.chars().any(char::is_whitespace)
                {
                    return Err(StoreError::Invalid(
                        "an order id has 4 to 64 characters, a digit and no spaces",
                    ));
                }
                Ok(Subject::Order(v.to_lowercase()))
            }
            _ => Err(StoreError::Invalid(
                "say whose data: a conversation id, an e-mail or an order id",
            )),
        }
    }

    /// `conversation`, `email` or `order` (what the audit log keeps; never the value).
    pub fn kind(&self) -> &'static str {
        match self {
            Subject::Conversation(_) => "conversation",
            Subject::Email(_) => "email",
            Subject::Order(_) => "order",
        }
    }

    /// The identifier itself when it is personal data that may sit in free text.
    pub fn identifier(&self) -> Option<&str> {
        match self {
            Subject::Conversation(_) => None,
            Subject::Email(v) | Subject::Order(v) => Some(v),
        }
    }
}

/// What an erasure or a purge removed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Erased {
    pub conversations: u64,
    pub messages: u64,
    pub audit_events_cleared: u64,
    /// Contact addresses forgotten (by a purge; an erasure removes whole conversations).
    pub contacts: u64,
    pub audit_events_deleted: u64,
    pub outbox_deleted: u64,
    pub sessions_deleted: u64,
    /// The write-ahead log was emptied (false when a reader held it; it empties at the next
    /// checkpoint).
    pub wal_cleared: bool,
}

impl Erased {
    /// Whether a purge removed anything (then it is audited and the file scrubbed).
    pub fn removed_anything(&self) -> bool {
        self.conversations + self.contacts + self.audit_events_deleted + self.outbox_deleted > 0
    }
}

/// The oldest times kept, per kind (`None`: kept forever).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Cutoffs {
    pub conversations_ms: Option<i64>,
    pub contacts_ms: Option<i64>,
    pub audit_ms: Option<i64>,
    pub outbox_ms: Option<i64>,
}

/// Every column of every row a query returns, as JSON objects (integers, reals, text; blobs as
/// their length): the export follows the schema without a list of columns to keep in step.
async fn rows_json(store: &Store, sql: &str, bind: &[&str]) -> Result<Vec<Value>, StoreError> {
    let mut q = sqlx::query(sql);
    for b in bind {
        q = q.bind(*b);
    }
    let rows = q.fetch_all(store.pool()).await?;
    let mut out = Vec::with_capacity(rows.len());
    for row in rows {
        let mut obj = Map::new();
        for (i, col) in row.columns().iter().enumerate() {
            let raw = row.try_get_raw(i)?;
            let v = if raw.is_null() {
                Value::Null
            } else {
                use sqlx::any::AnyTypeInfoKind as Kind;
                match raw.type_info().kind() {
                    Kind::SmallInt | Kind::Integer | Kind::BigInt => {
                        Value::from(row.try_get::<i64, _>(i)?)
                    }
                    Kind::Real | Kind::Double => Value::from(row.try_get::<f64, _>(i)?),
                    Kind::Bool => Value::from(row.try_get::<bool, _>(i)?),
                    Kind::Blob => {
                        Value::from(format!("<{} bytes>", row.try_get::<Vec<u8>, _>(i)?.len()))
                    }
                    Kind::Null | Kind::Text => {
                        let text = row.try_get::<String, _>(i)?;
                        // Columns holding JSON are exported as JSON.
                        if col.name().ends_with("_json") {
                            serde_json::from_str(&text).unwrap_or(Value::String(text))
                        } else {
                            Value::String(text)
                        }
                    }
                }
            };
            obj.insert(col.name().to_string(), v);
        }
        out.push(Value::Object(obj));
    }
    Ok(out)
}

/// The tables holding a conversation's rows, with the query selecting them.
const CONVERSATION_TABLES: [(&str, &str); 8] = [
    ("conversation", "SELECT * FROM conversations WHERE id = $1"),
    (
        "messages",
        "SELECT * FROM messages WHERE conversation_id = $1 ORDER BY id",
    ),
    (
        "drafts",
        "SELECT * FROM drafts WHERE message_id IN (SELECT id FROM messages WHERE conversation_id = $1) ORDER BY id",
    ),
    (
        "decisions",
        "SELECT * FROM decisions WHERE message_id IN (SELECT id FROM messages WHERE conversation_id = $1) ORDER BY id",
    ),
    (
        "feedback",
        "SELECT * FROM feedback WHERE conversation_id = $1 ORDER BY id",
    ),
    ("surveys", "SELECT * FROM surveys WHERE conversation_id = $1"),
    (
        "audit_events",
        "SELECT * FROM audit_events WHERE conversation_id = $1 ORDER BY id",
    ),
    (
        "notifications",
        "SELECT * FROM outbox WHERE conversation_id = $1 ORDER BY id",
    ),
];

/// Deletes one conversation inside `tx` (the schema cascades to its rows) and clears its audit
/// events' details, counting into `erased`.
async fn delete_conversation(
    tx: &mut super::Tx,
    id: &ConversationId,
    erased: &mut Erased,
) -> Result<(), StoreError> {
    let (n,): (i64,) = sqlx::query_as("SELECT count(*) FROM messages WHERE conversation_id = $1")
        .bind(&id.0)
        .fetch_one(&mut **tx)
        .await?;
    erased.messages += n as u64;
    erased.audit_events_cleared += sqlx::query(
        "UPDATE audit_events SET conversation_id = NULL, detail_json = '{\"erased\":true}' \
         WHERE conversation_id = $1",
    )
    .bind(&id.0)
    .execute(&mut **tx)
    .await?
    .rows_affected();
    erased.conversations += sqlx::query("DELETE FROM conversations WHERE id = $1")
        .bind(&id.0)
        .execute(&mut **tx)
        .await?
        .rows_affected();
    Ok(())
}

impl Store {
    /// The conversations a subject's data is in, oldest first.
    pub async fn subject_conversations(
        &self,
        subject: &Subject,
    ) -> Result<Vec<ConversationId>, StoreError> {
        let ids: Vec<String> = match subject {
            Subject::Conversation(id) => {
                sqlx::query_scalar("SELECT id FROM conversations WHERE id = $1")
                    .bind(&id.0)
                    .fetch_all(self.pool())
                    .await?
            }
            Subject::Email(needle) | Subject::Order(needle) => {
                let contains = |haystack| self.contains(haystack, "$1");
                sqlx::query_scalar(&format!(
                    "SELECT id FROM conversations WHERE lower(coalesce(contact_email, '')) = $1 \
                     OR {} OR id IN (SELECT conversation_id FROM messages WHERE {}) \
                     ORDER BY created_ms, id",
                    contains("lower(context_json)"),
                    contains("lower(text)"),
                ))
                .bind(needle)
                .fetch_all(self.pool())
                .await?
            }
        };
        Ok(ids.into_iter().map(ConversationId).collect())
    }

    /// The approved answers staff saved from these conversations ("save as canonical", audited
    /// with the conversation): where their messages may have become phrasings.
    pub async fn canonicals_saved_from(
        &self,
        ids: &[ConversationId],
    ) -> Result<Vec<String>, StoreError> {
        let mut out = Vec::new();
        for id in ids {
            let details: Vec<String> = sqlx::query_scalar(
                "SELECT detail_json FROM audit_events WHERE action = 'save_canonical' AND conversation_id = $1",
            )
            .bind(&id.0)
            .fetch_all(self.pool())
            .await?;
            out.extend(details.iter().filter_map(|d| {
                serde_json::from_str::<Value>(d).ok()?["canonical_id"]
                    .as_str()
                    .map(str::to_string)
            }));
        }
        Ok(out)
    }

    /// Every stored row of each conversation, table by table (the access request's answer).
    pub async fn export_conversations(
        &self,
        ids: &[ConversationId],
    ) -> Result<Vec<Value>, StoreError> {
        let mut out = Vec::with_capacity(ids.len());
        for id in ids {
            let mut obj = Map::new();
            for (name, sql) in CONVERSATION_TABLES {
                let mut rows = rows_json(self, sql, &[&id.0]).await?;
                let v = if name == "conversation" {
                    rows.pop().unwrap_or(Value::Null)
                } else {
                    Value::Array(rows)
                };
                obj.insert(name.to_string(), v);
            }
            out.push(Value::Object(obj));
        }
        Ok(out)
    }

    /// Deletes the conversations and everything hanging off them (messages, drafts, decisions,
    /// feedback, surveys, notifications); their audit events stay with what was done and when,
    /// without the conversation or details. One audit event records the erasure: who, the kind of
    /// subject and the counts, never the identifier. Then the bytes leave the file and the WAL.
    pub async fn erase_conversations(
        &self,
        ids: &[ConversationId],
        actor: &str,
        why: &str,
    ) -> Result<Erased, StoreError> {
        let mut erased = Erased::default();
        let mut tx = self.write_tx().await?;
        for id in ids {
            delete_conversation(&mut tx, id, &mut erased).await?;
        }
        audit_in(
            &mut *tx,
            actor,
            "privacy_erase",
            None,
            &serde_json::json!({
                "subject": why,
                "conversations": erased.conversations,
                "messages": erased.messages,
            }),
        )
        .await?;
        tx.commit().await?;
        erased.wal_cleared = self.scrub().await?;
        Ok(erased)
    }

    /// Removes what is older than the cutoffs: whole conversations (by last activity), contact
    /// addresses, audit events and knowledge reports, settled notifications; expired staff
    /// sessions always. Audited when anything went.
    pub async fn purge(&self, cut: Cutoffs) -> Result<Erased, StoreError> {
        let mut erased = Erased::default();
        let now = now_ms();
        if let Some(before) = cut.conversations_ms {
            let old: Vec<String> = sqlx::query_scalar(
                "SELECT id FROM conversations WHERE updated_ms < $1 ORDER BY updated_ms",
            )
            .bind(before)
            .fetch_all(self.pool())
            .await?;
            // In batches, so a first purge of a large database does not hold the write lock long.
            for batch in old.chunks(200) {
                let ids: Vec<ConversationId> = batch.iter().cloned().map(ConversationId).collect();
                let mut tx = self.write_tx().await?;
                for id in &ids {
                    delete_conversation(&mut tx, id, &mut erased).await?;
                }
                tx.commit().await?;
            }
        }
        let mut tx = self.write_tx().await?;
        if let Some(before) = cut.contacts_ms {
            erased.contacts = sqlx::query(
                "UPDATE conversations SET contact_email = NULL, contact_consent_ms = NULL, \
                 contact_consent_text = NULL WHERE contact_email IS NOT NULL AND updated_ms < $1",
            )
            .bind(before)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        }
        if let Some(before) = cut.audit_ms {
            erased.audit_events_deleted = sqlx::query("DELETE FROM audit_events WHERE at_ms < $1")
                .bind(before)
                .execute(&mut *tx)
                .await?
                .rows_affected();
            sqlx::query("DELETE FROM knowledge_reports WHERE at_ms < $1")
                .bind(before)
                .execute(&mut *tx)
                .await?;
        }
        if let Some(before) = cut.outbox_ms {
            erased.outbox_deleted =
                sqlx::query("DELETE FROM outbox WHERE status <> 'pending' AND created_ms < $1")
                    .bind(before)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
        }
        erased.sessions_deleted = sqlx::query("DELETE FROM staff_sessions WHERE expires_ms < $1")
            .bind(now)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        let anything = erased.removed_anything();
        if anything {
            audit_in(
                &mut *tx,
                "retention",
                "privacy_purge",
                None,
                &serde_json::json!({
                    "conversations": erased.conversations,
                    "messages": erased.messages,
                    "contacts": erased.contacts,
                    "audit_events": erased.audit_events_deleted,
                    "notifications": erased.outbox_deleted,
                }),
            )
            .await?;
        }
        tx.commit().await?;
        if anything {
            erased.wal_cleared = self.scrub().await?;
        }
        Ok(erased)
    }

    /// Replaces approved-answer ids made from a person's words (renamed in the knowledge files by an
    /// erasure) wherever the database keeps them: decisions, drafts, knowledge reports and audit
    /// details. Then scrubs, so the old ids leave the file and the WAL.
    pub async fn rename_canonical_refs(
        &self,
        renames: &[(String, String)],
    ) -> Result<bool, StoreError> {
        if renames.is_empty() {
            return Ok(true);
        }
        let mut tx = self.write_tx().await?;
        for (old, new) in renames {
            for table in ["decisions", "drafts"] {
                sqlx::query(&format!(
                    "UPDATE {table} SET canonical_id = $2 WHERE canonical_id = $1"
                ))
                .bind(old)
                .bind(new)
                .execute(&mut *tx)
                .await?;
            }
            // In JSON the id is a quoted string.
            let (old_q, new_q) = (format!("\"{old}\""), format!("\"{new}\""));
            for (table, column) in [
                ("knowledge_reports", "report_json"),
                ("audit_events", "detail_json"),
            ] {
                sqlx::query(&format!(
                    "UPDATE {table} SET {column} = replace({column}, $1, $2) WHERE {}",
                    self.contains(column, "$1")
                ))
                .bind(&old_q)
                .bind(&new_q)
                .execute(&mut *tx)
                .await?;
            }
        }
        tx.commit().await?;
        self.scrub().await
    }

    /// SQL true when `haystack` contains the text `needle` (both SQL expressions).
    fn contains(&self, haystack: &str, needle: &str) -> String {
        match self.engine() {
            Engine::Sqlite => format!("instr({haystack}, {needle}) > 0"),
            Engine::Postgres => format!("strpos({haystack}, {needle}) > 0"),
        }
    }

    /// Makes deleted rows unreadable. SQLite: the full-text index is merged into one segment (a
    /// deleted message's words otherwise live on in older segments), deleted content is zeroed
    /// (`secure_delete`, set on every connection) and the WAL is checkpointed and truncated, so no
    /// old page copy stays in it; true when the WAL was emptied. PostgreSQL has no secure delete:
    /// the tables holding personal data are vacuumed (dead rows and their index entries go), and
    /// the answer is false, since old bytes may stay in free page space, the WAL and backups
    /// until the server reuses them (README "PostgreSQL").
    pub async fn scrub(&self) -> Result<bool, StoreError> {
        if self.engine() == Engine::Postgres {
            sqlx::query(
                "VACUUM (SKIP_LOCKED) conversations, messages, drafts, decisions, feedback, \
                 surveys, audit_events, outbox, knowledge_reports",
            )
            .execute(self.pool())
            .await?;
            return Ok(false);
        }
        sqlx::query("INSERT INTO messages_fts (messages_fts) VALUES ('optimize')")
            .execute(self.pool())
            .await?;
        for _ in 0..20 {
            let (busy, _, _): (i64, i64, i64) = sqlx::query_as("PRAGMA wal_checkpoint(TRUNCATE)")
                .fetch_one(self.pool())
                .await?;
            if busy == 0 {
                return Ok(true);
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        Ok(false)
    }
}
