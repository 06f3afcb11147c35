//! Observed state on disk, so a plan can be reviewed (in CI, without root) against the last
//! captured state of a host.

use std::path::Path;

use serde::{Deserialize, Serialize};

use super::ObserveError;
use crate::model::HostState;
use crate::model::API_VERSION;

const KIND: &str = "ObservedState";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Snapshot {
    pub api_version: String,
    pub kind: String,
    pub state: HostState,
}

impl Snapshot {
    pub fn new(state: HostState) -> Self {
        Snapshot { api_version: API_VERSION.into(), kind: KIND.into(), state }
    }
}

/// Reads a snapshot written as YAML or JSON (JSON is YAML).
pub fn read(path: &Path) -> Result<HostState, ObserveError> {
    let fail = |message: String| ObserveError::Snapshot { path: path.display().to_string(), message };
    let text = std::fs::read_to_string(path).map_err(|e| fail(e.to_string()))?;
    let snapshot: Snapshot = serde_yaml::from_str(&text).map_err(|e| fail(e.to_string()))?;
    if snapshot.kind != KIND || snapshot.api_version != API_VERSION {
        return Err(fail(format!(
            "expected `apiVersion: {API_VERSION}` and `kind: {KIND}`, found `{}` / `{}`",
            snapshot.api_version, snapshot.kind
        )));
    }
    Ok(snapshot.state)
}

/// Whether a snapshot from `show` read everything a live apply of `desired` reads: `show`
/// reads no persistence files and only the LVS sysctls, so a plan saved from a snapshot of
/// anything more would be stale on every host.
pub fn covers(snapshot: &HostState, desired: &HostState) -> Result<(), String> {
    if let Some(path) = desired.files.keys().next() {
        return Err(format!("persistence files (such as {})", path.display()));
    }
    let read = super::sysctl::default_keys(snapshot.links.keys().cloned());
    match desired.sysctls.keys().find(|key| !read.contains(*key) && !snapshot.sysctls.contains_key(*key)) {
        Some(key) => Err(format!("sysctl {key}")),
        None => Ok(()),
    }
}
