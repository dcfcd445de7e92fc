//! Who may talk to the page: the Host header must name this kiosk (the bind address,
//! localhost, or `web.allowed_hosts`), so that a web page opened on the kiosk machine cannot
//! read the journal through DNS rebinding (421 otherwise); requests that change state must not
//! come from another site (`Origin`, `Sec-Fetch-Site`; 403 otherwise).

use std::net::IpAddr;

use axum::http::{header, HeaderMap, Method};

use super::WebSettings;

/// The Host names this kiosk answers to.
#[derive(Debug, Clone)]
pub struct AllowedHosts {
    names: Vec<String>,
    /// A wildcard bind: any IP address of the machine may be used.
    any_ip: bool,
}

impl AllowedHosts {
    pub fn new(cfg: &WebSettings) -> AllowedHosts {
        let mut names: Vec<String> = ["localhost", "127.0.0.1", "::1"].map(String::from).to_vec();
        names.push(cfg.bind.ip().to_string());
        names.extend(cfg.allowed_hosts.iter().map(|h| h.to_ascii_lowercase()));
        let any_ip = cfg.bind.ip().is_unspecified();
        if any_ip {
            if let Some(n) = crate::settings::machine_name() {
                names.push(format!("{n}.local"));
                names.push(n);
            }
        }
        AllowedHosts { names, any_ip }
    }

    /// `host` (a Host header or an Origin's host, port allowed) names this kiosk.
    pub fn allows(&self, host: &str) -> bool {
        let h = strip_port(host.trim()).to_ascii_lowercase();
        self.names.contains(&h) || (self.any_ip && h.parse::<IpAddr>().is_ok())
    }
}

/// `name:port`, `[v6]:port` or a bare name to the name.
fn strip_port(host: &str) -> &str {
    if let Some(rest) = host.strip_prefix('[') {
        return rest.split(']').next().unwrap_or(rest);
    }
    match host.rsplit_once(':') {
        Some((name, port)) if !name.contains(':') && port.bytes().all(|b| b.is_ascii_digit()) => {
            name
        }
        _ => host,
    }
}

/// Why a request is refused, if it is.
#[derive(Debug, PartialEq, Eq)]
pub enum Refusal {
    /// No Host header.
    NoHost,
    /// The Host names something else (421).
    WrongHost,
    /// A state-changing request from another site (403).
    CrossOrigin,
}

/// Check a request's Host and, for state-changing methods, where it comes from.
pub fn check(hosts: &AllowedHosts, method: &Method, headers: &HeaderMap) -> Result<(), Refusal> {
    let host = headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .ok_or(Refusal::NoHost)?;
    if !hosts.allows(host) {
        return Err(Refusal::WrongHost);
    }
    if matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS) {
        return Ok(());
    }
    let site = headers.get("sec-fetch-site").and_then(|v| v.to_str().ok());
    if matches!(site, Some("cross-site" | "same-site")) {
        return Err(Refusal::CrossOrigin);
    }
    match headers
        .get(header::ORIGIN)
        .map(|v| v.to_str().unwrap_or("null"))
    {
        None => Ok(()),
        Some(origin) => {
            let host = origin.split_once("://").map(|(_, h)| h).unwrap_or("");
            match hosts.allows(host) && origin != "null" {
                true => Ok(()),
                false => Err(Refusal::CrossOrigin),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hosts(bind: &str, extra: &[&str]) -> AllowedHosts {
        let mut cfg = crate::settings::documented::<WebSettings>("web");
        cfg.bind = bind.parse().unwrap();
        cfg.allowed_hosts = extra.iter().map(|s| s.to_string()).collect();
        AllowedHosts::new(&cfg)
    }

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(
                axum::http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                v.parse().unwrap(),
            );
        }
        h
    }

    #[test]
    fn loopback_answers_to_its_own_names_only() {
        let h = hosts("127.0.0.1:8080", &["kiosk.example"]);
        for ok in [
            "127.0.0.1:8080",
            "localhost:8080",
            "LOCALHOST",
            "[::1]:8080",
            "kiosk.example",
        ] {
            assert!(h.allows(ok), "{ok}");
        }
        for bad in [
            "evil.example.com",
            "evil.example.com:8080",
            "192.168.1.7",
            "127.0.0.1.evil.com",
        ] {
            assert!(!h.allows(bad), "{bad}");
        }
        let any = hosts("0.0.0.0:8080", &[]);
        assert!(any.allows("192.168.1.7:8080") && !any.allows("evil.example.com"));
    }

    #[test]
    fn state_changing_requests_must_come_from_this_kiosk() {
        let h = hosts("127.0.0.1:8080", &[]);
        let host = ("host", "127.0.0.1:8080");
        assert_eq!(
            check(&h, &Method::GET, &headers(&[("host", "evil.example")])),
            Err(Refusal::WrongHost)
        );
        assert_eq!(check(&h, &Method::GET, &headers(&[])), Err(Refusal::NoHost));
        assert_eq!(check(&h, &Method::POST, &headers(&[host])), Ok(()));
        assert_eq!(
            check(
                &h,
                &Method::POST,
                &headers(&[host, ("origin", "http://127.0.0.1:8080")])
            ),
            Ok(())
        );
        assert_eq!(
            check(
                &h,
                &Method::POST,
                &headers(&[host, ("origin", "http://evil.example")])
            ),
            Err(Refusal::CrossOrigin)
        );
        assert_eq!(
            check(&h, &Method::POST, &headers(&[host, ("origin", "null")])),
            Err(Refusal::CrossOrigin)
        );
        assert_eq!(
            check(
                &h,
                &Method::POST,
                &headers(&[host, ("sec-fetch-site", "cross-site")])
            ),
            Err(Refusal::CrossOrigin)
        );
        // Reading is allowed cross-origin at the HTTP level: the browser keeps the answer from
        // the other site's script (no CORS headers), and the Host check stops rebinding.
        assert_eq!(
            check(
                &h,
                &Method::GET,
                &headers(&[host, ("origin", "http://evil.example")])
            ),
            Ok(())
        );
    }
}
