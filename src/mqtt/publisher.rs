//! The publisher thread: journal records -> broker, at least once, in order.
//!
//! Live records come from the daemon as it writes them ([`Publisher::record`], a channel: the
//! frame loop never waits on the network). The journal is read only to catch up: on connect the
//! [`Feed`] goes back to the cursor, so whatever the broker did not acknowledge (an outage, a
//! restart) is sent again from the files; once the feed has nothing more, the live records take
//! over (those the feed already gave are skipped by `seq`). Today's totals are kept in memory:
//! today's file is read once at start, then live records are added.
//!
//! Each turn (every 100 ms): drive the broker link's events; while connected, publish the
//! records due, the day's totals when they changed and the daemon's state when it changed. On
//! connect: `online` and the discovery config (retained), subscriptions (Home Assistant's
//! status, the fleet).
//! Catching up is bounded: at most [`MAX_INFLIGHT`] visitor records unacknowledged and
//! [`BATCH`] sent per turn (about 500 a second). The cursor follows the broker's PUBACKs (by
//! packet id) and is saved at most once a second and at stop.

use std::collections::{HashMap, VecDeque};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Sender};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use chrono::{DateTime, Local};
use rumqttc::{Event, Outgoing, Packet, QoS};

use super::link::{Backoff, Failure, Link, Said};
use super::messages::{self, Topics};
use super::outbox::Outbox;
use super::MqttSettings;
use crate::fleet::report::{StateMessage, TodayMessage, OFFLINE, ONLINE};
use crate::fleet::{Fleet, Leaf};
use crate::journal::{self, chart, rfc3339, Hours, Record};
use crate::telemetry::{BrokerStatus, LinkState, Telemetry};

/// Visitor records sent and not yet acknowledged, at most.
const MAX_INFLIGHT: usize = 50;
/// Records sent per turn, at most.
const BATCH: usize = 50;
/// One turn.
const TURN: Duration = Duration::from_millis(100);
/// Largest message read from the broker (Home Assistant's status, another kiosk's `today` or
/// `state`: a few KB); larger ones are dropped and counted.
pub const MAX_INCOMING_PAYLOAD: usize = 64 * 1024;
/// A session must last this long before the reconnect backoff starts again from 1 s: a broker
/// that accepts and then drops the connection at once is retried with growing delays.
const STABLE_SESSION: Duration = Duration::from_secs(30);
/// Home Assistant's `online` sends the discovery config again at most this often.
const REDISCOVERY_EVERY: Duration = Duration::from_secs(10);

/// The running publisher; stops (publishing `offline`) when stopped or dropped.
pub struct Publisher {
    settings: MqttSettings,
    dir: PathBuf,
    live: Sender<Record>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Publisher {
    /// Start publishing the journal in `dir` (nothing when `[mqtt]` is off).
    pub fn start(
        cfg: &MqttSettings,
        hours: Hours,
        dir: &Path,
        telemetry: Arc<Telemetry>,
        fleet: Arc<Fleet>,
    ) -> Option<Publisher> {
        if !cfg.enabled {
            telemetry.mqtt(None);
            return None;
        }
        let stop = Arc::new(AtomicBool::new(false));
        let (live, incoming) = mpsc::channel();
        let mut w = Worker::new(cfg, hours, dir, telemetry, fleet, stop.clone(), incoming);
        let thread = std::thread::Builder::new()
            .name("mqtt".into())
            .spawn(move || w.run());
        match thread {
            Ok(t) => Some(Publisher {
                settings: cfg.clone(),
                dir: dir.to_path_buf(),
                live,
                stop,
                thread: Some(t),
            }),
            Err(e) => {
                log::error!("MQTT: cannot start the publisher thread: {e}");
                None
            }
        }
    }

    /// A record the journal just wrote (a visitor with its `seq`), to publish live.
    pub fn record(&self, rec: &Record) {
        let _ = self.live.send(rec.clone());
    }

    /// The settings and journal folder it runs with (a reload compares them).
    pub fn runs_with(&self, cfg: &MqttSettings, dir: &Path) -> bool {
        self.settings == *cfg && self.dir == dir
    }

    /// Publish `offline`, disconnect, save the cursor (bounded: about a second).
    pub fn stop(mut self) {
        self.halt();
    }

    fn halt(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for Publisher {
    fn drop(&mut self) {
        self.halt();
    }
}

struct Worker {
    cfg: MqttSettings,
    topics: Topics,
    dir: PathBuf,
    hours: Hours,
    telemetry: Arc<Telemetry>,
    fleet: Arc<Fleet>,
    stop: Arc<AtomicBool>,
    /// The records to send, in order, and today's records.
    outbox: Outbox,
    link: Option<Link>,
    connected: bool,
    backoff: Backoff,
    retry_at: Instant,
    /// Publishes handed to the client, waiting for their packet id (visitor seq or none).
    queued: VecDeque<Option<u64>>,
    /// Sent publishes by packet id, waiting for their PUBACK.
    by_pkid: HashMap<u16, Option<u64>>,
    /// Visitor seqs sent on this connection, in order, with whether they were acknowledged.
    sent: VecDeque<(u64, bool)>,
    cursor: u64,
    saved: (u64, Instant),
    /// The last `today` and `state` payloads published on this connection.
    today_sent: Option<String>,
    state_sent: (Option<String>, Instant),
    /// The latest summary payload, sent again on each connect (retained).
    last_summary: Option<String>,
    state: LinkState,
    detail: String,
    since: DateTime<Local>,
    cursor_error: bool,
    /// When the current session's CONNACK arrived.
    session_start: Instant,
    /// When the discovery config was last sent again for Home Assistant's `online`.
    rediscovered: Option<Instant>,
    /// An oversized incoming message was logged (once per run).
    dropped_logged: bool,
}

impl Worker {
    fn new(
        cfg: &MqttSettings,
        hours: Hours,
        dir: &Path,
        telemetry: Arc<Telemetry>,
        fleet: Arc<Fleet>,
        stop: Arc<AtomicBool>,
        incoming: mpsc::Receiver<Record>,
    ) -> Worker {
        let cursor = journal::read_cursor(dir).unwrap_or(0);
        let now = Instant::now();
        Worker {
            topics: Topics::new(cfg),
            cfg: cfg.clone(),
            dir: dir.to_path_buf(),
            hours,
            telemetry,
            fleet,
            stop,
            outbox: Outbox::new(dir, incoming),
            link: None,
            connected: false,
            backoff: Backoff::new(),
            retry_at: now,
            queued: VecDeque::new(),
            by_pkid: HashMap::new(),
            sent: VecDeque::new(),
            cursor,
            saved: (cursor, now),
            today_sent: None,
            state_sent: (None, now),
            last_summary: None,
            state: LinkState::Connecting,
            detail: String::new(),
            since: Local::now(),
            cursor_error: false,
            session_start: now,
            rediscovered: None,
            dropped_logged: false,
        }
    }

    fn run(&mut self) {
        log::info!(
            "MQTT: publishing to {} as kiosk {:?} (topics {}/...)",
            self.cfg.broker(),
            self.topics.kiosk_id,
            self.topics.topic("").trim_end_matches('/')
        );
        self.report();
        while !self.stop.load(Ordering::Relaxed) {
            self.turn();
        }
        self.finish();
    }

    fn turn(&mut self) {
        let now = Instant::now();
        if self.link.is_none() && now >= self.retry_at {
            self.connect();
        }
        match &self.link {
            Some(_) => self.drive(TURN),
            None => std::thread::sleep(TURN.min(self.retry_at.saturating_duration_since(now))),
        }
        self.outbox.take_live(self.connected);
        if self.connected {
            self.pump();
        }
        self.save_cursor(false);
        self.report();
    }

    fn connect(&mut self) {
        self.set_state(LinkState::Connecting, String::new());
        match Link::open(&self.cfg, &self.topics) {
            Ok(l) => self.link = Some(l),
            Err(f) => self.failed(f),
        }
    }

    /// Handle the link's events for up to `wait`.
    fn drive(&mut self, wait: Duration) {
        let until = Instant::now() + wait;
        loop {
            let Some(link) = &self.link else { return };
            let left = until.saturating_duration_since(Instant::now());
            match link.next(left) {
                Said::Event(ev) => self.event(ev),
                Said::Failed(f) => return self.failed(f),
                Said::Nothing => return,
            }
            if Instant::now() >= until {
                return;
            }
        }
    }

    fn event(&mut self, ev: Event) {
        match ev {
            Event::Incoming(Packet::ConnAck(_)) => self.connected(),
            Event::Outgoing(Outgoing::Publish(pkid)) => {
                if let Some(s) = self.queued.pop_front() {
                    self.by_pkid.insert(pkid, s);
                }
            }
            Event::Incoming(Packet::PubAck(ack)) => {
                if let Some(s) = self.by_pkid.remove(&ack.pkid) {
                    self.telemetry.mqtt_acked();
                    if let Some(seq) = s {
                        self.acked(seq);
                    }
                }
            }
            Event::Incoming(Packet::Publish(p)) if p.payload.len() > MAX_INCOMING_PAYLOAD => {
                self.telemetry.mqtt_dropped();
                if !self.dropped_logged {
                    self.dropped_logged = true;
                    log::warn!(
                        "MQTT: dropped a {} KB message on {} (more than {} KB); further ones are counted in moodkiosk_mqtt_dropped_messages_total",
                        p.payload.len() / 1024,
                        p.topic.chars().take(200).collect::<String>(),
                        MAX_INCOMING_PAYLOAD / 1024
                    );
                }
            }
            Event::Incoming(Packet::Publish(p)) => {
                if p.topic == self.topics.ha_status() {
                    let due = self
                        .rediscovered
                        .is_none_or(|t| t.elapsed() >= REDISCOVERY_EVERY);
                    if p.payload.as_ref() == b"online" && self.cfg.discovery && due {
                        self.rediscovered = Some(Instant::now());
                        // Home Assistant restarted: it wants the discovery config again.
                        let t = self.topics.discovery();
                        self.send(&t, messages::discovery(&self.topics), true, None);
                        self.today_sent = None;
                        self.outbox.today_again();
                        self.state_sent.0 = None;
                    }
                } else if let Some((id, leaf)) = self.topics.parse(&p.topic) {
                    if let Some(leaf) = Leaf::parse(leaf) {
                        self.fleet.message(id, leaf, &p.payload, p.retain);
                    }
                }
            }
            _ => {}
        }
    }

    fn connected(&mut self) {
        self.connected = true;
        self.session_start = Instant::now();
        self.set_state(LinkState::Connected, String::new());
        // Everything not acknowledged is sent again, from the journal.
        self.outbox.connected(self.cursor);
        self.sent.clear();
        self.today_sent = None;
        self.state_sent.0 = None;
        let t = &self.topics;
        let (availability, discovery) = (t.availability(), t.discovery());
        self.send(&availability, ONLINE.into(), true, None);
        let config = match self.cfg.discovery {
            true => messages::discovery(&self.topics),
            false => String::new(), // removes a device an earlier run announced
        };
        self.send(&discovery, config, true, None);
        if let Some(s) = self.last_summary.clone() {
            let t = self.topics.topic("summary");
            self.send(&t, s, true, None);
        }
        let mut subs = Vec::new();
        if self.cfg.discovery {
            subs.push(self.topics.ha_status());
        }
        if self.fleet.enabled() {
            for leaf in Leaf::ALL {
                subs.push(self.topics.every_kiosk(leaf.as_str()));
            }
        }
        if let Some(link) = &self.link {
            for s in subs {
                if let Err(e) = link.client.try_subscribe(s, QoS::AtLeastOnce) {
                    log::warn!("MQTT: cannot subscribe: {e}");
                }
            }
        }
    }

    fn failed(&mut self, f: Failure) {
        let was_connected = self.connected;
        // Only a session that lasted counts as a success: a broker that accepts and then fails
        // at once is retried with the growing delay, not every second.
        if was_connected && self.session_start.elapsed() >= STABLE_SESSION {
            self.backoff.reset();
        }
        self.link = None;
        self.connected = false;
        self.queued.clear();
        self.by_pkid.clear();
        self.sent.clear();
        self.outbox.disconnected();
        let delay = self.backoff.next();
        self.retry_at = Instant::now() + delay;
        let (state, msg) = match f {
            Failure::Refused(m) => (LinkState::Refused, m),
            Failure::Down(m) => (LinkState::Down, m),
        };
        let msg = match was_connected {
            true => format!("connection lost: {msg}"),
            false => msg,
        };
        self.set_state(state, msg);
    }

    /// One log line per change of state (not per attempt).
    fn set_state(&mut self, state: LinkState, detail: String) {
        // A quiet new attempt after a failure keeps the failure's state and detail.
        if state == LinkState::Connecting
            && matches!(self.state, LinkState::Down | LinkState::Refused)
        {
            return;
        }
        if state == self.state && detail == self.detail {
            return;
        }
        let broker = self.cfg.broker();
        match state {
            LinkState::Connected => log::info!("MQTT: connected to {broker}"),
            LinkState::Refused => log::error!(
                "MQTT: {broker}: {detail}; retrying with backoff (up to every {} s)",
                Backoff::MAX.as_secs()
            ),
            LinkState::Down => log::warn!(
                "MQTT: {broker}: {detail}; retrying with backoff (1 s doubling to {} s); the journal keeps every record meanwhile",
                Backoff::MAX.as_secs()
            ),
            _ => {}
        }
        self.state = state;
        self.detail = detail;
        self.since = Local::now();
        self.fleet.broker(state);
    }

    fn report(&self) {
        self.telemetry.mqtt(Some(BrokerStatus {
            broker: self.cfg.broker().to_string(),
            state: self.state,
            detail: self.detail.clone(),
            since: rfc3339(self.since),
            acked_seq: self.cursor,
            unacked: self.outbox.newest().saturating_sub(self.cursor),
        }));
    }

    /// Hand a QoS 1 publish to the client; false when its queue is full (try next turn).
    fn send(&mut self, topic: &str, payload: String, retain: bool, seq: Option<u64>) -> bool {
        let Some(link) = &self.link else { return false };
        match link
            .client
            .try_publish(topic, QoS::AtLeastOnce, retain, payload.into_bytes())
        {
            Ok(()) => {
                self.queued.push_back(seq);
                true
            }
            Err(_) => false,
        }
    }

    fn acked(&mut self, seq: u64) {
        if let Some(e) = self.sent.iter_mut().find(|e| e.0 == seq) {
            e.1 = true;
        }
        while let Some((seq, true)) = self.sent.front().copied() {
            self.sent.pop_front();
            self.cursor = self.cursor.max(seq);
        }
    }

    /// Publish what is due: records, today's totals, the state.
    fn pump(&mut self) {
        let mut budget = BATCH;
        while budget > 0 && self.sent.len() < MAX_INFLIGHT {
            let Some(rec) = self.outbox.next() else {
                break;
            };
            let ok = match &rec {
                Record::Visitor { seq, .. } if *seq == 0 || *seq <= self.cursor => true,
                Record::Visitor { seq, .. } => {
                    let t = self.topics.topic("visitor");
                    let sent = self.send(&t, rec.to_json(), false, Some(*seq));
                    if sent {
                        self.sent.push_back((*seq, false));
                        self.outbox.sent(*seq);
                        budget -= 1;
                    }
                    sent
                }
                Record::Summary { .. } => {
                    let (t, s) = (self.topics.topic("summary"), rec.to_json());
                    let sent = self.send(&t, s.clone(), true, None);
                    if sent {
                        self.last_summary = Some(s);
                        budget -= 1;
                    }
                    sent
                }
            };
            if !ok {
                break;
            }
            self.outbox.taken(&rec);
        }
        if self.publish_today() {
            self.outbox.today_published();
        }
        let now = Instant::now();
        if now.duration_since(self.state_sent.1) >= Duration::from_millis(500) {
            self.state_sent.1 = now;
            let s = StateMessage::new(&self.telemetry.snapshot(), self.telemetry.started_at());
            let s = serde_json::to_string(&s).unwrap_or_default();
            if self.state_sent.0.as_ref() != Some(&s) {
                let t = self.topics.topic("state");
                if self.send(&t, s.clone(), true, None) {
                    self.state_sent.0 = Some(s);
                }
            }
        }
    }

    /// Today's totals when they changed and differ from the last sent; true when done.
    fn publish_today(&mut self) -> bool {
        let Some(recs) = self.outbox.today_due() else {
            return false;
        };
        let last_visitor = recs.iter().rev().find_map(|r| match r {
            Record::Visitor { time, .. } => Some(rfc3339(*time)),
            _ => None,
        });
        let t = TodayMessage::new(&chart::chart(recs, Local::now(), self.hours), last_visitor);
        let s = serde_json::to_string(&t).unwrap_or_default();
        if self.today_sent.as_ref() == Some(&s) {
            return true;
        }
        let topic = self.topics.topic("today");
        let sent = self.send(&topic, s.clone(), true, None);
        if sent {
            self.today_sent = Some(s);
        }
        sent
    }

    fn save_cursor(&mut self, now_anyway: bool) {
        let due = now_anyway || self.saved.1.elapsed() >= Duration::from_secs(1);
        if self.cursor == self.saved.0 || !due {
            return;
        }
        match journal::save_cursor(&self.dir, self.cursor) {
            Ok(()) => {
                self.saved = (self.cursor, Instant::now());
                if self.cursor_error {
                    log::info!("MQTT: cursor saved again");
                    self.cursor_error = false;
                }
            }
            Err(e) => {
                self.saved.1 = Instant::now();
                if !self.cursor_error {
                    log::warn!(
                        "MQTT: cannot save the cursor in {}: {e}; after a restart some records may be sent twice",
                        self.dir.display()
                    );
                    self.cursor_error = true;
                }
            }
        }
    }

    /// Clean stop: `offline` (retained), then DISCONNECT, waiting at most a second for both to
    /// leave; the cursor saved.
    fn finish(&mut self) {
        if self.connected {
            // What the daemon wrote last (its final summary) goes first.
            self.outbox.take_live(self.connected);
            self.pump();
            self.drive(Duration::from_millis(300));
        }
        if self.connected {
            let t = self.topics.availability();
            self.send(&t, OFFLINE.into(), true, None);
            if let Some(link) = &self.link {
                let _ = link.client.try_disconnect();
            }
            let until = Instant::now() + Duration::from_secs(1);
            while let Some(link) = &self.link {
                match link.next(until.saturating_duration_since(Instant::now())) {
                    Said::Event(Event::Outgoing(Outgoing::Disconnect)) | Said::Nothing => break,
                    Said::Event(ev) => self.event(ev),
                    Said::Failed(_) => break,
                }
            }
            log::info!("MQTT: offline published, disconnected");
        }
        self.link = None;
        self.save_cursor(true);
    }
}
