//! systemd notification (`Type=notify`): READY once camera and model are up, STATUS text,
//! WATCHDOG keep-alives sent only from the frame loop, STOPPING on shutdown. A no-op when not
//! started by systemd (no `NOTIFY_SOCKET`).

use std::time::{Duration, Instant};

use sd_notify::NotifyState;

/// Talks to systemd if it is listening.
pub struct Notifier {
    enabled: bool,
    watchdog_every: Option<Duration>,
    last_ping: Option<Instant>,
}

impl Notifier {
    /// Read `NOTIFY_SOCKET` and `WATCHDOG_USEC` from the environment.
    pub fn from_env() -> Notifier {
        let enabled = std::env::var_os("NOTIFY_SOCKET").is_some();
        let watchdog_every = if enabled {
            sd_notify::watchdog_enabled().map(|d| d / 2)
        } else {
            None
        };
        Notifier {
            enabled,
            watchdog_every,
            last_ping: None,
        }
    }

    /// The systemd watchdog timeout (`WatchdogSec=`), when one is set.
    pub fn watchdog_timeout(&self) -> Option<Duration> {
        self.watchdog_every.map(|d| d * 2)
    }

    fn send(&self, state: &[NotifyState]) {
        if self.enabled {
            if let Err(e) = sd_notify::notify(state) {
                log::debug!("sd_notify: {e}");
            }
        }
    }

    /// READY=1 with a status line.
    pub fn ready(&mut self, status: &str) {
        self.send(&[NotifyState::Ready, NotifyState::Status(status)]);
    }

    /// STATUS= text.
    pub fn status(&mut self, status: &str) {
        self.send(&[NotifyState::Status(status)]);
    }

    /// WATCHDOG=1 at half the watchdog period; call once per loop iteration.
    pub fn watchdog(&mut self) {
        let Some(every) = self.watchdog_every else {
            return;
        };
        let now = Instant::now();
        if self
            .last_ping
            .map(|t| now.duration_since(t) >= every)
            .unwrap_or(true)
        {
            self.send(&[NotifyState::Watchdog]);
            self.last_ping = Some(now);
        }
    }

    /// STOPPING=1.
    pub fn stopping(&mut self) {
        self.send(&[NotifyState::Stopping]);
    }
}
