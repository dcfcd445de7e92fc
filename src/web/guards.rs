//! The guards in front of every route: request line and header sizes, Host and Origin
//! ([`super::origin`]), the request timeout and security headers, and the access token.

use std::collections::HashMap;

use axum::extract::{Query, Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::Response;

use super::assets::CSP;
use super::origin::{self, Refusal};
use super::routes::{error, AppState};
use super::session::{cookie_value, session_cookie};

/// Longest request target accepted (414 beyond).
const MAX_URI: usize = 8 * 1024;

/// Most header bytes accepted (431 beyond; hyper itself refuses beyond 256 KB).
const MAX_HEADERS: usize = 16 * 1024;

/// Before anything else: sizes of the request line and headers, the Host, where a
/// state-changing request comes from. Every refusal is JSON.
pub(super) async fn admit(State(s): State<AppState>, req: Request, next: Next) -> Response {
    if req.uri().to_string().len() > MAX_URI {
        return error(
            StatusCode::URI_TOO_LONG,
            "uri_too_long",
            format!("the request target is longer than {MAX_URI} bytes"),
        );
    }
    let header_bytes: usize = req
        .headers()
        .iter()
        .map(|(k, v)| k.as_str().len() + v.len() + 4)
        .sum();
    if header_bytes > MAX_HEADERS {
        return error(
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            "headers_too_large",
            format!("the request headers are larger than {MAX_HEADERS} bytes"),
        );
    }
    match origin::check(&s.hosts, req.method(), req.headers()) {
        Ok(()) => next.run(req).await,
        Err(Refusal::NoHost) => error(
            StatusCode::BAD_REQUEST,
            "host_required",
            "the request has no Host header",
        ),
        Err(Refusal::WrongHost) => error(
            StatusCode::MISDIRECTED_REQUEST,
            "wrong_host",
            "this kiosk answers only to its own address, localhost and web.allowed_hosts",
        ),
        Err(Refusal::CrossOrigin) => error(
            StatusCode::FORBIDDEN,
            "cross_origin",
            "requests that change anything must come from this kiosk's own page",
        ),
    }
}

/// Request timeout and security headers on everything.
pub(super) async fn guard(State(s): State<AppState>, req: Request, next: Next) -> Response {
    let mut resp = match tokio::time::timeout(s.cfg.request_timeout(), next.run(req)).await {
        Ok(r) => r,
        Err(_) => error(
            StatusCode::REQUEST_TIMEOUT,
            "timeout",
            format!(
                "the request took longer than {} s (web.request_timeout_s)",
                s.cfg.request_timeout_s
            ),
        ),
    };
    let h = resp.headers_mut();
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    h.entry(header::CACHE_CONTROL)
        .or_insert(HeaderValue::from_static("no-store"));
    resp
}

/// Equal-time comparison, so that response times do not leak the token.
pub(super) fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn token_required(msg: &str) -> Response {
    let mut r = error(StatusCode::UNAUTHORIZED, "token_required", msg);
    r.headers_mut()
        .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
    r
}

/// With `web.token` set, API calls carry it as `Authorization: Bearer <token>`, `?token=`, or
/// the page's session cookie (set by its token form).
pub(super) async fn require_token(State(s): State<AppState>, req: Request, next: Next) -> Response {
    let Some(token) = s.cfg.token.expose() else {
        return next.run(req).await;
    };
    let from_header = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(|v| v.trim().to_string());
    let from_query = Query::<HashMap<String, String>>::try_from_uri(req.uri())
        .ok()
        .and_then(|q| q.0.get("token").cloned());
    match (from_header.or(from_query), session_cookie(req.headers())) {
        (Some(t), _) if same(t.as_bytes(), token.as_bytes()) => next.run(req).await,
        (Some(_), _) => error(StatusCode::FORBIDDEN, "bad_token", "wrong access token"),
        (None, Some(c)) if same(c.as_bytes(), cookie_value(token).as_bytes()) => {
            next.run(req).await
        }
        (None, Some(_)) => token_required(
            "the access token this browser saved is no longer this kiosk's (web.token changed): enter the new one",
        ),
        (None, None) => token_required(
            "this kiosk needs its access token (web.token): enter it on the page, or send `Authorization: Bearer <token>`",
        ),
    }
}
