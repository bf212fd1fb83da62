//! `concord serve`: the customer chat service. axum routes for the customer API with SSE
//! streaming, the widget and demo shop assets, health, readiness and metrics; rate limits, CORS,
//! security headers, body limits, request ids, and a graceful shutdown that ends open streams.

pub mod answer;
pub mod answer_events;
pub mod assets;
pub mod chat;
pub mod console;
pub mod error;
pub mod events;
pub mod follow;
pub mod limits;
pub mod listen;
pub mod metrics;
pub mod ops;
pub mod resync;
pub mod settings;
pub mod state;
pub mod streams;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use axum::extract::{ConnectInfo, DefaultBodyLimit, MatchedPath, Request, State};
use axum::http::{header, HeaderName, HeaderValue, Method};
use axum::middleware::{from_fn_with_state, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::cors::{AllowOrigin, CorsLayer};
use tower_http::request_id::{
    MakeRequestId, PropagateRequestIdLayer, RequestId, SetRequestIdLayer,
};
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::trace::TraceLayer;

pub use error::ApiError;
pub use follow::follow_changes;
pub use settings::ServerSettings;
pub use state::{AppState, KnowledgeHome, SharedState};

static X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// Request ids: a per-process counter (short, sortable, no randomness needed).
#[derive(Clone, Default)]
struct Counter(std::sync::Arc<AtomicU64>);

impl MakeRequestId for Counter {
    fn make_request_id<B>(&mut self, _: &axum::http::Request<B>) -> Option<RequestId> {
        let n = self.0.fetch_add(1, Ordering::Relaxed) + 1;
        HeaderValue::from_str(&format!("r{n}"))
            .ok()
            .map(RequestId::new)
    }
}

/// The whole HTTP application.
pub fn app(state: SharedState) -> Router {
    let s = &state.settings;
    let api = Router::new()
        .route("/api/conversations", post(chat::start))
        .route("/api/conversations/{id}", get(chat::get))
        .route("/api/conversations/{id}/messages", post(chat::send))
        .route("/api/conversations/{id}/events", get(events::events))
        .route("/api/conversations/{id}/handoff", post(chat::handoff))
        .route("/api/conversations/{id}/feedback", post(chat::feedback))
        .route("/api/conversations/{id}/close", post(chat::close))
        .route(
            "/api/conversations/{id}/contact",
            get(chat::contact_get)
                .post(chat::contact_set)
                .delete(chat::contact_delete),
        )
        .layer(from_fn_with_state(state.clone(), ip_limit))
        .layer(SetResponseHeaderLayer::overriding(
            header::CACHE_CONTROL,
            HeaderValue::from_static("no-store"),
        ));
    let pages = Router::new()
        .route("/", get(assets::shop))
        .route("/shop.css", get(assets::shop_css))
        .route("/widget.js", get(assets::widget_js))
        .route("/widget.css", get(assets::widget_css))
        .route("/healthz", get(ops::healthz));
    // With an admin listener, readiness and metrics are served there only.
    let pages = if s.admin_bind.is_empty() {
        pages.merge(ops_routes())
    } else {
        pages
    };
    let console = console::routes()
        .layer(from_fn_with_state(state.clone(), ip_limit))
        .layer(SetResponseHeaderLayer::overriding(
            header::CACHE_CONTROL,
            HeaderValue::from_static("no-store"),
        ));
    let mut app = Router::new()
        .merge(api)
        .merge(pages)
        .merge(console)
        .fallback(|| async { ApiError::NotFound })
        .method_not_allowed_fallback(|| async { ApiError::MethodNotAllowed });
    // Outside the routes, so that preflight requests (OPTIONS) are answered before routing.
    if !s.allowed_origins.is_empty() {
        let origins: Vec<HeaderValue> = s
            .allowed_origins
            .iter()
            .filter_map(|o| HeaderValue::from_str(o).ok())
            .collect();
        app = app.layer(
            CorsLayer::new()
                .allow_origin(AllowOrigin::list(origins))
                .allow_methods([Method::GET, Method::POST, Method::DELETE])
                .allow_headers([
                    header::CONTENT_TYPE,
                    header::AUTHORIZATION,
                    HeaderName::from_static("last-event-id"),
                ])
                .max_age(Duration::from_secs(3600)),
        );
    }
    app.layer(from_fn_with_state(state.clone(), listen::read_body_in_time))
        .layer(from_fn_with_state(state.clone(), track))
        .layer(DefaultBodyLimit::max(s.max_body_bytes))
        .layer(SetResponseHeaderLayer::if_not_present(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ))
        .layer(SetResponseHeaderLayer::if_not_present(
            header::REFERRER_POLICY,
            HeaderValue::from_static("no-referrer"),
        ))
        .layer(SetResponseHeaderLayer::if_not_present(
            header::X_FRAME_OPTIONS,
            HeaderValue::from_static("DENY"),
        ))
        .layer(CatchPanicLayer::custom(|_: Box<dyn std::any::Any + Send>| {
            ApiError::Internal("a request handler panicked".into()).into_response()
        }))
        .layer(PropagateRequestIdLayer::new(X_REQUEST_ID.clone()))
        .layer(
            TraceLayer::new_for_http().make_span_with(|req: &axum::http::Request<_>| {
                let path = req
                    .extensions()
                    .get::<MatchedPath>()
                    .map(MatchedPath::as_str)
                    .unwrap_or("");
                let id = req
                    .headers()
                    .get(&X_REQUEST_ID)
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("");
                // The path template only: ids and customer text stay out of the logs.
                tracing::info_span!("request", method = %req.method(), matched_path = path, request_id = id)
            }),
        )
        .layer(SetRequestIdLayer::new(X_REQUEST_ID.clone(), Counter::default()))
        .with_state(state)
}

/// Readiness and metrics (on the public listener, or on the admin listener of `admin_app`).
fn ops_routes() -> Router<SharedState> {
    Router::new()
        .route("/readyz", get(ops::readyz))
        .route("/metrics", get(ops::metrics))
}

/// The admin listener's application (`server.admin_bind`): liveness, readiness and metrics.
pub fn admin_app(state: SharedState) -> Router {
    ops_routes()
        .route("/healthz", get(ops::healthz))
        .fallback(|| async { ApiError::NotFound })
        .layer(SetResponseHeaderLayer::overriding(
            header::CACHE_CONTROL,
            HeaderValue::from_static("no-store"),
        ))
        .with_state(state)
}

/// Counts requests by route and status, and their time to the response head.
async fn track(State(state): State<SharedState>, req: Request, next: Next) -> Response {
    let started = Instant::now();
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_string())
        .unwrap_or_else(|| "unmatched".into());
    let method = method_label(req.method()).to_string();
    let response = next.run(req).await;
    let m = &state.metrics;
    m.requests
        .get_or_create(&metrics::RouteLabels {
            route: route.clone(),
            method,
            status: response.status().as_u16(),
        })
        .inc();
    m.request_seconds
        .get_or_create(&metrics::RouteOnly { route })
        .observe(started.elapsed().as_secs_f64());
    response
}

/// A fixed set of method labels: any other method string would otherwise become a new metrics
/// series (a client could grow `/metrics` without bound).
fn method_label(m: &axum::http::Method) -> &'static str {
    use axum::http::Method;
    match *m {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::DELETE => "DELETE",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        _ => "other",
    }
}

/// The per-address rate limit of the API.
async fn ip_limit(
    State(state): State<SharedState>,
    req: Request,
    next: Next,
) -> Result<Response, ApiError> {
    let peer = req
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map_or_else(|| SocketAddr::from(([127, 0, 0, 1], 0)), |c| c.0);
    let ip = state.limits.client_ip(peer, req.headers());
    if let Err(e) = state.limits.check_ip(ip) {
        state
            .metrics
            .rate_limited
            .get_or_create(&metrics::Metrics::kind("ip"))
            .inc();
        return Err(e);
    }
    Ok(next.run(req).await)
}

/// At start, before serving: every customer message whose answer a crash cut (no decision, no
/// reply, the assistant answering) is handed to a person with the fixed handoff message, so the
/// customer sees that a person will answer and staff see it waiting. Returns how many.
pub async fn recover_interrupted(state: &SharedState) -> Result<usize, crate::store::StoreError> {
    let turns = state
        .store
        .interrupted_turns(crate::store::now_ms())
        .await?;
    for (conversation, message) in &turns {
        let lang = state
            .store
            .conversation(&conversation.0)
            .await?
            .lang
            .unwrap_or(crate::knowledge::Lang::Pl);
        let text = state.assistant().message("handoff", lang);
        state
            .store
            .hand_off_interrupted(conversation, *message, &text)
            .await?;
    }
    if !turns.is_empty() {
        tracing::warn!(
            messages = turns.len(),
            "answers cut by a crash were handed to staff"
        );
    }
    Ok(turns.len())
}

/// Serves `state` on `listener` until `shutdown` resolves; then open streams end (answers being
/// written get `server.shutdown_grace_ms`) and the function returns when connections are done.
pub async fn serve(
    state: SharedState,
    listener: tokio::net::TcpListener,
    admin: Option<tokio::net::TcpListener>,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let app = app(state.clone());
    let housekeeping = {
        let state = state.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(60));
            loop {
                tick.tick().await;
                state.limits.shrink();
            }
        })
    };
    let st = state.clone();
    let signal = async move {
        shutdown.await;
        tracing::info!("shutting down: no new requests, open streams end");
        st.begin_shutdown();
    };
    let metrics = listen::ConnectionMetrics {
        open: state.metrics.open_connections.clone(),
        refused: state
            .metrics
            .rate_limited
            .get_or_create_owned(&metrics::Metrics::kind("connections")),
    };
    let limits = state.settings.connection_limits();
    let admin = admin.map(|listener| {
        let st = state.clone();
        tokio::spawn(listen::serve_connections(
            listener,
            admin_app(state.clone()),
            limits.clone(),
            metrics.clone(),
            async move {
                st.shutting_down().await;
            },
        ))
    });
    let result = listen::serve_connections(listener, app, limits, metrics, signal).await;
    if let Some(admin) = admin {
        let _ = admin.await;
    }
    housekeeping.abort();
    result
}

/// Resolves on Ctrl-C or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = term => {}
    }
}
