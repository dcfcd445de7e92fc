//! Frames: 8-bit gray images held in memory only, and the conversions into gray.

use std::time::Instant;

use image::{DynamicImage, GrayImage};

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

/// Luma of an RGB pixel: PIL's integer ITU-R 601 formula, the one the model was trained with.
#[inline]
pub fn luma(r: u8, g: u8, b: u8) -> u8 {
    ((19595 * r as u32 + 38470 * g as u32 + 7471 * b as u32 + 32768) >> 16) as u8
}

/// Any decoded image to 8-bit gray with the training luma formula (alpha ignored).
pub fn to_gray(img: &DynamicImage) -> GrayImage {
    match img {
        DynamicImage::ImageLuma8(g) => g.clone(),
        DynamicImage::ImageLumaA8(_)
        | DynamicImage::ImageLuma16(_)
        | DynamicImage::ImageLumaA16(_) => img.to_luma8(),
        _ => {
            let rgb = img.to_rgb8();
            let (w, h) = rgb.dimensions();
            let data = rgb.pixels().map(|p| luma(p[0], p[1], p[2])).collect();
            GrayImage::from_raw(w, h, data).expect("sizes match")
        }
    }
}

/// Packed YUYV (YUY2) to gray: the Y samples are the luma.
pub fn gray_from_yuyv(data: &[u8], width: u32, height: u32) -> Option<GrayImage> {
    let n = (width * height) as usize;
    if data.len() < n * 2 {
        return None;
    }
    GrayImage::from_raw(
        width,
        height,
        data.iter().step_by(2).take(n).copied().collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn luma_matches_pil() {
        // PIL: Image.new("RGB", (1, 1), (200, 100, 50)).convert("L").getpixel((0, 0)) == 124
        assert_eq!(luma(200, 100, 50), 124);
        assert_eq!(luma(255, 255, 255), 255);
        assert_eq!(luma(0, 0, 0), 0);
    }

    #[test]
    fn yuyv_takes_y_samples() {
        let g = gray_from_yuyv(&[10, 128, 20, 128, 30, 128, 40, 128], 2, 2).unwrap();
        assert_eq!(g.as_raw(), &vec![10, 20, 30, 40]);
        assert!(gray_from_yuyv(&[1, 2, 3], 2, 2).is_none());
    }
}
