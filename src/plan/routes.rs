//! Diffing declared routes. Routes the kernel adds by itself for local and connected
//! addresses satisfy a declared route of the same shape, so they never show as drift.

use serde::{Deserialize, Serialize};

use super::compare::{each_difference, transition, HostDifference};
use super::Change;

use crate::model::keyed::KeyedMap;
use crate::model::routes::Route;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "change", rename_all = "camelCase")]
pub enum RouteChange {
    Create {
        after: Route,
    },
    /// Replace in place (`ip route replace`): same table, type, prefix and metric.
    Update {
        before: Route,
        after: Route,
    },
    Delete {
        before: Route,
    },
}

impl RouteChange {
    /// The route as the change leaves it (created, replaced) or finds it (deleted).
    pub fn route(&self) -> &Route {
        match self {
            RouteChange::Create { after } | RouteChange::Update { after, .. } => after,
            RouteChange::Delete { before } => before,
        }
    }
}

/// Declared routes against the host's, matched by identity (table, type, prefix, metric);
/// the kernel's own `proto kernel` routes count like any other, so a declared route the
/// kernel already made (the VIP's `local` route) plans nothing.
pub fn diff(desired: &KeyedMap<Route>, observed: &KeyedMap<Route>) -> Vec<RouteChange> {
    desired
        .iter()
        .filter_map(|(key, want)| match observed.get(key) {
            None => Some(RouteChange::Create { after: want.clone() }),
            Some(have) if !satisfies(have, want) => {
                Some(RouteChange::Update { before: have.clone(), after: want.clone() })
            }
            Some(_) => None,
        })
        .collect()
}

/// A route's attributes that the spec leaves out (source, device of a gateway route) are not
/// managed.
fn satisfies(have: &Route, want: &Route) -> bool {
    have.scope == want.scope
        && want.device.as_ref().is_none_or(|d| have.device.as_ref() == Some(d))
        && want.gateway.is_none_or(|g| have.gateway == Some(g))
        && want.source.is_none_or(|s| have.source == Some(s))
}

pub fn compare(before: &KeyedMap<Route>, after: &KeyedMap<Route>) -> Vec<HostDifference> {
    each_difference(before, after, |_, old, new| {
        let change = transition(
            old,
            new,
            |after| RouteChange::Create { after },
            |before, after| RouteChange::Update { before, after },
            |before| RouteChange::Delete { before },
        );
        vec![HostDifference::Changed(Change::Route(change))]
    })
}
