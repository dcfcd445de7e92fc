//! The local web page and API, served by axum (tokio's HTTP framework: maintained with hyper
//! and tower, and it brings what an exposed service needs - body limits, multipart, typed
//! rejections - without hand-written HTTP).
//!
//! Routes: `/` upload page, `/dashboard`, `/assets/*` (compiled into the binary: the kiosk is
//! offline), `POST /api/classify`, `GET /api/status`, `GET /api/today`, `GET /healthz`,
//! `GET /metrics`. Runs on its own thread with a small tokio runtime; uploads are classified by
//! [`jobs::Workers`] at low priority, so the frame loop keeps its camera rate.

pub mod jobs;
mod routes;
pub mod today;

use std::net::SocketAddr;
use std::sync::Arc;
use std::thread::JoinHandle;

use tokio::sync::oneshot;

use crate::config::WebConfig;
use crate::error::{Error, Result};
use crate::photo::PhotoLimits;
use crate::telemetry::Telemetry;

pub use jobs::{Engine, EngineSlot};

/// The running server; stops when dropped.
pub struct WebServer {
    addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl WebServer {
    /// Bind (errors here are start-up errors) and serve on a thread of its own.
    pub fn start(
        cfg: &WebConfig,
        telemetry: Arc<Telemetry>,
        engine: Arc<EngineSlot>,
    ) -> Result<WebServer> {
        let bind_err = |source| Error::Listen {
            addr: cfg.bind,
            source,
        };
        let listener = std::net::TcpListener::bind(cfg.bind).map_err(bind_err)?;
        listener.set_nonblocking(true).map_err(bind_err)?;
        let addr = listener.local_addr().map_err(bind_err)?;
        let workers = jobs::Workers::start(
            cfg.max_concurrent,
            cfg.max_queued,
            engine,
            PhotoLimits {
                max_pixels: cfg.max_pixels,
            },
        )?;
        let app = routes::router(routes::AppState {
            telemetry,
            workers: Arc::new(workers),
            cfg: Arc::new(cfg.clone()),
        });
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
                    let serve = axum::serve(
                        listener,
                        app.into_make_service_with_connect_info::<SocketAddr>(),
                    )
                    .with_graceful_shutdown(async {
                        let _ = stopped.await;
                    });
                    if let Err(e) = serve.await {
                        log::error!("web server stopped: {e}");
                    }
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
