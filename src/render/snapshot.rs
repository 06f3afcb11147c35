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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::observe::snapshot;

    #[test]
    fn what_show_prints_plan_observed_reads_back_as_the_same_state() {
        let fixtures = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/cases");
        let state = snapshot::read(&fixtures.join("update_service/observed.yaml")).unwrap();
        assert!(!state.ipvs.services.is_empty(), "a fixture with something in it");
        let directory = crate::test_support::scratch_dir("render", "snapshot");
        for (format, name, head) in [
            (SnapshotFormat::Yaml, "show.yaml", "apiVersion: lvs-converge/v1\nkind: ObservedState\nstate:\n"),
            (
                SnapshotFormat::Json,
                "show.json",
                "{\n  \"apiVersion\": \"lvs-converge/v1\",\n  \"kind\": \"ObservedState\",\n",
            ),
        ] {
            let text = super::snapshot(state.clone(), format);
            assert!(text.starts_with(head) && text.ends_with('\n'), "{format:?}:\n{text}");
            std::fs::write(directory.join(name), &text).unwrap();
            assert_eq!(snapshot::read(&directory.join(name)).unwrap(), state, "{format:?}");
        }
        std::fs::remove_dir_all(directory).unwrap();
    }
}
