//! Canonical (approved) answers: `[[answer]]` tables in `canonical/**/*.toml`, parsed purely with
//! line numbers for every problem.

use serde::{Deserialize, Serialize};

use super::parse::{check_id, line_of, ParseError};
use super::{CanonicalId, DocId, Lang};

/// An approved answer with the questions it answers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Canonical {
    pub id: CanonicalId,
    pub lang: Lang,
    pub questions: Vec<String>,
    /// The approved text; may contain slots such as `{{customer_name}}`.
    pub answer: String,
    pub sources: Vec<DocId>,
    /// This topic always goes to a person.
    pub handoff: bool,
    pub tags: Vec<String>,
    pub origin: String,
}

impl Canonical {
    /// Hash of everything that affects this answer's index entries.
    pub fn content_hash(&self) -> String {
        let mut text = format!("{}\0{}\0{}\0", self.id, self.lang, self.answer);
        for q in &self.questions {
            text.push_str(q);
            text.push('\0');
        }
        crate::util::sha256_hex(text.as_bytes())
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    #[serde(default)]
    answer: Vec<toml::Spanned<RawAnswer>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAnswer {
    id: String,
    lang: String,
    questions: Vec<String>,
    answer: String,
    #[serde(default)]
    sources: Vec<String>,
    #[serde(default)]
    handoff: bool,
    #[serde(default)]
    tags: Vec<String>,
}

/// Parses one canonical file. Any invalid entry fails the file, naming the entry's line, so a
/// half-read file never silently drops answers.
pub fn parse_canonical_file(text: &str, origin: &str) -> Result<Vec<Canonical>, ParseError> {
    let raw: RawFile = toml::from_str(text).map_err(|e| {
        let line = e.span().map(|s| line_of(text, s.start)).unwrap_or(1);
        ParseError::at(line, e.message().to_string())
    })?;
    if raw.answer.is_empty() {
        return Err(ParseError::at(
            1,
            "no [[answer]] tables: a canonical file holds one or more [[answer]] entries",
        ));
    }
    raw.answer
        .into_iter()
        .map(|spanned| {
            let line = line_of(text, spanned.span().start);
            let a = spanned.into_inner();
            check_id(&a.id).map_err(|m| ParseError::at(line, m))?;
            let lang: Lang = a
                .lang
                .parse()
                .map_err(|m: String| ParseError::at(line, format!("answer `{}`: {m}", a.id)))?;
            let questions: Vec<String> = a
                .questions
                .iter()
                .map(|q| q.trim().to_string())
                .filter(|q| !q.is_empty())
                .collect();
            if questions.is_empty() {
                return Err(ParseError::at(
                    line,
                    format!("answer `{}` has no questions", a.id),
                ));
            }
            let answer = a.answer.trim().to_string();
            if answer.is_empty() {
                return Err(ParseError::at(
                    line,
                    format!("answer `{}` has an empty answer text", a.id),
                ));
            }
            Ok(Canonical {
                id: CanonicalId(a.id),
                lang,
                questions,
                answer,
                sources: a.sources.into_iter().map(DocId).collect(),
                handoff: a.handoff,
                tags: a.tags,
                origin: format!("{origin}:{line}"),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const FILE: &str = r#"
[[answer]]
id = "pl-returns-deadline"
lang = "pl"
questions = ["Ile mam czasu na zwrot?", "Do kiedy mogę oddać towar?", ""]
answer = """
Masz 30 dni na zwrot.
"""
sources = ["pl-returns"]

[[answer]]
id = "pl-complaint"
lang = "pl"
questions = ["Chcę złożyć reklamację"]
answer = "Przekazuję rozmowę do konsultanta."
handoff = true
"#;

    #[test]
    fn parses_answers_with_defaults() {
        let answers = parse_canonical_file(FILE, "canonical/pl/returns.toml").unwrap();
        assert_eq!(answers.len(), 2);
        assert_eq!(answers[0].questions.len(), 2, "blank phrasings are dropped");
        assert_eq!(answers[0].answer, "Masz 30 dni na zwrot.");
        assert_eq!(answers[0].sources, vec![DocId("pl-returns".into())]);
        assert!(!answers[0].handoff);
        assert!(answers[1].handoff);
        assert_eq!(answers[1].origin, "canonical/pl/returns.toml:11");
    }

    #[test]
    fn invalid_entries_name_their_line() {
        let bad = FILE.replace("questions = [\"Chcę złożyć reklamację\"]", "questions = []");
        let err = parse_canonical_file(&bad, "x.toml").unwrap_err();
        assert_eq!(err.line, Some(11));
        assert!(err.message.contains("pl-complaint"), "{err:?}");

        let syntax = FILE.replace("handoff = true", "handoff = yes");
        let err = parse_canonical_file(&syntax, "x.toml").unwrap_err();
        assert_eq!(err.line, Some(16));

        let missing = "[[answer]]\nid = \"a\"\nlang = \"en\"\nquestions = [\"q\"]\n";
        let err = parse_canonical_file(missing, "x.toml").unwrap_err();
        assert!(err.message.contains("answer"), "{err:?}");

        assert!(parse_canonical_file("", "x.toml").is_err());
    }
}
