//! Carrying out route changes on the kernel (`ip route add|replace|del`, `proto static`).

use crate::netlink::route::{RouteClient, RouteNetlinkError};
use crate::plan::RouteChange;

/// Makes one change; on failure, a message that names the route and the cause.
pub fn apply(client: &mut RouteClient, change: &RouteChange) -> Result<(), RouteNetlinkError> {
    match change {
        RouteChange::Create { after } => client.add_route(after),
        RouteChange::Update { after, .. } => client.replace_route(after),
        RouteChange::Delete { before } => client.delete_route(before),
    }
}
