//! The live queue: a server-sent events stream of the review queue and the conversations waiting
//! for a person, for signed-in staff; sent on connect and again whenever it changes.
//!
//! One task computes the queue once per change (changes made by this process wake it at once,
//! other writers are found by polling `server.events_poll_ms`) and every open stream forwards the
//! same snapshot, so fifty consoles cost one query per change, not fifty. A stream ends when its
//! staff session expires.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::response::sse::Event as SseEvent;
use axum::response::IntoResponse;
use tokio::sync::{broadcast, mpsc, watch};
use tokio_stream::wrappers::ReceiverStream;

use super::auth::Staff;
use super::pages::queue_ctx;
use crate::server::chat::sse;
use crate::server::error::ApiError;
use crate::server::metrics::StreamGuard;
use crate::server::state::SharedState;
use crate::store::now_ms;

/// Changes closer together than this are sent as one update.
const COALESCE: Duration = Duration::from_millis(50);

pub async fn queue_events(
    State(state): State<SharedState>,
    staff: Staff,
) -> Result<impl IntoResponse, ApiError> {
    if state.is_shutting_down() {
        return Err(ApiError::ShuttingDown);
    }
    let guard = state.stream_slot("console")?;
    let snapshots = snapshots(&state);
    let (tx, rx) = mpsc::channel(8);
    tokio::spawn(forward(
        state.clone(),
        staff.0.expires_ms,
        snapshots,
        tx,
        guard,
    ));
    Ok(sse(ReceiverStream::new(rx), state.settings.keepalive_s))
}

/// The latest queue snapshot, starting the task that keeps it on the first call.
fn snapshots(state: &SharedState) -> watch::Receiver<Arc<str>> {
    state
        .live_queue
        .get_or_init(|| {
            let (tx, rx) = watch::channel(Arc::<str>::from(""));
            tokio::spawn(produce(state.clone(), state.changed.subscribe(), tx));
            rx
        })
        .clone()
}

/// Recomputes the queue after every change (and every poll) and publishes it when it differs.
async fn produce(
    state: SharedState,
    mut wake: broadcast::Receiver<crate::store::ConversationId>,
    tx: watch::Sender<Arc<str>>,
) {
    let poll = Duration::from_millis(state.settings.events_poll_ms);
    let mut last = String::new();
    loop {
        match queue_ctx(&state).await {
            Ok(v) => {
                let data = v.to_string();
                if data != last {
                    let mut stamped = v;
                    stamped["now_ms"] = serde_json::Value::from(now_ms());
                    tx.send_replace(Arc::from(stamped.to_string()));
                    last = data;
                }
            }
            Err(e) => tracing::warn!(error = %e, "reading the live queue failed; trying again"),
        }
        tokio::select! {
            changed = wake.recv() => {
                if let Err(broadcast::error::RecvError::Closed) = changed {
                    return;
                }
                tokio::time::sleep(COALESCE).await;
                // What came meanwhile is in the next read.
                while wake.try_recv().is_ok() {}
            }
            () = tokio::time::sleep(poll) => {}
            _ = state.shutting_down() => return,
        }
    }
}

/// Sends one console every snapshot, from the current one on.
async fn forward(
    state: SharedState,
    expires_ms: i64,
    mut snapshots: watch::Receiver<Arc<str>>,
    tx: mpsc::Sender<Result<SseEvent, Infallible>>,
    _guard: StreamGuard,
) {
    let session_left = Duration::from_millis(u64::try_from(expires_ms - now_ms()).unwrap_or(0));
    let expired = tokio::time::sleep(session_left);
    tokio::pin!(expired);
    loop {
        let data = snapshots.borrow_and_update().clone();
        if !data.is_empty() {
            let event = SseEvent::default().event("queue").data(&*data);
            if tx.send(Ok(event)).await.is_err() {
                return;
            }
        }
        tokio::select! {
            changed = snapshots.changed() => if changed.is_err() { return },
            () = &mut expired => return,
            () = tx.closed() => return,
            _ = state.shutting_down() => return,
        }
    }
}
