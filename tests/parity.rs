//! One preprocessing spec: Python preprocessing + onnxruntime and Rust preprocessing + tract give
//! the same label and |p_happy difference| <= 1e-3 on 240 images (FER2013 test faces, upscaled,
//! and crops of the sample photo, downscaled) with the fp32 model, and the crop around a detector
//! box (margin, edges) is the same on both sides.

mod common;

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::Command;

use common::*;

#[test]
#[ignore = "needs ../shared and the training venv (scripts/deps.sh --test); scripts/test.sh runs it"]
fn python_and_rust_preprocessing_agree() {
    let (happy, neutral) = fer_faces(110);
    let py = training_python("numpy, PIL, onnxruntime");
    let d = tempfile::tempdir().unwrap();
    let imgs = d.path().join("imgs");
    std::fs::create_dir(&imgs).unwrap();
    for (i, f) in happy.iter().chain(&neutral).enumerate() {
        std::fs::copy(f, imgs.join(format!("fer{i:03}.png"))).unwrap();
    }
    // Crops of the sample photo at sizes above and below 96, square and not, RGB.
    let astro = image::open(root().join("assets/astronaut.png"))
        .unwrap()
        .to_rgb8();
    for (i, (x, y, w, h)) in [
        (150, 40, 200, 200),
        (170, 60, 150, 170),
        (120, 20, 260, 240),
        (190, 80, 97, 97),
        (200, 90, 60, 64),
    ]
    .iter()
    .enumerate()
    {
        for k in 0..4u32 {
            let c = image::imageops::crop_imm(&astro, x + k * 3, y + k * 2, w - k * 5, h - k * 4)
                .to_image();
            c.save(imgs.join(format!("astro{i}{k}.png"))).unwrap();
        }
    }
    let model = root().join("models/moodkiosk-fp32.onnx");
    let out = run(
        &[
            "classify",
            "--whole",
            "--json",
            "--model",
            model.to_str().unwrap(),
            imgs.to_str().unwrap(),
        ],
        &root(),
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut rust: HashMap<String, f64> = HashMap::new();
    for l in String::from_utf8_lossy(&out.stdout).lines() {
        let v: serde_json::Value = serde_json::from_str(l).unwrap();
        let name = PathBuf::from(v["file"].as_str().unwrap())
            .file_name()
            .unwrap()
            .to_string_lossy()
            .to_string();
        rust.insert(name, v["faces"][0]["p_happy"].as_f64().unwrap());
    }
    let out = Command::new(py)
        .args([
            root().join("training/parity.py").to_str().unwrap(),
            model.to_str().unwrap(),
            imgs.to_str().unwrap(),
        ])
        .env("PYTHONPATH", root().join("training"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut n = 0;
    let mut worst: f64 = 0.0;
    for l in String::from_utf8_lossy(&out.stdout).lines() {
        let (name, p) = l.split_once(',').unwrap();
        let p: f64 = p.parse().unwrap();
        let r = rust[name];
        assert_eq!(p >= 0.5, r >= 0.5, "{name}: python {p} rust {r}");
        worst = worst.max((p - r).abs());
        n += 1;
    }
    assert_eq!(n, 240);
    assert!(worst <= 1e-3, "largest |p_happy difference| {worst}");
    eprintln!("parity: {n} images, largest |p_happy difference| {worst:.2e}");
}

/// The crop around a detector box (margin, square, edge pixels repeated outside the frame) is
/// the same in the daemon (src/preprocess.rs crop_face) and in training (crop_square): the
/// faces `classify` finds in frames, some near the frame's edge, get the same P(happy) when
/// Python crops the same boxes.
#[test]
#[ignore = "needs ../shared and the training venv (scripts/deps.sh --test); scripts/test.sh runs it"]
fn python_and_rust_crop_the_same_box() {
    let (happy, neutral) = fer_faces(6);
    let py = training_python("numpy, PIL, onnxruntime");
    let d = tempfile::tempdir().unwrap();
    let frames = d.path().join("frames");
    std::fs::create_dir(&frames).unwrap();
    std::fs::copy(
        root().join("assets/astronaut.png"),
        frames.join("astronaut.png"),
    )
    .unwrap();
    // Centred, and against each edge (the widened crop leaves the frame there).
    let spots = [
        (320, 240, 200),
        (70, 240, 200),
        (575, 240, 200),
        (320, 70, 200),
        (320, 410, 200),
        (150, 150, 160),
    ];
    for (i, (f, (cx, cy, side))) in happy
        .iter()
        .chain(&neutral)
        .zip(spots.iter().cycle())
        .enumerate()
    {
        frame_with_face(f, *side, *cx, *cy)
            .save(frames.join(format!("frame{i:02}.png")))
            .unwrap();
    }
    let model = root().join("models/moodkiosk-fp32.onnx");
    // A wide margin, so that the crops around faces near an edge leave the frame.
    let found = moodkiosk(&[
        "classify",
        "--json",
        "--margin",
        "0.3",
        "--model",
        model.to_str().unwrap(),
        frames.to_str().unwrap(),
    ])
    .ok();
    let jsonl = d.path().join("faces.jsonl");
    std::fs::write(&jsonl, &found).unwrap();
    let mut rust: HashMap<String, f64> = HashMap::new();
    let mut near_edge = 0;
    for l in found.lines() {
        let v: serde_json::Value = serde_json::from_str(l).unwrap();
        let name = PathBuf::from(v["file"].as_str().unwrap())
            .file_name()
            .unwrap()
            .to_string_lossy()
            .to_string();
        for (k, f) in v["faces"].as_array().unwrap().iter().enumerate() {
            let b = &f["box"];
            let (x, w) = (b["x"].as_f64().unwrap(), b["w"].as_f64().unwrap());
            let (y, h) = (b["y"].as_f64().unwrap(), b["h"].as_f64().unwrap());
            let (fw, fh) = (v["width"].as_f64().unwrap(), v["height"].as_f64().unwrap());
            if x - 0.3 * w < 0.0 || x + 1.3 * w > fw || y - 0.3 * h < 0.0 || y + 1.3 * h > fh {
                near_edge += 1;
            }
            rust.insert(format!("{name}#{k}"), f["p_happy"].as_f64().unwrap());
        }
    }
    assert!(rust.len() >= 10, "faces found: {found}");
    assert!(near_edge >= 1, "no crop reaches outside the frame: {found}");
    let out = Command::new(py)
        .arg(root().join("training/parity.py"))
        .arg(&model)
        .args(["--faces", jsonl.to_str().unwrap(), "--margin", "0.3"])
        .env("PYTHONPATH", root().join("training"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut worst: f64 = 0.0;
    let mut n = 0;
    for l in String::from_utf8_lossy(&out.stdout).lines() {
        let (name, p) = l.split_once(',').unwrap();
        let p: f64 = p.parse().unwrap();
        let r = rust[name];
        assert_eq!(p >= 0.5, r >= 0.5, "{name}: python {p} rust {r}");
        worst = worst.max((p - r).abs());
        n += 1;
    }
    assert_eq!(n, rust.len());
    assert!(worst <= 1e-3, "largest |p_happy difference| {worst}");
    eprintln!("crop parity: {n} faces ({near_edge} near an edge), largest |p_happy difference| {worst:.2e}");
}

/// Image folders are read the same way by training and by the daemon: the same file extensions.
#[test]
#[ignore = "needs the training venv (scripts/deps.sh --test); scripts/test.sh runs it"]
fn training_and_daemon_take_the_same_image_files() {
    let py = training_python("numpy, PIL");
    let out = Command::new(py)
        .args([
            "-c",
            "from mkt import data; print(','.join(sorted(e.lstrip('.') for e in data.IMAGE_EXT)))",
        ])
        .current_dir(root().join("training"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut rust: Vec<&str> = moodkiosk::photo::IMAGE_EXT.to_vec();
    rust.sort();
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), rust.join(","));
}
