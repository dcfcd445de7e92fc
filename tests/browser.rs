//! End to end in a real headless Chromium driven through ChromeDriver (WebDriver): upload the
//! sample photo through the page, read the label the page shows, and see the dashboard draw
//! today's chart for the replayed visitors. Screenshots go to `target/tmp/browser/`.

mod common;

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::*;
use fantoccini::{Client, ClientBuilder, Locator};

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

struct Driver(Child);

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

async fn browser(profile: &Path) -> (Driver, Client) {
    browser_in(profile, None).await
}

/// A Chromium session; `tz`: the browser's time zone (its `TZ`).
async fn browser_in(profile: &Path, tz: Option<&str>) -> (Driver, Client) {
    let port = free_port();
    let mut cmd = Command::new(CHROMEDRIVER);
    if let Some(tz) = tz {
        cmd.env("TZ", tz);
    }
    let driver = Driver(
        cmd.arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver starts"),
    );
    assert!(
        wait_for(30, || std::net::TcpStream::connect(("127.0.0.1", port))
            .is_ok()),
        "chromedriver did not listen"
    );
    let caps = serde_json::json!({
        "goog:chromeOptions": {
            "binary": CHROMIUM,
            "args": [
                "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                "--disable-component-update", "--no-first-run", "--disable-sync", "--disable-quic",
                format!("--user-data-dir={}", profile.display()), "--window-size=1100,1200",
            ]
        }
    });
    let client = ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
        .capabilities(caps.as_object().unwrap().clone())
        .connect(&format!("http://127.0.0.1:{port}"))
        .await
        .expect("a Chromium session");
    (driver, client)
}

fn shots() -> PathBuf {
    let d = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("browser");
    std::fs::create_dir_all(&d).unwrap();
    d
}

#[ignore = "needs Chromium and ChromeDriver (scripts/deps.sh --test); scripts/test.sh runs it"]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upload_page_and_dashboard_in_chromium() {
    if !Path::new(CHROMIUM).exists() || !Path::new(CHROMEDRIVER).exists() {
        unavailable("Chromium and ChromeDriver are needed: scripts/deps.sh --test installs them");
    }
    let d = tempfile::tempdir().unwrap();
    let cfg = astronaut_config(d.path(), "bind = \"127.0.0.1:0\"\npreview = true\n");
    // Yesterday in the journal: 2 happy visitors and 1 not happy, for the day picker.
    let yesterday = chrono::Local::now().date_naive() - chrono::Days::new(1);
    let noon = yesterday
        .and_hms_opt(12, 0, 0)
        .and_then(|t| chrono::TimeZone::from_local_datetime(&chrono::Local, &t).earliest())
        .unwrap()
        .to_rfc3339();
    let line = |mood: &str| {
        format!("{{\"type\":\"visitor\",\"time\":\"{noon}\",\"mood\":\"{mood}\",\"confidence\":0.9,\"frames\":5,\"face_px\":120}}\n")
    };
    std::fs::create_dir_all(d.path().join("journal")).unwrap();
    std::fs::write(
        d.path().join(format!("journal/mood-{yesterday}.jsonl")),
        line("happy") + &line("happy") + &line("not_happy"),
    )
    .unwrap();
    let kiosk = Kiosk::start(&cfg, d.path());
    let (_driver, c) = browser(&d.path().join("profile")).await;
    let wait = |secs| c.wait().at_most(Duration::from_secs(secs));

    // Upload page: choose the photo, then read the first face's label and the status line.
    c.goto(&format!("{}/", kiosk.url)).await.unwrap();
    let input = c.find(Locator::Css("input#file")).await.unwrap();
    input
        .send_keys(root().join("assets/astronaut.png").to_str().unwrap())
        .await
        .unwrap();
    let label = wait(60)
        .for_element(Locator::Css("#faces li .label"))
        .await
        .expect("the page lists a face");
    assert_eq!(label.text().await.unwrap(), "happy");
    let confidence = c
        .find(Locator::Css("#faces li .confidence"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let pct: u32 = confidence.trim_end_matches('%').parse().unwrap();
    assert!((50..=100).contains(&pct), "{confidence}");
    let state = c
        .find(Locator::Css("#state"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(state.starts_with("1 face found"), "{state}");
    // The photo with its box was drawn: the canvas has the photo's aspect and is not blank.
    let drawn = c
        .execute(
            "const c = document.getElementById('canvas');\
             const p = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;\
             let s = new Set(); for (let i = 0; i < p.length; i += 4000) s.add(p[i]);\
             return [c.width, c.height, s.size];",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(drawn[0], drawn[1], "square photo, square canvas: {drawn}");
    assert!(
        drawn[2].as_u64().unwrap() > 20,
        "canvas looks blank: {drawn}"
    );
    std::fs::write(shots().join("upload.png"), c.screenshot().await.unwrap()).unwrap();

    // Dashboard: after the replay's first visitor, the chart has a happy bar.
    c.goto(&format!("{}/dashboard", kiosk.url)).await.unwrap();
    wait(60)
        .for_element(Locator::Css("#chart rect.happy"))
        .await
        .expect("the chart draws today's visitors");
    let visitors: u64 = c
        .find(Locator::Id("visitors"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
        .parse()
        .unwrap();
    assert!(visitors >= 1);
    let camera = c
        .find(Locator::Id("camera"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(camera.starts_with("Working since "), "{camera}");
    let leds = c
        .find(Locator::Id("leds"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        leds.contains("status: steady (camera working)"),
        "LED labels in words: {leds}"
    );
    // The y axis has round ticks and its title.
    let axis = c
        .execute(
            "return [...document.querySelectorAll('#chart text.axis')].map((t) => t.textContent);",
            vec![],
        )
        .await
        .unwrap();
    let axis: Vec<&str> = axis
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|v| v.as_str())
        .collect();
    assert!(
        axis.contains(&"0") && axis.contains(&"visitors"),
        "{axis:?}"
    );
    std::fs::write(shots().join("dashboard.png"), c.screenshot().await.unwrap()).unwrap();

    // History: yesterday in the day picker; picking it shows its totals and happy share, and
    // the week view has its bar. Screenshots at desktop and phone widths.
    let day = yesterday.to_string();
    let mut picked = serde_json::Value::Null;
    for _ in 0..40 {
        picked = c
            .execute(
                "const s = document.getElementById('day');\
                 const o = [...s.options].find((o) => o.value === arguments[0]);\
                 if (o) { s.value = o.value; s.dispatchEvent(new Event('change')); }\
                 return [!!o, document.getElementById('visitors').textContent,\
                         document.getElementById('share').textContent,\
                         [...document.querySelectorAll('#week title')].map((t) => t.textContent)];",
                vec![serde_json::json!(day)],
            )
            .await
            .unwrap();
        // The week view ends at the shown day: yesterday's data is on screen.
        let last = picked[3]
            .as_array()
            .and_then(|w| w.last())
            .and_then(|t| t.as_str());
        if last.is_some_and(|t| t.starts_with(&format!("{day}:"))) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    assert_eq!(picked[0], true, "yesterday is in the day picker: {picked}");
    assert_eq!(picked[1], "3", "yesterday's visitors: {picked}");
    assert_eq!(picked[2], "67%", "yesterday's happy share: {picked}");
    let week = picked[3].as_array().unwrap();
    assert_eq!(week.len(), 7, "{picked}");
    assert!(
        week.iter()
            .any(|t| t == &serde_json::json!(format!("{day}: 2 happy, 1 not happy"))),
        "{picked}"
    );
    for (w, h, name) in [
        (1280, 1000, "history-1280.png"),
        (390, 844, "history-390.png"),
    ] {
        c.set_window_size(w, h).await.unwrap();
        // Redrawn at the new width by the next refresh (every 5 s).
        tokio::time::sleep(Duration::from_millis(5500)).await;
        std::fs::write(shots().join(name), c.screenshot().await.unwrap()).unwrap();
    }
    // On the phone the charts are drawn in its pixels: text keeps its shape (the SVG's
    // coordinate width is the element's width).
    let fit = c
        .execute(
            "document.getElementById('chart').scrollIntoView();\
             const s = document.getElementById('chart');\
             return [s.viewBox.baseVal.width, Math.round(s.getBoundingClientRect().width)];",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(fit[0].as_f64().map(|w| w.round()), fit[1].as_f64(), "{fit}");
    std::fs::write(
        shots().join("history-390-chart.png"),
        c.screenshot().await.unwrap(),
    )
    .unwrap();

    // Setup preview: the live view shows frames (the <img> decodes the MJPEG stream) and the
    // page describes the face found.
    c.goto(&format!("{}/preview", kiosk.url)).await.unwrap();
    let mut shown = serde_json::Value::Null;
    for _ in 0..60 {
        shown = c
            .execute(
                "const v = document.getElementById('view');\
                 return [v.complete, v.naturalWidth, document.getElementById('faces').textContent];",
                vec![],
            )
            .await
            .unwrap();
        if shown[1].as_u64() == Some(320) && shown[2].as_str().is_some_and(|t| t.contains(" px")) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    assert_eq!(
        shown[1].as_u64(),
        Some(320),
        "the preview shows frames: {shown}"
    );
    assert!(shown[2].as_str().unwrap().contains(" px"), "{shown}");
    let banner = c
        .find(Locator::Id("banner"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(banner.contains("Live camera preview"), "{banner}");
    std::fs::write(shots().join("preview.png"), c.screenshot().await.unwrap()).unwrap();
    eprintln!("screenshots in {}", shots().display());
    c.close().await.unwrap();
}

/// The fleet page over two kiosks on one broker (the tests' own Mosquitto): behind a token,
/// which the page's form asks for once and keeps in a cookie; both kiosks with their totals,
/// a chart each and the fleet's totals; a kiosk that stops shows as offline. Screenshots at
/// 1280 and 390 px.
#[ignore = "needs Chromium, ChromeDriver and Mosquitto (scripts/deps.sh --test); scripts/test.sh runs it"]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fleet_page_shows_every_kiosk_behind_the_token_form() {
    if !Path::new(CHROMIUM).exists() || !Path::new(CHROMEDRIVER).exists() {
        unavailable("Chromium and ChromeDriver are needed: scripts/deps.sh --test installs them");
    }
    let d = tempfile::tempdir().unwrap();
    let broker = common::broker::Mosquitto::start(&d.path().join("broker"));
    let token = "fleet-token-0123456789";
    let kiosk = |name: &str, web: &str| {
        let dir = d.path().join(name);
        std::fs::create_dir_all(&dir).unwrap();
        let cfg = astronaut_config(&dir, web);
        let mut text = std::fs::read_to_string(&cfg).unwrap();
        text.push_str(&format!(
            "\n[mqtt]\nenabled = true\nbroker = {:?}\nkiosk_id = {name:?}\n",
            broker.url()
        ));
        std::fs::write(&cfg, text).unwrap();
        Kiosk::start(&cfg, &dir)
    };
    let viewer = kiosk(
        "hall-a",
        &format!("bind = \"127.0.0.1:0\"\ntoken = \"{token}\"\nfleet = true\n"),
    );
    let mut other = kiosk("hall-b", "bind = \"127.0.0.1:0\"\n");
    let (_driver, c) = browser(&d.path().join("profile")).await;
    let wait = |secs| c.wait().at_most(Duration::from_secs(secs));

    c.goto(&format!("{}/fleet", viewer.url)).await.unwrap();
    let input = wait(30)
        .for_element(Locator::Css("#token-form input"))
        .await
        .expect("the page asks for the token");
    input.send_keys(token).await.unwrap();
    c.find(Locator::Css("#token-form button"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let mut seen = serde_json::Value::Null;
    for _ in 0..120 {
        seen = c
            .execute(
                "return [document.getElementById('online').textContent,\
                 [...document.querySelectorAll('.kiosk')].map((k) => k.dataset.kiosk),\
                 document.querySelectorAll('.kiosk svg rect.happy').length > 0 &&\
                 [...document.querySelectorAll('.kiosk')].every((k) => k.querySelector('rect.happy')),\
                 document.getElementById('visitors').textContent, !!document.getElementById('token-form')];",
                vec![],
            )
            .await
            .unwrap();
        if seen[0] == "2 of 2" && seen[2] == true {
            break;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    assert_eq!(seen[0], "2 of 2", "{seen}");
    assert_eq!(seen[1], serde_json::json!(["hall-a", "hall-b"]), "{seen}");
    assert_eq!(seen[2], true, "a chart with visitors per kiosk: {seen}");
    assert!(
        seen[3].as_str().unwrap().parse::<u32>().unwrap() >= 2,
        "{seen}"
    );
    assert_eq!(seen[4], false, "signed in: no form");
    // The cookie is not readable by the page.
    let cookie = c.execute("return document.cookie;", vec![]).await.unwrap();
    assert_eq!(cookie, "", "HttpOnly");
    for (w, h, name) in [(1280, 1000, "fleet-1280.png"), (390, 844, "fleet-390.png")] {
        c.set_window_size(w, h).await.unwrap();
        tokio::time::sleep(Duration::from_millis(5500)).await;
        std::fs::write(shots().join(name), c.screenshot().await.unwrap()).unwrap();
    }
    c.execute(
        "document.getElementById('kiosks').scrollIntoView();",
        vec![],
    )
    .await
    .unwrap();
    std::fs::write(
        shots().join("fleet-390-kiosks.png"),
        c.screenshot().await.unwrap(),
    )
    .unwrap();

    // hall-b stops: offline on the page.
    signal(&other.child, SIGTERM);
    assert!(wait_exit(&mut other.child, 30).is_some());
    let mut badge = serde_json::Value::Null;
    for _ in 0..40 {
        badge = c
            .execute(
                "const k = document.querySelector('.kiosk[data-kiosk=\"hall-b\"] .badge');\
                 return [k && k.textContent, document.getElementById('online').textContent];",
                vec![],
            )
            .await
            .unwrap();
        if badge[0] == "offline" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    assert_eq!(badge, serde_json::json!(["offline", "1 of 2"]), "{badge}");
    eprintln!("screenshots in {}", shots().display());
    c.close().await.unwrap();
}

/// Dates are the kiosk's, whatever the browser's time zone. The kiosk runs at UTC-12 and the
/// browser at UTC+14 (26 hours apart: their dates always differ, at any hour of the day): the
/// dashboard shows the kiosk's date, does not list the kiosk's today among the past days, and
/// asks for the kiosk's today's CSV.
#[ignore = "needs Chromium and ChromeDriver (scripts/deps.sh --test); scripts/test.sh runs it"]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dates_are_the_kiosks_whatever_the_browsers_time_zone() {
    if !Path::new(CHROMIUM).exists() || !Path::new(CHROMEDRIVER).exists() {
        unavailable("Chromium and ChromeDriver are needed: scripts/deps.sh --test installs them");
    }
    let d = tempfile::tempdir().unwrap();
    let cfg = astronaut_config(d.path(), "bind = \"127.0.0.1:0\"\n");
    let kiosk = Kiosk::start_with_env(&cfg, d.path(), &[("TZ", "Etc/GMT+12")]);
    let jdir = d.path().join("journal");
    assert!(
        wait_for(60, || !of_type(&journal(&jdir).0, "visitor").is_empty()),
        "{}",
        kiosk.log_text()
    );
    let today: serde_json::Value = ureq::get(format!("{}/api/today", kiosk.url))
        .call()
        .unwrap()
        .body_mut()
        .read_json()
        .unwrap();
    let date = today["date"].as_str().unwrap().to_string();
    assert_eq!(today["utc_offset"], "-12:00", "{today}");
    let (_driver, c) = browser_in(&d.path().join("profile"), Some("Pacific/Kiritimati")).await;
    let offset = c
        .execute("return new Date().getTimezoneOffset();", vec![])
        .await
        .unwrap();
    assert_eq!(offset, -840, "the browser runs at UTC+14");
    c.goto(&format!("{}/dashboard", kiosk.url)).await.unwrap();
    let mut shown = String::new();
    for _ in 0..120 {
        let updated = c.find(Locator::Id("updated")).await.unwrap();
        shown = updated.text().await.unwrap_or_default();
        if shown.contains(&date) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    assert!(
        shown.contains(&date) && shown.contains("UTC-12:00"),
        "the dashboard shows the kiosk's date {date}: {shown:?}"
    );
    let listed = c
        .execute(
            "return Array.from(document.querySelectorAll('#day option')).map(o => o.value);",
            vec![],
        )
        .await
        .unwrap();
    assert!(
        !listed
            .as_array()
            .unwrap()
            .iter()
            .any(|v| v == date.as_str()),
        "the kiosk's today is not a past day: {listed}"
    );
    let status = c
        .execute_async(
            "const done = arguments[0]; api(`/api/day.csv?date=${kioskToday}`).then(r => done([r.status, kioskToday]));",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(
        status,
        serde_json::json!([200, date]),
        "the CSV button asks for the kiosk's today"
    );
    std::fs::write(
        shots().join("dashboard-tz.png"),
        c.screenshot().await.unwrap(),
    )
    .unwrap();
    c.close().await.unwrap();
}
