//! Detection quality of the default detector (BlazeFace) against SeetaFace, the previous default,
//! on a set composed here: FER2013 PrivateTest faces and the sample photo on 640x480 canvases,
//! faces 40-300 px at varied positions, backgrounds and brightness, and canvases without a face.
//! Prints recall, false positives and how each detector frames the faces; asserts BlazeFace is no
//! worse than SeetaFace and frames faces as SeetaFace does (the crop margin refers to that).

mod common;

use std::sync::Arc;

use image::{GrayImage, Luma};
use moodkiosk::classifier::{Classifier, ModelRef};
use moodkiosk::config::Config;
use moodkiosk::engine::{Analyzer, Engine, PadFill, PAD_FILL};
use moodkiosk::face::{BlazeFaceDetector, FaceBox, FaceDetector, SeetaDetector};
use moodkiosk::mood::Mood;

use common::*;

/// A canvas and the face squares on it (the FER crop, or the photo's face).
struct Case {
    frame: GrayImage,
    truth: Vec<FaceBox>,
}

/// Small deterministic generator (xorshift), so that the set is the same on every run.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn range(&mut self, lo: u32, hi: u32) -> u32 {
        lo + (self.next() % (hi - lo + 1) as u64) as u32
    }
}

fn square(x: f32, y: f32, s: f32) -> FaceBox {
    FaceBox {
        x,
        y,
        w: s,
        h: s,
        score: 1.0,
    }
}

/// The background: flat, a horizontal gradient, or noise, around `level`.
fn background(rng: &mut Rng, kind: u32, level: u32) -> GrayImage {
    let mut seed = Rng(rng.next() | 1);
    GrayImage::from_fn(640, 480, |x, _| {
        let v = match kind {
            0 => level as i32,
            1 => level as i32 - 40 + (x as i32 * 80 / 640),
            _ => level as i32 + (seed.next() % 41) as i32 - 20,
        };
        Luma([v.clamp(0, 255) as u8])
    })
}

/// Scale every pixel's brightness by `gain` percent.
fn brighten(img: &mut GrayImage, gain: u32) {
    for p in img.pixels_mut() {
        p.0[0] = (p.0[0] as u32 * gain / 100).min(255) as u8;
    }
}

/// A FER face with 25% of its own edge around it (FER crops are tight), scaled so that the face
/// itself is `side` pixels; returns the image and the face's offset inside it.
fn fer_with_context(face: &GrayImage, side: u32) -> (GrayImage, u32) {
    let pad = face.width() / 4;
    let padded = GrayImage::from_fn(face.width() + 2 * pad, face.height() + 2 * pad, |x, y| {
        let sx = (x as i64 - pad as i64).clamp(0, face.width() as i64 - 1) as u32;
        let sy = (y as i64 - pad as i64).clamp(0, face.height() as i64 - 1) as u32;
        *face.get_pixel(sx, sy)
    });
    let total = side * padded.width() / face.width();
    let big = image::imageops::resize(
        &padded,
        total,
        total,
        image::imageops::FilterType::CatmullRom,
    );
    (big, (total - side) / 2)
}

fn compose() -> Vec<Case> {
    let mut rng = Rng(0x5eed_f00d);
    let (happy, neutral) = fer_faces(60);
    let mut cases = Vec::new();
    let sizes = [40, 48, 60, 80, 100, 130, 160, 200, 250, 300];
    for (i, path) in happy.iter().chain(&neutral).enumerate() {
        let face = image::open(path).unwrap().to_luma8();
        let side = sizes[i % sizes.len()];
        let (img, off) = fer_with_context(&face, side);
        let level = rng.range(60, 190);
        let mut frame = background(&mut rng, i as u32 % 3, level);
        let max_x = 640u32.saturating_sub(img.width());
        let max_y = 480u32.saturating_sub(img.height());
        let (x, y) = (rng.range(0, max_x), rng.range(0, max_y));
        image::imageops::overlay(&mut frame, &img, x as i64, y as i64);
        brighten(&mut frame, rng.range(55, 130));
        cases.push(Case {
            frame,
            truth: vec![square((x + off) as f32, (y + off) as f32, side as f32)],
        });
    }
    // The sample photo, whose face square (x 172..276, y 62..166 of 512) is the mean of both
    // detectors' boxes on the photo itself, at several scales and places.
    let photo = image::open(root().join("assets/astronaut.png"))
        .unwrap()
        .to_luma8();
    let (fx, fy, fs) = (172.0 / 512.0, 62.0 / 512.0, 104.0 / 512.0);
    for (k, side) in [200u32, 260, 320, 400, 480].into_iter().enumerate() {
        let scaled =
            image::imageops::resize(&photo, side, side, image::imageops::FilterType::Triangle);
        let level = rng.range(80, 160);
        let mut frame = background(&mut rng, k as u32 % 3, level);
        let (x, y) = (rng.range(0, 640 - side), rng.range(0, 480 - side));
        image::imageops::overlay(&mut frame, &scaled, x as i64, y as i64);
        brighten(&mut frame, rng.range(60, 120));
        let s = side as f32;
        cases.push(Case {
            frame,
            truth: vec![square(x as f32 + fx * s, y as f32 + fy * s, fs * s)],
        });
    }
    // No face: backgrounds, and the photo with its face covered.
    for k in 0..6 {
        let level = rng.range(40, 210);
        cases.push(Case {
            frame: background(&mut rng, k % 3, level),
            truth: vec![],
        });
    }
    let mut covered = photo.clone();
    for y in 40..200 {
        for x in 150..300 {
            covered.put_pixel(x, y, Luma([120]));
        }
    }
    let mut frame = background(&mut rng, 0, 120);
    image::imageops::overlay(&mut frame, &covered, 64, 0);
    cases.push(Case {
        frame,
        truth: vec![],
    });
    cases
}

/// A detection matches a face square when its centre is inside the square and its side is
/// within half to twice the square's.
fn matches(d: &FaceBox, t: &FaceBox) -> bool {
    let (cx, cy) = (d.x + d.w / 2.0, d.y + d.h / 2.0);
    let r = d.size() / t.size();
    cx >= t.x && cx <= t.x + t.w && cy >= t.y && cy <= t.y + t.h && (0.5..=2.0).contains(&r)
}

#[derive(Default, Debug)]
struct Score {
    faces: usize,
    found: usize,
    false_pos: usize,
    /// (detector box side / face square side, centre offset down / face side), per found face.
    framing: Vec<(f32, f32, f32)>,
    boxes: Vec<Option<FaceBox>>,
}

fn score(det: &mut dyn FaceDetector, cases: &[Case]) -> Score {
    let mut s = Score::default();
    for c in cases {
        let found = det.detect(&c.frame).unwrap();
        s.faces += c.truth.len();
        let mut hit = None;
        for t in &c.truth {
            if let Some(d) = found.iter().find(|d| matches(d, t)) {
                s.found += 1;
                hit = Some(*d);
                let (dcx, dcy) = (d.x + d.w / 2.0, d.y + d.h / 2.0);
                s.framing.push((
                    d.size() / t.size(),
                    (dcx - (t.x + t.w / 2.0)) / t.size(),
                    (dcy - (t.y + t.h / 2.0)) / t.size(),
                ));
            }
        }
        s.false_pos += found
            .iter()
            .filter(|d| !c.truth.iter().any(|t| matches(d, t)))
            .count();
        s.boxes.push(hit);
    }
    s
}

fn median(mut v: Vec<f32>) -> f32 {
    v.sort_by(f32::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or(f32::NAN)
}

#[test]
#[ignore = "needs ../shared/data/fer2013 (scripts/test.sh runs it)"]
fn blazeface_finds_faces_as_well_as_seetaface_and_frames_them_alike() {
    let cases = compose();
    let mut seeta = SeetaDetector::new(40, 0.0).unwrap();
    let mut blaze = BlazeFaceDetector::new(40, 0.0).unwrap();
    let s = score(&mut seeta, &cases);
    let b = score(&mut blaze, &cases);
    let frames = cases.len();
    println!(
        "detection set: {frames} canvases 640x480, {} faces (40-300 px)",
        s.faces
    );
    for (name, r) in [("seeta", &s), ("blazeface", &b)] {
        let sizes = median(r.framing.iter().map(|f| f.0).collect());
        let down = median(r.framing.iter().map(|f| f.2).collect());
        println!(
            "{name:<10} recall {}/{} = {:.1}%  false positives {}  box side / face side {:.3}  centre down {:+.3}",
            r.found,
            r.faces,
            100.0 * r.found as f32 / r.faces as f32,
            r.false_pos,
            sizes,
            down,
        );
    }
    // Framing against SeetaFace's on the faces both found.
    let both: Vec<(FaceBox, FaceBox)> = s
        .boxes
        .iter()
        .zip(&b.boxes)
        .filter_map(|(a, b)| Some(((*a)?, (*b)?)))
        .collect();
    let ratio = median(both.iter().map(|(a, b)| b.size() / a.size()).collect());
    let shift_x = median(
        both.iter()
            .map(|(a, b)| ((b.x + b.w / 2.0) - (a.x + a.w / 2.0)) / a.size())
            .collect(),
    );
    let shift_y = median(
        both.iter()
            .map(|(a, b)| ((b.y + b.h / 2.0) - (a.y + a.h / 2.0)) / a.size())
            .collect(),
    );
    println!(
        "blazeface vs seeta on {} faces both found: side ratio {ratio:.3}, centre right {shift_x:+.3}, down {shift_y:+.3} (of seeta's side)",
        both.len()
    );
    assert!(b.found >= s.found, "BlazeFace recall below SeetaFace's");
    assert!(
        b.false_pos <= s.false_pos,
        "BlazeFace has more false positives"
    );
    assert!(
        both.len() >= 20,
        "too few faces found by both to compare framing"
    );
    assert!((ratio - 1.0).abs() <= 0.06, "side ratio {ratio}");
    assert!(
        shift_x.abs() <= 0.05 && shift_y.abs() <= 0.05,
        "centre {shift_x} {shift_y}"
    );
}

/// FER2013's framing against the detector's: on the FER faces of the set (each a FER crop with
/// context around it on a canvas), the median of detector box side / FER crop side gives the
/// crop margin that makes the daemon's crop (box side x (1 + 2 margin)) frame a face as FER2013
/// does, which is what the model was trained on. The documented default is that measurement.
#[test]
#[ignore = "needs ../shared/data/fer2013 (scripts/test.sh runs it)"]
fn the_default_crop_margin_frames_faces_as_fer2013_does() {
    let cases = compose();
    let fer: Vec<Case> = cases.into_iter().take(120).collect();
    let mut blaze = BlazeFaceDetector::new(40, 0.0).unwrap();
    let b = score(&mut blaze, &fer);
    let side = median(b.framing.iter().map(|f| f.0).collect());
    let right = median(b.framing.iter().map(|f| f.1).collect());
    let down = median(b.framing.iter().map(|f| f.2).collect());
    let matching = (1.0 / side - 1.0) / 2.0;
    let margin = Config::defaults().detector.crop_margin;
    println!(
        "{} FER faces found of {}: box side / FER crop side {side:.3}, centre right {right:+.3}, down {down:+.3}; \
         crop margin that matches FER framing {matching:.3}; default detector.crop_margin {margin}; \
         crop side / FER side at the default {:.3}",
        b.found,
        b.faces,
        side * (1.0 + 2.0 * margin)
    );
    assert!(b.found >= 90, "too few faces to measure framing");
    assert!(
        (margin - matching).abs() <= 0.02,
        "detector.crop_margin {margin} does not frame faces as FER2013 (measured {matching:.3})"
    );
    assert!(
        right.abs() <= 0.03 && down.abs() <= 0.04,
        "centre {right} {down}"
    );
}

/// Photos that are tight face crops (the study's upload case): FER2013 PrivateTest faces scaled
/// to 350x350, no context. Without the padded second search the detector misses many; with it,
/// at most 1.5% are missed. Prints the no-face rate and the mood accuracy (against FER's
/// happy / neutral folders) for no second search and each border.
#[test]
#[ignore = "needs ../shared/data/fer2013 (scripts/test.sh runs it)"]
fn tight_face_crops_are_found_on_a_second_search_with_a_border() {
    let (happy, neutral) = fer_faces(150);
    let engine = Arc::new(Engine {
        detector: Config::defaults().detector,
        classifier: Classifier::load(&ModelRef::Builtin).unwrap(),
    });
    let mut a = Analyzer::new(engine).unwrap();
    let photos: Vec<(GrayImage, Mood)> = happy
        .iter()
        .map(|p| (p, Mood::Happy))
        .chain(neutral.iter().map(|p| (p, Mood::NotHappy)))
        .map(|(p, m)| {
            let f = image::open(p).unwrap().to_luma8();
            let big =
                image::imageops::resize(&f, 350, 350, image::imageops::FilterType::CatmullRom);
            (big, m)
        })
        .collect();
    let n = photos.len();
    let mut rates = Vec::new();
    for (name, pad) in [
        ("no second search", None),
        ("edge border", Some(PadFill::Edge)),
        ("mean-gray border", Some(PadFill::Mean)),
    ] {
        let (mut missed, mut right) = (0, 0);
        for (img, mood) in &photos {
            let r = a.analyze_photo_with(img, pad).unwrap();
            match r.faces.first() {
                None => missed += 1,
                Some(f) => {
                    right += (f.prediction.mood == *mood) as usize;
                    // In the photo's coordinates: centred on it (the face fills it), and no
                    // larger than the padded image searched.
                    let b = f.bbox;
                    let (cx, cy) = (b.x + b.w / 2.0, b.y + b.h / 2.0);
                    assert!(
                        (100.0..250.0).contains(&cx) && (100.0..250.0).contains(&cy) && b.w < 525.0,
                        "{b:?} is not in the photo's coordinates"
                    );
                }
            }
        }
        println!(
            "{name:<17} no face {missed}/{n} = {:.1}%  mood right {right}/{n} = {:.1}% (a miss counts wrong)",
            100.0 * missed as f32 / n as f32,
            100.0 * right as f32 / n as f32
        );
        rates.push((pad, missed));
    }
    let chosen = rates.iter().find(|r| r.0 == Some(PAD_FILL)).unwrap().1;
    let best = rates.iter().map(|r| r.1).min().unwrap();
    assert_eq!(chosen, best, "PAD_FILL is not the better border: {rates:?}");
    assert!(
        chosen as f32 <= 0.015 * n as f32,
        "{chosen}/{n} tight crops without a face"
    );
    assert!(
        rates[0].1 > chosen,
        "the second search finds faces the first missed"
    );
}
