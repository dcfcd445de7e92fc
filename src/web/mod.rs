//! The local web page and API, served by axum (tokio's HTTP framework: maintained with hyper
//! and tower, and it brings what an exposed service needs - body limits, multipart, typed
//! rejections - without hand-written HTTP).
//!
//! Routes: `/` upload page, `/dashboard`, `/assets/*` (compiled into the binary: the kiosk is
//! offline), `POST /api/classify`, `GET /api/status`, `GET /api/today`, `GET /healthz`,
//! `GET /metrics`. Runs on its own thread with a small tokio runtime; uploads are classified by
//! [`jobs::Workers`] at low priority, so the frame loop keeps its camera rate.

mod api;
mod assets;
mod guards;
pub mod jobs;
mod metrics;
pub(crate) mod origin;
mod preview_page;
mod routes;
mod server;
mod session;

use std::net::SocketAddr;
use std::thread::JoinHandle;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::sync::oneshot;

use crate::check_range;
use crate::error::{Error, Result};
use crate::invalid;
use crate::journal::{ClockTime, Hours};
use crate::photo::PhotoLimits;
use crate::settings::{Invalid, Secret};

pub use routes::{router, AppState, Shared};

/// A DNS name or IP literal as `web.allowed_hosts` takes it.
fn is_host_name(h: &str) -> bool {
    !h.is_empty()
        && h.len() <= 253
        && h.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.')
}

/// Shortest access token accepted.
pub const MIN_TOKEN_LEN: usize = 16;

/// `[web]` (documented in config/moodkiosk.toml).
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct WebSettings {
    pub enabled: bool,
    pub bind: SocketAddr,
    /// Required on every request but `/healthz` when set; always set for a non-loopback bind.
    pub token: Secret,
    pub max_upload_mb: u32,
    pub max_megapixels: u32,
    pub max_concurrent: u32,
    pub max_queued: u32,
    pub request_timeout_s: u64,
    pub header_timeout_s: u64,
    pub max_connections: u32,
    pub allowed_hosts: Vec<String>,
    pub max_decode_mb: u32,
    pub preview: bool,
    pub day_start: ClockTime,
    pub day_end: ClockTime,
    pub fleet: bool,
    pub fleet_forget_days: u32,
}

impl WebSettings {
    /// The opening hours the dashboard's axis spans.
    pub fn hours(&self) -> Hours {
        Hours {
            start: self.day_start,
            end: self.day_end,
        }
    }

    pub fn validate(&self) -> std::result::Result<(), Invalid> {
        let w = self;
        check_range!(w.max_upload_mb, 1, 200);
        check_range!(w.max_megapixels, 1, 400);
        check_range!(w.max_concurrent, 1, 16);
        check_range!(w.max_queued, 0, 256);
        check_range!(w.request_timeout_s, 1, 3600);
        check_range!(w.header_timeout_s, 1, 300);
        check_range!(w.max_connections, 4, 4096);
        check_range!(w.max_decode_mb, 8, 2048);
        check_range!(w.fleet_forget_days, 1, 365);
        if w.day_end <= w.day_start {
            return Err(invalid!(
                w.day_end,
                "must be later than web.day_start (the chart's axis runs from one to the other)"
            ));
        }
        if let Some(h) = w.allowed_hosts.iter().find(|h| !is_host_name(h)) {
            return Err(invalid!(
                w.allowed_hosts,
                format!("{h:?} is not a host name (letters, digits, '-' and '.', no port)")
            ));
        }
        if let Some(t) = w.token.expose() {
            if t.len() < MIN_TOKEN_LEN || t.chars().any(|c| !c.is_ascii_graphic()) {
                return Err(invalid!(w.token, format!(
                    "must be at least {MIN_TOKEN_LEN} printable ASCII characters without spaces; make one with `openssl rand -hex 16`"
                )));
            }
        }
        if w.enabled && !w.bind.ip().is_loopback() && w.token.expose().is_none() {
            return Err(invalid!(w.token, format!(
                "required because web.bind {} is reachable from other machines; set a random token (`openssl rand -hex 16`) or bind to 127.0.0.1",
                w.bind
            )));
        }
        Ok(())
    }

    /// Largest request body.
    pub fn max_upload_bytes(&self) -> usize {
        self.max_upload_mb as usize * 1024 * 1024
    }

    /// Largest decoded photo.
    pub fn max_pixels(&self) -> u64 {
        self.max_megapixels as u64 * 1_000_000
    }

    /// What decoding one photo may allocate.
    pub fn photo_limits(&self) -> PhotoLimits {
        PhotoLimits {
            max_pixels: self.max_pixels(),
            max_bytes: self.max_decode_mb as u64 * 1024 * 1024,
        }
    }

    /// How long the fleet page keeps a kiosk it no longer hears from.
    pub fn fleet_forget(&self) -> Duration {
        Duration::from_secs(u64::from(self.fleet_forget_days) * 86_400)
    }

    /// Whole-request time limit.
    pub fn request_timeout(&self) -> Duration {
        Duration::from_secs(self.request_timeout_s)
    }
}

/// The running server; stops when dropped.
pub struct WebServer {
    addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl WebServer {
    /// Bind (errors here are start-up errors) and serve on a thread of its own.
    pub fn start(cfg: &WebSettings, shared: Shared) -> Result<WebServer> {
        let bind_err = |source| Error::Listen {
            addr: cfg.bind,
            source,
        };
        let listener = std::net::TcpListener::bind(cfg.bind).map_err(bind_err)?;
        listener.set_nonblocking(true).map_err(bind_err)?;
        let addr = listener.local_addr().map_err(bind_err)?;
        let app = router(AppState::new(cfg, shared)?);
        let max_connections = server::connection_cap(cfg.max_connections as usize);
        let header_timeout = Duration::from_secs(cfg.header_timeout_s);
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| Error::io("starting the web server runtime", e))?;
        let (stop, stopped) = oneshot::channel::<()>();
        let thread = std::thread::Builder::new()
            .name("web".into())
            .spawn(move || {
                runtime.block_on(async move {
                    let listener = match tokio::net::TcpListener::from_std(listener) {
                        Ok(l) => l,
                        Err(e) => {
                            log::error!("web server: {e}");
                            return;
                        }
                    };
                    server::serve(listener, app, max_connections, header_timeout, stopped).await;
                })
            })
            .map_err(|e| Error::io("starting the web server thread", e))?;
        if addr.ip().is_loopback() {
            log::info!("web page on http://{addr}/ (this machine only)");
        } else {
            log::warn!(
                "web page on http://{addr}/ reachable from the network; API calls need web.token"
            );
        }
        Ok(WebServer {
            addr,
            stop: Some(stop),
            thread: Some(thread),
        })
    }

    /// The address actually bound (port 0 in the config picks a free port).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }
}

impl Drop for WebServer {
    fn drop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(t) = self.thread.take() {
            // Open keep-alive connections may hold the server a moment; never hang shutdown.
            let deadline = std::time::Instant::now() + std::time::Duration::from_secs(2);
            while !t.is_finished() && std::time::Instant::now() < deadline {
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            if t.is_finished() {
                let _ = t.join();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    //! The router in-process (tower's `oneshot`, no socket): what the HTTP tests check over
    //! loopback, here without a daemon.
    use super::*;
    use crate::classifier::{Classifier, ModelRef};
    use crate::engine::{Engine, EngineSlot};
    use crate::fleet::Fleet;
    use crate::preview::Preview;
    use crate::telemetry::Telemetry;
    use axum::body::Body;
    use axum::http::{Request, StatusCode};
    use std::sync::Arc;
    use tower::ServiceExt;

    fn app(token: &str) -> (axum::Router, tempfile::TempDir) {
        let dir = tempfile::tempdir().unwrap();
        let mut web: WebSettings = crate::settings::documented("web");
        web.token = Secret::new(token);
        // Routing is under test, not speed: under qemu (cross/test-aarch64.sh) the first upload
        // builds the detector and classifies in emulation, which takes tens of seconds.
        web.request_timeout_s = 600;
        let telemetry = Arc::new(Telemetry::new(
            "builtin".into(),
            dir.path().to_path_buf(),
            crate::telemetry::STALL,
        ));
        telemetry.tick();
        let engine = EngineSlot::new(Arc::new(Engine {
            classifier: Classifier::load(&ModelRef::Builtin).unwrap(),
            detector: crate::settings::documented("detector"),
        }));
        let shared = Shared {
            telemetry,
            engine,
            preview: Preview::new(false),
            fleet: Arc::new(Fleet::new(false, web.fleet_forget())),
            journal: crate::journal::Reader::new(dir.path()),
        };
        let state = AppState::new(&web, shared).unwrap();
        (router(state), dir)
    }

    async fn call(app: &axum::Router, req: Request<Body>) -> (StatusCode, serde_json::Value) {
        let resp = app.clone().oneshot(req).await.unwrap();
        let status = resp.status();
        let body = axum::body::to_bytes(resp.into_body(), 1 << 20)
            .await
            .unwrap();
        (status, serde_json::from_slice(&body).unwrap_or_default())
    }

    const HOST: (&str, &str) = ("host", "127.0.0.1:8080");

    fn get(uri: &str) -> Request<Body> {
        Request::get(uri)
            .header(HOST.0, HOST.1)
            .body(Body::empty())
            .unwrap()
    }

    #[tokio::test]
    async fn routes_answer_in_process() {
        let (app, _dir) = app("");
        let (st, _) = call(&app, get("/healthz")).await;
        assert_eq!(st, StatusCode::OK);
        let (st, v) = call(&app, get("/api/today")).await;
        assert_eq!(st, StatusCode::OK, "{v}");
        assert_eq!(v["visitors"], 0, "{v}");
        let (st, v) = call(&app, get("/nowhere")).await;
        assert_eq!(
            (st, v["code"].as_str()),
            (StatusCode::NOT_FOUND, Some("not_found"))
        );
        let photo = std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/assets/astronaut.png"));
        let req = Request::post("/api/classify")
            .header(HOST.0, HOST.1)
            .header("content-type", "image/png")
            .body(Body::from(photo.unwrap()))
            .unwrap();
        let (st, v) = call(&app, req).await;
        assert_eq!(st, StatusCode::OK, "{v}");
        assert_eq!(v["faces"][0]["mood"], "happy", "{v}");
        let req = Request::post("/api/classify")
            .header(HOST.0, HOST.1)
            .body(Body::from("not a photo"))
            .unwrap();
        let (st, v) = call(&app, req).await;
        assert_eq!(
            (st, v["code"].as_str()),
            (StatusCode::UNSUPPORTED_MEDIA_TYPE, Some("not_an_image"))
        );
    }

    #[tokio::test]
    async fn history_lists_days_serves_any_kept_day_and_its_csv() {
        let (app, dir) = app("sesame");
        let line = r#"{"type":"visitor","time":"2026-11-30T12:00:00.000+00:00","mood":"happy","confidence":0.9,"frames":5,"face_px":120}"#;
        std::fs::write(
            dir.path().join("mood-2026-11-30.jsonl"),
            format!("{line}\n"),
        )
        .unwrap();
        let auth = |uri: &str| {
            Request::get(uri)
                .header(HOST.0, HOST.1)
                .header("authorization", "Bearer sesame")
                .body(Body::empty())
                .unwrap()
        };
        let (st, _) = call(&app, get("/api/days")).await;
        assert_eq!(st, StatusCode::UNAUTHORIZED, "same token rules as the API");
        let (st, v) = call(&app, auth("/api/days")).await;
        assert_eq!(st, StatusCode::OK, "{v}");
        assert_eq!(v["days"][0]["date"], "2026-11-30", "{v}");
        assert_eq!(v["days"][0]["happy"], 1, "{v}");
        let (st, v) = call(&app, auth("/api/day?date=2026-11-30")).await;
        assert_eq!(
            (st, v["visitors"].as_u64()),
            (StatusCode::OK, Some(1)),
            "{v}"
        );
        for (uri, status, code) in [
            (
                "/api/day?date=2026-11-29",
                StatusCode::NOT_FOUND,
                "day_not_kept",
            ),
            (
                "/api/day?date=yesterday",
                StatusCode::BAD_REQUEST,
                "bad_date",
            ),
            ("/api/day", StatusCode::BAD_REQUEST, "bad_date"),
            (
                "/api/day.csv?date=..%2F..%2Fetc",
                StatusCode::BAD_REQUEST,
                "bad_date",
            ),
        ] {
            let (st, v) = call(&app, auth(uri)).await;
            assert_eq!((st, v["code"].as_str()), (status, Some(code)), "{uri}: {v}");
        }
        let resp = app
            .clone()
            .oneshot(auth("/api/day.csv?date=2026-11-30"))
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::OK);
        assert_eq!(resp.headers()["content-type"], "text/csv; charset=utf-8");
        let disposition = resp.headers()["content-disposition"]
            .to_str()
            .unwrap()
            .to_string();
        assert!(disposition.contains("mood-2026-11-30.csv"), "{disposition}");
        let body = axum::body::to_bytes(resp.into_body(), 1 << 20)
            .await
            .unwrap();
        let text = String::from_utf8(body.to_vec()).unwrap();
        assert_eq!(text.lines().count(), 2, "{text}");
        assert!(text
            .lines()
            .nth(1)
            .unwrap()
            .contains(",visitor,happy,0.900,5,120,"));
    }

    /// DNS rebinding, cross-site posts and oversized request lines and headers: JSON refusals.
    #[tokio::test]
    async fn foreign_hosts_cross_site_posts_and_huge_requests_are_refused_with_json() {
        let (app, _dir) = app("");
        let req = |host: &str| {
            Request::get("/api/today")
                .header("host", host)
                .body(Body::empty())
                .unwrap()
        };
        let (st, v) = call(&app, req("evil.example.com")).await;
        assert_eq!(
            (st, v["code"].as_str()),
            (StatusCode::MISDIRECTED_REQUEST, Some("wrong_host"))
        );
        assert_eq!(call(&app, req("localhost:8080")).await.0, StatusCode::OK);
        let post = |origin: &str| {
            Request::post("/api/classify")
                .header(HOST.0, HOST.1)
                .header("origin", origin)
                .body(Body::from("x"))
                .unwrap()
        };
        let (st, v) = call(&app, post("http://evil.example.com")).await;
        assert_eq!(
            (st, v["code"].as_str()),
            (StatusCode::FORBIDDEN, Some("cross_origin"))
        );
        let (st, v) = call(&app, post("http://127.0.0.1:8080")).await;
        assert_eq!(
            (st, v["code"].as_str()),
            (StatusCode::UNSUPPORTED_MEDIA_TYPE, Some("not_an_image"))
        );
        let long = format!("/api/today?{}", "a".repeat(9000));
        let (st, v) = call(&app, get(&long)).await;
        assert_eq!(
            (st, v["code"].as_str()),
            (StatusCode::URI_TOO_LONG, Some("uri_too_long"))
        );
        let big = Request::get("/healthz")
            .header(HOST.0, HOST.1)
            .header("x-padding", "p".repeat(20_000))
            .body(Body::empty())
            .unwrap();
        let (st, v) = call(&app, big).await;
        assert_eq!(
            (st, v["code"].as_str()),
            (
                StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
                Some("headers_too_large")
            )
        );
    }

    #[tokio::test]
    async fn the_token_guards_the_api_but_not_healthz() {
        let (app, _dir) = app("0123456789abcdef0123");
        assert_eq!(call(&app, get("/healthz")).await.0, StatusCode::OK);
        let (st, v) = call(&app, get("/api/status")).await;
        assert_eq!(
            (st, v["code"].as_str()),
            (StatusCode::UNAUTHORIZED, Some("token_required"))
        );
        let (st, _) = call(&app, get("/api/status?token=wrong-wrong-wrong")).await;
        assert_eq!(st, StatusCode::FORBIDDEN);
        let req = Request::get("/api/status")
            .header(HOST.0, HOST.1)
            .header("authorization", "Bearer 0123456789abcdef0123")
            .body(Body::empty())
            .unwrap();
        let (st, v) = call(&app, req).await;
        assert_eq!(st, StatusCode::OK, "{v}");
        assert_eq!(v["model"], "builtin", "{v}");
    }
}
