//! The console's message catalogue: every string staff read, in Polish and English, as Fluent
//! (`src/server/assets/console/i18n/<lang>.ftl`) with each language's plural rules.
//!
//! A missing key or a bad argument is an error, never a silent fallback to the key or to
//! another language: a page that would show one fails to render (and its test fails).

use std::collections::BTreeSet;
use std::sync::OnceLock;

use fluent_bundle::concurrent::FluentBundle;
use fluent_bundle::{FluentArgs, FluentResource, FluentValue};

use crate::knowledge::Lang;

const PL: &str = include_str!("../server/assets/console/i18n/pl.ftl");
const EN: &str = include_str!("../server/assets/console/i18n/en.ftl");

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum I18nError {
    #[error("the console has no text `{key}` in {lang}")]
    Missing { key: String, lang: &'static str },
    #[error("the console text `{key}` in {lang}: {message}")]
    Format {
        key: String,
        lang: &'static str,
        message: String,
    },
}

struct Catalogue {
    bundle: FluentBundle<FluentResource>,
    keys: BTreeSet<String>,
}

fn build(lang: &str, source: &str) -> Catalogue {
    let resource = FluentResource::try_new(source.to_string())
        .unwrap_or_else(|(_, errors)| panic!("{lang}.ftl parses (tested): {errors:?}"));
    let keys = resource
        .entries()
        .filter_map(|e| match e {
            fluent_syntax::ast::Entry::Message(m) => Some(m.id.name.to_string()),
            fluent_syntax::ast::Entry::Term(_)
            | fluent_syntax::ast::Entry::Comment(_)
            | fluent_syntax::ast::Entry::GroupComment(_)
            | fluent_syntax::ast::Entry::ResourceComment(_)
            | fluent_syntax::ast::Entry::Junk { .. } => None,
        })
        .collect();
    let mut bundle =
        FluentBundle::new_concurrent(vec![lang.parse().expect("a valid language identifier")]);
    // Plain text out: no Unicode isolation marks around arguments in HTML.
    bundle.set_use_isolating(false);
    bundle
        .add_resource(resource)
        .unwrap_or_else(|errors| panic!("{lang}.ftl has no duplicate keys (tested): {errors:?}"));
    Catalogue { bundle, keys }
}

fn catalogue(lang: Lang) -> &'static Catalogue {
    static PL_CAT: OnceLock<Catalogue> = OnceLock::new();
    static EN_CAT: OnceLock<Catalogue> = OnceLock::new();
    match lang {
        Lang::Pl => PL_CAT.get_or_init(|| build("pl", PL)),
        Lang::En => EN_CAT.get_or_init(|| build("en", EN)),
    }
}

/// An argument of a console text.
#[derive(Debug, Clone, PartialEq)]
pub enum Arg {
    Text(String),
    Number(f64),
}

/// The text `key` in `lang` with `args`.
pub fn text(lang: Lang, key: &str, args: &[(&str, Arg)]) -> Result<String, I18nError> {
    let c = catalogue(lang);
    let pattern = c
        .bundle
        .get_message(key)
        .and_then(|m| m.value())
        .ok_or_else(|| I18nError::Missing {
            key: key.to_string(),
            lang: lang.as_str(),
        })?;
    let mut fargs = FluentArgs::new();
    for (name, value) in args {
        match value {
            Arg::Text(s) => fargs.set(*name, FluentValue::from(s.clone())),
            Arg::Number(n) => fargs.set(*name, FluentValue::from(*n)),
        }
    }
    let mut errors = Vec::new();
    let out = c.bundle.format_pattern(pattern, Some(&fargs), &mut errors);
    match errors.first() {
        None => Ok(out.into_owned()),
        Some(e) => Err(I18nError::Format {
            key: key.to_string(),
            lang: lang.as_str(),
            message: e.to_string(),
        }),
    }
}

/// Every key of a language's catalogue.
pub fn keys(lang: Lang) -> &'static BTreeSet<String> {
    &catalogue(lang).keys
}

#[cfg(test)]
mod tests {
    use super::*;

    fn n(x: f64) -> Arg {
        Arg::Number(x)
    }

    #[test]
    fn both_languages_have_the_same_keys() {
        let (pl, en) = (keys(Lang::Pl), keys(Lang::En));
        assert!(pl.len() > 100, "{}", pl.len());
        let only_pl: Vec<_> = pl.difference(en).collect();
        let only_en: Vec<_> = en.difference(pl).collect();
        assert!(
            only_pl.is_empty() && only_en.is_empty(),
            "only pl: {only_pl:?}; only en: {only_en:?}"
        );
    }

    #[test]
    fn polish_plurals_follow_the_rules() {
        let waiting = |k: f64| text(Lang::Pl, "queue-waiting", &[("count", n(k))]).unwrap();
        assert_eq!(waiting(1.0), "1 rozmowa czeka");
        assert_eq!(waiting(2.0), "2 rozmowy czekają");
        assert_eq!(waiting(5.0), "5 rozmów czeka");
        assert_eq!(waiting(12.0), "12 rozmów czeka");
        assert_eq!(waiting(22.0), "22 rozmowy czekają");
        assert_eq!(
            text(Lang::En, "queue-waiting", &[("count", n(2.0))]).unwrap(),
            "2 waiting"
        );
    }

    #[test]
    fn a_missing_key_or_argument_is_an_error() {
        assert!(matches!(
            text(Lang::Pl, "no-such-key", &[]),
            Err(I18nError::Missing { .. })
        ));
        assert!(matches!(
            text(Lang::En, "queue-waiting", &[]),
            Err(I18nError::Format { .. })
        ));
    }
}
