//! The whole gate for one customer message: triage rules, retrieval, the draft, the consistency
//! check, the decision and the reply with its slots filled — what `concord ask`, the evaluation and
//! the server run.
//!
//! It comes in two halves so that a server can await the model between them: [`Assistant::begin`]
//! (rules and retrieval; a handoff ends here, before any model runs) and [`Assistant::finish`].

use std::sync::Arc;
use std::time::Instant;

use serde::Serialize;

use crate::answer::{finish_draft, AnswerError, Draft, DraftPlan, Drafter, Source};
use crate::check::{check, CheckInput, CheckSettings, Verdict};
use crate::config::Config;
use crate::knowledge::{CanonicalId, Lang};
use crate::llm::queue::{Event, Ticket};
use crate::llm::{Completion, LlmError};
use crate::pipeline::Pipeline;
use crate::retrieve::Retrieval;

use super::policy::{
    decide, Action, CanonicalInfo, Decision, PolicyInput, PolicySettings, Proposal, Reason,
};
use super::slots::{fill_slots, SlotValues};
use super::stream::CheckedStream;
use super::triage::{triage, Triage, TriageInput, TriageSettings, Turn};

/// Who wrote the text the customer receives (shown in the widget and kept with the message).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Provenance {
    /// The approved answer, written by staff.
    Canonical,
    /// Drafted by the model and passed the consistency check.
    Generated,
    /// Written by a person in the console.
    Human,
    /// A fixed message (handoff, held, no answer) from `prompts/messages/`.
    System,
}

/// What the customer is sent now.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Reply {
    pub text: String,
    pub provenance: Provenance,
    /// Slots filled from the customer's context, and those that had no value.
    pub slots_filled: Vec<String>,
    pub slots_missing: Vec<String>,
}

/// The approved answer the question matched (above the threshold).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MatchedCanonical {
    pub id: CanonicalId,
    pub similarity: f32,
    pub handoff: bool,
    /// The approved text, slots unfilled.
    pub answer: String,
}

/// Time spent in each stage, in milliseconds.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct GateTimings {
    pub triage_ms: f64,
    pub retrieval_ms: f64,
    pub draft_ms: f64,
    pub check_ms: f64,
    pub total_ms: f64,
}

/// Everything the gate decided about one message, with its reasons.
#[derive(Debug, Clone, Serialize)]
pub struct Outcome {
    pub lang: Lang,
    pub triage: Triage,
    pub canonical: Option<MatchedCanonical>,
    /// Cosine similarity of the question to the best retrieved passage.
    pub context_similarity: Option<f32>,
    pub draft: Option<Draft>,
    pub verdict: Option<Verdict>,
    pub decision: Decision,
    pub reply: Reply,
    /// The text staff are asked to approve when the decision is `hold` (slots filled).
    pub proposal: Option<String>,
    pub timings: GateTimings,
}

/// A customer message with its conversation.
#[derive(Debug, Clone, Copy)]
pub struct Request<'a> {
    pub message: &'a str,
    /// Earlier turns of the conversation, oldest first.
    pub history: &'a [Turn],
    /// Values for personalisation slots, from the host page.
    pub slots: &'a SlotValues,
    /// The conversation's language when known (else detected).
    pub lang: Option<Lang>,
}

/// The gate's settings (from `[triage]`, `[check]`, `[policy]` and `[prompts]`).
#[derive(Debug, Clone)]
pub struct GateSettings {
    pub triage: TriageSettings,
    pub check: CheckSettings,
    pub policy: PolicySettings,
    pub business_name: String,
}

impl GateSettings {
    pub fn from_config(c: &Config) -> GateSettings {
        GateSettings {
            triage: c.triage.clone(),
            check: c.check,
            policy: c.policy,
            business_name: c.prompts.business_name.clone(),
        }
    }
}

/// The first half's result: the gate ended without the model, or a draft is on its way.
pub enum Begun {
    Done(Box<Outcome>),
    Drafting {
        pending: Box<Pending>,
        ticket: Ticket,
    },
}

/// What [`Assistant::finish`] needs from [`Assistant::begin`].
pub struct Pending {
    lang: Lang,
    triage: Triage,
    canonical: Option<MatchedCanonical>,
    context_similarity: Option<f32>,
    plan: Option<DraftPlan>,
    /// Why no draft was written although one could have been (a long or full queue).
    skipped: Option<Reason>,
    model: String,
    slots: SlotValues,
    timings: GateTimings,
    started: Instant,
    drafting: Instant,
}

/// The assembled assistant: index, embedder, models and settings.
pub struct Assistant {
    pub pipeline: Pipeline,
    /// Shared with the assistants of later index generations (one queue, one model load).
    pub drafter: Arc<Drafter>,
    pub settings: GateSettings,
}

impl Assistant {
    pub fn new(pipeline: Pipeline, drafter: Drafter) -> Assistant {
        Self::with_shared(pipeline, Arc::new(drafter))
    }

    /// An assistant on `pipeline` with a drafter already serving elsewhere.
    pub fn with_shared(pipeline: Pipeline, drafter: Arc<Drafter>) -> Assistant {
        let settings = GateSettings::from_config(&pipeline.config);
        Assistant {
            pipeline,
            drafter,
            settings,
        }
    }

    /// The same models and settings on the index generation published now (after ingestion).
    pub fn reopened(&self) -> crate::Result<Assistant> {
        let pipeline =
            Pipeline::with_shared_embedder(&self.pipeline.config, self.pipeline.embedder.clone())?;
        Ok(Assistant::with_shared(pipeline, self.drafter.clone()))
    }

    /// The triage rules alone (pure and fast; the server runs them before anything else).
    pub fn triage(&self, req: &Request<'_>) -> Triage {
        triage(
            &TriageInput {
                message: req.message,
                history: req.history,
                lang_hint: req.lang,
            },
            &self.settings.triage,
        )
    }

    /// Rules, retrieval and, unless a rule ended it, the draft's submission to the queue.
    pub fn begin(&self, req: &Request<'_>) -> crate::Result<Begun> {
        let started = Instant::now();
        let tri = self.triage(req);
        let timings = GateTimings {
            triage_ms: ms(started),
            ..GateTimings::default()
        };
        self.continue_after_triage(req, tri, timings, started)
    }

    /// [`Assistant::begin`] after [`Assistant::triage`] ran.
    pub fn begin_triaged(&self, req: &Request<'_>, tri: Triage) -> crate::Result<Begun> {
        self.continue_after_triage(req, tri, GateTimings::default(), Instant::now())
    }

    fn continue_after_triage(
        &self,
        req: &Request<'_>,
        tri: Triage,
        mut timings: GateTimings,
        started: Instant,
    ) -> crate::Result<Begun> {
        let lang = req.lang.unwrap_or(tri.lang);
        if tri.handoff {
            let rules = handoff_reasons(&tri);
            return self.early(lang, tri, None, None, &rules, timings, started, req.slots);
        }

        let t = Instant::now();
        let cfg = &self.pipeline.config;
        let retrieval =
            self.pipeline
                .retriever()
                .retrieve(req.message, cfg.retrieval.mode, cfg.retrieval.k)?;
        timings.retrieval_ms = ms(t);
        let canonical = self.matched_canonical(&retrieval);
        let context_similarity = retrieval
            .chunks
            .iter()
            .filter_map(|c| c.dense.as_ref().map(|d| d.score))
            .fold(None, |best: Option<f32>, s| {
                Some(best.map_or(s, |b| b.max(s)))
            });
        if canonical.as_ref().is_some_and(|c| c.handoff) {
            return self.early(
                lang,
                tri,
                canonical,
                context_similarity,
                &[],
                timings,
                started,
                req.slots,
            );
        }
        let mut pending = Pending {
            lang,
            triage: tri,
            canonical,
            context_similarity,
            plan: None,
            skipped: None,
            model: self.drafter.generator(lang).name.clone(),
            slots: req.slots.clone(),
            timings,
            started,
            drafting: Instant::now(),
        };
        // Under load, an approved answer now beats a draft after a long wait.
        let waiting = self.drafter.queue().load().0;
        let skip_at = self.pipeline.config.generation.skip_draft_at_queue;
        if pending.canonical.is_some() && skip_at > 0 && waiting >= skip_at {
            pending.skipped = Some(Reason::new(
                "queue.long",
                format!("{waiting} drafts waiting; the approved answer is sent without a draft"),
            ));
            return Ok(Begun::Done(Box::new(self.finish(pending, None))));
        }
        match self
            .drafter
            .draft(&self.pipeline.index, req.message, lang, &retrieval)
        {
            Ok((plan, ticket)) => {
                pending.plan = Some(plan);
                Ok(Begun::Drafting {
                    pending: Box::new(pending),
                    ticket,
                })
            }
            // A full queue does not stop an approved answer: it is sent without a draft.
            Err(AnswerError::Llm(LlmError::Busy { capacity })) if pending.canonical.is_some() => {
                pending.skipped = Some(Reason::new(
                    "queue.full",
                    format!("the generation queue is full ({capacity} waiting); the approved answer is sent without a draft"),
                ));
                Ok(Begun::Done(Box::new(self.finish(pending, None))))
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Checks the draft (`None` when generation failed), decides and writes the reply.
    pub fn finish(&self, pending: Pending, completion: Option<Completion>) -> Outcome {
        let Pending {
            lang,
            triage,
            canonical,
            context_similarity,
            plan,
            skipped,
            model,
            slots,
            mut timings,
            started,
            drafting,
        } = pending;
        timings.draft_ms = ms(drafting);
        let draft = plan
            .zip(completion)
            .map(|(plan, c)| finish_draft(plan, c, &model));
        let t = Instant::now();
        let verdict = draft
            .as_ref()
            .map(|d| self.check_draft(d, canonical.as_ref()));
        timings.check_ms = ms(t);
        let mut decision = decide(
            &PolicyInput {
                handoff_rules: &[],
                canonical: canonical.as_ref().map(|c| CanonicalInfo {
                    similarity: c.similarity,
                    handoff: c.handoff,
                }),
                context_similarity,
                has_draft: draft.as_ref().is_some_and(|d| !d.text.trim().is_empty()),
                cited: draft.as_ref().map_or(0, |d| d.cited.len()),
                verdict: verdict.as_ref(),
                lang,
            },
            &self.settings.policy,
        );
        decision.reasons.extend(skipped);
        let (reply, proposal) =
            self.compose(lang, &decision, draft.as_ref(), canonical.as_ref(), &slots);
        timings.total_ms = ms(started);
        // Codes and scores only: never the customer's words at info level.
        tracing::info!(
            action = decision.action.as_str(),
            verdict = verdict.as_ref().map(|v| v.status.as_str()),
            canonical = canonical.as_ref().map(|c| c.id.0.as_str()),
            total_ms = timings.total_ms,
            "gate decided"
        );
        Outcome {
            lang,
            triage,
            canonical,
            context_similarity,
            draft,
            verdict,
            decision,
            reply,
            proposal,
            timings,
        }
    }

    /// Both halves, waiting on this thread; `on_event` sees the queue's events (position, text).
    pub fn answer_blocking(
        &self,
        req: &Request<'_>,
        mut on_event: impl FnMut(&Event),
    ) -> crate::Result<Outcome> {
        let (pending, mut ticket) = match self.begin(req)? {
            Begun::Done(outcome) => return Ok(*outcome),
            Begun::Drafting { pending, ticket } => (pending, ticket),
        };
        let completion = loop {
            match ticket.blocking_next() {
                Some(Event::Done(done)) => break Some(done),
                Some(Event::Failed(e)) => {
                    tracing::warn!(error = %e, "generation failed; the gate decides without a draft");
                    break None;
                }
                Some(e) => on_event(&e),
                None => break None,
            }
        };
        Ok(self.finish(*pending, completion))
    }

    /// The checker on a draft: the approved answer (when matched) and the passages given to the
    /// model as references, plus the embedding similarity of draft and approved answer.
    pub fn check_draft(&self, draft: &Draft, canonical: Option<&MatchedCanonical>) -> Verdict {
        let context = self.references(&draft.sources);
        let similarity = canonical.and_then(|c| {
            let e = self
                .pipeline
                .embedder
                .embed(&[draft.text.as_str(), c.answer.as_str()])
                .ok()?;
            Some(crate::embed::cosine(&e[0], &e[1]))
        });
        check(
            &CheckInput {
                draft: &draft.text,
                canonical: canonical.map(|c| c.answer.as_str()),
                context: &context,
                similarity,
            },
            &self.settings.check,
        )
    }

    /// The texts `draft` was checked against besides the approved answer, in the order of the
    /// verdict's `Context(n)` references (stored with the draft for the review console).
    pub fn references_of(&self, draft: &Draft) -> Vec<String> {
        self.references(&draft.sources)
            .into_iter()
            .map(str::to_string)
            .collect()
    }

    /// The texts a draft is checked against besides the approved answer: the passages it was
    /// written from, and the shop's own name (grounded whatever the passages say).
    fn references(&self, sources: &[Source]) -> Vec<&str> {
        let chunks = &self.pipeline.index.chunks;
        sources
            .iter()
            .filter_map(|s| chunks.iter().find(|c| c.id == s.chunk))
            .map(|c| c.text.as_str())
            .chain(std::iter::once(self.settings.business_name.as_str()))
            .collect()
    }

    /// A releaser for the draft `pending` waits for: it streams only sentences that pass the
    /// checker against the same references as the final check.
    pub fn checked_stream(&self, pending: &Pending) -> CheckedStream {
        let context = pending
            .plan
            .as_ref()
            .map(|p| self.references(&p.sources))
            .unwrap_or_default();
        CheckedStream::new(
            pending.canonical.as_ref().map(|c| c.answer.clone()),
            context.into_iter().map(str::to_string).collect(),
            self.settings.check,
        )
    }

    /// The approved answer the gate would match for `question` (retrieval as the gate runs it,
    /// and the policy's similarity threshold); the console re-runs questions with it.
    pub fn match_question(&self, question: &str) -> crate::Result<Option<MatchedCanonical>> {
        let cfg = &self.pipeline.config;
        let retrieval =
            self.pipeline
                .retriever()
                .retrieve(question, cfg.retrieval.mode, cfg.retrieval.k)?;
        Ok(self.matched_canonical(&retrieval))
    }

    fn matched_canonical(&self, retrieval: &Retrieval) -> Option<MatchedCanonical> {
        let m = retrieval.canonical.first()?;
        if m.similarity < self.settings.policy.canonical_min_similarity {
            return None;
        }
        let c = self.pipeline.index.canonicals.get(m.ord as usize)?;
        Some(MatchedCanonical {
            id: c.id.clone(),
            similarity: m.similarity,
            handoff: c.handoff,
            answer: c.answer.trim().to_string(),
        })
    }

    #[allow(clippy::too_many_arguments)]
    fn early(
        &self,
        lang: Lang,
        triage: Triage,
        canonical: Option<MatchedCanonical>,
        context_similarity: Option<f32>,
        rules: &[Reason],
        mut timings: GateTimings,
        started: Instant,
        slots: &SlotValues,
    ) -> crate::Result<Begun> {
        let decision = decide(
            &PolicyInput {
                handoff_rules: rules,
                canonical: canonical.as_ref().map(|c| CanonicalInfo {
                    similarity: c.similarity,
                    handoff: c.handoff,
                }),
                context_similarity,
                has_draft: false,
                cited: 0,
                verdict: None,
                lang,
            },
            &self.settings.policy,
        );
        let (reply, proposal) = self.compose(lang, &decision, None, canonical.as_ref(), slots);
        timings.total_ms = ms(started);
        tracing::info!(
            action = decision.action.as_str(),
            rules = ?decision.reasons.iter().map(|r| r.code.as_str()).collect::<Vec<_>>(),
            total_ms = timings.total_ms,
            "gate decided before drafting"
        );
        Ok(Begun::Done(Box::new(Outcome {
            lang,
            triage,
            canonical,
            context_similarity,
            draft: None,
            verdict: None,
            decision,
            reply,
            proposal,
            timings,
        })))
    }

    /// The reply the customer gets now, and the text proposed to staff when held.
    fn compose(
        &self,
        lang: Lang,
        decision: &Decision,
        draft: Option<&Draft>,
        canonical: Option<&MatchedCanonical>,
        slots: &SlotValues,
    ) -> (Reply, Option<String>) {
        let proposed = match decision.proposal {
            Proposal::Draft => draft.map(|d| fill_slots(&d.text, slots)),
            Proposal::Canonical => canonical.map(|c| fill_slots(&c.answer, slots)),
            Proposal::None => None,
        };
        let message = |kind: &str| -> String {
            self.drafter
                .prompts()
                .render_message(kind, lang, &self.settings.business_name)
                .unwrap_or_else(|e| {
                    tracing::error!(error = %e, kind, "fixed message template failed");
                    String::new()
                })
        };
        let system = |text: String| Reply {
            text,
            provenance: Provenance::System,
            slots_filled: vec![],
            slots_missing: vec![],
        };
        match (decision.action, proposed) {
            (Action::Send | Action::SendCanonical, Some(f)) => {
                let provenance = if decision.proposal == Proposal::Draft {
                    Provenance::Generated
                } else {
                    Provenance::Canonical
                };
                (
                    Reply {
                        text: f.text,
                        provenance,
                        slots_filled: f.filled,
                        slots_missing: f.missing,
                    },
                    None,
                )
            }
            (Action::Hold, proposed) => (system(message("hold")), proposed.map(|f| f.text)),
            (Action::Handoff, _) => (system(message("handoff")), None),
            (Action::NoAnswer, _) | (Action::Send | Action::SendCanonical, None) => {
                (system(message("no_answer")), None)
            }
        }
    }
}

fn handoff_reasons(t: &Triage) -> Vec<Reason> {
    t.handoff_signals
        .iter()
        .map(|f| Reason::new(&format!("triage.{}", f.rule), f.evidence.clone()))
        .collect()
}

fn ms(t: Instant) -> f64 {
    t.elapsed().as_secs_f64() * 1e3
}
