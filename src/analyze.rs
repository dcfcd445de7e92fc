//! One photo or frame through the pipeline: detect faces, crop, classify. Shared by
//! `moodkiosk classify`, the daemon's frame loop and the upload page.

use std::time::{Duration, Instant};

use image::GrayImage;
use serde::Serialize;

use crate::classifier::Classifier;
use crate::error::Result;
use crate::face::{largest, FaceBox, FaceDetector};
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

/// Detect up to `max_faces` faces (largest first) and classify each.
pub fn analyze(
    gray: &GrayImage,
    detector: &mut dyn FaceDetector,
    classifier: &Classifier,
    max_faces: usize,
    margin: f32,
) -> Result<Analysis> {
    let t0 = Instant::now();
    let faces = largest(detector.detect(gray)?, max_faces);
    let detect = t0.elapsed();
    let mut a = classify_faces(gray, &faces, classifier, margin)?;
    a.detect_ms = ms(detect);
    Ok(a)
}

/// Longest side a photo is searched for faces at; faces are cropped from the full-size photo.
pub const PHOTO_DETECT_SIDE: u32 = 1280;

/// [`analyze`] for photos of any size (uploads, `moodkiosk classify`): a photo larger than
/// [`PHOTO_DETECT_SIDE`] is searched at that size, then its faces are cropped at full size.
pub fn analyze_photo(
    gray: &GrayImage,
    detector: &mut dyn FaceDetector,
    classifier: &Classifier,
    max_faces: usize,
    margin: f32,
) -> Result<Analysis> {
    let (w, h) = gray.dimensions();
    let long = w.max(h);
    if long <= PHOTO_DETECT_SIDE {
        return analyze(gray, detector, classifier, max_faces, margin);
    }
    let t0 = Instant::now();
    let scale = long as f32 / PHOTO_DETECT_SIDE as f32;
    let small = image::imageops::resize(
        gray,
        ((w as f32 / scale).round() as u32).max(1),
        ((h as f32 / scale).round() as u32).max(1),
        image::imageops::FilterType::Triangle,
    );
    let faces: Vec<FaceBox> = largest(detector.detect(&small)?, max_faces)
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
    let mut a = classify_faces(gray, &faces, classifier, margin)?;
    a.detect_ms = ms(detect);
    Ok(a)
}

/// Classify known face boxes.
pub fn classify_faces(
    gray: &GrayImage,
    faces: &[FaceBox],
    classifier: &Classifier,
    margin: f32,
) -> Result<Analysis> {
    let mut out = Vec::with_capacity(faces.len());
    let mut per_face = Vec::with_capacity(faces.len());
    for f in faces {
        let t = Instant::now();
        let prediction = classifier.classify(&crop_face(gray, f, margin))?;
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
pub fn classify_whole(gray: &GrayImage, classifier: &Classifier) -> Result<Analysis> {
    let (w, h) = gray.dimensions();
    let bbox = FaceBox {
        x: 0.0,
        y: 0.0,
        w: w as f32,
        h: h as f32,
        score: 1.0,
    };
    let t = Instant::now();
    let prediction = classifier.classify(gray)?;
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
