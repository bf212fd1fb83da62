//! Writing approved answers back to the knowledge files ("save as canonical" in the console):
//! an entry with the id is updated where it lives, comments kept; a new one goes to a console file.

use std::path::{Path, PathBuf};

use serde::Serialize;
use toml_edit::{value, Array, ArrayOfTables, DocumentMut, Item, Table};

use super::canonical::parse_canonical_file;
use super::parse::check_id;
use super::{walk, KnowledgeError, Lang};

/// An approved answer to create or update.
#[derive(Debug, Clone, PartialEq)]
pub struct CanonicalEdit {
    /// The entry to update; `None` creates one with an id made from the first question.
    pub id: Option<String>,
    pub lang: Lang,
    /// Phrasings to add (an update keeps the existing ones).
    pub questions: Vec<String>,
    pub answer: String,
    /// Article ids to add to the entry's sources.
    pub sources: Vec<String>,
}

/// Where an edit landed.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SavedCanonical {
    pub id: String,
    pub path: PathBuf,
    pub created: bool,
    /// Phrasings the entry has now.
    pub questions: Vec<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum EditError {
    #[error(transparent)]
    Knowledge(#[from] KnowledgeError),
    #[error("{0}")]
    Invalid(String),
    #[error("{path} is not valid TOML: {message}")]
    Toml { path: PathBuf, message: String },
    #[error("writing {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// The file new answers of a language are written to.
pub fn console_file(knowledge_dir: &Path, lang: Lang) -> PathBuf {
    knowledge_dir
        .join("canonical")
        .join(lang.as_str())
        .join("console.toml")
}

/// An id from a question: `<lang>-` and up to six lowercase ASCII words.
pub fn id_from_question(lang: Lang, question: &str) -> String {
    let folded = crate::util::fold(question);
    let words: Vec<String> = folded
        .split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|w| !w.is_empty())
        .take(6)
        .map(str::to_lowercase)
        .collect();
    if words.is_empty() {
        format!("{}-answer", lang.as_str())
    } else {
        format!("{}-{}", lang.as_str(), words.join("-"))
    }
}

fn read_doc(path: &Path) -> Result<(String, DocumentMut), EditError> {
    let text = fs_err::read_to_string(path).map_err(|source| KnowledgeError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let doc = text.parse::<DocumentMut>().map_err(|e| EditError::Toml {
        path: path.to_path_buf(),
        message: e.to_string(),
    })?;
    Ok((text, doc))
}

fn strings(item: Option<&Item>) -> Vec<String> {
    item.and_then(Item::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

/// `old` followed by the `new` ones it lacks (compared without case and outer spaces).
fn merged(old: Vec<String>, new: &[String]) -> Vec<String> {
    let mut out = old;
    for n in new.iter().map(|n| n.trim()).filter(|n| !n.is_empty()) {
        if !out
            .iter()
            .any(|o| o.trim().to_lowercase() == n.to_lowercase())
        {
            out.push(n.to_string());
        }
    }
    out
}

pub(crate) fn string_array(items: &[String]) -> Item {
    let mut a = Array::new();
    for s in items {
        a.push(s.as_str());
    }
    value(a)
}

/// A multi-line answer written as a TOML multi-line string, as the hand-written files do.
pub(crate) fn answer_value(text: &str) -> Item {
    let mut v = toml_edit::Value::from(format!("{}\n", text.trim()));
    if !text.contains("\"\"\"") {
        let repr = format!("\"\"\"\n{}\n\"\"\"", text.trim().replace('\\', "\\\\"));
        if let Ok(parsed) = repr.parse::<toml_edit::Value>() {
            v = parsed;
        }
    }
    Item::Value(v)
}

/// Creates or updates the approved answer of `edit` under `knowledge_dir/canonical/`. The new
/// file is parsed as the loader would before it replaces the old one (written beside, renamed),
/// so a save never leaves a file the knowledge base cannot load.
pub fn save_canonical(
    knowledge_dir: &Path,
    edit: &CanonicalEdit,
) -> Result<SavedCanonical, EditError> {
    let (saved, text) = plan(knowledge_dir, edit)?;
    if let Some(dir) = saved.path.parent() {
        fs_err::create_dir_all(dir).map_err(|source| EditError::Write {
            path: dir.to_path_buf(),
            source,
        })?;
    }
    crate::util::atomic_write(&saved.path, text.as_bytes()).map_err(|source| EditError::Write {
        path: saved.path.clone(),
        source,
    })?;
    Ok(saved)
}

/// What [`save_canonical`] would do with `edit`, without writing anything: the id (a new one
/// or the entry updated), its file and the phrasings it would have. The same checks run, so a
/// preview that succeeds is a save that succeeds unless the files change in between.
pub fn preview_canonical(
    knowledge_dir: &Path,
    edit: &CanonicalEdit,
) -> Result<SavedCanonical, EditError> {
    Ok(plan(knowledge_dir, edit)?.0)
}

/// The entry `edit` becomes and the whole text of the file it lands in.
fn plan(knowledge_dir: &Path, edit: &CanonicalEdit) -> Result<(SavedCanonical, String), EditError> {
    let answer = edit.answer.trim();
    if answer.is_empty() {
        return Err(EditError::Invalid("the answer is empty".into()));
    }
    let questions: Vec<String> = edit
        .questions
        .iter()
        .map(|q| q.trim().to_string())
        .filter(|q| !q.is_empty())
        .collect();
    let files = walk(&knowledge_dir.join("canonical"), "toml")?;
    let mut docs = Vec::new();
    for path in files {
        let (_, doc) = read_doc(&path)?;
        docs.push((path, doc));
    }
    let has_id = |doc: &DocumentMut, id: &str| {
        doc.get("answer")
            .and_then(Item::as_array_of_tables)
            .is_some_and(|a| {
                a.iter()
                    .any(|t| t.get("id").and_then(Item::as_str) == Some(id))
            })
    };
    let (id, created) = match &edit.id {
        Some(id) => {
            check_id(id).map_err(EditError::Invalid)?;
            (id.clone(), !docs.iter().any(|(_, d)| has_id(d, id)))
        }
        None => {
            let first = questions
                .first()
                .ok_or_else(|| EditError::Invalid("a new answer needs a question".into()))?;
            let base = id_from_question(edit.lang, first);
            let mut id = base.clone();
            let mut n = 2;
            while docs.iter().any(|(_, d)| has_id(d, &id)) {
                id = format!("{base}-{n}");
                n += 1;
            }
            (id, true)
        }
    };
    if created && questions.is_empty() {
        return Err(EditError::Invalid("a new answer needs a question".into()));
    }
    let (path, mut doc) = match docs.into_iter().find(|(_, d)| has_id(d, &id)) {
        Some(found) => found,
        None => {
            let path = console_file(knowledge_dir, edit.lang);
            let doc = if path.is_file() {
                read_doc(&path)?.1
            } else {
                "# Approved answers saved from the staff console (`save as canonical`).\n# Edit them here like any other canonical file.\n"
                    .parse::<DocumentMut>()
                    .expect("a comment is a TOML document")
            };
            (path, doc)
        }
    };
    let answers = doc
        .entry("answer")
        .or_insert(Item::ArrayOfTables(ArrayOfTables::new()))
        .as_array_of_tables_mut()
        .ok_or_else(|| EditError::Toml {
            path: path.clone(),
            message: "`answer` is not an array of tables".into(),
        })?;
    let at = answers
        .iter()
        .position(|t| t.get("id").and_then(Item::as_str) == Some(id.as_str()));
    let at = match at {
        Some(i) => i,
        None => {
            let mut t = Table::new();
            t["id"] = value(id.as_str());
            t["lang"] = value(edit.lang.as_str());
            answers.push(t);
            answers.len() - 1
        }
    };
    let entry = answers.get_mut(at).expect("the entry is in range");
    if entry.get("lang").and_then(Item::as_str) != Some(edit.lang.as_str()) {
        return Err(EditError::Invalid(format!(
            "answer `{id}` is in another language; save it as a new answer instead"
        )));
    }
    let all_questions = merged(strings(entry.get("questions")), &questions);
    entry["questions"] = string_array(&all_questions);
    entry["answer"] = answer_value(answer);
    let sources = merged(strings(entry.get("sources")), &edit.sources);
    entry["sources"] = string_array(&sources);
    if entry.get("handoff").is_none() {
        entry["handoff"] = value(false);
    }
    let text = doc.to_string();
    // The loader must accept what we write, and see the answer as saved.
    let parsed = parse_canonical_file(&text, &path.display().to_string()).map_err(|e| {
        EditError::Invalid(format!(
            "the saved file would not load (line {}): {}",
            e.line.unwrap_or(1),
            e.message
        ))
    })?;
    if !parsed.iter().any(|c| c.id.0 == id && c.answer == answer) {
        return Err(EditError::Invalid(
            "the saved answer did not read back".into(),
        ));
    }
    Ok((
        SavedCanonical {
            id,
            path,
            created,
            questions: all_questions,
        },
        text,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::knowledge::KnowledgeBase;

    const FILE: &str = r#"# Returns, hand-written.

[[answer]]
id = "en-returns"
lang = "en"
# The phrasings customers use.
questions = ["How do I return an item?"]
answer = """
You have 30 days to return an item.
"""
sources = ["en-returns"]
handoff = false

[[answer]]
id = "en-other"
lang = "en"
questions = ["Other?"]
answer = "Other."
"#;

    fn kb_dir() -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        let c = dir.path().join("canonical/en");
        fs_err::create_dir_all(&c).unwrap();
        fs_err::write(c.join("returns.toml"), FILE).unwrap();
        dir
    }

    #[test]
    fn an_update_keeps_comments_other_entries_and_adds_phrasings() {
        let dir = kb_dir();
        let saved = save_canonical(
            dir.path(),
            &CanonicalEdit {
                id: Some("en-returns".into()),
                lang: Lang::En,
                questions: vec![
                    "how do i return an item?".into(),
                    "Can I send it back?".into(),
                ],
                answer: "You have 30 days to return an item, free of charge.".into(),
                sources: vec!["en-delivery".into()],
            },
        )
        .unwrap();
        assert!(!saved.created);
        assert_eq!(saved.path, dir.path().join("canonical/en/returns.toml"));
        let text = fs_err::read_to_string(&saved.path).unwrap();
        assert!(text.contains("# The phrasings customers use."), "{text}");
        assert!(text.contains("# Returns, hand-written."));
        let kb = KnowledgeBase::load_dir(dir.path()).unwrap();
        let c = kb
            .canonicals
            .iter()
            .find(|c| c.id.0 == "en-returns")
            .unwrap();
        assert_eq!(
            c.answer,
            "You have 30 days to return an item, free of charge."
        );
        assert_eq!(
            c.questions,
            ["How do I return an item?", "Can I send it back?"]
        );
        assert_eq!(c.sources.len(), 2);
        assert!(kb.canonicals.iter().any(|c| c.id.0 == "en-other"));
    }

    #[test]
    fn a_new_answer_gets_an_id_from_its_question_in_the_console_file() {
        let dir = kb_dir();
        let edit = CanonicalEdit {
            id: None,
            lang: Lang::En,
            questions: vec!["Do you ship to Norway?".into()],
            answer: "Yes, we ship to Norway within 5 working days.".into(),
            sources: vec![],
        };
        // A preview names what a save would create and writes nothing.
        let preview = preview_canonical(dir.path(), &edit).unwrap();
        assert!(!console_file(dir.path(), Lang::En).exists());
        let first = save_canonical(dir.path(), &edit).unwrap();
        assert_eq!(preview, first);
        assert!(first.created);
        assert_eq!(first.id, "en-do-you-ship-to-norway");
        assert_eq!(first.path, console_file(dir.path(), Lang::En));
        // The same question again is a second answer, not an overwrite.
        let second = save_canonical(dir.path(), &edit).unwrap();
        assert_eq!(second.id, "en-do-you-ship-to-norway-2");
        let kb = KnowledgeBase::load_dir(dir.path()).unwrap();
        // (The fixture's own answers cite an article it does not have; the saved ones load.)
        assert!(
            kb.issues
                .iter()
                .all(|i| !i.path.to_string_lossy().contains("console")),
            "{:?}",
            kb.issues
        );
        assert_eq!(kb.canonicals.len(), 4);
    }

    #[test]
    fn bad_edits_are_refused_and_change_nothing() {
        let dir = kb_dir();
        let path = dir.path().join("canonical/en/returns.toml");
        let before = fs_err::read_to_string(&path).unwrap();
        let base = CanonicalEdit {
            id: Some("en-returns".into()),
            lang: Lang::En,
            questions: vec![],
            answer: "New text.".into(),
            sources: vec![],
        };
        for bad in [
            CanonicalEdit {
                answer: "  ".into(),
                ..base.clone()
            },
            CanonicalEdit {
                id: Some("bad id!".into()),
                ..base.clone()
            },
            CanonicalEdit {
                lang: Lang::Pl,
                ..base.clone()
            },
            CanonicalEdit {
                id: None,
                ..base.clone()
            },
        ] {
            assert!(preview_canonical(dir.path(), &bad).is_err(), "{bad:?}");
            assert!(save_canonical(dir.path(), &bad).is_err(), "{bad:?}");
        }
        assert_eq!(fs_err::read_to_string(&path).unwrap(), before);
        assert!(!console_file(dir.path(), Lang::Pl).exists());
    }

    #[test]
    fn answers_with_quotes_and_backslashes_round_trip() {
        let dir = kb_dir();
        let answer = "Click \"Returns\" → \"New\"; paths like C:\\temp don't matter. 'Quoted' too.";
        save_canonical(
            dir.path(),
            &CanonicalEdit {
                id: Some("en-other".into()),
                lang: Lang::En,
                questions: vec![],
                answer: answer.into(),
                sources: vec![],
            },
        )
        .unwrap();
        let kb = KnowledgeBase::load_dir(dir.path()).unwrap();
        let c = kb.canonicals.iter().find(|c| c.id.0 == "en-other").unwrap();
        assert_eq!(c.answer, answer);
    }
}
