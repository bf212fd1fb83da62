//! The consistency checker: compares a draft with the approved answer and the retrieved sources
//! and returns a verdict whose findings carry character spans for the console.

pub mod facts;
pub mod literals;
pub mod polarity;

use serde::{Deserialize, Serialize};

/// A range of characters (not bytes) in a text: `start..end`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Span {
    pub start: usize,
    pub end: usize,
}

impl Span {
    pub fn new(start: usize, end: usize) -> Span {
        Span { start, end }
    }

    /// The spanned characters of `text`.
    pub fn slice(self, text: &str) -> String {
        text.chars()
            .skip(self.start)
            .take(self.end.saturating_sub(self.start))
            .collect()
    }
}

use facts::{Fact, Kind};
use polarity::Clause;

/// The checker's overall judgement of a draft.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Every fact of the draft is grounded and none disagrees with the references.
    Consistent,
    /// The draft states a value, an entity or a polarity different from the references.
    Contradiction,
    /// The draft states something the references do not (a fact, a name, a slot value), or it
    /// reads unlike the approved answer.
    Unsupported,
    /// The draft leaves out the approved answer's key facts.
    Incomplete,
    /// There is nothing to check against (no approved answer, no sources).
    NoReference,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Consistent => "consistent",
            Status::Contradiction => "contradiction",
            Status::Unsupported => "unsupported",
            Status::Incomplete => "incomplete",
            Status::NoReference => "no_reference",
        }
    }
}

/// What a finding is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FindingKind {
    /// The same kind of fact (an amount, a deadline, a date...) with another value.
    ValueMismatch,
    /// Another entity of the same group (courier, payment method, channel, city, weekday).
    EntityMismatch,
    /// A statement shared with the reference, negated or restricted the other way.
    NegationFlip,
    /// A fact or name that neither the approved answer nor the sources state.
    UnsupportedFact,
    /// A value the approved answer leaves to a slot (`{{order_id}}`...) that the draft made up.
    InventedSlot,
    /// A key fact of the approved answer the draft does not state.
    MissingFact,
    /// The draft reads unlike the approved answer (embedding similarity below the threshold).
    LowSimilarity,
    /// Every word of the draft is a word of the customer's question: it repeats the question
    /// instead of answering it.
    Echo,
    /// The draft says one of its sentences (or list lines) again: a small model in a loop.
    Repetition,
}

impl FindingKind {
    /// The name used in JSON and the console.
    pub fn as_str(self) -> &'static str {
        match self {
            FindingKind::ValueMismatch => "value_mismatch",
            FindingKind::EntityMismatch => "entity_mismatch",
            FindingKind::NegationFlip => "negation_flip",
            FindingKind::UnsupportedFact => "unsupported_fact",
            FindingKind::InventedSlot => "invented_slot",
            FindingKind::MissingFact => "missing_fact",
            FindingKind::LowSimilarity => "low_similarity",
            FindingKind::Echo => "echo",
            FindingKind::Repetition => "repetition",
        }
    }
}

/// Which reference a finding points into.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "source", content = "index")]
pub enum RefSource {
    Canonical,
    /// A context passage, by its position in [`CheckInput::context`].
    Context(usize),
}

/// One observation of the checker, with the text it points at.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Finding {
    pub kind: FindingKind,
    pub message: String,
    /// Characters of the draft the finding is about.
    pub draft_span: Option<Span>,
    /// The reference text and characters it disagrees with or misses.
    pub reference: Option<RefSource>,
    pub reference_span: Option<Span>,
}

/// The checker's result.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Verdict {
    pub status: Status,
    /// 0..1, how safe the draft is to send: 0 for a contradiction, otherwise the mean of fact
    /// support, coverage and similarity, halved when something is unsupported.
    pub score: f32,
    pub findings: Vec<Finding>,
    /// Share of the approved answer's key facts the draft states (1 without an approved answer
    /// or when it has no facts).
    pub coverage: f32,
    /// Embedding similarity of draft and approved answer, when measured.
    pub similarity: Option<f32>,
    /// What the check could verify: the approved answer's key facts the draft states (with an
    /// approved answer), else the draft's facts a source states. 0 means only polarity was
    /// checked, which misses paraphrased yes/no answers ("Cast iron pans can be washed in the
    /// dishwasher"), so the decision sends no such draft (`policy`).
    #[serde(default)]
    pub stated: usize,
}

/// What the checker compares.
#[derive(Debug, Clone, Copy)]
pub struct CheckInput<'a> {
    pub draft: &'a str,
    /// The approved answer matched for the question, slots unfilled.
    pub canonical: Option<&'a str>,
    /// The passages the draft was written from (and customer context such as slot values).
    pub context: &'a [&'a str],
    /// Cosine similarity of draft and approved answer embeddings, when an embedder ran.
    pub similarity: Option<f32>,
    /// The sentences of the approved answer the customer asked about (character spans, see
    /// `assistant::focus`): only their key facts must be in the draft. `None`: all of it.
    pub focus: Option<&'a [Span]>,
    /// The customer's question, when known: a draft that only repeats it answers nothing.
    pub question: Option<&'a str>,
}

/// Thresholds from `[check]` in `concord.toml`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CheckSettings {
    /// Below this draft–approved-answer similarity the draft is unsupported.
    pub min_similarity: f32,
    /// Below this share of the approved answer's key facts the draft is incomplete.
    pub min_coverage: f32,
    /// The sentences of the approved answer scoring within this much of the one closest to the
    /// question are the ones asked about (`assistant::focus`); negative: all of it is asked.
    #[serde(default = "default_focus_margin")]
    pub focus_margin: f32,
}

fn default_focus_margin() -> f32 {
    0.02
}

impl Default for CheckSettings {
    fn default() -> Self {
        CheckSettings {
            min_similarity: 0.5,
            min_coverage: 0.5,
            focus_margin: default_focus_margin(),
        }
    }
}

/// A reference text with its facts and clauses.
struct Reference<'a> {
    source: RefSource,
    text: &'a str,
    facts: Vec<Fact>,
    clauses: Vec<Clause>,
    /// The folded words, for names written at a sentence start in the reference.
    words: Vec<String>,
}

impl<'a> Reference<'a> {
    fn new(source: RefSource, text: &'a str) -> Self {
        Reference {
            source,
            text,
            facts: facts::extract(text),
            clauses: polarity::clauses(text),
            words: crate::util::fold(text)
                .split(|c: char| !c.is_alphanumeric())
                .filter(|w| !w.is_empty())
                .map(str::to_string)
                .collect(),
        }
    }
}

/// Two folded words are the same word when one starts with the other's stem (inflection).
fn same_word(a: &str, b: &str) -> bool {
    a == b || a.starts_with(facts::stem(b)) || b.starts_with(facts::stem(a))
}

/// Whether `words` holds the (folded) name, each of its words matching by stem.
fn mentions(words: &[String], name: &str) -> bool {
    let parts: Vec<&str> = name.split_whitespace().collect();
    if parts.is_empty() || parts.len() > words.len() {
        return false;
    }
    words
        .windows(parts.len())
        .any(|win| win.iter().zip(&parts).all(|(w, p)| same_word(w, p)))
}

/// Words naming a department or team of an organisation ("Polna Półka Customer Service",
/// "Biuro Obsługi Klienta Polnej Półki"), folded: such a name is grounded when the rest is.
const TEAM_WORDS: &[&str] = &[
    "customer", "service", "services", "support", "team", "care", "helpdesk", "biuro", "obslugi",
    "obsluga", "klienta", "klientow", "zespol", "zespolu", "dzial", "dzialu",
];

/// Whether a reference mentions the (folded) name, or the name is a team or department of
/// one it mentions.
fn grounded_name(refs: &[Reference<'_>], name: &str) -> bool {
    let all: Vec<&str> = name.split_whitespace().collect();
    let rest: Vec<&str> = all
        .iter()
        .copied()
        .filter(|w| !TEAM_WORDS.contains(w))
        .collect();
    let rest = rest.join(" ");
    refs.iter().any(|r| {
        mentions(&r.words, name) || (!rest.is_empty() && rest != name && mentions(&r.words, &rest))
    })
}

/// Slots of an approved answer and the fact kinds a made-up value of each would show as.
fn slot_kinds(canonical: &str) -> Vec<Kind> {
    let mut kinds = Vec::new();
    for slot in crate::knowledge::slots::find_slots(canonical) {
        let k: &[Kind] = match slot.name.as_str() {
            s if s.contains("order") || s.contains("parcel") || s.contains("tracking") => {
                &[Kind::OrderId, Kind::Number, Kind::Phone]
            }
            s if s.contains("name") => &[Kind::Name],
            s if s.contains("email") => &[Kind::Email],
            s if s.contains("phone") => &[Kind::Phone],
            s if s.contains("date") => &[Kind::Date],
            s if s.contains("amount") || s.contains("price") || s.contains("total") => {
                &[Kind::Money]
            }
            _ => &[],
        };
        kinds.extend_from_slice(k);
    }
    kinds
}

/// Checks a draft against the approved answer and the sources (see DESIGN.md "The consistency
/// checker"). Deterministic: the same input gives the same verdict.
pub fn check(input: &CheckInput<'_>, settings: &CheckSettings) -> Verdict {
    let mut refs: Vec<Reference<'_>> = Vec::new();
    if let Some(c) = input.canonical.filter(|c| !c.trim().is_empty()) {
        refs.push(Reference::new(RefSource::Canonical, c));
    }
    for (i, c) in input.context.iter().enumerate() {
        if !c.trim().is_empty() {
            refs.push(Reference::new(RefSource::Context(i), c));
        }
    }
    let has_canonical = refs
        .first()
        .is_some_and(|r| r.source == RefSource::Canonical);
    let mut findings = Vec::new();
    if input.draft.trim().is_empty() {
        findings.push(Finding {
            kind: FindingKind::UnsupportedFact,
            message: "the draft is empty".into(),
            draft_span: None,
            reference: None,
            reference_span: None,
        });
        return Verdict {
            status: Status::Unsupported,
            score: 0.0,
            findings,
            coverage: 0.0,
            similarity: input.similarity,
            stated: 0,
        };
    }
    if refs.is_empty() {
        return Verdict {
            status: Status::NoReference,
            score: 0.0,
            findings,
            coverage: 0.0,
            similarity: input.similarity,
            stated: 0,
        };
    }

    let draft_facts = facts::extract(input.draft);
    let slot_kinds = input.canonical.map(slot_kinds).unwrap_or_default();
    let mut supported = 0usize;
    let mut verified = 0usize;
    for f in &draft_facts {
        let named = f.kind == Kind::Name && grounded_name(&refs, &f.value);
        // An e-mail address or a phone number in a reference says which channel to use.
        let channel = match (f.group, f.value.as_str()) {
            (Some("channel"), "e-mail") => Some(Kind::Email),
            (Some("channel"), "phone") => Some(Kind::Phone),
            _ => None,
        };
        let implied =
            channel.is_some_and(|k| refs.iter().any(|r| r.facts.iter().any(|g| g.kind == k)));
        if named || implied || refs.iter().any(|r| r.facts.iter().any(|g| f.stated_by(g))) {
            supported += 1;
            // A name grounded by the shop's own name verifies nothing about the answer.
            verified += usize::from(f.kind != Kind::Name);
            continue;
        }
        let at = Some(f.span);
        if f.kind != Kind::Name && slot_kinds.contains(&f.kind)
            || f.kind == Kind::Name && slot_kinds.contains(&Kind::Name)
        {
            findings.push(Finding {
                kind: FindingKind::InventedSlot,
                message: format!(
                    "«{}» fills a slot of the approved answer: slot values come from the customer's data, never from the model",
                    f.text
                ),
                draft_span: at,
                reference: None,
                reference_span: None,
            });
            continue;
        }
        // The first reference (the approved answer when there is one) that states a comparable
        // fact decides: a different value there is a contradiction.
        let rival = refs.iter().find_map(|r| {
            r.facts
                .iter()
                .filter(|g| f.comparable(g))
                .min_by_key(|g| (g.unit != f.unit, g.span.start))
                .map(|g| (r, g))
        });
        match rival {
            Some((r, g)) => findings.push(Finding {
                kind: if f.kind == Kind::Entity {
                    FindingKind::EntityMismatch
                } else {
                    FindingKind::ValueMismatch
                },
                message: format!(
                    "the draft says «{}» where the {} says «{}»",
                    f.text,
                    ref_name(r.source),
                    g.text
                ),
                draft_span: at,
                reference: Some(r.source),
                reference_span: Some(g.span),
            }),
            None => findings.push(Finding {
                kind: FindingKind::UnsupportedFact,
                message: format!(
                    "«{}» is in neither the approved answer nor the sources",
                    f.text
                ),
                draft_span: at,
                reference: None,
                reference_span: None,
            }),
        }
    }

    // Polarity against the approved answer, or against the sources without one.
    let draft_clauses = polarity::clauses(input.draft);
    let polarity_refs = if has_canonical { &refs[..1] } else { &refs[..] };
    for r in polarity_refs {
        for flip in polarity::flips(&draft_clauses, &r.clauses) {
            let d = &draft_clauses[flip.draft];
            let kind_word = if flip.what == "negation" {
                "a negation"
            } else {
                "a restriction"
            };
            let said = |marker: Option<Span>, text: &str| match marker {
                Some(m) => format!("with «{}»", m.slice(text)),
                None => format!("without {kind_word}"),
            };
            findings.push(Finding {
                kind: FindingKind::NegationFlip,
                message: format!(
                    "the draft states «{}» {} on «{}», the {} {}",
                    d.span.slice(input.draft),
                    said(flip.draft_marker, input.draft),
                    flip.draft_word.slice(input.draft),
                    ref_name(r.source),
                    said(flip.reference_marker, r.text)
                ),
                draft_span: Some(flip.draft_marker.unwrap_or(flip.draft_word)),
                reference: Some(r.source),
                reference_span: Some(flip.reference_marker.unwrap_or(flip.reference_word)),
            });
        }
    }

    // Coverage of the approved answer's key facts (of the sentences asked about, when known).
    let mut coverage = 1.0f32;
    let mut swapped_missing = false;
    let mut stated = verified;
    if has_canonical {
        let canon = &refs[0];
        let key = key_facts(&canon.facts, input.focus);
        if !key.is_empty() {
            let mut found = 0usize;
            for k in &key {
                if draft_facts.iter().any(|f| f.same_as(k)) {
                    found += 1;
                    continue;
                }
                // The draft talks about the same kind of fact but not this value.
                let replaced = draft_facts.iter().any(|f| k.comparable(f));
                swapped_missing |= replaced;
                findings.push(Finding {
                    kind: FindingKind::MissingFact,
                    message: format!("the approved answer's «{}» is not in the draft", k.text),
                    draft_span: None,
                    reference: Some(RefSource::Canonical),
                    reference_span: Some(k.span),
                });
            }
            coverage = found as f32 / key.len() as f32;
            stated = found;
        } else {
            stated = 0;
        }
        if let Some(s) = input.similarity.filter(|&s| s < settings.min_similarity) {
            findings.push(Finding {
                kind: FindingKind::LowSimilarity,
                message: format!(
                    "the draft reads unlike the approved answer (similarity {s:.2} < {:.2})",
                    settings.min_similarity
                ),
                draft_span: None,
                reference: Some(RefSource::Canonical),
                reference_span: None,
            });
        }
    }

    if let Some(q) = input.question.filter(|q| echoes(input.draft, q)) {
        findings.push(Finding {
            kind: FindingKind::Echo,
            message: format!(
                "every word of the draft is in the question «{}»: it answers nothing",
                q.trim()
            ),
            draft_span: None,
            reference: None,
            reference_span: None,
        });
    }

    if let Some(again) = repeated_sentence(input.draft) {
        findings.push(Finding {
            kind: FindingKind::Repetition,
            message: format!("the draft says «{}» again", again.slice(input.draft)),
            draft_span: Some(again),
            reference: None,
            reference_span: None,
        });
    }

    let has = |k: FindingKind| findings.iter().any(|f| f.kind == k);
    let status = if has(FindingKind::ValueMismatch)
        || has(FindingKind::EntityMismatch)
        || has(FindingKind::NegationFlip)
    {
        Status::Contradiction
    } else if has(FindingKind::UnsupportedFact)
        || has(FindingKind::InventedSlot)
        || has(FindingKind::LowSimilarity)
        || has(FindingKind::Repetition)
    {
        Status::Unsupported
    } else if coverage < settings.min_coverage || swapped_missing || has(FindingKind::Echo) {
        Status::Incomplete
    } else {
        Status::Consistent
    };
    let support = if draft_facts.is_empty() {
        1.0
    } else {
        supported as f32 / draft_facts.len() as f32
    };
    let mut parts = vec![support, coverage];
    if let Some(s) = input.similarity {
        parts.push(s.clamp(0.0, 1.0));
    }
    let mean = parts.iter().sum::<f32>() / parts.len() as f32;
    let score = match status {
        Status::Contradiction | Status::NoReference => 0.0,
        Status::Unsupported => mean * 0.5,
        Status::Consistent | Status::Incomplete => mean,
    };
    Verdict {
        status,
        score,
        findings,
        coverage,
        similarity: input.similarity,
        stated,
    }
}

/// Sentences of `text` as character spans, surrounding whitespace left out; a sentence ends at
/// a line break, or `.`, `!`, `?` followed by whitespace (so "14:00" or "1.5" never splits).
pub fn sentence_spans(text: &str) -> Vec<Span> {
    let chars: Vec<char> = text.chars().collect();
    let mut out = Vec::new();
    let mut start = 0;
    let push = |out: &mut Vec<Span>, mut s: usize, mut e: usize| {
        while s < e && chars[s].is_whitespace() {
            s += 1;
        }
        while e > s && chars[e - 1].is_whitespace() {
            e -= 1;
        }
        if e > s {
            out.push(Span::new(s, e));
        }
    };
    for i in 0..chars.len() {
        let ends = chars[i] == '\n'
            || matches!(chars[i], '.' | '!' | '?')
                && (i + 1 == chars.len() || chars[i + 1].is_whitespace());
        if ends && i + 1 > start {
            push(&mut out, start, i + 1);
            start = i + 1;
        }
    }
    push(&mut out, start, chars.len());
    out
}

/// The first sentence or line of the draft (two words or more) that repeats an earlier one, its
/// words folded.
fn repeated_sentence(draft: &str) -> Option<Span> {
    let mut seen: Vec<String> = Vec::new();
    for s in sentence_spans(draft) {
        let words: Vec<String> = crate::util::fold(&s.slice(draft))
            .split(|c: char| !c.is_alphanumeric())
            .filter(|w| !w.is_empty())
            .map(str::to_string)
            .collect();
        if words.len() < 2 {
            continue;
        }
        let said = words.join(" ");
        if seen.contains(&said) {
            return Some(s);
        }
        seen.push(said);
    }
    None
}

/// Whether the draft only repeats the question: none of its words of three letters or more
/// (folded) is new, each matching a word of the question by stem ("vatem" and "VAT" alike).
fn echoes(draft: &str, question: &str) -> bool {
    let words = |t: &str| -> Vec<String> {
        crate::util::fold(t)
            .split(|c: char| !c.is_alphanumeric())
            .filter(|w| w.chars().count() >= 3)
            .map(str::to_string)
            .collect()
    };
    let asked = words(question);
    let said = words(draft);
    let known = |w: &String| asked.iter().any(|q| same_word(w, q));
    !said.is_empty() && said.iter().all(known)
}

/// The approved answer's facts a draft must state: values and entities; names only when the
/// answer has nothing else (a short answer that is a name), since a shop's own name is no fact a
/// draft must repeat. With a focus, only the facts of the sentences asked about (when they have
/// any), and in a sentence that states a value, a list of three or more entities of one group
/// ("InPost, DPD lub DHL") is the options around the value, not the answer: the value is key,
/// the list is not.
fn key_facts<'f>(facts: &'f [Fact], focus: Option<&[Span]>) -> Vec<&'f Fact> {
    let within = |f: &Fact, s: &Span| f.span.start >= s.start && f.span.end <= s.end;
    let asked: Vec<&Fact> = match focus {
        Some(spans) if !spans.is_empty() => facts
            .iter()
            .filter(|f| spans.iter().any(|s| within(f, s)))
            .collect(),
        _ => facts.iter().collect(),
    };
    let has_values = asked.iter().any(|f| f.kind != Kind::Name);
    let listed = |f: &Fact| -> bool {
        let Some(spans) = focus else { return false };
        let Some(s) = spans.iter().find(|s| within(f, s)) else {
            return false;
        };
        let here: Vec<&&Fact> = asked.iter().filter(|g| within(g, s)).collect();
        let valued = here
            .iter()
            .any(|g| !matches!(g.kind, Kind::Entity | Kind::Name));
        let mut group: Vec<&str> = here
            .iter()
            .filter(|g| g.kind == Kind::Entity && g.group == f.group)
            .map(|g| g.value.as_str())
            .collect();
        group.sort_unstable();
        group.dedup();
        let group = group.len();
        f.kind == Kind::Entity && valued && group >= 3
    };
    let mut key: Vec<&Fact> = Vec::new();
    for &f in &asked {
        if (f.kind != Kind::Name || !has_values) && !listed(f) && !key.iter().any(|k| k.same_as(f))
        {
            key.push(f);
        }
    }
    // Sentences asked about without a key fact leave a draft nothing of the approved answer to
    // prove it answers with: then the whole answer's facts are key. (Measured: otherwise "Yes,
    // you can stack two promo codes" passed for "You can use one discount code per order".)
    if key.is_empty() && focus.is_some_and(|f| !f.is_empty()) {
        return key_facts(facts, None);
    }
    key
}

fn ref_name(source: RefSource) -> &'static str {
    match source {
        RefSource::Canonical => "approved answer",
        RefSource::Context(_) => "source",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(draft: &str, canonical: Option<&str>, context: &[&str]) -> Verdict {
        check(
            &CheckInput {
                draft,
                canonical,
                context,
                similarity: None,
                focus: None,
                question: None,
            },
            &CheckSettings::default(),
        )
    }

    fn kinds(v: &Verdict) -> Vec<FindingKind> {
        v.findings.iter().map(|f| f.kind).collect()
    }

    const PL: &str = "Masz 30 dni na zwrot od dnia otrzymania paczki. Zwrot przez Paczkomat InPost jest bezpłatny. Pieniądze oddamy w ciągu 14 dni na konto.";
    const EN: &str = "You have 30 days to return an item. Returns through an InPost locker are free. We refund the money within 14 days.";

    #[test]
    fn faithful_drafts_are_consistent_in_both_languages() {
        let v = run("Na zwrot masz 30 dni od otrzymania paczki, a zwrot przez Paczkomat InPost jest bezpłatny. Zwrot pieniędzy: 14 dni.", Some(PL), &[]);
        assert_eq!(v.status, Status::Consistent, "{v:#?}");
        assert_eq!(v.coverage, 1.0);
        let v = run("You have thirty days to send it back; returns via an InPost locker are free and the refund comes within 14 days.", Some(EN), &[]);
        assert_eq!(v.status, Status::Consistent, "{v:#?}");
        assert!(v.score > 0.9);
    }

    #[test]
    fn the_shops_teams_are_grounded_by_its_name_and_other_names_are_not() {
        let shop = ["Polna Półka"];
        let canon = "Zwrot zgłosisz w zakładce „Moje zamówienia”.";
        for signed in [
            "Zwrot zgłosisz w zakładce „Moje zamówienia”. Pozdrawiamy, Biuro Obsługi Klienta Polnej Półki",
            "Zwrot zgłosisz w zakładce „Moje zamówienia”. Pozdrawiam, zespół Polnej Półki",
        ] {
            let v = run(signed, Some(canon), &shop);
            assert_eq!(v.status, Status::Consistent, "{v:#?}");
        }
        let en = "Report the return under \"My orders\".";
        let v = run(
            "Report the return under \"My orders\". Kind regards, Polna Półka Customer Service",
            Some(en),
            &shop,
        );
        assert_eq!(v.status, Status::Consistent, "{v:#?}");
        // Another department, or a team of an unknown organisation, is not grounded.
        for invented in [
            "Report the return under \"My orders\". The Polna Półka Returns Office will call you.",
            "Report the return under \"My orders\". Kind regards, Allegro Customer Service",
        ] {
            let v = run(invented, Some(en), &shop);
            assert_eq!(v.status, Status::Unsupported, "{invented}: {v:#?}");
        }
        // By phone, in other words.
        let v = run(
            "Nigdy nie prosimy o hasło przez telefon.",
            Some("Nigdy nie prosimy o hasło telefonicznie."),
            &[],
        );
        assert_eq!(v.status, Status::Consistent, "{v:#?}");
    }

    #[test]
    fn polite_wrapping_and_paraphrase_stay_consistent() {
        // Capitalised pronouns of polite Polish address are no names; an e-mail address or a
        // phone number in the reference supports saying "e-mail" or "call"; "Mon–Fri" states
        // the same weekdays as "Monday to Friday".
        let canon = "Fakturę wyślemy na pomoc@polnapolka.pl. Zadzwoń pod +48 61 555 20 40 (pon.–pt. 8:00–20:00).";
        let v = run(
            "Dzień dobry! Twoją fakturę wyślemy e-mailem na pomoc@polnapolka.pl. Możesz też zadzwonić do nas pod +48 61 555 20 40 od poniedziałku do piątku, 8:00–20:00. Czy mogę pomóc Ci w czymś jeszcze?",
            Some(canon),
            &[],
        );
        assert_eq!(v.status, Status::Consistent, "{v:#?}");
        let v = run(
            "Call +48 61 555 20 40, Monday to Friday 8:00–20:00, or e-mail help@polnapolka.pl.",
            Some("Call +48 61 555 20 40 (Mon–Fri 8:00–20:00) or write to help@polnapolka.pl."),
            &[],
        );
        assert_eq!(v.status, Status::Consistent, "{v:#?}");
        // A channel the reference gives no address or number for is still unsupported, another
        // weekday still contradicts, and a real name is still a name.
        let v = run(
            "Write to us on the chat, Monday to Saturday.",
            Some("Call +48 61 555 20 40 (Mon–Fri)."),
            &[],
        );
        assert!(kinds(&v).contains(&FindingKind::UnsupportedFact), "{v:#?}");
        assert!(kinds(&v).contains(&FindingKind::EntityMismatch), "{v:#?}");
        let v = run("Zapytaj Annę Nowak o fakturę.", Some(canon), &[]);
        assert!(kinds(&v).contains(&FindingKind::UnsupportedFact), "{v:#?}");
        let v = run(
            "Napisz na adres e-mail.",
            Some("Zadzwoń pod +48 61 555 20 40."),
            &[],
        );
        assert_eq!(v.status, Status::Contradiction, "{v:#?}");
    }

    #[test]
    fn a_changed_value_is_a_contradiction_with_spans_on_both_sides() {
        let draft = "Na zwrot masz 14 dni od otrzymania paczki.";
        let v = run(
            draft,
            Some("Masz 30 dni na zwrot od dnia otrzymania paczki."),
            &[],
        );
        assert_eq!(v.status, Status::Contradiction, "{v:#?}");
        let f = v
            .findings
            .iter()
            .find(|f| f.kind == FindingKind::ValueMismatch)
            .unwrap();
        assert_eq!(f.draft_span.unwrap().slice(draft), "14 dni");
        assert_eq!(f.reference, Some(RefSource::Canonical));
        assert_eq!(
            f.reference_span
                .unwrap()
                .slice("Masz 30 dni na zwrot od dnia otrzymania paczki."),
            "30 dni"
        );
        let v = run(
            "Delivery costs 12.99 PLN.",
            Some("Dostawa kosztuje 9,99 zł."),
            &[],
        );
        assert_eq!(kinds(&v)[0], FindingKind::ValueMismatch);
        let v = run("The refund takes 14 working days.", Some(EN), &[]);
        assert_eq!(
            v.status,
            Status::Contradiction,
            "working days are not days: {v:#?}"
        );
        let v = run(
            "We refund within fourteen days; returns take 30 days and InPost lockers are free.",
            Some(EN),
            &[],
        );
        assert_eq!(v.status, Status::Consistent, "{v:#?}");
    }

    #[test]
    fn another_courier_or_channel_is_an_entity_mismatch() {
        let v = run("Zwrot przez DPD jest bezpłatny.", Some(PL), &[]);
        assert!(kinds(&v).contains(&FindingKind::EntityMismatch), "{v:#?}");
        assert_eq!(v.status, Status::Contradiction);
        let v = run(
            "Contact us by phone.",
            Some("Contact us by e-mail at help@shop.example."),
            &[],
        );
        assert!(kinds(&v).contains(&FindingKind::EntityMismatch), "{v:#?}");
    }

    #[test]
    fn a_flipped_negation_is_a_contradiction_in_both_languages() {
        let draft = "Zwrot przez Paczkomat InPost nie jest bezpłatny.";
        let v = run(draft, Some(PL), &[]);
        let f = v
            .findings
            .iter()
            .find(|f| f.kind == FindingKind::NegationFlip)
            .expect("flip");
        assert_eq!(f.draft_span.unwrap().slice(draft), "nie");
        assert_eq!(v.status, Status::Contradiction);
        let v = run(
            "Returns through an InPost locker are not free.",
            Some(EN),
            &[],
        );
        assert!(kinds(&v).contains(&FindingKind::NegationFlip), "{v:#?}");
    }

    #[test]
    fn facts_from_nowhere_are_unsupported_and_sources_count() {
        let v = run("Zadzwoń pod 22 123 45 67.", Some(PL), &[]);
        assert_eq!(v.status, Status::Unsupported, "{v:#?}");
        assert!(kinds(&v).contains(&FindingKind::UnsupportedFact));
        // The same number is fine when a source passage states it.
        let v = run("Masz 30 dni na zwrot przez Paczkomat InPost, bezpłatnie; pieniądze w 14 dni. Infolinia: 22 123 45 67.", Some(PL), &["Infolinia 22 123 45 67 działa w dni robocze."]);
        assert!(!kinds(&v).contains(&FindingKind::UnsupportedFact), "{v:#?}");
        // An invented name is unsupported too.
        let v = run("You have 30 days; InPost returns are free; refunds in 14 days. Ask for Jessica Parker.", Some(EN), &[]);
        assert!(kinds(&v).contains(&FindingKind::UnsupportedFact), "{v:#?}");
    }

    #[test]
    fn made_up_slot_values_are_flagged() {
        let canonical = "Zamówienie {{order_id}} ma status: {{order_status}}.";
        let v = run(
            "Zamówienie PP-2026-55555 jest w drodze.",
            Some(canonical),
            &[],
        );
        assert!(kinds(&v).contains(&FindingKind::InventedSlot), "{v:#?}");
        assert_eq!(v.status, Status::Unsupported);
        // A value the customer's context gives is not invented.
        let v = run(
            "Zamówienie PP-2026-55555 ma status: w drodze.",
            Some(canonical),
            &["order_id: PP-2026-55555"],
        );
        assert!(!kinds(&v).contains(&FindingKind::InventedSlot), "{v:#?}");
        let v = run(
            "Hi Jessica, your order {{order_id}} is on its way.",
            Some("Hi {{customer_name}}, order {{order_id}}: {{order_status}}."),
            &[],
        );
        assert!(kinds(&v).contains(&FindingKind::InventedSlot), "{v:#?}");
    }

    #[test]
    fn missing_key_facts_make_a_draft_incomplete() {
        let v = run("Zwrot jest możliwy.", Some(PL), &[]);
        assert_eq!(v.status, Status::Incomplete, "{v:#?}");
        assert!(v.coverage < 0.5);
        assert!(kinds(&v).contains(&FindingKind::MissingFact));
        let missing = v
            .findings
            .iter()
            .find(|f| f.kind == FindingKind::MissingFact)
            .unwrap();
        assert_eq!(missing.reference_span.unwrap().slice(PL), "30 dni");
        let v = run("You can return it.", Some(EN), &[]);
        assert_eq!(v.status, Status::Incomplete);
    }

    fn asked(draft: &str, canonical: &str, focus: &[Span], question: &str) -> Verdict {
        check(
            &CheckInput {
                draft,
                canonical: Some(canonical),
                context: &[],
                similarity: None,
                focus: Some(focus),
                question: Some(question),
            },
            &CheckSettings::default(),
        )
    }

    /// The character span of `part` in `text`.
    fn span_of(text: &str, part: &str) -> Span {
        let start = text[..text.find(part).unwrap()].chars().count();
        Span::new(start, start + part.chars().count())
    }

    #[test]
    fn a_draft_answering_the_sentence_asked_about_is_complete() {
        const DELIVERY: &str = "Zamówienia opłacone do 14:00 wysyłamy tego samego dnia, a kurier InPost, DPD lub DHL doręcza je w 1–2 dni robocze. Przesyłki gabarytowe dowozimy w 3–5 dni roboczych.";
        let first = span_of(DELIVERY, "Zamówienia opłacone do 14:00 wysyłamy tego samego dnia, a kurier InPost, DPD lub DHL doręcza je w 1–2 dni robocze.");
        let draft =
            "Jeśli opłacisz do 14:00, wyślemy dziś, a kurier doręczy paczkę w 1–2 dni robocze.";
        let question = "Zamawiam dziś rano, za ile dni paczka będzie u mnie?";
        // The whole answer: the couriers and the oversize line are missing.
        assert_eq!(run(draft, Some(DELIVERY), &[]).status, Status::Incomplete);
        // The sentence asked about: its values are stated; the list of couriers around them is
        // not the answer.
        let v = asked(draft, DELIVERY, &[first], question);
        assert_eq!(v.status, Status::Consistent, "{v:#?}");
        assert_eq!(v.coverage, 1.0);
        // Leaving out a value of the sentence asked about is still incomplete.
        let v = asked(
            "Jeśli opłacisz do 14:00, wyślemy paczkę dziś.",
            DELIVERY,
            &[first],
            question,
        );
        assert_eq!(v.status, Status::Incomplete, "{v:#?}");
        // A single entity is a condition of the sentence, not a list of options: it is key.
        let free = span_of(PL, "Zwrot przez Paczkomat InPost jest bezpłatny.");
        let v = asked(
            "Zwrot jest bezpłatny.",
            PL,
            &[free],
            "Czy zwrot jest darmowy?",
        );
        assert_eq!(v.status, Status::Incomplete, "{v:#?}");
        // Focus never excuses a contradiction elsewhere in the answer.
        let v = asked(
            "Zwrot przez Paczkomat InPost jest bezpłatny, a pieniądze oddamy w 7 dni.",
            PL,
            &[free],
            "Czy zwrot jest darmowy?",
        );
        assert_eq!(v.status, Status::Contradiction, "{v:#?}");
    }

    #[test]
    fn sentences_split_at_ends_not_inside_times_or_numbers() {
        let text = " Wysyłamy do 14:00 w dni robocze. Kosztuje 12,99 zł!\nA za granicę 1.5 kg? tak";
        let got: Vec<String> = sentence_spans(text).iter().map(|s| s.slice(text)).collect();
        assert_eq!(
            got,
            [
                "Wysyłamy do 14:00 w dni robocze.",
                "Kosztuje 12,99 zł!",
                "A za granicę 1.5 kg?",
                "tak"
            ]
        );
        assert!(sentence_spans("  \n ").is_empty());
    }

    #[test]
    fn a_focus_without_facts_leaves_the_whole_answer_key() {
        const CODES: &str = "You can use one discount code per order. Codes cannot be combined with each other. A code does not apply to delivery costs over 199 zł.";
        let second = span_of(CODES, "Codes cannot be combined with each other.");
        let v = asked(
            "Yes, you can stack two promo codes in one order.",
            CODES,
            &[second],
            "Can I stack two promo codes in one order?",
        );
        assert_eq!(v.status, Status::Incomplete, "{v:#?}");
        assert!(v.findings.iter().any(|f| f.message.contains("199 zł")));
    }

    #[test]
    fn a_draft_in_a_loop_is_not_sent() {
        let v = run(
            "- do 14:00\n- do 14:00\n- do 14:00",
            Some("Zamówienia opłacone do 14:00 wysyłamy tego samego dnia."),
            &[],
        );
        assert_eq!(v.status, Status::Unsupported, "{v:#?}");
        assert!(kinds(&v).contains(&FindingKind::Repetition));
        // One-word lines ("Tak.") may repeat.
        let v = run(
            "Tak. Wysyłamy do 14:00. Tak.",
            Some("Zamówienia opłacone do 14:00 wysyłamy tego samego dnia."),
            &[],
        );
        assert!(!kinds(&v).contains(&FindingKind::Repetition), "{v:#?}");
    }

    #[test]
    fn a_draft_repeating_the_question_answers_nothing() {
        let v = asked(
            "Nie przyszedł mi SMS z numerem do śledzenia przesyłki.",
            "Numer przesyłki wysyłamy e-mailem i SMS-em, gdy paczka wyjdzie z magazynu.",
            &[],
            "Nie przyszedł mi SMS z numerem do śledzenia przesyłki",
        );
        assert_eq!(v.status, Status::Incomplete, "{v:#?}");
        assert!(kinds(&v).contains(&FindingKind::Echo));
        // "Nie" (or "Tak") with the question's words is an answer.
        let v = asked(
            "Nie, w weekendy nie wysyłamy.",
            "W soboty i niedziele nie wysyłamy paczek.",
            &[],
            "Czy wysyłacie w weekendy?",
        );
        assert!(!kinds(&v).contains(&FindingKind::Echo), "{v:#?}");
    }

    #[test]
    fn low_similarity_and_no_reference() {
        let v = check(
            &CheckInput {
                draft: "Our shop sells furniture.",
                canonical: Some(EN),
                context: &[],
                similarity: Some(0.2),
                focus: None,
                question: None,
            },
            &CheckSettings::default(),
        );
        assert!(kinds(&v).contains(&FindingKind::LowSimilarity));
        assert_ne!(v.status, Status::Consistent);
        let v = run("Masz 30 dni.", None, &[]);
        assert_eq!(v.status, Status::NoReference);
        let v = run("   ", Some(PL), &[]);
        assert_eq!(v.status, Status::Unsupported);
        assert_eq!(v.score, 0.0);
    }

    #[test]
    fn without_an_approved_answer_the_sources_are_the_reference() {
        let ctx = ["Wysyłka kurierem DPD kosztuje 14,99 zł i trwa 1-2 dni robocze."];
        let v = run("Kurier DPD kosztuje 14,99 zł.", None, &ctx);
        assert_eq!(v.status, Status::Consistent, "{v:#?}");
        let v = run("Kurier DPD kosztuje 19,99 zł.", None, &ctx);
        assert_eq!(v.status, Status::Contradiction);
        assert_eq!(v.findings[0].reference, Some(RefSource::Context(0)));
    }

    proptest::proptest! {
        #[test]
        fn any_texts_get_a_verdict_with_spans_inside_them(
            draft in "[a-zA-ZąęłóśżźćńĄĘŁ0-9+ .,:;%€#@/{}!?-]{0,80}",
            canonical in "[a-zA-ZąęłóśżźćńĄĘŁ0-9+ .,:;%€#@/{}!?-]{0,80}",
        ) {
            let v = run(&draft, Some(&canonical), &[]);
            proptest::prop_assert!((0.0..=1.0).contains(&v.score));
            for f in &v.findings {
                if let Some(s) = f.draft_span {
                    proptest::prop_assert!(s.start <= s.end && s.end <= draft.chars().count());
                }
                if let (Some(s), Some(RefSource::Canonical)) = (f.reference_span, f.reference) {
                    proptest::prop_assert!(s.end <= canonical.chars().count());
                }
            }
        }
    }

    #[test]
    fn the_verdict_is_deterministic() {
        let a = run(
            "Zwrot przez DPD w 14 dni nie jest bezpłatny.",
            Some(PL),
            &[],
        );
        let b = run(
            "Zwrot przez DPD w 14 dni nie jest bezpłatny.",
            Some(PL),
            &[],
        );
        assert_eq!(a, b);
    }
}
