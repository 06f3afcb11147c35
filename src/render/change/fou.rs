//! Foo-over-UDP receive ports: opened and closed, never changed.

use super::{to_json, ChangeView};
use crate::model::fou::{FouEncapsulation, FouPort};
use crate::model::ipvs::Family;
use crate::model::Subsystem;
use crate::plan::{Action, FouChange};

/// `6080 (gue, IPv4)`, `5555 (direct protocol 4, IPv6)`: a port as people name it.
pub fn port_id(port: &FouPort) -> String {
    let encapsulation = match port.encapsulation {
        FouEncapsulation::Gue => "gue".to_string(),
        FouEncapsulation::Direct { protocol } => format!("direct protocol {protocol}"),
    };
    let family = match port.family {
        Family::Ipv4 => "IPv4",
        Family::Ipv6 => "IPv6",
    };
    format!("{} ({encapsulation}, {family})", port.port)
}

pub fn describe(change: &FouChange) -> ChangeView {
    let (action, before, after) = match change {
        FouChange::Create { after } => (Action::Create, None, Some(after)),
        FouChange::Delete { before } => (Action::Delete, Some(before), None),
    };
    ChangeView {
        subsystem: Subsystem::Fou,
        action,
        kind: "fou port",
        id: port_id(change.port()),
        fields: vec![],
        before: before.map(to_json),
        after: after.map(to_json),
    }
}
