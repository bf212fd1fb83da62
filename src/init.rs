//! `concord init DIR`: a new shop folder with a commented configuration, two example articles
//! and approved answers (Polish and English) recorded as approved, ready to ingest and serve.

use std::path::{Path, PathBuf};

use crate::knowledge::approvals::{Approvals, ApprovalsError};
use crate::knowledge::{KnowledgeBase, KnowledgeError};

/// The files of a new shop folder: (path inside it, contents).
const FILES: &[(&str, &str)] = &[
    (
        "concord.toml",
        include_str!("../templates/init/concord.toml"),
    ),
    (
        "knowledge/articles/pl/dostawa.md",
        include_str!("../templates/init/knowledge/articles/pl/dostawa.md"),
    ),
    (
        "knowledge/articles/en/returns.md",
        include_str!("../templates/init/knowledge/articles/en/returns.md"),
    ),
    (
        "knowledge/canonical/pl/dostawa.toml",
        include_str!("../templates/init/knowledge/canonical/pl/dostawa.toml"),
    ),
    (
        "knowledge/canonical/en/returns.toml",
        include_str!("../templates/init/knowledge/canonical/en/returns.toml"),
    ),
];

#[derive(Debug, thiserror::Error)]
pub enum InitError {
    #[error("{0} already exists and is not empty; choose a new folder (nothing was written)")]
    NotEmpty(PathBuf),
    #[error("cannot write {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(transparent)]
    Knowledge(#[from] KnowledgeError),
    #[error(transparent)]
    Approvals(#[from] ApprovalsError),
}

/// Writes a new shop folder at `dir` (which must not exist or be empty) and returns the files
/// written.
pub fn create_shop(dir: &Path) -> Result<Vec<PathBuf>, InitError> {
    let write_error = |path: &Path| {
        let path = path.to_path_buf();
        move |source| InitError::Write { path, source }
    };
    if dir.exists() {
        let mut entries = fs_err::read_dir(dir).map_err(write_error(dir))?;
        if entries.next().is_some() {
            return Err(InitError::NotEmpty(dir.to_path_buf()));
        }
    }
    let now = chrono::Utc::now();
    let today = now.format("%Y-%m-%d").to_string();
    let mut written = Vec::new();
    for (name, text) in FILES {
        // The example articles are as fresh as the shop.
        let text = text.replace("{{today}}", &today);
        let path = dir.join(name);
        if let Some(parent) = path.parent() {
            fs_err::create_dir_all(parent).map_err(write_error(parent))?;
        }
        crate::util::atomic_write(&path, text.as_bytes()).map_err(write_error(&path))?;
        written.push(path);
    }
    let knowledge = dir.join("knowledge");
    let kb = KnowledgeBase::load_dir(&knowledge)?;
    let mut approvals = Approvals::default();
    let now = now.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    approvals.approve(&kb, &[], "concord init", &now)?;
    approvals.save(&knowledge)?;
    written.push(knowledge.join(crate::knowledge::approvals::APPROVALS_FILE));
    Ok(written)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::knowledge::freshness::check;
    use crate::knowledge::sources::Sources;

    #[test]
    fn a_new_shop_loads_cleanly_and_is_current() {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("sklep");
        let files = create_shop(&dir).unwrap();
        assert_eq!(files.len(), FILES.len() + 1);
        let config = crate::Config::load(Some(&dir.join("concord.toml"))).unwrap();
        assert_eq!(config.prompts.business_name, "Mój Sklep");
        assert_eq!(config.knowledge_dir, dir.join("knowledge"));
        let kb = KnowledgeBase::load_dir(&config.knowledge_dir).unwrap();
        assert!(kb.issues.is_empty(), "{:?}", kb.issues);
        assert_eq!((kb.articles.len(), kb.canonicals.len()), (2, 2));
        let today = chrono::Utc::now().date_naive();
        let report = check(
            &kb,
            &Approvals::load(&config.knowledge_dir).unwrap(),
            &Sources::default(),
            config.knowledge_max_age_days,
            today,
        );
        assert!(!report.is_stale(), "{report:?}");
        assert!(report.unrecorded.is_empty());

        let again = create_shop(&dir).unwrap_err();
        assert!(again.to_string().contains("not empty"), "{again}");
        assert_eq!(
            fs_err::read_to_string(dir.join("concord.toml")).unwrap(),
            FILES[0].1,
            "nothing overwritten"
        );
    }
}
