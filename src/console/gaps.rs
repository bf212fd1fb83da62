//! Knowledge gaps: the questions that got no answer, were held for a person or were rated
//! thumbs down, grouped by the article they are about (the best lexical match) and wording.

use std::collections::HashMap;

use serde::Serialize;

use crate::index::lexical::KIND_CHUNK;
use crate::index::Index;
use crate::store::{question_key, GapQuestion, GapReason};

/// Questions asked the same way (same words, any case, spacing or final punctuation).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GapGroup {
    /// The most recent wording.
    pub example: String,
    /// The other wordings seen, most recent first (at most a few).
    pub variants: Vec<String>,
    pub count: usize,
    pub no_answer: usize,
    pub held: usize,
    pub thumbs_down: usize,
    /// The newest review item among them (to open or answer it).
    pub decision_id: Option<i64>,
    pub conversation_id: String,
    pub latest_ms: i64,
}

/// The questions about one article (or about none the knowledge base has).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GapTopic {
    /// The article's title; `None`: no article shares a word with these questions.
    pub article: Option<String>,
    pub count: usize,
    pub groups: Vec<GapGroup>,
}

const VARIANTS: usize = 4;

/// The article a question is about: the title of its best BM25 passage (fast: no embedding, so
/// a page of hundreds of questions costs milliseconds).
fn topic_of(index: &Index, question: &str) -> Option<String> {
    let hits = index.lexical.search(question, KIND_CHUNK, 1).ok()?;
    let (ord, _) = hits.first()?;
    index.chunks.get(*ord as usize).map(|c| c.title.clone())
}

/// Groups `questions` (newest first) by topic, then by wording; topics and groups with the most
/// questions first.
pub fn group(index: &Index, questions: &[GapQuestion]) -> Vec<GapTopic> {
    let mut topics: HashMap<Option<String>, HashMap<String, GapGroup>> = HashMap::new();
    for q in questions {
        let topic = topic_of(index, &q.text);
        let g = topics
            .entry(topic)
            .or_default()
            .entry(question_key(&q.text))
            .or_insert_with(|| GapGroup {
                example: q.text.clone(),
                variants: Vec::new(),
                count: 0,
                no_answer: 0,
                held: 0,
                thumbs_down: 0,
                decision_id: q.decision_id,
                conversation_id: q.conversation_id.0.clone(),
                latest_ms: q.at_ms,
            });
        g.count += 1;
        match q.reason {
            GapReason::NoAnswer => g.no_answer += 1,
            GapReason::Held => g.held += 1,
            GapReason::ThumbsDown => g.thumbs_down += 1,
        }
        if g.decision_id.is_none() {
            g.decision_id = q.decision_id;
        }
        if q.text != g.example && !g.variants.contains(&q.text) && g.variants.len() < VARIANTS {
            g.variants.push(q.text.clone());
        }
    }
    let mut out: Vec<GapTopic> = topics
        .into_iter()
        .map(|(article, groups)| {
            let mut groups: Vec<GapGroup> = groups.into_values().collect();
            groups.sort_by(|a, b| {
                b.count
                    .cmp(&a.count)
                    .then(b.latest_ms.cmp(&a.latest_ms))
                    .then(a.example.cmp(&b.example))
            });
            GapTopic {
                article,
                count: groups.iter().map(|g| g.count).sum(),
                groups,
            }
        })
        .collect();
    // The questions no article matches go last: they need a new article, not a better one.
    out.sort_by(|a, b| {
        a.article
            .is_none()
            .cmp(&b.article.is_none())
            .then(b.count.cmp(&a.count))
            .then(a.article.cmp(&b.article))
    });
    out
}
