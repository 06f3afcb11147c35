//! Carrying out interface changes on the kernel: tunnels (ipip, gre, sit, ip6tnl, ip6gre)
//! are created, changed and deleted; any interface's MTU and admin state are set.

use nix::errno::Errno;

use super::live::Kernel;
use super::memory::{refused, MemoryHost};
use super::{sysctl, Applier, ChangeError, ChangeOutcome};
use crate::model::keyed::Keyed;
use crate::model::links::{Link, LinkKind};
use crate::netlink::route::{RouteClient, RouteNetlinkError};
use crate::plan::LinkChange;

impl Applier for LinkChange {
    fn over_netlink(&self) -> bool {
        true
    }

    fn live(&self, kernel: &mut Kernel) -> ChangeOutcome {
        kernel.route_change(|client| apply(client, self))
    }

    /// EEXIST creating an interface that exists, ENODEV changing or deleting one that does
    /// not; the fallback devices are only configured (each comes with its module), and of
    /// their tunnel parameters only ip6tnl0's mode changes; deleting an interface takes its
    /// addresses, routes and sysctls with it, as the kernel does.
    fn in_memory(&self, host: &mut MemoryHost) -> Result<(), ChangeError> {
        let links = &mut host.state.links;
        match self {
            LinkChange::Create { after } if after.is_fallback_tunnel() => match links.get_mut(&after.name) {
                Some(current) => {
                    let up = after.up.or(current.up);
                    let mtu = after.mtu.or(current.mtu);
                    *current = Link { kind: current.kind.configured_fallback(&after.kind), up, mtu, ..after.clone() };
                    Ok(())
                }
                None => Err(ChangeError::new(format!(
                    "configuring {}: {} does not exist: it appears when the {} module is loaded",
                    after.name,
                    after.name,
                    after.kind.module().unwrap_or("tunnel")
                ))),
            },
            LinkChange::Create { after } => {
                let action = format!("creating interface {}", after.name);
                if !after.kind.is_tunnel() {
                    return Err(ChangeError::new(format!("{action}: lvs-converge only creates tunnels")));
                }
                if links.contains_key(&after.name) {
                    return Err(refused(action, Errno::EEXIST));
                }
                // What the spec leaves out, the kernel decides: a new tunnel is down, MTU 1480.
                let created = Link { up: after.up.or(Some(false)), mtu: after.mtu.or(Some(1480)), ..after.clone() };
                links.insert(after.key(), created);
                Ok(())
            }
            LinkChange::Update { after, .. } => {
                let action = format!("changing interface {}", after.name);
                let Some(current) = links.get_mut(&after.name) else {
                    return Err(refused(action, Errno::ENODEV));
                };
                // Only the MTU and admin state of interfaces of other kinds are managed.
                let kind = match after.kind {
                    LinkKind::Other { .. } => current.kind.clone(),
                    // The kernel refuses any other change of a fallback's parameters.
                    _ if current.is_fallback_tunnel()
                        && current.kind.configured_fallback(&after.kind) != after.kind =>
                    {
                        return Err(refused(action, Errno::EINVAL));
                    }
                    _ => after.kind.clone(),
                };
                // What the spec leaves out stays as it is.
                let up = after.up.or(current.up);
                let mtu = after.mtu.or(current.mtu);
                *current = Link { kind, up, mtu, ..after.clone() };
                Ok(())
            }
            LinkChange::Delete { before } => {
                let action = format!("deleting interface {}", before.name);
                if before.is_fallback_tunnel() || !before.kind.is_tunnel() {
                    return Err(ChangeError::new(format!(
                        "{action}: lvs-converge only deletes the tunnels it manages"
                    )));
                }
                links.remove(&before.name).ok_or_else(|| refused(action, Errno::ENODEV))?;
                // The kernel takes the interface's addresses, routes and sysctls with it.
                let name = &before.name;
                host.state.addresses.retain(|_, address| address.interface != *name);
                host.state.routes.retain(|_, route| route.device.as_ref() != Some(name));
                host.state.sysctls.retain(|key, _| sysctl::interface_of(key).as_ref() != Some(name));
                Ok(())
            }
        }
    }
}

/// Makes one change; on failure, a message that names the interface and the cause.
pub fn apply(client: &mut RouteClient, change: &LinkChange) -> Result<(), RouteNetlinkError> {
    match change {
        // A fallback device (tunl0, gre0 …) comes with its module, which an earlier change
        // of this plan loads: by now it exists and only needs configuring.
        LinkChange::Create { after } if after.is_fallback_tunnel() => {
            let current = client.links()?.into_iter().find(|l| l.name == after.name);
            match current {
                Some(current) => {
                    let kind = current.kind.configured_fallback(&after.kind);
                    client.update_link(&current, &Link { kind, ..after.clone() })
                }
                None => {
                    let module = after.kind.module().unwrap_or("tunnel");
                    Err(RouteNetlinkError::InvalidRequest {
                        action: format!("configuring {}", after.name),
                        detail: format!(
                            "{} does not exist: it appears when the {module} module is loaded; add `modules: [{module}]` (the real-server role does)",
                            after.name
                        ),
                    })
                }
            }
        }
        LinkChange::Create { after } => match &after.kind {
            LinkKind::Other { kind } => Err(RouteNetlinkError::InvalidRequest {
                action: format!("creating interface {}", after.name),
                detail: format!(
                    "lvs-converge only creates tunnels, and a {kind} interface must exist before the spec can configure it"
                ),
            }),
            _ => client.create_tunnel(after),
        },
        LinkChange::Update { before, after } => client.update_link(before, after),
        LinkChange::Delete { before } => match &before.kind {
            LinkKind::Other { kind } => Err(RouteNetlinkError::InvalidRequest {
                action: format!("refusing to delete interface {}", before.name),
                detail: format!("it is a {kind} interface, and lvs-converge only deletes the tunnels it manages"),
            }),
            _ => client.delete_link(&before.name),
        },
    }
}
