//! The record schema: one JSON object per line, `"type"` naming the kind. Times are typed
//! ([`Stamp`]: the local time with its UTC offset, as written) and serialized as RFC 3339 with
//! milliseconds, e.g. `2026-12-07T09:15:02.120+01:00`, the format of every line ever written.

use chrono::{DateTime, FixedOffset, Local, SecondsFormat, TimeZone};
use serde::{Deserialize, Serialize};

use crate::mood::Mood;

/// A moment as the journal records it: local time with its offset.
pub type Stamp = DateTime<FixedOffset>;

/// Now, as a [`Stamp`].
pub fn now() -> Stamp {
    Local::now().fixed_offset()
}

/// RFC 3339 text of a time, millisecond precision (the journal's and the API's format).
pub fn rfc3339<Tz: TimeZone>(t: DateTime<Tz>) -> String
where
    Tz::Offset: std::fmt::Display,
{
    t.to_rfc3339_opts(SecondsFormat::Millis, false)
}

/// Serde for [`Stamp`] in the journal's format.
mod stamp {
    use super::Stamp;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(t: &Stamp, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&super::rfc3339(*t))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Stamp, D::Error> {
        let s = <&str>::deserialize(d)?;
        Stamp::parse_from_rfc3339(s).map_err(serde::de::Error::custom)
    }
}

/// One line of the journal.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Record {
    /// A visitor's steady mood.
    Visitor {
        /// Unique per kiosk and increasing, given by the journal when it writes the record (0 in
        /// records written before numbering): subscribers drop duplicates by it.
        #[serde(default, skip_serializing_if = "is_zero")]
        seq: u64,
        /// When the mood was decided.
        #[serde(with = "stamp")]
        time: Stamp,
        mood: Mood,
        /// Mean probability of the agreeing frames.
        confidence: f32,
        /// Frames classified before the decision.
        frames: u32,
        /// Mean face size in pixels (larger box side).
        face_px: u32,
        /// Whether the system clock was synchronised when the record was written (written
        /// only when it was not: such a record's time may be far off, e.g. on a board without a
        /// real-time clock before NTP answered). Set by the journal.
        #[serde(default = "synced", skip_serializing_if = "is_synced")]
        clock_synced: bool,
    },
    /// Counts for one interval.
    Summary {
        /// The end of the interval.
        #[serde(with = "stamp")]
        time: Stamp,
        /// Its start.
        #[serde(with = "stamp")]
        start: Stamp,
        happy: u32,
        not_happy: u32,
        /// Decided visitors (happy + not_happy).
        visitors: u32,
        /// Visitors who left before a steady mood.
        undecided: u32,
        /// Seconds within the interval that the camera delivered frames.
        camera_up_s: f64,
        /// As a visitor's.
        #[serde(default = "synced", skip_serializing_if = "is_synced")]
        clock_synced: bool,
    },
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

fn synced() -> bool {
    true
}

fn is_synced(b: &bool) -> bool {
    *b
}

impl Record {
    /// When it happened (a summary: the end of its interval).
    pub fn time(&self) -> Stamp {
        match self {
            Record::Visitor { time, .. } | Record::Summary { time, .. } => *time,
        }
    }

    /// A numbered visitor's `seq`.
    pub fn seq(&self) -> Option<u64> {
        match self {
            Record::Visitor { seq, .. } if *seq > 0 => Some(*seq),
            _ => None,
        }
    }

    /// Mark whether the clock was synchronised when the record was written.
    pub fn set_clock_synced(&mut self, synced: bool) {
        match self {
            Record::Visitor { clock_synced, .. } | Record::Summary { clock_synced, .. } => {
                *clock_synced = synced
            }
        }
    }

    /// One JSON line, without the newline.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }
}

/// One CSV row of a record (the export's columns, in this order; empty where not applicable).
#[derive(Debug, Serialize)]
pub struct CsvRow {
    time: String,
    #[serde(rename = "type")]
    kind: &'static str,
    mood: Option<Mood>,
    confidence: Option<String>,
    frames: Option<u32>,
    face_px: Option<u32>,
    start: Option<String>,
    happy: Option<u32>,
    not_happy: Option<u32>,
    visitors: Option<u32>,
    undecided: Option<u32>,
    camera_up_s: Option<String>,
    seq: Option<u64>,
}

impl From<&Record> for CsvRow {
    fn from(r: &Record) -> CsvRow {
        let blank = |time: &Stamp, kind| CsvRow {
            time: rfc3339(*time),
            kind,
            mood: None,
            confidence: None,
            frames: None,
            face_px: None,
            start: None,
            happy: None,
            not_happy: None,
            visitors: None,
            undecided: None,
            camera_up_s: None,
            seq: None,
        };
        match r {
            Record::Visitor {
                seq,
                time,
                mood,
                confidence,
                frames,
                face_px,
                ..
            } => CsvRow {
                mood: Some(*mood),
                confidence: Some(format!("{confidence:.3}")),
                frames: Some(*frames),
                face_px: Some(*face_px),
                seq: (*seq > 0).then_some(*seq),
                ..blank(time, "visitor")
            },
            Record::Summary {
                time,
                start,
                happy,
                not_happy,
                visitors,
                undecided,
                camera_up_s,
                ..
            } => CsvRow {
                start: Some(rfc3339(*start)),
                happy: Some(*happy),
                not_happy: Some(*not_happy),
                visitors: Some(*visitors),
                undecided: Some(*undecided),
                camera_up_s: Some(format!("{camera_up_s:.1}")),
                ..blank(time, "summary")
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_round_trip_in_the_written_format() {
        let line = r#"{"type":"visitor","seq":7,"time":"2026-11-28T12:15:00.120+01:00","mood":"happy","confidence":0.9,"frames":5,"face_px":120}"#;
        let r: Record = serde_json::from_str(line).unwrap();
        assert_eq!(r.seq(), Some(7));
        assert_eq!(r.time().offset().local_minus_utc(), 3600);
        assert_eq!(r.to_json(), line);
        let s = Record::Summary {
            time: r.time(),
            start: r.time(),
            happy: 2,
            not_happy: 1,
            visitors: 3,
            undecided: 0,
            camera_up_s: 59.5,
            clock_synced: true,
        };
        assert!(s.to_json().starts_with("{\"type\":\"summary\""));
        assert_eq!(s.seq(), None);
        assert!(serde_json::from_str::<Record>(&line.replace("12:15", "25:15")).is_err());
    }
}
