//! Pure parsers for knowledge files: Markdown articles with `+++` TOML front matter and JSONL
//! passages. They take text and return typed values or an error with a line number.

use serde::Deserialize;

use super::{detect_lang, Article, DocId, Lang};

/// Why a file or line could not be parsed, and where (1-based line, when known).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError {
    pub line: Option<usize>,
    pub message: String,
}

impl ParseError {
    pub(crate) fn at(line: usize, message: impl Into<String>) -> Self {
        ParseError {
            line: Some(line),
            message: message.into(),
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FrontMatter {
    id: String,
    title: String,
    lang: String,
    url: Option<String>,
    updated: Option<toml::Value>,
    #[serde(default)]
    tags: Vec<String>,
}

/// Line number (1-based) of byte offset `pos` in `text`.
pub(crate) fn line_of(text: &str, pos: usize) -> usize {
    text[..pos.min(text.len())].matches('\n').count() + 1
}

/// Checks an id: non-empty, no spaces, only letters, digits and `-_.:/`.
pub(crate) fn check_id(id: &str) -> Result<(), String> {
    if id.is_empty() {
        return Err("id is empty".into());
    }
    if let Some(c) = id
        .chars()
        .find(|c| !(c.is_alphanumeric() || "-_.:/".contains(*c)))
    {
        return Err(format!(
            "id `{id}` contains `{c}`; use letters, digits and - _ . : /"
        ));
    }
    Ok(())
}

/// Parses a Markdown article with TOML front matter between `+++` lines. `origin` is recorded.
pub fn parse_article(text: &str, origin: &str) -> Result<Article, ParseError> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut lines = text.split_inclusive('\n');
    let first = lines.next().unwrap_or("");
    if first.trim_end() != "+++" {
        return Err(ParseError::at(
            1,
            "an article must start with a `+++` line opening its front matter",
        ));
    }
    let fm_start = first.len();
    let mut pos = fm_start;
    let mut fm_end = None;
    for line in lines {
        if line.trim_end() == "+++" {
            fm_end = Some((pos, pos + line.len()));
            break;
        }
        pos += line.len();
    }
    let Some((fm_stop, body_start)) = fm_end else {
        return Err(ParseError::at(
            1,
            "front matter is not closed: add a `+++` line after it",
        ));
    };
    let fm_text = &text[fm_start..fm_stop];
    let fm: FrontMatter = toml::from_str(fm_text).map_err(|e| {
        let line = e.span().map(|s| line_of(fm_text, s.start) + 1).unwrap_or(1);
        ParseError::at(line, format!("front matter: {}", e.message()))
    })?;
    check_id(&fm.id).map_err(|m| ParseError::at(2, m))?;
    let lang: Lang = fm.lang.parse().map_err(|m: String| ParseError::at(2, m))?;
    if fm.title.trim().is_empty() {
        return Err(ParseError::at(2, "title is empty"));
    }
    let body = text[body_start..].to_string();
    if body.trim().is_empty() {
        return Err(ParseError::at(
            line_of(text, body_start),
            "the article has no text after its front matter",
        ));
    }
    let updated = match fm.updated {
        None => None,
        Some(toml::Value::String(s)) => Some(s),
        Some(toml::Value::Datetime(d)) => Some(d.to_string()),
        Some(other) => {
            return Err(ParseError::at(
                2,
                format!("updated must be a date such as \"2026-10-01\", got {other}"),
            ))
        }
    };
    Ok(Article {
        id: DocId(fm.id),
        title: fm.title.trim().to_string(),
        lang,
        url: fm.url.filter(|u| !u.trim().is_empty()),
        updated,
        tags: fm.tags,
        body,
        origin: origin.to_string(),
    })
}

#[derive(Deserialize)]
struct JsonPassage {
    id: serde_json::Value,
    #[serde(default)]
    title: String,
    text: String,
    lang: Option<String>,
    url: Option<String>,
}

/// Parses one JSONL line `{id, title, text[, lang, url]}` into an article.
pub fn parse_jsonl_passage(
    line: &str,
    origin: &str,
    line_no: usize,
) -> Result<Article, ParseError> {
    let p: JsonPassage =
        serde_json::from_str(line).map_err(|e| ParseError::at(line_no, e.to_string()))?;
    let id = match p.id {
        serde_json::Value::String(s) => s,
        serde_json::Value::Number(n) => n.to_string(),
        other @ (serde_json::Value::Null
        | serde_json::Value::Bool(_)
        | serde_json::Value::Array(_)
        | serde_json::Value::Object(_)) => {
            return Err(ParseError::at(
                line_no,
                format!("id must be a string or number, got {other}"),
            ))
        }
    };
    check_id(&id).map_err(|m| ParseError::at(line_no, m))?;
    if p.text.trim().is_empty() {
        return Err(ParseError::at(
            line_no,
            format!("passage `{id}` has no text"),
        ));
    }
    let lang = match p.lang {
        Some(l) => l.parse().map_err(|m: String| ParseError::at(line_no, m))?,
        None => detect_lang(&format!("{} {}", p.title, p.text), Lang::En),
    };
    Ok(Article {
        id: DocId(id),
        title: p.title.trim().to_string(),
        lang,
        url: p.url,
        updated: None,
        tags: Vec::new(),
        body: p.text,
        origin: format!("{origin}:{line_no}"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = "+++\nid = \"pl-returns\"\ntitle = \"Zwroty\"\nlang = \"pl\"\nurl = \"https://x.pl/zwroty\"\nupdated = 2026-10-01\ntags = [\"zwroty\"]\n+++\n\n# Zwroty\n\nMasz 30 dni.\n";

    #[test]
    fn parses_front_matter_and_body() {
        let a = parse_article(GOOD, "articles/pl/returns.md").unwrap();
        assert_eq!(a.id, DocId("pl-returns".into()));
        assert_eq!(a.lang, Lang::Pl);
        assert_eq!(a.updated.as_deref(), Some("2026-10-01"));
        assert_eq!(a.tags, vec!["zwroty"]);
        assert!(a.body.contains("Masz 30 dni."));
        assert!(!a.body.contains("+++"));
    }

    #[test]
    fn errors_name_the_line() {
        let bad = GOOD.replace("lang = \"pl\"", "lang = pl");
        let err = parse_article(&bad, "x.md").unwrap_err();
        assert_eq!(err.line, Some(4), "{err:?}");

        let unclosed = "+++\nid = \"a\"\n";
        assert!(parse_article(unclosed, "x.md")
            .unwrap_err()
            .message
            .contains("not closed"));

        let no_fm = "# Just markdown\n";
        assert_eq!(parse_article(no_fm, "x.md").unwrap_err().line, Some(1));

        let unknown = GOOD.replace("tags =", "tagz =");
        assert!(parse_article(&unknown, "x.md")
            .unwrap_err()
            .message
            .contains("tagz"));

        let bad_lang = GOOD.replace("\"pl\"", "\"de\"");
        assert!(parse_article(&bad_lang, "x.md")
            .unwrap_err()
            .message
            .contains("unsupported language"));

        let spaces = GOOD.replace("pl-returns", "pl returns");
        assert!(parse_article(&spaces, "x.md").is_err());
    }

    #[test]
    fn crlf_and_bom_are_accepted() {
        let crlf = format!("\u{feff}{}", GOOD.replace('\n', "\r\n"));
        let a = parse_article(&crlf, "x.md").unwrap();
        assert_eq!(a.title, "Zwroty");
    }

    #[test]
    fn jsonl_passages_take_numeric_ids_and_detect_language() {
        let a = parse_jsonl_passage(
            r#"{"id": 7, "title": "", "text": "Nie. Za nadanie przesyłki zapłacisz później."}"#,
            "kb.jsonl",
            3,
        )
        .unwrap();
        assert_eq!(a.id.0, "7");
        assert_eq!(a.lang, Lang::Pl);
        assert_eq!(a.origin, "kb.jsonl:3");
        let err = parse_jsonl_passage(r#"{"id": "x", "text": ""}"#, "kb.jsonl", 9).unwrap_err();
        assert_eq!(err.line, Some(9));
        let err = parse_jsonl_passage("{not json", "kb.jsonl", 4).unwrap_err();
        assert_eq!(err.line, Some(4));
    }
}
