//! The staff console's logic apart from HTTP: knowledge reloads with the stale-answer report
//! ([`knowledge`]) and the inline SVG charts the console pages and evaluation reports use ([`svg`]).

pub mod dates;
pub mod highlight;
pub mod knowledge;
pub mod svg;
