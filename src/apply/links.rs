//! Carrying out interface changes on the kernel: ipip tunnels are created, changed and
//! deleted; any interface's MTU and admin state are set.

use nix::errno::Errno;

use super::live::Kernel;
use super::memory::{refused, MemoryHost};
use super::{sysctl, Applier, ChangeError, ChangeOutcome};
use crate::model::keyed::Keyed;
use crate::model::links::{Link, LinkKind};
use crate::netlink::route::{RouteClient, RouteNetlinkError};
use crate::plan::LinkChange;

impl Applier for LinkChange {
    fn live(&self, kernel: &mut Kernel) -> ChangeOutcome {
        kernel.route_change(|client| apply(client, self))
    }

    /// EEXIST creating an interface that exists, ENODEV changing or deleting one that does
    /// not; tunl0 is only configured (it comes with ipip); deleting an interface takes its
    /// addresses, routes and sysctls with it, as the kernel does.
    fn in_memory(&self, host: &mut MemoryHost) -> Result<(), ChangeError> {
        let links = &mut host.state.links;
        match self {
            LinkChange::Create { after } if after.is_fallback_tunnel() => match links.get_mut(&after.name) {
                Some(current) => {
                    let up = after.up.or(current.up);
                    let mtu = after.mtu.or(current.mtu);
                    *current = Link { kind: current.kind.clone(), up, mtu, ..after.clone() };
                    Ok(())
                }
                None => Err(ChangeError::new(format!(
                    "configuring {}: {} does not exist: it appears when the ipip module is loaded",
                    after.name, after.name
                ))),
            },
            LinkChange::Create { after } => {
                let action = format!("creating interface {}", after.name);
                if !matches!(after.kind, LinkKind::Ipip { .. }) {
                    return Err(ChangeError::new(format!("{action}: lvs-converge only creates ipip tunnels")));
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
                let current = links.get_mut(&after.name).ok_or_else(|| refused(action, Errno::ENODEV))?;
                // Only the MTU and admin state of interfaces of other kinds are managed.
                let kind = match after.kind {
                    LinkKind::Other { .. } => current.kind.clone(),
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
                if before.is_fallback_tunnel() || !matches!(before.kind, LinkKind::Ipip { .. }) {
                    return Err(ChangeError::new(format!("{action}: lvs-converge only deletes its ipip tunnels")));
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
            other @ (LinkKind::Gre { .. } | LinkKind::Sit { .. } | LinkKind::Ip6tnl { .. } | LinkKind::Ip6gre { .. }) => {
                Err(RouteNetlinkError::InvalidRequest {
                    action: format!("creating interface {}", after.name),
                    detail: format!("creating {} tunnels is not supported yet", other.name()),
                })
            }
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
            other @ (LinkKind::Gre { .. } | LinkKind::Sit { .. } | LinkKind::Ip6tnl { .. } | LinkKind::Ip6gre { .. }) => {
                Err(RouteNetlinkError::InvalidRequest {
                    action: format!("refusing to delete interface {}", before.name),
                    detail: format!("deleting {} tunnels is not supported yet", other.name()),
                })
            }
            LinkKind::Other { kind } => Err(RouteNetlinkError::InvalidRequest {
                action: format!("refusing to delete interface {}", before.name),
                detail: format!("it is a {kind} interface, and lvs-converge only deletes the ipip tunnels it manages"),
            }),
        },
    }
}
