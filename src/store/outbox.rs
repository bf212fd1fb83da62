//! The outbox: events for the shop's own systems (a handoff, a held answer, a staff reply...),
//! written in the transaction that caused them, then claimed, delivered and retried by a worker.
//!
//! Delivery is at least once: an attempt holds a lease on its row; a worker that dies mid-attempt
//! leaves the row to be claimed again when the lease ends, with the same event id.

use std::sync::{Arc, RwLock};

use serde::Serialize;
use sqlx::Row;

use super::conversations::random_hex;
use super::{json, now_ms, ConversationId, Store, StoreError};

/// What happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    /// The conversation waits for a person (the customer asked, or the policy handed it off).
    Handoff,
    /// An answer is held for staff review while the customer waits.
    Held,
    /// The assistant had no answer.
    NoAnswer,
    /// A person answered (a reply, or a held answer approved or edited).
    StaffReply,
    Closed,
    /// A thumb or a satisfaction score.
    Feedback,
}

text_enum!(EventKind, "event kind", {
    EventKind::Handoff => "handoff",
    EventKind::Held => "held",
    EventKind::NoAnswer => "no_answer",
    EventKind::StaffReply => "staff_reply",
    EventKind::Closed => "closed",
    EventKind::Feedback => "feedback",
});

impl EventKind {
    pub const ALL: [EventKind; 6] = [
        EventKind::Handoff,
        EventKind::Held,
        EventKind::NoAnswer,
        EventKind::StaffReply,
        EventKind::Closed,
        EventKind::Feedback,
    ];
}

/// An endpoint events are written for: its name and the kinds it takes.
#[derive(Debug, Clone, PartialEq)]
pub struct OutboxTarget {
    pub name: String,
    pub kinds: Vec<EventKind>,
    /// The first attempt waits this long (to batch alerts, or to see whether the customer read
    /// a reply in the widget before e-mailing it).
    pub delay_ms: i64,
}

/// The targets events are written for (none until a notifier sets them) and the worker's
/// wake-up; shared by every clone of a [`Store`].
#[derive(Debug, Default)]
pub(super) struct Outbox {
    targets: RwLock<Arc<[OutboxTarget]>>,
    wake: tokio::sync::Notify,
}

/// One delivery to attempt, as claimed by a worker.
#[derive(Debug, Clone, PartialEq)]
pub struct Delivery {
    pub id: i64,
    pub event_id: String,
    pub target: String,
    pub kind: EventKind,
    pub conversation_id: Option<ConversationId>,
    pub data: serde_json::Value,
    pub created_ms: i64,
    /// This attempt's number (1 for the first).
    pub attempt: i64,
}

fn delivery_row(row: &sqlx::any::AnyRow) -> Result<Delivery, StoreError> {
    let kind: String = row.try_get("kind")?;
    let data: String = row.try_get("data_json")?;
    let conversation: Option<String> = row.try_get("conversation_id")?;
    Ok(Delivery {
        id: row.try_get("id")?,
        event_id: row.try_get("event_id")?,
        target: row.try_get("target")?,
        kind: kind.parse()?,
        conversation_id: conversation.map(ConversationId),
        data: super::parse_json("outbox event", &data)?,
        created_ms: row.try_get("created_ms")?,
        attempt: row.try_get("attempts")?,
    })
}

/// The rows an `UPDATE ... RETURNING` claimed, in the order they were written.
fn claimed(rows: &[sqlx::any::AnyRow]) -> Result<Vec<Delivery>, StoreError> {
    let mut out = rows
        .iter()
        .map(delivery_row)
        .collect::<Result<Vec<_>, _>>()?;
    out.sort_by_key(|d| d.id);
    Ok(out)
}

/// Rows of the outbox by status.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct OutboxCounts {
    pub pending: i64,
    pub delivered: i64,
    pub skipped: i64,
    pub failed: i64,
}

/// An event to write with the change that caused it.
pub(super) struct NewEvent<'a> {
    pub kind: EventKind,
    pub conversation: Option<&'a ConversationId>,
    pub data: serde_json::Value,
}

impl Store {
    /// Events are written from now on for these targets (replacing any earlier ones).
    pub fn set_outbox_targets(&self, targets: Vec<OutboxTarget>) {
        *self
            .outbox
            .targets
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = targets.into();
    }

    fn outbox_targets(&self) -> Arc<[OutboxTarget]> {
        self.outbox
            .targets
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// Resolves when an event may have been written (or at once, if one was since the last call).
    pub async fn outbox_written(&self) {
        self.outbox.wake.notified().await;
    }

    /// Writes `event` for every target that takes its kind, inside the caller's transaction;
    /// `true` when anything was written (wake the worker after the commit).
    pub(super) async fn enqueue(
        &self,
        tx: &mut super::Tx,
        event: NewEvent<'_>,
    ) -> Result<bool, StoreError> {
        let targets = self.outbox_targets();
        let mut wrote = false;
        let event_id = format!("evt_{}", random_hex(16));
        let now = now_ms();
        for t in targets.iter().filter(|t| t.kinds.contains(&event.kind)) {
            sqlx::query(
                "INSERT INTO outbox (event_id, target, kind, conversation_id, data_json, created_ms, status, next_ms) \
                 VALUES ($1, $2, $3, $4, $5, $6, 'pending', $7)",
            )
            .bind(&event_id)
            .bind(&t.name)
            .bind(event.kind.as_str())
            .bind(event.conversation.map(|c| c.0.clone()))
            .bind(json(&event.data))
            .bind(now)
            .bind(now + t.delay_ms.max(0))
            .execute(&mut **tx)
            .await?;
            wrote = true;
        }
        Ok(wrote)
    }

    /// Wakes the delivery worker (after a commit that wrote events).
    /// Commits a transaction that may have written events (`wrote`), then wakes the delivery
    /// task: after the commit, so that it finds them.
    pub(super) async fn commit_events(&self, tx: super::Tx, wrote: bool) -> Result<(), StoreError> {
        tx.commit().await?;
        self.outbox_wake(wrote);
        Ok(())
    }

    pub(super) fn outbox_wake(&self, wrote: bool) {
        if wrote {
            self.outbox.wake.notify_one();
        }
    }

    /// Claims up to `limit` due deliveries: each gets a lease of `lease_ms` (it is due again then,
    /// should this attempt never report) and its attempt count goes up.
    pub async fn claim_deliveries(
        &self,
        limit: i64,
        lease_ms: i64,
    ) -> Result<Vec<Delivery>, StoreError> {
        let now = now_ms();
        let rows = sqlx::query(
            "UPDATE outbox SET attempts = attempts + 1, next_ms = $1 \
             WHERE id IN (SELECT id FROM outbox WHERE status = 'pending' AND next_ms <= $2 \
                          ORDER BY next_ms, id LIMIT $3) \
             RETURNING id, event_id, target, kind, conversation_id, data_json, created_ms, attempts",
        )
        .bind(now + lease_ms)
        .bind(now)
        .bind(limit)
        .fetch_all(self.pool())
        .await?;
        claimed(&rows)
    }

    /// Claims the deliveries of `target` never attempted yet, due or not (up to `limit`): alerts
    /// raised within one batching window leave with the first of them that falls due.
    pub async fn claim_waiting_of(
        &self,
        target: &str,
        limit: i64,
        lease_ms: i64,
    ) -> Result<Vec<Delivery>, StoreError> {
        let rows = sqlx::query(
            "UPDATE outbox SET attempts = attempts + 1, next_ms = $1 \
             WHERE id IN (SELECT id FROM outbox WHERE target = $2 AND status = 'pending' AND attempts = 0 \
                          ORDER BY id LIMIT $3) \
             RETURNING id, event_id, target, kind, conversation_id, data_json, created_ms, attempts",
        )
        .bind(now_ms() + lease_ms)
        .bind(target)
        .bind(limit)
        .fetch_all(self.pool())
        .await?;
        claimed(&rows)
    }

    /// The target took the event.
    pub async fn delivered(&self, id: i64) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE outbox SET status = 'delivered', delivered_ms = $1, last_error = NULL WHERE id = $2",
        )
        .bind(now_ms())
        .bind(id)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// Nothing needed sending (e.g. the customer read the reply in the widget); `why` is kept.
    pub async fn delivery_skipped(&self, id: i64, why: &str) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE outbox SET status = 'skipped', delivered_ms = $1, last_error = $2 WHERE id = $3",
        )
        .bind(now_ms())
        .bind(why)
        .bind(id)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// The attempt failed: try again at `retry_at_ms`, or give up (`None`).
    pub async fn delivery_failed(
        &self,
        id: i64,
        error: &str,
        retry_at_ms: Option<i64>,
    ) -> Result<(), StoreError> {
        let error: String = error.chars().take(500).collect();
        match retry_at_ms {
            Some(at) => {
                sqlx::query("UPDATE outbox SET next_ms = $1, last_error = $2 WHERE id = $3")
                    .bind(at)
                    .bind(error)
                    .bind(id)
                    .execute(self.pool())
                    .await?
            }
            None => {
                sqlx::query("UPDATE outbox SET status = 'failed', last_error = $1 WHERE id = $2")
                    .bind(error)
                    .bind(id)
                    .execute(self.pool())
                    .await?
            }
        };
        Ok(())
    }

    /// Forgets delivered (and skipped) events older than `before_ms`; returns how many.
    pub async fn purge_delivered(&self, before_ms: i64) -> Result<u64, StoreError> {
        Ok(sqlx::query(
            "DELETE FROM outbox WHERE status IN ('delivered', 'skipped') AND delivered_ms < $1",
        )
        .bind(before_ms)
        .execute(self.pool())
        .await?
        .rows_affected())
    }

    /// How many deliveries are pending, done and given up, per target.
    pub async fn outbox_counts(&self) -> Result<Vec<(String, OutboxCounts)>, StoreError> {
        let rows: Vec<(String, String, i64)> = sqlx::query_as(
            "SELECT target, status, COUNT(*) FROM outbox GROUP BY target, status ORDER BY target",
        )
        .fetch_all(self.pool())
        .await?;
        let mut out: Vec<(String, OutboxCounts)> = Vec::new();
        for (target, status, n) in rows {
            if out.last().is_none_or(|(t, _)| *t != target) {
                out.push((target.clone(), OutboxCounts::default()));
            }
            let counts = &mut out.last_mut().expect("pushed above").1;
            match status.as_str() {
                "pending" => counts.pending = n,
                "delivered" => counts.delivered = n,
                "skipped" => counts.skipped = n,
                _ => counts.failed = n,
            }
        }
        Ok(out)
    }

    /// Endpoints with events that gave up (status `failed`), with how many; uses the status
    /// index, so the live queue can ask on every change.
    pub async fn undelivered(&self) -> Result<Vec<(String, i64)>, StoreError> {
        Ok(sqlx::query_as(
            "SELECT target, COUNT(*) FROM outbox WHERE status = 'failed' GROUP BY target ORDER BY target",
        )
        .fetch_all(self.pool())
        .await?)
    }

    /// The outbox rows of a conversation, oldest first: (event id, target, kind, status,
    /// attempts, last error). For the console and tests.
    pub async fn conversation_events(
        &self,
        conversation: &ConversationId,
    ) -> Result<Vec<(String, String, String, String, i64, Option<String>)>, StoreError> {
        Ok(sqlx::query_as(
            "SELECT event_id, target, kind, status, attempts, last_error FROM outbox \
             WHERE conversation_id = $1 ORDER BY id",
        )
        .bind(&conversation.0)
        .fetch_all(self.pool())
        .await?)
    }
}

/// The customer-visible text around an event, for endpoints that take text.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct EventTexts {
    /// The customer's last message up to the event.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub question: Option<String>,
    /// The shop's message the event is about (a reply, a staff answer).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reply: Option<String>,
    /// A satisfaction score's comment.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
}

impl Store {
    /// The texts of an event: `message_id` and `feedback_id` as the event's data names them.
    pub async fn event_texts(
        &self,
        conversation: &ConversationId,
        message_id: Option<i64>,
        feedback_id: Option<i64>,
    ) -> Result<EventTexts, StoreError> {
        let question: Option<String> = sqlx::query_scalar(
            "SELECT text FROM messages WHERE conversation_id = $1 AND role = 'customer' \
             AND id <= COALESCE($2, id) ORDER BY id DESC LIMIT 1",
        )
        .bind(&conversation.0)
        .bind(message_id)
        .fetch_optional(self.pool())
        .await?;
        let reply: Option<String> = match message_id {
            Some(id) => {
                sqlx::query_scalar(
                    "SELECT text FROM messages WHERE id = $1 AND conversation_id = $2 AND role <> 'customer'",
                )
                .bind(id)
                .bind(&conversation.0)
                .fetch_optional(self.pool())
                .await?
            }
            None => None,
        };
        let comment: Option<String> = match feedback_id {
            Some(id) => sqlx::query_scalar(
                "SELECT comment FROM feedback WHERE id = $1 AND conversation_id = $2",
            )
            .bind(id)
            .bind(&conversation.0)
            .fetch_optional(self.pool())
            .await?
            .flatten(),
            None => None,
        };
        Ok(EventTexts {
            question,
            reply,
            comment,
        })
    }
}

impl Store {
    /// Conversations still waiting for a person (handed off and nobody joined, or an answer held
    /// for review) whose last announcement is older than `cutoff_ms` are announced again: a new
    /// event of the same kind with `"repeat": true`. Returns how many.
    pub async fn announce_again(&self, cutoff_ms: i64) -> Result<usize, StoreError> {
        let mut tx = self.write_tx().await?;
        let waiting: Vec<(String, String, i64)> = sqlx::query_as(
            "SELECT c.id, o.kind, MAX(o.created_ms) FROM conversations c \
             JOIN outbox o ON o.conversation_id = c.id AND o.kind = 'handoff' \
             WHERE c.status = 'waiting_staff' GROUP BY c.id, o.kind HAVING MAX(o.created_ms) < $1 \
             UNION ALL \
             SELECT c.id, o.kind, MAX(o.created_ms) FROM conversations c \
             JOIN outbox o ON o.conversation_id = c.id AND o.kind = 'held' \
             WHERE c.status = 'bot' AND EXISTS (SELECT 1 FROM decisions d JOIN messages m ON m.id = d.message_id \
                 WHERE m.conversation_id = c.id AND d.review_status = 'pending' AND d.action = 'hold') \
             GROUP BY c.id, o.kind HAVING MAX(o.created_ms) < $1",
        )
        .bind(cutoff_ms)
        .fetch_all(&mut *tx)
        .await?;
        let mut wrote = false;
        for (conversation, kind, last) in &waiting {
            let conversation = ConversationId(conversation.clone());
            wrote |= self
                .enqueue(
                    &mut tx,
                    NewEvent {
                        kind: kind.parse()?,
                        conversation: Some(&conversation),
                        data: serde_json::json!({ "repeat": true, "last_announced_ms": last }),
                    },
                )
                .await?;
        }
        self.commit_events(tx, wrote).await?;
        Ok(waiting.len())
    }
}
