//! A customer's words in the knowledge files: phrasings that "save as canonical" copied from their
//! messages, and their e-mail or order id in an approved text, found (for an export) and removed.

use std::path::{Path, PathBuf};

use serde::Serialize;
use toml_edit::{DocumentMut, Item};

use super::canonical::parse_canonical_file;
use super::edit::{id_from_question, EditError};
use super::{walk, KnowledgeError};

/// What one approved answer held of a person's data, and what was done with it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PersonalPhrasings {
    pub path: PathBuf,
    pub answer_id: String,
    /// Phrasings taken from the person's messages (or holding their identifier).
    pub phrasings: Vec<String>,
    /// The approved text held the identifier (replaced by `…`).
    pub text_had_identifier: bool,
    /// Every phrasing was theirs: the entry cannot stay without one and is removed (its text is
    /// here so the shop can write it again with its own phrasings).
    pub removed_answer: Option<String>,
    /// The entry's id was made from their words ("save as canonical" names a new answer after the
    /// first question): it is renamed after the first phrasing that stays.
    pub renamed_to: Option<String>,
}

fn norm(s: &str) -> String {
    s.split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .to_lowercase()
}

/// Whether a phrasing came from one of `texts` (the person's messages: equal, or a part of one
/// long enough to be theirs) or holds one of `identifiers` (lower case).
fn is_theirs(phrasing: &str, texts: &[String], identifiers: &[String]) -> bool {
    let p = norm(phrasing);
    if p.is_empty() {
        return false;
    }
    identifiers.iter().any(|id| p.contains(id.as_str()))
        || texts.iter().any(|t| {
            let t = norm(t);
            t == p || (p.chars().count() >= 12 && t.contains(&p))
        })
}

/// Replaces every occurrence of the identifiers (compared in lower case) by `…`.
fn scrub(text: &str, identifiers: &[String]) -> String {
    let mut out = text.to_string();
    for id in identifiers.iter().filter(|i| !i.is_empty()) {
        loop {
            let lower = out.to_lowercase();
            // Lower-casing keeps byte offsets for the ASCII identifiers this is used with; a
            // mismatch is left alone rather than cut inside a character.
            let Some(at) = lower.find(id.as_str()) else {
                break;
            };
            let end = at + id.len();
            if lower.len() != out.len() || !out.is_char_boundary(at) || !out.is_char_boundary(end) {
                break;
            }
            out.replace_range(at..end, "…");
        }
    }
    out
}

/// Whether `id` is `base` or `base-<n>` (the id "save as canonical" makes from a question).
fn named_after(id: &str, base: &str) -> bool {
    id == base
        || id
            .strip_prefix(base)
            .and_then(|rest| rest.strip_prefix('-'))
            .is_some_and(|n| !n.is_empty() && n.chars().all(|c| c.is_ascii_digit()))
}

/// Where a person's words can be: the answers saved from their conversations (by id), and every
/// answer in the console's own files (`console.toml`, where saved and gap answers go). Hand-written
/// answers elsewhere are compared by identifier only: a customer who typed exactly a shop's own
/// phrasing does not take it away.
#[derive(Debug, Clone, Default)]
pub struct Their {
    /// Their messages as written, and as "save as canonical" keeps them (personal data cut out).
    texts: Vec<String>,
    /// Identifiers (lower case), such as the e-mail address the request named.
    identifiers: Vec<String>,
    /// Ids of the approved answers saved from their conversations.
    saved_answers: Vec<String>,
}

impl Their {
    /// What counts as a person's words: `messages` as written and as saved (this is the one
    /// place that decides it), `identifiers` in lower case, and the answers saved from them.
    pub fn new(
        messages: Vec<String>,
        identifiers: Vec<String>,
        saved_answers: Vec<String>,
    ) -> Their {
        let mut texts = messages.clone();
        texts.extend(
            messages
                .iter()
                .map(|t| super::pii::redact(t).0)
                .filter(|t| !messages.contains(t)),
        );
        Their {
            texts,
            identifiers: identifiers.iter().map(|i| i.to_lowercase()).collect(),
            saved_answers,
        }
    }
}

/// Finds the person's phrasings and identifiers in `knowledge_dir/canonical/**/*.toml` and, unless
/// `dry_run`, removes them: each changed file is parsed as the loader would before it replaces the
/// old one (written beside, renamed), so an erasure never leaves a file that does not load.
pub fn erase_personal(
    knowledge_dir: &Path,
    their: &Their,
    dry_run: bool,
) -> Result<Vec<PersonalPhrasings>, EditError> {
    let identifiers = &their.identifiers[..];
    let texts = &their.texts;
    let mut found = Vec::new();
    let mut docs = Vec::new();
    for path in walk(&knowledge_dir.join("canonical"), "toml")? {
        let text = fs_err::read_to_string(&path).map_err(|source| KnowledgeError::Io {
            path: path.clone(),
            source,
        })?;
        let doc = text.parse::<DocumentMut>().map_err(|e| EditError::Toml {
            path: path.clone(),
            message: e.to_string(),
        })?;
        docs.push((path, doc));
    }
    // Every id in use, so a renamed entry gets a free one.
    let mut ids: std::collections::HashSet<String> = docs
        .iter()
        .flat_map(|(_, d)| {
            d.get("answer")
                .and_then(Item::as_array_of_tables)
                .into_iter()
                .flat_map(|a| a.iter())
                .filter_map(|t| t.get("id").and_then(Item::as_str).map(str::to_string))
                .collect::<Vec<_>>()
        })
        .collect();
    for (path, mut doc) in docs {
        let console_file = path.file_name().is_some_and(|n| n == "console.toml");
        let Some(answers) = doc.get_mut("answer").and_then(Item::as_array_of_tables_mut) else {
            continue;
        };
        let mut changed = false;
        let mut remove = Vec::new();
        for (i, entry) in answers.iter_mut().enumerate() {
            let id = entry
                .get("id")
                .and_then(Item::as_str)
                .unwrap_or_default()
                .to_string();
            let texts: &[String] = if console_file || their.saved_answers.contains(&id) {
                texts
            } else {
                &[]
            };
            let mut theirs = Vec::new();
            let mut kept = toml_edit::Array::new();
            if let Some(qs) = entry.get("questions").and_then(Item::as_array) {
                for q in qs.iter().filter_map(|v| v.as_str()) {
                    if is_theirs(q, texts, identifiers) {
                        theirs.push(q.to_string());
                    } else {
                        kept.push(q);
                    }
                }
            }
            let answer = entry
                .get("answer")
                .and_then(Item::as_str)
                .unwrap_or_default()
                .to_string();
            let scrubbed = scrub(&answer, identifiers);
            let text_had_identifier = scrubbed != answer;
            if theirs.is_empty() && !text_had_identifier {
                continue;
            }
            let all_gone = kept.is_empty();
            let mut renamed_to = None;
            if all_gone {
                remove.push(i);
            } else {
                let lang = entry
                    .get("lang")
                    .and_then(Item::as_str)
                    .and_then(|l| l.parse::<super::Lang>().ok());
                if let Some(lang) = lang {
                    if theirs
                        .iter()
                        .any(|q| named_after(&id, &id_from_question(lang, q)))
                    {
                        let first = kept.get(0).and_then(|v| v.as_str()).unwrap_or_default();
                        let base = id_from_question(lang, first);
                        let mut new_id = base.clone();
                        let mut n = 2;
                        while ids.contains(&new_id) {
                            new_id = format!("{base}-{n}");
                            n += 1;
                        }
                        ids.insert(new_id.clone());
                        entry["id"] = toml_edit::value(new_id.as_str());
                        renamed_to = Some(new_id);
                    }
                }
                entry["questions"] = toml_edit::value(kept);
                if text_had_identifier {
                    entry["answer"] = toml_edit::value(scrubbed);
                }
            }
            changed = true;
            found.push(PersonalPhrasings {
                path: path.clone(),
                answer_id: id,
                phrasings: theirs,
                text_had_identifier,
                removed_answer: all_gone.then_some(answer),
                renamed_to,
            });
        }
        for i in remove.into_iter().rev() {
            answers.remove(i);
        }
        if !changed || dry_run {
            continue;
        }
        let new_text = doc.to_string();
        parse_canonical_file(&new_text, &path.display().to_string()).map_err(|e| {
            EditError::Invalid(format!(
                "{} would not load after the erasure (line {}): {}",
                path.display(),
                e.line.unwrap_or(1),
                e.message
            ))
        })?;
        crate::util::atomic_write(&path, new_text.as_bytes()).map_err(|source| {
            EditError::Write {
                path: path.clone(),
                source,
            }
        })?;
    }
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;

    const FILE: &str = r#"# Saved from the console.

[[answer]]
id = "en-norway"
lang = "en"
questions = ["My name is Jan Kowalski, do you deliver to Norway?", "Do you ship to Norway?"]
answer = """
Yes, we deliver to Norway; write to jan.kowalski@example.com if it is late.
"""
handoff = false

[[answer]]
id = "en-order-late"
lang = "en"
questions = ["Where is order PL-2024-7781?"]
answer = "Orders arrive in 3 days."

[[answer]]
id = "en-my-name-is-jan-kowalski-do"
lang = "en"
questions = ["My name is Jan Kowalski, do you deliver to Norway?", "Do you deliver abroad?"]
answer = "To 20 countries."

[[answer]]
id = "en-other"
lang = "en"
questions = ["Other?"]
answer = "Other."
"#;

    #[test]
    fn their_phrasings_and_identifiers_leave_and_the_rest_stays() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("canonical/en/console.toml");
        fs_err::create_dir_all(file.parent().unwrap()).unwrap();
        fs_err::write(&file, FILE).unwrap();
        let their = Their::new(
            vec!["My name is  Jan Kowalski, do you deliver to NORWAY?".to_string()],
            vec![
                "jan.kowalski@example.com".to_string(),
                "PL-2024-7781".to_string(),
            ],
            Vec::new(),
        );
        // A hand-written file keeps a phrasing equal to the message unless the answer was saved
        // from the conversation.
        let hand = dir.path().join("canonical/en/shipping.toml");
        fs_err::write(&hand, FILE.replace("en-", "en-hand-")).unwrap();
        let seen = erase_personal(dir.path(), &their, true).unwrap();
        let in_hand: Vec<&str> = seen
            .iter()
            .filter(|p| p.path == hand)
            .map(|p| p.answer_id.as_str())
            .collect();
        assert_eq!(
            in_hand,
            ["en-hand-norway", "en-hand-order-late"],
            "by identifier only"
        );
        let mut saved = their.clone();
        saved.saved_answers = vec!["en-hand-my-name-is-jan-kowalski-do".into()];
        let with_saved = erase_personal(dir.path(), &saved, true).unwrap();
        assert!(with_saved
            .iter()
            .any(|p| p.answer_id == "en-hand-my-name-is-jan-kowalski-do"));
        fs_err::remove_file(&hand).unwrap();
        let seen = erase_personal(dir.path(), &their, true).unwrap();
        assert_eq!(seen.len(), 3, "{seen:?}");
        assert_eq!(
            fs_err::read_to_string(&file).unwrap(),
            FILE,
            "a dry run writes nothing"
        );

        let done = erase_personal(dir.path(), &their, false).unwrap();
        assert_eq!(done, seen);
        assert_eq!(done[0].answer_id, "en-norway");
        assert!(done[0].text_had_identifier && done[0].removed_answer.is_none());
        assert_eq!(done[0].renamed_to, None, "a hand-made id stays");
        assert_eq!(done[1].answer_id, "en-order-late");
        assert_eq!(
            done[1].removed_answer.as_deref(),
            Some("Orders arrive in 3 days.")
        );
        assert_eq!(
            done[2].renamed_to.as_deref(),
            Some("en-do-you-deliver-abroad")
        );
        let after = fs_err::read_to_string(&file).unwrap();
        for gone in ["Kowalski", "kowalski", "7781", "en-order-late"] {
            assert!(!after.contains(gone), "{gone} in {after}");
        }
        let kept = parse_canonical_file(&after, "x").unwrap();
        let left: Vec<&str> = kept.iter().map(|c| c.id.0.as_str()).collect();
        assert_eq!(left, ["en-norway", "en-do-you-deliver-abroad", "en-other"]);
        assert_eq!(kept[0].questions, ["Do you ship to Norway?"]);
        assert!(
            kept[0].answer.contains("write to … if it is late"),
            "{}",
            kept[0].answer
        );
        // Nothing of theirs left: a second pass finds nothing.
        assert!(erase_personal(dir.path(), &their, false)
            .unwrap()
            .is_empty());
    }

    #[test]
    fn a_short_common_phrasing_is_not_taken_for_theirs() {
        let texts = vec!["Hi, do you ship to Norway? My order is late".to_string()];
        assert!(!is_theirs("Norway?", &texts, &[]));
        assert!(is_theirs("do you ship to Norway?", &texts, &[]));
        assert!(!is_theirs("Do you ship to Sweden?", &texts, &[]));
    }
}
