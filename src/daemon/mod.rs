//! The daemon: builds the pipeline from a config, tells systemd it is ready, then runs the frame
//! loop until SIGTERM/SIGINT (or the end of a non-looping replay). Each step of the loop:
//! keep-alive, summary and day change, take the newest frame and camera events from the capture
//! thread ([`crate::source::capture`]), analyse the frame, track visitors, journal and LEDs.
//! Reload on SIGHUP is in [`reload`], visitor counting in [`visits`], reporting in [`events`].

mod events;
mod reload;
mod visits;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::classifier::{Classifier, ModelRef, BUILTIN_MODEL};
use crate::config::Config;
use crate::engine::{Analysis, Analyzer, Engine, EngineSlot};
use crate::error::{Error, Result};
use crate::face::FaceBox;
use crate::fleet::Fleet;
use crate::frame::Frame;
use crate::indicator::{Indicator, Status};
use crate::journal::{Journal, Reader, Record};
use crate::motion::MotionGate;
use crate::mqtt::Publisher;
use crate::notify::Notifier;
use crate::preview::Preview;
use crate::source::capture::{CameraEvent, Capture};
use crate::source::SourceKind;
use crate::telemetry::{Telemetry, STALL};
use crate::tracker::Tracker;
use crate::web::{Shared, WebServer};

use events::Events;
use visits::Visits;

/// Signals the loop reacts to.
#[derive(Clone, Default)]
pub struct Signals {
    pub stop: Arc<AtomicBool>,
    pub reload: Arc<AtomicBool>,
}

impl Signals {
    /// SIGTERM / SIGINT set `stop`, SIGHUP sets `reload`.
    pub fn install() -> Result<Signals> {
        let s = Signals::default();
        let register = |sig, flag: &Arc<AtomicBool>| {
            signal_hook::flag::register(sig, flag.clone())
                .map(|_| ())
                .map_err(|e| Error::io("installing signal handlers", e))
        };
        register(signal_hook::consts::SIGTERM, &s.stop)?;
        register(signal_hook::consts::SIGINT, &s.stop)?;
        register(signal_hook::consts::SIGHUP, &s.reload)?;
        Ok(s)
    }
}

/// Everything built from a config (the camera is started by the loop: it reports there).
pub struct Pipeline {
    pub cfg: Config,
    pub analyzer: Analyzer,
    pub indicator: Indicator,
    pub journal: Journal,
}

/// The classifier named by the config, logged by its file.
pub fn load_classifier(model: &ModelRef) -> Result<Classifier> {
    let c = Classifier::load(model)?;
    match model {
        ModelRef::Builtin => log::info!("classifier builtin ({BUILTIN_MODEL}) loaded"),
        ModelRef::File(_) => log::info!("classifier {} loaded", c.name().display()),
    }
    Ok(c)
}

impl Pipeline {
    /// Load the models, claim the LEDs, open the journal; a replay folder must exist.
    pub fn build(cfg: Config) -> Result<Pipeline> {
        if cfg.source.kind == SourceKind::Replay {
            check_replay_paths(&cfg)?;
        }
        let engine = Arc::new(Engine {
            classifier: load_classifier(&cfg.classifier.model)?,
            detector: cfg.detector.clone(),
        });
        let analyzer = Analyzer::new(engine)?;
        let indicator = Indicator::open_or_degrade(&cfg.indicator);
        log::info!("LEDs: {} backend", indicator.backend());
        let mut journal = Journal::open(&cfg.journal)?;
        journal.set_delivery(cfg.mqtt.enabled);
        log::info!("journal in {}", journal.dir().display());
        Ok(Pipeline {
            cfg,
            analyzer,
            indicator,
            journal,
        })
    }
}

/// Replay paths are checked at start (a typo would otherwise look like a camera fault forever).
fn check_replay_paths(cfg: &Config) -> Result<()> {
    match cfg.source.replay.iter().find(|p| !p.exists()) {
        Some(p) => Err(Error::config(
            &cfg.file,
            "source.replay",
            format!("{} not found", p.display()),
        )),
        None => Ok(()),
    }
}

/// Run until SIGTERM/SIGINT (or the end of a non-looping replay). Fails only at start-up.
pub fn run(cfg: Config, signals: Signals) -> Result<()> {
    let p = Pipeline::build(cfg)?;
    let notifier = Notifier::from_env();
    let stall = notifier.watchdog_timeout().unwrap_or(STALL);
    let telemetry = Arc::new(Telemetry::new(
        p.analyzer.engine().classifier.name().display().to_string(),
        p.journal.dir().to_path_buf(),
        stall,
    ));
    let slot = EngineSlot::new(p.analyzer.engine().clone());
    let preview = Preview::new(p.cfg.web.enabled && p.cfg.web.preview);
    let fleet = Arc::new(Fleet::new(p.cfg.web.fleet, p.cfg.web.fleet_forget()));
    let reader = Reader::new(p.journal.dir());
    let shared = Shared {
        telemetry: telemetry.clone(),
        engine: slot.clone(),
        preview: preview.clone(),
        fleet: fleet.clone(),
        journal: reader.clone(),
    };
    let _web = match p.cfg.web.enabled {
        true => Some(WebServer::start(&p.cfg.web, shared)?),
        false => None,
    };
    let publisher = Publisher::start(
        &p.cfg.mqtt,
        p.cfg.web.hours(),
        p.journal.dir(),
        telemetry.clone(),
        fleet.clone(),
    );
    let capture = Capture::start(&p.cfg.source, telemetry.clone())?;
    let mut ev = Events::new(telemetry, notifier);
    // Models loaded, journal open, page listening: ready, whatever the camera does.
    ev.ready();
    log::info!("running; source {}", capture.describe());
    let mut lp = Loop::new(p, ev, slot, capture, stall, preview);
    lp.publisher = publisher;
    lp.fleet = fleet;
    lp.reader = reader;
    while !signals.stop.load(Ordering::Relaxed) {
        if signals.reload.swap(false, Ordering::Relaxed) {
            lp.reload();
        }
        if !lp.step() {
            break;
        }
    }
    if signals.stop.load(Ordering::Relaxed) {
        log::info!("stop signal: shutting down");
    }
    lp.finish();
    log::info!("stopped");
    Ok(())
}

/// The running loop's state.
struct Loop {
    p: Pipeline,
    ev: Events,
    slot: Arc<EngineSlot>,
    capture: Capture,
    camera_up: bool,
    /// The capture thread may be silent this long (a frame read) before the loop stops feeding
    /// the watchdog.
    capture_patience: Duration,
    stall: Duration,
    visits: Visits,
    tracker: Tracker,
    frame_no: u64,
    last_faces: Vec<FaceBox>,
    motion: MotionGate,
    /// The last analysis, which the motion gate reuses for unchanged frames.
    last: Option<Analysis>,
    preview: Arc<Preview>,
    /// Publishes the journal to the MQTT broker (`[mqtt]` on).
    publisher: Option<Publisher>,
    fleet: Arc<Fleet>,
    /// The page's view of the journal folder (moved by a reload that changes `journal.dir`).
    reader: Reader,
    trim: crate::memory::Trim,
}

impl Loop {
    fn new(
        p: Pipeline,
        ev: Events,
        slot: Arc<EngineSlot>,
        capture: Capture,
        stall: Duration,
        preview: Arc<Preview>,
    ) -> Loop {
        Loop {
            preview,
            visits: Visits::new(p.cfg.journal.summary_interval()),
            tracker: Tracker::new(p.cfg.steady.clone()),
            capture_patience: stall.max(p.cfg.source.dequeue_timeout() + Duration::from_secs(2)),
            stall,
            frame_no: 0,
            last_faces: Vec::new(),
            motion: MotionGate::new(),
            last: None,
            publisher: None,
            fleet: Arc::new(Fleet::new(false, Duration::ZERO)),
            reader: Reader::new(p.journal.dir()),
            camera_up: false,
            trim: crate::memory::Trim::new(crate::memory::TRIM_EVERY, Instant::now()),
            capture,
            p,
            ev,
            slot,
        }
    }

    /// One step; false when a non-looping replay has ended.
    fn step(&mut self) -> bool {
        // A capture thread stuck in a read stops the keep-alives: systemd restarts us.
        if self.capture.silent_for() < self.capture_patience {
            self.ev.tick();
        }
        self.bookkeeping();
        let blink = self.p.cfg.indicator.blink() / 2;
        let taken = self.capture.take(blink.min(Duration::from_millis(100)));
        let mut ended = false;
        for e in taken.events {
            match e {
                CameraEvent::Up { source, reconnect } => {
                    self.camera_up = true;
                    self.ev.camera_up(source, reconnect);
                }
                CameraEvent::Down { why, lost } => {
                    self.camera_up = false;
                    self.last_faces.clear();
                    self.forget_scene();
                    let retry = self.p.cfg.source.retry_interval();
                    self.ev.camera_down(&why, lost, retry.as_millis());
                }
                CameraEvent::End => ended = true,
            }
        }
        match taken.frame {
            // A frame taken with the news that the camera is lost is stale: the fault shows at
            // once instead of after one more (on a slow board, long) analysis.
            Some(frame) if self.camera_up => self.process(frame),
            _ if !self.camera_up => self.show_fault(),
            _ => {}
        }
        if ended {
            log::info!("replay finished");
        }
        !ended
    }
    /// Summary records when due, the day's count at midnight, and the heap's free pages given
    /// back.
    fn bookkeeping(&mut self) {
        let now = Instant::now();
        self.trim.tick(now);
        if let Some(rec) = self.visits.summary_due(now) {
            self.record(rec);
        }
        if self.visits.roll_day() {
            self.ev.visitors(0, 0);
        }
    }

    /// Camera down: blink the status LED.
    fn show_fault(&mut self) {
        self.p.indicator.show_status(Status::Fault);
        self.p.indicator.refresh(Instant::now());
        self.ev
            .leds(self.p.indicator.state(), self.p.indicator.fault());
    }

    /// The next frame is analysed whatever it shows (a new camera, detector or model).
    fn forget_scene(&mut self) {
        self.motion.reset();
        self.last = None;
    }

    /// One frame: faces and moods, the tracker's decisions, journal, LEDs.
    fn process(&mut self, frame: Frame) {
        self.visits.frame_at(frame.at);
        self.frame_no += 1;
        let every = self.p.cfg.detector.interval as u64;
        let detect = every == 1 || self.frame_no % every == 1;
        let same = self.p.cfg.detector.motion_gate && !self.motion.changed(&frame.image);
        let analysis = match &self.last {
            Some(last) if same => Ok(last.clone()),
            _ if detect => self.p.analyzer.analyze(&frame.image),
            _ => self
                .p
                .analyzer
                .classify_boxes(&frame.image, &self.last_faces),
        };
        let moods = match analysis {
            Ok(a) => {
                match same && self.last.is_some() {
                    true => self.ev.unchanged(),
                    false => self.ev.frame(&a, detect),
                }
                self.last = Some(a.clone());
                if self.preview.due(Instant::now()) {
                    let st = self.ev.telemetry().snapshot();
                    let min = self.p.cfg.detector.min_face_size;
                    let fps = (st.capture_fps, st.processed_fps);
                    self.preview.publish(&frame.image, &a, min, fps);
                }
                a.faces
            }
            Err(e) => {
                log::error!("frame {}: {}", frame.seq, crate::error::chain(&e));
                self.last = None;
                Vec::new()
            }
        };
        self.last_faces = moods.iter().map(|m| m.bbox).collect();
        let faces: Vec<_> = moods.iter().map(|m| (m.bbox, m.prediction)).collect();
        let upd = self.tracker.update(&faces, frame.at);
        if upd.undecided_left > 0 {
            self.visits.undecided(upd.undecided_left);
            self.ev
                .visitors(upd.undecided_left, self.visits.visitors_today());
        }
        for d in upd.decisions {
            let rec = self.visits.decided(&d);
            self.record(rec);
            self.ev.decision(&d, self.visits.visitors_today());
        }
        self.p.indicator.show_status(match self.preview.watched() {
            true => Status::Watched,
            false => Status::Ok,
        });
        self.p.indicator.show_mood(self.tracker.shown());
        self.p.indicator.refresh(Instant::now());
        self.ev
            .leds(self.p.indicator.state(), self.p.indicator.fault());
    }

    /// SIGHUP: apply the file again; on any error the running pipeline stays as it was.
    fn reload(&mut self) {
        let file = self.p.cfg.file.clone();
        match reload::apply(&file, &mut self.p) {
            Ok(changed) => {
                if changed.source {
                    // The old source is released before the new one opens (a device is held once).
                    self.capture
                        .stop(self.p.cfg.source.dequeue_timeout() + Duration::from_secs(3));
                    match Capture::start(&self.p.cfg.source, self.ev.telemetry().clone()) {
                        Ok(c) => self.capture = c,
                        Err(e) => log::error!("camera: {}", crate::error::chain(&e)),
                    }
                    self.camera_up = false;
                    self.capture_patience = self
                        .stall
                        .max(self.p.cfg.source.dequeue_timeout() + Duration::from_secs(2));
                }
                self.tracker.set_config(self.p.cfg.steady.clone());
                self.forget_scene();
                let web = &self.p.cfg.web;
                self.preview.set_enabled(web.enabled && web.preview);
                self.visits.set_every(self.p.cfg.journal.summary_interval());
                if changed.engine {
                    self.slot.publish(self.p.analyzer.engine().clone());
                }
                self.restart_publisher();
                self.reader.set_dir(self.p.journal.dir());
                let model = self.p.analyzer.engine().classifier.name();
                self.ev
                    .reloaded(model.display().to_string(), self.p.journal.dir().into());
                log::info!("config reloaded from {}", file.display());
            }
            Err(e) => log::error!(
                "config reload failed, keeping the running config: {}",
                crate::error::chain(&e)
            ),
        }
    }

    /// A reload that changed `[mqtt]` (or the journal folder) starts a new publisher.
    fn restart_publisher(&mut self) {
        let (mqtt, dir) = (&self.p.cfg.mqtt, self.p.journal.dir());
        if let Some(p) = &self.publisher {
            if p.runs_with(mqtt, dir) {
                return;
            }
        } else if !mqtt.enabled {
            return;
        }
        if let Some(old) = self.publisher.take() {
            old.stop();
        }
        let hours = self.p.cfg.web.hours();
        let t = self.ev.telemetry().clone();
        self.publisher = Publisher::start(mqtt, hours, dir, t, self.fleet.clone());
    }

    /// A record to the outputs, in this order: the journal writes it (and numbers a visitor),
    /// the telemetry counts its backlog, the MQTT publisher takes it live. The publisher is fed
    /// through a channel, never a call that could wait on the network: the frame loop keeps its
    /// rate whatever the broker does, and the journal stays the record of truth that the
    /// publisher catches up from after an outage.
    fn record(&mut self, rec: Record) {
        let rec = self.p.journal.write(rec);
        self.ev.journal(&self.p.journal);
        if let Some(p) = &self.publisher {
            p.record(&rec);
        }
    }

    /// Stop: the last summary, journal synced, camera released, LEDs off, `offline` published.
    fn finish(mut self) {
        self.ev.stopping();
        let rec = self.visits.summary();
        self.record(rec);
        self.p.journal.close();
        if let Some(p) = self.publisher.take() {
            p.stop();
        }
        self.capture.stop(Duration::from_secs(2));
        self.p.indicator.show_mood(None);
        self.p.indicator.all_off();
    }
}
