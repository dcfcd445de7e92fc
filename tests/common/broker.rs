//! A real Mosquitto broker for the MQTT tests, started by the test itself on a free loopback
//! port with its own config, persistence folder and log (never the system service), and a real
//! subscriber (`mosquitto_sub`, persistent session, QoS 1) that writes what it receives to a
//! file.

use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use super::{unavailable, wait_for};

pub fn tool(name: &str) -> PathBuf {
    for dir in ["/usr/sbin", "/usr/bin", "/usr/local/sbin", "/usr/local/bin"] {
        let p = Path::new(dir).join(name);
        if p.exists() {
            return p;
        }
    }
    unavailable(&format!(
        "{name} is missing: scripts/deps.sh --test installs mosquitto and mosquitto-clients"
    ));
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A broker on 127.0.0.1:`port`; stopped (SIGTERM: it saves its persistence) when dropped.
pub struct Mosquitto {
    pub port: u16,
    dir: PathBuf,
    child: Option<Child>,
    /// Users and passwords (mosquitto_passwd), none = anonymous allowed.
    users: Vec<(String, String)>,
    /// A TLS listener: CA, server certificate and key (PEM), client certificates required.
    tls: Option<Tls>,
}

/// Certificates made for one test by `openssl` (a CA, the broker's for 127.0.0.1, a client's).
#[derive(Clone)]
pub struct Tls {
    pub ca: PathBuf,
    pub server_cert: PathBuf,
    pub server_key: PathBuf,
    pub client_cert: PathBuf,
    pub client_key: PathBuf,
}

impl Tls {
    /// Make a CA and certificates signed by it in `dir`.
    pub fn make(dir: &Path) -> Tls {
        std::fs::create_dir_all(dir).unwrap();
        let openssl = tool("openssl");
        let run = |args: &[&str]| {
            let out = Command::new(&openssl)
                .args(args)
                .current_dir(dir)
                .output()
                .unwrap();
            assert!(
                out.status.success(),
                "openssl {args:?}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        };
        run(&[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            "ca.key",
            "-out",
            "ca.pem",
            "-days",
            "2",
            "-subj",
            "/CN=moodkiosk test CA",
        ]);
        std::fs::write(dir.join("server.ext"), "subjectAltName=IP:127.0.0.1\n").unwrap();
        std::fs::write(dir.join("client.ext"), "extendedKeyUsage=clientAuth\n").unwrap();
        for (name, cn) in [("server", "127.0.0.1"), ("client", "kiosk")] {
            run(&[
                "req",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-keyout",
                &format!("{name}.key"),
                "-out",
                &format!("{name}.csr"),
                "-subj",
                &format!("/CN={cn}"),
            ]);
            run(&[
                "x509",
                "-req",
                "-in",
                &format!("{name}.csr"),
                "-CA",
                "ca.pem",
                "-CAkey",
                "ca.key",
                "-CAcreateserial",
                "-out",
                &format!("{name}.pem"),
                "-days",
                "2",
                "-extfile",
                &format!("{name}.ext"),
            ]);
        }
        Tls {
            ca: dir.join("ca.pem"),
            server_cert: dir.join("server.pem"),
            server_key: dir.join("server.key"),
            client_cert: dir.join("client.pem"),
            client_key: dir.join("client.key"),
        }
    }
}

impl Mosquitto {
    pub fn start(dir: &Path) -> Mosquitto {
        Mosquitto::with_users(dir, &[])
    }

    /// A broker that allows only these users.
    pub fn with_users(dir: &Path, users: &[(&str, &str)]) -> Mosquitto {
        Mosquitto::configured(dir, users, None)
    }

    /// A TLS broker that requires client certificates signed by `tls.ca`.
    pub fn with_tls(dir: &Path, tls: &Tls) -> Mosquitto {
        Mosquitto::configured(dir, &[], Some(tls.clone()))
    }

    fn configured(dir: &Path, users: &[(&str, &str)], tls: Option<Tls>) -> Mosquitto {
        std::fs::create_dir_all(dir).unwrap();
        let mut m = Mosquitto {
            port: free_port(),
            dir: dir.to_path_buf(),
            child: None,
            users: users
                .iter()
                .map(|(u, p)| (u.to_string(), p.to_string()))
                .collect(),
            tls,
        };
        m.write_config();
        m.restart();
        m
    }

    fn write_config(&self) {
        // As root, Mosquitto would switch to the `mosquitto` user, who cannot write this folder.
        let me = std::env::var("USER").unwrap_or_default();
        let root = Command::new("id")
            .arg("-u")
            .output()
            .map(|o| o.stdout == b"0\n")
            .unwrap_or(false);
        let mut conf = match root {
            true => "user root\n".to_string(),
            false => format!("# run by {me}\n"),
        };
        conf += &format!(
            "listener {} 127.0.0.1\npersistence true\npersistence_location {}/\nautosave_interval 1\n\
             log_dest file {}\nlog_type all\nmax_queued_messages 100000\n",
            self.port,
            self.dir.display(),
            self.dir.join("mosquitto.log").display()
        );
        if let Some(t) = &self.tls {
            conf += &format!(
                "cafile {}\ncertfile {}\nkeyfile {}\nrequire_certificate true\n",
                t.ca.display(),
                t.server_cert.display(),
                t.server_key.display()
            );
        }
        if self.users.is_empty() {
            conf.push_str("allow_anonymous true\n");
        } else {
            let pw = self.dir.join("passwords");
            let _ = std::fs::remove_file(&pw);
            for (i, (u, p)) in self.users.iter().enumerate() {
                let mut c = Command::new(tool("mosquitto_passwd"));
                if i == 0 {
                    c.arg("-c");
                }
                let st = c.args(["-b"]).arg(&pw).args([u, p]).status().unwrap();
                assert!(st.success(), "mosquitto_passwd failed");
            }
            conf.push_str(&format!(
                "allow_anonymous false\npassword_file {}\n",
                pw.display()
            ));
        }
        std::fs::write(self.dir.join("mosquitto.conf"), conf).unwrap();
    }

    /// (Re)start on the same port and persistence.
    pub fn restart(&mut self) {
        assert!(self.child.is_none(), "already running");
        let child = Command::new(tool("mosquitto"))
            .arg("-c")
            .arg(self.dir.join("mosquitto.conf"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("mosquitto starts");
        self.child = Some(child);
        let port = self.port;
        assert!(
            wait_for(20, || TcpStream::connect(("127.0.0.1", port)).is_ok()),
            "mosquitto did not listen on {port}:\n{}",
            self.log()
        );
    }

    /// SIGTERM and wait: clients see the connection drop.
    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            super::signal(&c, super::SIGTERM);
            let _ = c.wait();
        }
    }

    pub fn url(&self) -> String {
        let scheme = if self.tls.is_some() { "mqtts" } else { "mqtt" };
        format!("{scheme}://127.0.0.1:{}", self.port)
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("mosquitto.log")).unwrap_or_default()
    }
}

impl Drop for Mosquitto {
    fn drop(&mut self) {
        self.stop();
    }
}

/// One received message.
#[derive(Debug, Clone)]
pub struct Message {
    pub retained: bool,
    pub topic: String,
    pub payload: String,
}

impl Message {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.payload)
            .unwrap_or_else(|e| panic!("{}: not JSON ({e}): {:?}", self.topic, self.payload))
    }
}

/// `mosquitto_sub` on some topics, persistent session (QoS 1), reconnecting by itself.
pub struct Subscriber {
    child: Child,
    out: PathBuf,
}

impl Subscriber {
    pub fn start(broker: &Mosquitto, id: &str, topics: &[&str], out: &Path) -> Subscriber {
        let mut c = Command::new(tool("mosquitto_sub"));
        c.args(["-h", "127.0.0.1", "-p", &broker.port.to_string()])
            .args(["-i", id, "-c", "-q", "1", "-F", "%r|%t|%p"]);
        for t in topics {
            c.args(["-t", t]);
        }
        if let Some((u, p)) = broker.users.first() {
            c.args(["-u", u, "-P", p]);
        }
        if let Some(t) = &broker.tls {
            c.arg("--cafile").arg(&t.ca);
            c.arg("--cert").arg(&t.client_cert);
            c.arg("--key").arg(&t.client_key);
        }
        let child = c
            .stdout(std::fs::File::create(out).unwrap())
            .stderr(Stdio::null())
            .spawn()
            .expect("mosquitto_sub starts");
        let sub = Subscriber {
            child,
            out: out.to_path_buf(),
        };
        let subscribed = format!("Received SUBSCRIBE from {id}");
        assert!(
            wait_for(20, || broker.log().contains(&subscribed)),
            "the subscriber did not subscribe:\n{}",
            broker.log()
        );
        sub
    }

    /// Everything received so far, in order.
    pub fn messages(&self) -> Vec<Message> {
        std::fs::read_to_string(&self.out)
            .unwrap_or_default()
            .lines()
            .filter_map(|l| {
                let mut parts = l.splitn(3, '|');
                let (r, t, p) = (parts.next()?, parts.next()?, parts.next()?);
                Some(Message {
                    retained: r == "1",
                    topic: t.to_string(),
                    payload: p.to_string(),
                })
            })
            .collect()
    }

    pub fn on(&self, topic: &str) -> Vec<Message> {
        self.messages()
            .into_iter()
            .filter(|m| m.topic == topic)
            .collect()
    }
}

impl Drop for Subscriber {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
