//! The one preprocessing spec shared with training (`training/mkt/preprocess.py`, checked by the
//! parity test): square crop with margin and edge repeat, separable triangle-filter resize to
//! 96x96 computed in float, values divided by 255. See `models/MODEL_CARD.md`.

use image::GrayImage;

use crate::face::FaceBox;

/// Side of the classifier input.
pub const SIZE: usize = 96;

/// Sparse resampling weights: for each output index, the first input index and its weights.
fn weights(n_in: usize, n_out: usize) -> Vec<(usize, Vec<f32>)> {
    let scale = n_in as f64 / n_out as f64;
    let support = scale.max(1.0);
    (0..n_out)
        .map(|i| {
            let center = (i as f64 + 0.5) * scale;
            let lo = ((center - support).floor().max(0.0)) as usize;
            let hi = ((center + support).ceil() as usize).min(n_in);
            let mut w: Vec<f64> = (lo..hi)
                .map(|j| (1.0 - ((j as f64 + 0.5 - center) / support).abs()).max(0.0))
                .collect();
            let sum: f64 = w.iter().sum();
            w.iter_mut().for_each(|v| *v /= sum);
            (lo, w.into_iter().map(|v| v as f32).collect())
        })
        .collect()
}

/// Resize a gray image to `SIZE`x`SIZE` and scale to [0, 1]: row-major f32, ready for [1,1,96,96].
pub fn to_input(img: &GrayImage) -> Vec<f32> {
    let (w, h) = (img.width() as usize, img.height() as usize);
    let wx = weights(w, SIZE);
    let wy = weights(h, SIZE);
    let src = img.as_raw();
    // Horizontal pass: h x SIZE.
    let mut tmp = vec![0f32; h * SIZE];
    for y in 0..h {
        let row = &src[y * w..(y + 1) * w];
        for (x, (lo, ws)) in wx.iter().enumerate() {
            tmp[y * SIZE + x] = ws
                .iter()
                .zip(&row[*lo..])
                .map(|(wt, &p)| wt * p as f32)
                .sum();
        }
    }
    // Vertical pass: SIZE x SIZE.
    let mut out = vec![0f32; SIZE * SIZE];
    for (y, (lo, ws)) in wy.iter().enumerate() {
        for (k, wt) in ws.iter().enumerate() {
            let r = &tmp[(lo + k) * SIZE..(lo + k + 1) * SIZE];
            for (o, v) in out[y * SIZE..(y + 1) * SIZE].iter_mut().zip(r) {
                *o += wt * v;
            }
        }
    }
    out.iter_mut().for_each(|v| *v /= 255.0);
    out
}

/// The widened square crop around a face box; pixels outside the frame repeat the nearest edge.
pub fn crop_face(frame: &GrayImage, face: &FaceBox, margin: f32) -> GrayImage {
    let side = face.w.max(face.h) as f64 * (1.0 + 2.0 * margin as f64);
    let cx = face.x as f64 + face.w as f64 / 2.0;
    let cy = face.y as f64 + face.h as f64 / 2.0;
    let x0 = (cx - side / 2.0 + 0.5).floor() as i64;
    let y0 = (cy - side / 2.0 + 0.5).floor() as i64;
    let s = ((side + 0.5).floor() as i64).clamp(1, 8192) as u32;
    let (fw, fh) = (frame.width() as i64, frame.height() as i64);
    GrayImage::from_fn(s, s, |x, y| {
        let sx = (x0 + x as i64).clamp(0, fw - 1) as u32;
        let sy = (y0 + y as i64).clamp(0, fh - 1) as u32;
        *frame.get_pixel(sx, sy)
    })
}

/// The mirror image of a preprocessed input (each row reversed): a photo's second view.
pub fn mirrored(input: &[f32]) -> Vec<f32> {
    input
        .chunks(SIZE)
        .flat_map(|row| row.iter().rev().copied())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mirror_reverses_each_row_and_twice_is_identity() {
        let input: Vec<f32> = (0..SIZE * SIZE).map(|i| i as f32).collect();
        let m = mirrored(&input);
        assert_eq!(m[0], (SIZE - 1) as f32);
        assert_eq!(m[SIZE], (2 * SIZE - 1) as f32);
        assert_eq!(m[SIZE * SIZE - 1], ((SIZE - 1) * SIZE) as f32);
        assert_eq!(mirrored(&m), input);
    }

    #[test]
    fn weights_sum_to_one_and_stay_in_bounds() {
        for (n_in, n_out) in [(48, 96), (200, 96), (96, 96), (7, 96), (1000, 96)] {
            for (lo, w) in weights(n_in, n_out) {
                assert!(lo + w.len() <= n_in);
                assert!((w.iter().sum::<f32>() - 1.0).abs() < 1e-5);
            }
        }
    }

    #[test]
    fn constant_image_stays_constant() {
        let img = GrayImage::from_pixel(48, 48, image::Luma([51]));
        let t = to_input(&img);
        assert_eq!(t.len(), SIZE * SIZE);
        assert!(t.iter().all(|v| (v - 0.2).abs() < 1e-6));
    }

    #[test]
    fn identity_size_is_exact() {
        let img = GrayImage::from_fn(96, 96, |x, y| image::Luma([((x * 3 + y) % 256) as u8]));
        let t = to_input(&img);
        for (v, p) in t.iter().zip(img.as_raw()) {
            assert!((v * 255.0 - *p as f32).abs() < 1e-3);
        }
    }

    #[test]
    fn upscale_matches_half_pixel_bilinear() {
        // 2 -> 96 horizontally: output x=0 lies at input 0.26 (clamped to pixel 0).
        let img = GrayImage::from_raw(2, 1, vec![0, 255]).unwrap();
        let w = weights(2, 96);
        assert_eq!(w[0].1, vec![1.0, 0.0]);
        let t = to_input(&img);
        assert!(t[0] < 1e-6 && (t[95] - 1.0).abs() < 1e-6);
        assert!((t[47] + t[48] - 1.0).abs() < 1e-5);
    }

    #[test]
    fn crop_repeats_edges() {
        let frame = GrayImage::from_fn(10, 10, |x, _| image::Luma([x as u8 * 10]));
        let c = crop_face(
            &frame,
            &FaceBox {
                x: -2.0,
                y: 0.0,
                w: 4.0,
                h: 4.0,
                score: 1.0,
            },
            0.0,
        );
        assert_eq!(c.dimensions(), (4, 4));
        assert_eq!(c.get_pixel(0, 0)[0], 0);
        assert_eq!(c.get_pixel(3, 0)[0], 10);
    }
}
