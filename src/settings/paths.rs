//! Paths in a config file are relative to the file's folder; they are resolved to absolute,
//! normalised paths (no `.` or `..`) so that logs and errors name the real place.

use std::path::{Component, Path, PathBuf};

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
}
