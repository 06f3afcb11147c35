//! Diffing interface addresses. The kernel cannot relabel an address, so a new label is a
//! delete followed by a create.

use serde::{Deserialize, Serialize};

use super::compare::{each_difference, HostDifference};
use super::Change;

use crate::model::addresses::Address;
use crate::model::keyed::KeyedMap;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "change", rename_all = "camelCase")]
pub enum AddressChange {
    Create { after: Address },
    Delete { before: Address },
}

impl AddressChange {
    pub fn address(&self) -> &Address {
        match self {
            AddressChange::Create { after } => after,
            AddressChange::Delete { before } => before,
        }
    }
}

/// Declared addresses against the host's. Only declared addresses change; a declared address
/// with another label is replaced (delete, then create).
pub fn diff(desired: &KeyedMap<Address>, observed: &KeyedMap<Address>) -> (Vec<AddressChange>, Vec<AddressChange>) {
    let mut creates = Vec::new();
    let mut deletes = Vec::new();
    for (key, want) in desired {
        match observed.get(key) {
            None => creates.push(AddressChange::Create { after: want.clone() }),
            Some(have) if have.effective_label() != want.effective_label() => {
                deletes.push(AddressChange::Delete { before: have.clone() });
                creates.push(AddressChange::Create { after: want.clone() });
            }
            Some(_) => {}
        }
    }
    (creates, deletes)
}

/// Addresses that appeared, went away or were relabeled in place (no plan relabels: it
/// replaces).
pub fn compare(before: &KeyedMap<Address>, after: &KeyedMap<Address>) -> Vec<HostDifference> {
    each_difference(before, after, |_, old, new| match (old, new) {
        (Some(old), Some(new)) => vec![HostDifference::AddressRelabeled { before: old.clone(), after: new.clone() }],
        (None, Some(after)) => {
            vec![HostDifference::Changed(Change::Address(AddressChange::Create { after: after.clone() }))]
        }
        (Some(before), None) => {
            vec![HostDifference::Changed(Change::Address(AddressChange::Delete { before: before.clone() }))]
        }
        (None, None) => vec![],
    })
}
