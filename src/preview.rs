//! The setup preview for aiming the camera (`web.preview`, off by default): while someone
//! watches `/preview`, the frame loop hands it a reduced gray copy of the newest frame (at most
//! [`MAX_FPS`] a second, [`WIDTH`] pixels wide) with the face boxes drawn — white when a face is
//! large enough for `detector.min_face_size`, black when it is too small — and the faces' sizes
//! and scores. Frames stay in memory and are replaced, never stored. While it is watched the
//! status LED flashes fast, so the people in front of the camera can see it; SIGHUP with
//! `web.preview = false` turns it off and ends open streams.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use image::GrayImage;
use serde::Serialize;
use tokio::sync::watch;

use crate::engine::Analysis;

/// Most preview frames a second.
pub const MAX_FPS: f64 = 2.0;
/// Width of preview frames.
pub const WIDTH: u32 = 320;

/// One face as the preview describes it.
#[derive(Debug, Clone, Serialize)]
pub struct PreviewFace {
    /// Larger box side in pixels of the camera frame.
    pub size_px: u32,
    /// At least `detector.min_face_size`.
    pub big_enough: bool,
    /// Detector score.
    pub score: f32,
}

/// What `/api/preview` says about the latest preview frame.
#[derive(Debug, Clone, Serialize)]
pub struct PreviewInfo {
    /// Camera frame size.
    pub width: u32,
    pub height: u32,
    pub min_face_size: u32,
    pub faces: Vec<PreviewFace>,
    pub capture_fps: f64,
    pub processed_fps: f64,
}

/// A preview frame: JPEG bytes and what is in them.
#[derive(Debug)]
pub struct PreviewFrame {
    pub jpeg: Vec<u8>,
    pub info: PreviewInfo,
}

/// Between the frame loop (publishes) and the web server (streams).
pub struct Preview {
    enabled: AtomicBool,
    watchers: AtomicUsize,
    last: Mutex<Option<Instant>>,
    tx: watch::Sender<Option<Arc<PreviewFrame>>>,
}

impl Preview {
    pub fn new(enabled: bool) -> Arc<Preview> {
        Arc::new(Preview {
            enabled: AtomicBool::new(enabled),
            watchers: AtomicUsize::new(0),
            last: Mutex::new(None),
            tx: watch::channel(None).0,
        })
    }

    /// `web.preview` (at start and on reload); turning it off ends open streams.
    pub fn set_enabled(&self, on: bool) {
        if self.enabled.swap(on, Ordering::Relaxed) != on {
            log::info!("setup preview {}", if on { "on" } else { "off" });
        }
        if !on {
            self.tx.send_replace(None);
        }
    }

    pub fn enabled(&self) -> bool {
        self.enabled.load(Ordering::Relaxed)
    }

    /// Someone is watching the preview now.
    pub fn watched(&self) -> bool {
        self.enabled() && self.watchers.load(Ordering::Relaxed) > 0
    }

    /// A new preview frame is wanted (watched, and the last one is old enough).
    pub fn due(&self, now: Instant) -> bool {
        let last = *self.last.lock().unwrap_or_else(|p| p.into_inner());
        self.watched() && last.is_none_or(|t| now.duration_since(t).as_secs_f64() >= 1.0 / MAX_FPS)
    }

    /// Hand the newest frame and its analysis to the watchers.
    pub fn publish(&self, frame: &GrayImage, a: &Analysis, min_face_size: u32, fps: (f64, f64)) {
        *self.last.lock().unwrap_or_else(|p| p.into_inner()) = Some(Instant::now());
        let info = PreviewInfo {
            width: frame.width(),
            height: frame.height(),
            min_face_size,
            faces: a
                .faces
                .iter()
                .map(|f| PreviewFace {
                    size_px: f.bbox.size().round() as u32,
                    big_enough: f.bbox.size() >= min_face_size as f32,
                    score: f.bbox.score,
                })
                .collect(),
            capture_fps: fps.0,
            processed_fps: fps.1,
        };
        match render(frame, a, min_face_size) {
            Ok(jpeg) => {
                self.tx
                    .send_replace(Some(Arc::new(PreviewFrame { jpeg, info })));
            }
            Err(e) => log::debug!("preview frame: {e}"),
        }
    }

    /// The latest frame's description.
    pub fn info(&self) -> Option<PreviewInfo> {
        self.tx.borrow().as_ref().map(|f| f.info.clone())
    }

    /// A watcher: counted while it lives.
    pub fn watch(self: &Arc<Self>) -> Watcher {
        self.watchers.fetch_add(1, Ordering::Relaxed);
        Watcher {
            preview: self.clone(),
            rx: self.tx.subscribe(),
        }
    }
}

/// One open preview stream.
pub struct Watcher {
    preview: Arc<Preview>,
    rx: watch::Receiver<Option<Arc<PreviewFrame>>>,
}

impl Watcher {
    /// The next new frame; `None` once the preview is turned off.
    pub async fn next(&mut self) -> Option<Arc<PreviewFrame>> {
        loop {
            if !self.preview.enabled() {
                return None;
            }
            // Wake at least every second to notice a preview turned off.
            match tokio::time::timeout(Duration::from_secs(1), self.rx.changed()).await {
                Ok(Ok(())) => {}
                Ok(Err(_)) => return None,
                Err(_) => continue,
            }
            if let Some(f) = self.rx.borrow_and_update().clone() {
                return Some(f);
            }
        }
    }
}

impl Drop for Watcher {
    fn drop(&mut self) {
        self.preview.watchers.fetch_sub(1, Ordering::Relaxed);
    }
}

/// The frame at [`WIDTH`] with its face boxes, as JPEG.
fn render(frame: &GrayImage, a: &Analysis, min_face_size: u32) -> image::ImageResult<Vec<u8>> {
    let scale = WIDTH as f32 / frame.width().max(1) as f32;
    let h = ((frame.height() as f32 * scale).round() as u32).max(1);
    let mut small = image::imageops::resize(frame, WIDTH, h, image::imageops::FilterType::Triangle);
    for f in &a.faces {
        let v = if f.bbox.size() >= min_face_size as f32 {
            255
        } else {
            0
        };
        let (x0, y0) = ((f.bbox.x * scale) as i64, (f.bbox.y * scale) as i64);
        let (x1, y1) = (
            ((f.bbox.x + f.bbox.w) * scale) as i64,
            ((f.bbox.y + f.bbox.h) * scale) as i64,
        );
        for t in 0..2 {
            for x in x0..=x1 {
                put(&mut small, x, y0 + t, v);
                put(&mut small, x, y1 - t, v);
            }
            for y in y0..=y1 {
                put(&mut small, x0 + t, y, v);
                put(&mut small, x1 - t, y, v);
            }
        }
    }
    let mut out = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, 70).encode(
        small.as_raw(),
        small.width(),
        small.height(),
        image::ExtendedColorType::L8,
    )?;
    Ok(out)
}

fn put(img: &mut GrayImage, x: i64, y: i64, v: u8) {
    if x >= 0 && y >= 0 && (x as u32) < img.width() && (y as u32) < img.height() {
        img.put_pixel(x as u32, y as u32, image::Luma([v]));
    }
}
