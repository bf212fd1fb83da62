//! The assembled assistant and the stages of one customer turn: triage rules, the approved-answer
//! match, retrieval, the draft's submission, then the check, the decision and the reply with its
//! slots filled. [`super::turn::Turn`] drives them; nothing else does.

use std::sync::Arc;
use std::time::Instant;

use serde::Serialize;

use crate::answer::{finish_draft, AnswerError, Ask, Draft, DraftPlan, Drafter, Source};
use crate::check::{check, CheckInput, CheckSettings, FindingKind, RefSource, Span, Verdict};
use crate::embed::Embedder;
use crate::index::{ExpectedEmbedder, Index, IndexError, IndexLocation};
use crate::knowledge::Lang;
use crate::llm::queue::Ticket;
use crate::llm::{Completion, LlmError};
use crate::retrieve::{RetrievalConfig, Retriever};

use super::matched::MatchedCanonical;
use super::matching::MatchSettings;
use super::policy::{
    decide, may_release, Action, Decision, PolicyInput, PolicySettings, Proposal, Reason,
};
use super::release::keep_released;
use super::slots::{fill_slots, SlotValues};
use super::triage::{triage, PastMessage, Triage, TriageInput, TriageSettings};
use super::turn::{Turn, TurnError};

/// Who wrote the text the customer receives (shown in the widget and kept with the message).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Provenance {
    /// The approved answer, written by staff.
    Canonical,
    /// Drafted by the model and passed the consistency check (alone, or released sentences
    /// followed by the approved answer).
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

/// A source shown with an answer: the article's title and public link.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct SourceLink {
    pub title: String,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub url: Option<String>,
}

/// Time spent in each stage, in milliseconds.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct GateTimings {
    pub triage_ms: f64,
    pub retrieval_ms: f64,
    pub draft_ms: f64,
    pub check_ms: f64,
    /// From the start of the turn to the first released text (none when nothing was released).
    pub first_release_ms: Option<f64>,
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
    /// The passages (and the shop's name) the draft was checked against besides the approved
    /// answer, in the order of the verdict's `Context(n)` references.
    pub references: Vec<String>,
    pub verdict: Option<Verdict>,
    pub decision: Decision,
    /// The text shown to the customer while the draft was written (a prefix of `reply.text`).
    pub released: String,
    pub reply: Reply,
    /// The sources shown with the reply.
    pub sources: Vec<SourceLink>,
    /// The text staff are asked to approve when the decision is `hold` (slots filled).
    pub proposal: Option<String>,
    pub timings: GateTimings,
}

/// A customer message with its conversation, as a turn owns it.
#[derive(Debug, Clone, Default)]
pub struct TurnRequest {
    pub message: String,
    /// Earlier messages of the conversation, oldest first.
    pub history: Vec<PastMessage>,
    /// Values for personalisation slots, from the host page.
    pub slots: SlotValues,
    /// The conversation's language when known (else detected, once, by triage).
    pub lang: Option<Lang>,
    /// Who asks, for fair sharing of the model (the server passes the client's address);
    /// `None` for local callers (CLI, eval).
    pub client: Option<String>,
}

impl TurnRequest {
    /// A first message with no context.
    pub fn new(message: impl Into<String>, lang: Option<Lang>) -> TurnRequest {
        TurnRequest {
            message: message.into(),
            lang,
            ..TurnRequest::default()
        }
    }
}

/// The gate's settings (from `[triage]`, `[matching]`, `[check]`, `[policy]` and `[prompts]`).
#[derive(Debug, Clone)]
pub struct GateSettings {
    pub triage: TriageSettings,
    pub matching: MatchSettings,
    pub check: CheckSettings,
    pub policy: PolicySettings,
    pub business_name: String,
    /// The marker in the drafting instructions (`prompts.canary`): a draft containing it is
    /// never shown or sent.
    pub canary: String,
    /// Retrieval as the gate runs it (`[retrieval]`).
    pub retrieval: RetrievalConfig,
    /// Where the published index is (to open the next generation after a reload).
    pub index: IndexLocation,
    /// Under load, an approved answer is sent without a draft (`generation.skip_draft_at_queue`).
    pub skip_draft_at_queue: usize,
    /// Write drafts (false: the evaluation's retrieval-and-policy mode decides without them).
    pub drafts: bool,
    /// When a person answers (`[hours]`); `None`: no schedule, and messages promise no time.
    pub hours: Option<Arc<crate::hours::OpeningHours>>,
}

/// What the turn carries from retrieval to the decision.
pub(super) struct Pending {
    pub(super) lang: Lang,
    triage: Triage,
    pub(super) canonical: Option<MatchedCanonical>,
    /// When nothing matched: the best-scoring approved answer, which a draft from the passages
    /// must not contradict.
    nearest: Option<u32>,
    context_similarity: Option<f32>,
    plan: Option<DraftPlan>,
    /// Why no draft was written although one could have been (a long or full queue).
    skipped: Option<Reason>,
    /// The sentences of the matched approved answer the question asks about, whose key facts
    /// the draft must state (`None`: all of them).
    focus: Option<Vec<Span>>,
    /// The customer's message (a draft that only repeats it answers nothing).
    question: String,
    /// Drafted text may be released before the decision ([`may_release`]).
    pub(super) release: bool,
    model: String,
    slots: SlotValues,
    pub(super) timings: GateTimings,
    pub(super) started: Instant,
    drafting: Instant,
}

/// After retrieval: decided without the model, or a draft is on its way.
pub(super) enum Prepared {
    Decided(Box<Outcome>),
    Drafting(Box<Pending>, Ticket),
}

/// The assembled assistant: index, embedder, models and settings.
pub struct Assistant {
    /// The index generation this assistant answers from (a reload makes a new assistant).
    pub index: Arc<Index>,
    /// Shared with the assistants of later index generations.
    pub embedder: Arc<Embedder>,
    /// Shared likewise (one queue, one model load).
    pub drafter: Arc<Drafter>,
    pub settings: GateSettings,
}

impl Assistant {
    /// An assistant on `index` and `embedder` with `drafter`'s models (the assembly,
    /// the pipeline module, builds one from the configuration).
    pub fn new(
        index: Arc<Index>,
        embedder: Arc<Embedder>,
        drafter: Arc<Drafter>,
        settings: GateSettings,
    ) -> Assistant {
        Assistant {
            index,
            embedder,
            drafter,
            settings,
        }
    }

    /// The same models and settings on the index generation published now (after ingestion).
    pub fn reopened(&self) -> Result<Assistant, IndexError> {
        let index = self.settings.index.open(&ExpectedEmbedder {
            name: self.embedder.name(),
            fingerprint: self.embedder.fingerprint(),
        })?;
        Ok(Assistant {
            index: Arc::new(index),
            embedder: self.embedder.clone(),
            drafter: self.drafter.clone(),
            settings: self.settings.clone(),
        })
    }

    /// Retrieval on this assistant's index, as a turn runs it.
    pub fn retriever(&self) -> Retriever<'_> {
        Retriever::new(&self.index, &self.embedder, self.settings.retrieval)
    }

    /// Starts answering `request`: drive the returned turn to its end.
    pub fn start_turn(self: &Arc<Self>, request: TurnRequest) -> Turn {
        Turn::new(self.clone(), request)
    }

    /// The triage rules alone (pure and fast).
    pub(super) fn triage(&self, req: &TurnRequest) -> Triage {
        triage(
            &TriageInput {
                message: &req.message,
                history: &req.history,
                lang_hint: req.lang,
            },
            &self.settings.triage,
        )
    }

    /// A turn a triage rule ended: handed to a person before anything else runs.
    pub(super) fn handed_off(
        &self,
        req: &TurnRequest,
        triage: Triage,
        started: Instant,
    ) -> Outcome {
        let rules: Vec<Reason> = triage
            .handoff_signals
            .iter()
            .map(|f| Reason::new(&format!("triage.{}", f.rule), f.evidence.clone()))
            .collect();
        let timings = GateTimings {
            triage_ms: ms(started),
            ..GateTimings::default()
        };
        let pending = self.pending(req, triage, None, None, timings, started);
        self.conclude(pending, Concluding::Rules(&rules))
    }

    /// Retrieval, the approved-answer match and, unless that ends the turn, the draft's
    /// submission to the queue.
    pub(super) fn prepare(
        &self,
        req: &TurnRequest,
        triage: Triage,
        started: Instant,
    ) -> Result<Prepared, TurnError> {
        let mut timings = GateTimings {
            triage_ms: ms(started),
            ..GateTimings::default()
        };
        let t = Instant::now();
        // The language is decided once, by triage, and retrieval uses it. A follow-up ("a do
        // Czech?") is also searched for with the customer's previous message: passages come
        // from the conversation, the approved answer must fit both (`followup::blend`).
        let retriever = self.retriever();
        let (mode, k) = (self.settings.retrieval.mode, self.settings.retrieval.k);
        let mut retrieval = retriever.retrieve_in(&req.message, triage.lang, mode, k)?;
        let joined = super::followup::search_text(&req.message, &req.history, triage.lang);
        let followup = joined.is_some();
        if let Some(joined) = joined {
            let mut conversation = retriever.retrieve_in(&joined, triage.lang, mode, k)?;
            conversation.evidence =
                super::followup::blend(&retrieval.evidence, &conversation.evidence);
            super::followup::drop_answered(
                &mut conversation.evidence,
                &req.history,
                &self.index.canonicals,
            );
            retrieval = conversation;
        }
        let canonical = if followup {
            self.matched_canonical(&retrieval, triage.lang)
        } else {
            self.match_message(&req.message, &retrieval, triage.lang)?
        };
        timings.retrieval_ms = ms(t);
        let nearest = canonical
            .is_none()
            .then(|| super::matching::nearest(&retrieval.evidence, &self.settings.matching))
            .flatten();
        let context_similarity = retrieval
            .chunks
            .iter()
            .filter_map(|c| c.dense.as_ref().map(|d| d.score))
            .fold(None, |best: Option<f32>, s| {
                Some(best.map_or(s, |b| b.max(s)))
            });
        let mut pending =
            self.pending(req, triage, canonical, context_similarity, timings, started);
        pending.nearest = nearest;
        if pending.canonical.as_ref().is_some_and(|c| c.handoff) {
            return Ok(Prepared::Decided(Box::new(
                self.conclude(pending, Concluding::Rules(&[])),
            )));
        }
        // Several questions, each with its approved answer: the answers together say it all.
        if let Some(c) = pending.canonical.as_ref().filter(|c| c.parts.len() > 1) {
            pending.skipped = Some(Reason::new(
                "canonical.parts",
                format!(
                    "the message asks {} questions, each matched surely; their approved answers are sent without a draft",
                    c.parts.len()
                ),
            ));
            return Ok(Prepared::Decided(Box::new(
                self.conclude(pending, Concluding::Drafted(None, "")),
            )));
        }
        if !self.settings.drafts {
            return Ok(Prepared::Decided(Box::new(
                self.conclude(pending, Concluding::Unwritten),
            )));
        }
        // Under load, an approved answer now beats a draft after a long wait.
        let waiting = self.drafter.queue().load().0;
        let skip_at = self.settings.skip_draft_at_queue;
        if pending.canonical.is_some() && skip_at > 0 && waiting >= skip_at {
            pending.skipped = Some(Reason::new(
                "queue.long",
                format!("{waiting} drafts waiting; the approved answer is sent without a draft"),
            ));
            return Ok(Prepared::Decided(Box::new(
                self.conclude(pending, Concluding::Drafted(None, "")),
            )));
        }
        let shown = pending
            .canonical
            .as_ref()
            .and_then(|m| self.index.canonicals.iter().find(|c| c.id == m.id));
        pending.drafting = Instant::now();
        let ask = Ask {
            question: &req.message,
            lang: pending.lang,
            retrieval: &retrieval,
            canonical: shown,
        };
        match self.drafter.draft(&self.index, &ask, req.client.as_deref()) {
            Ok((plan, ticket)) => {
                pending.plan = Some(plan);
                // Decided while the model writes: what the question asks of the approved answer.
                pending.focus = match pending.canonical.as_ref() {
                    Some(c) => super::focus::asked(
                        &self.embedder,
                        &req.message,
                        &c.answer,
                        self.settings.check.focus_margin,
                    )
                    .unwrap_or_else(|e| {
                        tracing::warn!(error = %e, "focus not measured; every sentence is asked");
                        None
                    }),
                    None => None,
                };
                Ok(Prepared::Drafting(Box::new(pending), ticket))
            }
            // A full queue does not stop an approved answer: it is sent without a draft.
            Err(AnswerError::Llm(LlmError::Busy { capacity })) if pending.canonical.is_some() => {
                pending.skipped = Some(Reason::new(
                    "queue.full",
                    format!("the generation queue is full ({capacity} waiting); the approved answer is sent without a draft"),
                ));
                Ok(Prepared::Decided(Box::new(
                    self.conclude(pending, Concluding::Drafted(None, "")),
                )))
            }
            Err(AnswerError::Llm(LlmError::Busy { capacity })) => Err(TurnError::Busy { capacity }),
            Err(AnswerError::QuestionTooLong { budget }) => Err(TurnError::TooLong { budget }),
            Err(e) => Err(TurnError::Draft(Box::new(e))),
        }
    }

    fn pending(
        &self,
        req: &TurnRequest,
        triage: Triage,
        canonical: Option<MatchedCanonical>,
        context_similarity: Option<f32>,
        timings: GateTimings,
        started: Instant,
    ) -> Pending {
        let lang = triage.lang;
        let release = may_release(
            canonical.as_ref().map(MatchedCanonical::info),
            &self.settings.policy,
        );
        Pending {
            lang,
            triage,
            canonical,
            nearest: None,
            context_similarity,
            plan: None,
            skipped: None,
            focus: None,
            question: req.message.clone(),
            release,
            model: self.drafter.model_name(lang).to_string(),
            slots: req.slots.clone(),
            timings,
            started,
            drafting: Instant::now(),
        }
    }

    /// Checks the draft, decides, and writes the reply, which begins with the released text.
    pub(super) fn conclude(&self, pending: Pending, how: Concluding<'_>) -> Outcome {
        let Pending {
            lang,
            triage,
            canonical,
            nearest,
            context_similarity,
            plan,
            skipped,
            focus,
            question,
            release: _,
            model,
            slots,
            mut timings,
            started,
            drafting,
        } = pending;
        let (rules, completion, released, unwritten): (&[Reason], _, &str, bool) = match how {
            Concluding::Rules(rules) => (rules, None, "", false),
            Concluding::Unwritten => (&[], None, "", true),
            Concluding::Drafted(c, released) => {
                timings.draft_ms = ms(drafting);
                (&[], c, released, false)
            }
        };
        let draft = plan
            .zip(completion)
            .map(|(plan, c)| finish_draft(plan, c, &model));
        let t = Instant::now();
        let references = draft
            .as_ref()
            .map(|d| self.references_of(d))
            .unwrap_or_default();
        let verdict = draft.as_ref().map(|d| {
            let asked = Asked {
                question: Some(&question),
                focus: focus.as_deref(),
            };
            self.check_against(d, canonical.as_ref(), &references, asked)
        });
        // Nothing matched: the draft must still not contradict the nearest approved answer (a
        // draft may read a neighbouring passage and state its number for this question).
        let nearest_disagrees = match (&draft, canonical.as_ref(), nearest) {
            (Some(d), None, Some(ord)) => self.index.canonicals.get(ord as usize).and_then(|c| {
                let v = check(
                    &CheckInput {
                        draft: &d.text,
                        canonical: Some(c.answer.trim()),
                        context: &[],
                        similarity: None,
                        focus: None,
                        question: None,
                    },
                    &self.settings.check,
                );
                v.findings
                    .iter()
                    .find(|f| {
                        f.reference == Some(RefSource::Canonical)
                            && matches!(
                                f.kind,
                                FindingKind::ValueMismatch
                                    | FindingKind::EntityMismatch
                                    | FindingKind::NegationFlip
                            )
                    })
                    .map(|f| {
                        Reason::new(
                            "draft.nearest_disagrees",
                            format!("{} ({}): {}", c.id, f.kind.as_str(), f.message),
                        )
                    })
            }),
            _ => None,
        };
        timings.check_ms = ms(t);
        // A draft that repeats the instructions' marker is never shown or sent.
        let leaked = draft
            .as_ref()
            .is_some_and(|d| d.text.contains(self.settings.canary.as_str()));
        let mut decision = decide(
            &PolicyInput {
                handoff_rules: rules,
                canonical: canonical.as_ref().map(MatchedCanonical::info),
                context_similarity,
                has_draft: !leaked && draft.as_ref().is_some_and(|d| !d.text.trim().is_empty()),
                cited: draft.as_ref().map_or(0, |d| d.cited.len()),
                verdict: verdict.as_ref(),
                draft_unwritten: unwritten,
                nearest_disagrees: nearest_disagrees.as_ref(),
            },
            &self.settings.policy,
        );
        decision.reasons.extend(skipped);
        if leaked {
            decision.draft_blocked = true;
            decision.reasons.push(Reason::new(
                "draft.canary",
                "the draft repeats the instructions' marker; it is not used",
            ));
        }
        let (mut reply, proposal) =
            self.compose(lang, &decision, draft.as_ref(), canonical.as_ref(), &slots);
        if !released.is_empty() {
            let kept = keep_released(released, &reply.text);
            if kept != reply.text {
                decision.reasons.push(Reason::new(
                    "release.kept",
                    format!(
                        "{} characters shown while drafting are kept before the reply",
                        released.chars().count()
                    ),
                ));
                reply.text = kept;
                reply.provenance = Provenance::Generated;
            }
        }
        let sources = self.reply_sources(reply.provenance, draft.as_ref(), canonical.as_ref());
        timings.total_ms = ms(started);
        // Codes and scores only: never the customer's words at info level.
        tracing::info!(
            action = decision.action.as_str(),
            verdict = verdict.as_ref().map(|v| v.status.as_str()),
            canonical = canonical.as_ref().map(|c| c.id.0.as_str()),
            rules = ?decision.reasons.iter().map(|r| r.code.as_str()).collect::<Vec<_>>(),
            released_chars = released.len(),
            total_ms = timings.total_ms,
            "gate decided"
        );
        Outcome {
            lang,
            triage,
            canonical,
            context_similarity,
            draft,
            references,
            verdict,
            decision,
            released: released.to_string(),
            reply,
            sources,
            proposal,
            timings,
        }
    }

    /// The checker on a draft: the approved answer (when matched) and the passages given to the
    /// model as references, plus the embedding similarity of draft and approved answer.
    pub fn check_draft(&self, draft: &Draft, canonical: Option<&MatchedCanonical>) -> Verdict {
        let asked = Asked {
            question: None,
            focus: None,
        };
        self.check_against(draft, canonical, &self.references_of(draft), asked)
    }

    fn check_against(
        &self,
        draft: &Draft,
        canonical: Option<&MatchedCanonical>,
        references: &[String],
        asked: Asked<'_>,
    ) -> Verdict {
        let context: Vec<&str> = references.iter().map(String::as_str).collect();
        let similarity = canonical.and_then(|c| {
            let e = self
                .embedder
                .embed(
                    &[draft.text.as_str(), c.answer.as_str()],
                    crate::embed::Role::Query,
                )
                .ok()?;
            Some(crate::embed::cosine(&e[0], &e[1]))
        });
        check(
            &CheckInput {
                draft: &draft.text,
                canonical: canonical.map(|c| c.answer.as_str()),
                context: &context,
                similarity,
                focus: asked.focus,
                question: asked.question,
            },
            &self.settings.check,
        )
    }

    /// The texts a draft is checked against besides the approved answer: the passages it was
    /// written from, and the shop's own name (grounded whatever the passages say).
    pub fn references_of(&self, draft: &Draft) -> Vec<String> {
        let chunks = &self.index.chunks;
        draft
            .sources
            .iter()
            .filter_map(|s| chunks.iter().find(|c| c.id == s.chunk))
            .map(|c| c.text.clone())
            .chain(std::iter::once(self.settings.business_name.clone()))
            .collect()
    }

    /// The sources shown with a reply: the passages a sent draft cites (else those it was
    /// written from), or the articles an approved answer names; none for fixed messages.
    fn reply_sources(
        &self,
        provenance: Provenance,
        draft: Option<&Draft>,
        canonical: Option<&MatchedCanonical>,
    ) -> Vec<SourceLink> {
        let index = &self.index;
        let mut links: Vec<SourceLink> = Vec::new();
        let mut push = |title: &str, url: Option<&str>| {
            if !links
                .iter()
                .any(|l| l.title == title && l.url.as_deref() == url)
            {
                links.push(SourceLink {
                    title: title.to_string(),
                    url: url.map(str::to_string),
                });
            }
        };
        let approved: Vec<&crate::knowledge::Canonical> = canonical
            .map(|m| {
                let ids = if m.parts.is_empty() {
                    std::slice::from_ref(&m.id)
                } else {
                    m.parts.as_slice()
                };
                ids.iter()
                    .filter_map(|id| index.canonicals.iter().find(|c| &c.id == id))
                    .collect()
            })
            .unwrap_or_default();
        match (provenance, draft, approved.is_empty()) {
            (Provenance::Generated, Some(d), _) => {
                let cited: Vec<&Source> = d
                    .sources
                    .iter()
                    .filter(|s| d.cited.contains(&s.chunk))
                    .collect();
                let shown = if cited.is_empty() {
                    d.sources.iter().collect()
                } else {
                    cited
                };
                for s in shown {
                    push(&s.title, s.url.as_deref());
                }
            }
            (Provenance::Canonical | Provenance::Generated, _, false) => {
                for doc in approved.iter().flat_map(|c| &c.sources) {
                    if let Some(chunk) = index.chunks.iter().find(|ch| &ch.doc == doc) {
                        push(&chunk.title, chunk.url.as_deref());
                    }
                }
            }
            (Provenance::Canonical | Provenance::Generated, _, true)
            | (Provenance::Human | Provenance::System, _, _) => {}
        }
        links
    }

    /// A fixed message from `prompts/messages/` (handoff, hold, no_answer).
    pub fn message(&self, kind: &str, lang: Lang) -> String {
        self.message_at(kind, lang, chrono::Utc::now())
    }

    /// The same as a customer reads it at `now` (the opening hours decide what it promises).
    pub fn message_at(&self, kind: &str, lang: Lang, now: chrono::DateTime<chrono::Utc>) -> String {
        let staffed = crate::answer::Staffed::at(self.settings.hours.as_deref(), now, lang);
        self.drafter
            .prompts()
            .render_message(kind, lang, &self.settings.business_name, &staffed)
            .unwrap_or_else(|e| {
                tracing::error!(error = %e, kind, "fixed message template failed");
                String::new()
            })
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
        let system = |kind: &str| Reply {
            text: self.message(kind, lang),
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
            (Action::Hold, proposed) => (system("hold"), proposed.map(|f| f.text)),
            (Action::Handoff, _) => (system("handoff"), None),
            (Action::NoAnswer, _) | (Action::Send | Action::SendCanonical, None) => {
                (system("no_answer"), None)
            }
        }
    }
}

/// What the customer asked, for the check: the question and the approved answer's sentences it
/// is about.
#[derive(Clone, Copy)]
struct Asked<'a> {
    question: Option<&'a str>,
    focus: Option<&'a [Span]>,
}

/// How a turn reaches its decision.
pub(super) enum Concluding<'a> {
    /// Handoff rules fired (or the matched approved answer is marked handoff, with none).
    Rules(&'a [Reason]),
    /// No draft on purpose (retrieval-and-policy mode).
    Unwritten,
    /// The draft's completion (`None`: failed, cut or skipped) and the text released from it.
    Drafted(Option<Completion>, &'a str),
}

fn ms(t: Instant) -> f64 {
    t.elapsed().as_secs_f64() * 1e3
}
