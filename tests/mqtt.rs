//! MQTT against a real broker: the tests start their own Mosquitto on a free loopback port and
//! subscribe with a real client (`mosquitto_sub`). The kiosk replays the sample photo (one happy
//! visitor about every second).

mod common;

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use common::broker::{Message, Mosquitto, Subscriber, Tls};
use common::*;

fn kiosk_config(d: &Path, broker: &Mosquitto, mqtt_extra: &str) -> std::path::PathBuf {
    let cfg = astronaut_config(d, "bind = \"127.0.0.1:0\"\n");
    let mut text = std::fs::read_to_string(&cfg).unwrap();
    text.push_str(&format!(
        "\n[mqtt]\nenabled = true\nbroker = {:?}\nkiosk_id = \"hall-1\"\n{mqtt_extra}\n",
        broker.url()
    ));
    std::fs::write(&cfg, text).unwrap();
    cfg
}

fn visitor_seqs(msgs: &[Message]) -> Vec<u64> {
    msgs.iter()
        .map(|m| m.json()["seq"].as_u64().unwrap())
        .collect()
}

fn mqtt_state(k: &Kiosk) -> String {
    k.status()["mqtt"]["state"]
        .as_str()
        .unwrap_or("")
        .to_string()
}

fn metrics(k: &Kiosk) -> String {
    ureq::get(format!("{}/metrics", k.url))
        .call()
        .unwrap()
        .body_mut()
        .read_to_string()
        .unwrap()
}

/// `mosquitto_pub` to `topic` at QoS 1, retained or not; the caller adds the payload.
fn mosquitto_pub(broker: &Mosquitto, topic: &str, retain: bool) -> Command {
    let mut c = Command::new(common::broker::tool("mosquitto_pub"));
    c.args(["-h", "127.0.0.1", "-p", &broker.port.to_string(), "-q", "1"])
        .args(["-t", topic]);
    if retain {
        c.arg("-r");
    }
    c
}

fn publish(broker: &Mosquitto, topic: &str, payload: &str, retain: bool) {
    let mut c = mosquitto_pub(broker, topic, retain);
    assert!(c
        .args(["-m", payload])
        .status()
        .expect("mosquitto_pub runs")
        .success());
}

/// Availability, discovery, one `visitor` per journal record, retained `today`/`summary`/
/// `state`; a 10 s broker outage loses nothing (every seq arrives, in order, no gap); SIGTERM
/// publishes `offline`; Home Assistant's birth message brings the discovery config again.
#[test]
#[ignore = "needs mosquitto and mosquitto-clients (scripts/deps.sh --test); scripts/test.sh runs it"]
fn every_visitor_reaches_the_broker_through_an_outage() {
    let d = tempfile::tempdir().unwrap();
    let mut broker = Mosquitto::start(&d.path().join("broker"));
    let sub = Subscriber::start(
        &broker,
        "watcher",
        &["moodkiosk/#", "homeassistant/#"],
        &d.path().join("sub.txt"),
    );
    let cfg = kiosk_config(d.path(), &broker, "");
    let mut k = Kiosk::start(&cfg, d.path());
    let patience = if emulated() { 600 } else { 60 };
    assert!(
        wait_for(patience, || {
            sub.on("moodkiosk/hall-1/visitor").len() >= 3
                && !sub.on("moodkiosk/hall-1/today").is_empty()
                && !sub.on("moodkiosk/hall-1/state").is_empty()
        }),
        "no visitors on the broker:\n{}\n{:?}",
        k.log_text(),
        sub.messages()
    );
    let avail = sub.on("moodkiosk/hall-1/availability");
    assert_eq!(avail[0].payload, "online");
    // Home Assistant's device discovery: the keys it requires.
    let config = sub.on("homeassistant/device/moodkiosk_hall-1/config");
    let c = config.last().expect("a discovery config").json();
    assert_eq!(c["dev"]["ids"][0], "moodkiosk_hall-1");
    assert_eq!(c["o"]["name"], "moodkiosk");
    assert_eq!(c["availability_topic"], "moodkiosk/hall-1/availability");
    let cmps = c["cmps"].as_object().unwrap();
    for key in [
        "visitors_today",
        "happy_today",
        "not_happy_today",
        "happy_share",
        "camera",
        "last_mood",
    ] {
        let s = &cmps[key];
        assert_eq!(s["p"], "sensor", "{key}");
        assert!(s["unique_id"].as_str().unwrap().contains("hall-1"), "{key}");
        let topic = s["state_topic"].as_str().unwrap();
        assert!(topic == "moodkiosk/hall-1/today" || topic == "moodkiosk/hall-1/state");
    }
    let state = sub.on("moodkiosk/hall-1/state").last().unwrap().json();
    assert_eq!(state["camera"], "up");
    assert!(state["version"].is_string() && state["model"].is_string());
    assert!(state.get("image").is_none());
    assert_eq!(mqtt_state(&k), "connected");
    assert!(metrics(&k).contains("moodkiosk_mqtt_connected 1\n"));

    // Home Assistant restarts: it asks for discovery again by its birth message.
    let configs = config.len();
    publish(&broker, "homeassistant/status", "online", false);
    assert!(
        wait_for(20, || sub
            .on("homeassistant/device/moodkiosk_hall-1/config")
            .len()
            > configs),
        "discovery was not sent again after homeassistant/status online"
    );

    // Without an outage each record arrives exactly once.
    let once = visitor_seqs(&sub.on("moodkiosk/hall-1/visitor"));
    let mut unique = once.clone();
    unique.dedup();
    assert_eq!(once, unique, "no duplicates while the link is up");

    // The broker goes away for about 10 s while visitors keep being decided.
    let journal_dir = d.path().join("journal");
    let count = || of_type(&journal(&journal_dir).0, "visitor").len();
    broker.stop();
    let down_at = Instant::now();
    let before = count();
    assert!(
        wait_for(20, || mqtt_state(&k) == "down"),
        "{}",
        k.log_text()
    );
    std::thread::sleep(Duration::from_secs(10).saturating_sub(down_at.elapsed()));
    assert!(
        count() > before,
        "visitors are decided while the broker is away"
    );
    assert!(k.status()["mqtt"]["unacked"].as_u64().unwrap() > 0);
    broker.restart();
    assert!(
        wait_for(90, || mqtt_state(&k) == "connected"
            && k.status()["mqtt"]["unacked"].as_u64() == Some(0)),
        "did not catch up: {}\n{}",
        k.status()["mqtt"],
        k.log_text()
    );
    signal(&k.child, SIGTERM);
    assert!(wait_exit(&mut k.child, 30).expect("exits").success());
    assert!(
        wait_for(20, || sub
            .on("moodkiosk/hall-1/availability")
            .last()
            .is_some_and(|m| m.payload == "offline")),
        "no offline at stop: {:?}",
        sub.on("moodkiosk/hall-1/availability")
    );
    let log = k.log_text();
    assert_eq!(log.matches("MQTT: connected to").count(), 2, "{log}");

    // Every journal visitor record arrived at least once, first in order, with no gap.
    let records = of_type(&journal(&journal_dir).0, "visitor")
        .into_iter()
        .cloned()
        .collect::<Vec<_>>();
    let msgs = sub.on("moodkiosk/hall-1/visitor");
    let mut first_seen = Vec::new();
    for s in visitor_seqs(&msgs) {
        if !first_seen.contains(&s) {
            first_seen.push(s);
        }
    }
    let n = records.len() as u64;
    assert_eq!(first_seen, (1..=n).collect::<Vec<_>>(), "journal holds {n}");
    for m in &msgs {
        let v = m.json();
        let r = &records[v["seq"].as_u64().unwrap() as usize - 1];
        assert_eq!(&v, r, "the message is the journal's record");
        assert!(!m.retained);
    }

    // What a newcomer finds retained.
    drop(sub);
    let late = Subscriber::start(
        &broker,
        "late",
        &["moodkiosk/#"],
        &d.path().join("late.txt"),
    );
    assert!(
        wait_for(20, || late.messages().len() >= 4),
        "{:?}",
        late.messages()
    );
    let retained = |leaf: &str| {
        late.on(&format!("moodkiosk/hall-1/{leaf}"))
            .into_iter()
            .find(|m| m.retained)
            .unwrap_or_else(|| panic!("no retained {leaf}: {:?}", late.messages()))
    };
    assert_eq!(retained("availability").payload, "offline");
    let today = retained("today").json();
    assert_eq!(today["visitors"].as_u64(), Some(n), "{today}");
    assert_eq!(today["happy"].as_u64(), Some(n), "the astronaut smiles");
    assert_eq!(today["happy_share"].as_f64(), Some(100.0));
    assert!(!today["bars"].as_array().unwrap().is_empty());
    assert_eq!(retained("summary").json()["type"], "summary");
    assert_eq!(retained("state").json()["camera"], "up");
    assert!(
        late.on("moodkiosk/hall-1/visitor").is_empty(),
        "visitors are not retained"
    );
}

/// A broker that refuses the login: one clear line, the state in /api/status, the daemon keeps
/// running and journaling; the password appears nowhere.
#[test]
#[ignore = "needs mosquitto and mosquitto-clients (scripts/deps.sh --test); scripts/test.sh runs it"]
fn a_refused_login_is_one_clear_line_and_the_kiosk_keeps_running() {
    let d = tempfile::tempdir().unwrap();
    let broker = Mosquitto::with_users(
        &d.path().join("broker"),
        &[("kiosk", "right-horse-battery")],
    );
    let pw = d.path().join("mqtt-password");
    std::fs::write(&pw, "wrong-staple-7\n").unwrap();
    let cfg = kiosk_config(
        d.path(),
        &broker,
        &format!(
            "username = \"kiosk\"\npassword_file = {:?}\n",
            pw.display().to_string()
        ),
    );
    let mut k = Kiosk::start(&cfg, d.path());
    assert!(
        wait_for(30, || mqtt_state(&k) == "refused"),
        "{}",
        k.log_text()
    );
    // Three more attempts at least (1 + 2 + 4 s).
    std::thread::sleep(Duration::from_secs(8));
    let log = k.log_text();
    let lines: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("refused the login"))
        .collect();
    assert_eq!(lines.len(), 1, "{log}");
    assert!(lines[0].contains("mqtt.username") && lines[0].contains("mqtt.password_file"));
    assert!(k.alive());
    let status = k.status();
    assert!(status["mqtt"]["detail"]
        .as_str()
        .unwrap()
        .contains("refused the login"));
    assert!(!log.contains("wrong-staple") && !status.to_string().contains("wrong-staple"));
    assert!(
        wait_for(60, || !of_type(
            &journal(&d.path().join("journal")).0,
            "visitor"
        )
        .is_empty()),
        "the kiosk keeps deciding visitors"
    );
    assert!(metrics(&k).contains("moodkiosk_mqtt_connected 0\n"));
}

/// `discovery = false` removes a device an earlier run announced (an empty retained config).
#[test]
#[ignore = "needs mosquitto and mosquitto-clients (scripts/deps.sh --test); scripts/test.sh runs it"]
fn discovery_off_removes_the_device() {
    let d = tempfile::tempdir().unwrap();
    let broker = Mosquitto::start(&d.path().join("broker"));
    let topic = "homeassistant/device/moodkiosk_hall-1/config";
    publish(&broker, topic, "{\"dev\":{}}", true);
    let sub = Subscriber::start(
        &broker,
        "ha",
        &["homeassistant/#"],
        &d.path().join("sub.txt"),
    );
    assert!(wait_for(10, || !sub.on(topic).is_empty()));
    let cfg = kiosk_config(d.path(), &broker, "discovery = false\n");
    let k = Kiosk::start(&cfg, d.path());
    assert!(
        wait_for(60, || sub
            .on(topic)
            .last()
            .is_some_and(|m| m.payload.is_empty())),
        "{:?}\n{}",
        sub.on(topic),
        k.log_text()
    );
}

/// `mqtts://` with the site's CA and a client certificate: visitors arrive over TLS; a kiosk
/// that trusts another CA stays off with the certificate error in /api/status and one log line.
#[test]
#[ignore = "needs mosquitto, mosquitto-clients and openssl (scripts/deps.sh --test); scripts/test.sh runs it"]
fn tls_with_the_sites_ca_and_a_client_certificate() {
    let d = tempfile::tempdir().unwrap();
    let tls = Tls::make(&d.path().join("pki"));
    let broker = Mosquitto::with_tls(&d.path().join("broker"), &tls);
    let sub = Subscriber::start(
        &broker,
        "tls-watcher",
        &["moodkiosk/#"],
        &d.path().join("sub.txt"),
    );
    let files = |ca: &Path| {
        format!(
            "ca_file = {:?}\nclient_cert = {:?}\nclient_key = {:?}\n",
            ca.display().to_string(),
            tls.client_cert.display().to_string(),
            tls.client_key.display().to_string()
        )
    };
    let good = d.path().join("good");
    std::fs::create_dir_all(&good).unwrap();
    let k = Kiosk::start(&kiosk_config(&good, &broker, &files(&tls.ca)), &good);
    assert!(
        wait_for(60, || sub.on("moodkiosk/hall-1/visitor").len() >= 2),
        "{}\n{}",
        k.log_text(),
        broker.log()
    );
    assert_eq!(mqtt_state(&k), "connected");

    let other = Tls::make(&d.path().join("other-pki"));
    let bad = d.path().join("bad");
    std::fs::create_dir_all(&bad).unwrap();
    let text = kiosk_config(&bad, &broker, &files(&other.ca));
    let text = std::fs::read_to_string(&text)
        .unwrap()
        .replace("hall-1", "hall-2");
    std::fs::write(bad.join("kiosk.toml"), text).unwrap();
    let k2 = Kiosk::start(&bad.join("kiosk.toml"), &bad);
    assert!(
        wait_for(30, || mqtt_state(&k2) == "down"),
        "{}",
        k2.log_text()
    );
    std::thread::sleep(Duration::from_secs(4));
    let detail = k2.status()["mqtt"]["detail"].as_str().unwrap().to_string();
    assert!(
        detail.contains("TLS") || detail.contains("certificate"),
        "{detail}"
    );
    let log = k2.log_text();
    assert_eq!(
        log.matches("MQTT: mqtts://").count(),
        1,
        "one line, not one per attempt:\n{log}"
    );
    drop(k);
}

/// `mosquitto_pub` of a file's contents (payloads too large for a command-line argument).
fn publish_file(broker: &Mosquitto, topic: &str, file: &Path, retain: bool) {
    let mut c = mosquitto_pub(broker, topic, retain);
    assert!(c
        .arg("-f")
        .arg(file)
        .status()
        .expect("mosquitto_pub runs")
        .success());
}

/// A broker shared with other devices, any of which can publish anything: a 300 KB retained
/// message on Home Assistant's status topic and on another "kiosk"'s `today` (the fleet page on)
/// is dropped and counted while the connection stays up and visitors keep arriving; a flood of
/// 200 `online` birth messages brings the discovery config again at most once per 10 s.
#[test]
#[ignore = "needs mosquitto and mosquitto-clients (scripts/deps.sh --test); scripts/test.sh runs it"]
fn hostile_broker_input_never_stops_delivery() {
    let d = tempfile::tempdir().unwrap();
    let broker = Mosquitto::start(&d.path().join("broker"));
    let big = d.path().join("big.txt");
    std::fs::write(&big, "x".repeat(300 * 1024)).unwrap();
    publish_file(&broker, "homeassistant/status", &big, true);
    publish_file(&broker, "moodkiosk/intruder/today", &big, true);
    let cfg = astronaut_config(d.path(), "bind = \"127.0.0.1:0\"\nfleet = true\n");
    let mut text = std::fs::read_to_string(&cfg).unwrap();
    text.push_str(&format!(
        "\n[mqtt]\nenabled = true\nbroker = {:?}\nkiosk_id = \"hall-1\"\n",
        broker.url()
    ));
    std::fs::write(&cfg, text).unwrap();
    let sub = Subscriber::start(
        &broker,
        "watcher",
        &["moodkiosk/hall-1/visitor", "homeassistant/device/+/config"],
        &d.path().join("sub.txt"),
    );
    let k = Kiosk::start(&cfg, d.path());
    let visitors = || sub.on("moodkiosk/hall-1/visitor").len();
    assert!(wait_for(60, || visitors() >= 3), "{}", k.log_text());
    let dropped = || {
        metrics(&k)
            .lines()
            .find_map(|l| l.strip_prefix("moodkiosk_mqtt_dropped_messages_total "))
            .and_then(|n| n.trim().parse::<u64>().ok())
            .unwrap_or(0)
    };
    assert!(wait_for(20, || dropped() >= 2), "{}", metrics(&k));
    assert_eq!(mqtt_state(&k), "connected");
    let log = k.log_text();
    assert_eq!(
        log.matches("MQTT: connected").count(),
        1,
        "one connection, no reconnects:\n{log}"
    );
    // The fleet page did not take the oversized message as a kiosk.
    let fleet: serde_json::Value = ureq::get(format!("{}/api/fleet", k.url))
        .call()
        .unwrap()
        .body_mut()
        .read_json()
        .unwrap();
    assert!(
        !fleet["kiosks"]
            .as_array()
            .unwrap()
            .iter()
            .any(|k| k["id"] == "intruder"),
        "{fleet}"
    );
    // A flood of birth messages.
    let config = "homeassistant/device/moodkiosk_hall-1/config";
    let before = sub.on(config).len();
    let burst = d.path().join("online.txt");
    std::fs::write(&burst, "online\n".repeat(200)).unwrap();
    let mut c = mosquitto_pub(&broker, "homeassistant/status", false);
    c.arg("-l").stdin(std::fs::File::open(&burst).unwrap());
    assert!(c.status().unwrap().success());
    assert!(
        wait_for(20, || sub.on(config).len() > before),
        "Home Assistant's online brings discovery again"
    );
    let n = visitors();
    assert!(wait_for(60, || visitors() > n + 1), "delivery goes on");
    let again = sub.on(config).len() - before;
    assert!(
        again <= 2,
        "{again} discovery configs for 200 birth messages"
    );
}

/// libfaketime, which `scripts/deps.sh --test` installs (Debian's `faketime`).
const LIBFAKETIME: &str = "/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1";

/// A Raspberry Pi's clock: it boots 120 days behind (no RTC) with the broker down, NTP then
/// jumps it to today, later a day ahead, then back, then the daemon restarts. Every visitor
/// keeps a `seq` of its own (never reused, whatever day file it went to), the records written on
/// the stale clock survive the jump, and every one reaches the broker, in `seq` order, with
/// `/api/status` telling the truth about what is unacknowledged.
#[test]
#[ignore = "needs mosquitto, mosquitto-clients and faketime (scripts/deps.sh --test); scripts/test.sh runs it"]
fn clock_jumps_lose_nothing_and_never_reuse_a_seq() {
    if !Path::new(LIBFAKETIME).exists() {
        unavailable("libfaketime is needed: scripts/deps.sh --test installs faketime");
    }
    let d = tempfile::tempdir().unwrap();
    let mut broker = Mosquitto::start(&d.path().join("broker"));
    let cfg = kiosk_config(d.path(), &broker, "");
    let clock = d.path().join("clock");
    std::fs::write(&clock, "-120d\n").unwrap();
    let env = [
        ("LD_PRELOAD", LIBFAKETIME),
        ("FAKETIME_TIMESTAMP_FILE", clock.to_str().unwrap()),
        ("FAKETIME_NO_CACHE", "1"),
        // Timers and timeouts keep the real monotonic clock; only the wall clock jumps.
        ("FAKETIME_DONT_FAKE_MONOTONIC", "1"),
    ];
    let sub = Subscriber::start(
        &broker,
        "watcher",
        &["moodkiosk/hall-1/visitor"],
        &d.path().join("sub.txt"),
    );
    let jdir = d.path().join("journal");
    let journal_seqs = || -> Vec<u64> {
        of_type(&journal(&jdir).0, "visitor")
            .iter()
            .filter_map(|r| r["seq"].as_u64())
            .collect()
    };
    // Wait until the journal holds `by` more visitors.
    let more = |k: &Kiosk, by: usize| {
        let n = journal_seqs().len();
        assert!(
            wait_for(60, || journal_seqs().len() >= n + by),
            "{}",
            k.log_text()
        );
    };
    let files = || {
        std::fs::read_dir(&jdir)
            .map(|r| {
                r.flatten()
                    .filter(|e| e.file_name().to_string_lossy().ends_with(".jsonl"))
                    .count()
            })
            .unwrap_or(0)
    };
    // A stale boot clock, the broker not reachable yet.
    broker.stop();
    let mut k = Kiosk::start_with_env(&cfg, d.path(), &env);
    assert!(
        wait_for(60, || journal_seqs().len() >= 2),
        "{}",
        k.log_text()
    );
    let stale = journal_seqs();
    // NTP answers: the clock jumps 120 days forward; the broker is back.
    std::fs::write(&clock, "+0\n").unwrap();
    broker.restart();
    assert!(
        wait_for(60, || files() >= 2),
        "today's file:\n{}",
        k.log_text()
    );
    more(&k, 2);
    assert!(
        stale.iter().all(|s| journal_seqs().contains(s)),
        "the stale clock's records survive the jump"
    );
    // A day ahead: tomorrow's file.
    std::fs::write(&clock, "+1d\n").unwrap();
    assert!(
        wait_for(60, || files() >= 3),
        "tomorrow's file:\n{}",
        k.log_text()
    );
    more(&k, 2);
    // Corrected back: today's file again, after tomorrow's.
    std::fs::write(&clock, "+0\n").unwrap();
    more(&k, 3);
    signal(&k.child, SIGTERM);
    assert!(wait_exit(&mut k.child, 20).expect("exits").success());
    let k = Kiosk::start_with_env(&cfg, d.path(), &env);
    more(&k, 2);
    // Never a seq twice, whatever file it is in.
    let mut seqs = journal_seqs();
    seqs.sort_unstable();
    let all = seqs.clone();
    seqs.dedup();
    assert_eq!(seqs, all, "a seq reused");
    // Every one reaches the broker, in seq order (first arrivals), and status agrees.
    let newest = *seqs.last().unwrap();
    assert!(
        wait_for(60, || {
            let got = visitor_seqs(&sub.on("moodkiosk/hall-1/visitor"));
            seqs.iter().all(|s| got.contains(s))
        }),
        "delivered {:?} of {seqs:?}:\n{}",
        visitor_seqs(&sub.on("moodkiosk/hall-1/visitor")),
        k.log_text()
    );
    let got = visitor_seqs(&sub.on("moodkiosk/hall-1/visitor"));
    let mut first = Vec::new();
    for s in got {
        if !first.contains(&s) {
            first.push(s);
        }
    }
    let mut sorted = first.clone();
    sorted.sort_unstable();
    assert_eq!(first, sorted, "first arrivals in seq order");
    assert!(
        wait_for(20, || k.status()["mqtt"]["acked_seq"].as_u64()
            >= Some(newest)),
        "{}",
        k.status()
    );
    // What is unacknowledged is only what came after (the kiosk keeps deciding visitors).
    let s = k.status();
    let acked = s["mqtt"]["acked_seq"].as_u64().unwrap();
    let unacked = s["mqtt"]["unacked"].as_u64().unwrap();
    let newest_now = *journal_seqs().iter().max().unwrap();
    assert!(acked >= newest && acked + unacked >= newest_now, "{s}");
}
