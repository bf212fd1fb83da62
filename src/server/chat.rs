//! The customer API (docs/api.md): start a conversation, read it, send a message and stream the
//! answer, ask for a person, feedback, close. Every call but the first needs the conversation's
//! token; bodies are validated before anything is stored.

use std::convert::Infallible;
use std::time::Instant;

use axum::extract::rejection::JsonRejection;
use axum::extract::{FromRequestParts, Path, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use axum::response::IntoResponse;
use axum::Json;
use futures_util::Stream;
use serde::Deserialize;
use serde_json::json;

use super::answer::spawn_answer;
use super::answer_events::AnswerEvent;
use super::error::ApiError;
use super::metrics::StreamGuard;
use super::state::SharedState;
use crate::assistant::SlotValues;
use crate::knowledge::Lang;
use crate::store::{Conversation, ConversationStatus};

const MAX_CONTEXT_KEYS: usize = 20;
const MAX_CONTEXT_VALUE_CHARS: usize = 200;
const MAX_COMMENT_CHARS: usize = 2000;

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct StartBody {
    #[serde(default)]
    lang: Option<String>,
    #[serde(default)]
    context: SlotValues,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MessageBody {
    text: String,
    #[serde(default)]
    context: SlotValues,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FeedbackBody {
    #[serde(default)]
    message_id: Option<i64>,
    #[serde(default)]
    thumb: Option<String>,
    #[serde(default)]
    csat: Option<i64>,
    #[serde(default)]
    resolved: Option<bool>,
    #[serde(default)]
    nps: Option<i64>,
    #[serde(default)]
    comment: Option<String>,
}

/// Accepts a missing or empty body as `{}`, else JSON.
fn body_or_default<T: Default>(body: Result<Json<T>, JsonRejection>) -> Result<T, ApiError> {
    match body {
        Ok(Json(b)) => Ok(b),
        Err(JsonRejection::MissingJsonContentType(_)) => Ok(T::default()),
        Err(e) => Err(e.into()),
    }
}

fn validate_context(context: &SlotValues) -> Result<(), ApiError> {
    if context.len() > MAX_CONTEXT_KEYS {
        return Err(ApiError::InvalidRequest(format!(
            "context has {} keys; at most {MAX_CONTEXT_KEYS} are accepted",
            context.len()
        )));
    }
    for (k, v) in context {
        let key_ok = (1..=40).contains(&k.len())
            && k.bytes()
                .all(|b| b.is_ascii_lowercase() || b == b'_' || b.is_ascii_digit());
        if !key_ok {
            return Err(ApiError::InvalidRequest(format!(
                "context key `{}` must be 1-40 characters of a-z, 0-9 and _",
                k.chars().take(40).collect::<String>()
            )));
        }
        if v.chars().count() > MAX_CONTEXT_VALUE_CHARS {
            return Err(ApiError::InvalidRequest(format!(
                "context value of `{k}` is longer than {MAX_CONTEXT_VALUE_CHARS} characters"
            )));
        }
    }
    Ok(())
}

/// The conversation a request names in its path, opened with the bearer token it carries.
/// Unknown ids and wrong tokens are both `unauthorized`.
pub struct Authorized(pub Conversation);

impl FromRequestParts<SharedState> for Authorized {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &SharedState,
    ) -> Result<Self, Self::Rejection> {
        let Path(id) = Path::<String>::from_request_parts(parts, state).await?;
        let token = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .ok_or(ApiError::Unauthorized)?;
        let conversation = state.store.authenticate(&id, token).await?;
        // An expired token is told apart from a wrong one by nobody: both are `unauthorized`.
        if state.token_expired(conversation.updated_at) {
            return Err(ApiError::Unauthorized);
        }
        Ok(Authorized(conversation))
    }
}

pub async fn start(
    State(state): State<SharedState>,
    headers: HeaderMap,
    extensions: axum::http::Extensions,
    body: Result<Json<StartBody>, JsonRejection>,
) -> Result<impl IntoResponse, ApiError> {
    let body = body_or_default(body)?;
    let lang = match body.lang.as_deref().map(str::trim) {
        None | Some("") => None,
        Some(l) => Some(l.parse::<Lang>().map_err(|_| {
            ApiError::InvalidRequest(format!("lang must be `pl` or `en`, got `{l}`"))
        })?),
    };
    validate_context(&body.context)?;
    if state.is_shutting_down() {
        return Err(ApiError::ShuttingDown);
    }
    if let Err(e) = state
        .limits
        .check_new_conversation(state.client_ip(&headers, &extensions))
    {
        state
            .metrics
            .rate_limited
            .get_or_create(&super::metrics::Metrics::kind("conversations"))
            .inc();
        return Err(e);
    }
    let created = state.store.create_conversation(lang, &body.context).await?;
    let c = &created.conversation;
    Ok((
        StatusCode::CREATED,
        Json(json!({
            "conversation_id": c.id,
            "token": created.token,
            "status": c.status,
            "lang": c.lang,
            "created_at": c.created_at,
            "privacy_url": non_empty(state.privacy_url()),
        })),
    ))
}

fn non_empty(s: String) -> Option<String> {
    (!s.is_empty()).then_some(s)
}

pub async fn get(
    State(state): State<SharedState>,
    Authorized(conversation): Authorized,
) -> Result<impl IntoResponse, ApiError> {
    // With its score, which authentication does not read.
    let conversation = state.store.conversation(&conversation.id.0).await?;
    let messages = state
        .store
        .messages_for_customer(&conversation.id, 0)
        .await?;
    let survey = state.store.survey(&conversation.id).await?;
    let mut v = serde_json::to_value(&conversation).map_err(ApiError::internal)?;
    v["messages"] = serde_json::to_value(&messages).map_err(ApiError::internal)?;
    v["resolved"] = json!(survey.resolved);
    v["nps"] = json!(survey.nps);
    v["ask_nps"] = json!(state.settings.ask_nps);
    v["privacy_url"] = json!(non_empty(state.privacy_url()));
    Ok(Json(v))
}

pub async fn send(
    State(state): State<SharedState>,
    headers: HeaderMap,
    extensions: axum::http::Extensions,
    Authorized(conversation): Authorized,
    body: Result<Json<MessageBody>, JsonRejection>,
) -> Result<impl IntoResponse, ApiError> {
    let received = Instant::now();
    let Json(body) = body?;
    let text = body.text.trim();
    if text.is_empty() {
        return Err(ApiError::InvalidMessage("the message is empty".into()));
    }
    let chars = text.chars().count();
    if chars > state.settings.max_message_chars {
        return Err(ApiError::InvalidMessage(format!(
            "the message has {chars} characters; at most {} are accepted",
            state.settings.max_message_chars
        )));
    }
    validate_context(&body.context)?;
    if conversation.status == ConversationStatus::Closed {
        return Err(ApiError::ConversationClosed);
    }
    state
        .limits
        .check_conversation(&conversation.id.0)
        .inspect_err(|_| {
            state
                .metrics
                .rate_limited
                .get_or_create(&super::metrics::Metrics::kind("conversation"))
                .inc();
        })?;
    if state.is_shutting_down() {
        return Err(ApiError::ShuttingDown);
    }
    let ip = state.client_ip(&headers, &extensions);
    let guard = state.customer_stream("answer", &conversation.id, ip)?;
    // Durable before anything is said about it.
    let message = state
        .store
        .add_customer_message(&conversation.id, text, &body.context)
        .await?;
    state.metrics.messages_stored.inc();
    state.notify(&conversation.id);
    let mut conversation = conversation;
    conversation.context.extend(body.context);
    let events = spawn_answer(state.clone(), conversation, message, received, ip);
    Ok(sse(answer_stream(events, guard), state.settings.keepalive_s).into_response())
}

fn answer_stream(
    events: tokio::sync::mpsc::UnboundedReceiver<AnswerEvent>,
    guard: (StreamGuard, super::streams::CapSlot),
) -> impl Stream<Item = Result<SseEvent, Infallible>> {
    futures_util::stream::unfold(
        (events, guard, false),
        |(mut events, guard, done)| async move {
            if done {
                return None;
            }
            let e = events.recv().await?;
            let terminal = e.is_terminal();
            let (name, data) = e.to_sse();
            let event = SseEvent::default().event(name).data(data.to_string());
            Some((Ok(event), (events, guard, terminal)))
        },
    )
}

/// An SSE response with a comment line every `keepalive_s` seconds.
pub fn sse<S>(stream: S, keepalive_s: u64) -> impl IntoResponse
where
    S: Stream<Item = Result<SseEvent, Infallible>> + Send + 'static,
{
    let mut headers = HeaderMap::new();
    // Tell buffering proxies (nginx) to pass events through at once.
    headers.insert("x-accel-buffering", header::HeaderValue::from_static("no"));
    (
        headers,
        Sse::new(stream).keep_alive(
            KeepAlive::new()
                .interval(std::time::Duration::from_secs(keepalive_s))
                .text("ping"),
        ),
    )
}

pub async fn handoff(
    State(state): State<SharedState>,
    Authorized(conversation): Authorized,
) -> Result<impl IntoResponse, ApiError> {
    let lang = conversation.lang.unwrap_or(Lang::Pl);
    let assistant = state.assistant();
    let text = assistant.message("handoff", lang);
    let (message, status) = state.store.request_handoff(&conversation.id, &text).await?;
    state.notify(&conversation.id);
    tracing::info!(conversation = %conversation.id, "customer asked for a person");
    Ok(Json(json!({ "status": status, "message": message })))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ContactBody {
    email: String,
    /// The customer ticked the consent text `GET .../contact` returned.
    consent: bool,
}

/// The consent text for the conversation's language and whether replies go by e-mail, with the
/// address left so far.
pub async fn contact_get(
    State(state): State<SharedState>,
    Authorized(conversation): Authorized,
) -> Result<impl IntoResponse, ApiError> {
    let lang = conversation.lang.unwrap_or(Lang::Pl);
    let contact = state.store.contact(&conversation.id).await?;
    Ok(Json(json!({
        "offered": state.offers_email(),
        "consent_text": state.assistant().message("email_consent", lang),
        "email": contact.map(|c| c.email),
    })))
}

/// Keeps an address for replies after the customer has gone, with the consent text they
/// accepted (the server's own text for the conversation's language).
pub async fn contact_set(
    State(state): State<SharedState>,
    Authorized(conversation): Authorized,
    body: Result<Json<ContactBody>, JsonRejection>,
) -> Result<impl IntoResponse, ApiError> {
    let Json(body) = body?;
    if !state.offers_email() {
        return Err(ApiError::InvalidRequest(
            "this shop does not send replies by e-mail".into(),
        ));
    }
    if !body.consent {
        return Err(ApiError::InvalidRequest(
            "an address is kept only with consent (`consent`: true)".into(),
        ));
    }
    let lang = conversation.lang.unwrap_or(Lang::Pl);
    let consent = state.assistant().message("email_consent", lang);
    let contact = state
        .store
        .set_contact(&conversation.id, &body.email, &consent)
        .await?;
    tracing::info!(conversation = %conversation.id, "customer left an e-mail address");
    Ok((StatusCode::CREATED, Json(json!({ "email": contact.email }))))
}

/// Forgets the address.
pub async fn contact_delete(
    State(state): State<SharedState>,
    Authorized(conversation): Authorized,
) -> Result<impl IntoResponse, ApiError> {
    let erased = state
        .store
        .erase_contact(&conversation.id, "customer")
        .await?;
    Ok(Json(json!({ "erased": erased })))
}

pub async fn feedback(
    State(state): State<SharedState>,
    Authorized(conversation): Authorized,
    body: Result<Json<FeedbackBody>, JsonRejection>,
) -> Result<impl IntoResponse, ApiError> {
    let Json(body) = body?;
    if body.thumb.is_none() && (body.resolved.is_some() || body.nps.is_some()) {
        return survey(&state, &conversation.id, &body).await;
    }
    let feedback_id = match (&body.thumb, body.csat) {
        (Some(thumb), None) => {
            let up = match thumb.as_str() {
                "up" => true,
                "down" => false,
                other => {
                    return Err(ApiError::InvalidFeedback(format!(
                        "thumb must be `up` or `down`, got `{other}`"
                    )))
                }
            };
            let message = body.message_id.ok_or_else(|| {
                ApiError::InvalidFeedback("a thumb needs the message_id it is about".into())
            })?;
            state
                .store
                .add_thumb(&conversation.id, message, up)
                .await
                .map_err(|e| match e {
                    crate::store::StoreError::NotFound { .. } => ApiError::InvalidFeedback(
                        format!("message {message} is not an answer in this conversation"),
                    ),
                    other @ (crate::store::StoreError::Open { .. }
                    | crate::store::StoreError::TooNew { .. }
                    | crate::store::StoreError::Migrate(_)
                    | crate::store::StoreError::Db(_)
                    | crate::store::StoreError::Unauthorized
                    | crate::store::StoreError::Closed
                    | crate::store::StoreError::Invalid(_)
                    | crate::store::StoreError::Conflict { .. }
                    | crate::store::StoreError::AlreadyReviewed { .. }
                    | crate::store::StoreError::Corrupt { .. }) => other.into(),
                })?
        }
        (None, Some(score)) => {
            if !(1..=5).contains(&score) {
                return Err(ApiError::InvalidFeedback(format!(
                    "csat must be between 1 and 5, got {score}"
                )));
            }
            let comment = comment_of(&body)?;
            state
                .store
                .set_csat(&conversation.id, score, comment)
                .await?
        }
        _ => return Err(ApiError::InvalidFeedback(
            "send either `thumb` (with `message_id`) or survey answers (`resolved`, `csat`, `nps`)"
                .into(),
        )),
    };
    Ok((
        StatusCode::CREATED,
        Json(json!({ "feedback_id": feedback_id })),
    ))
}

/// The feedback's comment, trimmed (empty is none), at most `MAX_COMMENT_CHARS` long.
fn comment_of(body: &FeedbackBody) -> Result<Option<&str>, ApiError> {
    let comment = body
        .comment
        .as_deref()
        .map(str::trim)
        .filter(|c| !c.is_empty());
    if comment.is_some_and(|c| c.chars().count() > MAX_COMMENT_CHARS) {
        return Err(ApiError::InvalidFeedback(format!(
            "the comment is longer than {MAX_COMMENT_CHARS} characters"
        )));
    }
    Ok(comment)
}

/// The end-of-conversation survey: any of `resolved`, `csat` (1-5), `nps` (0-10), `comment`.
async fn survey(
    state: &SharedState,
    conversation: &crate::store::ConversationId,
    body: &FeedbackBody,
) -> Result<(StatusCode, Json<serde_json::Value>), ApiError> {
    let comment = comment_of(body)?;
    let answer = crate::store::SurveyAnswer {
        resolved: body.resolved,
        csat: body.csat,
        nps: body.nps,
        comment,
    };
    answer
        .validate()
        .map_err(|e| ApiError::InvalidFeedback(e.to_string()))?;
    state.store.answer_survey(conversation, answer).await?;
    Ok((
        StatusCode::CREATED,
        Json(json!({ "resolved": body.resolved, "csat": body.csat, "nps": body.nps })),
    ))
}

pub async fn close(
    State(state): State<SharedState>,
    Authorized(conversation): Authorized,
) -> Result<impl IntoResponse, ApiError> {
    state
        .store
        .set_status(&conversation.id, ConversationStatus::Closed)
        .await?;
    state.notify(&conversation.id);
    Ok(Json(json!({ "status": ConversationStatus::Closed })))
}
