//! The journal as a stream for the publisher's catch-up: every record of the folder in `seq`
//! order, from right after a given `seq` (the cursor), whatever day files the records are in.
//! After a clock jump the writer may go back to an older day's file, so the feed keeps a reading
//! position per day file (complete lines only: a line being written is left for the next read)
//! and merges what is new by `seq`; a summary goes right after the visitor before it in its file.
//!
//! Releasing in `seq` order needs one more look: a record numbered `s` may be visible while
//! `s - 1`, written just before it to another file, was not when that file was read. So each
//! [`Feed::read`] reads every file twice and releases only records up to the highest `seq` the
//! first pass saw (everything up to it was written before the second pass began), holding the
//! rest for the next read. The cursor itself is in [`super::cursor`].

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use chrono::NaiveDate;

use super::files::{file_name, kept_days, open_day_file, parse_lines, MAX_LINE};
use super::record::Record;

/// Most bytes read from one file in one pass.
const CHUNK: u64 = 256 * 1024;

/// Where the feed is in one day file.
#[derive(Debug, Clone, Copy, Default)]
struct Place {
    /// The offset of the next unread line.
    offset: u64,
    /// The last visitor `seq` before it (a summary's place in `seq` order).
    seq: u64,
    /// The file had more than one pass reads.
    partial: bool,
}

/// A reading position in the journal folder.
pub struct Feed {
    dir: PathBuf,
    /// Per day file; a file not in here is read from its start.
    at: BTreeMap<NaiveDate, Place>,
    /// Records read but not released yet: ((seq, 0) for a visitor, (seq before, 1) otherwise).
    held: Vec<((u64, u8), Record)>,
    /// The highest `seq` seen.
    seen: u64,
}

impl Feed {
    /// At the start of every file.
    pub fn new(dir: &Path) -> Feed {
        Feed {
            dir: dir.to_path_buf(),
            at: BTreeMap::new(),
            held: Vec::new(),
            seen: 0,
        }
    }

    /// Place the feed right after the visitor record numbered `cursor`: in each day file, after
    /// the last visitor at or below it (visitors within a file are in `seq` order); a file
    /// without one is read from its start.
    pub fn seek_after(&mut self, cursor: u64) {
        self.at.clear();
        self.held.clear();
        self.seen = cursor;
        if cursor == 0 {
            return;
        }
        for day in kept_days(&self.dir).unwrap_or_default() {
            if let Some(place) = place_after(&self.dir.join(file_name(day)), cursor) {
                self.at.insert(day, place);
            }
        }
    }

    /// The records written since the last read, in `seq` order (a bounded amount per call;
    /// call again for more); lines that do not parse are skipped.
    pub fn read(&mut self) -> Vec<Record> {
        let first = self.pass();
        let partial = self.at.values().filter(|p| p.partial).map(|p| p.seq).min();
        let upto = partial.map_or(self.seen, |p| p.min(self.seen));
        let second = self.pass();
        self.held.extend(first);
        self.held.extend(second);
        self.held.sort_by_key(|(k, _)| *k);
        let cut = self.held.partition_point(|(k, _)| k.0 <= upto);
        self.held.drain(..cut).map(|(_, r)| r).collect()
    }

    /// New complete lines of every day file, each with its merge key.
    fn pass(&mut self) -> Vec<((u64, u8), Record)> {
        let days = kept_days(&self.dir).unwrap_or_default();
        self.at.retain(|d, _| days.contains(d));
        let mut out = Vec::new();
        for day in days {
            let place = self.at.entry(day).or_default();
            let (recs, offset, partial) = read_lines(&self.dir.join(file_name(day)), place.offset);
            place.offset = offset;
            place.partial = partial;
            for r in recs {
                match r.seq() {
                    Some(s) => {
                        place.seq = s;
                        self.seen = self.seen.max(s);
                        out.push(((s, 0), r));
                    }
                    None => out.push(((place.seq, 1), r)),
                }
            }
        }
        out
    }
}

/// The place right after the last visitor numbered at most `cursor` in a day file.
fn place_after(path: &Path, cursor: u64) -> Option<Place> {
    let mut r = BufReader::new(open_day_file(path).ok()?);
    let (mut offset, mut found) = (0u64, None);
    let mut line = Vec::new();
    loop {
        line.clear();
        let n = r
            .by_ref()
            .take(MAX_LINE as u64 + 1)
            .read_until(b'\n', &mut line)
            .ok()?;
        if n == 0 || line.last() != Some(&b'\n') {
            // The end, an unfinished line or an over-long one: nothing after it is placed.
            return found;
        }
        offset += n as u64;
        if let Ok(Record::Visitor { seq, .. }) = serde_json::from_slice(&line) {
            if seq > 0 && seq <= cursor {
                found = Some(Place {
                    offset,
                    seq,
                    partial: false,
                });
            }
        }
    }
}

/// Complete lines of `path` from `offset` (a file shorter than that was replaced: from its
/// start), at most [`CHUNK`] bytes of them; the offset after the last complete line, and whether
/// the file holds more.
fn read_lines(path: &Path, offset: u64) -> (Vec<Record>, u64, bool) {
    let Ok(mut f) = open_day_file(path) else {
        return (Vec::new(), offset, false);
    };
    let len = f.metadata().map(|m| m.len()).unwrap_or(0);
    let offset = if len < offset { 0 } else { offset };
    let mut buf = Vec::new();
    if f.seek(SeekFrom::Start(offset)).is_err() || f.take(CHUNK).read_to_end(&mut buf).is_err() {
        return (Vec::new(), offset, false);
    }
    let complete = match buf.iter().rposition(|b| *b == b'\n') {
        Some(i) => i + 1,
        // A whole chunk without a line end: an over-long line, skipped.
        None if buf.len() as u64 == CHUNK => buf.len(),
        None => 0,
    };
    let (recs, _) = parse_lines(&buf[..complete]);
    let end = offset + complete as u64;
    (recs, end, end < len)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mood::Mood;
    use std::fs;
    use std::io::Write;

    fn visitor(seq: u64) -> String {
        serde_json::to_string(&Record::Visitor {
            seq,
            time: "2026-11-28T09:00:00.000+00:00".parse().unwrap(),
            mood: Mood::Happy,
            confidence: 0.9,
            frames: 5,
            face_px: 100,
            clock_synced: true,
        })
        .unwrap()
            + "\n"
    }

    fn seqs(recs: &[Record]) -> Vec<u64> {
        recs.iter()
            .map(|r| match r {
                Record::Visitor { seq, .. } => *seq,
                Record::Summary { .. } => 0,
            })
            .collect()
    }

    fn day(d: &Path, date: &str) -> PathBuf {
        d.join(format!("mood-{date}.jsonl"))
    }

    #[test]
    fn reads_complete_lines_in_order_across_days() {
        let d = tempfile::tempdir().unwrap();
        fs::write(day(d.path(), "2026-11-27"), visitor(1) + &visitor(2)).unwrap();
        fs::write(day(d.path(), "2026-11-28"), visitor(3) + "{\"type\":\"vis").unwrap();
        let mut f = Feed::new(d.path());
        assert_eq!(seqs(&f.read()), [1, 2, 3]);
        assert!(f.read().is_empty(), "the unfinished line waits");
        let mut file = fs::OpenOptions::new()
            .append(true)
            .open(day(d.path(), "2026-11-28"))
            .unwrap();
        file.write_all(b"itor\"}\n").unwrap(); // finished, but not a record: skipped
        file.write_all(visitor(4).as_bytes()).unwrap();
        assert_eq!(seqs(&f.read()), [4]);
        fs::write(day(d.path(), "2026-11-29"), visitor(5)).unwrap();
        assert_eq!(seqs(&f.read()), [5]);
    }

    #[test]
    fn follows_seq_when_the_clock_went_back_to_an_older_day() {
        let d = tempfile::tempdir().unwrap();
        // The clock was a day ahead for 1-4, then corrected: 5-7 went to the day before.
        fs::write(day(d.path(), "2026-11-28"), visitor(1) + &visitor(2)).unwrap();
        fs::write(day(d.path(), "2026-11-27"), visitor(3)).unwrap();
        let mut f = Feed::new(d.path());
        assert_eq!(seqs(&f.read()), [1, 2, 3]);
        let mut older = fs::OpenOptions::new()
            .append(true)
            .open(day(d.path(), "2026-11-27"))
            .unwrap();
        older
            .write_all((visitor(4) + &visitor(5)).as_bytes())
            .unwrap();
        assert_eq!(
            seqs(&f.read()),
            [4, 5],
            "new lines in an older day's file are read"
        );
        f.seek_after(2);
        assert_eq!(
            seqs(&f.read()),
            [3, 4, 5],
            "catch-up follows seq, not file names"
        );
        f.seek_after(4);
        assert_eq!(seqs(&f.read()), [5]);
    }

    #[test]
    fn seeks_right_after_the_cursor() {
        let d = tempfile::tempdir().unwrap();
        fs::write(day(d.path(), "2026-11-27"), visitor(1) + &visitor(2)).unwrap();
        fs::write(day(d.path(), "2026-11-28"), visitor(3) + &visitor(4)).unwrap();
        let mut f = Feed::new(d.path());
        f.seek_after(3);
        assert_eq!(seqs(&f.read()), [4]);
        f.seek_after(2);
        assert_eq!(seqs(&f.read()), [3, 4]);
        f.seek_after(0);
        assert_eq!(seqs(&f.read()), [1, 2, 3, 4]);
        // The cursor's day was pruned: from the oldest kept record.
        fs::remove_file(day(d.path(), "2026-11-27")).unwrap();
        f.seek_after(1);
        assert_eq!(seqs(&f.read()), [3, 4]);
    }
}
