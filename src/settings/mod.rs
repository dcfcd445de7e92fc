//! What every settings struct needs, and nothing else: the refusal type [`Invalid`], the range
//! check ([`in_range`], [`check_range!`], [`invalid!`]), [`Secret`] values and path resolution.
//! A leaf module: each module's settings type imports it; `config` assembles the
//! sections and is imported by none of them.

pub mod paths;

use std::fmt;

use serde::{Deserialize, Serialize};

pub use paths::resolve;

/// The documented config file: every key with its default value.
pub const DOCUMENTED: &str = include_str!("../../config/moodkiosk.toml");

/// One section of the documented file as its settings type (the defaults of that section, paths
/// as written): what unit tests of a module start from.
pub fn documented<T: serde::de::DeserializeOwned>(section: &str) -> T {
    let file: toml::Table = DOCUMENTED
        .parse()
        .expect("the documented config parses (tested)");
    let table = file
        .get(section)
        .cloned()
        .unwrap_or(toml::Value::Table(Default::default()));
    table
        .try_into()
        .expect("the documented section matches its type (tested)")
}

/// The machine's host name, lower case.
pub fn machine_name() -> Option<String> {
    let mut buf = [0u8; 256];
    // SAFETY: gethostname writes at most buf.len() bytes into our buffer.
    let rc = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) };
    if rc != 0 {
        return None;
    }
    let end = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
    Some(String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase()).filter(|s| !s.is_empty())
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
        $crate::settings::in_range(stringify!($f), $s.$f, $lo, $hi)?
    };
}

/// `invalid!(self.field, msg)`: an [`Invalid`] keyed by the field's name.
#[macro_export]
macro_rules! invalid {
    ($s:ident . $f:ident, $msg:expr $(,)?) => {{
        let _ = &$s.$f;
        $crate::settings::Invalid::new(stringify!($f), $msg)
    }};
}
