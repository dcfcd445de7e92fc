//! Configuration in two steps: [`RawConfig`] is the TOML as written (serde, every key optional
//! with its documented default); [`Config`] is validated, with paths resolved against the config
//! file's folder. Unknown keys and out-of-range values are errors that name the dotted key path
//! and the allowed values. `config/moodkiosk.toml` documents every key.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// The TOML file as written.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(default)]
pub struct RawConfig {
    pub log: RawLog,
    pub source: RawSource,
    pub detector: RawDetector,
    pub classifier: RawClassifier,
    pub steady: RawSteady,
    pub indicator: RawIndicator,
    pub journal: RawJournal,
    pub web: RawWeb,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default)]
pub struct RawLog {
    /// error | warn | info | debug | trace; `RUST_LOG` wins when set.
    pub level: String,
}

impl Default for RawLog {
    fn default() -> Self {
        RawLog {
            level: "info".into(),
        }
    }
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default)]
pub struct RawSource {
    pub kind: String,
    pub device: String,
    pub width: u32,
    pub height: u32,
    pub fps: u32,
    pub format: String,
    pub dequeue_timeout_ms: u64,
    pub retry_interval_ms: u64,
    pub replay: Vec<String>,
    pub replay_fps: f64,
    pub replay_loop: bool,
    pub replay_hold: u32,
    pub replay_gap: u32,
}

impl Default for RawSource {
    fn default() -> Self {
        RawSource {
            kind: "v4l2".into(),
            device: "/dev/video0".into(),
            width: 640,
            height: 480,
            fps: 15,
            format: "auto".into(),
            dequeue_timeout_ms: 1000,
            retry_interval_ms: 1000,
            replay: Vec::new(),
            replay_fps: 5.0,
            replay_loop: false,
            replay_hold: 1,
            replay_gap: 0,
        }
    }
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default)]
pub struct RawDetector {
    pub kind: String,
    pub model: String,
    pub min_face_size: u32,
    pub max_faces: usize,
    pub crop_margin: f32,
    pub interval: u32,
    pub score_threshold: f32,
}

impl Default for RawDetector {
    fn default() -> Self {
        RawDetector {
            kind: "seeta".into(),
            model: String::new(),
            min_face_size: 48,
            max_faces: 4,
            crop_margin: 0.15,
            interval: 1,
            score_threshold: 0.0,
        }
    }
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default)]
pub struct RawClassifier {
    pub model: String,
}

impl Default for RawClassifier {
    fn default() -> Self {
        RawClassifier {
            model: "builtin".into(),
        }
    }
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default)]
pub struct RawSteady {
    pub iou: f32,
    pub window: usize,
    pub agree: usize,
    pub min_confidence: f32,
    pub max_missed: u32,
    pub hold_ms: u64,
}

impl Default for RawSteady {
    fn default() -> Self {
        RawSteady {
            iou: 0.3,
            window: 7,
            agree: 5,
            min_confidence: 0.6,
            max_missed: 5,
            hold_ms: 3000,
        }
    }
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default)]
pub struct RawIndicator {
    pub kind: String,
    pub fallback_to_simulated: bool,
    pub active_low: bool,
    pub happy_pin: u8,
    pub not_happy_pin: u8,
    pub status_pin: u8,
    pub blink_ms: u64,
}

impl Default for RawIndicator {
    fn default() -> Self {
        RawIndicator {
            kind: "rppal".into(),
            fallback_to_simulated: false,
            active_low: false,
            happy_pin: 17,
            not_happy_pin: 27,
            status_pin: 22,
            blink_ms: 500,
        }
    }
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default)]
pub struct RawJournal {
    pub dir: String,
    pub summary_interval_s: u64,
    pub retention_days: u32,
    pub fsync: String,
}

impl Default for RawJournal {
    fn default() -> Self {
        RawJournal {
            dir: "/var/lib/moodkiosk/journal".into(),
            summary_interval_s: 300,
            retention_days: 30,
            fsync: "always".into(),
        }
    }
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default)]
pub struct RawWeb {
    pub enabled: bool,
    pub bind: String,
    pub token: String,
    pub max_upload_mb: u32,
    pub max_megapixels: u32,
    pub max_concurrent: u32,
    pub max_queued: u32,
    pub request_timeout_s: u64,
}

impl Default for RawWeb {
    fn default() -> Self {
        RawWeb {
            enabled: true,
            bind: "127.0.0.1:8080".into(),
            token: String::new(),
            max_upload_mb: 10,
            max_megapixels: 40,
            max_concurrent: 1,
            max_queued: 4,
            request_timeout_s: 30,
        }
    }
}

/// Validated configuration, ready to build the pipeline from.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    pub file: PathBuf,
    pub log_level: log::LevelFilter,
    pub source: SourceConfig,
    pub detector: DetectorConfig,
    pub classifier_model: ModelRef,
    pub steady: SteadyConfig,
    pub indicator: IndicatorConfig,
    pub journal: JournalConfig,
    pub web: WebConfig,
}

/// Where frames come from.
#[derive(Debug, Clone, PartialEq)]
pub enum SourceConfig {
    V4l2 {
        device: PathBuf,
        width: u32,
        height: u32,
        fps: u32,
        format: PixelFormat,
        dequeue_timeout: Duration,
        retry_interval: Duration,
    },
    Replay {
        paths: Vec<PathBuf>,
        fps: f64,
        looped: bool,
        /// Frames each image is shown for.
        hold: u32,
        /// Empty (mid-gray) frames after each image: the visitor has left.
        gap: u32,
        retry_interval: Duration,
    },
}

/// Pixel format asked of a V4L2 camera.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PixelFormat {
    Auto,
    Mjpeg,
    Yuyv,
    Grey,
}

/// Which face detector and how to use it.
#[derive(Debug, Clone, PartialEq)]
pub struct DetectorConfig {
    pub kind: DetectorKind,
    pub min_face_size: u32,
    pub max_faces: usize,
    pub crop_margin: f32,
    pub interval: u32,
    pub score_threshold: f32,
}

/// Face detector backends.
#[derive(Debug, Clone, PartialEq)]
pub enum DetectorKind {
    /// SeetaFace frontal cascade (rustface), model compiled into the binary.
    Seeta,
    /// UltraFace RFB-320 / slim-320 ONNX through tract.
    UltraFace(PathBuf),
}

/// A classifier model: the one compiled into the binary, or a file.
#[derive(Debug, Clone, PartialEq)]
pub enum ModelRef {
    Builtin,
    File(PathBuf),
}

/// Temporal smoothing of per-frame moods.
#[derive(Debug, Clone, PartialEq)]
pub struct SteadyConfig {
    pub iou: f32,
    pub window: usize,
    pub agree: usize,
    pub min_confidence: f32,
    pub max_missed: u32,
    pub hold: Duration,
}

/// LED backend and pins.
#[derive(Debug, Clone, PartialEq)]
pub struct IndicatorConfig {
    pub kind: IndicatorKind,
    pub fallback_to_simulated: bool,
    pub active_low: bool,
    pub happy_pin: u8,
    pub not_happy_pin: u8,
    pub status_pin: u8,
    pub blink: Duration,
}

/// LED backends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IndicatorKind {
    Rppal,
    Simulated,
}

/// Mood journal settings.
#[derive(Debug, Clone, PartialEq)]
pub struct JournalConfig {
    pub dir: PathBuf,
    pub summary_interval: Duration,
    pub retention_days: u32,
    pub fsync: FsyncPolicy,
}

/// The local web page and API.
#[derive(Debug, Clone, PartialEq)]
pub struct WebConfig {
    pub enabled: bool,
    pub bind: std::net::SocketAddr,
    /// Required on every request but `/healthz` when set; always set for a non-loopback bind.
    pub token: Option<String>,
    pub max_upload_bytes: usize,
    pub max_pixels: u64,
    pub max_concurrent: usize,
    pub max_queued: usize,
    pub request_timeout: Duration,
}

/// Shortest access token accepted.
pub const MIN_TOKEN_LEN: usize = 16;

/// When the journal calls fsync.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FsyncPolicy {
    /// After every record.
    Always,
    /// After summary records only (visitor records are flushed, not synced).
    Summary,
    /// Never (the OS writes back).
    Never,
}

impl Config {
    /// Read, parse and validate a config file.
    pub fn load(file: &Path) -> Result<Config> {
        let text = std::fs::read_to_string(file)
            .map_err(|e| Error::config(file, "-", format!("cannot read the file: {e}")))?;
        Config::parse(&text, file)
    }

    /// Parse and validate config text; `file` names it in errors and anchors relative paths.
    pub fn parse(text: &str, file: &Path) -> Result<Config> {
        let de = toml::Deserializer::parse(text).map_err(|e| {
            Error::config(
                file,
                "-",
                format!("not valid TOML: {}", one_line(&e.to_string())),
            )
        })?;
        let mut unknown = Vec::new();
        let raw: RawConfig = serde_ignored::deserialize(de, |path| unknown.push(path.to_string()))
            .map_err(|e| Error::config(file, error_key(&e), one_line(&e.to_string())))?;
        if let Some(key) = unknown.first() {
            return Err(Error::config(file, key.clone(), unknown_key_help(key)));
        }
        let base = file.parent().map(Path::to_path_buf).unwrap_or_default();
        raw.validate(file, &base)
    }

    /// The effective configuration as TOML (every key, defaults filled in).
    pub fn to_toml(raw: &RawConfig) -> String {
        toml::to_string_pretty(raw).unwrap_or_default()
    }
}

fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn error_key(e: &toml::de::Error) -> String {
    // toml names the offending key in its message; keep `-` when it does not.
    let msg = e.message();
    msg.split('`')
        .nth(1)
        .map(str::to_string)
        .unwrap_or_else(|| "-".into())
}

fn unknown_key_help(key: &str) -> String {
    let (section, _) = key.split_once('.').unwrap_or((key, ""));
    let known: &[&str] = match section {
        "log" => &["level"],
        "source" => &[
            "kind",
            "device",
            "width",
            "height",
            "fps",
            "format",
            "dequeue_timeout_ms",
            "retry_interval_ms",
            "replay",
            "replay_fps",
            "replay_loop",
            "replay_hold",
            "replay_gap",
        ],
        "detector" => &[
            "kind",
            "model",
            "min_face_size",
            "max_faces",
            "crop_margin",
            "interval",
            "score_threshold",
        ],
        "classifier" => &["model"],
        "steady" => &[
            "iou",
            "window",
            "agree",
            "min_confidence",
            "max_missed",
            "hold_ms",
        ],
        "indicator" => &[
            "kind",
            "fallback_to_simulated",
            "active_low",
            "happy_pin",
            "not_happy_pin",
            "status_pin",
            "blink_ms",
        ],
        "journal" => &["dir", "summary_interval_s", "retention_days", "fsync"],
        "web" => &[
            "enabled",
            "bind",
            "token",
            "max_upload_mb",
            "max_megapixels",
            "max_concurrent",
            "max_queued",
            "request_timeout_s",
        ],
        _ => &[
            "[log]",
            "[source]",
            "[detector]",
            "[classifier]",
            "[steady]",
            "[indicator]",
            "[journal]",
            "[web]",
        ],
    };
    format!(
        "unknown key; allowed here: {} (see config/moodkiosk.toml)",
        known.join(", ")
    )
}

fn range<T: PartialOrd + std::fmt::Display + Copy>(
    file: &Path,
    key: &str,
    v: T,
    lo: T,
    hi: T,
) -> Result<T> {
    if v < lo || v > hi {
        Err(Error::config(
            file,
            key,
            format!("must be between {lo} and {hi}, got {v}"),
        ))
    } else {
        Ok(v)
    }
}

fn one_of<'a>(file: &Path, key: &str, v: &'a str, allowed: &[&str]) -> Result<&'a str> {
    if allowed.contains(&v) {
        Ok(v)
    } else {
        Err(Error::config(
            file,
            key,
            format!("must be one of {}, got {v:?}", allowed.join(" | ")),
        ))
    }
}

fn resolve(base: &Path, p: &str) -> PathBuf {
    let p = Path::new(p);
    if p.is_absolute() {
        p.to_path_buf()
    } else {
        base.join(p)
    }
}

impl RawConfig {
    /// Validate every value and resolve paths against `base` (the config file's folder).
    pub fn validate(&self, file: &Path, base: &Path) -> Result<Config> {
        let log_level = match one_of(
            file,
            "log.level",
            &self.log.level,
            &["off", "error", "warn", "info", "debug", "trace"],
        )? {
            "off" => log::LevelFilter::Off,
            "error" => log::LevelFilter::Error,
            "warn" => log::LevelFilter::Warn,
            "debug" => log::LevelFilter::Debug,
            "trace" => log::LevelFilter::Trace,
            _ => log::LevelFilter::Info,
        };
        let s = &self.source;
        let source = match one_of(file, "source.kind", &s.kind, &["v4l2", "replay"])? {
            "v4l2" => {
                if s.device.is_empty() {
                    return Err(Error::config(
                        file,
                        "source.device",
                        "must name a device, e.g. /dev/video0",
                    ));
                }
                SourceConfig::V4l2 {
                    device: PathBuf::from(&s.device),
                    width: range(file, "source.width", s.width, 32, 4096)?,
                    height: range(file, "source.height", s.height, 32, 4096)?,
                    fps: range(file, "source.fps", s.fps, 1, 120)?,
                    format: match one_of(
                        file,
                        "source.format",
                        &s.format,
                        &["auto", "mjpeg", "yuyv", "grey"],
                    )? {
                        "mjpeg" => PixelFormat::Mjpeg,
                        "yuyv" => PixelFormat::Yuyv,
                        "grey" => PixelFormat::Grey,
                        _ => PixelFormat::Auto,
                    },
                    dequeue_timeout: Duration::from_millis(range(
                        file,
                        "source.dequeue_timeout_ms",
                        s.dequeue_timeout_ms,
                        100,
                        60_000,
                    )?),
                    retry_interval: Duration::from_millis(range(
                        file,
                        "source.retry_interval_ms",
                        s.retry_interval_ms,
                        100,
                        600_000,
                    )?),
                }
            }
            _ => {
                if s.replay.is_empty() {
                    return Err(Error::config(
                        file,
                        "source.replay",
                        "must list at least one image file or folder when source.kind = \"replay\"",
                    ));
                }
                SourceConfig::Replay {
                    paths: s.replay.iter().map(|p| resolve(base, p)).collect(),
                    fps: range(file, "source.replay_fps", s.replay_fps, 0.1, 240.0)?,
                    looped: s.replay_loop,
                    hold: range(file, "source.replay_hold", s.replay_hold, 1, 10_000)?,
                    gap: range(file, "source.replay_gap", s.replay_gap, 0, 10_000)?,
                    retry_interval: Duration::from_millis(range(
                        file,
                        "source.retry_interval_ms",
                        s.retry_interval_ms,
                        100,
                        600_000,
                    )?),
                }
            }
        };
        let d = &self.detector;
        let kind = match one_of(file, "detector.kind", &d.kind, &["seeta", "ultraface"])? {
            "ultraface" => {
                if d.model.is_empty() {
                    return Err(Error::config(file, "detector.model", "must be the path of an UltraFace .onnx file when detector.kind = \"ultraface\""));
                }
                DetectorKind::UltraFace(resolve(base, &d.model))
            }
            _ => DetectorKind::Seeta,
        };
        let detector = DetectorConfig {
            kind,
            min_face_size: range(file, "detector.min_face_size", d.min_face_size, 20, 4096)?,
            max_faces: range(file, "detector.max_faces", d.max_faces, 1, 64)?,
            crop_margin: range(file, "detector.crop_margin", d.crop_margin, 0.0, 1.0)?,
            interval: range(file, "detector.interval", d.interval, 1, 100)?,
            score_threshold: range(
                file,
                "detector.score_threshold",
                d.score_threshold,
                0.0,
                100.0,
            )?,
        };
        let classifier_model = match self.classifier.model.as_str() {
            "builtin" | "" => ModelRef::Builtin,
            p => ModelRef::File(resolve(base, p)),
        };
        let st = &self.steady;
        let window = range(file, "steady.window", st.window, 1, 100)?;
        let steady = SteadyConfig {
            iou: range(file, "steady.iou", st.iou, 0.05, 0.95)?,
            window,
            agree: range(file, "steady.agree", st.agree, 1, window)?,
            min_confidence: range(file, "steady.min_confidence", st.min_confidence, 0.5, 1.0)?,
            max_missed: range(file, "steady.max_missed", st.max_missed, 0, 1000)?,
            hold: Duration::from_millis(range(file, "steady.hold_ms", st.hold_ms, 0, 600_000)?),
        };
        let i = &self.indicator;
        let pins = [
            ("indicator.happy_pin", i.happy_pin),
            ("indicator.not_happy_pin", i.not_happy_pin),
            ("indicator.status_pin", i.status_pin),
        ];
        for (k, p) in pins {
            range(file, k, p, 0, 27)?;
        }
        if i.happy_pin == i.not_happy_pin
            || i.happy_pin == i.status_pin
            || i.not_happy_pin == i.status_pin
        {
            return Err(Error::config(
                file,
                "indicator.*_pin",
                "the three LEDs need three different BCM pins",
            ));
        }
        let indicator = IndicatorConfig {
            kind: match one_of(file, "indicator.kind", &i.kind, &["rppal", "simulated"])? {
                "simulated" => IndicatorKind::Simulated,
                _ => IndicatorKind::Rppal,
            },
            fallback_to_simulated: i.fallback_to_simulated,
            active_low: i.active_low,
            happy_pin: i.happy_pin,
            not_happy_pin: i.not_happy_pin,
            status_pin: i.status_pin,
            blink: Duration::from_millis(range(
                file,
                "indicator.blink_ms",
                i.blink_ms,
                50,
                10_000,
            )?),
        };
        let j = &self.journal;
        if j.dir.is_empty() {
            return Err(Error::config(file, "journal.dir", "must name a folder"));
        }
        let journal = JournalConfig {
            dir: resolve(base, &j.dir),
            summary_interval: Duration::from_secs(range(
                file,
                "journal.summary_interval_s",
                j.summary_interval_s,
                1,
                86_400,
            )?),
            retention_days: range(file, "journal.retention_days", j.retention_days, 1, 3650)?,
            fsync: match one_of(
                file,
                "journal.fsync",
                &j.fsync,
                &["always", "summary", "never"],
            )? {
                "summary" => FsyncPolicy::Summary,
                "never" => FsyncPolicy::Never,
                _ => FsyncPolicy::Always,
            },
        };
        Ok(Config {
            file: file.to_path_buf(),
            log_level,
            source,
            detector,
            classifier_model,
            steady,
            indicator,
            journal,
            web: self.web.validate(file)?,
        })
    }
}

impl RawWeb {
    fn validate(&self, file: &Path) -> Result<WebConfig> {
        let bind: std::net::SocketAddr = self.bind.parse().map_err(|_| {
            Error::config(
                file,
                "web.bind",
                format!(
                    "must be an IP address and port such as \"127.0.0.1:8080\", got {:?}",
                    self.bind
                ),
            )
        })?;
        let token = match self.token.trim() {
            "" => None,
            t if t.len() < MIN_TOKEN_LEN || t.chars().any(|c| !c.is_ascii_graphic()) => {
                return Err(Error::config(
                    file,
                    "web.token",
                    format!(
                        "must be at least {MIN_TOKEN_LEN} printable ASCII characters without spaces; make one with `openssl rand -hex 16`"
                    ),
                ))
            }
            t => Some(t.to_string()),
        };
        if self.enabled && !bind.ip().is_loopback() && token.is_none() {
            return Err(Error::config(
                file,
                "web.token",
                format!(
                    "required because web.bind {bind} is reachable from other machines; set a random token (`openssl rand -hex 16`) or bind to 127.0.0.1"
                ),
            ));
        }
        Ok(WebConfig {
            enabled: self.enabled,
            bind,
            token,
            max_upload_bytes: range(file, "web.max_upload_mb", self.max_upload_mb, 1, 200)?
                as usize
                * 1024
                * 1024,
            max_pixels: range(file, "web.max_megapixels", self.max_megapixels, 1, 400)? as u64
                * 1_000_000,
            max_concurrent: range(file, "web.max_concurrent", self.max_concurrent, 1, 16)? as usize,
            max_queued: range(file, "web.max_queued", self.max_queued, 0, 256)? as usize,
            request_timeout: Duration::from_secs(range(
                file,
                "web.request_timeout_s",
                self.request_timeout_s,
                1,
                3600,
            )?),
        })
    }
}

/// Read a config file into its raw form (for `check-config`, which prints the effective TOML).
pub fn load_raw(file: &Path) -> Result<RawConfig> {
    let text = std::fs::read_to_string(file)
        .map_err(|e| Error::config(file, "-", format!("cannot read the file: {e}")))?;
    toml::from_str(&text).map_err(|e| Error::config(file, error_key(&e), one_line(&e.to_string())))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(t: &str) -> Result<Config> {
        Config::parse(t, Path::new("/etc/moodkiosk/moodkiosk.toml"))
    }

    #[test]
    fn empty_file_gives_documented_defaults() {
        let c = parse("").unwrap();
        assert_eq!(c.detector.min_face_size, 48);
        assert_eq!(c.classifier_model, ModelRef::Builtin);
        assert!(matches!(c.source, SourceConfig::V4l2 { fps: 15, .. }));
        assert_eq!(c.journal.dir, PathBuf::from("/var/lib/moodkiosk/journal"));
    }

    #[test]
    fn unknown_key_names_its_path() {
        let e = parse("[detector]\nmin_face_sise = 40\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("detector.min_face_sise"), "{e}");
        assert!(e.contains("min_face_size"), "{e}");
    }

    #[test]
    fn out_of_range_names_key_and_range() {
        let e = parse("[steady]\nwindow = 5\nagree = 9\n")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("steady.agree") && e.contains("between 1 and 5"),
            "{e}"
        );
    }

    #[test]
    fn wrong_type_names_key() {
        let e = parse("[source]\nfps = \"fast\"\n").unwrap_err().to_string();
        assert!(e.contains("fps"), "{e}");
    }

    #[test]
    fn relative_paths_resolve_against_config_folder() {
        let c =
            parse("[source]\nkind = \"replay\"\nreplay = [\"frames\"]\n[journal]\ndir = \"j\"\n")
                .unwrap();
        assert_eq!(c.journal.dir, PathBuf::from("/etc/moodkiosk/j"));
        match c.source {
            SourceConfig::Replay { paths, .. } => {
                assert_eq!(paths, vec![PathBuf::from("/etc/moodkiosk/frames")])
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn enum_values_are_checked() {
        let e = parse("[indicator]\nkind = \"leds\"\n")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("indicator.kind") && e.contains("rppal | simulated"),
            "{e}"
        );
    }

    #[test]
    fn web_needs_a_token_off_loopback() {
        let c = parse("").unwrap();
        assert_eq!(c.web.bind.to_string(), "127.0.0.1:8080");
        assert_eq!(c.web.token, None);
        let e = parse("[web]\nbind = \"0.0.0.0:8080\"")
            .unwrap_err()
            .to_string();
        assert!(e.contains("web.token") && e.contains("openssl rand"), "{e}");
        let e = parse("[web]\ntoken = \"short\"").unwrap_err().to_string();
        assert!(e.contains("web.token") && e.contains("16"), "{e}");
        let e = parse("[web]\nbind = \"localhost\"")
            .unwrap_err()
            .to_string();
        assert!(e.contains("web.bind"), "{e}");
        let c = parse("[web]\nbind = \"0.0.0.0:9000\"\ntoken = \"0123456789abcdef\"").unwrap();
        assert_eq!(c.web.token.as_deref(), Some("0123456789abcdef"));
        assert!(parse("[web]\nenabled = false\nbind = \"0.0.0.0:9000\"").is_ok());
    }

    #[test]
    fn duplicate_pins_rejected() {
        assert!(parse("[indicator]\nhappy_pin = 22\n").is_err());
    }
}
