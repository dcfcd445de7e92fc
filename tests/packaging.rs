//! The systemd unit passes `systemd-analyze verify` and the Debian package holds what the
//! README lists (built here for the host architecture from the test binary).

mod common;

use std::process::Command;

use common::*;

/// `tool` is on PATH, or the test fails saying how to install it.
fn need(tool: &str) {
    let ok = Command::new("sh")
        .args(["-c", &format!("command -v {tool}")])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    if !ok {
        unavailable(&format!(
            "{tool} not installed (scripts/deps.sh installs it)"
        ));
    }
}

#[test]
#[ignore = "needs systemd-analyze (scripts/deps.sh); scripts/test.sh runs it"]
fn unit_verifies_and_is_hardened() {
    need("systemd-analyze");
    let out = Command::new(root().join("cross/verify-unit.sh"))
        .arg(bin())
        .current_dir(root())
        .output()
        .unwrap();
    let s = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{s}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let score: f64 = s
        .split("exposure level for moodkiosk.service:")
        .nth(1)
        .and_then(|t| t.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .expect("exposure score printed");
    assert!(score <= 2.5, "exposure {score}");
}

#[test]
#[ignore = "needs dpkg-deb and strip (scripts/deps.sh); scripts/test.sh runs it"]
fn deb_contains_binary_models_conffile_and_unit() {
    need("dpkg-deb");
    let arch = String::from_utf8(
        Command::new("dpkg")
            .arg("--print-architecture")
            .output()
            .unwrap()
            .stdout,
    )
    .unwrap();
    let out = Command::new(root().join("cross/package-deb.sh"))
        .args([arch.trim(), bin().to_str().unwrap()])
        .current_dir(root())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let deb = root().join(String::from_utf8_lossy(&out.stdout).trim());
    let listing = String::from_utf8(
        Command::new("dpkg-deb")
            .arg("--contents")
            .arg(&deb)
            .output()
            .unwrap()
            .stdout,
    )
    .unwrap();
    for path in [
        "./usr/bin/moodkiosk",
        "./usr/share/moodkiosk/moodkiosk-int8.onnx",
        "./etc/moodkiosk/moodkiosk.toml",
        "./lib/systemd/system/moodkiosk.service",
        "./usr/share/doc/moodkiosk/copyright",
        "./usr/share/doc/moodkiosk/docs/install-raspberry-pi.md",
        "./usr/share/doc/moodkiosk/LICENSE.blazeface",
        "./usr/share/man/man1/moodkiosk.1.gz",
        "./usr/share/man/man1/moodkiosk-run.1.gz",
        "./usr/share/man/man1/moodkiosk-classify.1.gz",
        "./usr/share/bash-completion/completions/moodkiosk",
        "./usr/share/zsh/vendor-completions/_moodkiosk",
        "./usr/share/fish/vendor_completions.d/moodkiosk.fish",
    ] {
        assert!(listing.contains(path), "{path} missing:\n{listing}");
    }
    let conf = Command::new("dpkg-deb")
        .args(["--info"])
        .arg(&deb)
        .arg("conffiles")
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&conf.stdout).trim(),
        "/etc/moodkiosk/moodkiosk.toml"
    );
}
