//! Frames: 8-bit gray images held in memory only, and the conversions into gray: from decoded
//! images, and from what cameras deliver (MJPEG, YUYV, GREY, I420), where a frame that cannot be
//! used is [`Dropped`] for a reason, not a camera fault.

use std::time::Instant;

use image::GrayImage;

use crate::photo::{self, PhotoError, PhotoLimits};

/// One camera (or replayed) frame, 8-bit gray. Never written to disk.
#[derive(Debug, Clone)]
pub struct Frame {
    /// The pixels.
    pub image: GrayImage,
    /// Sequence number from the source.
    pub seq: u64,
    /// When the frame was captured (or replayed).
    pub at: Instant,
}

/// How a camera encodes its frames.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RawFormat {
    /// Motion JPEG: one JPEG per frame (standard Huffman tables when it has none).
    Mjpeg,
    /// Packed 4:2:2, Y0 U Y1 V.
    Yuyv,
    /// 8-bit gray.
    Grey,
    /// Planar 4:2:0: the Y plane, then U and V at quarter size.
    I420,
}

impl RawFormat {
    /// Bytes of one unpadded frame (raw formats; `None` for MJPEG, whose size varies).
    pub fn frame_bytes(self, width: u32, height: u32) -> Option<usize> {
        let n = width as usize * height as usize;
        match self {
            RawFormat::Mjpeg => None,
            RawFormat::Yuyv => Some(n * 2),
            RawFormat::Grey => Some(n),
            RawFormat::I420 => {
                Some(n + 2 * (width as usize).div_ceil(2) * (height as usize).div_ceil(2))
            }
        }
    }
}

/// Why a frame was dropped (counted in /metrics as `moodkiosk_frames_dropped_total{reason}`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Dropped {
    /// It does not decode.
    Corrupt,
    /// It ends early (a JPEG without its end marker, fewer bytes than the frame size).
    Truncated,
    /// Its size is not the size negotiated (or is over the pixel limit).
    WrongSize,
    /// A newer frame arrived before the pipeline took it (live cameras: the newest wins).
    Superseded,
}

impl Dropped {
    pub fn as_str(self) -> &'static str {
        match self {
            Dropped::Corrupt => "corrupt",
            Dropped::Truncated => "truncated",
            Dropped::WrongSize => "wrong_size",
            Dropped::Superseded => "superseded",
        }
    }
}

/// The end of a JPEG: EOI, possibly followed by padding zeros (some drivers pad buffers).
fn ends_with_eoi(jpeg: &[u8]) -> bool {
    let end = jpeg.iter().rposition(|&b| b != 0).map_or(0, |i| i + 1);
    end >= 2 && jpeg[end - 2..end] == [0xFF, 0xD9]
}

/// One camera frame to gray. `width`/`height`: the negotiated size (raw formats need it; an
/// MJPEG frame of another size is dropped when `check_size`); `stride`: bytes per row (0 when
/// unpadded).
pub fn from_raw(
    format: RawFormat,
    data: &[u8],
    (width, height): (u32, u32),
    stride: u32,
    check_size: bool,
) -> Result<GrayImage, Dropped> {
    let (w, h) = (width as usize, height as usize);
    if format != RawFormat::Mjpeg && (w == 0 || h == 0) {
        return Err(Dropped::WrongSize);
    }
    match format {
        RawFormat::Mjpeg => {
            if !ends_with_eoi(data) {
                return Err(Dropped::Truncated);
            }
            let g =
                photo::decode_jpeg_luma(data, &PhotoLimits::default()).map_err(|e| match e {
                    PhotoError::TooManyPixels { .. } => Dropped::WrongSize,
                    _ => Dropped::Corrupt,
                })?;
            if check_size && g.dimensions() != (width, height) {
                return Err(Dropped::WrongSize);
            }
            Ok(g)
        }
        RawFormat::Yuyv => {
            let stride = (stride as usize).max(w * 2);
            if data.len() < stride * (h - 1) + w * 2 {
                return Err(Dropped::Truncated);
            }
            let px = (0..h)
                .flat_map(|y| {
                    data[y * stride..y * stride + w * 2]
                        .iter()
                        .step_by(2)
                        .copied()
                })
                .collect();
            GrayImage::from_raw(width, height, px).ok_or(Dropped::WrongSize)
        }
        RawFormat::Grey | RawFormat::I420 => {
            let stride = (stride as usize).max(w);
            let need = match format {
                RawFormat::I420 => format
                    .frame_bytes(width, height)
                    .unwrap_or(0)
                    .max(stride * (h - 1) + w),
                _ => stride * (h - 1) + w,
            };
            if data.len() < need {
                return Err(Dropped::Truncated);
            }
            let px = (0..h)
                .flat_map(|y| data[y * stride..y * stride + w].iter().copied())
                .collect();
            GrayImage::from_raw(width, height, px).ok_or(Dropped::WrongSize)
        }
    }
}

/// Area-average downscale (each output pixel is the mean of the input area it covers), as
/// separable passes over precomputed spans: the cheap, alias-free filter for large reductions.
pub fn area_resize(frame: &GrayImage, w: usize, h: usize) -> Vec<f32> {
    let (fw, fh) = (frame.width() as usize, frame.height() as usize);
    let src = frame.as_raw();
    let (xs, ys) = (spans(fw, w), spans(fh, h));
    // Rows first: fh x w.
    let mut rows = vec![0f32; fh * w];
    for (y, out) in rows.chunks_exact_mut(w).enumerate() {
        let line = &src[y * fw..(y + 1) * fw];
        for (o, taps) in out.iter_mut().zip(&xs) {
            *o = taps.iter().map(|&(i, wt)| line[i] as f32 * wt).sum();
        }
    }
    let mut out = vec![0f32; w * h];
    for (y, taps) in ys.iter().enumerate() {
        let dst = &mut out[y * w..(y + 1) * w];
        for &(i, wt) in taps {
            for (d, s) in dst.iter_mut().zip(&rows[i * w..(i + 1) * w]) {
                *d += s * wt;
            }
        }
    }
    out
}

/// For each of `n` output cells over `len` inputs: the inputs it covers and their weights (sum 1).
fn spans(len: usize, n: usize) -> Vec<Vec<(usize, f32)>> {
    let step = len as f32 / n as f32;
    (0..n)
        .map(|o| {
            let (a, b) = (o as f32 * step, (o as f32 + 1.0) * step);
            let mut taps = Vec::new();
            let mut i = a.floor() as usize;
            while (i as f32) < b && i < len {
                let cover = (b.min(i as f32 + 1.0) - a.max(i as f32)).max(0.0);
                if cover > 0.0 {
                    taps.push((i, cover / step));
                }
                i += 1;
            }
            taps
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::Luma;

    #[test]
    fn area_resize_keeps_means_and_edges() {
        let g = GrayImage::from_fn(640, 480, |x, _| Luma([if x < 320 { 0 } else { 250 }]));
        let small = area_resize(&g, 256, 192);
        assert_eq!(small.len(), 256 * 192);
        assert!(small[0].abs() < 1e-3 && (small[255] - 250.0).abs() < 1e-3);
        let mean: f32 = small.iter().sum::<f32>() / small.len() as f32;
        assert!((mean - 125.0).abs() < 0.01, "{mean}");
        for t in spans(640, 256) {
            assert!((t.iter().map(|x| x.1).sum::<f32>() - 1.0).abs() < 1e-5);
        }
    }

    #[test]
    fn raw_formats_take_the_luma_and_drop_short_frames() {
        let yuyv = [10, 128, 20, 128, 30, 128, 40, 128];
        let g = from_raw(RawFormat::Yuyv, &yuyv, (2, 2), 0, true).unwrap();
        assert_eq!(g.as_raw(), &vec![10, 20, 30, 40]);
        assert_eq!(
            from_raw(RawFormat::Yuyv, &yuyv[..5], (2, 2), 0, true),
            Err(Dropped::Truncated)
        );
        // GREY rows padded to a stride of 3.
        let g = from_raw(RawFormat::Grey, &[1, 2, 0, 3, 4], (2, 2), 3, true).unwrap();
        assert_eq!(g.as_raw(), &vec![1, 2, 3, 4]);
        // I420 4x2: 8 luma bytes, then 2 + 2 chroma bytes.
        let i420 = [1, 2, 3, 4, 5, 6, 7, 8, 9, 9, 9, 9];
        assert_eq!(RawFormat::I420.frame_bytes(4, 2), Some(12));
        let g = from_raw(RawFormat::I420, &i420, (4, 2), 0, true).unwrap();
        assert_eq!(g.as_raw(), &i420[..8].to_vec());
        assert_eq!(
            from_raw(RawFormat::I420, &i420[..10], (4, 2), 0, true),
            Err(Dropped::Truncated)
        );
        assert_eq!(
            from_raw(RawFormat::Mjpeg, b"\xff\xd8garbage", (4, 2), 0, true),
            Err(Dropped::Truncated)
        );
        assert_eq!(
            from_raw(
                RawFormat::Mjpeg,
                b"\xff\xd8garbage\xff\xd9",
                (4, 2),
                0,
                true
            ),
            Err(Dropped::Corrupt)
        );
    }
}
