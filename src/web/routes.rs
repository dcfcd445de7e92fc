//! Routes, handlers and the guards in front of them: request timeout, security headers, access
//! token, upload size. Every refusal is a JSON body `{"error": "...", "code": "..."}` with a 4xx
//! status (5xx only for the kiosk's own faults).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, FromRequest, Multipart, Path, Query, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use chrono::Local;
use serde_json::json;

use super::history::{self, DayError};
use super::jobs::{JobError, Workers};
use super::origin::{self, AllowedHosts, Refusal};
use super::{today, WebSettings};
use crate::engine::EngineSlot;
use crate::error::Result;
use crate::mqtt::fleet::Fleet;
use crate::photo::PhotoError;
use crate::preview::Preview;
use crate::telemetry::Telemetry;

/// What every handler can reach.
#[derive(Clone)]
pub struct AppState {
    pub telemetry: Arc<Telemetry>,
    pub workers: Arc<Workers>,
    pub cfg: Arc<WebSettings>,
    pub preview: Arc<Preview>,
    pub hosts: Arc<AllowedHosts>,
    pub fleet: Arc<Fleet>,
}

impl AppState {
    /// Start the upload workers; the state for [`router`] (in-process tests build it too).
    pub fn new(
        cfg: &WebSettings,
        telemetry: Arc<Telemetry>,
        engine: Arc<EngineSlot>,
        preview: Arc<Preview>,
        fleet: Arc<Fleet>,
    ) -> Result<AppState> {
        let workers = Workers::start(
            cfg.max_concurrent as usize,
            cfg.max_queued as usize,
            engine,
            cfg.photo_limits(),
        )?;
        Ok(AppState {
            telemetry,
            workers: Arc::new(workers),
            cfg: Arc::new(cfg.clone()),
            preview,
            hosts: Arc::new(AllowedHosts::new(cfg)),
            fleet,
        })
    }
}

/// Pages and assets, compiled in.
const ASSETS: &[(&str, &str, &str)] = &[
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

const CSP: &str = "default-src 'self'; img-src 'self' blob: data:; style-src 'self'; \
                   script-src 'self'; connect-src 'self'; frame-ancestors 'none'; form-action 'self'";

/// The whole app: pages, API and guards.
pub fn router(state: AppState) -> Router {
    let api = Router::new()
        .route(
            "/api/classify",
            post(classify).layer(DefaultBodyLimit::max(state.cfg.max_upload_bytes())),
        )
        .route("/api/status", get(status))
        .route("/api/today", get(today_handler))
        .route("/api/days", get(days_handler))
        .route("/api/day", get(day_handler))
        .route("/api/day.csv", get(day_csv_handler))
        .route("/api/fleet", get(fleet_handler))
        .route("/metrics", get(metrics))
        .route("/preview.mjpg", get(preview_stream))
        .route("/api/preview", get(preview_info))
        .route_layer(middleware::from_fn_with_state(state.clone(), require_token));
    Router::new()
        .route("/", get(|| async { asset_response("index.html") }))
        .route(
            "/dashboard",
            get(|| async { asset_response("dashboard.html") }),
        )
        .route("/preview", get(preview_page))
        .route("/fleet", get(|| async { asset_response("fleet.html") }))
        .route("/assets/{file}", get(asset))
        .route("/healthz", get(healthz))
        .route(
            "/api/session",
            post(session)
                .delete(end_session)
                .layer(DefaultBodyLimit::max(4096)),
        )
        .merge(api)
        .fallback(|| async { error(StatusCode::NOT_FOUND, "not_found", "no such page") })
        .method_not_allowed_fallback(|| async {
            error(
                StatusCode::METHOD_NOT_ALLOWED,
                "method_not_allowed",
                "this method is not allowed here",
            )
        })
        .layer(middleware::from_fn_with_state(state.clone(), admit))
        .layer(middleware::from_fn_with_state(state.clone(), guard))
        .with_state(state)
}

/// `GET /api/fleet`: every kiosk on the broker (`web.fleet`).
async fn fleet_handler(State(s): State<AppState>) -> Response {
    Json(s.fleet.view()).into_response()
}

/// A JSON error response.
fn error(status: StatusCode, code: &str, msg: impl std::fmt::Display) -> Response {
    (
        status,
        Json(json!({"error": msg.to_string(), "code": code})),
    )
        .into_response()
}

/// Longest request target accepted (414 beyond).
const MAX_URI: usize = 8 * 1024;
/// Most header bytes accepted (431 beyond; hyper itself refuses beyond 256 KB).
const MAX_HEADERS: usize = 16 * 1024;

/// Before anything else: sizes of the request line and headers, the Host, where a
/// state-changing request comes from. Every refusal is JSON.
async fn admit(State(s): State<AppState>, req: Request, next: Next) -> Response {
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
async fn guard(State(s): State<AppState>, req: Request, next: Next) -> Response {
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
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The cookie the page's token form sets (`POST /api/session`).
const SESSION_COOKIE: &str = "moodkiosk_token";
/// How long the browser keeps it (30 days).
const SESSION_MAX_AGE_S: u32 = 30 * 86_400;

/// The cookie's value for a token: its bytes in hex (a token may hold `;` or `,`).
fn cookie_value(token: &str) -> String {
    token.bytes().map(|b| format!("{b:02x}")).collect()
}

/// The session cookie's value in a request, if any.
fn session_cookie(h: &HeaderMap) -> Option<String> {
    h.get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .find_map(|c| c.trim().strip_prefix(SESSION_COOKIE)?.strip_prefix('='))
        .map(str::to_string)
}

fn token_required(msg: &str) -> Response {
    let mut r = error(StatusCode::UNAUTHORIZED, "token_required", msg);
    r.headers_mut()
        .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
    r
}

/// With `web.token` set, API calls carry it as `Authorization: Bearer <token>`, `?token=`, or
/// the page's session cookie (set by its token form).
async fn require_token(State(s): State<AppState>, req: Request, next: Next) -> Response {
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

/// `POST /api/session` `{"token": "..."}`: the page's token form. The right token is kept in a
/// cookie (`HttpOnly`: page scripts cannot read it; `SameSite=Strict`: other sites' pages
/// cannot use it); a wrong one is 403. `DELETE` forgets it.
async fn session(State(s): State<AppState>, body: Bytes) -> Response {
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

async fn end_session() -> Response {
    let mut r = Json(json!({"ok": true})).into_response();
    r.headers_mut().insert(
        header::SET_COOKIE,
        HeaderValue::from_static("moodkiosk_token=; Path=/; Max-Age=0; HttpOnly; SameSite=Strict"),
    );
    r
}

fn asset_response(name: &str) -> Response {
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

async fn asset(Path(file): Path<String>) -> Response {
    asset_response(&file)
}

fn too_large(max: usize) -> Response {
    error(
        StatusCode::PAYLOAD_TOO_LARGE,
        "too_large",
        format!(
            "the upload is larger than the {} MB allowed (web.max_upload_mb)",
            max / (1024 * 1024)
        ),
    )
}

/// A rejection from an axum extractor, as JSON.
fn rejected(status: StatusCode, text: String, max: usize) -> Response {
    if status == StatusCode::PAYLOAD_TOO_LARGE {
        too_large(max)
    } else {
        error(status, "bad_request", text)
    }
}

fn content_length(h: &HeaderMap) -> Option<u64> {
    h.get(header::CONTENT_LENGTH)?.to_str().ok()?.parse().ok()
}

/// `POST /api/classify`: a multipart form with a file field (any name; `photo` on the page), or
/// the raw image as the body. The format is sniffed from the bytes.
async fn classify(State(s): State<AppState>, req: Request) -> Response {
    let t0 = Instant::now();
    let resp = classify_inner(&s, req, t0).await;
    s.telemetry.upload(match resp.status() {
        StatusCode::OK => "classified",
        StatusCode::SERVICE_UNAVAILABLE => "busy",
        _ => "rejected",
    });
    resp
}

async fn classify_inner(s: &AppState, req: Request, t0: Instant) -> Response {
    let max = s.cfg.max_upload_bytes();
    if content_length(req.headers()).is_some_and(|n| n > max as u64) {
        return too_large(max); // refused before reading a byte
    }
    let bytes = match read_photo(s, req, max).await {
        Ok(b) => b,
        Err(r) => return r,
    };
    match s.workers.classify(bytes).await {
        Ok(a) => Json(json!({
            "width": a.width,
            "height": a.height,
            "faces": a.faces,
            "detect_ms": a.detect_ms,
            "classify_ms": a.classify_ms,
            "padded": a.padded,
            "total_ms": (t0.elapsed().as_secs_f64() * 10_000.0).round() / 10.0,
            "model": s.telemetry.snapshot().model,
        }))
        .into_response(),
        Err(e) => job_error(e),
    }
}

/// The photo's bytes: the file field of a form, or the raw body.
async fn read_photo(s: &AppState, req: Request, max: usize) -> Result<Bytes, Response> {
    let multipart = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.to_ascii_lowercase().starts_with("multipart/form-data"));
    if !multipart {
        return Bytes::from_request(req, s)
            .await
            .map_err(|r| rejected(r.status(), r.body_text(), max));
    }
    let mut form = Multipart::from_request(req, s)
        .await
        .map_err(|r| rejected(r.status(), r.body_text(), max))?;
    loop {
        match form.next_field().await {
            Ok(Some(field)) if field.file_name().is_some() || field.name() == Some("photo") => {
                return field
                    .bytes()
                    .await
                    .map_err(|e| rejected(e.status(), e.body_text(), max));
            }
            Ok(Some(_)) => {}
            Ok(None) => {
                return Err(error(
                    StatusCode::BAD_REQUEST,
                    "no_photo",
                    "the form has no file; send the photo in a file field named \"photo\"",
                ))
            }
            Err(e) => return Err(rejected(e.status(), e.body_text(), max)),
        }
    }
}

/// The answer to an upload that got no analysis.
fn job_error(e: JobError) -> Response {
    match e {
        e @ JobError::Busy(_) => {
            let mut r = error(StatusCode::SERVICE_UNAVAILABLE, "busy", e);
            r.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
            r
        }
        JobError::Photo(p) => {
            let (status, code) = match p {
                PhotoError::Empty => (StatusCode::BAD_REQUEST, "empty"),
                PhotoError::NotAnImage => (StatusCode::UNSUPPORTED_MEDIA_TYPE, "not_an_image"),
                PhotoError::TooManyPixels { .. } => {
                    (StatusCode::PAYLOAD_TOO_LARGE, "too_many_pixels")
                }
                PhotoError::TooMuchMemory { .. } => {
                    (StatusCode::PAYLOAD_TOO_LARGE, "too_much_memory")
                }
                PhotoError::Corrupt { .. } => (StatusCode::UNPROCESSABLE_ENTITY, "corrupt_image"),
            };
            error(status, code, p)
        }
        e @ JobError::Failed(_) => {
            log::error!("upload: {e}");
            error(StatusCode::INTERNAL_SERVER_ERROR, "failed", e)
        }
    }
}

fn preview_off() -> Response {
    error(
        StatusCode::NOT_FOUND,
        "preview_off",
        "the setup preview is off; set web.preview = true and reload (systemctl reload moodkiosk)",
    )
}

/// `GET /preview`: the aiming page (404 while `web.preview` is off).
async fn preview_page(State(s): State<AppState>) -> Response {
    match s.preview.enabled() {
        true => asset_response("preview.html"),
        false => preview_off(),
    }
}

/// `GET /api/preview`: what the latest preview frame shows (faces, sizes, frame rates).
async fn preview_info(State(s): State<AppState>) -> Response {
    if !s.preview.enabled() {
        return preview_off();
    }
    Json(json!({ "watched": s.preview.watched(), "frame": s.preview.info() })).into_response()
}

/// `GET /preview.mjpg`: the live preview as MJPEG over HTTP (`multipart/x-mixed-replace`),
/// from memory, at most a few frames a second; ends when the preview is turned off.
async fn preview_stream(State(s): State<AppState>) -> Response {
    if !s.preview.enabled() {
        return preview_off();
    }
    let watcher = s.preview.watch();
    let parts = futures_util::stream::unfold(watcher, |mut w| async move {
        let f = w.next().await?;
        let mut part = format!(
            "--frame\r\nContent-Type: image/jpeg\r\nContent-Length: {}\r\n\r\n",
            f.jpeg.len()
        )
        .into_bytes();
        part.extend_from_slice(&f.jpeg);
        part.extend_from_slice(b"\r\n");
        Some((Ok::<_, std::io::Error>(Bytes::from(part)), w))
    });
    (
        [(
            header::CONTENT_TYPE,
            "multipart/x-mixed-replace; boundary=frame",
        )],
        axum::body::Body::from_stream(parts),
    )
        .into_response()
}

/// `GET /api/status`.
async fn status(State(s): State<AppState>) -> Response {
    let t = &s.telemetry;
    let st = t.snapshot();
    let (frames, faces) = t.counts();
    let since_tick = t.since_tick();
    Json(json!({
        "version": env!("CARGO_PKG_VERSION"),
        "started": t.started_at(),
        "uptime_s": t.uptime().as_secs(),
        "frame_loop": {
            "alive": !t.stalled(),
            "last_tick_ms_ago": since_tick.as_millis() as u64,
        },
        "camera": st.camera,
        "leds": st.leds,
        "model": st.model,
        "last_decision": st.last_decision,
        "visitors_today": st.visitors_today,
        "frames": frames,
        "faces": faces,
        "capture_fps": st.capture_fps,
        "processed_fps": st.processed_fps,
        "frames_dropped": st.frames_dropped,
        "journal": {"dir": st.journal_dir, "backlog": st.journal_backlog},
        "mqtt": st.mqtt,
        "limits": {
            "max_upload_mb": s.cfg.max_upload_mb,
            "max_megapixels": s.cfg.max_megapixels,
        },
    }))
    .into_response()
}

/// `GET /api/today`: the dashboard's chart data.
async fn today_handler(State(s): State<AppState>) -> Response {
    let dir = s.telemetry.snapshot().journal_dir;
    let hours = s.cfg.hours();
    match tokio::task::spawn_blocking(move || today::today(&dir, Local::now(), hours)).await {
        Ok(Ok(t)) => Json(t).into_response(),
        Ok(Err(e)) => error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "journal_unreadable",
            format!("cannot read today's journal: {e}"),
        ),
        Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, "failed", e),
    }
}

/// `GET /api/days`: the days the journal holds, newest first, with their totals.
async fn days_handler(State(s): State<AppState>) -> Response {
    let dir = s.telemetry.snapshot().journal_dir;
    match tokio::task::spawn_blocking(move || history::days(&dir)).await {
        Ok(Ok(days)) => Json(json!({ "days": days })).into_response(),
        Ok(Err(e)) => error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "journal_unreadable",
            format!("cannot list the journal folder: {e}"),
        ),
        Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, "failed", e),
    }
}

fn day_error(e: DayError) -> Response {
    match e {
        DayError::BadDate(d) => error(
            StatusCode::BAD_REQUEST,
            "bad_date",
            format!("date={d:?}: give the day as ?date=YYYY-MM-DD (GET /api/days lists them)"),
        ),
        DayError::NotKept(d) => error(
            StatusCode::NOT_FOUND,
            "day_not_kept",
            format!("the journal holds no day {d} (GET /api/days lists the kept days)"),
        ),
        DayError::Io(e) => error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "journal_unreadable",
            format!("cannot read the day's journal: {e}"),
        ),
    }
}

/// A day request: check `?date=`, then read that day off the frame loop's thread.
async fn for_day<T: Send + 'static>(
    s: &AppState,
    q: &HashMap<String, String>,
    read: impl FnOnce(&std::path::Path, chrono::NaiveDate) -> std::result::Result<T, DayError>
        + Send
        + 'static,
) -> std::result::Result<(chrono::NaiveDate, T), Response> {
    let date =
        history::parse_date(q.get("date").map(String::as_str).unwrap_or("")).map_err(day_error)?;
    let dir = s.telemetry.snapshot().journal_dir;
    match tokio::task::spawn_blocking(move || read(&dir, date)).await {
        Ok(Ok(t)) => Ok((date, t)),
        Ok(Err(e)) => Err(day_error(e)),
        Err(e) => Err(error(StatusCode::INTERNAL_SERVER_ERROR, "failed", e)),
    }
}

/// `GET /api/day?date=YYYY-MM-DD`: the dashboard's data for any kept day.
async fn day_handler(
    State(s): State<AppState>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let hours = s.cfg.hours();
    match for_day(&s, &q, move |dir, date| history::day(dir, date, hours)).await {
        Ok((_, t)) => Json(t).into_response(),
        Err(r) => r,
    }
}

/// `GET /api/day.csv?date=YYYY-MM-DD`: a kept day's journal records as CSV.
async fn day_csv_handler(
    State(s): State<AppState>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    match for_day(&s, &q, history::day_csv).await {
        Ok((date, csv)) => (
            [
                (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_string()),
                (
                    header::CONTENT_DISPOSITION,
                    format!("attachment; filename=\"mood-{date}.csv\""),
                ),
            ],
            csv,
        )
            .into_response(),
        Err(r) => r,
    }
}

/// `GET /healthz`: 200 while the frame loop runs, 503 when it has stalled (as long as the
/// systemd watchdog allows, 30 s without one). Needs no token.
async fn healthz(State(s): State<AppState>) -> Response {
    let since = s.telemetry.since_tick();
    let camera = s.telemetry.snapshot().camera.state;
    if !s.telemetry.stalled() {
        Json(json!({"status": "ok", "camera": camera})).into_response()
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(
                json!({"status": "stalled", "camera": camera, "last_tick_s_ago": since.as_secs()}),
            ),
        )
            .into_response()
    }
}

/// `GET /metrics`: OpenMetrics text when the client asks for it (Prometheus does), else the
/// classic Prometheus text format (the same lines without the OpenMetrics `# EOF` marker).
async fn metrics(State(s): State<AppState>, headers: HeaderMap) -> Response {
    let text = s.telemetry.metrics_text();
    let openmetrics = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("application/openmetrics-text"));
    if openmetrics {
        (
            [(
                header::CONTENT_TYPE,
                "application/openmetrics-text; version=1.0.0; charset=utf-8",
            )],
            text,
        )
            .into_response()
    } else {
        let plain = prometheus_text(&text);
        (
            [(
                header::CONTENT_TYPE,
                "text/plain; version=0.0.4; charset=utf-8",
            )],
            plain,
        )
            .into_response()
    }
}

/// OpenMetrics to the classic Prometheus text format: counters are announced by their sample
/// name (`x_total`), and the `# EOF` marker goes.
fn prometheus_text(openmetrics: &str) -> String {
    let counters: Vec<&str> = openmetrics
        .lines()
        .filter_map(|l| l.strip_prefix("# TYPE ")?.strip_suffix(" counter"))
        .collect();
    let mut out = String::with_capacity(openmetrics.len() + 16 * counters.len());
    for line in openmetrics.lines().filter(|l| *l != "# EOF") {
        let renamed = ["# HELP ", "# TYPE "].iter().find_map(|p| {
            let rest = line.strip_prefix(p)?;
            let (name, tail) = rest.split_once(' ')?;
            counters
                .contains(&name)
                .then(|| format!("{p}{name}_total {tail}"))
        });
        out += renamed.as_deref().unwrap_or(line);
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prometheus_text_names_counters_by_their_samples() {
        let om = "# HELP a_frames Frames.\n# TYPE a_frames counter\na_frames_total 3\n\
                  # HELP a_up Up.\n# TYPE a_up gauge\na_up 1\n# EOF\n";
        assert_eq!(
            prometheus_text(om),
            "# HELP a_frames_total Frames.\n# TYPE a_frames_total counter\na_frames_total 3\n\
             # HELP a_up Up.\n# TYPE a_up gauge\na_up 1\n"
        );
    }
}
