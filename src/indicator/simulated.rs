//! Simulated LEDs: every line switch is logged at TRACE (the [`super::Indicator`] logs changes of
//! state at INFO), nothing else.

use super::{Backend, Led, Leds};
use crate::error::Result;

/// LEDs that exist only in the log.
#[derive(Debug, Default)]
pub struct SimulatedLeds;

impl SimulatedLeds {
    pub fn new() -> Self {
        SimulatedLeds
    }
}

impl Leds for SimulatedLeds {
    fn set(&mut self, led: Led, on: bool) -> Result<()> {
        log::trace!(target: "moodkiosk::led", "line {} {}", led.name(), if on { "on" } else { "off" });
        Ok(())
    }

    fn backend(&self) -> Backend {
        Backend::Simulated
    }
}
