//! The TOML config file as types. Each section is the settings struct of the module it tunes
//! ([`SourceSettings`], [`DetectorSettings`], ...): one typed field per key, enum-like values as
//! serde enums, unknown keys refused by serde (`deny_unknown_fields`, which names the allowed
//! ones). The defaults are the documented file itself, `config/moodkiosk.toml`, compiled in:
//! a user's file is laid over it, so every key is written once in Rust (its field) and once in
//! its documentation. Values are then checked by one validator ([`Config::validate`]), used for
//! file values and command-line overrides alike; every float must be finite and in range.

mod paths;

use std::fmt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

pub use crate::classifier::{ClassifierSettings, ModelRef};
pub use crate::face::{DetectorKind, DetectorSettings};
pub use crate::indicator::{IndicatorKind, IndicatorSettings};
pub use crate::journal::{FsyncPolicy, JournalSettings};
pub use crate::mqtt::MqttSettings;
pub use crate::source::{PixelFormat, SourceKind, SourceSettings};
pub use crate::tracker::SteadySettings;
pub use crate::web::WebSettings;
pub use paths::resolve;

use crate::error::{Error, Result};

/// The documented config file: every key with its default value.
pub const DOCUMENTED: &str = include_str!("../../config/moodkiosk.toml");

/// A whole config file, validated, with paths resolved against the file's folder.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// The file this was read from (not a key).
    #[serde(skip)]
    pub file: PathBuf,
    pub log: LogSettings,
    pub source: SourceSettings,
    pub detector: DetectorSettings,
    pub classifier: ClassifierSettings,
    pub steady: SteadySettings,
    pub indicator: IndicatorSettings,
    pub journal: JournalSettings,
    pub web: WebSettings,
    pub mqtt: MqttSettings,
}

/// `[log]`.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct LogSettings {
    pub level: LogLevel,
}

/// `log.level`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LogLevel {
    Off,
    Error,
    Warn,
    Info,
    Debug,
    Trace,
}

impl LogLevel {
    /// The `log` crate's filter.
    pub fn filter(self) -> log::LevelFilter {
        match self {
            LogLevel::Off => log::LevelFilter::Off,
            LogLevel::Error => log::LevelFilter::Error,
            LogLevel::Warn => log::LevelFilter::Warn,
            LogLevel::Info => log::LevelFilter::Info,
            LogLevel::Debug => log::LevelFilter::Debug,
            LogLevel::Trace => log::LevelFilter::Trace,
        }
    }
}

/// A value that must not be shown: printed, logged and serialized as `<redacted>`.
#[derive(Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    pub fn new(s: impl Into<String>) -> Secret {
        Secret(s.into())
    }

    /// The value, `None` when empty.
    pub fn expose(&self) -> Option<&str> {
        let t = self.0.trim();
        (!t.is_empty()).then_some(t)
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.expose().is_some() {
            "<redacted>"
        } else {
            "<unset>"
        })
    }
}

impl Serialize for Secret {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.serialize_str(if self.expose().is_some() {
            "<redacted>"
        } else {
            ""
        })
    }
}

/// A value the validator refused: the key (relative to its section until [`Invalid::within`])
/// and what is allowed.
#[derive(Debug, Clone, PartialEq)]
pub struct Invalid {
    pub key: String,
    pub msg: String,
}

impl Invalid {
    pub fn new(key: impl Into<String>, msg: impl Into<String>) -> Invalid {
        Invalid {
            key: key.into(),
            msg: msg.into(),
        }
    }

    /// Prefix the key with its section.
    pub fn within(self, section: &str) -> Invalid {
        Invalid {
            key: format!("{section}.{}", self.key),
            msg: self.msg,
        }
    }
}

/// `lo <= v <= hi`; NaN is never in range (every comparison with it is false).
pub fn in_range<T: PartialOrd + fmt::Display + Copy>(
    key: &str,
    v: T,
    lo: T,
    hi: T,
) -> std::result::Result<(), Invalid> {
    if lo <= v && v <= hi {
        Ok(())
    } else if v.partial_cmp(&v).is_none() {
        Err(Invalid::new(
            key,
            format!("must be a finite number between {lo} and {hi}, got NaN"),
        ))
    } else {
        Err(Invalid::new(
            key,
            format!("must be between {lo} and {hi}, got {v}"),
        ))
    }
}

/// `check_range!(self.field, lo, hi)`: [`in_range`] with the field's name as the key.
#[macro_export]
macro_rules! check_range {
    ($s:ident . $f:ident, $lo:expr, $hi:expr) => {
        $crate::config::in_range(stringify!($f), $s.$f, $lo, $hi)?
    };
}

/// `invalid!(self.field, msg)`: an [`Invalid`] keyed by the field's name.
#[macro_export]
macro_rules! invalid {
    ($s:ident . $f:ident, $msg:expr $(,)?) => {{
        let _ = &$s.$f;
        $crate::config::Invalid::new(stringify!($f), $msg)
    }};
}

impl Config {
    /// Read, parse and validate a config file.
    pub fn load(file: &Path) -> Result<Config> {
        let text = std::fs::read_to_string(file)
            .map_err(|e| Error::config(file, "-", format!("cannot read the file: {e}")))?;
        Config::parse(&text, file)
    }

    /// The documented defaults (no file), paths relative to the working directory.
    pub fn defaults() -> Config {
        Config::parse("", Path::new("defaults")).expect("the documented config is valid (tested)")
    }

    /// Parse and validate config text; `file` names it in errors and anchors relative paths.
    pub fn parse(text: &str, file: &Path) -> Result<Config> {
        let user: toml::Table = text
            .parse()
            .map_err(|e: toml::de::Error| syntax_error(file, text, &e))?;
        let mut merged: toml::Table = DOCUMENTED
            .parse()
            .expect("the documented config parses (tested)");
        overlay(&mut merged, user);
        let mut cfg: Config = serde_path_to_error::deserialize(toml::Value::Table(merged))
            .map_err(|e| {
                let key = e.path().to_string();
                Error::config(file, key, one_line(&e.inner().to_string()))
            })?;
        cfg.file = file.to_path_buf();
        cfg.resolve_paths(&paths::folder_of(file));
        cfg.validate()
            .map_err(|inv| Error::config(file, inv.key, inv.msg))?;
        Ok(cfg)
    }

    /// Check every value (after any command-line override).
    pub fn validate(&self) -> std::result::Result<(), Invalid> {
        self.source.validate().map_err(|e| e.within("source"))?;
        self.detector.validate().map_err(|e| e.within("detector"))?;
        self.steady.validate().map_err(|e| e.within("steady"))?;
        self.indicator
            .validate()
            .map_err(|e| e.within("indicator"))?;
        self.journal.validate().map_err(|e| e.within("journal"))?;
        self.web.validate().map_err(|e| e.within("web"))?;
        self.mqtt.validate().map_err(|e| e.within("mqtt"))?;
        if self.web.fleet && !self.mqtt.enabled {
            return Err(Invalid::new(
                "web.fleet",
                "needs [mqtt] enabled = true with the site's broker (the fleet page reads every kiosk from it)",
            ));
        }
        Ok(())
    }

    fn resolve_paths(&mut self, base: &Path) {
        for p in &mut self.source.replay {
            *p = resolve(base, p);
        }
        if !self.detector.model.as_os_str().is_empty() {
            self.detector.model = resolve(base, &self.detector.model);
        }
        if let ModelRef::File(p) = &mut self.classifier.model {
            *p = resolve(base, p);
        }
        self.journal.dir = resolve(base, &self.journal.dir);
        self.mqtt.resolve_paths(base);
    }

    /// The effective configuration as TOML (every key, defaults filled in, secrets redacted).
    pub fn to_toml(&self) -> String {
        toml::to_string_pretty(self).unwrap_or_else(|e| format!("# cannot print: {e}\n"))
    }
}

/// Lay `user` over `base`: tables merge key by key, any other value replaces.
fn overlay(base: &mut toml::Table, user: toml::Table) {
    for (k, v) in user {
        match (base.get_mut(&k), v) {
            (Some(toml::Value::Table(b)), toml::Value::Table(u)) => overlay(b, u),
            (_, v) => {
                base.insert(k, v);
            }
        }
    }
}

fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// A TOML syntax error, named by the key on the offending line (`section.key`) and the line.
fn syntax_error(file: &Path, text: &str, e: &toml::de::Error) -> Error {
    let at = e.span().map(|s| s.start).unwrap_or(0).min(text.len());
    let line_no = text[..at].matches('\n').count() + 1;
    let line = text.lines().nth(line_no - 1).unwrap_or("");
    let section = text[..at]
        .lines()
        .rev()
        .map(str::trim)
        .find(|l| l.starts_with('[') && l.ends_with(']'))
        .map(|l| l.trim_matches(|c| c == '[' || c == ']').trim().to_string());
    let key = match line.split_once('=') {
        Some((k, _)) if !k.trim().starts_with('#') => {
            let k = k.trim().trim_matches('"');
            match section {
                Some(s) => format!("{s}.{k}"),
                None => k.to_string(),
            }
        }
        _ => "-".to_string(),
    };
    Error::config(
        file,
        key,
        format!("line {line_no}: not valid TOML: {}", one_line(e.message())),
    )
}

#[cfg(test)]
mod tests;
