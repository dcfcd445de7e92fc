//! `moodkiosk classify`: photos through the same analyzer as the daemon and the upload page.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Instant;

use anyhow::Result;
use moodkiosk::classifier::{Classifier, ModelRef};
use moodkiosk::config::{Config, DetectorKind};
use moodkiosk::engine::{Analysis, Analyzer, Engine};
use moodkiosk::photo;

#[derive(clap::Args)]
pub struct Args {
    /// Image files or folders of images.
    #[arg(required = true)]
    images: Vec<PathBuf>,
    /// Print one JSON object per image (one per line).
    #[arg(long)]
    json: bool,
    /// Classifier model (.onnx); default: the model built into the binary.
    #[arg(long)]
    model: Option<PathBuf>,
    /// Take detector and classifier settings from this config file.
    #[arg(long, short)]
    config: Option<PathBuf>,
    /// Face detector: blazeface (default), seeta, or ultraface (needs --ultraface).
    #[arg(long)]
    detector: Option<DetectorKind>,
    /// UltraFace ONNX detector file (implies --detector ultraface).
    #[arg(long)]
    ultraface: Option<PathBuf>,
    /// Smallest face side in pixels (detector.min_face_size).
    #[arg(long)]
    min_face_size: Option<u32>,
    /// At most this many faces per image, largest first (detector.max_faces).
    #[arg(long)]
    max_faces: Option<usize>,
    /// Crop margin around the face box, as a fraction of its side (detector.crop_margin).
    #[arg(long)]
    margin: Option<f32>,
    /// Treat each whole image as one face crop (no detection).
    #[arg(long)]
    whole: bool,
}

impl Args {
    /// The config (file or defaults) with this command's overrides, checked by the same
    /// validator as a file.
    fn config(&self) -> Result<Config> {
        let mut cfg = match &self.config {
            Some(c) => Config::load(c)?,
            None => Config::defaults(),
        };
        let d = &mut cfg.detector;
        d.kind = self.detector.unwrap_or(d.kind);
        if let Some(p) = &self.ultraface {
            d.kind = DetectorKind::Ultraface;
            d.model = p.clone();
        }
        d.min_face_size = self.min_face_size.unwrap_or(d.min_face_size);
        d.max_faces = self.max_faces.unwrap_or(d.max_faces);
        d.crop_margin = self.margin.unwrap_or(d.crop_margin);
        if let Some(m) = &self.model {
            cfg.classifier.model = ModelRef::File(m.clone());
        }
        cfg.validate().map_err(|inv| {
            let flag = match inv.key.as_str() {
                "detector.min_face_size" => "--min-face-size",
                "detector.max_faces" => "--max-faces",
                "detector.crop_margin" => "--margin",
                _ => "config",
            };
            anyhow::anyhow!("{flag}: {}: {}", inv.key, inv.msg)
        })?;
        Ok(cfg)
    }
}

/// A photo file's bytes, read only when it is a regular file within the upload size limit (a
/// FIFO, a device such as /dev/zero or a huge file is refused before reading).
fn read_photo(f: &std::path::Path, max_bytes: u64) -> Result<Vec<u8>> {
    use std::io::Read;
    let cannot = |e: std::io::Error| anyhow::anyhow!("{}: cannot read: {e}", f.display());
    let meta = std::fs::metadata(f).map_err(cannot)?;
    anyhow::ensure!(meta.is_file(), "{}: not a regular file", f.display());
    anyhow::ensure!(
        meta.len() <= max_bytes,
        "{}: {} MB is larger than the {} MB allowed (web.max_upload_mb)",
        f.display(),
        meta.len().div_ceil(1 << 20),
        max_bytes >> 20
    );
    let mut bytes = Vec::new();
    std::fs::File::open(f)
        .map_err(cannot)?
        .take(max_bytes + 1)
        .read_to_end(&mut bytes)
        .map_err(cannot)?;
    anyhow::ensure!(
        bytes.len() as u64 <= max_bytes,
        "{}: grew while read",
        f.display()
    );
    Ok(bytes)
}

fn one(a: &mut Analyzer, whole: bool, f: &std::path::Path, cfg: &Config) -> Result<Analysis> {
    let bytes = read_photo(f, cfg.web.max_upload_bytes() as u64)?;
    let gray = photo::decode(&bytes, &cfg.web.photo_limits())
        .map_err(|e| anyhow::anyhow!("{}: {e}", f.display()))?;
    Ok(match whole {
        true => a.classify_whole(&gray)?,
        false => a.analyze_photo(&gray)?,
    })
}

fn print_text(f: &std::path::Path, a: &Analysis) {
    let n = a.faces.len();
    let padded = match a.padded {
        true => " (a tight face crop: found with a border added)",
        false => "",
    };
    println!(
        "{}: {n} face{}{padded}",
        f.display(),
        if n == 1 { "" } else { "s" }
    );
    for (i, fm) in a.faces.iter().enumerate() {
        let b = fm.bbox;
        println!(
            "  face {} at x={:.0} y={:.0} w={:.0} h={:.0}: {} (confidence {:.2})",
            i + 1,
            b.x,
            b.y,
            b.w,
            b.h,
            fm.prediction.mood,
            fm.prediction.confidence
        );
    }
}

/// Classify every image; exit 2 when any could not be read.
pub fn run(args: Args) -> Result<ExitCode> {
    let cfg = args.config()?;
    let mut analyzer = Analyzer::new(Arc::new(Engine {
        classifier: Classifier::load(&cfg.classifier.model)?,
        detector: cfg.detector.clone(),
    }))?;
    let mut files = Vec::new();
    for p in &args.images {
        if !p.is_dir() {
            files.push(p.clone());
            continue;
        }
        let found = moodkiosk::source::list_images_recursive(p);
        anyhow::ensure!(
            !found.is_empty(),
            "{}: no image files in this folder ({})",
            p.display(),
            moodkiosk::photo::IMAGE_EXT.join(", ")
        );
        files.extend(found);
    }
    let mut failed = 0;
    for f in files {
        let t0 = Instant::now();
        let result = one(&mut analyzer, args.whole, &f, &cfg);
        let ms = t0.elapsed().as_secs_f64() * 1000.0;
        match (result, args.json) {
            (Ok(a), true) => {
                let mut v = serde_json::to_value(&a)?;
                v["file"] = f.display().to_string().into();
                v["ms"] = ((ms * 10.0).round() / 10.0).into();
                println!("{v}");
            }
            (Ok(a), false) => print_text(&f, &a),
            (Err(e), json) => {
                failed += 1;
                match json {
                    true => println!(
                        "{}",
                        serde_json::json!({"file": f.display().to_string(), "error": e.to_string()})
                    ),
                    false => eprintln!("moodkiosk: error: {e}"),
                }
            }
        }
    }
    Ok(if failed > 0 {
        ExitCode::from(2)
    } else {
        ExitCode::SUCCESS
    })
}
