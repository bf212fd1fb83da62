//! What the gate decided, stored in one transaction (draft, verdict, decision, reply), the fixed
//! handoff message, staff replies and the audit log of staff actions.

use serde::Serialize;

use super::conversations::{open_status, ShopMessage};
use super::outbox::{EventKind, NewEvent};
use super::{
    json, now_ms, ConversationId, ConversationStatus, Message, Role, SourceLink, Store, StoreError,
};
use crate::assistant::{Action, Outcome, Provenance};

/// One answered customer message: the gate's outcome and the sources shown with the reply.
#[derive(Debug, Clone, Copy)]
pub struct OutcomeRecord<'a> {
    pub customer_message: i64,
    pub outcome: &'a Outcome,
    pub sources: &'a [SourceLink],
    /// What the draft was checked against (see [`crate::assistant::Assistant::references_of`]).
    pub references: &'a super::CheckedAgainst,
}

/// A person's reply in a conversation.
#[derive(Debug, Clone, Copy)]
pub struct StaffReply<'a> {
    pub author: &'a str,
    pub text: &'a str,
}

fn role_of(p: Provenance) -> Role {
    match p {
        Provenance::Canonical | Provenance::Generated => Role::Assistant,
        Provenance::Human => Role::Staff,
        Provenance::System => Role::System,
    }
}

impl Store {
    /// Stores the draft (if any), the reply and the decision with its reasons, atomically; a
    /// handoff also moves the conversation to `waiting_staff`. Returns the reply as stored.
    pub async fn record_outcome(
        &self,
        conversation: &ConversationId,
        rec: OutcomeRecord<'_>,
    ) -> Result<Message, StoreError> {
        let o = rec.outcome;
        let now = now_ms();
        let mut tx = self.write_tx().await?;
        let draft_id: Option<i64> = match &o.draft {
            Some(d) => Some(
                sqlx::query_scalar(
                    "INSERT INTO drafts (message_id, model, text, finish, sources_json, cited_json, canonical_id, \
                     verdict_status, verdict_json, prompt_tokens, completion_tokens, created_ms, references_json) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13) RETURNING id",
                )
                .bind(rec.customer_message)
                .bind(&d.model)
                .bind(&d.text)
                .bind(json(&d.finish).trim_matches('"').to_string())
                .bind(json(&d.sources))
                .bind(json(&d.cited))
                .bind(d.canonical.as_ref().map(|c| c.0.clone()))
                .bind(o.verdict.as_ref().map(|v| v.status.as_str()))
                .bind(o.verdict.as_ref().map(json))
                .bind(d.usage.prompt_tokens as i64)
                .bind(d.usage.generated_tokens as i64)
                .bind(now)
                .bind(json(&rec.references))
                .fetch_one(&mut *tx)
                .await?,
            ),
            None => None,
        };
        let action = o.decision.action.as_str();
        let reply = Store::insert_message(
            &mut *tx,
            conversation,
            &ShopMessage {
                role: role_of(o.reply.provenance),
                provenance: o.reply.provenance,
                text: &o.reply.text,
                reply_to: Some(rec.customer_message),
                sources: rec.sources,
                decision: Some(action),
                author: None,
            },
        )
        .await?;
        let pending =
            matches!(o.decision.action, Action::Hold | Action::Handoff) || o.decision.draft_blocked;
        let decision_id: i64 = sqlx::query_scalar(
            "INSERT INTO decisions (message_id, reply_id, draft_id, action, mode, draft_blocked, reasons_json, \
             canonical_id, canonical_similarity, context_similarity, proposal, triage_json, timings_json, \
             review_status, created_ms) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15) RETURNING id",
        )
        .bind(rec.customer_message)
        .bind(reply.id)
        .bind(draft_id)
        .bind(action)
        .bind(o.decision.mode.as_str())
        .bind(o.decision.draft_blocked)
        .bind(json(&o.decision.reasons))
        .bind(o.canonical.as_ref().map(|c| c.id.0.clone()))
        .bind(o.canonical.as_ref().map(|c| f64::from(c.similarity)))
        .bind(o.context_similarity.map(f64::from))
        .bind(o.proposal.as_deref())
        .bind(json(&o.triage))
        .bind(json(&o.timings))
        .bind(if pending { "pending" } else { "none" })
        .bind(now)
        // Not a cached statement: sqlx 0.8.6's `Any` sends a NULL f64 as a float4, and a
        // PostgreSQL statement prepared with that type rejects the next non-NULL f64 ("incorrect
        // binary data format"). Prepared per call, each gets the type of its own values.
        .persistent(false)
        .fetch_one(&mut *tx)
        .await?;
        let kind = match o.decision.action {
            Action::Handoff => Some(EventKind::Handoff),
            Action::Hold => Some(EventKind::Held),
            Action::NoAnswer => Some(EventKind::NoAnswer),
            Action::Send | Action::SendCanonical => None,
        };
        let mut wrote = false;
        if let Some(kind) = kind {
            audit_in(
                &mut *tx,
                "assistant",
                kind.as_str(),
                Some(conversation),
                &serde_json::json!({ "message_id": rec.customer_message, "decision_id": decision_id }),
            )
            .await?;
            let reasons: Vec<&str> = o.decision.reasons.iter().map(|r| r.code.as_str()).collect();
            wrote = self
                .enqueue(
                    &mut tx,
                    NewEvent {
                        kind,
                        conversation: Some(conversation),
                        data: serde_json::json!({
                            "message_id": rec.customer_message,
                            "decision_id": decision_id,
                            "reply_id": reply.id,
                            "by": "assistant",
                            "reasons": reasons,
                        }),
                    },
                )
                .await?;
        }
        let status = if o.decision.action == Action::Handoff {
            "waiting_staff"
        } else {
            "bot"
        };
        // A conversation a person has already joined stays with them.
        sqlx::query(
            "UPDATE conversations SET updated_ms = $1, \
             status = CASE WHEN status = 'bot' THEN $2 ELSE status END WHERE id = $3",
        )
        .bind(now)
        .bind(status)
        .bind(&conversation.0)
        .execute(&mut *tx)
        .await?;
        self.commit_events(tx, wrote).await?;
        Ok(reply)
    }

    /// The customer asked for a person: the fixed handoff message is stored and the
    /// conversation waits for staff (unless a person is already there).
    pub async fn request_handoff(
        &self,
        conversation: &ConversationId,
        message: &str,
    ) -> Result<(Message, ConversationStatus), StoreError> {
        self.hand_off(conversation, message, None).await
    }

    /// A customer message whose answer was cut by a crash (found at the next start): handed to
    /// a person with the fixed handoff message, so it is neither lost nor silently unanswered.
    pub async fn hand_off_interrupted(
        &self,
        conversation: &ConversationId,
        customer_message: i64,
        message: &str,
    ) -> Result<(Message, ConversationStatus), StoreError> {
        self.hand_off(conversation, message, Some(customer_message))
            .await
    }

    /// A handoff asked by the customer (`interrupted` None) or made for a message whose answer a
    /// crash cut.
    async fn hand_off(
        &self,
        conversation: &ConversationId,
        message: &str,
        interrupted: Option<i64>,
    ) -> Result<(Message, ConversationStatus), StoreError> {
        let (actor, action, reason) = match interrupted {
            None => ("customer", "handoff_requested", "customer.asked"),
            Some(_) => ("recovery", "answer_interrupted", "answer.interrupted"),
        };
        let mut tx = self.write_tx().await?;
        let before = open_status(&mut tx, conversation).await?;
        let next = match before {
            ConversationStatus::Bot => ConversationStatus::WaitingStaff,
            other @ (ConversationStatus::WaitingStaff
            | ConversationStatus::Staff
            | ConversationStatus::Closed) => other,
        };
        let m = Store::insert_message(
            &mut *tx,
            conversation,
            &ShopMessage {
                role: Role::System,
                provenance: Provenance::System,
                text: message,
                reply_to: interrupted,
                sources: &[],
                decision: Some("handoff"),
                author: None,
            },
        )
        .await?;
        sqlx::query("UPDATE conversations SET status = $1, updated_ms = $2 WHERE id = $3")
            .bind(next.as_str())
            .bind(now_ms())
            .bind(&conversation.0)
            .execute(&mut *tx)
            .await?;
        audit_in(
            &mut *tx,
            actor,
            action,
            Some(conversation),
            &serde_json::json!({ "message_id": m.id, "customer_message": interrupted }),
        )
        .await?;
        // Staff are told once, when the conversation starts waiting for them.
        let wrote = if before == ConversationStatus::Bot {
            self.enqueue(
                &mut tx,
                NewEvent {
                    kind: EventKind::Handoff,
                    conversation: Some(conversation),
                    data: serde_json::json!({
                        "message_id": m.id,
                        "by": actor,
                        "reasons": [reason],
                    }),
                },
            )
            .await?
        } else {
            false
        };
        self.commit_events(tx, wrote).await?;
        Ok((m, next))
    }

    /// A person answers in a conversation: the message is stored, the conversation is marked as
    /// with staff, and the action goes to the audit log.
    pub async fn staff_reply(
        &self,
        conversation: &ConversationId,
        reply: StaffReply<'_>,
    ) -> Result<Message, StoreError> {
        let mut tx = self.write_tx().await?;
        open_status(&mut tx, conversation).await?;
        let m = Store::insert_message(
            &mut *tx,
            conversation,
            &ShopMessage {
                role: Role::Staff,
                provenance: Provenance::Human,
                text: reply.text,
                reply_to: None,
                sources: &[],
                decision: None,
                author: Some(reply.author),
            },
        )
        .await?;
        sqlx::query("UPDATE conversations SET status = 'staff', updated_ms = $1 WHERE id = $2")
            .bind(now_ms())
            .bind(&conversation.0)
            .execute(&mut *tx)
            .await?;
        // A person answering resolves what the customer waited on (held drafts, handoffs).
        sqlx::query(
            "UPDATE decisions SET review_status = 'edited', reviewed_by = $1, reviewed_ms = $2, \
             review_note = 'replied as a person', sent_message_id = $3 \
             WHERE review_status = 'pending' AND action IN ('hold', 'handoff') \
             AND message_id IN (SELECT id FROM messages WHERE conversation_id = $4)",
        )
        .bind(reply.author)
        .bind(now_ms())
        .bind(m.id)
        .bind(&conversation.0)
        .execute(&mut *tx)
        .await?;
        audit_in(
            &mut *tx,
            reply.author,
            "staff_reply",
            Some(conversation),
            &serde_json::json!({ "message_id": m.id, "chars": reply.text.chars().count() }),
        )
        .await?;
        let wrote = self
            .enqueue(
                &mut tx,
                NewEvent {
                    kind: EventKind::StaffReply,
                    conversation: Some(conversation),
                    data: serde_json::json!({
                        "message_id": m.id,
                        "author": reply.author,
                        "via": "reply",
                    }),
                },
            )
            .await?;
        self.commit_events(tx, wrote).await?;
        Ok(m)
    }

    /// Records a staff action in the audit log.
    pub async fn audit(
        &self,
        actor: &str,
        action: &str,
        conversation: Option<&ConversationId>,
        detail: &impl Serialize,
    ) -> Result<(), StoreError> {
        audit_in(self.pool(), actor, action, conversation, detail).await
    }

    /// Audit events, newest first: (actor, action, conversation, detail JSON).
    pub async fn audit_events(
        &self,
        limit: i64,
    ) -> Result<Vec<(String, String, Option<String>, String)>, StoreError> {
        Ok(sqlx::query_as(
            "SELECT actor, action, conversation_id, detail_json FROM audit_events ORDER BY id DESC LIMIT $1",
        )
        .bind(limit)
        .fetch_all(self.pool())
        .await?)
    }

    /// Conversations whose newest customer message, written before `before_ms`, has neither a
    /// decision nor a reply while the assistant is answering: a crash cut its answer.
    pub async fn interrupted_turns(
        &self,
        before_ms: i64,
    ) -> Result<Vec<(ConversationId, i64)>, StoreError> {
        let rows: Vec<(String, i64)> = sqlx::query_as(
            "SELECT m.conversation_id, m.id FROM messages m JOIN conversations c ON c.id = m.conversation_id \
             WHERE c.status = 'bot' AND m.role = 'customer' AND m.created_ms < $1 \
             AND m.id = (SELECT MAX(l.id) FROM messages l WHERE l.conversation_id = m.conversation_id) \
             AND NOT EXISTS (SELECT 1 FROM decisions d WHERE d.message_id = m.id) \
             ORDER BY m.id",
        )
        .bind(before_ms)
        .fetch_all(self.pool())
        .await?;
        Ok(rows
            .into_iter()
            .map(|(c, m)| (ConversationId(c), m))
            .collect())
    }

    /// The approved answer the decision on a customer message matched, if any.
    pub async fn decision_canonical(
        &self,
        customer_message: i64,
    ) -> Result<Option<String>, StoreError> {
        Ok(sqlx::query_scalar(
            "SELECT canonical_id FROM decisions WHERE message_id = $1 ORDER BY id DESC LIMIT 1",
        )
        .bind(customer_message)
        .fetch_optional(self.pool())
        .await?
        .flatten())
    }

    /// The draft written for a customer message, if any: (model, text).
    pub async fn draft_for(
        &self,
        customer_message: i64,
    ) -> Result<Option<(String, String)>, StoreError> {
        Ok(sqlx::query_as(
            "SELECT dr.model, dr.text FROM decisions d JOIN drafts dr ON dr.id = d.draft_id \
             WHERE d.message_id = $1 ORDER BY d.id DESC LIMIT 1",
        )
        .bind(customer_message)
        .fetch_optional(self.pool())
        .await?)
    }

    /// The decision stored for a customer message: (action, review status, verdict status).
    pub async fn decision_for(
        &self,
        customer_message: i64,
    ) -> Result<Option<(String, String, Option<String>)>, StoreError> {
        Ok(sqlx::query_as(
            "SELECT d.action, d.review_status, dr.verdict_status FROM decisions d \
             LEFT JOIN drafts dr ON dr.id = d.draft_id WHERE d.message_id = $1 ORDER BY d.id DESC LIMIT 1",
        )
        .bind(customer_message)
        .fetch_optional(self.pool())
        .await?)
    }
}

pub(super) async fn audit_in<'e, E>(
    executor: E,
    actor: &str,
    action: &str,
    conversation: Option<&ConversationId>,
    detail: &impl Serialize,
) -> Result<(), StoreError>
where
    E: sqlx::Executor<'e, Database = sqlx::Any>,
{
    sqlx::query(
        "INSERT INTO audit_events (at_ms, actor, action, conversation_id, detail_json) VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(now_ms())
    .bind(actor)
    .bind(action)
    .bind(conversation.map(|c| c.0.clone()))
    .bind(json(detail))
    .execute(executor)
    .await?;
    Ok(())
}
