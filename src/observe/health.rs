//! Health records: the verdicts of the agent running in this network namespace, which
//! `plan` and `apply` honour and `status` shows. Written by the agent, read here.
//!
//! Like drain records, a file lvs-converge cannot trust (an untrusted run directory, a
//! symlink, unparsable text) counts as absent: the worst a lost record does is let a manual
//! apply restore a weight until the agent's next run, while a planted one could drain a
//! healthy director. Records past their `valid_until` are from an agent that is gone and
//! count as absent too, so that nothing stays held by a verdict no one renews.

use crate::model::health::HealthRecords;
use crate::rundir::{self, RunDir};

/// The records file of the current network namespace, as found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FoundRecords {
    /// No agent wrote any (or they cannot be trusted or read).
    Absent,
    /// Their agent stopped renewing them: they hold nothing any more.
    Expired(HealthRecords),
    Current(HealthRecords),
}

impl FoundRecords {
    /// The records plan and apply honour: current ones only.
    pub fn current(self) -> Option<HealthRecords> {
        match self {
            FoundRecords::Current(records) => Some(records),
            FoundRecords::Absent | FoundRecords::Expired(_) => None,
        }
    }
}

/// The records file name of the current network namespace.
pub fn file_name() -> std::io::Result<String> {
    rundir::per_netns("health", "json")
}

/// The current records of this network namespace at `now` (Unix seconds), if any.
pub fn read(now: u64) -> Option<HealthRecords> {
    find(now).current()
}

/// The records of this network namespace as found at `now` (Unix seconds).
pub fn find(now: u64) -> FoundRecords {
    RunDir::existing().ok().flatten().map_or(FoundRecords::Absent, |run_dir| find_in(&run_dir, now))
}

/// The records in `run_dir` as found at `now` (Unix seconds).
pub fn find_in(run_dir: &RunDir, now: u64) -> FoundRecords {
    let records: Option<HealthRecords> = file_name().ok().and_then(|name| run_dir.read_json(&name));
    match records {
        None => FoundRecords::Absent,
        Some(records) if now > records.valid_until => FoundRecords::Expired(records),
        Some(records) => FoundRecords::Current(records),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::health::{HealthRecord, HealthStatus};

    fn records(valid_until: u64) -> HealthRecords {
        HealthRecords {
            agent_pid: 42,
            updated_at: 1_000,
            valid_until,
            servers: vec![HealthRecord {
                service: serde_json::from_str(r#"{"protocol":"tcp","address":"203.0.113.100","port":80}"#).unwrap(),
                destination: serde_json::from_str(r#"{"address":"198.51.100.21","port":80}"#).unwrap(),
                status: HealthStatus::Unhealthy,
                since: 990,
                last_check: Some(999),
                last_outcome: None,
                latency_ms: Some(3),
                weight: None,
            }],
        }
    }

    fn run_dir(name: &str) -> (std::path::PathBuf, RunDir) {
        let scratch = crate::rundir::tests::scratch(name);
        let run_dir = RunDir::create_at(&scratch.join("run")).unwrap();
        (scratch, run_dir)
    }

    #[test]
    fn current_records_are_read_and_expired_ones_hold_nothing() {
        let (scratch, run_dir) = run_dir("health-current");
        let written = records(1_090);
        run_dir.replace(&file_name().unwrap(), serde_json::to_string(&written).unwrap().as_bytes()).unwrap();
        assert_eq!(find_in(&run_dir, 1_090), FoundRecords::Current(written.clone()), "valid up to valid_until");
        assert_eq!(find_in(&run_dir, 1_091), FoundRecords::Expired(written.clone()));
        assert_eq!(find_in(&run_dir, 1_091).current(), None, "an agent that is gone holds nothing");
        std::fs::remove_dir_all(scratch).unwrap();
    }

    #[test]
    fn absent_unparsable_or_symlinked_records_are_absent() {
        let (scratch, run_dir) = run_dir("health-absent");
        let name = file_name().unwrap();
        assert_eq!(find_in(&run_dir, 0), FoundRecords::Absent);
        run_dir.replace(&name, b"{ not json").unwrap();
        assert_eq!(find_in(&run_dir, 0), FoundRecords::Absent);
        std::fs::remove_file(run_dir.path().join(&name)).unwrap();
        let planted = scratch.join("planted.json");
        std::fs::write(&planted, serde_json::to_string(&records(u64::MAX)).unwrap()).unwrap();
        std::os::unix::fs::symlink(&planted, run_dir.path().join(&name)).unwrap();
        assert_eq!(find_in(&run_dir, 0), FoundRecords::Absent, "a planted symlink is never followed");
        std::fs::remove_dir_all(scratch).unwrap();
    }
}
