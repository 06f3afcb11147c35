//! Carrying out route changes on the kernel (`ip route add|replace|del`, `proto static`).

use nix::errno::Errno;

use super::live::Kernel;
use super::memory::{refused, MemoryHost};
use super::{Applier, ChangeError, ChangeOutcome};
use crate::model::keyed::Keyed;
use crate::netlink::route::{RouteClient, RouteNetlinkError};
use crate::plan::RouteChange;

impl Applier for RouteChange {
    fn over_netlink(&self) -> bool {
        true
    }

    fn live(&self, kernel: &mut Kernel) -> ChangeOutcome {
        kernel.route_change(|client| apply(client, self))
    }

    /// ENODEV for a route through a missing interface, deletes included (the live client
    /// resolves the device before it sends anything), EEXIST adding one that exists, ESRCH
    /// deleting one that does not.
    fn in_memory(&self, host: &mut MemoryHost) -> Result<(), ChangeError> {
        let (verb, route) = match self {
            RouteChange::Create { after } => ("adding", after),
            RouteChange::Update { after, .. } => ("replacing", after),
            RouteChange::Delete { before } => ("deleting", before),
        };
        let action = format!("{verb} route {}", route.key());
        let device_missing = route.device.as_ref().is_some_and(|device| !host.state.links.contains_key(device));
        if device_missing {
            return Err(refused(action, Errno::ENODEV));
        }
        let routes = &mut host.state.routes;
        match self {
            RouteChange::Create { after } if routes.contains_key(&after.key()) => Err(refused(action, Errno::EEXIST)),
            // A replace creates the route when there is none (NLM_F_REPLACE | NLM_F_CREATE).
            RouteChange::Create { after } | RouteChange::Update { after, .. } => {
                routes.insert(after.key(), after.clone());
                Ok(())
            }
            RouteChange::Delete { before } => match routes.remove(&before.key()) {
                Some(_) => Ok(()),
                None => Err(refused(action, Errno::ESRCH)),
            },
        }
    }
}

/// Makes one change; on failure, a message that names the route and the cause.
pub fn apply(client: &mut RouteClient, change: &RouteChange) -> Result<(), RouteNetlinkError> {
    match change {
        RouteChange::Create { after } => client.add_route(after),
        RouteChange::Update { after, .. } => client.replace_route(after),
        RouteChange::Delete { before } => client.delete_route(before),
    }
}
