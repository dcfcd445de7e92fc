//! A day's moods as the dashboard and MQTT `today` show them: visitors per time bucket over the
//! opening hours, totals, and the undecided count from the interval summaries.

use std::path::Path;

use chrono::{DateTime, Local, NaiveTime, Timelike};
use serde::{Deserialize, Serialize};

use super::files;
use super::record::Record;
use crate::mood::Mood;

/// A time of day as the config writes it, `HH:MM` (00:00-24:00).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct ClockTime(u32);

impl ClockTime {
    pub fn from_hm(h: u32, m: u32) -> Option<ClockTime> {
        (h < 24 && m < 60 || (h, m) == (24, 0)).then_some(ClockTime(h * 3600 + m * 60))
    }

    /// Seconds since midnight.
    pub fn seconds(self) -> u32 {
        self.0
    }
}

impl std::str::FromStr for ClockTime {
    type Err = String;
    fn from_str(s: &str) -> Result<ClockTime, String> {
        let bad = || format!("{s:?} is not a time of day: write it as HH:MM, e.g. \"07:00\"");
        let (h, m) = s.split_once(':').ok_or_else(bad)?;
        if h.len() != 2 || m.len() != 2 {
            return Err(bad());
        }
        let (h, m) = (h.parse().map_err(|_| bad())?, m.parse().map_err(|_| bad())?);
        ClockTime::from_hm(h, m).ok_or_else(bad)
    }
}

impl<'de> serde::Deserialize<'de> for ClockTime {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<ClockTime, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

impl Serialize for ClockTime {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&format!("{:02}:{:02}", self.0 / 3600, self.0 % 3600 / 60))
    }
}

/// The kiosk's opening hours (`web.day_start`, `web.day_end`): the chart's fixed axis.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Hours {
    pub start: ClockTime,
    pub end: ClockTime,
}

/// Bucket widths tried, narrowest first; the first that gives at most [`MAX_BARS`] bars wins.
const BUCKETS_S: &[u32] = &[60, 300, 900, 1800, 3600, 7200];
/// Most bars in the chart.
pub const MAX_BARS: u32 = 48;

/// One bar of the chart.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Bar {
    /// Local start time, `HH:MM`.
    pub start: String,
    pub happy: u32,
    pub not_happy: u32,
}

/// The day so far.
#[derive(Debug, Clone, Serialize)]
pub struct Today {
    /// `YYYY-MM-DD`, the kiosk's local date: the day the page shows as "today".
    pub date: String,
    /// The kiosk's UTC offset for that date, `+HH:MM` (the time zone the date is in).
    pub utc_offset: String,
    /// Width of each bar in seconds.
    pub bucket_s: u32,
    /// From the first visitor's bucket to now's, empty buckets included.
    pub bars: Vec<Bar>,
    pub happy: u32,
    pub not_happy: u32,
    pub visitors: u32,
    /// Visitors who left before a steady mood (from the interval summaries).
    pub undecided: u32,
    /// Lines of the file that could not be read (a torn last line after a crash).
    pub unreadable_lines: usize,
}

/// Read today's journal in `dir`; a missing file is a day without visitors.
pub fn today(dir: &Path, now: DateTime<Local>, hours: Hours) -> std::io::Result<Today> {
    let (records, bad) = files::read_day(dir, now.date_naive())?;
    let mut t = chart(&records, now, hours);
    t.unreadable_lines = bad;
    Ok(t)
}

/// Seconds since local midnight.
fn second_of_day(t: &DateTime<Local>) -> u32 {
    t.time().num_seconds_from_midnight()
}

/// Build the chart of the day of `now` from its records: bars over the opening hours (widened
/// to any visitor outside them), so that they keep their width through the day.
pub fn chart(records: &[Record], now: DateTime<Local>, hours: Hours) -> Today {
    let mut visits: Vec<(u32, Mood)> = Vec::new();
    let mut undecided = 0;
    for r in records {
        match r {
            Record::Visitor { time, mood, .. } => {
                let t = time.with_timezone(&Local);
                if t.date_naive() == now.date_naive() {
                    visits.push((second_of_day(&t), *mood));
                }
            }
            Record::Summary { undecided: u, .. } => undecided += u,
        }
    }
    let happy = visits.iter().filter(|v| v.1 == Mood::Happy).count() as u32;
    let not_happy = visits.len() as u32 - happy;
    let first = visits.iter().map(|v| v.0).min().unwrap_or(u32::MAX);
    let last = visits.iter().map(|v| v.0 + 1).max().unwrap_or(0);
    let (from, to) = (
        first.min(hours.start.seconds()),
        last.max(hours.end.seconds()).min(86_400),
    );
    let bucket_s = *BUCKETS_S
        .iter()
        .find(|b| to.div_ceil(**b) - from / **b <= MAX_BARS)
        .unwrap_or(BUCKETS_S.last().expect("not empty"));
    let mut bars = Vec::new();
    for b in (from / bucket_s)..to.div_ceil(bucket_s) {
        let start = b * bucket_s;
        let t = NaiveTime::from_num_seconds_from_midnight_opt(start, 0).unwrap_or_default();
        let in_bar = |m: Mood| {
            visits
                .iter()
                .filter(|v| v.0 / bucket_s == b && v.1 == m)
                .count() as u32
        };
        bars.push(Bar {
            start: t.format("%H:%M").to_string(),
            happy: in_bar(Mood::Happy),
            not_happy: in_bar(Mood::NotHappy),
        });
    }
    Today {
        date: now.format("%Y-%m-%d").to_string(),
        utc_offset: now.format("%:z").to_string(),
        bucket_s,
        bars,
        happy,
        not_happy,
        visitors: happy + not_happy,
        undecided,
        unreadable_lines: 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    const OPEN: Hours = Hours {
        start: ClockTime(9 * 3600),
        end: ClockTime(9 * 3600 + 11 * 60),
    };

    fn at(h: u32, m: u32) -> DateTime<Local> {
        Local.with_ymd_and_hms(2026, 3, 2, h, m, 0).unwrap()
    }

    fn visit(t: DateTime<Local>, mood: Mood) -> Record {
        Record::Visitor {
            seq: 0,
            time: t.fixed_offset(),
            mood,
            confidence: 0.9,
            frames: 5,
            face_px: 120,
            clock_synced: true,
        }
    }

    #[test]
    fn bars_count_moods_per_bucket() {
        let recs = vec![
            visit(at(9, 0), Mood::Happy),
            visit(at(9, 1), Mood::NotHappy),
            visit(at(9, 3), Mood::Happy),
            visit(at(8, 59) - chrono::Duration::days(1), Mood::Happy), // yesterday
            Record::Summary {
                time: at(9, 5).fixed_offset(),
                start: at(9, 0).fixed_offset(),
                happy: 2,
                not_happy: 1,
                visitors: 3,
                undecided: 2,
                camera_up_s: 300.0,
                clock_synced: true,
            },
        ];
        let t = chart(&recs, at(9, 10), OPEN);
        assert_eq!(
            (t.happy, t.not_happy, t.visitors, t.undecided),
            (2, 1, 3, 2)
        );
        assert_eq!(t.bucket_s, 60);
        assert_eq!(t.bars.len(), 11); // 09:00 ..= 09:10, the opening hours
        assert_eq!(
            t.bars[0],
            Bar {
                start: "09:00".into(),
                happy: 1,
                not_happy: 0
            }
        );
        assert_eq!(t.bars[1].not_happy, 1);
        assert_eq!(t.bars[3].happy, 1);
        assert_eq!(t.bars.iter().map(|b| b.happy + b.not_happy).sum::<u32>(), 3);
    }

    #[test]
    fn the_axis_spans_the_opening_hours_and_any_visitor_outside_them() {
        let hours = Hours {
            start: "07:00".parse().unwrap(),
            end: "19:00".parse().unwrap(),
        };
        // Early in the day the axis already spans 07:00-19:00: 48 bars of 15 minutes.
        let t = chart(&[visit(at(8, 0), Mood::Happy)], at(8, 5), hours);
        assert_eq!((t.bucket_s, t.bars.len()), (900, 48));
        assert_eq!(t.bars[0].start, "07:00");
        assert_eq!(t.bars[4].happy, 1);
        assert_eq!(chart(&[], at(16, 0), hours).bars.len(), 48);
        // A visitor at 21:30 widens it.
        let t = chart(&[visit(at(21, 30), Mood::NotHappy)], at(22, 0), hours);
        assert!(
            t.bars.len() as u32 <= MAX_BARS && t.bucket_s == 1800,
            "{t:?}"
        );
        assert_eq!(t.bars.iter().map(|b| b.not_happy).sum::<u32>(), 1);
        assert_eq!(t.bars.last().unwrap().start, "21:30");
    }

    #[test]
    fn clock_times_parse_and_refuse() {
        assert_eq!("07:30".parse::<ClockTime>().unwrap().seconds(), 27_000);
        assert_eq!("24:00".parse::<ClockTime>().unwrap().seconds(), 86_400);
        for bad in ["7:30", "24:01", "12:60", "noon", "", "12:3x"] {
            assert!(bad.parse::<ClockTime>().is_err(), "{bad}");
        }
    }
}
