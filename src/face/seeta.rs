//! SeetaFace frontal face detector (funnel-structured cascade) from the `rustface` crate. Its model
//! file comes from the `rustface` crate package and is compiled into the binary by `build.rs`.

use image::GrayImage;
use rustface::{Detector, ImageData};

use super::{FaceBox, FaceDetector};
use crate::error::{Error, Result};

static MODEL: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/seeta_fd_frontal_v1.0.bin"));

/// Default cascade score threshold (rustface's examples use 2.0).
const DEFAULT_SCORE: f64 = 2.0;

/// The SeetaFace detector with the compiled-in frontal model.
pub struct SeetaDetector {
    inner: SendDetector,
    min_face: u32,
}

impl SeetaDetector {
    /// `min_face` >= 20 pixels; `score` 0 means the default threshold.
    pub fn new(min_face: u32, score: f32) -> Result<Self> {
        let model = rustface::read_model(MODEL);
        crate::memory::release_static(MODEL);
        let model = model.map_err(|e| Error::model("builtin SeetaFace model", e))?;
        let mut inner = SendDetector(rustface::create_detector_with_model(model));
        let min_face = min_face.max(20);
        inner.0.set_min_face_size(min_face);
        inner.0.set_score_thresh(if score > 0.0 {
            score as f64
        } else {
            DEFAULT_SCORE
        });
        inner.0.set_pyramid_scale_factor(0.8);
        inner.0.set_slide_window_step(4, 4);
        Ok(SeetaDetector { inner, min_face })
    }
}

/// rustface's detector holds only owned data; it is used from one thread at a time.
struct SendDetector(Box<dyn Detector>);
// SAFETY: the boxed FuStDetector owns plain vectors and model data, no thread-bound state.
unsafe impl Send for SendDetector {}

impl FaceDetector for SeetaDetector {
    fn detect(&mut self, frame: &GrayImage) -> Result<Vec<FaceBox>> {
        let (w, h) = frame.dimensions();
        // rustface panics on images smaller than its window; nothing fits there anyway.
        if w < self.min_face || h < self.min_face {
            return Ok(Vec::new());
        }
        let img = ImageData::new(frame.as_raw(), w, h);
        Ok(self
            .inner
            .0
            .detect(&img)
            .iter()
            .map(|f| {
                let b = f.bbox();
                FaceBox {
                    x: b.x() as f32,
                    y: b.y() as f32,
                    w: b.width() as f32,
                    h: b.height() as f32,
                    score: f.score() as f32,
                }
            })
            .collect())
    }
}
