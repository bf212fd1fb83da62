//! A web page's main content as Markdown: navigation, headers, footers, cookie banners, forms and
//! scripts dropped; headings, paragraphs, lists and tables kept. Parsing is html5ever's (scraper).

use scraper::{ElementRef, Html, Node, Selector};

use super::markdown::{Block, Blocks};

/// What a page yields: its title, declared language (if any) and main content as Markdown.
#[derive(Debug, Clone, PartialEq)]
pub struct Page {
    pub title: String,
    /// The `lang` attribute of `<html>`, as written (`pl`, `en-GB`...).
    pub declared_lang: Option<String>,
    pub markdown: String,
}

/// Elements that never hold a page's own content.
const SKIPPED_TAGS: &[&str] = &[
    "script", "style", "noscript", "template", "nav", "footer", "aside", "form", "button",
    "iframe", "svg", "canvas", "dialog", "select", "input", "textarea", "label", "object", "embed",
    "video", "audio", "picture", "img", "head",
];

/// Words in an element's id or class that mark site furniture rather than content.
const BOILERPLATE_WORDS: &[&str] = &[
    "cookie",
    "cookies",
    "consent",
    "gdpr",
    "rodo",
    "banner",
    "breadcrumb",
    "breadcrumbs",
    "newsletter",
    "menu",
    "navbar",
    "navigation",
    "sidebar",
    "share",
    "social",
    "popup",
    "modal",
    "skip",
    "related",
    "recommended",
    "polecane",
];

/// ARIA roles of site furniture.
const SKIPPED_ROLES: &[&str] = &[
    "navigation",
    "banner",
    "contentinfo",
    "dialog",
    "alertdialog",
    "search",
    "complementary",
];

/// Extracts the main content of `html`.
pub fn extract(html: &str) -> Page {
    let doc = Html::parse_document(html);
    let declared_lang = doc
        .root_element()
        .value()
        .attr("lang")
        .map(|l| l.trim().to_string())
        .filter(|l| !l.is_empty());
    let root = main_element(&doc);
    let mut blocks = Blocks::default();
    walk(root, &mut blocks, &mut Vec::new());
    blocks.flush();
    let h1 = first_text(&doc, "h1");
    let head_title = first_text(&doc, "title").map(|t| strip_site_name(&t));
    let title = h1.or(head_title).unwrap_or_default();
    Page {
        title,
        declared_lang,
        markdown: blocks.into_markdown(),
    }
}

fn selector(s: &str) -> Selector {
    Selector::parse(s).expect("a valid built-in selector")
}

fn first_text(doc: &Html, sel: &str) -> Option<String> {
    doc.select(&selector(sel))
        .map(|e| collapse(&e.text().collect::<String>()))
        .find(|t| !t.is_empty())
}

/// "Dostawa | Zielony Dzbanek" -> "Dostawa": a `<title>` usually ends with the site's name.
fn strip_site_name(title: &str) -> String {
    for sep in [" | ", " – ", " — ", " - ", " :: "] {
        if let Some((first, _)) = title.split_once(sep) {
            if !first.trim().is_empty() {
                return first.trim().to_string();
            }
        }
    }
    title.trim().to_string()
}

/// The element holding the page's own content: `<main>` (or `role=main`), else the longest
/// `<article>`, else `#content` / `.content`, else `<body>`.
fn main_element(doc: &Html) -> ElementRef<'_> {
    for sel in ["main", "[role=main]"] {
        if let Some(e) = doc.select(&selector(sel)).find(|e| !is_furniture(e)) {
            return e;
        }
    }
    let longest_article = doc
        .select(&selector("article"))
        .filter(|e| !is_furniture(e))
        .max_by_key(|e| e.text().map(str::len).sum::<usize>());
    if let Some(e) = longest_article {
        return e;
    }
    for sel in ["#content", ".content", "#main", ".main"] {
        if let Some(e) = doc.select(&selector(sel)).next() {
            return e;
        }
    }
    doc.select(&selector("body"))
        .next()
        .unwrap_or_else(|| doc.root_element())
}

/// True for elements that are site furniture: by tag, role, hidden state or id/class words.
fn is_furniture(e: &ElementRef<'_>) -> bool {
    let el = e.value();
    let name = el.name();
    if SKIPPED_TAGS.contains(&name) {
        return true;
    }
    if name == "header" && !has_heading(e) {
        return true;
    }
    if el.attr("hidden").is_some() || el.attr("aria-hidden") == Some("true") {
        return true;
    }
    if el
        .attr("role")
        .is_some_and(|r| SKIPPED_ROLES.contains(&r.trim()))
    {
        return true;
    }
    let marks = el
        .attr("id")
        .into_iter()
        .chain(el.classes())
        .flat_map(|v| v.split(|c: char| !c.is_ascii_alphanumeric()))
        .map(str::to_ascii_lowercase);
    for word in marks {
        if BOILERPLATE_WORDS.contains(&word.as_str()) {
            return true;
        }
    }
    false
}

fn has_heading(e: &ElementRef<'_>) -> bool {
    e.select(&selector("h1, h2, h3"))
        .next()
        .is_some_and(|_| e.select(&selector("nav")).next().is_none())
}

/// Collapses runs of whitespace to one space and trims.
fn collapse(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Walks the content tree, writing blocks. `lists` holds the open lists (ordered?, count).
fn walk(e: ElementRef<'_>, out: &mut Blocks, lists: &mut Vec<(bool, usize)>) {
    for child in e.children() {
        match child.value() {
            Node::Text(t) => out.text(t),
            Node::Element(_) => {
                let Some(ce) = ElementRef::wrap(child) else {
                    continue;
                };
                if is_furniture(&ce) {
                    continue;
                }
                element(ce, out, lists);
            }
            Node::Document
            | Node::Fragment
            | Node::Doctype(_)
            | Node::Comment(_)
            | Node::ProcessingInstruction(_) => {}
        }
    }
}

fn element(e: ElementRef<'_>, out: &mut Blocks, lists: &mut Vec<(bool, usize)>) {
    let name = e.value().name();
    match name {
        "h1" | "h2" | "h3" | "h4" | "h5" | "h6" => {
            let level = name[1..].parse::<usize>().unwrap_or(2);
            out.flush();
            let text = collapse(&e.text().collect::<String>());
            if !text.is_empty() {
                out.push(Block::Heading(level, text));
            }
        }
        "br" => out.line_break(),
        "hr" => out.flush(),
        "ul" | "ol" => {
            out.flush();
            lists.push((name == "ol", 0));
            walk(e, out, lists);
            out.flush();
            lists.pop();
        }
        "li" => {
            out.flush();
            let depth = lists.len().saturating_sub(1);
            let marker = match lists.last_mut() {
                Some((true, n)) => {
                    *n += 1;
                    format!("{n}.")
                }
                _ => "-".to_string(),
            };
            out.start_item(depth, marker);
            walk(e, out, lists);
            out.flush();
        }
        "table" => {
            out.flush();
            table(e, out);
        }
        "pre" => {
            out.flush();
            let text = e.text().collect::<String>();
            if !text.trim().is_empty() {
                out.push(Block::Code(text.trim_end().to_string()));
            }
        }
        "p" | "div" | "section" | "article" | "header" | "main" | "blockquote" | "dl" | "dt"
        | "dd" | "figure" | "figcaption" | "address" | "details" | "summary" => {
            out.flush();
            walk(e, out, lists);
            out.flush();
        }
        "td" | "th" => {
            out.text(" ");
            walk(e, out, lists);
            out.text(" ");
        }
        _ => walk(e, out, lists),
    }
}

/// A table as a Markdown pipe table (the first row is the header).
fn table(e: ElementRef<'_>, out: &mut Blocks) {
    let rows: Vec<Vec<String>> = e
        .select(&selector("tr"))
        .map(|tr| {
            tr.select(&selector("th, td"))
                .map(|c| collapse(&c.text().collect::<String>()).replace('|', "\\|"))
                .collect::<Vec<String>>()
        })
        .filter(|r| r.iter().any(|c| !c.is_empty()))
        .collect();
    if rows.is_empty() {
        return;
    }
    let width = rows.iter().map(Vec::len).max().unwrap_or(0);
    let mut lines = Vec::new();
    for (i, row) in rows.iter().enumerate() {
        let mut cells = row.clone();
        cells.resize(width, String::new());
        lines.push(format!("| {} |", cells.join(" | ")));
        if i == 0 {
            lines.push(format!("|{}", " --- |".repeat(width)));
        }
    }
    out.push(Block::Table(lines));
}

#[cfg(test)]
mod tests {
    use super::*;

    const PAGE: &str = r#"<!doctype html><html lang="pl"><head><meta charset="utf-8">
<title>Dostawa | Zielony Dzbanek</title><style>body{}</style></head><body>
<header><a href="/">Zielony Dzbanek</a><nav><a href="/pomoc/dostawa.html">Dostawa</a>
<a href="/pomoc/zwroty.html">Zwroty</a></nav></header>
<div id="cookie-banner" class="cookie-consent">Używamy plików cookie. <button>Akceptuję</button></div>
<main><nav class="breadcrumb">Start › Pomoc › Dostawa</nav>
<h1>Dostawa i koszty wysyłki</h1>
<p>Zamówienia złożone do   13:00 wysyłamy
 tego samego dnia roboczego.</p>
<h2>Przewoźnicy</h2>
<ul><li>InPost Paczkomat — <b>12,99 zł</b></li><li>Kurier DPD — 14,99 zł</li></ul>
<table><tr><th>Przewoźnik</th><th>Cena</th></tr><tr><td>DPD</td><td>14,99 zł</td></tr></table>
<aside><h3>Polecane produkty</h3><p>Monstera</p></aside>
<script>track()</script>
<ol><li>Zapakuj roślinę</li><li>Nadaj paczkę<br>w punkcie</li></ol>
</main>
<footer>© 2026 Zielony Dzbanek · <form><input name="email"></form>Zapisz się do newslettera</footer>
</body></html>"#;

    #[test]
    fn a_page_keeps_its_content_and_drops_the_site_around_it() {
        let page = extract(PAGE);
        assert_eq!(page.title, "Dostawa i koszty wysyłki");
        assert_eq!(page.declared_lang.as_deref(), Some("pl"));
        insta::assert_snapshot!(page.markdown, @r"
        # Dostawa i koszty wysyłki

        Zamówienia złożone do 13:00 wysyłamy tego samego dnia roboczego.

        ## Przewoźnicy

        - InPost Paczkomat — 12,99 zł
        - Kurier DPD — 14,99 zł

        | Przewoźnik | Cena |
        | --- | --- |
        | DPD | 14,99 zł |

        1. Zapakuj roślinę
        2. Nadaj paczkę
        w punkcie
        ");
        for dropped in [
            "cookie",
            "Akceptuję",
            "Polecane",
            "newsletter",
            "track()",
            "Start ›",
            "Zwroty",
        ] {
            assert!(!page.markdown.contains(dropped), "{dropped} kept");
        }
    }

    #[test]
    fn without_main_the_longest_article_is_the_content() {
        let html = r#"<html><head><title>Zwroty – Sklep</title></head><body>
<div class="content"><article><p>Krótko.</p></article>
<article><h2>Zwrot w 30 dni</h2><p>Masz 30 dni na zwrot towaru bez podania przyczyny.</p></article></div>
<div class="sidebar"><p>Masz pytania? Zadzwoń.</p></div></body></html>"#;
        let page = extract(html);
        assert_eq!(page.title, "Zwroty");
        assert_eq!(page.declared_lang, None);
        assert_eq!(
            page.markdown,
            "## Zwrot w 30 dni\n\nMasz 30 dni na zwrot towaru bez podania przyczyny."
        );
    }

    #[test]
    fn a_page_with_nothing_but_furniture_yields_no_text() {
        let page = extract("<html><body><nav>Menu</nav><footer>Stopka</footer></body></html>");
        assert_eq!(page.markdown, "");
        assert_eq!(page.title, "");
    }
}
