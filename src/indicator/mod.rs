//! The LEDs: happy, not happy, and status (on while the camera delivers frames, blinking on a
//! fault). Backends: `rppal` (Raspberry Pi GPIO, BCM numbering) and `simulated` (for tests and
//! demos). What the LEDs show is logged once per change of state (INFO for the simulated
//! backend, whose LEDs exist only in the log; DEBUG for GPIO); single blinks only at TRACE.
//! All LEDs go off when the [`Indicator`] is dropped.

mod gpio;
mod simulated;

pub use gpio::GpioLeds;
pub use simulated::SimulatedLeds;

use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::check_range;
use crate::error::Result;
use crate::invalid;
use crate::mood::Mood;
use crate::settings::Invalid;

/// `indicator.kind`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum IndicatorKind {
    /// Raspberry Pi GPIO.
    Rppal,
    /// LED changes are only logged.
    Simulated,
}

/// `[indicator]` (documented in config/moodkiosk.toml).
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct IndicatorSettings {
    pub kind: IndicatorKind,
    pub fallback_to_simulated: bool,
    pub active_low: bool,
    pub happy_pin: u8,
    pub not_happy_pin: u8,
    pub status_pin: u8,
    pub blink_ms: u64,
}

impl IndicatorSettings {
    pub fn validate(&self) -> std::result::Result<(), Invalid> {
        let i = self;
        check_range!(i.happy_pin, 0, 27);
        check_range!(i.not_happy_pin, 0, 27);
        check_range!(i.status_pin, 0, 27);
        check_range!(i.blink_ms, 50, 10_000);
        if i.not_happy_pin == i.happy_pin {
            return Err(invalid!(
                i.not_happy_pin,
                "the three LEDs need three different BCM pins; it equals happy_pin",
            ));
        }
        if i.status_pin == i.happy_pin || i.status_pin == i.not_happy_pin {
            return Err(invalid!(
                i.status_pin,
                "the three LEDs need three different BCM pins; it equals another LED's pin",
            ));
        }
        Ok(())
    }

    /// Status LED blink half-period.
    pub fn blink(&self) -> Duration {
        Duration::from_millis(self.blink_ms)
    }
}

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

/// Which lines drive the LEDs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Backend {
    /// GPIO lines through `rppal`.
    Rppal,
    /// No lines: each change is logged.
    Simulated,
    /// None claimed (between releasing one backend and claiming the next).
    None,
    /// The GPIO lines could not be opened; tried again every [`RETRY`].
    Unavailable,
}

/// How often LEDs that could not be opened are tried again.
pub const RETRY: Duration = Duration::from_secs(30);

impl Backend {
    pub fn as_str(self) -> &'static str {
        match self {
            Backend::Rppal => "rppal",
            Backend::Simulated => "simulated",
            Backend::None => "none",
            Backend::Unavailable => "unavailable",
        }
    }
}

impl std::fmt::Display for Backend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What the status LED does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum StatusLight {
    Off,
    /// Camera up.
    Steady,
    /// Camera fault.
    Blinking,
    /// Camera up, and someone watches the setup preview.
    Flashing,
}

/// Drives physical (or simulated) LED lines.
pub trait Leds: Send {
    /// Switch one LED.
    fn set(&mut self, led: Led, on: bool) -> Result<()>;
    /// Which lines these are.
    fn backend(&self) -> Backend;
}

/// Open the configured backend, falling back to the simulated one only when asked to.
pub fn open(cfg: &IndicatorSettings) -> Result<Box<dyn Leds>> {
    match cfg.kind {
        IndicatorKind::Simulated => Ok(Box::new(SimulatedLeds::new())),
        IndicatorKind::Rppal => match GpioLeds::open(cfg) {
            Ok(g) => Ok(Box::new(g)),
            Err(e) if cfg.fallback_to_simulated => {
                log::warn!(
                    "{}; indicator.fallback_to_simulated = true, using simulated LEDs",
                    crate::error::chain(&e)
                );
                Ok(Box::new(SimulatedLeds::new()))
            }
            Err(e) => Err(e),
        },
    }
}

/// No lines: between releasing one backend and claiming the next.
struct Released;

impl Leds for Released {
    fn set(&mut self, _led: Led, _on: bool) -> Result<()> {
        Ok(())
    }

    fn backend(&self) -> Backend {
        Backend::None
    }
}

/// Lines that could not be opened: the kiosk runs without them.
struct Unavailable;

impl Leds for Unavailable {
    fn set(&mut self, _led: Led, _on: bool) -> Result<()> {
        Ok(())
    }

    fn backend(&self) -> Backend {
        Backend::Unavailable
    }
}

/// What the status LED should say.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// Camera delivers frames: steady on.
    Ok,
    /// Camera missing or failing: blinking.
    Fault,
    /// Camera up and the setup preview watched: flashing at four times the blink rate.
    Watched,
}

/// What the LEDs show, for the status page.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct LedState {
    pub backend: Backend,
    /// The happy LED is lit.
    pub happy: bool,
    /// The not-happy LED is lit.
    pub not_happy: bool,
    pub status: StatusLight,
}

/// The state shown on the LEDs; switches lines only on change, blinks the status on faults.
pub struct Indicator {
    leds: Box<dyn Leds>,
    state: [bool; 3],
    blink: Duration,
    mood: Option<Mood>,
    status: Status,
    started: Instant,
    /// What was last logged.
    logged: Option<LedState>,
    /// The LEDs could not be opened: why, the settings to try again with, and when.
    fault: Option<(String, IndicatorSettings, Instant)>,
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
            logged: None,
            fault: None,
        }
    }

    /// The configured LEDs, or, when they cannot be opened (no GPIO chip, a board rppal does not
    /// know, lines taken), none: the kiosk runs without them, says why once, and tries again
    /// every [`RETRY`]. Never an error: a missing device is a fault to report, not a reason to
    /// stop.
    pub fn open_or_degrade(cfg: &IndicatorSettings) -> Indicator {
        match open(cfg) {
            Ok(leds) => Indicator::new(leds, cfg.blink()),
            Err(e) => {
                let why = crate::error::chain(&e);
                log::error!(
                    "LEDs unavailable: {why}; running without them, trying again every {} s",
                    RETRY.as_secs()
                );
                let mut ind = Indicator::new(Box::new(Unavailable), cfg.blink());
                ind.fault = Some((why, cfg.clone(), Instant::now() + RETRY));
                ind
            }
        }
    }

    /// Why the LEDs are unavailable, if they are.
    pub fn fault(&self) -> Option<&str> {
        self.fault.as_ref().map(|f| f.0.as_str())
    }

    /// Try unavailable LEDs again when it is time.
    fn retry(&mut self, now: Instant) {
        let Some((why, cfg, at)) = &mut self.fault else {
            return;
        };
        if now < *at {
            return;
        }
        match open(cfg) {
            Ok(leds) => {
                log::info!("LEDs: {} backend claimed", leds.backend());
                self.blink = cfg.blink();
                self.leds = leds;
                self.state = [false; 3];
                self.fault = None;
            }
            Err(e) => {
                let again = crate::error::chain(&e);
                if again != *why {
                    log::error!("LEDs unavailable: {again}");
                    *why = again;
                }
                *at = now + RETRY;
            }
        }
    }

    /// Switch to `new` settings. The old lines are switched off and released before the new
    /// ones are claimed (a GPIO pin can be held once: claiming first fails with "pin used"); when
    /// `new` cannot be opened, `old` is claimed again and the error returned.
    pub fn reconfigure(
        &mut self,
        old: &IndicatorSettings,
        new: &IndicatorSettings,
        open: impl Fn(&IndicatorSettings) -> Result<Box<dyn Leds>>,
    ) -> Result<()> {
        self.all_off();
        self.leds = Box::new(Released);
        self.state = [false; 3];
        match open(new) {
            Ok(leds) => {
                self.leds = leds;
                self.blink = new.blink();
                self.fault = None;
                Ok(())
            }
            Err(e) => {
                match open(old) {
                    Ok(leds) => self.leds = leds,
                    Err(again) => {
                        log::error!("LEDs: cannot claim the old lines again either ({again}); LEDs dark until the next reload");
                    }
                }
                Err(e)
            }
        }
    }

    /// Which lines drive the LEDs.
    pub fn backend(&self) -> Backend {
        self.leds.backend()
    }

    /// What the LEDs show (blinking counts as a state, not as on/off).
    pub fn state(&self) -> LedState {
        LedState {
            backend: self.backend(),
            happy: self.mood == Some(Mood::Happy),
            not_happy: self.mood == Some(Mood::NotHappy),
            status: match self.status {
                Status::Ok => StatusLight::Steady,
                Status::Fault => StatusLight::Blinking,
                Status::Watched => StatusLight::Flashing,
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

    /// Log what the LEDs show when it changed (one line per change of state, not per blink).
    fn log_change(&mut self) {
        let now = self.state();
        if self.logged == Some(now) {
            return;
        }
        let level = if now.backend == Backend::Simulated {
            log::Level::Info
        } else {
            log::Level::Debug
        };
        let before = self.logged.unwrap_or(LedState {
            backend: now.backend,
            happy: false,
            not_happy: false,
            status: StatusLight::Off,
        });
        let onoff = |b: bool| if b { "on" } else { "off" };
        for (name, was, is) in [
            ("happy", before.happy, now.happy),
            ("not_happy", before.not_happy, now.not_happy),
        ] {
            if was != is {
                log::log!(target: "moodkiosk::led", level, "led {name} {}", onoff(is));
            }
        }
        if before.status != now.status {
            let shown = match now.status {
                StatusLight::Off => "off",
                StatusLight::Steady => "on",
                StatusLight::Blinking => "blinking",
                StatusLight::Flashing => "flashing",
            };
            log::log!(target: "moodkiosk::led", level, "led status {shown}");
        }
        self.logged = Some(now);
    }

    /// Apply the state to the lines; call often (every frame or retry tick) so faults blink.
    pub fn refresh(&mut self, now: Instant) {
        self.retry(now);
        self.log_change();
        let since = now.duration_since(self.started).as_millis();
        let blink_on = (since / self.blink.as_millis().max(1)) % 2 == 0;
        let flash_on = (since / (self.blink.as_millis() / 4).max(1)) % 2 == 0;
        let want = [
            self.mood == Some(Mood::Happy),
            self.mood == Some(Mood::NotHappy),
            match self.status {
                Status::Ok => true,
                Status::Fault => blink_on,
                Status::Watched => flash_on,
            },
        ];
        for (i, led) in Led::ALL.iter().enumerate() {
            if want[i] != self.state[i] {
                match self.leds.set(*led, want[i]) {
                    Ok(()) => self.state[i] = want[i],
                    Err(e) => log::error!("LED {}: {}", led.name(), crate::error::chain(&e)),
                }
            }
        }
    }

    /// All LEDs off (also done on drop).
    pub fn all_off(&mut self) {
        if let Some(was) = self.logged.take() {
            let level = if was.backend == Backend::Simulated {
                log::Level::Info
            } else {
                log::Level::Debug
            };
            for (name, lit) in [
                ("happy", was.happy),
                ("not_happy", was.not_happy),
                ("status", was.status != StatusLight::Off),
            ] {
                if lit {
                    log::log!(target: "moodkiosk::led", level, "led {name} off");
                }
            }
        }
        for (i, led) in Led::ALL.iter().enumerate() {
            if self.state[i] {
                if let Err(e) = self.leds.set(*led, false) {
                    log::error!("LED {}: {}", led.name(), crate::error::chain(&e));
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
        fn backend(&self) -> Backend {
            Backend::Simulated
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

    /// GPIO-like lines: a pin can be claimed once until its holder is dropped.
    struct Claimed {
        pins: Vec<u8>,
        held: Arc<Mutex<Vec<u8>>>,
    }
    impl Leds for Claimed {
        fn set(&mut self, _led: Led, _on: bool) -> Result<()> {
            Ok(())
        }
        fn backend(&self) -> Backend {
            Backend::Rppal
        }
    }
    impl Drop for Claimed {
        fn drop(&mut self) {
            self.held.lock().unwrap().retain(|p| !self.pins.contains(p));
        }
    }

    fn settings(pins: [u8; 3]) -> IndicatorSettings {
        IndicatorSettings {
            kind: IndicatorKind::Rppal,
            fallback_to_simulated: false,
            active_low: false,
            happy_pin: pins[0],
            not_happy_pin: pins[1],
            status_pin: pins[2],
            blink_ms: 500,
        }
    }

    #[test]
    fn reconfigure_releases_the_old_pins_before_claiming_and_restores_them_on_failure() {
        let held: Arc<Mutex<Vec<u8>>> = Arc::new(Mutex::new(Vec::new()));
        let open = |s: &IndicatorSettings| -> Result<Box<dyn Leds>> {
            let pins = vec![s.happy_pin, s.not_happy_pin, s.status_pin];
            let mut h = held.lock().unwrap();
            if let Some(p) = pins.iter().find(|p| h.contains(p) || **p == 5) {
                return Err(crate::error::Error::Gpio {
                    what: format!("pin {p}: pin used"),
                    source: None,
                });
            }
            h.extend(pins.iter().copied());
            Ok(Box::new(Claimed {
                pins,
                held: held.clone(),
            }))
        };
        let (a, b, bad) = (
            settings([17, 27, 22]),
            settings([17, 27, 23]),
            settings([5, 6, 7]),
        );
        let mut ind = Indicator::new(open(&a).unwrap(), a.blink());
        // Shares two pins with the running settings: works because they are released first.
        ind.reconfigure(&a, &b, open).unwrap();
        assert_eq!(ind.backend(), Backend::Rppal);
        assert_eq!(*held.lock().unwrap(), vec![17, 27, 23]);
        // A failing new set: the old one is claimed again, the error is returned.
        let e = ind.reconfigure(&b, &bad, open).unwrap_err().to_string();
        assert!(e.contains("pin 5"), "{e}");
        assert_eq!(ind.backend(), Backend::Rppal);
        assert_eq!(*held.lock().unwrap(), vec![17, 27, 23]);
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
