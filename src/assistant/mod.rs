//! The assistant stages around the model: triage rules, the decision policy, personalisation
//! slots, and the gate that runs them all for one customer message.

pub mod gate;
pub mod policy;
pub mod slots;
pub mod stream;
pub mod triage;

pub use gate::{Assistant, Begun, MatchedCanonical, Outcome, Pending, Provenance, Reply, Request};
pub use policy::{decide, Action, Decision, Mode, PolicyInput, PolicySettings, Proposal, Reason};
pub use slots::{fill_slots, find_slots, unfill_slots, Filled, SlotValues};
pub use stream::CheckedStream;
pub use triage::{triage, Signal, Triage, TriageInput, TriageSettings, Turn};
