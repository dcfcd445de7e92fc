//! moodkiosk: a classroom mood kiosk daemon.
//!
//! The pipeline, one module per stage:
//! [`source`] (camera or replay) -> [`frame`] -> [`face`] (detection) -> [`preprocess`] (the one
//! spec shared with training) -> [`classifier`] (tract) -> [`mood`] -> [`tracker`] (steady
//! per-visitor decisions) -> [`indicator`] (LEDs) and [`journal`] (mood log files).
//! [`daemon`] runs the loop, [`config`] validates the TOML, [`analyze`] is the per-photo path
//! shared by `classify`, the daemon and the upload page, [`photo`] decodes untrusted images,
//! [`telemetry`] is what the daemon reports, [`web`] serves the page and API, [`eval`] scores a
//! model on a data set, [`bench`] times models.

pub mod analyze;
pub mod bench;
pub mod classifier;
pub mod config;
pub mod daemon;
pub mod error;
pub mod eval;
pub mod face;
pub mod frame;
pub mod indicator;
pub mod journal;
pub mod mood;
pub mod notify;
pub mod photo;
pub mod preprocess;
pub mod profile;
pub mod source;
pub mod telemetry;
pub mod tracker;
pub mod web;

pub use error::{Error, Result};
