//! The end-of-conversation survey (did it solve the problem, CSAT, optional NPS) and the feedback
//! staff read on a conversation page: thumbs on answers, the CSAT comment, the survey answers.

use serde::Serialize;
use sqlx::Row;

use super::outbox::{EventKind, NewEvent};
use super::{now_ms, ConversationId, Store, StoreError};

/// What a customer answered at the end; each part is optional, at least one is given.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SurveyAnswer<'a> {
    pub resolved: Option<bool>,
    /// 1-5.
    pub csat: Option<i64>,
    /// 0-10.
    pub nps: Option<i64>,
    /// Kept with the CSAT score (a comment without a score is kept as well).
    pub comment: Option<&'a str>,
}

impl SurveyAnswer<'_> {
    /// The range checks, before anything is written.
    pub fn validate(&self) -> Result<(), StoreError> {
        if self.resolved.is_none() && self.csat.is_none() && self.nps.is_none() {
            return Err(StoreError::Invalid(
                "a survey answer needs `resolved`, `csat` or `nps`",
            ));
        }
        if self.csat.is_some_and(|c| !(1..=5).contains(&c)) {
            return Err(StoreError::Invalid("csat must be between 1 and 5"));
        }
        if self.nps.is_some_and(|n| !(0..=10).contains(&n)) {
            return Err(StoreError::Invalid("nps must be between 0 and 10"));
        }
        Ok(())
    }
}

/// The survey answers stored for a conversation.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Survey {
    pub resolved: Option<bool>,
    pub nps: Option<i64>,
}

/// A thumb on one of the shop's answers, with the answer's text.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ThumbRow {
    pub message_id: i64,
    pub up: bool,
    pub answer: String,
    pub at_ms: i64,
}

/// Everything a customer said about a conversation, for its console page.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct ConversationFeedback {
    pub thumbs: Vec<ThumbRow>,
    pub csat: Option<i64>,
    pub csat_comment: Option<String>,
    pub survey: Survey,
}

impl Store {
    /// Records the customer's survey answers; an answer given again replaces the earlier one,
    /// a part left out keeps what was there. Emits one `feedback` event.
    pub async fn answer_survey(
        &self,
        conversation: &ConversationId,
        answer: SurveyAnswer<'_>,
    ) -> Result<(), StoreError> {
        answer.validate()?;
        let now = now_ms();
        let mut tx = self.write_tx().await?;
        if let Some(score) = answer.csat {
            super::conversations::upsert_csat(&mut tx, conversation, score, answer.comment).await?;
        }
        if answer.resolved.is_some() || answer.nps.is_some() {
            sqlx::query(
                "INSERT INTO surveys (conversation_id, resolved, nps, created_ms, updated_ms) \
                 VALUES ($1, $2, $3, $4, $4) \
                 ON CONFLICT (conversation_id) DO UPDATE SET \
                 resolved = COALESCE(excluded.resolved, surveys.resolved), \
                 nps = COALESCE(excluded.nps, surveys.nps), updated_ms = excluded.updated_ms",
            )
            .bind(&conversation.0)
            .bind(answer.resolved)
            .bind(answer.nps)
            .bind(now)
            .execute(&mut *tx)
            .await?;
        }
        let wrote = self
            .enqueue(
                &mut tx,
                NewEvent {
                    kind: EventKind::Feedback,
                    conversation: Some(conversation),
                    data: serde_json::json!({
                        "kind": "survey",
                        "resolved": answer.resolved,
                        "csat": answer.csat,
                        "nps": answer.nps,
                        "has_comment": answer.comment.is_some_and(|c| !c.trim().is_empty()),
                    }),
                },
            )
            .await?;
        self.commit_events(tx, wrote).await?;
        Ok(())
    }

    /// The survey answers of a conversation (empty when none were given).
    pub async fn survey(&self, conversation: &ConversationId) -> Result<Survey, StoreError> {
        let row = sqlx::query("SELECT resolved, nps FROM surveys WHERE conversation_id = $1")
            .bind(&conversation.0)
            .fetch_optional(self.pool())
            .await?;
        match row {
            Some(r) => Ok(Survey {
                resolved: super::flag(&r, "resolved")?,
                nps: r.try_get("nps")?,
            }),
            None => Ok(Survey::default()),
        }
    }

    /// Thumbs (oldest first), CSAT with its comment and the survey answers of a conversation.
    pub async fn conversation_feedback(
        &self,
        conversation: &ConversationId,
    ) -> Result<ConversationFeedback, StoreError> {
        let rows = sqlx::query(
            "SELECT f.message_id, f.value, f.created_ms, m.text FROM feedback f \
             JOIN messages m ON m.id = f.message_id \
             WHERE f.conversation_id = $1 AND f.kind = 'thumb' ORDER BY f.message_id",
        )
        .bind(&conversation.0)
        .fetch_all(self.pool())
        .await?;
        let thumbs = rows
            .iter()
            .map(|r| {
                Ok(ThumbRow {
                    message_id: r.try_get("message_id")?,
                    up: r.try_get::<i64, _>("value")? > 0,
                    answer: r.try_get("text")?,
                    at_ms: r.try_get("created_ms")?,
                })
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        let csat: Option<(i64, Option<String>)> = sqlx::query_as(
            "SELECT value, comment FROM feedback WHERE conversation_id = $1 AND kind = 'csat'",
        )
        .bind(&conversation.0)
        .fetch_optional(self.pool())
        .await?;
        let (csat, csat_comment) = match csat {
            Some((v, c)) => (Some(v), c),
            None => (None, None),
        };
        Ok(ConversationFeedback {
            thumbs,
            csat,
            csat_comment,
            survey: self.survey(conversation).await?,
        })
    }
}
