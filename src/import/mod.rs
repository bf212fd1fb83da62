//! `concord import`: a shop's existing pages, documents and answer sheets become knowledge files
//! (articles with their source recorded, approved answers), and re-syncing keeps them current.

pub mod answers;
pub mod documents;
pub mod html;
pub mod markdown;
mod run;
pub mod web;

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::knowledge::approvals::ApprovalsError;
use crate::knowledge::sources::{SourceKind, SourcesError};
use crate::knowledge::{KnowledgeError, Lang};
use documents::DocumentError;
use run::Run;
use web::WebError;

/// `[import]` settings.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ImportSettings {
    /// Sent with every request and matched against robots.txt groups.
    pub user_agent: String,
    /// Wait between two requests to the same host (robots.txt Crawl-delay wins when longer).
    pub delay_ms: u64,
    pub timeout_secs: u64,
    /// Pages taken from one sitemap at most.
    pub max_pages: usize,
    /// A page or document larger than this is refused.
    pub max_page_bytes: usize,
    /// `serve` re-syncs imported sources this often (0: only `concord import --resync`).
    pub resync_every_hours: u32,
}

impl ImportSettings {
    pub fn validate(&self) -> Result<(), String> {
        if self.user_agent.trim().is_empty() {
            return Err("user_agent must not be empty".into());
        }
        if !(1..=300).contains(&self.timeout_secs) {
            return Err(format!(
                "timeout_secs must be 1..=300, got {}",
                self.timeout_secs
            ));
        }
        if !(1..=100_000).contains(&self.max_pages) {
            return Err(format!(
                "max_pages must be 1..=100000, got {}",
                self.max_pages
            ));
        }
        if !(1024..=1_000_000_000).contains(&self.max_page_bytes) {
            return Err(format!(
                "max_page_bytes must be 1024..=1000000000, got {}",
                self.max_page_bytes
            ));
        }
        if self.resync_every_hours > 8760 {
            return Err(format!(
                "resync_every_hours must be at most 8760 (a year; 0: off), got {}",
                self.resync_every_hours
            ));
        }
        Ok(())
    }
}

/// What to import.
#[derive(Debug, Clone, PartialEq)]
pub enum ImportSource {
    /// One web page.
    Url(String),
    /// Every page a sitemap lists on its own host, robots.txt obeyed.
    Sitemap(String),
    Html(PathBuf),
    Pdf(PathBuf),
    Docx(PathBuf),
    /// Questions and answers to approved answers.
    Csv(PathBuf),
}

/// Choices for a single page or document.
#[derive(Debug, Clone, Default)]
pub struct ImportOptions {
    /// The article's language (default: the page's declared one, else detected).
    pub lang: Option<Lang>,
    /// The article's id (default: from the URL path or file name).
    pub id: Option<String>,
}

/// An article written (created or changed).
#[derive(Debug, Clone, Serialize)]
pub struct Written {
    pub id: String,
    pub file: String,
    pub location: String,
    pub created: bool,
}

/// A source not imported, and why.
#[derive(Debug, Clone, Serialize)]
pub struct Skipped {
    pub location: String,
    pub reason: String,
}

/// What an import or re-sync did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ImportReport {
    pub written: Vec<Written>,
    /// Sources checked and found unchanged.
    pub unchanged: Vec<String>,
    /// Approved answers written from a spreadsheet, and the file.
    pub answers: Vec<String>,
    pub answers_file: Option<String>,
    pub ignored_columns: Vec<String>,
    pub skipped: Vec<Skipped>,
    /// Sources found gone (their articles are kept; `concord knowledge check` lists them).
    pub gone: Vec<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error(transparent)]
    Web(#[from] WebError),
    #[error("{path}: {source}")]
    Document {
        path: PathBuf,
        source: DocumentError,
    },
    #[error("{path}, {source}")]
    Sheet {
        path: PathBuf,
        source: answers::SheetError,
    },
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot write {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(transparent)]
    Sources(#[from] SourcesError),
    #[error(transparent)]
    Approvals(#[from] ApprovalsError),
    #[error(transparent)]
    Knowledge(#[from] KnowledgeError),
    #[error("{0}")]
    Invalid(String),
}

/// Imports `source` into `knowledge_dir`.
pub async fn import(
    knowledge_dir: &Path,
    source: &ImportSource,
    options: &ImportOptions,
    settings: &ImportSettings,
) -> Result<ImportReport, ImportError> {
    let mut run = Run::open(knowledge_dir, settings)?;
    match source {
        ImportSource::Url(url) => {
            let url = web::parse_url(url)?;
            run.page(&url, None, None, options, true).await?;
        }
        ImportSource::Sitemap(url) => {
            let url = web::parse_url(url)?;
            run.sitemap(&url).await?;
        }
        ImportSource::Html(p) => run.file(SourceKind::Html, p, options, true)?,
        ImportSource::Pdf(p) => run.file(SourceKind::Pdf, p, options, true)?,
        ImportSource::Docx(p) => run.file(SourceKind::Docx, p, options, true)?,
        ImportSource::Csv(p) => run.sheet(p, true)?,
    }
    run.finish()
}

/// Fetches or reads every recorded source again and updates what changed; sitemaps are read
/// again for new pages.
pub async fn resync(
    knowledge_dir: &Path,
    settings: &ImportSettings,
) -> Result<ImportReport, ImportError> {
    let mut run = Run::open(knowledge_dir, settings)?;
    let entries = run.sources.entries.clone();
    if entries.is_empty() {
        return Err(ImportError::Invalid(format!(
            "nothing to re-sync: {} records no imported sources (run `concord import` first)",
            knowledge_dir
                .join(crate::knowledge::sources::SOURCES_FILE)
                .display()
        )));
    }
    for entry in &entries {
        let options = ImportOptions {
            lang: None,
            id: entry.article.clone(),
        };
        match entry.kind {
            SourceKind::Page => {
                let url = web::parse_url(&entry.location)?;
                run.page(&url, None, entry.via.as_deref(), &options, false)
                    .await?
            }
            SourceKind::Sitemap => run.sitemap(&web::parse_url(&entry.location)?).await?,
            SourceKind::Html | SourceKind::Pdf | SourceKind::Docx => {
                run.file(entry.kind, Path::new(&entry.location), &options, false)?
            }
            SourceKind::Csv => run.sheet(Path::new(&entry.location), false)?,
        }
    }
    run.finish()
}

/// Lowercase ASCII words of `text` joined by `-` (Polish letters folded).
fn slug(text: &str) -> String {
    let folded = crate::util::fold(text);
    folded
        .split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|w| !w.is_empty())
        .collect::<Vec<_>>()
        .join("-")
}

/// An article id from a URL path: `/pomoc/dostawa.html` -> `pomoc-dostawa`; `/` -> `home`.
pub fn id_from_path(path: &str) -> String {
    let path = path.trim_end_matches('/');
    let path = match path.rsplit_once('.') {
        Some((stem, ext)) if !stem.is_empty() && !ext.contains('/') && ext.len() <= 5 => stem,
        _ => path,
    };
    let id = slug(path);
    if id.is_empty() {
        "home".into()
    } else {
        id
    }
}

fn now_utc() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// `YYYY-MM-DD` of an HTTP date or a sitemap lastmod.
fn date_of(http_date: Option<&str>, lastmod: Option<&str>) -> Option<String> {
    if let Some(d) = http_date.and_then(|d| chrono::DateTime::parse_from_rfc2822(d).ok()) {
        return Some(d.format("%Y-%m-%d").to_string());
    }
    lastmod
        .and_then(|l| l.get(..10))
        .filter(|d| chrono::NaiveDate::parse_from_str(d, "%Y-%m-%d").is_ok())
        .map(str::to_string)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_come_from_url_paths() {
        assert_eq!(id_from_path("/pomoc/dostawa.html"), "pomoc-dostawa");
        assert_eq!(
            id_from_path("/pomoc/Zwroty-i-Reklamacje/"),
            "pomoc-zwroty-i-reklamacje"
        );
        assert_eq!(id_from_path("/pl/płatności.php"), "pl-platnosci");
        assert_eq!(id_from_path("/"), "home");
        assert_eq!(id_from_path("/v1.2/faq"), "v1-2-faq");
    }

    #[test]
    fn dates_come_from_http_headers_or_sitemaps() {
        assert_eq!(
            date_of(Some("Wed, 02 Dec 2026 10:00:00 GMT"), Some("2026-01-01")).as_deref(),
            Some("2026-12-02")
        );
        assert_eq!(
            date_of(None, Some("2026-11-02T08:00:00+01:00")).as_deref(),
            Some("2026-11-02")
        );
        assert_eq!(date_of(Some("yesterday"), Some("soon")), None);
    }
}
