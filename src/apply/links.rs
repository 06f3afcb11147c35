//! Carrying out interface changes on the kernel: ipip tunnels are created, changed and
//! deleted; any interface's MTU and admin state are set.

use crate::model::links::LinkKind;
use crate::netlink::route::RouteClient;
use crate::plan::LinkChange;

/// Makes one change; on failure, a message that names the interface and the cause.
pub fn apply(client: &mut RouteClient, change: &LinkChange) -> Result<(), String> {
    match change {
        LinkChange::Create { after } => match &after.kind {
            LinkKind::Ipip { .. } => client.create_ipip(after),
            LinkKind::Other { kind } => {
                return Err(format!(
                    "cannot create interface {}: lvs-converge only creates ipip tunnels, and a {kind} interface must exist before the spec can configure it",
                    after.name
                ))
            }
        },
        LinkChange::Update { before, after } => client.update_link(before, after),
        LinkChange::Delete { before } => match &before.kind {
            LinkKind::Ipip { .. } => client.delete_link(&before.name),
            LinkKind::Other { kind } => {
                return Err(format!(
                    "refusing to delete interface {}: it is a {kind} interface, and lvs-converge only deletes the ipip tunnels it manages",
                    before.name
                ))
            }
        },
    }
    .map_err(|e| e.to_string())
}
