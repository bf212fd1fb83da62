//! Answering one stored customer message: a task of its own drives the assistant's turn (so the
//! answer is completed and stored even when the customer's connection drops), maps its events
//! to the message stream's events and stores the outcome.

use std::time::Instant;

use tokio::sync::mpsc;

use super::answer_events::AnswerEvent;
use super::error::ApiError;
use super::state::SharedState;
use crate::assistant::{Outcome, PastMessage, TurnEvent, TurnRequest};
use crate::store::{
    CheckedAgainst, Conversation, ConversationStatus, Message, OutcomeRecord, Role,
};

/// Starts answering `message` (already stored) and returns the events as they happen. The task
/// runs to the end even if the receiver is dropped (a customer who left is not an error).
pub fn spawn_answer(
    state: SharedState,
    conversation: Conversation,
    message: Message,
    received: Instant,
    client: std::net::IpAddr,
) -> mpsc::UnboundedReceiver<AnswerEvent> {
    let (tx, rx) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        let send = |e: AnswerEvent| drop(tx.send(e));
        send(AnswerEvent::Accepted(message.clone()));
        match answer(&state, &conversation, &message, received, client, &send).await {
            Ok(event) => send(event),
            Err(e) => {
                if matches!(e, ApiError::Busy) {
                    state.metrics.busy.inc();
                }
                if let ApiError::Internal(detail) = &e {
                    tracing::error!(conversation = %conversation.id, error = %detail, "answering failed");
                }
                send(AnswerEvent::Error(e.body()));
            }
        }
        state.notify(&conversation.id);
    });
    rx
}

/// Drives the turn and stores its outcome; returns the final event.
async fn answer(
    state: &SharedState,
    conversation: &Conversation,
    message: &Message,
    received: Instant,
    client: std::net::IpAddr,
    send: &impl Fn(AnswerEvent),
) -> Result<AnswerEvent, ApiError> {
    if conversation.status != ConversationStatus::Bot {
        // A person has the conversation: the assistant stays quiet.
        let reason = "with_staff".into();
        return Ok(AnswerEvent::Handoff {
            message: None,
            reason,
        });
    }
    // The latest messages only (`server.history_messages`, plus this one): a long conversation
    // is not read whole again on every message.
    let history = state
        .store
        .recent_messages(&conversation.id, state.settings.history_messages + 1)
        .await?;
    let request = TurnRequest {
        message: message.text.clone(),
        history: history
            .into_iter()
            .filter(|m| m.id != message.id && m.role != Role::System)
            .map(|m| PastMessage {
                from_customer: m.role == Role::Customer,
                text: m.text,
            })
            .collect(),
        slots: conversation.context.clone(),
        lang: conversation.lang,
        client: Some(client.to_string()),
    };
    let mut turn = state.assistant().start_turn(request);
    // One deadline for the whole turn, counted from the signal; then the draft is cut and the
    // turn decides without it (keeping what the customer already read).
    let deadline = state.grace_over();
    tokio::pin!(deadline);
    let (mut cut, mut first_event, mut first_text) = (false, true, true);
    let outcome = loop {
        let event = tokio::select! {
            e = turn.next() => e?,
            () = &mut deadline, if !cut => { turn.cut(); cut = true; continue; }
        };
        let seconds = received.elapsed().as_secs_f64();
        match event {
            Some(TurnEvent::Queued { position }) => {
                if std::mem::take(&mut first_event) {
                    state.metrics.first_event_seconds.observe(seconds);
                }
                send(AnswerEvent::Queued(position));
            }
            Some(TurnEvent::Started) => send(AnswerEvent::Started),
            Some(TurnEvent::Released(text)) => {
                if std::mem::take(&mut first_text) {
                    state.metrics.ttft_seconds.observe(seconds);
                }
                send(AnswerEvent::Token(text));
            }
            Some(TurnEvent::Done(outcome)) => break *outcome,
            None => return Err(ApiError::internal("the turn ended without a decision")),
        }
    };
    record(state, conversation, message, &outcome, received).await
}

/// Stores the outcome and returns the event that tells the customer.
async fn record(
    state: &SharedState,
    conversation: &Conversation,
    message: &Message,
    outcome: &Outcome,
    received: Instant,
) -> Result<AnswerEvent, ApiError> {
    let references = CheckedAgainst {
        canonical: outcome.canonical.as_ref().map(|c| c.answer.clone()),
        context: outcome.references.clone(),
    };
    let record = OutcomeRecord {
        customer_message: message.id,
        outcome,
        sources: &outcome.sources,
        references: &references,
    };
    let reply = state.store.record_outcome(&conversation.id, record).await?;
    state
        .metrics
        .record_outcome(outcome, received.elapsed().as_secs_f64());
    Ok(AnswerEvent::of_reply(&outcome.decision, reply))
}
