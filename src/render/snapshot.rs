//! `show`'s output: the observed state as a snapshot document that `plan --observed` and
//! `check --observed` read back.

use serde::Serialize;

use crate::model::health::is_health_service;
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
    let has_hidden = state.ipvs.services.keys().any(is_health_service);
    let snapshot = Snapshot::new(state);
    if has_hidden {
        return write(&labelled(&snapshot), format);
    }
    write(&snapshot, format)
}

fn write(document: &impl Serialize, format: SnapshotFormat) -> String {
    match format {
        SnapshotFormat::Yaml => serde_yaml::to_string(document).expect("state serializes"),
        SnapshotFormat::Json => serde_json::to_string_pretty(document).expect("state serializes") + "\n",
    }
}

/// The key that marks a hidden service in `show`'s output. Reading a snapshot back ignores it
/// (a service's fields are not closed), so the document stays one `plan --observed` reads.
pub const HIDDEN_LABEL_KEY: &str = "hidden";
/// What it says of the services health checks travel through the tunnel.
pub const HIDDEN_LABEL: &str = "health checks through the tunnel (lvs-converge agent)";

/// The snapshot with each hidden health-check service labelled first thing in its entry:
/// nobody declared them, and a mark such as 1280704513 means nothing to a reader.
fn labelled(snapshot: &Snapshot) -> serde_yaml::Value {
    let mut document = serde_yaml::to_value(snapshot).expect("state serializes");
    let services = document
        .get_mut("state")
        .and_then(|state| state.get_mut("ipvs"))
        .and_then(|ipvs| ipvs.get_mut("services"))
        .and_then(serde_yaml::Value::as_sequence_mut);
    for service in services.into_iter().flatten() {
        let hidden = service
            .get("fwmark")
            .and_then(serde_yaml::Value::as_u64)
            .is_some_and(|mark| u32::try_from(mark).is_ok_and(crate::model::health::is_health_mark));
        if let (true, Some(fields)) = (hidden, service.as_mapping()) {
            let mut with_label = serde_yaml::Mapping::new();
            with_label.insert(HIDDEN_LABEL_KEY.into(), HIDDEN_LABEL.into());
            with_label.extend(fields.clone());
            *service = serde_yaml::Value::Mapping(with_label);
        }
    }
    document
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

    #[test]
    fn show_labels_hidden_health_check_services_and_reads_back_the_same_state() {
        use crate::model::health::HEALTH_MARK_FIRST;
        use crate::model::ipvs::{Destination, Family, Scheduler, Service, ServiceKey, ServiceSettings};
        use crate::model::keyed::Keyed;
        let hidden_key = ServiceKey::FirewallMark { fwmark: HEALTH_MARK_FIRST + 1, family: Family::Ipv4 };
        let stranger_key = ServiceKey::FirewallMark { fwmark: 7, family: Family::Ipv4 };
        let service = |key| Service {
            key,
            settings: ServiceSettings {
                scheduler: Scheduler::Rr,
                scheduler_flags: vec![],
                persistence: None,
                one_packet: false,
            },
            destinations: [Destination::tunnelled("198.51.100.11", Default::default())]
                .into_iter()
                .map(|d| (d.key(), d))
                .collect(),
        };
        let mut state = HostState::default();
        state.ipvs.services.insert(hidden_key, service(hidden_key));
        state.ipvs.services.insert(stranger_key, service(stranger_key));
        let directory = crate::test_support::scratch_dir("render", "snapshot-hidden");
        for (format, name) in [(SnapshotFormat::Yaml, "show.yaml"), (SnapshotFormat::Json, "show.json")] {
            let text = super::snapshot(state.clone(), format);
            assert_eq!(text.matches(HIDDEN_LABEL).count(), 1, "only the hidden service, {format:?}:\n{text}");
            let label = text.find(HIDDEN_LABEL).unwrap();
            let hidden_mark = text.find(&(HEALTH_MARK_FIRST + 1).to_string()).unwrap();
            assert!(label < hidden_mark, "the label comes first in its entry:\n{text}");
            assert!(text.ends_with('\n'));
            std::fs::write(directory.join(name), &text).unwrap();
            assert_eq!(snapshot::read(&directory.join(name)).unwrap(), state, "{format:?}");
        }
        std::fs::remove_dir_all(directory).unwrap();
        // Without hidden services, show's output is what it always was.
        state.ipvs.services.remove(&hidden_key);
        let plain = Snapshot::new(state.clone());
        assert_eq!(super::snapshot(state, SnapshotFormat::Yaml), serde_yaml::to_string(&plain).unwrap());
    }
}
