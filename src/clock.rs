//! Whether the system clock can be trusted. A Raspberry Pi has no real-time clock: it boots
//! with a stale time (fake-hwclock's last save, or 1970) until NTP answers, then jumps.
//!
//! Asked in this order: systemd-timesyncd's flag file (`/run/systemd/timesync/synchronized`,
//! created once it has synchronised: Raspberry Pi OS and Debian use timesyncd by default), then
//! the kernel's own state (`adjtimex`, read only: `STA_UNSYNC` clear and no `TIME_ERROR`), which
//! chrony and ntpd keep on systems without timesyncd. When neither answers (a sandbox that
//! forbids `adjtimex`) the state is unknown.

use std::path::Path;

/// `adjtimex`'s answer when the clock is not synchronised (Linux's `TIME_ERROR`).
const TIME_ERROR: libc::c_int = 5;

/// systemd-timesyncd's flag file.
pub const TIMESYNC_FLAG: &str = "/run/systemd/timesync/synchronized";

/// Whether the clock is synchronised; `None` when nothing says.
pub fn synchronized() -> Option<bool> {
    if Path::new(TIMESYNC_FLAG).exists() {
        return Some(true);
    }
    // SAFETY: adjtimex with modes = 0 only reads the kernel's clock state into our struct.
    let mut tx: libc::timex = unsafe { std::mem::zeroed() };
    let state = unsafe { libc::adjtimex(&mut tx) };
    if state < 0 {
        return None;
    }
    Some(state != TIME_ERROR && tx.status & libc::STA_UNSYNC == 0)
}

/// The clock is not known to be wrong: synchronised, or nothing says otherwise.
pub fn trusted() -> bool {
    synchronized() != Some(false)
}
