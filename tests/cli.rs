//! `classify`, `eval` and `--help` through the real binary.

mod common;

use common::*;

#[test]
fn classify_smiling_astronaut_is_happy_with_confidence() {
    let out = run(&["classify", "--json", "assets/astronaut.png"], &root());
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let faces = v["faces"].as_array().unwrap();
    assert_eq!(faces.len(), 1, "{v}");
    assert_eq!(faces[0]["mood"], "happy", "{v}");
    assert!(faces[0]["confidence"].as_f64().unwrap() >= 0.6, "{v}");
    let b = &faces[0]["box"];
    // Eileen Collins' face is in the upper middle of the 512x512 portrait.
    let (x, y) = (b["x"].as_f64().unwrap(), b["y"].as_f64().unwrap());
    assert!(
        (100.0..300.0).contains(&x) && (20.0..200.0).contains(&y),
        "{b}"
    );
    let text = run(&["classify", "assets/astronaut.png"], &root());
    let s = String::from_utf8_lossy(&text.stdout);
    assert!(
        s.contains("1 face") && s.contains("happy (confidence"),
        "{s}"
    );
}

#[test]
fn classify_reports_undecodable_files_and_faceless_images() {
    let d = tempfile::tempdir().unwrap();
    std::fs::write(d.path().join("fake.png"), b"not a png").unwrap();
    image::GrayImage::from_pixel(320, 240, image::Luma([90]))
        .save(d.path().join("empty.png"))
        .unwrap();
    let out = run(&["classify", "--json", "fake.png", "empty.png"], d.path());
    assert_eq!(out.status.code(), Some(2));
    let lines: Vec<serde_json::Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert!(
        lines[0]["error"]
            .as_str()
            .unwrap()
            .contains("not a JPEG, PNG, BMP or PNM image"),
        "{:?}",
        lines[0]
    );
    assert_eq!(lines[1]["faces"].as_array().unwrap().len(), 0);
}

#[test]
fn help_documents_every_subcommand() {
    let out = run(&["--help"], &root());
    let s = String::from_utf8_lossy(&out.stdout);
    for c in ["run", "classify", "check-config", "eval"] {
        assert!(s.contains(c), "{s}");
    }
    let out = run(&["eval", "--help"], &root());
    let s = String::from_utf8_lossy(&out.stdout);
    for o in [
        "--data",
        "--split",
        "--model",
        "--labels",
        "--json",
        "--per-image",
    ] {
        assert!(s.contains(o), "{s}");
    }
}

fn eval_json(model: &str, per_image: &std::path::Path) -> Option<serde_json::Value> {
    let fer = shared("data/fer2013")?;
    let out = run(
        &[
            "eval",
            "--data",
            fer.to_str().unwrap(),
            "--split",
            "PrivateTest",
            "--model",
            model,
            "--json",
            "--per-image",
            per_image.to_str().unwrap(),
        ],
        &root(),
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    Some(serde_json::from_slice(&out.stdout).unwrap())
}

fn probs(path: &std::path::Path) -> Vec<(String, f64)> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .skip(1)
        .map(|l| {
            let mut it = l.split(',');
            let id = it.next().unwrap().to_string();
            let _label = it.next();
            (id, it.next().unwrap().parse().unwrap())
        })
        .collect()
}

/// The shipped model meets the targets through tract and matches the Python report.
#[test]
fn shipped_model_accuracy_and_int8_fp32_agreement() {
    let d = tempfile::tempdir().unwrap();
    let Some(r8) = eval_json("models/moodkiosk-int8.onnx", &d.path().join("int8.csv")) else {
        return;
    };
    let r32 = eval_json("models/moodkiosk-fp32.onnx", &d.path().join("fp32.csv")).unwrap();
    let acc = r8["accuracy"].as_f64().unwrap();
    let bal = r8["balanced_accuracy"].as_f64().unwrap();
    assert!(
        acc >= 0.95 && bal >= 0.94,
        "int8 accuracy {acc} balanced {bal}"
    );
    assert_eq!(r8["n"], r32["n"]);
    let (p8, p32) = (
        probs(&d.path().join("int8.csv")),
        probs(&d.path().join("fp32.csv")),
    );
    let agree = p8
        .iter()
        .zip(&p32)
        .filter(|(a, b)| (a.1 >= 0.5) == (b.1 >= 0.5))
        .count() as f64
        / p8.len() as f64;
    assert!(agree >= 0.995, "int8 / fp32 label agreement {agree}");
    // Same numbers as the model factory's onnxruntime report (within 0.2 points).
    let rep: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(root().join("models/report/metrics.json")).unwrap(),
    )
    .unwrap();
    for (key, r) in [("test_int8", &r8), ("test_fp32", &r32)] {
        let py = rep["export"][key]["accuracy"].as_f64().unwrap();
        let rs = r["accuracy"].as_f64().unwrap();
        assert!((py - rs).abs() <= 0.002, "{key}: python {py} vs tract {rs}");
        assert_eq!(
            rep["export"][key]["n"], r["n"],
            "same de-duplicated test set"
        );
    }
}

/// The second detector backend: UltraFace RFB-320 through tract, from a path.
#[test]
fn ultraface_backend_finds_the_same_face() {
    let Some(uf) = shared("models/facedet/ultraface/version-RFB-320.onnx") else {
        return;
    };
    let out = run(
        &[
            "classify",
            "--json",
            "--ultraface",
            uf.to_str().unwrap(),
            "assets/astronaut.png",
        ],
        &root(),
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let faces = v["faces"].as_array().unwrap();
    assert_eq!(faces.len(), 1, "{v}");
    assert_eq!(faces[0]["mood"], "happy");
    let x = faces[0]["box"]["x"].as_f64().unwrap();
    assert!((100.0..300.0).contains(&x), "{v}");
    // A missing detector file is one clear error.
    let out = run(
        &[
            "classify",
            "--ultraface",
            "/nonexistent/uf.onnx",
            "assets/astronaut.png",
        ],
        &root(),
    );
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("file not found"));
}
