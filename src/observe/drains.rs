//! Drain records: since when lvs-converge has been draining a removed real server (weight 0,
//! waiting for its connections to end). Written by apply, read here.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::model::ipvs::{DestinationKey, ServiceKey};
use crate::rundir;

/// `"<service> → <real server>"` → Unix seconds when its drain started.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DrainRecords {
    pub since: BTreeMap<String, u64>,
}

pub fn record_key(service: &ServiceKey, destination: &DestinationKey) -> String {
    format!("{service} → {destination}")
}

/// The records of the current network namespace; none when the file is absent or unreadable
/// (a lost record only restarts a drain's clock).
pub fn read() -> DrainRecords {
    rundir::per_netns("drains", "json")
        .ok()
        .and_then(|path| std::fs::read_to_string(path).ok())
        .and_then(|text| serde_json::from_str(&text).ok())
        .unwrap_or_default()
}
