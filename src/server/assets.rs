//! The widget (`/widget.js`, `/widget.css`) and the demo shop page (`/`, `/shop.css`), compiled
//! into the binary so one file serves everything.

use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};

const WIDGET_JS: &str = include_str!("assets/widget.js");
const WIDGET_CSS: &str = include_str!("assets/widget.css");
const SHOP_HTML: &str = include_str!("assets/shop.html");
const SHOP_CSS: &str = include_str!("assets/shop.css");

/// Pages and scripts Concord serves: only its own scripts, styles and API.
pub const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
     connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'; object-src 'none'";

fn asset(body: &'static str, content_type: &'static str, embeddable: bool) -> Response {
    let mut r = ([(header::CONTENT_TYPE, content_type)], body).into_response();
    let h = r.headers_mut();
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=300"),
    );
    if embeddable {
        // The widget is loaded by the shop's own pages, on another origin.
        h.insert(
            "cross-origin-resource-policy",
            HeaderValue::from_static("cross-origin"),
        );
    }
    r
}

pub async fn widget_js() -> Response {
    asset(WIDGET_JS, "text/javascript; charset=utf-8", true)
}

pub async fn widget_css() -> Response {
    asset(WIDGET_CSS, "text/css; charset=utf-8", true)
}

pub async fn shop_css() -> Response {
    asset(SHOP_CSS, "text/css; charset=utf-8", false)
}

pub async fn shop() -> Response {
    let mut r = asset(SHOP_HTML, "text/html; charset=utf-8", false);
    r.headers_mut().insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    r
}
