//! The console's pages for looking back: past conversations with search and filters, the
//! knowledge gaps with "write an approved answer", and each staff member's language setting.

use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::{Form, Json};
use serde::Deserialize;
use serde_json::{json, Value};

use super::auth::{same_origin, Staff};
use super::pages::{staff_ctx, title};
use super::render::{page, PageError};
use crate::console::{dates, gaps};
use crate::knowledge::Lang;
use crate::server::error::ApiError;
use crate::server::state::SharedState;
use crate::store::{
    ConversationFilter, ConversationRow, ConversationStatus, RatingFilter, DECISION_ACTIONS,
    HIT_END, HIT_START,
};

/// Conversations on one page of the list.
const PAGE: i64 = 50;
/// Gap questions looked at (the newest in the range).
const GAP_QUESTIONS: i64 = 500;
const DAY_MS: i64 = 86_400_000;

/// The list's query string; empty fields mean "any".
#[derive(Debug, Default, Deserialize)]
pub struct ListQuery {
    #[serde(default)]
    q: Option<String>,
    #[serde(default)]
    status: Option<String>,
    #[serde(default)]
    from: Option<String>,
    #[serde(default)]
    to: Option<String>,
    #[serde(default)]
    decision: Option<String>,
    #[serde(default)]
    rating: Option<String>,
    #[serde(default)]
    page: Option<i64>,
}

fn given(v: &Option<String>) -> Option<&str> {
    v.as_deref().map(str::trim).filter(|s| !s.is_empty())
}

/// The store's filter for a list query; a bad value is a clear 400, not an empty list.
pub fn list_filter(q: &ListQuery) -> Result<ConversationFilter, ApiError> {
    let date = |d: &Option<String>| {
        given(d)
            .map(dates::parse_date)
            .transpose()
            .map_err(ApiError::InvalidRequest)
    };
    let status = given(&q.status)
        .map(|s| {
            s.parse::<ConversationStatus>()
                .map_err(|_| ApiError::InvalidRequest(format!("unknown status `{s}`")))
        })
        .transpose()?;
    let decision = given(&q.decision).map(str::to_string);
    if let Some(d) = &decision {
        if !DECISION_ACTIONS.contains(&d.as_str()) {
            return Err(ApiError::InvalidRequest(format!("unknown decision `{d}`")));
        }
    }
    let rating = given(&q.rating)
        .map(|r| {
            serde_json::from_value::<RatingFilter>(json!(r))
                .map_err(|_| ApiError::InvalidRequest(format!("unknown rating filter `{r}`")))
        })
        .transpose()?;
    let page = q.page.unwrap_or(1);
    if page < 1 {
        return Err(ApiError::InvalidRequest("`page` starts at 1".into()));
    }
    Ok(ConversationFilter {
        text: given(&q.q).map(str::to_string),
        status,
        from_ms: date(&q.from)?,
        to_ms: date(&q.to)?.map(|d| d + DAY_MS),
        decision,
        rating,
        // One more than shown tells whether a next page exists.
        limit: PAGE + 1,
        offset: (page - 1) * PAGE,
    })
}

/// A snippet cut into plain and matched parts (the template escapes both).
fn snippet_parts(snippet: &str) -> Vec<Value> {
    let mut out = Vec::new();
    let mut hit = false;
    for part in snippet.split([HIT_START, HIT_END]) {
        if !part.is_empty() {
            out.push(json!({ "text": part, "hit": hit }));
        }
        hit = !hit;
    }
    out
}

async fn list(
    state: &SharedState,
    q: &ListQuery,
) -> Result<(Vec<ConversationRow>, bool), ApiError> {
    let filter = list_filter(q)?;
    // A search with nothing to look for is the store's `Invalid`, a 400 like any bad filter.
    let mut rows = state.store.search_conversations(&filter).await?;
    let more = rows.len() as i64 > PAGE;
    rows.truncate(PAGE as usize);
    Ok((rows, more))
}

pub async fn conversations(
    State(state): State<SharedState>,
    staff: Result<Staff, ApiError>,
    Query(q): Query<ListQuery>,
) -> Result<Response, PageError> {
    let staff = staff?;
    let (rows, more) = list(&state, &q).await?;
    let page_no = q.page.unwrap_or(1);
    // The same filters on the neighbouring pages.
    let mut keep: Vec<(&str, String)> = Vec::new();
    for (k, v) in [
        ("q", &q.q),
        ("status", &q.status),
        ("from", &q.from),
        ("to", &q.to),
        ("decision", &q.decision),
        ("rating", &q.rating),
    ] {
        if let Some(v) = given(v) {
            keep.push((k, v.to_string()));
        }
    }
    let link = |p: i64| {
        let mut pairs = keep.clone();
        pairs.push(("page", p.to_string()));
        let qs = serde_urlencoded::to_string(&pairs).unwrap_or_default();
        format!("/console/conversations?{qs}")
    };
    let ctx = json!({
        "title": title(staff.lang(), "conversations-title", &[]),
        "staff": staff_ctx(&staff),
        "rows": rows.iter().map(|r| json!({
            "row": r,
            "snippet": r.snippet.as_deref().map(snippet_parts),
        })).collect::<Vec<_>>(),
        "q": given(&q.q), "status": given(&q.status), "from": given(&q.from), "to": given(&q.to),
        "decision": given(&q.decision), "rating": given(&q.rating),
        "decisions": DECISION_ACTIONS,
        "prev": (page_no > 1).then(|| link(page_no - 1)),
        "next": more.then(|| link(page_no + 1)),
    });
    page(StatusCode::OK, "conversations.html", ctx)
}

pub async fn conversations_api(
    State(state): State<SharedState>,
    _staff: Staff,
    Query(q): Query<ListQuery>,
) -> Result<Json<Value>, ApiError> {
    let (rows, more) = list(&state, &q).await?;
    Ok(Json(json!({ "conversations": rows, "more": more })))
}

#[derive(Debug, Deserialize)]
pub struct GapsQuery {
    #[serde(default)]
    days: Option<i64>,
}

async fn gap_topics(state: &SharedState, days: i64) -> Result<Vec<gaps::GapTopic>, ApiError> {
    if !(1..=365).contains(&days) {
        return Err(ApiError::InvalidRequest(
            "`days` is between 1 and 365".into(),
        ));
    }
    let now = crate::store::now_ms();
    let questions = state
        .store
        .gap_questions(now - days * DAY_MS, now + 1, GAP_QUESTIONS)
        .await?;
    let assistant = state.assistant();
    Ok(gaps::group(&assistant.index, &questions))
}

pub async fn gaps_page(
    State(state): State<SharedState>,
    staff: Result<Staff, ApiError>,
    Query(q): Query<GapsQuery>,
) -> Result<Response, PageError> {
    let staff = staff?;
    let days = q.days.unwrap_or(30);
    let topics = gap_topics(&state, days).await?;
    let ctx = json!({
        "title": title(staff.lang(), "gaps-title", &[]),
        "staff": staff_ctx(&staff),
        "topics": topics,
        "days": days,
    });
    page(StatusCode::OK, "gaps.html", ctx)
}

pub async fn gaps_api(
    State(state): State<SharedState>,
    _staff: Staff,
    Query(q): Query<GapsQuery>,
) -> Result<Json<Value>, ApiError> {
    let topics = gap_topics(&state, q.days.unwrap_or(30)).await?;
    Ok(Json(json!({ "topics": topics })))
}

/// "Write an approved answer" for a gap: the questions (one per line) and the answer.
/// The language form in every page's header: `pl`, `en` or empty (the console's default).
#[derive(Debug, Deserialize)]
pub struct LangInput {
    csrf: String,
    #[serde(default)]
    lang: String,
    /// The console page to go back to.
    #[serde(default)]
    back: String,
}

pub async fn lang_form(
    State(state): State<SharedState>,
    headers: HeaderMap,
    staff: Result<Staff, ApiError>,
    Form(input): Form<LangInput>,
) -> Result<Response, PageError> {
    same_origin(&headers)?;
    let staff = staff?;
    staff.check_csrf(Some(&input.csrf))?;
    let lang = match input.lang.trim() {
        "" => None,
        l => Some(l.parse::<Lang>().map_err(ApiError::InvalidRequest)?),
    };
    state.store.set_staff_lang(staff.0.member.id, lang).await?;
    // Only back to a console page: never an open redirect.
    let back = if input.back.starts_with("/console") && !input.back.starts_with("//") {
        input.back.as_str()
    } else {
        "/console"
    };
    Ok(Redirect::to(back).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn list_queries_become_filters_and_bad_values_are_refused() {
        let q = ListQuery {
            q: Some(" zwrot ".into()),
            status: Some("closed".into()),
            from: Some("2026-12-01".into()),
            to: Some("2026-12-01".into()),
            decision: Some("hold".into()),
            rating: Some("thumbs_down".into()),
            page: Some(2),
        };
        let f = list_filter(&q).unwrap();
        assert_eq!(f.text.as_deref(), Some("zwrot"));
        assert_eq!(f.status, Some(ConversationStatus::Closed));
        assert_eq!(f.to_ms.unwrap() - f.from_ms.unwrap(), DAY_MS);
        assert_eq!(f.rating, Some(RatingFilter::ThumbsDown));
        assert_eq!(f.offset, PAGE);
        assert_eq!(list_filter(&ListQuery::default()).unwrap().offset, 0);
        for bad in [
            ListQuery {
                status: Some("asleep".into()),
                ..ListQuery::default()
            },
            ListQuery {
                decision: Some("maybe".into()),
                ..ListQuery::default()
            },
            ListQuery {
                rating: Some("great".into()),
                ..ListQuery::default()
            },
            ListQuery {
                from: Some("yesterday".into()),
                ..ListQuery::default()
            },
            ListQuery {
                page: Some(0),
                ..ListQuery::default()
            },
        ] {
            assert!(list_filter(&bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn snippets_alternate_plain_and_matched_parts() {
        let s = format!("a {HIT_START}zwrot{HIT_END} b");
        let parts = snippet_parts(&s);
        assert_eq!(
            parts,
            vec![
                json!({"text": "a ", "hit": false}),
                json!({"text": "zwrot", "hit": true}),
                json!({"text": " b", "hit": false}),
            ]
        );
    }
}
