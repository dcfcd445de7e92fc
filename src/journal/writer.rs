//! The journal's writer: appends records to the day file, numbers visitors, rotates daily,
//! prunes after `retention_days`, keeps records in memory (bounded) while the disk refuses them,
//! and holds the folder's lock (one daemon per folder: flock on `.lock`, which holds the owner's
//! pid). After a crash the torn last line is closed off so that the next record starts on a line
//! of its own.

use std::collections::{BTreeSet, VecDeque};
use std::fs::{self, File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use std::os::fd::AsRawFd;

use chrono::{Local, NaiveDate};

use super::cursor::read_cursor;
use super::files::{day_of, file_name, last_seq, max_seq, open_regular};
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

/// Create the journal folder; a path that is something else is named plainly.
fn make_folder(dir: &Path) -> Result<()> {
    let fail = |source| Error::Journal {
        path: dir.to_path_buf(),
        source,
    };
    match fs::metadata(dir) {
        Ok(m) if !m.is_dir() => Err(fail(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            "not a folder",
        ))),
        _ => fs::create_dir_all(dir).map_err(fail),
    }
}

/// Open a day file to append to it: a regular file, never through a link, and a FIFO under its
/// name is refused at once instead of blocking the writer.
fn open_for_append(path: &Path) -> std::io::Result<File> {
    open_regular(
        OpenOptions::new().create(true).append(true).read(true),
        path,
    )
}

/// One warning per entry under a day file's name that is not a regular file (skipped by every
/// reader).
fn warn_odd_entries(dir: &Path) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().to_string();
        if day_of(&name).is_some() && !e.file_type().is_ok_and(|t| t.is_file()) {
            log::warn!(
                "journal: {} is not a regular file; skipped",
                e.path().display()
            );
        }
    }
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
    /// Day files written by this run (never pruned by it, whatever the clock says).
    written: BTreeSet<NaiveDate>,
    /// MQTT delivers the journal: a day file with a visitor the broker has not acknowledged
    /// is kept.
    delivery: bool,
    /// Whether the system clock can be trusted ([`crate::clock::trusted`]; tests replace it).
    clock: fn() -> bool,
    /// The clock was untrusted at the last prune (logged once per change).
    clock_untrusted: bool,
    /// Retention has to run (a new day file was opened).
    prune_due: bool,
}

/// The journal's high-water mark: the last visitor `seq` given out (decimal text), so that
/// numbering never goes back, even when every day file and the cursor are gone.
pub const SEQ_FILE: &str = ".seq";

/// The mark's value, if any.
fn read_mark(dir: &Path) -> Option<u64> {
    fs::read_to_string(dir.join(SEQ_FILE))
        .ok()?
        .trim()
        .parse()
        .ok()
}

impl Journal {
    /// Create the folder if needed; fails only when the folder cannot be created or written.
    pub fn open(cfg: &JournalSettings) -> Result<Journal> {
        make_folder(&cfg.dir)?;
        warn_odd_entries(&cfg.dir);
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
            next_seq: last_seq(&cfg.dir)
                .max(read_cursor(&cfg.dir).unwrap_or(0))
                .max(read_mark(&cfg.dir).unwrap_or(0))
                + 1,
            written: BTreeSet::new(),
            delivery: false,
            clock: crate::clock::trusted,
            clock_untrusted: false,
            prune_due: false,
        };
        j.ensure_file(Local::now().date_naive())?;
        Ok(j)
    }

    /// Apply new settings for the same folder (a reload), keeping the lock and the backlog.
    pub fn set_settings(&mut self, cfg: &JournalSettings) {
        self.retention_days = cfg.retention_days;
        self.fsync = cfg.fsync;
    }

    /// Whether MQTT delivers the journal (retention then keeps unacknowledged visitors).
    pub fn set_delivery(&mut self, on: bool) {
        self.delivery = on;
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
        make_folder(&self.dir)?;
        let path = self.dir.join(file_name(today));
        let mut f = open_for_append(&path).map_err(|source| Error::Journal {
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
        // A new day: retention runs at the next record (after the daemon said whether MQTT
        // delivers the journal), not while opening.
        self.prune_due |= self.day != Some(today);
        self.day = Some(today);
        self.written.insert(today);
        self.file = Some(f);
        Ok(())
    }

    /// Remove day files older than the retention period, but never one that is not safe to
    /// remove: not while the clock is not synchronised (the dates may be far off), not a file
    /// this run wrote to or one modified within the retention period (a clock that jumped makes
    /// a fresh file look old), and, while MQTT delivers the journal, not one with a visitor the
    /// broker has not acknowledged.
    fn prune(&mut self, today: NaiveDate) {
        let trusted = (self.clock)();
        if trusted == self.clock_untrusted {
            self.clock_untrusted = !trusted;
            match trusted {
                true => log::info!("journal: the clock is synchronised; retention applies again"),
                false => log::warn!(
                    "journal: the system clock is not synchronised (no NTP yet?); day files past retention are kept until it is"
                ),
            }
        }
        if !trusted {
            return;
        }
        let Ok(entries) = fs::read_dir(&self.dir) else {
            return;
        };
        let keep = std::time::Duration::from_secs(u64::from(self.retention_days) * 86_400);
        let cursor = read_cursor(&self.dir).unwrap_or(0);
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().to_string();
            let Some(day) = day_of(&name) else {
                continue;
            };
            let Ok(meta) = e.metadata() else { continue };
            let old = (today - day).num_days() >= self.retention_days as i64
                && meta.is_file()
                && !self.written.contains(&day)
                && meta.modified().ok().and_then(|m| m.elapsed().ok()) >= Some(keep);
            if !old {
                continue;
            }
            if self.delivery && max_seq(&e.path()) > cursor {
                continue;
            }
            {
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
            self.save_mark(*seq);
        }
        rec.set_clock_synced((self.clock)());
        if self.prune_due {
            self.prune_due = false;
            self.prune(today);
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
                    log::error!(
                        "journal: {}; keeping records in memory and retrying",
                        crate::error::chain(&e)
                    );
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

    /// Keep the high-water mark (a temporary file renamed over it; a failure is harmless while
    /// the day files and the cursor remain).
    fn save_mark(&self, seq: u64) {
        let tmp = self.dir.join(format!("{SEQ_FILE}.tmp"));
        let _ = fs::write(&tmp, format!("{seq}\n"))
            .and_then(|_| fs::rename(&tmp, self.dir.join(SEQ_FILE)));
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
#[path = "writer_tests.rs"]
mod tests;
