//! The events of a message stream, in order (docs/api.md): accepted, queued, started, the released
//! text (`token`), and one terminal event (`final`, `handoff` or `error`), with their SSE form.

use serde_json::json;

use super::error::ErrorBody;
use crate::assistant::{Action, Decision};
use crate::store::Message;

/// What a message stream tells the customer, in order (see docs/api.md).
#[derive(Debug)]
pub enum AnswerEvent {
    Accepted(Message),
    Queued(usize),
    Started,
    /// Text the customer keeps: the final message begins with every token sent before it.
    Token(String),
    Final(Message),
    Handoff {
        message: Option<Message>,
        reason: String,
    },
    Error(ErrorBody),
}

impl AnswerEvent {
    /// The SSE event name and JSON data.
    pub fn to_sse(&self) -> (&'static str, serde_json::Value) {
        match self {
            AnswerEvent::Accepted(m) => (
                "accepted",
                json!({ "message_id": m.id, "created_at": m.created_at }),
            ),
            AnswerEvent::Queued(position) => ("queued", json!({ "position": position })),
            AnswerEvent::Started => ("started", json!({})),
            AnswerEvent::Token(text) => ("token", json!({ "text": text })),
            AnswerEvent::Final(m) => {
                let mut v = serde_json::to_value(m).expect("a message serializes");
                v["message_id"] = json!(m.id);
                ("final", v)
            }
            AnswerEvent::Handoff { message, reason } => (
                "handoff",
                json!({
                    "message_id": message.as_ref().map(|m| m.id),
                    "text": message.as_ref().map(|m| m.text.as_str()),
                    "reason": reason,
                }),
            ),
            AnswerEvent::Error(body) => ("error", json!(body)),
        }
    }

    /// The terminal event for a stored reply: `handoff` (with the rule that fired) or `final`.
    pub fn of_reply(decision: &Decision, reply: Message) -> AnswerEvent {
        if decision.action == Action::Handoff {
            let reason = decision
                .reasons
                .first()
                .map_or("handoff", |r| r.code.trim_start_matches("triage."));
            AnswerEvent::Handoff {
                message: Some(reply),
                reason: reason.to_string(),
            }
        } else {
            AnswerEvent::Final(reply)
        }
    }

    /// Whether the stream ends after this event.
    pub fn is_terminal(&self) -> bool {
        matches!(
            self,
            AnswerEvent::Final(_) | AnswerEvent::Handoff { .. } | AnswerEvent::Error(_)
        )
    }
}
