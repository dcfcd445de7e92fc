//! The journal folder's layout: one file per local day, `mood-YYYY-MM-DD.jsonl`, beside the
//! folder's lock and the publisher's cursor. The one place that names, lists and reads day files.

use std::fs::{self, File, OpenOptions};
use std::io::{BufRead, BufReader, Read};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use chrono::NaiveDate;

use super::record::Record;

/// File name of a day's journal.
pub fn file_name(day: NaiveDate) -> String {
    format!("mood-{}.jsonl", day.format("%Y-%m-%d"))
}

/// The day of a journal file name (`mood-YYYY-MM-DD.jsonl`).
pub fn day_of(name: &str) -> Option<NaiveDate> {
    let d = name.strip_prefix("mood-")?.strip_suffix(".jsonl")?;
    if d.len() != 10 {
        return None;
    }
    NaiveDate::parse_from_str(d, "%Y-%m-%d").ok()
}

/// The days the folder holds a regular file for, oldest first (anything else under a day
/// file's name, a FIFO or a link, is not a day). A missing folder holds none.
pub fn kept_days(dir: &Path) -> std::io::Result<Vec<NaiveDate>> {
    let entries = match fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    let mut days: Vec<NaiveDate> = entries
        .flatten()
        .filter(|e| e.file_type().is_ok_and(|t| t.is_file()))
        .filter_map(|e| day_of(&e.file_name().to_string_lossy()))
        .collect();
    days.sort_unstable();
    Ok(days)
}

/// Parse complete lines; a line that is not a record (torn by a crash, not UTF-8) is counted.
pub fn parse_lines(bytes: &[u8]) -> (Vec<Record>, usize) {
    let mut recs = Vec::new();
    let mut bad = 0;
    for line in bytes.split(|b| *b == b'\n') {
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        match serde_json::from_slice(line) {
            Ok(r) => recs.push(r),
            Err(_) => bad += 1,
        }
    }
    (recs, bad)
}

/// Longest line read as a record (a record is about 150 bytes); longer ones are unreadable.
pub const MAX_LINE: usize = 64 * 1024;

/// Open a day file for reading: a regular file, never through a link (`O_NOFOLLOW`), and a FIFO
/// under a day file's name is refused at once (`O_NONBLOCK`), never waited on.
pub fn open_day_file(path: &Path) -> std::io::Result<File> {
    open_regular(OpenOptions::new().read(true), path)
}

/// Open `path` with `options`, never through a link and never waiting on a FIFO; anything but a
/// regular file is an error.
pub fn open_regular(options: &mut OpenOptions, path: &Path) -> std::io::Result<File> {
    let f = options
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_CLOEXEC)
        .open(path)?;
    if !f.metadata()?.is_file() {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            "not a regular file",
        ));
    }
    Ok(f)
}

/// Each record of a day file in order, streamed (memory bounded by [`MAX_LINE`] whatever the
/// file's size); returns the count of lines that are not records.
pub fn for_each_record(path: &Path, mut each: impl FnMut(Record)) -> std::io::Result<usize> {
    let mut r = BufReader::with_capacity(64 * 1024, open_day_file(path)?);
    let mut line = Vec::with_capacity(256);
    let mut bad = 0;
    loop {
        line.clear();
        let n = r
            .by_ref()
            .take(MAX_LINE as u64 + 1)
            .read_until(b'\n', &mut line)?;
        if n == 0 {
            return Ok(bad);
        }
        if line.len() > MAX_LINE && line.last() != Some(&b'\n') {
            skip_line(&mut r)?;
            bad += 1;
            continue;
        }
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        match serde_json::from_slice(&line) {
            Ok(rec) => each(rec),
            Err(_) => bad += 1,
        }
    }
}

/// Consume the rest of an over-long line.
fn skip_line(r: &mut impl BufRead) -> std::io::Result<()> {
    loop {
        let buf = r.fill_buf()?;
        if buf.is_empty() {
            return Ok(());
        }
        match buf.iter().position(|b| *b == b'\n') {
            Some(i) => {
                r.consume(i + 1);
                return Ok(());
            }
            None => {
                let n = buf.len();
                r.consume(n);
            }
        }
    }
}

/// Read a day file: its records and the count of lines that are not records.
pub fn read_file(path: &Path) -> std::io::Result<(Vec<Record>, usize)> {
    let mut recs = Vec::new();
    let bad = for_each_record(path, |r| recs.push(r))?;
    Ok((recs, bad))
}

/// A day's records; a day without a file has none.
pub fn read_day(dir: &Path, day: NaiveDate) -> std::io::Result<(Vec<Record>, usize)> {
    match read_file(&dir.join(file_name(day))) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok((Vec::new(), 0)),
        other => other,
    }
}

/// The highest visitor `seq` in any day file of the folder (every file is read: after a clock
/// jump the newest `seq` need not be in the newest day's file).
pub fn last_seq(dir: &Path) -> u64 {
    kept_days(dir)
        .unwrap_or_default()
        .into_iter()
        .map(|day| max_seq(&dir.join(file_name(day))))
        .max()
        .unwrap_or(0)
}

/// The highest visitor `seq` in one day file (0: none, or unreadable).
pub fn max_seq(path: &Path) -> u64 {
    let mut max = 0;
    let _ = for_each_record(path, |r| max = max.max(r.seq().unwrap_or(0)));
    max
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_days_and_skips_what_is_not_a_record() {
        let day = NaiveDate::from_ymd_opt(2026, 1, 7).unwrap();
        assert_eq!(file_name(day), "mood-2026-01-07.jsonl");
        assert_eq!(day_of("mood-2026-01-07.jsonl"), Some(day));
        for bad in ["mood-2026-1-7.jsonl", "mood-2026-01-07.json", "x.jsonl"] {
            assert_eq!(day_of(bad), None, "{bad}");
        }
        let good = r#"{"type":"visitor","seq":3,"time":"2026-01-07T09:00:00.000+00:00","mood":"happy","confidence":0.9,"frames":5,"face_px":120}"#;
        let mut bytes = good.as_bytes().to_vec();
        bytes.extend_from_slice(b"\n{\"type\":\"vis\xff\n\n");
        bytes.extend_from_slice(good.as_bytes());
        let (recs, bad) = parse_lines(&bytes);
        assert_eq!((recs.len(), bad), (2, 1));
    }

    #[test]
    fn streams_any_size_and_refuses_links_and_fifos() {
        let d = tempfile::tempdir().unwrap();
        let path = d.path().join("mood-2026-01-07.jsonl");
        let good = r#"{"type":"visitor","seq":9,"time":"2026-01-07T09:00:00.000+00:00","mood":"happy","confidence":0.9,"frames":5,"face_px":120}"#;
        let mut text = format!("{good}\n");
        text.push_str(&"x".repeat(MAX_LINE * 3));
        text.push_str(&format!("\n{good}\n{good}"));
        fs::write(&path, text).unwrap();
        let (recs, bad) = read_file(&path).unwrap();
        assert_eq!(
            (recs.len(), bad),
            (3, 1),
            "the over-long line is one unreadable line"
        );
        assert_eq!(last_seq(d.path()), 9);
        let link = d.path().join("mood-2026-01-08.jsonl");
        std::os::unix::fs::symlink(&path, &link).unwrap();
        assert!(read_file(&link).is_err(), "a link is not followed");
        let fifo = d.path().join("mood-2026-01-09.jsonl");
        let made = std::process::Command::new("mkfifo").arg(&fifo).status();
        assert!(made.unwrap().success());
        let e = read_file(&fifo).unwrap_err().to_string();
        assert_eq!(e, "not a regular file", "a FIFO is refused at once");
    }

    #[test]
    fn only_regular_files_are_days() {
        let d = tempfile::tempdir().unwrap();
        fs::write(d.path().join("mood-2026-01-07.jsonl"), "").unwrap();
        fs::create_dir(d.path().join("mood-2026-01-08.jsonl")).unwrap();
        std::os::unix::fs::symlink("/etc/hostname", d.path().join("mood-2026-01-09.jsonl"))
            .unwrap();
        let days = kept_days(d.path()).unwrap();
        assert_eq!(days, [NaiveDate::from_ymd_opt(2026, 1, 7).unwrap()]);
    }
}
