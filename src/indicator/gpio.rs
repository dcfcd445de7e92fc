//! Raspberry Pi GPIO LEDs through `rppal` (BCM pin numbers, active-high or active-low).

use rppal::gpio::{Gpio, OutputPin};

use super::IndicatorSettings;
use super::{Backend, Led, Leds};
use crate::error::{Error, Result};

/// Three output pins.
pub struct GpioLeds {
    pins: [OutputPin; 3],
    active_low: bool,
}

impl GpioLeds {
    /// Claim the three pins and switch them off.
    pub fn open(cfg: &IndicatorSettings) -> Result<GpioLeds> {
        let gpio = Gpio::new().map_err(|e| Error::Gpio {
            what: "cannot open the GPIO chip (on a Raspberry Pi add the service user to the gpio \
                   group, elsewhere set indicator.kind = \"simulated\")"
                .into(),
            source: Some(e),
        })?;
        let pin = |n: u8, name: &str| -> Result<OutputPin> {
            let p = gpio.get(n).map_err(|e| Error::Gpio {
                what: format!("pin {n} ({name} LED)"),
                source: Some(e),
            })?;
            let mut out = p.into_output();
            out.set_reset_on_drop(true);
            Ok(out)
        };
        let mut leds = GpioLeds {
            pins: [
                pin(cfg.happy_pin, "happy")?,
                pin(cfg.not_happy_pin, "not happy")?,
                pin(cfg.status_pin, "status")?,
            ],
            active_low: cfg.active_low,
        };
        for led in Led::ALL {
            leds.set(led, false)?;
        }
        Ok(leds)
    }
}

impl Leds for GpioLeds {
    fn set(&mut self, led: Led, on: bool) -> Result<()> {
        let i = Led::ALL.iter().position(|l| *l == led).unwrap_or(0);
        if on != self.active_low {
            self.pins[i].set_high();
        } else {
            self.pins[i].set_low();
        }
        Ok(())
    }

    fn backend(&self) -> Backend {
        Backend::Rppal
    }
}
