//! The web page's API over real HTTP against the running daemon: uploads (raw body, multipart,
//! `curl -F`), every kind of refusal as a JSON 4xx, the access token off loopback, status,
//! today's chart data, health and Prometheus metrics; uploads never stop the frame loop.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::Command;
use std::time::Duration;

use common::*;
use serde_json::Value;

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(60)))
        .build()
        .into()
}

/// POST a body and read the answer like curl does: a server may answer (413, 401) before the
/// body is sent, so write errors are ignored and the response is read anyway. (status, JSON)
fn post(url: &str, body: &[u8], content_type: &str) -> (u16, Value) {
    let rest = url.strip_prefix("http://").unwrap();
    let (host, path) = rest.split_at(rest.find('/').unwrap());
    let mut s = TcpStream::connect(host).unwrap();
    let patience = if emulated() { 600 } else { 60 };
    s.set_read_timeout(Some(Duration::from_secs(patience)))
        .unwrap();
    let head = format!(
        "POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: {content_type}\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    let _ = s.write_all(head.as_bytes()).and_then(|_| s.write_all(body));
    let mut resp = Vec::new();
    let mut buf = [0u8; 16384];
    loop {
        match s.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => resp.extend_from_slice(&buf[..n]),
            Err(e) if !resp.is_empty() && e.kind() == std::io::ErrorKind::ConnectionReset => break,
            Err(e) => panic!("reading the answer to {url}: {e}"),
        }
    }
    let text = String::from_utf8_lossy(&resp);
    let (head, body) = text.split_once("\r\n\r\n").expect("an HTTP answer");
    let status: u16 = head.split_whitespace().nth(1).unwrap().parse().unwrap();
    let v = serde_json::from_str(body).unwrap_or_else(|_| panic!("not JSON ({status}): {text}"));
    (status, v)
}

fn get(url: &str, token: Option<&str>) -> (u16, String) {
    get_accept(url, token, "*/*")
}

fn get_accept(url: &str, token: Option<&str>, accept: &str) -> (u16, String) {
    let mut req = agent().get(url).header("Accept", accept);
    if let Some(t) = token {
        req = req.header("Authorization", &format!("Bearer {t}"));
    }
    let mut r = req.call().expect("request sent");
    (r.status().as_u16(), r.body_mut().read_to_string().unwrap())
}

fn get_json(url: &str) -> Value {
    let (status, text) = get(url, None);
    assert_eq!(status, 200, "{url}: {text}");
    serde_json::from_str(&text).unwrap()
}

fn astronaut() -> Vec<u8> {
    std::fs::read(root().join("assets/astronaut.png")).unwrap()
}

fn multipart(field: &str, file_name: &str, data: &[u8]) -> (Vec<u8>, String) {
    let boundary = "moodkiosk-test-boundary-7d1f";
    let mut body = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"note\"\r\n\r\nhello\r\n\
         --{boundary}\r\nContent-Disposition: form-data; name=\"{field}\"; filename=\"{file_name}\"\r\n\
         Content-Type: application/octet-stream\r\n\r\n"
    )
    .into_bytes();
    body.extend_from_slice(data);
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    (body, format!("multipart/form-data; boundary={boundary}"))
}

fn assert_happy_astronaut(v: &Value) {
    assert_eq!(
        (v["width"].as_u64(), v["height"].as_u64()),
        (Some(512), Some(512)),
        "{v}"
    );
    let faces = v["faces"].as_array().unwrap();
    assert_eq!(faces.len(), 1, "{v}");
    let f = &faces[0];
    assert_eq!(f["mood"], "happy", "{v}");
    let c = f["confidence"].as_f64().unwrap();
    assert!((0.5..=1.0).contains(&c), "{v}");
    let b = &f["box"];
    let (x, y, w) = (
        b["x"].as_f64().unwrap(),
        b["y"].as_f64().unwrap(),
        b["w"].as_f64().unwrap(),
    );
    assert!(x >= 0.0 && y >= 0.0 && w > 60.0 && x + w <= 512.0, "{v}");
    for k in ["detect_ms", "classify_ms", "total_ms"] {
        assert!(v[k].as_f64().unwrap() > 0.0, "{k}: {v}");
    }
}

/// A PNG of one flat colour.
fn flat_png(w: u32, h: u32) -> Vec<u8> {
    let mut out = std::io::Cursor::new(Vec::new());
    image::GrayImage::from_pixel(w, h, image::Luma([128]))
        .write_to(&mut out, image::ImageFormat::Png)
        .unwrap();
    out.into_inner()
}

#[test]
#[ignore = "needs the training venv for the reference metrics parsers (scripts/deps.sh --test); scripts/test.sh runs it"]
fn uploads_are_classified_and_bad_ones_refused_with_json() {
    let d = tempfile::tempdir().unwrap();
    let cfg = astronaut_config(d.path(), "bind = \"127.0.0.1:0\"\nmax_upload_mb = 1\n");
    let mut k = Kiosk::start(&cfg, d.path());
    let api = format!("{}/api/classify", k.url);

    // The same photo as a raw body and as a form: the same answer, the same as the CLI's.
    let (s, raw) = post(&api, &astronaut(), "image/png");
    assert_eq!(s, 200, "{raw}");
    assert_happy_astronaut(&raw);
    let (body, ct) = multipart("photo", "me.jpg", &astronaut()); // the name lies; content wins
    let (s, form) = post(&api, &body, &ct);
    assert_eq!(s, 200, "{form}");
    assert_eq!(form["faces"], raw["faces"]);
    // The same model as the daemon's (under emulation the int8 file).
    let model = emulated_model();
    let mut args = vec!["classify", "--json", "assets/astronaut.png"];
    if let Some(m) = &model {
        args.extend(["--model", m.to_str().unwrap()]);
    }
    let cli = run(&args, &root());
    let cli: Value = serde_json::from_slice(&cli.stdout).unwrap();
    assert_eq!(
        cli["faces"], raw["faces"],
        "classify and the API share one path"
    );

    // No face: a 200 with no faces.
    let (s, v) = post(&api, &flat_png(300, 200), "image/png");
    assert_eq!(
        (s, v["faces"].as_array().map(|f| f.len())),
        (200, Some(0)),
        "{v}"
    );

    // Refusals, each a JSON error with a code.
    let mut truncated = astronaut();
    truncated.truncate(truncated.len() / 3);
    let bomb = b"P5\n60000 60000\n255\n\x00\x00\x00\x00".to_vec();
    let big = vec![0x55u8; 1024 * 1024 + 1];
    for (what, body, status, code) in [
        ("text", b"just some text".to_vec(), 415, "not_an_image"),
        ("truncated PNG", truncated, 422, "corrupt_image"),
        ("3.6 gigapixel header", bomb, 413, "too_many_pixels"),
        ("empty body", Vec::new(), 400, "empty"),
        ("oversize body", big.clone(), 413, "too_large"),
    ] {
        let (s, v) = post(&api, &body, "application/octet-stream");
        assert_eq!((s, v["code"].as_str()), (status, Some(code)), "{what}: {v}");
        assert!(!v["error"].as_str().unwrap().is_empty());
    }
    let (body, ct) = multipart("photo", "big.png", &big);
    let (s, v) = post(&api, &body, &ct);
    assert_eq!((s, v["code"].as_str()), (413, Some("too_large")), "{v}");
    assert!(
        v["error"].as_str().unwrap().contains("web.max_upload_mb"),
        "{v}"
    );
    let (body, ct) = multipart("other", "x.txt", b"");
    let (s, v) = post(&api, &body[..body.len() - 40], &ct); // a cut-off form
    assert!((400..500).contains(&s), "{s} {v}");

    // Still running, still healthy, still reading frames.
    assert!(k.alive(), "{}", k.log_text());
    let (frames_before, _) = frames_and_faces(&k.url);
    assert!(wait_for(20, || frames_and_faces(&k.url).0 > frames_before));
    assert_eq!(get_json(&format!("{}/healthz", k.url))["status"], "ok");
    let (s, text) = get(&format!("{}/nope", k.url), None);
    assert_eq!(s, 404, "{text}");

    // Status, today's chart (after the first visitor), metrics.
    assert!(
        wait_for(30, || get_json(&format!("{}/api/today", k.url))["visitors"]
            .as_u64()
            >= Some(1)),
        "{}",
        k.log_text()
    );
    let today = get_json(&format!("{}/api/today", k.url));
    let bars = today["bars"].as_array().unwrap();
    let in_bars: u64 = bars
        .iter()
        .map(|b| b["happy"].as_u64().unwrap() + b["not_happy"].as_u64().unwrap())
        .sum();
    assert_eq!(in_bars, today["visitors"].as_u64().unwrap(), "{today}");
    assert_eq!(today["not_happy"], 0, "the astronaut smiles: {today}");
    let st = get_json(&format!("{}/api/status", k.url));
    assert_eq!(st["camera"]["state"], "up", "{st}");
    match emulated_model() {
        Some(_) => assert!(
            st["model"]
                .as_str()
                .unwrap()
                .ends_with("moodkiosk-int8.onnx"),
            "{st}"
        ),
        None => assert_eq!(st["model"], "builtin"),
    }
    assert_eq!(st["leds"]["backend"], "simulated");
    assert_eq!(st["frame_loop"]["alive"], true);
    assert_eq!(st["last_decision"]["mood"], "happy", "{st}");
    assert_eq!(st["limits"]["max_upload_mb"], 1);

    let (s, m) = get(&format!("{}/metrics", k.url), None);
    assert_eq!(s, 200);
    assert!(
        !m.contains("# EOF"),
        "classic Prometheus text unless OpenMetrics is asked for"
    );
    let (s, om) = get_accept(
        &format!("{}/metrics", k.url),
        None,
        "application/openmetrics-text; version=1.0.0",
    );
    assert_eq!(s, 200);
    assert!(om.ends_with("# EOF\n"), "{om}");
    for line in [
        "moodkiosk_uploads_total{outcome=\"classified\"} 3",
        "moodkiosk_uploads_total{outcome=\"rejected\"} 7",
        "# TYPE moodkiosk_inference_seconds histogram",
        "moodkiosk_decisions_total{mood=\"happy\"} ",
        "moodkiosk_camera_up 1",
    ] {
        assert!(m.contains(line), "missing {line:?} in\n{m}");
    }
    // The replay holds each picture for several frames: the motion gate reuses their analysis.
    let unchanged: f64 = m
        .lines()
        .find_map(|l| l.strip_prefix("moodkiosk_frames_unchanged_total "))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("no moodkiosk_frames_unchanged_total in\n{m}"));
    assert!(unchanged > 0.0, "{m}");
    check_metrics_parse(&om, &m);
}

fn frames_and_faces(url: &str) -> (u64, u64) {
    let st = get_json(&format!("{url}/api/status"));
    (
        st["frames"].as_u64().unwrap(),
        st["faces"].as_u64().unwrap(),
    )
}

/// The reference parsers (Python prometheus_client) read every family of /metrics, in the
/// OpenMetrics and in the classic Prometheus text format.
fn check_metrics_parse(openmetrics: &str, prometheus: &str) {
    let py = python_with(
        "MOODKIOSK_PYTHON",
        "training/.venv/bin/python",
        "prometheus_client",
        "run scripts/deps.sh --test",
    );
    let script = "import sys\n\
        from prometheus_client.openmetrics.parser import text_string_to_metric_families as om\n\
        from prometheus_client.parser import text_string_to_metric_families as prom\n\
        text_om, text_prom = sys.stdin.read().split('\\n----\\n')\n\
        a = {f.name: f.type for f in om(text_om)}\n\
        b = {f.name: f.type for f in prom(text_prom)}\n\
        assert a == b, (a, b)\n\
        print(len(a), a['moodkiosk_inference_seconds'], a['moodkiosk_frames'], len(b))\n";
    let mut child = Command::new(py)
        .args(["-c", script])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let both = format!("{openmetrics}\n----\n{prometheus}");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(both.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}\n{both}",
        String::from_utf8_lossy(&out.stderr)
    );
    let parts: Vec<&str> = stdout.split_whitespace().collect();
    assert_eq!(parts[1..3], ["histogram", "counter"], "{stdout}");
    assert!(parts[0].parse::<u32>().unwrap() >= 10, "{stdout}");
}

#[test]
#[ignore = "needs curl (scripts/deps.sh --test); scripts/test.sh runs it"]
fn curl_form_upload_returns_the_json() {
    if Command::new("curl").arg("--version").output().is_err() {
        unavailable("curl is not installed (scripts/deps.sh --test installs it)");
    }
    let d = tempfile::tempdir().unwrap();
    let cfg = astronaut_config(d.path(), "bind = \"127.0.0.1:0\"\n");
    let k = Kiosk::start(&cfg, d.path());
    let out = Command::new("curl")
        .args(["-sS", "-F", "photo=@assets/astronaut.png"])
        .arg(format!("{}/api/classify", k.url))
        .current_dir(root())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_happy_astronaut(&v);
}

#[test]
fn off_loopback_the_api_needs_the_token() {
    let d = tempfile::tempdir().unwrap();
    let token = "s3cret-token-0123456789";
    let cfg = astronaut_config(
        d.path(),
        &format!("bind = \"0.0.0.0:0\"\ntoken = \"{token}\"\npreview = true\n"),
    );
    let k = Kiosk::start(&cfg, d.path());
    let u = |p: &str| format!("{}{p}", k.url);
    // The preview stream never ends: only its refusals are read here.
    let (s, body) = get(&u("/preview.mjpg"), None);
    assert!(s == 401 && body.contains("token_required"), "{body}");
    assert_eq!(
        get(&u("/preview.mjpg"), Some("s3cret-token-0123456780")).0,
        403
    );
    for path in ["/api/status", "/api/today", "/metrics", "/api/preview"] {
        let (s, body) = get(&u(path), None);
        assert_eq!(s, 401, "{path}: {body}");
        assert!(body.contains("token_required"), "{body}");
        let (s, body) = get(&u(path), Some("s3cret-token-0123456780"));
        assert_eq!(s, 403, "{path}: {body}");
        assert_eq!(get(&u(path), Some(token)).0, 200, "{path}");
    }
    assert_eq!(get(&u(&format!("/api/status?token={token}")), None).0, 200);
    let (s, v) = post(&u("/api/classify"), &astronaut(), "image/png");
    assert_eq!(
        (s, v["code"].as_str()),
        (401, Some("token_required")),
        "{v}"
    );
    // The page's token form: the right token comes back as an HttpOnly, SameSite=Strict
    // cookie that then opens the API; a wrong one is 403; another site's page is refused.
    let session = |token: &str, origin: &str| {
        let mut r = agent()
            .post(u("/api/session"))
            .header("Origin", origin)
            .header("Content-Type", "application/json")
            .send(format!("{{\"token\":\"{token}\"}}"))
            .unwrap();
        let cookie = r
            .headers()
            .get("set-cookie")
            .map(|v| v.to_str().unwrap().to_string());
        (
            r.status().as_u16(),
            cookie,
            r.body_mut().read_to_string().unwrap(),
        )
    };
    assert_eq!(session("wrong-token-000000000", &k.url).0, 403);
    assert_eq!(session(token, "http://evil.example").0, 403, "cross-origin");
    let (s, cookie, body) = session(token, &k.url);
    assert_eq!(s, 200, "{body}");
    let cookie = cookie.expect("a session cookie");
    for attr in ["HttpOnly", "SameSite=Strict", "Path=/"] {
        assert!(cookie.contains(attr), "{cookie}");
    }
    assert!(
        !cookie.contains(token),
        "the cookie does not show the token as typed: {cookie}"
    );
    let pair = cookie.split(';').next().unwrap().to_string();
    let with_cookie = |c: &str| {
        let mut r = agent()
            .get(u("/api/status"))
            .header("Cookie", c)
            .call()
            .unwrap();
        (r.status().as_u16(), r.body_mut().read_to_string().unwrap())
    };
    assert_eq!(with_cookie(&pair).0, 200);
    let (s, body) = with_cookie("moodkiosk_token=00ff");
    assert!(s == 401 && body.contains("no longer"), "{s} {body}");
    // Health and the static pages need no token; they hold no data.
    assert_eq!(get(&u("/healthz"), None).0, 200);
    let (s, page) = get(&u("/"), None);
    assert!(s == 200 && page.contains("<input id=\"file\""), "{page}");
}

#[test]
fn a_burst_of_uploads_gets_answers_or_busy_and_frames_keep_flowing() {
    let d = tempfile::tempdir().unwrap();
    let cfg = astronaut_config(
        d.path(),
        "bind = \"127.0.0.1:0\"\nmax_concurrent = 1\nmax_queued = 1\n",
    );
    let mut k = Kiosk::start(&cfg, d.path());
    let (frames_before, _) = frames_and_faces(&k.url);
    let api = format!("{}/api/classify", k.url);
    let answers: Vec<(u16, Value)> = std::thread::scope(|s| {
        let hs: Vec<_> = (0..6)
            .map(|_| {
                s.spawn(|| {
                    (0..4)
                        .map(|_| post(&api, &astronaut(), "image/png"))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        hs.into_iter().flat_map(|h| h.join().unwrap()).collect()
    });
    let mut busy = 0;
    for (s, v) in &answers {
        match s {
            200 => assert_eq!(v["faces"][0]["mood"], "happy", "{v}"),
            503 => {
                assert_eq!(v["code"], "busy", "{v}");
                busy += 1;
            }
            _ => panic!("unexpected {s}: {v}"),
        }
    }
    assert!(k.alive());
    assert!(
        wait_for(20, || frames_and_faces(&k.url).0 > frames_before),
        "the frame loop stopped"
    );
    let (_, m) = get(&format!("{}/metrics", k.url), None);
    let line = format!("moodkiosk_uploads_total{{outcome=\"busy\"}} {busy}");
    assert!(busy == 0 || m.contains(&line), "missing {line:?} in\n{m}");
    assert!(
        m.contains(&format!(
            "moodkiosk_uploads_total{{outcome=\"classified\"}} {}",
            answers.len() - busy
        )),
        "{m}"
    );
}

/// Read `parts` JPEG parts of a `multipart/x-mixed-replace` preview stream; `None` if it ends.
fn preview_parts(url: &str, parts: usize) -> Option<Vec<Vec<u8>>> {
    let rest = url.strip_prefix("http://").unwrap();
    let (host, path) = rest.split_at(rest.find('/').unwrap());
    let mut s = TcpStream::connect(host).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 65536];
    let mut jpegs = Vec::new();
    while jpegs.len() < parts {
        // A stall is a failure (the read times out); only a closed stream is `None`.
        let n = s.read(&mut buf).expect("reading the preview stream");
        if n == 0 {
            return None;
        }
        got.extend_from_slice(&buf[..n]);
        jpegs = Vec::new();
        let mut at = 0;
        while let Some(soi) = find(&got[at..], b"\xff\xd8").map(|i| i + at) {
            match find(&got[soi..], b"\xff\xd9") {
                Some(eoi) => {
                    jpegs.push(got[soi..soi + eoi + 2].to_vec());
                    at = soi + eoi + 2;
                }
                None => break,
            }
        }
    }
    let head = String::from_utf8_lossy(&got[..got.len().min(1000)]).to_string();
    assert!(
        head.contains("multipart/x-mixed-replace; boundary=frame"),
        "{head}"
    );
    assert!(
        find(&got, b"--frame\r\nContent-Type: image/jpeg\r\n").is_some(),
        "{head}"
    );
    Some(jpegs)
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// The setup preview: off by default (404); on, a live MJPEG stream of reduced frames with the
/// faces described in /api/preview, the status LED flashing while watched; the token guards
/// it off loopback; a reload with `preview = false` ends the stream.
#[test]
fn setup_preview_is_opt_in_streams_mjpeg_and_turns_off_on_reload() {
    let d = tempfile::tempdir().unwrap();
    let cfg = astronaut_config(d.path(), "bind = \"127.0.0.1:0\"\n");
    let k = Kiosk::start(&cfg, d.path());
    for path in ["/preview", "/preview.mjpg", "/api/preview"] {
        let (s, body) = get(&format!("{}{path}", k.url), None);
        assert_eq!(s, 404, "{path}: {body}");
        assert!(body.contains("web.preview"), "{body}");
    }
    drop(k);
    let d = tempfile::tempdir().unwrap();
    let cfg = astronaut_config(d.path(), "bind = \"127.0.0.1:0\"\npreview = true\n");
    let mut k = Kiosk::start(&cfg, d.path());
    let (s, page) = get(&format!("{}/preview", k.url), None);
    assert!(s == 200 && page.contains("Live camera preview"), "{page}");
    let url = format!("{}/preview.mjpg", k.url);
    let watcher = std::thread::spawn(move || preview_parts(&url, 3).expect("three frames"));
    let mut flashing = false;
    let mut info = Value::Null;
    wait_for(30, || {
        let st = get_json(&format!("{}/api/status", k.url));
        flashing |= st["leds"]["status"] == "flashing";
        info = get_json(&format!("{}/api/preview", k.url));
        flashing
            && info["frame"]["faces"]
                .as_array()
                .is_some_and(|f| !f.is_empty())
    });
    let jpegs = watcher.join().unwrap();
    for j in &jpegs {
        let img = image::load_from_memory(j).unwrap();
        assert_eq!(
            (img.width(), img.height()),
            (320, 320),
            "the 512x512 photo, reduced"
        );
    }
    assert!(flashing, "the status LED flashes while someone watches");
    let face = &info["frame"]["faces"][0];
    assert!(
        face["size_px"].as_u64().unwrap() > 40 && face["big_enough"] == true,
        "{info}"
    );
    assert_eq!(info["frame"]["min_face_size"], 40, "{info}");
    // A reload turns it off: an open stream ends, the page is gone.
    let url = format!("{}/preview.mjpg", k.url);
    let open = std::thread::spawn(move || preview_parts(&url, 1000));
    std::thread::sleep(Duration::from_secs(2));
    let text = std::fs::read_to_string(&cfg)
        .unwrap()
        .replace("preview = true", "preview = false");
    std::fs::write(&cfg, text).unwrap();
    signal(&k.child, SIGHUP);
    assert!(open.join().unwrap().is_none(), "the stream ended");
    assert_eq!(get(&format!("{}/preview", k.url), None).0, 404);
    assert!(k.alive());
    assert!(
        !k.log_text()
            .contains("[web] changes take effect after a restart"),
        "{}",
        k.log_text()
    );
}
