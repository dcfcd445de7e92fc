//! A camera command's standard output as a frame source: `rpicam-vid` for Raspberry Pi camera
//! modules (libcamera), `ffmpeg` for RTSP/IP cameras, `gst-launch-1.0`, or a test generator.
//! The command is an argument list (no shell), started in its own process group; MJPEG streams
//! are split at the JPEG start/end markers (bounded frame size, garbage between frames
//! skipped), raw streams (`grey`, `i420`, `yuyv`) at the frame size. Its standard error is
//! logged, at most [`STDERR_LINES_PER_MIN`] lines a minute. When it exits or stalls (no byte
//! for `dequeue_timeout_ms`) the camera is lost; `close` ends the whole process group.

use std::io::{BufRead, BufReader, Read};
use std::os::fd::AsRawFd;
use std::os::unix::process::CommandExt;
use std::process::{Child, ChildStdout, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::{Next, SourceSettings};
use crate::error::{Error, Result};
use crate::frame::{self, Dropped, RawFormat};

/// Most lines of the command's standard error logged per minute.
pub const STDERR_LINES_PER_MIN: u32 = 20;

/// Largest MJPEG frame accepted (a 4096x4096 frame at high quality is well below).
const MAX_JPEG: usize = 16 << 20;

/// A running camera command.
struct Running {
    child: Child,
    stdout: ChildStdout,
}

/// Frames from a command's standard output.
pub struct PipeSource {
    argv: Vec<String>,
    format: RawFormat,
    size: (u32, u32),
    timeout: Duration,
    stop: Arc<AtomicBool>,
    running: Option<Running>,
    buf: Vec<u8>,
    seq: u64,
}

impl PipeSource {
    /// The command `[source]` names (not yet started).
    pub fn new(cfg: &SourceSettings, stop: Arc<AtomicBool>) -> PipeSource {
        PipeSource {
            argv: cfg.command.clone(),
            format: cfg.format.raw().unwrap_or(RawFormat::Mjpeg),
            size: (cfg.width, cfg.height),
            timeout: cfg.dequeue_timeout(),
            stop,
            running: None,
            buf: Vec::new(),
            seq: 0,
        }
    }

    fn err(&self, msg: impl std::fmt::Display) -> Error {
        Error::Camera {
            device: self.describe_short(),
            msg: msg.to_string(),
        }
    }

    fn describe_short(&self) -> String {
        format!(
            "command {}",
            self.argv.first().map(String::as_str).unwrap_or("")
        )
    }

    /// The next frame's bytes from the buffer, if a whole one is there.
    fn take_frame(&mut self) -> Option<std::result::Result<Vec<u8>, Dropped>> {
        match self.format.frame_bytes(self.size.0, self.size.1) {
            Some(n) => (self.buf.len() >= n).then(|| Ok(self.buf.drain(..n).collect())),
            None => split_jpeg(&mut self.buf),
        }
    }

    /// Read what the command wrote, waiting at most until `deadline`. False at its end.
    fn fill(&mut self, deadline: Instant) -> Result<bool> {
        let Some(r) = self.running.as_mut() else {
            return Err(self.err("not running"));
        };
        let fd = r.stdout.as_raw_fd();
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(self.err(format!("no data within {} ms", self.timeout.as_millis())));
            }
            if self.stop.load(Ordering::Relaxed) {
                return Err(self.err("stopping"));
            }
            let mut pfd = libc::pollfd {
                fd,
                events: libc::POLLIN,
                revents: 0,
            };
            let wait = left.min(Duration::from_millis(100)).as_millis() as i32;
            // SAFETY: one pollfd for a descriptor we own, for the duration of the call.
            let rc = unsafe { libc::poll(&mut pfd, 1, wait) };
            if rc < 0 {
                let e = std::io::Error::last_os_error();
                if e.kind() == std::io::ErrorKind::Interrupted {
                    continue;
                }
                return Err(self.err(e));
            }
            if rc == 0 {
                continue;
            }
            let mut chunk = [0u8; 64 * 1024];
            return match r.stdout.read(&mut chunk) {
                Ok(0) => Ok(false),
                Ok(n) => {
                    self.buf.extend_from_slice(&chunk[..n]);
                    Ok(true)
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => Err(self.err(e)),
            };
        }
    }

    /// Why the command ended (it closed its output).
    fn ended(&mut self) -> Error {
        let status = self.running.as_mut().and_then(|r| {
            let t0 = Instant::now();
            while t0.elapsed() < Duration::from_millis(500) {
                if let Ok(Some(st)) = r.child.try_wait() {
                    return Some(st);
                }
                std::thread::sleep(Duration::from_millis(10));
            }
            None
        });
        match status {
            Some(st) => self.err(format!("the camera command ended ({st})")),
            None => self.err("the camera command closed its output"),
        }
    }
}

/// Split one JPEG off the front of an MJPEG byte stream: bytes before a start marker are
/// skipped; a start marker before the end marker means the frame before it was cut short.
fn split_jpeg(buf: &mut Vec<u8>) -> Option<std::result::Result<Vec<u8>, Dropped>> {
    let find = |buf: &[u8], from: usize, m: u8| {
        buf.get(from..)?
            .windows(2)
            .position(|w| w[0] == 0xFF && w[1] == m)
            .map(|i| i + from)
    };
    let Some(soi) = find(buf, 0, 0xD8) else {
        let keep = usize::from(buf.last() == Some(&0xFF));
        buf.drain(..buf.len() - keep); // garbage: keep a trailing 0xFF, it may start a marker
        return None;
    };
    buf.drain(..soi);
    let (eoi, next_soi) = (find(buf, 2, 0xD9), find(buf, 2, 0xD8));
    match (eoi, next_soi) {
        (Some(eoi), next) if next.is_none_or(|n| n > eoi) => {
            Some(Ok(buf.drain(..eoi + 2).collect()))
        }
        (_, Some(next)) => {
            buf.drain(..next);
            Some(Err(Dropped::Truncated))
        }
        _ if buf.len() > MAX_JPEG => {
            buf.clear();
            Some(Err(Dropped::WrongSize))
        }
        _ => None,
    }
}

/// Log the command's standard error, rate-limited.
fn log_stderr(name: String, stderr: std::process::ChildStderr) {
    let mut window = Instant::now();
    let (mut logged, mut suppressed) = (0u32, 0u32);
    for line in BufReader::new(stderr).lines() {
        let Ok(line) = line else { break };
        if window.elapsed() >= Duration::from_secs(60) {
            if suppressed > 0 {
                log::info!("{name}: {suppressed} more lines on stderr not logged");
            }
            (window, logged, suppressed) = (Instant::now(), 0, 0);
        }
        if logged < STDERR_LINES_PER_MIN {
            log::info!("{name}: {}", line.trim_end());
            logged += 1;
        } else {
            suppressed += 1;
        }
    }
}

impl super::FrameSource for PipeSource {
    fn open(&mut self) -> Result<()> {
        self.close();
        let (prog, args) = self
            .argv
            .split_first()
            .ok_or_else(|| self.err("source.command is empty"))?;
        let mut child = Command::new(prog)
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0)
            .spawn()
            .map_err(|e| self.err(format!("cannot start {prog}: {e}")))?;
        let stdout = child.stdout.take().ok_or_else(|| self.err("no stdout"))?;
        if let Some(stderr) = child.stderr.take() {
            let name = self.describe_short();
            let _ = std::thread::Builder::new()
                .name("camera-stderr".into())
                .spawn(move || log_stderr(name, stderr));
        }
        self.buf.clear();
        self.running = Some(Running { child, stdout });
        Ok(())
    }

    fn next(&mut self) -> Result<Next> {
        let deadline = Instant::now() + self.timeout;
        loop {
            if let Some(got) = self.take_frame() {
                let decoded =
                    got.and_then(|data| frame::from_raw(self.format, &data, self.size, 0, false));
                return Ok(Next::decoded(decoded, &mut self.seq));
            }
            if !self.fill(deadline)? {
                return Err(self.ended());
            }
        }
    }

    fn close(&mut self) {
        let Some(mut r) = self.running.take() else {
            return;
        };
        let pgid = r.child.id() as i32;
        // SAFETY: signals to the process group we started; no memory is touched.
        unsafe { libc::kill(-pgid, libc::SIGTERM) };
        let t0 = Instant::now();
        while t0.elapsed() < Duration::from_secs(2) {
            if matches!(r.child.try_wait(), Ok(Some(_))) {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        // SAFETY: as above.
        unsafe { libc::kill(-pgid, libc::SIGKILL) };
        let _ = r.child.wait();
    }

    fn describe(&self) -> String {
        format!("command {}", self.argv.join(" "))
    }
}

impl Drop for PipeSource {
    fn drop(&mut self) {
        super::FrameSource::close(self);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mjpeg_stream_is_split_at_markers_skipping_garbage_and_cut_frames() {
        let mut buf = b"junk\xff\xd8one\xff\xd9\xff\xd8cut\xff\xd8two\xff\xd9tail".to_vec();
        assert_eq!(
            split_jpeg(&mut buf),
            Some(Ok(b"\xff\xd8one\xff\xd9".to_vec()))
        );
        assert_eq!(split_jpeg(&mut buf), Some(Err(Dropped::Truncated)));
        assert_eq!(
            split_jpeg(&mut buf),
            Some(Ok(b"\xff\xd8two\xff\xd9".to_vec()))
        );
        assert_eq!(split_jpeg(&mut buf), None);
        assert_eq!(buf, b"".to_vec(), "garbage after the last frame is dropped");
        let mut half = b"\xff\xd8half".to_vec();
        assert_eq!(split_jpeg(&mut half), None, "waits for the rest");
        assert_eq!(half, b"\xff\xd8half".to_vec());
    }
}
