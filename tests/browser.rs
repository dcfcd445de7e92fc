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
    let port = free_port();
    let driver = Driver(
        Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
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
    assert_eq!(camera, "up");
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
        tokio::time::sleep(Duration::from_millis(300)).await;
        std::fs::write(shots().join(name), c.screenshot().await.unwrap()).unwrap();
    }

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
