use super::*;

fn parse(t: &str) -> Result<Config> {
    Config::parse(t, Path::new("/etc/moodkiosk/moodkiosk.toml"))
}

fn err(t: &str) -> String {
    parse(t).unwrap_err().to_string()
}

#[test]
fn empty_file_gives_documented_defaults() {
    let c = parse("").unwrap();
    assert_eq!(c.detector.min_face_size, 48);
    assert_eq!(c.classifier.model, ModelRef::Builtin);
    assert_eq!((c.source.kind, c.source.fps), (SourceKind::V4l2, 15));
    assert_eq!(c.journal.dir, PathBuf::from("/var/lib/moodkiosk/journal"));
    assert_eq!(c.log.level, LogLevel::Info);
    assert_eq!(c.web.token.expose(), None);
}

#[test]
fn unknown_key_names_its_path_and_the_allowed_keys() {
    let e = err("[detector]\nmin_face_sise = 40\n");
    assert!(e.contains("detector"), "{e}");
    assert!(
        e.contains("min_face_sise") && e.contains("min_face_size"),
        "{e}"
    );
    let e = err("[camera]\nfps = 3\n");
    assert!(e.contains("camera") && e.contains("source"), "{e}");
}

#[test]
fn out_of_range_names_key_and_range() {
    let e = err("[steady]\nwindow = 5\nagree = 9\n");
    assert!(
        e.contains("steady.agree") && e.contains("between 1 and 5"),
        "{e}"
    );
}

#[test]
fn type_errors_name_the_key_path_and_the_expected_type() {
    let e = err("[source]\nfps = \"fast\"\n");
    assert!(e.contains("source.fps") && e.contains("u32"), "{e}");
    // Too large for u32, and too large for TOML's 64-bit integers.
    let e = err("[source]\nwidth = 5000000000\n");
    assert!(e.contains("source.width"), "{e}");
    let e = err("[source]\nwidth = 99999999999999999999999\n");
    assert!(e.contains(": source.width: line 2"), "{e}");
    assert!(!e.contains(": 99999"), "the value is not the key: {e}");
}

#[test]
fn nan_and_infinity_are_never_valid() {
    for (section, key) in [
        ("source", "replay_fps"),
        ("detector", "crop_margin"),
        ("detector", "score_threshold"),
        ("steady", "min_confidence"),
        ("steady", "iou"),
    ] {
        for v in ["nan", "inf", "-inf"] {
            let e = err(&format!("[{section}]\n{key} = {v}\n"));
            assert!(e.contains(&format!("{section}.{key}")), "{v}: {e}");
        }
        let e = err(&format!("[{section}]\n{key} = nan\n"));
        assert!(e.contains("finite") && e.contains("NaN"), "{e}");
    }
}

#[test]
fn relative_paths_resolve_against_config_folder_normalised() {
    let c = parse(
        "[source]\nkind = \"replay\"\nreplay = [\"rel/../frames\"]\n[journal]\ndir = \"j\"\n",
    )
    .unwrap();
    assert_eq!(c.journal.dir, PathBuf::from("/etc/moodkiosk/j"));
    assert_eq!(
        c.source.replay,
        vec![PathBuf::from("/etc/moodkiosk/frames")]
    );
}

#[test]
fn enum_values_are_checked() {
    let e = err("[indicator]\nkind = \"leds\"\n");
    assert!(
        e.contains("indicator.kind") && e.contains("rppal") && e.contains("simulated"),
        "{e}"
    );
    let e = err("[journal]\nfsync = \"sometimes\"\n");
    assert!(e.contains("journal.fsync") && e.contains("always"), "{e}");
}

#[test]
fn web_needs_a_token_off_loopback() {
    let c = parse("").unwrap();
    assert_eq!(c.web.bind.to_string(), "127.0.0.1:8080");
    let e = err("[web]\nbind = \"0.0.0.0:8080\"");
    assert!(e.contains("web.token") && e.contains("openssl rand"), "{e}");
    let e = err("[web]\ntoken = \"short\"");
    assert!(e.contains("web.token") && e.contains("16"), "{e}");
    let e = err("[web]\nbind = \"localhost\"");
    assert!(e.contains("web.bind"), "{e}");
    let c = parse("[web]\nbind = \"0.0.0.0:9000\"\ntoken = \"0123456789abcdef\"").unwrap();
    assert_eq!(c.web.token.expose(), Some("0123456789abcdef"));
    assert!(parse("[web]\nenabled = false\nbind = \"0.0.0.0:9000\"").is_ok());
}

#[test]
fn secrets_never_print() {
    let c = parse("[web]\ntoken = \"0123456789abcdef-secret\"").unwrap();
    let text = c.to_toml();
    assert!(!text.contains("0123456789abcdef"), "{text}");
    assert!(text.contains("token = \"<redacted>\""), "{text}");
    assert!(!format!("{c:?}").contains("0123456789abcdef"));
    // The printed config is itself a valid config (the token blank).
    let reparsed = parse(&text.replace("\"<redacted>\"", "\"\"")).unwrap();
    assert_eq!(reparsed.web.token.expose(), None);
    assert_eq!(reparsed.source, c.source);
}

#[test]
fn duplicate_pins_rejected() {
    let e = err("[indicator]\nhappy_pin = 22\n");
    assert!(e.contains("indicator.") && e.contains("different"), "{e}");
}

#[test]
fn documented_file_is_the_defaults() {
    let documented = Config::parse(DOCUMENTED, Path::new("/etc/moodkiosk/moodkiosk.toml")).unwrap();
    assert_eq!(documented, parse("").unwrap());
}

#[test]
fn duplicates_name_the_table_or_key_once() {
    let e =
        err("[web]\nfleet = false\n\n[journal]\nretention_days = 3\n\n[web]\npreview = false\n");
    assert!(
        e.contains(
            ": web: line 7: the table [web] appears twice; put all its keys under one [web]"
        ),
        "{e}"
    );
    let e = err("[web]\nfleet = false\nfleet = true\n");
    assert!(
        e.contains(": web.fleet: line 3: web.fleet is set twice; keep one"),
        "{e}"
    );
}

#[test]
fn a_dollar_topic_prefix_is_refused() {
    let e = err("[mqtt]\nenabled = true\ntopic_prefix = \"$SYS\"\n");
    assert!(
        e.contains("mqtt.topic_prefix: must not start with '$'"),
        "{e}"
    );
}
