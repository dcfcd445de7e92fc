//! The `moodkiosk` command: argument parsing and glue; the work is in the library.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use moodkiosk::analyze::{analyze_photo, classify_whole};
use moodkiosk::classifier::Classifier;
use moodkiosk::config::{self, Config, DetectorConfig, DetectorKind, ModelRef};
use moodkiosk::eval::{self, Labels};
use moodkiosk::face;
use moodkiosk::photo::{self, PhotoLimits};

/// Classroom mood kiosk: camera -> face -> happy / not happy -> LEDs and mood journal.
///
/// Read the README before deploying: inferring emotions in workplaces and education
/// institutions is prohibited in the EU (AI Act, Art. 5(1)(f)) except for medical or safety reasons.
#[derive(Parser)]
#[command(name = "moodkiosk", version, about, long_about)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Run the daemon with a config file (SIGHUP reloads it, SIGTERM/SIGINT stop cleanly).
    Run {
        /// The TOML config file (documented in config/moodkiosk.toml).
        #[arg(long, short, default_value = "/etc/moodkiosk/moodkiosk.toml")]
        config: PathBuf,
    },
    /// Find the faces in photos and classify each: box, mood, confidence.
    Classify {
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
        /// UltraFace ONNX detector instead of the builtin SeetaFace detector.
        #[arg(long)]
        ultraface: Option<PathBuf>,
        /// Smallest face side in pixels.
        #[arg(long)]
        min_face_size: Option<u32>,
        /// At most this many faces per image (largest first).
        #[arg(long)]
        max_faces: Option<usize>,
        /// Crop margin around the face box, as a fraction of its side.
        #[arg(long)]
        margin: Option<f32>,
        /// Treat each whole image as one face crop (no detection).
        #[arg(long)]
        whole: bool,
    },
    /// Time classifier models: latency per face and per 640x480 camera frame, one thread.
    Bench {
        /// Classifier models (.onnx); ratios are against the first. Default: the builtin model.
        models: Vec<PathBuf>,
        /// Photo the bench frame is made from (scaled into a 640x480 JPEG).
        #[arg(long, default_value = "assets/astronaut.png")]
        photo: PathBuf,
        /// Timed runs per measurement.
        #[arg(long, default_value_t = 300)]
        runs: usize,
        /// Untimed runs before timing.
        #[arg(long, default_value_t = 30)]
        warmup: usize,
        /// Also write one JSON object per model to this file (for training/bench_ort.py).
        #[arg(long)]
        save: Option<PathBuf>,
        /// Also print each model's op-level profile (time per operator and per node, with the
        /// matrix-product kernels tract picked), over --runs runs.
        #[arg(long)]
        profile: bool,
    },
    /// Validate a config file and print the effective configuration.
    CheckConfig {
        /// The TOML config file.
        config: PathBuf,
    },
    /// Score a classifier on FER2013 (index.csv folder) or an image folder of face crops.
    Eval {
        /// fer2013 folder with index.csv (e.g. ../shared/data/fer2013), or a folder with happy/ and not_happy/.
        #[arg(long)]
        data: PathBuf,
        /// Split to score (FER2013: Training, PublicTest, PrivateTest).
        #[arg(long, default_value = "PrivateTest")]
        split: String,
        /// Classifier model (.onnx); default: the builtin model.
        #[arg(long)]
        model: Option<PathBuf>,
        /// Labels for FER2013.
        #[arg(long, value_enum, default_value = "ferplus")]
        labels: Labels,
        /// Print the report as one JSON object.
        #[arg(long)]
        json: bool,
        /// Write `id,label,p_happy` per image to this CSV file.
        #[arg(long)]
        per_image: Option<PathBuf>,
        /// Also score this model on the same images and report how often the labels agree
        /// (e.g. the fp32 model, to check the int8 one).
        #[arg(long)]
        agree_with: Option<PathBuf>,
        /// Worker threads (default: all cores).
        #[arg(long)]
        threads: Option<usize>,
        /// Score only the first N selected images (quick checks).
        #[arg(long)]
        limit: Option<usize>,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match dispatch(cli) {
        Ok(code) => code,
        Err(e) => {
            let chain: Vec<String> = e.chain().map(|c| c.to_string()).collect();
            eprintln!("moodkiosk: error: {}", chain.join(": "));
            ExitCode::FAILURE
        }
    }
}

fn init_log(level: log::LevelFilter) {
    let mut b = env_logger::Builder::new();
    b.filter_level(level);
    if let Ok(spec) = std::env::var("RUST_LOG") {
        b.parse_filters(&spec);
    }
    b.format_timestamp_millis().init();
}

fn model_ref(p: Option<PathBuf>) -> ModelRef {
    p.map(ModelRef::File).unwrap_or(ModelRef::Builtin)
}

fn dispatch(cli: Cli) -> Result<ExitCode> {
    match cli.cmd {
        Cmd::Run { config } => {
            let cfg = Config::load(&config)?;
            init_log(cfg.log_level);
            let signals = moodkiosk::daemon::Signals::install()?;
            moodkiosk::daemon::run(cfg, signals)?;
            Ok(ExitCode::SUCCESS)
        }
        Cmd::CheckConfig { config } => {
            let cfg = Config::load(&config)?;
            let raw = config::load_raw(&config)?;
            println!("# {}: valid", cfg.file.display());
            print!("{}", Config::to_toml(&raw));
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Classify {
            images,
            json,
            model,
            config,
            ultraface,
            min_face_size,
            max_faces,
            margin,
            whole,
        } => {
            init_log(log::LevelFilter::Warn);
            let (mut det_cfg, cfg_model) = match &config {
                Some(c) => {
                    let cfg = Config::load(c)?;
                    (cfg.detector, cfg.classifier_model)
                }
                None => (
                    Config::parse("", Path::new("defaults"))?.detector,
                    ModelRef::Builtin,
                ),
            };
            let model = model.map(ModelRef::File).unwrap_or(cfg_model);
            classify(
                images,
                json,
                model,
                &mut det_cfg,
                ultraface,
                min_face_size,
                max_faces,
                margin,
                whole,
            )
        }
        Cmd::Bench {
            models,
            photo,
            runs,
            warmup,
            save,
            profile,
        } => {
            init_log(log::LevelFilter::Warn);
            anyhow::ensure!(runs >= 1, "--runs must be at least 1");
            let bytes =
                std::fs::read(&photo).with_context(|| format!("reading {}", photo.display()))?;
            let gray = photo::decode(&bytes, &PhotoLimits::default())
                .map_err(|e| anyhow::anyhow!("{}: {e}", photo.display()))?;
            let frame = moodkiosk::bench::camera_frame(&gray)?;
            let det = Config::parse("", Path::new("defaults"))?.detector;
            let models: Vec<ModelRef> = if models.is_empty() {
                vec![ModelRef::Builtin]
            } else {
                models.into_iter().map(ModelRef::File).collect()
            };
            let rows = moodkiosk::bench::bench_models(&models, &det, &frame, runs, warmup)?;
            println!(
                "{runs} timed runs after {warmup} warm-up, models taking turns, 1 thread; face = one 96x96 face through tract; frame = decode 640x480 JPEG + detect + classify (faces found: {})",
                rows.first().map(|r| r.faces).unwrap_or(0)
            );
            print!("{}", moodkiosk::bench::table(&rows));
            if profile {
                let input = moodkiosk::bench::face_input(&frame, &det)?;
                for m in &models {
                    let c = moodkiosk::classifier::Classifier::load(m)?;
                    let p = moodkiosk::profile::profile(&c, &input, runs, warmup)?;
                    print!("\nprofile of {}: {}", c.name().display(), p.report(12));
                }
            }
            if let Some(p) = save {
                let mut f = std::fs::File::create(&p)
                    .with_context(|| format!("writing {}", p.display()))?;
                for r in &rows {
                    writeln!(f, "{}", serde_json::to_string(r)?)?;
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Eval {
            data,
            split,
            model,
            labels,
            json,
            per_image,
            agree_with,
            threads,
            limit,
        } => {
            init_log(log::LevelFilter::Warn);
            let threads = threads
                .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
                .max(1);
            let classifier = Classifier::load(&model_ref(model))?;
            let other = agree_with
                .map(|p| Classifier::load(&ModelRef::File(p)))
                .transpose()?;
            let mut sel = eval::select(&data, &split, labels)?;
            if let Some(n) = limit {
                sel.items.truncate(n);
            }
            let (mut report, probs) = eval::evaluate(&classifier, &sel, threads);
            if let Some(o) = &other {
                let other_probs = eval::predict(o, &sel, threads);
                report.agreement = Some(eval::agreement(
                    &o.name().display().to_string(),
                    &sel,
                    &probs,
                    &other_probs,
                ));
            }
            report.data = data.display().to_string();
            report.split = split;
            report.labels = format!("{labels:?}").to_lowercase();
            if let Some(p) = per_image {
                let mut f = std::fs::File::create(&p)
                    .with_context(|| format!("writing {}", p.display()))?;
                writeln!(f, "id,label,p_happy")?;
                for (it, pr) in sel.items.iter().zip(&probs) {
                    writeln!(f, "{},{},{}", it.id, it.happy as u8, pr)?;
                }
            }
            if json {
                println!("{}", serde_json::to_string(&report)?);
            } else {
                print!("{}", report.to_text());
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

#[allow(clippy::too_many_arguments)]
fn classify(
    inputs: Vec<PathBuf>,
    json: bool,
    model: ModelRef,
    det: &mut DetectorConfig,
    ultraface: Option<PathBuf>,
    min_face_size: Option<u32>,
    max_faces: Option<usize>,
    margin: Option<f32>,
    whole: bool,
) -> Result<ExitCode> {
    if let Some(p) = ultraface {
        det.kind = DetectorKind::UltraFace(p);
    }
    if let Some(v) = min_face_size {
        det.min_face_size = v.max(20);
    }
    if let Some(v) = max_faces {
        det.max_faces = v.max(1);
    }
    if let Some(v) = margin {
        anyhow::ensure!((0.0..=1.0).contains(&v), "--margin must be between 0 and 1");
        det.crop_margin = v;
    }
    let classifier = Classifier::load(&model)?;
    let mut detector = face::build(det)?;
    let mut files = Vec::new();
    for p in &inputs {
        if p.is_dir() {
            files.extend(moodkiosk::source::list_images_recursive(p));
        } else {
            files.push(p.clone());
        }
    }
    let mut failed = 0;
    let limits = PhotoLimits::default();
    for f in files {
        let t0 = Instant::now();
        let result = std::fs::read(&f)
            .map_err(|e| anyhow::anyhow!("{}: cannot read: {e}", f.display()))
            .and_then(|bytes| {
                photo::decode(&bytes, &limits).map_err(|e| anyhow::anyhow!("{}: {e}", f.display()))
            })
            .and_then(|gray| {
                Ok(if whole {
                    classify_whole(&gray, &classifier)?
                } else {
                    analyze_photo(
                        &gray,
                        detector.as_mut(),
                        &classifier,
                        det.max_faces,
                        det.crop_margin,
                    )?
                })
            });
        let ms = t0.elapsed().as_secs_f64() * 1000.0;
        match result {
            Ok(a) => {
                if json {
                    let mut v = serde_json::to_value(&a)?;
                    v["file"] = f.display().to_string().into();
                    v["ms"] = ((ms * 10.0).round() / 10.0).into();
                    println!("{v}");
                } else {
                    let faces = &a.faces;
                    println!(
                        "{}: {} face{}",
                        f.display(),
                        faces.len(),
                        if faces.len() == 1 { "" } else { "s" }
                    );
                    for (i, fm) in faces.iter().enumerate() {
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
            }
            Err(e) => {
                failed += 1;
                if json {
                    println!(
                        "{}",
                        serde_json::json!({"file": f.display().to_string(), "error": e.to_string()})
                    );
                } else {
                    eprintln!("moodkiosk: error: {e}");
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
