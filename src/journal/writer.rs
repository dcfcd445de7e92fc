//! The journal's writer: appends records to the day file, numbers visitors, rotates daily,
//! prunes after `retention_days`, keeps records in memory (bounded) while the disk refuses them,
//! and holds the folder's lock (one daemon per folder: flock on `.lock`, which holds the owner's
//! pid). After a crash the torn last line is closed off so that the next record starts on a line
//! of its own.

use std::collections::VecDeque;
use std::fs::{self, File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use std::os::fd::AsRawFd;

use chrono::{Local, NaiveDate};

use super::cursor::read_cursor;
use super::files::{day_of, file_name, last_seq};
use super::record::Record;
use super::{FsyncPolicy, JournalSettings};
use crate::error::{Error, Result};

/// The lock file in the journal folder.
pub const LOCK_FILE: &str = ".lock";

/// Take the folder's lock (non-blocking) and write our pid into it.
fn lock_folder(dir: &Path) -> Result<File> {
    let path = dir.join(LOCK_FILE);
    let io = |source| Error::Journal {
        path: path.clone(),
        source,
    };
    let mut f = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .map_err(io)?;
    // SAFETY: flock on a descriptor we own; no memory is touched.
    let rc = unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
    if rc != 0 {
        let e = std::io::Error::last_os_error();
        if e.raw_os_error() == Some(libc::EWOULDBLOCK) {
            let mut pid = String::new();
            let _ = f.read_to_string(&mut pid);
            let who = match pid.trim() {
                "" => "another moodkiosk".to_string(),
                p => format!("another moodkiosk (pid {p})"),
            };
            return Err(Error::JournalInUse {
                dir: dir.to_path_buf(),
                who,
            });
        }
        return Err(io(e));
    }
    f.set_len(0)
        .and_then(|_| f.seek(SeekFrom::Start(0)))
        .and_then(|_| writeln!(f, "{}", std::process::id()))
        .map_err(io)?;
    Ok(f)
}

/// Most records kept in memory while the disk refuses writes.
const BACKLOG_MAX: usize = 100_000;

/// Writes records.
pub struct Journal {
    /// Held for the journal's life: the folder's exclusive lock.
    _lock: File,
    dir: PathBuf,
    retention_days: u32,
    fsync: FsyncPolicy,
    day: Option<NaiveDate>,
    file: Option<File>,
    /// Encoded lines waiting to be written: (is a summary, the line).
    backlog: VecDeque<(bool, String)>,
    failing: bool,
    /// Records dropped because the backlog was full: (summaries, visitors).
    dropped: (u64, u64),
    /// The next visitor record's `seq`.
    next_seq: u64,
}

impl Journal {
    /// Create the folder if needed; fails only when the folder cannot be created or written.
    pub fn open(cfg: &JournalSettings) -> Result<Journal> {
        fs::create_dir_all(&cfg.dir).map_err(|source| Error::Journal {
            path: cfg.dir.clone(),
            source,
        })?;
        let mut j = Journal {
            _lock: lock_folder(&cfg.dir)?,
            dir: cfg.dir.clone(),
            retention_days: cfg.retention_days,
            fsync: cfg.fsync,
            day: None,
            file: None,
            backlog: VecDeque::new(),
            failing: false,
            dropped: (0, 0),
            next_seq: last_seq(&cfg.dir).max(read_cursor(&cfg.dir).unwrap_or(0)) + 1,
        };
        j.ensure_file(Local::now().date_naive())?;
        Ok(j)
    }

    /// Apply new settings for the same folder (a reload), keeping the lock and the backlog.
    pub fn set_settings(&mut self, cfg: &JournalSettings) {
        self.retention_days = cfg.retention_days;
        self.fsync = cfg.fsync;
    }

    /// The journal folder.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Records waiting for disk space.
    pub fn backlog(&self) -> usize {
        self.backlog.len()
    }

    /// Records dropped because the backlog was full: (summaries, visitors).
    pub fn dropped(&self) -> (u64, u64) {
        self.dropped
    }

    /// The open day file is still the one at its path (not deleted, moved or replaced, and
    /// its folder not removed); otherwise it must be opened again.
    fn file_still_there(&self, today: NaiveDate) -> bool {
        use std::os::unix::fs::MetadataExt;
        let Some(f) = &self.file else {
            return false;
        };
        let (Ok(open), Ok(at_path)) = (f.metadata(), fs::metadata(self.dir.join(file_name(today))))
        else {
            return false;
        };
        open.dev() == at_path.dev() && open.ino() == at_path.ino()
    }

    fn ensure_file(&mut self, today: NaiveDate) -> Result<()> {
        if self.day == Some(today) && self.file.is_some() {
            if self.file_still_there(today) {
                return Ok(());
            }
            log::warn!(
                "journal: {} was removed or replaced; writing a new one there",
                self.dir.join(file_name(today)).display()
            );
            self.file = None;
        }
        fs::create_dir_all(&self.dir).map_err(|source| Error::Journal {
            path: self.dir.clone(),
            source,
        })?;
        let path = self.dir.join(file_name(today));
        let mut f = OpenOptions::new()
            .create(true)
            .append(true)
            .read(true)
            .open(&path)
            .map_err(|source| Error::Journal {
                path: path.clone(),
                source,
            })?;
        // Close off a torn last line left by a crash or power cut.
        let len = f.metadata().map(|m| m.len()).unwrap_or(0);
        if len > 0 {
            let mut last = [0u8; 1];
            f.seek(SeekFrom::Start(len - 1))
                .and_then(|_| f.read_exact(&mut last))
                .map_err(|source| Error::Journal {
                    path: path.clone(),
                    source,
                })?;
            if last[0] != b'\n' {
                log::warn!(
                    "journal {}: last line was torn (crash?), closing it off",
                    path.display()
                );
                f.write_all(b"\n").map_err(|source| Error::Journal {
                    path: path.clone(),
                    source,
                })?;
            }
        }
        if self.day != Some(today) {
            self.prune(today);
        }
        self.day = Some(today);
        self.file = Some(f);
        Ok(())
    }

    /// Remove day files older than the retention period.
    fn prune(&self, today: NaiveDate) {
        let Ok(entries) = fs::read_dir(&self.dir) else {
            return;
        };
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().to_string();
            let Some(day) = day_of(&name) else {
                continue;
            };
            if (today - day).num_days() >= self.retention_days as i64 {
                match fs::remove_file(e.path()) {
                    Ok(()) => log::info!(
                        "journal: removed {name} (older than {} days)",
                        self.retention_days
                    ),
                    Err(err) => log::warn!("journal: cannot remove {name}: {err}"),
                }
            }
        }
    }

    /// Append one record (now's date picks the file) and return it as written (a visitor with
    /// its `seq`). Never fails: on a write error the record waits in memory and the error is
    /// logged once until writing works again.
    pub fn write(&mut self, rec: Record) -> Record {
        self.write_at(rec, Local::now().date_naive())
    }

    /// As [`Journal::write`] with an explicit day (tests of rotation).
    pub fn write_at(&mut self, mut rec: Record, today: NaiveDate) -> Record {
        if let Record::Visitor { seq, .. } = &mut rec {
            *seq = self.next_seq;
            self.next_seq += 1;
        }
        let line = rec.to_json() + "\n";
        let summary = matches!(rec, Record::Summary { .. });
        self.make_room();
        self.backlog.push_back((summary, line));
        let sync = match self.fsync {
            FsyncPolicy::Always => true,
            FsyncPolicy::Summary => summary,
            FsyncPolicy::Never => false,
        };
        match self.drain(today, sync) {
            Ok(()) => {
                if self.failing {
                    log::info!("journal: writing again, backlog flushed");
                    self.failing = false;
                }
            }
            Err(e) => {
                if !self.failing {
                    log::error!("journal: {e}; keeping records in memory and retrying");
                    self.failing = true;
                }
            }
        }
        rec
    }

    /// The `seq` the next visitor record gets.
    pub fn next_seq(&self) -> u64 {
        self.next_seq
    }

    /// A full backlog drops its oldest summary first (the visitor records it counts are kept
    /// and today's counts are rebuilt from them), a visitor record only when no summary is left.
    fn make_room(&mut self) {
        if self.backlog.len() < BACKLOG_MAX {
            return;
        }
        let first_summary = self.backlog.iter().position(|(summary, _)| *summary);
        let visitor = first_summary.is_none();
        self.backlog.remove(first_summary.unwrap_or(0));
        let before = self.dropped;
        match visitor {
            true => self.dropped.1 += 1,
            false => self.dropped.0 += 1,
        }
        if (before.0 == 0 && self.dropped.0 == 1) || (before.1 == 0 && self.dropped.1 == 1) {
            log::error!(
                "journal: the backlog is full ({BACKLOG_MAX} records); dropping its oldest {}",
                if visitor {
                    "visitor records"
                } else {
                    "summaries"
                }
            );
        }
    }

    /// Write the backlog, each record as one complete line: a write cut short (disk full) is
    /// truncated back to the last complete line, and the record stays in the backlog.
    fn drain(&mut self, today: NaiveDate, sync: bool) -> Result<()> {
        self.ensure_file(today)?;
        let path = self.dir.join(file_name(today));
        let io = |source| Error::Journal {
            path: path.clone(),
            source,
        };
        let f = self.file.as_mut().expect("file opened");
        while let Some((_, line)) = self.backlog.front() {
            let before = f.metadata().map_err(io)?.len();
            if let Err(e) = f.write_all(line.as_bytes()) {
                let _ = f.set_len(before);
                return Err(io(e));
            }
            self.backlog.pop_front();
        }
        f.flush().map_err(io)?;
        if sync {
            f.sync_data().map_err(io)?;
        }
        Ok(())
    }

    /// Flush and fsync (on shutdown).
    pub fn close(&mut self) {
        if !self.backlog.is_empty() {
            let today = Local::now().date_naive();
            if let Err(e) = self.drain(today, true) {
                log::error!(
                    "journal: {} records could not be written at exit: {e}",
                    self.backlog.len()
                );
            }
        } else if let Some(f) = self.file.as_mut() {
            let _ = f.sync_data();
        }
        if self.dropped != (0, 0) {
            log::error!(
                "journal: {} summaries and {} visitor records were dropped while the disk was full",
                self.dropped.0,
                self.dropped.1
            );
        }
    }
}

impl Drop for Journal {
    fn drop(&mut self) {
        self.close();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::journal::files::read_file;
    use crate::journal::record;
    use crate::journal::CURSOR_FILE;
    use crate::mood::Mood;

    fn cfg(dir: &Path) -> JournalSettings {
        JournalSettings {
            dir: dir.to_path_buf(),
            summary_interval_s: 60,
            retention_days: 3,
            fsync: FsyncPolicy::Always,
        }
    }

    #[test]
    fn a_second_journal_on_the_same_folder_is_refused_until_the_first_closes() {
        let d = tempfile::tempdir().unwrap();
        let first = Journal::open(&cfg(d.path())).unwrap();
        let e = Journal::open(&cfg(d.path())).err().unwrap().to_string();
        assert!(e.contains(&d.path().display().to_string()), "{e}");
        assert!(e.contains(&format!("pid {}", std::process::id())), "{e}");
        drop(first);
        assert!(Journal::open(&cfg(d.path())).is_ok());
    }

    fn visitor(mood: Mood) -> Record {
        Record::Visitor {
            seq: 0,
            time: record::now(),
            mood,
            confidence: 0.9,
            frames: 5,
            face_px: 120,
        }
    }

    #[test]
    fn writes_one_line_per_record_and_reads_back() {
        let d = tempfile::tempdir().unwrap();
        let mut j = Journal::open(&cfg(d.path())).unwrap();
        j.write(visitor(Mood::Happy));
        j.write(visitor(Mood::NotHappy));
        let (recs, bad) = read_file(&d.path().join(file_name(Local::now().date_naive()))).unwrap();
        assert_eq!((recs.len(), bad), (2, 0));
        assert!(matches!(
            recs[1],
            Record::Visitor {
                mood: Mood::NotHappy,
                ..
            }
        ));
    }

    #[test]
    fn torn_last_line_is_closed_off() {
        let d = tempfile::tempdir().unwrap();
        let path = d.path().join(file_name(Local::now().date_naive()));
        let good = serde_json::to_string(&visitor(Mood::Happy)).unwrap();
        fs::write(&path, format!("{good}\n{{\"type\":\"visi")).unwrap();
        let mut j = Journal::open(&cfg(d.path())).unwrap();
        j.write(visitor(Mood::NotHappy));
        let (recs, bad) = read_file(&path).unwrap();
        assert_eq!((recs.len(), bad), (2, 1));
    }

    #[test]
    fn rotates_daily_and_prunes_old_days() {
        let d = tempfile::tempdir().unwrap();
        let old = d.path().join("mood-2000-01-01.jsonl");
        fs::write(&old, "").unwrap();
        fs::write(d.path().join("notes.txt"), "keep").unwrap();
        let mut j = Journal::open(&cfg(d.path())).unwrap();
        assert!(!old.exists(), "older than retention");
        let day1 = NaiveDate::from_ymd_opt(2031, 5, 1).unwrap();
        let day2 = day1.succ_opt().unwrap();
        j.write_at(visitor(Mood::Happy), day1);
        j.write_at(visitor(Mood::Happy), day2);
        j.write_at(visitor(Mood::Happy), day2);
        assert_eq!(
            read_file(&d.path().join(file_name(day1))).unwrap().0.len(),
            1
        );
        assert_eq!(
            read_file(&d.path().join(file_name(day2))).unwrap().0.len(),
            2
        );
        assert!(d.path().join("notes.txt").exists());
    }

    #[test]
    fn failed_writes_wait_and_are_written_later() {
        let d = tempfile::tempdir().unwrap();
        let sub = d.path().join("j");
        let mut j = Journal::open(&cfg(&sub)).unwrap();
        let today = Local::now().date_naive();
        // Make the folder unusable: replace it by a file.
        fs::remove_dir_all(&sub).unwrap();
        fs::write(&sub, "not a folder").unwrap();
        j.file = None;
        j.write_at(visitor(Mood::Happy), today);
        j.write_at(visitor(Mood::NotHappy), today);
        assert_eq!(j.backlog(), 2);
        fs::remove_file(&sub).unwrap();
        fs::create_dir(&sub).unwrap();
        j.write_at(visitor(Mood::Happy), today);
        assert_eq!(j.backlog(), 0);
        assert_eq!(read_file(&sub.join(file_name(today))).unwrap().0.len(), 3);
    }

    fn seqs(dir: &Path) -> Vec<u64> {
        let (recs, _) = read_file(&dir.join(file_name(Local::now().date_naive()))).unwrap();
        recs.iter().filter_map(Record::seq).collect()
    }

    #[test]
    fn visitors_are_numbered_on_across_restarts_and_never_below_the_cursor() {
        let d = tempfile::tempdir().unwrap();
        let mut j = Journal::open(&cfg(d.path())).unwrap();
        j.write(visitor(Mood::Happy));
        j.write(visitor(Mood::NotHappy));
        drop(j);
        let mut j = Journal::open(&cfg(d.path())).unwrap();
        j.write(visitor(Mood::Happy));
        assert_eq!(seqs(d.path()), [1, 2, 3]);
        drop(j);
        // Every day file gone, the publisher's cursor at 40: numbering goes on from 41.
        fs::remove_file(d.path().join(file_name(Local::now().date_naive()))).unwrap();
        fs::write(d.path().join(CURSOR_FILE), "40\n").unwrap();
        let mut j = Journal::open(&cfg(d.path())).unwrap();
        j.write(visitor(Mood::Happy));
        assert_eq!(seqs(d.path()), [41]);
        assert_eq!(last_seq(d.path()), 41);
    }
}
