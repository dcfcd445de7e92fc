//! The connection layer under the router (hyper's HTTP/1 server, as axum uses it, with what
//! `axum::serve` leaves out for an exposed kiosk): a header-read timeout that also closes idle
//! keep-alive connections, a cap on open connections kept below the process's file-descriptor
//! limit (a reserve stays for the camera, the journal and the models), and graceful shutdown.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::{oneshot, Semaphore};

/// File descriptors kept free for everything but web connections.
pub const FD_RESERVE: u64 = 48;

/// How many connections may be open: `wanted`, but never more than the fd limit allows.
pub fn connection_cap(wanted: usize) -> usize {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes into the struct we pass; nothing else is touched.
    let ok = unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } == 0;
    if !ok {
        return wanted;
    }
    let room = lim.rlim_cur.saturating_sub(FD_RESERVE).max(4);
    let cap = wanted.min(room as usize);
    if cap < wanted {
        log::warn!(
            "web: at most {cap} connections (the open-file limit is {}; web.max_connections = {wanted})",
            lim.rlim_cur
        );
    }
    cap
}

/// Serve `app` on `listener` until `stop` fires.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    max_connections: usize,
    header_timeout: Duration,
    stop: oneshot::Receiver<()>,
) {
    let permits = Arc::new(Semaphore::new(max_connections));
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(header_timeout)
        .max_buf_size(256 * 1024);
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let mut refused_logged: Option<Instant> = None;
    tokio::pin!(stop);
    loop {
        let accepted = tokio::select! {
            a = listener.accept() => a,
            _ = &mut stop => break,
        };
        let stream = match accepted {
            Ok((stream, _peer)) => stream,
            Err(e) => {
                // Out of descriptors (EMFILE) or a transient error: wait instead of spinning.
                log::debug!("web: accept: {e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let Ok(permit) = permits.clone().try_acquire_owned() else {
            if refused_logged.is_none_or(|t| t.elapsed() >= Duration::from_secs(60)) {
                log::warn!("web: {max_connections} connections open; refusing new ones (web.max_connections)");
                refused_logged = Some(Instant::now());
            }
            drop(stream);
            continue;
        };
        let service = TowerToHyperService::new(app.clone());
        let conn = graceful.watch(http.serve_connection(TokioIo::new(stream), service));
        tokio::spawn(async move {
            let _ = conn.await;
            drop(permit);
        });
    }
    // Open keep-alive connections get a moment to finish; a stop never waits longer.
    let _ = tokio::time::timeout(Duration::from_secs(1), graceful.shutdown()).await;
}
