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
    let s = moodkiosk(&["--help"]).ok();
    for c in ["run", "classify", "check-config", "eval", "bench"] {
        assert!(s.contains(c), "{s}");
    }
    // A mood kiosk, not a classroom one: the EU warning right below says why.
    assert!(s.starts_with("Mood kiosk:"), "{s}");
    assert!(!s.to_lowercase().contains("classroom"), "{s}");
    let s = moodkiosk(&["eval", "--help"]).ok();
    for o in [
        "--manifest",
        "--data",
        "--split",
        "--model",
        "--json",
        "--per-image",
        "--agree-with",
        "--threads",
        "--limit",
    ] {
        assert!(s.contains(o), "{s}");
    }
}

/// The shipped models meet the targets through tract (`eval --agree-with`, camera frames' one
/// run per face and photos' two views) and match the Python report.
#[test]
#[ignore = "needs ../shared and the training venv (scripts/deps.sh --test); scripts/test.sh runs it"]
fn shipped_model_accuracy_and_int8_fp32_agreement() {
    let fer = shared("data/fer2013");
    let py = python_with(
        "MOODKIOSK_TRAIN_PYTHON",
        "training/.venv/bin/python",
        "numpy, torch",
        "run training/setup.sh",
    );
    let d = tempfile::tempdir().unwrap();
    // The model factory writes the test set (its selection rules and de-duplication, once).
    let manifest = d.path().join("test.csv");
    let o = std::process::Command::new(&py)
        .args(["-m", "mkt", "manifest", "--data"])
        .arg(&fer)
        .arg("--work")
        .arg(d.path().join("work"))
        .arg("--manifest")
        .arg(&manifest)
        .current_dir(root().join("training"))
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let csv = d.path().join("int8.csv");
    let eval = |photo: bool| -> serde_json::Value {
        let mut args = vec![
            "eval",
            "--manifest",
            manifest.to_str().unwrap(),
            "--model",
            "models/moodkiosk-int8.onnx",
            "--agree-with",
            "models/moodkiosk-fp32.onnx",
            "--json",
            "--per-image",
            csv.to_str().unwrap(),
        ];
        if photo {
            args.push("--photo");
        }
        let out = run_int8_heavy(&args, &root());
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).unwrap()
    };
    let rep: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(root().join("models/report/metrics.json")).unwrap(),
    )
    .unwrap();
    // Camera frames: one run per face; photos: the views the model's metadata names (2: face and
    // mirror image, scored by the factory as test_photo_*; 1: as camera frames), as the model
    // factory's calibrate stage decided and the report records.
    let photo_views = rep["export"]["photo_views"].as_u64().unwrap();
    let photo_keys = if photo_views == 2 {
        ["test_photo_int8", "test_photo_fp32"]
    } else {
        ["test_int8", "test_fp32"]
    };
    for (photo, views, keys) in [
        (false, 1, ["test_int8", "test_fp32"]),
        (true, photo_views, photo_keys),
    ] {
        let r8 = eval(photo);
        assert_eq!(r8["views"], views, "{r8}");
        let acc = r8["accuracy"].as_f64().unwrap();
        let bal = r8["balanced_accuracy"].as_f64().unwrap();
        assert!(
            acc >= 0.95 && bal >= 0.945,
            "photo {photo}: int8 accuracy {acc} balanced {bal}"
        );
        // Issue #6 targets: same label on >= 99.5% of the test set, accuracy at most 0.3 points lower.
        let a = &r8["agreement"];
        let acc32 = a["accuracy"].as_f64().unwrap();
        assert!(
            a["same_label"].as_f64().unwrap() >= 0.995,
            "photo {photo}: int8 / fp32 label agreement {a}"
        );
        assert!(
            acc >= acc32 - 0.003,
            "photo {photo}: int8 {acc} vs fp32 {acc32}"
        );
        // The per-image CSV has one row per image with the P(happy) the report was made from.
        let rows = std::fs::read_to_string(&csv).unwrap();
        let n = r8["n"].as_u64().unwrap() as usize;
        assert_eq!(rows.lines().count(), n + 1);
        let happy = rows
            .lines()
            .skip(1)
            .filter(|l| l.rsplit(',').next().unwrap().parse::<f32>().unwrap() >= 0.5)
            .count();
        let cm = &r8["confusion"];
        let predicted_happy = cm[0][1].as_u64().unwrap() + cm[1][1].as_u64().unwrap();
        assert_eq!(happy as u64, predicted_happy);
        // Same numbers as the model factory's onnxruntime report (within 0.2 points).
        for (key, rs) in keys.into_iter().zip([acc, acc32]) {
            let py = rep["export"][key]["accuracy"].as_f64().unwrap();
            assert!((py - rs).abs() <= 0.002, "{key}: python {py} vs tract {rs}");
            assert_eq!(
                rep["export"][key]["n"], r8["n"],
                "same de-duplicated test set"
            );
        }
    }
}

/// The man page and the completions come from the same clap definitions.
#[test]
fn man_page_and_completions_are_generated() {
    let man = moodkiosk(&["man"]).ok();
    assert!(
        man.starts_with(".ie") || man.contains(".TH moodkiosk"),
        "{man}"
    );
    for c in ["check\\-config", "classify", "Mood kiosk"] {
        assert!(man.contains(c), "{c} not in the man page");
    }
    let d = tempfile::tempdir().unwrap();
    moodkiosk(&["man", "--dir", d.path().to_str().unwrap()]).ok();
    let classify = std::fs::read_to_string(d.path().join("moodkiosk-classify.1")).unwrap();
    assert!(
        classify.contains("min\\-face\\-size"),
        "the options are documented: {classify}"
    );
    for page in [
        "moodkiosk",
        "moodkiosk-run",
        "moodkiosk-check-config",
        "moodkiosk-eval",
        "moodkiosk-cameras",
    ] {
        assert!(d.path().join(format!("{page}.1")).exists(), "{page}.1");
    }
    let bash = moodkiosk(&["completions", "bash"]).ok();
    assert!(
        bash.contains("_moodkiosk()") && bash.contains("--min-face-size"),
        "{bash}"
    );
    moodkiosk(&["completions", "tcsh"]).fails_with("invalid value");
}

/// Command-line overrides go through the config's validator: no silent clamping.
#[test]
fn classify_overrides_are_validated_like_the_file() {
    moodkiosk(&["classify", "--min-face-size", "10", "assets/astronaut.png"])
        .fails_with("--min-face-size: detector.min_face_size: must be between 20 and 4096, got 10");
    moodkiosk(&["classify", "--margin", "NaN", "assets/astronaut.png"])
        .fails_with("detector.crop_margin: must be a finite number");
}

/// The second detector backend: UltraFace RFB-320 through tract, from a path.
#[test]
#[ignore = "needs ../shared; scripts/test.sh runs it (--include-ignored)"]
fn ultraface_backend_finds_the_same_face() {
    let uf = shared("models/facedet/ultraface/version-RFB-320.onnx");
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

/// `bench`: both models timed with ratios against the first, the JSON lines, and the op-level
/// profile showing float kernels for fp32 and integer kernels for int8.
#[test]
fn bench_times_and_profiles_both_models() {
    let d = tempfile::tempdir().unwrap();
    let save = d.path().join("bench.jsonl");
    let out = run(
        &[
            "bench",
            "--runs",
            "3",
            "--warmup",
            "1",
            "--profile",
            "--save",
            save.to_str().unwrap(),
            "models/moodkiosk-fp32.onnx",
            "models/moodkiosk-int8.onnx",
        ],
        &root(),
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let s = String::from_utf8_lossy(&out.stdout);
    assert!(s.contains("faces found: 1"), "{s}");
    let rows: Vec<serde_json::Value> = std::fs::read_to_string(&save)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(rows.len(), 2);
    for r in &rows {
        assert_eq!(r["classify"]["runs"], 3, "{r}");
        assert!(r["classify"]["median_ms"].as_f64().unwrap() > 0.0, "{r}");
        assert!(r["pipeline"]["median_ms"].as_f64().unwrap() > 0.0, "{r}");
        // CPU per frame is measured, and one thread cannot use more CPU than twice the wall time.
        let cpu = r["pipeline_cpu_ms"].as_f64().unwrap();
        assert!(
            cpu > 0.0 && cpu < 2.0 * r["pipeline"]["mean_ms"].as_f64().unwrap() + 1.0,
            "{r}"
        );
    }
    assert_eq!(rows[1]["file_bytes"].as_u64(), Some(7_781_277));
    // Table: the first model's ratio is 1.00.
    let fp32_row = s
        .lines()
        .find(|l| l.starts_with("models/moodkiosk-fp32.onnx"))
        .unwrap();
    assert!(fp32_row.split_whitespace().nth(5) == Some("1.00"), "{s}");
    // Profiles: "profile of MODEL: ... kernels: a, b" for each model.
    let kernels = |model: &str| -> String {
        let line = s
            .lines()
            .find(|l| l.starts_with(&format!("profile of {model}:")))
            .unwrap_or_else(|| panic!("no profile of {model} in {s}"));
        line.split("kernels: ").nth(1).unwrap().to_string()
    };
    let (k32, k8) = (
        kernels("models/moodkiosk-fp32.onnx"),
        kernels("models/moodkiosk-int8.onnx"),
    );
    assert!(k32.contains("mmm_f32") && !k32.contains("i32"), "{k32}");
    assert!(k8.contains("mmm_i32"), "int8 runs integer kernels: {k8}");
    assert!(s.contains("x QuantizeLinear"), "{s}");
}
