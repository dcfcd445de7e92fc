//! Counting visitors: the summary interval (happy, not happy, undecided, camera time), the
//! day's visitor count with its reset at local midnight, and the journal records they make.

use std::time::{Duration, Instant};

use chrono::{DateTime, Local, NaiveDate};

use crate::journal::{record, Record};
use crate::mood::Mood;
use crate::tracker::Decision;

/// Counters of the current summary interval.
struct Interval {
    start: DateTime<Local>,
    began: Instant,
    happy: u32,
    not_happy: u32,
    undecided: u32,
    camera_up: Duration,
}

impl Interval {
    fn new() -> Interval {
        Interval {
            start: Local::now(),
            began: Instant::now(),
            happy: 0,
            not_happy: 0,
            undecided: 0,
            camera_up: Duration::ZERO,
        }
    }
}

/// The visitor counts.
pub struct Visits {
    every: Duration,
    interval: Interval,
    today: NaiveDate,
    visitors_today: u32,
    last_frame: Option<Instant>,
}

impl Visits {
    /// One summary per `every`.
    pub fn new(every: Duration) -> Visits {
        Visits {
            every,
            interval: Interval::new(),
            today: Local::now().date_naive(),
            visitors_today: 0,
            last_frame: None,
        }
    }

    /// A new summary interval length (reload).
    pub fn set_every(&mut self, every: Duration) {
        self.every = every;
    }

    pub fn visitors_today(&self) -> u32 {
        self.visitors_today
    }

    /// The summary record when the interval is over (and a new interval begins).
    pub fn summary_due(&mut self, now: Instant) -> Option<Record> {
        (now.duration_since(self.interval.began) >= self.every).then(|| self.summary())
    }

    /// After local midnight: the day's count restarts. True when it did.
    pub fn roll_day(&mut self) -> bool {
        let today = Local::now().date_naive();
        if today == self.today {
            return false;
        }
        self.today = today;
        self.visitors_today = 0;
        true
    }

    /// A frame arrived at `at`: the camera was up since the previous one (gaps over 5 s, as
    /// after a camera fault, do not count).
    pub fn frame_at(&mut self, at: Instant) {
        if let Some(prev) = self.last_frame {
            self.interval.camera_up += at.duration_since(prev).min(Duration::from_secs(5));
        }
        self.last_frame = Some(at);
    }

    /// Visitors who left before a steady mood.
    pub fn undecided(&mut self, n: u32) {
        self.interval.undecided += n;
    }

    /// A decided visitor: counted, and its journal record.
    pub fn decided(&mut self, d: &Decision) -> Record {
        match d.mood {
            Mood::Happy => self.interval.happy += 1,
            Mood::NotHappy => self.interval.not_happy += 1,
        }
        self.visitors_today += 1;
        Record::Visitor {
            seq: 0,
            time: record::now(),
            mood: d.mood,
            confidence: (d.confidence * 1000.0).round() / 1000.0,
            frames: d.frames,
            face_px: d.face_px,
            clock_synced: true,
        }
    }

    /// The summary of the interval so far; a new interval begins.
    pub fn summary(&mut self) -> Record {
        let iv = std::mem::replace(&mut self.interval, Interval::new());
        Record::Summary {
            time: self.interval.start.fixed_offset(),
            start: iv.start.fixed_offset(),
            happy: iv.happy,
            not_happy: iv.not_happy,
            visitors: iv.happy + iv.not_happy,
            undecided: iv.undecided,
            camera_up_s: (iv.camera_up.as_secs_f64() * 10.0).round() / 10.0,
            clock_synced: true,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decision(mood: Mood) -> Decision {
        Decision {
            track: 1,
            mood,
            confidence: 0.87654,
            frames: 5,
            face_px: 120,
        }
    }

    #[test]
    fn counts_into_the_summary_and_starts_a_new_interval() {
        let mut v = Visits::new(Duration::from_secs(60));
        assert!(v.summary_due(Instant::now()).is_none());
        let rec = v.decided(&decision(Mood::Happy));
        assert!(matches!(rec, Record::Visitor { confidence, .. } if confidence == 0.877));
        v.decided(&decision(Mood::NotHappy));
        v.undecided(2);
        let t = Instant::now();
        v.frame_at(t);
        v.frame_at(t + Duration::from_secs(2));
        v.frame_at(t + Duration::from_secs(60)); // a gap: counts 5 s at most
        assert_eq!(v.visitors_today(), 2);
        match v.summary_due(Instant::now() + Duration::from_secs(61)) {
            Some(Record::Summary {
                happy,
                not_happy,
                visitors,
                undecided,
                camera_up_s,
                ..
            }) => assert_eq!(
                (happy, not_happy, visitors, undecided, camera_up_s),
                (1, 1, 2, 2, 7.0)
            ),
            other => panic!("{other:?}"),
        }
        match v.summary() {
            Record::Summary { visitors, .. } => assert_eq!(visitors, 0),
            other => panic!("{other:?}"),
        }
        assert_eq!(v.visitors_today(), 2, "the day's count survives summaries");
    }
}
