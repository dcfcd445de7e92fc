//! One capture thread per source. It opens the source, reads frames as fast as the source gives
//! them and keeps the newest in a slot for the pipeline (a live camera's older frames are
//! dropped as `superseded`, never queued behind detection; a replay waits for the pipeline).
//! It owns the camera's up/down state machine: frames that cannot be used are dropped and
//! counted, the camera is lost on a timeout or device error, or when no good frame came for
//! `bad_frames_timeout_s`; it is then closed and reopened every `retry_interval_ms`. Changes
//! are handed to the pipeline as [`CameraEvent`]s, which reports each once.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::{FrameSource, Next, SourceSettings};
use crate::error::{Error, Result};
use crate::frame::{Dropped, Frame};
use crate::telemetry::Telemetry;

/// A change of the camera's state.
#[derive(Debug, Clone, PartialEq)]
pub enum CameraEvent {
    /// The source opened (`reconnect`: it had been up before).
    Up { source: String, reconnect: bool },
    /// It could not be opened or was lost (`lost`: it had been delivering frames).
    Down { why: String, lost: bool },
    /// A non-looping replay ended.
    End,
}

#[derive(Default)]
struct Slot {
    frame: Option<Frame>,
    events: VecDeque<CameraEvent>,
}

struct Shared {
    slot: Mutex<Slot>,
    changed: Condvar,
    halt: Arc<AtomicBool>,
    started: Instant,
    /// Milliseconds since `started` of the capture thread's last sign of life.
    beat_ms: AtomicU64,
}

impl Shared {
    fn slot(&self) -> MutexGuard<'_, Slot> {
        self.slot.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn beat(&self) {
        let ms = self.started.elapsed().as_millis() as u64;
        self.beat_ms.store(ms, Ordering::Relaxed);
    }

    fn event(&self, e: CameraEvent) {
        self.slot().events.push_back(e);
        self.changed.notify_all();
    }
}

/// The running capture thread; stopped when dropped.
pub struct Capture {
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
    describe: String,
}

/// What the pipeline takes from the capture thread.
pub struct Taken {
    pub events: Vec<CameraEvent>,
    pub frame: Option<Frame>,
}

impl Capture {
    /// Build the source `cfg` names and start reading it.
    pub fn start(cfg: &SourceSettings, telemetry: Arc<Telemetry>) -> Result<Capture> {
        let halt = Arc::new(AtomicBool::new(false));
        let source = super::build(cfg, halt.clone());
        let describe = source.describe();
        let shared = Arc::new(Shared {
            slot: Mutex::new(Slot::default()),
            changed: Condvar::new(),
            halt,
            started: Instant::now(),
            beat_ms: AtomicU64::new(0),
        });
        let mut machine = Machine {
            source,
            shared: shared.clone(),
            telemetry,
            retry: cfg.retry_interval(),
            bad_frames_timeout: cfg.bad_frames_timeout(),
            up: false,
            ever_up: false,
            down_why: None,
            last_good: Instant::now(),
            drops: DropLog::default(),
        };
        let thread = std::thread::Builder::new()
            .name("capture".into())
            .spawn(move || machine.run())
            .map_err(|e| Error::io("starting the capture thread", e))?;
        Ok(Capture {
            shared,
            thread: Some(thread),
            describe,
        })
    }

    /// The source, for logs.
    pub fn describe(&self) -> &str {
        &self.describe
    }

    /// Camera events and the newest frame, waiting at most `timeout` for either.
    pub fn take(&self, timeout: Duration) -> Taken {
        let mut slot = self.shared.slot();
        if slot.frame.is_none() && slot.events.is_empty() {
            slot = self
                .shared
                .changed
                .wait_timeout(slot, timeout)
                .unwrap_or_else(|p| p.into_inner())
                .0;
        }
        let taken = Taken {
            events: slot.events.drain(..).collect(),
            frame: slot.frame.take(),
        };
        drop(slot);
        self.shared.changed.notify_all();
        taken
    }

    /// How long since the capture thread last showed life (a read stuck in the driver shows
    /// here; the daemon then stops feeding the watchdog).
    pub fn silent_for(&self) -> Duration {
        let beat = Duration::from_millis(self.shared.beat_ms.load(Ordering::Relaxed));
        self.shared.started.elapsed().saturating_sub(beat)
    }

    /// Stop reading and release the source, waiting at most `patience` for a read in progress.
    pub fn stop(&mut self, patience: Duration) {
        self.shared.halt.store(true, Ordering::Relaxed);
        self.shared.changed.notify_all();
        if let Some(t) = self.thread.take() {
            let t0 = Instant::now();
            while !t.is_finished() && t0.elapsed() < patience {
                std::thread::sleep(Duration::from_millis(10));
            }
            if t.is_finished() {
                let _ = t.join();
            } else {
                log::warn!("capture thread still in a camera read after {patience:?}; leaving it");
            }
        }
    }
}

impl Drop for Capture {
    fn drop(&mut self) {
        self.stop(Duration::from_secs(2));
    }
}

/// Dropped frames, logged at most once a minute.
#[derive(Default)]
struct DropLog {
    since: Option<Instant>,
    counts: Vec<(Dropped, u64)>,
}

impl DropLog {
    fn add(&mut self, why: Dropped) {
        match self.counts.iter_mut().find(|(d, _)| *d == why) {
            Some((_, n)) => *n += 1,
            None => self.counts.push((why, 1)),
        }
        let due = self
            .since
            .is_none_or(|t| t.elapsed() >= Duration::from_secs(60));
        if due {
            let what: Vec<String> = self
                .counts
                .iter()
                .map(|(d, n)| format!("{n} {}", d.as_str()))
                .collect();
            log::warn!(
                "camera: dropped frames ({}); next report in a minute at most",
                what.join(", ")
            );
            self.counts.clear();
            self.since = Some(Instant::now());
        }
    }
}

/// The capture thread's state.
struct Machine {
    source: Box<dyn FrameSource>,
    shared: Arc<Shared>,
    telemetry: Arc<Telemetry>,
    retry: Duration,
    bad_frames_timeout: Duration,
    up: bool,
    ever_up: bool,
    down_why: Option<String>,
    last_good: Instant,
    drops: DropLog,
}

impl Machine {
    fn halted(&self) -> bool {
        self.shared.halt.load(Ordering::Relaxed)
    }

    fn run(&mut self) {
        while !self.halted() {
            self.shared.beat();
            if !self.up && !self.open() {
                self.sleep(self.retry);
                continue;
            }
            match self.source.next() {
                Ok(Next::Frame(f)) => self.deliver(f),
                Ok(Next::Dropped(why)) => self.dropped(why),
                Ok(Next::End) => {
                    self.wait_until_taken();
                    self.shared.event(CameraEvent::End);
                    break;
                }
                Err(e) => self.down(e.to_string()),
            }
        }
        self.source.close();
    }

    /// Open the source; false (reported once per reason) when it cannot be.
    fn open(&mut self) -> bool {
        match self.source.open() {
            Ok(()) => {
                self.shared.event(CameraEvent::Up {
                    source: self.source.describe(),
                    reconnect: self.ever_up,
                });
                (self.up, self.ever_up, self.down_why) = (true, true, None);
                self.last_good = Instant::now();
                true
            }
            Err(e) => {
                self.down(e.to_string());
                false
            }
        }
    }

    fn down(&mut self, why: String) {
        let lost = self.up;
        if self.up {
            self.source.close();
            self.up = false;
        }
        if self.down_why.as_deref() != Some(why.as_str()) && !self.halted() {
            self.shared.event(CameraEvent::Down {
                why: why.clone(),
                lost,
            });
        }
        self.down_why = Some(why);
    }

    fn deliver(&mut self, f: Frame) {
        self.last_good = Instant::now();
        self.telemetry.captured();
        if !self.source.live() {
            self.wait_until_taken();
        }
        let mut slot = self.shared.slot();
        if slot.frame.replace(f).is_some() {
            self.telemetry.dropped(Dropped::Superseded);
        }
        drop(slot);
        self.shared.changed.notify_all();
    }

    fn dropped(&mut self, why: Dropped) {
        self.telemetry.dropped(why);
        self.drops.add(why);
        let silent = self.last_good.elapsed();
        if silent >= self.bad_frames_timeout {
            self.down(format!(
                "no good frame for {} s (the last was {})",
                silent.as_secs(),
                why.as_str()
            ));
        }
    }

    /// A replay waits for the pipeline to take the frame before it reads the next.
    fn wait_until_taken(&self) {
        let mut slot = self.shared.slot();
        while slot.frame.is_some() && !self.halted() {
            self.shared.beat();
            slot = self
                .shared
                .changed
                .wait_timeout(slot, Duration::from_millis(50))
                .unwrap_or_else(|p| p.into_inner())
                .0;
        }
    }

    fn sleep(&self, d: Duration) {
        let t0 = Instant::now();
        while t0.elapsed() < d && !self.halted() {
            self.shared.beat();
            std::thread::sleep((d - t0.elapsed()).min(Duration::from_millis(50)));
        }
    }
}
