//! The page's files, compiled into the binary (the kiosk is offline), and the content security
//! policy they are served under.

use axum::extract::Path;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};

use super::routes::error;

/// Pages and assets, compiled in.
pub(super) const ASSETS: &[(&str, &str, &str)] = &[
    (
        "index.html",
        "text/html; charset=utf-8",
        include_str!("assets/index.html"),
    ),
    (
        "dashboard.html",
        "text/html; charset=utf-8",
        include_str!("assets/dashboard.html"),
    ),
    (
        "app.css",
        "text/css; charset=utf-8",
        include_str!("assets/app.css"),
    ),
    (
        "common.js",
        "text/javascript; charset=utf-8",
        include_str!("assets/common.js"),
    ),
    (
        "upload.js",
        "text/javascript; charset=utf-8",
        include_str!("assets/upload.js"),
    ),
    (
        "preview.html",
        "text/html; charset=utf-8",
        include_str!("assets/preview.html"),
    ),
    (
        "preview.js",
        "text/javascript; charset=utf-8",
        include_str!("assets/preview.js"),
    ),
    (
        "dashboard.js",
        "text/javascript; charset=utf-8",
        include_str!("assets/dashboard.js"),
    ),
    (
        "fleet.html",
        "text/html; charset=utf-8",
        include_str!("assets/fleet.html"),
    ),
    (
        "fleet.js",
        "text/javascript; charset=utf-8",
        include_str!("assets/fleet.js"),
    ),
];

pub(super) const CSP: &str = "default-src 'self'; img-src 'self' blob: data:; style-src 'self'; \
                   script-src 'self'; connect-src 'self'; frame-ancestors 'none'; form-action 'self'";

pub(super) fn asset_response(name: &str) -> Response {
    match ASSETS.iter().find(|a| a.0 == name) {
        Some((_, mime, body)) => (
            [
                (header::CONTENT_TYPE, *mime),
                (header::CACHE_CONTROL, "no-cache"),
            ],
            *body,
        )
            .into_response(),
        None => error(StatusCode::NOT_FOUND, "not_found", "no such file"),
    }
}

pub(super) async fn asset(Path(file): Path<String>) -> Response {
    asset_response(&file)
}
