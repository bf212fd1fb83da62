//! Figures for the console's stats page over a date range: conversations, how answers were
//! decided, blocked drafts by finding kind, first response time, CSAT and the top questions.

use std::collections::{BTreeMap, HashMap};

use serde::Serialize;
use sqlx::Row;

use super::{Store, StoreError};

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

        // Decisions grouped in the database (a 30-day range has tens of thousands): by action,
        // block, approved answer and, without one, the question's exact words.
        let rows = sqlx::query(
            "SELECT d.action, d.draft_blocked, d.canonical_id, \
             CASE WHEN d.canonical_id IS NULL THEN m.text END AS text, COUNT(*) AS n, \
             CAST(SUM(CASE WHEN d.action = 'send_canonical' \
                 OR (d.action = 'send' AND dr.verdict_status = 'consistent') THEN 1 ELSE 0 END) AS BIGINT) AS agreeing, \
             MAX(d.created_ms) AS latest \
             FROM decisions d JOIN messages m ON m.id = d.message_id \
             LEFT JOIN drafts dr ON dr.id = d.draft_id \
             WHERE d.created_ms >= $1 AND d.created_ms < $2 \
             GROUP BY d.action, d.draft_blocked, d.canonical_id, \
             CASE WHEN d.canonical_id IS NULL THEN m.text END",
        )
        .bind(range.from_ms)
        .bind(range.to_ms)
        .fetch_all(self.pool())
        .await?;
        let mut decided = 0;
        let mut by_action: BTreeMap<String, i64> = BTreeMap::new();
        let mut blocked_drafts = 0;
        let mut groups: HashMap<String, Group> = HashMap::new();
        for row in &rows {
            let action: String = row.try_get("action")?;
            let blocked = super::flag(row, "draft_blocked")? == Some(true);
            let canonical_id: Option<String> = row.try_get("canonical_id")?;
            let text: Option<String> = row.try_get("text")?;
            let n: i64 = row.try_get("n")?;
            let agreeing: i64 = row.try_get("agreeing")?;
            let latest: i64 = row.try_get("latest")?;
            decided += n;
            *by_action.entry(action.clone()).or_default() += n;
            if blocked {
                blocked_drafts += n;
            }
            let key = match (&canonical_id, &text) {
                (Some(id), _) => format!("canonical:{id}"),
                (None, t) => format!("text:{}", question_key(t.as_deref().unwrap_or(""))),
            };
            let g = groups.entry(key).or_default();
            g.count += n;
            g.agreeing += agreeing;
            *g.actions.entry(action).or_default() += n;
            if latest >= g.latest {
                g.latest = latest;
                if let Some(t) = text {
                    g.example = t;
                }
            }
            g.canonical_id = canonical_id;
        }
        let mut groups: Vec<(String, Group)> = groups.into_iter().collect();
        groups.sort_by(|a, b| b.1.count.cmp(&a.1.count).then(a.0.cmp(&b.0)));
        groups.truncate(top);
        let mut top_questions = Vec::with_capacity(groups.len());
        for (_, g) in groups {
            let consistent = if g.canonical_id.is_some() {
                g.agreeing
            } else {
                g.actions.values().copied().max().unwrap_or(0)
            };
            let example =
                match &g.canonical_id {
                    // The latest wording of a question that matched this approved answer.
                    Some(id) => sqlx::query_scalar(
                        "SELECT m.text FROM decisions d JOIN messages m ON m.id = d.message_id \
                     WHERE d.canonical_id = $1 AND d.created_ms >= $2 AND d.created_ms < $3 \
                     ORDER BY d.created_ms DESC LIMIT 1",
                    )
                    .bind(id)
                    .bind(range.from_ms)
                    .bind(range.to_ms)
                    .fetch_one(self.pool())
                    .await?,
                    None => g.example,
                };
            top_questions.push(TopQuestion {
                canonical_id: g.canonical_id,
                example,
                count: g.count,
                consistent,
            });
        }

        // Blocked drafts by finding kind, read from the stored verdicts (a draft counts once
        // per kind).
        let findings = match self.engine() {
            super::Engine::Sqlite => {
                "SELECT json_extract(f.value, '$.kind') AS kind, COUNT(DISTINCT d.id) \
                 FROM decisions d JOIN drafts dr ON dr.id = d.draft_id, \
                 json_each(dr.verdict_json, '$.findings') f \
                 WHERE d.draft_blocked AND d.created_ms >= $1 AND d.created_ms < $2 \
                 AND dr.verdict_json IS NOT NULL GROUP BY kind"
            }
            super::Engine::Postgres => {
                "SELECT f.value ->> 'kind' AS kind, COUNT(DISTINCT d.id) \
                 FROM decisions d JOIN drafts dr ON dr.id = d.draft_id, \
                 jsonb_array_elements(dr.verdict_json::jsonb -> 'findings') f \
                 WHERE d.draft_blocked AND d.created_ms >= $1 AND d.created_ms < $2 \
                 AND dr.verdict_json IS NOT NULL GROUP BY kind"
            }
        };
        let kinds: Vec<(String, i64)> = sqlx::query_as(findings)
            .bind(range.from_ms)
            .bind(range.to_ms)
            .fetch_all(self.pool())
            .await?;
        let blocked_by_finding: BTreeMap<String, i64> = kinds.into_iter().collect();

        // First response: the first customer message to the first answer from the assistant or
        // a person (fixed system notices do not count); the median is taken in the database.
        let (first_responses, first_response_median_ms): (i64, Option<f64>) = sqlx::query_as(
            "WITH w AS MATERIALIZED (SELECT r - q AS wait FROM ( \
                 SELECT MIN(CASE WHEN m.role = 'customer' THEN m.created_ms END) AS q, \
                        MIN(CASE WHEN m.role IN ('assistant', 'staff') THEN m.created_ms END) AS r \
                 FROM messages m WHERE m.conversation_id IN \
                     (SELECT id FROM conversations WHERE created_ms >= $1 AND created_ms < $2) \
                 GROUP BY m.conversation_id) AS firsts \
               WHERE q IS NOT NULL AND r IS NOT NULL AND r >= q) \
             SELECT (SELECT COUNT(*) FROM w), \
                    (SELECT CAST(AVG(wait) AS DOUBLE PRECISION) FROM (SELECT wait FROM w ORDER BY wait \
                        LIMIT 2 - (SELECT COUNT(*) FROM w) % 2 \
                        OFFSET ((SELECT COUNT(*) FROM w) - 1) / 2) AS middle)",
        )
        .bind(range.from_ms)
        .bind(range.to_ms)
        .fetch_one(self.pool())
        .await?;

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
            decided,
            by_action,
            blocked_drafts,
            blocked_by_finding,
            first_responses,
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

    /// A conversation with messages at the given times (role, ms) and one decision on its
    /// first message.
    async fn conversation(
        store: &Store,
        id: &str,
        created: i64,
        messages: &[(&str, i64)],
        decision: (&str, Option<&str>, Option<&str>),
    ) {
        let pool = store.pool();
        sqlx::query("INSERT INTO conversations (id, token_hash, status, created_ms, updated_ms) VALUES ($1, 'h', 'bot', $2, $2)")
            .bind(id)
            .bind(created)
            .execute(pool)
            .await
            .unwrap();
        let mut first = None;
        for (role, at) in messages {
            let m: i64 = sqlx::query_scalar("INSERT INTO messages (conversation_id, role, text, created_ms) VALUES ($1, $2, 'Ile kosztuje dostawa?', $3) RETURNING id")
                .bind(id)
                .bind(role)
                .bind(at)
                .fetch_one(pool)
                .await
                .unwrap();
            first.get_or_insert(m);
        }
        let (action, canonical, verdict) = decision;
        let draft: Option<i64> = match verdict {
            Some(v) => Some(sqlx::query_scalar("INSERT INTO drafts (message_id, model, text, finish, sources_json, cited_json, verdict_status, verdict_json, prompt_tokens, completion_tokens, created_ms) VALUES ($1, 'm', 't', 'stop', '[]', '[]', 'contradiction', $2, 1, 1, $3) RETURNING id")
                .bind(first)
                .bind(v)
                .bind(created)
                .fetch_one(pool)
                .await
                .unwrap()),
            None => None,
        };
        sqlx::query("INSERT INTO decisions (message_id, draft_id, action, mode, draft_blocked, reasons_json, canonical_id, triage_json, timings_json, review_status, created_ms) VALUES ($1, $2, $3, 'autopilot', $4, '[]', $5, '{}', '{}', 'none', $6)")
            .bind(first)
            .bind(draft)
            .bind(action)
            .bind(draft.is_some())
            .bind(canonical)
            .bind(created)
            .execute(pool)
            .await
            .unwrap();
    }

    #[test]
    fn figures_of_a_known_history() {
        for db in crate::store::tests::engines() {
            tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
            .block_on(async {
                let store = db.open().await;
                let verdict = r#"{"status":"contradiction","score":0,"coverage":1,"similarity":null,"findings":[
                    {"kind":"value_mismatch","message":"","draft_span":null,"reference":null,"reference_span":null},
                    {"kind":"value_mismatch","message":"","draft_span":null,"reference":null,"reference_span":null},
                    {"kind":"unsupported_fact","message":"","draft_span":null,"reference":null,"reference_span":null}]}"#;
                conversation(&store, "c1", 1000, &[("customer", 1000), ("assistant", 3000)], ("send_canonical", Some("x"), None)).await;
                // A fixed notice does not count as the first response; the person's reply does.
                conversation(&store, "c2", 1000, &[("customer", 1000), ("system", 1100), ("staff", 9000)], ("handoff", None, None)).await;
                conversation(&store, "c3", 1000, &[("customer", 1000), ("assistant", 5000)], ("send_canonical", Some("x"), Some(verdict))).await;
                conversation(&store, "c4", 50_000, &[("customer", 50_000), ("assistant", 50_001)], ("send", None, None)).await;
                let stats = store
                    .stats(StatsRange { from_ms: 0, to_ms: 10_000 }, 10)
                    .await
                    .unwrap();
                assert_eq!(stats.conversations, 3);
                assert_eq!(stats.decided, 3);
                assert_eq!(stats.by_action.get("send_canonical"), Some(&2));
                assert_eq!(stats.by_action.get("handoff"), Some(&1));
                assert_eq!(stats.by_action.get("send"), None, "outside the range");
                assert_eq!(stats.blocked_drafts, 1);
                assert_eq!(
                    stats.blocked_by_finding.clone().into_iter().collect::<Vec<_>>(),
                    [("unsupported_fact".to_string(), 1), ("value_mismatch".to_string(), 1)]
                );
                assert_eq!(stats.first_responses, 3);
                assert_eq!(stats.first_response_median_ms, Some(4000.0));
                assert_eq!(stats.top_questions[0].canonical_id.as_deref(), Some("x"));
                assert_eq!((stats.top_questions[0].count, stats.top_questions[0].consistent), (2, 2));
                assert_eq!(stats.top_questions[0].example, "Ile kosztuje dostawa?");
                assert_eq!(stats.top_questions[1].count, 1);
                assert!((stats.share(&["send_canonical"]) - 2.0 / 3.0).abs() < 1e-9);
                // An even count takes the mean of the two middle waits: 2, 4, 6 and 8 s.
                conversation(
                    &store,
                    "c5",
                    2000,
                    &[("customer", 2000), ("assistant", 8000)],
                    ("send", None, None),
                )
                .await;
                let even = store
                    .stats(StatsRange { from_ms: 0, to_ms: 10_000 }, 10)
                    .await
                    .unwrap();
                assert_eq!(even.first_response_median_ms, Some(5000.0));
            });
        }
    }
}
