//! Kernel modules: missing ones are loaded, loaded ones are never unloaded (something else
//! may use them).

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "change", rename_all = "camelCase")]
pub enum ModuleChange {
    Load { name: String },
}

pub fn diff(desired: &BTreeSet<String>, observed: &BTreeSet<String>) -> Vec<ModuleChange> {
    desired.difference(observed).map(|name| ModuleChange::Load { name: name.clone() }).collect()
}
