//! Where the frame loop reports what happens: each event goes to the log (once per change),
//! the telemetry (status page, /metrics) and systemd (STATUS=, READY=, WATCHDOG=) from one
//! method here, so the loop itself only says what happened.

use std::sync::Arc;

use crate::engine::Analysis;
use crate::indicator::LedState;
use crate::journal::Journal;
use crate::notify::Notifier;
use crate::telemetry::Telemetry;
use crate::tracker::Decision;

/// The daemon's outward voice.
pub struct Events {
    telemetry: Arc<Telemetry>,
    notifier: Notifier,
    /// `camera up` or `camera down: why`, for STATUS=.
    camera: String,
    visitors_today: u32,
    ready_sent: bool,
    /// Why the LEDs are unavailable, when they are.
    leds_fault: Option<String>,
}

impl Events {
    pub fn new(telemetry: Arc<Telemetry>, notifier: Notifier) -> Events {
        Events {
            telemetry,
            notifier,
            camera: "camera starting".into(),
            visitors_today: 0,
            ready_sent: false,
            leds_fault: None,
        }
    }

    /// One line for systemd's status: the camera, the LEDs when they are unavailable, and
    /// today's visitors.
    fn line(&self) -> String {
        match &self.leds_fault {
            Some(why) => format!(
                "{}; LEDs unavailable: {why}; visitors today {}",
                self.camera, self.visitors_today
            ),
            None => format!("{}; visitors today {}", self.camera, self.visitors_today),
        }
    }

    fn status(&mut self) {
        let line = self.line();
        self.notifier.status(&line);
    }

    /// The loop is alive (watchdog and /healthz).
    pub fn tick(&mut self) {
        self.notifier.watchdog();
        self.telemetry.tick();
    }

    /// The camera opened; `reconnect` when it had been up before.
    pub fn camera_up(&mut self, source: String, reconnect: bool) {
        log::info!("camera up: {source}");
        self.telemetry.camera_up(source, reconnect);
        self.camera = "camera up".into();
        self.status();
    }

    /// The camera could not be opened (`lost`: it was delivering frames until now).
    pub fn camera_down(&mut self, why: &str, lost: bool, retry_ms: u128) {
        let what = if lost { "camera lost" } else { "camera down" };
        log::warn!("{what}: {why}; retrying every {retry_ms} ms");
        self.telemetry.camera_down(why.to_string());
        self.camera = format!("camera down: {why}");
        self.status();
    }

    /// The pipeline is built (models, journal, web page): READY=1 for systemd, once.
    pub fn ready(&mut self) {
        if !self.ready_sent {
            let line = self.line();
            self.notifier.ready(&line);
            self.ready_sent = true;
        }
    }

    /// A frame went through the pipeline.
    pub fn frame(&mut self, a: &Analysis, detected: bool) {
        self.telemetry.frame(a, detected);
    }

    pub fn unchanged(&mut self) {
        self.telemetry.unchanged();
    }

    pub fn telemetry(&self) -> &Arc<Telemetry> {
        &self.telemetry
    }

    /// A visitor's steady mood (already written to the journal).
    pub fn decision(&mut self, d: &Decision, visitors_today: u32) {
        log::info!(
            "visitor: {} (confidence {:.2}, {} frames, face {} px)",
            d.mood,
            d.confidence,
            d.frames,
            d.face_px
        );
        self.visitors_today = visitors_today;
        self.telemetry
            .decision(d.mood, d.confidence, visitors_today);
        self.status();
    }

    /// Visitors who left undecided, and the day's count (0 after midnight).
    pub fn visitors(&mut self, undecided: u32, visitors_today: u32) {
        self.visitors_today = visitors_today;
        self.telemetry.visitors(undecided, visitors_today);
    }

    /// A record was written: the journal's backlog and losses.
    pub fn journal(&mut self, journal: &Journal) {
        self.telemetry.journal_backlog(journal.backlog());
        self.telemetry.journal_dropped(journal.dropped());
    }

    /// What the LEDs show, and why they are unavailable when they are.
    pub fn leds(&mut self, leds: LedState, fault: Option<&str>) {
        self.telemetry.leds(leds);
        if self.leds_fault.as_deref() != fault {
            self.leds_fault = fault.map(str::to_string);
            self.telemetry.leds_fault(self.leds_fault.clone());
            self.status();
        }
    }

    /// A reload applied: what the status page names.
    pub fn reloaded(&mut self, model: String, journal_dir: std::path::PathBuf) {
        self.telemetry.model(model);
        self.telemetry.journal_dir(journal_dir);
    }

    pub fn stopping(&mut self) {
        self.notifier.stopping();
    }
}
