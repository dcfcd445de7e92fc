//! One connection attempt to the broker: rumqttc's client (requests) and its connection, which
//! a thread of its own drives and whose events it forwards to the publisher. The thread ends at
//! the first connection error (the publisher decides when to try again: [`Backoff`]) or when the
//! publisher drops the link. A fresh link per attempt means no packet of an old connection is
//! sent again behind the publisher's back: what was not acknowledged is published again from
//! the journal.

use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::time::Duration;

use rumqttc::{
    Client, ConnectReturnCode, ConnectionError, Event, LastWill, MqttOptions, QoS,
    TlsConfiguration, Transport,
};

use super::messages::Topics;
use super::MqttSettings;
use crate::fleet::report::OFFLINE;
use crate::settings::paths::{read_regular, MAX_SECRET_BYTES};

/// The largest packet MQTT allows (its remaining-length field's maximum).
const MQTT_MAX_PACKET: usize = 268_435_455;

/// The system's CA bundle (Debian, Raspberry Pi OS), used when `mqtt.ca_file` is empty.
const SYSTEM_CA: &str = "/etc/ssl/certs/ca-certificates.crt";

/// Why a link ended.
#[derive(Debug)]
pub enum Failure {
    /// The broker refused the login (user name / password or not authorised).
    Refused(String),
    /// Anything else: unreachable, reset, TLS, timeout.
    Down(String),
}

impl Failure {
    fn from(e: &ConnectionError) -> Failure {
        match e {
            ConnectionError::ConnectionRefused(
                code @ (ConnectReturnCode::BadUserNamePassword | ConnectReturnCode::NotAuthorized),
            ) => Failure::Refused(format!(
                "the broker refused the login ({}): check mqtt.username and mqtt.password_file",
                match code {
                    ConnectReturnCode::BadUserNamePassword => "bad user name or password",
                    _ => "not authorised",
                }
            )),
            ConnectionError::ConnectionRefused(code) => {
                Failure::Down(format!("the broker refused the connection: {code:?}"))
            }
            e => Failure::Down(e.to_string()),
        }
    }
}

/// A live (or connecting) link.
pub struct Link {
    pub client: Client,
    events: Receiver<Result<Event, ConnectionError>>,
}

/// What the link said.
pub enum Said {
    Event(Event),
    Failed(Failure),
    Nothing,
}

impl Link {
    /// Start connecting (returns at once; the ConnAck arrives as an event). Fails when a file
    /// the settings name cannot be read.
    pub fn open(cfg: &MqttSettings, topics: &Topics) -> Result<Link, Failure> {
        let broker = cfg.broker();
        let mut o = MqttOptions::new(cfg.client_id(), broker.host.clone(), broker.port);
        o.set_keep_alive(Duration::from_secs(30));
        o.set_clean_session(true);
        // Incoming: MQTT's own maximum, so that an oversized message another device left on the
        // broker is never a connection error (rumqttc ends the connection on a packet over its
        // limit); the publisher drops such messages itself (MAX_INCOMING_PAYLOAD).
        o.set_max_packet_size(MQTT_MAX_PACKET, 256 * 1024);
        o.set_last_will(LastWill::new(
            topics.availability(),
            OFFLINE,
            QoS::AtLeastOnce,
            true,
        ));
        if !cfg.username.is_empty() {
            let password = match cfg.password_file.as_os_str().is_empty() {
                true => String::new(),
                false => read_text(&cfg.password_file, "mqtt.password_file")?,
            };
            o.set_credentials(cfg.username.clone(), password);
        }
        if broker.tls {
            o.set_transport(Transport::tls_with_config(tls(cfg)?));
        }
        let (client, mut connection) = Client::new(o, 64);
        let (tx, events) = mpsc::channel();
        let spawned = std::thread::Builder::new()
            .name("mqtt-link".into())
            .spawn(move || {
                for ev in connection.iter() {
                    let failed = ev.is_err();
                    if tx.send(ev).is_err() || failed {
                        return;
                    }
                }
            });
        if let Err(e) = spawned {
            return Err(Failure::Down(format!("cannot start the MQTT thread: {e}")));
        }
        Ok(Link { client, events })
    }

    /// The next event, waiting at most `wait`.
    pub fn next(&self, wait: Duration) -> Said {
        match self.events.recv_timeout(wait) {
            Ok(Ok(ev)) => Said::Event(ev),
            Ok(Err(e)) => Said::Failed(Failure::from(&e)),
            Err(RecvTimeoutError::Timeout) => Said::Nothing,
            Err(RecvTimeoutError::Disconnected) => {
                Said::Failed(Failure::Down("the connection ended".into()))
            }
        }
    }
}

/// A secret or key file's contents, the trailing newline removed.
fn read_text(path: &std::path::Path, key: &str) -> Result<String, Failure> {
    let bytes = read_bytes(path, key)?;
    String::from_utf8(bytes)
        .map(|s| s.trim_end_matches(['\n', '\r']).to_string())
        .map_err(|_| Failure::Down(format!("{key} {}: not UTF-8 text", path.display())))
}

fn read_bytes(path: &std::path::Path, key: &str) -> Result<Vec<u8>, Failure> {
    read_regular(path, MAX_SECRET_BYTES)
        .map_err(|e| Failure::Down(format!("{key} {}: {e}", path.display())))
}

/// rustls with the ring provider (no C toolchain beyond the compiler, cross-builds for the Pi),
/// trusting `ca_file` or the system's CA bundle.
fn tls(cfg: &MqttSettings) -> Result<TlsConfiguration, Failure> {
    // Once per process; a second install is refused harmlessly.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let ca = match cfg.ca_file.as_os_str().is_empty() {
        true => read_bytes(std::path::Path::new(SYSTEM_CA), "the system CA bundle")?,
        false => read_bytes(&cfg.ca_file, "mqtt.ca_file")?,
    };
    let client_auth = match cfg.client_cert.as_os_str().is_empty() {
        true => None,
        false => Some((
            read_bytes(&cfg.client_cert, "mqtt.client_cert")?,
            read_bytes(&cfg.client_key, "mqtt.client_key")?,
        )),
    };
    Ok(TlsConfiguration::Simple {
        ca,
        alpn: None,
        client_auth,
    })
}

/// Reconnect delays: 1, 2, 4, 8, 16, 32, then 60 s, each with up to 20% added at random (so that
/// a site's kiosks do not all call at once after the broker restarts); back to 1 s after a
/// connection is accepted.
pub struct Backoff {
    attempt: u32,
}

impl Backoff {
    pub const MAX: Duration = Duration::from_secs(60);

    pub fn new() -> Backoff {
        Backoff { attempt: 0 }
    }

    pub fn reset(&mut self) {
        self.attempt = 0;
    }

    /// The delay before the next attempt.
    pub fn next(&mut self) -> Duration {
        let base = Duration::from_secs(1u64 << self.attempt.min(6)).min(Self::MAX);
        self.attempt = self.attempt.saturating_add(1);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        base + base.mul_f64(0.2 * (nanos % 1000) as f64 / 1000.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_to_a_minute_and_resets() {
        let mut b = Backoff::new();
        let secs: Vec<u64> = (0..9).map(|_| b.next().as_secs()).collect();
        for (got, base) in secs.iter().zip([1, 2, 4, 8, 16, 32, 60, 60, 60]) {
            assert!((base..=base + base / 5).contains(got), "{secs:?}");
        }
        b.reset();
        assert!(b.next() < Duration::from_millis(1201));
    }
}
