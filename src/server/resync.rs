//! Scheduled re-sync for `serve` (`[import] resync_every_hours`): fetch the imported sources
//! again and, when something changed, reload the knowledge as the console's reload does.

use std::time::Duration;

use serde::Serialize;

use super::SharedState;
use crate::console::knowledge::{reload, ReloadReport};
use crate::import::{resync, ImportReport, ImportSettings};

/// What one scheduled re-sync did (stored as a knowledge report, shown in the console).
#[derive(Debug, Clone, Serialize)]
pub struct ResyncOutcome {
    pub import: ImportReport,
    /// The reload, when an article or answer changed.
    pub reload: Option<ReloadReport>,
}

#[derive(Debug, thiserror::Error)]
pub enum ResyncError {
    #[error(transparent)]
    Import(#[from] crate::import::ImportError),
    #[error(transparent)]
    Reload(#[from] crate::console::knowledge::ReloadError),
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    #[error("the reload stopped: {0}")]
    Join(String),
}

/// One re-sync: sources fetched again; on a change, re-ingested and swapped in (one reload at a
/// time, like the console's), and the report stored under the actor `import`.
pub async fn resync_once(
    state: &SharedState,
    settings: &ImportSettings,
) -> Result<ResyncOutcome, ResyncError> {
    let home = state.knowledge.clone();
    let import = resync(&home.dir, settings).await?;
    if import.written.is_empty() && import.answers.is_empty() {
        return Ok(ResyncOutcome {
            import,
            reload: None,
        });
    }
    let _one_at_a_time = state.reload_lock.lock().await;
    let current = state.assistant();
    let (next, report) =
        tokio::task::spawn_blocking(move || reload(&current, &home.dir, &home.ingest))
            .await
            .map_err(|e| ResyncError::Join(e.to_string()))??;
    state.replace_assistant(std::sync::Arc::new(next));
    let outcome = ResyncOutcome {
        import,
        reload: Some(report),
    };
    state
        .store
        .save_knowledge_report("import", "knowledge_resync", &outcome)
        .await?;
    Ok(outcome)
}

/// Re-syncs every `every`, for as long as the server runs. Failures are logged and retried at
/// the next tick; nothing a customer wrote is logged.
pub async fn run_resync(state: SharedState, settings: ImportSettings, every: Duration) {
    let mut tick = tokio::time::interval(every);
    tick.tick().await; // the first tick is now; the first re-sync waits one period
    loop {
        tick.tick().await;
        match resync_once(&state, &settings).await {
            Ok(o) => tracing::info!(
                changed = o.import.written.len(),
                gone = o.import.gone.len(),
                stale = o.reload.as_ref().map(|r| r.stale.len()).unwrap_or(0),
                "imported sources re-synced"
            ),
            Err(e) => {
                tracing::warn!(error = %e, "re-syncing imported sources failed; trying again next time")
            }
        }
    }
}
