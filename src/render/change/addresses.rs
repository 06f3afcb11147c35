//! Interface addresses: identity, label, and whether they are deprecated.

use super::{all_fields, changed_fields, to_json, ChangeView};
use crate::model::addresses::Address;
use crate::model::keyed::Keyed;
use crate::model::Subsystem;
use crate::plan::{Action, AddressChange};

/// What a created or deleted address shows: its label, and `deprecated` only where it is
/// (most addresses are not, and saying so on each would be noise).
fn fields(address: &Address) -> Vec<(&'static str, String)> {
    let mut fields = vec![("label", address.effective_label().to_string())];
    if address.deprecated {
        fields.push(("deprecated", yes_no(true)));
    }
    fields
}

/// Every field, for comparing two addresses: `deprecated no → yes` reads both sides.
pub fn compared_fields(address: &Address) -> Vec<(&'static str, String)> {
    vec![("label", address.effective_label().to_string()), ("deprecated", yes_no(address.deprecated))]
}

fn yes_no(value: bool) -> String {
    if value { "yes" } else { "no" }.to_string()
}

pub fn describe(change: &AddressChange) -> ChangeView {
    let (action, fields, before, after) = match change {
        AddressChange::Create { after } => {
            (Action::Create, all_fields(fields(after), Action::Create), None, Some(after))
        }
        AddressChange::Update { before, after } => (
            Action::Update,
            changed_fields(&compared_fields(before), &compared_fields(after)),
            Some(before),
            Some(after),
        ),
        AddressChange::Delete { before } => {
            (Action::Delete, all_fields(fields(before), Action::Delete), Some(before), None)
        }
    };
    ChangeView {
        subsystem: Subsystem::Addresses,
        action,
        kind: "address",
        id: change.address().key().to_string(),
        fields,
        before: before.map(to_json),
        after: after.map(to_json),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vip(deprecated: bool) -> Address {
        Address {
            interface: "eth0".into(),
            address: "2001:db8:1::100".parse().unwrap(),
            prefix_length: 128,
            label: None,
            deprecated,
        }
    }

    fn names(view: &ChangeView) -> Vec<&str> {
        view.fields.iter().map(|field| field.name.as_str()).collect()
    }

    #[test]
    fn deprecated_shows_on_creates_only_where_it_is_and_both_ways_on_updates() {
        assert_eq!(names(&describe(&AddressChange::Create { after: vip(true) })), ["label", "deprecated"]);
        assert_eq!(names(&describe(&AddressChange::Create { after: vip(false) })), ["label"]);
        let preferred_again = describe(&AddressChange::Update { before: vip(true), after: vip(false) });
        let field = &preferred_again.fields[..];
        assert_eq!(field.len(), 1);
        assert_eq!((field[0].before.as_deref(), field[0].after.as_deref()), (Some("yes"), Some("no")));
        assert_eq!(preferred_again.before.unwrap()["deprecated"], true);
        assert_eq!(preferred_again.after.unwrap().get("deprecated"), None, "false is left out of the JSON");
    }
}
