//! One import or re-sync run: fetches or reads each source, writes the article or answer file
//! it becomes when new or changed, and keeps the registry of sources in step with the files.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use serde::Serialize;

use super::web::{self, Fetcher, Listed, Response, WebError};
use super::{
    answers, date_of, documents, html, id_from_path, now_utc, slug, ImportError, ImportOptions,
    ImportReport, ImportSettings, Skipped, Written,
};
use crate::knowledge::approvals::Approvals;
use crate::knowledge::parse::{check_id, parse_article};
use crate::knowledge::sources::{SourceEntry, SourceKind, SourceStatus, Sources};
use crate::knowledge::{detect_lang, KnowledgeBase, KnowledgeError, Lang};

#[derive(Serialize)]
struct FrontMatter<'a> {
    id: &'a str,
    title: &'a str,
    lang: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    url: Option<&'a str>,
    updated: &'a str,
    tags: [&'a str; 1],
}

/// What a page or document produced, before it becomes a file.
struct Extracted {
    title: String,
    lang: Lang,
    markdown: String,
}

impl Extracted {
    fn hash(&self) -> String {
        crate::util::sha256_hex(
            format!("{}\0{}\0{}", self.title, self.lang, self.markdown.trim()).as_bytes(),
        )
    }
}

/// One import or re-sync: the registry, the ids in use and the report, saved as it goes.
pub(super) struct Run {
    dir: PathBuf,
    settings: ImportSettings,
    fetcher: Option<Fetcher>,
    pub(super) sources: Sources,
    /// Article id -> file (relative to `dir`) of every article on disk.
    articles: HashMap<String, String>,
    report: ImportReport,
}

impl Run {
    pub(super) fn open(dir: &Path, settings: &ImportSettings) -> Result<Run, ImportError> {
        fs_err::create_dir_all(dir).map_err(|source| ImportError::Write {
            path: dir.to_path_buf(),
            source,
        })?;
        let sources = Sources::load(dir)?;
        let articles = match KnowledgeBase::load_dir(dir) {
            Ok(kb) => kb
                .articles
                .into_iter()
                .map(|a| (a.id.0, a.origin))
                .collect(),
            Err(KnowledgeError::Empty { .. }) => HashMap::new(),
            Err(e) => return Err(e.into()),
        };
        Ok(Run {
            dir: dir.to_path_buf(),
            settings: settings.clone(),
            fetcher: None,
            sources,
            articles,
            report: ImportReport::default(),
        })
    }

    fn fetcher(&mut self) -> Result<&mut Fetcher, ImportError> {
        if self.fetcher.is_none() {
            self.fetcher = Some(Fetcher::new(&self.settings)?);
        }
        Ok(self.fetcher.as_mut().expect("just set"))
    }

    pub(super) fn finish(self) -> Result<ImportReport, ImportError> {
        self.sources.save(&self.dir)?;
        Ok(self.report)
    }

    fn skip(&mut self, location: &str, reason: impl Into<String>) {
        self.report.skipped.push(Skipped {
            location: location.to_string(),
            reason: reason.into(),
        });
    }

    pub(super) async fn sitemap(&mut self, url: &web::Url) -> Result<(), ImportError> {
        let max = self.settings.max_pages;
        let listed = self.fetcher()?.sitemap(url).await?;
        if listed.len() >= max {
            self.skip(
                url.as_str(),
                format!(
                    "the sitemap lists more pages; the first {max} were taken (import.max_pages)"
                ),
            );
        }
        let now = now_utc();
        let known = self
            .sources
            .find(SourceKind::Sitemap, url.as_str())
            .cloned();
        self.sources.upsert(SourceEntry {
            kind: SourceKind::Sitemap,
            location: url.to_string(),
            article: None,
            file: String::new(),
            via: None,
            hash: String::new(),
            etag: None,
            last_modified: None,
            checked: now.clone(),
            changed: known.map(|k| k.changed).unwrap_or(now),
            status: SourceStatus::Ok,
            gone_since: None,
        });
        for Listed { url: page, lastmod } in listed {
            if self.sources.find(SourceKind::Page, page.as_str()).is_some() {
                // Recorded pages are re-synced as entries of their own.
                continue;
            }
            if !self.fetcher()?.allowed(&page).await {
                self.skip(page.as_str(), "robots.txt disallows it");
                continue;
            }
            let options = ImportOptions::default();
            if let Err(e) = self
                .page(
                    &page,
                    lastmod.as_deref(),
                    Some(url.as_str()),
                    &options,
                    false,
                )
                .await
            {
                self.skip(page.as_str(), e.to_string());
            }
        }
        Ok(())
    }

    /// Fetches one page (conditionally when it is recorded) and writes its article if new or
    /// changed. `explicit`: the user named this page, so its problems are errors, not skips.
    pub(super) async fn page(
        &mut self,
        url: &web::Url,
        lastmod: Option<&str>,
        via: Option<&str>,
        options: &ImportOptions,
        explicit: bool,
    ) -> Result<(), ImportError> {
        let location = url.to_string();
        let known = self.sources.find(SourceKind::Page, &location).cloned();
        if via.is_some() && known.is_some() && !self.fetcher()?.allowed(url).await {
            self.skip(
                &location,
                "robots.txt disallows it now; the article is kept as it was",
            );
            return Ok(());
        }
        let (etag, modified) = match &known {
            Some(k) if k.status == SourceStatus::Ok => (k.etag.clone(), k.last_modified.clone()),
            _ => (None, None),
        };
        let response = self
            .fetcher()?
            .get(url, etag.as_deref(), modified.as_deref())
            .await;
        let fetched = match response {
            Ok(Response::Page(f)) => f,
            Ok(Response::NotModified) => {
                self.unchanged(SourceKind::Page, &location, None, None);
                return Ok(());
            }
            Ok(Response::Gone(status)) => {
                if known.is_some() {
                    self.gone(SourceKind::Page, &location);
                    return Ok(());
                }
                let e = WebError::Status {
                    url: location.clone(),
                    status,
                };
                if explicit {
                    return Err(e.into());
                }
                self.skip(&location, e.to_string());
                return Ok(());
            }
            Err(e) if explicit => return Err(e.into()),
            Err(e) => {
                self.skip(&location, format!("{e}; kept as it was"));
                return Ok(());
            }
        };
        let is_pdf = fetched
            .content_type
            .as_deref()
            .is_some_and(|c| c.contains("pdf"))
            || url.path().to_ascii_lowercase().ends_with(".pdf");
        let (title, declared, markdown) = if is_pdf {
            let doc = documents::pdf(&fetched.bytes).map_err(|source| ImportError::Document {
                path: PathBuf::from(&location),
                source,
            });
            match doc {
                Ok(d) => (d.title, None, d.markdown),
                Err(e) if explicit => return Err(e),
                Err(e) => {
                    self.skip(&location, e.to_string());
                    return Ok(());
                }
            }
        } else {
            let page = html::extract(&web::decode_html(
                &fetched.bytes,
                fetched.content_type.as_deref(),
            ));
            (page.title, page.declared_lang, page.markdown)
        };
        let extracted =
            match self.extracted(title, declared.as_deref(), markdown, options, url.path()) {
                Ok(x) => x,
                Err(reason) if explicit => {
                    return Err(ImportError::Invalid(format!("{location}: {reason}")))
                }
                Err(reason) => {
                    self.skip(&location, reason);
                    return Ok(());
                }
            };
        let updated = date_of(fetched.last_modified.as_deref(), lastmod)
            .unwrap_or_else(|| now_utc()[..10].to_string());
        let id = known
            .as_ref()
            .and_then(|k| k.article.clone())
            .or_else(|| options.id.clone())
            .unwrap_or_else(|| id_from_path(url.path()));
        let record = Record {
            kind: SourceKind::Page,
            location,
            via: via.map(str::to_string),
            etag: fetched.etag,
            last_modified: fetched.last_modified,
        };
        self.write(
            record,
            &id,
            Some(url.as_str()),
            &updated,
            extracted,
            explicit,
        )
    }

    /// Title, language and Markdown checked: a page must have text, in a language we serve.
    fn extracted(
        &self,
        title: String,
        declared: Option<&str>,
        markdown: String,
        options: &ImportOptions,
        name: &str,
    ) -> Result<Extracted, String> {
        if markdown.trim().is_empty() {
            return Err("no main content found".into());
        }
        let lang = match (options.lang, declared) {
            (Some(l), _) => l,
            (None, Some(d)) => {
                let primary = d.split(['-', '_']).next().unwrap_or(d);
                primary.parse::<Lang>().map_err(|_| {
                    format!("the page is in `{d}`, a language Concord does not serve (pl, en)")
                })?
            }
            (None, None) => detect_lang(&markdown, Lang::Pl),
        };
        let title = if title.trim().is_empty() {
            let stem = name.rsplit('/').find(|s| !s.is_empty()).unwrap_or("page");
            stem.rsplit_once('.')
                .map(|(s, _)| s)
                .unwrap_or(stem)
                .to_string()
        } else {
            title.trim().to_string()
        };
        Ok(Extracted {
            title,
            lang,
            markdown,
        })
    }

    /// Reads one file source; a missing recorded file is gone.
    pub(super) fn file(
        &mut self,
        kind: SourceKind,
        path: &Path,
        options: &ImportOptions,
        explicit: bool,
    ) -> Result<(), ImportError> {
        let path = if explicit {
            std::path::absolute(path).map_err(|source| ImportError::Read {
                path: path.to_path_buf(),
                source,
            })?
        } else {
            path.to_path_buf()
        };
        let location = path.display().to_string();
        let bytes = match fs_err::read(&path) {
            Ok(b) => b,
            Err(e) if !explicit && e.kind() == std::io::ErrorKind::NotFound => {
                self.gone(kind, &location);
                return Ok(());
            }
            Err(source) => return Err(ImportError::Read { path, source }),
        };
        let doc_error = |source| ImportError::Document {
            path: path.clone(),
            source,
        };
        let (title, declared, markdown) = match kind {
            SourceKind::Pdf => {
                let d = documents::pdf(&bytes).map_err(doc_error)?;
                (d.title, None, d.markdown)
            }
            SourceKind::Docx => {
                let d = documents::docx(&bytes).map_err(doc_error)?;
                (d.title, None, d.markdown)
            }
            SourceKind::Html | SourceKind::Page | SourceKind::Sitemap | SourceKind::Csv => {
                let page = html::extract(&web::decode_html(&bytes, None));
                (page.title, page.declared_lang, page.markdown)
            }
        };
        let extracted = self
            .extracted(title, declared.as_deref(), markdown, options, &location)
            .map_err(|reason| ImportError::Invalid(format!("{location}: {reason}")))?;
        let known = self.sources.find(kind, &location).cloned();
        let stem = path
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or("document");
        let id = known
            .and_then(|k| k.article)
            .or_else(|| options.id.clone())
            .unwrap_or_else(|| {
                let s = slug(stem);
                if s.is_empty() {
                    "document".into()
                } else {
                    s
                }
            });
        let record = Record {
            kind,
            location,
            via: None,
            etag: None,
            last_modified: None,
        };
        let today = now_utc()[..10].to_string();
        self.write(record, &id, None, &today, extracted, explicit)
    }

    fn unchanged(
        &mut self,
        kind: SourceKind,
        location: &str,
        etag: Option<String>,
        modified: Option<String>,
    ) {
        if let Some(e) = self
            .sources
            .entries
            .iter_mut()
            .find(|e| e.kind == kind && e.location == location)
        {
            e.checked = now_utc();
            e.status = SourceStatus::Ok;
            e.gone_since = None;
            if etag.is_some() {
                e.etag = etag;
            }
            if modified.is_some() {
                e.last_modified = modified;
            }
        }
        self.report.unchanged.push(location.to_string());
    }

    fn gone(&mut self, kind: SourceKind, location: &str) {
        let now = now_utc();
        if let Some(e) = self
            .sources
            .entries
            .iter_mut()
            .find(|e| e.kind == kind && e.location == location)
        {
            e.checked = now.clone();
            e.status = SourceStatus::Gone;
            e.gone_since.get_or_insert(now);
        }
        self.report.gone.push(location.to_string());
    }

    /// Writes (or leaves, when its content is the same) the article of one source.
    fn write(
        &mut self,
        record: Record,
        id: &str,
        url: Option<&str>,
        updated: &str,
        extracted: Extracted,
        explicit: bool,
    ) -> Result<(), ImportError> {
        let hash = extracted.hash();
        let known = self.sources.find(record.kind, &record.location).cloned();
        if let Some(k) = &known {
            if k.hash == hash && self.dir.join(&k.file).is_file() {
                self.unchanged(
                    record.kind,
                    &record.location,
                    record.etag,
                    record.last_modified,
                );
                return Ok(());
            }
        }
        check_id(id).map_err(ImportError::Invalid)?;
        let file = match &known {
            Some(k) if !k.file.is_empty() => k.file.clone(),
            _ => format!("articles/{}/imported/{id}.md", extracted.lang),
        };
        let ours = known
            .as_ref()
            .is_some_and(|k| k.article.as_deref() == Some(id));
        if !ours {
            if let Some(existing) = self.articles.get(id) {
                let message = format!(
                    "article id `{id}` is already used by {existing}; choose another with --id"
                );
                if explicit {
                    return Err(ImportError::Invalid(message));
                }
                self.skip(&record.location, message);
                return Ok(());
            }
        }
        let body = if extracted.markdown.trim_start().starts_with("# ") {
            extracted.markdown.trim().to_string()
        } else {
            format!("# {}\n\n{}", extracted.title, extracted.markdown.trim())
        };
        let front = toml::to_string(&FrontMatter {
            id,
            title: &extracted.title,
            lang: extracted.lang.as_str(),
            url,
            updated,
            tags: ["imported"],
        })
        .map_err(|e| ImportError::Invalid(e.to_string()))?;
        let text = format!("+++\n{front}+++\n\n{body}\n");
        parse_article(&text, &file).map_err(|e| {
            ImportError::Invalid(format!(
                "{}: the article would not load: {}",
                record.location, e.message
            ))
        })?;
        let path = self.dir.join(&file);
        if let Some(parent) = path.parent() {
            fs_err::create_dir_all(parent).map_err(|source| ImportError::Write {
                path: parent.to_path_buf(),
                source,
            })?;
        }
        crate::util::atomic_write(&path, text.as_bytes()).map_err(|source| ImportError::Write {
            path: path.clone(),
            source,
        })?;
        let now = now_utc();
        self.articles.insert(id.to_string(), file.clone());
        self.report.written.push(Written {
            id: id.to_string(),
            file: file.clone(),
            location: record.location.clone(),
            created: known.is_none(),
        });
        self.sources.upsert(SourceEntry {
            kind: record.kind,
            location: record.location,
            article: Some(id.to_string()),
            file,
            via: record.via,
            hash,
            etag: record.etag,
            last_modified: record.last_modified,
            checked: now.clone(),
            changed: now,
            status: SourceStatus::Ok,
            gone_since: None,
        });
        // Saved after every article, so an interrupted crawl leaves a registry that matches
        // the files it wrote.
        self.sources.save(&self.dir)?;
        Ok(())
    }

    /// Imports a spreadsheet of answers into `canonical/imported/<name>.toml` and records them
    /// as approved against the sources as they are now.
    pub(super) fn sheet(&mut self, path: &Path, explicit: bool) -> Result<(), ImportError> {
        let path = if explicit {
            std::path::absolute(path).map_err(|source| ImportError::Read {
                path: path.to_path_buf(),
                source,
            })?
        } else {
            path.to_path_buf()
        };
        let location = path.display().to_string();
        let bytes = match fs_err::read(&path) {
            Ok(b) => b,
            Err(e) if !explicit && e.kind() == std::io::ErrorKind::NotFound => {
                self.gone(SourceKind::Csv, &location);
                return Ok(());
            }
            Err(source) => return Err(ImportError::Read { path, source }),
        };
        let hash = crate::util::sha256_hex(&bytes);
        let known = self.sources.find(SourceKind::Csv, &location).cloned();
        if let Some(k) = &known {
            if k.hash == hash && self.dir.join(&k.file).is_file() {
                self.unchanged(SourceKind::Csv, &location, None, None);
                return Ok(());
            }
        }
        // Spreadsheets saved by Polish Excel are often windows-1250.
        let text = match String::from_utf8(bytes) {
            Ok(t) => t,
            Err(e) => encoding_rs::WINDOWS_1250
                .decode(e.as_bytes())
                .0
                .into_owned(),
        };
        let sheet = answers::parse(&text).map_err(|source| ImportError::Sheet {
            path: path.clone(),
            source,
        })?;
        let name = path
            .file_name()
            .and_then(|s| s.to_str())
            .unwrap_or("answers.csv");
        let file = known.map(|k| k.file).unwrap_or_else(|| {
            let s = slug(path.file_stem().and_then(|s| s.to_str()).unwrap_or(""));
            format!(
                "canonical/imported/{}.toml",
                if s.is_empty() { "answers" } else { &s }
            )
        });
        let target = self.dir.join(&file);
        // Ids must not collide with answers in other files.
        if let Ok(kb) = KnowledgeBase::load_dir(&self.dir) {
            let taken: Vec<String> = sheet
                .answers
                .iter()
                .filter_map(|a| {
                    kb.canonicals
                        .iter()
                        .find(|c| c.id.0 == a.id && !Path::new(&c.origin).ends_with(&file))
                        .map(|c| format!("`{}` ({})", a.id, c.origin))
                })
                .collect();
            if !taken.is_empty() {
                return Err(ImportError::Invalid(format!(
                    "{location}: these ids are already used by other approved answers: {}",
                    taken.join(", ")
                )));
            }
        }
        let text = answers::render(&sheet, name).map_err(|source| ImportError::Sheet {
            path: path.clone(),
            source,
        })?;
        if let Some(parent) = target.parent() {
            fs_err::create_dir_all(parent).map_err(|source| ImportError::Write {
                path: parent.to_path_buf(),
                source,
            })?;
        }
        crate::util::atomic_write(&target, text.as_bytes()).map_err(|source| {
            ImportError::Write {
                path: target.clone(),
                source,
            }
        })?;
        let ids: Vec<String> = sheet.answers.iter().map(|a| a.id.clone()).collect();
        let kb = KnowledgeBase::load_dir(&self.dir)?;
        let mut approvals = Approvals::load(&self.dir)?;
        approvals.approve(&kb, &ids, &format!("import of {name}"), &now_utc())?;
        approvals.save(&self.dir)?;
        let now = now_utc();
        self.sources.upsert(SourceEntry {
            kind: SourceKind::Csv,
            location,
            article: None,
            file: file.clone(),
            via: None,
            hash,
            etag: None,
            last_modified: None,
            checked: now.clone(),
            changed: now,
            status: SourceStatus::Ok,
            gone_since: None,
        });
        self.report.answers = ids;
        self.report.answers_file = Some(file);
        self.report.ignored_columns = sheet.ignored_columns;
        Ok(())
    }
}

/// Where an article came from, as the registry records it.
struct Record {
    kind: SourceKind,
    location: String,
    via: Option<String>,
    etag: Option<String>,
    last_modified: Option<String>,
}
