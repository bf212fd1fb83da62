//! Personal data in text bound for the knowledge base: e-mail addresses, phone numbers, order
//! numbers, postal codes, streets and names after "nazywam się" / "my name is", found and cut out.

use serde::Serialize;

/// What kind of personal data a span is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PiiKind {
    Email,
    Phone,
    OrderNumber,
    PostalCode,
    Street,
    Name,
}

/// One span found (byte offsets into the text).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PiiSpan {
    pub kind: PiiKind,
    pub start: usize,
    pub end: usize,
    pub text: String,
}

/// Words after which a name follows (lower case; compared without diacritics).
const NAME_CUES: [&str; 6] = [
    "nazywam sie",
    "mam na imie",
    "z tej strony",
    "my name is",
    "this is",
    "i am",
];

/// Words that start a street address.
const STREET_CUES: [&str; 5] = ["ul.", "ulica", "ulicy", "ulice", "street"];

/// Whitespace-separated words with their byte offsets, outer punctuation trimmed.
fn words(text: &str) -> Vec<(usize, usize, &str)> {
    let mut out = Vec::new();
    let mut start = None;
    for (i, c) in text
        .char_indices()
        .chain(std::iter::once((text.len(), ' ')))
    {
        match (start, c.is_whitespace()) {
            (None, false) => start = Some(i),
            (Some(s), true) => {
                let w = &text[s..i];
                let lead = w.len() - w.trim_start_matches(['(', '"', '\'', '„', '«']).len();
                let trimmed = w
                    .trim_start_matches(['(', '"', '\'', '„', '«'])
                    .trim_end_matches([',', ';', ':', '!', '?', ')', '"', '\'', '”', '»']);
                let trimmed = trimmed.strip_suffix('.').unwrap_or(trimmed);
                if !trimmed.is_empty() {
                    out.push((s + lead, s + lead + trimmed.len(), trimmed));
                }
                start = None;
            }
            _ => {}
        }
    }
    out
}

fn digits(w: &str) -> usize {
    w.chars().filter(char::is_ascii_digit).count()
}

fn is_email(w: &str) -> bool {
    crate::util::email_shape(w).is_some()
}

/// An order or customer number: at least 6 digits, or at least 4 digits with letters or
/// separators (`ZAM-2024-55713`, `#12345`); not a price, a date, a time or a postal code.
fn is_order_number(w: &str) -> bool {
    let d = digits(w);
    let w = w.trim_start_matches('#');
    if d == 0 || w.contains('@') || is_postal_code(w) {
        return false;
    }
    let only_digits = w.chars().all(|c| c.is_ascii_digit());
    if only_digits {
        return d >= 6;
    }
    let allowed = w
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '/' | '_'));
    let has_letter = w.chars().any(|c| c.is_ascii_alphabetic());
    // "2024-05-01" (a date) and "12:30" are not ids; "15zł" and "30dni" are amounts.
    let date = w
        .split(['-', '/'])
        .all(|p| p.chars().all(|c| c.is_ascii_digit()))
        && w.split(['-', '/']).count() == 3
        && d <= 8;
    allowed && d >= 4 && !date && (has_letter && d >= 4 || w.contains(['-', '/']) && d >= 6)
}

fn is_postal_code(w: &str) -> bool {
    let b = w.as_bytes();
    b.len() == 6
        && b[2] == b'-'
        && b.iter()
            .enumerate()
            .all(|(i, c)| i == 2 || c.is_ascii_digit())
}

/// Phone numbers: runs of digits, spaces, dashes, dots and parentheses (optionally after `+`)
/// with 9 to 15 digits.
fn phones(text: &str) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    let chars: Vec<(usize, char)> = text.char_indices().collect();
    let mut i = 0;
    while i < chars.len() {
        let (start, c) = chars[i];
        if c.is_ascii_digit()
            || (c == '+' && chars.get(i + 1).is_some_and(|n| n.1.is_ascii_digit()))
        {
            let mut j = i;
            let mut end = start;
            let mut n = 0;
            while j < chars.len() {
                let (at, ch) = chars[j];
                if ch.is_ascii_digit() {
                    n += 1;
                    end = at + 1;
                } else if !(matches!(ch, ' ' | '-' | '.' | '(' | ')') || (ch == '+' && j == i)) {
                    break;
                }
                j += 1;
            }
            let before_ok = start == 0 || !text[..start].ends_with(|c: char| c.is_alphanumeric());
            if (9..=15).contains(&n)
                && before_ok
                && !text[end..].starts_with(|c: char| c.is_alphanumeric())
            {
                out.push((start, end));
            }
            i = j.max(i + 1);
        } else {
            i += 1;
        }
    }
    out
}

/// Every span of personal data in `text`, in order, not overlapping.
pub fn find(text: &str) -> Vec<PiiSpan> {
    let mut spans: Vec<(PiiKind, usize, usize)> = Vec::new();
    let ws = words(text);
    for (s, e, w) in &ws {
        if is_email(w) {
            spans.push((PiiKind::Email, *s, *e));
        } else if is_postal_code(w) {
            spans.push((PiiKind::PostalCode, *s, *e));
        } else if is_order_number(w) {
            spans.push((PiiKind::OrderNumber, *s, *e));
        }
    }
    for (s, e) in phones(text) {
        spans.push((PiiKind::Phone, s, e));
    }
    let folded: Vec<String> = ws
        .iter()
        .map(|(_, _, w)| crate::util::fold(w).to_lowercase())
        .collect();
    for i in 0..ws.len() {
        // A name: one or two capitalised words after a cue.
        for cue in NAME_CUES {
            let cue_words: Vec<&str> = cue.split(' ').collect();
            let n = cue_words.len();
            if i + n < ws.len() && folded[i..i + n] == cue_words[..] {
                let mut end = i + n;
                while end < ws.len()
                    && end < i + n + 2
                    && ws[end].2.chars().next().is_some_and(char::is_uppercase)
                {
                    end += 1;
                }
                if end > i + n {
                    spans.push((PiiKind::Name, ws[i + n].0, ws[end - 1].1));
                }
            }
        }
        // A street: the cue, the next words up to and including the first with a digit (at
        // most four words).
        if STREET_CUES.contains(&folded[i].as_str()) || folded[i] == "ul" {
            let last = (i + 1..ws.len().min(i + 5)).find(|&j| digits(ws[j].2) > 0);
            if let Some(last) = last {
                spans.push((PiiKind::Street, ws[i + 1].0, ws[last].1));
            }
        }
    }
    spans.sort_by_key(|&(_, s, e)| (s, std::cmp::Reverse(e)));
    let mut out: Vec<PiiSpan> = Vec::new();
    for (kind, start, end) in spans {
        if out.last().is_some_and(|p| start < p.end) {
            continue;
        }
        out.push(PiiSpan {
            kind,
            start,
            end,
            text: text[start..end].to_string(),
        });
    }
    out
}

/// `text` with every span cut out (and the spaces around it folded), and what was cut.
pub fn redact(text: &str) -> (String, Vec<PiiSpan>) {
    let spans = find(text);
    let mut out = String::with_capacity(text.len());
    let mut at = 0;
    for s in &spans {
        out.push_str(&text[at..s.start]);
        at = s.end;
    }
    out.push_str(&text[at..]);
    let tidy = out
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .replace(" ,", ",")
        .replace(" .", ".")
        .replace(" ?", "?");
    (tidy, spans)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn kinds(text: &str) -> Vec<(PiiKind, String)> {
        find(text).into_iter().map(|s| (s.kind, s.text)).collect()
    }

    #[test]
    fn personal_data_in_polish_and_english_is_found() {
        assert_eq!(
            kinds("Dzień dobry, nazywam się Bolesław Kwiatkowski, zamówienie ZAM-2024-55713."),
            [
                (PiiKind::Name, "Bolesław Kwiatkowski".into()),
                (PiiKind::OrderNumber, "ZAM-2024-55713".into())
            ]
        );
        assert_eq!(
            kinds("Mój e-mail to b.kwiatkowski@poczta.pl, tel. +48 601 234 567"),
            [
                (PiiKind::Email, "b.kwiatkowski@poczta.pl".into()),
                (PiiKind::Phone, "+48 601 234 567".into())
            ]
        );
        assert_eq!(
            kinds("Proszę wysłać na ul. Pogodna 17, 81-222 Gdynia"),
            [
                (PiiKind::Street, "Pogodna 17".into()),
                (PiiKind::PostalCode, "81-222".into())
            ]
        );
        assert_eq!(
            kinds("Hi, my name is Anna Smith and order #4471203 is late"),
            [
                (PiiKind::Name, "Anna Smith".into()),
                (PiiKind::OrderNumber, "#4471203".into())
            ]
        );
    }

    #[test]
    fn shop_facts_are_not_personal_data() {
        for text in [
            "Zwrot w ciągu 30 dni, dostawa 15 zł, od 2024-05-01 do 12:30.",
            "Wysyłamy w 2 dni robocze; paczkomat InPost do 25 kg.",
            "Returns within 14 days; call us on weekdays 8-16.",
            "Karta podarunkowa 100 zł ważna 12 miesięcy.",
        ] {
            assert_eq!(kinds(text), [], "{text}");
        }
    }

    #[test]
    fn redaction_keeps_the_question() {
        let (q, cut) = redact("Nazywam się Jan Kowalski, gdzie jest zamówienie ZAM-2024-55713?");
        assert_eq!(q, "Nazywam się, gdzie jest zamówienie?");
        assert_eq!(cut.len(), 2);
    }

    proptest! {
        #[test]
        fn any_text_is_read_without_panic_and_spans_are_in_order(text in "\\PC{0,200}") {
            let spans = find(&text);
            for w in spans.windows(2) {
                prop_assert!(w[0].end <= w[1].start);
            }
            for s in &spans {
                prop_assert_eq!(&text[s.start..s.end], s.text.as_str());
            }
            let _ = redact(&text);
        }
    }
}
