//! The page's token session: its form posts the access token once, and the browser keeps it in
//! an `HttpOnly`, `SameSite=Strict` cookie.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

use super::guards::same;
use super::routes::{error, AppState};

/// The cookie the page's token form sets (`POST /api/session`).
const SESSION_COOKIE: &str = "moodkiosk_token";

/// How long the browser keeps it (30 days).
const SESSION_MAX_AGE_S: u32 = 30 * 86_400;

/// The cookie's value for a token: its bytes in hex (a token may hold `;` or `,`).
pub(super) fn cookie_value(token: &str) -> String {
    token.bytes().map(|b| format!("{b:02x}")).collect()
}

/// The session cookie's value in a request, if any.
pub(super) fn session_cookie(h: &HeaderMap) -> Option<String> {
    h.get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .find_map(|c| c.trim().strip_prefix(SESSION_COOKIE)?.strip_prefix('='))
        .map(str::to_string)
}

/// `POST /api/session` `{"token": "..."}`: the page's token form. The right token is kept in a
/// cookie (`HttpOnly`: page scripts cannot read it; `SameSite=Strict`: other sites' pages
/// cannot use it); a wrong one is 403. `DELETE` forgets it.
pub(super) async fn session(State(s): State<AppState>, body: Bytes) -> Response {
    let given = serde_json::from_slice::<serde_json::Value>(&body)
        .ok()
        .and_then(|v| v["token"].as_str().map(str::to_string));
    let Some(given) = given else {
        return error(
            StatusCode::BAD_REQUEST,
            "bad_request",
            "send {\"token\": \"...\"} as JSON",
        );
    };
    match s.cfg.token.expose() {
        Some(t) if same(given.trim().as_bytes(), t.as_bytes()) => {
            let cookie = format!(
                "{SESSION_COOKIE}={}; Path=/; Max-Age={SESSION_MAX_AGE_S}; HttpOnly; SameSite=Strict",
                cookie_value(t)
            );
            let mut r = Json(json!({"ok": true})).into_response();
            if let Ok(v) = HeaderValue::from_str(&cookie) {
                r.headers_mut().insert(header::SET_COOKIE, v);
            }
            r
        }
        Some(_) => error(StatusCode::FORBIDDEN, "bad_token", "wrong access token"),
        None => Json(json!({"ok": true, "note": "this kiosk has no token"})).into_response(),
    }
}

pub(super) async fn end_session() -> Response {
    let mut r = Json(json!({"ok": true})).into_response();
    r.headers_mut().insert(
        header::SET_COOKIE,
        HeaderValue::from_static("moodkiosk_token=; Path=/; Max-Age=0; HttpOnly; SameSite=Strict"),
    );
    r
}
