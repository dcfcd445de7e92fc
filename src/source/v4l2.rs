//! V4L2 camera through the `v4l` crate: MJPEG, YUYV, GREY or I420 (YU12), converted to 8-bit
//! gray (MJPEG: the luma plane only, standard Huffman tables when a frame has none). Every
//! dequeue waits at most `dequeue_timeout` (the crate blocks forever without one), and the
//! stream is torn down inside `catch_unwind` because the crate panics in `Drop` on most errors.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::PathBuf;
use std::time::Duration;

use v4l::buffer::Type;
use v4l::io::mmap::Stream;
use v4l::io::traits::{CaptureStream, Stream as _};
use v4l::video::capture::Parameters;
use v4l::video::Capture;
use v4l::{Device, FourCC};

use super::Next;
use super::{PixelFormat, SourceSettings};
use crate::error::{Error, Result};
use crate::frame::{self, RawFormat};

/// An open capture stream and what was negotiated.
struct Open {
    stream: Stream<'static>,
    format: RawFormat,
    width: u32,
    height: u32,
    stride: u32,
}

/// A V4L2 camera (`/dev/video0`, `/dev/v4l/by-id/...`).
pub struct V4l2Source {
    device: PathBuf,
    width: u32,
    height: u32,
    fps: u32,
    format: PixelFormat,
    timeout: Duration,
    open: Option<Open>,
    seq: u64,
}

impl V4l2Source {
    /// A camera as `[source]` describes it (not yet opened).
    pub fn new(cfg: &SourceSettings) -> Self {
        V4l2Source {
            device: cfg.device.clone(),
            width: cfg.width,
            height: cfg.height,
            fps: cfg.fps,
            format: cfg.format,
            timeout: Duration::from_millis(cfg.dequeue_timeout_ms),
            open: None,
            seq: 0,
        }
    }

    fn err(&self, msg: impl std::fmt::Display) -> Error {
        Error::Camera {
            device: self.device.display().to_string(),
            msg: msg.to_string(),
        }
    }

    fn negotiate(&self, dev: &Device) -> Result<(v4l::Format, [u8; 4])> {
        let offered: Vec<[u8; 4]> = dev
            .enum_formats()
            .map_err(|e| self.err(format!("cannot list formats: {e}")))?
            .iter()
            .map(|f| f.fourcc.repr)
            .collect();
        let wanted: &[&[u8; 4]] = match self.format {
            PixelFormat::Auto => &[b"MJPG", b"YUYV", b"GREY"],
            PixelFormat::Mjpeg => &[b"MJPG"],
            PixelFormat::Yuyv => &[b"YUYV"],
            PixelFormat::Grey => &[b"GREY"],
            PixelFormat::I420 => &[b"YU12"],
        };
        let Some(code) = wanted.iter().find(|w| offered.contains(w)) else {
            let names: Vec<String> = offered
                .iter()
                .map(|c| String::from_utf8_lossy(c).into_owned())
                .collect();
            return Err(self.err(format!(
                "offers none of the usable formats (it has {}); set source.format",
                names.join(", ")
            )));
        };
        let mut fmt = dev
            .format()
            .map_err(|e| self.err(format!("cannot read format: {e}")))?;
        fmt.width = self.width;
        fmt.height = self.height;
        fmt.fourcc = FourCC::new(code);
        let got = dev
            .set_format(&fmt)
            .map_err(|e| self.err(format!("cannot set format: {e}")))?;
        if got.fourcc.repr != **code {
            return Err(self.err(format!("driver refused {}", String::from_utf8_lossy(*code))));
        }
        if let Err(e) = dev.set_params(&Parameters::with_fps(self.fps)) {
            log::debug!(
                "{}: cannot set {} fps: {e}",
                self.device.display(),
                self.fps
            );
        }
        Ok((got, **code))
    }
}

impl super::FrameSource for V4l2Source {
    fn open(&mut self) -> Result<()> {
        self.close();
        let dev = Device::with_path(&self.device).map_err(|e| self.err(e))?;
        let (fmt, fourcc) = self.negotiate(&dev)?;
        let mut stream = Stream::with_buffers(&dev, Type::VideoCapture, 4)
            .map_err(|e| self.err(format!("cannot map buffers: {e}")))?;
        stream.set_timeout(self.timeout);
        log::info!(
            "{}: {}x{} {} negotiated",
            self.device.display(),
            fmt.width,
            fmt.height,
            String::from_utf8_lossy(&fourcc)
        );
        let format = match &fourcc {
            b"MJPG" => RawFormat::Mjpeg,
            b"YUYV" => RawFormat::Yuyv,
            b"YU12" => RawFormat::I420,
            _ => RawFormat::Grey,
        };
        self.open = Some(Open {
            stream,
            format,
            width: fmt.width,
            height: fmt.height,
            stride: fmt.stride,
        });
        Ok(())
    }

    fn next(&mut self) -> Result<Next> {
        let Some(mut o) = self.open.take() else {
            return Err(self.err("not open"));
        };
        let got = match o.stream.next() {
            Ok((buf, meta)) => {
                let used = (meta.bytesused as usize).min(buf.len());
                let data = &buf[..if used == 0 { buf.len() } else { used }];
                Ok(frame::from_raw(
                    o.format,
                    data,
                    (o.width, o.height),
                    o.stride,
                    true,
                ))
            }
            Err(e) if e.kind() == std::io::ErrorKind::TimedOut => {
                Err(self.err(format!("no frame within {} ms", self.timeout.as_millis())))
            }
            Err(e) => Err(self.err(e)),
        };
        match got {
            Ok(decoded) => {
                self.open = Some(o);
                Ok(Next::decoded(decoded, &mut self.seq))
            }
            Err(e) => {
                teardown(o);
                Err(e)
            }
        }
    }

    fn close(&mut self) {
        if let Some(o) = self.open.take() {
            teardown(o);
        }
    }

    fn describe(&self) -> String {
        self.device.display().to_string()
    }
}

/// Stop and unmap; the v4l crate panics in `Drop` when the device is in a bad state.
fn teardown(o: Open) {
    let r = catch_unwind(AssertUnwindSafe(move || {
        let mut o = o;
        let _ = o.stream.stop();
        drop(o);
    }));
    if r.is_err() {
        log::debug!("v4l stream teardown panicked; ignored");
    }
}
