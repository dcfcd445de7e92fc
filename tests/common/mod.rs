//! Helpers shared by the integration tests: the real binary and a small harness around it
//! ([`Moodkiosk`]: `.ok()`, `.fails_with("...")`), `../shared` data, frames composed from
//! FER2013 faces, and journal reading. What a test needs and cannot find is a failure naming the
//! fix; tests that need more than the crate (../shared, the training venv, Chromium) are marked
//! `#[ignore = "needs ..."]`, and scripts/test.sh runs them with `--include-ignored`.
#![allow(dead_code)]

pub mod broker;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use image::{GrayImage, Luma};

/// This build's binary (for packaging). Tests run the daemon through [`command`].
pub fn bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_moodkiosk"))
}

/// A command running the binary under test: this build's, or another build's named by
/// `MOODKIOSK_TEST_BIN` run through `MOODKIOSK_TEST_RUNNER` (cross/test-aarch64.sh runs the
/// aarch64 binary under `qemu-aarch64-static -cpu cortex-a72` this way).
pub fn command() -> Command {
    let bin = std::env::var_os("MOODKIOSK_TEST_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(bin);
    match std::env::var("MOODKIOSK_TEST_RUNNER") {
        Ok(runner) if !runner.trim().is_empty() => {
            let mut words = runner.split_whitespace();
            let mut c = Command::new(words.next().expect("not empty"));
            c.args(words).arg(bin);
            c
        }
        _ => Command::new(bin),
    }
}

/// Whether the binary under test runs in an emulator (cross/test-aarch64.sh): every frame takes
/// about a hundred times longer, so bounds on how soon something happens are looser there.
pub fn emulated() -> bool {
    std::env::var_os("MOODKIOSK_TEST_RUNNER").is_some()
}

pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A path under `../shared`; a failure naming the folder when it is absent.
pub fn shared(rel: &str) -> PathBuf {
    let p = root().join("..").join("shared").join(rel);
    if !p.exists() {
        unavailable(&format!(
            "{} is missing: this test needs the project's shared data folder beside the checkout (../shared, see README)",
            p.display()
        ));
    }
    p
}

/// Something a test needs is missing: the test fails with what to install.
pub fn unavailable(msg: &str) -> ! {
    panic!("cannot run this test: {msg}");
}

/// A Python interpreter (from `env_var`, else `default`) that can import `modules`, or a failure.
pub fn python_with(env_var: &str, default: &str, modules: &str, fix: &str) -> PathBuf {
    let py = std::env::var(env_var)
        .map(PathBuf::from)
        .unwrap_or_else(|_| root().join(default));
    let ok = py.exists()
        && Command::new(&py)
            .args(["-c", &format!("import {modules}")])
            .status()
            .map(|s| s.success())
            .unwrap_or(false);
    if !ok {
        unavailable(&format!(
            "{} cannot import {modules}: {fix} (or set {env_var})",
            py.display()
        ));
    }
    py
}

/// The binary under test with arguments, in a folder: `moodkiosk(&["check-config", f]).ok()`.
pub struct Moodkiosk {
    cmd: Command,
    shown: String,
}

/// Start building a run of the binary (working directory: the repository root).
pub fn moodkiosk(args: &[&str]) -> Moodkiosk {
    let mut cmd = command();
    cmd.args(args).current_dir(root()).env_remove("RUST_LOG");
    Moodkiosk {
        cmd,
        shown: format!("moodkiosk {}", args.join(" ")),
    }
}

impl Moodkiosk {
    /// Run in `dir`.
    pub fn cwd(mut self, dir: &Path) -> Moodkiosk {
        self.cmd.current_dir(dir);
        self
    }

    fn output(mut self) -> (String, Output) {
        let out = self.cmd.output().expect("binary runs");
        (self.shown, out)
    }

    /// It succeeds; its standard output.
    pub fn ok(self) -> String {
        let (shown, out) = self.output();
        assert!(
            out.status.success(),
            "{shown} failed ({}):\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// It fails (no panic, no backtrace) with `text` in its standard error; the error text.
    pub fn fails_with(self, text: &str) -> String {
        let (shown, out) = self.output();
        let err = String::from_utf8_lossy(&out.stderr).into_owned();
        assert!(!out.status.success(), "{shown} succeeded:\n{err}");
        assert!(err.contains(text), "{shown}: {text:?} not in:\n{err}");
        assert!(!err.contains("panicked"), "{shown} panicked:\n{err}");
        err
    }
}

/// The model factory's Python (training/.venv, or `MOODKIOSK_PYTHON`) with `modules`.
pub fn training_python(modules: &str) -> PathBuf {
    python_with(
        "MOODKIOSK_PYTHON",
        "training/.venv/bin/python",
        modules,
        "run training/setup.sh",
    )
}

/// Run the binary to completion.
pub fn run(args: &[&str], cwd: &Path) -> Output {
    command()
        .args(args)
        .current_dir(cwd)
        .env_remove("RUST_LOG")
        .output()
        .expect("binary runs")
}

/// `run` for commands that put the int8 model through tract many times (eval). On x86, tract
/// 0.23.9's AVX2 int8 matrix kernel (avx2_mmm_i32_8x8) loads with a legacy-SSE `movq` inside its
/// AVX loop, which stalls about 120 ns per step on some machines (this project's CI: AMD EPYC,
/// 30x slower than float); tract's TRACT_CPU_ISA knob makes it use its AVX kernel instead. The
/// integer products are exact either way; only the speed changes. README, "Speed".
pub fn run_int8_heavy(args: &[&str], cwd: &Path) -> Output {
    let mut c = command();
    if cfg!(target_arch = "x86_64") && std::env::var_os("MOODKIOSK_TEST_RUNNER").is_none() {
        c.env("TRACT_CPU_ISA", "-avx2");
    }
    c.args(args)
        .current_dir(cwd)
        .env_remove("RUST_LOG")
        .output()
        .expect("binary runs")
}

/// Start the daemon with stderr captured to `log` (a file, so it can be read while running).
pub fn spawn(args: &[&str], cwd: &Path, log: &Path) -> Child {
    spawn_with_env(args, cwd, log, &[])
}

/// [`spawn`] with environment variables set (e.g. `TZ`).
pub fn spawn_with_env(args: &[&str], cwd: &Path, log: &Path, env: &[(&str, &str)]) -> Child {
    let f = std::fs::File::create(log).unwrap();
    command()
        .args(args)
        .current_dir(cwd)
        .envs(env.iter().copied())
        .env_remove("RUST_LOG")
        .stdout(Stdio::null())
        .stderr(f)
        .spawn()
        .expect("daemon starts")
}

/// Wait until `cond` holds or `secs` pass.
pub fn wait_for(secs: u64, mut cond: impl FnMut() -> bool) -> bool {
    let t0 = Instant::now();
    while t0.elapsed() < Duration::from_secs(secs) {
        if cond() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    cond()
}

/// Wait for a child to exit, killing it after `secs`.
pub fn wait_exit(child: &mut Child, secs: u64) -> Option<std::process::ExitStatus> {
    let t0 = Instant::now();
    while t0.elapsed() < Duration::from_secs(secs) {
        if let Ok(Some(st)) = child.try_wait() {
            return Some(st);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = child.kill();
    None
}

pub fn signal(child: &Child, sig: i32) {
    // SAFETY: plain kill(2) on our own child.
    unsafe {
        libc_kill(child.id() as i32, sig);
    }
}

extern "C" {
    #[link_name = "kill"]
    fn libc_kill(pid: i32, sig: i32) -> i32;
}

pub const SIGHUP: i32 = 1;
pub const SIGTERM: i32 = 15;

/// FER2013 PrivateTest faces with a clear label: (happy, not happy) file lists, `n` each.
pub fn fer_faces(n: usize) -> (Vec<PathBuf>, Vec<PathBuf>) {
    let fer = shared("data/fer2013");
    let pick = |dir: &str| -> Vec<PathBuf> {
        let mut v: Vec<PathBuf> = std::fs::read_dir(fer.join("PrivateTest").join(dir))
            .unwrap()
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.extension().map(|e| e == "png").unwrap_or(false))
            .collect();
        v.sort();
        v
    };
    (
        pick("happy").into_iter().take(n).collect(),
        pick("neutral").into_iter().take(n).collect(),
    )
}

/// A 640x480 frame with a FER face scaled to `side` pixels, centred at (cx, cy), on mid-gray.
pub fn frame_with_face(face: &Path, side: u32, cx: u32, cy: u32) -> GrayImage {
    let f = image::open(face).unwrap().to_luma8();
    // FER crops are tight: pad with the face's own border so the detector sees some context.
    let pad = f.width() / 4;
    let padded = GrayImage::from_fn(f.width() + 2 * pad, f.height() + 2 * pad, |x, y| {
        let sx = (x as i64 - pad as i64).clamp(0, f.width() as i64 - 1) as u32;
        let sy = (y as i64 - pad as i64).clamp(0, f.height() as i64 - 1) as u32;
        *f.get_pixel(sx, sy)
    });
    let big = image::imageops::resize(&padded, side, side, image::imageops::FilterType::CatmullRom);
    let mut canvas = GrayImage::from_pixel(640, 480, Luma([110]));
    image::imageops::overlay(
        &mut canvas,
        &big,
        cx as i64 - side as i64 / 2,
        cy as i64 - side as i64 / 2,
    );
    canvas
}

/// Write frames for visitors: each face shown `hold` frames (drifting slightly), then `gap`
/// empty frames. Returns the number of frames.
pub fn compose_visits(dir: &Path, faces: &[PathBuf], hold: u32, gap: u32) -> usize {
    std::fs::create_dir_all(dir).unwrap();
    let mut n = 0;
    for face in faces {
        for k in 0..hold {
            let img = frame_with_face(face, 240, 320 + k * 2, 240);
            img.save(dir.join(format!("f{n:05}.png"))).unwrap();
            n += 1;
        }
        for _ in 0..gap {
            GrayImage::from_pixel(640, 480, Luma([110]))
                .save(dir.join(format!("f{n:05}.png")))
                .unwrap();
            n += 1;
        }
    }
    n
}

/// All journal records in a folder, as JSON values, plus unparseable line count.
pub fn journal(dir: &Path) -> (Vec<serde_json::Value>, usize) {
    let mut recs = Vec::new();
    let mut bad = 0;
    let Ok(rd) = std::fs::read_dir(dir) else {
        return (recs, 0);
    };
    let mut files: Vec<PathBuf> = rd
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            let name = p.file_name().unwrap_or_default().to_string_lossy();
            // Regular files only: a test may leave a FIFO or a link there on purpose.
            let regular = std::fs::symlink_metadata(p).is_ok_and(|m| m.is_file());
            regular && name.starts_with("mood-") && name.ends_with(".jsonl")
        })
        .collect();
    files.sort();
    for f in files {
        for line in std::fs::read_to_string(f).unwrap_or_default().lines() {
            match serde_json::from_str(line) {
                Ok(v) => recs.push(v),
                Err(_) => bad += 1,
            }
        }
    }
    (recs, bad)
}

pub fn of_type<'a>(recs: &'a [serde_json::Value], t: &str) -> Vec<&'a serde_json::Value> {
    recs.iter().filter(|r| r["type"] == t).collect()
}

/// The model the daemon tests run under emulation: the int8 file, not the builtin fp32 one. qemu
/// emulates NEON float arithmetic in software, so there fp32 takes several times longer per frame
/// than int8 (on a board it is the other way round; README "Speed"), and frame-timed tests (the
/// watchdog) would measure qemu. None when not emulated.
pub fn emulated_model() -> Option<PathBuf> {
    emulated().then(|| root().join("models/moodkiosk-int8.onnx"))
}

/// A `[classifier]` section with `emulated_model()`, unless `extra` has one.
pub fn emulated_classifier(extra: &str) -> String {
    match emulated_model().filter(|_| !extra.contains("[classifier]")) {
        Some(m) => format!("\n[classifier]\nmodel = {:?}\n", m.display().to_string()),
        None => String::new(),
    }
}

/// A config file for a replay run.
pub fn write_config(path: &Path, frames: &Path, journal: &Path, source_extra: &str, extra: &str) {
    let text = format!(
        "[source]\nkind = \"replay\"\nreplay = [{:?}]\nreplay_fps = 30.0\nretry_interval_ms = 200\n{source_extra}\n\
         [indicator]\nkind = \"simulated\"\n\n[journal]\ndir = {:?}\nsummary_interval_s = 1\nfsync = \"always\"\n\n\
         [steady]\nwindow = 5\nagree = 3\nmax_missed = 2\nhold_ms = 200\n{extra}\n{web}{model}",
        frames.display().to_string(),
        journal.display().to_string(),
        model = emulated_classifier(extra),
        // A free port per daemon (tests run in parallel) unless the test configures [web].
        web = if extra.contains("[web]") { "" } else { "[web]\nbind = \"127.0.0.1:0\"\n" }
    );
    std::fs::write(path, text).unwrap();
}

/// A running daemon with its web server; killed when dropped.
pub struct Kiosk {
    pub child: Child,
    /// `http://127.0.0.1:PORT`
    pub url: String,
    pub log: PathBuf,
}

impl Kiosk {
    /// Start `moodkiosk run --config cfg` and wait for its web address in the log.
    pub fn start(cfg: &Path, cwd: &Path) -> Kiosk {
        Kiosk::start_with_env(cfg, cwd, &[])
    }

    /// [`Kiosk::start`] with environment variables set (e.g. `TZ`).
    pub fn start_with_env(cfg: &Path, cwd: &Path, env: &[(&str, &str)]) -> Kiosk {
        let log = cwd.join("kiosk.log");
        let args = ["run", "--config", cfg.to_str().unwrap()];
        let child = spawn_with_env(&args, cwd, &log, env);
        let mut k = Kiosk {
            child,
            url: String::new(),
            log,
        };
        let found = wait_for(60, || {
            let text = k.log_text();
            match text.split("web page on http://").nth(1) {
                Some(rest) => {
                    let addr = rest.split('/').next().unwrap_or_default();
                    // A wildcard bind is reached on loopback.
                    k.url = format!("http://{}", addr.replace("0.0.0.0", "127.0.0.1"));
                    true
                }
                None => false,
            }
        });
        assert!(found, "no web address in the log:\n{}", k.log_text());
        k
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// `GET /api/status` as JSON.
    pub fn status(&self) -> serde_json::Value {
        let text = ureq::get(format!("{}/api/status", self.url))
            .call()
            .expect("status answers")
            .body_mut()
            .read_to_string()
            .unwrap();
        serde_json::from_str(&text).unwrap()
    }

    /// The daemon is still running.
    pub fn alive(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }
}

impl Drop for Kiosk {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A kiosk config replaying `assets/` (the astronaut: one happy visitor again and again) with
/// simulated LEDs, a journal in `dir/journal` and `web` as the `[web]` section body.
pub fn astronaut_config(dir: &Path, web: &str) -> PathBuf {
    let cfg = dir.join("kiosk.toml");
    let text = format!(
        "[source]\nkind = \"replay\"\nreplay = [{:?}]\nreplay_fps = 20.0\nreplay_loop = true\n\
         replay_hold = 10\nreplay_gap = 6\n\n[detector]\nmin_face_size = 40\n\n\
         [steady]\nmax_missed = 2\nhold_ms = 200\n\n[indicator]\nkind = \"simulated\"\n\n\
         [journal]\ndir = {:?}\nsummary_interval_s = 2\n\n[web]\n{web}\n{slow}{model}",
        root().join("assets").display().to_string(),
        dir.join("journal").display().to_string(),
        // Under emulation an upload's first classification builds the detector there and takes
        // longer than the default 30 s request timeout.
        slow = if emulated() {
            "request_timeout_s = 600\n"
        } else {
            ""
        },
        model = emulated_classifier(web),
    );
    std::fs::write(&cfg, text).unwrap();
    cfg
}
