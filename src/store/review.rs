//! The review queue: decisions waiting for staff (held and copilot drafts, handoffs, blocked
//! drafts), one item with everything the checker saw, and the review actions, each claimed once.

use serde::{Deserialize, Serialize};
use sqlx::Row;

use super::conversations::{open_status, ShopMessage};
use super::outbox::{EventKind, NewEvent};
use super::records::audit_in;
use super::{
    now_ms, parse_json, ConversationId, ConversationStatus, Message, Role, SourceLink, Store,
    StoreError,
};
use crate::assistant::Provenance;
use crate::check::Verdict;

/// What a draft was checked against, stored with it: the approved answer (slots unfilled, as
/// the checker read it) and the passages its `Context(n)` references count.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CheckedAgainst {
    #[serde(default)]
    pub canonical: Option<String>,
    /// Empty for drafts stored before format 2, which did not keep them.
    #[serde(default)]
    pub context: Vec<String>,
}

/// Why an item waits for staff.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReviewKind {
    /// A draft the policy held (autopilot): the customer was told a colleague will check.
    Held,
    /// Copilot mode: every draft waits for approval.
    Copilot,
    /// Handed to a person by a rule or the customer; no draft.
    Handoff,
    /// The customer got the approved answer; the blocked draft is kept to tune the checker.
    Blocked,
}

text_enum!(ReviewKind, "review kind", {
    ReviewKind::Held => "held",
    ReviewKind::Copilot => "copilot",
    ReviewKind::Handoff => "handoff",
    ReviewKind::Blocked => "blocked",
});

impl ReviewKind {
    /// Whether the customer still waits for this item's answer.
    pub fn customer_waits(self) -> bool {
        match self {
            ReviewKind::Held | ReviewKind::Copilot | ReviewKind::Handoff => true,
            ReviewKind::Blocked => false,
        }
    }
}

/// One line of the queue.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ReviewSummary {
    pub decision_id: i64,
    pub conversation_id: ConversationId,
    pub conversation_status: ConversationStatus,
    pub kind: ReviewKind,
    /// The gate's action (`hold`, `handoff`, `send_canonical`...).
    pub action: String,
    pub question: String,
    pub verdict_status: Option<String>,
    pub canonical_id: Option<String>,
    /// 0-3: a waiting customer counts 2, a contradiction 1.
    pub risk: i64,
    pub created_ms: i64,
}

/// One item with everything the console shows.
#[derive(Debug, Clone, Serialize)]
pub struct ReviewItem {
    #[serde(flatten)]
    pub summary: ReviewSummary,
    pub review_status: String,
    pub reviewed_by: Option<String>,
    pub review_note: Option<String>,
    /// The message a review sent (approved or edited text, or a person's reply).
    pub sent_message_id: Option<i64>,
    pub question_message_id: i64,
    /// What the customer was sent when the gate decided.
    pub reply: Option<Message>,
    pub draft_text: Option<String>,
    pub draft_model: Option<String>,
    pub verdict: Option<Verdict>,
    pub checked_against: CheckedAgainst,
    /// The passages the draft was written from (title, link).
    pub draft_sources: Vec<SourceLink>,
    /// The text staff approve for a held draft (slots filled).
    pub proposal: Option<String>,
    pub canonical_similarity: Option<f64>,
    pub reasons: serde_json::Value,
    /// The whole conversation, oldest first.
    pub messages: Vec<Message>,
}

impl ReviewItem {
    /// The text "approve and send" would send: the proposal, else the draft.
    pub fn approvable_text(&self) -> Option<&str> {
        self.proposal
            .as_deref()
            .or(self.draft_text.as_deref())
            .filter(|t| !t.trim().is_empty())
    }
}

/// A staff decision on an item.
#[derive(Debug, Clone, PartialEq)]
pub enum ReviewAction {
    /// Send the proposal (or the draft) as it is; for a blocked draft, mark the block a false
    /// alarm (the customer already has the approved answer, nothing is sent).
    Approve,
    /// Send this text instead, as a person.
    Edit(String),
    /// Send nothing, for this reason; a waiting customer is left to a person.
    Reject(String),
}

/// What a review did.
#[derive(Debug, Clone, Serialize)]
pub struct Reviewed {
    pub decision_id: i64,
    pub conversation_id: ConversationId,
    pub status: &'static str,
    /// The message sent to the customer, if any.
    pub sent: Option<Message>,
}

const KIND_SQL: &str = "CASE WHEN d.action = 'handoff' THEN 'handoff' \
     WHEN d.action = 'hold' AND d.mode = 'copilot' THEN 'copilot' \
     WHEN d.action = 'hold' THEN 'held' ELSE 'blocked' END";

const RISK_SQL: &str = "((CASE WHEN d.action IN ('hold', 'handoff') THEN 2 ELSE 0 END) + \
     (CASE WHEN dr.verdict_status = 'contradiction' THEN 1 ELSE 0 END))";

fn summary_columns() -> String {
    format!(
        "d.id AS decision_id, m.conversation_id, c.status AS conversation_status, {KIND_SQL} AS kind, \
         d.action, m.text AS question, dr.verdict_status, d.canonical_id, {RISK_SQL} AS risk, \
         d.created_ms"
    )
}

const SUMMARY_FROM: &str = "FROM decisions d JOIN messages m ON m.id = d.message_id \
     JOIN conversations c ON c.id = m.conversation_id LEFT JOIN drafts dr ON dr.id = d.draft_id";

fn summary_row(row: &sqlx::any::AnyRow) -> Result<ReviewSummary, StoreError> {
    let status: String = row.try_get("conversation_status")?;
    let kind: String = row.try_get("kind")?;
    Ok(ReviewSummary {
        decision_id: row.try_get("decision_id")?,
        conversation_id: ConversationId(row.try_get("conversation_id")?),
        conversation_status: status.parse()?,
        kind: kind.parse()?,
        action: row.try_get("action")?,
        question: row.try_get("question")?,
        verdict_status: row.try_get("verdict_status")?,
        canonical_id: row.try_get("canonical_id")?,
        risk: row.try_get("risk")?,
        created_ms: row.try_get("created_ms")?,
    })
}

impl Store {
    /// Pending items, riskiest first and oldest first within a risk (the longest wait is
    /// answered first), with the number pending.
    pub async fn review_queue(&self, limit: i64) -> Result<(Vec<ReviewSummary>, i64), StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {} {SUMMARY_FROM} WHERE d.review_status = 'pending' \
             ORDER BY risk DESC, d.created_ms, d.id LIMIT $1",
            summary_columns()
        ))
        .bind(limit)
        .fetch_all(self.pool())
        .await?;
        let total: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM decisions WHERE review_status = 'pending'")
                .fetch_one(self.pool())
                .await?;
        Ok((
            rows.iter().map(summary_row).collect::<Result<_, _>>()?,
            total,
        ))
    }

    /// Conversations a person has or should have: those still waiting for one first, then those
    /// a person joined; the longest untouched first in each.
    pub async fn staff_conversations(
        &self,
        limit: i64,
    ) -> Result<Vec<(ConversationId, ConversationStatus, i64, String)>, StoreError> {
        let rows = sqlx::query(
            "SELECT c.id, c.status, c.updated_ms, \
             COALESCE((SELECT text FROM messages WHERE conversation_id = c.id AND role = 'customer' \
                       ORDER BY id DESC LIMIT 1), '') AS last_question \
             FROM conversations c WHERE c.status IN ('waiting_staff', 'staff') \
             ORDER BY CASE c.status WHEN 'waiting_staff' THEN 0 ELSE 1 END, c.updated_ms LIMIT $1",
        )
        .bind(limit)
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|r| {
                let status: String = r.try_get("status")?;
                Ok((
                    ConversationId(r.try_get("id")?),
                    status.parse()?,
                    r.try_get("updated_ms")?,
                    r.try_get("last_question")?,
                ))
            })
            .collect()
    }

    /// How many conversations wait for a person (handed off, nobody joined yet).
    pub async fn waiting_for_person(&self) -> Result<i64, StoreError> {
        Ok(
            sqlx::query_scalar("SELECT COUNT(*) FROM conversations WHERE status = 'waiting_staff'")
                .fetch_one(self.pool())
                .await?,
        )
    }

    /// One item (pending or already reviewed) with its conversation.
    pub async fn review_item(&self, decision_id: i64) -> Result<ReviewItem, StoreError> {
        let row = sqlx::query(&format!(
            "SELECT {}, d.review_status, d.reviewed_by, d.review_note, d.sent_message_id, d.message_id, d.reply_id, \
             d.proposal, d.canonical_similarity, d.reasons_json, dr.text AS draft_text, \
             dr.model AS draft_model, dr.verdict_json, dr.references_json, dr.sources_json \
             {SUMMARY_FROM} WHERE d.id = $1",
            summary_columns()
        ))
        .bind(decision_id)
        .fetch_optional(self.pool())
        .await?
        .ok_or_else(|| StoreError::NotFound {
            what: "review item",
            id: decision_id.to_string(),
        })?;
        let summary = summary_row(&row)?;
        let verdict: Option<String> = row.try_get("verdict_json")?;
        let references: Option<String> = row.try_get("references_json")?;
        let sources: Option<String> = row.try_get("sources_json")?;
        let reasons: String = row.try_get("reasons_json")?;
        let reply_id: Option<i64> = row.try_get("reply_id")?;
        let messages = self.messages_after(&summary.conversation_id, 0).await?;
        let reply = reply_id.and_then(|id| messages.iter().find(|m| m.id == id).cloned());
        Ok(ReviewItem {
            review_status: row.try_get("review_status")?,
            reviewed_by: row.try_get("reviewed_by")?,
            review_note: row.try_get("review_note")?,
            sent_message_id: row.try_get("sent_message_id")?,
            question_message_id: row.try_get("message_id")?,
            reply,
            draft_text: row.try_get("draft_text")?,
            draft_model: row.try_get("draft_model")?,
            verdict: verdict
                .map(|v| parse_json("draft verdict", &v))
                .transpose()?,
            checked_against: references
                .map(|r| parse_json("draft references", &r))
                .transpose()?
                .unwrap_or_default(),
            draft_sources: sources
                .map(|s| parse_json::<Vec<DraftSource>>("draft sources", &s))
                .transpose()?
                .unwrap_or_default()
                .into_iter()
                .map(|s| SourceLink {
                    title: s.title,
                    url: s.url,
                })
                .collect(),
            proposal: row.try_get("proposal")?,
            canonical_similarity: row.try_get("canonical_similarity")?,
            reasons: parse_json("decision reasons", &reasons)?,
            messages,
            summary,
        })
    }

    /// Applies `action` to a pending item, once: when two staff act on the same item, the second
    /// gets [`StoreError::AlreadyReviewed`] and nothing is sent twice. The action, any message
    /// sent and the audit entry commit together.
    pub async fn review(
        &self,
        decision_id: i64,
        actor: &str,
        action: &ReviewAction,
    ) -> Result<Reviewed, StoreError> {
        // Read outside the write lock; the claim below is what decides.
        let item = self.review_item(decision_id).await?;
        let kind = item.summary.kind;
        let conversation = item.summary.conversation_id.clone();
        let (status, note, text) = match action {
            ReviewAction::Approve if kind == ReviewKind::Blocked => ("approved", None, None),
            ReviewAction::Approve => {
                let text = item.approvable_text().ok_or(StoreError::Invalid(
                    "there is no draft to approve; reply instead",
                ))?;
                ("approved", None, Some(text.to_string()))
            }
            ReviewAction::Edit(text) => {
                if text.trim().is_empty() {
                    return Err(StoreError::Invalid("the edited answer is empty"));
                }
                ("edited", None, Some(text.trim().to_string()))
            }
            ReviewAction::Reject(reason) => {
                if reason.trim().is_empty() {
                    return Err(StoreError::Invalid("a rejection needs a reason"));
                }
                ("rejected", Some(reason.trim().to_string()), None)
            }
        };
        let now = now_ms();
        let mut tx = self.write_tx().await?;
        let claimed = sqlx::query(
            "UPDATE decisions SET review_status = $1, reviewed_by = $2, reviewed_ms = $3, review_note = $4 \
             WHERE id = $5 AND review_status = 'pending'",
        )
        .bind(status)
        .bind(actor)
        .bind(now)
        .bind(note.as_deref())
        .bind(decision_id)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if claimed == 0 {
            let (status, by): (String, Option<String>) =
                sqlx::query_as("SELECT review_status, reviewed_by FROM decisions WHERE id = $1")
                    .bind(decision_id)
                    .fetch_one(&mut *tx)
                    .await?;
            return Err(StoreError::AlreadyReviewed {
                status,
                by: by.unwrap_or_else(|| "nobody".into()),
            });
        }
        let sent = match &text {
            Some(text) => {
                let current = open_status(&mut tx, &conversation).await?;
                let approved = matches!(action, ReviewAction::Approve);
                let m = Store::insert_message(
                    &mut *tx,
                    &conversation,
                    &ShopMessage {
                        // An approved draft is still the assistant's text; an edited one a
                        // person's.
                        role: if approved {
                            Role::Assistant
                        } else {
                            Role::Staff
                        },
                        provenance: if approved {
                            Provenance::Generated
                        } else {
                            Provenance::Human
                        },
                        text,
                        reply_to: Some(item.question_message_id),
                        sources: if approved { &item.draft_sources } else { &[] },
                        decision: Some(status),
                        author: Some(actor),
                    },
                )
                .await?;
                sqlx::query("UPDATE decisions SET sent_message_id = $1 WHERE id = $2")
                    .bind(m.id)
                    .bind(decision_id)
                    .execute(&mut *tx)
                    .await?;
                // A person answering a handed-off conversation joins it.
                let next = if kind == ReviewKind::Handoff && !approved {
                    ConversationStatus::Staff
                } else {
                    current
                };
                sqlx::query("UPDATE conversations SET status = $1, updated_ms = $2 WHERE id = $3")
                    .bind(next.as_str())
                    .bind(now)
                    .bind(&conversation.0)
                    .execute(&mut *tx)
                    .await?;
                Some(m)
            }
            None if kind.customer_waits() => {
                // Rejected while the customer waits: a person takes the conversation over.
                sqlx::query(
                    "UPDATE conversations SET status = 'waiting_staff', updated_ms = $1 \
                     WHERE id = $2 AND status = 'bot'",
                )
                .bind(now)
                .bind(&conversation.0)
                .execute(&mut *tx)
                .await?;
                None
            }
            None => None,
        };
        audit_in(
            &mut *tx,
            actor,
            &format!("review_{status}"),
            Some(&conversation),
            &serde_json::json!({
                "decision_id": decision_id,
                "kind": kind.as_str(),
                "message_id": sent.as_ref().map(|m| m.id),
                "reason": note,
            }),
        )
        .await?;
        let wrote = match &sent {
            Some(m) => {
                self.enqueue(
                    &mut tx,
                    NewEvent {
                        kind: EventKind::StaffReply,
                        conversation: Some(&conversation),
                        data: serde_json::json!({
                            "message_id": m.id,
                            "author": actor,
                            "via": "review",
                            "review": status,
                            "decision_id": decision_id,
                        }),
                    },
                )
                .await?
            }
            None => false,
        };
        self.commit_events(tx, wrote).await?;
        Ok(Reviewed {
            decision_id,
            conversation_id: conversation,
            status,
            sent,
        })
    }

    /// Staff close a conversation: items the customer waited on are resolved as rejected.
    pub async fn close_by_staff(
        &self,
        conversation: &ConversationId,
        actor: &str,
    ) -> Result<(), StoreError> {
        let now = now_ms();
        let mut tx = self.write_tx().await?;
        open_status(&mut tx, conversation).await?;
        let resolved = sqlx::query(
            "UPDATE decisions SET review_status = 'rejected', reviewed_by = $1, reviewed_ms = $2, \
             review_note = 'conversation closed' \
             WHERE review_status = 'pending' AND action IN ('hold', 'handoff') \
             AND message_id IN (SELECT id FROM messages WHERE conversation_id = $3)",
        )
        .bind(actor)
        .bind(now)
        .bind(&conversation.0)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        sqlx::query(
            "UPDATE conversations SET status = 'closed', updated_ms = $1, closed_ms = $1 WHERE id = $2",
        )
        .bind(now)
        .bind(&conversation.0)
        .execute(&mut *tx)
        .await?;
        audit_in(
            &mut *tx,
            actor,
            "close_conversation",
            Some(conversation),
            &serde_json::json!({ "resolved_items": resolved }),
        )
        .await?;
        let wrote = self
            .enqueue(
                &mut tx,
                NewEvent {
                    kind: EventKind::Closed,
                    conversation: Some(conversation),
                    data: serde_json::json!({ "by": "staff", "author": actor }),
                },
            )
            .await?;
        self.commit_events(tx, wrote).await?;
        Ok(())
    }
}

/// The part of a stored draft source the console shows.
#[derive(Deserialize)]
struct DraftSource {
    title: String,
    #[serde(default)]
    url: Option<String>,
}

/// A stored knowledge change report.
#[derive(Debug, Clone, Serialize)]
pub struct KnowledgeReportRow {
    pub id: i64,
    pub at_ms: i64,
    pub actor: String,
    pub report: serde_json::Value,
}

impl Store {
    /// Keeps the report of a knowledge change (with its audit entry); returns its id.
    pub async fn save_knowledge_report(
        &self,
        actor: &str,
        action: &str,
        report: &impl Serialize,
    ) -> Result<i64, StoreError> {
        let mut tx = self.write_tx().await?;
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO knowledge_reports (at_ms, actor, report_json) VALUES ($1, $2, $3) RETURNING id",
        )
        .bind(now_ms())
        .bind(actor)
        .bind(super::json(report))
        .fetch_one(&mut *tx)
        .await?;
        audit_in(
            &mut *tx,
            actor,
            action,
            None,
            &serde_json::json!({ "report_id": id }),
        )
        .await?;
        tx.commit().await?;
        Ok(id)
    }

    /// The latest knowledge change reports, newest first.
    pub async fn knowledge_reports(
        &self,
        limit: i64,
    ) -> Result<Vec<KnowledgeReportRow>, StoreError> {
        let rows: Vec<(i64, i64, String, String)> = sqlx::query_as(
            "SELECT id, at_ms, actor, report_json FROM knowledge_reports ORDER BY id DESC LIMIT $1",
        )
        .bind(limit)
        .fetch_all(self.pool())
        .await?;
        rows.into_iter()
            .map(|(id, at_ms, actor, json)| {
                Ok(KnowledgeReportRow {
                    id,
                    at_ms,
                    actor,
                    report: parse_json("knowledge report", &json)?,
                })
            })
            .collect()
    }
}
