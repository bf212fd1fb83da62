//! The console's actions: review an item (approve, edit, reject), reply as a person, close a
//! conversation, reload the knowledge base. Each is a form post (then a redirect) and a JSON call
//! under `/console/api`; each checks CSRF and is audited. (Saving as canonical: `canonical`.)

use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Redirect, Response};
use axum::{Form, Json};
use serde::Deserialize;
use serde_json::{json, Value};

use super::auth::{csrf_header, same_origin, Staff};
use super::render::PageError;
use crate::console::knowledge::{reload, ReloadError, ReloadReport};
use crate::server::error::ApiError;
use crate::server::state::SharedState;
use crate::store::{ConversationId, ReviewAction, Reviewed, StaffReply};

#[derive(Debug, Deserialize)]
pub struct ReviewInput {
    #[serde(default)]
    csrf: Option<String>,
    /// `approve`, `edit` or `reject`.
    action: String,
    #[serde(default)]
    text: Option<String>,
    #[serde(default)]
    reason: Option<String>,
}

fn review_action(input: &ReviewInput) -> Result<ReviewAction, ApiError> {
    let text = || input.text.clone().unwrap_or_default();
    match input.action.as_str() {
        "approve" => Ok(ReviewAction::Approve),
        "edit" => Ok(ReviewAction::Edit(text())),
        "reject" => Ok(ReviewAction::Reject(
            input.reason.clone().unwrap_or_default(),
        )),
        other => Err(ApiError::InvalidRequest(format!(
            "action must be approve, edit or reject, got `{other}`"
        ))),
    }
}

async fn do_review(
    state: &SharedState,
    staff: &Staff,
    id: i64,
    input: &ReviewInput,
) -> Result<Reviewed, ApiError> {
    let action = review_action(input)?;
    let done = state.store.review(id, staff.name(), &action).await?;
    state.notify(&done.conversation_id);
    tracing::info!(staff = %staff.name(), item = id, status = done.status, "review");
    Ok(done)
}

pub async fn review_form(
    State(state): State<SharedState>,
    headers: HeaderMap,
    staff: Result<Staff, ApiError>,
    Path(id): Path<i64>,
    Form(input): Form<ReviewInput>,
) -> Result<Response, PageError> {
    same_origin(&headers)?;
    let staff = staff?;
    staff.check_csrf(input.csrf.as_deref())?;
    let done = do_review(&state, &staff, id, &input).await?;
    Ok(Redirect::to(&format!("/console/items/{id}?done={}", done.status)).into_response())
}

pub async fn review_api(
    State(state): State<SharedState>,
    headers: HeaderMap,
    staff: Staff,
    Path(id): Path<i64>,
    Json(input): Json<ReviewInput>,
) -> Result<Json<Reviewed>, ApiError> {
    same_origin(&headers)?;
    staff.check_csrf(csrf_header(&headers))?;
    Ok(Json(do_review(&state, &staff, id, &input).await?))
}

#[derive(Debug, Deserialize)]
pub struct ReplyInput {
    csrf: String,
    text: String,
}

pub async fn reply_form(
    State(state): State<SharedState>,
    headers: HeaderMap,
    staff: Result<Staff, ApiError>,
    Path(id): Path<String>,
    Form(input): Form<ReplyInput>,
) -> Result<Response, PageError> {
    same_origin(&headers)?;
    let staff = staff?;
    staff.check_csrf(Some(&input.csrf))?;
    let text = input.text.trim();
    if text.is_empty() {
        return Err(ApiError::InvalidMessage("the reply is empty".into()).into());
    }
    if text.chars().count() > state.settings.max_message_chars {
        return Err(ApiError::InvalidMessage(format!(
            "a reply has at most {} characters",
            state.settings.max_message_chars
        ))
        .into());
    }
    let id = ConversationId(id);
    state
        .store
        .staff_reply(
            &id,
            StaffReply {
                author: staff.name(),
                text,
            },
        )
        .await?;
    state.notify(&id);
    Ok(Redirect::to(&format!("/console/conversations/{}", id.0)).into_response())
}

#[derive(Debug, Deserialize)]
pub struct CsrfOnly {
    csrf: String,
}

pub async fn close_form(
    State(state): State<SharedState>,
    headers: HeaderMap,
    staff: Result<Staff, ApiError>,
    Path(id): Path<String>,
    Form(input): Form<CsrfOnly>,
) -> Result<Response, PageError> {
    same_origin(&headers)?;
    let staff = staff?;
    staff.check_csrf(Some(&input.csrf))?;
    let id = ConversationId(id);
    state.store.close_by_staff(&id, staff.name()).await?;
    state.notify(&id);
    Ok(Redirect::to(&format!("/console/conversations/{}", id.0)).into_response())
}

/// Re-ingests and swaps the new index in (one reload at a time); stores the report.
pub(super) async fn do_reload(
    state: &SharedState,
    staff: &Staff,
    action: &str,
) -> Result<(i64, ReloadReport), ApiError> {
    let _one_at_a_time = state.reload_lock.lock().await;
    let current = state.assistant();
    let home = state.knowledge.clone();
    let (next, report) =
        tokio::task::spawn_blocking(move || reload(&current, &home.dir, &home.ingest))
            .await
            .map_err(ApiError::internal)?
            .map_err(|e| match e {
                ReloadError::Ingest(e) => {
                    ApiError::KnowledgeInvalid(format!("the knowledge base did not load: {e}"))
                }
                other @ (ReloadError::Open(_) | ReloadError::Retrieve(_)) => {
                    ApiError::internal(other)
                }
            })?;
    state.replace_assistant(std::sync::Arc::new(next));
    let id = state
        .store
        .save_knowledge_report(staff.name(), action, &report)
        .await?;
    Ok((id, report))
}

pub async fn reload_form(
    State(state): State<SharedState>,
    headers: HeaderMap,
    staff: Result<Staff, ApiError>,
    Form(input): Form<CsrfOnly>,
) -> Result<Response, PageError> {
    same_origin(&headers)?;
    let staff = staff?;
    staff.check_csrf(Some(&input.csrf))?;
    staff.require_admin()?;
    let (id, _) = do_reload(&state, &staff, "knowledge_reload").await?;
    Ok(Redirect::to(&format!("/console/knowledge?done=report-{id}")).into_response())
}

pub async fn reload_api(
    State(state): State<SharedState>,
    headers: HeaderMap,
    staff: Staff,
) -> Result<Json<Value>, ApiError> {
    same_origin(&headers)?;
    staff.check_csrf(csrf_header(&headers))?;
    staff.require_admin()?;
    let (id, report) = do_reload(&state, &staff, "knowledge_reload").await?;
    Ok(Json(json!({ "report_id": id, "report": report })))
}
