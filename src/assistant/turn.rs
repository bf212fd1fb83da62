//! One customer turn as a state machine that every caller drives: the server (async, mapping
//! events to SSE), `concord ask`, the demo and the evaluation (blocking, through [`Turn::run`]).
//!
//! Order of events: `Queued` (unless a rule ended the turn at once), then while drafting
//! `Queued`/`Started`/`Released`, and last `Done` with the [`Outcome`]. Released text is what the
//! customer may read before the decision; the outcome's reply always begins with it.

use std::sync::Arc;
use std::time::Instant;

use crate::answer::AnswerError;
use crate::llm::queue::{Event, Ticket};
use crate::llm::Completion;
use crate::retrieve::RetrieveError;

use super::gate::{Assistant, Concluding, Outcome, Pending, Prepared, TurnRequest};
use super::release::Release;
use super::triage::Triage;

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
    Triaged(TurnRequest, Triage),
    Drafting {
        pending: Box<Pending>,
        ticket: Ticket,
        release: Option<Release>,
    },
    Deciding {
        pending: Box<Pending>,
        completion: Option<Completion>,
        released: String,
    },
    Ended,
}

/// A customer turn under way (see the module documentation).
pub struct Turn {
    assistant: Arc<Assistant>,
    state: State,
    started: Instant,
}

impl Turn {
    pub(super) fn new(assistant: Arc<Assistant>, request: TurnRequest) -> Turn {
        Turn {
            assistant,
            state: State::New(request),
            started: Instant::now(),
        }
    }

    /// The next event; `None` once `Done` was given. Model work runs off the async runtime.
    pub async fn next(&mut self) -> Result<Option<TurnEvent>, TurnError> {
        loop {
            match std::mem::replace(&mut self.state, State::Ended) {
                State::New(req) => {
                    let triage = self.assistant.triage(&req);
                    if triage.handoff {
                        let outcome = self.assistant.handed_off(&req, triage, self.started);
                        return Ok(Some(TurnEvent::Done(Box::new(outcome))));
                    }
                    // The customer hears at once where they stand; the queue refines it.
                    let (waiting, _) = self.assistant.drafter.queue().load();
                    self.state = State::Triaged(req, triage);
                    return Ok(Some(TurnEvent::Queued {
                        position: waiting + 1,
                    }));
                }
                State::Triaged(req, triage) => {
                    let (assistant, started) = (self.assistant.clone(), self.started);
                    let prepared = tokio::task::spawn_blocking(move || {
                        assistant.prepare(&req, triage, started)
                    })
                    .await
                    .map_err(|e| TurnError::Worker(e.to_string()))??;
                    match prepared {
                        Prepared::Decided(outcome) => return Ok(Some(TurnEvent::Done(outcome))),
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
                    mut pending,
                    mut ticket,
                    mut release,
                } => {
                    let event = ticket.next().await;
                    let (completion, released) = match event {
                        Some(Event::Queued { position }) => {
                            self.state = State::Drafting {
                                pending,
                                ticket,
                                release,
                            };
                            return Ok(Some(TurnEvent::Queued { position }));
                        }
                        Some(Event::Started) => {
                            self.state = State::Drafting {
                                pending,
                                ticket,
                                release,
                            };
                            return Ok(Some(TurnEvent::Started));
                        }
                        Some(Event::Text(piece)) => {
                            let out = release.as_mut().and_then(|r| r.push(&piece));
                            if out.is_some() && pending.timings.first_release_ms.is_none() {
                                pending.timings.first_release_ms =
                                    Some(self.started.elapsed().as_secs_f64() * 1e3);
                            }
                            self.state = State::Drafting {
                                pending,
                                ticket,
                                release,
                            };
                            match out {
                                Some(text) => return Ok(Some(TurnEvent::Released(text))),
                                None => continue,
                            }
                        }
                        Some(Event::Done(c)) => (Some(c), released_of(release.as_ref())),
                        Some(Event::Failed(e)) => {
                            tracing::warn!(error = %e, "generation failed; the gate decides without a draft");
                            (None, released_of(release.as_ref()))
                        }
                        None => (None, released_of(release.as_ref())),
                    };
                    self.state = State::Deciding {
                        pending,
                        completion,
                        released,
                    };
                }
                State::Deciding {
                    pending,
                    completion,
                    released,
                } => {
                    let assistant = self.assistant.clone();
                    let outcome = tokio::task::spawn_blocking(move || {
                        assistant.conclude(*pending, Concluding::Drafted(completion, &released))
                    })
                    .await
                    .map_err(|e| TurnError::Worker(e.to_string()))?;
                    return Ok(Some(TurnEvent::Done(Box::new(outcome))));
                }
                State::Ended => return Ok(None),
            }
        }
    }

    /// Stops waiting for the draft (shutdown): its generation is cancelled and the turn decides
    /// without it, keeping what was released. Nothing changes before or after drafting.
    pub fn cut(&mut self) {
        if !matches!(self.state, State::Drafting { .. }) {
            return;
        }
        if let State::Drafting {
            pending, release, ..
        } = std::mem::replace(&mut self.state, State::Ended)
        {
            // Dropping the ticket cancels the generation.
            self.state = State::Deciding {
                pending,
                completion: None,
                released: released_of(release.as_ref()),
            };
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
            settings.check,
        ))
    }
}

fn released_of(release: Option<&Release>) -> String {
    release
        .map(|r| r.released().to_string())
        .unwrap_or_default()
}
