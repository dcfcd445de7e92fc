//! The journal as a stream for the publisher: records in file order from a position (a day
//! file and a byte offset), complete lines only (a line being written is left for the next
//! read), across day files as the journal rotates. [`Feed::seek_after`] finds the place right
//! after the visitor record with a given `seq` (the cursor), so that catching up after an outage
//! or a restart starts there. The cursor itself is in [`super::cursor`].

use std::fs::{self, File};
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use chrono::NaiveDate;

use super::files::{file_name, kept_days, parse_lines};
use super::record::Record;

/// Most bytes read in one go.
const CHUNK: u64 = 256 * 1024;

/// A reading position in the journal folder.
pub struct Feed {
    dir: PathBuf,
    /// The day file being read and the offset of the next unread line; `None`: before the
    /// oldest file.
    at: Option<(NaiveDate, u64)>,
}

impl Feed {
    /// At the start of the oldest file.
    pub fn new(dir: &Path) -> Feed {
        Feed {
            dir: dir.to_path_buf(),
            at: None,
        }
    }

    /// Place the feed right after the visitor record numbered `cursor`: the newest day file
    /// that holds a numbered visitor at or below it decides; without one, the oldest file's
    /// start (everything is new).
    pub fn seek_after(&mut self, cursor: u64) {
        self.at = None;
        if cursor == 0 {
            return;
        }
        let days = kept_days(&self.dir).unwrap_or_default();
        for day in days.iter().rev() {
            let Ok(text) = fs::read(self.dir.join(file_name(*day))) else {
                continue;
            };
            let mut end = 0;
            let mut found = None;
            for line in text.split_inclusive(|b| *b == b'\n') {
                end += line.len();
                if !line.ends_with(b"\n") {
                    break;
                }
                if let Ok(Record::Visitor { seq, .. }) = serde_json::from_slice(line) {
                    if seq > 0 && seq <= cursor {
                        found = Some(end);
                    }
                }
            }
            if let Some(end) = found {
                self.at = Some((*day, end as u64));
                return;
            }
        }
    }

    /// The records written since the last read (at most about [`CHUNK`] bytes of them), in
    /// order; lines that do not parse are skipped.
    pub fn read(&mut self) -> Vec<Record> {
        let days = kept_days(&self.dir).unwrap_or_default();
        let (mut day, mut offset) = match self.at {
            Some(at) => at,
            None => match days.first() {
                Some(d) => (*d, 0),
                None => return Vec::new(),
            },
        };
        let mut out = Vec::new();
        loop {
            let later = days.iter().find(|d| **d > day).copied();
            // Read this day's file (once more after a later one appeared: every write to it
            // happened before the later file was made).
            let (recs, new_offset) = read_lines(&self.dir.join(file_name(day)), offset);
            out.extend(recs);
            offset = new_offset;
            let full = out.len() >= 1000;
            match later {
                Some(next) if !full && new_offset == file_len(&self.dir, day) => {
                    day = next;
                    offset = 0;
                }
                _ => break,
            }
        }
        self.at = Some((day, offset));
        out
    }
}

fn file_len(dir: &Path, day: NaiveDate) -> u64 {
    fs::metadata(dir.join(file_name(day)))
        .map(|m| m.len())
        .unwrap_or(0)
}

/// Complete lines of `path` from `offset` (a file shorter than that was replaced: from its
/// start), and the offset after the last complete line.
fn read_lines(path: &Path, offset: u64) -> (Vec<Record>, u64) {
    let Ok(mut f) = File::open(path) else {
        return (Vec::new(), offset);
    };
    let len = f.metadata().map(|m| m.len()).unwrap_or(0);
    let offset = if len < offset { 0 } else { offset };
    let mut buf = Vec::new();
    if f.seek(SeekFrom::Start(offset)).is_err() || f.take(CHUNK).read_to_end(&mut buf).is_err() {
        return (Vec::new(), offset);
    }
    let complete = buf.iter().rposition(|b| *b == b'\n').map_or(0, |i| i + 1);
    let (recs, _) = parse_lines(&buf[..complete]);
    (recs, offset + complete as u64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mood::Mood;
    use std::io::Write;

    fn visitor(seq: u64) -> String {
        serde_json::to_string(&Record::Visitor {
            seq,
            time: "2026-11-28T09:00:00.000+00:00".parse().unwrap(),
            mood: Mood::Happy,
            confidence: 0.9,
            frames: 5,
            face_px: 100,
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
