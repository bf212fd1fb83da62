//! Console pages: minijinja templates compiled into the binary (HTML-escaped by default, so
//! customer and model text is shown as text), the page response with its CSP, and page errors.

use std::sync::OnceLock;

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{Html, IntoResponse, Redirect, Response};
use minijinja::Environment;
use serde::Serialize;

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

/// Renders `template` with `ctx` into a page.
pub fn render(template: &str, ctx: impl Serialize) -> Result<String, ApiError> {
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
            serde_json::json!({ "title": "Error", "code": body.code, "message": body.message }),
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
}
