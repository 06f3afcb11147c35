//! Writing the drain records that `observe::drains` reads: one file per network namespace
//! under /run, replaced atomically through the checked run directory.

use crate::model::ipvs::{DestinationKey, ServiceKey};
use crate::observe::drains::{self, record_key, DrainRecords};
use crate::rundir::{self, RunDir};

/// Keeps a record for exactly the real servers in `draining`: known ones keep their start
/// time, new ones start now.
pub fn remember(draining: &[(ServiceKey, DestinationKey)]) -> Result<(), String> {
    let run_dir = RunDir::create().map_err(|e| format!("writing drain records: {e}"))?;
    remember_in(&run_dir, draining)
}

fn remember_in(run_dir: &RunDir, draining: &[(ServiceKey, DestinationKey)]) -> Result<(), String> {
    let old = drains::read_in(run_dir);
    let now = rundir::unix_now();
    let records = DrainRecords {
        since: draining
            .iter()
            .map(|(service, destination)| {
                let key = record_key(service, destination);
                let since = old.since.get(&key).copied().unwrap_or(now);
                (key, since)
            })
            .collect(),
    };
    if records == old {
        return Ok(());
    }
    let name = rundir::per_netns("drains", "json").map_err(|e| format!("naming the drain records: {e}"))?;
    run_dir
        .replace_json(&name, &records)
        .map_err(|e| format!("writing drain records {}: {e}", run_dir.path().join(&name).display()))
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::MetadataExt;

    use super::*;
    use crate::model::ipvs::Protocol;
    use crate::rundir::tests::scratch;

    #[test]
    fn the_record_is_written_0600_and_never_through_a_planted_symlink() {
        let scratch = scratch("drains");
        let run = scratch.join("run");
        let run_dir = RunDir::create_at(&run).unwrap();
        let name = rundir::per_netns("drains", "json").unwrap();
        std::fs::write(scratch.join("victim"), "victim\n").unwrap();
        std::os::unix::fs::symlink(scratch.join("victim"), run.join(format!("{name}.tmp"))).unwrap();
        let service =
            ServiceKey::Address { protocol: Protocol::Tcp, address: "203.0.113.100".parse().unwrap(), port: 80 };
        let destination = DestinationKey { address: "192.0.2.11".parse().unwrap(), port: 80 };
        remember_in(&run_dir, &[(service, destination)]).unwrap();
        assert_eq!(std::fs::read_to_string(scratch.join("victim")).unwrap(), "victim\n");
        assert!(drains::read_in(&run_dir).since.contains_key(&record_key(&service, &destination)));
        assert_eq!(std::fs::symlink_metadata(run.join(&name)).unwrap().mode() & 0o7777, 0o600);
        std::fs::remove_dir_all(scratch).unwrap();
    }
}
