//! Service figures over a date range: first-contact resolution (confirmed by the customer and
//! assumed), NPS, time to a person after a handoff or hold, and daily trends.

use serde::Serialize;
use sqlx::Row;

use super::{StatsRange, Store, StoreError};

const DAY_MS: i64 = 86_400_000;
const HOUR_MS: i64 = 3_600_000;

/// One day of the range (UTC, like the range itself).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct DayFigures {
    /// Midnight UTC of the day, in Unix milliseconds.
    pub day_ms: i64,
    pub conversations: i64,
    /// Conversations every question of which the assistant answered itself.
    pub automated: i64,
    /// Conversations where a person was needed (a hold or a handoff).
    pub person_needed: i64,
    pub resolved_confirmed: i64,
    pub csat_count: i64,
    pub csat_sum: i64,
}

/// The service figures of conversations created in a range.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct ServiceStats {
    /// Conversations with at least one customer message (first-contact resolution is a share of
    /// these; the survey and NPS count every conversation).
    pub asked: i64,
    /// Customers who answered "did this solve your problem?".
    pub resolution_answers: i64,
    /// ...with yes.
    pub resolved_yes: i64,
    /// ...with yes, and no person was needed: confirmed first-contact resolution.
    pub fcr_confirmed: i64,
    /// No answer to the question, but nothing says it failed: the assistant answered, no person
    /// was needed, no question went unanswered, no answer was rated thumbs down.
    pub fcr_assumed: i64,
    pub nps_count: i64,
    /// Scores 9-10.
    pub nps_promoters: i64,
    /// Scores 0-6.
    pub nps_detractors: i64,
    /// Conversations where a person was needed (a hold or a handoff).
    pub person_needed: i64,
    /// ...and a person has answered (a staff reply or an approved draft).
    pub person_reached: i64,
    pub time_to_person_median_ms: Option<f64>,
    pub time_to_person_p90_ms: Option<f64>,
    /// Time to a person: under 1 h, 1-4 h, over 4 h.
    pub time_to_person_buckets: [i64; 3],
    pub daily: Vec<DayFigures>,
}

impl ServiceStats {
    fn rate(n: i64, of: i64) -> Option<f64> {
        (of > 0).then(|| n as f64 / of as f64)
    }

    /// Confirmed first-contact resolution, as a share of conversations with a question.
    pub fn fcr_confirmed_rate(&self) -> Option<f64> {
        Self::rate(self.fcr_confirmed, self.asked)
    }

    /// Confirmed plus assumed first-contact resolution, as a share of conversations.
    pub fn fcr_total_rate(&self) -> Option<f64> {
        Self::rate(self.fcr_confirmed + self.fcr_assumed, self.asked)
    }

    /// Of the customers who answered, the share who said yes.
    pub fn resolved_rate(&self) -> Option<f64> {
        Self::rate(self.resolved_yes, self.resolution_answers)
    }

    /// Promoters minus detractors, in points from -100 to 100.
    pub fn nps(&self) -> Option<f64> {
        Self::rate(self.nps_promoters - self.nps_detractors, self.nps_count).map(|r| 100.0 * r)
    }
}

/// The value at quantile `q` of sorted `values` (nearest rank, interpolated between two).
fn quantile(sorted: &[i64], q: f64) -> Option<f64> {
    if sorted.is_empty() {
        return None;
    }
    let pos = q * (sorted.len() - 1) as f64;
    let (lo, hi) = (pos.floor() as usize, pos.ceil() as usize);
    let frac = pos - lo as f64;
    Some(sorted[lo] as f64 * (1.0 - frac) + sorted[hi] as f64 * frac)
}

impl Store {
    /// The service figures of conversations created in `range`, with one row per day.
    pub async fn service_stats(&self, range: StatsRange) -> Result<ServiceStats, StoreError> {
        let rows = sqlx::query(
            "SELECT c.created_ms, \
             EXISTS (SELECT 1 FROM messages m WHERE m.conversation_id = c.id AND m.role = 'customer') AS asked, \
             EXISTS (SELECT 1 FROM messages m WHERE m.conversation_id = c.id AND m.role = 'assistant' \
                     AND m.author IS NULL) AS answered, \
             (SELECT MIN(m.created_ms) FROM messages m WHERE m.conversation_id = c.id \
                     AND m.decision IN ('hold', 'handoff')) AS needed_ms, \
             (SELECT MIN(m.created_ms) FROM messages m WHERE m.conversation_id = c.id \
                     AND m.author IS NOT NULL) AS person_ms, \
             EXISTS (SELECT 1 FROM decisions d JOIN messages m ON m.id = d.message_id \
                     WHERE m.conversation_id = c.id AND d.action = 'no_answer') AS unanswered, \
             EXISTS (SELECT 1 FROM decisions d JOIN messages m ON m.id = d.message_id \
                     WHERE m.conversation_id = c.id AND d.action NOT IN ('send', 'send_canonical')) AS not_automated, \
             EXISTS (SELECT 1 FROM feedback f WHERE f.conversation_id = c.id AND f.kind = 'thumb' \
                     AND f.value < 0) AS thumbs_down, \
             s.resolved, s.nps, \
             (SELECT f.value FROM feedback f WHERE f.conversation_id = c.id AND f.kind = 'csat') AS csat \
             FROM conversations c LEFT JOIN surveys s ON s.conversation_id = c.id \
             WHERE c.created_ms >= $1 AND c.created_ms < $2",
        )
        .bind(range.from_ms)
        .bind(range.to_ms)
        .fetch_all(self.pool())
        .await?;
        let first_day = range.from_ms.div_euclid(DAY_MS);
        let days = (range.to_ms - 1).div_euclid(DAY_MS) - first_day + 1;
        let mut out = ServiceStats {
            daily: (0..days.max(0))
                .map(|d| DayFigures {
                    day_ms: (first_day + d) * DAY_MS,
                    ..DayFigures::default()
                })
                .collect(),
            ..ServiceStats::default()
        };
        let mut waits = Vec::new();
        for r in &rows {
            let created: i64 = r.try_get("created_ms")?;
            let asked = super::flag(r, "asked")? == Some(true);
            let answered = super::flag(r, "answered")? == Some(true);
            let needed_ms: Option<i64> = r.try_get("needed_ms")?;
            let person_ms: Option<i64> = r.try_get("person_ms")?;
            let unanswered = super::flag(r, "unanswered")? == Some(true);
            let not_automated = super::flag(r, "not_automated")? == Some(true);
            let thumbs_down = super::flag(r, "thumbs_down")? == Some(true);
            let resolved = super::flag(r, "resolved")?;
            let nps: Option<i64> = r.try_get("nps")?;
            let csat: Option<i64> = r.try_get("csat")?;
            let day = usize::try_from(created.div_euclid(DAY_MS) - first_day)
                .ok()
                .and_then(|d| out.daily.get_mut(d));
            let person_needed = needed_ms.is_some();
            if let Some(day) = day {
                day.conversations += 1;
                day.automated += i64::from(asked && answered && !not_automated);
                day.person_needed += i64::from(person_needed);
                day.resolved_confirmed += i64::from(resolved == Some(true));
                if let Some(c) = csat {
                    day.csat_count += 1;
                    day.csat_sum += c;
                }
            }
            if let Some(needed) = needed_ms {
                out.person_needed += 1;
                if let Some(person) = person_ms {
                    out.person_reached += 1;
                    let wait = (person - needed).max(0);
                    waits.push(wait);
                    let bucket = if wait < HOUR_MS {
                        0
                    } else if wait <= 4 * HOUR_MS {
                        1
                    } else {
                        2
                    };
                    out.time_to_person_buckets[bucket] += 1;
                }
            }
            // Every customer's survey counts, also one who only pressed "talk to a person".
            if let Some(yes) = resolved {
                out.resolution_answers += 1;
                out.resolved_yes += i64::from(yes);
            }
            if let Some(n) = nps {
                out.nps_count += 1;
                out.nps_promoters += i64::from(n >= 9);
                out.nps_detractors += i64::from(n <= 6);
            }
            // First-contact resolution is about the questions the assistant was asked.
            if !asked {
                continue;
            }
            out.asked += 1;
            match resolved {
                Some(yes) => out.fcr_confirmed += i64::from(yes && !person_needed),
                None => {
                    out.fcr_assumed +=
                        i64::from(answered && !person_needed && !unanswered && !thumbs_down)
                }
            }
        }
        waits.sort_unstable();
        out.time_to_person_median_ms = quantile(&waits, 0.5);
        out.time_to_person_p90_ms = quantile(&waits, 0.9);
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_interpolate_between_neighbours() {
        assert_eq!(quantile(&[], 0.5), None);
        assert_eq!(quantile(&[7], 0.9), Some(7.0));
        assert_eq!(quantile(&[1, 2, 3, 4], 0.5), Some(2.5));
        assert_eq!(quantile(&[0, 10], 0.9), Some(9.0));
    }

    #[test]
    fn nps_counts_promoters_minus_detractors() {
        let s = ServiceStats {
            nps_count: 10,
            nps_promoters: 5,
            nps_detractors: 2,
            ..ServiceStats::default()
        };
        assert_eq!(s.nps(), Some(30.0));
        assert_eq!(ServiceStats::default().nps(), None);
    }
}
