//! The connection layer under the router (hyper's HTTP/1 server, as axum uses it, with what
//! `axum::serve` leaves out for an exposed kiosk): the request head must arrive within the
//! header timeout; it is read and checked here first (httparse), so that a malformed request,
//! a bad `Content-Length` or oversized headers get the same JSON refusals as everything else
//! instead of hyper's empty ones; one request per connection (no idle keep-alive); a cap on
//! open connections kept below the process's file-descriptor limit (a reserve stays for the
//! camera, the journal and the models); graceful shutdown. At the cap, a new connection makes
//! room by closing the oldest one that has not yet sent its request head, so that idle sockets,
//! however many and however often renewed, never lock the page out.

use std::collections::BTreeMap;
use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::Router;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{oneshot, Semaphore};

/// Largest request head (request line and headers) read.
pub const MAX_HEAD: usize = 64 * 1024;

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

/// Connections still waiting for their request head, oldest first, each with the switch that
/// closes it.
#[derive(Default)]
struct Waiting {
    next: u64,
    conns: BTreeMap<u64, oneshot::Sender<()>>,
}

impl Waiting {
    fn add(this: &Mutex<Waiting>) -> (u64, oneshot::Receiver<()>) {
        let mut w = this.lock().unwrap_or_else(|p| p.into_inner());
        let (tx, rx) = oneshot::channel();
        let id = w.next;
        w.next += 1;
        w.conns.insert(id, tx);
        (id, rx)
    }

    fn remove(this: &Mutex<Waiting>, id: u64) {
        this.lock()
            .unwrap_or_else(|p| p.into_inner())
            .conns
            .remove(&id);
    }

    /// Close the oldest waiting connection; false when none waits.
    fn close_oldest(this: &Mutex<Waiting>) -> bool {
        let mut w = this.lock().unwrap_or_else(|p| p.into_inner());
        while let Some((_, close)) = w.conns.pop_first() {
            if close.send(()).is_ok() {
                return true;
            }
        }
        false
    }
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
    let waiting = Arc::new(Mutex::new(Waiting::default()));
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(header_timeout)
        .keep_alive(false)
        .max_buf_size(256 * 1024);
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let mut refused_logged: Option<Instant> = None;
    let mut evict_logged: Option<Instant> = None;
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
        let permit = match permits.clone().try_acquire_owned() {
            Ok(p) => Some(p),
            // Full: the oldest connection that has sent no request yet makes room.
            Err(_) if Waiting::close_oldest(&waiting) => {
                if evict_logged.is_none_or(|t| t.elapsed() >= Duration::from_secs(60)) {
                    log::warn!("web: {max_connections} connections open (web.max_connections); closing the oldest that has sent no request for each new one");
                    evict_logged = Some(Instant::now());
                }
                let wait =
                    tokio::time::timeout(Duration::from_secs(1), permits.clone().acquire_owned());
                wait.await.ok().and_then(Result::ok)
            }
            Err(_) => None,
        };
        let Some(permit) = permit else {
            if refused_logged.is_none_or(|t| t.elapsed() >= Duration::from_secs(60)) {
                log::warn!("web: {max_connections} connections open, all busy with requests; refusing new ones (web.max_connections)");
                refused_logged = Some(Instant::now());
            }
            drop(stream);
            continue;
        };
        let service = TowerToHyperService::new(app.clone());
        let http = http.clone();
        let watcher = graceful.watcher();
        let waiting = waiting.clone();
        // Registered before its task runs: a burst of connections is closable at once.
        let (id, closed) = Waiting::add(&waiting);
        tokio::spawn(async move {
            let mut stream = stream;
            let head = tokio::select! {
                h = read_head(&mut stream, header_timeout) => h,
                _ = closed => Err(()), // closed to make room: it had sent nothing usable
            };
            Waiting::remove(&waiting, id);
            if let Ok(head) = head {
                let io = TokioIo::new(Prefixed {
                    head,
                    pos: 0,
                    inner: stream,
                });
                let _ = watcher.watch(http.serve_connection(io, service)).await;
            }
            drop(permit);
        });
    }
    // Open keep-alive connections get a moment to finish; a stop never waits longer.
    let _ = tokio::time::timeout(Duration::from_secs(1), graceful.shutdown()).await;
}

/// Read the request head within `timeout` and check it; a refusal is answered here (JSON) and
/// the connection closed. Returns the bytes read, for hyper to parse again.
async fn read_head(stream: &mut TcpStream, timeout: Duration) -> Result<Vec<u8>, ()> {
    let deadline = tokio::time::Instant::now() + timeout;
    let mut buf = Vec::with_capacity(4096);
    loop {
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            return match check_head(&buf[..end + 4]) {
                Ok(()) => Ok(buf),
                Err((status, code, msg)) => {
                    refuse(stream, status, code, &msg).await;
                    Err(())
                }
            };
        }
        if buf.len() > MAX_HEAD {
            let msg = format!("the request head is larger than {MAX_HEAD} bytes");
            refuse(stream, 431, "headers_too_large", &msg).await;
            return Err(());
        }
        match tokio::time::timeout_at(deadline, stream.read_buf(&mut buf)).await {
            Ok(Ok(n)) if n > 0 => {}
            _ => return Err(()), // closed, failed, or too slow: nothing to answer
        }
    }
}

type Refusal = (u16, &'static str, String);

/// A request head hyper would refuse, refused here with a reason.
fn check_head(head: &[u8]) -> Result<(), Refusal> {
    let mut headers = [httparse::EMPTY_HEADER; 64];
    let mut req = httparse::Request::new(&mut headers);
    match req.parse(head) {
        Ok(httparse::Status::Complete(_)) => {}
        Ok(httparse::Status::Partial) => {
            return Err((400, "bad_request", "incomplete request head".into()))
        }
        Err(httparse::Error::TooManyHeaders) => {
            return Err((
                431,
                "headers_too_large",
                "more than 64 header fields".into(),
            ))
        }
        Err(e) => return Err((400, "bad_request", format!("malformed request: {e}"))),
    }
    let mut length: Option<&[u8]> = None;
    let mut chunked = false;
    for h in req.headers.iter() {
        if h.name.eq_ignore_ascii_case("content-length") {
            let v = h.value.trim_ascii();
            let ok = !v.is_empty() && v.iter().all(u8::is_ascii_digit) && v.len() <= 19;
            if !ok || length.is_some_and(|l| l != v) {
                return Err((
                    400,
                    "bad_content_length",
                    "Content-Length must be one whole number".into(),
                ));
            }
            length = Some(v);
        }
        chunked |= h.name.eq_ignore_ascii_case("transfer-encoding");
    }
    if chunked && length.is_some() {
        return Err((
            400,
            "bad_content_length",
            "Content-Length together with Transfer-Encoding".into(),
        ));
    }
    Ok(())
}

/// Answer with a JSON refusal and close.
async fn refuse(stream: &mut TcpStream, status: u16, code: &str, msg: &str) {
    let reason = match status {
        431 => "Request Header Fields Too Large",
        _ => "Bad Request",
    };
    let body = serde_json::json!({ "error": msg, "code": code }).to_string();
    let answer = format!(
        "HTTP/1.1 {status} {reason}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = stream.write_all(answer.as_bytes()).await;
    let _ = stream.shutdown().await;
}

/// The connection with the already-read request head in front.
struct Prefixed {
    head: Vec<u8>,
    pos: usize,
    inner: TcpStream,
}

impl AsyncRead for Prefixed {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this.pos < this.head.len() {
            let n = buf.remaining().min(this.head.len() - this.pos);
            buf.put_slice(&this.head[this.pos..this.pos + n]);
            this.pos += n;
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut this.inner).poll_read(cx, buf)
    }
}

impl AsyncWrite for Prefixed {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_heads_hyper_would_refuse_get_a_reason() {
        assert!(check_head(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").is_ok());
        let bad = |h: &[u8]| check_head(h).unwrap_err().1;
        assert_eq!(
            bad(b"POST / HTTP/1.1\r\nContent-Length: abc\r\n\r\n"),
            "bad_content_length"
        );
        assert_eq!(
            bad(b"POST / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n"),
            "bad_content_length"
        );
        assert_eq!(
            bad(b"POST / HTTP/1.1\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n"),
            "bad_content_length"
        );
        assert_eq!(bad(b"GET / HTTP/1.1\r\nBad Header\r\n\r\n"), "bad_request");
        let many: Vec<u8> = [
            b"GET / HTTP/1.1\r\n".to_vec(),
            b"X: y\r\n".repeat(70),
            b"\r\n".to_vec(),
        ]
        .concat();
        assert_eq!(bad(&many), "headers_too_large");
    }
}
