//! Typed errors of the library. Every variant names what failed and, where one exists, the fix.

use std::path::PathBuf;

/// Result alias used across the crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong in moodkiosk, by cause.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The config file is unreadable, is not TOML, or holds a bad key or value.
    #[error("config {file}: {key}: {msg}")]
    Config {
        /// The config file.
        file: PathBuf,
        /// Dotted key path, e.g. `detector.min_face_size` (`-` when the whole file is at fault).
        key: String,
        /// What is wrong and what is allowed.
        msg: String,
    },
    /// The classifier or detector model is missing, corrupt or has the wrong shape.
    #[error("model {path}: {msg}")]
    Model {
        /// The model file (or `builtin`).
        path: PathBuf,
        /// What is wrong.
        msg: String,
        /// The underlying error, when there is one (a read that failed).
        #[source]
        source: Option<std::io::Error>,
    },
    /// The camera could not be opened or read.
    #[error("camera {device}: {msg}")]
    Camera {
        /// Device path or replay source.
        device: String,
        /// What failed.
        msg: String,
    },
    /// The GPIO lines could not be opened or driven.
    #[error("GPIO: {what}")]
    Gpio {
        /// What could not be done, and the fix.
        what: String,
        /// rppal's error, when it gave one.
        #[source]
        source: Option<rppal::gpio::Error>,
    },
    /// An image could not be read or decoded.
    #[error("image {name}: {msg}")]
    Image {
        /// File name or `upload`.
        name: String,
        /// What is wrong.
        msg: String,
    },
    /// The web server could not listen.
    #[error("web.bind {addr}: cannot listen (choose another address in web.bind, or set web.enabled = false)")]
    Listen {
        addr: std::net::SocketAddr,
        source: std::io::Error,
    },
    /// The mood journal could not be written (`journal.dir`).
    #[error("journal.dir {path}")]
    Journal {
        /// The journal file or folder.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// Another process holds the journal folder.
    #[error("journal {dir} is in use by {who}; stop it, or give this one another journal.dir")]
    JournalInUse {
        /// The journal folder.
        dir: PathBuf,
        /// Who holds it, with its pid when known.
        who: String,
    },
    /// A data set for `eval` is missing or malformed.
    #[error("data {path}: {msg}")]
    Data {
        /// The data folder or file.
        path: PathBuf,
        /// What is wrong.
        msg: String,
    },
    /// Any other I/O failure.
    #[error("{context}")]
    Io {
        /// What was being done.
        context: String,
        /// The I/O error.
        source: std::io::Error,
    },
}

impl Error {
    /// Shorthand for a [`Error::Config`] error.
    pub fn config(
        file: impl Into<PathBuf>,
        key: impl Into<String>,
        msg: impl Into<String>,
    ) -> Self {
        Error::Config {
            file: file.into(),
            key: key.into(),
            msg: msg.into(),
        }
    }

    /// Shorthand for a [`Error::Model`] error.
    pub fn model(path: impl Into<PathBuf>, msg: impl std::fmt::Display) -> Self {
        Error::Model {
            path: path.into(),
            msg: msg.to_string(),
            source: None,
        }
    }

    /// A model file named by config `key` could not be read: "file not found", or the I/O
    /// error as the source.
    pub fn model_read(path: impl Into<PathBuf>, key: &str, source: std::io::Error) -> Self {
        match source.kind() {
            std::io::ErrorKind::NotFound => Error::model(path, format!("file not found ({key})")),
            _ => Error::Model {
                path: path.into(),
                msg: format!("cannot read ({key})"),
                source: Some(source),
            },
        }
    }

    /// Shorthand for an [`Error::Io`] error.
    pub fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        Error::Io {
            context: context.into(),
            source,
        }
    }
}

/// An error and its causes on one line, `outer: cause: cause` (for log lines; `main` prints the
/// same chain for errors that end the program).
pub fn chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut next = e.source();
    while let Some(cause) = next {
        out.push_str(": ");
        out.push_str(&cause.to_string());
        next = cause.source();
    }
    out
}
