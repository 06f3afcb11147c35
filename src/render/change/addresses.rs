//! Interface addresses: identity and label.

use super::{all_fields, to_json, ChangeView};
use crate::model::addresses::Address;
use crate::model::keyed::Keyed;
use crate::model::Subsystem;
use crate::plan::{Action, AddressChange};

pub fn fields(address: &Address) -> Vec<(&'static str, String)> {
    vec![("label", address.effective_label().to_string())]
}

pub fn describe(change: &AddressChange) -> ChangeView {
    let (action, address) = match change {
        AddressChange::Create { after } => (Action::Create, after),
        AddressChange::Delete { before } => (Action::Delete, before),
    };
    let json = Some(to_json(address));
    ChangeView {
        subsystem: Subsystem::Addresses,
        action,
        kind: "address",
        id: address.key().to_string(),
        fields: all_fields(fields(address), action),
        before: if action == Action::Delete { json.clone() } else { None },
        after: if action == Action::Create { json } else { None },
    }
}
