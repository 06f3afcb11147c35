//! Interfaces: ipip tunnels with their endpoints, any interface's state and MTU.

use super::{all_fields, changed_fields, to_json, ChangeView};
use crate::model::links::{Link, LinkKind};
use crate::model::Subsystem;
use crate::plan::{Action, LinkChange};

fn link_fields(link: &Link) -> Vec<(&'static str, String)> {
    let mut fields = Vec::new();
    // tunl0's tunnel parameters are fixed by the kernel; only state and MTU are ours.
    if let (LinkKind::Ipip { local, remote, ttl, pmtudisc }, false) = (&link.kind, link.is_fallback_tunnel()) {
        let any = |a: &Option<std::net::Ipv4Addr>| a.map_or_else(|| "any".to_string(), |a| a.to_string());
        fields.push(("local", any(local)));
        fields.push(("remote", any(remote)));
        fields.push(("ttl", if *ttl == 0 { "inherit".to_string() } else { ttl.to_string() }));
        fields.push(("pmtudisc", if *pmtudisc { "on" } else { "off" }.to_string()));
    }
    if let Some(up) = link.up {
        fields.push(("state", if up { "up" } else { "down" }.to_string()));
    }
    if let Some(mtu) = link.mtu {
        fields.push(("mtu", mtu.to_string()));
    }
    fields
}

/// What a link is, for people.
pub fn kind(link: &Link) -> &'static str {
    if matches!(link.kind, LinkKind::Ipip { .. }) {
        "ipip tunnel"
    } else {
        "interface"
    }
}

pub fn describe(change: &LinkChange) -> ChangeView {
    let (action, fields, before, after) = match change {
        LinkChange::Create { after } => {
            (Action::Create, all_fields(link_fields(after), Action::Create), None, Some(after))
        }
        LinkChange::Update { before, after } => {
            // Only the fields the spec manages: an unmanaged MTU is not a change.
            let managed: Vec<_> = link_fields(after).into_iter().map(|(name, _)| name).collect();
            let old: Vec<_> = link_fields(before).into_iter().filter(|(name, _)| managed.contains(name)).collect();
            (Action::Update, changed_fields(&old, &link_fields(after)), Some(before), Some(after))
        }
        LinkChange::Delete { before } => {
            (Action::Delete, all_fields(link_fields(before), Action::Delete), Some(before), None)
        }
    };
    let link = change.link();
    ChangeView {
        subsystem: Subsystem::Links,
        action,
        kind: kind(link),
        id: link.name.clone(),
        fields,
        before: before.map(to_json),
        after: after.map(to_json),
    }
}
