//! Conversations and their messages: creation with a secret token (only its hash is kept),
//! authentication, customer messages, history, status changes and feedback.

use rand::rngs::OsRng;
use rand::TryRngCore;
use sqlx::Row;

use super::outbox::{EventKind, NewEvent};
use super::{
    json, now_ms, parse_json, Conversation, ConversationId, ConversationStatus, Message, Role,
    SourceLink, Store, StoreError,
};
use crate::assistant::{Provenance, SlotValues};
use crate::knowledge::Lang;

/// A message from the shop's side, before it is stored.
pub(super) struct ShopMessage<'a> {
    pub role: Role,
    pub provenance: Provenance,
    pub text: &'a str,
    pub reply_to: Option<i64>,
    pub sources: &'a [SourceLink],
    pub decision: Option<&'a str>,
    pub author: Option<&'a str>,
}

/// A conversation just created: its id and the token the customer keeps (never stored).
#[derive(Debug, Clone)]
pub struct NewConversation {
    pub conversation: Conversation,
    pub token: String,
}

pub(crate) fn random_hex(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    OsRng
        .try_fill_bytes(&mut buf)
        .expect("the operating system's random source is available");
    hex::encode(buf)
}

pub(super) fn token_hash(token: &str) -> String {
    crate::util::sha256_hex(token.as_bytes())
}

const CONVERSATION_COLUMNS: &str =
    "c.id, c.token_hash, c.lang, c.status, c.context_json, c.created_ms, c.updated_ms, \
     (SELECT f.value FROM feedback f WHERE f.conversation_id = c.id AND f.kind = 'csat') AS csat";

/// The same without the score (authentication runs on every request and does not need it).
const AUTH_COLUMNS: &str =
    "c.id, c.token_hash, c.lang, c.status, c.context_json, c.created_ms, c.updated_ms, \
     NULL AS csat";

const MESSAGE_COLUMNS: &str =
    "id, conversation_id, role, provenance, text, reply_to, sources_json, decision, author, created_ms";

fn conversation_row(row: &sqlx::any::AnyRow) -> Result<(Conversation, String), StoreError> {
    let lang: Option<String> = row.try_get("lang")?;
    let lang = lang
        .map(|l| {
            l.parse::<Lang>().map_err(|e| StoreError::Corrupt {
                what: "conversation language",
                message: e,
            })
        })
        .transpose()?;
    let status: String = row.try_get("status")?;
    let context: String = row.try_get("context_json")?;
    Ok((
        Conversation {
            id: ConversationId(row.try_get("id")?),
            status: status.parse()?,
            lang,
            context: parse_json("conversation context", &context)?,
            created_at: row.try_get("created_ms")?,
            updated_at: row.try_get("updated_ms")?,
            csat: row.try_get("csat")?,
        },
        row.try_get("token_hash")?,
    ))
}

pub(super) fn message_row(row: &sqlx::any::AnyRow) -> Result<Message, StoreError> {
    let role: String = row.try_get("role")?;
    let provenance: Option<String> = row.try_get("provenance")?;
    let provenance = provenance
        .map(|p| parse_json::<Provenance>("message provenance", &format!("\"{p}\"")))
        .transpose()?;
    let sources: String = row.try_get("sources_json")?;
    Ok(Message {
        id: row.try_get("id")?,
        conversation_id: ConversationId(row.try_get("conversation_id")?),
        role: role.parse()?,
        provenance,
        text: row.try_get("text")?,
        reply_to: row.try_get("reply_to")?,
        sources: parse_json::<Vec<SourceLink>>("message sources", &sources)?,
        decision: row.try_get("decision")?,
        author: row.try_get("author")?,
        created_at: row.try_get("created_ms")?,
    })
}

pub(super) fn provenance_str(p: Provenance) -> &'static str {
    match p {
        Provenance::Canonical => "canonical",
        Provenance::Generated => "generated",
        Provenance::Human => "human",
        Provenance::System => "system",
    }
}

/// The status of a conversation that may still be written to, inside a write transaction:
/// [`StoreError::NotFound`] when there is none, [`StoreError::Closed`] when it is closed.
pub(super) async fn open_status(
    tx: &mut super::Tx,
    conversation: &ConversationId,
) -> Result<ConversationStatus, StoreError> {
    let status: Option<String> =
        sqlx::query_scalar("SELECT status FROM conversations WHERE id = $1")
            .bind(&conversation.0)
            .fetch_optional(&mut **tx)
            .await?;
    let status: ConversationStatus = status
        .ok_or_else(|| StoreError::NotFound {
            what: "conversation",
            id: conversation.0.clone(),
        })?
        .parse()?;
    match status {
        ConversationStatus::Closed => Err(StoreError::Closed),
        open @ (ConversationStatus::Bot
        | ConversationStatus::WaitingStaff
        | ConversationStatus::Staff) => Ok(open),
    }
}

impl Store {
    /// Starts a conversation; the returned token is the customer's key to it.
    pub async fn create_conversation(
        &self,
        lang: Option<Lang>,
        context: &SlotValues,
    ) -> Result<NewConversation, StoreError> {
        let id = ConversationId(format!("c_{}", random_hex(16)));
        let token = format!("t_{}", random_hex(32));
        let now = now_ms();
        sqlx::query(
            "INSERT INTO conversations (id, token_hash, lang, status, context_json, created_ms, updated_ms) \
             VALUES ($1, $2, $3, 'bot', $4, $5, $5)",
        )
        .bind(&id.0)
        .bind(token_hash(&token))
        .bind(lang.map(Lang::as_str))
        .bind(json(context))
        .bind(now)
        .execute(self.pool())
        .await?;
        Ok(NewConversation {
            conversation: Conversation {
                id,
                status: ConversationStatus::Bot,
                lang,
                context: context.clone(),
                created_at: now,
                updated_at: now,
                csat: None,
            },
            token,
        })
    }

    /// The conversation, when `token` is its token (`csat` is not read: see
    /// [`Store::conversation`]). Unknown ids and wrong tokens both answer
    /// [`StoreError::Unauthorized`], so ids cannot be probed.
    pub async fn authenticate(&self, id: &str, token: &str) -> Result<Conversation, StoreError> {
        let row = sqlx::query(&format!(
            "SELECT {AUTH_COLUMNS} FROM conversations c WHERE c.id = $1"
        ))
        .bind(id)
        .fetch_optional(self.pool())
        .await?;
        let Some(row) = row else {
            // Hash anyway, so a missing id costs the same as a wrong token.
            let _ = token_hash(token);
            return Err(StoreError::Unauthorized);
        };
        let (conversation, hash) = conversation_row(&row)?;
        if crate::util::constant_time_eq(hash.as_bytes(), token_hash(token).as_bytes()) {
            Ok(conversation)
        } else {
            Err(StoreError::Unauthorized)
        }
    }

    /// The conversation, without a token (for staff tools and tests).
    pub async fn conversation(&self, id: &str) -> Result<Conversation, StoreError> {
        let row = sqlx::query(&format!(
            "SELECT {CONVERSATION_COLUMNS} FROM conversations c WHERE c.id = $1"
        ))
        .bind(id)
        .fetch_optional(self.pool())
        .await?
        .ok_or_else(|| StoreError::NotFound {
            what: "conversation",
            id: id.to_string(),
        })?;
        Ok(conversation_row(&row)?.0)
    }

    /// Stores a customer message (committed before this returns) and merges new context values.
    pub async fn add_customer_message(
        &self,
        conversation: &ConversationId,
        text: &str,
        context: &SlotValues,
    ) -> Result<Message, StoreError> {
        let now = now_ms();
        let mut tx = self.write_tx().await?;
        open_status(&mut tx, conversation).await?;
        if !context.is_empty() {
            let old: String =
                sqlx::query_scalar("SELECT context_json FROM conversations WHERE id = $1")
                    .bind(&conversation.0)
                    .fetch_one(&mut *tx)
                    .await?;
            let mut merged: SlotValues = parse_json("conversation context", &old)?;
            merged.extend(context.iter().map(|(k, v)| (k.clone(), v.clone())));
            sqlx::query("UPDATE conversations SET context_json = $1 WHERE id = $2")
                .bind(json(&merged))
                .bind(&conversation.0)
                .execute(&mut *tx)
                .await?;
        }
        sqlx::query("UPDATE conversations SET updated_ms = $1 WHERE id = $2")
            .bind(now)
            .bind(&conversation.0)
            .execute(&mut *tx)
            .await?;
        let row = sqlx::query(&format!(
            "INSERT INTO messages (conversation_id, role, text, created_ms) VALUES ($1, 'customer', $2, $3) \
             RETURNING {MESSAGE_COLUMNS}"
        ))
        .bind(&conversation.0)
        .bind(text)
        .bind(now)
        .fetch_one(&mut *tx)
        .await?;
        tx.commit().await?;
        message_row(&row)
    }

    /// Messages of a conversation with an id above `after`, oldest first.
    pub async fn messages_after(
        &self,
        conversation: &ConversationId,
        after: i64,
    ) -> Result<Vec<Message>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {MESSAGE_COLUMNS} FROM messages WHERE conversation_id = $1 AND id > $2 ORDER BY id"
        ))
        .bind(&conversation.0)
        .bind(after)
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(message_row).collect()
    }

    /// The latest `limit` messages of a conversation, oldest first.
    pub async fn recent_messages(
        &self,
        conversation: &ConversationId,
        limit: usize,
    ) -> Result<Vec<Message>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT * FROM (SELECT {MESSAGE_COLUMNS} FROM messages WHERE conversation_id = $1 \
             ORDER BY id DESC LIMIT $2) AS latest ORDER BY id"
        ))
        .bind(&conversation.0)
        .bind(i64::try_from(limit).unwrap_or(i64::MAX))
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(message_row).collect()
    }

    /// Messages after `after` as the customer sees them: a staff message's author is the staff member's
    /// display name, or none (sign-in names are never shown to customers).
    pub async fn messages_for_customer(
        &self,
        conversation: &ConversationId,
        after: i64,
    ) -> Result<Vec<Message>, StoreError> {
        let mut messages = self.messages_after(conversation, after).await?;
        if messages.iter().any(|m| m.author.is_some()) {
            let names = self.display_names().await?;
            for m in &mut messages {
                m.author = m.author.take().and_then(|a| names.get(&a).cloned());
            }
        }
        Ok(messages)
    }

    /// One message of a conversation.
    pub async fn message(
        &self,
        conversation: &ConversationId,
        id: i64,
    ) -> Result<Message, StoreError> {
        let row = sqlx::query(&format!(
            "SELECT {MESSAGE_COLUMNS} FROM messages WHERE conversation_id = $1 AND id = $2"
        ))
        .bind(&conversation.0)
        .bind(id)
        .fetch_optional(self.pool())
        .await?
        .ok_or_else(|| StoreError::NotFound {
            what: "message",
            id: id.to_string(),
        })?;
        message_row(&row)
    }

    /// Adds a message written by the shop's side (an answer, a fixed message, a staff reply).
    pub(super) async fn insert_message<'e, E>(
        executor: E,
        conversation: &ConversationId,
        m: &ShopMessage<'_>,
    ) -> Result<Message, StoreError>
    where
        E: sqlx::Executor<'e, Database = sqlx::Any>,
    {
        let row = sqlx::query(&format!(
            "INSERT INTO messages (conversation_id, role, provenance, text, reply_to, sources_json, decision, author, created_ms) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING {MESSAGE_COLUMNS}"
        ))
        .bind(&conversation.0)
        .bind(m.role.as_str())
        .bind(provenance_str(m.provenance))
        .bind(m.text)
        .bind(m.reply_to)
        .bind(json(&m.sources))
        .bind(m.decision)
        .bind(m.author)
        .bind(now_ms())
        .fetch_one(executor)
        .await?;
        message_row(&row)
    }

    /// Sets a conversation's status (the customer closing it: a `closed` event, once).
    pub async fn set_status(
        &self,
        conversation: &ConversationId,
        status: ConversationStatus,
    ) -> Result<(), StoreError> {
        let now = now_ms();
        let closed = (status == ConversationStatus::Closed).then_some(now);
        let mut tx = self.write_tx().await?;
        let before: Option<String> =
            sqlx::query_scalar("SELECT status FROM conversations WHERE id = $1")
                .bind(&conversation.0)
                .fetch_optional(&mut *tx)
                .await?;
        let Some(before) = before else {
            return Err(StoreError::NotFound {
                what: "conversation",
                id: conversation.0.clone(),
            });
        };
        sqlx::query(
            "UPDATE conversations SET status = $1, updated_ms = $2, closed_ms = COALESCE($3, closed_ms) WHERE id = $4",
        )
        .bind(status.as_str())
        .bind(now)
        .bind(closed)
        .bind(&conversation.0)
        .execute(&mut *tx)
        .await?;
        let wrote = if closed.is_some() && before != ConversationStatus::Closed.as_str() {
            self.enqueue(
                &mut tx,
                NewEvent {
                    kind: EventKind::Closed,
                    conversation: Some(conversation),
                    data: serde_json::json!({ "by": "customer" }),
                },
            )
            .await?
        } else {
            false
        };
        self.commit_events(tx, wrote).await?;
        Ok(())
    }

    /// A thumb (+1 / -1) on one of the shop's messages; a second thumb on it replaces the first.
    pub async fn add_thumb(
        &self,
        conversation: &ConversationId,
        message_id: i64,
        up: bool,
    ) -> Result<i64, StoreError> {
        let mut tx = self.write_tx().await?;
        // One statement: the message must be the shop's, in this conversation.
        let id: Option<i64> = sqlx::query_scalar(
            "INSERT INTO feedback (conversation_id, message_id, kind, value, created_ms) \
             SELECT conversation_id, id, 'thumb', $3, $4 FROM messages \
             WHERE id = $2 AND conversation_id = $1 AND role <> 'customer' \
             ON CONFLICT (message_id) WHERE kind = 'thumb' \
             DO UPDATE SET value = excluded.value, created_ms = excluded.created_ms RETURNING id",
        )
        .bind(&conversation.0)
        .bind(message_id)
        .bind(if up { 1 } else { -1 })
        .bind(now_ms())
        .fetch_optional(&mut *tx)
        .await?;
        let id = id.ok_or_else(|| StoreError::NotFound {
            what: "answer",
            id: message_id.to_string(),
        })?;
        let wrote = self
            .enqueue(
                &mut tx,
                NewEvent {
                    kind: EventKind::Feedback,
                    conversation: Some(conversation),
                    data: serde_json::json!({
                        "feedback_id": id,
                        "kind": "thumb",
                        "value": if up { 1 } else { -1 },
                        "message_id": message_id,
                    }),
                },
            )
            .await?;
        self.commit_events(tx, wrote).await?;
        Ok(id)
    }

    /// The conversation's satisfaction score (1-5); a second one replaces the first.
    pub async fn set_csat(
        &self,
        conversation: &ConversationId,
        score: i64,
        comment: Option<&str>,
    ) -> Result<i64, StoreError> {
        let mut tx = self.write_tx().await?;
        let id = upsert_csat(&mut tx, conversation, score, comment).await?;
        let wrote = self
            .enqueue(
                &mut tx,
                NewEvent {
                    kind: EventKind::Feedback,
                    conversation: Some(conversation),
                    data: serde_json::json!({
                        "feedback_id": id,
                        "kind": "csat",
                        "value": score,
                        "has_comment": comment.is_some_and(|c| !c.trim().is_empty()),
                    }),
                },
            )
            .await?;
        self.commit_events(tx, wrote).await?;
        Ok(id)
    }

    /// Number of conversations (for metrics and tests).
    pub async fn count_conversations(&self) -> Result<i64, StoreError> {
        Ok(sqlx::query_scalar("SELECT COUNT(*) FROM conversations")
            .fetch_one(self.pool())
            .await?)
    }
}

/// Writes the conversation's CSAT score (replacing an earlier one); the feedback row's id.
pub(super) async fn upsert_csat(
    tx: &mut super::Tx,
    conversation: &ConversationId,
    score: i64,
    comment: Option<&str>,
) -> Result<i64, StoreError> {
    Ok(sqlx::query_scalar(
        "INSERT INTO feedback (conversation_id, kind, value, comment, created_ms) \
         VALUES ($1, 'csat', $2, $3, $4) \
         ON CONFLICT (conversation_id) WHERE kind = 'csat' \
         DO UPDATE SET value = excluded.value, comment = excluded.comment, created_ms = excluded.created_ms \
         RETURNING id",
    )
    .bind(&conversation.0)
    .bind(score)
    .bind(comment)
    .bind(now_ms())
    .fetch_one(&mut **tx)
    .await?)
}
