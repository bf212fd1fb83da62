//! Documents as Markdown: a PDF's text (pdf-extract) with words hyphenated across lines joined
//! and page numbers dropped, and a DOCX's paragraphs (zip + roxmltree) with headings and lists.

use std::io::Read;

use super::markdown::{render, Block, Blocks};

/// What a document yields: a title (its first heading or line) and Markdown.
#[derive(Debug, Clone, PartialEq)]
pub struct Document {
    pub title: String,
    pub markdown: String,
}

#[derive(Debug, thiserror::Error)]
pub enum DocumentError {
    #[error("not a readable PDF: {0}")]
    Pdf(String),
    #[error("not a readable DOCX: {0}")]
    Docx(String),
    #[error("the document holds no text (a scanned PDF needs OCR first)")]
    NoText,
}

/// The text of a PDF. pdf-extract panics on some malformed files; that becomes an error.
pub fn pdf(bytes: &[u8]) -> Result<Document, DocumentError> {
    let bytes = bytes.to_vec();
    let text = std::panic::catch_unwind(move || pdf_extract::extract_text_from_mem(&bytes))
        .map_err(|_| DocumentError::Pdf("the PDF parser gave up on this file".into()))?
        .map_err(|e| DocumentError::Pdf(e.to_string()))?;
    pdf_text(&text)
}

/// Extracted PDF text as blocks. pdf-extract writes a blank line after every line of some PDFs,
/// so paragraphs are found by shape: a list marker starts one, and so does a line after a short
/// line that ends a sentence. Words hyphenated at a line end are joined, running footers with
/// page numbers dropped, headings recognised by their shape.
pub fn pdf_text(text: &str) -> Result<Document, DocumentError> {
    let text = text.replace("\r\n", "\n").replace('\u{c}', "\n\n\n");
    let raw: Vec<&str> = text.lines().map(str::trim).collect();
    let lines = undouble(&raw);
    let width = typical_width(&lines);
    let mut blocks = Vec::new();
    let mut paragraph: Vec<String> = Vec::new();
    let flush = |paragraph: &mut Vec<String>, blocks: &mut Vec<Block>| {
        if !paragraph.is_empty() {
            let lines: Vec<&str> = paragraph.iter().map(String::as_str).collect();
            blocks.push(Block::Paragraph(join_lines(&lines)));
            paragraph.clear();
        }
    };
    for line in lines {
        let line = strip_running_footer(line);
        if line.is_empty() {
            flush(&mut paragraph, &mut blocks);
        } else if is_page_number(&line) {
            continue;
        } else if blocks.is_empty() && paragraph.is_empty() && line.chars().count() <= 120 {
            // The first line is the document's title.
            blocks.push(Block::Heading(1, line));
        } else if looks_like_heading(&line) {
            flush(&mut paragraph, &mut blocks);
            blocks.push(Block::Heading(
                2,
                line.split_whitespace().collect::<Vec<_>>().join(" "),
            ));
        } else {
            let ends_paragraph = paragraph.last().is_some_and(|prev| {
                prev.ends_with(['.', '!', '?', ':'])
                    && (prev.chars().count() as f32) < 0.75 * width as f32
            });
            if starts_item(&line) || ends_paragraph {
                flush(&mut paragraph, &mut blocks);
            }
            paragraph.push(line);
        }
    }
    flush(&mut paragraph, &mut blocks);
    let Some(first) = blocks.first_mut() else {
        return Err(DocumentError::NoText);
    };
    let title = match first {
        Block::Heading(_, t) => t.clone(),
        Block::Paragraph(_) | Block::Item { .. } | Block::Table(_) | Block::Code(_) => {
            String::new()
        }
    };
    if !title.is_empty() {
        *first = Block::Heading(1, title.clone());
    }
    Ok(Document {
        title,
        markdown: render(&blocks),
    })
}

/// When most lines are followed by a blank one, single blank lines carry no meaning: they are
/// dropped, and only runs of two or more separate paragraphs.
fn undouble<'a>(lines: &[&'a str]) -> Vec<&'a str> {
    let text_lines = lines.iter().filter(|l| !l.is_empty()).count();
    let followed = lines
        .windows(2)
        .filter(|w| !w[0].is_empty() && w[1].is_empty())
        .count();
    if text_lines < 4 || followed * 10 < text_lines * 6 {
        return lines.to_vec();
    }
    let mut out = Vec::new();
    let mut blanks = 0;
    for line in lines {
        if line.is_empty() {
            blanks += 1;
            continue;
        }
        if blanks >= 2 && !out.is_empty() {
            out.push("");
        }
        blanks = 0;
        out.push(*line);
    }
    out
}

/// The length most full lines have (the 90th percentile), to tell a paragraph's short last
/// line from a full one.
fn typical_width(lines: &[&str]) -> usize {
    let mut lengths: Vec<usize> = lines
        .iter()
        .filter(|l| !l.is_empty())
        .map(|l| l.chars().count())
        .collect();
    if lengths.is_empty() {
        return 0;
    }
    lengths.sort_unstable();
    lengths[(lengths.len() * 9 / 10).min(lengths.len() - 1)]
}

/// "1. ", "2) ", "a) ", "- ", "• ": the start of a list item.
fn starts_item(line: &str) -> bool {
    static ITEM: std::sync::LazyLock<regex::Regex> = std::sync::LazyLock::new(|| {
        regex::Regex::new(r"^(\d{1,2}[.)]|[a-z]\)|[-•–*])\s").expect("valid regex")
    });
    ITEM.is_match(line)
}

/// Drops a running footer with a page number that the PDF placed on a text line:
/// "weekend. Regulamin sklepu · strona 1 z 2" -> "weekend.".
fn strip_running_footer(line: &str) -> String {
    static FOOTER: std::sync::LazyLock<regex::Regex> = std::sync::LazyLock::new(|| {
        regex::Regex::new(r"(?i)(^|[.!?;])[^.!?;]*\b(?:strona|page)\s+\d+\s*(?:z|of|/)\s*\d+\s*$")
            .expect("valid regex")
    });
    FOOTER.replace(line, "$1").trim().to_string()
}

/// Joins the lines of one paragraph: "odstą-" + "pienia" is "odstąpienia"; a soft hyphen at
/// a line end likewise; other lines join with a space.
fn join_lines(lines: &[&str]) -> String {
    let mut out = String::new();
    for line in lines {
        // Justified text comes out with runs of spaces between words.
        let line = &line.split_whitespace().collect::<Vec<_>>().join(" ");
        let next_lower = line.chars().next().is_some_and(char::is_lowercase);
        if let Some(stem) = out.strip_suffix('\u{ad}') {
            out.truncate(stem.len());
        } else if out.ends_with('-')
            && next_lower
            && out
                .chars()
                .rev()
                .nth(1)
                .is_some_and(|c| c.is_alphabetic() && c.is_lowercase())
        {
            out.pop();
        } else if out.ends_with('-')
            && out.chars().rev().nth(1).is_some_and(|c| c.is_ascii_digit())
            && line.starts_with(|c: char| c.is_ascii_digit())
        {
            // A postcode or a range broken after its hyphen: "31-" + "155".
        } else if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(line);
    }
    out
}

/// "3", "- 3 -", "Strona 2 z 5", "Page 2 of 5".
fn is_page_number(line: &str) -> bool {
    let lower = line.to_lowercase();
    let words: Vec<&str> = lower
        .split(|c: char| c.is_whitespace() || c == '-' || c == '/')
        .filter(|w| !w.is_empty())
        .collect();
    let numbers = words
        .iter()
        .filter(|w| w.chars().all(|c| c.is_ascii_digit()))
        .count();
    match words.as_slice() {
        [n] => numbers == 1 && n.len() <= 4,
        ["strona" | "page" | "str.", _] => numbers == 1,
        ["strona" | "page", _, "z" | "of", _] => numbers == 2,
        [_, _] => numbers == 2,
        _ => false,
    }
}

/// A section heading of terms and policies: "§ 3. Reklamacje", "3. Reklamacje", "ROZDZIAŁ II".
fn looks_like_heading(line: &str) -> bool {
    let chars = line.chars().count();
    if chars > 90 || line.ends_with(['.', ',', ';', ':']) && !line.starts_with('§') {
        return false;
    }
    if line.starts_with('§') {
        return chars <= 90;
    }
    let letters: Vec<char> = line.chars().filter(|c| c.is_alphabetic()).collect();
    letters.len() >= 4 && letters.iter().all(|c| c.is_uppercase())
}

const W: &str = "http://schemas.openxmlformats.org/wordprocessingml/2006/main";

/// The paragraphs, headings, lists and tables of a DOCX's main document part.
pub fn docx(bytes: &[u8]) -> Result<Document, DocumentError> {
    let bad = |e: &dyn std::fmt::Display| DocumentError::Docx(e.to_string());
    let mut archive = zip::ZipArchive::new(std::io::Cursor::new(bytes)).map_err(|e| bad(&e))?;
    let mut xml = String::new();
    archive
        .by_name("word/document.xml")
        .map_err(|e| bad(&e))?
        .read_to_string(&mut xml)
        .map_err(|e| bad(&e))?;
    let doc = roxmltree::Document::parse(&xml).map_err(|e| bad(&e))?;
    let body = doc
        .descendants()
        .find(|n| n.has_tag_name((W, "body")))
        .ok_or_else(|| DocumentError::Docx("word/document.xml has no body".into()))?;
    let mut blocks = Blocks::default();
    let mut title = String::new();
    for node in body.children().filter(|n| n.is_element()) {
        if node.has_tag_name((W, "p")) {
            paragraph(node, &mut blocks, &mut title);
        } else if node.has_tag_name((W, "tbl")) {
            blocks.flush();
            let rows: Vec<Vec<String>> = node
                .children()
                .filter(|r| r.has_tag_name((W, "tr")))
                .map(|r| {
                    r.children()
                        .filter(|c| c.has_tag_name((W, "tc")))
                        .map(|c| run_text(c).split_whitespace().collect::<Vec<_>>().join(" "))
                        .collect()
                })
                .collect();
            if let Some(width) = rows.iter().map(Vec::len).max().filter(|w| *w > 0) {
                let mut lines = Vec::new();
                for (i, row) in rows.iter().enumerate() {
                    let mut cells = row.clone();
                    cells.resize(width, String::new());
                    lines.push(format!("| {} |", cells.join(" | ")));
                    if i == 0 {
                        lines.push(format!("|{}", " --- |".repeat(width)));
                    }
                }
                blocks.push(Block::Table(lines));
            }
        }
    }
    if blocks.is_empty() {
        return Err(DocumentError::NoText);
    }
    Ok(Document {
        title,
        markdown: blocks.into_markdown(),
    })
}

/// One `w:p`: a heading (style Heading N / Title / Nagłówek N), a list item (numbered) or text.
fn paragraph(node: roxmltree::Node<'_, '_>, blocks: &mut Blocks, title: &mut String) {
    let props = node.children().find(|c| c.has_tag_name((W, "pPr")));
    let style = props
        .and_then(|p| p.children().find(|c| c.has_tag_name((W, "pStyle"))))
        .and_then(|s| s.attribute((W, "val")))
        .unwrap_or("")
        .to_lowercase();
    let level = props
        .and_then(|p| p.children().find(|c| c.has_tag_name((W, "numPr"))))
        .map(|n| {
            n.children()
                .find(|c| c.has_tag_name((W, "ilvl")))
                .and_then(|l| l.attribute((W, "val")))
                .and_then(|v| v.parse::<usize>().ok())
                .unwrap_or(0)
        });
    let text = run_text(node);
    let text = text.trim();
    blocks.flush();
    if text.is_empty() {
        return;
    }
    let heading = if style == "title" {
        Some(1)
    } else {
        ["heading", "nagwek", "naglowek", "nagłówek"]
            .iter()
            .find_map(|p| style.strip_prefix(p))
            .and_then(|n| n.trim().parse::<usize>().ok())
            .map(|n| (n + 1).min(6))
    };
    if let Some(level) = heading {
        if title.is_empty() {
            *title = text.to_string();
        }
        let level = if style == "title" { 1 } else { level };
        blocks.push(Block::Heading(level, text.to_string()));
    } else {
        if let Some(depth) = level {
            blocks.start_item(depth, "-".into());
        }
        for (i, line) in text.split('\n').enumerate() {
            if i > 0 {
                blocks.line_break();
            }
            blocks.text(line);
        }
        blocks.flush();
    }
}

/// The text of the runs under `node`: `w:t`, tabs as spaces, breaks as new lines.
fn run_text(node: roxmltree::Node<'_, '_>) -> String {
    let mut out = String::new();
    for n in node.descendants() {
        if n.has_tag_name((W, "t")) {
            out.push_str(n.text().unwrap_or(""));
        } else if n.has_tag_name((W, "tab")) {
            out.push(' ');
        } else if n.has_tag_name((W, "br"))
            || n.has_tag_name((W, "cr"))
            || (n.has_tag_name((W, "p")) && n != node && !out.is_empty())
        {
            out.push('\n');
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn hyphenated_words_are_joined_and_page_numbers_dropped() {
        let text = "Regulamin sklepu\n\n§ 1. Postanowienia ogólne\nKonsument ma prawo do odstą-\npienia od umowy w terminie 14 dni. Adres e-\nmail: sklep@example.pl, kod 31-\n155 Kraków.\n\nStrona 1 z 2\n\u{c}§ 2. Reklamacje\nRekla\u{ad}\nmacje rozpatrujemy w 14 dni.\n2\n";
        let doc = pdf_text(text).unwrap();
        assert_eq!(doc.title, "Regulamin sklepu");
        assert_eq!(
            doc.markdown,
            "# Regulamin sklepu\n\n## § 1. Postanowienia ogólne\n\nKonsument ma prawo do odstąpienia od umowy w terminie 14 dni. Adres email: sklep@example.pl, kod 31-155 Kraków.\n\n## § 2. Reklamacje\n\nReklamacje rozpatrujemy w 14 dni."
        );
    }

    #[test]
    fn double_spaced_extraction_finds_paragraphs_by_their_shape() {
        let text = "Regulamin sklepu\n\n§ 5. Zwroty\n\n1. Konsument może odstąpić od umowy w terminie 14 dni bez\n\npodania  przyczyny.  Wzór formularza odstą-\n\npienia jest w załączniku.\n\n2. Zwrot pieniędzy następuje w ciągu 14 dni od otrzymania\n\noświadczenia, tą samą metodą płatności, której użył klient.\n\nKoszt odesłania ponosi konsument.\n\nNastępny akapit zaczyna się tutaj i ma pełną długość linii tekstu. Sklep Zielony Dzbanek · strona 1 z 2\n\n";
        let doc = pdf_text(text).unwrap();
        assert_eq!(
            doc.markdown,
            "# Regulamin sklepu\n\n## § 5. Zwroty\n\n1. Konsument może odstąpić od umowy w terminie 14 dni bez podania przyczyny. Wzór formularza odstąpienia jest w załączniku.\n\n2. Zwrot pieniędzy następuje w ciągu 14 dni od otrzymania oświadczenia, tą samą metodą płatności, której użył klient.\n\nKoszt odesłania ponosi konsument.\n\nNastępny akapit zaczyna się tutaj i ma pełną długość linii tekstu."
        );
    }

    #[test]
    fn a_pdf_without_text_or_a_broken_one_is_a_clear_error() {
        assert!(matches!(pdf_text("\n \n3\n"), Err(DocumentError::NoText)));
        assert!(matches!(
            pdf(b"%PDF-1.4 this is not a pdf"),
            Err(DocumentError::Pdf(_))
        ));
    }

    fn docx_bytes(body: &str) -> Vec<u8> {
        let mut buf = std::io::Cursor::new(Vec::new());
        let mut zip = zip::ZipWriter::new(&mut buf);
        let opts: zip::write::SimpleFileOptions = Default::default();
        zip.start_file("word/document.xml", opts).unwrap();
        write!(
            zip,
            r#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?><w:document xmlns:w="{W}"><w:body>{body}</w:body></w:document>"#
        )
        .unwrap();
        zip.finish().unwrap();
        buf.into_inner()
    }

    #[test]
    fn docx_headings_lists_and_tables_become_markdown() {
        let body = r#"<w:p><w:pPr><w:pStyle w:val="Title"/></w:pPr><w:r><w:t>Polityka zwrotów</w:t></w:r></w:p>
<w:p><w:pPr><w:pStyle w:val="Heading1"/></w:pPr><w:r><w:t>Jak zwrócić</w:t></w:r></w:p>
<w:p><w:r><w:t xml:space="preserve">Masz </w:t></w:r><w:r><w:t>30 dni</w:t></w:r><w:r><w:tab/><w:t>na zwrot.</w:t></w:r></w:p>
<w:p><w:pPr><w:numPr><w:ilvl w:val="0"/></w:numPr></w:pPr><w:r><w:t>Zapakuj towar</w:t></w:r></w:p>
<w:p><w:pPr><w:numPr><w:ilvl w:val="1"/></w:numPr></w:pPr><w:r><w:t>z paragonem</w:t></w:r></w:p>
<w:tbl><w:tr><w:tc><w:p><w:r><w:t>Kurier</w:t></w:r></w:p></w:tc><w:tc><w:p><w:r><w:t>Cena</w:t></w:r></w:p></w:tc></w:tr>
<w:tr><w:tc><w:p><w:r><w:t>DPD</w:t></w:r></w:p></w:tc><w:tc><w:p><w:r><w:t>11,99 zł</w:t></w:r></w:p></w:tc></w:tr></w:tbl>"#;
        let doc = docx(&docx_bytes(body)).unwrap();
        assert_eq!(doc.title, "Polityka zwrotów");
        assert_eq!(
            doc.markdown,
            "# Polityka zwrotów\n\n## Jak zwrócić\n\nMasz 30 dni na zwrot.\n\n- Zapakuj towar\n  - z paragonem\n\n| Kurier | Cena |\n| --- | --- |\n| DPD | 11,99 zł |"
        );
    }

    #[test]
    fn a_docx_that_is_not_one_is_a_clear_error() {
        assert!(matches!(docx(b"PK not a zip"), Err(DocumentError::Docx(_))));
        assert!(matches!(
            docx(&docx_bytes("<w:p/>")),
            Err(DocumentError::NoText)
        ));
    }
}
