//! The MQTT publisher's cursor in the journal folder: the last visitor `seq` the broker
//! acknowledged (decimal text). The journal also reads it, so that numbering never goes back,
//! even after every day file was removed.

use std::fs::{self, File};
use std::io::Write;
use std::path::Path;

/// The cursor file in the journal folder.
pub const CURSOR_FILE: &str = ".mqtt-cursor";

/// The cursor's value; `None` when there is none (or it does not parse).
pub fn read_cursor(dir: &Path) -> Option<u64> {
    fs::read_to_string(dir.join(CURSOR_FILE))
        .ok()?
        .trim()
        .parse()
        .ok()
}

/// Write the cursor atomically (a temporary file renamed over it).
pub fn save_cursor(dir: &Path, seq: u64) -> std::io::Result<()> {
    let tmp = dir.join(format!("{CURSOR_FILE}.tmp"));
    {
        let mut f = File::create(&tmp)?;
        writeln!(f, "{seq}")?;
        f.sync_all()?;
    }
    fs::rename(&tmp, dir.join(CURSOR_FILE))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cursor_round_trips() {
        let d = tempfile::tempdir().unwrap();
        assert_eq!(read_cursor(d.path()), None);
        save_cursor(d.path(), 41).unwrap();
        save_cursor(d.path(), 42).unwrap();
        assert_eq!(read_cursor(d.path()), Some(42));
    }
}
