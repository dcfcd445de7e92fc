//! The routing table: which path goes to which handler, behind which guards. Every refusal is
//! a JSON body `{"error": "...", "code": "..."}` with a 4xx status (5xx only for the kiosk's own
//! faults).

use std::sync::Arc;

use axum::extract::DefaultBodyLimit;
use axum::http::StatusCode;
use axum::middleware;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::json;

use super::api::{
    classify, day_csv_handler, day_handler, days_handler, fleet_handler, healthz, status,
    today_handler,
};
use super::assets::{asset, asset_response};
use super::guards::{admit, guard, require_token};
use super::jobs::Workers;
use super::metrics::metrics;
use super::origin::AllowedHosts;
use super::preview_page::{preview_info, preview_page, preview_stream};
use super::session::{end_session, session};
use super::WebSettings;
use crate::engine::EngineSlot;
use crate::error::Result;
use crate::fleet::Fleet;
use crate::journal::Reader;
use crate::preview::Preview;
use crate::telemetry::Telemetry;

/// What the daemon shares with the page.
pub struct Shared {
    pub telemetry: Arc<Telemetry>,
    /// The analysis engine uploads use (a reload swaps it).
    pub engine: Arc<EngineSlot>,
    pub preview: Arc<Preview>,
    pub fleet: Arc<Fleet>,
    pub journal: Reader,
}

/// What every handler can reach.
#[derive(Clone)]
pub struct AppState {
    pub telemetry: Arc<Telemetry>,
    pub workers: Arc<Workers>,
    pub cfg: Arc<WebSettings>,
    pub preview: Arc<Preview>,
    pub hosts: Arc<AllowedHosts>,
    pub fleet: Arc<Fleet>,
    pub journal: Reader,
}

impl AppState {
    /// Start the upload workers; the state for [`router`] (in-process tests build it too).
    pub fn new(cfg: &WebSettings, shared: Shared) -> Result<AppState> {
        let Shared {
            telemetry,
            engine,
            preview,
            fleet,
            journal,
        } = shared;
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
            journal,
        })
    }
}

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

/// A JSON error response.
pub(super) fn error(status: StatusCode, code: &str, msg: impl std::fmt::Display) -> Response {
    (
        status,
        Json(json!({"error": msg.to_string(), "code": code})),
    )
        .into_response()
}
