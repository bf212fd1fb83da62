//! Draft fact evaluation: does a model's draft state the checkable facts (numbers, e-mails, phones,
//! URLs) of the approved answer, and does it make numbers up? Pure fact matching plus the runner.
//!
//! A *fact* is a literal a customer could act on and a reviewer can check mechanically: a number
//! (price, deadline, hour, limit), a phone number or other long digit identifier, an e-mail address
//! or a web address. Facts are normalised so that Polish and English spellings of the same value
//! compare equal (`12,99 zł` and `12.99` are both `12.99`; `3 000` and `3,000` are both `3000`).
//! Words for numbers ("two days", "dwa dni") are not facts: only literals written with digits.

use std::collections::HashSet;
use std::ops::ControlFlow;

use indicatif::ProgressBar;
use serde::Serialize;

use crate::answer::{finish_draft, plan_draft, DraftSettings, Prompts};
use crate::config::RetrievalMode;
use crate::index::Index;
use crate::knowledge::{CanonicalId, Lang};
use crate::llm::{FinishReason, Generator};
use crate::retrieve::Retriever;
use crate::Pipeline;

use super::EvalError;

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
    fn new(kind: FactKind, value: impl Into<String>) -> Fact {
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
    let mut found: Vec<(usize, Fact)> = Vec::new();
    emails(&chars, &mut masked, &mut found);
    urls(&chars, &mut masked, &mut found);
    mask_markers(&chars, &mut masked);
    numbers(&chars, &masked, &mut found);
    found.sort_by_key(|(pos, _)| *pos);
    let mut seen = HashSet::new();
    found
        .into_iter()
        .filter(|(_, f)| seen.insert(f.clone()))
        .map(|(_, f)| f)
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

fn emails(chars: &[char], masked: &mut [bool], found: &mut Vec<(usize, Fact)>) {
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
        found.push((start, Fact::new(FactKind::Email, address.to_lowercase())));
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

fn urls(chars: &[char], masked: &mut [bool], found: &mut Vec<(usize, Fact)>) {
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
                    found.push((s, Fact::new(FactKind::Url, value)));
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

fn numbers(chars: &[char], masked: &[bool], found: &mut Vec<(usize, Fact)>) {
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
            // Digits inside a word (`Przelewy24`, `PL61`): skip the word.
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
            found.push((start, value));
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
fn digit_runs(text: &str) -> HashSet<String> {
    text.split(|c: char| !c.is_ascii_digit())
        .filter(|r| !r.is_empty())
        .map(strip_leading_zeros)
        .collect()
}

/// How a draft states the facts of the approved answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DraftScore {
    /// Distinct facts of the approved answer.
    pub canonical_facts: usize,
    /// Of those, how many the draft states.
    pub stated: usize,
    /// The draft states every fact of the approved answer (true when it has none).
    pub all_stated: bool,
    /// Numbers (and phone numbers) of the draft found neither in the approved answer nor in the
    /// context the model was given: made up.
    pub invented: Vec<String>,
    /// Facts of the approved answer the draft does not state.
    pub missing: Vec<String>,
}

impl DraftScore {
    /// Share of the approved answer's facts stated (1 when it has none).
    pub fn recall(&self) -> f64 {
        if self.canonical_facts == 0 {
            1.0
        } else {
            self.stated as f64 / self.canonical_facts as f64
        }
    }
}

/// Scores `draft` against `canonical_answer`; `context` is everything else the model was shown
/// (passages, question): a number found there, even only as digits inside a word, is not
/// counted as invented.
pub fn score_draft(canonical_answer: &str, context: &str, draft: &str) -> DraftScore {
    let canon = facts(canonical_answer);
    let drafted = facts(draft);
    let mut known = canon.clone();
    known.extend(facts(context));
    let mut runs = digit_runs(canonical_answer);
    runs.extend(digit_runs(context));
    let (stated, missing): (Vec<&Fact>, Vec<&Fact>) = canon
        .iter()
        .partition(|f| drafted.iter().any(|d| f.matches(d)));
    let invented = drafted
        .iter()
        .filter(|d| d.is_numeric())
        .filter(|d| !known.iter().any(|k| k.matches(d)))
        .filter(|d| !(d.kind == FactKind::Number && runs.contains(&d.value)))
        .map(|d| d.value.clone())
        .collect();
    DraftScore {
        canonical_facts: canon.len(),
        stated: stated.len(),
        all_stated: missing.is_empty(),
        invented,
        missing: missing.iter().map(|f| f.value.clone()).collect(),
    }
}

/// One evaluation question: an approved answer and one of its phrasings.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DraftCase {
    pub canonical: CanonicalId,
    pub question: String,
    pub answer: String,
}

/// The cases of `lang`: each approved answer that is not a handoff, with its first phrasing, in
/// id order; the first `limit` when given.
pub fn draft_cases(index: &Index, lang: Lang, limit: Option<usize>) -> Vec<DraftCase> {
    let mut cases: Vec<DraftCase> = index
        .canonicals
        .iter()
        .filter(|c| c.lang == lang && !c.handoff)
        .filter_map(|c| {
            c.questions.first().map(|q| DraftCase {
                canonical: c.id.clone(),
                question: q.clone(),
                answer: c.answer.clone(),
            })
        })
        .collect();
    cases.sort_by(|a, b| a.canonical.0.cmp(&b.canonical.0));
    if let Some(n) = limit {
        cases.truncate(n);
    }
    cases
}

/// What drafting needs: the model, prompts, settings and retrieval over an index.
pub struct DraftSetup<'a> {
    pub generator: &'a Generator,
    pub prompts: &'a Prompts,
    pub settings: &'a DraftSettings,
    pub index: &'a Index,
    pub retriever: Retriever<'a>,
    pub mode: RetrievalMode,
    pub k: usize,
}

impl<'a> DraftSetup<'a> {
    /// Retrieval as the pipeline's configuration sets it.
    pub fn from_pipeline(
        pipeline: &'a Pipeline,
        generator: &'a Generator,
        prompts: &'a Prompts,
        settings: &'a DraftSettings,
    ) -> Self {
        DraftSetup {
            generator,
            prompts,
            settings,
            index: &pipeline.index,
            retriever: pipeline.retriever(),
            mode: pipeline.config.retrieval.mode,
            k: pipeline.config.retrieval.k,
        }
    }
}

/// One drafted case.
#[derive(Debug, Clone, Serialize)]
pub struct DraftRecord {
    pub canonical: CanonicalId,
    pub question: String,
    pub draft: String,
    pub score: DraftScore,
    /// The approved answer put in the prompt, if any (it may be another one than this case's).
    pub canonical_in_prompt: Option<CanonicalId>,
    pub passages: usize,
    pub finish: FinishReason,
    pub prompt_tokens: usize,
    pub generated_tokens: usize,
    pub ttft_ms: f64,
    pub gen_tok_s: f64,
}

/// A draft to read: among the worst of a run.
#[derive(Debug, Clone, Serialize)]
pub struct DraftExample {
    pub canonical: CanonicalId,
    pub question: String,
    pub canonical_answer: String,
    pub draft: String,
    pub missing: Vec<String>,
    pub invented: Vec<String>,
}

/// How often one model's drafts state the approved answers' facts, in one language.
#[derive(Debug, Clone, Serialize)]
pub struct DraftReport {
    pub model: String,
    pub lang: Lang,
    pub cases: usize,
    /// Cases whose approved answer has at least one fact.
    pub answers_with_facts: usize,
    /// Share of `answers_with_facts` cases whose draft states every fact.
    pub all_facts_stated_rate: f64,
    /// Facts stated over all facts of all approved answers.
    pub fact_recall: f64,
    /// Share of drafts with at least one invented number.
    pub invented_number_rate: f64,
    /// Share of cases with an approved answer in the prompt (any).
    pub canonical_in_prompt_rate: f64,
    /// Share of cases with this case's own approved answer in the prompt.
    pub own_canonical_in_prompt_rate: f64,
    pub mean_ttft_ms: f64,
    pub mean_gen_tok_s: f64,
    pub mean_generated_tokens: f64,
    /// Share of drafts cut off at `max_new_tokens`.
    pub truncated_rate: f64,
    pub worst: Vec<DraftExample>,
    pub records: Vec<DraftRecord>,
}

/// Worst examples kept per report.
const WORST: usize = 5;

/// Retrieves, plans and drafts each case greedily (temperature 0, whatever the settings say) and
/// scores the draft against its approved answer; one KV cache is reused across the cases.
pub fn evaluate_drafts(
    setup: &DraftSetup<'_>,
    lang: Lang,
    cases: &[DraftCase],
    progress: &ProgressBar,
) -> Result<DraftReport, EvalError> {
    let generator = setup.generator;
    let mut settings = setup.settings.clone();
    settings.sampling.temperature = 0.0;
    let mut cache = generator.new_cache();
    let mut records = Vec::with_capacity(cases.len());
    progress.set_length(cases.len() as u64);
    for case in cases {
        let retrieval = setup
            .retriever
            .retrieve(&case.question, setup.mode, setup.k)?;
        let plan = plan_draft(
            generator,
            setup.prompts,
            &settings,
            setup.index,
            &case.question,
            lang,
            &retrieval,
        )?;
        // Everything the model was shown counts as context: passages, question, the approved
        // answer it was given (perhaps another one), the instructions.
        let context = plan.prompt.text.clone();
        let completion =
            generator.generate(&mut cache, &plan.request, |_| ControlFlow::Continue(()))?;
        let draft = finish_draft(plan, completion, &generator.name);
        let score = score_draft(&case.answer, &context, &draft.text);
        tracing::debug!(
            canonical = %case.canonical,
            stated = score.stated,
            facts = score.canonical_facts,
            invented = score.invented.len(),
            "draft scored"
        );
        records.push(DraftRecord {
            canonical: case.canonical.clone(),
            question: case.question.clone(),
            score,
            canonical_in_prompt: draft.canonical.clone(),
            passages: draft.sources.len(),
            finish: draft.finish,
            prompt_tokens: draft.usage.prompt_tokens,
            generated_tokens: draft.usage.generated_tokens,
            ttft_ms: draft.usage.ttft_ms,
            gen_tok_s: draft.usage.gen_tok_s,
            draft: draft.text,
        });
        progress.inc(1);
    }
    progress.finish_and_clear();
    Ok(summarise(&generator.name, lang, cases, records))
}

fn rate(count: usize, of: usize) -> f64 {
    if of == 0 {
        0.0
    } else {
        count as f64 / of as f64
    }
}

fn mean(xs: impl Iterator<Item = f64>) -> f64 {
    let (sum, n) = xs.fold((0.0, 0usize), |(s, n), x| (s + x, n + 1));
    if n == 0 {
        0.0
    } else {
        sum / n as f64
    }
}

/// The report of a run from its records (`records[i]` drafted `cases[i]`).
fn summarise(
    model: &str,
    lang: Lang,
    cases: &[DraftCase],
    records: Vec<DraftRecord>,
) -> DraftReport {
    let n = records.len();
    let with_facts: Vec<&DraftRecord> = records
        .iter()
        .filter(|r| r.score.canonical_facts > 0)
        .collect();
    let total_facts: usize = with_facts.iter().map(|r| r.score.canonical_facts).sum();
    let stated: usize = with_facts.iter().map(|r| r.score.stated).sum();
    let mut worst: Vec<(&DraftRecord, &DraftCase)> = records
        .iter()
        .zip(cases)
        .filter(|(r, _)| !r.score.all_stated || !r.score.invented.is_empty())
        .collect();
    worst.sort_by(|(a, _), (b, _)| {
        a.score
            .recall()
            .total_cmp(&b.score.recall())
            .then(b.score.invented.len().cmp(&a.score.invented.len()))
            .then(a.canonical.0.cmp(&b.canonical.0))
    });
    let worst = worst
        .into_iter()
        .take(WORST)
        .map(|(r, c)| DraftExample {
            canonical: r.canonical.clone(),
            question: r.question.clone(),
            canonical_answer: c.answer.clone(),
            draft: r.draft.clone(),
            missing: r.score.missing.clone(),
            invented: r.score.invented.clone(),
        })
        .collect();
    DraftReport {
        model: model.to_string(),
        lang,
        cases: n,
        answers_with_facts: with_facts.len(),
        all_facts_stated_rate: rate(
            with_facts.iter().filter(|r| r.score.all_stated).count(),
            with_facts.len(),
        ),
        fact_recall: rate(stated, total_facts),
        invented_number_rate: rate(
            records
                .iter()
                .filter(|r| !r.score.invented.is_empty())
                .count(),
            n,
        ),
        canonical_in_prompt_rate: rate(
            records
                .iter()
                .filter(|r| r.canonical_in_prompt.is_some())
                .count(),
            n,
        ),
        own_canonical_in_prompt_rate: rate(
            records
                .iter()
                .filter(|r| r.canonical_in_prompt.as_ref() == Some(&r.canonical))
                .count(),
            n,
        ),
        mean_ttft_ms: mean(records.iter().map(|r| r.ttft_ms)),
        mean_gen_tok_s: mean(
            records
                .iter()
                .filter(|r| r.generated_tokens > 1)
                .map(|r| r.gen_tok_s),
        ),
        mean_generated_tokens: mean(records.iter().map(|r| r.generated_tokens as f64)),
        truncated_rate: rate(
            records
                .iter()
                .filter(|r| r.finish == FinishReason::Length)
                .count(),
            n,
        ),
        worst,
        records,
    }
}

#[cfg(test)]
mod tests {
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

    const CANON_PL: &str = "Ustawa daje 14 dni na odstąpienie od umowy, a w Polnej Półce \
        wydłużamy ten termin do 30 dni od dnia otrzymania paczki. Napisz na pomoc@polnapolka.pl.";

    #[test]
    fn a_faithful_draft_states_everything() {
        let draft =
            "Masz 30 dni od otrzymania paczki (ustawowo 14 dni) [1]. Pytania: pomoc@polnapolka.pl";
        let s = score_draft(CANON_PL, "", draft);
        assert_eq!(s.canonical_facts, 3);
        assert_eq!(s.stated, 3);
        assert!(s.all_stated);
        assert!(s.invented.is_empty());
        assert!(s.missing.is_empty());
        assert_eq!(s.recall(), 1.0);
    }

    #[test]
    fn missing_and_invented_facts() {
        let context = "[1] Zwroty: paczka do 25 kg, kod ważny 14 dni. Przelewy24.";
        let draft = "Masz 60 dni na zwrot, paczka do 25 kg, a płatność przez Przelewy 24.";
        let s = score_draft(CANON_PL, context, draft);
        assert_eq!(s.canonical_facts, 3);
        assert_eq!(s.stated, 0);
        assert!(!s.all_stated);
        assert_eq!(s.missing, ["14", "30", "pomoc@polnapolka.pl"]);
        // 25 is in the passages and 24 inside a word of them; 60 is made up.
        assert_eq!(s.invented, ["60"]);
        assert_eq!(s.recall(), 0.0);
    }

    #[test]
    fn english_draft_of_a_price_list() {
        let canon = "Delivery costs: Orlen Paczka 10.99 zł, InPost Paczkomat 12.99 zł; free from 199 zł. Cash on delivery costs an extra 5 zł.";
        let draft =
            "A Paczkomat costs 12,99 zł and delivery is free above 199 zł; call +48 61 555 20 41.";
        let s = score_draft(canon, "Questions: +48 61 555 20 40", draft);
        assert_eq!((s.canonical_facts, s.stated), (4, 2));
        assert_eq!(s.missing, ["10.99", "5"]);
        assert_eq!(s.invented, ["48615552041"]);
        // No facts: vacuously all stated, and nothing to invent from a fact-free draft.
        let s = score_draft("Wash it by hand.", "", "Do not use a dishwasher.");
        assert_eq!((s.canonical_facts, s.stated, s.all_stated), (0, 0, true));
    }

    fn record(id: &str, facts: usize, stated: usize, invented: &[&str]) -> DraftRecord {
        DraftRecord {
            canonical: CanonicalId(id.into()),
            question: format!("q {id}"),
            draft: format!("d {id}"),
            score: DraftScore {
                canonical_facts: facts,
                stated,
                all_stated: stated == facts,
                invented: invented.iter().map(|s| s.to_string()).collect(),
                missing: vec![],
            },
            canonical_in_prompt: (id != "c").then(|| CanonicalId(id.into())),
            passages: 4,
            finish: FinishReason::Stop,
            prompt_tokens: 500,
            generated_tokens: 40,
            ttft_ms: 100.0,
            gen_tok_s: 20.0,
        }
    }

    #[test]
    fn summary_rates() {
        let cases: Vec<DraftCase> = ["a", "b", "c", "d"]
            .iter()
            .map(|id| DraftCase {
                canonical: CanonicalId(id.to_string()),
                question: format!("q {id}"),
                answer: format!("answer {id}"),
            })
            .collect();
        let records = vec![
            record("a", 2, 2, &[]),
            record("b", 4, 1, &["77"]),
            record("c", 0, 0, &["5"]),
            record("d", 2, 1, &[]),
        ];
        let r = summarise("m", Lang::En, &cases, records);
        assert_eq!(r.cases, 4);
        assert_eq!(r.answers_with_facts, 3);
        assert!((r.all_facts_stated_rate - 1.0 / 3.0).abs() < 1e-12);
        assert!((r.fact_recall - 4.0 / 8.0).abs() < 1e-12);
        assert_eq!(r.invented_number_rate, 0.5);
        assert_eq!(r.canonical_in_prompt_rate, 0.75);
        assert_eq!(r.own_canonical_in_prompt_rate, 0.75);
        assert_eq!(r.mean_generated_tokens, 40.0);
        let worst: Vec<&str> = r.worst.iter().map(|w| w.canonical.0.as_str()).collect();
        assert_eq!(worst, ["b", "d", "c"]);
        assert_eq!(r.worst[0].canonical_answer, "answer b");
    }

    /// Text around a fact: words of letters only, so they cannot glue to a number.
    fn words() -> impl Strategy<Value = String> {
        proptest::collection::vec("[a-zA-ZąęłóśźżćńĄĘŁÓŚŹŻĆŃ]{1,9}", 0..6).prop_map(|w| w.join(" "))
    }

    /// Fact-bearing phrases in Polish and English spellings.
    fn phrase() -> impl Strategy<Value = String> {
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

        #[test]
        fn a_draft_equal_to_the_answer_states_everything(before in words(), p in phrase(), after in words()) {
            let canon = format!("{before} {p} {after}");
            let s = score_draft(&canon, "", &canon);
            prop_assert!(s.all_stated);
            prop_assert!(s.invented.is_empty());
            prop_assert_eq!(s.stated, s.canonical_facts);
        }

        #[test]
        fn any_text_is_handled(text in "\\PC{0,80}") {
            let _ = facts(&text);
            let _ = score_draft(&text, &text, &text);
        }
    }
}
