//! The knowledge base: help articles and approved (canonical) answers, loaded from `knowledge/`
//! or a JSONL import. Parsing is pure ([`parse`]); this module does the file walking.

pub mod approvals;
pub mod canonical;
pub mod chunk;
pub mod edit;
pub mod erase;
pub mod freshness;
pub mod lang;
pub mod parse;
pub mod pii;
pub mod slots;
pub mod sources;

use std::fmt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

pub use canonical::Canonical;
pub use chunk::{chunk_article, Chunk, ChunkId};
pub use lang::{detect_lang, Lang};

/// Identifier of an article (unique across the knowledge base).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct DocId(pub String);

impl fmt::Display for DocId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Identifier of a canonical answer (unique across the knowledge base).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct CanonicalId(pub String);

impl fmt::Display for CanonicalId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A help article: the text Concord retrieves from and cites.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Article {
    pub id: DocId,
    pub title: String,
    pub lang: Lang,
    pub url: Option<String>,
    pub updated: Option<String>,
    pub tags: Vec<String>,
    /// Markdown body (front matter removed).
    pub body: String,
    /// Where it came from, for error messages and the console.
    pub origin: String,
}

impl Article {
    /// Hash of everything that affects chunks and their embeddings.
    pub fn content_hash(&self) -> String {
        let mut h = Sha256::new();
        for part in [
            self.id.0.as_str(),
            self.title.as_str(),
            self.lang.as_str(),
            self.url.as_deref().unwrap_or(""),
            self.body.as_str(),
        ] {
            h.update(part.as_bytes());
            h.update([0u8]);
        }
        hex::encode(h.finalize())
    }
}

/// A file (and line, when known) that could not be loaded, with the reason.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LoadIssue {
    pub path: PathBuf,
    pub line: Option<usize>,
    pub message: String,
}

impl fmt::Display for LoadIssue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            Some(line) => write!(f, "{}:{}: {}", self.path.display(), line, self.message),
            None => write!(f, "{}: {}", self.path.display(), self.message),
        }
    }
}

/// Everything loaded from a knowledge source, plus what had to be skipped.
#[derive(Debug, Clone, Default)]
pub struct KnowledgeBase {
    pub articles: Vec<Article>,
    pub canonicals: Vec<Canonical>,
    pub issues: Vec<LoadIssue>,
}

/// Errors that stop loading altogether (problems with single files are [`LoadIssue`]s).
#[derive(Debug, thiserror::Error)]
pub enum KnowledgeError {
    #[error("knowledge directory {path} does not exist (set knowledge.dir or pass --knowledge)")]
    MissingDir { path: PathBuf },
    #[error("cannot read {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path} holds no articles and no canonical answers")]
    Empty { path: PathBuf },
}

impl KnowledgeBase {
    /// Loads `dir/articles/**/*.md` and `dir/canonical/**/*.toml`. Bad files become issues and are
    /// skipped; ids that repeat are issues too (the first one wins).
    pub fn load_dir(dir: &Path) -> Result<KnowledgeBase, KnowledgeError> {
        if !dir.is_dir() {
            return Err(KnowledgeError::MissingDir {
                path: dir.to_path_buf(),
            });
        }
        let mut kb = KnowledgeBase::default();
        for path in walk(&dir.join("articles"), "md")? {
            let text = read_text(&path, &mut kb.issues);
            let Some(text) = text else { continue };
            match parse::parse_article(&text, &display_path(dir, &path)) {
                Ok(article) => kb.articles.push(article),
                Err(e) => kb.issues.push(LoadIssue {
                    path: path.clone(),
                    line: e.line,
                    message: e.message,
                }),
            }
        }
        for path in walk(&dir.join("canonical"), "toml")? {
            let Some(text) = read_text(&path, &mut kb.issues) else {
                continue;
            };
            match canonical::parse_canonical_file(&text, &display_path(dir, &path)) {
                Ok(answers) => kb.canonicals.extend(answers),
                Err(e) => kb.issues.push(LoadIssue {
                    path: path.clone(),
                    line: e.line,
                    message: e.message,
                }),
            }
        }
        kb.finish(dir)?;
        Ok(kb)
    }

    /// Loads a JSONL file of `{id, title, text}` passages (optionally `lang`). Each passage becomes
    /// an article; bad lines are issues with their line number.
    pub fn load_jsonl(path: &Path) -> Result<KnowledgeBase, KnowledgeError> {
        let text = fs_err::read_to_string(path).map_err(|source| KnowledgeError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        let mut kb = KnowledgeBase::default();
        let origin = path.display().to_string();
        for (i, line) in text.lines().enumerate() {
            if line.trim().is_empty() {
                continue;
            }
            match parse::parse_jsonl_passage(line, &origin, i + 1) {
                Ok(article) => kb.articles.push(article),
                Err(e) => kb.issues.push(LoadIssue {
                    path: path.to_path_buf(),
                    line: e.line,
                    message: e.message,
                }),
            }
        }
        kb.finish(path)?;
        Ok(kb)
    }

    /// Makes every article an approved answer too, with the same id, the article as its source
    /// and its title (when it has one) as its phrasing: a FAQ export whose passages are answers.
    pub fn passages_as_canonicals(&mut self) {
        let made: Vec<Canonical> = self
            .articles
            .iter()
            .map(|a| Canonical {
                id: CanonicalId(a.id.0.clone()),
                lang: a.lang,
                questions: if a.title.is_empty() {
                    Vec::new()
                } else {
                    vec![a.title.clone()]
                },
                answer: a.body.trim().to_string(),
                sources: vec![a.id.clone()],
                handoff: false,
                tags: a.tags.clone(),
                origin: a.origin.clone(),
            })
            .collect();
        self.canonicals.extend(made);
        self.canonicals.sort_by(|a, b| a.id.cmp(&b.id));
        self.canonicals.dedup_by(|a, b| a.id == b.id);
    }

    /// Drops duplicate ids (reported), checks canonical sources, sorts for determinism.
    fn finish(&mut self, root: &Path) -> Result<(), KnowledgeError> {
        let mut seen = std::collections::HashSet::new();
        let mut issues = Vec::new();
        self.articles.retain(|a| {
            let fresh = seen.insert(a.id.clone());
            if !fresh {
                issues.push(LoadIssue {
                    path: PathBuf::from(&a.origin),
                    line: None,
                    message: format!(
                        "article id `{}` is already used; this copy is skipped",
                        a.id
                    ),
                });
            }
            fresh
        });
        let mut seen_c = std::collections::HashSet::new();
        self.canonicals.retain(|c| {
            let fresh = seen_c.insert(c.id.clone());
            if !fresh {
                issues.push(LoadIssue {
                    path: PathBuf::from(&c.origin),
                    line: None,
                    message: format!(
                        "canonical answer id `{}` is already used; this copy is skipped",
                        c.id
                    ),
                });
            }
            fresh
        });
        for c in &self.canonicals {
            for s in &c.sources {
                if !seen.contains(s) {
                    issues.push(LoadIssue {
                        path: PathBuf::from(&c.origin),
                        line: None,
                        message: format!(
                            "canonical answer `{}` names source `{s}`, which is no loaded article",
                            c.id
                        ),
                    });
                }
            }
        }
        self.issues.extend(issues);
        self.articles.sort_by(|a, b| a.id.cmp(&b.id));
        self.canonicals.sort_by(|a, b| a.id.cmp(&b.id));
        if self.articles.is_empty() && self.canonicals.is_empty() {
            return Err(KnowledgeError::Empty {
                path: root.to_path_buf(),
            });
        }
        Ok(())
    }

    pub fn article(&self, id: &DocId) -> Option<&Article> {
        self.articles
            .binary_search_by(|a| a.id.cmp(id))
            .ok()
            .map(|i| &self.articles[i])
    }
}

fn display_path(root: &Path, path: &Path) -> String {
    let name = root.file_name().map(PathBuf::from).unwrap_or_default();
    match path.strip_prefix(root) {
        Ok(rel) => name.join(rel).display().to_string(),
        Err(_) => path.display().to_string(),
    }
}

fn read_text(path: &Path, issues: &mut Vec<LoadIssue>) -> Option<String> {
    match fs_err::read(path) {
        Ok(bytes) => match String::from_utf8(bytes) {
            Ok(text) => Some(text),
            Err(e) => {
                let valid = &e.as_bytes()[..e.utf8_error().valid_up_to()];
                let line = valid.iter().filter(|&&b| b == b'\n').count() + 1;
                issues.push(LoadIssue {
                    path: path.to_path_buf(),
                    line: Some(line),
                    message: "file is not valid UTF-8".into(),
                });
                None
            }
        },
        Err(e) => {
            issues.push(LoadIssue {
                path: path.to_path_buf(),
                line: None,
                message: format!("cannot read: {e}"),
            });
            None
        }
    }
}

/// Files with extension `ext` under `dir`, recursively, sorted. A missing `dir` yields none.
fn walk(dir: &Path, ext: &str) -> Result<Vec<PathBuf>, KnowledgeError> {
    let mut out = Vec::new();
    if !dir.is_dir() {
        return Ok(out);
    }
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let entries = fs_err::read_dir(&d).map_err(|source| KnowledgeError::Io {
            path: d.clone(),
            source,
        })?;
        for entry in entries {
            let entry = entry.map_err(|source| KnowledgeError::Io {
                path: d.clone(),
                source,
            })?;
            let path = entry.path();
            let name = entry.file_name();
            if name.to_string_lossy().starts_with('.') {
                continue;
            }
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == ext) {
                out.push(path);
            }
        }
    }
    out.sort();
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn faq_passages_become_approved_answers_of_their_own() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("kb.jsonl");
        fs_err::write(
            &path,
            "{\"id\": 7, \"title\": \"\", \"text\": \"Zwrot jest darmowy przez 30 dni.\"}\n\
             {\"id\": \"cancel_order\", \"title\": \"ORDER: cancel order\", \"text\": \"Go to your orders and click Cancel.\"}\n",
        )
        .unwrap();
        let mut kb = KnowledgeBase::load_jsonl(&path).unwrap();
        assert!(kb.canonicals.is_empty());
        kb.passages_as_canonicals();
        let ids: Vec<&str> = kb.canonicals.iter().map(|c| c.id.0.as_str()).collect();
        assert_eq!(ids, ["7", "cancel_order"]);
        let c = &kb.canonicals[1];
        assert_eq!(c.questions, ["ORDER: cancel order"]);
        assert_eq!(c.sources, [DocId("cancel_order".into())]);
        assert_eq!(c.lang, Lang::En);
        assert!(
            kb.canonicals[0].questions.is_empty(),
            "no title, no phrasing"
        );
        assert_eq!(kb.canonicals[0].lang, Lang::Pl);
        kb.passages_as_canonicals();
        assert_eq!(kb.canonicals.len(), 2, "idempotent");
    }
}
