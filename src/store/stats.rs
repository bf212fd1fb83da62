//! Figures for the console's stats page over a date range: conversations, how answers were
//! decided, blocked drafts by finding kind, first response time, CSAT and the top questions.

use std::collections::{BTreeMap, HashMap};

use serde::Serialize;
use sqlx::Row;

use super::{parse_json, Store, StoreError};
use crate::check::Verdict;

/// A half-open range of Unix milliseconds: conversations (and decisions) created in it count.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct StatsRange {
    pub from_ms: i64,
    pub to_ms: i64,
}

/// One of the most frequent questions of the period.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TopQuestion {
    /// The approved answer the questions matched, when one did.
    pub canonical_id: Option<String>,
    /// The most recent wording of the question.
    pub example: String,
    pub count: i64,
    /// Answers that agree: with an approved answer, those sent as it or as a draft the checker
    /// found consistent with it; without one, those decided the most frequent way.
    pub consistent: i64,
}

impl TopQuestion {
    pub fn consistency(&self) -> f64 {
        if self.count == 0 {
            0.0
        } else {
            self.consistent as f64 / self.count as f64
        }
    }
}

/// The stats page's figures.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Stats {
    pub range: StatsRange,
    pub conversations: i64,
    /// Customer messages the gate decided on.
    pub decided: i64,
    /// Decisions by action (`send`, `send_canonical`, `hold`, `handoff`, `no_answer`).
    pub by_action: BTreeMap<String, i64>,
    pub blocked_drafts: i64,
    /// Findings of blocked drafts by kind (a draft with two kinds counts in both).
    pub blocked_by_finding: BTreeMap<String, i64>,
    /// Conversations whose first question got an answer from the assistant or a person.
    pub first_responses: i64,
    pub first_response_median_ms: Option<f64>,
    pub csat_count: i64,
    pub csat_average: Option<f64>,
    /// Scores 1 to 5.
    pub csat_distribution: [i64; 5],
    pub top_questions: Vec<TopQuestion>,
}

impl Stats {
    /// The share of decided messages with `action`.
    pub fn share(&self, actions: &[&str]) -> f64 {
        if self.decided == 0 {
            return 0.0;
        }
        let n: i64 = actions
            .iter()
            .map(|a| self.by_action.get(*a).copied().unwrap_or(0))
            .sum();
        n as f64 / self.decided as f64
    }
}

/// How a question is grouped when no approved answer matched it.
pub(crate) fn question_key(text: &str) -> String {
    let lower = text.to_lowercase();
    let words: Vec<&str> = lower
        .split(|c: char| c.is_whitespace())
        .filter(|w| !w.is_empty())
        .collect();
    words
        .join(" ")
        .trim_end_matches(|c: char| c.is_ascii_punctuation())
        .to_string()
}

/// The median of `values` (sorted in place); `None` when empty.
pub(crate) fn median(values: &mut [f64]) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    values.sort_by(f64::total_cmp);
    let n = values.len();
    Some(if n % 2 == 1 {
        values[n / 2]
    } else {
        (values[n / 2 - 1] + values[n / 2]) / 2.0
    })
}

#[derive(Default)]
struct Group {
    canonical_id: Option<String>,
    example: String,
    latest: i64,
    count: i64,
    agreeing: i64,
    actions: HashMap<String, i64>,
}

impl Store {
    /// The figures for conversations created in `range`, with the `top` most frequent questions.
    pub async fn stats(&self, range: StatsRange, top: usize) -> Result<Stats, StoreError> {
        let conversations: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM conversations WHERE created_ms >= $1 AND created_ms < $2",
        )
        .bind(range.from_ms)
        .bind(range.to_ms)
        .fetch_one(self.pool())
        .await?;

        let rows = sqlx::query(
            "SELECT d.action, d.draft_blocked, d.canonical_id, d.created_ms, m.text, \
             dr.verdict_status, CASE WHEN d.draft_blocked THEN dr.verdict_json END AS verdict_json \
             FROM decisions d JOIN messages m ON m.id = d.message_id \
             LEFT JOIN drafts dr ON dr.id = d.draft_id \
             WHERE d.created_ms >= $1 AND d.created_ms < $2",
        )
        .bind(range.from_ms)
        .bind(range.to_ms)
        .fetch_all(self.pool())
        .await?;
        let mut by_action: BTreeMap<String, i64> = BTreeMap::new();
        let mut blocked_drafts = 0;
        let mut blocked_by_finding: BTreeMap<String, i64> = BTreeMap::new();
        let mut groups: HashMap<String, Group> = HashMap::new();
        for row in &rows {
            let action: String = row.try_get("action")?;
            let blocked: bool = row.try_get("draft_blocked")?;
            let canonical_id: Option<String> = row.try_get("canonical_id")?;
            let created: i64 = row.try_get("created_ms")?;
            let text: String = row.try_get("text")?;
            let verdict_status: Option<String> = row.try_get("verdict_status")?;
            *by_action.entry(action.clone()).or_default() += 1;
            if blocked {
                blocked_drafts += 1;
                if let Some(v) = row.try_get::<Option<String>, _>("verdict_json")? {
                    let verdict: Verdict = parse_json("draft verdict", &v)?;
                    let mut kinds: Vec<&str> =
                        verdict.findings.iter().map(|f| f.kind.as_str()).collect();
                    kinds.sort_unstable();
                    kinds.dedup();
                    for k in kinds {
                        *blocked_by_finding.entry(k.to_string()).or_default() += 1;
                    }
                }
            }
            let key = match &canonical_id {
                Some(id) => format!("canonical:{id}"),
                None => format!("text:{}", question_key(&text)),
            };
            let g = groups.entry(key).or_default();
            g.count += 1;
            if created >= g.latest {
                g.latest = created;
                g.example = text;
            }
            let agrees = action == "send_canonical"
                || (action == "send" && verdict_status.as_deref() == Some("consistent"));
            g.agreeing += i64::from(agrees);
            *g.actions.entry(action).or_default() += 1;
            g.canonical_id = canonical_id;
        }
        let mut top_questions: Vec<TopQuestion> = groups
            .into_values()
            .map(|g| {
                let consistent = if g.canonical_id.is_some() {
                    g.agreeing
                } else {
                    g.actions.values().copied().max().unwrap_or(0)
                };
                TopQuestion {
                    canonical_id: g.canonical_id,
                    example: g.example,
                    count: g.count,
                    consistent,
                }
            })
            .collect();
        top_questions.sort_by(|a, b| b.count.cmp(&a.count).then(a.example.cmp(&b.example)));
        top_questions.truncate(top);

        // First response: the first customer message to the first answer after it from the
        // assistant or a person (fixed system notices do not count).
        let firsts: Vec<(i64, Option<i64>)> = sqlx::query_as(
            "SELECT f.first_ms, (SELECT MIN(r.created_ms) FROM messages r \
                WHERE r.conversation_id = f.conversation_id AND r.id > f.first_id \
                AND r.role IN ('assistant', 'staff')) AS reply_ms \
             FROM (SELECT m.conversation_id, MIN(m.id) AS first_id, MIN(m.created_ms) AS first_ms \
                   FROM messages m JOIN conversations c ON c.id = m.conversation_id \
                   WHERE m.role = 'customer' AND c.created_ms >= $1 AND c.created_ms < $2 \
                   GROUP BY m.conversation_id) f",
        )
        .bind(range.from_ms)
        .bind(range.to_ms)
        .fetch_all(self.pool())
        .await?;
        let mut waits: Vec<f64> = firsts
            .iter()
            .filter_map(|(q, r)| r.map(|r| (r - q).max(0) as f64))
            .collect();
        let first_response_median_ms = median(&mut waits);

        let csat: Vec<(i64, i64)> = sqlx::query_as(
            "SELECT f.value, COUNT(*) FROM feedback f JOIN conversations c ON c.id = f.conversation_id \
             WHERE f.kind = 'csat' AND c.created_ms >= $1 AND c.created_ms < $2 GROUP BY f.value",
        )
        .bind(range.from_ms)
        .bind(range.to_ms)
        .fetch_all(self.pool())
        .await?;
        let mut csat_distribution = [0i64; 5];
        for (value, n) in &csat {
            if let Some(slot) = usize::try_from(*value - 1)
                .ok()
                .and_then(|i| csat_distribution.get_mut(i))
            {
                *slot += n;
            }
        }
        let csat_count: i64 = csat_distribution.iter().sum();
        let csat_average = (csat_count > 0).then(|| {
            csat_distribution
                .iter()
                .enumerate()
                .map(|(i, n)| (i as f64 + 1.0) * *n as f64)
                .sum::<f64>()
                / csat_count as f64
        });
        Ok(Stats {
            range,
            conversations,
            decided: rows.len() as i64,
            by_action,
            blocked_drafts,
            blocked_by_finding,
            first_responses: waits.len() as i64,
            first_response_median_ms,
            csat_count,
            csat_average,
            csat_distribution,
            top_questions,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn questions_group_by_words_not_by_case_spacing_or_final_punctuation() {
        assert_eq!(
            question_key("  Ile kosztuje   dostawa?? "),
            question_key("ile kosztuje dostawa")
        );
        assert_ne!(
            question_key("ile kosztuje dostawa"),
            question_key("ile trwa dostawa")
        );
    }

    #[test]
    fn median_of_odd_even_and_empty() {
        assert_eq!(median(&mut [3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median(&mut [4.0, 1.0, 2.0, 3.0]), Some(2.5));
        assert_eq!(median(&mut []), None);
    }
}
