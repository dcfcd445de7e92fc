//! The journal folder's layout: one file per local day, `mood-YYYY-MM-DD.jsonl`, beside the
//! folder's lock and the publisher's cursor. The one place that names, lists and reads day files.

use std::fs;
use std::io::Read;
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

/// Read a day file: its records and the count of lines that are not records.
pub fn read_file(path: &Path) -> std::io::Result<(Vec<Record>, usize)> {
    let mut bytes = Vec::new();
    fs::File::open(path)?.read_to_end(&mut bytes)?;
    Ok(parse_lines(&bytes))
}

/// A day's records; a day without a file has none.
pub fn read_day(dir: &Path, day: NaiveDate) -> std::io::Result<(Vec<Record>, usize)> {
    match read_file(&dir.join(file_name(day))) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok((Vec::new(), 0)),
        other => other,
    }
}

/// The highest visitor `seq` in the folder: the newest day file that holds numbered visitors
/// decides (numbers only grow).
pub fn last_seq(dir: &Path) -> u64 {
    let days = kept_days(dir).unwrap_or_default();
    for day in days.iter().rev() {
        let Ok((recs, _)) = read_file(&dir.join(file_name(*day))) else {
            continue;
        };
        if let Some(max) = recs.iter().filter_map(Record::seq).max() {
            return max;
        }
    }
    0
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
