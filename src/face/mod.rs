//! Face detection behind one trait, with three backends: MediaPipe BlazeFace through tract (the
//! default; model compiled in from its npm package), SeetaFace (the `rustface` crate, model
//! compiled in from its crate package) and UltraFace ONNX through tract (model from the config).

mod blazeface;
mod seeta;
mod ultraface;

pub use blazeface::BlazeFaceDetector;
pub use seeta::SeetaDetector;
pub use ultraface::UltraFaceDetector;

use std::path::PathBuf;

use image::GrayImage;
use serde::{Deserialize, Serialize};

use crate::check_range;
use crate::error::Result;
use crate::invalid;
use crate::settings::Invalid;

/// `detector.kind`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DetectorKind {
    /// MediaPipe BlazeFace (256x256 model) through tract, compiled into the binary.
    Blazeface,
    /// SeetaFace frontal cascade (rustface), model compiled into the binary.
    Seeta,
    /// UltraFace RFB-320 / slim-320 ONNX through tract, from `detector.model`.
    Ultraface,
}

impl std::str::FromStr for DetectorKind {
    type Err = String;
    /// The config file's names (`blazeface`, `seeta`, `ultraface`), for command-line flags.
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        use serde::de::IntoDeserializer;
        let de: serde::de::value::StrDeserializer<'_, serde::de::value::Error> =
            s.into_deserializer();
        DetectorKind::deserialize(de).map_err(|e| e.to_string())
    }
}

/// `[detector]` (documented in config/moodkiosk.toml).
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct DetectorSettings {
    pub kind: DetectorKind,
    pub model: PathBuf,
    pub min_face_size: u32,
    pub max_faces: usize,
    pub crop_margin: f32,
    pub interval: u32,
    pub score_threshold: f32,
    pub motion_gate: bool,
}

impl DetectorSettings {
    pub fn validate(&self) -> std::result::Result<(), Invalid> {
        let d = self;
        check_range!(d.min_face_size, 20, 4096);
        check_range!(d.max_faces, 1, 64);
        check_range!(d.crop_margin, 0.0, 1.0);
        check_range!(d.interval, 1, 100);
        check_range!(d.score_threshold, 0.0, 100.0);
        if d.kind == DetectorKind::Ultraface && d.model.as_os_str().is_empty() {
            return Err(invalid!(
                d.model,
                "must be the path of an UltraFace .onnx file when detector.kind = \"ultraface\"",
            ));
        }
        Ok(())
    }

    /// Whether the detector itself (not only how its boxes are used) differs.
    pub fn same_detector(&self, o: &DetectorSettings) -> bool {
        (
            self.kind,
            &self.model,
            self.min_face_size,
            self.score_threshold,
        ) == (o.kind, &o.model, o.min_face_size, o.score_threshold)
    }
}

/// A face found in a frame, in pixels of that frame.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct FaceBox {
    pub x: f32,
    pub y: f32,
    pub w: f32,
    pub h: f32,
    /// Detector score (backend-specific scale).
    pub score: f32,
}

impl FaceBox {
    /// Intersection over union of two boxes.
    pub fn iou(&self, o: &FaceBox) -> f32 {
        let ix = (self.x + self.w).min(o.x + o.w) - self.x.max(o.x);
        let iy = (self.y + self.h).min(o.y + o.h) - self.y.max(o.y);
        if ix <= 0.0 || iy <= 0.0 {
            return 0.0;
        }
        let inter = ix * iy;
        inter / (self.w * self.h + o.w * o.h - inter)
    }

    /// Larger side in pixels.
    pub fn size(&self) -> f32 {
        self.w.max(self.h)
    }
}

/// Finds faces in a gray frame.
pub trait FaceDetector: Send {
    /// All faces at least `min_face_size` pixels, largest first.
    fn detect(&mut self, frame: &GrayImage) -> Result<Vec<FaceBox>>;
}

/// Build the configured detector.
pub fn build(cfg: &DetectorSettings) -> Result<Box<dyn FaceDetector>> {
    Ok(match cfg.kind {
        DetectorKind::Blazeface => Box::new(BlazeFaceDetector::new(
            cfg.min_face_size,
            cfg.score_threshold,
        )?),
        DetectorKind::Seeta => {
            Box::new(SeetaDetector::new(cfg.min_face_size, cfg.score_threshold)?)
        }
        DetectorKind::Ultraface => Box::new(UltraFaceDetector::load(
            &cfg.model,
            cfg.min_face_size,
            cfg.score_threshold,
        )?),
    })
}

/// Keep the `max` largest boxes, largest first.
pub fn largest(mut faces: Vec<FaceBox>, max: usize) -> Vec<FaceBox> {
    faces.sort_by(|a, b| b.size().total_cmp(&a.size()));
    faces.truncate(max);
    faces
}

/// Greedy non-maximum suppression (highest score first).
pub fn nms(mut boxes: Vec<FaceBox>, iou: f32) -> Vec<FaceBox> {
    boxes.sort_by(|a, b| b.score.total_cmp(&a.score));
    let mut keep: Vec<FaceBox> = Vec::new();
    for b in boxes {
        if keep.iter().all(|k| k.iou(&b) < iou) {
            keep.push(b);
        }
    }
    keep
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b(x: f32, y: f32, s: f32, score: f32) -> FaceBox {
        FaceBox {
            x,
            y,
            w: s,
            h: s,
            score,
        }
    }

    #[test]
    fn iou_of_known_boxes() {
        assert_eq!(b(0.0, 0.0, 10.0, 1.0).iou(&b(20.0, 0.0, 10.0, 1.0)), 0.0);
        assert!((b(0.0, 0.0, 10.0, 1.0).iou(&b(0.0, 0.0, 10.0, 1.0)) - 1.0).abs() < 1e-6);
        assert!((b(0.0, 0.0, 10.0, 1.0).iou(&b(5.0, 0.0, 10.0, 1.0)) - 50.0 / 150.0).abs() < 1e-6);
    }

    #[test]
    fn nms_keeps_best_of_overlaps() {
        let k = nms(
            vec![
                b(0.0, 0.0, 10.0, 0.5),
                b(1.0, 0.0, 10.0, 0.9),
                b(50.0, 0.0, 10.0, 0.1),
            ],
            0.3,
        );
        assert_eq!(k.len(), 2);
        assert_eq!(k[0].score, 0.9);
    }

    #[test]
    fn largest_sorts_and_truncates() {
        let l = largest(
            vec![
                b(0.0, 0.0, 10.0, 1.0),
                b(0.0, 0.0, 30.0, 1.0),
                b(0.0, 0.0, 20.0, 1.0),
            ],
            2,
        );
        assert_eq!(l.iter().map(|f| f.w).collect::<Vec<_>>(), vec![30.0, 20.0]);
    }
}
