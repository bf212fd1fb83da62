//! Following the other instances that share a PostgreSQL store: their announced changes wake
//! this instance's event streams and live queue, and a published index generation is loaded here.

use std::sync::Arc;
use std::time::Duration;

use crate::store::{Change, ChangeFeed};

use super::state::SharedState;

/// Runs until the server stops. A lost connection costs only latency: the streams still poll.
pub async fn follow_changes(state: SharedState, mut feed: ChangeFeed) {
    loop {
        let change = tokio::select! {
            change = feed.next() => change,
            _ = state.shutting_down() => return,
        };
        match change {
            Ok(Change::Conversation(id)) => state.notify(&id),
            Ok(Change::Knowledge) => load_published_index(&state).await,
            Ok(Change::Reconnected) => {
                tracing::info!("store announcements reconnected; streams catch up by polling")
            }
            Err(e) => {
                tracing::warn!(error = %e, "store announcements failed; trying again in 1 s");
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
    }
}

/// Opens the index generation another instance (or this one) published and serves it. The
/// instances share the data directory, so the generation is built once, by the instance whose
/// console changed the knowledge, and only loaded here.
async fn load_published_index(state: &SharedState) {
    let _one_at_a_time = state.reload_lock.lock().await;
    let current = state.assistant();
    match tokio::task::spawn_blocking(move || current.reopened()).await {
        Ok(Ok(next)) => {
            state.replace_assistant(Arc::new(next));
            tracing::info!("loaded the index generation published by a knowledge change");
        }
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "cannot load the published index; serving the previous one")
        }
        Err(e) => tracing::warn!(error = %e, "loading the published index stopped"),
    }
}
