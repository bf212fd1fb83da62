//! The decision policy: from triage, retrieval and the checker's verdict to one action (hand off,
//! send the draft, send the approved answer, hold for staff, or say honestly there is no answer).
//!
//! Rules before the model: a handoff rule always wins, whatever the draft says. Every decision
//! carries the reasons that led to it, for the console and the evaluation.

use serde::{Deserialize, Serialize};

use crate::check::{Status, Verdict};

/// Whether answers go out on their own or every one waits for staff.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// Checked answers are sent; risky ones are held or replaced by the approved answer.
    Autopilot,
    /// Every answer is a proposal that staff approve, edit or reject.
    Copilot,
}

impl Mode {
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Autopilot => "autopilot",
            Mode::Copilot => "copilot",
        }
    }
}

impl std::str::FromStr for Mode {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "autopilot" => Ok(Mode::Autopilot),
            "copilot" => Ok(Mode::Copilot),
            other => Err(format!("unknown mode `{other}` (autopilot or copilot)")),
        }
    }
}

/// What happens to the customer's message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// A person takes over; the customer gets the fixed handoff message and the bot goes quiet.
    Handoff,
    /// The checked draft is sent (slots filled).
    Send,
    /// The approved answer is sent (slots filled); a draft that disagreed is kept for review.
    SendCanonical,
    /// Nothing is sent yet: staff review the proposal first; the customer is told so.
    Hold,
    /// No grounded answer: the customer is told so honestly and offered a person.
    NoAnswer,
}

impl Action {
    /// Every decision, in the order reports list them.
    pub const ALL: [Action; 5] = [
        Action::Send,
        Action::SendCanonical,
        Action::Hold,
        Action::Handoff,
        Action::NoAnswer,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Action::Handoff => "handoff",
            Action::Send => "send",
            Action::SendCanonical => "send_canonical",
            Action::Hold => "hold",
            Action::NoAnswer => "no_answer",
        }
    }
}

/// Which text a decision sends, or proposes to staff when held.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Proposal {
    Draft,
    Canonical,
    None,
}

/// One reason behind a decision: a stable code and the figures that made it fire.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Reason {
    pub code: String,
    pub detail: String,
}

impl Reason {
    pub fn new(code: &str, detail: impl Into<String>) -> Reason {
        Reason {
            code: code.to_string(),
            detail: detail.into(),
        }
    }
}

/// The approved answer the question matched: the gate decides the match and whether it is sure
/// once (`assistant::matching`) and the policy takes both as given.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CanonicalInfo {
    /// Cosine similarity of the question to the answer's closest phrasing.
    pub similarity: f32,
    /// The entry is marked `handoff = true`.
    pub handoff: bool,
    /// The evidence agrees: it may be sent without staff ([`crate::assistant::MatchSettings`]).
    pub sure: bool,
}

/// Everything the policy looks at, as plain data.
#[derive(Debug, Clone, Copy)]
pub struct PolicyInput<'a> {
    /// Triage rules that ask for a person (already filtered by the triage settings).
    pub handoff_rules: &'a [Reason],
    pub canonical: Option<CanonicalInfo>,
    /// Cosine similarity of the question to the best retrieved passage.
    pub context_similarity: Option<f32>,
    /// Whether a draft exists (generation may have failed or been skipped).
    pub has_draft: bool,
    /// Passages the draft cites.
    pub cited: usize,
    /// The checker's verdict on the draft.
    pub verdict: Option<&'a Verdict>,
    /// No draft was written on purpose (the evaluation's retrieval-and-policy mode): decide what
    /// does not depend on the draft's text, as if one had been written and not yet checked.
    pub draft_unwritten: bool,
    /// Nothing matched and the draft contradicts the nearest approved answer (why).
    pub nearest_disagrees: Option<&'a Reason>,
}

/// Thresholds from `[policy]` in `concord.toml`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct PolicySettings {
    pub mode: Mode,
    /// Without an approved answer, a grounded draft is sent only when the best passage is at
    /// least this similar to the question...
    pub send_min_context_similarity: f32,
    /// ...and held for staff when it is at least this similar; below it there is no answer.
    pub hold_min_context_similarity: f32,
    /// Without an approved answer, a sent draft must cite at least one passage.
    pub require_citation: bool,
    /// Release checked sentences of a draft to the customer while it is written, where
    /// [`may_release`] allows it; otherwise the customer sees only the final reply.
    pub release_text: bool,
}

impl Default for PolicySettings {
    fn default() -> Self {
        PolicySettings {
            mode: Mode::Autopilot,
            send_min_context_similarity: 0.6,
            hold_min_context_similarity: 0.4,
            require_citation: true,
            release_text: true,
        }
    }
}

/// The policy's choice and why.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Decision {
    pub action: Action,
    pub mode: Mode,
    /// The text sent (or proposed, when held).
    pub proposal: Proposal,
    /// The draft disagreed with its references and was not sent: staff see it in the review queue.
    pub draft_blocked: bool,
    pub reasons: Vec<Reason>,
}

/// Whether text drafted for this question may reach the customer before the decision: only when
/// every decision the draft can still lead to sends text that begins with what was released.
///
/// Known before drafting: the handoff rules did not fire (the caller drafts only then), the mode
/// is autopilot, and an approved answer matched surely enough to be sent (not marked handoff, the
/// match sure: `assistant::matching`). Then [`decide`] can only answer
/// `send` (the checked draft, which begins with the released sentences) or `send_canonical`
/// (the reply keeps the released sentences and adds the approved answer after them); the
/// released sentences themselves are checked against the approved answer alone
/// (`assistant::release`). Without an approved answer, a draft may still be held or refused
/// after the customer read it, so nothing is released: the checked draft arrives whole.
pub fn may_release(canonical: Option<CanonicalInfo>, settings: &PolicySettings) -> bool {
    settings.release_text
        && settings.mode == Mode::Autopilot
        && canonical.is_some_and(|c| !c.handoff && c.sure)
}

/// Applies the policy (see the module documentation and DESIGN.md "Decision policy").
pub fn decide(input: &PolicyInput<'_>, settings: &PolicySettings) -> Decision {
    let mut reasons = Vec::new();
    let decision = |action, proposal, draft_blocked, reasons| Decision {
        action,
        mode: settings.mode,
        proposal,
        draft_blocked,
        reasons,
    };

    // 1. Handoff rules first: nothing the model wrote can override them.
    if !input.handoff_rules.is_empty() {
        reasons.extend(input.handoff_rules.iter().cloned());
        return decision(Action::Handoff, Proposal::None, false, reasons);
    }
    // The match was decided once, by the gate (`assistant::matching`): not again here.
    let canonical = input.canonical;
    if let Some(c) = canonical.filter(|c| c.handoff) {
        reasons.push(Reason::new(
            "canonical.handoff",
            format!(
                "the matched approved answer (similarity {:.2}) is marked handoff",
                c.similarity
            ),
        ));
        return decision(Action::Handoff, Proposal::None, false, reasons);
    }

    let status = input.verdict.map(|v| v.status);
    // A consistent draft that states none of the approved answer's facts (or, without one, no
    // fact of the sources) was checked for polarity alone, which misses paraphrased yes/no
    // answers: it is never sent on its own.
    let unverifiable =
        status == Some(Status::Consistent) && input.verdict.is_some_and(|v| v.stated == 0);
    let unverifiable_reason = || {
        Reason::new(
            "draft.unverifiable",
            "the draft states none of the approved answer's facts (or the sources'): only its \
             polarity could be checked",
        )
    };
    if let Some(v) = input.verdict {
        reasons.push(Reason::new(
            "check.verdict",
            format!(
                "{} (score {:.2}, {} finding(s))",
                status_str(v.status),
                v.score,
                v.findings.len()
            ),
        ));
    }

    let (action, proposal, blocked) = if let Some(c) = canonical {
        // 2. An approved answer matched: the draft goes out only if it agrees with it.
        reasons.push(Reason::new(
            "canonical.match",
            format!(
                "approved answer matched with similarity {:.2}",
                c.similarity
            ),
        ));
        match (input.has_draft, status) {
            _ if !c.sure => {
                // 2a. Matched, but not surely the right answer: staff confirm before it goes out.
                reasons.push(Reason::new(
                    "canonical.uncertain",
                    format!(
                        "the evidence for the match (similarity {:.2}) does not agree: staff \
                         check the approved answer is the right one",
                        c.similarity
                    ),
                ));
                match (input.has_draft, status) {
                    (true, Some(Status::Consistent)) if unverifiable => {
                        reasons.push(unverifiable_reason());
                        (Action::Hold, Proposal::Canonical, false)
                    }
                    (true, Some(Status::Consistent)) => (Action::Hold, Proposal::Draft, false),
                    (true, _) => (Action::Hold, Proposal::Canonical, true),
                    (false, _) => (Action::Hold, Proposal::Canonical, false),
                }
            }
            (true, Some(Status::Consistent)) if unverifiable => {
                reasons.push(unverifiable_reason());
                (Action::SendCanonical, Proposal::Canonical, false)
            }
            (true, Some(Status::Consistent)) => (Action::Send, Proposal::Draft, false),
            (true, Some(s)) => {
                reasons.push(Reason::new(
                    "draft.blocked",
                    format!(
                        "the draft is {}; the approved answer is sent",
                        status_str(s)
                    ),
                ));
                (Action::SendCanonical, Proposal::Canonical, true)
            }
            (true, None) | (false, _) => {
                reasons.push(Reason::new("draft.missing", "no checked draft"));
                (Action::SendCanonical, Proposal::Canonical, false)
            }
        }
    } else {
        // 3. No approved answer: only a grounded, cited draft on confident retrieval is sent.
        let sim = input.context_similarity.unwrap_or(f32::NEG_INFINITY);
        reasons.push(Reason::new("canonical.none", "no approved answer matched"));
        let grounded = input.has_draft && status == Some(Status::Consistent) && !unverifiable;
        let cited = !settings.require_citation || input.cited > 0;
        if let Some(why) = input.nearest_disagrees.filter(|_| input.has_draft) {
            // 3a. The draft states another value than the nearest approved answer: staff check.
            reasons.push(why.clone());
            (Action::Hold, Proposal::Draft, false)
        } else if grounded && cited && sim >= settings.send_min_context_similarity {
            reasons.push(Reason::new(
                "context.confident",
                format!("best passage similarity {sim:.2}; every fact grounded, cited"),
            ));
            (Action::Send, Proposal::Draft, false)
        } else if (input.has_draft || input.draft_unwritten)
            && sim >= settings.hold_min_context_similarity
        {
            if input.draft_unwritten {
                reasons.push(Reason::new(
                    "draft.unwritten",
                    "no draft was written (retrieval-and-policy mode); a draft is held or sent",
                ));
            } else if unverifiable {
                reasons.push(unverifiable_reason());
            } else if !grounded {
                reasons.push(Reason::new(
                    "draft.ungrounded",
                    "the draft states something the passages do not support",
                ));
            } else if !cited {
                reasons.push(Reason::new("draft.uncited", "the draft cites no passage"));
            } else {
                reasons.push(Reason::new(
                    "context.uncertain",
                    format!(
                        "best passage similarity {sim:.2} < {:.2}",
                        settings.send_min_context_similarity
                    ),
                ));
            }
            (
                Action::Hold,
                Proposal::Draft,
                !grounded && !unverifiable && !input.draft_unwritten,
            )
        } else {
            reasons.push(Reason::new(
                "context.weak",
                if input.context_similarity.is_some() {
                    format!(
                        "best passage similarity {sim:.2} < {:.2}",
                        settings.hold_min_context_similarity
                    )
                } else {
                    "no passage retrieved".to_string()
                },
            ));
            (Action::NoAnswer, Proposal::None, false)
        }
    };

    // 4. Copilot: whatever would be sent waits for staff instead.
    if settings.mode == Mode::Copilot && action != Action::Hold {
        reasons.push(Reason::new(
            "mode.copilot",
            format!(
                "would have been `{}`; staff approve every answer",
                action.as_str()
            ),
        ));
        return decision(Action::Hold, proposal, blocked, reasons);
    }
    decision(action, proposal, blocked, reasons)
}

fn status_str(s: Status) -> &'static str {
    match s {
        Status::Consistent => "consistent",
        Status::Contradiction => "a contradiction",
        Status::Unsupported => "unsupported",
        Status::Incomplete => "incomplete",
        Status::NoReference => "without reference",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check::{check, CheckInput, CheckSettings};

    const CANONICAL: &str = "Masz 30 dni na zwrot. Zwrot przez Paczkomat InPost jest bezpłatny.";

    fn verdict(draft: &str, canonical: Option<&str>, context: &[&str]) -> Verdict {
        check(
            &CheckInput {
                draft,
                canonical,
                context,
                similarity: Some(0.9),
                focus: None,
                question: None,
            },
            &CheckSettings::default(),
        )
    }

    fn input<'a>(
        canonical: Option<CanonicalInfo>,
        context_similarity: Option<f32>,
        verdict: Option<&'a Verdict>,
        cited: usize,
    ) -> PolicyInput<'a> {
        PolicyInput {
            handoff_rules: &[],
            canonical,
            context_similarity,
            has_draft: verdict.is_some(),
            cited,
            verdict,
            draft_unwritten: false,
            nearest_disagrees: None,
        }
    }

    const MATCHED: Option<CanonicalInfo> = Some(CanonicalInfo {
        similarity: 0.8,
        handoff: false,
        sure: true,
    });
    const UNSURE: Option<CanonicalInfo> = Some(CanonicalInfo {
        similarity: 0.8,
        handoff: false,
        sure: false,
    });

    fn codes(d: &Decision) -> Vec<&str> {
        d.reasons.iter().map(|r| r.code.as_str()).collect()
    }

    #[test]
    fn a_consistent_draft_is_sent_and_a_contradicting_one_replaced() {
        let s = PolicySettings::default();
        let good = verdict(
            "Na zwrot masz 30 dni, a przez Paczkomat InPost jest bezpłatny.",
            Some(CANONICAL),
            &[],
        );
        let d = decide(&input(MATCHED, Some(0.7), Some(&good), 1), &s);
        assert_eq!(
            (d.action, d.proposal, d.draft_blocked),
            (Action::Send, Proposal::Draft, false)
        );
        let bad = verdict("Masz 14 dni na zwrot.", Some(CANONICAL), &[]);
        let d = decide(&input(MATCHED, Some(0.7), Some(&bad), 1), &s);
        assert_eq!(
            (d.action, d.proposal, d.draft_blocked),
            (Action::SendCanonical, Proposal::Canonical, true)
        );
        assert!(codes(&d).contains(&"draft.blocked"), "{d:?}");
        // No draft at all (generation failed): the approved answer still goes out.
        let d = decide(&input(MATCHED, None, None, 0), &s);
        assert_eq!(d.action, Action::SendCanonical);
        assert!(!d.draft_blocked);
    }

    #[test]
    fn an_uncertain_match_is_held_for_staff_whatever_the_draft() {
        let s = PolicySettings::default();
        let good = verdict(
            "Na zwrot masz 30 dni, a przez Paczkomat InPost jest bezpłatny.",
            Some(CANONICAL),
            &[],
        );
        let bad = verdict("Masz 14 dni na zwrot.", Some(CANONICAL), &[]);
        // Matched (the answer is the draft's reference) but the evidence disagrees: not sent.
        let d = decide(&input(UNSURE, Some(0.7), Some(&good), 1), &s);
        assert_eq!(
            (d.action, d.proposal, d.draft_blocked),
            (Action::Hold, Proposal::Draft, false)
        );
        assert!(codes(&d).contains(&"canonical.uncertain"), "{d:?}");
        let d = decide(&input(UNSURE, Some(0.7), Some(&bad), 1), &s);
        assert_eq!(
            (d.action, d.proposal, d.draft_blocked),
            (Action::Hold, Proposal::Canonical, true)
        );
        let d = decide(&input(UNSURE, None, None, 0), &s);
        assert_eq!((d.action, d.proposal), (Action::Hold, Proposal::Canonical));
        // The same match, sure, is sent.
        assert_eq!(
            decide(&input(MATCHED, Some(0.7), Some(&good), 1), &s).action,
            Action::Send
        );
    }

    #[test]
    fn handoff_rules_win_over_everything() {
        let s = PolicySettings::default();
        let good = verdict(
            "Masz 30 dni na zwrot przez Paczkomat InPost, bezpłatnie.",
            Some(CANONICAL),
            &[],
        );
        let rules = [Reason::new("triage.human_request", "asks for a person")];
        let mut i = input(MATCHED, Some(0.9), Some(&good), 1);
        i.handoff_rules = &rules;
        let d = decide(&i, &s);
        assert_eq!(d.action, Action::Handoff);
        assert_eq!(codes(&d), ["triage.human_request"]);
        let marked = Some(CanonicalInfo {
            similarity: 0.8,
            handoff: true,
            sure: true,
        });
        let d = decide(&input(marked, Some(0.9), Some(&good), 1), &s);
        assert_eq!(d.action, Action::Handoff);
        assert_eq!(codes(&d), ["canonical.handoff"]);
        // Copilot does not delay a handoff.
        let copilot = PolicySettings {
            mode: Mode::Copilot,
            ..s
        };
        assert_eq!(
            decide(&input(marked, Some(0.9), Some(&good), 1), &copilot).action,
            Action::Handoff
        );
    }

    #[test]
    fn a_draft_stating_no_fact_of_the_approved_answer_is_never_sent_alone() {
        let s = PolicySettings::default();
        // Consistent as far as facts and polarity go, yet only a yes: nothing of the approved
        // answer was verified, so the approved answer goes out.
        const NO_DISHWASHER: &str = "Żeliwo myj ręcznie gorącą wodą i nie wkładaj go do zmywarki.";
        let yes = verdict("Tak, można.", Some(NO_DISHWASHER), &[]);
        assert_eq!((yes.status, yes.stated), (Status::Consistent, 0));
        let d = decide(&input(MATCHED, Some(0.8), Some(&yes), 0), &s);
        assert_eq!(
            (d.action, d.proposal, d.draft_blocked),
            (Action::SendCanonical, Proposal::Canonical, false)
        );
        assert!(codes(&d).contains(&"draft.unverifiable"), "{d:?}");
        // Unsure match: staff see the approved answer, not the unverified draft.
        let d = decide(&input(UNSURE, Some(0.8), Some(&yes), 0), &s);
        assert_eq!((d.action, d.proposal), (Action::Hold, Proposal::Canonical));
        // A draft stating the approved answer's values is verified and sent.
        let good = verdict(
            "Na zwrot masz 30 dni, a przez Paczkomat InPost jest bezpłatny.",
            Some(CANONICAL),
            &[],
        );
        assert!(good.stated > 0);
        assert_eq!(
            decide(&input(MATCHED, Some(0.8), Some(&good), 1), &s).action,
            Action::Send
        );
        // Without an approved answer, a draft stating no fact of the passages is held.
        let ctx = ["Sprzedajemy tekstylia i naczynia do domu."];
        let cars = verdict("Sprzedajemy samochody [1].", None, &ctx);
        assert_eq!(cars.status, Status::Consistent);
        let d = decide(&input(None, Some(0.9), Some(&cars), 1), &s);
        assert_eq!((d.action, d.proposal), (Action::Hold, Proposal::Draft));
        assert!(codes(&d).contains(&"draft.unverifiable"), "{d:?}");
    }

    #[test]
    fn without_an_approved_answer_only_grounded_cited_confident_drafts_go_out() {
        let s = PolicySettings::default();
        let ctx = ["Wysyłka kurierem DPD kosztuje 14,99 zł."];
        let grounded = verdict("Kurier DPD kosztuje 14,99 zł [1].", None, &ctx);
        let d = decide(&input(None, Some(0.7), Some(&grounded), 1), &s);
        assert_eq!(d.action, Action::Send);
        assert!(codes(&d).contains(&"context.confident"));
        // Uncited: held for staff.
        let d = decide(&input(None, Some(0.7), Some(&grounded), 0), &s);
        assert_eq!((d.action, d.proposal), (Action::Hold, Proposal::Draft));
        assert!(codes(&d).contains(&"draft.uncited"));
        // Retrieval not confident enough: held.
        let d = decide(&input(None, Some(0.5), Some(&grounded), 1), &s);
        assert_eq!(d.action, Action::Hold);
        // Ungrounded: held and marked as blocked.
        let wrong = verdict("Kurier DPD kosztuje 19,99 zł [1].", None, &ctx);
        let d = decide(&input(None, Some(0.7), Some(&wrong), 1), &s);
        assert_eq!((d.action, d.draft_blocked), (Action::Hold, true));
        // Nothing relevant retrieved: an honest "no answer".
        let d = decide(&input(None, Some(0.2), Some(&grounded), 1), &s);
        assert_eq!((d.action, d.proposal), (Action::NoAnswer, Proposal::None));
        let d = decide(&input(None, None, None, 0), &s);
        assert_eq!(d.action, Action::NoAnswer);
        // Grounded in the passages but another value than the nearest approved answer: held.
        let why = Reason::new(
            "draft.nearest_disagrees",
            "pl-delivery-cost: 14,99 zł vs 12,99 zł",
        );
        let d = decide(
            &PolicyInput {
                nearest_disagrees: Some(&why),
                ..input(None, Some(0.95), Some(&grounded), 1)
            },
            &s,
        );
        assert_eq!((d.action, d.proposal), (Action::Hold, Proposal::Draft));
        assert!(codes(&d).contains(&"draft.nearest_disagrees"));
    }

    #[test]
    fn copilot_holds_what_autopilot_would_send() {
        let s = PolicySettings {
            mode: Mode::Copilot,
            ..PolicySettings::default()
        };
        let good = verdict(
            "Masz 30 dni na zwrot przez Paczkomat InPost, bezpłatnie.",
            Some(CANONICAL),
            &[],
        );
        let d = decide(&input(MATCHED, Some(0.7), Some(&good), 1), &s);
        assert_eq!(
            (d.action, d.proposal, d.mode),
            (Action::Hold, Proposal::Draft, Mode::Copilot)
        );
        assert!(codes(&d).contains(&"mode.copilot"));
        let bad = verdict("Masz 14 dni na zwrot.", Some(CANONICAL), &[]);
        let d = decide(&input(MATCHED, Some(0.7), Some(&bad), 1), &s);
        assert_eq!(
            (d.action, d.proposal, d.draft_blocked),
            (Action::Hold, Proposal::Canonical, true)
        );
    }

    #[test]
    fn modes_parse_and_actions_name_themselves() {
        assert_eq!(" Copilot ".parse::<Mode>(), Ok(Mode::Copilot));
        assert!("yolo"
            .parse::<Mode>()
            .unwrap_err()
            .contains("autopilot or copilot"));
        assert_eq!(Action::SendCanonical.as_str(), "send_canonical");
        assert_eq!(
            serde_json::to_value(Action::SendCanonical).unwrap(),
            serde_json::json!("send_canonical")
        );
    }

    /// The release rule's promise, over every input the policy can see after drafting: where
    /// text may be released before the decision, the decision sends (the draft, or the approved
    /// answer after the released text), never holds, hands off or refuses.
    #[test]
    fn where_text_may_be_released_every_decision_sends() {
        use proptest::prelude::*;
        let good = verdict("Masz 30 dni na zwrot.", Some(CANONICAL), &[]);
        let bad = verdict("Masz 14 dni na zwrot.", Some(CANONICAL), &[]);
        let unsupported = verdict("Zadzwoń: 500 600 700.", Some(CANONICAL), &[]);
        let verdicts = [Some(&good), Some(&bad), Some(&unsupported), None];
        let strategy = (
            -1.0f32..1.0,
            any::<bool>(),
            proptest::option::of(-1.0f32..1.0),
            0usize..4,
            0usize..3,
            any::<bool>(),
            any::<bool>(),
            any::<bool>(),
            any::<bool>(),
        );
        let mut runner = proptest::test_runner::TestRunner::deterministic();
        runner
            .run(
                &strategy,
                |(sim, handoff, ctx, v, cited, sure, copilot, has_draft, unwritten)| {
                    let settings = PolicySettings {
                        mode: if copilot {
                            Mode::Copilot
                        } else {
                            Mode::Autopilot
                        },
                        ..PolicySettings::default()
                    };
                    let canonical = Some(CanonicalInfo {
                        similarity: sim,
                        handoff,
                        sure,
                    });
                    if !may_release(canonical, &settings) {
                        return Ok(());
                    }
                    let verdict = verdicts[v];
                    let d = decide(
                        &PolicyInput {
                            handoff_rules: &[],
                            canonical,
                            context_similarity: ctx,
                            has_draft: has_draft && verdict.is_some(),
                            cited,
                            verdict,
                            draft_unwritten: unwritten,
                            nearest_disagrees: None,
                        },
                        &settings,
                    );
                    prop_assert!(
                        matches!(d.action, Action::Send | Action::SendCanonical),
                        "{d:?}"
                    );
                    Ok(())
                },
            )
            .unwrap();
        // And it does allow streaming where it should, and not in copilot or on an unsure match.
        let s = PolicySettings::default();
        assert!(may_release(MATCHED, &s));
        assert!(!may_release(None, &s));
        let copilot = PolicySettings {
            mode: Mode::Copilot,
            ..s
        };
        assert!(!may_release(MATCHED, &copilot));
        assert!(!may_release(UNSURE, &s));
        let off = PolicySettings {
            release_text: false,
            ..s
        };
        assert!(!may_release(MATCHED, &off));
    }
}
