//! The staff console's logic apart from HTTP: knowledge reloads with the stale-answer report
//! ([`knowledge`]), the inline SVG charts the console pages and evaluation reports use ([`svg`])
//! and the message catalogue in Polish and English ([`i18n`]).

pub mod dates;
pub mod highlight;
pub mod i18n;
pub mod knowledge;
pub mod svg;
