//! The journal's history for the page and the API: the days the journal folder holds, any kept
//! day's chart, and a day's records as CSV. Read-only, straight from the day files.

use std::path::Path;

use chrono::{Local, NaiveDate, TimeZone};
use serde::Serialize;

use super::chart::{self, Hours, Today};
use super::files;
use super::record::{CsvRow, Record};
use crate::mood::Mood;

/// One kept day's totals.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Day {
    /// `YYYY-MM-DD`.
    pub date: String,
    pub visitors: u32,
    pub happy: u32,
    pub not_happy: u32,
    pub undecided: u32,
}

/// Why a day cannot be shown.
#[derive(Debug)]
pub enum DayError {
    /// Not `YYYY-MM-DD`.
    BadDate(String),
    /// No journal file for that day (never written, or past retention).
    NotKept(NaiveDate),
    Io(std::io::Error),
}

/// Parse the `date` parameter: strictly `YYYY-MM-DD` (four, two and two digits).
pub fn parse_date(s: &str) -> Result<NaiveDate, DayError> {
    let shape = s.len() == 10
        && s.bytes().enumerate().all(|(i, b)| {
            if i == 4 || i == 7 {
                b == b'-'
            } else {
                b.is_ascii_digit()
            }
        });
    shape
        .then(|| NaiveDate::parse_from_str(s, "%Y-%m-%d").ok())
        .flatten()
        .ok_or_else(|| DayError::BadDate(s.chars().take(40).collect()))
}

fn records(dir: &Path, day: NaiveDate) -> Result<(Vec<Record>, usize), DayError> {
    match files::read_file(&dir.join(files::file_name(day))) {
        Ok(r) => Ok(r),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(DayError::NotKept(day)),
        Err(e) => Err(DayError::Io(e)),
    }
}

/// The kept days, newest first, with their totals. A missing folder holds no day. Each file is
/// streamed (memory bounded whatever its size); a file that cannot be read is left out.
pub fn days(dir: &Path) -> std::io::Result<Vec<Day>> {
    let mut dates = files::kept_days(dir)?;
    dates.reverse();
    let mut out = Vec::with_capacity(dates.len());
    for d in dates {
        let mut day = Day {
            date: d.format("%Y-%m-%d").to_string(),
            visitors: 0,
            happy: 0,
            not_happy: 0,
            undecided: 0,
        };
        let counted = files::for_each_record(&dir.join(files::file_name(d)), |r| match r {
            Record::Visitor { mood, .. } => {
                day.visitors += 1;
                match mood {
                    Mood::Happy => day.happy += 1,
                    Mood::NotHappy => day.not_happy += 1,
                }
            }
            Record::Summary { undecided, .. } => day.undecided += undecided,
        });
        if counted.is_ok() {
            out.push(day); // else removed by retention since the listing, or not readable
        }
    }
    Ok(out)
}

/// The dashboard's data for a kept day (the whole day for a past one).
pub fn day(dir: &Path, date: NaiveDate, hours: Hours) -> Result<Today, DayError> {
    let (recs, bad) = records(dir, date)?;
    let today = Local::now().date_naive();
    let end = match date == today {
        true => Local::now(),
        false => date
            .and_hms_opt(23, 59, 59)
            .and_then(|t| Local.from_local_datetime(&t).earliest())
            .unwrap_or_else(Local::now),
    };
    let mut t = chart::chart(&recs, end, hours);
    t.unreadable_lines = bad;
    Ok(t)
}

/// A kept day's records as CSV, one line per record, a header first.
pub fn day_csv(dir: &Path, date: NaiveDate) -> Result<Vec<u8>, DayError> {
    let (recs, _) = records(dir, date)?;
    let mut w = csv::Writer::from_writer(Vec::new());
    let io = |e: csv::Error| DayError::Io(std::io::Error::other(e));
    for r in &recs {
        w.serialize(CsvRow::from(r)).map_err(io)?;
    }
    w.into_inner()
        .map_err(|e| DayError::Io(std::io::Error::other(e.to_string())))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn visitor(time: &str, mood: Mood) -> String {
        serde_json::to_string(&Record::Visitor {
            seq: 0,
            time: time.parse().unwrap(),
            mood,
            confidence: 0.9,
            frames: 5,
            face_px: 120,
            clock_synced: true,
        })
        .unwrap()
    }

    fn folder() -> tempfile::TempDir {
        let d = tempfile::tempdir().unwrap();
        let day = |date: &str, lines: &[String]| {
            std::fs::write(
                d.path().join(format!("mood-{date}.jsonl")),
                lines.join("\n") + "\n",
            )
            .unwrap()
        };
        day(
            "2026-11-28",
            &[
                visitor("2026-11-28T12:15:00.000+00:00", Mood::Happy),
                visitor("2026-11-28T12:20:00.000+00:00", Mood::NotHappy),
                r#"{"type":"summary","time":"2026-11-28T10:00:00.000+00:00","start":"2026-11-28T09:00:00.000+00:00","happy":1,"not_happy":1,"visitors":2,"undecided":3,"camera_up_s":3600.0}"#.into(),
            ],
        );
        day(
            "2026-11-30",
            &[visitor("2026-11-30T12:00:00.000+00:00", Mood::Happy)],
        );
        std::fs::write(d.path().join("notes.txt"), "not a day").unwrap();
        std::fs::write(d.path().join(".lock"), "1").unwrap();
        d
    }

    #[test]
    fn days_lists_the_day_files_newest_first_with_totals() {
        let d = folder();
        let days = days(d.path()).unwrap();
        assert_eq!(days.len(), 2);
        assert_eq!(days[0].date, "2026-11-30");
        assert_eq!((days[0].visitors, days[0].happy), (1, 1));
        assert_eq!(
            (
                days[1].visitors,
                days[1].happy,
                days[1].not_happy,
                days[1].undecided
            ),
            (2, 1, 1, 3)
        );
        assert!(super::days(&d.path().join("gone")).unwrap().is_empty());
    }

    #[test]
    fn a_kept_day_has_its_chart_and_csv_and_others_are_errors() {
        let d = folder();
        let date = parse_date("2026-11-28").unwrap();
        let hours = Hours {
            start: "07:00".parse().unwrap(),
            end: "19:00".parse().unwrap(),
        };
        let t = day(d.path(), date, hours).unwrap();
        assert_eq!(t.bars.len(), 48, "07:00-19:00 in 15-minute bars");
        assert_eq!(
            (t.visitors, t.happy, t.not_happy, t.undecided),
            (2, 1, 1, 3)
        );
        assert_eq!(t.date, "2026-11-28");
        let csv = String::from_utf8(day_csv(d.path(), date).unwrap()).unwrap();
        let lines: Vec<&str> = csv.lines().collect();
        assert_eq!(lines.len(), 4, "{csv}");
        assert!(lines[0].starts_with("time,type,mood,confidence,frames,face_px"));
        assert_eq!(
            lines[1],
            "2026-11-28T12:15:00.000+00:00,visitor,happy,0.900,5,120,,,,,,,"
        );
        assert!(lines[3].contains(",summary,") && lines[3].ends_with(",1,1,2,3,3600.0,"));
        assert!(matches!(
            day(d.path(), parse_date("2026-11-29").unwrap(), hours),
            Err(DayError::NotKept(_))
        ));
        assert!(matches!(
            parse_date("2026-13-01"),
            Err(DayError::BadDate(_))
        ));
        for loose in ["2026-1-7", "-0001-01-01", "+2026-01-07", "2026-01-07 "] {
            assert!(
                matches!(parse_date(loose), Err(DayError::BadDate(_))),
                "{loose}"
            );
        }
        assert!(matches!(
            parse_date("../etc/passwd"),
            Err(DayError::BadDate(_))
        ));
    }
}
