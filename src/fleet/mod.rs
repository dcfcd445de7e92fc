//! The fleet view (`web.fleet = true`): every kiosk on the broker under the same topic prefix,
//! from their retained `availability`, `today` and `state` messages, for `/fleet` and
//! `/api/fleet`. Filled by the publisher's subscription; what other devices publish is untrusted
//! input, so the fleet is bounded: at most [`MAX_KIOSKS`] kiosks, each message checked (counts
//! at most [`MAX_COUNT`], at most [`MAX_BARS`] bars, strings cut to [`MAX_TEXT`]) or ignored,
//! kiosks not heard from for `web.fleet_forget_days` forgotten, and when full the least recently
//! heard kiosk that is not online makes room. `/api/fleet` stays under 1 MB.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use chrono::{FixedOffset, Local, Utc};
use serde::Serialize;

pub mod report;

use report::{share, StateMessage, TodayMessage};

use crate::journal::chart::MAX_BARS;
use crate::journal::rfc3339;
use crate::telemetry::LinkState;

/// Most kiosks tracked (a broker full of strangers cannot exhaust memory).
pub const MAX_KIOSKS: usize = 256;
/// Largest count a kiosk may report (more is not a kiosk's day).
pub const MAX_COUNT: u32 = 10_000_000;
/// Longest text kept from a kiosk's `state` (camera detail, model, version).
pub const MAX_TEXT: usize = 120;
/// Largest `leds` object kept from a kiosk's `state`, as JSON.
const MAX_LEDS_JSON: usize = 256;

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
    /// `today` is the kiosk's current day, by the kiosk's own clock and time zone when its
    /// message says them (else by this viewer's).
    pub today_current: bool,
    pub state: Option<StateMessage>,
    /// RFC 3339 time of the last message from the kiosk.
    pub heard: String,
    #[serde(skip)]
    heard_at: Option<Instant>,
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
    pub kiosks: u64,
    pub online: u64,
    pub visitors: u64,
    pub happy: u64,
    pub not_happy: u64,
    pub undecided: u64,
    pub happy_share: Option<f64>,
}

/// Filled by the publisher, read by the web page.
pub struct Fleet {
    enabled: bool,
    /// Kiosks not heard from for this long are forgotten (`web.fleet_forget_days`).
    forget: Duration,
    inner: Mutex<(LinkState, BTreeMap<String, KioskView>)>,
}

/// A checked message.
enum Update {
    Availability(Availability),
    Today(Box<TodayMessage>),
    State(Box<StateMessage>),
    /// An empty retained message: the kiosk's message was deleted.
    Cleared,
}

fn check(leaf: Leaf, payload: &[u8]) -> Option<Update> {
    if payload.is_empty() {
        return Some(Update::Cleared);
    }
    match leaf {
        Leaf::Availability => match payload {
            b"online" => Some(Update::Availability(Availability::Online)),
            b"offline" => Some(Update::Availability(Availability::Offline)),
            _ => None,
        },
        Leaf::Today => {
            let t: TodayMessage = serde_json::from_slice(payload).ok()?;
            let counts_ok = [t.visitors, t.happy, t.not_happy, t.undecided]
                .iter()
                .chain(t.bars.iter().flat_map(|b| [&b.happy, &b.not_happy]))
                .all(|n| *n <= MAX_COUNT);
            let ok = counts_ok
                && t.bars.len() as u32 <= MAX_BARS
                && crate::journal::history::parse_date(&t.date).is_ok()
                && t.bars.iter().all(|b| b.start.len() == 5)
                && t.last_visitor.as_ref().is_none_or(|s| s.len() <= 40)
                && t.utc_offset.as_ref().is_none_or(|s| s.len() <= 6);
            ok.then(|| Update::Today(Box::new(t)))
        }
        Leaf::State => {
            let mut s: StateMessage = serde_json::from_slice(payload).ok()?;
            for text in [
                &mut s.camera,
                &mut s.camera_detail,
                &mut s.camera_since,
                &mut s.version,
                &mut s.model,
                &mut s.started,
            ] {
                cut(text);
            }
            if let Some(m) = &mut s.last_mood {
                cut(m);
            }
            let leds_len = s.leds.as_ref().map_or(0, |l| l.to_string().len());
            if leds_len > MAX_LEDS_JSON {
                s.leds = None;
            }
            Some(Update::State(Box::new(s)))
        }
    }
}

/// Cut a text to [`MAX_TEXT`] characters.
fn cut(s: &mut String) {
    if let Some((i, _)) = s.char_indices().nth(MAX_TEXT) {
        s.truncate(i);
    }
}

/// The date now at a `+HH:MM` offset, if it is one.
fn date_at(offset: &str) -> Option<String> {
    let sign = match offset.as_bytes().first()? {
        b'+' => 1,
        b'-' => -1,
        _ => return None,
    };
    let (h, m) = offset.get(1..)?.split_once(':')?;
    let secs = sign * (h.parse::<i32>().ok()? * 3600 + m.parse::<i32>().ok()? * 60);
    let tz = FixedOffset::east_opt(secs)?;
    Some(Utc::now().with_timezone(&tz).format("%Y-%m-%d").to_string())
}

impl Fleet {
    pub fn new(enabled: bool, forget: Duration) -> Fleet {
        Fleet {
            enabled,
            forget,
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
    /// was so before we subscribed). A message that does not check out is ignored.
    pub fn message(&self, id: &str, leaf: Leaf, payload: &[u8], retained: bool) {
        if !self.enabled || id.len() > 64 {
            return;
        }
        let Some(update) = check(leaf, payload) else {
            return;
        };
        let forget = self.forget;
        let mut g = self.lock();
        let kiosks = &mut g.1;
        kiosks.retain(|_, k| k.heard_at.is_some_and(|t| t.elapsed() < forget));
        if let Update::Cleared = update {
            // A deleted availability: the kiosk was taken down.
            if leaf == Leaf::Availability {
                kiosks.remove(id);
            } else if let Some(k) = kiosks.get_mut(id) {
                match leaf {
                    Leaf::Today => k.today = None,
                    _ => k.state = None,
                }
            }
            return;
        }
        if !kiosks.contains_key(id) {
            if kiosks.len() >= MAX_KIOSKS {
                // Room is made by the least recently heard kiosk that is not online.
                let stale = kiosks
                    .values()
                    .filter(|k| k.availability != Availability::Online)
                    .min_by_key(|k| k.heard_at)
                    .map(|k| k.id.clone());
                match stale {
                    Some(s) => {
                        kiosks.remove(&s);
                    }
                    None => return,
                }
            }
            kiosks.insert(
                id.to_string(),
                KioskView {
                    id: id.to_string(),
                    availability: Availability::Unknown,
                    since: None,
                    today: None,
                    today_current: false,
                    state: None,
                    heard: String::new(),
                    heard_at: None,
                },
            );
        }
        let Some(k) = kiosks.get_mut(id) else {
            return;
        };
        let now = rfc3339(Local::now());
        match update {
            Update::Availability(a) => {
                if k.availability != a {
                    k.since = (!retained).then(|| now.clone());
                    k.availability = a;
                }
            }
            Update::Today(t) => k.today = Some(*t),
            Update::State(s) => k.state = Some(*s),
            Update::Cleared => {}
        }
        k.heard = now;
        k.heard_at = Some(Instant::now());
    }

    pub fn view(&self) -> FleetView {
        let forget = self.forget;
        let mut g = self.lock();
        g.1.retain(|_, k| k.heard_at.is_some_and(|t| t.elapsed() < forget));
        let here = Local::now().format("%Y-%m-%d").to_string();
        let mut kiosks: Vec<KioskView> = g.1.values().cloned().collect();
        let mut t = Totals::default();
        for k in &mut kiosks {
            t.kiosks += 1;
            t.online += u64::from(k.availability == Availability::Online);
            // A kiosk's totals of an earlier day (it has been off since) are not today's; the
            // kiosk's own date decides, in its own time zone.
            k.today_current = k.today.as_ref().is_some_and(|d| {
                let theirs = d.utc_offset.as_deref().and_then(date_at);
                d.date == theirs.unwrap_or_else(|| here.clone())
            });
            if let (true, Some(d)) = (k.today_current, &k.today) {
                t.visitors += u64::from(d.visitors);
                t.happy += u64::from(d.happy);
                t.not_happy += u64::from(d.not_happy);
                t.undecided += u64::from(d.undecided);
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

    const WEEK: Duration = Duration::from_secs(7 * 86_400);

    fn day(date: &str, v: u32, h: u32) -> String {
        format!(
            r#"{{"date":"{date}","visitors":{v},"happy":{h},"not_happy":{},"happy_share":null,"undecided":0,"last_visitor":null,"bucket_s":3600,"bars":[]}}"#,
            v - h
        )
    }

    fn today() -> String {
        Local::now().format("%Y-%m-%d").to_string()
    }

    #[test]
    fn kiosks_appear_change_and_add_up() {
        let f = Fleet::new(true, WEEK);
        f.message("a", Leaf::Availability, b"online", true);
        f.message("a", Leaf::Today, day(&today(), 3, 2).as_bytes(), true);
        f.message("b", Leaf::Today, day(&today(), 1, 1).as_bytes(), false);
        f.message("b", Leaf::Availability, b"offline", false);
        f.message("b", Leaf::Today, b"not json", false);
        f.message("c", Leaf::Availability, b"garbage", false);
        assert_eq!(Leaf::parse("visitor"), None);
        let v = f.view();
        assert_eq!(
            v.kiosks.len(),
            2,
            "a malformed first message makes no kiosk"
        );
        assert_eq!(v.kiosks[0].since, None, "retained: unknown since when");
        assert!(v.kiosks[1].since.is_some());
        assert!(
            v.kiosks[1].today.is_some(),
            "a malformed message is ignored, never panics"
        );
        assert_eq!(
            (v.totals.kiosks, v.totals.online, v.totals.visitors),
            (2, 1, 4)
        );
        assert_eq!(v.totals.happy_share, Some(75.0));
        // Deleting a kiosk's retained availability takes it off the page.
        f.message("b", Leaf::Availability, b"", false);
        assert_eq!(f.view().kiosks.len(), 1);
    }

    #[test]
    fn counts_are_checked_and_totals_do_not_wrap() {
        let f = Fleet::new(true, WEEK);
        f.message(
            "big",
            Leaf::Today,
            day(&today(), 4_294_967_295, 0).as_bytes(),
            false,
        );
        assert!(
            f.view().kiosks.is_empty(),
            "more than 10^7 visitors is not a kiosk's day"
        );
        for i in 0..200 {
            f.message(
                &format!("k{i}"),
                Leaf::Today,
                day(&today(), 10_000_000, 1).as_bytes(),
                false,
            );
        }
        let t = f.view().totals;
        assert_eq!(t.visitors, 2_000_000_000);
        assert_eq!(t.happy_share, Some(0.0));
    }

    #[test]
    fn each_kiosk_is_judged_by_its_own_date() {
        let f = Fleet::new(true, WEEK);
        // A kiosk 14 hours ahead whose date is already tomorrow here (or still today).
        let ahead = Utc::now()
            .with_timezone(&FixedOffset::east_opt(14 * 3600).unwrap())
            .format("%Y-%m-%d")
            .to_string();
        let msg = day(&ahead, 2, 1).replace("\"bars\"", "\"utc_offset\":\"+14:00\",\"bars\"");
        f.message("tokyo-ish", Leaf::Today, msg.as_bytes(), false);
        f.message(
            "stale",
            Leaf::Today,
            day("2001-01-01", 5, 5).as_bytes(),
            false,
        );
        let v = f.view();
        let by = |id: &str| v.kiosks.iter().find(|k| k.id == id).unwrap().today_current;
        assert!(by("tokyo-ish"), "its own date is current where it is");
        assert!(!by("stale"));
        assert_eq!(v.totals.visitors, 2);
    }

    #[test]
    fn strangers_cannot_fill_memory_or_keep_real_kiosks_out() {
        let f = Fleet::new(true, WEEK);
        let state = format!(
            r#"{{"camera":"up","camera_detail":"{}","camera_since":"x","leds":null,"version":"1","model":"{}","last_mood":null,"started":"x"}}"#,
            "d".repeat(50_000),
            "m".repeat(50_000)
        );
        let bars: Vec<String> = (0..48)
            .map(|_| r#"{"start":"07:00","happy":9999999,"not_happy":9999999}"#.to_string())
            .collect();
        let big_day =
            day(&today(), 10, 5).replace("\"bars\":[]", &format!("\"bars\":[{}]", bars.join(",")));
        for i in 0..MAX_KIOSKS + 10 {
            let id = format!("stranger-{i:03}");
            f.message(&id, Leaf::Availability, b"offline", false);
            f.message(&id, Leaf::Today, big_day.as_bytes(), false);
            f.message(&id, Leaf::State, state.as_bytes(), false);
        }
        let v = f.view();
        assert_eq!(v.kiosks.len(), MAX_KIOSKS);
        let size = serde_json::to_vec(&v).unwrap().len();
        assert!(size < 1 << 20, "/api/fleet is {size} bytes");
        // A real kiosk still gets in: the least recently heard stranger makes room.
        f.message("real", Leaf::Availability, b"online", false);
        let v = f.view();
        assert!(v.kiosks.iter().any(|k| k.id == "real"));
        assert!(
            !v.kiosks.iter().any(|k| k.id == "stranger-010"),
            "the oldest left"
        );
        // Kiosks not heard from for the forget period are gone.
        let brief = Fleet::new(true, Duration::from_millis(1));
        brief.message("a", Leaf::Availability, b"online", false);
        std::thread::sleep(Duration::from_millis(5));
        assert!(brief.view().kiosks.is_empty());
        let off = Fleet::new(false, WEEK);
        off.message("a", Leaf::Availability, b"online", false);
        assert!(off.view().kiosks.is_empty());
    }
}
