//! Diffing interface addresses. The kernel cannot relabel an address, so a new label is a
//! delete followed by a create; whether it is deprecated is changed in place.

use serde::{Deserialize, Serialize};

use super::compare::{each_difference, HostDifference};
use super::Change;

use crate::model::addresses::Address;
use crate::model::keyed::KeyedMap;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "change", rename_all = "camelCase")]
pub enum AddressChange {
    Create {
        after: Address,
    },
    /// Same address and label, other lifetimes (`ip addr change`): routes through it and
    /// connections to it stay.
    Update {
        before: Address,
        after: Address,
    },
    Delete {
        before: Address,
    },
}

impl AddressChange {
    /// The address as the change leaves it (created, changed) or finds it (deleted).
    pub fn address(&self) -> &Address {
        match self {
            AddressChange::Create { after } | AddressChange::Update { after, .. } => after,
            AddressChange::Delete { before } => before,
        }
    }
}

/// Declared addresses against the host's. Only declared addresses change; a declared address
/// with another label is replaced (delete, then create), one only deprecated where it should
/// not be (or the reverse) is changed in place. Changes in place come with the creates.
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
            Some(have) if have.deprecated != want.deprecated => {
                creates.push(AddressChange::Update { before: have.clone(), after: want.clone() })
            }
            Some(_) => {}
        }
    }
    (creates, deletes)
}

/// Addresses that appeared, went away, were deprecated or preferred, or were relabeled in
/// place (no plan relabels: it replaces).
pub fn compare(before: &KeyedMap<Address>, after: &KeyedMap<Address>) -> Vec<HostDifference> {
    each_difference(before, after, |_, old, new| match (old, new) {
        (Some(old), Some(new)) if old.label == new.label => {
            vec![HostDifference::Changed(Change::Address(AddressChange::Update {
                before: old.clone(),
                after: new.clone(),
            }))]
        }
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::keyed;

    fn vip(label: Option<&str>, deprecated: bool) -> Address {
        Address {
            interface: "eth0".into(),
            address: "2001:db8:1::100".parse().unwrap(),
            prefix_length: 128,
            label: label.map(str::to_string),
            deprecated,
        }
    }

    fn map(address: Address) -> KeyedMap<Address> {
        let mut map = KeyedMap::default();
        keyed::put(&mut map, address);
        map
    }

    #[test]
    fn only_deprecated_differing_is_changed_in_place_and_undone_in_place() {
        let (creates, deletes) = diff(&map(vip(None, true)), &map(vip(None, false)));
        let update = AddressChange::Update { before: vip(None, false), after: vip(None, true) };
        assert_eq!((creates, deletes), (vec![update.clone()], vec![]));
        let undo = AddressChange::Update { before: vip(None, true), after: vip(None, false) };
        assert_eq!(Change::Address(update).inverse(), Some(vec![Change::Address(undo)]));
        assert_eq!(diff(&map(vip(None, true)), &map(vip(None, true))), (vec![], vec![]));
    }

    #[test]
    fn a_new_label_still_replaces_and_the_new_address_carries_deprecated() {
        let (creates, deletes) = diff(&map(vip(Some("eth0:v"), true)), &map(vip(None, false)));
        assert_eq!(creates, vec![AddressChange::Create { after: vip(Some("eth0:v"), true) }]);
        assert_eq!(deletes, vec![AddressChange::Delete { before: vip(None, false) }]);
    }

    #[test]
    fn compare_reports_a_deprecated_address_as_changed_in_place() {
        let differences = compare(&map(vip(None, false)), &map(vip(None, true)));
        let update = AddressChange::Update { before: vip(None, false), after: vip(None, true) };
        assert_eq!(differences, vec![HostDifference::Changed(Change::Address(update))]);
        let relabeled = compare(&map(vip(None, false)), &map(vip(Some("eth0:v"), false)));
        assert!(matches!(relabeled[..], [HostDifference::AddressRelabeled { .. }]), "{relabeled:?}");
    }
}
