//! The perturbation suite for the consistency checker: approved answers changed the ways a small
//! model gets them wrong (swapped numbers, amounts, deadlines, entities; negations inserted or
//! removed) and changed in ways that keep the facts (reordered, reworded, slots filled).
//!
//! Built deterministically from a seed, so two runs compare; scored by [`crate::check::check`].

use std::collections::BTreeMap;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::Serialize;

use super::metrics::ratio;
use crate::knowledge::Lang;

/// How an answer was changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PerturbKind {
    /// A bare number changed.
    NumberSwap,
    /// An amount of money changed.
    AmountSwap,
    /// A duration (days, hours, working days...) changed.
    DeadlineSwap,
    /// A negation added to an affirmative statement.
    NegationInserted,
    /// A negation taken out.
    NegationRemoved,
    /// A courier, payment method or contact channel replaced by another.
    EntitySwap,
    /// Faithful: the sentences in another order.
    Reordered,
    /// Faithful: a few words replaced by synonyms.
    Reworded,
    /// Faithful: personalisation slots filled with the customer's values.
    SlotsFilled,
}

impl PerturbKind {
    /// A contradiction the checker must flag (the others are faithful variants).
    pub fn is_contradiction(self) -> bool {
        match self {
            PerturbKind::NumberSwap
            | PerturbKind::AmountSwap
            | PerturbKind::DeadlineSwap
            | PerturbKind::NegationInserted
            | PerturbKind::NegationRemoved
            | PerturbKind::EntitySwap => true,
            PerturbKind::Reordered | PerturbKind::Reworded | PerturbKind::SlotsFilled => false,
        }
    }
}

/// An approved answer to perturb.
#[derive(Debug, Clone)]
pub struct SourceAnswer {
    pub id: String,
    pub lang: Lang,
    pub text: String,
}

/// One case of the suite.
#[derive(Debug, Clone, Serialize)]
pub struct Perturbation {
    pub source: String,
    pub lang: Lang,
    pub kind: PerturbKind,
    pub text: String,
    /// Customer context the text may state (slot values), given to the checker as context.
    pub context: Vec<String>,
}

/// Example slot values for the `SlotsFilled` variants.
pub const SAMPLE_SLOTS: &[(&str, &str)] = &[
    ("customer_name", "Anna"),
    ("order_id", "PP-2026-10442"),
    ("order_status", "w drodze"),
];

/// Builds the suite: for every answer, at most one case of each kind that applies to it.
pub fn build_suite(answers: &[SourceAnswer], seed: u64) -> Vec<Perturbation> {
    let mut out = Vec::new();
    for a in answers {
        // One generator per answer: adding an answer does not change the others' cases.
        let mut rng = ChaCha8Rng::seed_from_u64(seed ^ fnv(&a.id));
        let mut push = |kind, text: Option<String>, context: Vec<String>| {
            if let Some(text) = text.filter(|t| t != &a.text) {
                out.push(Perturbation {
                    source: a.id.clone(),
                    lang: a.lang,
                    kind,
                    text,
                    context,
                });
            }
        };
        for kind in [
            PerturbKind::NumberSwap,
            PerturbKind::AmountSwap,
            PerturbKind::DeadlineSwap,
        ] {
            push(kind, swap_number(&a.text, kind, &mut rng), vec![]);
        }
        push(
            PerturbKind::NegationInserted,
            insert_negation(&a.text, a.lang, &mut rng),
            vec![],
        );
        push(
            PerturbKind::NegationRemoved,
            remove_negation(&a.text, a.lang, &mut rng),
            vec![],
        );
        push(
            PerturbKind::EntitySwap,
            swap_entity(&a.text, &mut rng),
            vec![],
        );
        push(PerturbKind::Reordered, reorder(&a.text, &mut rng), vec![]);
        push(
            PerturbKind::Reworded,
            reword(&a.text, a.lang, &mut rng),
            vec![],
        );
        if a.text.contains("{{") {
            let values: crate::assistant::SlotValues = SAMPLE_SLOTS
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect();
            let filled = crate::assistant::fill_slots(&a.text, &values);
            let context = filled
                .filled
                .iter()
                .map(|k| format!("{k}: {}", values[k]))
                .collect();
            push(PerturbKind::SlotsFilled, Some(filled.text), context);
        }
    }
    out
}

fn fnv(s: &str) -> u64 {
    s.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// A number in the text: byte range, and the word after it.
struct NumberAt {
    start: usize,
    end: usize,
    next_word: String,
    prev_word: String,
}

fn numbers(text: &str) -> Vec<NumberAt> {
    let bytes = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        if !bytes[i].is_ascii_digit() {
            i += 1;
            continue;
        }
        let start = i;
        while i < bytes.len()
            && (bytes[i].is_ascii_digit()
                || ((bytes[i] == b',' || bytes[i] == b'.')
                    && i + 1 < bytes.len()
                    && bytes[i + 1].is_ascii_digit()))
        {
            i += 1;
        }
        let end = i;
        // Skip digits glued to letters, slots, URLs, e-mails, phone-like groups and times.
        let before = text[..start].chars().next_back();
        let after = text[end..].chars().next();
        let glued = before.is_some_and(|c| c.is_alphanumeric() || "/@-:_{".contains(c))
            || after.is_some_and(|c| c.is_alphanumeric() || "/@-:_}%".contains(c));
        let in_url = text[..start]
            .rsplit(char::is_whitespace)
            .next()
            .is_some_and(|w| w.contains('.') && w.chars().any(char::is_alphabetic));
        // List markers ("1." or "2)" starting a line) number steps; they state no fact.
        let line_start = text[..start]
            .rsplit('\n')
            .next()
            .is_some_and(|l| l.trim().is_empty());
        let list_marker = line_start && matches!(after, Some('.' | ')'));
        if glued || in_url || list_marker {
            continue;
        }
        let next_word = text[end..]
            .split_whitespace()
            .next()
            .unwrap_or("")
            .trim_matches(|c: char| !c.is_alphanumeric())
            .to_lowercase();
        let prev_word = text[..start]
            .split_whitespace()
            .next_back()
            .unwrap_or("")
            .to_lowercase();
        // Phone numbers: a run of digit groups (e.g. "22 123 45 67").
        let digit_group_next = text[end..]
            .strip_prefix(' ')
            .is_some_and(|r| r.starts_with(|c: char| c.is_ascii_digit()));
        if digit_group_next
            || prev_word.chars().all(|c| c.is_ascii_digit()) && !prev_word.is_empty()
        {
            continue;
        }
        out.push(NumberAt {
            start,
            end,
            next_word,
            prev_word,
        });
    }
    out
}

const MONEY: &[&str] = &["zł", "zl", "pln", "eur", "euro", "€", "usd"];
const DURATION: &[&str] = &[
    "dni",
    "dnia",
    "dzień",
    "dzien",
    "doby",
    "godzin",
    "godziny",
    "godzinę",
    "godz",
    "minut",
    "minuty",
    "miesięcy",
    "miesiące",
    "lat",
    "lata",
    "tygodni",
    "tygodnie",
    "days",
    "day",
    "hours",
    "hour",
    "minutes",
    "months",
    "month",
    "years",
    "weeks",
    "working",
    "business",
];

fn classify(n: &NumberAt) -> PerturbKind {
    if MONEY.contains(&n.next_word.as_str()) || MONEY.contains(&n.prev_word.as_str()) {
        PerturbKind::AmountSwap
    } else if DURATION.contains(&n.next_word.as_str()) {
        PerturbKind::DeadlineSwap
    } else {
        PerturbKind::NumberSwap
    }
}

/// Changes one number of the given class to a different, plausible value in the same format.
fn swap_number(text: &str, kind: PerturbKind, rng: &mut ChaCha8Rng) -> Option<String> {
    let candidates: Vec<NumberAt> = numbers(text)
        .into_iter()
        .filter(|n| classify(n) == kind)
        .collect();
    if candidates.is_empty() {
        return None;
    }
    let n = &candidates[rng.random_range(0..candidates.len())];
    let old = &text[n.start..n.end];
    let (int, frac) = match old.find([',', '.']) {
        Some(p) => (&old[..p], Some((&old[p..p + 1], &old[p + 1..]))),
        None => (old, None),
    };
    let value: u64 = int.parse().ok()?;
    let new_int = loop {
        let candidate = match rng.random_range(0..3) {
            0 => value + rng.random_range(1..=5),
            1 => value.saturating_mul(2).max(value + 1),
            _ => value.saturating_sub(rng.random_range(1..=value.max(2) / 2 + 1)),
        };
        if candidate != value && candidate > 0 {
            break candidate;
        }
    };
    let new = match frac {
        Some((sep, f)) => format!("{new_int}{sep}{f}"),
        None => new_int.to_string(),
    };
    Some(format!("{}{new}{}", &text[..n.start], &text[n.end..]))
}

/// Verbs that take a negation in front (Polish) or after (English), with their negated form.
fn negatable(lang: Lang) -> &'static [(&'static str, &'static str)] {
    match lang {
        Lang::Pl => &[
            (" jest ", " nie jest "),
            (" są ", " nie są "),
            (" można ", " nie można "),
            (" możesz ", " nie możesz "),
            (" wysyłamy ", " nie wysyłamy "),
            (" przyjmujemy ", " nie przyjmujemy "),
            (" zwracamy ", " nie zwracamy "),
            (" pokrywamy ", " nie pokrywamy "),
            (" obowiązuje ", " nie obowiązuje "),
            (" wystarczy ", " nie wystarczy "),
            (" trzeba ", " nie trzeba "),
            (" musisz ", " nie musisz "),
            (" dostaniesz ", " nie dostaniesz "),
            (" otrzymasz ", " nie otrzymasz "),
        ],
        Lang::En => &[
            (" is ", " is not "),
            (" are ", " are not "),
            (" can ", " cannot "),
            (" will ", " will not "),
            (" must ", " must not "),
            (" we ship ", " we do not ship "),
            (" we accept ", " we do not accept "),
            (" we refund ", " we do not refund "),
            (" you need ", " you do not need "),
            (" you get ", " you do not get "),
            (" you receive ", " you do not receive "),
            (" applies ", " does not apply "),
        ],
    }
}

fn insert_negation(text: &str, lang: Lang, rng: &mut ChaCha8Rng) -> Option<String> {
    let mut spots = Vec::new();
    for &(plain, negated) in negatable(lang) {
        for (at, _) in text.match_indices(plain) {
            // Not already negated.
            let before = text[..at].to_lowercase();
            if before.ends_with(" nie") || before.ends_with(" not") || before.ends_with(" no") {
                continue;
            }
            spots.push((at, plain, negated));
        }
    }
    if spots.is_empty() {
        return None;
    }
    let (at, plain, negated) = spots[rng.random_range(0..spots.len())];
    Some(format!(
        "{}{negated}{}",
        &text[..at],
        &text[at + plain.len()..]
    ))
}

fn remove_negation(text: &str, lang: Lang, rng: &mut ChaCha8Rng) -> Option<String> {
    let forms: &[(&str, &str)] = match lang {
        Lang::Pl => &[
            (" nie ", " "),
            ("Nie ", ""),
            (" nigdy nie ", " zawsze "),
            (" Nigdy nie ", " Zawsze "),
            (" bez ", " z "),
        ],
        Lang::En => &[
            (" not ", " "),
            (" cannot ", " can "),
            (" can't ", " can "),
            (" don't ", " do "),
            (" doesn't ", " does "),
            (" won't ", " will "),
            (" never ", " always "),
            ("Never ", "Always "),
            (" without ", " with "),
        ],
    };
    let mut spots = Vec::new();
    for &(neg, plain) in forms {
        for (at, _) in text.match_indices(neg) {
            // "Nie." as an answer word or "nie tylko" ("not only") do not carry the fact.
            let rest = &text[at + neg.len()..];
            if rest.starts_with("tylko") || rest.starts_with("only") {
                continue;
            }
            spots.push((at, neg, plain));
        }
    }
    if spots.is_empty() {
        return None;
    }
    let (at, neg, plain) = spots[rng.random_range(0..spots.len())];
    let mut out = format!("{}{plain}{}", &text[..at], &text[at + neg.len()..]);
    if let Some(c) = out.chars().next().filter(|c| c.is_lowercase()) {
        out = c.to_uppercase().collect::<String>() + &out[c.len_utf8()..];
    }
    Some(out)
}

/// Groups of interchangeable names: a swap picks a member the text does not mention.
const ENTITY_GROUPS: &[&[&str]] = &[
    &[
        "InPost",
        "DPD",
        "DHL",
        "Orlen Paczka",
        "Poczta Polska",
        "GLS",
    ],
    &["BLIK", "PayPo", "Przelewy24", "Google Pay", "Apple Pay"],
    &["Visa", "Mastercard"],
    &["e-mailem", "telefonicznie", "na czacie"],
    &["by e-mail", "by phone", "in the chat"],
    &["Warszawa", "Kraków", "Poznań", "Gdańsk", "Wrocław"],
    &["Warsaw", "Krakow", "Poznan", "Gdansk", "Wroclaw"],
];

fn swap_entity(text: &str, rng: &mut ChaCha8Rng) -> Option<String> {
    let mut spots = Vec::new();
    for group in ENTITY_GROUPS {
        for &name in *group {
            for (at, _) in text.match_indices(name) {
                let bounded = !text[..at].ends_with(char::is_alphanumeric)
                    && !text[at + name.len()..].starts_with(char::is_alphanumeric);
                if bounded {
                    let others: Vec<&str> = group
                        .iter()
                        .copied()
                        .filter(|o| !text.contains(o))
                        .collect();
                    if !others.is_empty() {
                        spots.push((at, name, others));
                    }
                }
            }
        }
    }
    if spots.is_empty() {
        return None;
    }
    let (at, name, others) = &spots[rng.random_range(0..spots.len())];
    let new = others[rng.random_range(0..others.len())];
    Some(format!("{}{new}{}", &text[..*at], &text[at + name.len()..]))
}

/// The sentences of `text` (ending in . ! ? followed by a space or the end).
fn split_sentences(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let chars: Vec<char> = text.trim().chars().collect();
    for (i, &c) in chars.iter().enumerate() {
        cur.push(c);
        let end =
            matches!(c, '.' | '!' | '?') && chars.get(i + 1).is_none_or(|n| n.is_whitespace());
        if end {
            out.push(cur.trim().to_string());
            cur.clear();
        }
    }
    if !cur.trim().is_empty() {
        out.push(cur.trim().to_string());
    }
    out
}

fn reorder(text: &str, rng: &mut ChaCha8Rng) -> Option<String> {
    if text.trim().contains('\n') {
        // Line-structured answers (lists, tables): move one line, keeping lines whole.
        let lines: Vec<&str> = text
            .trim()
            .lines()
            .filter(|l| !l.trim().is_empty())
            .collect();
        if lines.len() < 2 {
            return None;
        }
        let i = rng.random_range(1..lines.len());
        let mut order = lines.clone();
        let l = order.remove(i);
        order.insert(0, l);
        return Some(order.join("\n"));
    }
    let sentences = split_sentences(text);
    if sentences.len() < 2 {
        return None;
    }
    // Move one sentence (not the first) to the front: the answer still states every fact.
    let i = rng.random_range(1..sentences.len());
    let mut order = sentences.clone();
    let s = order.remove(i);
    order.insert(0, s);
    Some(order.join(" "))
}

/// Synonym pairs that keep the facts (each direction applies).
fn synonyms(lang: Lang) -> &'static [(&'static str, &'static str)] {
    match lang {
        Lang::Pl => &[
            ("Możesz", "Można"),
            ("możesz", "można"),
            ("bezpłatnie", "za darmo"),
            ("bezpłatny", "darmowy"),
            ("otrzymasz", "dostaniesz"),
            ("wyślemy", "prześlemy"),
            ("sprawdzisz", "zobaczysz"),
            ("kliknij", "wybierz"),
            ("następnie", "potem"),
            ("zawsze", "w każdej chwili"),
            ("Jeśli", "Jeżeli"),
            ("jeśli", "jeżeli"),
            ("około", "ok."),
            ("zamówienia", "zakupu"),
        ],
        Lang::En => &[
            ("You can", "You may"),
            ("you can", "you may"),
            ("free of charge", "free"),
            ("within", "in"),
            ("We will", "We'll"),
            ("we will", "we'll"),
            ("receive", "get"),
            ("purchase", "order"),
            ("click", "select"),
            ("then", "after that"),
            ("If", "Should"),
            ("about", "around"),
            ("contact", "reach"),
        ],
    }
}

fn reword(text: &str, lang: Lang, rng: &mut ChaCha8Rng) -> Option<String> {
    let mut spots: Vec<(usize, &str, &str)> = Vec::new();
    for &(a, b) in synonyms(lang) {
        for (from, to) in [(a, b), (b, a)] {
            for (at, _) in text.match_indices(from) {
                let bounded = !text[..at].ends_with(char::is_alphanumeric)
                    && !text[at + from.len()..].starts_with(char::is_alphanumeric);
                if bounded {
                    spots.push((at, from, to));
                }
            }
        }
    }
    if spots.is_empty() {
        return None;
    }
    // Up to two replacements, applied from the end so earlier offsets stay valid.
    let mut chosen = Vec::new();
    for _ in 0..2 {
        let s = spots[rng.random_range(0..spots.len())];
        let overlaps = chosen.iter().any(|&(at, from, _): &(usize, &str, &str)| {
            s.0 < at + from.len() && at < s.0 + s.1.len()
        });
        if !overlaps {
            chosen.push(s);
        }
    }
    chosen.sort_by_key(|s| std::cmp::Reverse(s.0));
    let mut out = text.to_string();
    for (at, from, to) in chosen {
        out.replace_range(at..at + from.len(), to);
    }
    Some(out)
}

/// How the checker did on one kind of change.
#[derive(Debug, Clone, Default, Serialize)]
pub struct KindResult {
    pub cases: usize,
    pub flagged: usize,
    /// `flagged / cases`: recall for contradictions, the false-flag rate for faithful variants.
    pub rate: f64,
}

/// The suite's report (`concord eval perturb --json`).
#[derive(Debug, Clone, Serialize)]
pub struct PerturbReport {
    pub answers: usize,
    pub contradictions: usize,
    pub contradiction_recall: f64,
    pub faithful: usize,
    pub faithful_flag_rate: f64,
    pub by_kind: BTreeMap<PerturbKind, KindResult>,
    pub checks_per_s: f64,
    /// A few cases the checker got wrong, for reading.
    pub misses: Vec<Miss>,
}

/// A contradiction let through or a faithful variant flagged.
#[derive(Debug, Clone, Serialize)]
pub struct Miss {
    pub source: String,
    pub kind: PerturbKind,
    pub text: String,
    pub status: crate::check::Status,
    pub findings: Vec<String>,
}

/// Runs the checker on every case; `similarity(draft, canonical)` gives the embedding similarity
/// (or `None` to leave that signal out). A case is flagged when its status is not consistent,
/// exactly what keeps a draft from being sent.
pub fn evaluate(
    answers: &[SourceAnswer],
    suite: &[Perturbation],
    settings: &crate::check::CheckSettings,
    mut similarity: impl FnMut(&str, &str) -> Option<f32>,
) -> PerturbReport {
    let by_id: BTreeMap<&str, &SourceAnswer> = answers.iter().map(|a| (a.id.as_str(), a)).collect();
    let mut by_kind: BTreeMap<PerturbKind, KindResult> = BTreeMap::new();
    let mut misses = Vec::new();
    let mut check_time = 0.0f64;
    for case in suite {
        let Some(source) = by_id.get(case.source.as_str()) else {
            continue;
        };
        let sim = similarity(&case.text, &source.text);
        let context: Vec<&str> = case.context.iter().map(String::as_str).collect();
        let t = std::time::Instant::now();
        let verdict = crate::check::check(
            &crate::check::CheckInput {
                draft: &case.text,
                canonical: Some(&source.text),
                context: &context,
                similarity: sim,
                focus: None,
                question: None,
            },
            settings,
        );
        check_time += t.elapsed().as_secs_f64();
        let flagged = verdict.status != crate::check::Status::Consistent;
        let r = by_kind.entry(case.kind).or_default();
        r.cases += 1;
        r.flagged += usize::from(flagged);
        if flagged != case.kind.is_contradiction() && misses.len() < 40 {
            misses.push(Miss {
                source: case.source.clone(),
                kind: case.kind,
                text: case.text.clone(),
                status: verdict.status,
                findings: verdict.findings.iter().map(|f| f.message.clone()).collect(),
            });
        }
    }
    let (mut contradictions, mut caught, mut faithful, mut false_flags) = (0, 0, 0, 0);
    for (kind, r) in by_kind.iter_mut() {
        r.rate = ratio(r.flagged, r.cases);
        if kind.is_contradiction() {
            contradictions += r.cases;
            caught += r.flagged;
        } else {
            faithful += r.cases;
            false_flags += r.flagged;
        }
    }
    PerturbReport {
        answers: answers.len(),
        contradictions,
        contradiction_recall: ratio(caught, contradictions),
        faithful,
        faithful_flag_rate: ratio(false_flags, faithful),
        by_kind,
        checks_per_s: if check_time > 0.0 {
            suite.len() as f64 / check_time
        } else {
            0.0
        },
        misses,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(id: &str, lang: Lang, text: &str) -> SourceAnswer {
        SourceAnswer {
            id: id.into(),
            lang,
            text: text.into(),
        }
    }

    fn sample() -> Vec<SourceAnswer> {
        vec![
            answer(
                "pl-returns",
                Lang::Pl,
                "Masz 30 dni na zwrot od dnia otrzymania paczki. Zwrot przez Paczkomat InPost jest bezpłatny. Pieniądze oddajemy w ciągu 14 dni, a zwrot przelewem kosztuje 0 zł.",
            ),
            answer(
                "en-delivery",
                Lang::En,
                "Parcel locker delivery costs 12.99 zł and is free from 199 zł. You can pay by BLIK. We ship within 2 working days.",
            ),
            answer(
                "en-status",
                Lang::En,
                "Status of order {{order_id}}: {{order_status}}. You cannot change the address after shipping.",
            ),
        ]
    }

    #[test]
    fn the_suite_is_deterministic_for_a_seed_and_changes_with_it() {
        let a = build_suite(&sample(), 7);
        let b = build_suite(&sample(), 7);
        let c = build_suite(&sample(), 8);
        let texts = |s: &[Perturbation]| s.iter().map(|p| p.text.clone()).collect::<Vec<_>>();
        assert_eq!(texts(&a), texts(&b));
        assert_ne!(texts(&a), texts(&c));
    }

    #[test]
    fn every_case_differs_from_its_source_and_kinds_do_what_they_say() {
        let answers = sample();
        let suite = build_suite(&answers, 1);
        for p in &suite {
            let src = answers.iter().find(|a| a.id == p.source).unwrap();
            assert_ne!(p.text, src.text, "{:?}", p.kind);
            match p.kind {
                PerturbKind::AmountSwap => assert!(p.text.contains("zł")),
                PerturbKind::DeadlineSwap => {
                    assert!(p.text.contains("dni") || p.text.contains("days"))
                }
                PerturbKind::NegationInserted => {
                    assert!(
                        p.text.contains(" nie ")
                            || p.text.contains(" not")
                            || p.text.contains("cannot"),
                        "{}",
                        p.text
                    )
                }
                PerturbKind::EntitySwap => {
                    let names = |t: &str| {
                        ENTITY_GROUPS
                            .iter()
                            .flat_map(|g| g.iter())
                            .filter(|n| t.contains(*n))
                            .copied()
                            .collect::<Vec<_>>()
                    };
                    assert_ne!(names(&p.text), names(&src.text), "{}", p.text);
                }
                PerturbKind::Reordered => {
                    let mut a: Vec<String> = split_sentences(&p.text);
                    let mut b: Vec<String> = split_sentences(&src.text);
                    a.sort();
                    b.sort();
                    assert_eq!(a, b, "same sentences, other order");
                }
                PerturbKind::SlotsFilled => {
                    assert!(p.text.contains("PP-2026-10442") && !p.text.contains("{{"));
                    assert!(p.context.iter().any(|c| c.contains("PP-2026-10442")));
                }
                PerturbKind::NumberSwap | PerturbKind::NegationRemoved | PerturbKind::Reworded => {}
            }
        }
        let kinds: std::collections::BTreeSet<_> = suite.iter().map(|p| p.kind).collect();
        for k in [
            PerturbKind::AmountSwap,
            PerturbKind::DeadlineSwap,
            PerturbKind::NegationInserted,
            PerturbKind::NegationRemoved,
            PerturbKind::EntitySwap,
            PerturbKind::Reordered,
            PerturbKind::Reworded,
            PerturbKind::SlotsFilled,
        ] {
            assert!(kinds.contains(&k), "no {k:?} case");
        }
    }

    #[test]
    fn numbers_in_urls_phones_slots_and_times_are_left_alone() {
        let text = "Zadzwoń pod 22 123 45 67 (8:00) albo wejdź na polnapolka.pl/pomoc/2024 lub napisz do pomoc24@polnapolka.pl. {{order_id}}";
        assert!(
            numbers(text).is_empty(),
            "{:?}",
            numbers(text)
                .iter()
                .map(|n| &text[n.start..n.end])
                .collect::<Vec<_>>()
        );
        let n = numbers("Dostawa kosztuje 12,99 zł w 2 dni.");
        assert_eq!(n.len(), 2);
        assert_eq!(classify(&n[0]), PerturbKind::AmountSwap);
        assert_eq!(classify(&n[1]), PerturbKind::DeadlineSwap);
    }
}
