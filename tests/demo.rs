//! The demo config as `scripts/demo.sh` runs it: replayed visitors of both moods and an
//! undecided one reach the journal and the dashboard's data.

mod common;

use common::*;

#[test]
fn the_demo_journals_happy_not_happy_and_undecided_visitors_and_the_dashboard_shows_them() {
    let d = tempfile::tempdir().unwrap();
    // The demo's own file, its relative paths intact: config/ beside assets/.
    std::fs::create_dir(d.path().join("config")).unwrap();
    std::os::unix::fs::symlink(root().join("assets"), d.path().join("assets")).unwrap();
    let demo = std::fs::read_to_string(root().join("config/demo.toml")).unwrap();
    let cfg = d.path().join("config/demo.toml");
    // A free port: tests run side by side (the demo itself listens on 8080).
    std::fs::write(&cfg, format!("{demo}\n[web]\nbind = \"127.0.0.1:0\"\n")).unwrap();
    let k = Kiosk::start(&cfg, d.path());
    let jdir = d.path().join("demo-journal");
    let moods = || -> (usize, usize) {
        let (recs, _) = journal(&jdir);
        let visitors = of_type(&recs, "visitor");
        let n = |m: &str| visitors.iter().filter(|r| r["mood"] == m).count();
        (n("happy"), n("not_happy"))
    };
    assert!(
        wait_for(120, || {
            let (h, n) = moods();
            h >= 1 && n >= 1
        }),
        "journal moods {:?}:\n{}",
        moods(),
        k.log_text()
    );
    let today: serde_json::Value = ureq::get(format!("{}/api/today", k.url))
        .call()
        .unwrap()
        .body_mut()
        .read_json()
        .unwrap();
    let bars = today["bars"].as_array().unwrap();
    let sum = |key: &str| bars.iter().map(|b| b[key].as_u64().unwrap()).sum::<u64>();
    assert!(
        sum("happy") >= 1 && sum("not_happy") >= 1,
        "the dashboard's bars show both moods: {today}"
    );
    // The unsure visitor leaves undecided: counted by the interval summaries.
    let undecided = || -> u64 {
        of_type(&journal(&jdir).0, "summary")
            .iter()
            .filter_map(|r| r["undecided"].as_u64())
            .sum()
    };
    assert!(wait_for(120, || undecided() >= 1), "{}", k.log_text());
}
