//! Typed facts of a text for the checker: amounts with currencies, durations and quantities with
//! units, percentages, dates, times, order ids, contact literals, named entities and names.
//!
//! Built on [`super::literals`] (which finds the numbers, phone numbers, e-mail addresses and
//! URLs); this module gives the numbers their units (also numbers written as words before a unit,
//! "czternaście dni" = "14 days"), finds dates, times and order ids first, and reads the known
//! entities (couriers, payment methods, contact channels, cities, weekdays) and other names. Every
//! fact keeps its character span. Placeholders such as `{{order_id}}` are not facts.

use std::sync::LazyLock;

use regex::Regex;
use serde::Serialize;

use super::literals::{self, FactKind as LiteralKind};
use super::Span;
use crate::util::fold;

/// What kind of fact; facts of one kind with different values contradict each other.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// An amount of money; `unit` is the currency.
    Money,
    Percent,
    /// A length of time; `unit` says which (weeks are counted in days).
    Duration,
    /// A weight, size or count with a unit.
    Quantity,
    /// A number without a unit.
    Number,
    /// A calendar date, `YYYY-MM-DD` or `MM-DD` when the year is not given.
    Date,
    /// A time of day, `HH:MM`.
    Time,
    Phone,
    Email,
    Url,
    /// An order, parcel or ticket number (`PP-2026-10442`, `#123456`).
    OrderId,
    /// A known entity (courier, payment method, channel, city, weekday); `group` says which.
    Entity,
    /// Another proper name (a capitalised word that does not start a sentence).
    Name,
}

/// The unit of a number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Unit {
    Pln,
    Eur,
    Usd,
    Day,
    WorkingDay,
    Hour,
    Minute,
    Month,
    Year,
    Kg,
    G,
    Cm,
    Char,
    Item,
}

impl Unit {
    fn kind(self) -> Kind {
        match self {
            Unit::Pln | Unit::Eur | Unit::Usd => Kind::Money,
            Unit::Day | Unit::WorkingDay | Unit::Hour | Unit::Minute | Unit::Month | Unit::Year => {
                Kind::Duration
            }
            Unit::Kg | Unit::G | Unit::Cm | Unit::Char | Unit::Item => Kind::Quantity,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Unit::Pln => "PLN",
            Unit::Eur => "EUR",
            Unit::Usd => "USD",
            Unit::Day => "days",
            Unit::WorkingDay => "working days",
            Unit::Hour => "hours",
            Unit::Minute => "minutes",
            Unit::Month => "months",
            Unit::Year => "years",
            Unit::Kg => "kg",
            Unit::G => "g",
            Unit::Cm => "cm",
            Unit::Char => "characters",
            Unit::Item => "items",
        }
    }
}

/// One fact of a text.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Fact {
    pub kind: Kind,
    pub unit: Option<Unit>,
    /// The normalised value: `49.99`, `2026-03-12`, `09:30`, `inpost`, an e-mail lowercased...
    pub value: String,
    /// For entities, the group (`courier`, `payment`, `channel`, `city`, `weekday`).
    pub group: Option<&'static str>,
    /// Where it is, in characters.
    pub span: Span,
    /// The text as written.
    pub text: String,
}

impl Fact {
    /// The value as a number, for numeric kinds.
    pub fn number(&self) -> Option<f64> {
        match self.kind {
            Kind::Money | Kind::Percent | Kind::Duration | Kind::Quantity | Kind::Number => {
                self.value.parse().ok()
            }
            Kind::Time => {
                let (h, m) = self.value.split_once(':')?;
                Some(h.parse::<f64>().ok()? + m.parse::<f64>().ok()? / 60.0)
            }
            Kind::Date
            | Kind::Phone
            | Kind::Email
            | Kind::Url
            | Kind::OrderId
            | Kind::Entity
            | Kind::Name => None,
        }
    }

    /// How the value reads in a message: `14 days`, `49.99 PLN`, `10%`, `inpost`.
    pub fn describe(&self) -> String {
        match (self.kind, self.unit) {
            (Kind::Percent, _) => format!("{}%", self.value),
            (_, Some(u)) => format!("{} {}", self.value, u.as_str()),
            _ => self.text.clone(),
        }
    }

    /// Whether `other` states the same fact. A bare number (or an hour) also matches the same
    /// number with a unit: drafts and answers often leave the unit implied ("od 8 do 16" and
    /// "from 8:00 to 16:00").
    pub fn same_as(&self, other: &Fact) -> bool {
        if self.kind == other.kind && self.unit == other.unit {
            return match self.kind {
                Kind::Phone => {
                    let (s, l) = if self.value.len() <= other.value.len() {
                        (&self.value, &other.value)
                    } else {
                        (&other.value, &self.value)
                    };
                    s == l || (s.len() >= 9 && l.ends_with(s.as_str()))
                }
                Kind::Name => name_matches(&self.value, &other.value),
                Kind::Money
                | Kind::Percent
                | Kind::Duration
                | Kind::Quantity
                | Kind::Number
                | Kind::Date
                | Kind::Time
                | Kind::Email
                | Kind::Url
                | Kind::OrderId
                | Kind::Entity => self.value == other.value,
            };
        }
        let loose = |a: &Fact| matches!(a.kind, Kind::Number | Kind::Time);
        if loose(self) || loose(other) {
            if let (Some(a), Some(b)) = (self.number(), other.number()) {
                return (a - b).abs() < 1e-9;
            }
        }
        false
    }

    /// Whether the reference fact `r` states this (draft) fact: as [`Fact::same_as`], except that
    /// a fact with a unit needs the same unit in the reference ("4 zł" is not stated by step
    /// "4"), while a bare number may take its unit from the reference.
    pub fn stated_by(&self, r: &Fact) -> bool {
        if matches!(self.kind, Kind::Number | Kind::Time) {
            self.same_as(r)
        } else {
            self.kind == r.kind && self.unit == r.unit && self.same_as(r)
        }
    }

    /// Whether a different value of `other` would contradict this fact: the same kind (entities
    /// of the same group).
    pub fn comparable(&self, other: &Fact) -> bool {
        self.kind == other.kind
            && match self.kind {
                Kind::Entity => self.group == other.group,
                Kind::Name => false,
                Kind::Money
                | Kind::Percent
                | Kind::Duration
                | Kind::Quantity
                | Kind::Number
                | Kind::Date
                | Kind::Time
                | Kind::Phone
                | Kind::Email
                | Kind::Url
                | Kind::OrderId => true,
            }
    }
}

/// Two names match when one's words each start with a stem of the other's (inflection:
/// "InPost" and "InPostu", "Kraków" and "Krakowie").
fn name_matches(a: &str, b: &str) -> bool {
    let words_a: Vec<&str> = a.split_whitespace().collect();
    let words_b: Vec<&str> = b.split_whitespace().collect();
    words_a.len() == words_b.len()
        && words_a
            .iter()
            .zip(&words_b)
            .all(|(x, y)| stem(x) == stem(y) || x.starts_with(stem(y)) || y.starts_with(stem(x)))
}

/// A crude stem: the word without its last two characters, four characters at least.
pub fn stem(word: &str) -> &str {
    let n = word.chars().count();
    let keep = n.saturating_sub(2).max(4).min(n);
    match word.char_indices().nth(keep) {
        Some((b, _)) => &word[..b],
        None => word,
    }
}

/// The facts of `text` in order of position (repeats included).
pub fn extract(text: &str) -> Vec<Fact> {
    let chars: Vec<char> = text.chars().collect();
    let folded = fold(text);
    let fchars: Vec<char> = folded.chars().collect();
    let byte_to_char = char_index(&folded);
    let mut masked = vec![false; chars.len()];
    let mut out = Vec::new();
    let push = |out: &mut Vec<Fact>, kind, unit, value: String, group, s: usize, e: usize| {
        out.push(Fact {
            kind,
            unit,
            value,
            group,
            span: Span::new(s, e),
            text: chars[s..e].iter().collect(),
        })
    };
    let mask =
        |masked: &mut [bool], s: usize, e: usize| masked[s..e].iter_mut().for_each(|m| *m = true);
    let free = |masked: &[bool], s: usize, e: usize| !masked[s..e].iter().any(|&m| m);

    // Placeholders are filled by code later: never facts.
    for m in SLOT.find_iter(&folded) {
        mask(&mut masked, byte_to_char[m.start()], byte_to_char[m.end()]);
    }
    // Order ids on the original text (they are upper case).
    for m in ORDER_ID.find_iter(text) {
        let (s, e) = (char_at(text, m.start()), char_at(text, m.end()));
        if free(&masked, s, e) {
            let value = m.as_str().trim_start_matches('#').to_uppercase();
            push(&mut out, Kind::OrderId, None, value, None, s, e);
            mask(&mut masked, s, e);
        }
    }
    for c in DATE_NUMERIC.captures_iter(&folded) {
        let m = c.get(0).expect("whole match");
        let (s, e) = (byte_to_char[m.start()], byte_to_char[m.end()]);
        let (d, mo, y) = if let Some(y) = c.name("y1") {
            (&c["d2"], &c["m2"], y.as_str())
        } else {
            (&c["d"], &c["m"], &c["y"])
        };
        if let Some(value) = date_value(Some(y), mo.parse().ok(), d) {
            if free(&masked, s, e) {
                push(&mut out, Kind::Date, None, value, None, s, e);
                mask(&mut masked, s, e);
            }
        }
    }
    for re in [&*DATE_DAY_MONTH, &*DATE_MONTH_DAY] {
        for c in re.captures_iter(&folded) {
            let m = c.get(0).expect("whole match");
            let (s, e) = (byte_to_char[m.start()], byte_to_char[m.end()]);
            let month = month_number(&c["month"]);
            if let Some(value) = date_value(c.name("year").map(|y| y.as_str()), month, &c["day"]) {
                if free(&masked, s, e) {
                    push(&mut out, Kind::Date, None, value, None, s, e);
                    mask(&mut masked, s, e);
                }
            }
        }
    }
    for c in TIME.captures_iter(&folded) {
        let m = c.get(0).expect("whole match");
        let (s, e) = (byte_to_char[m.start()], byte_to_char[m.end()]);
        let h: u32 = c["h"].parse().unwrap_or(99);
        if h < 24 && free(&masked, s, e) {
            push(
                &mut out,
                Kind::Time,
                None,
                format!("{h:02}:{}", &c["m"]),
                None,
                s,
                e,
            );
            mask(&mut masked, s, e);
        }
    }
    // Known entities before names, so that "Poczta Polska" is one courier and not a name.
    for (group, name, stems) in ENTITIES {
        for stem in *stems {
            for (b, _) in folded.match_indices(stem) {
                let s = byte_to_char[b];
                let e = s + stem.chars().count();
                let starts_word = s == 0 || !fchars[s - 1].is_alphanumeric();
                if !starts_word || !free(&masked, s, e) {
                    continue;
                }
                if stem.len() <= 3 && e < chars.len() && fchars[e].is_alphanumeric() {
                    continue;
                }
                let mut end = e;
                while end < chars.len() && chars[end].is_alphanumeric() {
                    end += 1;
                }
                push(
                    &mut out,
                    Kind::Entity,
                    None,
                    name.to_string(),
                    Some(*group),
                    s,
                    end,
                );
                mask(&mut masked, s, end);
            }
        }
    }

    // Numbers, phones, e-mails and URLs.
    let mut lit_mask = masked.clone();
    for lit in literals::scan(&chars, &mut lit_mask) {
        let (s, e) = (lit.start, lit.end);
        match lit.fact.kind {
            LiteralKind::Phone => push(&mut out, Kind::Phone, None, lit.fact.value, None, s, e),
            LiteralKind::Email => push(&mut out, Kind::Email, None, lit.fact.value, None, s, e),
            LiteralKind::Url => push(&mut out, Kind::Url, None, lit.fact.value, None, s, e),
            LiteralKind::Number => {
                let Ok(n) = lit.fact.value.parse::<f64>() else {
                    // "9:30" style hours the time rule did not take.
                    push(&mut out, Kind::Number, None, lit.fact.value, None, s, e);
                    continue;
                };
                let (kind, unit, n, end) = attach_unit(&chars, &fchars, s, e, n);
                push(&mut out, kind, unit, number_value(n), None, s, end.max(e));
                mask(&mut masked, s, end.max(e));
            }
        }
        mask(&mut masked, s, e);
    }
    // Small numbers written as words, only where a unit follows.
    number_words(&chars, &fchars, &mut masked, &mut out);
    // Names: capitalised words that do not start a sentence.
    names(&chars, &masked, &mut out);
    out.sort_by_key(|f| (f.span.start, f.span.end));
    share_units(&fchars, &mut out);
    out
}

/// In a list of numbers ending in a unit ("10, 20 lub 30 dni", "5 or 10%"), the bare numbers take
/// the last one's unit. Weeks are left alone (their value was converted to days).
fn share_units(fchars: &[char], facts: &mut [Fact]) {
    const JOINERS: &[&str] = &[
        "", ",", "lub", "albo", "i", "oraz", "or", "and", "to", "do", "-", "–",
    ];
    for i in (0..facts.len().saturating_sub(1)).rev() {
        let (head, tail) = facts.split_at_mut(i + 1);
        let (f, next) = (&mut head[i], &tail[0]);
        if f.kind != Kind::Number
            || !matches!(
                next.kind,
                Kind::Money | Kind::Duration | Kind::Quantity | Kind::Percent
            )
        {
            continue;
        }
        let gap: String = fchars[f.span.end..next.span.start].iter().collect();
        let weeks = ["tydz", "tygod", "week"]
            .iter()
            .any(|w| fold(&next.text).contains(w));
        if !weeks && JOINERS.contains(&gap.trim()) && f.span.end <= next.span.start {
            f.kind = next.kind;
            f.unit = next.unit;
        }
    }
}

/// Byte offset → char offset for every byte boundary of `s` (and its end).
fn char_index(s: &str) -> Vec<usize> {
    let mut v = vec![0; s.len() + 1];
    let mut n = 0;
    for (b, c) in s.char_indices() {
        for k in 0..c.len_utf8() {
            v[b + k] = n;
        }
        n += 1;
    }
    v[s.len()] = n;
    v
}

fn char_at(s: &str, byte: usize) -> usize {
    s[..byte].chars().count()
}

static SLOT: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"\{\{\s*[a-z_][a-z0-9_]*\s*(?:\|[^{}]*)?\}\}").expect("slot regex")
});
static ORDER_ID: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"\b[A-Z]{2,4}-\d{4}-\d{3,}\b|\b[A-Z]{2,4}-?\d{5,}\b|#\d{4,}\b")
        .expect("order id regex")
});
static DATE_NUMERIC: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"\b(?P<d>[0-3]?\d)[./](?P<m>[01]?\d)[./](?P<y>(?:19|20)\d\d)\b|\b(?P<y1>(?:19|20)\d\d)-(?P<m2>[01]\d)-(?P<d2>[0-3]\d)\b")
        .expect("date regex")
});
const MONTHS: &str = "stycznia|lutego|marca|kwietnia|maja|czerwca|lipca|sierpnia|wrzesnia|pazdziernika|listopada|grudnia|january|february|march|april|may|june|july|august|september|october|november|december|jan|feb|mar|apr|jun|jul|aug|sep|sept|oct|nov|dec";
static DATE_DAY_MONTH: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(&format!(
        r"\b(?P<day>[0-3]?\d)(?:st|nd|rd|th)?\.?\s+(?:of\s+)?(?P<month>{MONTHS})\b(?:\s+(?P<year>(?:19|20)\d\d)\b)?"
    ))
    .expect("date regex")
});
static DATE_MONTH_DAY: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(&format!(
        r"\b(?P<month>{MONTHS})\.?\s+(?P<day>[0-3]?\d)(?:st|nd|rd|th)?\b(?:,?\s+(?P<year>(?:19|20)\d\d)\b)?"
    ))
    .expect("date regex")
});
static TIME: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"\b(?P<h>[0-2]?\d):(?P<m>[0-5]\d)\b").expect("time regex"));

fn month_number(name: &str) -> Option<u32> {
    const NAMES: [&[&str]; 12] = [
        &["stycznia", "january", "jan"],
        &["lutego", "february", "feb"],
        &["marca", "march", "mar"],
        &["kwietnia", "april", "apr"],
        &["maja", "may"],
        &["czerwca", "june", "jun"],
        &["lipca", "july", "jul"],
        &["sierpnia", "august", "aug"],
        &["wrzesnia", "september", "sep", "sept"],
        &["pazdziernika", "october", "oct"],
        &["listopada", "november", "nov"],
        &["grudnia", "december", "dec"],
    ];
    NAMES
        .iter()
        .position(|ns| ns.contains(&name))
        .map(|i| i as u32 + 1)
}

fn date_value(year: Option<&str>, month: Option<u32>, day: &str) -> Option<String> {
    let month = month.filter(|m| (1..=12).contains(m))?;
    let day: u32 = day.parse().ok().filter(|d| (1..=31).contains(d))?;
    Some(match year {
        Some(y) => format!("{y}-{month:02}-{day:02}"),
        None => format!("{month:02}-{day:02}"),
    })
}

/// `14`, `49.99`: the shortest plain notation.
fn number_value(n: f64) -> String {
    if n.fract() == 0.0 && n.abs() < 1e15 {
        format!("{}", n as i64)
    } else {
        let s = format!("{n:.6}");
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    }
}

/// Units that follow a number, matched on folded words: (word, whole word only, unit).
const UNIT_WORDS: &[(&str, bool, Unit)] = &[
    ("zl", true, Unit::Pln),
    ("zlotych", false, Unit::Pln),
    ("zlote", false, Unit::Pln),
    ("zloty", false, Unit::Pln),
    ("pln", true, Unit::Pln),
    ("eur", true, Unit::Eur),
    ("euro", true, Unit::Eur),
    ("usd", true, Unit::Usd),
    ("dolar", false, Unit::Usd),
    ("dollar", false, Unit::Usd),
    ("dni", true, Unit::Day),
    ("dnia", true, Unit::Day),
    ("dniach", true, Unit::Day),
    ("dzien", true, Unit::Day),
    ("dniow", false, Unit::Day),
    ("doby", true, Unit::Day),
    ("dobe", true, Unit::Day),
    ("dob", true, Unit::Day),
    ("day", false, Unit::Day),
    ("godz", false, Unit::Hour),
    ("h", true, Unit::Hour),
    ("hour", false, Unit::Hour),
    ("hr", false, Unit::Hour),
    ("minut", false, Unit::Minute),
    ("min", true, Unit::Minute),
    ("tydzien", true, Unit::Day),
    ("tygodn", false, Unit::Day),
    ("week", false, Unit::Day),
    ("miesiac", false, Unit::Month),
    ("miesiec", false, Unit::Month),
    ("mies", true, Unit::Month),
    ("month", false, Unit::Month),
    ("rok", true, Unit::Year),
    ("roku", true, Unit::Year),
    ("lat", true, Unit::Year),
    ("lata", true, Unit::Year),
    ("latach", true, Unit::Year),
    ("letni", false, Unit::Year),
    ("year", false, Unit::Year),
    ("kg", true, Unit::Kg),
    ("kilogram", false, Unit::Kg),
    ("g", true, Unit::G),
    ("gram", false, Unit::G),
    ("cm", true, Unit::Cm),
    ("centymetr", false, Unit::Cm),
    ("centimet", false, Unit::Cm),
    ("znak", false, Unit::Char),
    ("character", false, Unit::Char),
    ("szt", true, Unit::Item),
    ("sztuk", false, Unit::Item),
    ("item", false, Unit::Item),
    ("piece", false, Unit::Item),
    ("produkt", false, Unit::Item),
    ("product", false, Unit::Item),
];

/// The folded word starting at `i` (letters only), and where it ends.
fn word_at(fchars: &[char], i: usize) -> (String, usize) {
    let mut j = i;
    while j < fchars.len() && fchars[j].is_alphabetic() {
        j += 1;
    }
    (fchars[i..j].iter().collect(), j)
}

fn skip_spaces(fchars: &[char], mut i: usize) -> usize {
    while i < fchars.len() && matches!(fchars[i], ' ' | '\u{a0}' | '\u{202f}' | '\u{2009}') {
        i += 1;
    }
    i
}

fn unit_of(word: &str) -> Option<Unit> {
    UNIT_WORDS
        .iter()
        .find(|(w, whole, _)| {
            if *whole {
                word == *w
            } else {
                word.starts_with(w)
            }
        })
        .map(|&(_, _, u)| u)
}

/// Reads the unit around the number at `s..e` with value `n`: a currency sign or code before or
/// after it, `%`, or a unit word after it (`dni roboczych`, `working days`, `14-day`).
/// Returns the kind, the unit, the value in that unit (weeks become days) and where the fact ends.
fn attach_unit(
    chars: &[char],
    fchars: &[char],
    s: usize,
    e: usize,
    n: f64,
) -> (Kind, Option<Unit>, f64, usize) {
    // Signs and codes before the number: "€49", "$5", "PLN 49,99", "zł 12".
    if s > 0 {
        match chars[s - 1] {
            '€' => return (Kind::Money, Some(Unit::Eur), n, e),
            '$' => return (Kind::Money, Some(Unit::Usd), n, e),
            _ => {}
        }
        let mut k = s;
        while k > 0 && fchars[k - 1] == ' ' {
            k -= 1;
        }
        let mut b = k;
        while b > 0 && fchars[b - 1].is_alphabetic() {
            b -= 1;
        }
        let before: String = fchars[b..k].iter().collect();
        let code = match before.as_str() {
            "zl" | "pln" => Some(Unit::Pln),
            "eur" => Some(Unit::Eur),
            "usd" => Some(Unit::Usd),
            _ => None,
        };
        if let Some(u) = code {
            return (Kind::Money, Some(u), n, e);
        }
    }
    let mut i = skip_spaces(fchars, e);
    if i < fchars.len() {
        match fchars[i] {
            '%' => return (Kind::Percent, None, n, i + 1),
            '€' => return (Kind::Money, Some(Unit::Eur), n, i + 1),
            '$' => return (Kind::Money, Some(Unit::Usd), n, i + 1),
            '-' if i == e => i += 1,
            _ => {}
        }
    }
    let (word, mut end) = word_at(fchars, i);
    if word.is_empty() {
        return (Kind::Number, None, n, e);
    }
    if word.starts_with("procent")
        || word == "percent"
        || word == "per" && {
            let (w2, _) = word_at(fchars, skip_spaces(fchars, end));
            w2 == "cent"
        }
    {
        return (Kind::Percent, None, n, end);
    }
    // "14 working days", "2 business days", "5 calendar days".
    if matches!(
        word.as_str(),
        "working" | "business" | "robocze" | "roboczych" | "roboczy"
    ) {
        let (w2, e2) = word_at(fchars, skip_spaces(fchars, end));
        if w2.starts_with("day") || w2.starts_with("dni") || w2.starts_with("dzien") {
            return (Kind::Duration, Some(Unit::WorkingDay), n, e2);
        }
    }
    let Some(mut unit) = unit_of(&word) else {
        return (Kind::Number, None, n, e);
    };
    let mut value = n;
    if matches!(word.as_str(), "tydzien") || word.starts_with("tygodn") || word.starts_with("week")
    {
        value = n * 7.0;
    }
    if unit == Unit::Day {
        // "dni robocze", "dnia roboczego".
        let (w2, e2) = word_at(fchars, skip_spaces(fchars, end));
        if w2.starts_with("robocz") {
            unit = Unit::WorkingDay;
            end = e2;
        }
    }
    (unit.kind(), Some(unit), value, end)
}

/// Polish and English number words up to 31, the tens and a hundred (folded forms).
fn number_word(w: &str) -> Option<u32> {
    const TABLE: &[(u32, &[&str])] = &[
        (0, &["zero"]),
        (
            1,
            &[
                "jeden", "jedna", "jedno", "jednego", "jednej", "jednym", "one",
            ],
        ),
        (
            2,
            &["dwa", "dwie", "dwoch", "dwu", "dwoma", "dwiema", "two"],
        ),
        (3, &["trzy", "trzech", "trzema", "three"]),
        (4, &["cztery", "czterech", "czterema", "four"]),
        (5, &["piec", "pieciu", "five"]),
        (6, &["szesc", "szesciu", "six"]),
        (7, &["siedem", "siedmiu", "seven"]),
        (8, &["osiem", "osmiu", "eight"]),
        (9, &["dziewiec", "dziewieciu", "nine"]),
        (10, &["dziesiec", "dziesieciu", "ten"]),
        (11, &["jedenascie", "jedenastu", "eleven"]),
        (12, &["dwanascie", "dwunastu", "twelve"]),
        (13, &["trzynascie", "trzynastu", "thirteen"]),
        (14, &["czternascie", "czternastu", "fourteen"]),
        (15, &["pietnascie", "pietnastu", "fifteen"]),
        (16, &["szesnascie", "szesnastu", "sixteen"]),
        (17, &["siedemnascie", "siedemnastu", "seventeen"]),
        (18, &["osiemnascie", "osiemnastu", "eighteen"]),
        (19, &["dziewietnascie", "dziewietnastu", "nineteen"]),
        (20, &["dwadziescia", "dwudziestu", "twenty"]),
        (30, &["trzydziesci", "trzydziestu", "thirty"]),
        (40, &["czterdziesci", "czterdziestu", "forty"]),
        (50, &["piecdziesiat", "piecdziesieciu", "fifty"]),
        (60, &["szescdziesiat", "szescdziesieciu", "sixty"]),
        (70, &["siedemdziesiat", "seventy"]),
        (80, &["osiemdziesiat", "eighty"]),
        (90, &["dziewiecdziesiat", "ninety"]),
        (100, &["sto", "stu", "hundred"]),
    ];
    TABLE
        .iter()
        .find(|(_, words)| words.contains(&w))
        .map(|(n, _)| *n)
}

fn number_words(chars: &[char], fchars: &[char], masked: &mut [bool], out: &mut Vec<Fact>) {
    let mut i = 0;
    while i < fchars.len() {
        if !fchars[i].is_alphabetic() || (i > 0 && fchars[i - 1].is_alphanumeric()) || masked[i] {
            i += 1;
            continue;
        }
        let (w, mut end) = word_at(fchars, i);
        let Some(mut n) = number_word(&w) else {
            i = end.max(i + 1);
            continue;
        };
        // "dwadzieścia jeden", "twenty-one", "one hundred".
        if n >= 20 && n % 10 == 0 && n < 100 {
            let j = if end < fchars.len() && fchars[end] == '-' {
                end + 1
            } else {
                skip_spaces(fchars, end)
            };
            let (w2, e2) = word_at(fchars, j);
            if let Some(u) = number_word(&w2).filter(|u| (1..10).contains(u)) {
                n += u;
                end = e2;
            }
        } else if n == 1 {
            let (w2, e2) = word_at(fchars, skip_spaces(fchars, end));
            if w2 == "hundred" {
                n = 100;
                end = e2;
            }
        }
        let (kind, unit, value, fact_end) = attach_unit(chars, fchars, i, end, f64::from(n));
        if unit.is_some() || kind == Kind::Percent {
            masked[i..fact_end].iter_mut().for_each(|m| *m = true);
            out.push(Fact {
                kind,
                unit,
                value: number_value(value),
                group: None,
                span: Span::new(i, fact_end),
                text: chars[i..fact_end].iter().collect(),
            });
        }
        i = end.max(i + 1);
    }
}

/// Known entities: (group, normalised name, folded prefixes that start a word).
const ENTITIES: &[(&str, &str, &[&str])] = &[
    ("courier", "inpost", &["inpost", "paczkomat"]),
    ("courier", "dpd", &["dpd"]),
    ("courier", "dhl", &["dhl"]),
    ("courier", "gls", &["gls"]),
    ("courier", "ups", &["ups"]),
    ("courier", "fedex", &["fedex"]),
    (
        "courier",
        "poczta polska",
        &[
            "poczta polska",
            "poczty polskiej",
            "poczcie polskiej",
            "poczta polska",
            "pocztex",
            "polish post",
        ],
    ),
    ("courier", "orlen paczka", &["orlen"]),
    ("payment", "blik", &["blik"]),
    ("payment", "paypo", &["paypo"]),
    ("payment", "paypal", &["paypal"]),
    ("payment", "przelewy24", &["przelewy24", "przelewy 24"]),
    ("payment", "google pay", &["google pay"]),
    ("payment", "apple pay", &["apple pay"]),
    ("payment", "visa", &["visa"]),
    ("payment", "mastercard", &["mastercard"]),
    (
        "payment",
        "cash on delivery",
        &["za pobraniem", "cash on delivery"],
    ),
    (
        "channel",
        "e-mail",
        &["e-mail", "email", "mailem", "mailowo"],
    ),
    (
        "channel",
        "phone",
        &[
            "telefonicz",
            "przez telefon",
            "zadzwon",
            "infolini",
            "by phone",
            "over the phone",
            "call us",
            "phone us",
            "hotline",
        ],
    ),
    ("channel", "chat", &["czat", "czac", "chat"]),
    ("city", "warszawa", &["warszaw", "warsaw"]),
    ("city", "krakow", &["krakow", "cracow"]),
    ("city", "poznan", &["poznan"]),
    ("city", "gdansk", &["gdansk"]),
    ("city", "wroclaw", &["wroclaw"]),
    ("city", "lodz", &["lodz"]),
    ("city", "katowice", &["katowic"]),
    ("city", "szczecin", &["szczecin"]),
    ("city", "lublin", &["lublin"]),
    // Abbreviations of three letters or fewer count only as whole words ("Mon–Fri", "pon.–pt.").
    ("weekday", "monday", &["poniedzial", "monday", "mon", "pon"]),
    (
        "weekday",
        "tuesday",
        &["wtorek", "wtorku", "wtorki", "tuesday", "tue", "wt"],
    ),
    (
        "weekday",
        "wednesday",
        &[
            "sroda",
            "srody",
            "srode",
            "srodzie",
            "wednesday",
            "wed",
            "sr",
        ],
    ),
    ("weekday", "thursday", &["czwart", "thursday", "thu", "czw"]),
    (
        "weekday",
        "friday",
        &["piatek", "piatku", "piatki", "friday", "fri", "pt"],
    ),
    ("weekday", "saturday", &["sobot", "saturday", "sat", "sob"]),
    ("weekday", "sunday", &["niedziel", "sunday", "sun", "ndz"]),
];

/// Capitalised words that are not names: abbreviations, and the Polish pronouns and forms of
/// address written with a capital in letters to a customer ("Twoje zamówienie", "Pani").
const NOT_NAMES: &[&str] = &[
    "I",
    "I'm",
    "I'll",
    "I've",
    "OK",
    "Ok",
    "AI",
    "FAQ",
    "PS",
    "NIP",
    "VAT",
    "Ty",
    "Ciebie",
    "Cię",
    "Ci",
    "Tobie",
    "Tobą",
    "Twój",
    "Twoja",
    "Twoje",
    "Twojego",
    "Twojej",
    "Twojemu",
    "Twoim",
    "Twoją",
    "Twoi",
    "Twoich",
    "Twoimi",
    "Wy",
    "Was",
    "Wam",
    "Wami",
    "Wasz",
    "Wasza",
    "Wasze",
    "Waszego",
    "Waszej",
    "Waszemu",
    "Waszym",
    "Waszą",
    "Wasi",
    "Waszych",
    "Waszymi",
    "Pan",
    "Pani",
    "Pana",
    "Panu",
    "Panem",
    "Panią",
    "Państwo",
    "Państwa",
    "Państwu",
    "Państwem",
];

/// Capitalised words (and runs of them) that do not start a sentence.
fn names(chars: &[char], masked: &[bool], out: &mut Vec<Fact>) {
    let n = chars.len();
    let mut i = 0;
    let mut run: Option<(usize, usize)> = None;
    let flush = |run: &mut Option<(usize, usize)>, out: &mut Vec<Fact>| {
        if let Some((s, e)) = run.take() {
            let text: String = chars[s..e].iter().collect();
            let value = fold(&text)
                .split(|c: char| !c.is_alphanumeric())
                .filter(|w| !w.is_empty())
                .collect::<Vec<_>>()
                .join(" ");
            out.push(Fact {
                kind: Kind::Name,
                unit: None,
                value,
                group: None,
                span: Span::new(s, e),
                text,
            });
        }
    };
    while i < n {
        let c = chars[i];
        let word_start = c.is_alphabetic() && (i == 0 || !chars[i - 1].is_alphanumeric());
        if !word_start {
            if !(c == ' ' || (c.is_alphanumeric())) {
                flush(&mut run, out);
            }
            i += 1;
            continue;
        }
        let mut j = i;
        while j < n
            && (chars[j].is_alphanumeric()
                || (chars[j] == '\'' && j + 1 < n && chars[j + 1].is_alphabetic())
                || (chars[j] == '-' && j + 1 < n && chars[j + 1].is_alphabetic()))
        {
            j += 1;
        }
        let word: String = chars[i..j].iter().collect();
        let is_name = c.is_uppercase()
            && j - i >= 2
            && !masked[i..j].iter().any(|&m| m)
            && !NOT_NAMES.contains(&word.as_str())
            && !starts_sentence(chars, i);
        if is_name {
            run = Some((run.map_or(i, |(s, _)| s), j));
        } else {
            flush(&mut run, out);
        }
        i = j;
    }
    flush(&mut run, out);
}

/// Whether the word at `i` starts a sentence, a line, a list item or a quotation.
fn starts_sentence(chars: &[char], i: usize) -> bool {
    let mut k = i;
    while k > 0 {
        let c = chars[k - 1];
        if c == ' ' || c == '\u{a0}' || c == '\t' {
            k -= 1;
            continue;
        }
        return matches!(
            c,
            '.' | '!'
                | '?'
                | ':'
                | ';'
                | '\n'
                | '"'
                | '„'
                | '“'
                | '«'
                | '('
                | '['
                | '-'
                | '–'
                | '—'
                | '*'
                | '•'
                | ')'
        );
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn described(text: &str) -> Vec<String> {
        extract(text)
            .iter()
            .filter(|f| f.kind != Kind::Name)
            .map(|f| format!("{:?}:{}", f.kind, f.describe()))
            .collect()
    }

    #[test]
    fn amounts_in_polish_and_english_notation_are_the_same_fact() {
        let pl = extract("Dostawa kosztuje 49,99 zł.");
        let en = extract("Delivery costs 49.99 PLN.");
        let code_first = extract("Koszt: PLN 49.99");
        for facts in [&pl, &en, &code_first] {
            let money: Vec<&Fact> = facts.iter().filter(|f| f.kind == Kind::Money).collect();
            assert_eq!(money.len(), 1, "{facts:?}");
            assert_eq!(money[0].value, "49.99");
            assert_eq!(money[0].unit, Some(Unit::Pln));
        }
        assert_eq!(described("Darmowa dostawa od 200 zł"), ["Money:200 PLN"]);
        assert_eq!(
            described("Shipping is €5 or 5 EUR"),
            ["Money:5 EUR", "Money:5 EUR"]
        );
        assert_eq!(
            described("Rabat 10% lub 15 procent"),
            ["Percent:10%", "Percent:15%"]
        );
    }

    #[test]
    fn durations_carry_their_units_and_weeks_count_in_days() {
        assert_eq!(described("Masz 30 dni na zwrot."), ["Duration:30 days"]);
        assert_eq!(
            described("Wysyłka w 2 dni robocze, odpowiedź w 24 godziny."),
            ["Duration:2 working days", "Duration:24 hours"]
        );
        assert_eq!(
            described("within 14 working days"),
            ["Duration:14 working days"]
        );
        assert_eq!(described("a 14-day return window"), ["Duration:14 days"]);
        assert_eq!(
            described("Gwarancja 2 lata, zwrot 2 tygodnie"),
            ["Duration:2 years", "Duration:14 days"]
        );
        assert_eq!(
            described("Paczka do 25 kg, 3 szt."),
            ["Quantity:25 kg", "Quantity:3 items"]
        );
    }

    #[test]
    fn number_words_before_a_unit_are_numbers() {
        assert_eq!(
            described("Masz czternaście dni na zwrot."),
            ["Duration:14 days"]
        );
        assert_eq!(described("You have fourteen days."), ["Duration:14 days"]);
        assert_eq!(
            described("w ciagu dwoch dni roboczych"),
            ["Duration:2 working days"]
        );
        assert_eq!(
            described("twenty-one days or dwadzieścia jeden dni"),
            ["Duration:21 days", "Duration:21 days"]
        );
        // Not before a unit: not a fact ("one of our couriers", "jeden z kurierów").
        assert!(described("one of our couriers, jeden z kurierów").is_empty());
    }

    #[test]
    fn dates_times_and_order_ids() {
        assert_eq!(described("do 12.03.2026 r."), ["Date:12.03.2026"]);
        assert_eq!(extract("do 12.03.2026 r.")[0].value, "2026-03-12");
        assert_eq!(extract("by March 12, 2026")[0].value, "2026-03-12");
        assert_eq!(extract("do 12 marca 2026")[0].value, "2026-03-12");
        assert_eq!(extract("od 24 grudnia")[0].value, "12-24");
        let t = extract("Czynne 8:00–16:30.");
        assert_eq!(
            t.iter().map(|f| f.value.as_str()).collect::<Vec<_>>(),
            ["08:00", "16:30"]
        );
        let ids = extract("Zamówienie PP-2026-10442 i paczka #1234567");
        let ids: Vec<&str> = ids
            .iter()
            .filter(|f| f.kind == Kind::OrderId)
            .map(|f| f.value.as_str())
            .collect();
        assert_eq!(ids, ["PP-2026-10442", "1234567"]);
    }

    #[test]
    fn contacts_entities_and_names() {
        let f = extract("Napisz na kontakt@polnapolka.pl lub zadzwoń: +48 22 123 45 67. Wysyłamy przez InPost i DPD, płatność BLIK. Magazyn w Poznaniu obsługuje Jan Kowalski.");
        let kinds: Vec<(Kind, &str)> = f.iter().map(|f| (f.kind, f.value.as_str())).collect();
        assert!(
            kinds.contains(&(Kind::Email, "kontakt@polnapolka.pl")),
            "{kinds:?}"
        );
        assert!(kinds.contains(&(Kind::Phone, "48221234567")), "{kinds:?}");
        assert!(
            kinds.contains(&(Kind::Entity, "inpost")) && kinds.contains(&(Kind::Entity, "dpd"))
        );
        assert!(
            kinds.contains(&(Kind::Entity, "blik")) && kinds.contains(&(Kind::Entity, "poznan"))
        );
        assert!(
            kinds.contains(&(Kind::Entity, "phone")),
            "zadzwoń is the phone channel"
        );
        assert!(kinds.contains(&(Kind::Name, "jan kowalski")), "{kinds:?}");
        // Sentence starts are not names.
        assert!(!kinds
            .iter()
            .any(|(k, v)| *k == Kind::Name && (*v == "napisz" || *v == "wysylamy")));
    }

    #[test]
    fn slots_are_not_facts() {
        assert!(extract("Zamówienie {{order_id}} ma status {{ order_status }}.").is_empty());
    }

    proptest! {
        #[test]
        fn extraction_never_panics_and_spans_slice_the_text(text in "\\PC{0,80}") {
            let chars: Vec<char> = text.chars().collect();
            for f in extract(&text) {
                prop_assert!(f.span.start < f.span.end && f.span.end <= chars.len());
                prop_assert_eq!(f.span.slice(&text), f.text.clone());
            }
        }

        #[test]
        fn extraction_terminates_on_dense_number_text(text in "[a-zA-Z0-9+ .,:;%€$#@/{}|-]{0,60}( (zł|dni|PLN|days|kg|%|marca|tygodnie))?") {
            let n = text.chars().count();
            for f in extract(&text) {
                prop_assert!(f.span.end <= n);
            }
        }

        #[test]
        fn any_amount_reads_the_same_in_both_notations(zl in 0u32..100_000, gr in 1u32..100) {
            let pl = extract(&format!("Cena: {zl},{gr:02} zł"));
            let en = extract(&format!("Price: {zl}.{gr:02} PLN"));
            prop_assert_eq!(pl.len(), 1);
            prop_assert_eq!(en.len(), 1);
            prop_assert_eq!(pl[0].kind, Kind::Money);
            prop_assert!(pl[0].same_as(&en[0]), "{:?} vs {:?}", pl[0], en[0]);
        }

        #[test]
        fn small_numbers_as_words_equal_digits(n in 0usize..=19, en in any::<bool>()) {
            const PL: [&str; 20] = ["zero", "jeden", "dwa", "trzy", "cztery", "pięć", "sześć", "siedem", "osiem", "dziewięć", "dziesięć", "jedenaście", "dwanaście", "trzynaście", "czternaście", "piętnaście", "szesnaście", "siedemnaście", "osiemnaście", "dziewiętnaście"];
            const EN: [&str; 20] = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "eleven", "twelve", "thirteen", "fourteen", "fifteen", "sixteen", "seventeen", "eighteen", "nineteen"];
            let (word, unit) = if en { (EN[n], "days") } else { (PL[n], "dni") };
            let words = extract(&format!("w ciągu {word} {unit}"));
            let digits = extract(&format!("w ciągu {n} {unit}"));
            prop_assert_eq!(words.len(), 1, "{:?}", words);
            prop_assert!(words[0].same_as(&digits[0]), "{:?} vs {:?}", words, digits);
        }
    }
}
