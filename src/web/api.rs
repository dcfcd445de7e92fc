//! The API's handlers: uploads to classify, the daemon's status and health, the journal's
//! days and charts (read off the async threads), the fleet.

use std::collections::HashMap;
use std::time::Instant;

use axum::body::Bytes;
use axum::extract::{FromRequest, Multipart, Query, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use chrono::Local;
use serde_json::json;

use super::jobs::JobError;
use super::routes::{error, AppState};
use crate::journal::history::{self, DayError};
use crate::journal::Reader;
use crate::photo::PhotoError;
use crate::telemetry::UploadOutcome;

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
pub(super) async fn classify(State(s): State<AppState>, req: Request) -> Response {
    let t0 = Instant::now();
    let resp = classify_inner(&s, req, t0).await;
    s.telemetry.upload(match resp.status() {
        StatusCode::OK => UploadOutcome::Classified,
        StatusCode::SERVICE_UNAVAILABLE => UploadOutcome::Busy,
        _ => UploadOutcome::Rejected,
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

/// `GET /api/status`.
pub(super) async fn status(State(s): State<AppState>) -> Response {
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
        "leds_fault": st.leds_fault,
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
pub(super) async fn today_handler(State(s): State<AppState>) -> Response {
    let (journal, hours) = (s.journal.clone(), s.cfg.hours());
    match tokio::task::spawn_blocking(move || journal.today(Local::now(), hours)).await {
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
pub(super) async fn days_handler(State(s): State<AppState>) -> Response {
    let journal = s.journal.clone();
    match tokio::task::spawn_blocking(move || journal.days()).await {
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
    read: impl FnOnce(&Reader, chrono::NaiveDate) -> std::result::Result<T, DayError> + Send + 'static,
) -> std::result::Result<(chrono::NaiveDate, T), Response> {
    let date =
        history::parse_date(q.get("date").map(String::as_str).unwrap_or("")).map_err(day_error)?;
    let journal = s.journal.clone();
    match tokio::task::spawn_blocking(move || read(&journal, date)).await {
        Ok(Ok(t)) => Ok((date, t)),
        Ok(Err(e)) => Err(day_error(e)),
        Err(e) => Err(error(StatusCode::INTERNAL_SERVER_ERROR, "failed", e)),
    }
}

/// `GET /api/day?date=YYYY-MM-DD`: the dashboard's data for any kept day.
pub(super) async fn day_handler(
    State(s): State<AppState>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let hours = s.cfg.hours();
    match for_day(&s, &q, move |journal, date| journal.day(date, hours)).await {
        Ok((_, t)) => Json(t).into_response(),
        Err(r) => r,
    }
}

/// `GET /api/day.csv?date=YYYY-MM-DD`: a kept day's journal records as CSV.
pub(super) async fn day_csv_handler(
    State(s): State<AppState>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    match for_day(&s, &q, Reader::day_csv).await {
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
pub(super) async fn healthz(State(s): State<AppState>) -> Response {
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

/// `GET /api/fleet`: every kiosk on the broker (`web.fleet`).
pub(super) async fn fleet_handler(State(s): State<AppState>) -> Response {
    Json(s.fleet.view()).into_response()
}
