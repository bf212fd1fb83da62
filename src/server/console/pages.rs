//! The console's pages (review queue, one item, a conversation, knowledge, stats) and their JSON
//! twins under `/console/api`: read-only handlers; the actions are in `actions.rs`.

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};

use super::auth::Staff;
use super::render::{page, PageError};
use crate::check::RefSource;
use crate::console::dates;
use crate::console::highlight::{draft_segments, reference_segments};
use crate::console::i18n::{self, Arg};
use crate::console::svg::{self, Bar};
use crate::server::error::ApiError;
use crate::server::state::SharedState;
use crate::store::{ConversationId, ReviewItem, Stats, StatsRange};

/// A console text in the console's language (titles, chart labels); a missing key is a bug
/// the catalogue test catches, shown as the key rather than failing the page.
fn title(key: &str, args: &[(&str, Arg)]) -> String {
    i18n::text(super::render::console_lang(), key, args).unwrap_or_else(|e| {
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
    Ok(json!({
        "items": items,
        "pending": pending,
        "waiting": waiting,
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
    ctx["title"] = json!(title("queue-title", &[]));
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
    ctx["title"] = json!(title("item-title", &[("id", Arg::Number(id as f64))]));
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
    page(
        StatusCode::OK,
        "conversation.html",
        json!({
            "title": title("conversation-title", &[("id", Arg::Text(id.0.clone()))]),
            "staff": staff_ctx(&staff),
            "conversation": c,
            "messages": messages,
            "open": c.status != crate::store::ConversationStatus::Closed,
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
            "title": title("knowledge-title", &[]),
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

#[derive(Debug, Deserialize)]
pub struct RangeQuery {
    #[serde(default)]
    from: Option<String>,
    #[serde(default)]
    to: Option<String>,
}

const DAY_MS: i64 = 86_400_000;

/// The range of a stats request: `from` and `to` are dates, both included; by default the last
/// 30 days up to today.
pub fn stats_range(q: &RangeQuery, now_ms: i64) -> Result<StatsRange, ApiError> {
    let parse = |d: &Option<String>| {
        d.as_deref()
            .filter(|d| !d.trim().is_empty())
            .map(dates::parse_date)
            .transpose()
            .map_err(ApiError::InvalidRequest)
    };
    let to = parse(&q.to)?.unwrap_or(now_ms.div_euclid(DAY_MS) * DAY_MS) + DAY_MS;
    let from = parse(&q.from)?.unwrap_or(to - 30 * DAY_MS);
    if from >= to {
        return Err(ApiError::InvalidRequest(
            "`from` must be on or before `to`".into(),
        ));
    }
    Ok(StatsRange {
        from_ms: from,
        to_ms: to,
    })
}

fn charts(s: &Stats) -> Value {
    let n = |a: &str| s.by_action.get(a).copied().unwrap_or(0) as f64;
    let share = |x: f64| {
        if s.decided == 0 {
            String::new()
        } else {
            format!("{x:.0} ({:.0}%)", 100.0 * x / s.decided as f64)
        }
    };
    let decisions = [
        (
            title("chart-automated", &[]),
            n("send") + n("send_canonical"),
        ),
        (format!("  {}", title("chart-as-draft", &[])), n("send")),
        (
            format!("  {}", title("chart-as-canonical", &[])),
            n("send_canonical"),
        ),
        (title("chart-held", &[]), n("hold")),
        (title("chart-handoff", &[]), n("handoff")),
        (title("chart-no-answer", &[]), n("no_answer")),
    ]
    .into_iter()
    .map(|(l, v)| Bar::new(l, v).with_note(share(v)))
    .collect::<Vec<_>>();
    let findings: Vec<Bar> = s
        .blocked_by_finding
        .iter()
        .map(|(k, v)| Bar::new(k.replace('_', " "), *v as f64))
        .collect();
    let csat: Vec<Bar> = s
        .csat_distribution
        .iter()
        .enumerate()
        .map(|(i, v)| Bar::new(format!("{}", i + 1), *v as f64))
        .collect();
    json!({
        "decisions": svg::bar_chart(&title("chart-decisions", &[]), &decisions, &title("chart-unit-messages", &[])),
        "findings": svg::bar_chart(&title("chart-findings", &[]), &findings, &title("chart-unit-drafts", &[])),
        "csat": svg::column_chart(&title("chart-csat", &[]), &csat, &title("chart-unit-conversations", &[])),
    })
}

async fn stats_ctx(state: &SharedState, q: &RangeQuery) -> Result<(Stats, Value), ApiError> {
    let range = stats_range(q, crate::store::now_ms())?;
    let stats = state.store.stats(range, 10).await?;
    let ctx = json!({
        "stats": stats,
        "automated_share": stats.share(&["send", "send_canonical"]),
        "handoff_share": stats.share(&["handoff"]),
        "held_share": stats.share(&["hold"]),
        "top": stats.top_questions.iter().map(|t| json!({
            "example": t.example, "count": t.count, "canonical_id": t.canonical_id,
            "consistency": t.consistency(),
        })).collect::<Vec<_>>(),
        "from": dates::date(range.from_ms),
        "to": dates::date(range.to_ms - DAY_MS),
    });
    Ok((stats, ctx))
}

pub async fn stats(
    State(state): State<SharedState>,
    staff: Result<Staff, ApiError>,
    Query(q): Query<RangeQuery>,
) -> Result<Response, PageError> {
    let staff = staff?;
    let (stats, mut ctx) = stats_ctx(&state, &q).await?;
    ctx["title"] = json!(title("stats-title", &[]));
    ctx["staff"] = staff_ctx(&staff);
    ctx["charts"] = charts(&stats);
    page(StatusCode::OK, "stats.html", ctx)
}

pub async fn stats_api(
    State(state): State<SharedState>,
    _staff: Staff,
    Query(q): Query<RangeQuery>,
) -> Result<Response, ApiError> {
    let (_, ctx) = stats_ctx(&state, &q).await?;
    Ok(Json(ctx).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_range_is_the_last_30_days_including_today() {
        let now = dates::parse_date("2026-12-01").unwrap() + 5 * 3_600_000;
        let r = stats_range(
            &RangeQuery {
                from: None,
                to: None,
            },
            now,
        )
        .unwrap();
        assert_eq!(dates::date(r.to_ms), "2026-12-02");
        assert_eq!(dates::date(r.from_ms), "2026-11-02");
        let q = RangeQuery {
            from: Some("2026-11-05".into()),
            to: Some("2026-11-05".into()),
        };
        let one = stats_range(&q, now).unwrap();
        assert_eq!(one.to_ms - one.from_ms, DAY_MS);
        let bad = RangeQuery {
            from: Some("2026-11-06".into()),
            to: Some("2026-11-05".into()),
        };
        assert!(stats_range(&bad, now).is_err());
        let garbage = RangeQuery {
            from: Some("soon".into()),
            to: None,
        };
        assert!(stats_range(&garbage, now).is_err());
    }
}
