//! Helpers shared by the unit tests of several modules.

use std::path::PathBuf;

/// A fresh, empty directory for one test: `lvs-converge-<area>-<pid>-<name>` under the
/// system's temporary directory, emptied first if an earlier run left it behind.
pub fn scratch_dir(area: &str, name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("lvs-converge-{area}-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}
