//! When each approved answer was approved, by whom, and against which version of its sources:
//! `approvals.toml` in the knowledge directory, so a later change of a source shows as stale.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::{Canonical, KnowledgeBase};

/// Version of the `approvals.toml` layout this build reads and writes.
pub const APPROVALS_FORMAT: u32 = 1;

pub const APPROVALS_FILE: &str = "approvals.toml";

/// One answer's approval.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Approval {
    /// RFC 3339, UTC.
    pub approved: String,
    pub by: String,
    /// SHA-256 of the approved answer text.
    pub answer: String,
    /// Source article id -> its content hash when the answer was approved.
    #[serde(default)]
    pub sources: BTreeMap<String, String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Approvals {
    pub format: u32,
    #[serde(default)]
    pub answers: BTreeMap<String, Approval>,
}

impl Default for Approvals {
    fn default() -> Self {
        Approvals {
            format: APPROVALS_FORMAT,
            answers: BTreeMap::new(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ApprovalsError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path} is not a valid approvals file: {message}")]
    Invalid { path: PathBuf, message: String },
    #[error("{path} has format {found}; this build of concord reads format {APPROVALS_FORMAT} (upgrade concord)")]
    Newer { path: PathBuf, found: u32 },
    #[error("cannot write {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("no approved answer has the id `{0}`")]
    Unknown(String),
    #[error(transparent)]
    Knowledge(#[from] super::KnowledgeError),
}

/// Records `ids` of the knowledge base in `knowledge_dir` as approved now by `by` (loads the
/// files and the approvals, writes the approvals back).
pub fn record(knowledge_dir: &Path, ids: &[String], by: &str) -> Result<usize, ApprovalsError> {
    let kb = KnowledgeBase::load_dir(knowledge_dir)?;
    let mut approvals = Approvals::load(knowledge_dir)?;
    let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let n = approvals.approve(&kb, ids, by, &now)?;
    approvals.save(knowledge_dir)?;
    Ok(n)
}

const HEADER: &str = "# Which version of each approved answer and of its sources was approved, by whom and when.\n# Written by `concord knowledge approve`, `concord import csv` and the console; read by\n# `concord knowledge check`.\n\n";

/// SHA-256 of an answer's text as approved.
pub fn answer_hash(c: &Canonical) -> String {
    crate::util::sha256_hex(c.answer.trim().as_bytes())
}

impl Approvals {
    pub fn load(knowledge_dir: &Path) -> Result<Approvals, ApprovalsError> {
        let path = knowledge_dir.join(APPROVALS_FILE);
        if !path.is_file() {
            return Ok(Approvals::default());
        }
        let text = fs_err::read_to_string(&path).map_err(|source| ApprovalsError::Read {
            path: path.clone(),
            source,
        })?;
        let approvals: Approvals = toml::from_str(&text).map_err(|e| ApprovalsError::Invalid {
            path: path.clone(),
            message: e.message().to_string(),
        })?;
        if approvals.format > APPROVALS_FORMAT {
            return Err(ApprovalsError::Newer {
                path,
                found: approvals.format,
            });
        }
        Ok(approvals)
    }

    pub fn save(&self, knowledge_dir: &Path) -> Result<(), ApprovalsError> {
        let path = knowledge_dir.join(APPROVALS_FILE);
        let body = toml::to_string(self).map_err(|e| ApprovalsError::Invalid {
            path: path.clone(),
            message: e.to_string(),
        })?;
        crate::util::atomic_write(&path, format!("{HEADER}{body}").as_bytes())
            .map_err(|source| ApprovalsError::Write { path, source })
    }

    /// Records `ids` (all answers when empty) as approved now by `by`, against the sources as
    /// `kb` has them. Returns how many were recorded.
    pub fn approve(
        &mut self,
        kb: &KnowledgeBase,
        ids: &[String],
        by: &str,
        now: &str,
    ) -> Result<usize, ApprovalsError> {
        if let Some(unknown) = ids
            .iter()
            .find(|id| !kb.canonicals.iter().any(|c| &c.id.0 == *id))
        {
            return Err(ApprovalsError::Unknown(unknown.clone()));
        }
        let mut n = 0;
        for c in kb
            .canonicals
            .iter()
            .filter(|c| ids.is_empty() || ids.contains(&c.id.0))
        {
            let sources = c
                .sources
                .iter()
                .filter_map(|s| kb.article(s).map(|a| (s.0.clone(), a.content_hash())))
                .collect();
            self.answers.insert(
                c.id.0.clone(),
                Approval {
                    approved: now.to_string(),
                    by: by.to_string(),
                    answer: answer_hash(c),
                    sources,
                },
            );
            n += 1;
        }
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::knowledge::{Article, CanonicalId, DocId, Lang};

    fn kb() -> KnowledgeBase {
        KnowledgeBase {
            articles: vec![Article {
                id: DocId("pl-delivery".into()),
                title: "Dostawa".into(),
                lang: Lang::Pl,
                url: None,
                updated: None,
                tags: vec![],
                body: "Kurier kosztuje 14,99 zł.".into(),
                origin: "t".into(),
            }],
            canonicals: vec![Canonical {
                id: CanonicalId("pl-cost".into()),
                lang: Lang::Pl,
                questions: vec!["Ile kosztuje kurier?".into()],
                answer: "14,99 zł.".into(),
                sources: vec![DocId("pl-delivery".into())],
                handoff: false,
                tags: vec![],
                origin: "t".into(),
            }],
            issues: vec![],
        }
    }

    #[test]
    fn an_approval_records_the_answer_and_its_sources_and_reads_back() {
        let dir = tempfile::tempdir().unwrap();
        let mut a = Approvals::load(dir.path()).unwrap();
        assert_eq!(
            a.approve(&kb(), &[], "anna", "2026-12-07T10:00:00Z")
                .unwrap(),
            1
        );
        let rec = &a.answers["pl-cost"];
        assert_eq!(rec.sources["pl-delivery"], kb().articles[0].content_hash());
        assert_eq!(rec.answer, answer_hash(&kb().canonicals[0]));
        a.save(dir.path()).unwrap();
        assert_eq!(Approvals::load(dir.path()).unwrap(), a);
        let err = a
            .approve(&kb(), &["pl-nope".into()], "anna", "now")
            .unwrap_err();
        assert_eq!(err.to_string(), "no approved answer has the id `pl-nope`");
    }
}
