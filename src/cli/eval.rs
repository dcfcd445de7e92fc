//! `moodkiosk eval`: score a classifier through tract, with the daemon's own preprocessing and
//! decoder, on a test-set manifest written by the model factory (`training/run.sh manifest`:
//! which FER2013 rows are usable, the happy rule and the de-duplication live there, once) or on
//! an image folder of face crops (`happy/` + `not_happy/`, or the seven emotion folders).

use std::path::{Path, PathBuf};
use std::time::Instant;

use serde::Serialize;

use moodkiosk::classifier::{Classifier, ModelRef};
use moodkiosk::error::{Error, Result};
use moodkiosk::mood::{Mood, Prediction};
use moodkiosk::photo::{self, PhotoLimits};

/// `moodkiosk eval` options.
#[derive(clap::Args)]
pub struct Args {
    /// CSV of `path,label[,group]` written by `training/run.sh manifest` (FER2013 test set).
    #[arg(long, conflicts_with = "data", required_unless_present = "data")]
    manifest: Option<PathBuf>,
    /// A folder with happy/ and not_happy/ (or the seven emotion folders), optionally
    /// under split folders (see --split).
    #[arg(long)]
    data: Option<PathBuf>,
    /// Split folder under --data to score, when it has one.
    #[arg(long, default_value = "PrivateTest")]
    split: String,
    /// Classifier model (.onnx); default: the builtin model.
    #[arg(long)]
    model: Option<PathBuf>,
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
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..))]
    threads: Option<u32>,
    /// Score only the first N selected images (quick checks).
    #[arg(long)]
    limit: Option<usize>,
    /// Score each face as a photo: the views the model's metadata names (`moodkiosk.photo_views`;
    /// 2: averaged with its mirror image), as uploads and `classify` do. Default: one run per
    /// face, as camera frames.
    #[arg(long)]
    photo: bool,
}

impl Args {
    fn selection(&self) -> Result<Selection> {
        let mut sel = match (&self.manifest, &self.data) {
            (Some(m), _) => from_manifest(m)?,
            (None, Some(d)) => select_folder(d, &self.split)?,
            (None, None) => {
                return Err(Error::Data {
                    path: PathBuf::new(),
                    msg: "give --manifest FILE or --data DIR".into(),
                })
            }
        };
        if let Some(n) = self.limit {
            if n == 0 {
                return Err(Error::Data {
                    path: PathBuf::from("--limit"),
                    msg: "0 leaves nothing to score; give at least 1".into(),
                });
            }
            sel.items.truncate(n);
        }
        Ok(sel)
    }
}

/// Score, print the report (text or JSON), write the per-image CSV.
pub fn run(args: Args) -> anyhow::Result<()> {
    use anyhow::Context;
    use std::io::Write;
    let sel = args.selection()?;
    let threads = args
        .threads
        .map(|t| t as usize)
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    let model = args
        .model
        .clone()
        .map(ModelRef::File)
        .unwrap_or(ModelRef::Builtin);
    let classifier = Classifier::load(&model)?;
    let (mut report, probs) = evaluate(&classifier, &sel, threads, args.photo);
    if let Some(p) = &args.agree_with {
        let other = Classifier::load(&ModelRef::File(p.clone()))?;
        let other_probs = predict(&other, &sel, threads, args.photo);
        let name = other.name().display().to_string();
        report.agreement = Some(agreement(&name, &sel, &probs, &other_probs));
    }
    let source = args.manifest.as_ref().or(args.data.as_ref());
    report.data = source.map(|p| p.display().to_string()).unwrap_or_default();
    if let Some(p) = &args.per_image {
        let mut f = std::fs::File::create(p).with_context(|| format!("writing {}", p.display()))?;
        writeln!(f, "id,label,p_happy")?;
        for (it, pr) in sel.items.iter().zip(&probs) {
            writeln!(f, "{},{},{}", it.id, it.happy as u8, pr)?;
        }
    }
    match args.json {
        true => println!("{}", serde_json::to_string(&report)?),
        false => print!("{}", report.to_text()),
    }
    Ok(())
}

/// One image to score.
#[derive(Debug, Clone)]
pub struct Item {
    pub id: String,
    pub path: PathBuf,
    pub happy: bool,
}

/// The images to score.
#[derive(Debug, Clone)]
pub struct Selection {
    pub items: Vec<Item>,
}

/// Per-class scores.
#[derive(Debug, Clone, Serialize)]
pub struct ClassScores {
    pub precision: f64,
    pub recall: f64,
    pub f1: f64,
    pub support: usize,
}

/// The report `eval` prints.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub model: String,
    /// The manifest or folder scored.
    pub data: String,
    pub n: usize,
    pub accuracy: f64,
    pub balanced_accuracy: f64,
    pub not_happy: ClassScores,
    pub happy: ClassScores,
    /// Rows: true [not_happy, happy]; columns: predicted.
    pub confusion: [[usize; 2]; 2],
    pub unreadable: usize,
    /// Classifier runs per face: 1, or the model's photo views (`eval --photo`).
    pub views: usize,
    pub seconds: f64,
    /// Label agreement with a second model (`eval --agree-with`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub agreement: Option<Agreement>,
}

/// The images a manifest lists: CSV with `path` (relative to the manifest's folder, or
/// absolute) and `label` (`happy` or `not_happy`); other columns (`group`) are ignored here.
pub fn from_manifest(manifest: &Path) -> Result<Selection> {
    let bad = |msg: String| Error::Data {
        path: manifest.to_path_buf(),
        msg,
    };
    let base = manifest.parent().unwrap_or(Path::new(""));
    let mut rdr = csv::Reader::from_path(manifest).map_err(|e| bad(e.to_string()))?;
    let headers = rdr.headers().map_err(|e| bad(e.to_string()))?.clone();
    let col = |name: &str| {
        headers
            .iter()
            .position(|h| h == name)
            .ok_or_else(|| bad(format!("column {name} missing (path,label[,group])")))
    };
    let (c_path, c_label) = (col("path")?, col("label")?);
    let mut items = Vec::new();
    for (i, rec) in rdr.records().enumerate() {
        let r = rec.map_err(|e| bad(e.to_string()))?;
        let happy = match &r[c_label] {
            "happy" => true,
            "not_happy" => false,
            other => {
                return Err(bad(format!(
                    "row {}: label must be happy or not_happy, got {other:?}",
                    i + 2
                )))
            }
        };
        items.push(Item {
            id: r[c_path].to_string(),
            path: base.join(&r[c_path]),
            happy,
        });
    }
    if items.is_empty() {
        return Err(bad("lists no images".into()));
    }
    Ok(Selection { items })
}

/// The face crops of an image folder: `DIR/happy`, `DIR/not_happy` (or emotion folders), or
/// the same under `DIR/<split>`.
pub fn select_folder(root: &Path, split: &str) -> Result<Selection> {
    if !root.is_dir() {
        return Err(Error::Data {
            path: root.to_path_buf(),
            msg: "not a folder: pass an image folder with happy/ and not_happy/, or --manifest"
                .into(),
        });
    }
    folder(root, split)
}

fn folder(root: &Path, split: &str) -> Result<Selection> {
    let base = if root.join(split).is_dir() {
        root.join(split)
    } else {
        root.to_path_buf()
    };
    let mut items = Vec::new();
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(&base)
        .map_err(|e| Error::Data {
            path: base.clone(),
            msg: e.to_string(),
        })?
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.is_dir())
        .collect();
    dirs.sort();
    for d in dirs {
        let name = d
            .file_name()
            .map(|n| n.to_string_lossy().to_lowercase())
            .unwrap_or_default();
        let happy = match name.as_str() {
            "happy" => true,
            "not_happy" | "nothappy" | "not-happy" | "angry" | "disgust" | "fear" | "sad"
            | "surprise" | "neutral" => false,
            _ => continue,
        };
        let files = moodkiosk::source::list_images_recursive(&d);
        for f in files {
            let id = f.strip_prefix(root).unwrap_or(&f).display().to_string();
            items.push(Item { id, path: f, happy });
        }
    }
    if items.is_empty() {
        return Err(Error::Data {
            path: root.to_path_buf(),
            msg: "no images in happy/ or not_happy/ (or emotion) folders".into(),
        });
    }
    Ok(Selection { items })
}

/// P(happy) of every item, in order, on `threads` threads (NaN when unreadable); `photo`: with
/// the model's photo views.
pub fn predict(classifier: &Classifier, sel: &Selection, threads: usize, photo: bool) -> Vec<f32> {
    let one = |it: &Item| -> f32 {
        let p = std::fs::read(&it.path)
            .map_err(|e| e.to_string())
            .and_then(|b| photo::decode(&b, &PhotoLimits::default()).map_err(|e| e.to_string()))
            .map_err(|msg| Error::Image {
                name: it.id.clone(),
                msg,
            })
            .and_then(|gray| match photo {
                true => classifier.classify_photo(&gray),
                false => classifier.classify(&gray),
            });
        match p {
            Ok(pred) => pred.p_happy,
            Err(e) => {
                log::warn!("{e}");
                f32::NAN
            }
        }
    };
    let chunk = sel.items.len().div_ceil(threads.max(1)).max(1);
    std::thread::scope(|s| {
        let parts: Vec<_> = sel
            .items
            .chunks(chunk)
            .map(|part| {
                let h = s.spawn(move || part.iter().map(one).collect::<Vec<f32>>());
                (h, part.len())
            })
            .collect();
        // A worker that died counts its images as unreadable, keeping the order.
        parts
            .into_iter()
            .flat_map(|(h, n)| h.join().unwrap_or_else(|_| vec![f32::NAN; n]))
            .collect()
    })
}

/// Score every item on `threads` threads; returns the report and per-image P(happy) (NaN when
/// unreadable).
pub fn evaluate(
    classifier: &Classifier,
    sel: &Selection,
    threads: usize,
    photo: bool,
) -> (Report, Vec<f32>) {
    let t0 = Instant::now();
    let probs = predict(classifier, sel, threads, photo);
    let mut report = score(sel, &probs);
    report.model = classifier.name().display().to_string();
    report.views = if photo { classifier.photo_views() } else { 1 };
    report.seconds = t0.elapsed().as_secs_f64();
    (report, probs)
}

/// How often two models give the same label on the same images.
#[derive(Debug, Clone, Serialize)]
pub struct Agreement {
    /// The model compared with.
    pub model: String,
    /// Its accuracy on the same images.
    pub accuracy: f64,
    /// Share of images (readable by both) with the same label.
    pub same_label: f64,
    /// Largest |P(happy) difference|.
    pub max_abs_p_diff: f64,
}

/// Compare per-image P(happy) of a model with those of `other` (same selection).
pub fn agreement(other: &str, sel: &Selection, probs: &[f32], other_probs: &[f32]) -> Agreement {
    let both: Vec<(f32, f32)> = probs
        .iter()
        .zip(other_probs)
        .filter(|(a, b)| !a.is_nan() && !b.is_nan())
        .map(|(a, b)| (*a, *b))
        .collect();
    let same = both
        .iter()
        .filter(|(a, b)| is_happy(*a) == is_happy(*b))
        .count();
    Agreement {
        model: other.to_string(),
        accuracy: score(sel, other_probs).accuracy,
        same_label: if both.is_empty() {
            0.0
        } else {
            same as f64 / both.len() as f64
        },
        max_abs_p_diff: both
            .iter()
            .map(|(a, b)| (a - b).abs() as f64)
            .fold(0.0, f64::max),
    }
}

/// The label the daemon would give this P(happy).
fn is_happy(p_happy: f32) -> bool {
    Prediction::from_p_happy(p_happy).mood == Mood::Happy
}

/// The report of per-image P(happy) (`model`, `data`, ... and `seconds` left for the caller).
pub fn score(sel: &Selection, probs: &[f32]) -> Report {
    let mut cm = [[0usize; 2]; 2];
    let mut unreadable = 0;
    for (it, p) in sel.items.iter().zip(probs) {
        if p.is_nan() {
            unreadable += 1;
        } else {
            cm[it.happy as usize][is_happy(*p) as usize] += 1;
        }
    }
    let n: usize = cm.iter().flatten().sum();
    let class = |c: usize| {
        let tp = cm[c][c] as f64;
        let pred = (cm[0][c] + cm[1][c]) as f64;
        let sup = (cm[c][0] + cm[c][1]) as f64;
        let precision = if pred > 0.0 { tp / pred } else { 0.0 };
        let recall = if sup > 0.0 { tp / sup } else { 0.0 };
        let f1 = if precision + recall > 0.0 {
            2.0 * precision * recall / (precision + recall)
        } else {
            0.0
        };
        ClassScores {
            precision,
            recall,
            f1,
            support: sup as usize,
        }
    };
    let (nh, h) = (class(0), class(1));
    Report {
        model: String::new(),
        data: String::new(),
        n,
        accuracy: if n > 0 {
            (cm[0][0] + cm[1][1]) as f64 / n as f64
        } else {
            0.0
        },
        balanced_accuracy: (nh.recall + h.recall) / 2.0,
        not_happy: nh,
        happy: h,
        confusion: cm,
        unreadable,
        views: 1,
        seconds: 0.0,
        agreement: None,
    }
}

impl Report {
    /// Human-readable table.
    pub fn to_text(&self) -> String {
        let mut s = format!(
            "model {}\ndata {}: {} images, {} classifier run(s) per face\n\n",
            self.model, self.data, self.n, self.views
        );
        s += &format!(
            "accuracy           {:.2}%\nbalanced accuracy  {:.2}%\n\n",
            self.accuracy * 100.0,
            self.balanced_accuracy * 100.0
        );
        s += "class       precision  recall     f1  support\n";
        for (name, c) in [("not_happy", &self.not_happy), ("happy", &self.happy)] {
            s += &format!(
                "{name:<10} {:>10.4} {:>7.4} {:>6.4} {:>8}\n",
                c.precision, c.recall, c.f1, c.support
            );
        }
        s += &format!(
            "\nconfusion (rows true, columns predicted)\n             not_happy  happy\nnot_happy {:>12} {:>6}\nhappy     {:>12} {:>6}\n",
            self.confusion[0][0], self.confusion[0][1], self.confusion[1][0], self.confusion[1][1]
        );
        if self.unreadable > 0 {
            s += &format!("\n{} images could not be read\n", self.unreadable);
        }
        if let Some(a) = &self.agreement {
            s += &format!(
                "\nagreement with {} (accuracy {:.2}%): same label on {:.2}% of images, accuracy difference {:+.2} points, max |P(happy) difference| {:.3}\n",
                a.model,
                a.accuracy * 100.0,
                a.same_label * 100.0,
                (self.accuracy - a.accuracy) * 100.0,
                a.max_abs_p_diff
            );
        }
        s += &format!("\n{:.1} s\n", self.seconds);
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sel(labels: &[bool]) -> Selection {
        Selection {
            items: labels
                .iter()
                .enumerate()
                .map(|(i, &happy)| Item {
                    id: format!("img{i}"),
                    path: PathBuf::from(format!("img{i}.png")),
                    happy,
                })
                .collect(),
        }
    }

    #[test]
    fn manifest_paths_are_relative_to_the_manifest_and_labels_are_checked() {
        let d = tempfile::tempdir().unwrap();
        let m = d.path().join("test.csv");
        std::fs::write(&m, "path,label,group\na/1.png,happy,3\nb.png,not_happy,4\n").unwrap();
        let s = from_manifest(&m).unwrap();
        assert_eq!(s.items.len(), 2);
        assert_eq!(s.items[0].path, d.path().join("a/1.png"));
        assert!(s.items[0].happy && !s.items[1].happy);
        std::fs::write(&m, "path,label\na.png,smiling\n").unwrap();
        let e = from_manifest(&m).unwrap_err().to_string();
        assert!(e.contains("row 2") && e.contains("smiling"), "{e}");
        std::fs::write(&m, "file,label\n").unwrap();
        assert!(from_manifest(&m)
            .unwrap_err()
            .to_string()
            .contains("column path"));
    }

    #[test]
    fn score_counts_the_confusion_and_skips_unreadable_images() {
        let s = sel(&[true, true, false, false, false]);
        let r = score(&s, &[0.9, 0.2, 0.1, 0.7, f32::NAN]);
        assert_eq!(r.confusion, [[1, 1], [1, 1]]);
        assert_eq!((r.n, r.unreadable), (4, 1));
        assert!((r.accuracy - 0.5).abs() < 1e-12);
        assert!((r.happy.precision - 0.5).abs() < 1e-12);
    }

    #[test]
    fn agreement_compares_labels_of_images_both_models_read() {
        let s = sel(&[true, true, false, false]);
        let a = agreement(
            "other.onnx",
            &s,
            &[0.9, 0.6, 0.1, f32::NAN],
            &[0.8, 0.4, 0.3, 0.2],
        );
        assert_eq!(a.model, "other.onnx");
        // Images 0..3 readable by both; image 1 flips (0.6 happy vs 0.4 not).
        assert!((a.same_label - 2.0 / 3.0).abs() < 1e-12);
        assert!((a.max_abs_p_diff - 0.2).abs() < 1e-6);
        // The other model is right on 3 of 4 images.
        assert!((a.accuracy - 0.75).abs() < 1e-12);
    }
}
