//! Frame sources behind one trait: a V4L2 camera, a camera command's output (`pipe`: rpicam-vid
//! for Raspberry Pi camera modules, ffmpeg for IP cameras, GStreamer), or a replay of image
//! files (demos, tests). Frames stay in memory. Each source is read by its own capture thread
//! ([`capture`]), which keeps the newest frame for the pipeline and reopens a failed source
//! every `retry_interval_ms`.
//!
//! The rule for faults (µStreamer's): a frame that cannot be used (corrupt, truncated, wrong
//! size) is [`Next::Dropped`] and counted; only a timeout or a device error loses the camera,
//! or no good frame for `bad_frames_timeout_s`.

pub mod capture;
mod pipe;
mod replay;
mod v4l2;

pub use pipe::PipeSource;
pub use replay::{list_images, list_images_recursive, ReplaySource};
pub use v4l2::V4l2Source;

use std::path::PathBuf;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::check_range;
use crate::error::Result;
use crate::frame::{Dropped, Frame};
use crate::invalid;
use crate::settings::Invalid;

/// What a source gave.
#[derive(Debug)]
pub enum Next {
    /// A good frame.
    Frame(Frame),
    /// A frame that could not be used (skipped and counted, not a camera fault).
    Dropped(Dropped),
    /// A non-looping replay has ended.
    End,
}

impl Next {
    /// A decoded camera frame, numbered after `seq`, or why it was dropped.
    pub fn decoded(decoded: std::result::Result<image::GrayImage, Dropped>, seq: &mut u64) -> Next {
        match decoded {
            Ok(image) => {
                *seq += 1;
                Next::Frame(Frame {
                    image,
                    seq: *seq,
                    at: std::time::Instant::now(),
                })
            }
            Err(why) => Next::Dropped(why),
        }
    }
}

/// Where frames come from.
pub trait FrameSource: Send {
    /// Open or reopen (renegotiating the format); an error means "still unavailable".
    fn open(&mut self) -> Result<()>;
    /// The next frame. An error means the source was lost (a timeout, a device error, the
    /// camera command exited); the caller closes it and retries `open` later.
    fn next(&mut self) -> Result<Next>;
    /// Release the device (safe to call when not open).
    fn close(&mut self);
    /// For logs: device path, command or replay folder.
    fn describe(&self) -> String;
    /// A live camera drops frames the pipeline is too slow for (the newest wins); a replay
    /// waits for the pipeline, so that every frame of a recording is analysed.
    fn live(&self) -> bool {
        true
    }
}

/// `source.kind`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SourceKind {
    /// A V4L2 camera.
    V4l2,
    /// Image files (demos and tests).
    Replay,
    /// A command that writes frames to its standard output (rpicam-vid, ffmpeg, gst-launch).
    Pipe,
}

/// `source.format`: the pixel format asked of a V4L2 camera, or written by a pipe command.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PixelFormat {
    Auto,
    Mjpeg,
    Yuyv,
    #[serde(alias = "gray")]
    Grey,
    I420,
}

impl PixelFormat {
    /// The frame encoding, `None` for `auto`.
    pub fn raw(self) -> Option<crate::frame::RawFormat> {
        use crate::frame::RawFormat;
        match self {
            PixelFormat::Auto => None,
            PixelFormat::Mjpeg => Some(RawFormat::Mjpeg),
            PixelFormat::Yuyv => Some(RawFormat::Yuyv),
            PixelFormat::Grey => Some(RawFormat::Grey),
            PixelFormat::I420 => Some(RawFormat::I420),
        }
    }
}

/// `[source]` (documented in config/moodkiosk.toml).
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct SourceSettings {
    pub kind: SourceKind,
    pub device: PathBuf,
    pub width: u32,
    pub height: u32,
    pub fps: u32,
    pub format: PixelFormat,
    pub dequeue_timeout_ms: u64,
    pub retry_interval_ms: u64,
    pub bad_frames_timeout_s: u64,
    pub command: Vec<String>,
    pub replay: Vec<PathBuf>,
    pub replay_fps: f64,
    pub replay_loop: bool,
    pub replay_hold: u32,
    pub replay_gap: u32,
}

impl SourceSettings {
    pub fn validate(&self) -> std::result::Result<(), Invalid> {
        let s = self;
        check_range!(s.width, 32, 4096);
        check_range!(s.height, 32, 4096);
        check_range!(s.fps, 1, 120);
        check_range!(s.dequeue_timeout_ms, 100, 60_000);
        check_range!(s.retry_interval_ms, 100, 600_000);
        check_range!(s.bad_frames_timeout_s, 1, 3600);
        check_range!(s.replay_fps, 0.1, 240.0);
        check_range!(s.replay_hold, 1, 10_000);
        check_range!(s.replay_gap, 0, 10_000);
        match s.kind {
            SourceKind::V4l2 if s.device.as_os_str().is_empty() => {
                Err(invalid!(s.device, "must name a device, e.g. /dev/video0",))
            }
            SourceKind::Replay if s.replay.is_empty() => Err(invalid!(
                s.replay,
                "must list at least one image file or folder when source.kind = \"replay\"",
            )),
            SourceKind::Pipe if s.command.first().is_none_or(|c| c.trim().is_empty()) => {
                Err(invalid!(
                    s.command,
                    "must be the camera command as a list, e.g. [\"rpicam-vid\", \"-t\", \"0\", \"-n\", \"--codec\", \"mjpeg\", \"-o\", \"-\"] when source.kind = \"pipe\""
                ))
            }
            SourceKind::Pipe if s.format == PixelFormat::Auto => Err(invalid!(
                s.format,
                "must say what the command writes when source.kind = \"pipe\": mjpeg, grey, i420 or yuyv",
            )),
            _ => Ok(()),
        }
    }

    /// How often a missing camera is reopened.
    pub fn retry_interval(&self) -> Duration {
        Duration::from_millis(self.retry_interval_ms)
    }

    /// Longest wait for one frame.
    pub fn dequeue_timeout(&self) -> Duration {
        Duration::from_millis(self.dequeue_timeout_ms)
    }

    /// The camera counts as lost after this long without a good frame.
    pub fn bad_frames_timeout(&self) -> Duration {
        Duration::from_secs(self.bad_frames_timeout_s)
    }
}

/// Build the configured source (not yet opened). `stop` cuts a replay's wait between frames
/// short, so that a stop request is never held up by a slow frame rate.
pub fn build(cfg: &SourceSettings, stop: Arc<AtomicBool>) -> Box<dyn FrameSource> {
    match cfg.kind {
        SourceKind::V4l2 => Box::new(V4l2Source::new(cfg)),
        SourceKind::Pipe => Box::new(PipeSource::new(cfg, stop)),
        SourceKind::Replay => Box::new(
            ReplaySource::new(cfg.replay.clone(), cfg.replay_fps, cfg.replay_loop)
                .with_hold_gap(cfg.replay_hold, cfg.replay_gap)
                .with_stop(stop),
        ),
    }
}
