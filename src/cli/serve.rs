//! `concord serve`: updates the index from the knowledge base, loads the models, opens the
//! database and serves the customer API, the widget and the demo shop page until Ctrl-C/SIGTERM.

use std::io::Write;
use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use clap::Args;
use concord::answer::Drafter;
use concord::assistant::Assistant;
use concord::embed::Embedder;
use concord::index::IndexDir;
use concord::ingest::{ingest, ingest_strict, IngestError, KnowledgeSource};
use concord::pipeline::{ingest_settings, knowledge_home};
use concord::server::{serve, shutdown_signal, AppState};
use concord::store::Store;
use concord::{Config, Pipeline};

#[derive(Args)]
pub struct ServeArgs {
    /// Address to listen on (default: `server.bind`, 127.0.0.1:8080); port 0 picks a free one.
    #[arg(long, value_name = "ADDR")]
    pub bind: Option<SocketAddr>,
    /// Serve the index as it is, without updating it from the knowledge base first.
    #[arg(long)]
    pub no_ingest: bool,
}

/// Models, index (updated from the knowledge base unless `no_ingest`) and the assistant.
pub fn prepare(config: &Config, update_index: bool) -> anyhow::Result<Assistant> {
    let embedder = Embedder::from_config(config)?;
    if update_index {
        let source = KnowledgeSource::Dir(config.knowledge_dir.clone());
        let bar = super::progress_bar("embedding");
        let settings = ingest_settings(config);
        // A file that does not load must not drop its answers from what is served: with an
        // index already published, it keeps serving and the problems are printed.
        let published = matches!(IndexDir::new(&config.data_dir).current(), Ok(Some(_)));
        let report = match ingest_strict(&settings, &source, &embedder, &bar) {
            Err(IngestError::Invalid { issues }) if published => {
                for issue in &issues {
                    eprintln!("    not loaded: {issue}");
                }
                eprintln!(
                    "index: NOT updated ({} knowledge file problem(s)); serving the index \
                     published before — fix the files and reload",
                    issues.len()
                );
                None
            }
            Err(IngestError::Invalid { .. }) => Some(ingest(&settings, &source, &embedder, &bar)),
            other => Some(other),
        };
        if let Some(report) = report {
            let report =
                report.with_context(|| format!("indexing {}", config.knowledge_dir.display()))?;
            for issue in &report.issues {
                eprintln!("    skipped: {issue}");
            }
            eprintln!(
                "index: {} articles -> {} passages, {} canonical answers ({} embedded, {} reused)",
                report.articles,
                report.chunks,
                report.canonicals,
                report.embedded_chunks,
                report.reused_chunks
            );
        }
    }
    let pipeline = Pipeline::with_embedder(config, embedder)?;
    let drafter = Drafter::from_config(config, None)?;
    Ok(Assistant::assemble(pipeline, drafter))
}

pub fn run(config: &Config, args: ServeArgs) -> anyhow::Result<ExitCode> {
    let assistant = Arc::new(prepare(config, !args.no_ingest)?);
    serve_assistant(config, assistant, args.bind)
}

/// Serves an assistant that is already loaded (shared with `concord demo`).
pub fn serve_assistant(
    config: &Config,
    assistant: Arc<Assistant>,
    bind: Option<SocketAddr>,
) -> anyhow::Result<ExitCode> {
    let addr = bind.unwrap_or_else(|| config.server.bind_addr());
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("concord-http")
        .build()
        .context("starting the async runtime")?;
    rt.block_on(async {
        let location = config.store_location();
        let store = Store::connect(&location, &config.store).await?;
        // Before the first request: events are written from the first change on.
        let notifier = concord::pipeline::notifier(&store, config)?;
        let (stop_notifier, notifier_stopped) = tokio::sync::oneshot::channel::<()>();
        let notifier = notifier.map(|n| {
            tokio::spawn(n.run(async {
                let _ = notifier_stopped.await;
            }))
        });
        // Retention: what is older than [privacy]'s periods goes now and every purge_every_hours.
        let retention = tokio::spawn(concord::privacy::run_retention(
            store.clone(),
            config.privacy.clone(),
        ));
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .with_context(|| format!("cannot listen on {addr} (in use? try --bind 127.0.0.1:0)"))?;
        let local = listener.local_addr()?;
        let admin = match config.server.admin_addr() {
            Some(at) => Some(
                tokio::net::TcpListener::bind(at)
                    .await
                    .with_context(|| format!("cannot listen on {at} (server.admin_bind)"))?,
            ),
            None => None,
        };
        let state = AppState::new(
            assistant,
            store.clone(),
            config.server.clone(),
            knowledge_home(config),
        );
        state.set_offers_email(config.email.enabled());
        state.set_privacy(&config.privacy);
        // Instances sharing a PostgreSQL store hear each other's changes at once.
        if let Some(feed) = store.changes().await? {
            tokio::spawn(concord::server::follow_changes(state.clone(), feed));
        }
        // Imported pages and documents fetched again on a schedule ([import] resync_every_hours).
        if config.import.resync_every_hours > 0 {
            tokio::spawn(concord::server::resync::run_resync(
                state.clone(),
                config.import.clone(),
                std::time::Duration::from_secs(u64::from(config.import.resync_every_hours) * 3600),
            ));
        }
        // Answers a crash cut are handed to a person before anyone new is served.
        concord::server::recover_interrupted(&state).await?;
        {
            let mut out = std::io::stdout().lock();
            if let Some(admin) = &admin {
                writeln!(out, "admin on http://{}", admin.local_addr()?)?;
            }
            writeln!(out, "listening on http://{local}")?;
            writeln!(
                out,
                "open http://{local}/ for the demo shop with the chat widget; Ctrl-C stops"
            )?;
            out.flush()?;
        }
        tracing::info!(%local, database = %location, "serving");
        let grace = Duration::from_millis(config.server.shutdown_grace_ms) + Duration::from_secs(5);
        let watch = state.clone();
        tokio::select! {
            r = serve(state, listener, admin, shutdown_signal()) => r.context("serving HTTP")?,
            () = async { let began = watch.shutting_down().await; tokio::time::sleep_until(began + grace).await } => {
                tracing::warn!("connections still open after the shutdown grace period; stopping anyway");
            }
        }
        // The attempt under way finishes; what is left stays in the outbox for the next start.
        let _ = stop_notifier.send(());
        if let Some(n) = notifier {
            let _ = n.await;
        }
        retention.abort();
        store.close().await;
        anyhow::Ok(())
    })?;
    Ok(ExitCode::SUCCESS)
}
