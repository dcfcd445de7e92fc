//! MQTT: the kiosk's moods on a broker (Mosquitto, say) for the site's other kiosks, its fleet
//! page and Home Assistant. Off by default (`[mqtt] enabled`).
//!
//! Topics under `<topic_prefix>/<kiosk_id>/` ([`messages`]): `availability`, `visitor` (one per
//! journal visitor record, with its `seq`), `summary`, `today`, `state`; Home Assistant device
//! discovery under `<discovery_prefix>/device/moodkiosk_<kiosk_id>/config`. Aggregates and mood
//! records only, as the journal holds them: never an image, a crop or an identity.
//!
//! The journal is the source of truth: the [`publisher`] reads it ([`feed`]), not the frame loop,
//! so the loop never waits for the network, and after an outage or a restart the publisher
//! catches up from its cursor (the last `seq` the broker acknowledged, in the journal folder).
//! The broker link ([`link`]) is rumqttc's, on its own thread.
//!
//! Why rumqttc: the maintained pure-Rust MQTT 3.1.1 client (the rumqtt project, Apache-2.0),
//! with QoS 1 acknowledgements surfaced as events (so the cursor follows what the broker really
//! acknowledged), last will, TLS through rustls (no OpenSSL on the Pi), and a blocking API that
//! fits a thread of its own. paho-mqtt wraps a C library; mqttrs/mqtt-protocol only encode.

mod link;
pub mod messages;
mod outbox;
mod publisher;

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::invalid;
use crate::settings::Invalid;

pub use publisher::Publisher;

/// `[mqtt]` (documented in config/moodkiosk.toml).
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct MqttSettings {
    pub enabled: bool,
    /// `mqtt://host[:port]` (1883) or `mqtts://host[:port]` (8883).
    pub broker: String,
    pub ca_file: PathBuf,
    pub client_cert: PathBuf,
    pub client_key: PathBuf,
    pub client_id: String,
    pub username: String,
    pub password_file: PathBuf,
    pub kiosk_id: String,
    pub topic_prefix: String,
    pub discovery: bool,
    pub discovery_prefix: String,
}

/// A broker address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Broker {
    pub tls: bool,
    pub host: String,
    pub port: u16,
}

impl std::fmt::Display for Broker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let scheme = if self.tls { "mqtts" } else { "mqtt" };
        match self.host.contains(':') {
            true => write!(f, "{scheme}://[{}]:{}", self.host, self.port),
            false => write!(f, "{scheme}://{}:{}", self.host, self.port),
        }
    }
}

impl std::str::FromStr for Broker {
    type Err = String;
    fn from_str(s: &str) -> Result<Broker, String> {
        let bad =
            |why: &str| format!("{s:?} {why}: write mqtt://host:1883 or mqtts://host:8883 (TLS)");
        let (tls, rest) = match s.split_once("://") {
            Some(("mqtt", r)) => (false, r),
            Some(("mqtts", r)) => (true, r),
            _ => return Err(bad("is not an MQTT address")),
        };
        let rest = rest.strip_suffix('/').unwrap_or(rest);
        if rest.contains('/') || rest.contains('@') || rest.is_empty() {
            return Err(bad("must be scheme://host[:port] only (credentials go in mqtt.username and mqtt.password_file)"));
        }
        let (host, port) = match rest.strip_prefix('[') {
            Some(v6) => match v6.split_once(']') {
                Some((h, "")) => (h, None),
                Some((h, p)) => (
                    h,
                    Some(p.strip_prefix(':').ok_or_else(|| bad("has a bad port"))?),
                ),
                None => return Err(bad("has an unclosed '['")),
            },
            None => match rest.rsplit_once(':') {
                Some((h, p)) => (h, Some(p)),
                None => (rest, None),
            },
        };
        let port = match port {
            None => match tls {
                true => 8883,
                false => 1883,
            },
            Some(p) => p
                .parse::<u16>()
                .ok()
                .filter(|p| *p > 0)
                .ok_or_else(|| bad("has a bad port"))?,
        };
        let ok = |c: char| c.is_ascii_alphanumeric() || "-.:".contains(c);
        if host.is_empty() || !host.chars().all(ok) {
            return Err(bad("has a bad host name"));
        }
        Ok(Broker {
            tls,
            host: host.to_string(),
            port,
        })
    }
}

/// `kiosk_id`'s characters.
fn id_char(c: char) -> bool {
    c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-'
}

/// A topic level written in the config: not empty, no wildcards, no leading/trailing '/'.
fn topic_ok(t: &str) -> bool {
    !t.is_empty()
        && t.len() <= 100
        && !t.starts_with('/')
        && !t.ends_with('/')
        && !t.contains("//")
        && t.chars()
            .all(|c| c.is_ascii_graphic() && c != '+' && c != '#')
}

impl MqttSettings {
    pub fn validate(&self) -> Result<(), Invalid> {
        let m = self;
        if !m.enabled {
            return Ok(());
        }
        let broker: Broker = m.broker.parse().map_err(|e| invalid!(m.broker, e))?;
        if !m.kiosk_id.is_empty() && (m.kiosk_id.len() > 64 || !m.kiosk_id.chars().all(id_char)) {
            return Err(invalid!(
                m.kiosk_id,
                "may hold only a-z, 0-9, '_' and '-' (at most 64), e.g. \"library-entrance\"; empty = the host name"
            ));
        }
        if !topic_ok(&m.topic_prefix) {
            return Err(invalid!(
                m.topic_prefix,
                "must be a topic without '+', '#', spaces or a leading/trailing '/', e.g. \"moodkiosk\""
            ));
        }
        if m.topic_prefix.starts_with('$') {
            return Err(invalid!(
                m.topic_prefix,
                "must not start with '$': brokers keep those topics ($SYS) to themselves and drop what clients publish there; e.g. \"moodkiosk\""
            ));
        }
        if !topic_ok(&m.discovery_prefix) || m.discovery_prefix.starts_with('$') {
            return Err(invalid!(
                m.discovery_prefix,
                "must be a topic without '+', '#', spaces, a leading '$' or a leading/trailing '/', e.g. \"homeassistant\""
            ));
        }
        if m.client_id.len() > 64 || !m.client_id.chars().all(|c| c.is_ascii_graphic()) {
            return Err(invalid!(
                m.client_id,
                "must be at most 64 printable ASCII characters without spaces; empty = moodkiosk-<kiosk_id>"
            ));
        }
        let set = |p: &Path| !p.as_os_str().is_empty();
        if set(&m.password_file) && m.username.is_empty() {
            return Err(invalid!(
                m.username,
                "must be set when mqtt.password_file is (the broker checks the pair)"
            ));
        }
        if set(&m.client_cert) != set(&m.client_key) {
            return Err(invalid!(
                m.client_key,
                "mqtt.client_cert and mqtt.client_key go together (a client certificate and its private key)"
            ));
        }
        if !broker.tls && (set(&m.ca_file) || set(&m.client_cert)) {
            return Err(invalid!(
                m.broker,
                "must be an mqtts:// address when mqtt.ca_file or mqtt.client_cert is set (they are for TLS)"
            ));
        }
        Ok(())
    }

    /// The broker (validated).
    pub fn broker(&self) -> Broker {
        self.broker.parse().unwrap_or(Broker {
            tls: false,
            host: "localhost".into(),
            port: 1883,
        })
    }

    /// `kiosk_id`, or the host name made fit for a topic level.
    pub fn kiosk_id(&self) -> String {
        if !self.kiosk_id.is_empty() {
            return self.kiosk_id.clone();
        }
        let host = crate::settings::machine_name().unwrap_or_default();
        let host = host.split('.').next().unwrap_or("");
        let id: String = host
            .chars()
            .map(|c| match id_char(c) {
                true => c,
                false => '-',
            })
            .take(64)
            .collect();
        match id.is_empty() {
            true => "kiosk".into(),
            false => id,
        }
    }

    /// `client_id`, or `moodkiosk-<kiosk_id>`.
    pub fn client_id(&self) -> String {
        match self.client_id.is_empty() {
            true => format!("moodkiosk-{}", self.kiosk_id()),
            false => self.client_id.clone(),
        }
    }

    /// Resolve the file paths against the config file's folder.
    pub fn resolve_paths(&mut self, base: &Path) {
        for p in [
            &mut self.ca_file,
            &mut self.client_cert,
            &mut self.client_key,
            &mut self.password_file,
        ] {
            if !p.as_os_str().is_empty() {
                *p = crate::settings::resolve(base, p);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn broker_addresses() {
        let b: Broker = "mqtt://broker.lan".parse().unwrap();
        assert_eq!(
            (b.tls, b.host.as_str(), b.port),
            (false, "broker.lan", 1883)
        );
        let b: Broker = "mqtts://10.0.0.5:8884".parse().unwrap();
        assert_eq!((b.tls, b.host.as_str(), b.port), (true, "10.0.0.5", 8884));
        assert_eq!(b.to_string(), "mqtts://10.0.0.5:8884");
        let b: Broker = "mqtt://[::1]:1999".parse().unwrap();
        assert_eq!((b.host.as_str(), b.port), ("::1", 1999));
        assert_eq!(b.to_string(), "mqtt://[::1]:1999");
        for bad in [
            "broker:1883",
            "http://x",
            "mqtt://",
            "mqtt://u:p@host",
            "mqtt://host:0",
            "mqtt://host:99999",
            "mqtt://host/topic",
            "mqtt://ho st",
        ] {
            let e = bad.parse::<Broker>().unwrap_err();
            assert!(e.contains("mqtt://host:1883"), "{bad}: {e}");
        }
    }
}
