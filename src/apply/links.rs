//! Carrying out interface changes on the kernel: ipip tunnels are created, changed and
//! deleted; any interface's MTU and admin state are set.

use crate::model::links::{Link, LinkKind};
use crate::netlink::route::{RouteClient, RouteNetlinkError};
use crate::plan::LinkChange;

/// Makes one change; on failure, a message that names the interface and the cause.
pub fn apply(client: &mut RouteClient, change: &LinkChange) -> Result<(), RouteNetlinkError> {
    match change {
        // tunl0 comes with the ipip module, which an earlier change of this plan loads:
        // by now it exists and only needs configuring.
        LinkChange::Create { after } if after.is_fallback_tunnel() => {
            let current = client.links()?.into_iter().find(|l| l.name == after.name);
            match current {
                Some(current) => client.update_link(&current, &Link { kind: current.kind.clone(), ..after.clone() }),
                None => Err(RouteNetlinkError::InvalidRequest {
                    action: format!("configuring {}", after.name),
                    detail: format!(
                        "{} does not exist: it appears when the ipip module is loaded; add `modules: [ipip]` (the real-server role does)",
                        after.name
                    ),
                }),
            }
        }
        LinkChange::Create { after } => match &after.kind {
            LinkKind::Ipip { .. } => client.create_ipip(after),
            LinkKind::Other { kind } => Err(RouteNetlinkError::InvalidRequest {
                action: format!("creating interface {}", after.name),
                detail: format!(
                    "lvs-converge only creates ipip tunnels, and a {kind} interface must exist before the spec can configure it"
                ),
            }),
        },
        LinkChange::Update { before, after } => client.update_link(before, after),
        LinkChange::Delete { before } => match &before.kind {
            LinkKind::Ipip { .. } => client.delete_link(&before.name),
            LinkKind::Other { kind } => Err(RouteNetlinkError::InvalidRequest {
                action: format!("refusing to delete interface {}", before.name),
                detail: format!("it is a {kind} interface, and lvs-converge only deletes the ipip tunnels it manages"),
            }),
        },
    }
}
