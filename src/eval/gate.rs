//! End-to-end evaluation of the gate: every approved answer's first phrasing asked through
//! triage, retrieval, the draft, the checker and the policy; how often each decision is taken, and
//! whether any sent text contradicts the approved answer of the question asked.

use std::collections::BTreeMap;

use indicatif::ProgressBar;
use serde::Serialize;

use std::sync::Arc;

use crate::assistant::{Action, Assistant, Provenance, TurnRequest};
use crate::check::{check, CheckInput, CheckSettings, Status};
use crate::index::Index;
use crate::knowledge::Lang;

/// One question of the evaluation.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GateCase {
    pub canonical: String,
    pub question: String,
    pub answer: String,
    /// The approved answer is marked `handoff`.
    pub handoff: bool,
}

/// Every approved answer of `lang` (handoff ones included) with its first phrasing, in id order.
pub fn gate_cases(index: &Index, lang: Lang, limit: Option<usize>) -> Vec<GateCase> {
    let mut cases: Vec<GateCase> = index
        .canonicals
        .iter()
        .filter(|c| c.lang == lang)
        .filter_map(|c| {
            c.questions.first().map(|q| GateCase {
                canonical: c.id.0.clone(),
                question: q.clone(),
                answer: c.answer.trim().to_string(),
                handoff: c.handoff,
            })
        })
        .collect();
    cases.sort_by(|a, b| a.canonical.cmp(&b.canonical));
    if let Some(n) = limit {
        cases.truncate(n);
    }
    cases
}

/// What happened to one question.
#[derive(Debug, Clone, Serialize)]
pub struct GateRecord {
    pub canonical: String,
    pub question: String,
    pub action: Action,
    /// The approved answer retrieval matched (another one than the question's is a retrieval miss).
    pub matched: Option<String>,
    pub verdict: Option<Status>,
    /// The text sent, checked again against the question's own approved answer.
    pub sent_status: Option<Status>,
    pub sent_provenance: Provenance,
    pub total_ms: f64,
}

/// The report of `concord eval gate`.
#[derive(Debug, Clone, Serialize)]
pub struct GateReport {
    pub lang: Lang,
    pub questions: usize,
    /// Share of questions per decision (`send`, `send_canonical`, `hold`, `handoff`, `no_answer`).
    pub shares: BTreeMap<&'static str, f64>,
    /// Drafts sent as written / replaced by the approved answer / held, among questions drafted.
    pub drafted: usize,
    pub draft_sent_share: f64,
    pub draft_replaced_share: f64,
    pub draft_held_share: f64,
    /// Sent texts (drafts or approved answers) that contradict the question's own approved answer.
    pub sent_contradictions: usize,
    /// Questions whose matched approved answer is another one than their own.
    pub wrong_canonical: usize,
    /// Approved answers marked `handoff` that were handed off, of those asked.
    pub handoff_entries: usize,
    pub handoff_entries_handed_off: usize,
    pub p50_ms: f64,
    pub records: Vec<GateRecord>,
}

/// Runs every case through the gate.
pub fn evaluate_gate(
    assistant: &Arc<Assistant>,
    lang: Lang,
    cases: &[GateCase],
    bar: &ProgressBar,
) -> Result<GateReport, super::EvalError> {
    let mut records = Vec::with_capacity(cases.len());
    bar.set_length(cases.len() as u64);
    for case in cases {
        let outcome = assistant
            .start_turn(TurnRequest::new(case.question.as_str(), Some(lang)))
            .run(|_| {})?;
        let sent = matches!(
            outcome.decision.action,
            Action::Send | Action::SendCanonical
        );
        let sent_status = sent.then(|| {
            check(
                &CheckInput {
                    draft: &outcome.reply.text,
                    canonical: Some(&case.answer),
                    context: &[],
                    similarity: None,
                    focus: None,
                    question: None,
                },
                &CheckSettings::default(),
            )
            .status
        });
        records.push(GateRecord {
            canonical: case.canonical.clone(),
            question: case.question.clone(),
            action: outcome.decision.action,
            matched: outcome.canonical.as_ref().map(|c| c.id.0.clone()),
            verdict: outcome.verdict.as_ref().map(|v| v.status),
            sent_status,
            sent_provenance: outcome.reply.provenance,
            total_ms: outcome.timings.total_ms,
        });
        bar.inc(1);
    }
    bar.finish_and_clear();
    Ok(summarise(lang, cases, records))
}

/// The report from the records (`records[i]` answered `cases[i]`).
pub fn summarise(lang: Lang, cases: &[GateCase], records: Vec<GateRecord>) -> GateReport {
    let n = records.len();
    let share = super::metrics::ratio;
    let mut shares = BTreeMap::new();
    for a in Action::ALL {
        let k = records.iter().filter(|r| r.action == a).count();
        shares.insert(a.as_str(), share(k, n));
    }
    let drafted: Vec<&GateRecord> = records.iter().filter(|r| r.verdict.is_some()).collect();
    let count = |a: Action| drafted.iter().filter(|r| r.action == a).count();
    let handoff_cases: Vec<(&GateCase, &GateRecord)> = cases
        .iter()
        .zip(&records)
        .filter(|(c, _)| c.handoff)
        .collect();
    let mut ms: Vec<f64> = records.iter().map(|r| r.total_ms).collect();
    ms.sort_by(f64::total_cmp);
    GateReport {
        lang,
        questions: n,
        shares,
        drafted: drafted.len(),
        draft_sent_share: share(count(Action::Send), drafted.len()),
        draft_replaced_share: share(count(Action::SendCanonical), drafted.len()),
        draft_held_share: share(count(Action::Hold), drafted.len()),
        sent_contradictions: records
            .iter()
            .filter(|r| r.sent_status == Some(Status::Contradiction))
            .count(),
        wrong_canonical: records
            .iter()
            .filter(|r| r.matched.as_ref().is_some_and(|m| *m != r.canonical))
            .count(),
        handoff_entries: handoff_cases.len(),
        handoff_entries_handed_off: handoff_cases
            .iter()
            .filter(|(_, r)| r.action == Action::Handoff)
            .count(),
        p50_ms: ms.get(n / 2).copied().unwrap_or(0.0),
        records,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(
        canonical: &str,
        action: Action,
        verdict: Option<Status>,
        sent: Option<Status>,
    ) -> GateRecord {
        GateRecord {
            canonical: canonical.into(),
            question: "q".into(),
            action,
            matched: Some(canonical.into()),
            verdict,
            sent_status: sent,
            sent_provenance: Provenance::Generated,
            total_ms: 10.0,
        }
    }

    #[test]
    fn shares_count_decisions_and_contradicting_sends() {
        let case = |id: &str, handoff| GateCase {
            canonical: id.into(),
            question: "q".into(),
            answer: "a".into(),
            handoff,
        };
        let cases = [
            case("a", false),
            case("b", false),
            case("c", false),
            case("d", true),
        ];
        let records = vec![
            record(
                "a",
                Action::Send,
                Some(Status::Consistent),
                Some(Status::Consistent),
            ),
            record(
                "b",
                Action::SendCanonical,
                Some(Status::Contradiction),
                Some(Status::Consistent),
            ),
            record(
                "c",
                Action::Send,
                Some(Status::Consistent),
                Some(Status::Contradiction),
            ),
            record("d", Action::Handoff, None, None),
        ];
        let r = summarise(Lang::Pl, &cases, records);
        assert_eq!(r.questions, 4);
        assert_eq!(r.shares["send"], 0.5);
        assert_eq!(r.shares["handoff"], 0.25);
        assert_eq!(r.drafted, 3);
        assert!((r.draft_sent_share - 2.0 / 3.0).abs() < 1e-9);
        assert!((r.draft_replaced_share - 1.0 / 3.0).abs() < 1e-9);
        assert_eq!(r.sent_contradictions, 1);
        assert_eq!((r.handoff_entries, r.handoff_entries_handed_off), (1, 1));
    }
}
