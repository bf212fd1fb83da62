//! The console's team page (admins): every account with its role and the name customers see on
//! its messages, which an admin sets here (audit-logged) as `concord staff show-as` does.

use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;
use serde::Deserialize;
use serde_json::json;

use super::auth::{same_origin, Staff};
use super::pages::{staff_ctx, title};
use super::render::{page, PageError};
use crate::server::error::ApiError;
use crate::server::state::SharedState;

#[derive(Debug, Deserialize)]
pub struct Saved {
    #[serde(default)]
    saved: Option<String>,
}

pub async fn team_page(
    State(state): State<SharedState>,
    staff: Result<Staff, ApiError>,
    Query(saved): Query<Saved>,
) -> Result<Response, PageError> {
    let staff = staff?;
    staff.require_admin()?;
    let members = state.store.staff_members().await?;
    page(
        StatusCode::OK,
        "team.html",
        json!({
            "title": title(staff.lang(), "team-title", &[]),
            "staff": staff_ctx(&staff),
            "members": members,
            "saved": saved.saved,
            "back": "/console/staff",
        }),
    )
}

#[derive(Debug, Deserialize)]
pub struct DisplayNameInput {
    csrf: String,
    /// The account's sign-in name.
    name: String,
    /// What customers see; empty: only "staff".
    #[serde(default)]
    display_name: String,
}

pub async fn display_name_form(
    State(state): State<SharedState>,
    headers: HeaderMap,
    staff: Result<Staff, ApiError>,
    Form(input): Form<DisplayNameInput>,
) -> Result<Response, PageError> {
    same_origin(&headers)?;
    let staff = staff?;
    staff.check_csrf(Some(&input.csrf))?;
    staff.require_admin()?;
    let display = Some(input.display_name.trim()).filter(|d| !d.is_empty());
    let member = state
        .store
        .set_staff_display_name(&input.name, display, staff.name())
        .await?;
    let query = serde_urlencoded::to_string([("saved", member.name.as_str())])
        .map_err(ApiError::internal)?;
    Ok(Redirect::to(&format!("/console/staff?{query}")).into_response())
}
