//! systemd notification through a local notify socket: READY once the pipeline is built (before
//! any frame: a kiosk without its camera still starts), STATUS with the camera's state,
//! WATCHDOG=1 only from the frame loop and only while the capture thread shows life, so a stuck
//! camera read stops the keep-alives (systemd would restart us).

mod common;

use std::os::unix::net::UnixDatagram;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::*;

#[test]
fn watchdog_pings_stop_when_the_frame_loop_stalls() {
    let d = tempfile::tempdir().unwrap();
    let frames = d.path().join("frames");
    std::fs::create_dir(&frames).unwrap();
    image::GrayImage::from_pixel(320, 240, image::Luma([100]))
        .save(frames.join("a.png"))
        .unwrap();
    // b.png is a FIFO with no writer: opening it blocks, like a camera read that never returns.
    let fifo = frames.join("b.png");
    assert!(Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap()
        .success());
    let cfg = d.path().join("k.toml");
    write_config(&cfg, &frames, &d.path().join("j"), "replay_hold = 45\n", "");
    let sock_path = d.path().join("notify.sock");
    let sock = UnixDatagram::bind(&sock_path).unwrap();
    sock.set_read_timeout(Some(Duration::from_millis(100)))
        .unwrap();
    let log = d.path().join("kiosk.log");
    let mut child = command()
        .args(["run", "--config", cfg.to_str().unwrap()])
        .env("NOTIFY_SOCKET", &sock_path)
        .env("WATCHDOG_USEC", "200000")
        .env_remove("WATCHDOG_PID")
        .env_remove("RUST_LOG")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let mut msgs: Vec<(Instant, String)> = Vec::new();
    let t0 = Instant::now();
    let mut buf = [0u8; 512];
    // Observe until 3 s have passed without a ping after READY (or 30 s in all).
    while t0.elapsed() < Duration::from_secs(30) {
        if let Ok(n) = sock.recv(&mut buf) {
            msgs.push((
                Instant::now(),
                String::from_utf8_lossy(&buf[..n]).to_string(),
            ));
        }
        let last_ping = msgs
            .iter()
            .rev()
            .find(|(_, m)| m.contains("WATCHDOG=1"))
            .map(|(t, _)| *t);
        if last_ping
            .map(|t| t.elapsed() > Duration::from_secs(3))
            .unwrap_or(false)
        {
            break;
        }
    }
    let child_was_alive = child.try_wait().unwrap().is_none();
    // The web server runs beside the stuck loop and reports it: /healthz 503 "stalled".
    let text = std::fs::read_to_string(&log).unwrap();
    let addr = text
        .split("web page on http://")
        .nth(1)
        .and_then(|r| r.split('/').next())
        .unwrap_or_else(|| panic!("no web address in\n{text}"))
        .to_string();
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(10)))
        .build()
        .into();
    let (mut status, mut body) = (0, String::new());
    wait_for(20, || {
        let mut health = agent.get(&format!("http://{addr}/healthz")).call().unwrap();
        status = health.status().as_u16();
        body = health.body_mut().read_to_string().unwrap();
        status == 503
    });
    let _ = child.kill();
    let _ = child.wait();
    let ready = msgs
        .iter()
        .position(|(_, m)| m.contains("READY=1"))
        .expect("READY sent");
    assert_eq!(ready, 0, "READY comes first: {msgs:?}");
    assert!(
        msgs[ready]
            .1
            .contains("STATUS=camera starting; visitors today 0"),
        "READY before the first frame: {:?}",
        msgs[ready]
    );
    assert!(
        msgs[ready..]
            .iter()
            .any(|(_, m)| m.contains("STATUS=camera up")),
        "{msgs:?}"
    );
    let pings: Vec<Instant> = msgs
        .iter()
        .filter(|(_, m)| m.contains("WATCHDOG=1"))
        .map(|(t, _)| *t)
        .collect();
    assert!(pings.len() >= 5, "pinged while frames flowed: {msgs:?}");
    // 45 frames at 30 fps: the capture thread is stuck ~1.5 s after READY; the pings stop once
    // it has been silent for longer than a frame read may take (dequeue timeout 1 s + 2 s).
    // Under emulation the replay reads its 45 frames more slowly and one frame's analysis (the
    // loop pings between frames) takes over a second.
    let last = *pings.last().unwrap();
    let ready_at = msgs[ready].0;
    let bound = Duration::from_secs(if emulated() { 16 } else { 8 });
    assert!(
        last.duration_since(ready_at) < bound,
        "pings went on {:?} after READY",
        last.duration_since(ready_at)
    );
    assert!(
        last.elapsed() > Duration::from_secs(3),
        "pings did not stop within 30 s"
    );
    assert!(
        child_was_alive,
        "the daemon was still running (stuck), not exited"
    );
    assert_eq!(status, 503, "{body}");
    assert!(body.contains("\"stalled\""), "{body}");
}
