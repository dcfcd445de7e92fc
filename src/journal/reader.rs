//! Where the page and the API read the journal: the folder (a reload may move it) and the
//! queries they need. Cheap to clone; every query reads the files, never the writer's state.

use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use chrono::{DateTime, Local, NaiveDate};

use super::chart::{self, Hours, Today};
use super::history::{self, Day, DayError};

/// The journal folder as readers see it.
#[derive(Debug, Clone)]
pub struct Reader {
    dir: Arc<RwLock<PathBuf>>,
}

impl Reader {
    pub fn new(dir: &Path) -> Reader {
        Reader {
            dir: Arc::new(RwLock::new(dir.to_path_buf())),
        }
    }

    /// The folder moved (a reload changed `journal.dir`).
    pub fn set_dir(&self, dir: &Path) {
        *self.dir.write().unwrap_or_else(|p| p.into_inner()) = dir.to_path_buf();
    }

    /// The folder now.
    pub fn dir(&self) -> PathBuf {
        self.dir.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Today so far: the dashboard's chart and totals.
    pub fn today(&self, now: DateTime<Local>, hours: Hours) -> std::io::Result<Today> {
        chart::today(&self.dir(), now, hours)
    }

    /// The kept days, newest first, with their totals.
    pub fn days(&self) -> std::io::Result<Vec<Day>> {
        history::days(&self.dir())
    }

    /// A kept day's chart and totals.
    pub fn day(&self, date: NaiveDate, hours: Hours) -> Result<Today, DayError> {
        history::day(&self.dir(), date, hours)
    }

    /// A kept day's records as CSV.
    pub fn day_csv(&self, date: NaiveDate) -> Result<Vec<u8>, DayError> {
        history::day_csv(&self.dir(), date)
    }
}
