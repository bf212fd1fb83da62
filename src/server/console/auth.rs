//! Staff sign-in for the console: the session cookie (HttpOnly, SameSite=Strict), the `Staff`
//! extractor, CSRF checks on every state-changing request, and rate-limited login and logout.

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;
use serde::Deserialize;
use serde_json::json;

use super::render::{page, PageError};
use crate::server::error::ApiError;
use crate::server::state::SharedState;
use crate::store::{StaffRole, StaffSession};

pub const COOKIE: &str = "concord_staff";

/// The value of cookie `name` in the request's `Cookie` headers.
pub fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.trim().to_string())
        .filter(|v| !v.is_empty())
}

fn set_cookie(value: &str, max_age_s: i64, secure: bool) -> HeaderValue {
    let secure = if secure { "; Secure" } else { "" };
    HeaderValue::from_str(&format!(
        "{COOKIE}={value}; Path=/console; HttpOnly; SameSite=Strict; Max-Age={max_age_s}{secure}"
    ))
    .expect("cookie values are hex")
}

/// A signed-in staff member. Only the console's session cookie opens it: a customer's bearer
/// token (or anything else) is `staff_login_required`.
pub struct Staff(pub StaffSession);

impl FromRequestParts<SharedState> for Staff {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &SharedState,
    ) -> Result<Self, Self::Rejection> {
        let token = cookie(&parts.headers, COOKIE).ok_or(ApiError::StaffLoginRequired)?;
        let session = state
            .store
            .session(&token)
            .await?
            .ok_or(ApiError::StaffLoginRequired)?;
        Ok(Staff(session))
    }
}

impl Staff {
    pub fn name(&self) -> &str {
        &self.0.member.name
    }

    /// The language this person reads the console in: their choice, else the console's.
    pub fn lang(&self) -> crate::knowledge::Lang {
        self.0
            .member
            .lang
            .unwrap_or_else(super::render::console_lang)
    }

    /// Checks the CSRF token a form or an `X-CSRF-Token` header carried.
    pub fn check_csrf(&self, given: Option<&str>) -> Result<(), ApiError> {
        let expected = self.0.csrf_token.as_bytes();
        match given {
            Some(g) if crate::util::constant_time_eq(g.trim().as_bytes(), expected) => Ok(()),
            Some(_) | None => Err(ApiError::CsrfFailed),
        }
    }

    pub fn require_admin(&self) -> Result<(), ApiError> {
        match self.0.member.role {
            StaffRole::Admin => Ok(()),
            StaffRole::Agent => Err(ApiError::Forbidden),
        }
    }
}

/// The `X-CSRF-Token` header of an API request.
pub fn csrf_header(headers: &HeaderMap) -> Option<&str> {
    headers.get("x-csrf-token").and_then(|v| v.to_str().ok())
}

/// A state-changing request whose `Origin` is another site is refused before anything else
/// (SameSite=Strict already keeps the cookie from such requests; this is the second lock).
pub fn same_origin(headers: &HeaderMap) -> Result<(), ApiError> {
    // No Origin, or `null` (what browsers send when the page's referrer policy hides it): the
    // CSRF token and the SameSite cookie still decide.
    let Some(origin) = headers
        .get(header::ORIGIN)
        .and_then(|v| v.to_str().ok())
        .filter(|o| *o != "null")
    else {
        return Ok(());
    };
    let host = headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let origin_host = origin.split_once("://").map(|(_, rest)| rest).unwrap_or("");
    if !host.is_empty() && origin_host == host {
        Ok(())
    } else {
        Err(ApiError::CsrfFailed)
    }
}

pub async fn login_page(staff: Result<Staff, ApiError>) -> Result<Response, PageError> {
    if staff.is_ok() {
        return Ok(Redirect::to("/console").into_response());
    }
    page(
        StatusCode::OK,
        "login.html",
        json!({ "title": login_title() }),
    )
}

#[derive(Debug, Deserialize)]
pub struct LoginForm {
    name: String,
    password: String,
}

pub async fn login(
    State(state): State<SharedState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    form: Result<Form<LoginForm>, axum::extract::rejection::FormRejection>,
) -> Result<Response, PageError> {
    same_origin(&headers)?;
    let Form(form) = form.map_err(|e| ApiError::InvalidRequest(e.body_text()))?;
    let name = form.name.trim();
    let ip = state.limits.client_ip(peer, &headers);
    state.limits.check_login(ip, name)?;
    let record = state.store.staff_login_record(name).await?;
    // Verify against a decoy when the name is unknown: both failures take as long.
    let ok = {
        let password = form.password.clone();
        let hash = record
            .as_ref()
            .map(|(_, h)| h.clone())
            .unwrap_or_else(|| crate::staff::decoy_hash().to_string());
        tokio::task::spawn_blocking(move || crate::staff::verify_password(&password, &hash))
            .await
            .map_err(ApiError::internal)?
    };
    let member = match (record, ok) {
        (Some((member, _)), true) => {
            state.limits.login_succeeded(ip, name);
            member
        }
        (Some(_) | None, _) => {
            state.limits.login_failed(ip, name);
            tracing::info!("console sign-in refused");
            return page(
                StatusCode::UNAUTHORIZED,
                "login.html",
                json!({ "title": login_title(), "error": ApiError::LoginFailed.to_string(), "name": name }),
            );
        }
    };
    let ttl_ms = state.settings.staff_session_hours as i64 * 3_600_000;
    let created = state.store.create_session(&member, ttl_ms).await?;
    tracing::info!(staff = %member.name, "console sign-in");
    let mut r = Redirect::to("/console").into_response();
    r.headers_mut().insert(
        header::SET_COOKIE,
        set_cookie(
            &created.token,
            ttl_ms / 1000,
            state.settings.staff_cookie_secure,
        ),
    );
    Ok(r)
}

#[derive(Debug, Deserialize)]
pub struct CsrfForm {
    pub csrf: String,
}

pub async fn logout(
    State(state): State<SharedState>,
    headers: HeaderMap,
    staff: Result<Staff, ApiError>,
    Form(form): Form<CsrfForm>,
) -> Result<Response, PageError> {
    same_origin(&headers)?;
    let staff = staff?;
    staff.check_csrf(Some(&form.csrf))?;
    if let Some(token) = cookie(&headers, COOKIE) {
        state.store.end_session(&token, staff.name()).await?;
    }
    let mut r = Redirect::to("/console/login").into_response();
    r.headers_mut().insert(
        header::SET_COOKIE,
        set_cookie("", 0, state.settings.staff_cookie_secure),
    );
    Ok(r)
}

fn login_title() -> String {
    crate::console::i18n::text(super::render::console_lang(), "login-title", &[])
        .unwrap_or_else(|_| "Sign in".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cookie_is_found_among_others_and_empty_is_none() {
        let mut h = HeaderMap::new();
        h.append(
            header::COOKIE,
            HeaderValue::from_static("a=1; concord_staff=s_abc ; b=2"),
        );
        assert_eq!(cookie(&h, COOKIE).as_deref(), Some("s_abc"));
        assert_eq!(cookie(&h, "c"), None);
        let mut e = HeaderMap::new();
        e.append(header::COOKIE, HeaderValue::from_static("concord_staff="));
        assert_eq!(cookie(&e, COOKIE), None);
    }

    #[test]
    fn other_origins_are_refused_and_missing_origin_is_allowed() {
        let mut h = HeaderMap::new();
        h.insert(header::HOST, HeaderValue::from_static("127.0.0.1:8080"));
        assert!(same_origin(&h).is_ok());
        h.insert(
            header::ORIGIN,
            HeaderValue::from_static("http://127.0.0.1:8080"),
        );
        assert!(same_origin(&h).is_ok());
        h.insert(
            header::ORIGIN,
            HeaderValue::from_static("https://evil.example"),
        );
        assert!(matches!(same_origin(&h), Err(ApiError::CsrfFailed)));
    }

    #[test]
    fn the_session_cookie_is_http_only_strict_and_scoped() {
        let v = set_cookie("s_1", 60, true);
        let v = v.to_str().unwrap();
        for part in [
            "HttpOnly",
            "SameSite=Strict",
            "Path=/console",
            "Max-Age=60",
            "Secure",
        ] {
            assert!(v.contains(part), "{v}");
        }
        assert!(!set_cookie("s_1", 60, false)
            .to_str()
            .unwrap()
            .contains("Secure"));
    }
}
