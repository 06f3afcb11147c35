//! Writing the drain records that `observe::drains` reads: one file per network namespace
//! under /run, replaced atomically.

use crate::model::ipvs::{DestinationKey, ServiceKey};
use crate::observe::drains::{self, record_key, DrainRecords};
use crate::rundir;

/// Keeps a record for exactly the real servers in `draining`: known ones keep their start
/// time, new ones start now.
pub fn remember(draining: &[(ServiceKey, DestinationKey)]) -> Result<(), String> {
    let old = drains::read();
    let now = crate::rundir::unix_now();
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
    let path = rundir::per_netns("drains", "json").map_err(|e| format!("naming the drain records: {e}"))?;
    let fail = |e: std::io::Error| format!("writing drain records {}: {e}", path.display());
    std::fs::create_dir_all(rundir::RUN_DIR).map_err(fail)?;
    let temporary = path.with_extension("json.tmp");
    std::fs::write(&temporary, serde_json::to_string_pretty(&records).expect("records serialize")).map_err(fail)?;
    std::fs::rename(&temporary, &path).map_err(fail)
}
