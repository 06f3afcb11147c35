//! Routes, named as `ip route` users read them (`local 203.0.113.100/32 table local`).

use super::{all_fields, changed_fields, to_json, ChangeView};
use crate::model::keyed::Keyed;
use crate::model::routes::Route;
use crate::model::Subsystem;
use crate::plan::{Action, RouteChange};

fn route_fields(route: &Route) -> Vec<(&'static str, String)> {
    let mut fields = Vec::new();
    if let Some(device) = &route.device {
        fields.push(("device", device.clone()));
    }
    if let Some(gateway) = route.gateway {
        fields.push(("gateway", gateway.to_string()));
    }
    fields.push(("scope", route.scope.name().to_string()));
    if let Some(source) = route.source {
        fields.push(("source", source.to_string()));
    }
    fields
}

pub fn describe(change: &RouteChange) -> ChangeView {
    let (action, fields, before, after) = match change {
        RouteChange::Create { after } => {
            (Action::Create, all_fields(route_fields(after), Action::Create), None, Some(after))
        }
        RouteChange::Update { before, after } => {
            (Action::Update, changed_fields(&route_fields(before), &route_fields(after)), Some(before), Some(after))
        }
        RouteChange::Delete { before } => {
            (Action::Delete, all_fields(route_fields(before), Action::Delete), Some(before), None)
        }
    };
    ChangeView {
        subsystem: Subsystem::Routes,
        action,
        kind: "route",
        id: change.route().key().to_string(),
        fields,
        before: before.map(to_json),
        after: after.map(to_json),
    }
}
