//! V4L2 camera through the `v4l` crate: MJPEG, YUYV or GREY, converted to 8-bit gray. Every
//! dequeue waits at most `dequeue_timeout` (the crate blocks forever without one), and the
//! stream is torn down inside `catch_unwind` because the crate panics in `Drop` on most errors.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use image::GrayImage;
use v4l::buffer::Type;
use v4l::io::mmap::Stream;
use v4l::io::traits::{CaptureStream, Stream as _};
use v4l::video::capture::Parameters;
use v4l::video::Capture;
use v4l::{Device, FourCC};

use super::{PixelFormat, SourceSettings};
use crate::error::{Error, Result};
use crate::frame::{gray_from_yuyv, Frame};
use crate::photo::{self, PhotoLimits};

/// An open capture stream and what was negotiated.
struct Open {
    stream: Stream<'static>,
    fourcc: [u8; 4],
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

    fn decode(&self, o: &Open, data: &[u8]) -> Result<GrayImage> {
        let (w, h) = (o.width, o.height);
        match &o.fourcc {
            b"MJPG" => photo::decode(data, &PhotoLimits::default())
                .map_err(|e| self.err(format!("bad MJPEG frame: {e}"))),
            b"YUYV" => {
                let stride = o.stride.max(w * 2) as usize;
                let mut packed = Vec::with_capacity((w * h * 2) as usize);
                for row in data.chunks(stride).take(h as usize) {
                    packed.extend_from_slice(&row[..(w as usize * 2).min(row.len())]);
                }
                gray_from_yuyv(&packed, w, h).ok_or_else(|| self.err("short YUYV frame"))
            }
            _ => {
                let stride = o.stride.max(w) as usize;
                let mut px = Vec::with_capacity((w * h) as usize);
                for row in data.chunks(stride).take(h as usize) {
                    px.extend_from_slice(&row[..(w as usize).min(row.len())]);
                }
                GrayImage::from_raw(w, h, px).ok_or_else(|| self.err("short GREY frame"))
            }
        }
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
        self.open = Some(Open {
            stream,
            fourcc,
            width: fmt.width,
            height: fmt.height,
            stride: fmt.stride,
        });
        Ok(())
    }

    fn next_frame(&mut self) -> Result<Option<Frame>> {
        let Some(mut o) = self.open.take() else {
            return Err(self.err("not open"));
        };
        let got = match o.stream.next() {
            Ok((buf, meta)) => {
                let used = (meta.bytesused as usize).min(buf.len());
                Ok(buf[..if used == 0 { buf.len() } else { used }].to_vec())
            }
            Err(e) if e.kind() == std::io::ErrorKind::TimedOut => {
                Err(self.err(format!("no frame within {} ms", self.timeout.as_millis())))
            }
            Err(e) => Err(self.err(e)),
        };
        match got {
            Ok(data) => {
                let img = self.decode(&o, &data);
                self.open = Some(o);
                self.seq += 1;
                Ok(Some(Frame {
                    image: img?,
                    seq: self.seq,
                    at: Instant::now(),
                }))
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
