//! The LEDs: happy, not happy, and status (on while the camera delivers frames, blinking on a
//! fault). Backends: `rppal` (Raspberry Pi GPIO, BCM numbering) and `simulated` (logs every
//! transition; for tests and demos). All LEDs go off when the [`Indicator`] is dropped.

mod gpio;
mod simulated;

pub use gpio::GpioLeds;
pub use simulated::SimulatedLeds;

use std::time::{Duration, Instant};

use crate::config::{IndicatorConfig, IndicatorKind};
use crate::error::Result;
use crate::mood::Mood;

/// One of the three LEDs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Led {
    Happy,
    NotHappy,
    Status,
}

impl Led {
    pub const ALL: [Led; 3] = [Led::Happy, Led::NotHappy, Led::Status];

    pub fn name(self) -> &'static str {
        match self {
            Led::Happy => "happy",
            Led::NotHappy => "not_happy",
            Led::Status => "status",
        }
    }
}

/// Drives physical (or simulated) LED lines.
pub trait Leds: Send {
    /// Switch one LED.
    fn set(&mut self, led: Led, on: bool) -> Result<()>;
    /// Backend name for logs.
    fn backend(&self) -> &'static str;
}

/// Open the configured backend, falling back to the simulated one only when asked to.
pub fn open(cfg: &IndicatorConfig) -> Result<Box<dyn Leds>> {
    match cfg.kind {
        IndicatorKind::Simulated => Ok(Box::new(SimulatedLeds::new())),
        IndicatorKind::Rppal => match GpioLeds::open(cfg) {
            Ok(g) => Ok(Box::new(g)),
            Err(e) if cfg.fallback_to_simulated => {
                log::warn!("{e}; indicator.fallback_to_simulated = true, using simulated LEDs");
                Ok(Box::new(SimulatedLeds::new()))
            }
            Err(e) => Err(e),
        },
    }
}

/// What the status LED should say.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// Camera delivers frames: steady on.
    Ok,
    /// Camera missing or failing: blinking.
    Fault,
}

/// What the LEDs show, for the status page.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct LedState {
    /// `rppal` or `simulated`.
    pub backend: &'static str,
    /// The happy LED is lit.
    pub happy: bool,
    /// The not-happy LED is lit.
    pub not_happy: bool,
    /// The status LED: `steady` (camera up) or `blinking` (camera fault).
    pub status: &'static str,
}

/// The state shown on the LEDs; switches lines only on change, blinks the status on faults.
pub struct Indicator {
    leds: Box<dyn Leds>,
    state: [bool; 3],
    blink: Duration,
    mood: Option<Mood>,
    status: Status,
    started: Instant,
}

impl Indicator {
    pub fn new(leds: Box<dyn Leds>, blink: Duration) -> Indicator {
        Indicator {
            leds,
            state: [false; 3],
            blink,
            mood: None,
            status: Status::Fault,
            started: Instant::now(),
        }
    }

    /// Backend name.
    pub fn backend(&self) -> &'static str {
        self.leds.backend()
    }

    /// What the LEDs show (blinking counts as a state, not as on/off).
    pub fn state(&self) -> LedState {
        LedState {
            backend: self.backend(),
            happy: self.mood == Some(Mood::Happy),
            not_happy: self.mood == Some(Mood::NotHappy),
            status: match self.status {
                Status::Ok => "steady",
                Status::Fault => "blinking",
            },
        }
    }

    /// Set the mood shown (None: both mood LEDs off).
    pub fn show_mood(&mut self, mood: Option<Mood>) {
        self.mood = mood;
    }

    /// Set the camera status.
    pub fn show_status(&mut self, status: Status) {
        self.status = status;
    }

    /// Apply the state to the lines; call often (every frame or retry tick) so faults blink.
    pub fn refresh(&mut self, now: Instant) {
        let blink_on =
            (now.duration_since(self.started).as_millis() / self.blink.as_millis().max(1)) % 2 == 0;
        let want = [
            self.mood == Some(Mood::Happy),
            self.mood == Some(Mood::NotHappy),
            match self.status {
                Status::Ok => true,
                Status::Fault => blink_on,
            },
        ];
        for (i, led) in Led::ALL.iter().enumerate() {
            if want[i] != self.state[i] {
                match self.leds.set(*led, want[i]) {
                    Ok(()) => self.state[i] = want[i],
                    Err(e) => log::error!("LED {}: {e}", led.name()),
                }
            }
        }
    }

    /// All LEDs off (also done on drop).
    pub fn all_off(&mut self) {
        for (i, led) in Led::ALL.iter().enumerate() {
            if self.state[i] {
                if let Err(e) = self.leds.set(*led, false) {
                    log::error!("LED {}: {e}", led.name());
                }
                self.state[i] = false;
            }
        }
    }
}

impl Drop for Indicator {
    fn drop(&mut self) {
        self.all_off();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    struct Rec(Arc<Mutex<Vec<(Led, bool)>>>);
    impl Leds for Rec {
        fn set(&mut self, led: Led, on: bool) -> Result<()> {
            self.0.lock().unwrap().push((led, on));
            Ok(())
        }
        fn backend(&self) -> &'static str {
            "test"
        }
    }

    #[test]
    fn switches_only_on_change_and_turns_off_on_drop() {
        let log = Arc::new(Mutex::new(Vec::new()));
        let t0 = Instant::now();
        {
            let mut ind = Indicator::new(Box::new(Rec(log.clone())), Duration::from_millis(500));
            ind.show_status(Status::Ok);
            ind.show_mood(Some(Mood::Happy));
            ind.refresh(t0);
            ind.refresh(t0);
            ind.show_mood(Some(Mood::NotHappy));
            ind.refresh(t0);
        }
        let l = log.lock().unwrap().clone();
        assert_eq!(
            l,
            vec![
                (Led::Happy, true),
                (Led::Status, true),
                (Led::Happy, false),
                (Led::NotHappy, true),
                (Led::NotHappy, false),
                (Led::Status, false),
            ]
        );
    }

    #[test]
    fn fault_blinks() {
        let log = Arc::new(Mutex::new(Vec::new()));
        let mut ind = Indicator::new(Box::new(Rec(log.clone())), Duration::from_millis(100));
        let t0 = ind.started;
        for ms in [0, 50, 120, 220, 310] {
            ind.refresh(t0 + Duration::from_millis(ms));
        }
        let toggles: Vec<bool> = log
            .lock()
            .unwrap()
            .iter()
            .filter(|(l, _)| *l == Led::Status)
            .map(|x| x.1)
            .collect();
        assert_eq!(toggles, vec![true, false, true, false]);
    }
}
