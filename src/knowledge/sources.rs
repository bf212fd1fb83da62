//! Where imported knowledge came from: `sources.toml` beside `articles/` and `canonical/`, one
//! entry per page, document, sitemap or spreadsheet, with what re-syncing needs to compare.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// Version of the `sources.toml` layout this build reads and writes.
pub const SOURCES_FORMAT: u32 = 1;

/// The file name, in the knowledge directory.
pub const SOURCES_FILE: &str = "sources.toml";

/// What kind of source an entry is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SourceKind {
    /// A web page (imported alone or found in a sitemap).
    Page,
    /// A sitemap: its pages are entries of their own; re-syncing reads it again for new ones.
    Sitemap,
    Html,
    Pdf,
    Docx,
    /// A spreadsheet of approved answers.
    Csv,
}

/// Whether the source was still there at the last import or re-sync.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum SourceStatus {
    #[default]
    Ok,
    /// The page answered 404/410, or the file is gone. The article is kept until someone
    /// removes it; `concord knowledge check` lists it.
    Gone,
}

/// One imported source.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SourceEntry {
    pub kind: SourceKind,
    /// The URL, or the file's absolute path.
    pub location: String,
    /// The article it became (pages and documents).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub article: Option<String>,
    /// The file written, relative to the knowledge directory (empty for a sitemap).
    #[serde(default)]
    pub file: String,
    /// The sitemap that listed this page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub via: Option<String>,
    /// SHA-256 of what the source produced (the article's title and Markdown, or the CSV bytes).
    #[serde(default)]
    pub hash: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub etag: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_modified: Option<String>,
    /// When it was last fetched or read (RFC 3339, UTC).
    pub checked: String,
    /// When its content last changed (RFC 3339, UTC).
    pub changed: String,
    #[serde(default)]
    pub status: SourceStatus,
    /// When it was first found gone.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gone_since: Option<String>,
}

/// The registry of imported sources.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Sources {
    pub format: u32,
    #[serde(default, rename = "source")]
    pub entries: Vec<SourceEntry>,
}

impl Default for Sources {
    fn default() -> Self {
        Sources {
            format: SOURCES_FORMAT,
            entries: Vec::new(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SourcesError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path} is not a valid sources file: {message}")]
    Invalid { path: PathBuf, message: String },
    #[error("{path} has format {found}; this build of concord reads format {SOURCES_FORMAT} (upgrade concord)")]
    Newer { path: PathBuf, found: u32 },
    #[error("cannot write {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
}

const HEADER: &str = "# Sources of imported knowledge, written by `concord import`: what each page, document or\n# spreadsheet became and what re-syncing compares. Edit with care.\n\n";

impl Sources {
    /// The registry of `knowledge_dir` (empty when there is none yet).
    pub fn load(knowledge_dir: &Path) -> Result<Sources, SourcesError> {
        let path = knowledge_dir.join(SOURCES_FILE);
        if !path.is_file() {
            return Ok(Sources::default());
        }
        let text = fs_err::read_to_string(&path).map_err(|source| SourcesError::Read {
            path: path.clone(),
            source,
        })?;
        let sources: Sources = toml::from_str(&text).map_err(|e| SourcesError::Invalid {
            path: path.clone(),
            message: e.message().to_string(),
        })?;
        if sources.format > SOURCES_FORMAT {
            return Err(SourcesError::Newer {
                path,
                found: sources.format,
            });
        }
        Ok(sources)
    }

    /// Writes the registry atomically.
    pub fn save(&self, knowledge_dir: &Path) -> Result<(), SourcesError> {
        let path = knowledge_dir.join(SOURCES_FILE);
        let body = toml::to_string(self).map_err(|e| SourcesError::Invalid {
            path: path.clone(),
            message: e.to_string(),
        })?;
        crate::util::atomic_write(&path, format!("{HEADER}{body}").as_bytes())
            .map_err(|source| SourcesError::Write { path, source })
    }

    /// The entry of `kind` at `location`.
    pub fn find(&self, kind: SourceKind, location: &str) -> Option<&SourceEntry> {
        self.entries
            .iter()
            .find(|e| e.kind == kind && e.location == location)
    }

    /// The entry that wrote article `id`.
    pub fn for_article(&self, id: &str) -> Option<&SourceEntry> {
        self.entries
            .iter()
            .find(|e| e.article.as_deref() == Some(id))
    }

    /// Adds `entry`, replacing the one of the same kind and location.
    pub fn upsert(&mut self, entry: SourceEntry) {
        match self
            .entries
            .iter_mut()
            .find(|e| e.kind == entry.kind && e.location == entry.location)
        {
            Some(old) => *old = entry,
            None => self.entries.push(entry),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(location: &str) -> SourceEntry {
        SourceEntry {
            kind: SourceKind::Page,
            location: location.into(),
            article: Some("pomoc-dostawa".into()),
            file: "articles/pl/imported/pomoc-dostawa.md".into(),
            via: Some("http://shop/sitemap.xml".into()),
            hash: "ab".into(),
            etag: Some("\"v1\"".into()),
            last_modified: None,
            checked: "2026-12-07T10:00:00Z".into(),
            changed: "2026-12-07T10:00:00Z".into(),
            status: SourceStatus::Ok,
            gone_since: None,
        }
    }

    #[test]
    fn the_registry_reads_back_what_it_wrote_and_refuses_a_newer_format() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(Sources::load(dir.path()).unwrap(), Sources::default());
        let mut s = Sources::default();
        s.upsert(entry("http://shop/pomoc/dostawa.html"));
        let mut changed = entry("http://shop/pomoc/dostawa.html");
        changed.hash = "cd".into();
        s.upsert(changed);
        assert_eq!(s.entries.len(), 1, "same kind and location: replaced");
        s.save(dir.path()).unwrap();
        let back = Sources::load(dir.path()).unwrap();
        assert_eq!(back, s);
        assert_eq!(back.for_article("pomoc-dostawa").unwrap().hash, "cd");

        fs_err::write(dir.path().join(SOURCES_FILE), "format = 2\n").unwrap();
        let err = Sources::load(dir.path()).unwrap_err();
        assert!(err.to_string().contains("upgrade concord"), "{err}");
        fs_err::write(
            dir.path().join(SOURCES_FILE),
            "format = 1\n[[source]]\nkind = \"ftp\"\n",
        )
        .unwrap();
        assert!(matches!(
            Sources::load(dir.path()),
            Err(SourcesError::Invalid { .. })
        ));
    }
}
