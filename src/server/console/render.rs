//! Console pages: minijinja templates compiled into the binary (HTML-escaped by default, so
//! customer and model text is shown as text), the page response with its CSP, and page errors.

use std::sync::OnceLock;

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{Html, IntoResponse, Redirect, Response};
use minijinja::Environment;
use serde::Serialize;

use crate::knowledge::Lang;
use crate::server::assets::CSP;
use crate::server::error::ApiError;

const TEMPLATES: &[(&str, &str)] = &[
    ("base.html", include_str!("../assets/console/base.html")),
    ("login.html", include_str!("../assets/console/login.html")),
    ("queue.html", include_str!("../assets/console/queue.html")),
    ("item.html", include_str!("../assets/console/item.html")),
    (
        "conversation.html",
        include_str!("../assets/console/conversation.html"),
    ),
    (
        "knowledge.html",
        include_str!("../assets/console/knowledge.html"),
    ),
    ("stats.html", include_str!("../assets/console/stats.html")),
    (
        "conversations.html",
        include_str!("../assets/console/conversations.html"),
    ),
    ("gaps.html", include_str!("../assets/console/gaps.html")),
    ("team.html", include_str!("../assets/console/team.html")),
    (
        "canonical_preview.html",
        include_str!("../assets/console/canonical_preview.html"),
    ),
    ("error.html", include_str!("../assets/console/error.html")),
];

pub const CONSOLE_CSS: &str = include_str!("../assets/console/console.css");
pub const CONSOLE_JS: &str = include_str!("../assets/console/console.js");

fn env() -> &'static Environment<'static> {
    static ENV: OnceLock<Environment<'static>> = OnceLock::new();
    ENV.get_or_init(|| {
        let mut env = Environment::new();
        for (name, source) in TEMPLATES {
            env.add_template(name, source)
                .expect("console templates compile (tested)");
        }
        env.add_function("t", translate);
        env.add_function("plural_forms", plural_forms);
        env.add_filter("datetime", |ms: i64| crate::console::dates::date_time(ms));
        env.add_filter("pct", |x: f64| format!("{:.0}%", x * 100.0));
        env.add_filter("fixed", |x: f64, digits: Option<usize>| {
            format!("{x:.*}", digits.unwrap_or(1))
        });
        env.add_filter("truncate", |s: String, n: Option<usize>| {
            let n = n.unwrap_or(80);
            if s.chars().count() <= n {
                s
            } else {
                let cut: String = s.chars().take(n.saturating_sub(1)).collect();
                format!("{}…", cut.trim_end())
            }
        });
        env
    })
}

/// The language of pages whose context names none (`server.console_lang`, set when the
/// service starts; Polish until then).
static DEFAULT_LANG: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Sets the console's language for every page (the staff language setting).
pub fn set_console_lang(lang: Lang) {
    DEFAULT_LANG.store(lang == Lang::En, std::sync::atomic::Ordering::Relaxed);
}

pub fn console_lang() -> Lang {
    if DEFAULT_LANG.load(std::sync::atomic::Ordering::Relaxed) {
        Lang::En
    } else {
        Lang::Pl
    }
}

fn page_lang(state: &minijinja::State) -> Lang {
    state
        .lookup("lang")
        .and_then(|v| v.as_str().and_then(|s| s.parse().ok()))
        .unwrap_or_else(console_lang)
}

fn i18n_error(e: crate::console::i18n::I18nError) -> minijinja::Error {
    minijinja::Error::new(minijinja::ErrorKind::InvalidOperation, e.to_string())
}

/// `{{ t("key", name=value) }}`: the console text in the page's language; a missing key or
/// argument fails the page.
fn translate(
    state: &minijinja::State,
    key: &str,
    kwargs: minijinja::value::Kwargs,
) -> Result<String, minijinja::Error> {
    use crate::console::i18n::Arg;
    let mut args = Vec::new();
    for name in kwargs.args() {
        let v: minijinja::Value = kwargs.get(name)?;
        let arg = match f64::try_from(v.clone()) {
            Ok(n) if v.is_number() => Arg::Number(n),
            _ => Arg::Text(v.to_string()),
        };
        args.push((name, arg));
    }
    crate::console::i18n::text(page_lang(state), key, &args).map_err(i18n_error)
}

/// `{{ plural_forms("key") }}`: the text of a `$count` message for each plural category of the
/// page's language, with `#` for the number, as JSON (for console.js and `Intl.PluralRules`).
fn plural_forms(state: &minijinja::State, key: &str) -> Result<String, minijinja::Error> {
    use crate::console::i18n::{text, Arg};
    let lang = page_lang(state);
    let samples: &[(&str, f64)] = match lang {
        Lang::Pl => &[("one", 1.0), ("few", 2.0), ("many", 5.0), ("other", 1.5)],
        Lang::En => &[("one", 1.0), ("other", 2.0)],
    };
    let mut forms = serde_json::Map::new();
    for (category, n) in samples {
        let t = text(lang, key, &[("count", Arg::Number(*n))]).map_err(i18n_error)?;
        forms.insert(
            (*category).to_string(),
            serde_json::Value::from(t.replace(&n.to_string(), "#")),
        );
    }
    Ok(serde_json::Value::Object(forms).to_string())
}

/// Renders `template` with `ctx` into a page (in `ctx`'s `lang`, else the console's language).
pub fn render(template: &str, ctx: impl Serialize) -> Result<String, ApiError> {
    let mut ctx = serde_json::to_value(&ctx).map_err(ApiError::internal)?;
    if let Some(map) = ctx.as_object_mut() {
        // The signed-in person's language, else the console's.
        let lang = map
            .get("staff")
            .and_then(|s| s.get("lang"))
            .and_then(|l| l.as_str())
            .unwrap_or(console_lang().as_str())
            .to_string();
        map.entry("lang")
            .or_insert_with(|| serde_json::Value::from(lang));
    }
    env()
        .get_template(template)
        .and_then(|t| t.render(minijinja::Value::from(minijinja::value::Serde(&ctx))))
        .map_err(ApiError::internal)
}

/// A console page with status `status`.
pub fn page(
    status: StatusCode,
    template: &str,
    ctx: impl Serialize,
) -> Result<Response, PageError> {
    let body = render(template, ctx)?;
    Ok(with_headers((status, Html(body)).into_response()))
}

fn with_headers(mut r: Response) -> Response {
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    // Forms post to the console itself; `same-origin` lets the browser send the real Origin.
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    r
}

/// An error on a page: signed-out staff are sent to the sign-in page; anything else is a page
/// with the error's code and message (internals only in the log).
#[derive(Debug)]
pub struct PageError(pub ApiError);

impl From<ApiError> for PageError {
    fn from(e: ApiError) -> Self {
        PageError(e)
    }
}

impl From<crate::store::StoreError> for PageError {
    fn from(e: crate::store::StoreError) -> Self {
        PageError(e.into())
    }
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        let e = self.0;
        if matches!(e, ApiError::StaffLoginRequired) {
            return Redirect::to("/console/login").into_response();
        }
        if let ApiError::Internal(detail) = &e {
            tracing::error!(error = %detail, "console page failed");
        }
        let status = e.status();
        let body = e.body();
        match render(
            "error.html",
            serde_json::json!({ "title": crate::console::i18n::text(console_lang(), "error-title", &[]).unwrap_or_default(), "code": body.code, "message": body.message }),
        ) {
            Ok(html) => with_headers((status, Html(html)).into_response()),
            Err(_) => (status, body.message).into_response(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_template_compiles_and_escapes_what_it_shows() {
        let html = render(
            "error.html",
            serde_json::json!({ "title": "t", "code": "c", "message": "<script>alert(1)</script>" }),
        )
        .unwrap();
        assert!(html.contains("&lt;script&gt;"), "{html}");
        assert!(!html.contains("<script>alert"));
        for (name, _) in TEMPLATES {
            assert!(env().get_template(name).is_ok(), "{name}");
        }
    }

    #[test]
    fn the_conversation_list_and_the_gaps_render_in_both_languages() {
        let staff = serde_json::json!({ "name": "ola", "role": "admin", "admin": true, "csrf": "x", "lang": "pl", "chosen_lang": null });
        let list = |lang: &str| {
            let mut staff = staff.clone();
            staff["lang"] = serde_json::json!(lang);
            serde_json::json!({
                "title": "t", "staff": staff, "q": "zwrot", "status": null, "from": null, "to": null,
                "decision": "hold", "rating": null, "decisions": ["send", "hold"], "prev": null,
                "next": "/console/conversations?q=zwrot&page=2",
                "rows": [{ "row": { "conversation_id": "c_1", "status": "closed", "lang": "pl",
                    "created_ms": 0, "updated_ms": 0, "first_question": "Jak zrobić <b>zwrot</b>?",
                    "messages": 5, "decisions": ["hold"], "csat": 2, "thumbs_down": 2,
                    "resolved": false, "snippet": null },
                    "snippet": [{ "text": "Jak zrobić ", "hit": false }, { "text": "zwrot", "hit": true }] }],
            })
        };
        let pl = render("conversations.html", list("pl")).unwrap();
        for want in [
            "<h1>Rozmowy</h1>",
            "5 wiadomości",
            "2 łapki w dół",
            "nierozwiązana",
            "<mark>zwrot</mark>",
            "Jak zrobić &lt;b&gt;zwrot&lt;&#x2f;b&gt;?",
            "<option value=\"hold\" selected>wstrzymana</option>",
            "Starsze →",
        ] {
            assert!(pl.contains(want), "{want}: {pl}");
        }
        let en = render("conversations.html", list("en")).unwrap();
        assert!(
            en.contains("5 messages") && en.contains("<h1>Conversations</h1>"),
            "{en}"
        );
        let gaps = serde_json::json!({
            "title": "t", "staff": staff, "days": 30,
            "topics": [{ "article": "Zwroty", "count": 3, "groups": [{ "example": "Jak oddać buty?",
                "variants": ["jak oddac buty"], "count": 3, "no_answer": 1, "held": 1, "thumbs_down": 1,
                "decision_id": 9, "conversation_id": "c_2", "latest_ms": 0 }] }],
        });
        let html = render("gaps.html", gaps).unwrap();
        for want in [
            "Luki w wiedzy",
            "Zwroty",
            "3 pytania",
            "× 3",
            "/console/items/9",
            "Napisz zatwierdzoną odpowiedź",
            "ostatnich 30 dni",
        ] {
            assert!(html.contains(want), "{want}: {html}");
        }
    }

    #[test]
    fn the_queue_renders_in_polish_with_plurals_and_in_english() {
        let ctx = |lang: &str| {
            serde_json::json!({
                "lang": lang, "title": "t", "pending": 3, "waiting": 5,
                "undelivered": [{ "target": "helpdesk", "failed": 2 }],
                "staff": { "name": "ewa", "role": "agent", "admin": false, "csrf": "x" },
                "items": [{ "decision_id": 7, "kind": "held", "risk": 2, "question": "Gdzie paczka?",
                            "verdict_status": null, "canonical_id": null, "created_ms": 0 }],
                "people": [{ "conversation_id": "c_1", "status": "waiting_staff", "updated_ms": 0, "question": "" }],
            })
        };
        let pl = render("queue.html", ctx("pl")).unwrap();
        for want in [
            "<html lang=\"pl\">",
            "3 czekają na sprawdzenie",
            "5 rozmów czeka",
            "Rozmowy z konsultantem",
            "czeka na konsultanta",
            "klient czeka",
            "wstrzymana",
            "(bez pytania)",
            "ewa (konsultant)",
            "Wyloguj",
            "2 powiadomienia do helpdesk nie zostały dostarczone",
        ] {
            assert!(pl.contains(want), "{want}: {pl}");
        }
        // The plural forms console.js picks from, with `#` for the number.
        assert!(
            pl.contains("&quot;few&quot;:&quot;# rozmowy czekają&quot;"),
            "{pl}"
        );
        for english in ["Review queue", "3 pending", "Sign out", "customer waits"] {
            assert!(!pl.contains(english), "untranslated `{english}`");
        }
        let en = render("queue.html", ctx("en")).unwrap();
        assert!(
            en.contains("3 pending") && en.contains("Review queue"),
            "{en}"
        );
        // A page asking for a text the catalogue lacks fails rather than showing the key.
        let mut env = Environment::new();
        env.add_function("t", translate);
        env.add_template("x", "{{ t('no-such-text') }}").unwrap();
        assert!(env
            .get_template("x")
            .unwrap()
            .render(minijinja::context! {})
            .is_err());
    }
}
