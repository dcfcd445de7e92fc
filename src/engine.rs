//! The analyzer: face detector + classifier + how boxes are used (`max_faces`, `crop_margin`),
//! as one thing. One frame or photo goes through it: detect, crop, classify. Shared by
//! `moodkiosk classify`, the daemon's frame loop and the upload workers, which read the current
//! [`Engine`] from an [`EngineSlot`] the daemon republishes after a reload.

use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use image::GrayImage;
use serde::Serialize;

use crate::classifier::Classifier;
use crate::error::Result;
use crate::face::{self, largest, DetectorSettings, FaceBox, FaceDetector};
use crate::mood::Prediction;
use crate::preprocess::crop_face;

/// A face and its mood.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct FaceMood {
    #[serde(rename = "box")]
    pub bbox: FaceBox,
    #[serde(flatten)]
    pub prediction: Prediction,
}

/// The faces of one image, with timings.
#[derive(Debug, Clone, Serialize)]
pub struct Analysis {
    /// Image width in pixels.
    pub width: u32,
    /// Image height in pixels.
    pub height: u32,
    /// Faces, largest first.
    pub faces: Vec<FaceMood>,
    /// Face detection time (0 when the boxes were given).
    pub detect_ms: f64,
    /// Crop, preprocessing and classification time, all faces.
    pub classify_ms: f64,
    /// Classification time of each face, in `faces` order.
    #[serde(skip)]
    pub per_face: Vec<Duration>,
}

fn ms(d: Duration) -> f64 {
    (d.as_secs_f64() * 10_000.0).round() / 10.0
}

/// Longest side a photo is searched for faces at; faces are cropped from the full-size photo.
pub const PHOTO_DETECT_SIDE: u32 = 1280;

/// What an analyzer is built from: the detector settings and a loaded classifier.
#[derive(Clone)]
pub struct Engine {
    pub detector: DetectorSettings,
    pub classifier: Classifier,
}

/// An [`Engine`] with its own detector (detectors keep per-call state; one per thread).
pub struct Analyzer {
    engine: Arc<Engine>,
    detector: Box<dyn FaceDetector>,
}

impl Analyzer {
    /// Build the detector the engine's settings name.
    pub fn new(engine: Arc<Engine>) -> Result<Analyzer> {
        let detector = face::build(&engine.detector)?;
        Ok(Analyzer { engine, detector })
    }

    /// The engine this analyzer was built from.
    pub fn engine(&self) -> &Arc<Engine> {
        &self.engine
    }

    /// A camera frame: detect on the full frame, classify up to `max_faces` faces.
    pub fn analyze(&mut self, gray: &GrayImage) -> Result<Analysis> {
        self.detect_and_classify(gray, 1.0)
    }

    /// A photo of any size (uploads, `classify`): one larger than [`PHOTO_DETECT_SIDE`] is
    /// searched at that size, then its faces are cropped from the full-size photo.
    pub fn analyze_photo(&mut self, gray: &GrayImage) -> Result<Analysis> {
        let long = gray.width().max(gray.height());
        let scale = (long as f32 / PHOTO_DETECT_SIDE as f32).max(1.0);
        self.detect_and_classify(gray, scale)
    }

    fn detect_and_classify(&mut self, gray: &GrayImage, scale: f32) -> Result<Analysis> {
        let t0 = Instant::now();
        let found = if scale > 1.0 {
            let (w, h) = gray.dimensions();
            let small = image::imageops::resize(
                gray,
                ((w as f32 / scale).round() as u32).max(1),
                ((h as f32 / scale).round() as u32).max(1),
                image::imageops::FilterType::Triangle,
            );
            self.detector.detect(&small)?
        } else {
            self.detector.detect(gray)?
        };
        let faces: Vec<FaceBox> = largest(found, self.engine.detector.max_faces)
            .into_iter()
            .map(|f| FaceBox {
                x: f.x * scale,
                y: f.y * scale,
                w: f.w * scale,
                h: f.h * scale,
                score: f.score,
            })
            .collect();
        let detect = t0.elapsed();
        let mut a = self.classify_boxes(gray, &faces)?;
        a.detect_ms = ms(detect);
        Ok(a)
    }

    /// Classify known face boxes (frames between detector runs).
    pub fn classify_boxes(&self, gray: &GrayImage, faces: &[FaceBox]) -> Result<Analysis> {
        let margin = self.engine.detector.crop_margin;
        let mut out = Vec::with_capacity(faces.len());
        let mut per_face = Vec::with_capacity(faces.len());
        for f in faces {
            let t = Instant::now();
            let prediction = self
                .engine
                .classifier
                .classify(&crop_face(gray, f, margin))?;
            per_face.push(t.elapsed());
            out.push(FaceMood {
                bbox: *f,
                prediction,
            });
        }
        Ok(Analysis {
            width: gray.width(),
            height: gray.height(),
            faces: out,
            detect_ms: 0.0,
            classify_ms: ms(per_face.iter().sum()),
            per_face,
        })
    }

    /// The whole image as one face (for pre-cropped face photos).
    pub fn classify_whole(&self, gray: &GrayImage) -> Result<Analysis> {
        let (w, h) = gray.dimensions();
        let bbox = FaceBox {
            x: 0.0,
            y: 0.0,
            w: w as f32,
            h: h as f32,
            score: 1.0,
        };
        let t = Instant::now();
        let prediction = self.engine.classifier.classify(gray)?;
        let d = t.elapsed();
        Ok(Analysis {
            width: w,
            height: h,
            faces: vec![FaceMood { bbox, prediction }],
            detect_ms: 0.0,
            classify_ms: ms(d),
            per_face: vec![d],
        })
    }
}

/// The current [`Engine`]; the daemon publishes a new one after a reload.
pub struct EngineSlot {
    current: RwLock<(u64, Arc<Engine>)>,
}

impl EngineSlot {
    pub fn new(engine: Arc<Engine>) -> Arc<EngineSlot> {
        Arc::new(EngineSlot {
            current: RwLock::new((0, engine)),
        })
    }

    /// Replace the engine; readers pick it up before their next job.
    pub fn publish(&self, engine: Arc<Engine>) {
        let mut c = self.current.write().unwrap_or_else(|p| p.into_inner());
        *c = (c.0 + 1, engine);
    }

    /// The generation (increases with each publish) and the engine.
    pub fn get(&self) -> (u64, Arc<Engine>) {
        self.current
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }
}
