//! Privacy requests in the console (admins only): a person's data exported as JSON and erased,
//! by conversation from its page, or by conversation, e-mail or order id through `/console/api`.

use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, HeaderValue};
use axum::response::{IntoResponse, Redirect, Response};
use axum::{Form, Json};
use serde::Deserialize;
use serde_json::{json, Value};

use super::actions::do_reload;
use super::auth::{csrf_header, same_origin, Staff};
use super::render::PageError;
use crate::privacy::{Erasure, Export, PrivacyError};
use crate::server::error::ApiError;
use crate::server::state::SharedState;
use crate::store::{ConversationId, Subject};

impl From<PrivacyError> for ApiError {
    fn from(e: PrivacyError) -> Self {
        match e {
            PrivacyError::Store(e) => e.into(),
            PrivacyError::Knowledge(e) => ApiError::KnowledgeInvalid(e.to_string()),
        }
    }
}

/// Whose data a request is about.
#[derive(Debug, Deserialize)]
pub struct SubjectInput {
    /// `conversation`, `email` or `order`.
    subject: String,
    value: String,
}

async fn do_export(
    state: &SharedState,
    staff: &Staff,
    subject: &Subject,
) -> Result<Export, ApiError> {
    staff.require_admin()?;
    let export = crate::privacy::export(&state.store, &state.knowledge.dir, subject).await?;
    // Who looked at whose kind of data, and how much; never the identifier.
    state
        .store
        .audit(
            staff.name(),
            "privacy_export",
            None,
            &json!({ "subject": subject.kind(), "conversations": export.conversations.len() }),
        )
        .await?;
    Ok(export)
}

/// Erases, wakes the streams of the erased conversations (they end) and, when approved answers
/// lost phrasings, rebuilds the index so the phrasings leave it too.
async fn do_erase(
    state: &SharedState,
    staff: &Staff,
    subject: &Subject,
) -> Result<(Erasure, Option<i64>), ApiError> {
    staff.require_admin()?;
    let ids = state.store.subject_conversations(subject).await?;
    let mut erasure =
        crate::privacy::erase(&state.store, &state.knowledge.dir, subject, staff.name()).await?;
    for id in &ids {
        state.notify(id);
    }
    let report = if erasure.knowledge_changed() {
        let id = do_reload(state, staff, "knowledge_reload_after_erasure")
            .await?
            .0;
        // The generation it replaced still holds the erased phrasings.
        let index = crate::index::IndexDir::new(&state.knowledge.ingest.data_dir);
        tokio::task::spawn_blocking(move || index.drop_previous())
            .await
            .map_err(ApiError::internal)?
            .map_err(ApiError::internal)?;
        // The reload's report names the renamed answers' old ids.
        erasure.store.wal_cleared = crate::privacy::forget_renamed(&state.store, &erasure).await?;
        Some(id)
    } else {
        None
    };
    Ok((erasure, report))
}

fn subject_of(input: &SubjectInput) -> Result<Subject, ApiError> {
    Ok(Subject::new(&input.subject, &input.value)?)
}

pub async fn export_api(
    State(state): State<SharedState>,
    headers: HeaderMap,
    staff: Staff,
    Json(input): Json<SubjectInput>,
) -> Result<Json<Export>, ApiError> {
    same_origin(&headers)?;
    staff.check_csrf(csrf_header(&headers))?;
    Ok(Json(do_export(&state, &staff, &subject_of(&input)?).await?))
}

pub async fn erase_api(
    State(state): State<SharedState>,
    headers: HeaderMap,
    staff: Staff,
    Json(input): Json<SubjectInput>,
) -> Result<Json<Value>, ApiError> {
    same_origin(&headers)?;
    staff.check_csrf(csrf_header(&headers))?;
    let (erasure, report_id) = do_erase(&state, &staff, &subject_of(&input)?).await?;
    Ok(Json(json!({ "erased": erasure, "report_id": report_id })))
}

/// The conversation's data as a JSON file to hand to the customer.
pub async fn conversation_export(
    State(state): State<SharedState>,
    staff: Result<Staff, ApiError>,
    Path(id): Path<String>,
) -> Result<Response, PageError> {
    let staff = staff?;
    let subject = Subject::Conversation(ConversationId(id.clone()));
    state.store.conversation(&id).await?;
    let export = do_export(&state, &staff, &subject).await?;
    let body = serde_json::to_vec_pretty(&export).map_err(ApiError::internal)?;
    let disposition = HeaderValue::from_str(&format!("attachment; filename=\"{id}.json\""))
        .map_err(ApiError::internal)?;
    Ok((
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            ),
            (header::CONTENT_DISPOSITION, disposition),
            (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
        ],
        body,
    )
        .into_response())
}

#[derive(Debug, Deserialize)]
pub struct EraseInput {
    csrf: String,
    /// The confirmation box ("I understand it cannot be undone").
    #[serde(default)]
    confirm: Option<String>,
}

pub async fn erase_form(
    State(state): State<SharedState>,
    headers: HeaderMap,
    staff: Result<Staff, ApiError>,
    Path(id): Path<String>,
    Form(input): Form<EraseInput>,
) -> Result<Response, PageError> {
    same_origin(&headers)?;
    let staff = staff?;
    staff.check_csrf(Some(&input.csrf))?;
    if input.confirm.as_deref() != Some("yes") {
        return Err(ApiError::InvalidRequest(
            "tick the box to confirm the erasure; nothing was erased".into(),
        )
        .into());
    }
    state.store.conversation(&id).await?;
    do_erase(&state, &staff, &Subject::Conversation(ConversationId(id))).await?;
    Ok(Redirect::to("/console?done=erased").into_response())
}
