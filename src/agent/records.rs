//! The health records file, /run/lvs-converge/health-netns-<inode>.json: the agent writes
//! it (atomically: a reader sees the old file or the new one, never half of one), and
//! `plan`, `apply` and `status` read it.
//!
//! On SIGTERM the file stays: a restart under systemd (or an upgrade) must not put a dead
//! real server's weight back for the seconds until the new agent's first verdict. It lapses
//! by itself at `valid_until`, after which readers treat the agent as gone.

use std::time::Duration;

/// The records file's name in the run directory, for this network namespace: the one its
/// readers look for.
pub use crate::observe::health::file_name;

/// How long a converge run may take before the records written ahead of it lapse: runs
/// never wait for the lock or for drains, so one that takes longer is stuck.
pub const RUN_ALLOWANCE: Duration = Duration::from_secs(60);

/// Until when the records written `now` stand. A live agent writes them before every run,
/// the next run starting up to 1.1 converge intervals (jitter) after this one ended; two
/// of those and a run's allowance, plus three of the longest check interval (a verdict can
/// be that old and still current), so a live agent always rewrites them before they lapse,
/// and a dead one's lapse soon after it died.
pub fn valid_until(now: u64, longest_check: Duration, converge_interval: Duration) -> u64 {
    let longest_wait = converge_interval.saturating_add(converge_interval / 10);
    let lasting =
        longest_wait.saturating_mul(2).saturating_add(RUN_ALLOWANCE).saturating_add(longest_check.saturating_mul(3));
    // Rounded up: records must never lapse before a live agent's next write.
    now.saturating_add(lasting.as_secs() + u64::from(lasting.subsec_nanos() > 0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_outlast_two_jittered_intervals_a_run_and_three_checks() {
        let two_s = Duration::from_secs(2);
        assert_eq!(valid_until(1000, two_s, Duration::from_secs(30)), 1000 + 66 + 60 + 6);
        assert_eq!(
            valid_until(1000, Duration::from_millis(500), Duration::from_secs(30)),
            1000 + 66 + 60 + 2,
            "rounded up"
        );
        assert_eq!(valid_until(u64::MAX - 1, two_s, two_s), u64::MAX, "never wraps");
    }

    #[test]
    fn records_outlast_the_next_write_at_maximum_jitter() {
        for interval in [Duration::from_secs(1), Duration::from_secs(30), Duration::from_secs(600)] {
            let now = 1_000_000;
            // Written before a run that takes all its allowance, the next run started at
            // the longest jittered interval after it: that write comes after this one by
            let next_write = RUN_ALLOWANCE + crate::agent::run::jittered(interval, u64::MAX);
            // and the verdicts it renews can be three check intervals old.
            let needed = next_write + Duration::from_secs(3 * 5);
            let until = valid_until(now, Duration::from_secs(5), interval);
            assert!(until >= now + needed.as_secs(), "{interval:?}: lapses at {until}, next write at +{needed:?}");
        }
    }
}
