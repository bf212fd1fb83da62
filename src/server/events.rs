//! The events stream of a conversation: every message after the client's last one (a person's
//! reply, an answer approved by staff, an answer completed after a disconnect) and status
//! changes. Same-process writes wake it at once; other writers are found by polling.

use std::convert::Infallible;
use std::time::Duration;

use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::response::sse::Event as SseEvent;
use axum::response::IntoResponse;
use serde::Deserialize;
use serde_json::json;
use tokio::sync::{broadcast, mpsc};
use tokio_stream::wrappers::ReceiverStream;

use super::chat::{sse, Authorized};
use super::error::ApiError;
use super::metrics::StreamGuard;
use super::state::SharedState;
use crate::store::{ConversationId, ConversationStatus};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EventsQuery {
    #[serde(default)]
    after: Option<i64>,
}

pub async fn events(
    State(state): State<SharedState>,
    headers: HeaderMap,
    extensions: axum::http::Extensions,
    Authorized(conversation): Authorized,
    query: Result<Query<EventsQuery>, QueryRejection>,
) -> Result<impl IntoResponse, ApiError> {
    let Query(query) = query?;
    if state.is_shutting_down() {
        return Err(ApiError::ShuttingDown);
    }
    let last_event_id = headers
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<i64>().ok());
    let after = query.after.or(last_event_id).unwrap_or(0).max(0);
    let (tx, rx) = mpsc::channel(32);
    let ip = state.client_ip(&headers, &extensions);
    let (guard, place) = state.customer_stream("events", &conversation.id, ip)?;
    let wake = state.changed.subscribe();
    // A stream cannot be held forever: it ends after stream_max_minutes (the pump and its
    // sender are dropped) and the widget reconnects from its last event.
    let lifetime = Duration::from_secs(state.settings.stream_max_minutes * 60);
    let pumped = pump(
        state.clone(),
        conversation.id,
        conversation.status,
        after,
        wake,
        tx,
        guard,
    );
    tokio::spawn(async move {
        let _place = place;
        let _ = tokio::time::timeout(lifetime, pumped).await;
    });
    Ok(sse(ReceiverStream::new(rx), state.settings.keepalive_s))
}

/// Sends what is new until the client leaves or the server stops.
async fn pump(
    state: SharedState,
    id: ConversationId,
    mut status: ConversationStatus,
    mut after: i64,
    mut wake: broadcast::Receiver<ConversationId>,
    tx: mpsc::Sender<Result<SseEvent, Infallible>>,
    _guard: StreamGuard,
) {
    let poll = Duration::from_millis(state.settings.events_poll_ms);
    loop {
        match deliver(&state, &id, &mut status, &mut after, &tx).await {
            Ok(true) => {}
            Ok(false) => return,
            Err(e) => {
                tracing::warn!(conversation = %id, error = %e, "events stream ended on a store error");
                return;
            }
        }
        // Wait for a change of this conversation, the poll interval, the client leaving or
        // the server stopping.
        let deadline = tokio::time::sleep(poll);
        tokio::pin!(deadline);
        loop {
            tokio::select! {
                changed = wake.recv() => match changed {
                    Ok(c) if c == id => break,
                    Ok(_) => continue,
                    // Missed notifications: look now.
                    Err(broadcast::error::RecvError::Lagged(_)) => break,
                    Err(broadcast::error::RecvError::Closed) => return,
                },
                () = &mut deadline => break,
                () = tx.closed() => return,
                _ = state.shutting_down() => return,
            }
        }
    }
}

/// Sends new messages and a changed status; `false` once the client is gone.
async fn deliver(
    state: &SharedState,
    id: &ConversationId,
    status: &mut ConversationStatus,
    after: &mut i64,
    tx: &mpsc::Sender<Result<SseEvent, Infallible>>,
) -> Result<bool, ApiError> {
    let before = *after;
    for m in state.store.messages_for_customer(id, *after).await? {
        *after = m.id;
        let data = serde_json::to_string(&m).map_err(ApiError::internal)?;
        let event = SseEvent::default()
            .event("message")
            .id(m.id.to_string())
            .data(data);
        if tx.send(Ok(event)).await.is_err() {
            return Ok(false);
        }
    }
    if *after > before {
        // The customer's widget has these now: a person's reply among them needs no e-mail.
        state.store.mark_seen(id, *after).await?;
    }
    let now = state.store.conversation(&id.0).await?.status;
    if now != *status {
        *status = now;
        let event = SseEvent::default()
            .event("status")
            .data(json!({ "status": now }).to_string());
        if tx.send(Ok(event)).await.is_err() {
            return Ok(false);
        }
    }
    Ok(true)
}
