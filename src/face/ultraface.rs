//! UltraFace (Ultra-Light-Fast-Generic-Face-Detector-1MB) RFB-320 / slim-320 through tract.
//! Input 1x3x240x320 RGB scaled (x - 127) / 128; outputs `scores` 1xNx2 and `boxes` 1xNx4
//! (corners in 0..1). The gray frame is fed on all three channels.

use std::path::Path;
use std::sync::Arc;

use image::GrayImage;
use tract_onnx::prelude::*;

use super::{nms, FaceBox, FaceDetector};
use crate::error::{Error, Result};
use crate::settings::paths::{read_regular, MAX_MODEL_BYTES};

const W: usize = 320;
const H: usize = 240;
const DEFAULT_SCORE: f32 = 0.7;

/// UltraFace detector loaded from an ONNX file.
pub struct UltraFaceDetector {
    plan: Arc<TypedRunnableModel>,
    min_face: f32,
    score: f32,
}

impl UltraFaceDetector {
    /// Load and optimise the model; `score` 0 means the default threshold 0.7.
    pub fn load(path: &Path, min_face: u32, score: f32) -> Result<Self> {
        let bytes = read_regular(path, MAX_MODEL_BYTES)
            .map_err(|e| Error::model_read(path, "detector.model", e))?;
        let plan = tract_onnx::onnx()
            .model_for_read(&mut std::io::Cursor::new(bytes))
            .and_then(|m| m.with_input_fact(0, f32::fact([1, 3, H, W]).into()))
            .and_then(|m| m.into_optimized())
            .and_then(|m| m.into_runnable())
            .map_err(|e| {
                Error::model(path, format!("cannot load as an UltraFace ONNX model: {e}"))
            })?;
        Ok(UltraFaceDetector {
            plan,
            min_face: min_face as f32,
            score: if score > 0.0 {
                score.min(1.0)
            } else {
                DEFAULT_SCORE
            },
        })
    }
}

impl FaceDetector for UltraFaceDetector {
    fn detect(&mut self, frame: &GrayImage) -> Result<Vec<FaceBox>> {
        let (fw, fh) = frame.dimensions();
        if fw == 0 || fh == 0 {
            return Ok(Vec::new());
        }
        let small = image::imageops::resize(
            frame,
            W as u32,
            H as u32,
            image::imageops::FilterType::Triangle,
        );
        let mut data = vec![0f32; 3 * W * H];
        for (i, p) in small.as_raw().iter().enumerate() {
            let v = (*p as f32 - 127.0) / 128.0;
            data[i] = v;
            data[W * H + i] = v;
            data[2 * W * H + i] = v;
        }
        let input =
            Tensor::from_shape(&[1, 3, H, W], &data).map_err(|e| Error::model("ultraface", e))?;
        let out = self
            .plan
            .run(tvec!(input.into()))
            .map_err(|e| Error::model("ultraface", e))?;
        let (mut scores, mut boxes) = (None, None);
        for t in out.iter() {
            let v = t
                .to_plain_array_view::<f32>()
                .map_err(|e| Error::model("ultraface", e))?;
            match v.shape().last() {
                Some(2) => scores = Some(v),
                Some(4) => boxes = Some(v),
                _ => {}
            }
        }
        let (Some(scores), Some(boxes)) = (scores, boxes) else {
            return Err(Error::model(
                "ultraface",
                "outputs are not scores [1,N,2] and boxes [1,N,4]",
            ));
        };
        let n = scores.len() / 2;
        let scores = scores.as_slice().unwrap_or(&[]);
        let boxes = boxes.as_slice().unwrap_or(&[]);
        let mut found = Vec::new();
        for i in 0..n.min(boxes.len() / 4) {
            let s = scores[2 * i + 1];
            if s < self.score {
                continue;
            }
            let b = &boxes[4 * i..4 * i + 4];
            let (x0, y0) = (
                b[0].clamp(0.0, 1.0) * fw as f32,
                b[1].clamp(0.0, 1.0) * fh as f32,
            );
            let (x1, y1) = (
                b[2].clamp(0.0, 1.0) * fw as f32,
                b[3].clamp(0.0, 1.0) * fh as f32,
            );
            let f = FaceBox {
                x: x0,
                y: y0,
                w: x1 - x0,
                h: y1 - y0,
                score: s,
            };
            if f.size() >= self.min_face {
                found.push(f);
            }
        }
        Ok(nms(found, 0.3))
    }
}
