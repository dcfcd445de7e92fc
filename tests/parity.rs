//! One preprocessing spec: Python preprocessing + onnxruntime and Rust preprocessing + tract give
//! the same label and |p_happy difference| <= 1e-3 on 240 images (FER2013 test faces, upscaled,
//! and crops of the sample photo, downscaled) with the fp32 model.

mod common;

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::Command;

use common::*;

#[test]
#[ignore = "needs ../shared and the training venv (scripts/deps.sh --test); scripts/test.sh runs it"]
fn python_and_rust_preprocessing_agree() {
    let (happy, neutral) = fer_faces(110);
    let py = python_with(
        "MOODKIOSK_PYTHON",
        "training/.venv/bin/python",
        "numpy, PIL, onnxruntime",
        "run training/setup.sh",
    );
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
