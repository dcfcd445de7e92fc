//! The command line: clap definitions (also the source of the man page and the completions).

pub mod bench;
pub mod cameras;
pub mod classify;
pub mod eval;
pub mod profile;

use std::path::PathBuf;

use clap::{Parser, Subcommand};

/// Mood kiosk: camera -> face -> happy / not happy -> LEDs and mood journal.
///
/// Read the README before deploying: inferring emotions in workplaces and education
/// institutions is prohibited in the EU (AI Act, Art. 5(1)(f)) except for medical or safety reasons.
#[derive(Parser)]
#[command(name = "moodkiosk", version, about, long_about)]
pub struct Cli {
    #[command(subcommand)]
    pub cmd: Cmd,
}

#[derive(Subcommand)]
pub enum Cmd {
    /// Run the daemon with a config file (SIGHUP reloads it, SIGTERM/SIGINT stop cleanly).
    Run {
        /// The TOML config file (documented in config/moodkiosk.toml).
        #[arg(long, short, default_value = "/etc/moodkiosk/moodkiosk.toml")]
        config: PathBuf,
    },
    /// Find the faces in photos and classify each: box, mood, confidence.
    Classify(classify::Args),
    /// Time classifier models: latency per face and per 640x480 camera frame, one thread.
    Bench(bench::Args),
    /// List the V4L2 cameras of this machine, their formats and sizes, and how to use each.
    Cameras,
    /// Validate a config file and print the effective configuration (secrets redacted).
    CheckConfig {
        /// The TOML config file.
        config: PathBuf,
        /// Also load the models, open the journal folder for writing and open the camera and
        /// the LEDs once, naming what fails.
        #[arg(long)]
        probe: bool,
        /// Print nothing when the file is valid (errors still go to standard error): for
        /// scripts and hooks that only want the verdict (exit 0, or 78 for a bad file).
        #[arg(long, short)]
        quiet: bool,
    },
    /// Score a classifier on a test-set manifest (from the model factory) or a folder of face crops.
    Eval(eval::Args),
    /// Print the man page (roff) to standard output, or write one page per command into --dir.
    #[command(hide = true)]
    Man {
        /// Write moodkiosk.1 and moodkiosk-COMMAND.1 into this folder.
        #[arg(long)]
        dir: Option<PathBuf>,
    },
    /// Print shell completions to standard output.
    #[command(hide = true)]
    Completions {
        /// bash, zsh, fish, elvish or powershell.
        shell: clap_complete::Shell,
    },
}
