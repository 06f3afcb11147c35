//! The health records file, /run/lvs-converge/health-netns-<inode>.json: the agent writes
//! it (atomically: a reader sees the old file or the new one, never half of one), and
//! `plan`, `apply` and `status` read it.
//!
//! On SIGTERM the file stays: a restart under systemd (or an upgrade) must not put a dead
//! real server's weight back for the seconds until the new agent's first verdict. It lapses
//! by itself at `valid_until`, after which readers treat the agent as gone.

use std::time::Duration;

use serde::Serialize;

use crate::rundir::RunDir;

/// The records file's name in the run directory, for this network namespace: the one its
/// readers look for.
pub use crate::observe::health::file_name;

/// Until when the records written `now` stand: three of the longest check interval (a
/// verdict can be that old and still current) plus a converge interval, so a live agent
/// always rewrites them before they lapse, and a dead one's lapse soon after it died.
pub fn valid_until(now: u64, longest_check: Duration, converge_interval: Duration) -> u64 {
    let lasting = longest_check.saturating_mul(3).saturating_add(converge_interval);
    // Rounded up: records must never lapse before a live agent's next write.
    now.saturating_add(lasting.as_secs() + u64::from(lasting.subsec_nanos() > 0))
}

/// Replaces the records file with `records`, atomically.
pub fn write(run_dir: &RunDir, name: &str, records: &impl Serialize) -> std::io::Result<()> {
    let mut text = serde_json::to_string_pretty(records).map_err(std::io::Error::other)?;
    text.push('\n');
    run_dir.replace(name, text.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_outlast_three_checks_and_a_converge_interval() {
        let two_s = Duration::from_secs(2);
        assert_eq!(valid_until(1000, two_s, Duration::from_secs(30)), 1036);
        assert_eq!(valid_until(1000, Duration::from_millis(500), Duration::from_secs(30)), 1032, "rounded up");
        assert_eq!(valid_until(u64::MAX - 1, two_s, two_s), u64::MAX, "never wraps");
    }

    #[test]
    fn the_file_is_replaced_whole() {
        let scratch = crate::test_support::scratch_dir("records", "replace");
        let run_dir = RunDir::create_at(&scratch.join("run")).unwrap();
        write(&run_dir, "health.json", &serde_json::json!({"servers": [1]})).unwrap();
        write(&run_dir, "health.json", &serde_json::json!({"servers": [2]})).unwrap();
        let read: serde_json::Value = serde_json::from_str(&run_dir.read("health.json").unwrap()).unwrap();
        assert_eq!(read, serde_json::json!({"servers": [2]}));
        assert!(run_dir.read("health.json.tmp").is_err(), "no temporary file left");
        std::fs::remove_dir_all(scratch).unwrap();
    }
}
