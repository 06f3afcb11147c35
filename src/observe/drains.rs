//! Drain records: since when lvs-converge has been draining a removed real server (weight 0,
//! waiting for its connections to end). Written by apply, read here.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::model::ipvs::{DestinationKey, ServiceKey};
use crate::rundir::{self, RunDir};

/// `"<service> → <real server>"` → Unix seconds when its drain started.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DrainRecords {
    pub since: BTreeMap<String, u64>,
}

pub fn record_key(service: &ServiceKey, destination: &DestinationKey) -> String {
    format!("{service} → {destination}")
}

/// The records of the current network namespace; none when the file is absent or unreadable,
/// or when the run directory is not one lvs-converge can trust (a lost record only restarts
/// a drain's clock; a planted one could end a drain early).
pub fn read() -> DrainRecords {
    RunDir::existing().ok().flatten().map(|run_dir| read_in(&run_dir)).unwrap_or_default()
}

pub(crate) fn read_in(run_dir: &RunDir) -> DrainRecords {
    rundir::per_netns("drains", "json").ok().and_then(|name| run_dir.read_json(&name)).unwrap_or_default()
}
