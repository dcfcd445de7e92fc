//! A real Home Assistant (2025.4.4, pinned in tests/home-assistant-requirements.txt) on a real
//! Mosquitto, both started by the test on loopback. Home Assistant's MQTT integration is a config
//! entry seeded in `.storage`; its view is read from its own registries (`.storage`) and from the
//! entity states it publishes itself through `mqtt_statestream` (retained, under `hastate/`).
//!
//! Home Assistant is found at `$MOODKIOSK_HASS`, else in the venv `scripts/deps.sh --test`
//! builds from pyenv's Python 3.13 in `~/.cache/moodkiosk-ha/venv`.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use common::broker::{tool, Mosquitto, Subscriber};
use common::*;

const KIOSK: &str = "ha-kiosk";
const SENSORS: [&str; 6] = [
    "visitors_today",
    "happy_today",
    "not_happy_today",
    "happy_share",
    "camera",
    "last_mood",
];

fn hass() -> PathBuf {
    let path = std::env::var_os("MOODKIOSK_HASS")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            let cache = std::env::var_os("XDG_CACHE_HOME")
                .map(PathBuf::from)
                .unwrap_or_else(|| PathBuf::from(std::env::var("HOME").unwrap()).join(".cache"));
            cache.join("moodkiosk-ha/venv/bin/hass")
        });
    if !path.exists() {
        unavailable(&format!(
            "{} missing: scripts/deps.sh --test installs Home Assistant (or set MOODKIOSK_HASS)",
            path.display()
        ));
    }
    path
}

/// Home Assistant with its config folder; stopped with SIGTERM (it saves its registries).
struct HomeAssistant {
    dir: PathBuf,
    child: Option<Child>,
}

impl HomeAssistant {
    fn new(dir: &Path, broker: &Mosquitto) -> HomeAssistant {
        std::fs::create_dir_all(dir.join(".storage")).unwrap();
        std::fs::write(
            dir.join("configuration.yaml"),
            "homeassistant:\n  name: moodkiosk test\n  latitude: 52.5\n  longitude: 13.4\n  \
             elevation: 0\n  unit_system: metric\n  time_zone: UTC\n  currency: EUR\n  \
             country: DE\nlogger:\n  default: warning\nmqtt_statestream:\n  base_topic: hastate\n  \
             include:\n    domains: [sensor]\n",
        )
        .unwrap();
        // The MQTT integration as the UI would have set it up (config entry version 1.2).
        let entries = serde_json::json!({
            "version": 1, "minor_version": 1, "key": "core.config_entries",
            "data": {"entries": [{
                "entry_id": "moodkiosktestmqtt", "version": 1, "minor_version": 2,
                "domain": "mqtt", "title": "test broker", "source": "user",
                "data": {"broker": "127.0.0.1", "port": broker.port},
                "options": {"discovery": true, "discovery_prefix": "homeassistant"},
                "unique_id": null, "disabled_by": null,
                "pref_disable_new_entities": false, "pref_disable_polling": false
            }]}
        });
        std::fs::write(
            dir.join(".storage/core.config_entries"),
            entries.to_string(),
        )
        .unwrap();
        HomeAssistant {
            dir: dir.to_path_buf(),
            child: None,
        }
    }

    /// Start and wait for its birth message (`homeassistant/status` `online`) on the broker.
    fn start(&mut self, status: &Subscriber) {
        let births = status.on("homeassistant/status").len();
        let child = Command::new(hass())
            .arg("--config")
            .arg(&self.dir)
            .args(["--skip-pip", "--log-no-color"])
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(self.dir.join("stderr.log")).unwrap())
            .spawn()
            .expect("hass starts");
        self.child = Some(child);
        let mut exited = None;
        let online = wait_for(180, || {
            exited = self
                .child
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten());
            exited.is_some()
                || status
                    .on("homeassistant/status")
                    .iter()
                    .skip(births)
                    .any(|m| m.payload == "online")
        });
        assert!(
            online && exited.is_none(),
            "no birth message (exit: {exited:?}):\n{}",
            self.log()
        );
    }

    fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            signal(&c, SIGTERM);
            assert!(
                wait_exit(&mut c, 120).is_some(),
                "Home Assistant did not stop"
            );
        }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("home-assistant.log")).unwrap_or_default()
    }

    fn storage(&self, key: &str) -> serde_json::Value {
        std::fs::read_to_string(self.dir.join(".storage").join(key))
            .ok()
            .and_then(|t| serde_json::from_str(&t).ok())
            .unwrap_or(serde_json::Value::Null)
    }

    /// The kiosk's device in the device registry (saved by Home Assistant within 10 s).
    fn device(&self) -> Option<serde_json::Value> {
        let id = format!("moodkiosk_{KIOSK}");
        self.storage("core.device_registry")["data"]["devices"]
            .as_array()?
            .iter()
            .find(|d| {
                d["identifiers"]
                    .as_array()
                    .map(|ids| ids.iter().any(|i| i[0] == "mqtt" && i[1] == id.as_str()))
                    .unwrap_or(false)
            })
            .cloned()
    }

    /// sensor key -> entity_id of the kiosk's entities on `device_id`.
    fn entities(&self, device_id: &str) -> BTreeMap<String, String> {
        let prefix = format!("moodkiosk_{KIOSK}_");
        self.storage("core.entity_registry")["data"]["entities"]
            .as_array()
            .map(|a| a.as_slice())
            .unwrap_or_default()
            .iter()
            .filter(|e| e["platform"] == "mqtt" && e["device_id"] == device_id)
            .filter_map(|e| {
                let key = e["unique_id"].as_str()?.strip_prefix(&prefix)?;
                Some((key.to_string(), e["entity_id"].as_str()?.to_string()))
            })
            .collect()
    }
}

impl Drop for HomeAssistant {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// The retained messages under `filter` now (a fresh `mosquitto_sub`, 2 s).
fn retained(broker: &Mosquitto, filter: &str) -> BTreeMap<String, String> {
    let out = Command::new(tool("mosquitto_sub"))
        .args(["-h", "127.0.0.1", "-p", &broker.port.to_string()])
        .args(["-t", filter, "--retained-only", "-W", "2", "-F", "%t|%p"])
        .output()
        .expect("mosquitto_sub runs");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.split_once('|'))
        .map(|(t, p)| (t.to_string(), p.to_string()))
        .collect()
}

/// Home Assistant's state of each entity (sensor key -> state), as it published it.
fn states(broker: &Mosquitto, entities: &BTreeMap<String, String>) -> BTreeMap<String, String> {
    let all = retained(broker, "hastate/#");
    entities
        .iter()
        .filter_map(|(key, entity)| {
            let topic = format!("hastate/{}/state", entity.replace('.', "/"));
            Some((key.clone(), all.get(&topic)?.clone()))
        })
        .collect()
}

/// What the kiosk's own page says, in the sensors' terms.
fn kiosk_view(k: &Kiosk) -> BTreeMap<String, String> {
    let today: serde_json::Value = serde_json::from_str(
        &ureq::get(format!("{}/api/today", k.url))
            .call()
            .unwrap()
            .body_mut()
            .read_to_string()
            .unwrap(),
    )
    .unwrap();
    let status = k.status();
    let mut v = BTreeMap::new();
    v.insert("visitors_today".into(), today["visitors"].to_string());
    v.insert("happy_today".into(), today["happy"].to_string());
    v.insert("not_happy_today".into(), today["not_happy"].to_string());
    // The share the kiosk publishes: happy in percent of the decided visitors, one decimal.
    let (happy, visitors) = (
        today["happy"].as_f64().unwrap(),
        today["visitors"].as_f64().unwrap(),
    );
    v.insert(
        "happy_share".into(),
        match visitors > 0.0 {
            true => format!("{:.1}", (happy * 1000.0 / visitors).round() / 10.0),
            false => "unknown".into(),
        },
    );
    v.insert(
        "camera".into(),
        status["camera"]["state"].as_str().unwrap_or("").into(),
    );
    v.insert(
        "last_mood".into(),
        status["last_decision"]["mood"]
            .as_str()
            .unwrap_or("unknown")
            .into(),
    );
    v
}

/// Home Assistant writes 50 as "50.0" or "50": compare numbers as numbers.
fn same(a: &BTreeMap<String, String>, b: &BTreeMap<String, String>) -> bool {
    a.len() == b.len()
        && a.iter().all(|(k, x)| {
            let Some(y) = b.get(k) else { return false };
            match (x.parse::<f64>(), y.parse::<f64>()) {
                (Ok(x), Ok(y)) => (x - y).abs() < 1e-9,
                _ => x == y,
            }
        })
}

fn kiosk_config(dir: &Path, broker: &Mosquitto, discovery: bool) -> PathBuf {
    let cfg = dir.join("kiosk.toml");
    let text = format!(
        "[source]\nkind = \"replay\"\nreplay = [{astronaut:?}, {visitors:?}]\nreplay_fps = 20.0\n\
         replay_loop = true\nreplay_hold = 10\nreplay_gap = 200\n\n[detector]\nmin_face_size = 40\n\n\
         [steady]\nmax_missed = 2\nhold_ms = 200\n\n[indicator]\nkind = \"simulated\"\n\n\
         [journal]\ndir = {journal:?}\n\n[web]\nbind = \"127.0.0.1:0\"\n\n\
         [mqtt]\nenabled = true\nbroker = {url:?}\nkiosk_id = \"{KIOSK}\"\ndiscovery = {discovery}\n",
        astronaut = root().join("assets/astronaut.png").display().to_string(),
        visitors = root().join("assets/visitors").display().to_string(),
        journal = dir.join("journal").display().to_string(),
        url = broker.url(),
    );
    std::fs::write(&cfg, text).unwrap();
    cfg
}

#[test]
#[ignore = "needs Home Assistant 2025.4.4 and mosquitto (scripts/deps.sh --test); scripts/test.sh runs it"]
fn home_assistant_shows_the_kiosk_as_a_device_with_its_numbers() {
    let hass_bin = hass();
    let d = tempfile::tempdir().unwrap();
    let broker = Mosquitto::start(&d.path().join("broker"));
    let status = Subscriber::start(
        &broker,
        "ha-status-watcher",
        &["homeassistant/status"],
        &d.path().join("status.txt"),
    );
    let mut ha = HomeAssistant::new(&d.path().join("ha"), &broker);
    ha.start(&status);

    // Visitors of both moods: the astronaut, camera.png and unsure.png in turn, each for 0.5 s
    // then 10 s without a face, so the numbers hold still long enough to compare.
    let kdir = d.path().join("kiosk");
    std::fs::create_dir_all(&kdir).unwrap();
    let mut kiosk = Kiosk::start(&kiosk_config(&kdir, &broker, true), &kdir);
    let both = || {
        let v = kiosk_view(&kiosk);
        v["happy_today"] != "0" && v["not_happy_today"] != "0"
    };
    assert!(wait_for(120, both), "{}", kiosk.log_text());

    // 1. The device with its six sensors, and Home Assistant's states equal the kiosk's numbers.
    let mut device = None;
    let mut entities = BTreeMap::new();
    let registered = wait_for(90, || {
        device = ha.device();
        if let Some(dev) = &device {
            entities = ha.entities(dev["id"].as_str().unwrap_or_default());
        }
        entities.len() == SENSORS.len()
    });
    assert!(
        registered,
        "device {device:?}, entities {entities:?} ({})\n{}",
        hass_bin.display(),
        ha.log()
    );
    let dev = device.clone().unwrap();
    assert_eq!(dev["manufacturer"], "moodkiosk", "{dev}");
    for key in SENSORS {
        assert!(entities.contains_key(key), "{key} missing: {entities:?}");
    }
    let (mut theirs, mut ours) = (BTreeMap::new(), BTreeMap::new());
    let equal = wait_for(60, || {
        ours = kiosk_view(&kiosk);
        theirs = states(&broker, &entities);
        same(&theirs, &ours)
    });
    assert!(
        equal,
        "Home Assistant {theirs:?} != kiosk {ours:?}\n{}",
        ha.log()
    );
    assert!(
        !ha.log().contains("[homeassistant.components.mqtt"),
        "Home Assistant's MQTT integration complained:\n{}",
        ha.log()
    );

    // 2. SIGTERM: every sensor unavailable.
    signal(&kiosk.child, SIGTERM);
    assert!(wait_exit(&mut kiosk.child, 30).is_some());
    let unavailable_all = || {
        let s = states(&broker, &entities);
        s.len() == SENSORS.len() && s.values().all(|v| v == "unavailable")
    };
    assert!(
        wait_for(60, unavailable_all),
        "{:?}",
        states(&broker, &entities)
    );

    // 3. Home Assistant restarts after the kiosk: the kiosk sends discovery again. While Home
    // Assistant is down its retained discovery and states are cleared on the broker, so what it
    // shows afterwards can only come from the kiosk's answer to the new birth message.
    drop(kiosk);
    let kiosk = Kiosk::start(&kiosk_config(&kdir, &broker, true), &kdir);
    assert!(
        wait_for(60, || {
            let s = states(&broker, &entities);
            s.len() == SENSORS.len() && s.values().all(|v| v != "unavailable")
        }),
        "{:?}",
        states(&broker, &entities)
    );
    ha.stop();
    let mut cleared: Vec<String> = retained(&broker, "hastate/#").into_keys().collect();
    cleared.push(format!("homeassistant/device/moodkiosk_{KIOSK}/config"));
    for topic in &cleared {
        let st = Command::new(tool("mosquitto_pub"))
            .args(["-h", "127.0.0.1", "-p", &broker.port.to_string()])
            .args(["-t", topic, "-r", "-n", "-q", "1"])
            .status()
            .unwrap();
        assert!(st.success());
    }
    assert!(retained(&broker, "hastate/#").is_empty());
    assert!(retained(&broker, "homeassistant/device/#").is_empty());
    ha.start(&status);
    let equal = wait_for(90, || {
        ours = kiosk_view(&kiosk);
        theirs = states(&broker, &entities);
        same(&theirs, &ours)
    });
    assert!(
        equal,
        "after Home Assistant's restart: {theirs:?} != kiosk {ours:?}\n{}",
        ha.log()
    );

    // 4. discovery = false: the kiosk removes its device from Home Assistant.
    drop(kiosk);
    let kiosk = Kiosk::start(&kiosk_config(&kdir, &broker, false), &kdir);
    assert!(
        wait_for(90, || ha.device().is_none()),
        "device still registered: {:?}\n{}",
        ha.device(),
        kiosk.log_text()
    );
    ha.stop();
}
