//! Frame sources behind one trait: a V4L2 camera, or a replay of image files (demos, tests).
//! Frames stay in memory. The daemon reopens a failed source every `retry_interval`.

mod replay;
mod v4l2;

pub use replay::{list_images, list_images_recursive, ReplaySource};
pub use v4l2::V4l2Source;

use std::time::Duration;

use crate::config::SourceConfig;
use crate::error::Result;
use crate::frame::Frame;

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

/// Build the configured source (not yet opened) and its retry interval.
pub fn build(cfg: &SourceConfig) -> (Box<dyn FrameSource>, Duration) {
    match cfg {
        SourceConfig::V4l2 {
            device,
            width,
            height,
            fps,
            format,
            dequeue_timeout,
            retry_interval,
        } => (
            Box::new(V4l2Source::new(
                device.clone(),
                *width,
                *height,
                *fps,
                *format,
                *dequeue_timeout,
            )),
            *retry_interval,
        ),
        SourceConfig::Replay {
            paths,
            fps,
            looped,
            hold,
            gap,
            retry_interval,
        } => (
            Box::new(ReplaySource::new(paths.clone(), *fps, *looped).with_hold_gap(*hold, *gap)),
            *retry_interval,
        ),
    }
}
