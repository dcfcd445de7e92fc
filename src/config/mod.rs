//! The TOML config file as types. Each section is the settings struct of the module it tunes
//! ([`SourceSettings`], [`DetectorSettings`], ...): one typed field per key, enum-like values as
//! serde enums, unknown keys refused by serde (`deny_unknown_fields`, which names the allowed
//! ones). The defaults are the documented file itself, `config/moodkiosk.toml`, compiled in:
//! a user's file is laid over it, so every key is written once in Rust (its field) and once in
//! its documentation. Values are then checked by one validator ([`Config::validate`]), used for
//! file values and command-line overrides alike; every float must be finite and in range.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

pub use crate::classifier::{ClassifierSettings, ModelRef};
pub use crate::face::{DetectorKind, DetectorSettings};
pub use crate::indicator::{IndicatorKind, IndicatorSettings};
pub use crate::journal::{FsyncPolicy, JournalSettings};
pub use crate::mqtt::MqttSettings;
use crate::settings::paths;
pub use crate::settings::{in_range, resolve, Invalid, Secret};
pub use crate::source::{PixelFormat, SourceKind, SourceSettings};
pub use crate::tracker::SteadySettings;
pub use crate::web::WebSettings;

use crate::error::{Error, Result};

pub use crate::settings::DOCUMENTED;

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

impl Config {
    /// Read, parse and validate a config file.
    pub fn load(file: &Path) -> Result<Config> {
        let bytes = paths::read_regular(file, paths::MAX_CONFIG_BYTES)
            .map_err(|e| Error::config(file, "-", format!("cannot read the file: {e}")))?;
        let text = String::from_utf8(bytes)
            .map_err(|_| Error::config(file, "-", "not UTF-8 text: a config file is TOML"))?;
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
    let header = line.trim();
    let table = (header.starts_with('[') && header.ends_with(']')).then(|| {
        header
            .trim_matches(|c| c == '[' || c == ']')
            .trim()
            .to_string()
    });
    let key = match (&table, line.split_once('=')) {
        (Some(t), _) => t.clone(),
        (None, Some((k, _))) if !k.trim().starts_with('#') => {
            let k = k.trim().trim_matches('"');
            match section {
                Some(s) => format!("{s}.{k}"),
                None => k.to_string(),
            }
        }
        _ => "-".to_string(),
    };
    let what = one_line(e.message());
    let msg = match (&table, what.contains("duplicate key")) {
        (Some(t), true) => format!(
            "line {line_no}: the table [{t}] appears twice; put all its keys under one [{t}]"
        ),
        (None, true) => format!("line {line_no}: {key} is set twice; keep one"),
        _ => format!("line {line_no}: not valid TOML: {what}"),
    };
    Error::config(file, key, msg)
}

#[cfg(test)]
mod tests;
