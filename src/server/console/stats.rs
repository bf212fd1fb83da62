//! The console's stats page and its JSON and CSV twins: how answers were decided, first
//! response, CSAT, first-contact resolution, NPS, time to a person and daily trends.

use axum::extract::{Query, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};

use super::auth::Staff;
use super::pages::{staff_ctx, title};
use super::render::{page, PageError};
use crate::console::dates;
use crate::console::svg::{self, Bar};
use crate::knowledge::Lang;
use crate::server::error::ApiError;
use crate::server::state::SharedState;
use crate::store::{ServiceStats, Stats, StatsRange};

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

fn charts(lang: Lang, s: &Stats, service: &ServiceStats) -> Value {
    let t = |key: &str| title(lang, key, &[]);
    let n = |a: &str| s.by_action.get(a).copied().unwrap_or(0) as f64;
    let share = |x: f64| {
        if s.decided == 0 {
            String::new()
        } else {
            format!("{x:.0} ({:.0}%)", 100.0 * x / s.decided as f64)
        }
    };
    let decisions = [
        (t("chart-automated"), n("send") + n("send_canonical")),
        (format!("  {}", t("chart-as-draft")), n("send")),
        (
            format!("  {}", t("chart-as-canonical")),
            n("send_canonical"),
        ),
        (t("chart-held"), n("hold")),
        (t("chart-handoff"), n("handoff")),
        (t("chart-no-answer"), n("no_answer")),
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
    let to_person: Vec<Bar> = ["chart-under-1h", "chart-1-4h", "chart-over-4h"]
        .iter()
        .zip(service.time_to_person_buckets)
        .map(|(k, v)| Bar::new(t(k), v as f64))
        .chain(std::iter::once(Bar::new(
            t("chart-still-waiting"),
            (service.person_needed - service.person_reached) as f64,
        )))
        .collect();
    let daily: Vec<Bar> = service
        .daily
        .iter()
        .map(|d| {
            Bar::new(
                dates::date(d.day_ms)[5..].to_string(),
                d.conversations as f64,
            )
        })
        .collect();
    let day_share = |f: fn(&crate::store::DayFigures) -> i64| -> Vec<(f64, f64)> {
        service
            .daily
            .iter()
            .enumerate()
            .map(|(i, d)| {
                let y = if d.conversations == 0 {
                    f64::NAN
                } else {
                    100.0 * f(d) as f64 / d.conversations as f64
                };
                ((i + 1) as f64, y)
            })
            .collect()
    };
    let shares = [
        svg::Series {
            name: t("chart-series-automated"),
            points: day_share(|d| d.automated),
        },
        svg::Series {
            name: t("chart-series-person"),
            points: day_share(|d| d.person_needed),
        },
        svg::Series {
            name: t("chart-series-resolved"),
            points: day_share(|d| d.resolved_confirmed),
        },
    ];
    // The charts are shared with the (English) evaluation reports; their one fixed text here.
    let no_data = format!(">{}</text>", t("chart-no-data"));
    let local = |svg: String| svg.replace(">no data</text>", &no_data);
    json!({
        "decisions": local(svg::bar_chart(&t("chart-decisions"), &decisions, &t("chart-unit-messages"))),
        "findings": local(svg::bar_chart(&t("chart-findings"), &findings, &t("chart-unit-drafts"))),
        "csat": local(svg::column_chart(&t("chart-csat"), &csat, &t("chart-unit-conversations"))),
        "to_person": local(svg::bar_chart(&t("chart-to-person"), &to_person, &t("chart-unit-conversations"))),
        "daily": local(svg::column_chart(&t("chart-daily"), &daily, &t("chart-unit-conversations"))),
        "daily_shares": local(svg::line_chart(&t("chart-daily-shares"), &t("chart-day-of-range"), "%", &shares, Some((0.0, 100.0)))),
    })
}

async fn stats_ctx(
    state: &SharedState,
    q: &RangeQuery,
) -> Result<(Stats, ServiceStats, Value), ApiError> {
    let range = stats_range(q, crate::store::now_ms())?;
    let stats = state.store.stats(range, 10).await?;
    let service = state.store.service_stats(range).await?;
    let ctx = json!({
        "stats": stats,
        "service": service,
        "fcr_confirmed": service.fcr_confirmed_rate(),
        "fcr_total": service.fcr_total_rate(),
        "resolved_rate": service.resolved_rate(),
        "nps": service.nps(),
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
    Ok((stats, service, ctx))
}

pub async fn stats(
    State(state): State<SharedState>,
    staff: Result<Staff, ApiError>,
    Query(q): Query<RangeQuery>,
) -> Result<Response, PageError> {
    let staff = staff?;
    let (stats, service, mut ctx) = stats_ctx(&state, &q).await?;
    ctx["title"] = json!(title(staff.lang(), "stats-title", &[]));
    ctx["staff"] = staff_ctx(&staff);
    ctx["charts"] = charts(staff.lang(), &stats, &service);
    ctx["csv_query"] = json!(format!(
        "from={}&to={}",
        ctx["from"].as_str().unwrap_or_default(),
        ctx["to"].as_str().unwrap_or_default()
    ));
    page(StatusCode::OK, "stats.html", ctx)
}

pub async fn stats_api(
    State(state): State<SharedState>,
    _staff: Staff,
    Query(q): Query<RangeQuery>,
) -> Result<Response, ApiError> {
    let (_, _, ctx) = stats_ctx(&state, &q).await?;
    Ok(Json(ctx).into_response())
}

/// One row per day of the range: the daily figures, for a spreadsheet (the column names are
/// stable and in English, whatever the console's language).
pub fn daily_csv(service: &ServiceStats) -> String {
    let mut out = String::from(
        "date,conversations,automated,person_needed,resolved_confirmed,csat_count,csat_average\n",
    );
    for d in &service.daily {
        let avg = if d.csat_count == 0 {
            String::new()
        } else {
            format!("{:.2}", d.csat_sum as f64 / d.csat_count as f64)
        };
        out.push_str(&format!(
            "{},{},{},{},{},{},{}\n",
            dates::date(d.day_ms),
            d.conversations,
            d.automated,
            d.person_needed,
            d.resolved_confirmed,
            d.csat_count,
            avg
        ));
    }
    out
}

/// `GET /console/stats.csv?from=&to=`: the daily figures as CSV, downloaded as a file.
pub async fn stats_csv(
    State(state): State<SharedState>,
    _staff: Staff,
    Query(q): Query<RangeQuery>,
) -> Result<Response, ApiError> {
    let range = stats_range(&q, crate::store::now_ms())?;
    let service = state.store.service_stats(range).await?;
    let name = format!(
        "attachment; filename=\"concord-stats-{}-{}.csv\"",
        dates::date(range.from_ms),
        dates::date(range.to_ms - DAY_MS)
    );
    Ok((
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/csv; charset=utf-8"),
            ),
            (
                header::CONTENT_DISPOSITION,
                HeaderValue::from_str(&name).map_err(ApiError::internal)?,
            ),
        ],
        daily_csv(&service),
    )
        .into_response())
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
