//! The daemon's frame loop: source -> faces -> moods -> tracker -> LEDs and journal, with camera
//! recovery, SIGHUP reload, SIGTERM/SIGINT shutdown and systemd notification.

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Local;

use crate::analyze::{analyze, classify_faces};
use crate::classifier::Classifier;
use crate::config::{Config, ModelRef};
use crate::error::Result;
use crate::face::{self, FaceBox, FaceDetector};
use crate::indicator::{self, Indicator, Status};
use crate::journal::{rfc3339, Journal, Record};
use crate::mood::Mood;
use crate::notify::Notifier;
use crate::source::{self, FrameSource};
use crate::telemetry::Telemetry;
use crate::tracker::Tracker;
use crate::web::{Engine, EngineSlot, WebServer};

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
        for sig in [signal_hook::consts::SIGTERM, signal_hook::consts::SIGINT] {
            signal_hook::flag::register(sig, s.stop.clone())
                .map_err(|e| crate::error::Error::io("installing signal handlers", e))?;
        }
        signal_hook::flag::register(signal_hook::consts::SIGHUP, s.reload.clone())
            .map_err(|e| crate::error::Error::io("installing signal handlers", e))?;
        Ok(s)
    }
}

/// Counters for the current summary interval.
#[derive(Debug, Default)]
struct Interval {
    start: Option<chrono::DateTime<Local>>,
    began: Option<Instant>,
    happy: u32,
    not_happy: u32,
    undecided: u32,
    camera_up: Duration,
}

/// Everything built from a config.
struct Pipeline {
    cfg: Config,
    classifier: Classifier,
    detector: Box<dyn FaceDetector>,
    source: Box<dyn FrameSource>,
    retry: Duration,
    indicator: Indicator,
    journal: Journal,
}

impl Pipeline {
    fn build(cfg: Config) -> Result<Pipeline> {
        let classifier = Classifier::load(&cfg.classifier_model)?;
        match cfg.classifier_model {
            ModelRef::Builtin => log::info!(
                "classifier builtin ({}) loaded",
                crate::classifier::BUILTIN_MODEL
            ),
            ModelRef::File(_) => log::info!("classifier {} loaded", classifier.name().display()),
        }
        let detector = face::build(&cfg.detector)?;
        let leds = indicator::open(&cfg.indicator)?;
        let indicator = Indicator::new(leds, cfg.indicator.blink);
        log::info!("LEDs: {} backend", indicator.backend());
        let journal = Journal::open(&cfg.journal)?;
        log::info!("journal in {}", journal.dir().display());
        let (source, retry) = source::build(&cfg.source);
        Ok(Pipeline {
            cfg,
            classifier,
            detector,
            source,
            retry,
            indicator,
            journal,
        })
    }
}

/// Camera state, logged once per change.
#[derive(Debug, Clone, PartialEq)]
enum Camera {
    Down(String),
    Up,
}

/// Run until SIGTERM/SIGINT (or the end of a non-looping replay). Fails only at start-up.
pub fn run(cfg: Config, signals: Signals) -> Result<()> {
    let mut p = Pipeline::build(cfg)?;
    let mut notifier = Notifier::from_env();
    let telemetry = Arc::new(Telemetry::new(
        p.classifier.name().display().to_string(),
        p.journal.dir().to_path_buf(),
        notifier
            .watchdog_timeout()
            .unwrap_or(crate::telemetry::STALL),
    ));
    let engine = EngineSlot::new(Engine {
        detector: p.cfg.detector.clone(),
        classifier: p.classifier.clone(),
    });
    let _web = if p.cfg.web.enabled {
        Some(WebServer::start(
            &p.cfg.web,
            telemetry.clone(),
            engine.clone(),
        )?)
    } else {
        None
    };
    let mut ever_up = false;
    let mut tracker = Tracker::new(p.cfg.steady.clone());
    let mut camera = Camera::Down("not opened yet".into());
    let mut next_retry = Instant::now();
    let mut last_frame: Option<Instant> = None;
    let mut iv = Interval {
        start: Some(Local::now()),
        began: Some(Instant::now()),
        ..Default::default()
    };
    let mut frame_no: u64 = 0;
    let mut last_faces: Vec<FaceBox> = Vec::new();
    let mut visitors_today: u32 = 0;
    let mut today = Local::now().date_naive();
    let mut ready_sent = false;
    log::info!("running; source {}", p.source.describe());

    loop {
        notifier.watchdog();
        telemetry.tick();
        if signals.stop.load(Ordering::Relaxed) {
            log::info!("stop signal: shutting down");
            break;
        }
        if signals.reload.swap(false, Ordering::Relaxed) {
            let web_before = p.cfg.web.clone();
            match reload(&p.cfg.file.clone(), &mut p) {
                Ok(changed) => {
                    tracker.set_config(p.cfg.steady.clone());
                    engine.publish(Engine {
                        detector: p.cfg.detector.clone(),
                        classifier: p.classifier.clone(),
                    });
                    telemetry.model(p.classifier.name().display().to_string());
                    telemetry.journal_dir(p.journal.dir().to_path_buf());
                    if p.cfg.web != web_before {
                        log::warn!("[web] changes take effect after a restart");
                    }
                    if changed {
                        camera = Camera::Down("reopening after reload".into());
                        next_retry = Instant::now();
                    }
                    log::info!("config reloaded from {}", p.cfg.file.display());
                }
                Err(e) => log::error!("config reload failed, keeping the running config: {e}"),
            }
        }
        let now = Instant::now();
        if iv
            .began
            .map(|b| now.duration_since(b) >= p.cfg.journal.summary_interval)
            .unwrap_or(false)
        {
            write_summary(&mut p.journal, &mut iv);
            telemetry.journal_backlog(p.journal.backlog());
        }
        if Local::now().date_naive() != today {
            today = Local::now().date_naive();
            visitors_today = 0;
            telemetry.visitors(0, 0);
        }

        match camera.clone() {
            Camera::Down(why) => {
                p.indicator.show_status(Status::Fault);
                p.indicator.refresh(now);
                telemetry.leds(p.indicator.state());
                if now < next_retry {
                    std::thread::sleep((next_retry - now).min(Duration::from_millis(50)));
                    continue;
                }
                match p.source.open() {
                    Ok(()) => {
                        log::info!("camera up: {}", p.source.describe());
                        telemetry.camera_up(p.source.describe(), ever_up);
                        ever_up = true;
                        camera = Camera::Up;
                        last_frame = None;
                    }
                    Err(e) => {
                        let msg = e.to_string();
                        if msg != why {
                            log::warn!(
                                "camera down: {msg}; retrying every {} ms",
                                p.retry.as_millis()
                            );
                            notifier.status(&format!(
                                "camera down: {msg}; visitors today {visitors_today}"
                            ));
                            telemetry.camera_down(msg.clone());
                        }
                        camera = Camera::Down(msg);
                        next_retry = now + p.retry;
                    }
                }
            }
            Camera::Up => match p.source.next_frame() {
                Ok(Some(frame)) => {
                    let at = frame.at;
                    if let Some(prev) = last_frame {
                        iv.camera_up += at.duration_since(prev).min(Duration::from_secs(5));
                    }
                    last_frame = Some(at);
                    frame_no += 1;
                    let d = &p.cfg.detector;
                    let detect = frame_no % d.interval as u64 == 1 || d.interval == 1;
                    let analysis = if detect {
                        analyze(
                            &frame.image,
                            p.detector.as_mut(),
                            &p.classifier,
                            d.max_faces,
                            d.crop_margin,
                        )
                    } else {
                        classify_faces(&frame.image, &last_faces, &p.classifier, d.crop_margin)
                    };
                    let moods = match analysis {
                        Ok(a) => {
                            telemetry.frame(&a, detect);
                            a.faces
                        }
                        Err(e) => {
                            log::error!("frame {}: {e}", frame.seq);
                            Vec::new()
                        }
                    };
                    last_faces = moods.iter().map(|m| m.bbox).collect();
                    let faces: Vec<_> = moods.iter().map(|m| (m.bbox, m.prediction)).collect();
                    let upd = tracker.update(&faces, at);
                    iv.undecided += upd.undecided_left;
                    if upd.undecided_left > 0 {
                        telemetry.visitors(upd.undecided_left, visitors_today);
                    }
                    for dcs in upd.decisions {
                        match dcs.mood {
                            Mood::Happy => iv.happy += 1,
                            Mood::NotHappy => iv.not_happy += 1,
                        }
                        visitors_today += 1;
                        log::info!(
                            "visitor: {} (confidence {:.2}, {} frames, face {} px)",
                            dcs.mood,
                            dcs.confidence,
                            dcs.frames,
                            dcs.face_px
                        );
                        p.journal.write(&Record::Visitor {
                            time: rfc3339(Local::now()),
                            mood: dcs.mood,
                            confidence: (dcs.confidence * 1000.0).round() / 1000.0,
                            frames: dcs.frames,
                            face_px: dcs.face_px,
                        });
                        notifier.status(&format!("camera up; visitors today {visitors_today}"));
                        telemetry.decision(dcs.mood, dcs.confidence, visitors_today);
                        telemetry.journal_backlog(p.journal.backlog());
                    }
                    p.indicator.show_status(Status::Ok);
                    p.indicator.show_mood(tracker.shown());
                    p.indicator.refresh(Instant::now());
                    telemetry.leds(p.indicator.state());
                    if !ready_sent {
                        notifier.ready(&format!("camera up; visitors today {visitors_today}"));
                        ready_sent = true;
                    }
                }
                Ok(None) => {
                    log::info!("replay finished");
                    break;
                }
                Err(e) => {
                    let msg = e.to_string();
                    log::warn!(
                        "camera lost: {msg}; retrying every {} ms",
                        p.retry.as_millis()
                    );
                    notifier.status(&format!(
                        "camera down: {msg}; visitors today {visitors_today}"
                    ));
                    p.source.close();
                    telemetry.camera_down(msg.clone());
                    camera = Camera::Down(msg);
                    next_retry = Instant::now() + p.retry;
                    last_faces.clear();
                }
            },
        }
    }
    notifier.stopping();
    write_summary(&mut p.journal, &mut iv);
    p.journal.close();
    p.source.close();
    p.indicator.show_mood(None);
    p.indicator.all_off();
    log::info!("stopped");
    Ok(())
}

fn write_summary(journal: &mut Journal, iv: &mut Interval) {
    let now = Local::now();
    journal.write(&Record::Summary {
        time: rfc3339(now),
        start: rfc3339(iv.start.unwrap_or(now)),
        happy: iv.happy,
        not_happy: iv.not_happy,
        visitors: iv.happy + iv.not_happy,
        undecided: iv.undecided,
        camera_up_s: (iv.camera_up.as_secs_f64() * 10.0).round() / 10.0,
    });
    *iv = Interval {
        start: Some(now),
        began: Some(Instant::now()),
        ..Default::default()
    };
}

/// Apply a new config file; on any error the running pipeline stays as it was.
/// Returns whether the source was rebuilt.
fn reload(file: &Path, p: &mut Pipeline) -> Result<bool> {
    let new = Config::load(file)?;
    let classifier = if new.classifier_model != p.cfg.classifier_model {
        Some(Classifier::load(&new.classifier_model)?)
    } else {
        None
    };
    let detector = if new.detector.kind != p.cfg.detector.kind
        || new.detector.min_face_size != p.cfg.detector.min_face_size
        || new.detector.score_threshold != p.cfg.detector.score_threshold
    {
        Some(face::build(&new.detector)?)
    } else {
        None
    };
    let indicator = if new.indicator != p.cfg.indicator {
        Some(Indicator::new(
            indicator::open(&new.indicator)?,
            new.indicator.blink,
        ))
    } else {
        None
    };
    let journal = if new.journal != p.cfg.journal {
        Some(Journal::open(&new.journal)?)
    } else {
        None
    };
    // Everything new was built: now swap.
    if let Some(c) = classifier {
        p.classifier = c;
    }
    if let Some(d) = detector {
        p.detector = d;
    }
    if let Some(i) = indicator {
        p.indicator = i;
    }
    if let Some(j) = journal {
        p.journal = j;
    }
    let source_changed = new.source != p.cfg.source;
    if source_changed {
        p.source.close();
        let (s, r) = source::build(&new.source);
        p.source = s;
        p.retry = r;
    }
    if new.log_level != p.cfg.log_level && std::env::var_os("RUST_LOG").is_none() {
        log::set_max_level(new.log_level);
    }
    p.cfg = new;
    Ok(source_changed)
}
