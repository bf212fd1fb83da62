//! The staff console's logic apart from HTTP: knowledge reloads with the stale-answer report
//! ([`knowledge`]), the inline SVG charts the console pages and evaluation reports use ([`svg`]),
//! the message catalogue in Polish and English ([`i18n`]) and the knowledge-gaps grouping
//! ([`gaps`]).

pub mod dates;
pub mod gaps;
pub mod highlight;
pub mod i18n;
pub mod knowledge;
pub mod svg;
