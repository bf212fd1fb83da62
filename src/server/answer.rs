//! Answering one stored customer message: the gate (triage, retrieval, queued draft, check,
//! decision) runs in a task of its own, so the answer is completed and stored even when the
//! customer's connection drops; the message stream only listens to it.

use std::time::Instant;

use serde_json::json;
use tokio::sync::mpsc;

use super::error::{ApiError, ErrorBody};
use super::state::SharedState;
use crate::assistant::{Action, Assistant, Begun, Outcome, Provenance, Request, Turn};
use crate::index::Index;
use crate::llm::queue::Event;
use crate::llm::LlmError;
use crate::store::{
    CheckedAgainst, Conversation, ConversationStatus, Message, OutcomeRecord, Role, SourceLink,
};

/// What a message stream tells the customer, in order (see docs/api.md).
#[derive(Debug)]
pub enum AnswerEvent {
    Accepted(Message),
    Queued(usize),
    Started,
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

    /// Whether the stream ends after this event.
    pub fn is_terminal(&self) -> bool {
        matches!(
            self,
            AnswerEvent::Final(_) | AnswerEvent::Handoff { .. } | AnswerEvent::Error(_)
        )
    }
}

/// Starts answering `message` (already stored) and returns the events as they happen. The task
/// runs to the end even if the receiver is dropped.
pub fn spawn_answer(
    state: SharedState,
    conversation: Conversation,
    message: Message,
    received: Instant,
) -> mpsc::UnboundedReceiver<AnswerEvent> {
    let (tx, rx) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        let id = conversation.id.clone();
        let out = Out { tx };
        out.send(AnswerEvent::Accepted(message.clone()));
        if let Err(e) = answer(&state, &conversation, &message, received, &out).await {
            if matches!(e, ApiError::Busy) {
                state.metrics.busy.inc();
            }
            out.send(AnswerEvent::Error(e.body()));
            if let ApiError::Internal(detail) = &e {
                tracing::error!(conversation = %id, error = %detail, "answering failed");
            }
        }
        state.notify(&id);
    });
    rx
}

/// The sending half; a customer who left is not an error.
struct Out {
    tx: mpsc::UnboundedSender<AnswerEvent>,
}

impl Out {
    fn send(&self, e: AnswerEvent) {
        let _ = self.tx.send(e);
    }
}

async fn answer(
    state: &SharedState,
    conversation: &Conversation,
    message: &Message,
    received: Instant,
    out: &Out,
) -> Result<(), ApiError> {
    if conversation.status != ConversationStatus::Bot {
        // A person has the conversation: the assistant stays quiet.
        out.send(AnswerEvent::Handoff {
            message: None,
            reason: "with_staff".into(),
        });
        return Ok(());
    }
    let history: Vec<Turn> = state
        .store
        .messages_after(&conversation.id, 0)
        .await?
        .into_iter()
        .filter(|m| m.id != message.id && m.role != Role::System)
        .map(|m| Turn {
            from_customer: m.role == Role::Customer,
            text: m.text,
        })
        .collect();
    let assistant = state.assistant();
    let req_text = message.text.clone();
    let slots = conversation.context.clone();
    let lang = conversation.lang;
    let triage = assistant.triage(&Request {
        message: &req_text,
        history: &history,
        slots: &slots,
        lang,
    });
    if !triage.handoff {
        // The customer hears at once where they stand; the queue refines it.
        let (waiting, _) = assistant.drafter.queue().load();
        out.send(AnswerEvent::Queued(waiting + 1));
        state
            .metrics
            .first_event_seconds
            .observe(received.elapsed().as_secs_f64());
    }
    let begun = {
        let assistant = assistant.clone();
        let (req_text, slots) = (req_text.clone(), slots.clone());
        tokio::task::spawn_blocking(move || {
            assistant.begin_triaged(
                &Request {
                    message: &req_text,
                    history: &history,
                    slots: &slots,
                    lang,
                },
                triage,
            )
        })
        .await
        .map_err(ApiError::internal)?
    };
    let outcome = match begun {
        Ok(Begun::Done(outcome)) => *outcome,
        Ok(Begun::Drafting {
            pending,
            mut ticket,
        }) => {
            let mut checked = state
                .settings
                .stream_checked_text
                .then(|| assistant.checked_stream(&pending));
            let mut completion = None;
            let mut first_token = true;
            // One deadline for the whole draft, counted from the signal: a new one per event
            // would restart the grace with every token, and the process's own stop would cut
            // the stream.
            let deadline = state.grace_over();
            tokio::pin!(deadline);
            loop {
                let event = tokio::select! {
                    e = ticket.next() => e,
                    () = &mut deadline => {
                        return Err(ApiError::ShuttingDown);
                    }
                };
                match event {
                    Some(Event::Queued { position }) => out.send(AnswerEvent::Queued(position)),
                    Some(Event::Started) => out.send(AnswerEvent::Started),
                    Some(Event::Text(piece)) => {
                        if first_token {
                            first_token = false;
                            state
                                .metrics
                                .ttft_seconds
                                .observe(received.elapsed().as_secs_f64());
                        }
                        if let Some(text) = checked.as_mut().and_then(|c| c.push(&piece)) {
                            out.send(AnswerEvent::Token(text));
                        }
                    }
                    Some(Event::Done(c)) => {
                        completion = Some(c);
                        break;
                    }
                    Some(Event::Failed(e)) => {
                        tracing::warn!(error = %e, "generation failed; the gate decides without a draft");
                        break;
                    }
                    None => break,
                }
            }
            let assistant = assistant.clone();
            tokio::task::spawn_blocking(move || assistant.finish(*pending, completion))
                .await
                .map_err(ApiError::internal)?
        }
        Err(crate::Error::Llm(e)) if matches!(*e, LlmError::Busy { .. }) => {
            return Err(ApiError::Busy)
        }
        Err(crate::Error::Answer(e))
            if matches!(*e, crate::answer::AnswerError::QuestionTooLong { .. }) =>
        {
            return Err(ApiError::InvalidMessage(e.to_string()))
        }
        Err(e) => return Err(ApiError::internal(e)),
    };
    record(
        state,
        &assistant,
        conversation,
        message,
        &outcome,
        received,
        out,
    )
    .await
}

/// Stores the outcome and tells the customer.
async fn record(
    state: &SharedState,
    assistant: &Assistant,
    conversation: &Conversation,
    message: &Message,
    outcome: &Outcome,
    received: Instant,
    out: &Out,
) -> Result<(), ApiError> {
    let sources = reply_sources(assistant, outcome);
    let references = CheckedAgainst {
        canonical: outcome.canonical.as_ref().map(|c| c.answer.clone()),
        context: outcome
            .draft
            .as_ref()
            .map(|d| assistant.references_of(d))
            .unwrap_or_default(),
    };
    let reply = state
        .store
        .record_outcome(
            &conversation.id,
            OutcomeRecord {
                customer_message: message.id,
                outcome,
                sources: &sources,
                references: &references,
            },
        )
        .await?;
    let m = &state.metrics;
    m.messages_stored.inc();
    m.decisions
        .get_or_create(&super::metrics::Metrics::kind(
            outcome.decision.action.as_str(),
        ))
        .inc();
    m.answer_seconds.observe(received.elapsed().as_secs_f64());
    if let Some(d) = &outcome.draft {
        m.generated_tokens.inc_by(d.usage.generated_tokens as u64);
        if d.usage.gen_tok_s.is_finite() && d.usage.gen_tok_s > 0.0 {
            m.gen_tokens_per_second.observe(d.usage.gen_tok_s);
        }
    }
    if outcome.decision.action == Action::Handoff {
        let reason = outcome
            .decision
            .reasons
            .first()
            .map(|r| r.code.trim_start_matches("triage.").to_string())
            .unwrap_or_else(|| "handoff".into());
        out.send(AnswerEvent::Handoff {
            message: Some(reply),
            reason,
        });
    } else {
        out.send(AnswerEvent::Final(reply));
    }
    Ok(())
}

/// The sources shown with a reply: the passages a sent draft cites (else those it was written
/// from), or the articles an approved answer names; none for fixed messages.
pub fn reply_sources(assistant: &Assistant, outcome: &Outcome) -> Vec<SourceLink> {
    let index: &Index = &assistant.pipeline.index;
    let mut links: Vec<SourceLink> = Vec::new();
    let mut push = |title: &str, url: Option<&str>| {
        if !links
            .iter()
            .any(|l| l.title == title && l.url.as_deref() == url)
        {
            links.push(SourceLink {
                title: title.to_string(),
                url: url.map(str::to_string),
            });
        }
    };
    match outcome.reply.provenance {
        Provenance::Generated => {
            if let Some(d) = &outcome.draft {
                let cited: Vec<_> = d
                    .sources
                    .iter()
                    .filter(|s| d.cited.contains(&s.chunk))
                    .collect();
                let shown = if cited.is_empty() {
                    d.sources.iter().collect()
                } else {
                    cited
                };
                for s in shown {
                    push(&s.title, s.url.as_deref());
                }
            }
        }
        Provenance::Canonical => {
            if let Some(c) = outcome
                .canonical
                .as_ref()
                .and_then(|m| index.canonicals.iter().find(|c| c.id == m.id))
            {
                for doc in &c.sources {
                    if let Some(chunk) = index.chunks.iter().find(|ch| &ch.doc == doc) {
                        push(&chunk.title, chunk.url.as_deref());
                    }
                }
            }
        }
        Provenance::Human | Provenance::System => {}
    }
    links
}
