//! What the publisher sends next, in journal order, and today's records for the `today` totals.
//!
//! Two sources: the [`Feed`] over the journal's files, read only to catch up (after a connect,
//! from the cursor: whatever the broker has not acknowledged), and the live records the daemon
//! hands over as the journal writes them. Once the feed has nothing more, the live records take
//! over; a record either source already gave on this connection (a visitor at or below the
//! newest `seq` taken, a summary at or before the newest summary time taken) is skipped.

use std::collections::VecDeque;
use std::path::Path;
use std::sync::mpsc::Receiver;

use chrono::{Local, NaiveDate};

use crate::journal::{self, Feed, Record, Stamp};

/// Live records kept while catching up, at most (more: the feed gives them from the files).
const LIVE_MAX: usize = 10_000;

pub struct Outbox {
    feed: Feed,
    /// Reading the feed (after a connect, or when the live queue overflowed).
    catching_up: bool,
    incoming: Receiver<Record>,
    /// Live records not yet sent (kept only while connected).
    live: VecDeque<Record>,
    /// Records read from the feed, not yet sent.
    pending: VecDeque<Record>,
    /// The newest visitor `seq` and summary time taken for sending on this connection.
    taken: (u64, Option<Stamp>),
    /// The highest `seq` the journal holds.
    newest: u64,
    /// Today's records (the file read once at start, then the live records).
    day: NaiveDate,
    day_records: Vec<Record>,
    /// Today's totals changed since they were last published.
    today_due: bool,
}

impl Outbox {
    pub fn new(dir: &Path, incoming: Receiver<Record>) -> Outbox {
        let day = Local::now().date_naive();
        let day_records = journal::files::read_day(dir, day)
            .map(|(r, _)| r)
            .unwrap_or_default();
        Outbox {
            feed: Feed::new(dir),
            catching_up: true,
            incoming,
            live: VecDeque::new(),
            pending: VecDeque::new(),
            taken: (0, None),
            newest: journal::last_seq(dir),
            day,
            day_records,
            today_due: true,
        }
    }

    /// The highest visitor `seq` the journal holds.
    pub fn newest(&self) -> u64 {
        self.newest
    }

    /// A visitor `seq` was sent (it is in the journal).
    pub fn sent(&mut self, seq: u64) {
        self.newest = self.newest.max(seq);
    }

    /// A new connection: catch up from right after `cursor`, the last acknowledged `seq`.
    pub fn connected(&mut self, cursor: u64) {
        self.feed.seek_after(cursor);
        self.catching_up = true;
        self.taken = (cursor, None);
        self.pending.clear();
        self.today_due = true;
    }

    /// The connection is gone: what was queued is in the journal and comes again from the feed.
    pub fn disconnected(&mut self) {
        self.pending.clear();
        self.live.clear();
    }

    /// Take the live records the daemon handed over since the last turn: today's records
    /// follow them; while `connected` they wait to be sent.
    pub fn take_live(&mut self, connected: bool) {
        let date = Local::now().date_naive();
        if date != self.day {
            self.day = date;
            self.day_records.clear();
            self.today_due = true;
        }
        while let Ok(rec) = self.incoming.try_recv() {
            if let Some(seq) = rec.seq() {
                self.newest = self.newest.max(seq);
            }
            let day = rec.time().with_timezone(&Local).date_naive();
            if day > self.day {
                self.day = day;
                self.day_records.clear();
            }
            if day == self.day {
                self.day_records.push(rec.clone());
                self.today_due = true;
            }
            if connected {
                self.live.push_back(rec);
            }
        }
        if self.live.len() > LIVE_MAX {
            // Far behind: the feed, still where the live records took over, gives them.
            self.live.clear();
            self.catching_up = true;
        }
    }

    fn seen(&self, r: &Record) -> bool {
        match r {
            Record::Visitor { seq, .. } => *seq <= self.taken.0,
            Record::Summary { time, .. } => self.taken.1.is_some_and(|t| *time <= t),
        }
    }

    /// The next record to send: the feed's while catching up, then the live ones.
    pub fn next(&mut self) -> Option<Record> {
        while self.catching_up {
            if self.pending.is_empty() {
                self.pending.extend(self.feed.read());
            }
            match self.pending.front() {
                Some(r) if self.seen(r) => {
                    self.pending.pop_front();
                }
                Some(r) => return Some(r.clone()),
                None => self.catching_up = false,
            }
        }
        while let Some(r) = self.live.front() {
            if !self.seen(r) {
                return Some(r.clone());
            }
            self.live.pop_front();
        }
        None
    }

    /// The record [`Outbox::next`] gave was handed to the client (or needs no sending).
    pub fn taken(&mut self, rec: &Record) {
        match rec {
            Record::Visitor { seq, .. } => self.taken.0 = self.taken.0.max(*seq),
            Record::Summary { time, .. } => self.taken.1 = Some(*time),
        }
        match self.catching_up {
            true => self.pending.pop_front(),
            false => self.live.pop_front(),
        };
    }

    /// Today's records, when today's totals changed since [`Outbox::today_published`].
    pub fn today_due(&self) -> Option<&[Record]> {
        self.today_due.then_some(&self.day_records)
    }

    pub fn today_published(&mut self) {
        self.today_due = false;
    }

    /// Publish today's totals again (a new connection, Home Assistant restarted).
    pub fn today_again(&mut self) {
        self.today_due = true;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::journal::record;
    use crate::mood::Mood;
    use std::sync::mpsc;

    fn visitor(seq: u64) -> Record {
        Record::Visitor {
            seq,
            time: record::now(),
            mood: Mood::Happy,
            confidence: 0.9,
            frames: 5,
            face_px: 100,
            clock_synced: true,
        }
    }

    fn drain(o: &mut Outbox) -> Vec<u64> {
        let mut out = Vec::new();
        while let Some(r) = o.next() {
            out.push(r.seq().unwrap_or(0));
            o.taken(&r);
        }
        out
    }

    #[test]
    fn catches_up_from_the_cursor_then_sends_live_records_once() {
        let d = tempfile::tempdir().unwrap();
        let file = d.path().join(journal::file_name(Local::now().date_naive()));
        let lines: String = (1..=4).map(|s| visitor(s).to_json() + "\n").collect();
        std::fs::write(&file, lines).unwrap();
        let (tx, rx) = mpsc::channel();
        let mut o = Outbox::new(d.path(), rx);
        assert_eq!(o.newest(), 4);
        assert_eq!(
            o.today_due().map(<[Record]>::len),
            Some(4),
            "today's file read once"
        );
        o.connected(2);
        // Record 4 is in the file and also arrives live, record 5 only live (not yet written).
        tx.send(visitor(4)).unwrap();
        tx.send(visitor(5)).unwrap();
        o.take_live(true);
        assert_eq!(
            drain(&mut o),
            [3, 4, 5],
            "the feed's, then the live ones not yet sent"
        );
        assert_eq!(o.newest(), 5);
        assert_eq!(o.today_due().map(<[Record]>::len), Some(6));
        o.today_published();
        assert!(o.today_due().is_none());
        // Disconnected: live records are not kept (the journal has them), today still counts.
        o.disconnected();
        tx.send(visitor(6)).unwrap();
        o.take_live(false);
        assert_eq!(drain(&mut o), Vec::<u64>::new());
        assert_eq!(o.today_due().map(<[Record]>::len), Some(7));
    }

    #[test]
    fn an_overflowing_live_queue_goes_back_to_the_feed() {
        let d = tempfile::tempdir().unwrap();
        let file = d.path().join(journal::file_name(Local::now().date_naive()));
        let (tx, rx) = mpsc::channel();
        let mut o = Outbox::new(d.path(), rx);
        o.connected(0);
        assert_eq!(drain(&mut o), Vec::<u64>::new(), "nothing yet: live now");
        let n = LIVE_MAX as u64 + 5;
        let lines: String = (1..=n).map(|s| visitor(s).to_json() + "\n").collect();
        std::fs::write(&file, lines).unwrap();
        for s in 1..=n {
            tx.send(visitor(s)).unwrap();
        }
        o.take_live(true);
        let got = drain(&mut o);
        assert_eq!(
            got,
            (1..=n).collect::<Vec<_>>(),
            "every record once, in order"
        );
    }
}
