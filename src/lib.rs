//! moodkiosk: a mood kiosk daemon.
//!
//! The pipeline, one module per stage:
//! [`source`] (camera or replay) -> [`frame`] -> [`face`] (detection) -> [`preprocess`] (the one
//! spec shared with training) -> [`classifier`] (tract) -> [`mood`] -> [`tracker`] (steady
//! per-visitor decisions) -> [`indicator`] (LEDs) and [`journal`] (mood log files).
//! [`engine`] puts detector and classifier together for one frame or photo (the daemon, the
//! upload page and `classify` share it), [`daemon`] runs the loop, [`config`] is the TOML file
//! as types, [`photo`] decodes untrusted images, [`telemetry`] is what the daemon reports,
//! [`notify`] talks to systemd, [`web`] serves the page and API, [`preview`] is the opt-in
//! aiming view, [`mqtt`] publishes the journal to a broker (and reads the fleet back). The command line (with `eval`
//! and `bench`) is the binary's, in `src/cli/`.

pub mod classifier;
pub mod clock;
pub mod config;
pub mod daemon;
pub mod engine;
pub mod error;
pub mod face;
pub mod fleet;
pub mod frame;
pub mod indicator;
pub mod journal;
pub mod memory;
pub mod mood;
pub mod motion;
pub mod mqtt;
pub mod notify;
pub mod photo;
pub mod preprocess;
pub mod preview;
pub mod settings;
pub mod source;
pub mod telemetry;
pub mod tracker;
pub mod web;

pub use error::{Error, Result};
