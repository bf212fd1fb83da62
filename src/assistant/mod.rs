//! The assistant: one owner for a customer turn ([`Turn`]) and the stages it runs: triage rules,
//! the approved-answer match, the draft, the release rule, the decision policy and slots.

pub mod focus;
pub mod followup;
pub mod gate;
pub mod matched;
pub mod matching;
pub mod parts;
pub mod policy;
pub mod release;
pub mod slots;
pub mod triage;
pub mod turn;

pub use gate::{
    Assistant, GateSettings, GateTimings, Outcome, Provenance, Reply, SourceLink, TurnRequest,
};
pub use matched::MatchedCanonical;
pub use matching::{MatchEvidence, MatchSettings};
pub use policy::{
    decide, may_release, Action, Decision, Mode, PolicyInput, PolicySettings, Proposal, Reason,
};
pub use release::{keep_released, Release};
pub use slots::{fill_slots, find_slots, unfill_slots, Filled, SlotValues};
pub use triage::{triage, PastMessage, Signal, Triage, TriageInput, TriageSettings};
pub use turn::{Turn, TurnError, TurnEvent};
