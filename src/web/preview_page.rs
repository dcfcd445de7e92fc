//! The setup preview's page, its frame information and its MJPEG stream (404 while
//! `web.preview` is off).

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

use super::assets::asset_response;
use super::routes::{error, AppState};

fn preview_off() -> Response {
    error(
        StatusCode::NOT_FOUND,
        "preview_off",
        "the setup preview is off; set web.preview = true and reload (systemctl reload moodkiosk)",
    )
}

/// `GET /preview`: the aiming page (404 while `web.preview` is off).
pub(super) async fn preview_page(State(s): State<AppState>) -> Response {
    match s.preview.enabled() {
        true => asset_response("preview.html"),
        false => preview_off(),
    }
}

/// `GET /api/preview`: what the latest preview frame shows (faces, sizes, frame rates).
pub(super) async fn preview_info(State(s): State<AppState>) -> Response {
    if !s.preview.enabled() {
        return preview_off();
    }
    Json(json!({ "watched": s.preview.watched(), "frame": s.preview.info() })).into_response()
}

/// `GET /preview.mjpg`: the live preview as MJPEG over HTTP (`multipart/x-mixed-replace`),
/// from memory, at most a few frames a second; ends when the preview is turned off.
pub(super) async fn preview_stream(State(s): State<AppState>) -> Response {
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
