//! HTTP errors: every failure a client can see has a stable `code` and a human `message`;
//! internals (database or model errors) go to the log, never to the client.

use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Serialize;

use crate::assistant::TurnError;
use crate::store::StoreError;

/// An error answered to a client.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{0}")]
    InvalidRequest(String),
    #[error("{0}")]
    InvalidMessage(String),
    #[error("{0}")]
    InvalidFeedback(String),
    #[error("missing or wrong conversation token")]
    Unauthorized,
    #[error("not found")]
    NotFound,
    #[error("method not allowed")]
    MethodNotAllowed,
    #[error("the conversation is closed; start a new one")]
    ConversationClosed,
    #[error("the request body is too large")]
    PayloadTooLarge,
    #[error("the request body did not arrive in time")]
    RequestTimeout,
    #[error("the body must be JSON (Content-Type: application/json)")]
    UnsupportedMediaType,
    #[error("too many requests; try again in {retry_after_s} s")]
    RateLimited { retry_after_s: u64 },
    #[error("the assistant is busy answering other customers; try again in a moment")]
    Busy,
    #[error("the server is restarting; try again in a moment")]
    ShuttingDown,
    #[error("sign in to the console first")]
    StaffLoginRequired,
    #[error("wrong name or password")]
    LoginFailed,
    #[error(
        "the form has expired or did not come from the console; reload the page and try again"
    )]
    CsrfFailed,
    #[error("this needs the admin role")]
    Forbidden,
    #[error("{0}")]
    AlreadyReviewed(String),
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    KnowledgeInvalid(String),
    /// Details are logged, never sent.
    #[error("something went wrong on our side")]
    Internal(String),
}

/// The JSON body of an error (also the data of an SSE `error` event).
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ErrorBody {
    pub code: &'static str,
    pub message: String,
}

impl ApiError {
    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::InvalidRequest(_)
            | ApiError::InvalidMessage(_)
            | ApiError::InvalidFeedback(_) => StatusCode::BAD_REQUEST,
            ApiError::Unauthorized => StatusCode::UNAUTHORIZED,
            ApiError::NotFound => StatusCode::NOT_FOUND,
            ApiError::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::ConversationClosed => StatusCode::CONFLICT,
            ApiError::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::RequestTimeout => StatusCode::REQUEST_TIMEOUT,
            ApiError::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
            ApiError::Busy | ApiError::ShuttingDown => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::StaffLoginRequired | ApiError::LoginFailed => StatusCode::UNAUTHORIZED,
            ApiError::CsrfFailed | ApiError::Forbidden => StatusCode::FORBIDDEN,
            ApiError::AlreadyReviewed(_) | ApiError::Conflict(_) => StatusCode::CONFLICT,
            ApiError::KnowledgeInvalid(_) => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The stable machine-readable code (documented in docs/api.md).
    pub fn code(&self) -> &'static str {
        match self {
            ApiError::InvalidRequest(_) => "invalid_request",
            ApiError::InvalidMessage(_) => "invalid_message",
            ApiError::InvalidFeedback(_) => "invalid_feedback",
            ApiError::Unauthorized => "unauthorized",
            ApiError::NotFound => "not_found",
            ApiError::MethodNotAllowed => "method_not_allowed",
            ApiError::ConversationClosed => "conversation_closed",
            ApiError::PayloadTooLarge => "payload_too_large",
            ApiError::RequestTimeout => "request_timeout",
            ApiError::UnsupportedMediaType => "unsupported_media_type",
            ApiError::RateLimited { .. } => "rate_limited",
            ApiError::Busy => "busy",
            ApiError::ShuttingDown => "shutting_down",
            ApiError::StaffLoginRequired => "staff_login_required",
            ApiError::LoginFailed => "login_failed",
            ApiError::CsrfFailed => "csrf_failed",
            ApiError::Forbidden => "forbidden",
            ApiError::AlreadyReviewed(_) => "already_reviewed",
            ApiError::Conflict(_) => "conflict",
            ApiError::KnowledgeInvalid(_) => "knowledge_invalid",
            ApiError::Internal(_) => "internal",
        }
    }

    pub fn body(&self) -> ErrorBody {
        ErrorBody {
            code: self.code(),
            message: self.to_string(),
        }
    }

    pub fn internal(e: impl std::fmt::Display) -> ApiError {
        ApiError::Internal(e.to_string())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if let ApiError::Internal(detail) = &self {
            tracing::error!(error = %detail, "request failed");
        }
        let mut response = (self.status(), Json(self.body())).into_response();
        if let ApiError::RateLimited { retry_after_s } = self {
            if let Ok(v) = HeaderValue::from_str(&retry_after_s.to_string()) {
                response.headers_mut().insert(header::RETRY_AFTER, v);
            }
        }
        response
    }
}

impl From<TurnError> for ApiError {
    fn from(e: TurnError) -> Self {
        match e {
            TurnError::Busy { .. } => ApiError::Busy,
            TurnError::TooLong { .. } => ApiError::InvalidMessage(e.to_string()),
            TurnError::Retrieve(_) | TurnError::Draft(_) | TurnError::Worker(_) => {
                ApiError::internal(e)
            }
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Unauthorized => ApiError::Unauthorized,
            StoreError::Closed => ApiError::ConversationClosed,
            StoreError::NotFound { .. } => ApiError::NotFound,
            StoreError::Invalid(m) => ApiError::InvalidRequest(m.to_string()),
            StoreError::Conflict { .. } => ApiError::Conflict(e.to_string()),
            StoreError::AlreadyReviewed { .. } => {
                ApiError::AlreadyReviewed(format!("this item was {e}; nothing was sent"))
            }
            StoreError::Open { .. }
            | StoreError::TooNew { .. }
            | StoreError::Migrate(_)
            | StoreError::Db(_)
            | StoreError::Corrupt { .. } => ApiError::internal(e),
        }
    }
}

impl From<JsonRejection> for ApiError {
    fn from(r: JsonRejection) -> Self {
        match r.status() {
            StatusCode::PAYLOAD_TOO_LARGE => ApiError::PayloadTooLarge,
            StatusCode::UNSUPPORTED_MEDIA_TYPE => ApiError::UnsupportedMediaType,
            // Serde's message is about the client's own input (field names, types): safe.
            _ => ApiError::InvalidRequest(format!("invalid JSON body: {}", r.body_text())),
        }
    }
}

impl From<PathRejection> for ApiError {
    fn from(_: PathRejection) -> Self {
        ApiError::NotFound
    }
}

impl From<QueryRejection> for ApiError {
    fn from(r: QueryRejection) -> Self {
        ApiError::InvalidRequest(format!("invalid query: {}", r.body_text()))
    }
}
