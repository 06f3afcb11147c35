//! Kernel modules: missing ones are loaded, loaded ones are never unloaded (something else
//! may use them).

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use super::compare::{each_difference, HostDifference};
use super::Change;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "change", rename_all = "camelCase")]
pub enum ModuleChange {
    Load { name: String },
}

pub fn diff(desired: &BTreeSet<String>, observed: &BTreeSet<String>) -> Vec<ModuleChange> {
    desired.difference(observed).map(|name| ModuleChange::Load { name: name.clone() }).collect()
}

/// Modules that appeared (as the load that would have made them) or were unloaded.
pub fn compare(before: &BTreeSet<String>, after: &BTreeSet<String>) -> Vec<HostDifference> {
    let listed = |modules: &BTreeSet<String>| modules.iter().map(|m| (m.clone(), ())).collect::<BTreeMap<_, _>>();
    each_difference(&listed(before), &listed(after), |name, old, _| match old {
        None => vec![HostDifference::Changed(Change::Module(ModuleChange::Load { name: name.clone() }))],
        Some(()) => vec![HostDifference::ModuleUnloaded(name.clone())],
    })
}
