//! Operations endpoints: liveness (`/healthz`), readiness (`/readyz`: index, embedder, models and
//! database usable, not shutting down) and Prometheus metrics (`/metrics`).

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::Json;
use serde_json::json;

use super::state::SharedState;

pub async fn healthz() -> &'static str {
    "ok"
}

pub async fn readyz(State(state): State<SharedState>) -> impl IntoResponse {
    let assistant = state.assistant();
    let index = &assistant.index;
    let db = state.store.ping().await.is_ok();
    let (waiting, running) = state.assistant().drafter.queue().load();
    let ready = db && !index.chunks.is_empty() && !state.is_shutting_down();
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (
        status,
        Json(json!({
            "ready": ready,
            "database": db,
            "passages": index.chunks.len(),
            "canonical_answers": index.canonicals.len(),
            "embedder": state.assistant().embedder.name(),
            "models": {
                "pl": state.assistant().drafter.model_name(crate::knowledge::Lang::Pl),
                "en": state.assistant().drafter.model_name(crate::knowledge::Lang::En),
            },
            "queue": { "waiting": waiting, "running": running },
            // A remote generation server the breaker still asks (null: models in this process).
            // Not part of readiness: without drafts turns are still decided.
            "generation_server_available": state.assistant().drafter.remote_available(),
            "shutting_down": state.is_shutting_down(),
            "uptime_s": state.started.elapsed().as_secs(),
        })),
    )
}

pub async fn metrics(State(state): State<SharedState>) -> impl IntoResponse {
    let m = &state.metrics;
    let (waiting, running) = state.assistant().drafter.queue().load();
    m.queue_waiting.set(waiting as i64);
    m.queue_running.set(running as i64);
    if let Some(mb) = crate::util::peak_rss_mb() {
        m.peak_rss_bytes.set(mb * 1024.0 * 1024.0);
    }
    // Undelivered notifications are a reason to page someone: the counts come from the outbox.
    match state.store.outbox_counts().await {
        Ok(counts) => {
            for (target, c) in counts {
                for (status, n) in [
                    ("pending", c.pending),
                    ("delivered", c.delivered),
                    ("skipped", c.skipped),
                    ("failed", c.failed),
                ] {
                    m.outbox
                        .get_or_create(&crate::server::metrics::OutboxLabels {
                            target: target.clone(),
                            status: status.to_string(),
                        })
                        .set(n);
                }
            }
        }
        Err(e) => tracing::warn!(error = %e, "outbox counts for /metrics"),
    }
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        m.encode(),
    )
}
