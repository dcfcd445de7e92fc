//! One photo or frame through the pipeline: detect faces, crop, classify. Shared by
//! `moodkiosk classify`, the daemon's frame loop and the upload page.

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

/// Detect up to `max_faces` faces (largest first) and classify each.
pub fn analyze(
    gray: &GrayImage,
    detector: &mut dyn FaceDetector,
    classifier: &Classifier,
    max_faces: usize,
    margin: f32,
) -> Result<Vec<FaceMood>> {
    let faces = largest(detector.detect(gray)?, max_faces);
    classify_faces(gray, &faces, classifier, margin)
}

/// Classify known face boxes.
pub fn classify_faces(
    gray: &GrayImage,
    faces: &[FaceBox],
    classifier: &Classifier,
    margin: f32,
) -> Result<Vec<FaceMood>> {
    faces
        .iter()
        .map(|f| {
            Ok(FaceMood {
                bbox: *f,
                prediction: classifier.classify(&crop_face(gray, f, margin))?,
            })
        })
        .collect()
}
