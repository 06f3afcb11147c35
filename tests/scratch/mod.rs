//! A directory of its own for one test, removed when the test ends (passed or not).

// Each test binary that includes this module uses only part of it.
#![allow(dead_code)]

use std::path::PathBuf;

pub struct Scratch(PathBuf);

impl Scratch {
    /// `$TMPDIR/lvs-converge-<suite>-<name>-<pid>`, emptied first (a pid can come again).
    pub fn new(suite: &str, name: &str) -> Scratch {
        let dir = std::env::temp_dir().join(format!("lvs-converge-{suite}-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("scratch directory");
        Scratch(dir)
    }

    pub fn dir(&self) -> &std::path::Path {
        &self.0
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
