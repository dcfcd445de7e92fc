//! The mood journal, the one owner of mood records and their files: JSON Lines files
//! `mood-YYYY-MM-DD.jsonl` (local date) in one folder, one record per visitor decision and one
//! summary per interval. Moods and times only: never an image, never an identity.
//!
//! - [`record`]: the schema, typed times;
//! - [`files`]: day-file naming, listing and reading;
//! - [`writer`]: the one [`Journal`] writer (numbering, rotation, retention, backlog, lock);
//! - [`cursor`]: the MQTT publisher's acknowledged `seq`;
//! - [`feed`]: the folder as a stream from a `seq` (the publisher's catch-up);
//! - [`chart`] and [`history`]: the queries the page, API and MQTT need (today's totals and
//!   chart, the kept days, one day's records, one day's CSV); [`Reader`] is the page's handle
//!   on them.
//!
//! Readers skip lines that do not parse. When the disk is full, records wait in memory
//! (bounded) and are written once space returns.

pub mod chart;
pub mod cursor;
pub mod feed;
pub mod files;
pub mod history;
pub mod reader;
pub mod record;
pub mod writer;

use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

pub use chart::{ClockTime, Hours, Today};
pub use cursor::{read_cursor, save_cursor, CURSOR_FILE};
pub use feed::Feed;
pub use files::{file_name, kept_days, last_seq, read_file};
pub use reader::Reader;
pub use record::{rfc3339, Record, Stamp};
pub use writer::{Journal, LOCK_FILE};

use crate::check_range;
use crate::invalid;
use crate::settings::Invalid;

/// `journal.fsync`: when the journal calls fsync.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FsyncPolicy {
    /// After every record.
    Always,
    /// After summary records only (visitor records are flushed, not synced).
    Summary,
    /// Never (the OS writes back).
    Never,
}

/// `[journal]` (documented in config/moodkiosk.toml).
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct JournalSettings {
    pub dir: PathBuf,
    pub summary_interval_s: u64,
    pub retention_days: u32,
    pub fsync: FsyncPolicy,
}

impl JournalSettings {
    pub fn validate(&self) -> std::result::Result<(), Invalid> {
        let j = self;
        if j.dir.as_os_str().is_empty() {
            return Err(invalid!(j.dir, "must name a folder"));
        }
        check_range!(j.summary_interval_s, 1, 86_400);
        check_range!(j.retention_days, 1, 3650);
        Ok(())
    }

    /// One summary record per this interval.
    pub fn summary_interval(&self) -> Duration {
        Duration::from_secs(self.summary_interval_s)
    }
}
