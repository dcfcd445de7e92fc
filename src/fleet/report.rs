//! What each kiosk reports about itself on the broker, and what the fleet page reads back: the
//! `today` and `state` payloads and the availability words. Moods, counts and times only.

use serde::{Deserialize, Serialize};

use crate::journal::chart::{Bar, Today};
use crate::telemetry::State;

/// The software version in `state` and discovery.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// Availability payloads.
pub const ONLINE: &str = "online";
pub const OFFLINE: &str = "offline";

/// `today`: the day's totals so far (retained, updated on each journal record).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TodayMessage {
    /// `YYYY-MM-DD`, the kiosk's local date.
    pub date: String,
    pub visitors: u32,
    pub happy: u32,
    pub not_happy: u32,
    /// Happy visitors in percent of the decided ones (one decimal); null without visitors.
    pub happy_share: Option<f64>,
    pub undecided: u32,
    /// RFC 3339 time of the last visitor, if any today.
    pub last_visitor: Option<String>,
    /// The kiosk's UTC offset when it sent this (`+01:00`): whose "today" `date` is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub utc_offset: Option<String>,
    /// Width of each bar in seconds.
    pub bucket_s: u32,
    /// The day's chart over the opening hours (as on the kiosk's dashboard).
    pub bars: Vec<Bar>,
}

impl TodayMessage {
    pub fn new(t: &Today, last_visitor: Option<String>) -> TodayMessage {
        TodayMessage {
            date: t.date.clone(),
            visitors: t.visitors,
            happy: t.happy,
            not_happy: t.not_happy,
            happy_share: share(t.happy, t.visitors),
            undecided: t.undecided,
            last_visitor,
            utc_offset: Some(t.utc_offset.clone()),
            bucket_s: t.bucket_s,
            bars: t.bars.clone(),
        }
    }
}

/// Happy in percent of `visitors`, one decimal.
pub fn share(happy: impl Into<u64>, visitors: impl Into<u64>) -> Option<f64> {
    let (happy, visitors) = (happy.into(), visitors.into());
    (visitors > 0).then(|| (happy as f64 * 1000.0 / visitors as f64).round() / 10.0)
}

/// `state`: camera, LEDs, version, model (retained, on change).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StateMessage {
    /// `starting`, `up` or `down`.
    pub camera: String,
    /// The source when up, the error when down.
    pub camera_detail: String,
    /// RFC 3339 time of the camera's last change.
    pub camera_since: String,
    /// LED states (`happy`, `not_happy` lit; `status`: steady, blinking or flashing).
    pub leds: Option<serde_json::Value>,
    /// Why the LEDs are unavailable (GPIO cannot be opened; retried), absent while they work.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub leds_fault: Option<String>,
    pub version: String,
    pub model: String,
    /// The last steady mood, if any since start.
    pub last_mood: Option<String>,
    /// RFC 3339 time the daemon started.
    pub started: String,
}

impl StateMessage {
    pub fn new(s: &State, started: &str) -> StateMessage {
        StateMessage {
            camera: s.camera.state.as_str().to_string(),
            camera_detail: s.camera.detail.clone(),
            camera_since: s.camera.since.clone(),
            leds: s.leds.as_ref().and_then(|l| serde_json::to_value(l).ok()),
            leds_fault: s.leds_fault.clone(),
            version: VERSION.to_string(),
            model: s.model.clone(),
            last_mood: s
                .last_decision
                .as_ref()
                .map(|d| d.mood.as_str().to_string()),
            started: started.to_string(),
        }
    }
}
