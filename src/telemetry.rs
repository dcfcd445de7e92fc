//! What the running daemon tells the outside: camera and LED state, the last decision, counters
//! and latency histograms. The frame loop writes it; the web page, `/api/status`, `/healthz` and
//! `/metrics` (Prometheus / OpenMetrics text, by the official `prometheus-client` crate) read it.
//! Moods, counts and times only.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use chrono::Local;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;
use serde::Serialize;

use crate::engine::Analysis;
use crate::frame::Dropped;
use crate::indicator::LedState;
use crate::journal::rfc3339;
use crate::mood::Mood;

/// The frame loop counts as stalled after this long without a tick, unless systemd's watchdog
/// timeout says otherwise (the unit's `WatchdogSec=30`).
pub const STALL: Duration = Duration::from_secs(30);

/// Where the camera is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CameraStatus {
    /// Not opened yet.
    Starting,
    /// Delivering frames.
    Up,
    /// Cannot be opened or read; retried.
    Down,
}

impl CameraStatus {
    /// `starting`, `up` or `down` (the API's and MQTT's word).
    pub fn as_str(self) -> &'static str {
        match self {
            CameraStatus::Starting => "starting",
            CameraStatus::Up => "up",
            CameraStatus::Down => "down",
        }
    }
}

/// The MQTT publisher's link to its broker.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LinkState {
    /// `[mqtt]` is off (the fleet page's word; `/api/status` then has no `mqtt`).
    Off,
    Connecting,
    Connected,
    /// Unreachable or lost; retried with backoff.
    Down,
    /// The broker refused the login.
    Refused,
}

impl LinkState {
    pub fn as_str(self) -> &'static str {
        match self {
            LinkState::Off => "off",
            LinkState::Connecting => "connecting",
            LinkState::Connected => "connected",
            LinkState::Down => "down",
            LinkState::Refused => "refused",
        }
    }
}

/// What became of a photo posted to `/api/classify` (the `outcome` label of
/// `moodkiosk_uploads_total`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UploadOutcome {
    Classified,
    /// All workers busy and the queue full.
    Busy,
    /// Refused: too large, not an image, corrupt.
    Rejected,
}

impl UploadOutcome {
    pub fn as_str(self) -> &'static str {
        match self {
            UploadOutcome::Classified => "classified",
            UploadOutcome::Busy => "busy",
            UploadOutcome::Rejected => "rejected",
        }
    }
}

/// Camera state as shown on the status page.
#[derive(Debug, Clone, Serialize)]
pub struct CameraState {
    pub state: CameraStatus,
    /// The source (when up) or the error (when down).
    pub detail: String,
    /// RFC 3339 time of the last change.
    pub since: String,
}

/// The most recent steady decision.
#[derive(Debug, Clone, Serialize)]
pub struct LastDecision {
    pub time: String,
    pub mood: Mood,
    pub confidence: f32,
}

/// The MQTT publisher's link to its broker (`/api/status`'s `mqtt`; absent when `[mqtt]` is off).
#[derive(Debug, Clone, Serialize)]
pub struct BrokerStatus {
    /// The broker's address (`mqtt://host:port`).
    pub broker: String,
    pub state: LinkState,
    /// The last error, or empty.
    pub detail: String,
    /// RFC 3339 time of the last change.
    pub since: String,
    /// The last visitor `seq` the broker acknowledged.
    pub acked_seq: u64,
    /// Visitor records in the journal the broker has not acknowledged yet.
    pub unacked: u64,
}

/// Everything `/api/status` reports but the counters.
#[derive(Debug, Clone, Serialize)]
pub struct State {
    pub camera: CameraState,
    pub leds: Option<LedState>,
    /// Why the LEDs are unavailable (the GPIO could not be opened; tried again every 30 s).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub leds_fault: Option<String>,
    /// Classifier model (file path or `builtin`).
    pub model: String,
    pub last_decision: Option<LastDecision>,
    pub visitors_today: u32,
    /// Records waiting for disk space in the journal.
    pub journal_backlog: usize,
    /// The journal folder.
    pub journal_dir: std::path::PathBuf,
    /// Frames a second the camera delivers (smoothed).
    pub capture_fps: f64,
    /// Frames a second the pipeline analyses (smoothed).
    pub processed_fps: f64,
    /// Frames dropped since start, by reason.
    pub frames_dropped: std::collections::BTreeMap<&'static str, u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mqtt: Option<BrokerStatus>,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct MoodLabel {
    mood: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RecordLabel {
    r#type: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReasonLabel {
    reason: String,
}

/// A rate from event times, smoothed (exponential moving average of the intervals).
#[derive(Debug, Default)]
struct Rate {
    last: Option<Instant>,
    interval_s: f64,
}

impl Rate {
    fn event(&mut self, now: Instant) -> f64 {
        if let Some(prev) = self.last {
            let dt = now.duration_since(prev).as_secs_f64();
            self.interval_s = match self.interval_s {
                0.0 => dt,
                avg => 0.8 * avg + 0.2 * dt,
            };
        }
        self.last = Some(now);
        if self.interval_s > 0.0 {
            1.0 / self.interval_s
        } else {
            0.0
        }
    }
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OutcomeLabel {
    outcome: String,
}

/// Shared between the frame loop and the web server.
pub struct Telemetry {
    started: Instant,
    started_at: String,
    stall: Duration,
    /// Milliseconds since `started` of the frame loop's last tick.
    tick_ms: AtomicU64,
    state: Mutex<State>,
    registry: Registry,
    frames: Counter,
    unchanged: Counter,
    faces: Counter,
    decisions: Family<MoodLabel, Counter>,
    undecided: Counter,
    inference: Histogram,
    detection: Histogram,
    reconnects: Counter,
    camera_up: Gauge,
    uploads: Family<OutcomeLabel, Counter>,
    journal_backlog: Gauge,
    journal_dropped: Family<RecordLabel, Counter>,
    captured: Counter,
    dropped: Family<ReasonLabel, Counter>,
    capture_fps: Gauge<f64, AtomicU64>,
    processed_fps: Gauge<f64, AtomicU64>,
    capture_rate: Mutex<Rate>,
    process_rate: Mutex<Rate>,
    mqtt_connected: Gauge,
    mqtt_unacked: Gauge,
    mqtt_messages: Counter,
    mqtt_dropped: Counter,
    leds_available: Gauge,
}

fn latency_buckets() -> impl Iterator<Item = f64> {
    [
        0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0,
    ]
    .into_iter()
}

/// A mutex that a panic elsewhere does not poison for us.
fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Telemetry {
    /// `stall`: how long without a frame-loop tick counts as stalled (see [`STALL`]).
    pub fn new(model: String, journal_dir: std::path::PathBuf, stall: Duration) -> Telemetry {
        let mut registry = Registry::default();
        let t = Telemetry {
            started: Instant::now(),
            started_at: rfc3339(Local::now()),
            stall,
            tick_ms: AtomicU64::new(0),
            state: Mutex::new(State {
                camera: CameraState {
                    state: CameraStatus::Starting,
                    detail: "not opened yet".into(),
                    since: rfc3339(Local::now()),
                },
                leds: None,
                leds_fault: None,
                model,
                last_decision: None,
                visitors_today: 0,
                journal_backlog: 0,
                journal_dir,
                capture_fps: 0.0,
                processed_fps: 0.0,
                frames_dropped: Default::default(),
                mqtt: None,
            }),
            frames: Counter::default(),
            unchanged: Counter::default(),
            faces: Counter::default(),
            decisions: Family::default(),
            undecided: Counter::default(),
            inference: Histogram::new(latency_buckets()),
            detection: Histogram::new(latency_buckets()),
            reconnects: Counter::default(),
            camera_up: Gauge::default(),
            uploads: Family::default(),
            journal_backlog: Gauge::default(),
            journal_dropped: Family::default(),
            captured: Counter::default(),
            dropped: Family::default(),
            capture_fps: Gauge::default(),
            processed_fps: Gauge::default(),
            capture_rate: Mutex::default(),
            process_rate: Mutex::default(),
            mqtt_connected: Gauge::default(),
            mqtt_unacked: Gauge::default(),
            mqtt_messages: Counter::default(),
            mqtt_dropped: Counter::default(),
            leds_available: Gauge::default(),
            registry: Registry::default(),
        };
        t.leds_available.set(1);
        // One row per metric: name (after `moodkiosk_`), field, help.
        macro_rules! register {
            ($($name:literal, $field:ident, $help:literal;)*) => {
                $(registry.register(concat!("moodkiosk_", $name), $help, t.$field.clone());)*
            };
        }
        register! {
            "frames", frames, "Frames read from the camera";
            "frames_unchanged", unchanged, "Frames like the last analysed one, whose analysis was reused (motion gate)";
            "faces", faces, "Faces classified in camera frames";
            "decisions", decisions, "Steady visitor decisions, by mood";
            "undecided", undecided, "Visitors who left before a steady mood";
            "inference_seconds", inference, "Classifier latency per face (crop, preprocess, tract)";
            "detection_seconds", detection, "Face detector latency per frame";
            "camera_reconnects", reconnects, "Times the camera came back after a loss";
            "camera_up", camera_up, "1 while the camera delivers frames";
            "uploads", uploads, "Photos posted to /api/classify, by outcome";
            "journal_backlog", journal_backlog, "Journal records waiting for disk space";
            "journal_dropped", journal_dropped, "Journal records dropped because the backlog was full (the disk stayed full), by type";
            "frames_captured", captured, "Good frames the camera delivered";
            "frames_dropped", dropped, "Frames not analysed, by reason (corrupt, truncated, wrong_size, superseded)";
            "capture_fps", capture_fps, "Frames a second the camera delivers (smoothed)";
            "processed_fps", processed_fps, "Frames a second the pipeline analyses (smoothed)";
            "mqtt_connected", mqtt_connected, "1 while the MQTT broker link is up ([mqtt] on)";
            "mqtt_unacked_records", mqtt_unacked, "Journal visitor records the MQTT broker has not acknowledged yet";
            "mqtt_messages", mqtt_messages, "Messages the MQTT broker acknowledged";
            "mqtt_dropped_messages", mqtt_dropped, "Messages received from the broker and dropped: too large or not wanted";
            "leds_available", leds_available, "1 while the LEDs' lines are open, 0 while they could not be opened (retried)";
        }
        Telemetry { registry, ..t }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        // A panic elsewhere must not take the status page down with it.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The frame loop is alive.
    pub fn tick(&self) {
        self.tick_ms
            .store(self.started.elapsed().as_millis() as u64, Ordering::Relaxed);
    }

    /// Time since the frame loop's last tick.
    pub fn since_tick(&self) -> Duration {
        self.started
            .elapsed()
            .saturating_sub(Duration::from_millis(self.tick_ms.load(Ordering::Relaxed)))
    }

    /// No frame-loop tick for the stall time: the loop is stuck (camera read, inference).
    pub fn stalled(&self) -> bool {
        self.since_tick() >= self.stall
    }

    /// Time since start.
    pub fn uptime(&self) -> Duration {
        self.started.elapsed()
    }

    /// RFC 3339 start time.
    pub fn started_at(&self) -> &str {
        &self.started_at
    }

    /// The camera delivers frames; `reconnect` when it had been lost before.
    pub fn camera_up(&self, detail: String, reconnect: bool) {
        if reconnect {
            self.reconnects.inc();
        }
        self.camera_up.set(1);
        self.state().camera = CameraState {
            state: CameraStatus::Up,
            detail,
            since: rfc3339(Local::now()),
        };
    }

    /// The camera is missing or failing.
    pub fn camera_down(&self, why: String) {
        self.camera_up.set(0);
        self.state().camera = CameraState {
            state: CameraStatus::Down,
            detail: why,
            since: rfc3339(Local::now()),
        };
    }

    /// The camera delivered a good frame (capture thread).
    pub fn captured(&self) {
        self.captured.inc();
        let fps = lock(&self.capture_rate).event(Instant::now());
        self.capture_fps.set(fps);
        self.state().capture_fps = (fps * 10.0).round() / 10.0;
    }

    /// A frame was not analysed.
    pub fn dropped(&self, why: Dropped) {
        self.dropped
            .get_or_create(&ReasonLabel {
                reason: why.as_str().into(),
            })
            .inc();
        *self.state().frames_dropped.entry(why.as_str()).or_default() += 1;
    }

    /// One camera frame went through the pipeline.
    pub fn frame(&self, a: &Analysis, detected: bool) {
        self.frames.inc();
        let fps = lock(&self.process_rate).event(Instant::now());
        self.processed_fps.set(fps);
        self.state().processed_fps = (fps * 10.0).round() / 10.0;
        self.faces.inc_by(a.faces.len() as u64);
        if detected {
            self.detection.observe(a.detect_ms / 1000.0);
        }
        for d in &a.per_face {
            self.inference.observe(d.as_secs_f64());
        }
    }

    /// A frame the motion gate passed over (the last analysis stands for it).
    pub fn unchanged(&self) {
        self.frames.inc();
        self.unchanged.inc();
        let fps = lock(&self.process_rate).event(Instant::now());
        self.processed_fps.set(fps);
        self.state().processed_fps = (fps * 10.0).round() / 10.0;
    }

    /// A visitor's steady mood.
    pub fn decision(&self, mood: Mood, confidence: f32, visitors_today: u32) {
        self.decisions
            .get_or_create(&MoodLabel {
                mood: mood.as_str().into(),
            })
            .inc();
        let mut s = self.state();
        s.last_decision = Some(LastDecision {
            time: rfc3339(Local::now()),
            mood,
            confidence,
        });
        s.visitors_today = visitors_today;
    }

    /// Visitors left undecided; the day's visitor count (after midnight it restarts).
    pub fn visitors(&self, undecided: u32, visitors_today: u32) {
        self.undecided.inc_by(undecided as u64);
        self.state().visitors_today = visitors_today;
    }

    /// What the LEDs show now.
    pub fn leds(&self, leds: LedState) {
        self.state().leds = Some(leds);
    }

    /// Why the LEDs are unavailable (`None`: they work).
    pub fn leds_fault(&self, why: Option<String>) {
        self.leds_available.set(i64::from(why.is_none()));
        self.state().leds_fault = why;
    }

    /// The classifier in use (after a reload).
    pub fn model(&self, name: String) {
        self.state().model = name;
    }

    /// The journal folder in use (after a reload).
    pub fn journal_dir(&self, dir: std::path::PathBuf) {
        self.state().journal_dir = dir;
    }

    /// Journal records waiting for disk space.
    /// Totals of journal records dropped so far: (summaries, visitors).
    pub fn journal_dropped(&self, (summaries, visitors): (u64, u64)) {
        for (t, total) in [("summary", summaries), ("visitor", visitors)] {
            let c = self
                .journal_dropped
                .get_or_create(&RecordLabel { r#type: t.into() });
            c.inc_by(total.saturating_sub(c.get()));
        }
    }

    pub fn journal_backlog(&self, n: usize) {
        self.journal_backlog.set(n as i64);
        self.state().journal_backlog = n;
    }

    /// An upload was classified or refused.
    pub fn upload(&self, outcome: UploadOutcome) {
        self.uploads
            .get_or_create(&OutcomeLabel {
                outcome: outcome.as_str().into(),
            })
            .inc();
    }

    /// The MQTT link's state (`None`: `[mqtt]` is off).
    pub fn mqtt(&self, status: Option<BrokerStatus>) {
        let (up, unacked) = match &status {
            Some(s) => ((s.state == LinkState::Connected) as i64, s.unacked as i64),
            None => (0, 0),
        };
        self.mqtt_connected.set(up);
        self.mqtt_unacked.set(unacked);
        self.state().mqtt = status;
    }

    /// The MQTT broker acknowledged a message.
    pub fn mqtt_acked(&self) {
        self.mqtt_messages.inc();
    }

    /// A message from the broker was dropped (too large).
    pub fn mqtt_dropped(&self) {
        self.mqtt_dropped.inc();
    }

    /// A copy of the state.
    pub fn snapshot(&self) -> State {
        self.state().clone()
    }

    /// Frames and faces so far.
    pub fn counts(&self) -> (u64, u64) {
        (self.frames.get(), self.faces.get())
    }

    /// OpenMetrics text (accepted by Prometheus).
    pub fn metrics_text(&self) -> String {
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metrics_count_frames_decisions_and_latency() {
        let t = Telemetry::new("builtin".into(), "/tmp".into(), STALL);
        let a = Analysis {
            width: 640,
            height: 480,
            faces: Vec::new(),
            detect_ms: 12.0,
            classify_ms: 0.0,
            per_face: vec![Duration::from_millis(3)],
            padded: false,
        };
        t.frame(&a, true);
        t.decision(Mood::Happy, 0.9, 1);
        t.camera_down("unplugged".into());
        t.camera_up("/dev/video0".into(), true);
        let m = t.metrics_text();
        assert!(m.contains("moodkiosk_frames_total 1\n"), "{m}");
        assert!(
            m.contains("moodkiosk_decisions_total{mood=\"happy\"} 1\n"),
            "{m}"
        );
        assert!(m.contains("moodkiosk_camera_reconnects_total 1\n"), "{m}");
        assert!(
            m.contains("moodkiosk_inference_seconds_bucket{le=\"0.005\"} 1\n"),
            "{m}"
        );
        assert!(
            m.contains("moodkiosk_inference_seconds_bucket{le=\"0.002\"} 0\n"),
            "{m}"
        );
        assert!(m.ends_with("# EOF\n"));
        let s = t.snapshot();
        assert_eq!(s.camera.state, CameraStatus::Up);
        assert_eq!(s.last_decision.unwrap().mood, Mood::Happy);
    }
}
