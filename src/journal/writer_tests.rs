//! Tests of the journal writer: numbering, rotation, retention, backlog, special files.

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
        clock_synced: true,
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

/// A file dated `name` and last modified long ago, holding visitors numbered `seqs`.
fn old_file(dir: &Path, name: &str, seqs: &[u64]) -> PathBuf {
    let path = dir.join(format!("mood-{name}.jsonl"));
    let lines: String = seqs
        .iter()
        .map(|s| {
            let mut v = visitor(Mood::Happy);
            if let Record::Visitor { seq, .. } = &mut v {
                *seq = *s;
            }
            v.to_json() + "\n"
        })
        .collect();
    fs::write(&path, lines).unwrap();
    let long_ago = std::time::SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(86_400);
    File::options()
        .write(true)
        .open(&path)
        .unwrap()
        .set_modified(long_ago)
        .unwrap();
    path
}

#[test]
fn rotates_daily_and_prunes_old_days() {
    let d = tempfile::tempdir().unwrap();
    fs::write(d.path().join("notes.txt"), "keep").unwrap();
    let mut j = Journal::open(&cfg(d.path())).unwrap();
    j.clock = || true;
    let old = old_file(d.path(), "2000-01-01", &[]);
    let day1 = NaiveDate::from_ymd_opt(2031, 5, 1).unwrap();
    let day2 = day1.succ_opt().unwrap();
    j.write_at(visitor(Mood::Happy), day1);
    assert!(!old.exists(), "older than retention");
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
fn retention_never_removes_what_is_not_safe_to_remove() {
    let d = tempfile::tempdir().unwrap();
    let mut j = Journal::open(&cfg(d.path())).unwrap();
    j.set_delivery(true);
    fs::write(d.path().join(CURSOR_FILE), "3\n").unwrap();
    let acked = old_file(d.path(), "2000-01-01", &[1, 2, 3]);
    let unacked = old_file(d.path(), "2000-01-02", &[4, 5]);
    let fresh = d.path().join("mood-2000-01-03.jsonl");
    fs::write(&fresh, "").unwrap(); // written minutes ago, whatever its name says
    let mut day = NaiveDate::from_ymd_opt(2031, 5, 1).unwrap();
    let next_day = |j: &mut Journal, day: &mut NaiveDate| {
        *day = day.succ_opt().unwrap();
        j.write_at(visitor(Mood::Happy), *day);
    };
    // The clock is not synchronised: nothing goes, and the records say so.
    j.clock = || false;
    next_day(&mut j, &mut day);
    assert!(acked.exists() && unacked.exists() && fresh.exists());
    let (recs, _) = read_file(&d.path().join(file_name(day))).unwrap();
    assert!(recs[0].to_json().contains("\"clock_synced\":false"));
    // Synchronised: the acknowledged old file goes; the unacknowledged and the fresh stay.
    j.clock = || true;
    next_day(&mut j, &mut day);
    assert!(!acked.exists() && unacked.exists() && fresh.exists());
    let (recs, _) = read_file(&d.path().join(file_name(day))).unwrap();
    assert!(
        !recs[0].to_json().contains("clock_synced"),
        "written only when false"
    );
    // Once the broker has them, they go.
    fs::write(d.path().join(CURSOR_FILE), "5\n").unwrap();
    next_day(&mut j, &mut day);
    assert!(!unacked.exists() && fresh.exists());
    // A day this run wrote to is never removed by it, however old its date.
    let written = NaiveDate::from_ymd_opt(2001, 1, 1).unwrap();
    j.write_at(visitor(Mood::Happy), written);
    next_day(&mut j, &mut day);
    assert!(d.path().join(file_name(written)).exists());
}

#[test]
fn numbering_never_goes_back_whatever_the_files_and_dates() {
    let d = tempfile::tempdir().unwrap();
    let mut j = Journal::open(&cfg(d.path())).unwrap();
    let tomorrow = Local::now().date_naive().succ_opt().unwrap();
    // The clock a day ahead, then back: the newest seq is not in the newest file.
    j.write_at(visitor(Mood::Happy), tomorrow);
    j.write_at(visitor(Mood::Happy), tomorrow);
    j.write(visitor(Mood::Happy));
    drop(j);
    let mut j = Journal::open(&cfg(d.path())).unwrap();
    j.write(visitor(Mood::Happy));
    assert_eq!(seqs(d.path()), [3, 4]);
    drop(j);
    // Every day file and the cursor gone: the mark keeps numbering going.
    for e in fs::read_dir(d.path()).unwrap().flatten() {
        if day_of(&e.file_name().to_string_lossy()).is_some() {
            fs::remove_file(e.path()).unwrap();
        }
    }
    let mut j = Journal::open(&cfg(d.path())).unwrap();
    j.write(visitor(Mood::Happy));
    assert_eq!(seqs(d.path()), [5]);
}

#[test]
fn a_fifo_as_the_day_file_or_a_file_as_the_folder_is_a_clear_error() {
    let d = tempfile::tempdir().unwrap();
    let today = Local::now().date_naive();
    let made = std::process::Command::new("mkfifo")
        .arg(d.path().join(file_name(today)))
        .status();
    assert!(made.unwrap().success());
    let e = Journal::open(&cfg(d.path())).err().unwrap().to_string();
    assert!(e.contains("journal.dir"), "{e}");
    let file = d.path().join("x");
    fs::write(&file, "").unwrap();
    let e = crate::error::chain(&Journal::open(&cfg(&file)).err().unwrap());
    assert!(e.ends_with(": not a folder"), "{e}");
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
