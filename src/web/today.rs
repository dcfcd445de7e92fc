//! Today's moods for the dashboard, from the journal file of the day: visitors per time bucket,
//! totals, and the undecided count from the interval summaries.

use std::path::Path;

use chrono::{DateTime, Local, NaiveTime, Timelike};
use serde::Serialize;

use crate::journal::{self, Record};
use crate::mood::Mood;

/// Bucket widths tried, narrowest first; the first that gives at most [`MAX_BARS`] bars wins.
const BUCKETS_S: &[u32] = &[60, 300, 900, 1800, 3600, 7200];
/// Most bars in the chart.
pub const MAX_BARS: u32 = 48;

/// One bar of the chart.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Bar {
    /// Local start time, `HH:MM`.
    pub start: String,
    pub happy: u32,
    pub not_happy: u32,
}

/// The day so far.
#[derive(Debug, Clone, Serialize)]
pub struct Today {
    /// `YYYY-MM-DD`, local.
    pub date: String,
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
pub fn today(dir: &Path, now: DateTime<Local>) -> std::io::Result<Today> {
    let path = dir.join(journal::file_name(now.date_naive()));
    let (records, bad) = match journal::read_file(&path) {
        Ok(r) => r,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => (Vec::new(), 0),
        Err(e) => return Err(e),
    };
    let mut t = chart(&records, now);
    t.unreadable_lines = bad;
    Ok(t)
}

/// Seconds since local midnight.
fn second_of_day(t: &DateTime<Local>) -> u32 {
    t.time().num_seconds_from_midnight()
}

/// Build the chart of the day of `now` from its records.
pub fn chart(records: &[Record], now: DateTime<Local>) -> Today {
    let mut visits: Vec<(u32, Mood)> = Vec::new();
    let mut undecided = 0;
    for r in records {
        match r {
            Record::Visitor { time, mood, .. } => {
                if let Ok(t) = DateTime::parse_from_rfc3339(time) {
                    let t = t.with_timezone(&Local);
                    if t.date_naive() == now.date_naive() {
                        visits.push((second_of_day(&t), *mood));
                    }
                }
            }
            Record::Summary { undecided: u, .. } => undecided += u,
        }
    }
    let happy = visits.iter().filter(|v| v.1 == Mood::Happy).count() as u32;
    let not_happy = visits.len() as u32 - happy;
    let now_s = second_of_day(&now);
    let first = visits.iter().map(|v| v.0).min().unwrap_or(now_s).min(now_s);
    let bucket_s = *BUCKETS_S
        .iter()
        .find(|b| now_s / **b - first / **b < MAX_BARS)
        .unwrap_or(BUCKETS_S.last().expect("not empty"));
    let mut bars = Vec::new();
    if !visits.is_empty() {
        for b in (first / bucket_s)..=(now_s / bucket_s) {
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
    }
    Today {
        date: now.format("%Y-%m-%d").to_string(),
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

    fn at(h: u32, m: u32) -> DateTime<Local> {
        Local.with_ymd_and_hms(2026, 3, 2, h, m, 0).unwrap()
    }

    fn visit(t: DateTime<Local>, mood: Mood) -> Record {
        Record::Visitor {
            time: journal::rfc3339(t),
            mood,
            confidence: 0.9,
            frames: 5,
            face_px: 120,
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
                time: journal::rfc3339(at(9, 5)),
                start: journal::rfc3339(at(9, 0)),
                happy: 2,
                not_happy: 1,
                visitors: 3,
                undecided: 2,
                camera_up_s: 300.0,
            },
        ];
        let t = chart(&recs, at(9, 10));
        assert_eq!(
            (t.happy, t.not_happy, t.visitors, t.undecided),
            (2, 1, 3, 2)
        );
        assert_eq!(t.bucket_s, 60);
        assert_eq!(t.bars.len(), 11); // 09:00 ..= 09:10
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
    fn a_long_day_gets_wider_bars() {
        let t = chart(&[visit(at(8, 0), Mood::Happy)], at(16, 0));
        assert_eq!(t.bucket_s, 900);
        assert!(t.bars.len() as u32 <= MAX_BARS);
        assert_eq!(t.bars[0].start, "08:00");
        assert!(chart(&[], at(16, 0)).bars.is_empty());
    }
}
