//! The staff console at `/console`: sign-in, the review queue and its actions, past conversations,
//! knowledge gaps, knowledge reloads, stats and the team, as server-rendered pages with forms, plus the same as JSON under `/console/api`.

pub mod actions;
pub mod auth;
pub mod browse;
pub mod canonical;
pub mod live;
pub mod pages;
pub mod privacy;
pub mod render;
pub mod stats;
pub mod team;

use axum::http::{header, HeaderValue};
use axum::response::IntoResponse;
use axum::routing::{get, post};
use axum::Router;

use super::state::SharedState;

async fn css() -> impl IntoResponse {
    (
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/css; charset=utf-8"),
            ),
            (
                header::CACHE_CONTROL,
                HeaderValue::from_static("public, max-age=300"),
            ),
        ],
        render::CONSOLE_CSS,
    )
}

async fn js() -> impl IntoResponse {
    (
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/javascript; charset=utf-8"),
            ),
            (
                header::CACHE_CONTROL,
                HeaderValue::from_static("public, max-age=300"),
            ),
        ],
        render::CONSOLE_JS,
    )
}

/// The console's routes.
pub fn routes() -> Router<SharedState> {
    Router::new()
        .route("/console/console.css", get(css))
        .route("/console/login", get(auth::login_page).post(auth::login))
        .route("/console/logout", post(auth::logout))
        .route("/console", get(pages::queue))
        .route("/console/items/{id}", get(pages::item))
        .route("/console/items/{id}/review", post(actions::review_form))
        .route("/console/items/{id}/canonical", post(canonical::item_form))
        .route("/console/conversations/{id}", get(pages::conversation))
        .route(
            "/console/conversations/{id}/reply",
            post(actions::reply_form),
        )
        .route(
            "/console/conversations/{id}/close",
            post(actions::close_form),
        )
        .route(
            "/console/conversations/{id}/export",
            get(privacy::conversation_export),
        )
        .route(
            "/console/conversations/{id}/erase",
            post(privacy::erase_form),
        )
        .route("/console/api/privacy/export", post(privacy::export_api))
        .route("/console/api/privacy/erase", post(privacy::erase_api))
        .route("/console/knowledge", get(pages::knowledge))
        .route("/console/knowledge/reload", post(actions::reload_form))
        .route("/console/stats", get(stats::stats))
        .route("/console/stats.csv", get(stats::stats_csv))
        .route("/console/conversations", get(browse::conversations))
        .route("/console/gaps", get(browse::gaps_page))
        .route("/console/gaps/answer", post(canonical::gap_form))
        .route("/console/settings/lang", post(browse::lang_form))
        .route("/console/staff", get(team::team_page))
        .route("/console/staff/display-name", post(team::display_name_form))
        .route("/console/api/conversations", get(browse::conversations_api))
        .route("/console/api/gaps", get(browse::gaps_api))
        .route("/console/api/me", get(pages::me_api))
        .route("/console/api/queue", get(pages::queue_api))
        .route("/console/api/queue/events", get(live::queue_events))
        .route("/console/console.js", get(js))
        .route("/console/api/items/{id}", get(pages::item_api))
        .route("/console/api/items/{id}/review", post(actions::review_api))
        .route(
            "/console/api/items/{id}/canonical",
            post(canonical::item_api),
        )
        .route(
            "/console/api/items/{id}/canonical/preview",
            post(canonical::item_preview_api),
        )
        .route("/console/api/knowledge/reload", post(actions::reload_api))
        .route("/console/api/stats", get(stats::stats_api))
}
