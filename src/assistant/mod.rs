//! The assistant stages around the model: triage rules, the decision policy and personalisation
//! slots.

pub mod slots;

pub use slots::{fill_slots, find_slots, Filled, SlotValues};
