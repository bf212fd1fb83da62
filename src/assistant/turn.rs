//! One customer turn as a state machine that every caller drives: the server (async, mapping
//! events to SSE), `concord ask`, the demo and the evaluation (blocking, through [`Turn::run`]).
//!
//! Order of events: `Queued` (unless a rule ended the turn at once), then while drafting
//! `Queued`/`Started`/`Released`, and last `Done` with the [`Outcome`]. Released text is what the
//! customer may read before the decision; the outcome's reply always begins with it.

use std::sync::Arc;
use std::time::Instant;

use tokio::task::JoinHandle;

use crate::answer::AnswerError;
use crate::llm::queue::{Event, Ticket};
use crate::llm::Completion;
use crate::retrieve::RetrieveError;

use super::gate::{Assistant, Concluding, Outcome, Pending, Prepared, TurnRequest};
use super::release::Release;

/// What a turn tells its driver, in order.
#[derive(Debug)]
pub enum TurnEvent {
    /// Requests ahead of this one in the generation queue (1 = next to start).
    Queued { position: usize },
    /// The model started on the draft.
    Started,
    /// Text the customer may read now and keeps (append it).
    Released(String),
    /// The decision and the reply; the turn has ended.
    Done(Box<Outcome>),
}

/// Why a turn could not reach a decision.
#[derive(Debug, thiserror::Error)]
pub enum TurnError {
    #[error("the generation queue is full ({capacity} waiting)")]
    Busy { capacity: usize },
    #[error("the question is too long: the prompt needs more than the {budget} tokens the model has for it")]
    TooLong { budget: usize },
    #[error(transparent)]
    Retrieve(#[from] RetrieveError),
    #[error(transparent)]
    Draft(Box<AnswerError>),
    #[error("a turn's worker stopped: {0}")]
    Worker(String),
}

enum State {
    New(TurnRequest),
    /// Retrieval, the match and the draft's submission, off the async runtime.
    Preparing(JoinHandle<Result<Prepared, TurnError>>),
    Drafting {
        pending: Box<Pending>,
        ticket: Ticket,
        release: Option<Release>,
    },
    /// The draft has ended (or was cut): check, decide and compose next.
    Decide {
        pending: Box<Pending>,
        completion: Option<Completion>,
        released: String,
    },
    Deciding(JoinHandle<Outcome>),
    Ended,
}

/// A customer turn under way (see the module documentation).
///
/// [`Turn::next`] is cancel-safe: a driver may drop its future (to [`Turn::cut`] it at a
/// deadline) and call it again; every await point keeps the turn's state in place.
pub struct Turn {
    assistant: Arc<Assistant>,
    state: State,
    started: Instant,
    /// Cut before the draft started: decide without it as soon as it is submitted.
    cut: bool,
}

impl Turn {
    pub(super) fn new(assistant: Arc<Assistant>, request: TurnRequest) -> Turn {
        Turn {
            assistant,
            state: State::New(request),
            started: Instant::now(),
            cut: false,
        }
    }

    /// The next event; `None` once `Done` was given. Model work runs off the async runtime.
    pub async fn next(&mut self) -> Result<Option<TurnEvent>, TurnError> {
        loop {
            match &mut self.state {
                State::New(_) => {
                    let State::New(req) = std::mem::replace(&mut self.state, State::Ended) else {
                        unreachable!("matched above")
                    };
                    let triage = self.assistant.triage(&req);
                    if triage.handoff {
                        let outcome = self.assistant.handed_off(&req, triage, self.started);
                        return Ok(Some(TurnEvent::Done(Box::new(outcome))));
                    }
                    // The customer hears at once where they stand; the queue refines it.
                    let (waiting, _) = self.assistant.drafter.queue().load();
                    let (assistant, started) = (self.assistant.clone(), self.started);
                    self.state = State::Preparing(tokio::task::spawn_blocking(move || {
                        assistant.prepare(&req, triage, started)
                    }));
                    return Ok(Some(TurnEvent::Queued {
                        position: waiting + 1,
                    }));
                }
                State::Preparing(handle) => {
                    let prepared = handle.await;
                    self.state = State::Ended;
                    match prepared.map_err(|e| TurnError::Worker(e.to_string()))?? {
                        Prepared::Decided(outcome) => return Ok(Some(TurnEvent::Done(outcome))),
                        Prepared::Drafting(pending, ticket) if self.cut => {
                            drop(ticket);
                            self.state = State::Decide {
                                pending,
                                completion: None,
                                released: String::new(),
                            };
                        }
                        Prepared::Drafting(pending, ticket) => {
                            let release = self.release_for(&pending);
                            self.state = State::Drafting {
                                pending,
                                ticket,
                                release,
                            };
                        }
                    }
                }
                State::Drafting {
                    pending,
                    ticket,
                    release,
                } => match ticket.next().await {
                    Some(Event::Queued { position }) => {
                        return Ok(Some(TurnEvent::Queued { position }))
                    }
                    Some(Event::Started) => return Ok(Some(TurnEvent::Started)),
                    Some(Event::Text(piece)) => {
                        if let Some(text) = release.as_mut().and_then(|r| r.push(&piece)) {
                            pending
                                .timings
                                .first_release_ms
                                .get_or_insert(self.started.elapsed().as_secs_f64() * 1e3);
                            return Ok(Some(TurnEvent::Released(text)));
                        }
                    }
                    Some(Event::Done(c)) => self.decide(Some(c)),
                    Some(Event::Failed(e)) => {
                        tracing::warn!(error = %e, "generation failed; the gate decides without a draft");
                        self.decide(None);
                    }
                    None => self.decide(None),
                },
                State::Decide { .. } => {
                    let State::Decide {
                        pending,
                        completion,
                        released,
                    } = std::mem::replace(&mut self.state, State::Ended)
                    else {
                        unreachable!("matched above")
                    };
                    let assistant = self.assistant.clone();
                    self.state = State::Deciding(tokio::task::spawn_blocking(move || {
                        assistant.conclude(*pending, Concluding::Drafted(completion, &released))
                    }));
                }
                State::Deciding(handle) => {
                    let outcome = handle.await;
                    self.state = State::Ended;
                    let outcome = outcome.map_err(|e| TurnError::Worker(e.to_string()))?;
                    return Ok(Some(TurnEvent::Done(Box::new(outcome))));
                }
                State::Ended => return Ok(None),
            }
        }
    }

    /// The draft ended: decide with its completion, keeping what was released.
    fn decide(&mut self, completion: Option<Completion>) {
        if let State::Drafting {
            pending, release, ..
        } = std::mem::replace(&mut self.state, State::Ended)
        {
            self.state = State::Decide {
                pending,
                completion,
                released: released_of(release.as_ref()),
            };
        }
    }

    /// Stops waiting for the draft (shutdown): its generation is cancelled (or never starts)
    /// and the turn decides without it, keeping what was released.
    pub fn cut(&mut self) {
        self.cut = true;
        if matches!(self.state, State::Drafting { .. }) {
            // Dropping the ticket cancels the generation.
            self.decide(None);
        }
    }

    /// Drives the turn to its end on this thread (the CLI and the evaluation), calling
    /// `on_event` for every event before `Done`.
    pub fn run(mut self, mut on_event: impl FnMut(&TurnEvent)) -> Result<Outcome, TurnError> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .map_err(|e| TurnError::Worker(e.to_string()))?;
        rt.block_on(async move {
            while let Some(event) = self.next().await? {
                match event {
                    TurnEvent::Done(outcome) => return Ok(*outcome),
                    other @ (TurnEvent::Queued { .. }
                    | TurnEvent::Started
                    | TurnEvent::Released(_)) => on_event(&other),
                }
            }
            Err(TurnError::Worker(
                "the turn ended without a decision".into(),
            ))
        })
    }

    fn release_for(&self, pending: &Pending) -> Option<Release> {
        let canonical = pending.canonical.as_ref().filter(|_| pending.release)?;
        let settings = &self.assistant.settings;
        Some(Release::new(
            &canonical.answer,
            &settings.business_name,
            &settings.canary,
            pending.lang,
            settings.check,
        ))
    }
}

fn released_of(release: Option<&Release>) -> String {
    release
        .map(|r| r.released().to_string())
        .unwrap_or_default()
}
