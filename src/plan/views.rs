//! How non-IPVS changes look to people and machines.

use serde::Serialize;

use super::{
    all_fields, changed_fields, Action, AddressChange, ChangeView, LinkChange, ModuleChange, RouteChange, SysctlChange,
};
use crate::model::addresses::Address;
use crate::model::keyed::Keyed;
use crate::model::links::{Link, LinkKind};
use crate::model::routes::Route;

fn to_json<T: Serialize>(value: &T) -> serde_json::Value {
    serde_json::to_value(value).expect("model types serialize to JSON")
}

pub fn module(change: &ModuleChange) -> ChangeView {
    let ModuleChange::Load { name } = change;
    ChangeView {
        subsystem: "modules",
        action: Action::Create,
        kind: "kernel module",
        id: name.clone(),
        fields: vec![],
        before: None,
        after: Some(serde_json::json!({ "loaded": true })),
    }
}

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

pub fn link(change: &LinkChange) -> ChangeView {
    let (action, link, fields, before, after) = match change {
        LinkChange::Create { after } => {
            (Action::Create, after, all_fields(link_fields(after), Action::Create), None, Some(after))
        }
        LinkChange::Update { before, after } => {
            // Only the fields the spec manages: an unmanaged MTU is not a change.
            let managed: Vec<_> = link_fields(after).into_iter().map(|(name, _)| name).collect();
            let old: Vec<_> = link_fields(before).into_iter().filter(|(name, _)| managed.contains(name)).collect();
            (Action::Update, after, changed_fields(&old, &link_fields(after)), Some(before), Some(after))
        }
        LinkChange::Delete { before } => {
            (Action::Delete, before, all_fields(link_fields(before), Action::Delete), Some(before), None)
        }
    };
    let kind = if matches!(link.kind, LinkKind::Ipip { .. }) { "ipip tunnel" } else { "interface" };
    ChangeView {
        subsystem: "links",
        action,
        kind,
        id: link.name.clone(),
        fields,
        before: before.map(to_json),
        after: after.map(to_json),
    }
}

pub fn sysctl(change: &SysctlChange) -> ChangeView {
    let SysctlChange::Set { key, before, after } = change;
    ChangeView {
        subsystem: "sysctl",
        action: Action::Update,
        kind: "sysctl",
        id: key.clone(),
        fields: vec![super::FieldChange {
            name: "value".into(),
            before: Some(before.clone().unwrap_or_else(|| "(not present yet)".into())),
            after: Some(after.clone()),
        }],
        before: before.as_ref().map(|v| serde_json::Value::String(v.clone())),
        after: Some(serde_json::Value::String(after.clone())),
    }
}

fn address_fields(address: &Address) -> Vec<(&'static str, String)> {
    vec![("label", address.effective_label().to_string())]
}

pub fn address(change: &AddressChange) -> ChangeView {
    let (action, address) = match change {
        AddressChange::Create { after } => (Action::Create, after),
        AddressChange::Delete { before } => (Action::Delete, before),
    };
    let json = Some(to_json(address));
    ChangeView {
        subsystem: "addresses",
        action,
        kind: "address",
        id: address.key().to_string(),
        fields: all_fields(address_fields(address), action),
        before: if action == Action::Delete { json.clone() } else { None },
        after: if action == Action::Create { json } else { None },
    }
}

fn route_fields(route: &Route) -> Vec<(&'static str, String)> {
    let mut fields = Vec::new();
    if let Some(device) = &route.device {
        fields.push(("device", device.clone()));
    }
    if let Some(gateway) = route.gateway {
        fields.push(("gateway", gateway.to_string()));
    }
    fields.push(("scope", format!("{:?}", route.scope).to_lowercase()));
    if let Some(source) = route.source {
        fields.push(("source", source.to_string()));
    }
    fields
}

/// `local 203.0.113.100/32 table local`, as `ip route` users read it.
pub fn route_id(route: &Route) -> String {
    route.key().to_string()
}

pub fn route(change: &RouteChange) -> ChangeView {
    let (action, route, fields, before, after) = match change {
        RouteChange::Create { after } => {
            (Action::Create, after, all_fields(route_fields(after), Action::Create), None, Some(after))
        }
        RouteChange::Update { before, after } => (
            Action::Update,
            after,
            changed_fields(&route_fields(before), &route_fields(after)),
            Some(before),
            Some(after),
        ),
        RouteChange::Delete { before } => {
            (Action::Delete, before, all_fields(route_fields(before), Action::Delete), Some(before), None)
        }
    };
    ChangeView {
        subsystem: "routes",
        action,
        kind: "route",
        id: route_id(route),
        fields,
        before: before.map(to_json),
        after: after.map(to_json),
    }
}
