//! `moodkiosk bench`: classifier latency per face and whole-pipeline latency per camera frame,
//! for each model given, on one thread. Figures for people to compare, never asserted in tests.

use std::io::{Cursor, Write};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::Context;

use image::{GrayImage, ImageFormat, Luma};
use serde::Serialize;

use std::sync::Arc;

use moodkiosk::classifier::Classifier;
use moodkiosk::config::{Config, DetectorKind, DetectorSettings, ModelRef};
use moodkiosk::engine::{Analyzer, Engine};
use moodkiosk::error::{Error, Result};
use moodkiosk::face::{self, largest};
use moodkiosk::photo::{self, PhotoLimits};
use moodkiosk::preprocess::{crop_face, to_input};

#[derive(clap::Args)]
pub struct Args {
    /// Classifier models (.onnx); ratios are against the first. Default: the builtin model.
    models: Vec<PathBuf>,
    /// Photo the bench frame is made from (scaled into a 640x480 JPEG).
    #[arg(long, default_value = "assets/astronaut.png", conflicts_with = "frame")]
    photo: PathBuf,
    /// A camera frame (JPEG) used as it is, instead of one made from --photo.
    #[arg(long)]
    frame: Option<PathBuf>,
    /// Face detector: blazeface (default), seeta or ultraface (with --ultraface-model).
    #[arg(long)]
    detector: Option<DetectorKind>,
    /// UltraFace ONNX file for --detector ultraface.
    #[arg(long)]
    ultraface_model: Option<PathBuf>,
    /// Timed runs per measurement.
    #[arg(long, default_value_t = 300, value_parser = clap::value_parser!(u32).range(1..))]
    runs: u32,
    /// Untimed runs before timing.
    #[arg(long, default_value_t = 30)]
    warmup: u32,
    /// Timed runs of the face measurement only (default --runs; 0 skips it). For counting
    /// instructions under an emulator (scripts/arm-count.sh).
    #[arg(long, hide = true)]
    face_runs: Option<u32>,
    /// Timed runs of the frame measurement only (default --runs; 0 skips it).
    #[arg(long, hide = true)]
    frame_runs: Option<u32>,
    /// Also write one JSON object per model to this file (for training/bench_ort.py).
    #[arg(long)]
    save: Option<PathBuf>,
    /// Also print each model's op-level profile (time per operator and per node, with the
    /// matrix-product kernels tract picked), over --runs runs.
    #[arg(long)]
    profile: bool,
    /// How many of the slowest nodes the profile lists.
    #[arg(long, default_value_t = 12, requires = "profile")]
    profile_nodes: usize,
}

/// Latency statistics in milliseconds.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Stats {
    pub runs: usize,
    pub median_ms: f64,
    pub p90_ms: f64,
    pub mean_ms: f64,
    pub min_ms: f64,
}

impl Stats {
    pub fn of(mut d: Vec<Duration>) -> Stats {
        d.sort();
        let ms = |x: Duration| (x.as_secs_f64() * 1e6).round() / 1e3;
        let n = d.len().max(1);
        Stats {
            runs: d.len(),
            median_ms: d.get(d.len() / 2).copied().map(ms).unwrap_or(0.0),
            p90_ms: d.get(d.len() * 9 / 10).copied().map(ms).unwrap_or(0.0),
            mean_ms: ms(d.iter().sum::<Duration>() / n as u32),
            min_ms: d.first().copied().map(ms).unwrap_or(0.0),
        }
    }
}

/// One model's figures.
#[derive(Debug, Clone, Serialize)]
pub struct ModelBench {
    pub model: String,
    /// The detector of the frame figures (`detector.kind`).
    pub detector: String,
    pub file_bytes: Option<u64>,
    pub load_ms: f64,
    /// One preprocessed 96x96 face through tract.
    pub classify: Stats,
    /// One 640x480 JPEG frame: decode, detect, crop, classify.
    pub pipeline: Stats,
    /// CPU time (all of the process's threads) per timed frame, mean, in milliseconds: at 10
    /// frames per second, each analysed, it is also the percentage of one core.
    pub pipeline_cpu_ms: f64,
    /// Faces found in the bench frame (sanity: 1).
    pub faces: usize,
}

/// A 640x480 JPEG frame with the photo scaled to the frame height and centred, as an MJPEG
/// camera would deliver it.
pub fn camera_frame(photo: &GrayImage) -> Result<Vec<u8>> {
    let side = 480;
    let scaled = image::imageops::resize(photo, side, side, image::imageops::FilterType::Triangle);
    let mut frame = GrayImage::from_pixel(640, 480, Luma([110]));
    image::imageops::overlay(&mut frame, &scaled, (640 - side as i64) / 2, 0);
    let mut out = Cursor::new(Vec::new());
    frame
        .write_to(&mut out, ImageFormat::Jpeg)
        .map_err(|e| Error::Image {
            name: "bench frame".into(),
            msg: e.to_string(),
        })?;
    Ok(out.into_inner())
}

/// The classifier input the bench times: the frame's (JPEG bytes) largest face, preprocessed, or
/// the frame centre when no face is found.
pub fn face_input(frame: &[u8], detector: &DetectorSettings) -> Result<Vec<f32>> {
    let mut det = face::build(detector)?;
    Ok(face_input_with(frame, det.as_mut(), detector)?.0)
}

fn face_input_with(
    frame: &[u8],
    det: &mut dyn face::FaceDetector,
    detector: &DetectorSettings,
) -> Result<(Vec<f32>, usize)> {
    let gray = photo::decode(frame, &PhotoLimits::default()).map_err(|e| Error::Image {
        name: "bench frame".into(),
        msg: e.to_string(),
    })?;
    let faces = largest(det.detect(&gray)?, detector.max_faces);
    let crop = match faces.first() {
        Some(f) => crop_face(&gray, f, detector.crop_margin),
        None => image::imageops::crop_imm(&gray, 160, 0, 320, 320).to_image(),
    };
    Ok((to_input(&crop), faces.len()))
}

/// With `MOODKIOSK_COUNT_MARKERS` set, a `getppid` system call before the timed loops and after
/// each run: under `qemu-aarch64-static -d strace,...` it marks the log, so that
/// scripts/arm-count.sh counts each run's instructions in one emulated process (loading once).
struct Marker(bool);

impl Marker {
    fn from_env() -> Marker {
        Marker(std::env::var_os("MOODKIOSK_COUNT_MARKERS").is_some())
    }

    fn mark(&self) {
        if self.0 {
            // SAFETY: getppid has no arguments and cannot fail.
            unsafe { libc::getppid() };
        }
    }
}

/// Time `models` on `frame` (JPEG bytes): `runs` timed runs after `warmup` untimed ones. The
/// models take turns run by run, so that machine noise falls on all of them alike.
pub fn bench_models(
    models: &[ModelRef],
    detector: &DetectorSettings,
    frame: &[u8],
    (face_runs, frame_runs): (usize, usize),
    warmup: usize,
) -> Result<Vec<ModelBench>> {
    let image_err = |e: photo::PhotoError| Error::Image {
        name: "bench frame".into(),
        msg: e.to_string(),
    };
    let mut det = face::build(detector)?;
    let (input, faces) = face_input_with(frame, det.as_mut(), detector)?;
    let mut loaded = Vec::new();
    for m in models {
        let t0 = Instant::now();
        let c = Classifier::load(m)?;
        loaded.push((c, t0.elapsed().as_secs_f64() * 1e3));
    }
    // Analyzers (a detector each) only when frames are timed: under emulation
    // (scripts/arm-count.sh) building a detector is most of a run.
    let mut analyzers = loaded
        .iter()
        .filter(|_| frame_runs > 0)
        .map(|(c, _)| {
            Analyzer::new(Arc::new(Engine {
                classifier: c.clone(),
                detector: detector.clone(),
            }))
        })
        .collect::<Result<Vec<_>>>()?;
    let mut face_times = vec![Vec::with_capacity(face_runs); models.len()];
    let mut frame_times = vec![Vec::with_capacity(frame_runs); models.len()];
    let mut frame_cpu = vec![Duration::ZERO; models.len()];
    let warm = |n: usize| if n > 0 { warmup + n } else { 0 };
    let marker = Marker::from_env();
    marker.mark();
    for i in 0..warm(face_runs) {
        for (k, (c, _)) in loaded.iter().enumerate() {
            let t = Instant::now();
            c.classify_input(&input)?;
            if i >= warmup {
                face_times[k].push(t.elapsed());
            }
            marker.mark();
        }
    }
    for i in 0..warm(frame_runs) {
        for (k, a) in analyzers.iter_mut().enumerate() {
            let (t, cpu) = (Instant::now(), process_cpu());
            let g = photo::decode(frame, &PhotoLimits::default()).map_err(image_err)?;
            a.analyze(&g)?;
            if i >= warmup {
                frame_times[k].push(t.elapsed());
                frame_cpu[k] += process_cpu().saturating_sub(cpu);
            }
            marker.mark();
        }
    }
    Ok(models
        .iter()
        .zip(loaded)
        .zip(face_times.into_iter().zip(frame_times).zip(frame_cpu))
        .map(|((m, (_, load_ms)), ((ft, rt), cpu))| ModelBench {
            detector: format!("{:?}", detector.kind).to_lowercase(),
            model: match m {
                ModelRef::Builtin => "builtin".into(),
                ModelRef::File(p) => p.display().to_string(),
            },
            file_bytes: match m {
                ModelRef::Builtin => None,
                ModelRef::File(p) => std::fs::metadata(p).ok().map(|x| x.len()),
            },
            load_ms: (load_ms * 10.0).round() / 10.0,
            classify: Stats::of(ft),
            pipeline_cpu_ms: (cpu.as_secs_f64() * 1e6 / frame_runs.max(1) as f64).round() / 1e3,
            pipeline: Stats::of(rt),
            faces,
        })
        .collect())
}

/// CPU time used so far by all of the process's threads.
fn process_cpu() -> Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes one timespec through a valid pointer.
    let ok = unsafe { libc::clock_gettime(libc::CLOCK_PROCESS_CPUTIME_ID, &mut ts) } == 0;
    match ok {
        true => Duration::new(
            ts.tv_sec.max(0) as u64,
            ts.tv_nsec.clamp(0, 999_999_999) as u32,
        ),
        false => Duration::ZERO,
    }
}

/// The text table, with ratios against the first model.
pub fn table(rows: &[ModelBench]) -> String {
    let mut s = format!(
        "{:<34} {:>9} {:>9} {:>10} {:>9} {:>7} {:>10} {:>9} {:>7} {:>9}\n",
        "model",
        "MB",
        "load ms",
        "face med",
        "face p90",
        "ratio",
        "frame med",
        "frame p90",
        "ratio",
        "frame cpu"
    );
    let base = rows.first();
    for r in rows {
        let ratio = |a: f64, b: f64| if b > 0.0 { a / b } else { 0.0 };
        s += &format!(
            "{:<34} {:>9} {:>9.1} {:>10.3} {:>9.3} {:>7.2} {:>10.3} {:>9.3} {:>7.2} {:>9.3}\n",
            r.model,
            r.file_bytes
                .map(|b| format!("{:.2}", b as f64 / 1e6))
                .unwrap_or_else(|| "-".into()),
            r.load_ms,
            r.classify.median_ms,
            r.classify.p90_ms,
            base.map(|b| ratio(r.classify.median_ms, b.classify.median_ms))
                .unwrap_or(1.0),
            r.pipeline.median_ms,
            r.pipeline.p90_ms,
            base.map(|b| ratio(r.pipeline.median_ms, b.pipeline.median_ms))
                .unwrap_or(1.0),
            r.pipeline_cpu_ms,
        );
    }
    s
}

/// `moodkiosk bench`.
pub fn run(a: Args) -> anyhow::Result<()> {
    let (runs, warmup) = (a.runs as usize, a.warmup as usize);
    let read = |p: &PathBuf| std::fs::read(p).with_context(|| format!("reading {}", p.display()));
    let frame = match &a.frame {
        Some(f) => read(f)?,
        None => {
            let gray = photo::decode(&read(&a.photo)?, &PhotoLimits::default())
                .map_err(|e| anyhow::anyhow!("{}: {e}", a.photo.display()))?;
            camera_frame(&gray)?
        }
    };
    let mut det = Config::defaults().detector;
    det.kind = a.detector.unwrap_or(det.kind);
    if let Some(m) = a.ultraface_model {
        det.model = m;
    }
    let (models, profile, save, top) = (a.models, a.profile, a.save, a.profile_nodes);
    let models: Vec<ModelRef> = match models.is_empty() {
        true => vec![ModelRef::Builtin],
        false => models.into_iter().map(ModelRef::File).collect(),
    };
    let stages = (
        a.face_runs.map_or(runs, |n| n as usize),
        a.frame_runs.map_or(runs, |n| n as usize),
    );
    let rows = bench_models(&models, &det, &frame, stages, warmup)?;
    println!(
        "{runs} timed runs after {warmup} warm-up, models taking turns, 1 thread; face = one 96x96 face through tract; frame = decode JPEG + detect ({:?}) + classify (faces found: {}); frame cpu = CPU ms per frame, all threads (at 10 fps, every frame analysed: % of one core)",
        det.kind,
        rows.first().map(|r| r.faces).unwrap_or(0)
    );
    print!("{}", table(&rows));
    if profile {
        let input = face_input(&frame, &det)?;
        for m in &models {
            let c = Classifier::load(m)?;
            let p = super::profile::profile(&c, &input, runs, warmup)?;
            print!("\nprofile of {}: {}", c.name().display(), p.report(top));
        }
        if det.kind == DetectorKind::Blazeface {
            let gray = photo::decode(&frame, &PhotoLimits::default())
                .map_err(|e| anyhow::anyhow!("bench frame: {e}"))?;
            let mut d = face::BlazeFaceDetector::new(det.min_face_size, det.score_threshold)?;
            let (plan, input) = d.plan_and_input(&gray)?;
            let name = std::path::Path::new("builtin BlazeFace");
            let p = super::profile::profile_plan(&plan, name, input, runs, warmup)?;
            print!("\nprofile of the BlazeFace detector: {}", p.report(top));
        }
    }
    if let Some(p) = save {
        let mut f =
            std::fs::File::create(&p).with_context(|| format!("writing {}", p.display()))?;
        for r in &rows {
            writeln!(f, "{}", serde_json::to_string(r)?)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stats_of_known_times() {
        let d: Vec<Duration> = (1..=10).rev().map(Duration::from_millis).collect();
        let s = Stats::of(d);
        assert_eq!(
            (s.runs, s.median_ms, s.p90_ms, s.min_ms),
            (10, 6.0, 10.0, 1.0)
        );
        assert!((s.mean_ms - 5.5).abs() < 1e-9);
    }
}
