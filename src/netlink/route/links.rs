//! Interfaces: reading them, creating and changing tunnels (ipip, gre, sit, ip6tnl,
//! ip6gre), MTU and admin state.

use std::collections::BTreeMap;

use rtnetlink::packet_route::link::{LinkAttribute, LinkFlags, LinkInfo, LinkLayerType, LinkMessage};
use rtnetlink::packet_route::RouteNetlinkMessage;
use rtnetlink::LinkUnspec;

use crate::model::addresses::Address;
use crate::model::links::{Ip6tnlMode, Link, LinkKind, FALLBACK_TUNNELS};
use crate::model::routes::Route;

use super::client::RouteClient;
use super::error::{hint, Op, RouteNetlinkError};
use super::tunnel_ioctl;
use super::tunnels::{decode_tunnel, describe_link, needs_recreate, tunnel_change_message, tunnel_create_message};

impl RouteClient {
    fn link_messages(&mut self) -> Result<Vec<LinkMessage>, RouteNetlinkError> {
        let messages = self.dump(RouteNetlinkMessage::GetLink(LinkMessage::default()), "reading the interfaces")?;
        Ok(messages
            .into_iter()
            .filter_map(|m| if let RouteNetlinkMessage::NewLink(link) = m { Some(link) } else { None })
            .collect())
    }

    /// Interface index → name.
    pub(super) fn interface_names(&mut self) -> Result<BTreeMap<u32, String>, RouteNetlinkError> {
        Ok(self
            .link_messages()?
            .iter()
            .filter_map(|m| link_name(m).map(|name| (m.header.index, name.to_string())))
            .collect())
    }

    /// Every interface of the namespace, sorted by name.
    pub fn links(&mut self) -> Result<Vec<Link>, RouteNetlinkError> {
        let mut links: Vec<Link> = self.link_messages()?.iter().filter_map(link_from_message).collect();
        links.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(links)
    }

    /// `ip link add NAME type ipip|gre|sit|ip6tnl|ip6gre local L remote R ttl T … [mtu M] [up]`.
    pub fn create_tunnel(&mut self, link: &Link) -> Result<(), RouteNetlinkError> {
        let action = format!("creating {} tunnel {}", link.kind.name(), describe_link(link));
        let message = tunnel_create_message(link)
            .map_err(|detail| RouteNetlinkError::InvalidRequest { action: action.clone(), detail })?;
        let request = self.handle.link().add(message).execute();
        self.wait(action, Op::CreateTunnel(link), request)
    }

    /// Brings `before` (as observed) to `after`: tunnel endpoints, TTL and PMTU discovery
    /// when they differ, then MTU and admin state where `after` says and they differ.
    ///
    /// Endpoints change in place (RTM_NEWLINK on the existing device, like `ip link set NAME
    /// type ipip remote X`), keeping the device, its addresses and routes. The kernel cannot
    /// turn a point-to-point tunnel (remote set) into an any-remote one or back in place;
    /// then the device is deleted and created again, and the addresses and routes it had
    /// are put back.
    pub fn update_link(&mut self, before: &Link, after: &Link) -> Result<(), RouteNetlinkError> {
        let name = after.name.as_str();
        // The kind of other interfaces is not managed: only their MTU and admin state.
        let recreate = match (&before.kind, &after.kind) {
            (_, LinkKind::Other { .. }) => false,
            (have, want) if have == want => false,
            (LinkKind::Other { kind }, want) => {
                return Err(RouteNetlinkError::InvalidRequest {
                    action: format!("making {name} a {} tunnel", want.name()),
                    detail: format!(
                        "{name} already exists as a {kind} interface; delete it or give the tunnel another name"
                    ),
                });
            }
            (have, want) if before.is_fallback_tunnel() => {
                if have.configured_fallback(want) != *want {
                    return Err(RouteNetlinkError::InvalidRequest {
                        action: format!("changing the tunnel parameters of {name}"),
                        detail: format!(
                            "{name} is the {} module's fallback device; its endpoints, TTL and PMTU discovery cannot be changed (only its MTU and admin state, the mode of ip6tnl0 and the requireChecksum of gre0)",
                            have.module().unwrap_or("tunnel")
                        ),
                    });
                }
                false
            }
            (have, want) => needs_recreate(have, want),
        };
        if recreate {
            return self.recreate_tunnel(before, after);
        }
        // Up to three requests: if a later one fails, the earlier ones are taken back, so
        // that a failed change leaves the interface as it was (or says that it could not).
        let mut made = false;
        let Err(cause) = self.set_in_place(before, after, &mut made) else {
            return Ok(());
        };
        if !made {
            return Err(cause);
        }
        match self.set_in_place(after, before, &mut false) {
            Ok(()) => Err(cause),
            Err(restore) => Err(RouteNetlinkError::not_restored(name, cause, restore)),
        }
    }

    /// Sets what differs between `from` and `to`: tunnel parameters, MTU, admin state.
    /// `made` turns true once the kernel took one of the requests.
    fn set_in_place(&mut self, from: &Link, to: &Link, made: &mut bool) -> Result<(), RouteNetlinkError> {
        let name = to.name.as_str();
        if to.kind.is_tunnel() && from.kind != to.kind {
            match &to.kind {
                // update_link let only ip6tnl0's mode and gre0's icsum through for a fallback device.
                LinkKind::Ip6tnl { mode, .. } if to.is_fallback_tunnel() => self.set_fallback_mode(name, *mode)?,
                LinkKind::Gre { require_checksum, .. } if to.is_fallback_tunnel() => {
                    self.set_fallback_input_checksum(name, *require_checksum)?
                }
                _ => self.change_tunnel(to)?,
            }
            *made = true;
        }
        if let Some(mtu) = to.mtu.filter(|mtu| from.mtu != Some(*mtu)) {
            crate::fault::fail_at("link-set-mtu").map_err(|detail| RouteNetlinkError::InvalidRequest {
                action: format!("setting the MTU of {name}"),
                detail,
            })?;
            self.set_mtu(name, mtu)?;
            *made = true;
        }
        if let Some(up) = to.up.filter(|up| from.up != Some(*up)) {
            self.set_up(name, up)?;
            *made = true;
        }
        Ok(())
    }

    /// `ip -6 tunnel change ip6tnl0 mode MODE`: an ioctl, as the kernel refuses RTM_NEWLINK
    /// changes of a fallback device.
    fn set_fallback_mode(&mut self, name: &str, mode: Ip6tnlMode) -> Result<(), RouteNetlinkError> {
        let action = format!("setting the mode of {name} to {mode}");
        tunnel_ioctl::set_ip6tnl_mode(name, mode).map_err(|error| ioctl_rejected(name, action, error))
    }

    /// `ip tunnel change gre0 mode gre [icsum]`, with icsum cleared too when not wanted: an
    /// ioctl, as for ip6tnl0's mode.
    fn set_fallback_input_checksum(&mut self, name: &str, require_checksum: bool) -> Result<(), RouteNetlinkError> {
        let action = format!("{} icsum on {name}", if require_checksum { "setting" } else { "clearing" });
        tunnel_ioctl::set_gre_input_checksum(name, require_checksum)
            .map_err(|error| ioctl_rejected(name, action, error))
    }

    fn change_tunnel(&mut self, after: &Link) -> Result<(), RouteNetlinkError> {
        let name = after.name.as_str();
        let action = format!("changing {} tunnel {} in place", after.kind.name(), describe_link(after));
        let current = self.link_message_by_name(name, &action)?;
        let message = tunnel_change_message(&current, after)
            .map_err(|detail| RouteNetlinkError::InvalidRequest { action: action.clone(), detail })?;
        let request = self.handle.link().change(message).execute();
        self.wait(action, Op::ChangeTunnel(name), request)
    }

    /// Deletes the tunnel and creates it again with `after`'s parameters, putting back the
    /// addresses and routes it had. If that fails once the old device is gone, the old one
    /// is built again as it was, so that a refused change does not lose the tunnel.
    fn recreate_tunnel(&mut self, before: &Link, after: &Link) -> Result<(), RouteNetlinkError> {
        let name = after.name.as_str();
        // What lives on the device and goes with it.
        let addresses: Vec<Address> = self.addresses()?.into_iter().filter(|a| a.interface == name).collect();
        let routes: Vec<Route> = self.routes()?.into_iter().filter(|r| r.device.as_deref() == Some(name)).collect();
        let replacement = Link {
            name: name.to_string(),
            kind: after.kind.clone(),
            up: after.up.or(before.up),
            mtu: after.mtu.or(before.mtu),
        };
        let context = |e: RouteNetlinkError| {
            let what = "the kernel cannot switch a tunnel between kinds or between a fixed and an any remote in place, so it is deleted and created again";
            match e {
                RouteNetlinkError::Rejected { action, errno, kernel, hint } => {
                    RouteNetlinkError::Rejected { action: format!("{action} ({what})"), errno, kernel, hint }
                }
                RouteNetlinkError::InvalidRequest { action, detail } => {
                    RouteNetlinkError::InvalidRequest { action: format!("{action} ({what})"), detail }
                }
                other => other,
            }
        };
        self.delete_link(name).map_err(context)?;
        let Err(cause) = self.build_tunnel(&replacement, &addresses, &routes).map_err(context) else {
            return Ok(());
        };
        let restored = match self.delete_link(name) {
            Ok(()) | Err(RouteNetlinkError::NoSuchInterface { .. }) => self.build_tunnel(before, &addresses, &routes),
            Err(e) => Err(e),
        };
        match restored {
            Ok(()) => Err(cause),
            Err(restore) => Err(RouteNetlinkError::not_restored(name, cause, restore)),
        }
    }

    /// Creates a tunnel with these addresses and routes on it.
    fn build_tunnel(&mut self, link: &Link, addresses: &[Address], routes: &[Route]) -> Result<(), RouteNetlinkError> {
        crate::fault::fail_at("tunnel-create").map_err(|detail| RouteNetlinkError::InvalidRequest {
            action: format!("creating {} tunnel {}", link.kind.name(), describe_link(link)),
            detail,
        })?;
        self.create_tunnel(link)?;
        for address in addresses {
            self.add_address(address)?;
        }
        // Routes the kernel derives from the addresses are back by now; add the others.
        let present = self.routes()?;
        for route in routes.iter().filter(|r| !present.contains(r)) {
            self.add_route(route)?;
        }
        Ok(())
    }

    /// `ip link set NAME mtu MTU`.
    pub fn set_mtu(&mut self, name: &str, mtu: u32) -> Result<(), RouteNetlinkError> {
        let action = format!("setting the MTU of {name} to {mtu}");
        let index = self.index_of(name, &action)?;
        let message = LinkUnspec::new_with_index(index).mtu(mtu).build();
        let request = self.handle.link().change(message).execute();
        self.wait(action, Op::SetMtu(name), request)
    }

    /// `ip link set NAME up|down`.
    pub fn set_up(&mut self, name: &str, up: bool) -> Result<(), RouteNetlinkError> {
        let action = format!("setting {name} {}", if up { "up" } else { "down" });
        let index = self.index_of(name, &action)?;
        let builder = LinkUnspec::new_with_index(index);
        let message = if up { builder.up() } else { builder.down() }.build();
        let request = self.handle.link().change(message).execute();
        self.wait(action, Op::SetUp(name), request)
    }

    /// `ip link del NAME`. Refuses the fallback devices (tunl0, gre0 …), which the kernel
    /// would silently keep.
    pub fn delete_link(&mut self, name: &str) -> Result<(), RouteNetlinkError> {
        let action = format!("deleting interface {name}");
        if let Some(module) = FALLBACK_TUNNELS.contains(&name).then(|| LinkKind::fallback(name)?.module()).flatten() {
            return Err(RouteNetlinkError::InvalidRequest {
                action,
                detail: format!(
                    "{name} belongs to the {module} module and cannot be deleted (only unloading {module} removes it)"
                ),
            });
        }
        let index = self.index_of(name, &action)?;
        let request = self.handle.link().del(index).execute();
        self.wait(action, Op::DeleteLink(name), request)
    }
}

fn ioctl_rejected(name: &str, action: String, error: std::io::Error) -> RouteNetlinkError {
    let errno = error.raw_os_error().unwrap_or(0);
    RouteNetlinkError::Rejected { action, errno, kernel: None, hint: hint(Op::ChangeTunnel(name), errno) }
}

pub(super) fn link_name(message: &LinkMessage) -> Option<&str> {
    message.attributes.iter().find_map(|a| match a {
        LinkAttribute::IfName(name) => Some(name.as_str()),
        _ => None,
    })
}

/// An interface as the model sees it; None for a message without a name.
pub(crate) fn link_from_message(message: &LinkMessage) -> Option<Link> {
    let name = link_name(message)?.to_string();
    let mtu = message.attributes.iter().find_map(|a| match a {
        LinkAttribute::Mtu(mtu) => Some(*mtu),
        _ => None,
    });
    let mut info_kind = None;
    let mut info_data = None;
    for attribute in &message.attributes {
        if let LinkAttribute::LinkInfo(infos) = attribute {
            for info in infos {
                match info {
                    LinkInfo::Kind(kind) => info_kind = Some(kind),
                    LinkInfo::Data(data) => info_data = Some(data),
                    _ => {}
                }
            }
        }
    }
    let kind = match info_kind {
        Some(kind) => decode_tunnel(kind, info_data).unwrap_or_else(|| LinkKind::Other { kind: kind.to_string() }),
        None => LinkKind::Other { kind: link_layer_kind(message.header.link_layer_type) },
    };
    Some(Link { name, kind, up: Some(message.header.flags.contains(LinkFlags::Up)), mtu: Some(mtu.unwrap_or(0)) })
}

/// A kind name for interfaces without IFLA_INFO_KIND (physical NICs, lo): the ARPHRD type,
/// "ether" or "loopback" in practice.
fn link_layer_kind(layer: LinkLayerType) -> String {
    match layer {
        LinkLayerType::Loopback => "loopback".into(),
        LinkLayerType::Ether => "ether".into(),
        other => other.to_string().to_lowercase(),
    }
}

pub(super) fn interface_name(names: &BTreeMap<u32, String>, index: u32) -> String {
    names.get(&index).cloned().unwrap_or_else(|| format!("if{index}"))
}
