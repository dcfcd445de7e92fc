//! The one decoder of images from outside (uploads, `classify`, replay files, camera MJPEG
//! frames, `eval`): the format is sniffed from the bytes, never taken from a file name;
//! dimensions are checked before any pixel is decoded (decompression bombs) and decoding runs
//! under memory limits; a photo's EXIF orientation is applied (phones store portraits sideways).
//! Held in memory only.
//!
//! JPEG frames from UVC webcams may leave out their Huffman tables (DHT) and rely on the standard
//! tables of JPEG Annex K.3, as the UVC MJPEG payload format allows. zune-jpeg (the image crate's
//! JPEG decoder) fills in those tables for Motion-JPEG frames, which it recognises by an `AVI1`
//! APP0 segment; a JPEG without DHT gets that segment ([`with_mjpeg_marker`]). Camera frames are
//! decoded to the luma plane only ([`decode_jpeg_luma`]): no colour upsampling or conversion.

use std::borrow::Cow;
use std::io::Cursor;

use image::{DynamicImage, GrayImage, ImageDecoder, ImageFormat, ImageReader, Limits};

/// Formats accepted (the ones this binary can decode).
pub const FORMATS: &[ImageFormat] = &[
    ImageFormat::Jpeg,
    ImageFormat::Png,
    ImageFormat::Bmp,
    ImageFormat::Pnm,
];

/// File name extensions of image files in folders (replay, `classify DIR`, `eval --data DIR`);
/// the model factory's image-folder loader takes the same (training/mkt/data.py, IMAGE_EXT).
pub const IMAGE_EXT: &[&str] = &["png", "jpg", "jpeg", "bmp", "pgm", "ppm"];

/// Limits on what a photo may expand to.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PhotoLimits {
    /// Most pixels (width x height) accepted.
    pub max_pixels: u64,
    /// Most bytes decoding may allocate (the decoded pixels, the gray copy, a rotation).
    pub max_bytes: u64,
}

impl Default for PhotoLimits {
    /// 40 megapixels (more than any phone photo) and 64 MB (`web.max_decode_mb`).
    fn default() -> Self {
        PhotoLimits {
            max_pixels: 40_000_000,
            max_bytes: 64 << 20,
        }
    }
}

/// Why a photo was refused.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum PhotoError {
    /// Nothing to decode.
    #[error("the photo is empty")]
    Empty,
    /// The bytes are no image format this binary reads.
    #[error("not a JPEG, PNG, BMP or PNM image (format sniffed from the content)")]
    NotAnImage,
    /// Too many pixels.
    #[error("{width}x{height} is {} megapixels; at most {} are accepted", (*width as u64 * *height as u64) / 1_000_000, max_pixels / 1_000_000)]
    TooManyPixels {
        width: u32,
        height: u32,
        max_pixels: u64,
    },
    /// Decoding would need more memory than allowed.
    #[error("{width}x{height} {kind} needs {} MB to decode; at most {} MB are allowed (web.max_decode_mb)", needed.div_ceil(1 << 20), max_bytes >> 20)]
    TooMuchMemory {
        width: u32,
        height: u32,
        kind: String,
        needed: u64,
        max_bytes: u64,
    },
    /// The header or pixel data is damaged or truncated.
    #[error("cannot decode the {format} image: {msg}")]
    Corrupt { format: &'static str, msg: String },
}

fn format_name(f: ImageFormat) -> &'static str {
    match f {
        ImageFormat::Jpeg => "JPEG",
        ImageFormat::Png => "PNG",
        ImageFormat::Bmp => "BMP",
        ImageFormat::Pnm => "PNM",
        _ => "image",
    }
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

/// Decode a photo into 8-bit gray (the training luma formula).
pub fn decode(bytes: &[u8], limits: &PhotoLimits) -> Result<GrayImage, PhotoError> {
    if bytes.is_empty() {
        return Err(PhotoError::Empty);
    }
    let format = image::guess_format(bytes)
        .ok()
        .filter(|f| FORMATS.contains(f))
        .ok_or(PhotoError::NotAnImage)?;
    let jpeg;
    let bytes = match format {
        ImageFormat::Jpeg => {
            jpeg = with_mjpeg_marker(bytes);
            &jpeg[..]
        }
        _ => bytes,
    };
    let corrupt = |e: image::ImageError| PhotoError::Corrupt {
        format: format_name(format),
        msg: e.to_string(),
    };
    let reader = || ImageReader::with_format(Cursor::new(bytes), format);
    let (width, height) = reader().into_dimensions().map_err(corrupt)?;
    if width == 0 || height == 0 {
        return Err(PhotoError::Corrupt {
            format: format_name(format),
            msg: format!("{width}x{height} has no pixels"),
        });
    }
    if width as u64 * height as u64 > limits.max_pixels {
        return Err(PhotoError::TooManyPixels {
            width,
            height,
            max_pixels: limits.max_pixels,
        });
    }
    let mut r = reader();
    let mut l = Limits::default();
    l.max_alloc = Some(limits.max_bytes);
    r.limits(l);
    let mut decoder = r.into_decoder().map_err(corrupt)?;
    let orientation = decoder
        .orientation()
        .unwrap_or(image::metadata::Orientation::NoTransforms);
    let (kind, needed) = decode_cost(format, &decoder, width, height, orientation);
    if needed > limits.max_bytes {
        return Err(PhotoError::TooMuchMemory {
            width,
            height,
            kind,
            needed,
            max_bytes: limits.max_bytes,
        });
    }
    let mut img = match format {
        ImageFormat::Jpeg => {
            drop(decoder);
            DynamicImage::ImageLuma8(jpeg_luma(bytes, false)?)
        }
        _ => DynamicImage::from_decoder(decoder).map_err(|e| match e {
            // The decoder asked for more than the budget (its own buffers).
            image::ImageError::Limits(_) => PhotoError::TooMuchMemory {
                width,
                height,
                kind: format_name(format).to_string(),
                needed: limits.max_bytes + 1,
                max_bytes: limits.max_bytes,
            },
            e => corrupt(e),
        })?,
    };
    img.apply_orientation(orientation);
    Ok(match img {
        DynamicImage::ImageLuma8(g) => g,
        other => to_gray(&other),
    })
}

/// What decoding will allocate, and the kind of image for the message. JPEG: decoded to the
/// luma plane only, but the decoder keeps every component's coefficients while it works: 4
/// bytes a pixel in all, measured (scripts/memory.sh). Others: the decoder's own pixels, then
/// the gray copy; a rotation (EXIF) one more plane.
fn decode_cost(
    format: ImageFormat,
    decoder: &impl ImageDecoder,
    width: u32,
    height: u32,
    orientation: image::metadata::Orientation,
) -> (String, u64) {
    let px = width as u64 * height as u64;
    let rotated = u64::from(orientation != image::metadata::Orientation::NoTransforms);
    match format {
        ImageFormat::Jpeg => ("JPEG".to_string(), px * (4 + rotated)),
        _ => {
            let c = decoder.color_type();
            let gray = u64::from(c != image::ColorType::L8);
            let kind = format!("{} {c:?}", format_name(format));
            (kind, px * (c.bytes_per_pixel() as u64 + gray + rotated))
        }
    }
}

/// Whether a JPEG defines Huffman tables (a DHT segment) before its first scan.
fn has_dht(jpeg: &[u8]) -> bool {
    let mut i = 2; // after SOI
    while i + 4 <= jpeg.len() {
        if jpeg[i] != 0xFF {
            return false; // not a marker: malformed, let the decoder say so
        }
        match jpeg[i + 1] {
            0xFF => i += 1, // fill byte
            0xC4 => return true,
            0xDA | 0xD9 => return false,  // start of scan, end of image
            0xD0..=0xD7 | 0x01 => i += 2, // markers without a length
            _ => {
                let len = u16::from_be_bytes([jpeg[i + 2], jpeg[i + 3]]) as usize;
                i += 2 + len;
            }
        }
    }
    false
}

/// The JPEG as zune-jpeg decodes it with the standard Huffman tables when it has none of its
/// own: an `AVI1` APP0 segment right after SOI marks it as a Motion-JPEG frame.
pub fn with_mjpeg_marker(jpeg: &[u8]) -> Cow<'_, [u8]> {
    if jpeg.len() < 4 || jpeg[..2] != [0xFF, 0xD8] || has_dht(jpeg) {
        return Cow::Borrowed(jpeg);
    }
    let mut out = Vec::with_capacity(jpeg.len() + 9);
    out.extend_from_slice(&[
        0xFF, 0xD8, 0xFF, 0xE0, 0x00, 0x07, b'A', b'V', b'I', b'1', 0x00,
    ]);
    out.extend_from_slice(&jpeg[2..]);
    Cow::Owned(out)
}

/// A camera's JPEG frame to its luma plane (8-bit gray), with the standard Huffman tables when
/// the frame has none. Strict: a frame with damaged data is an error, not a smeared picture.
pub fn decode_jpeg_luma(jpeg: &[u8], limits: &PhotoLimits) -> Result<GrayImage, PhotoError> {
    if jpeg.is_empty() {
        return Err(PhotoError::Empty);
    }
    if jpeg.len() < 2 || jpeg[..2] != [0xFF, 0xD8] {
        return Err(PhotoError::NotAnImage);
    }
    let g = jpeg_luma(jpeg, true)?;
    if g.width() as u64 * g.height() as u64 > limits.max_pixels {
        return Err(PhotoError::TooManyPixels {
            width: g.width(),
            height: g.height(),
            max_pixels: limits.max_pixels,
        });
    }
    Ok(g)
}

/// zune-jpeg to luma (the caller checked the size when it matters).
fn jpeg_luma(jpeg: &[u8], strict: bool) -> Result<GrayImage, PhotoError> {
    use zune_jpeg::zune_core::bytestream::ZCursor;
    use zune_jpeg::zune_core::colorspace::ColorSpace;
    use zune_jpeg::zune_core::options::DecoderOptions;
    let corrupt = |msg: String| PhotoError::Corrupt {
        format: "JPEG",
        msg,
    };
    let data = with_mjpeg_marker(jpeg);
    let options = DecoderOptions::default()
        .jpeg_set_out_colorspace(ColorSpace::Luma)
        .set_max_width(65_535)
        .set_max_height(65_535)
        .set_strict_mode(strict);
    let mut d = zune_jpeg::JpegDecoder::new_with_options(ZCursor::new(&data[..]), options);
    d.decode_headers().map_err(|e| corrupt(e.to_string()))?;
    let info = d.info().ok_or_else(|| corrupt("no frame header".into()))?;
    let (width, height) = (info.width as u32, info.height as u32);
    let px = d.decode().map_err(|e| corrupt(e.to_string()))?;
    GrayImage::from_raw(width, height, px)
        .ok_or_else(|| corrupt(format!("{width}x{height}: short pixel data")))
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
    use image::{ImageEncoder, RgbImage};

    fn png(w: u32, h: u32) -> Vec<u8> {
        let img = RgbImage::from_pixel(w, h, image::Rgb([200, 100, 50]));
        let mut out = Vec::new();
        image::codecs::png::PngEncoder::new(&mut out)
            .write_image(img.as_raw(), w, h, image::ExtendedColorType::Rgb8)
            .unwrap();
        out
    }

    #[test]
    fn decodes_by_content_with_training_luma() {
        let g = decode(&png(8, 4), &PhotoLimits::default()).unwrap();
        assert_eq!(g.dimensions(), (8, 4));
        assert_eq!(g.get_pixel(0, 0)[0], 124);
    }

    #[test]
    fn refuses_text_empty_and_truncated() {
        let l = PhotoLimits::default();
        assert_eq!(decode(b"hello, world", &l), Err(PhotoError::NotAnImage));
        assert_eq!(decode(b"", &l), Err(PhotoError::Empty));
        let p = png(64, 64);
        assert!(matches!(
            decode(&p[..p.len() / 2], &l),
            Err(PhotoError::Corrupt { format: "PNG", .. })
        ));
    }

    #[test]
    fn checks_dimensions_before_decoding() {
        // A valid PGM header claiming 100000 x 100000 pixels (10 GB), with 4 bytes of data.
        let p = b"P5\n100000 100000\n255\nabcd";
        match decode(p, &PhotoLimits::default()) {
            Err(PhotoError::TooManyPixels { width, height, .. }) => {
                assert_eq!((width, height), (100_000, 100_000))
            }
            other => panic!("expected TooManyPixels, got {other:?}"),
        }
    }
}
