//! Draft fact evaluation: does a model's draft state the checkable facts (numbers, e-mails, phones,
//! URLs) of the approved answer, and does it make numbers up? Pure fact matching plus the runner.
//!
//! A *fact* is a literal a customer could act on and a reviewer can check mechanically: a number
//! (price, deadline, hour, limit), a phone number or other long digit identifier, an e-mail address
//! or a web address. Facts are normalised so that Polish and English spellings of the same value
//! compare equal (`12,99 zł` and `12.99` are both `12.99`; `3 000` and `3,000` are both `3000`).
//! Words for numbers ("two days", "dwa dni") are not facts: only literals written with digits.

use std::ops::ControlFlow;

use indicatif::ProgressBar;
use serde::Serialize;

use crate::answer::{finish_draft, plan_draft, Ask, DraftSettings, Prompts};
use crate::index::Index;
use crate::knowledge::{CanonicalId, Lang};
use crate::llm::{FinishReason, Generator};
use crate::retrieve::RetrievalMode;
use crate::retrieve::Retriever;

use super::EvalError;

use crate::check::literals::digit_runs;
pub use crate::check::literals::{facts, Fact, FactKind};

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
    /// The approved answer shown to the model is the best match at least this similar.
    pub canonical_min_similarity: f32,
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
        let ask = Ask {
            question: &case.question,
            lang,
            retrieval: &retrieval,
            canonical: retrieval
                .canonical
                .first()
                .filter(|m| m.similarity >= setup.canonical_min_similarity)
                .and_then(|m| setup.index.canonicals.get(m.ord as usize)),
        };
        let (plan, request) = plan_draft(generator, setup.prompts, &settings, setup.index, &ask)?;
        // Everything the model was shown counts as context: passages, question, the approved
        // answer it was given (perhaps another one), the instructions.
        let context = plan.prompt.text.clone();
        let completion = generator.generate(&mut cache, &request, |_| ControlFlow::Continue(()))?;
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

    use crate::check::literals::test_strategies::{phrase, words};

    proptest! {
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
