//! Literal facts of a text (numbers, phone numbers, e-mail and web addresses), found with their
//! character spans and normalised so that Polish and English spellings of a value compare equal
//! (`12,99 zł` and `12.99` are both `12.99`; `3 000` and `3,000` are both `3000`).

use std::collections::HashSet;

use serde::Serialize;

/// What kind of literal a [`Fact`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum FactKind {
    /// A number: amounts, deadlines, hours (`8:00` is `8`, `9:30` is `9:30`), percentages (the
    /// `%` is dropped: `10%` is `10`), dimensions. Value in plain decimal notation.
    Number,
    /// A phone number or another long digit identifier (tax ID, bank account): nine or more
    /// digits, or digits after a `+`. Value: the digits only.
    Phone,
    /// An e-mail address, lowercased.
    Email,
    /// A web address or bare domain, lowercased, without scheme, `www.` or trailing `/`.
    Url,
}

/// One checkable literal of a text, normalised.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct Fact {
    pub kind: FactKind,
    pub value: String,
}

impl Fact {
    pub fn new(kind: FactKind, value: impl Into<String>) -> Fact {
        Fact {
            kind,
            value: value.into(),
        }
    }

    /// Numbers and phone numbers: what a model can make up.
    pub fn is_numeric(&self) -> bool {
        matches!(self.kind, FactKind::Number | FactKind::Phone)
    }

    /// Whether `other` states this fact: the same kind and value, where a phone number also
    /// matches itself without the country code (one ends with the other, nine digits at least).
    pub fn matches(&self, other: &Fact) -> bool {
        if self.kind != other.kind {
            return false;
        }
        if self.value == other.value {
            return true;
        }
        if self.kind == FactKind::Phone {
            let (short, long) = if self.value.len() <= other.value.len() {
                (&self.value, &other.value)
            } else {
                (&other.value, &self.value)
            };
            return short.len() >= 9 && long.ends_with(short.as_str());
        }
        false
    }
}

impl std::fmt::Display for Fact {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.value)
    }
}

/// Spaces that may group digits (`3 000`, `3\u{a0}000`).
fn is_space_sep(c: char) -> bool {
    matches!(c, ' ' | '\u{a0}' | '\u{202f}' | '\u{2009}')
}

/// Characters that may continue a number when a digit follows them directly.
fn is_number_sep(c: char) -> bool {
    is_space_sep(c) || matches!(c, '.' | ',' | '-' | ':')
}

/// The facts of `text`, each once, in order of first appearance.
///
/// Rules, in order:
/// 1. E-mail addresses (`local@domain.tld`).
/// 2. Web addresses: `http(s)://…`, `www.…` or a bare domain with a path or not
///    (`polnapolka.pl/zwroty`); the last label of the host must be 2-6 lowercase letters and the
///    one before it two characters at least, so `e.g.`, `S.A.`, `m.in.` and `12.99` are not
///    domains. Digits inside addresses are not numbers.
/// 3. Citation markers (`[1]`, `[1, 2]`) and list markers at the start of a line (`1.`, `2)`) are
///    skipped.
/// 4. Numbers: a run of digits, continued across `.` `,` `-` `:` and spaces when a digit follows
///    directly. Digits glued to a preceding letter (`Przelewy24`, `PL61`) are part of a word.
///    A run with a leading `+` and seven or more digits, or with nine or more digits separated only
///    by spaces and hyphens, is a [`FactKind::Phone`]. Otherwise hyphens separate numbers (`1-2`,
///    postal code `61-897` is `61` and `897`), `H:MM` is an hour, space groups of three digits are
///    thousands (`20 000`), and one `,` or `.` is a thousands separator when exactly three digits
///    follow it (`5,000`) and a decimal point otherwise (`12,99` → `12.99`).
pub fn facts(text: &str) -> Vec<Fact> {
    let chars: Vec<char> = text.chars().collect();
    let mut masked = vec![false; chars.len()];
    let mut found: Vec<(usize, usize, Fact)> = Vec::new();
    emails(&chars, &mut masked, &mut found);
    urls(&chars, &mut masked, &mut found);
    mask_markers(&chars, &mut masked);
    numbers(&chars, &masked, &mut found);
    found.sort_by_key(|(pos, _, _)| *pos);
    let mut seen = HashSet::new();
    found
        .into_iter()
        .filter(|(_, _, f)| seen.insert(f.clone()))
        .map(|(_, _, f)| f)
        .collect()
}

/// A literal with its place: `start..end` in characters (a number split at a hyphen gives each
/// part the whole span).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Literal {
    pub start: usize,
    pub end: usize,
    pub fact: Fact,
}

/// Every literal of `text` in order, repeats included, with spans; `masked` characters (for
/// example slots) are skipped.
pub fn scan(chars: &[char], masked: &mut [bool]) -> Vec<Literal> {
    let mut found: Vec<(usize, usize, Fact)> = Vec::new();
    emails(chars, masked, &mut found);
    urls(chars, masked, &mut found);
    mask_markers(chars, masked);
    numbers(chars, masked, &mut found);
    found.sort_by_key(|(pos, _, _)| *pos);
    found
        .into_iter()
        .map(|(start, end, fact)| Literal { start, end, fact })
        .collect()
}

fn is_email_local(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '%' | '+' | '-')
}

fn is_host_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '.' | '-')
}

/// Whether `host` looks like a domain: two or more non-empty labels of ASCII letters, digits and
/// hyphens, the last 2-6 lowercase letters and the one before it two characters at least (so the
/// abbreviation `m.in.` is not a domain).
fn is_domain(host: &str) -> bool {
    let labels: Vec<&str> = host.split('.').collect();
    if labels.len() < 2 || labels.iter().any(|l| l.is_empty()) || labels[labels.len() - 2].len() < 2
    {
        return false;
    }
    if !host.chars().all(is_host_char) {
        return false;
    }
    let tld = labels[labels.len() - 1];
    (2..=6).contains(&tld.len()) && tld.chars().all(|c| c.is_ascii_lowercase())
}

fn emails(chars: &[char], masked: &mut [bool], found: &mut Vec<(usize, usize, Fact)>) {
    for at in 0..chars.len() {
        if chars[at] != '@' || masked[at] {
            continue;
        }
        let mut start = at;
        while start > 0 && is_email_local(chars[start - 1]) && !masked[start - 1] {
            start -= 1;
        }
        while start < at && chars[start] == '.' {
            start += 1;
        }
        let mut end = at + 1;
        while end < chars.len() && is_host_char(chars[end]) {
            end += 1;
        }
        while end > at + 1 && matches!(chars[end - 1], '.' | '-') {
            end -= 1;
        }
        if start == at {
            continue;
        }
        let host: String = chars[at + 1..end].iter().collect::<String>();
        if !is_domain(&host.to_ascii_lowercase()) {
            continue;
        }
        let address: String = chars[start..end].iter().collect();
        found.push((
            start,
            end,
            Fact::new(FactKind::Email, address.to_lowercase()),
        ));
        masked[start..end].iter_mut().for_each(|m| *m = true);
    }
}

/// Opening and closing punctuation trimmed off a token before it is checked as an address.
fn is_open_punct(c: char) -> bool {
    matches!(c, '(' | '<' | '"' | '\'' | '„' | '“' | '«' | '[' | '{')
}

fn is_close_punct(c: char) -> bool {
    matches!(
        c,
        ')' | '>' | '"' | '\'' | '”' | '»' | ']' | '}' | '.' | ',' | ';' | ':' | '!' | '?'
    )
}

/// The normalised address in `token` (ASCII), if it is one.
fn url_value(token: &str) -> Option<String> {
    let lower = token.to_lowercase();
    let (rest, explicit) = if let Some(r) = lower.strip_prefix("https://") {
        (r, true)
    } else if let Some(r) = lower.strip_prefix("http://") {
        (r, true)
    } else {
        (lower.as_str(), false)
    };
    let rest = rest.strip_prefix("www.").unwrap_or(rest);
    let host_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let host = &rest[..host_end];
    let host_ok = if explicit {
        !host.is_empty() && host.chars().all(is_host_char)
    } else {
        // The host as written (`token` is ASCII, so lowercasing kept every byte offset): an
        // uppercase last label is more likely a missing space, "end.Start".
        token
            .get(token.len() - rest.len()..)
            .and_then(|h| h.get(..host_end))
            .is_some_and(is_domain)
    };
    if !host_ok {
        return None;
    }
    Some(rest.trim_end_matches('/').to_string())
}

fn urls(chars: &[char], masked: &mut [bool], found: &mut Vec<(usize, usize, Fact)>) {
    let mut i = 0;
    while i < chars.len() {
        if masked[i] || chars[i].is_whitespace() {
            i += 1;
            continue;
        }
        let mut end = i;
        while end < chars.len() && !masked[end] && !chars[end].is_whitespace() {
            end += 1;
        }
        let (mut s, mut e) = (i, end);
        while s < e && is_open_punct(chars[s]) {
            s += 1;
        }
        while e > s && is_close_punct(chars[e - 1]) {
            e -= 1;
        }
        if s < e {
            let token: String = chars[s..e].iter().collect();
            // Addresses are ASCII here (internationalised domains are not recognised).
            if token.contains('.') && token.is_ascii() {
                if let Some(value) = url_value(&token) {
                    found.push((s, e, Fact::new(FactKind::Url, value)));
                    masked[s..e].iter_mut().for_each(|m| *m = true);
                }
            }
        }
        i = end;
    }
}

/// Masks citation markers (`[1]`, `[1, 2]`) and list markers at line starts (`1.`, `2)`).
fn mask_markers(chars: &[char], masked: &mut [bool]) {
    let mut i = 0;
    while i < chars.len() {
        if chars[i] == '[' {
            let mut j = i + 1;
            while j < chars.len()
                && (chars[j].is_ascii_digit() || chars[j] == ',' || is_space_sep(chars[j]))
            {
                j += 1;
            }
            if j < chars.len()
                && chars[j] == ']'
                && chars[i + 1..j].iter().any(char::is_ascii_digit)
            {
                masked[i..=j].iter_mut().for_each(|m| *m = true);
                i = j + 1;
                continue;
            }
        }
        i += 1;
    }
    let mut line_start = 0;
    for i in 0..=chars.len() {
        if i < chars.len() && chars[i] != '\n' {
            continue;
        }
        let mut j = line_start;
        while j < i && (is_space_sep(chars[j]) || chars[j] == '\t') {
            j += 1;
        }
        let digits_start = j;
        while j < i && chars[j].is_ascii_digit() {
            j += 1;
        }
        if j > digits_start
            && j + 1 < i
            && matches!(chars[j], '.' | ')')
            && chars[j + 1].is_whitespace()
        {
            masked[digits_start..=j].iter_mut().for_each(|m| *m = true);
        }
        line_start = i + 1;
    }
}

fn numbers(chars: &[char], masked: &[bool], found: &mut Vec<(usize, usize, Fact)>) {
    let n = chars.len();
    let digit_at = |k: usize| k < n && !masked[k] && chars[k].is_ascii_digit();
    let mut i = 0;
    while i < n {
        let plus = chars[i] == '+' && !masked[i] && digit_at(i + 1);
        if !(digit_at(i) || plus) {
            i += 1;
            continue;
        }
        let glued = i > 0 && !masked[i - 1] && chars[i - 1].is_alphanumeric();
        if glued {
            // Digits inside a word (`Przelewy24`, `PL61`): skip the word. A `+` glued to a word
            // (`a+1`) is skipped on its own, so the scan always moves on.
            i += 1;
            while i < n && !masked[i] && chars[i].is_alphanumeric() {
                i += 1;
            }
            continue;
        }
        let start = i;
        let mut j = if plus { i + 1 } else { i };
        while j < n && !masked[j] {
            if chars[j].is_ascii_digit() || (is_number_sep(chars[j]) && digit_at(j + 1)) {
                j += 1;
            } else {
                break;
            }
        }
        let span: String = chars[start..j].iter().collect();
        for value in classify(&span) {
            found.push((start, j, value));
        }
        i = j;
    }
}

/// The facts of one number span (digits and separators, perhaps a leading `+`).
fn classify(span: &str) -> Vec<Fact> {
    let digits: String = span.chars().filter(char::is_ascii_digit).collect();
    let plus = span.starts_with('+');
    let only_groups = span
        .chars()
        .all(|c| c.is_ascii_digit() || c == '-' || c == '+' || is_space_sep(c));
    if (plus && digits.len() >= 7) || (only_groups && digits.len() >= 9) {
        return vec![Fact::new(FactKind::Phone, digits)];
    }
    let span = span.trim_start_matches('+');
    let mut out = Vec::new();
    for part in span.split('-').filter(|p| !p.is_empty()) {
        if part.contains(':') {
            let pieces: Vec<&str> = part.split(':').collect();
            match pieces.as_slice() {
                [h, m]
                    if m.len() == 2
                        && h.chars().all(|c| c.is_ascii_digit())
                        && m.chars().all(|c| c.is_ascii_digit()) =>
                {
                    let h = strip_leading_zeros(h);
                    let value = if *m == "00" { h } else { format!("{h}:{m}") };
                    out.push(Fact::new(FactKind::Number, value));
                }
                _ => pieces.iter().for_each(|p| plain_number(p, &mut out)),
            }
        } else {
            plain_number(part, &mut out);
        }
    }
    out
}

/// Digits with spaces, commas and dots: one number when the separators read as thousands and
/// decimal separators, else each group on its own.
fn plain_number(part: &str, out: &mut Vec<Fact>) {
    let groups: Vec<&str> = part.split(is_space_sep).filter(|g| !g.is_empty()).collect();
    if groups.len() > 1 {
        let pure = |g: &str| g.chars().all(|c| c.is_ascii_digit());
        let thousands = (1..=3).contains(&groups[0].len())
            && pure(groups[0])
            && groups[1..groups.len() - 1]
                .iter()
                .all(|g| g.len() == 3 && pure(g))
            && {
                let last = groups[groups.len() - 1];
                let int_len = last.find([',', '.']).unwrap_or(last.len());
                int_len == 3 && pure(&last[..int_len])
            };
        if thousands {
            push_punctuated(&groups.concat(), out);
        } else {
            groups.iter().for_each(|g| push_punctuated(g, out));
        }
        return;
    }
    if let Some(g) = groups.first() {
        push_punctuated(g, out);
    }
}

/// Digits with `,` and `.`: see [`facts`] for how separators are read.
fn push_punctuated(s: &str, out: &mut Vec<Fact>) {
    let commas = s.matches(',').count();
    let dots = s.matches('.').count();
    let split_all = |out: &mut Vec<Fact>| {
        s.split([',', '.'])
            .filter(|p| !p.is_empty())
            .for_each(|p| out.push(Fact::new(FactKind::Number, normalise(p, ""))))
    };
    let (int, frac) = match (commas, dots) {
        (0, 0) => (s.to_string(), String::new()),
        (c, d) if c > 0 && d > 0 => {
            let dec = if s.rfind(',') > s.rfind('.') {
                ','
            } else {
                '.'
            };
            let thou = if dec == ',' { '.' } else { ',' };
            if s.matches(dec).count() > 1 {
                split_all(out);
                return;
            }
            let Some((int, frac)) = s.split_once(dec) else {
                split_all(out);
                return;
            };
            (int.replace(thou, ""), frac.to_string())
        }
        _ => {
            let sep = if commas > 0 { ',' } else { '.' };
            let groups: Vec<&str> = s.split(sep).collect();
            // `0,500` is a fraction, not five hundred.
            let thousands = (1..=3).contains(&groups[0].len())
                && !groups[0].starts_with('0')
                && groups[1..].iter().all(|g| g.len() == 3);
            if thousands {
                (groups.concat(), String::new())
            } else if groups.len() == 2 {
                (groups[0].to_string(), groups[1].to_string())
            } else {
                split_all(out);
                return;
            }
        }
    };
    out.push(Fact::new(FactKind::Number, normalise(&int, &frac)));
}

fn strip_leading_zeros(s: &str) -> String {
    let t = s.trim_start_matches('0');
    if t.is_empty() {
        "0".to_string()
    } else {
        t.to_string()
    }
}

/// `int.frac` without leading zeros in the integer part nor trailing zeros in the fraction.
fn normalise(int: &str, frac: &str) -> String {
    let int = strip_leading_zeros(int);
    let frac = frac.trim_end_matches('0');
    if frac.is_empty() {
        int
    } else {
        format!("{int}.{frac}")
    }
}

/// Maximal digit runs of `text` without leading zeros, wherever they are (also in words and
/// addresses): numbers a draft may repeat from the prompt in another form.
pub fn digit_runs(text: &str) -> HashSet<String> {
    text.split(|c: char| !c.is_ascii_digit())
        .filter(|r| !r.is_empty())
        .map(strip_leading_zeros)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::test_strategies::{phrase, words};
    use super::*;
    use proptest::prelude::*;

    fn values(text: &str) -> Vec<String> {
        facts(text).into_iter().map(|f| f.value).collect()
    }

    fn kinds(text: &str) -> Vec<(FactKind, String)> {
        facts(text).into_iter().map(|f| (f.kind, f.value)).collect()
    }

    #[test]
    fn polish_and_english_amounts_normalise_alike() {
        assert_eq!(values("Paczkomat kosztuje 12,99 zł."), ["12.99"]);
        assert_eq!(values("An InPost Paczkomat costs 12.99 zł."), ["12.99"]);
        assert_eq!(values("zamówienia do 3 000 zł"), ["3000"]);
        assert_eq!(values("orders up to 3,000 zł"), ["3000"]);
        assert_eq!(values("od 300 zł do 20 000 zł"), ["300", "20000"]);
        assert_eq!(values("from 300 zł to 20,000 zł"), ["300", "20000"]);
        assert_eq!(values("1\u{a0}000 zł and 1000 zł"), ["1000"]);
        assert_eq!(values("10,00 zł, 10.50 zł, 0,5 l"), ["10", "10.5", "0.5"]);
        assert_eq!(values("1 000,50 zł = 1,000.50 zł"), ["1000.5"]);
    }

    #[test]
    fn hours_ranges_percentages_and_lists() {
        assert_eq!(
            values("pon.–pt. 8:00–20:00, sob. 9:00–15:00"),
            ["8", "20", "9", "15"]
        );
        assert_eq!(values("Mon–Fri 8–20, at 9:30"), ["8", "20", "9:30"]);
        assert_eq!(values("10 rat 0% (RRSO 0%)"), ["10", "0"]);
        assert_eq!(values("a 10% code"), ["10"]);
        assert_eq!(
            values("50, 100, 200, 300 i 500 zł"),
            ["50", "100", "200", "300", "500"]
        );
        assert_eq!(values("w 1-2 dni"), ["1", "2"]);
        assert_eq!(values("41 × 38 × 64 cm"), ["41", "38", "64"]);
        assert_eq!(
            values("ul. Składowa 12, 61-897 Poznań"),
            ["12", "61", "897"]
        );
    }

    #[test]
    fn phones_and_identifiers() {
        assert_eq!(
            kinds("zadzwoń pod +48 61 555 20 40 (pon.–pt.)"),
            [(FactKind::Phone, "48615552040".to_string())]
        );
        assert_eq!(
            kinds("call 61 555 20 40"),
            [(FactKind::Phone, "615552040".to_string())]
        );
        assert_eq!(
            kinds("NIP 7781234567"),
            [(FactKind::Phone, "7781234567".to_string())]
        );
        // The country code may be left out.
        let with = Fact::new(FactKind::Phone, "48615552040");
        let without = Fact::new(FactKind::Phone, "615552040");
        assert!(with.matches(&without) && without.matches(&with));
        assert!(!with.matches(&Fact::new(FactKind::Phone, "5552040")));
        // Digits glued to letters are words, not numbers; the account number is one identifier.
        assert_eq!(
            kinds("PL61 1090 1014 0000 0712 1981 2874 via Przelewy24"),
            [(FactKind::Phone, "109010140000071219812874".to_string())]
        );
    }

    #[test]
    fn emails_and_urls() {
        assert_eq!(
            kinds("Napisz na pomoc@polnapolka.pl lub wejdź na https://polnapolka.pl/zwroty."),
            [
                (FactKind::Email, "pomoc@polnapolka.pl".to_string()),
                (FactKind::Url, "polnapolka.pl/zwroty".to_string()),
            ]
        );
        assert_eq!(
            kinds("(see www.PolnaPolka.pl/en/returns/) or polnapolka.pl/en/tracking, e.g. now"),
            [
                (FactKind::Url, "polnapolka.pl/en/returns".to_string()),
                (FactKind::Url, "polnapolka.pl/en/tracking".to_string()),
            ]
        );
        assert_eq!(
            kinds("Write to Help@PolnaPolka.pl."),
            [(FactKind::Email, "help@polnapolka.pl".to_string())]
        );
        // Abbreviations and amounts are not domains.
        assert_eq!(
            values(
                "Polna Półka sp. z o.o., Santander S.A., m.in. patelnie, np. 12.99, e.g. 1 a.m."
            ),
            ["12.99", "1"]
        );
        assert_eq!(values("jan2@xy.pl"), ["jan2@xy.pl"]);
    }

    #[test]
    fn a_plus_glued_to_a_word_does_not_stall_the_scan() {
        // Found by the property test of check::facts: "a+1" looped forever.
        assert!(values("a+1 b+2 c+48").is_empty());
    }

    #[test]
    fn citations_and_list_markers_are_not_facts() {
        assert_eq!(
            values("You have 30 days [1]. Free from 199 zł [1, 2]."),
            ["30", "199"]
        );
        assert_eq!(
            values("Steps:\n1. Fill in the form.\n2) Send it within 14 days.\n  3. Done"),
            ["14"]
        );
        assert!(facts("").is_empty());
        assert!(facts("Nie ma tu żadnych liczb.").is_empty());
    }

    #[test]
    fn facts_are_distinct_in_order_of_appearance() {
        assert_eq!(
            values("14 dni na odstąpienie, 30 dni na zgłoszenie, potem 14 dni na odesłanie"),
            ["14", "30"]
        );
    }

    proptest! {
        #[test]
        fn facts_survive_surrounding_words(before in words(), p in phrase(), after in words()) {
            let alone = facts(&p);
            prop_assert!(!alone.is_empty(), "{p}");
            let wrapped = facts(&format!("{before} {p} {after}"));
            prop_assert_eq!(wrapped, alone);
        }

        #[test]
        fn spellings_of_one_number_agree(n in 0u32..1_000_000, gr in 0u32..100) {
            let plain = values(&format!("{n} dni"));
            prop_assert_eq!(&plain, &values(&format!("{n} days")));
            prop_assert_eq!(&plain, &values(&format!("within {n}.")));
            let pl = {
                let s = n.to_string();
                let mut out = String::new();
                for (i, c) in s.chars().enumerate() {
                    if i > 0 && (s.len() - i) % 3 == 0 {
                        out.push(' ');
                    }
                    out.push(c);
                }
                out
            };
            let en = pl.replace(' ', ",");
            prop_assert_eq!(&plain, &values(&format!("{pl} zł")));
            prop_assert_eq!(&plain, &values(&format!("{en} zł")));
            prop_assert_eq!(values(&format!("{n},{gr:02} zł")), values(&format!("{n}.{gr:02}")));
        }
    }
}

/// Generators of fact-bearing text for property tests here and in the draft evaluation.
#[cfg(test)]
pub(crate) mod test_strategies {
    use proptest::prelude::*;

    /// Text around a fact: words of letters only, so they cannot glue to a number.
    pub fn words() -> impl Strategy<Value = String> {
        proptest::collection::vec("[a-zA-ZąęłóśźżćńĄĘŁÓŚŹŻĆŃ]{1,9}", 0..6).prop_map(|w| w.join(" "))
    }

    /// Fact-bearing phrases in Polish and English spellings.
    pub fn phrase() -> impl Strategy<Value = String> {
        prop_oneof![
            (1u32..100_000, 0u32..100).prop_map(|(z, g)| format!("{z},{g:02} zł")),
            (1u32..100_000, 0u32..100).prop_map(|(z, g)| format!("{z}.{g:02}")),
            (0u32..1_000_000).prop_map(|n| format!("{n} dni")),
            (0u32..24, 0u32..60).prop_map(|(h, m)| format!("{h}:{m:02}")),
            (0u32..100).prop_map(|n| format!("{n}%")),
            (100_000_000u64..999_999_999).prop_map(|n| format!("+48 {n}")),
            "[a-z]{1,8}@[a-z]{2,8}\\.(pl|com|eu)",
            "https://[a-z]{2,8}\\.(pl|com)/[a-z]{1,8}",
        ]
    }
}
