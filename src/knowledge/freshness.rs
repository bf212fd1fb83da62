//! Is the knowledge base current? Articles older than `[knowledge] max_age_days`, approved
//! answers whose sources (or text) changed since approval, and imported sources that are gone.

use chrono::NaiveDate;
use serde::Serialize;

use super::approvals::{answer_hash, Approvals};
use super::sources::{SourceStatus, Sources};
use super::{KnowledgeBase, LoadIssue};

/// An article not updated for longer than allowed.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct OldArticle {
    pub id: String,
    pub updated: String,
    pub age_days: i64,
}

/// An approved answer whose sources or text changed since it was approved.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ChangedAnswer {
    pub id: String,
    pub approved: String,
    pub by: String,
    /// Sources whose content changed (or that were removed) since the approval.
    pub changed_sources: Vec<String>,
    /// The answer text itself differs from the approved one.
    pub answer_changed: bool,
}

/// An imported page or document that is no longer there.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GoneSource {
    pub article: Option<String>,
    pub location: String,
    pub since: Option<String>,
}

/// What `concord knowledge check` and the console's freshness page show.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Freshness {
    pub max_age_days: u32,
    pub too_old: Vec<OldArticle>,
    pub changed_since_approval: Vec<ChangedAnswer>,
    pub gone: Vec<GoneSource>,
    /// Files that do not load.
    pub issues: Vec<LoadIssue>,
    /// Articles without an `updated` date (their age is unknown; not stale by itself).
    pub undated: Vec<String>,
    /// Approved answers with no approval record yet (`concord knowledge approve` records one).
    pub unrecorded: Vec<String>,
}

impl Freshness {
    /// Something needs a person: old articles, answers whose sources moved, gone sources or
    /// files that do not load.
    pub fn is_stale(&self) -> bool {
        !(self.too_old.is_empty()
            && self.changed_since_approval.is_empty()
            && self.gone.is_empty()
            && self.issues.is_empty())
    }
}

/// The date part of an `updated` value ("2026-10-01" or "2026-10-01T08:00:00Z").
fn date_of(updated: &str) -> Option<NaiveDate> {
    NaiveDate::parse_from_str(updated.get(..10)?, "%Y-%m-%d").ok()
}

/// Checks `kb` against its approvals and import registry as of `today`. `max_age_days` 0 turns
/// the age check off.
pub fn check(
    kb: &KnowledgeBase,
    approvals: &Approvals,
    sources: &Sources,
    max_age_days: u32,
    today: NaiveDate,
) -> Freshness {
    let mut report = Freshness {
        max_age_days,
        issues: kb.issues.clone(),
        ..Freshness::default()
    };
    for a in &kb.articles {
        match a.updated.as_deref().and_then(date_of) {
            None => report.undated.push(a.id.0.clone()),
            Some(date) => {
                let age_days = (today - date).num_days();
                if max_age_days > 0 && age_days > i64::from(max_age_days) {
                    report.too_old.push(OldArticle {
                        id: a.id.0.clone(),
                        updated: date.to_string(),
                        age_days,
                    });
                }
            }
        }
    }
    for c in &kb.canonicals {
        let Some(record) = approvals.answers.get(&c.id.0) else {
            report.unrecorded.push(c.id.0.clone());
            continue;
        };
        let changed_sources: Vec<String> = c
            .sources
            .iter()
            .filter(|s| {
                let now = kb.article(s).map(|a| a.content_hash());
                now.as_ref() != record.sources.get(&s.0)
            })
            .map(|s| s.0.clone())
            .collect();
        let answer_changed = answer_hash(c) != record.answer;
        if !changed_sources.is_empty() || answer_changed {
            report.changed_since_approval.push(ChangedAnswer {
                id: c.id.0.clone(),
                approved: record.approved.clone(),
                by: record.by.clone(),
                changed_sources,
                answer_changed,
            });
        }
    }
    report.gone = sources
        .entries
        .iter()
        .filter(|e| e.status == SourceStatus::Gone)
        .map(|e| GoneSource {
            article: e.article.clone(),
            location: e.location.clone(),
            since: e.gone_since.clone(),
        })
        .collect();
    report
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::knowledge::sources::{SourceEntry, SourceKind};
    use crate::knowledge::{Article, Canonical, CanonicalId, DocId, Lang};

    fn article(id: &str, updated: Option<&str>, body: &str) -> Article {
        Article {
            id: DocId(id.into()),
            title: id.into(),
            lang: Lang::Pl,
            url: None,
            updated: updated.map(str::to_string),
            tags: vec![],
            body: body.into(),
            origin: "t".into(),
        }
    }

    fn kb(delivery_body: &str, answer: &str) -> KnowledgeBase {
        KnowledgeBase {
            articles: vec![
                article("pl-delivery", Some("2026-11-30"), delivery_body),
                article("pl-old", Some("2025-01-10T08:00:00Z"), "Stary tekst."),
                article("pl-undated", None, "Bez daty."),
            ],
            canonicals: vec![Canonical {
                id: CanonicalId("pl-cost".into()),
                lang: Lang::Pl,
                questions: vec!["Ile kosztuje kurier?".into()],
                answer: answer.into(),
                sources: vec![DocId("pl-delivery".into())],
                handoff: false,
                tags: vec![],
                origin: "t".into(),
            }],
            issues: vec![],
        }
    }

    #[test]
    fn old_articles_moved_sources_and_gone_pages_are_stale() {
        let today = NaiveDate::from_ymd_opt(2026, 12, 7).unwrap();
        let approved = kb("Kurier kosztuje 14,99 zł.", "14,99 zł.");
        let mut approvals = Approvals::default();
        let none = check(&approved, &approvals, &Sources::default(), 365, today);
        assert_eq!(none.unrecorded, ["pl-cost"]);
        approvals
            .approve(&approved, &[], "anna", "2026-12-01T00:00:00Z")
            .unwrap();

        let fresh = check(&approved, &approvals, &Sources::default(), 365, today);
        assert_eq!(fresh.too_old.len(), 1);
        assert_eq!(fresh.too_old[0].id, "pl-old");
        assert_eq!(fresh.too_old[0].age_days, 696);
        assert_eq!(fresh.undated, ["pl-undated"]);
        assert!(fresh.changed_since_approval.is_empty());
        assert!(fresh.is_stale(), "the old article");
        let off = check(&approved, &approvals, &Sources::default(), 0, today);
        assert!(!off.is_stale(), "max_age_days = 0 turns the age check off");

        let moved = kb("Kurier kosztuje 16,99 zł.", "14,99 zł.");
        let report = check(&moved, &approvals, &Sources::default(), 0, today);
        assert_eq!(
            report.changed_since_approval,
            [ChangedAnswer {
                id: "pl-cost".into(),
                approved: "2026-12-01T00:00:00Z".into(),
                by: "anna".into(),
                changed_sources: vec!["pl-delivery".into()],
                answer_changed: false,
            }]
        );
        assert!(report.is_stale());
        let edited = kb("Kurier kosztuje 14,99 zł.", "16,99 zł.");
        let report = check(&edited, &approvals, &Sources::default(), 0, today);
        assert!(report.changed_since_approval[0].answer_changed);

        let mut sources = Sources::default();
        sources.upsert(SourceEntry {
            kind: SourceKind::Page,
            location: "http://shop/old.html".into(),
            article: Some("pl-old".into()),
            file: String::new(),
            via: None,
            hash: String::new(),
            etag: None,
            last_modified: None,
            checked: String::new(),
            changed: String::new(),
            status: SourceStatus::Gone,
            gone_since: Some("2026-12-06T00:00:00Z".into()),
        });
        let report = check(&approved, &approvals, &sources, 0, today);
        assert_eq!(report.gone.len(), 1);
        assert_eq!(report.gone[0].location, "http://shop/old.html");
        assert!(report.is_stale());
    }
}
