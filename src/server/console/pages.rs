//! The console's pages (review queue, one item, a conversation, knowledge, stats) and their JSON
//! twins under `/console/api`: read-only handlers; the actions are in `actions.rs`.

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};

use super::auth::Staff;
use super::render::{page, PageError};
use crate::check::RefSource;
use crate::console::highlight::{draft_segments, reference_segments};
use crate::console::i18n::{self, Arg};
use crate::knowledge::Lang;
use crate::server::error::ApiError;
use crate::server::state::SharedState;
use crate::store::{ConversationId, ReviewItem};

/// A console text in the console's language (titles, chart labels); a missing key is a bug
/// the catalogue test catches, shown as the key rather than failing the page.
pub(super) fn title(lang: Lang, key: &str, args: &[(&str, Arg)]) -> String {
    i18n::text(lang, key, args).unwrap_or_else(|e| {
        tracing::error!(error = %e, "console text missing");
        key.to_string()
    })
}

/// Items listed on the queue page.
const QUEUE_LIMIT: i64 = 100;

/// What every page shows of the signed-in staff member (and the CSRF token its forms carry).
pub fn staff_ctx(staff: &Staff) -> Value {
    let m = &staff.0.member;
    json!({
        "name": m.name,
        "role": m.role.as_str(),
        "admin": staff.require_admin().is_ok(),
        "csrf": staff.0.csrf_token,
        "lang": staff.lang().as_str(),
        "chosen_lang": m.lang.map(|l| l.as_str()),
    })
}

#[derive(Debug, Deserialize)]
pub struct Flash {
    #[serde(default)]
    done: Option<String>,
}

/// The queue page's data: pending items and conversations with (or waiting for) a person.
pub(super) async fn queue_ctx(state: &SharedState) -> Result<Value, ApiError> {
    let (items, pending) = state.store.review_queue(QUEUE_LIMIT).await?;
    let people = state.store.staff_conversations(QUEUE_LIMIT).await?;
    let waiting = state.store.waiting_for_person().await?;
    // Notifications that gave up: staff must know a webhook or e-mail is not arriving.
    let undelivered: Vec<Value> = state
        .store
        .undelivered()
        .await?
        .into_iter()
        .map(|(target, failed)| json!({ "target": target, "failed": failed }))
        .collect();
    Ok(json!({
        "items": items,
        "pending": pending,
        "waiting": waiting,
        "undelivered": undelivered,
        "people": people.into_iter().map(|(id, status, updated, q)| json!({
            "conversation_id": id, "status": status, "updated_ms": updated, "question": q,
        })).collect::<Vec<_>>(),
    }))
}

pub async fn queue(
    State(state): State<SharedState>,
    staff: Result<Staff, ApiError>,
    Query(flash): Query<Flash>,
) -> Result<Response, PageError> {
    let staff = staff?;
    let mut ctx = queue_ctx(&state).await?;
    ctx["title"] = json!(title(staff.lang(), "queue-title", &[]));
    ctx["staff"] = staff_ctx(&staff);
    ctx["done"] = json!(flash.done);
    page(StatusCode::OK, "queue.html", ctx)
}

/// Who is signed in, with the CSRF token API calls must send as `X-CSRF-Token`.
pub async fn me_api(staff: Staff) -> Json<Value> {
    Json(staff_ctx(&staff))
}

pub async fn queue_api(
    State(state): State<SharedState>,
    _staff: Staff,
) -> Result<Json<Value>, ApiError> {
    Ok(Json(queue_ctx(&state).await?))
}

/// The item with its texts cut into marked segments.
fn item_ctx(state: &SharedState, item: &ReviewItem) -> Value {
    let verdict = item.verdict.as_ref();
    let canonical_text = item.checked_against.canonical.clone().or_else(|| {
        let id = item.summary.canonical_id.as_deref()?;
        let assistant = state.assistant();
        let c = assistant.index.canonicals.iter().find(|c| c.id.0 == id)?;
        Some(c.answer.clone())
    });
    let findings: Vec<Value> = verdict
        .map(|v| {
            v.findings
                .iter()
                .enumerate()
                .map(|(i, f)| {
                    json!({
                        "n": i + 1,
                        "kind": f.kind.as_str(),
                        "message": f.message,
                        "where": match f.reference {
                            Some(RefSource::Canonical) => "approved answer".to_string(),
                            Some(RefSource::Context(n)) => format!("passage {}", n + 1),
                            None => String::new(),
                        },
                    })
                })
                .collect()
        })
        .unwrap_or_default();
    let sent = item
        .sent_message_id
        .and_then(|id| item.messages.iter().find(|m| m.id == id));
    json!({
        "item": item,
        "draft_segments": item.draft_text.as_deref().map(|d| draft_segments(d, verdict)),
        "canonical_segments": canonical_text
            .as_deref()
            .map(|c| reference_segments(c, RefSource::Canonical, verdict)),
        "context": item.checked_against.context.iter().enumerate().map(|(i, text)| json!({
            "n": i + 1,
            "segments": reference_segments(text, RefSource::Context(i), verdict),
        })).collect::<Vec<_>>(),
        "findings": findings,
        "pending": item.review_status == "pending",
        "approvable": item.approvable_text().is_some()
            || item.summary.kind == crate::store::ReviewKind::Blocked,
        "edit_text": item.approvable_text().unwrap_or(""),
        "sent": sent,
        "savable": matches!(item.review_status.as_str(), "approved" | "edited") && sent.is_some(),
    })
}

pub async fn item(
    State(state): State<SharedState>,
    staff: Result<Staff, ApiError>,
    Path(id): Path<i64>,
) -> Result<Response, PageError> {
    let staff = staff?;
    let item = state.store.review_item(id).await?;
    let mut ctx = item_ctx(&state, &item);
    ctx["title"] = json!(title(
        staff.lang(),
        "item-title",
        &[("id", Arg::Number(id as f64))]
    ));
    ctx["staff"] = staff_ctx(&staff);
    page(StatusCode::OK, "item.html", ctx)
}

pub async fn item_api(
    State(state): State<SharedState>,
    _staff: Staff,
    Path(id): Path<i64>,
) -> Result<Json<Value>, ApiError> {
    let item = state.store.review_item(id).await?;
    Ok(Json(item_ctx(&state, &item)))
}

pub async fn conversation(
    State(state): State<SharedState>,
    staff: Result<Staff, ApiError>,
    Path(id): Path<String>,
) -> Result<Response, PageError> {
    let staff = staff?;
    let id = ConversationId(id);
    let c = state.store.conversation(&id.0).await?;
    let messages = state.store.messages_after(&id, 0).await?;
    let feedback = state.store.conversation_feedback(&id).await?;
    page(
        StatusCode::OK,
        "conversation.html",
        json!({
            "title": title(staff.lang(), "conversation-title", &[("id", Arg::Text(id.0.clone()))]),
            "staff": staff_ctx(&staff),
            "conversation": c,
            "messages": messages,
            "open": c.status != crate::store::ConversationStatus::Closed,
            "feedback": feedback,
            "thumbs": feedback.thumbs.iter().map(|t| (t.message_id.to_string(), t.up)).collect::<std::collections::HashMap<_, _>>(),
        }),
    )
}

pub async fn knowledge(
    State(state): State<SharedState>,
    staff: Result<Staff, ApiError>,
    Query(flash): Query<Flash>,
) -> Result<Response, PageError> {
    let staff = staff?;
    staff.require_admin()?;
    let reports = state.store.knowledge_reports(10).await?;
    let assistant = state.assistant();
    let index = &assistant.index;
    page(
        StatusCode::OK,
        "knowledge.html",
        json!({
            "title": title(staff.lang(), "knowledge-title", &[]),
            "staff": staff_ctx(&staff),
            "reports": reports,
            "done": flash.done,
            "index": {
                "articles": index.manifest.documents.len(),
                "passages": index.chunks.len(),
                "canonicals": index.canonicals.len(),
                "built_at_ms": index.manifest.built_at as i64 * 1000,
                "dir": state.knowledge.dir.display().to_string(),
            },
        }),
    )
}
