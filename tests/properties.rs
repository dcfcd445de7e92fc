//! Property tests: any value in any config key is a clear error or a valid config (never a
//! panic; NaN and infinities never valid), and any damage to a PNG, JPEG, BMP or PNM file is an
//! error or an image within the decode budget (never a panic).

use std::path::Path;

use moodkiosk::config::{Config, DOCUMENTED};
use moodkiosk::frame::{from_raw, RawFormat};
use moodkiosk::photo::{decode, PhotoLimits};
use proptest::prelude::*;

/// Every `section.key` of the documented config.
fn keys() -> Vec<(String, String)> {
    let t: toml::Table = DOCUMENTED.parse().unwrap();
    let mut out = Vec::new();
    for (section, v) in t {
        if let toml::Value::Table(inner) = v {
            for k in inner.keys() {
                out.push((section.clone(), k.clone()));
            }
        }
    }
    out
}

fn any_value() -> impl Strategy<Value = toml::Value> {
    prop_oneof![
        any::<i64>().prop_map(toml::Value::Integer),
        prop_oneof![
            any::<f64>(),
            Just(f64::NAN),
            Just(f64::INFINITY),
            Just(f64::NEG_INFINITY),
            -1e3..1e3f64
        ]
        .prop_map(toml::Value::Float),
        ".{0,12}".prop_map(toml::Value::String),
        any::<bool>().prop_map(toml::Value::Boolean),
        prop::collection::vec(
            any::<i32>().prop_map(|i| toml::Value::Integer(i as i64)),
            0..3
        )
        .prop_map(toml::Value::Array),
        prop::collection::vec(".{0,8}".prop_map(toml::Value::String), 0..3)
            .prop_map(toml::Value::Array),
    ]
}

fn floats_finite(c: &Config) -> bool {
    [
        c.source.replay_fps,
        c.detector.crop_margin as f64,
        c.detector.score_threshold as f64,
        c.steady.iou as f64,
        c.steady.min_confidence as f64,
    ]
    .iter()
    .all(|v| v.is_finite())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    #[test]
    fn any_value_in_any_key_is_an_error_or_a_valid_config(
        picks in prop::collection::vec((0usize..1000, any_value()), 1..4),
        unknown in prop::option::of("[a-z_]{1,10}"),
    ) {
        let keys = keys();
        let mut t = toml::Table::new();
        for (i, v) in picks {
            let (section, key) = &keys[i % keys.len()];
            let entry = t.entry(section.clone()).or_insert_with(|| toml::Value::Table(Default::default()));
            if let toml::Value::Table(s) = entry {
                s.insert(key.clone(), v);
            }
        }
        if let Some(u) = &unknown {
            t.insert(format!("x_{u}"), toml::Value::Integer(1));
        }
        let text = toml::to_string(&t).unwrap();
        match Config::parse(&text, Path::new("/etc/moodkiosk/p.toml")) {
            Ok(c) => {
                prop_assert!(unknown.is_none(), "an unknown section passed: {text}");
                prop_assert!(floats_finite(&c), "a non-finite float passed: {text}");
                prop_assert!(c.validate().is_ok());
            }
            Err(e) => {
                let msg = e.to_string();
                prop_assert!(msg.starts_with("config /etc/moodkiosk/p.toml: "), "{msg}");
                prop_assert!(!msg.contains('\n'), "one line: {msg}");
            }
        }
    }
}

fn samples() -> Vec<(&'static str, Vec<u8>)> {
    let img = image::RgbImage::from_fn(40, 30, |x, y| {
        image::Rgb([(x * 6) as u8, (y * 8) as u8, 90])
    });
    let dynimg = image::DynamicImage::ImageRgb8(img);
    [
        ("png", image::ImageFormat::Png),
        ("jpeg", image::ImageFormat::Jpeg),
        ("bmp", image::ImageFormat::Bmp),
        ("pnm", image::ImageFormat::Pnm),
    ]
    .into_iter()
    .map(|(name, f)| {
        let mut out = std::io::Cursor::new(Vec::new());
        dynimg.write_to(&mut out, f).unwrap();
        (name, out.into_inner())
    })
    .collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(500))]

    #[test]
    fn damaged_images_are_errors_or_images_within_the_budget(
        which in 0usize..4,
        flips in prop::collection::vec((0usize..4096, any::<u8>(), any::<bool>()), 1..8),
        cut in prop::option::of(0usize..4096),
    ) {
        let (name, mut bytes) = samples().swap_remove(which);
        for (at, v, in_header) in flips {
            let len = bytes.len();
            let i = if in_header { at % len.min(64) } else { at % len };
            bytes[i] = v;
        }
        if let Some(c) = cut {
            bytes.truncate(c % (bytes.len() + 1));
        }
        let limits = PhotoLimits { max_pixels: 1_000_000, max_bytes: 1 << 20 };
        if let Ok(g) = decode(&bytes, &limits) {
            prop_assert!((g.width() as u64) * (g.height() as u64) <= limits.max_pixels, "{name}");
        }
        if name == "jpeg" {
            let _ = from_raw(RawFormat::Mjpeg, &bytes, (40, 30), 0, true);
        }
    }
}
