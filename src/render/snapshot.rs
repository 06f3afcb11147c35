//! `show`'s output: the observed state as a snapshot document that `plan --observed` and
//! `check --observed` read back.

use crate::model::HostState;
use crate::observe::snapshot::Snapshot;

/// How `show` writes the snapshot; both are read back alike (JSON is YAML).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SnapshotFormat {
    Yaml,
    Json,
}

/// The whole document. Ends with a newline.
pub fn snapshot(state: HostState, format: SnapshotFormat) -> String {
    let snapshot = Snapshot::new(state);
    match format {
        SnapshotFormat::Yaml => serde_yaml::to_string(&snapshot).expect("state serializes"),
        SnapshotFormat::Json => serde_json::to_string_pretty(&snapshot).expect("state serializes") + "\n",
    }
}
