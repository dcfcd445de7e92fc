//! The daemon: builds the pipeline from a config, then runs the frame loop until SIGTERM/SIGINT
//! (or the end of a non-looping replay). Each step of the loop: keep-alive, summary and day
//! change, camera (open/read, see [`camera`]), analyse the frame, track visitors, journal and
//! LEDs. Reload on SIGHUP is in [`reload`], visitor counting in [`visits`], reporting in
//! [`events`].

mod camera;
mod events;
mod reload;
mod visits;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::classifier::{Classifier, ModelRef, BUILTIN_MODEL};
use crate::config::Config;
use crate::engine::{Analyzer, Engine, EngineSlot};
use crate::error::{Error, Result};
use crate::face::FaceBox;
use crate::frame::Frame;
use crate::indicator::{self, Indicator, Status};
use crate::journal::Journal;
use crate::notify::Notifier;
use crate::source::{self, FrameSource, SourceKind};
use crate::telemetry::{Telemetry, STALL};
use crate::tracker::Tracker;
use crate::web::WebServer;

use camera::{Camera, Poll};
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

/// Everything built from a config.
pub struct Pipeline {
    pub cfg: Config,
    pub analyzer: Analyzer,
    pub source: Box<dyn FrameSource>,
    pub indicator: Indicator,
    pub journal: Journal,
    stop: Arc<AtomicBool>,
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
    pub fn build(cfg: Config, stop: Arc<AtomicBool>) -> Result<Pipeline> {
        if cfg.source.kind == SourceKind::Replay {
            check_replay_paths(&cfg)?;
        }
        let engine = Arc::new(Engine {
            classifier: load_classifier(&cfg.classifier.model)?,
            detector: cfg.detector.clone(),
        });
        let analyzer = Analyzer::new(engine)?;
        let indicator = Indicator::new(indicator::open(&cfg.indicator)?, cfg.indicator.blink());
        log::info!("LEDs: {} backend", indicator.backend());
        let journal = Journal::open(&cfg.journal)?;
        log::info!("journal in {}", journal.dir().display());
        let source = source::build(&cfg.source, stop.clone());
        Ok(Pipeline {
            cfg,
            analyzer,
            source,
            indicator,
            journal,
            stop,
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
    let p = Pipeline::build(cfg, signals.stop.clone())?;
    let notifier = Notifier::from_env();
    let telemetry = Arc::new(Telemetry::new(
        p.analyzer.engine().classifier.name().display().to_string(),
        p.journal.dir().to_path_buf(),
        notifier.watchdog_timeout().unwrap_or(STALL),
    ));
    let slot = EngineSlot::new(p.analyzer.engine().clone());
    let _web = match p.cfg.web.enabled {
        true => Some(WebServer::start(
            &p.cfg.web,
            telemetry.clone(),
            slot.clone(),
        )?),
        false => None,
    };
    log::info!("running; source {}", p.source.describe());
    let mut lp = Loop::new(p, Events::new(telemetry, notifier), slot);
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
    camera: Camera,
    visits: Visits,
    tracker: Tracker,
    frame_no: u64,
    last_faces: Vec<FaceBox>,
}

impl Loop {
    fn new(p: Pipeline, ev: Events, slot: Arc<EngineSlot>) -> Loop {
        Loop {
            camera: Camera::new(p.cfg.source.retry_interval()),
            visits: Visits::new(p.cfg.journal.summary_interval()),
            tracker: Tracker::new(p.cfg.steady.clone()),
            frame_no: 0,
            last_faces: Vec::new(),
            p,
            ev,
            slot,
        }
    }

    /// One step; false when a non-looping replay has ended.
    fn step(&mut self) -> bool {
        self.ev.tick();
        self.bookkeeping();
        match self.camera.poll(self.p.source.as_mut(), &mut self.ev) {
            Poll::Frame(frame) => self.process(frame),
            Poll::Waiting => self.show_fault(),
            Poll::Finished => {
                log::info!("replay finished");
                return false;
            }
        }
        true
    }

    /// Summary records when due, and the day's count at midnight.
    fn bookkeeping(&mut self) {
        if let Some(rec) = self.visits.summary_due(Instant::now()) {
            self.p.journal.write(&rec);
            self.ev.journal_backlog(self.p.journal.backlog());
        }
        if self.visits.roll_day() {
            self.ev.visitors(0, 0);
        }
    }

    /// Camera down: blink the status LED and wait a little.
    fn show_fault(&mut self) {
        self.last_faces.clear();
        self.p.indicator.show_status(Status::Fault);
        self.p.indicator.refresh(Instant::now());
        self.ev.leds(self.p.indicator.state());
        if !self.camera.is_up() && !self.p.stop.load(Ordering::Relaxed) {
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// One frame: faces and moods, the tracker's decisions, journal, LEDs.
    fn process(&mut self, frame: Frame) {
        self.visits.frame_at(frame.at);
        self.frame_no += 1;
        let every = self.p.cfg.detector.interval as u64;
        let detect = every == 1 || self.frame_no % every == 1;
        let analysis = if detect {
            self.p.analyzer.analyze(&frame.image)
        } else {
            self.p
                .analyzer
                .classify_boxes(&frame.image, &self.last_faces)
        };
        let moods = match analysis {
            Ok(a) => {
                self.ev.frame(&a, detect);
                a.faces
            }
            Err(e) => {
                log::error!("frame {}: {e}", frame.seq);
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
            self.p.journal.write(&rec);
            self.ev
                .decision(&d, self.visits.visitors_today(), self.p.journal.backlog());
        }
        self.p.indicator.show_status(Status::Ok);
        self.p.indicator.show_mood(self.tracker.shown());
        self.p.indicator.refresh(Instant::now());
        self.ev.leds(self.p.indicator.state());
    }

    /// SIGHUP: apply the file again; on any error the running pipeline stays as it was.
    fn reload(&mut self) {
        let file = self.p.cfg.file.clone();
        match reload::apply(&file, &mut self.p) {
            Ok(changed) => {
                self.tracker.set_config(self.p.cfg.steady.clone());
                self.visits.set_every(self.p.cfg.journal.summary_interval());
                if changed.engine {
                    self.slot.publish(self.p.analyzer.engine().clone());
                }
                if changed.source {
                    self.camera.reopen(self.p.cfg.source.retry_interval());
                }
                let model = self.p.analyzer.engine().classifier.name();
                self.ev
                    .reloaded(model.display().to_string(), self.p.journal.dir().into());
                log::info!("config reloaded from {}", file.display());
            }
            Err(e) => log::error!("config reload failed, keeping the running config: {e}"),
        }
    }

    /// Stop: the last summary, journal synced, camera released, LEDs off.
    fn finish(mut self) {
        self.ev.stopping();
        let rec = self.visits.summary();
        self.p.journal.write(&rec);
        self.p.journal.close();
        self.p.source.close();
        self.p.indicator.show_mood(None);
        self.p.indicator.all_off();
    }
}
