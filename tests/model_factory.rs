//! Smoke test of the model factory: a tiny subset, one epoch, export, int8 quantization, then
//! `moodkiosk eval` through tract on the result. Needs training/.venv (training/setup.sh).

mod common;

use std::process::Command;

use common::*;

#[test]
#[ignore = "needs ../shared and the training venv (scripts/deps.sh --test); scripts/test.sh runs it"]
fn tiny_training_run_exports_a_model_tract_can_score() {
    let fer = shared("data/fer2013");
    let py = python_with(
        "MOODKIOSK_TRAIN_PYTHON",
        "training/.venv/bin/python",
        "torch, torchvision, onnxruntime",
        "run training/setup.sh",
    );
    let d = tempfile::tempdir().unwrap();
    let work = d.path().join("work");
    let out = d.path().join("models");
    let common_args = |stage: &str| -> Vec<String> {
        vec![
            "-m".into(),
            "mkt".into(),
            stage.into(),
            "--data".into(),
            fer.display().to_string(),
            "--work".into(),
            work.display().to_string(),
            "--out".into(),
            out.display().to_string(),
            "--width".into(),
            "0.5".into(),
        ]
    };
    for (stage, extra) in [
        ("prepare", vec!["--limit", "120"]),
        ("cv", vec!["--cv-epochs", "1", "--folds", "2"]),
        ("calibrate", vec!["--folds", "2"]),
        ("ensemble", vec!["--folds", "2"]),
        // The final fit distils the two folds' models (half of each target is their P(happy)).
        ("fit", vec!["--epochs", "1", "--teacher-weight", "0.5"]),
        // Flip averaging of photos forced on: the models name two photo views in their metadata.
        ("export", vec!["--calibration", "64", "--tta", "on"]),
        ("manifest", vec![]),
    ] {
        let mut args = common_args(stage);
        args.extend(extra.iter().map(|s| s.to_string()));
        let o = Command::new(&py)
            .args(&args)
            .current_dir(root().join("training"))
            .output()
            .unwrap();
        assert!(
            o.status.success(),
            "stage {stage}:\n{}\n{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        );
    }
    let int8 = out.join("moodkiosk-int8.onnx");
    assert!(
        int8.exists()
            && out.join("moodkiosk-fp32.onnx").exists()
            && out.join("SHA256SUMS").exists()
    );
    // Each fold is trained with the recipe's weight averaging: its history scores the averaged
    // weights (what it reports and ships) and the plain ones, epoch by epoch.
    let fold: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(work.join("cv/fold0/metrics.json")).unwrap())
            .unwrap();
    assert!(
        fold["config"]["weight_average"].as_f64().unwrap() > 0.0,
        "{fold}"
    );
    let last = fold["history"].as_array().unwrap().last().unwrap().clone();
    for k in ["val_acc", "raw_val_acc", "val_bal_acc", "raw_val_bal_acc"] {
        assert!(
            (0.0..=1.0).contains(&last[k].as_f64().unwrap()),
            "{k}: {last}"
        );
    }
    assert_eq!(last["val_acc"], fold["val"]["accuracy"], "{fold}");
    let export: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(work.join("export.json")).unwrap()).unwrap();
    let o = run_int8_heavy(
        &[
            "eval",
            "--manifest",
            work.join("test_manifest.csv").to_str().unwrap(),
            "--model",
            int8.to_str().unwrap(),
            "--limit",
            "200",
            "--photo",
            "--json",
        ],
        &root(),
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let r: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let acc = r["accuracy"].as_f64().unwrap();
    assert_eq!(r["n"], 200, "{r}");
    // tract read the metadata the export wrote: each face and its mirror image.
    assert_eq!(r["views"], 2, "{r}");
    assert_eq!(export["photo_views"], 2, "{export}");
    assert_eq!(r["unreadable"], 0, "{r}");
    assert!((0.0..=1.0).contains(&acc));
    // The tiny model's ORT test score was computed on its (limited) test subset: just check it ran.
    assert!(export["test_int8"]["n"].as_u64().unwrap() > 0);
    let cal: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(work.join("calibration.json")).unwrap())
            .unwrap();
    let t = cal["temperature"].as_f64().unwrap();
    assert!(t.is_finite() && (0.4..=4.0).contains(&t), "{cal}");
    for k in ["ece_before", "ece_after"] {
        assert!((0.0..=1.0).contains(&cal[k].as_f64().unwrap()), "{cal}");
    }
    // steady.min_confidence from the votes by confidence band: a band start in [0.5, 1].
    let mc = cal["min_confidence"]["value"].as_f64().unwrap();
    assert!((0.5..=1.0).contains(&mc), "{cal}");
    let bands = cal["confidence_bands"].as_array().unwrap();
    assert_eq!(bands.len(), 10, "{cal}");
    let counted: u64 = bands.iter().map(|b| b["n"].as_u64().unwrap()).sum();
    assert_eq!(
        counted,
        cal["out_of_fold_images"].as_u64().unwrap(),
        "{cal}"
    );
    let fit: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(work.join("fit/summary.json")).unwrap())
            .unwrap();
    assert_eq!(fit["config"]["teacher_weight"], 0.5, "{fit}");
    assert_eq!(
        fit["teacher"]["models"].as_array().unwrap().len(),
        2,
        "{fit}"
    );
    // The ensemble stage scored both folds' models on the test subset, alone and averaged.
    let ens: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(work.join("ensemble.json")).unwrap())
            .unwrap();
    assert_eq!(ens["folds"].as_array().unwrap().len(), 2, "{ens}");
    assert_eq!(ens["runs_per_face"]["with_mirror"], 4, "{ens}");
    assert_eq!(ens["temperature"], cal["temperature"], "{ens}");
    for k in ["one_run", "with_mirror"] {
        for m in ["accuracy", "balanced_accuracy", "ece"] {
            assert!(
                (0.0..=1.0).contains(&ens["mean"][k][m].as_f64().unwrap()),
                "{k} {m}: {ens}"
            );
        }
    }
    // The quantize stage wrote the integer-path format tract runs with integer kernels.
    let q = &export["quantization"];
    assert_eq!(q["format"], "QOperator", "{q}");
    // Per-tensor weights and symmetric activations, depthwise convolutions float (tract fuses
    // the requantization then): MobileNetV2's 17 depthwise convolutions stay Conv, and so do
    // blocks 1-6's and 15-18's; the other 1x1 convolutions (16: blocks 7-14 expand and project)
    // are QLinearConv with a one-row input (each behind a Reshape and an identity Gather).
    assert_eq!(q["per_channel"], false, "{q}");
    assert_eq!(q["depthwise_float"], true, "{q}");
    assert_eq!(
        q["float_blocks"],
        serde_json::json!(["1", "2", "3", "4", "5", "6", "15", "16", "17", "18"]),
        "{q}"
    );
    assert_eq!(q["pointwise_one_row"], 16, "{q}");
    assert_eq!(q["operators"]["QLinearConv"], 16, "{q}");
    assert_eq!(q["operators"]["Gather"], 16, "{q}");
    // Blocks 7-14's expansions end in the int8 saturation (zero point -128: ReLU6 without a
    // Clip) and their depthwise outputs are quantized by a Cast (the scale folded into the
    // convolution); 6 QuantizeLinear remain: block 7's input (from float block 6) and the
    // residual sums of blocks 8-13 that feed the next expansion (a project output without a
    // residual sum feeds it as int8).
    assert_eq!(q["relu6_as_saturation"], 8, "{q}");
    assert_eq!(q["depthwise_quantize_as_cast"], 8, "{q}");
    assert_eq!(q["operators"]["QuantizeLinear"], 6, "{q}");
    assert!(q["operators"].get("MatMulInteger").is_none(), "{q}");
    assert!(q["operators"]["Conv"].as_u64().unwrap() >= 17 + 7, "{q}");
}
