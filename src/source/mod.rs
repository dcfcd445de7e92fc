//! Frame sources behind one trait: a V4L2 camera, or a replay of image files (demos, tests).
//! Frames stay in memory. The daemon reopens a failed source every `retry_interval_ms`.

mod replay;
mod v4l2;

pub use replay::{list_images, list_images_recursive, ReplaySource};
pub use v4l2::V4l2Source;

use std::path::PathBuf;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::check_range;
use crate::config::Invalid;
use crate::error::Result;
use crate::frame::Frame;
use crate::invalid;

/// Where frames come from.
pub trait FrameSource: Send {
    /// Open or reopen (renegotiating the format); an error means "still unavailable".
    fn open(&mut self) -> Result<()>;
    /// The next frame. `Ok(None)`: a non-looping replay has ended. An error means the source
    /// was lost; the caller closes it and retries `open` later.
    fn next_frame(&mut self) -> Result<Option<Frame>>;
    /// Release the device (safe to call when not open).
    fn close(&mut self);
    /// For logs: device path or replay folder.
    fn describe(&self) -> String;
}

/// `source.kind`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SourceKind {
    /// A V4L2 camera.
    V4l2,
    /// Image files (demos and tests).
    Replay,
}

/// `source.format`: the pixel format asked of a V4L2 camera.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PixelFormat {
    Auto,
    Mjpeg,
    Yuyv,
    Grey,
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
            _ => Ok(()),
        }
    }

    /// How often a missing camera is reopened.
    pub fn retry_interval(&self) -> Duration {
        Duration::from_millis(self.retry_interval_ms)
    }
}

/// Build the configured source (not yet opened). `stop` cuts a replay's wait between frames
/// short, so that a stop request is never held up by a slow frame rate.
pub fn build(cfg: &SourceSettings, stop: Arc<AtomicBool>) -> Box<dyn FrameSource> {
    match cfg.kind {
        SourceKind::V4l2 => Box::new(V4l2Source::new(cfg)),
        SourceKind::Replay => Box::new(
            ReplaySource::new(cfg.replay.clone(), cfg.replay_fps, cfg.replay_loop)
                .with_hold_gap(cfg.replay_hold, cfg.replay_gap)
                .with_stop(stop),
        ),
    }
}
