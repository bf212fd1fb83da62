//! A spreadsheet of questions and answers (CSV, comma or semicolon) as approved answers: rows
//! with the same id (or the same answer) are one answer with several phrasings.

use std::collections::HashSet;

use toml_edit::{value, ArrayOfTables, DocumentMut, Item, Table};

use crate::knowledge::canonical::parse_canonical_file;
use crate::knowledge::edit::{answer_value, id_from_question, string_array};
use crate::knowledge::parse::check_id;
use crate::knowledge::{detect_lang, Lang};

/// One approved answer read from the spreadsheet.
#[derive(Debug, Clone, PartialEq)]
pub struct SheetAnswer {
    pub id: String,
    pub lang: Lang,
    pub questions: Vec<String>,
    pub answer: String,
    pub sources: Vec<String>,
    /// The first row (1-based line of the file, header = 1) it came from.
    pub line: usize,
}

/// A problem with one row (or the header); any of them stops the import of the file.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("line {line}: {message}")]
pub struct SheetError {
    pub line: usize,
    pub message: String,
}

/// What a sheet yields: its answers, and columns that were not used.
#[derive(Debug, Clone, PartialEq)]
pub struct Sheet {
    pub answers: Vec<SheetAnswer>,
    pub ignored_columns: Vec<String>,
}

#[derive(Clone, Copy, PartialEq)]
enum Column {
    Id,
    Lang,
    Question,
    Answer,
    Source,
}

fn column(name: &str) -> Option<Column> {
    let folded = crate::util::fold(name.trim().trim_start_matches('\u{feff}')).to_lowercase();
    Some(match folded.as_str() {
        "id" | "identyfikator" => Column::Id,
        "lang" | "language" | "jezyk" => Column::Lang,
        "question" | "questions" | "pytanie" | "pytania" => Column::Question,
        "answer" | "odpowiedz" | "odpowiedzi" => Column::Answer,
        "source" | "sources" | "zrodlo" | "zrodla" | "article" | "artykul" => Column::Source,
        _ => return None,
    })
}

/// The delimiter of the header line: the most frequent of `,`, `;` and tab outside quotes.
fn delimiter(text: &str) -> u8 {
    let header = text.lines().next().unwrap_or("");
    let mut quoted = false;
    let mut counts = [0usize; 3];
    for c in header.chars() {
        match c {
            '"' => quoted = !quoted,
            ',' if !quoted => counts[0] += 1,
            ';' if !quoted => counts[1] += 1,
            '\t' if !quoted => counts[2] += 1,
            _ => {}
        }
    }
    let best = (0..3).max_by_key(|&i| (counts[i], 3 - i)).unwrap_or(0);
    [b',', b';', b'\t'][best]
}

/// Parses the sheet. Needs a header with a question and an answer column; `id`, `lang` and
/// `source` are optional. Several questions in one cell go on separate lines.
pub fn parse(text: &str) -> Result<Sheet, SheetError> {
    let text = text.trim_start_matches('\u{feff}');
    let mut reader = csv::ReaderBuilder::new()
        .delimiter(delimiter(text))
        .flexible(true)
        .from_reader(text.as_bytes());
    let header_error = |message: String| SheetError { line: 1, message };
    let headers = reader
        .headers()
        .map_err(|e| header_error(format!("cannot read the header: {e}")))?
        .clone();
    let columns: Vec<Option<Column>> = headers.iter().map(column).collect();
    let ignored_columns = headers
        .iter()
        .zip(&columns)
        .filter(|(_, c)| c.is_none())
        .map(|(h, _)| h.to_string())
        .collect();
    for needed in [Column::Question, Column::Answer] {
        if !columns.contains(&Some(needed)) {
            return Err(header_error(format!(
                "the header needs a `{}` column (found: {})",
                if needed == Column::Question {
                    "question"
                } else {
                    "answer"
                },
                headers.iter().collect::<Vec<_>>().join(", ")
            )));
        }
    }
    let mut answers: Vec<SheetAnswer> = Vec::new();
    let mut used_ids = HashSet::new();
    for record in reader.records() {
        let record = record.map_err(|e| SheetError {
            line: e.position().map(|p| p.line() as usize).unwrap_or(0),
            message: format!("not valid CSV: {e}"),
        })?;
        let line = record.position().map(|p| p.line() as usize).unwrap_or(0);
        let cell = |want: Column| {
            columns
                .iter()
                .position(|c| *c == Some(want))
                .and_then(|i| record.get(i))
                .unwrap_or("")
                .trim()
                .to_string()
        };
        let (id, lang, question, answer, source) = (
            cell(Column::Id),
            cell(Column::Lang),
            cell(Column::Question),
            cell(Column::Answer),
            cell(Column::Source),
        );
        if [&id, &lang, &question, &answer, &source]
            .iter()
            .all(|c| c.is_empty())
        {
            continue;
        }
        let fail = |message: String| SheetError { line, message };
        if answer.is_empty() {
            return Err(fail("the answer is empty".into()));
        }
        let questions: Vec<String> = question
            .lines()
            .map(str::trim)
            .filter(|q| !q.is_empty())
            .map(str::to_string)
            .collect();
        if questions.is_empty() {
            return Err(fail("the question is empty".into()));
        }
        let lang = if lang.is_empty() {
            detect_lang(&format!("{question} {answer}"), Lang::Pl)
        } else {
            lang.parse::<Lang>().map_err(&fail)?
        };
        let sources: Vec<String> = source
            .split([',', ';', '|', ' ', '\n'])
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .collect();
        for s in &sources {
            check_id(s).map_err(|m| fail(format!("source: {m}")))?;
        }
        if !id.is_empty() {
            check_id(&id).map_err(&fail)?;
        }
        let same = answers.iter_mut().find(|a| {
            if id.is_empty() {
                a.answer == answer && a.lang == lang
            } else {
                a.id == id
            }
        });
        match same {
            Some(a) => {
                if a.answer != answer {
                    return Err(fail(format!(
                        "id `{id}` already has a different answer (line {}); one id, one answer",
                        a.line
                    )));
                }
                if a.lang != lang {
                    return Err(fail(format!(
                        "id `{id}` is {} on line {} and {lang} here",
                        a.lang, a.line
                    )));
                }
                for q in questions {
                    if !a
                        .questions
                        .iter()
                        .any(|o| o.to_lowercase() == q.to_lowercase())
                    {
                        a.questions.push(q);
                    }
                }
                for s in sources {
                    if !a.sources.contains(&s) {
                        a.sources.push(s);
                    }
                }
            }
            None => {
                let id = if id.is_empty() {
                    let base = id_from_question(lang, &questions[0]);
                    let mut id = base.clone();
                    let mut n = 2;
                    while used_ids.contains(&id) {
                        id = format!("{base}-{n}");
                        n += 1;
                    }
                    id
                } else {
                    id
                };
                used_ids.insert(id.clone());
                answers.push(SheetAnswer {
                    id,
                    lang,
                    questions,
                    answer,
                    sources,
                    line,
                });
            }
        }
    }
    if answers.is_empty() {
        return Err(SheetError {
            line: 1,
            message: "the sheet has no rows".into(),
        });
    }
    Ok(Sheet {
        answers,
        ignored_columns,
    })
}

/// The canonical file the sheet becomes, checked by the loader's own parser.
pub fn render(sheet: &Sheet, origin: &str) -> Result<String, SheetError> {
    let mut doc: DocumentMut = format!(
        "# Approved answers imported from {origin} by `concord import csv`.\n# Importing the file again replaces this file; edit the spreadsheet, or move an answer\n# to a file of its own to edit it here.\n"
    )
    .parse()
    .expect("comments are a TOML document");
    let mut tables = ArrayOfTables::new();
    for a in &sheet.answers {
        let mut t = Table::new();
        t["id"] = value(a.id.as_str());
        t["lang"] = value(a.lang.as_str());
        t["questions"] = string_array(&a.questions);
        t["answer"] = answer_value(&a.answer);
        t["sources"] = string_array(&a.sources);
        t["handoff"] = value(false);
        tables.push(t);
    }
    doc.insert("answer", Item::ArrayOfTables(tables));
    let text = doc.to_string();
    let parsed = parse_canonical_file(&text, origin).map_err(|e| SheetError {
        line: 1,
        message: format!("the answers would not load: {}", e.message),
    })?;
    if parsed.len() != sheet.answers.len() {
        return Err(SheetError {
            line: 1,
            message: "the answers did not read back".into(),
        });
    }
    Ok(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SHEET: &str = "\u{feff}id;Pytanie;Odpowiedź;Źródło;notatki\n\
pl-dostawa;Ile kosztuje dostawa?;\"Kurier DPD kosztuje 14,99 zł; od 199 zł za darmo.\";pomoc-dostawa;x\n\
pl-dostawa;\"Jaki jest koszt wysyłki?\nIle za kuriera?\";\"Kurier DPD kosztuje 14,99 zł; od 199 zł za darmo.\";pomoc-dostawa;\n\
;;;;\n\
;How long do refunds take?;We refund within 14 days.;en-returns;\n\
;Do you refund fast?;We refund within 14 days.;;\n";

    #[test]
    fn rows_with_one_id_or_one_answer_are_one_answer_with_all_phrasings() {
        let sheet = parse(SHEET).unwrap();
        assert_eq!(sheet.ignored_columns, ["notatki"]);
        assert_eq!(sheet.answers.len(), 2);
        let pl = &sheet.answers[0];
        assert_eq!(pl.id, "pl-dostawa");
        assert_eq!(pl.lang, Lang::Pl);
        assert_eq!(
            pl.questions,
            [
                "Ile kosztuje dostawa?",
                "Jaki jest koszt wysyłki?",
                "Ile za kuriera?"
            ]
        );
        assert_eq!(
            pl.answer,
            "Kurier DPD kosztuje 14,99 zł; od 199 zł za darmo."
        );
        assert_eq!(pl.sources, ["pomoc-dostawa"]);
        let en = &sheet.answers[1];
        assert_eq!(en.id, "en-how-long-do-refunds-take");
        assert_eq!(en.lang, Lang::En);
        assert_eq!(en.questions.len(), 2);
        assert_eq!(en.line, 6, "the row above spans two lines");
        let text = render(&sheet, "odpowiedzi.csv").unwrap();
        let back = parse_canonical_file(&text, "t").unwrap();
        assert_eq!(back[0].answer, pl.answer);
        assert_eq!(back[1].questions, en.questions);
    }

    #[test]
    fn a_bad_sheet_names_the_line_and_the_problem() {
        let cases = [
            ("question,notes\nA,B\n", 1, "needs a `answer` column"),
            ("question,answer\nIle?,\n", 2, "the answer is empty"),
            (
                "question,answer,lang\nIle?,Tyle.,de\n",
                2,
                "unsupported language `de`",
            ),
            ("id,question,answer\nbad id,Ile?,Tyle.\n", 2, "contains ` `"),
            (
                "id,question,answer\na,Ile?,Tyle.\na,Ile jeszcze?,Inaczej.\n",
                3,
                "different answer (line 2)",
            ),
            ("question,answer\n", 1, "no rows"),
        ];
        for (text, line, message) in cases {
            let err = parse(text).unwrap_err();
            assert_eq!(err.line, line, "{text:?}: {err}");
            assert!(err.message.contains(message), "{text:?}: {err}");
        }
    }
}
