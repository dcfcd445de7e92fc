//! Paths in a config file are relative to the file's folder; they are resolved to absolute,
//! normalised paths (no `.` or `..`) so that logs and errors name the real place.

use std::fs::OpenOptions;
use std::io::Read;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Component, Path, PathBuf};

/// Largest config file read.
pub const MAX_CONFIG_BYTES: u64 = 1 << 20;
/// Largest model file read (the shipped ones are under 10 MB).
pub const MAX_MODEL_BYTES: u64 = 256 << 20;
/// Largest secret, certificate or key file read.
pub const MAX_SECRET_BYTES: u64 = 1 << 20;

/// Read a file a config key names: it must be a regular file (a FIFO, a device such as
/// `/dev/zero` or a folder is an error, never a hang or an endless read) of at most `max` bytes.
/// Opened non-blocking, so that opening a FIFO returns at once.
pub fn read_regular(path: &Path, max: u64) -> std::io::Result<Vec<u8>> {
    let f = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_CLOEXEC)
        .open(path)?;
    let meta = f.metadata()?;
    if !meta.is_file() {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            "not a regular file",
        ));
    }
    let too_big = || {
        std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("larger than the {} MB allowed", max.div_ceil(1 << 20)),
        )
    };
    if meta.len() > max {
        return Err(too_big());
    }
    let mut bytes = Vec::with_capacity(meta.len() as usize);
    f.take(max + 1).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > max {
        return Err(too_big());
    }
    Ok(bytes)
}

/// The absolute folder of a config file.
pub fn folder_of(file: &Path) -> PathBuf {
    let parent = match file.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let abs = std::path::absolute(parent).unwrap_or_else(|_| parent.to_path_buf());
    normalize(&abs)
}

/// `p` resolved against `base` (when relative) and normalised lexically.
pub fn resolve(base: &Path, p: &Path) -> PathBuf {
    if p.is_absolute() {
        normalize(p)
    } else {
        normalize(&base.join(p))
    }
}

fn normalize(p: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in p.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => {
                if !out.pop() {
                    out.push("..");
                }
            }
            other => out.push(other.as_os_str()),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolves_and_normalises() {
        let base = Path::new("/etc/moodkiosk/cfg");
        assert_eq!(
            resolve(base, Path::new("rel/../assets")),
            PathBuf::from("/etc/moodkiosk/cfg/assets")
        );
        assert_eq!(
            resolve(base, Path::new("../j")),
            PathBuf::from("/etc/moodkiosk/j")
        );
        assert_eq!(resolve(base, Path::new("/a/./b")), PathBuf::from("/a/b"));
        assert!(folder_of(Path::new("x.toml")).is_absolute());
    }

    #[test]
    fn only_regular_files_within_the_limit_are_read() {
        let d = tempfile::tempdir().unwrap();
        let small = d.path().join("small");
        std::fs::write(&small, b"0123456789").unwrap();
        assert_eq!(read_regular(&small, 10).unwrap(), b"0123456789");
        let e = read_regular(&small, 9).unwrap_err().to_string();
        assert!(e.contains("larger than the 1 MB allowed"), "{e}");
        let e = read_regular(Path::new("/dev/zero"), 10)
            .unwrap_err()
            .to_string();
        assert_eq!(e, "not a regular file");
        assert!(read_regular(d.path(), 10).is_err());
        let fifo = d.path().join("fifo");
        let ok = std::process::Command::new("mkfifo").arg(&fifo).status();
        assert!(ok.unwrap().success());
        assert_eq!(
            read_regular(&fifo, 10).unwrap_err().to_string(),
            "not a regular file",
            "a FIFO is refused at once, not waited on"
        );
    }
}
