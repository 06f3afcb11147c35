//! Sysctls: each declared key is set to its value; undeclared keys are not looked at.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::compare::{each_difference, HostDifference};
use super::Change;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "change", rename_all = "camelCase")]
pub enum SysctlChange {
    /// `before` is None when the key does not exist yet (its interface is created by an
    /// earlier change of the same plan).
    Set { key: String, before: Option<String>, after: String },
}

/// The kernel separates multi-value sysctls with tabs; people write spaces.
pub fn normalize(value: &str) -> String {
    value.split_whitespace().collect::<Vec<_>>().join(" ")
}

pub fn diff(desired: &BTreeMap<String, String>, observed: &BTreeMap<String, String>) -> Vec<SysctlChange> {
    desired
        .iter()
        .filter_map(|(key, want)| {
            let have = observed.get(key);
            (have.map(|v| normalize(v)) != Some(normalize(want))).then(|| SysctlChange::Set {
                key: key.clone(),
                before: have.cloned(),
                after: want.clone(),
            })
        })
        .collect()
}

/// Values that changed or appeared (as the set that would have made them), keys that went away.
pub fn compare(before: &BTreeMap<String, String>, after: &BTreeMap<String, String>) -> Vec<HostDifference> {
    each_difference(before, after, |key, old, new| match new {
        Some(after) => vec![HostDifference::Changed(Change::Sysctl(SysctlChange::Set {
            key: key.clone(),
            before: old.cloned(),
            after: after.clone(),
        }))],
        None => vec![HostDifference::SysctlGone(key.clone())],
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn whitespace_differences_are_not_drift() {
        let desired = BTreeMap::from([("net.ipv4.ip_local_port_range".to_string(), "1024 65000".to_string())]);
        let observed = BTreeMap::from([("net.ipv4.ip_local_port_range".to_string(), "1024\t65000".to_string())]);
        assert!(diff(&desired, &observed).is_empty());
    }

    #[test]
    fn missing_and_different_keys_are_set() {
        let desired = BTreeMap::from([
            ("net.ipv4.conf.all.arp_ignore".to_string(), "1".to_string()),
            ("net.ipv4.conf.tunl0.rp_filter".to_string(), "0".to_string()),
        ]);
        let observed = BTreeMap::from([("net.ipv4.conf.all.arp_ignore".to_string(), "0".to_string())]);
        let changes = diff(&desired, &observed);
        assert_eq!(changes.len(), 2);
        assert!(matches!(&changes[1], SysctlChange::Set { before: None, .. }));
    }
}
