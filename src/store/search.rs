//! Finding past conversations for staff: full-text search over messages (SQLite FTS5) with
//! filters by status, date, decision and rating; and the questions that show knowledge gaps.

use serde::Serialize;
use sqlx::Row;

use super::{ConversationId, ConversationStatus, Engine, Store, StoreError};

/// Marks around a matched word in a [`ConversationRow::snippet`] (never in customer text).
pub const HIT_START: char = '\u{1}';
pub const HIT_END: char = '\u{2}';

/// Which ratings a listed conversation must have.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RatingFilter {
    /// CSAT 1 or 2.
    Low,
    /// CSAT 4 or 5.
    High,
    /// At least one answer rated thumbs down.
    ThumbsDown,
    /// The customer said the conversation did not solve the problem.
    Unresolved,
}

/// The decision actions a list can be filtered by.
pub const DECISION_ACTIONS: [&str; 5] = ["send", "send_canonical", "hold", "handoff", "no_answer"];

/// A conversation search: every part is optional.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ConversationFilter {
    /// Words to find in any message (each word as a prefix, all words must occur).
    pub text: Option<String>,
    pub status: Option<ConversationStatus>,
    /// Created at or after.
    pub from_ms: Option<i64>,
    /// Created before.
    pub to_ms: Option<i64>,
    /// One of [`DECISION_ACTIONS`]: at least one message was decided this way (a customer's
    /// request for a person counts as `handoff`).
    pub decision: Option<String>,
    pub rating: Option<RatingFilter>,
    pub limit: i64,
    pub offset: i64,
}

/// One conversation in the list.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ConversationRow {
    pub conversation_id: ConversationId,
    pub status: ConversationStatus,
    pub lang: Option<String>,
    pub created_ms: i64,
    pub updated_ms: i64,
    pub first_question: Option<String>,
    pub messages: i64,
    /// Distinct decision actions, sorted.
    pub decisions: Vec<String>,
    pub csat: Option<i64>,
    pub thumbs_down: i64,
    pub resolved: Option<bool>,
    /// The matched message with [`HIT_START`]/[`HIT_END`] around matched words (text searches).
    pub snippet: Option<String>,
}

/// The words of what staff typed: letters and digits only, so no query syntax gets through.
fn search_words(text: &str) -> Vec<&str> {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .take(12)
        .collect()
}

/// The FTS5 query for what staff typed: each word as a quoted prefix, all required. `None` when
/// nothing searchable is left.
pub fn fts_query(text: &str) -> Option<String> {
    let words: Vec<String> = search_words(text)
        .into_iter()
        .map(|w| format!("\"{w}\"*"))
        .collect();
    (!words.is_empty()).then(|| words.join(" "))
}

/// The same for PostgreSQL's `to_tsquery`: each word as a prefix (`word:*`), all required
/// (`&`); the database folds case and diacritics of both sides.
pub fn tsquery(text: &str) -> Option<String> {
    let words: Vec<String> = search_words(text)
        .into_iter()
        .map(|w| format!("{w}:*"))
        .collect();
    (!words.is_empty()).then(|| words.join(" & "))
}

/// A window of `text` around its first word that starts with a searched word, the matches
/// between [`HIT_START`] and [`HIT_END`] (case and diacritics folded), `…` where it is cut: what
/// FTS5's `snippet()` gives on SQLite.
pub fn mark_words(text: &str, searched: &str) -> String {
    const BEFORE: usize = 5;
    const WORDS: usize = 16;
    let wanted: Vec<String> = search_words(searched)
        .into_iter()
        .map(crate::util::fold)
        .collect();
    // Alternating runs of word and non-word characters.
    let mut runs: Vec<(bool, &str)> = Vec::new();
    let mut start = 0;
    let mut word = None;
    for (i, c) in text.char_indices() {
        let w = c.is_alphanumeric();
        if word.is_some_and(|prev| prev != w) {
            runs.push((word.unwrap_or(false), &text[start..i]));
            start = i;
        }
        word = Some(w);
    }
    if start < text.len() {
        runs.push((word.unwrap_or(false), &text[start..]));
    }
    let hit = |s: &str| {
        let f = crate::util::fold(s);
        wanted.iter().any(|w| f.starts_with(w.as_str()))
    };
    let words: Vec<usize> = (0..runs.len()).filter(|&i| runs[i].0).collect();
    let first = words.iter().position(|&i| hit(runs[i].1)).unwrap_or(0);
    let from_word = first.saturating_sub(BEFORE);
    let to_word = (from_word + WORDS).min(words.len());
    let (from, to) = match (
        words.get(from_word),
        to_word.checked_sub(1).and_then(|t| words.get(t)),
    ) {
        // Uncut ends keep their punctuation.
        (Some(&f), Some(&t)) => (
            if from_word == 0 { 0 } else { f },
            if to_word == words.len() {
                runs.len()
            } else {
                t + 1
            },
        ),
        _ => (0, runs.len()),
    };
    let mut out = String::new();
    if from_word > 0 {
        out.push('…');
    }
    for &(is_word, s) in &runs[from..to] {
        if is_word && hit(s) {
            out.push(HIT_START);
            out.push_str(s);
            out.push(HIT_END);
        } else {
            out.push_str(s);
        }
    }
    if to_word < words.len() {
        out.push('…');
    }
    out
}

/// Why a question is in the knowledge gaps.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum GapReason {
    NoAnswer,
    Held,
    ThumbsDown,
}

/// A customer question the knowledge base did not serve well.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GapQuestion {
    pub message_id: i64,
    pub conversation_id: ConversationId,
    pub text: String,
    pub reason: GapReason,
    /// The review item of a held or unanswered question.
    pub decision_id: Option<i64>,
    pub at_ms: i64,
}

impl Store {
    /// Conversations matching `filter`, most recently active first.
    pub async fn search_conversations(
        &self,
        filter: &ConversationFilter,
    ) -> Result<Vec<ConversationRow>, StoreError> {
        let engine = self.engine();
        let fts = filter.text.as_deref().and_then(match engine {
            Engine::Sqlite => fts_query,
            Engine::Postgres => tsquery,
        });
        if filter.text.as_deref().is_some_and(|t| !t.trim().is_empty()) && fts.is_none() {
            return Err(StoreError::Invalid("the search has no word to look for"));
        }
        if let Some(d) = &filter.decision {
            if !DECISION_ACTIONS.contains(&d.as_str()) {
                return Err(StoreError::Invalid("unknown decision"));
            }
        }
        let matched = match engine {
            // snippet() only works in the full-text query itself, not under GROUP BY.
            Engine::Sqlite => format!(
                "SELECT rowid AS mid, \
                 snippet(messages_fts, 0, '{HIT_START}', '{HIT_END}', '…', 16) AS snip \
                 FROM messages_fts WHERE messages_fts MATCH $1"
            ),
            // The whole text: the words are marked below, with diacritics folded as in the
            // search (ts_headline would miss "Wólce" for "wolce").
            Engine::Postgres => "SELECT m.id AS mid, m.text AS snip FROM messages m \
                 WHERE to_tsvector('simple', concord_fold(m.text)) @@ to_tsquery('simple', concord_fold($1))"
                .to_string(),
        };
        let (with, join, snippet) = if fts.is_some() {
            (
                format!(
                    "WITH matched AS MATERIALIZED ({matched}), \
                     hits AS (SELECT m.conversation_id AS cid, MIN(x.mid) AS mid \
                     FROM matched x JOIN messages m ON m.id = x.mid GROUP BY m.conversation_id) "
                ),
                "JOIN hits h ON h.cid = c.id",
                "(SELECT snip FROM matched WHERE mid = h.mid)",
            )
        } else {
            (String::new(), "", "NULL")
        };
        let rating = match filter.rating {
            None => "",
            Some(RatingFilter::Low) => {
                "AND EXISTS (SELECT 1 FROM feedback f WHERE f.conversation_id = c.id AND f.kind = 'csat' AND f.value <= 2)"
            }
            Some(RatingFilter::High) => {
                "AND EXISTS (SELECT 1 FROM feedback f WHERE f.conversation_id = c.id AND f.kind = 'csat' AND f.value >= 4)"
            }
            Some(RatingFilter::ThumbsDown) => {
                "AND EXISTS (SELECT 1 FROM feedback f WHERE f.conversation_id = c.id AND f.kind = 'thumb' AND f.value < 0)"
            }
            Some(RatingFilter::Unresolved) => {
                "AND EXISTS (SELECT 1 FROM surveys s WHERE s.conversation_id = c.id AND s.resolved = FALSE)"
            }
        };
        // The shop's messages carry the action that produced them, a customer's own request for a
        // person included (it has no gate decision).
        let actions = format!(
            "({})",
            DECISION_ACTIONS.map(|a| format!("'{a}'")).join(", ")
        );
        let concat = match engine {
            Engine::Sqlite => "group_concat(a, ',')",
            Engine::Postgres => "string_agg(a, ',' ORDER BY a)",
        };
        let sql = format!(
            "{with}SELECT c.id, c.status, c.lang, c.created_ms, c.updated_ms, \
             (SELECT text FROM messages WHERE conversation_id = c.id AND role = 'customer' ORDER BY id LIMIT 1) AS first_question, \
             (SELECT COUNT(*) FROM messages WHERE conversation_id = c.id) AS n_messages, \
             (SELECT {concat} FROM (SELECT DISTINCT m.decision AS a FROM messages m \
                 WHERE m.conversation_id = c.id AND m.decision IN {actions} ORDER BY a) AS kinds) AS actions, \
             (SELECT value FROM feedback WHERE conversation_id = c.id AND kind = 'csat') AS csat, \
             (SELECT COUNT(*) FROM feedback WHERE conversation_id = c.id AND kind = 'thumb' AND value < 0) AS thumbs_down, \
             (SELECT resolved FROM surveys WHERE conversation_id = c.id) AS resolved, \
             {snippet} AS snippet \
             FROM conversations c {join} \
             WHERE ($2 IS NULL OR c.status = $2) AND ($3 IS NULL OR c.created_ms >= $3) \
             AND ($4 IS NULL OR c.created_ms < $4) \
             AND ($5 IS NULL OR EXISTS (SELECT 1 FROM messages m \
                 WHERE m.conversation_id = c.id AND m.decision = $5)) {rating} \
             ORDER BY c.updated_ms DESC, c.id LIMIT $6 OFFSET $7"
        );
        let rows = sqlx::query(&sql)
            .bind(fts)
            .bind(filter.status.map(|s| s.as_str()))
            .bind(filter.from_ms)
            .bind(filter.to_ms)
            .bind(filter.decision.as_deref())
            .bind(filter.limit)
            .bind(filter.offset)
            .fetch_all(self.pool())
            .await?;
        rows.iter()
            .map(|r| {
                let status: String = r.try_get("status")?;
                let actions: Option<String> = r.try_get("actions")?;
                Ok(ConversationRow {
                    conversation_id: ConversationId(r.try_get("id")?),
                    status: status.parse()?,
                    lang: r.try_get("lang")?,
                    created_ms: r.try_get("created_ms")?,
                    updated_ms: r.try_get("updated_ms")?,
                    first_question: r.try_get("first_question")?,
                    messages: r.try_get("n_messages")?,
                    decisions: actions
                        .map(|a| a.split(',').map(str::to_string).collect())
                        .unwrap_or_default(),
                    csat: r.try_get("csat")?,
                    thumbs_down: r.try_get("thumbs_down")?,
                    resolved: super::flag(r, "resolved")?,
                    snippet: match engine {
                        Engine::Sqlite => r.try_get("snippet")?,
                        Engine::Postgres => r
                            .try_get::<Option<String>, _>("snippet")?
                            .map(|text| mark_words(&text, filter.text.as_deref().unwrap_or(""))),
                    },
                })
            })
            .collect()
    }

    /// The newest `limit` questions from `from_ms` on that got no answer, were held for a
    /// person, or whose answer was rated thumbs down.
    pub async fn gap_questions(
        &self,
        from_ms: i64,
        to_ms: i64,
        limit: i64,
    ) -> Result<Vec<GapQuestion>, StoreError> {
        let rows = sqlx::query(
            "SELECT * FROM ( \
               SELECT q.id AS message_id, q.conversation_id, q.text, \
                      CASE d.action WHEN 'no_answer' THEN 'no_answer' ELSE 'held' END AS reason, \
                      d.id AS decision_id, d.created_ms AS at_ms \
               FROM decisions d JOIN messages q ON q.id = d.message_id \
               WHERE d.action IN ('no_answer', 'hold') AND d.created_ms >= $1 AND d.created_ms < $2 \
               UNION ALL \
               SELECT q.id, q.conversation_id, q.text, 'thumbs_down', NULL, f.created_ms \
               FROM feedback f JOIN messages a ON a.id = f.message_id JOIN messages q ON q.id = a.reply_to \
               WHERE f.kind = 'thumb' AND f.value < 0 AND f.created_ms >= $1 AND f.created_ms < $2 \
             ) AS gaps ORDER BY at_ms DESC LIMIT $3",
        )
        .bind(from_ms)
        .bind(to_ms)
        .bind(limit)
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|r| {
                let reason: String = r.try_get("reason")?;
                Ok(GapQuestion {
                    message_id: r.try_get("message_id")?,
                    conversation_id: ConversationId(r.try_get("conversation_id")?),
                    text: r.try_get("text")?,
                    reason: match reason.as_str() {
                        "no_answer" => GapReason::NoAnswer,
                        "held" => GapReason::Held,
                        _ => GapReason::ThumbsDown,
                    },
                    decision_id: r.try_get("decision_id")?,
                    at_ms: r.try_get("at_ms")?,
                })
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn marked_words_fold_case_and_diacritics_and_the_window_is_cut_with_ellipses() {
        let (s, e) = (HIT_START, HIT_END);
        assert_eq!(
            mark_words("Sprawdzę w magazynie w Wólce.", "magazyn wolce"),
            format!("Sprawdzę w {s}magazynie{e} w {s}Wólce{e}.")
        );
        let long = (1..=40)
            .map(|i| format!("w{i}"))
            .collect::<Vec<_>>()
            .join(" ");
        let marked = mark_words(&long, "w20");
        assert!(marked.starts_with("…w15 "), "{marked}");
        assert!(marked.contains(&format!("{s}w20{e}")), "{marked}");
        assert!(marked.ends_with("w30…"), "{marked}");
        assert_eq!(
            tsquery("zwrot  towaru?").as_deref(),
            Some("zwrot:* & towaru:*")
        );
        assert_eq!(tsquery(" -- & | ! "), None);
    }

    #[test]
    fn what_staff_type_becomes_prefix_words_without_fts_syntax() {
        assert_eq!(
            fts_query("zwrot  towaru?").as_deref(),
            Some("\"zwrot\"* \"towaru\"*")
        );
        assert_eq!(
            fts_query("\"a\" OR b* NEAR(c)").as_deref(),
            Some("\"a\"* \"OR\"* \"b\"* \"NEAR\"* \"c\"*")
        );
        assert_eq!(fts_query(" -- ** "), None);
        assert_eq!(fts_query("Łódź").as_deref(), Some("\"Łódź\"*"));
    }

    proptest! {
        #[test]
        fn any_input_gives_only_quoted_words(s in "\\PC{0,60}") {
            if let Some(q) = fts_query(&s) {
                for part in q.split(' ') {
                    prop_assert!(part.starts_with('"') && part.ends_with("\"*"));
                    let inner = &part[1..part.len() - 2];
                    prop_assert!(!inner.is_empty() && inner.chars().all(char::is_alphanumeric));
                }
            }
        }
    }
}
