//! The `moodkiosk` command: argument parsing and glue; the work is in the library.

mod cli;

use std::io::Write;
use std::process::ExitCode;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use anyhow::{Context, Result};
use clap::{CommandFactory, Parser};
use moodkiosk::classifier::Classifier;
use moodkiosk::config::Config;
use moodkiosk::engine::{Analyzer, Engine};

use cli::{Cli, Cmd};

fn main() -> ExitCode {
    let cli = Cli::parse();
    if !matches!(cli.cmd, Cmd::Run { .. }) {
        // Like any Unix filter, end quietly when the reader goes away (`check-config F | head`).
        // SAFETY: restoring the default disposition of one signal before any thread starts.
        unsafe {
            libc::signal(libc::SIGPIPE, libc::SIG_DFL);
        }
    }
    match dispatch(cli) {
        Ok(code) => code,
        Err(e) => {
            let chain: Vec<String> = e.chain().map(|c| c.to_string()).collect();
            eprintln!("moodkiosk: error: {}", chain.join(": "));
            exit_code(&e)
        }
    }
}

/// `EX_CONFIG` (sysexits.h): the config or a model it names is at fault. Trying again cannot
/// help until someone edits the file, so the unit does not restart on it
/// (`RestartPreventExitStatus=78`).
const EX_CONFIG: u8 = 78;

/// 78 for a bad config or an unusable model, 1 for anything else.
fn exit_code(e: &anyhow::Error) -> ExitCode {
    use moodkiosk::error::Error;
    let config = e.chain().any(|c| {
        matches!(
            c.downcast_ref::<Error>(),
            Some(Error::Config { .. } | Error::Model { .. })
        )
    });
    match config {
        true => ExitCode::from(EX_CONFIG),
        false => ExitCode::FAILURE,
    }
}

fn init_log(level: log::LevelFilter) {
    let mut b = env_logger::Builder::new();
    b.filter_level(level);
    if let Ok(spec) = std::env::var("RUST_LOG") {
        b.parse_filters(&spec);
    }
    if stderr_is_journal() {
        // systemd's journal stamps each line itself and reads `<N>` as the syslog priority, so
        // `journalctl -u moodkiosk -p warning` shows the warnings and errors alone.
        b.format(|f, r| {
            use std::io::Write;
            let prio = match r.level() {
                log::Level::Error => 3,
                log::Level::Warn => 4,
                log::Level::Info => 6,
                log::Level::Debug | log::Level::Trace => 7,
            };
            writeln!(f, "<{prio}>{}: {}", r.target(), r.args())
        });
    } else {
        b.format_timestamp_millis();
    }
    b.init();
}

/// stderr is the stream systemd gave the service (`JOURNAL_STREAM` names its device and inode).
fn stderr_is_journal() -> bool {
    let Some(stream) = std::env::var_os("JOURNAL_STREAM") else {
        return false;
    };
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: fstat writes into the stat buffer we own; fd 2 may be closed (then it fails).
    if unsafe { libc::fstat(2, &mut st) } != 0 {
        return false;
    }
    stream.to_string_lossy() == format!("{}:{}", st.st_dev, st.st_ino)
}

fn dispatch(cli: Cli) -> Result<ExitCode> {
    match cli.cmd {
        Cmd::Run { config } => {
            moodkiosk::memory::return_freed_memory();
            let cfg = Config::load(&config)?;
            init_log(cfg.log.level.filter());
            let signals = moodkiosk::daemon::Signals::install()?;
            moodkiosk::daemon::run(cfg, signals)?;
        }
        Cmd::CheckConfig {
            config,
            probe,
            quiet,
        } => {
            let cfg = Config::load(&config)?;
            if probe {
                init_log(log::LevelFilter::Warn);
                probe_config(&cfg)?;
            }
            if quiet {
                return Ok(ExitCode::SUCCESS);
            }
            let mut out = std::io::stdout().lock();
            writeln!(
                out,
                "# {}: valid{}",
                cfg.file.display(),
                if probe { " (probed)" } else { "" }
            )?;
            write!(out, "{}", cfg.to_toml())?;
        }
        Cmd::Cameras => cli::cameras::run(),
        Cmd::Classify(args) => {
            init_log(log::LevelFilter::Warn);
            return cli::classify::run(args);
        }
        Cmd::Bench(args) => {
            init_log(log::LevelFilter::Warn);
            cli::bench::run(args)?;
        }
        Cmd::Eval(args) => {
            init_log(log::LevelFilter::Warn);
            cli::eval::run(args)?;
        }
        Cmd::Man { dir } => man(dir)?,
        Cmd::Completions { shell } => {
            clap_complete::generate(
                shell,
                &mut Cli::command(),
                "moodkiosk",
                &mut std::io::stdout(),
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// The man pages: the command's, and one per subcommand (`man moodkiosk-run`).
fn man(dir: Option<std::path::PathBuf>) -> Result<()> {
    let cmd = Cli::command();
    let Some(dir) = dir else {
        clap_mangen::Man::new(cmd).render(&mut std::io::stdout().lock())?;
        return Ok(());
    };
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let write = |name: &str, c: clap::Command| -> Result<()> {
        let path = dir.join(format!("{name}.1"));
        let mut f =
            std::fs::File::create(&path).with_context(|| format!("writing {}", path.display()))?;
        clap_mangen::Man::new(c)
            .title(name.to_string())
            .render(&mut f)?;
        Ok(())
    };
    for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
        write(&format!("moodkiosk-{}", sub.get_name()), sub.clone())?;
    }
    write("moodkiosk", cmd)
}

/// `check-config --probe`: open everything the daemon would, once, naming what fails.
fn probe_config(cfg: &Config) -> Result<()> {
    let classifier = Classifier::load(&cfg.classifier.model).context("classifier.model")?;
    Analyzer::new(Arc::new(Engine {
        classifier,
        detector: cfg.detector.clone(),
    }))
    .context("detector")?;
    let dir = &cfg.journal.dir;
    std::fs::create_dir_all(dir)
        .and_then(|_| {
            let probe = dir.join(format!(".probe-{}", std::process::id()));
            std::fs::write(&probe, b"")?;
            std::fs::remove_file(&probe)
        })
        .with_context(|| format!("journal.dir {}: cannot write there", dir.display()))?;
    let mut source = moodkiosk::source::build(&cfg.source, Arc::new(AtomicBool::new(false)));
    source.open().context("source")?;
    source.close();
    moodkiosk::indicator::open(&cfg.indicator).context("indicator")?;
    Ok(())
}
