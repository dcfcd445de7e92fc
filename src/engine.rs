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
    /// The faces were found only on the photo padded with a border (it was a tight face crop).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub padded: bool,
}

fn ms(d: Duration) -> f64 {
    (d.as_secs_f64() * 10_000.0).round() / 10.0
}

/// Longest side a photo is searched for faces at; faces are cropped from the full-size photo.
pub const PHOTO_DETECT_SIDE: u32 = 1280;

/// A photo in which no face is found is searched again with a border of this fraction of its
/// side added on each side: a detector needs some context around a face, and photos that are
/// face crops (the study's own upload case) have none.
pub const PAD_FRACTION: f32 = 0.25;

/// What the border added for the second search is made of.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PadFill {
    /// The photo's edge pixels repeated outwards (what the crop does outside the frame too).
    Edge,
    /// The photo's mean gray.
    Mean,
}

/// The border the second search uses (chosen by `tests/detection.rs`'s measurement on tight
/// FER2013 crops).
pub const PAD_FILL: PadFill = PadFill::Edge;

/// `img` with `pad` pixels added on every side.
pub fn pad_image(img: &GrayImage, pad: u32, fill: PadFill) -> GrayImage {
    let (w, h) = img.dimensions();
    let mean = match fill {
        PadFill::Mean => {
            let sum: u64 = img.as_raw().iter().map(|&v| v as u64).sum();
            (sum / (w as u64 * h as u64).max(1)) as u8
        }
        PadFill::Edge => 0,
    };
    GrayImage::from_fn(w + 2 * pad, h + 2 * pad, |x, y| {
        let (sx, sy) = (x as i64 - pad as i64, y as i64 - pad as i64);
        let inside = sx >= 0 && sy >= 0 && sx < w as i64 && sy < h as i64;
        match (fill, inside) {
            (_, true) => *img.get_pixel(sx as u32, sy as u32),
            (PadFill::Mean, false) => image::Luma([mean]),
            (PadFill::Edge, false) => *img.get_pixel(
                sx.clamp(0, w as i64 - 1) as u32,
                sy.clamp(0, h as i64 - 1) as u32,
            ),
        }
    })
}

/// Camera frames take one classifier run per face; photos the model's photo views.
#[derive(Clone, Copy)]
enum View {
    Frame,
    Photo,
}

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
        self.detect_and_classify(gray)
    }

    /// A photo of any size (uploads, `classify`): one larger than [`PHOTO_DETECT_SIDE`] is
    /// searched at that size, then its faces are cropped from the full-size photo. When no face
    /// is found, the photo is searched once more with a border ([`PAD_FRACTION`], [`PAD_FILL`]);
    /// boxes are always in the photo's own coordinates. Faces take the model's photo views
    /// ([`Classifier::classify_photo`]).
    pub fn analyze_photo(&mut self, gray: &GrayImage) -> Result<Analysis> {
        self.analyze_photo_with(gray, Some(PAD_FILL))
    }

    /// [`Self::analyze_photo`] with the second search's border chosen (`None`: no second
    /// search), for measuring.
    pub fn analyze_photo_with(
        &mut self,
        gray: &GrayImage,
        pad: Option<PadFill>,
    ) -> Result<Analysis> {
        let long = gray.width().max(gray.height());
        let scale = (long as f32 / PHOTO_DETECT_SIDE as f32).max(1.0);
        let t0 = Instant::now();
        let small = match scale > 1.0 {
            true => {
                let (w, h) = gray.dimensions();
                Some(image::imageops::resize(
                    gray,
                    ((w as f32 / scale).round() as u32).max(1),
                    ((h as f32 / scale).round() as u32).max(1),
                    image::imageops::FilterType::Triangle,
                ))
            }
            false => None,
        };
        let searched = small.as_ref().unwrap_or(gray);
        let mut found = self.detector.detect(searched)?;
        let mut shift = 0.0;
        let mut padded = false;
        if let (true, Some(fill)) = (found.is_empty(), pad) {
            let border =
                (searched.width().max(searched.height()) as f32 * PAD_FRACTION).round() as u32;
            found = self.detector.detect(&pad_image(searched, border, fill))?;
            shift = border as f32;
            padded = !found.is_empty();
        }
        let faces: Vec<FaceBox> = largest(found, self.engine.detector.max_faces)
            .into_iter()
            .map(|f| FaceBox {
                x: (f.x - shift) * scale,
                y: (f.y - shift) * scale,
                w: f.w * scale,
                h: f.h * scale,
                score: f.score,
            })
            .collect();
        let detect = t0.elapsed();
        let mut a = self.classify_faces(gray, &faces, View::Photo)?;
        a.detect_ms = ms(detect);
        a.padded = padded;
        Ok(a)
    }

    fn detect_and_classify(&mut self, gray: &GrayImage) -> Result<Analysis> {
        let t0 = Instant::now();
        let found = self.detector.detect(gray)?;
        let faces = largest(found, self.engine.detector.max_faces);
        let detect = t0.elapsed();
        let mut a = self.classify_boxes(gray, &faces)?;
        a.detect_ms = ms(detect);
        Ok(a)
    }

    /// Classify known face boxes (frames between detector runs).
    pub fn classify_boxes(&self, gray: &GrayImage, faces: &[FaceBox]) -> Result<Analysis> {
        self.classify_faces(gray, faces, View::Frame)
    }

    fn classify_faces(&self, gray: &GrayImage, faces: &[FaceBox], view: View) -> Result<Analysis> {
        let margin = self.engine.detector.crop_margin;
        let mut out = Vec::with_capacity(faces.len());
        let mut per_face = Vec::with_capacity(faces.len());
        for f in faces {
            let t = Instant::now();
            let face = crop_face(gray, f, margin);
            let prediction = match view {
                View::Frame => self.engine.classifier.classify(&face)?,
                View::Photo => self.engine.classifier.classify_photo(&face)?,
            };
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
            padded: false,
        })
    }

    /// The whole image as one face (pre-cropped face photos: the photo views).
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
        let prediction = self.engine.classifier.classify_photo(gray)?;
        let d = t.elapsed();
        Ok(Analysis {
            width: w,
            height: h,
            faces: vec![FaceMood { bbox, prediction }],
            detect_ms: 0.0,
            classify_ms: ms(d),
            per_face: vec![d],
            padded: false,
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
