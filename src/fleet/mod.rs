//! The fleet view (`web.fleet = true`): every kiosk on the broker under the same topic prefix,
//! from their retained `availability`, `today` and `state` messages, for `/fleet` and
//! `/api/fleet`. Filled by the publisher's subscription; what other kiosks publish is untrusted
//! input: sizes are bounded, malformed messages are ignored.

use std::collections::BTreeMap;
use std::sync::Mutex;

use chrono::Local;
use serde::Serialize;

pub mod report;

use report::{share, StateMessage, TodayMessage};

use crate::journal::rfc3339;
use crate::telemetry::LinkState;

/// Most kiosks tracked (more are ignored: a broker full of strangers cannot exhaust memory).
pub const MAX_KIOSKS: usize = 256;

/// A kiosk's availability as its retained `availability` message says.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Availability {
    Online,
    Offline,
    /// No availability message seen yet.
    Unknown,
}

/// The topic leaves the fleet reads (`<prefix>/<id>/<leaf>`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Leaf {
    Availability,
    Today,
    State,
}

impl Leaf {
    /// Every leaf, for the subscriptions.
    pub const ALL: [Leaf; 3] = [Leaf::Availability, Leaf::Today, Leaf::State];

    pub fn as_str(self) -> &'static str {
        match self {
            Leaf::Availability => "availability",
            Leaf::Today => "today",
            Leaf::State => "state",
        }
    }

    pub fn parse(s: &str) -> Option<Leaf> {
        Leaf::ALL.into_iter().find(|l| l.as_str() == s)
    }
}

/// One kiosk as the fleet sees it.
#[derive(Debug, Clone, Serialize)]
pub struct KioskView {
    pub id: String,
    pub availability: Availability,
    /// RFC 3339 time this viewer saw the availability change; null when it was already so when
    /// the viewer subscribed (a retained message).
    pub since: Option<String>,
    pub today: Option<TodayMessage>,
    pub state: Option<StateMessage>,
    /// RFC 3339 time of the last message from the kiosk.
    pub heard: String,
}

/// The whole fleet.
#[derive(Debug, Clone, Serialize)]
pub struct FleetView {
    /// False when `web.fleet` is off (the page says how to turn it on).
    pub enabled: bool,
    /// This viewer's link to the broker.
    pub broker: LinkState,
    pub kiosks: Vec<KioskView>,
    pub totals: Totals,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct Totals {
    pub kiosks: u32,
    pub online: u32,
    pub visitors: u32,
    pub happy: u32,
    pub not_happy: u32,
    pub undecided: u32,
    pub happy_share: Option<f64>,
}

/// Filled by the publisher, read by the web page.
pub struct Fleet {
    enabled: bool,
    inner: Mutex<(LinkState, BTreeMap<String, KioskView>)>,
}

impl Fleet {
    pub fn new(enabled: bool) -> Fleet {
        Fleet {
            enabled,
            inner: Mutex::new((LinkState::Off, BTreeMap::new())),
        }
    }

    pub fn enabled(&self) -> bool {
        self.enabled
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, (LinkState, BTreeMap<String, KioskView>)> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// This viewer's broker link state.
    pub fn broker(&self, state: LinkState) {
        self.lock().0 = state;
    }

    /// A message on `<prefix>/<id>/<leaf>`; `retained`: sent because it was stored (the kiosk
    /// was so before we subscribed).
    pub fn message(&self, id: &str, leaf: Leaf, payload: &[u8], retained: bool) {
        if !self.enabled {
            return;
        }
        let mut g = self.lock();
        let kiosks = &mut g.1;
        if !kiosks.contains_key(id) {
            if payload.is_empty() || kiosks.len() >= MAX_KIOSKS {
                return;
            }
            kiosks.insert(
                id.to_string(),
                KioskView {
                    id: id.chars().take(64).collect(),
                    availability: Availability::Unknown,
                    since: None,
                    today: None,
                    state: None,
                    heard: String::new(),
                },
            );
        }
        let Some(k) = kiosks.get_mut(id) else {
            return;
        };
        let now = rfc3339(Local::now());
        match leaf {
            Leaf::Availability => {
                let a = match payload {
                    b"online" => Availability::Online,
                    b"offline" => Availability::Offline,
                    _ => return,
                };
                if k.availability != a {
                    k.since = (!retained).then(|| now.clone());
                    k.availability = a;
                }
            }
            Leaf::Today => k.today = serde_json::from_slice(payload).ok(),
            Leaf::State => k.state = serde_json::from_slice(payload).ok(),
        }
        k.heard = now;
    }

    pub fn view(&self) -> FleetView {
        let g = self.lock();
        let kiosks: Vec<KioskView> = g.1.values().cloned().collect();
        let today = Local::now().format("%Y-%m-%d").to_string();
        let mut t = Totals::default();
        for k in &kiosks {
            t.kiosks += 1;
            t.online += (k.availability == Availability::Online) as u32;
            // A kiosk's totals of an earlier day (it has been off since) are not today's.
            if let Some(d) = k.today.as_ref().filter(|d| d.date == today) {
                t.visitors += d.visitors;
                t.happy += d.happy;
                t.not_happy += d.not_happy;
                t.undecided += d.undecided;
            }
        }
        t.happy_share = share(t.happy, t.visitors);
        FleetView {
            enabled: self.enabled,
            broker: g.0,
            kiosks,
            totals: t,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kiosks_appear_change_and_add_up() {
        let f = Fleet::new(true);
        let today = Local::now().format("%Y-%m-%d").to_string();
        let day = |v: u32, h: u32| {
            format!(
                r#"{{"date":"{today}","visitors":{v},"happy":{h},"not_happy":{},"happy_share":null,"undecided":0,"last_visitor":null,"bucket_s":3600,"bars":[]}}"#,
                v - h
            )
        };
        f.message("a", Leaf::Availability, b"online", true);
        f.message("a", Leaf::Today, day(3, 2).as_bytes(), true);
        f.message("b", Leaf::Today, day(1, 1).as_bytes(), false);
        f.message("b", Leaf::Availability, b"offline", false);
        f.message("b", Leaf::Today, b"not json", false);
        assert_eq!(Leaf::parse("visitor"), None);
        let v = f.view();
        assert_eq!(v.kiosks.len(), 2);
        assert_eq!(v.kiosks[0].since, None, "retained: unknown since when");
        assert!(v.kiosks[1].since.is_some());
        assert!(
            v.kiosks[1].today.is_none(),
            "a malformed message clears, never panics"
        );
        assert_eq!(
            (v.totals.kiosks, v.totals.online, v.totals.visitors),
            (2, 1, 3)
        );
        assert_eq!(v.totals.happy_share, Some(66.7));
    }

    #[test]
    fn strangers_cannot_fill_memory() {
        let f = Fleet::new(true);
        for i in 0..MAX_KIOSKS + 10 {
            f.message(&format!("k{i}"), Leaf::Availability, b"online", false);
        }
        assert_eq!(f.view().kiosks.len(), MAX_KIOSKS);
        let off = Fleet::new(false);
        off.message("a", Leaf::Availability, b"online", false);
        assert!(off.view().kiosks.is_empty());
    }
}
