//! What the kiosk publishes: topic names and JSON payloads. Moods, counts and times only.
//!
//! | topic (under `<prefix>/<kiosk_id>/`) | QoS | retained | payload |
//! |---|---|---|---|
//! | `availability` | 1 | yes | `online`; `offline` on a clean stop and as the last will |
//! | `visitor` | 1 | no | the journal's visitor record, with its `seq` |
//! | `summary` | 1 | yes | the journal's interval summary record |
//! | `today` | 1 | yes | `fleet::report::TodayMessage` |
//! | `state` | 1 | yes | `fleet::report::StateMessage` |
//!
//! Home Assistant device discovery: `<discovery_prefix>/device/moodkiosk_<kiosk_id>/config`
//! ([`discovery`]), retained; an empty retained payload removes the device.

use serde_json::json;

use super::MqttSettings;
use crate::fleet::report::{OFFLINE, ONLINE, VERSION};

/// One kiosk's topic names.
#[derive(Debug, Clone)]
pub struct Topics {
    pub kiosk_id: String,
    /// `<prefix>/<kiosk_id>`.
    base: String,
    prefix: String,
    discovery_prefix: String,
}

impl Topics {
    pub fn new(cfg: &MqttSettings) -> Topics {
        let kiosk_id = cfg.kiosk_id();
        Topics {
            base: format!("{}/{kiosk_id}", cfg.topic_prefix),
            kiosk_id,
            prefix: cfg.topic_prefix.clone(),
            discovery_prefix: cfg.discovery_prefix.clone(),
        }
    }

    pub fn topic(&self, leaf: &str) -> String {
        format!("{}/{leaf}", self.base)
    }

    pub fn availability(&self) -> String {
        self.topic("availability")
    }

    /// Home Assistant's device discovery topic for this kiosk.
    pub fn discovery(&self) -> String {
        format!(
            "{}/device/moodkiosk_{}/config",
            self.discovery_prefix, self.kiosk_id
        )
    }

    /// Home Assistant's birth message topic (`online` when it (re)starts).
    pub fn ha_status(&self) -> String {
        format!("{}/status", self.discovery_prefix)
    }

    /// `<prefix>/+/<leaf>`: every kiosk's `leaf` (the fleet page).
    pub fn every_kiosk(&self, leaf: &str) -> String {
        format!("{}/+/{leaf}", self.prefix)
    }

    /// The kiosk id and leaf of a topic under the prefix.
    pub fn parse<'t>(&self, topic: &'t str) -> Option<(&'t str, &'t str)> {
        let rest = topic.strip_prefix(&self.prefix)?.strip_prefix('/')?;
        let (id, leaf) = rest.split_once('/')?;
        (!id.is_empty() && !leaf.contains('/')).then_some((id, leaf))
    }
}

/// Home Assistant device discovery for this kiosk: one device, six sensors, availability from
/// the kiosk's availability topic.
pub fn discovery(t: &Topics) -> String {
    let id = &t.kiosk_id;
    let today = t.topic("today");
    let state = t.topic("state");
    let sensor = |key: &str, name: &str, topic: &str, value: &str, extra: serde_json::Value| {
        let mut c = json!({
            "p": "sensor",
            "name": name,
            "unique_id": format!("moodkiosk_{id}_{key}"),
            "state_topic": topic,
            "value_template": value,
        });
        if let (Some(c), Some(e)) = (c.as_object_mut(), extra.as_object()) {
            c.extend(e.clone());
        }
        (key.to_string(), c)
    };
    let cmps: serde_json::Map<String, serde_json::Value> = [
        sensor(
            "visitors_today",
            "Visitors today",
            &today,
            "{{ value_json.visitors }}",
            json!({"state_class": "total_increasing", "unit_of_measurement": "visitors", "icon": "mdi:account-group"}),
        ),
        sensor(
            "happy_today",
            "Happy today",
            &today,
            "{{ value_json.happy }}",
            json!({"state_class": "total_increasing", "unit_of_measurement": "visitors", "icon": "mdi:emoticon-happy-outline"}),
        ),
        sensor(
            "not_happy_today",
            "Not happy today",
            &today,
            "{{ value_json.not_happy }}",
            json!({"state_class": "total_increasing", "unit_of_measurement": "visitors", "icon": "mdi:emoticon-neutral-outline"}),
        ),
        sensor(
            "happy_share",
            "Happy share today",
            &today,
            "{{ value_json.happy_share }}",
            json!({"state_class": "measurement", "unit_of_measurement": "%", "icon": "mdi:percent"}),
        ),
        sensor(
            "camera",
            "Camera",
            &state,
            "{{ value_json.camera }}",
            json!({"entity_category": "diagnostic", "icon": "mdi:cctv"}),
        ),
        sensor(
            "last_mood",
            "Last mood",
            &state,
            "{{ value_json.last_mood }}",
            json!({"icon": "mdi:emoticon-outline"}),
        ),
    ]
    .into_iter()
    .collect();
    json!({
        "dev": {
            "ids": [format!("moodkiosk_{id}")],
            "name": format!("Mood kiosk {id}"),
            "mf": "moodkiosk",
            "mdl": "moodkiosk",
            "sw": VERSION,
        },
        "o": {"name": "moodkiosk", "sw": VERSION},
        "cmps": cmps,
        "availability_topic": t.availability(),
        "payload_available": ONLINE,
        "payload_not_available": OFFLINE,
        "qos": 1,
    })
    .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> MqttSettings {
        let mut m = crate::settings::documented::<MqttSettings>("mqtt");
        m.kiosk_id = "hall-1".into();
        m
    }

    #[test]
    fn topics_and_their_parts() {
        let t = Topics::new(&settings());
        assert_eq!(t.availability(), "moodkiosk/hall-1/availability");
        assert_eq!(
            t.discovery(),
            "homeassistant/device/moodkiosk_hall-1/config"
        );
        assert_eq!(t.every_kiosk("today"), "moodkiosk/+/today");
        assert_eq!(t.parse("moodkiosk/hall-2/today"), Some(("hall-2", "today")));
        assert_eq!(t.parse("moodkiosk/hall-2/a/b"), None);
        assert_eq!(t.parse("other/hall-2/today"), None);
    }

    #[test]
    fn discovery_has_what_home_assistant_requires() {
        let d: serde_json::Value =
            serde_json::from_str(&discovery(&Topics::new(&settings()))).unwrap();
        assert_eq!(d["dev"]["ids"][0], "moodkiosk_hall-1");
        assert_eq!(d["o"]["name"], "moodkiosk");
        let cmps = d["cmps"].as_object().unwrap();
        assert_eq!(cmps.len(), 6);
        for (k, c) in cmps {
            assert_eq!(c["p"], "sensor", "{k}");
            assert_eq!(c["unique_id"], format!("moodkiosk_hall-1_{k}"));
            assert!(c["state_topic"]
                .as_str()
                .unwrap()
                .starts_with("moodkiosk/hall-1/"));
        }
        assert_eq!(d["availability_topic"], "moodkiosk/hall-1/availability");
    }

    #[test]
    fn happy_share_is_a_percentage_with_one_decimal() {
        assert_eq!(crate::fleet::report::share(0u32, 0u32), None);
        assert_eq!(crate::fleet::report::share(2u32, 3u32), Some(66.7));
        assert_eq!(crate::fleet::report::share(3u32, 3u32), Some(100.0));
    }
}
