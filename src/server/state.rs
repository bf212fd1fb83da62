//! What every request handler shares: the assistant (index, embedder, models), the store, the
//! settings, metrics, rate limits, the notifier for new messages and the shutdown signal.

use std::sync::atomic::AtomicUsize;
use std::sync::{Arc, RwLock};
use std::time::Instant;

use tokio::sync::{broadcast, watch};

use super::error::ApiError;
use super::limits::Limits;
use super::metrics::{Metrics, StreamGuard};
use super::settings::ServerSettings;
use crate::assistant::Assistant;
use crate::ingest::IngestSettings;
use crate::store::{ConversationId, Store};

/// Where the served knowledge comes from: what the console edits and reloads.
#[derive(Debug, Clone)]
pub struct KnowledgeHome {
    /// The knowledge folder (articles and approved answers).
    pub dir: std::path::PathBuf,
    pub ingest: IngestSettings,
}

pub struct AppState {
    /// The assistant on the index published now; a knowledge reload swaps in the next one, and
    /// every answer keeps the snapshot it started with.
    assistant: RwLock<Arc<Assistant>>,
    pub store: Store,
    pub settings: ServerSettings,
    pub knowledge: KnowledgeHome,
    pub metrics: Metrics,
    pub limits: Limits,
    /// A conversation got a new message or status (wakes its open event streams).
    pub changed: broadcast::Sender<ConversationId>,
    /// When shutdown began; `None` while serving.
    shutdown: watch::Sender<Option<tokio::time::Instant>>,
    pub started: Instant,
    /// Knowledge reloads and canonical saves run one at a time.
    pub reload_lock: tokio::sync::Mutex<()>,
    /// Streams open now (bounded by `server.max_streams`).
    open_streams: Arc<AtomicUsize>,
    /// Answers being written now (bounded by `server.max_answer_streams`).
    open_answers: Arc<AtomicUsize>,
    /// Streams per conversation and per client address.
    caps: Arc<super::streams::StreamCaps>,
    /// Replies go by e-mail to customers who left an address (`[email]` is configured).
    offers_email: std::sync::atomic::AtomicBool,
    /// The shop's privacy notice, linked in the widget (`[privacy] notice_url`).
    privacy_url: std::sync::RwLock<String>,
    /// How long a conversation token opens its conversation after the last activity, in ms
    /// (`[privacy] token_days`; 0: as long as the conversation is kept).
    token_ttl_ms: std::sync::atomic::AtomicI64,
    /// The live queue's latest snapshot, computed once per change for every console stream
    /// (started with the first stream; `console::live`).
    pub(crate) live_queue: std::sync::OnceLock<tokio::sync::watch::Receiver<Arc<str>>>,
}

/// The state as handlers hold it.
pub type SharedState = Arc<AppState>;

impl AppState {
    pub fn new(
        assistant: Arc<Assistant>,
        store: Store,
        settings: ServerSettings,
        knowledge: KnowledgeHome,
    ) -> SharedState {
        super::console::render::set_console_lang(settings.console_lang);
        let (changed, _) = broadcast::channel(1024);
        let (shutdown, _) = watch::channel(None);
        Arc::new(AppState {
            limits: Limits::new(&settings),
            assistant: RwLock::new(assistant),
            store,
            settings,
            knowledge,
            metrics: Metrics::new(),
            changed,
            shutdown,
            started: Instant::now(),
            reload_lock: tokio::sync::Mutex::new(()),
            open_streams: Arc::new(AtomicUsize::new(0)),
            open_answers: Arc::new(AtomicUsize::new(0)),
            caps: Arc::default(),
            offers_email: std::sync::atomic::AtomicBool::new(false),
            privacy_url: std::sync::RwLock::new(String::new()),
            token_ttl_ms: std::sync::atomic::AtomicI64::new(0),
            live_queue: std::sync::OnceLock::new(),
        })
    }

    /// The assistant serving now (a snapshot: later reloads do not change it).
    pub fn assistant(&self) -> Arc<Assistant> {
        self.assistant
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// Serves `next` from now on (after a knowledge change); answers under way finish on theirs.
    pub fn replace_assistant(&self, next: Arc<Assistant>) {
        *self
            .assistant
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = next;
    }

    /// A slot for one more open stream, or `busy` when its pool is full: answers have
    /// `server.max_answer_streams`, event streams (customers' and the console's) `max_streams`.
    pub fn stream_slot(&self, kind: &str) -> Result<StreamGuard, ApiError> {
        let (open, max) = if kind == "answer" {
            (&self.open_answers, self.settings.max_answer_streams)
        } else {
            (&self.open_streams, self.settings.max_streams)
        };
        StreamGuard::try_new(&self.metrics, open, max, kind).ok_or(ApiError::Busy)
    }

    /// A customer's stream: a slot in its pool and a place under the conversation's and the
    /// client address's caps (`busy` when any is full).
    pub fn customer_stream(
        &self,
        kind: &str,
        conversation: &ConversationId,
        address: std::net::IpAddr,
    ) -> Result<(StreamGuard, super::streams::CapSlot), ApiError> {
        let keys = super::streams::customer_keys(
            &conversation.0,
            self.settings.streams_per_conversation,
            address,
            self.settings.streams_per_address,
        );
        let Some(place) = self.caps.take(&keys) else {
            self.metrics
                .rate_limited
                .get_or_create(&super::metrics::Metrics::kind("streams"))
                .inc();
            return Err(ApiError::Busy);
        };
        Ok((self.stream_slot(kind)?, place))
    }

    /// The client's address of a request (the socket's, or behind trusted proxies the one they
    /// report).
    pub fn client_ip(
        &self,
        headers: &axum::http::HeaderMap,
        extensions: &axum::http::Extensions,
    ) -> std::net::IpAddr {
        let peer = extensions
            .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
            .map_or_else(|| std::net::SocketAddr::from(([127, 0, 0, 1], 0)), |c| c.0);
        self.limits.client_ip(peer, headers)
    }

    /// Tells open streams that the server is stopping.
    pub fn begin_shutdown(&self) {
        self.shutdown.send_if_modified(|began| {
            let first = began.is_none();
            began.get_or_insert_with(tokio::time::Instant::now);
            first
        });
    }

    /// Whether customers are offered replies by e-mail (set once `[email]` is ready).
    pub fn offers_email(&self) -> bool {
        self.offers_email.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// The privacy notice link (empty: none).
    pub fn privacy_url(&self) -> String {
        self.privacy_url
            .read()
            .map(|u| u.clone())
            .unwrap_or_default()
    }

    /// Takes the widget's privacy link and the token lifetime from `[privacy]`.
    pub fn set_privacy(&self, privacy: &crate::privacy::PrivacySettings) {
        if let Ok(mut u) = self.privacy_url.write() {
            *u = privacy.notice_url.trim().to_string();
        }
        self.token_ttl_ms.store(
            i64::from(privacy.token_days) * 86_400_000,
            std::sync::atomic::Ordering::Relaxed,
        );
    }

    /// Whether a conversation last active at `updated_ms` has outlived its token.
    pub fn token_expired(&self, updated_ms: i64) -> bool {
        let ttl = self.token_ttl_ms.load(std::sync::atomic::Ordering::Relaxed);
        ttl > 0 && updated_ms < crate::store::now_ms() - ttl
    }

    pub fn set_offers_email(&self, on: bool) {
        self.offers_email
            .store(on, std::sync::atomic::Ordering::Relaxed);
    }

    pub fn is_shutting_down(&self) -> bool {
        self.shutdown.borrow().is_some()
    }

    /// Resolves once shutdown has begun, with the moment it began.
    pub async fn shutting_down(&self) -> tokio::time::Instant {
        let mut rx = self.shutdown.subscribe();
        let began = rx.wait_for(Option::is_some).await.ok().and_then(|b| *b);
        match began {
            Some(began) => began,
            // The sender lives as long as the state, which `self` borrows.
            None => std::future::pending().await,
        }
    }

    /// Resolves `server.shutdown_grace_ms` after shutdown began (never, while serving): one
    /// deadline for everything still being answered, however late it started waiting.
    pub async fn grace_over(&self) {
        let began = self.shutting_down().await;
        let grace = std::time::Duration::from_millis(self.settings.shutdown_grace_ms);
        tokio::time::sleep_until(began + grace).await;
    }

    /// Wakes the event streams of a conversation.
    pub fn notify(&self, conversation: &ConversationId) {
        // No receiver is fine: nobody is listening right now.
        let _ = self.changed.send(conversation.clone());
    }
}
