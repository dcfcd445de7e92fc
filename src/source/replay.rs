//! Replay: image files (or folders of them, sorted by name) delivered as frames at a fixed rate,
//! once or looping. A file that fails to decode is skipped, with one warning naming it, as a
//! camera's corrupt frame is; a file or folder that vanishes is a source error, as an unplugged
//! camera is, so the daemon's recovery path is exercised without hardware. Files are decoded by
//! [`crate::photo::decode`], the one decoder of untrusted images (limits, sniffing).

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use image::GrayImage;

use super::Next;
use crate::error::{Error, Result};
use crate::frame::{Dropped, Frame};
use crate::photo::{self, PhotoLimits, IMAGE_EXT};
use crate::settings::paths::read_regular;

/// Largest replay image read (a camera frame is far smaller).
const REPLAY_MAX_BYTES: u64 = 64 << 20;

/// Replays image files as frames.
pub struct ReplaySource {
    paths: Vec<PathBuf>,
    period: Duration,
    looped: bool,
    files: Vec<PathBuf>,
    pos: usize,
    seq: u64,
    next_due: Option<Instant>,
    open: bool,
    hold: u32,
    gap: u32,
    /// Frames of the current image already delivered (image frames, then gap frames).
    shown: u32,
    current: Option<GrayImage>,
    stop: Arc<AtomicBool>,
    /// Files already warned about (one warning each).
    warned: std::collections::HashSet<PathBuf>,
}

impl ReplaySource {
    pub fn new(paths: Vec<PathBuf>, fps: f64, looped: bool) -> Self {
        ReplaySource {
            paths,
            period: Duration::try_from_secs_f64(1.0 / fps)
                .unwrap_or(Duration::from_secs(1))
                .min(Duration::from_secs(10)),
            looped,
            files: Vec::new(),
            pos: 0,
            seq: 0,
            next_due: None,
            open: false,
            hold: 1,
            gap: 0,
            shown: 0,
            current: None,
            stop: Arc::new(AtomicBool::new(false)),
            warned: Default::default(),
        }
    }

    /// Cut the wait for the next frame short when `stop` is set.
    pub fn with_stop(mut self, stop: Arc<AtomicBool>) -> Self {
        self.stop = stop;
        self
    }

    /// Sleep until `due`, in short steps, returning early on a stop request.
    fn wait_until(&self, due: Instant) {
        loop {
            let now = Instant::now();
            if due <= now || self.stop.load(Ordering::Relaxed) {
                return;
            }
            std::thread::sleep((due - now).min(Duration::from_millis(50)));
        }
    }

    /// Show each image for `hold` frames, then `gap` empty frames.
    pub fn with_hold_gap(mut self, hold: u32, gap: u32) -> Self {
        self.hold = hold.max(1);
        self.gap = gap;
        self
    }

    fn error(&self, msg: impl Into<String>) -> Error {
        Error::Camera {
            device: super::FrameSource::describe(self),
            msg: msg.into(),
        }
    }
}

/// Image files under `paths` (folders expanded, sorted by name).
pub fn list_images(paths: &[PathBuf]) -> std::io::Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    for p in paths {
        if p.is_dir() {
            let mut v: Vec<PathBuf> = std::fs::read_dir(p)?
                .flatten()
                .map(|e| e.path())
                .filter(|f| is_image(f))
                .collect();
            v.sort();
            out.extend(v);
        } else if p.exists() {
            out.push(p.clone());
        } else {
            return Err(std::io::Error::new(
                std::io::ErrorKind::NotFound,
                format!("{} not found", p.display()),
            ));
        }
    }
    Ok(out)
}

/// Image files anywhere under `dir`, sorted.
pub fn list_images_recursive(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(rd) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if is_image(&p) {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

fn is_image(p: &Path) -> bool {
    p.extension()
        .and_then(|e| e.to_str())
        .map(|e| IMAGE_EXT.contains(&e.to_ascii_lowercase().as_str()))
        .unwrap_or(false)
}

impl super::FrameSource for ReplaySource {
    fn open(&mut self) -> Result<()> {
        let files = list_images(&self.paths).map_err(|e| self.error(e.to_string()))?;
        if files.is_empty() {
            return Err(self.error("no image files to replay"));
        }
        if self.pos >= files.len() {
            self.pos = 0;
        }
        self.files = files;
        self.shown = 0;
        self.current = None;
        self.open = true;
        self.next_due = None;
        Ok(())
    }

    fn live(&self) -> bool {
        false
    }

    fn next(&mut self) -> Result<Next> {
        if !self.open {
            return Err(self.error("not open"));
        }
        if self.shown >= self.hold + self.gap {
            self.shown = 0;
            self.current = None;
            self.pos += 1;
        }
        if self.pos >= self.files.len() {
            if !self.looped {
                return Ok(Next::End);
            }
            self.pos = 0;
        }
        let now = Instant::now();
        if let Some(due) = self.next_due {
            self.wait_until(due);
        }
        let due = self.next_due.unwrap_or(now) + self.period;
        self.next_due = Some(due.max(Instant::now() - self.period));
        let image = match &self.current {
            Some(img) if self.shown < self.hold => img.clone(),
            Some(img) => GrayImage::from_pixel(img.width(), img.height(), image::Luma([128])),
            None => {
                let path = self.files[self.pos].clone();
                let bytes = read_regular(&path, REPLAY_MAX_BYTES)
                    .map_err(|e| self.error(format!("{}: {e}", path.display())))?;
                let g = match photo::decode(&bytes, &PhotoLimits::default()) {
                    Ok(g) => g,
                    Err(e) => {
                        // Skip the whole file (its hold and gap frames); warn once per file.
                        if self.warned.insert(path.clone()) {
                            log::warn!("replay: skipping {}: {e}", path.display());
                        }
                        self.shown = self.hold + self.gap;
                        return Ok(Next::Dropped(Dropped::Corrupt));
                    }
                };
                self.current = Some(g.clone());
                g
            }
        };
        self.shown += 1;
        self.seq += 1;
        Ok(Next::Frame(Frame {
            image,
            seq: self.seq,
            at: Instant::now(),
        }))
    }

    fn close(&mut self) {
        self.open = false;
    }

    fn describe(&self) -> String {
        let names: Vec<String> = self.paths.iter().map(|p| p.display().to_string()).collect();
        format!("replay {}", names.join(","))
    }
}

#[cfg(test)]
mod tests {
    use super::super::FrameSource;
    use super::*;

    #[test]
    fn replays_folder_in_name_order_then_ends() {
        let d = tempfile::tempdir().unwrap();
        for (name, v) in [("b.png", 20u8), ("a.png", 10), ("c.txt", 0)] {
            if name.ends_with("png") {
                image::GrayImage::from_pixel(4, 3, image::Luma([v]))
                    .save(d.path().join(name))
                    .unwrap();
            } else {
                std::fs::write(d.path().join(name), "x").unwrap();
            }
        }
        let mut s = ReplaySource::new(vec![d.path().to_path_buf()], 1000.0, false);
        s.open().unwrap();
        let a = frame(&mut s);
        let b = frame(&mut s);
        assert_eq!(
            (a.image.get_pixel(0, 0)[0], b.image.get_pixel(0, 0)[0]),
            (10, 20)
        );
        assert!(matches!(s.next().unwrap(), Next::End));
    }

    #[test]
    fn hold_and_gap_frames() {
        let d = tempfile::tempdir().unwrap();
        image::GrayImage::from_pixel(4, 3, image::Luma([7]))
            .save(d.path().join("a.png"))
            .unwrap();
        let mut s =
            ReplaySource::new(vec![d.path().to_path_buf()], 1000.0, false).with_hold_gap(2, 1);
        s.open().unwrap();
        let mut px = Vec::new();
        while let Next::Frame(f) = s.next().unwrap() {
            px.push(f.image.get_pixel(0, 0)[0]);
        }
        assert_eq!(px, vec![7, 7, 128]);
    }

    #[test]
    fn missing_folder_is_an_error_and_recovers() {
        let d = tempfile::tempdir().unwrap();
        let dir = d.path().join("frames");
        let mut s = ReplaySource::new(vec![dir.clone()], 1000.0, true);
        assert!(s.open().is_err());
        std::fs::create_dir(&dir).unwrap();
        image::GrayImage::from_pixel(4, 3, image::Luma([1]))
            .save(dir.join("a.png"))
            .unwrap();
        s.open().unwrap();
        frame(&mut s);
        frame(&mut s); // loops
        std::fs::remove_file(dir.join("a.png")).unwrap();
        assert!(s.next().is_err());
    }

    fn frame(s: &mut ReplaySource) -> Frame {
        match s.next().unwrap() {
            Next::Frame(f) => f,
            other => panic!("expected a frame, got {other:?}"),
        }
    }

    #[test]
    fn a_bad_file_is_skipped_not_a_fault() {
        let d = tempfile::tempdir().unwrap();
        for (name, v) in [("a.png", 10u8), ("c.png", 30)] {
            image::GrayImage::from_pixel(4, 3, image::Luma([v]))
                .save(d.path().join(name))
                .unwrap();
        }
        std::fs::write(d.path().join("b.png"), [0x89u8, b'P', b'N', b'G', 1, 2, 3]).unwrap();
        let mut s =
            ReplaySource::new(vec![d.path().to_path_buf()], 1000.0, true).with_hold_gap(2, 0);
        s.open().unwrap();
        let mut seen = Vec::new();
        for _ in 0..7 {
            match s.next().unwrap() {
                Next::Frame(f) => seen.push(f.image.get_pixel(0, 0)[0]),
                Next::Dropped(why) => {
                    assert_eq!(why, Dropped::Corrupt);
                    seen.push(0)
                }
                Next::End => panic!("loops"),
            }
        }
        // a a (b dropped once) c c a a: the bad file costs one dropped frame per round.
        assert_eq!(seen, vec![10, 10, 0, 30, 30, 10, 10]);
    }
}
