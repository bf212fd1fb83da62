//! Knowledge changes from the console: re-ingest (incrementally), open the new index beside the
//! serving one, and report the approved answers the change made stale, before anything swaps.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::time::Instant;

use indicatif::ProgressBar;
use serde::Serialize;

use crate::assistant::Assistant;
use crate::check::{check, CheckInput, Finding, Verdict};
use crate::index::{Index, IndexError};
use crate::ingest::{ingest_strict, IngestSettings, KnowledgeSource};
use crate::knowledge::{Canonical, LoadIssue};
use crate::retrieve::RetrieveError;

/// Phrasings per affected answer that are re-run through retrieval.
const QUESTIONS_PER_ANSWER: usize = 3;

/// An approved answer the change concerns, and what the change did to it.
#[derive(Debug, Clone, Serialize)]
pub struct StaleAnswer {
    pub canonical_id: String,
    /// Its source articles that changed or were removed.
    pub changed_sources: Vec<String>,
    /// Findings against the new passages that the old passages did not give (a contradiction or
    /// a fact no longer supported).
    pub new_findings: Vec<Finding>,
    /// Phrasings that no longer reach this answer, with what they reach now.
    pub lost_questions: Vec<LostQuestion>,
}

#[derive(Debug, Clone, Serialize)]
pub struct LostQuestion {
    pub question: String,
    pub now_matches: Option<String>,
}

/// What a reload did.
#[derive(Debug, Clone, Serialize)]
pub struct ReloadReport {
    pub articles: usize,
    pub canonicals: usize,
    pub embedded_chunks: usize,
    pub reused_chunks: usize,
    pub issues: Vec<LoadIssue>,
    pub changed_articles: Vec<String>,
    pub removed_articles: Vec<String>,
    /// Approved answers added or edited.
    pub changed_canonicals: Vec<String>,
    /// Approved answers checked again (their sources changed, or they did).
    pub rechecked: usize,
    /// Those the change made stale (or whose phrasings no longer reach them).
    pub stale: Vec<StaleAnswer>,
    pub seconds: f64,
}

#[derive(Debug, thiserror::Error)]
pub enum ReloadError {
    #[error(transparent)]
    Ingest(Box<crate::ingest::IngestError>),
    #[error(transparent)]
    Open(#[from] IndexError),
    #[error(transparent)]
    Retrieve(#[from] RetrieveError),
}

impl From<crate::ingest::IngestError> for ReloadError {
    fn from(e: crate::ingest::IngestError) -> Self {
        ReloadError::Ingest(Box::new(e))
    }
}

/// id -> content hash of a manifest's entries.
fn hashes<'a>(
    entries: impl Iterator<Item = (&'a String, &'a String)>,
) -> BTreeMap<&'a str, &'a str> {
    entries.map(|(id, h)| (id.as_str(), h.as_str())).collect()
}

/// The passages of `docs` in `index`.
fn passages<'a>(index: &'a Index, docs: &[crate::knowledge::DocId]) -> Vec<&'a str> {
    index
        .chunks
        .iter()
        .filter(|c| docs.contains(&c.doc))
        .map(|c| c.text.as_str())
        .collect()
}

fn verdict_against(current: &Assistant, index: &Index, c: &Canonical) -> Verdict {
    let context = passages(index, &c.sources);
    check(
        &CheckInput {
            draft: &c.answer,
            canonical: None,
            context: &context,
            similarity: None,
            focus: None,
            question: None,
        },
        &current.settings.check,
    )
}

/// Findings of `new` that `old` did not have (same kind, same span of the answer).
fn added_findings(old: &Verdict, new: &Verdict) -> Vec<Finding> {
    new.findings
        .iter()
        .filter(|f| {
            !old.findings
                .iter()
                .any(|o| o.kind == f.kind && o.draft_span == f.draft_span)
        })
        .filter(|f| {
            matches!(
                f.kind,
                crate::check::FindingKind::ValueMismatch
                    | crate::check::FindingKind::EntityMismatch
                    | crate::check::FindingKind::NegationFlip
                    | crate::check::FindingKind::UnsupportedFact
            )
        })
        .cloned()
        .collect()
}

/// Re-ingests the knowledge directory of `current` and opens the new index with the same
/// models; the caller swaps the returned assistant in. The report lists the approved answers
/// whose source articles changed and what the new articles contradict or no longer support,
/// and phrasings (of those and of edited answers) that no longer reach their answer.
pub fn reload(
    current: &Assistant,
    knowledge: &Path,
    settings: &IngestSettings,
) -> Result<(Assistant, ReloadReport), ReloadError> {
    let started = Instant::now();
    let old = current.index.clone();
    // Strict: a file that does not load keeps the generation served now (its answers with it).
    let report = ingest_strict(
        settings,
        &KnowledgeSource::Dir(knowledge.to_path_buf()),
        &current.embedder,
        &ProgressBar::hidden(),
    )?;
    let next = current.reopened()?;
    let new = next.index.clone();

    let old_docs = hashes(old.manifest.documents.iter().map(|d| (&d.id, &d.hash)));
    let new_docs = hashes(new.manifest.documents.iter().map(|d| (&d.id, &d.hash)));
    let changed_articles: Vec<String> = new_docs
        .iter()
        .filter(|(id, h)| old_docs.get(*id) != Some(*h))
        .map(|(id, _)| id.to_string())
        .collect();
    let removed_articles: Vec<String> = old_docs
        .keys()
        .filter(|id| !new_docs.contains_key(*id))
        .map(|id| id.to_string())
        .collect();
    let old_canon = hashes(old.manifest.canonicals.iter().map(|c| (&c.id, &c.hash)));
    let changed_canonicals: Vec<String> = new
        .manifest
        .canonicals
        .iter()
        .filter(|c| old_canon.get(c.id.as_str()) != Some(&c.hash.as_str()))
        .map(|c| c.id.clone())
        .collect();

    let touched: BTreeSet<&str> = changed_articles
        .iter()
        .chain(&removed_articles)
        .map(String::as_str)
        .collect();
    let mut stale = Vec::new();
    let mut rechecked = 0;
    for c in &new.canonicals {
        let changed_sources: Vec<String> = c
            .sources
            .iter()
            .filter(|s| touched.contains(s.0.as_str()))
            .map(|s| s.0.clone())
            .collect();
        let edited = changed_canonicals.contains(&c.id.0);
        if changed_sources.is_empty() && !edited {
            continue;
        }
        rechecked += 1;
        let new_findings = if changed_sources.is_empty() {
            Vec::new()
        } else {
            added_findings(
                &verdict_against(current, &old, c),
                &verdict_against(&next, &new, c),
            )
        };
        let mut lost_questions = Vec::new();
        for q in c.questions.iter().take(QUESTIONS_PER_ANSWER) {
            let now = next.match_question(q, c.lang)?;
            if now.as_ref().map(|m| &m.id) != Some(&c.id) {
                lost_questions.push(LostQuestion {
                    question: q.clone(),
                    now_matches: now.map(|m| m.id.0),
                });
            }
        }
        if !new_findings.is_empty() || !lost_questions.is_empty() {
            stale.push(StaleAnswer {
                canonical_id: c.id.0.clone(),
                changed_sources,
                new_findings,
                lost_questions,
            });
        }
    }
    let summary = ReloadReport {
        articles: report.articles,
        canonicals: report.canonicals,
        embedded_chunks: report.embedded_chunks,
        reused_chunks: report.reused_chunks,
        issues: report.issues,
        changed_articles,
        removed_articles,
        changed_canonicals,
        rechecked,
        stale,
        seconds: started.elapsed().as_secs_f64(),
    };
    tracing::info!(
        changed = summary.changed_articles.len(),
        removed = summary.removed_articles.len(),
        canonicals_changed = summary.changed_canonicals.len(),
        stale = summary.stale.len(),
        seconds = summary.seconds,
        "knowledge reloaded"
    );
    Ok((next, summary))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check::{FindingKind, Span, Status};

    fn finding(kind: FindingKind, start: usize) -> Finding {
        Finding {
            kind,
            message: String::new(),
            draft_span: Some(Span::new(start, start + 2)),
            reference: None,
            reference_span: None,
        }
    }

    fn verdict(findings: Vec<Finding>) -> Verdict {
        Verdict {
            status: Status::Consistent,
            score: 1.0,
            findings,
            coverage: 1.0,
            similarity: None,
            stated: 1,
        }
    }

    #[test]
    fn only_findings_the_change_added_count_and_only_factual_ones() {
        let old = verdict(vec![finding(FindingKind::UnsupportedFact, 0)]);
        let new = verdict(vec![
            finding(FindingKind::UnsupportedFact, 0),
            finding(FindingKind::ValueMismatch, 10),
            finding(FindingKind::MissingFact, 20),
            finding(FindingKind::UnsupportedFact, 30),
        ]);
        let added = added_findings(&old, &new);
        let got: Vec<(FindingKind, usize)> = added
            .iter()
            .map(|f| (f.kind, f.draft_span.unwrap().start))
            .collect();
        assert_eq!(
            got,
            [
                (FindingKind::ValueMismatch, 10),
                (FindingKind::UnsupportedFact, 30)
            ]
        );
        assert!(added_findings(&new, &new).is_empty());
    }
}
