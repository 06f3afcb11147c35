//! Interfaces: reading them, creating and changing ipip tunnels, MTU and admin state.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr};

use rtnetlink::packet_route::link::{
    InfoData, InfoIpTunnel, InfoKind, LinkAttribute, LinkFlags, LinkInfo, LinkLayerType, LinkMessage,
};
use rtnetlink::packet_route::RouteNetlinkMessage;
use rtnetlink::{LinkIpIp, LinkMessageBuilder, LinkUnspec};

use crate::model::addresses::Address;
use crate::model::links::{check_interface_name, Link, LinkKind, FALLBACK_TUNNEL, INTERFACE_NAME_RULE};
use crate::model::routes::Route;

use super::client::RouteClient;
use super::error::{Op, RouteNetlinkError};

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

    /// `ip link add NAME type ipip local L remote R ttl T [no]pmtudisc [mtu M] [up]`.
    pub fn create_ipip(&mut self, link: &Link) -> Result<(), RouteNetlinkError> {
        let action = format!("creating ipip tunnel {}", describe_link(link));
        let message = ipip_create_message(link)
            .map_err(|detail| RouteNetlinkError::InvalidRequest { action: action.clone(), detail })?;
        let request = self.handle.link().add(message).execute();
        self.wait(action, Op::CreateIpip(link), request)
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
            (LinkKind::Ipip { .. }, LinkKind::Ipip { .. }) if before.kind == after.kind => false,
            (LinkKind::Ipip { .. }, LinkKind::Ipip { .. }) => {
                if before.is_fallback_tunnel() {
                    return Err(RouteNetlinkError::InvalidRequest {
                        action: format!("changing the tunnel parameters of {name}"),
                        detail: format!(
                            "{FALLBACK_TUNNEL} is the ipip module's fallback device; its endpoints, TTL and PMTU discovery cannot be changed (only its MTU and admin state)"
                        ),
                    });
                }
                needs_recreate(&before.kind, &after.kind)
            }
            (LinkKind::Other { kind }, LinkKind::Ipip { .. }) => {
                return Err(RouteNetlinkError::InvalidRequest {
                    action: format!("making {name} an ipip tunnel"),
                    detail: format!(
                        "{name} already exists as a {kind} interface; delete it or give the tunnel another name"
                    ),
                });
            }
            (before_kind, after_kind) => {
                return Err(RouteNetlinkError::InvalidRequest {
                    action: format!("changing {name} from {} to {}", before_kind.name(), after_kind.name()),
                    detail: "changing gre, sit, ip6tnl and ip6gre tunnels is not supported yet".into(),
                });
            }
        };
        if recreate {
            return self.recreate_ipip(before, after);
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
        if matches!(to.kind, LinkKind::Ipip { .. }) && from.kind != to.kind {
            self.change_tunnel(to)?;
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

    fn change_tunnel(&mut self, after: &Link) -> Result<(), RouteNetlinkError> {
        let name = after.name.as_str();
        let action = format!("changing ipip tunnel {} in place", describe_link(after));
        let current = self.link_message_by_name(name, &action)?;
        let message = ipip_change_message(&current, after)
            .map_err(|detail| RouteNetlinkError::InvalidRequest { action: action.clone(), detail })?;
        let request = self.handle.link().change(message).execute();
        self.wait(action, Op::ChangeTunnel(name), request)
    }

    /// Deletes the tunnel and creates it again with `after`'s parameters, putting back the
    /// addresses and routes it had. If that fails once the old device is gone, the old one
    /// is built again as it was, so that a refused change does not lose the tunnel.
    fn recreate_ipip(&mut self, before: &Link, after: &Link) -> Result<(), RouteNetlinkError> {
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
            let what = "the kernel cannot switch a tunnel between a fixed and an any remote in place, so it is deleted and created again";
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
        let Err(cause) = self.build_ipip(&replacement, &addresses, &routes).map_err(context) else {
            return Ok(());
        };
        let restored = match self.delete_link(name) {
            Ok(()) | Err(RouteNetlinkError::NoSuchInterface { .. }) => self.build_ipip(before, &addresses, &routes),
            Err(e) => Err(e),
        };
        match restored {
            Ok(()) => Err(cause),
            Err(restore) => Err(RouteNetlinkError::not_restored(name, cause, restore)),
        }
    }

    /// Creates an ipip tunnel with these addresses and routes on it.
    fn build_ipip(&mut self, link: &Link, addresses: &[Address], routes: &[Route]) -> Result<(), RouteNetlinkError> {
        crate::fault::fail_at("ipip-create").map_err(|detail| RouteNetlinkError::InvalidRequest {
            action: format!("creating ipip tunnel {}", describe_link(link)),
            detail,
        })?;
        self.create_ipip(link)?;
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

    /// `ip link del NAME`. Refuses the fallback tunl0, which the kernel would silently keep.
    pub fn delete_link(&mut self, name: &str) -> Result<(), RouteNetlinkError> {
        let action = format!("deleting interface {name}");
        if name == FALLBACK_TUNNEL {
            return Err(RouteNetlinkError::InvalidRequest {
                action,
                detail: format!(
                    "{FALLBACK_TUNNEL} belongs to the ipip module and cannot be deleted (only unloading ipip removes it)"
                ),
            });
        }
        let index = self.index_of(name, &action)?;
        let request = self.handle.link().del(index).execute();
        self.wait(action, Op::DeleteLink(name), request)
    }
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
        Some(InfoKind::IpIp) => match info_data {
            Some(InfoData::IpTunnel(data)) => decode_ipip(data),
            _ => decode_ipip(&[]),
        },
        Some(kind) => LinkKind::Other { kind: kind.to_string() },
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

/// IFLA_INFO_DATA of an ipip device → the model. The kernel reports "any" as 0.0.0.0;
/// attributes the model does not manage (tos, link, fwmark, encapsulation) are ignored.
pub(crate) fn decode_ipip(data: &[InfoIpTunnel]) -> LinkKind {
    let v4 = |ip: &IpAddr| match ip {
        IpAddr::V4(v4) if !v4.is_unspecified() => Some(*v4),
        _ => None,
    };
    let mut local = None;
    let mut remote = None;
    let mut ttl = 0;
    // The kernel's default (and what it reports for every ipip device but tunl0).
    let mut pmtudisc = true;
    for attribute in data {
        match attribute {
            InfoIpTunnel::Local(ip) => local = v4(ip),
            InfoIpTunnel::Remote(ip) => remote = v4(ip),
            InfoIpTunnel::Ttl(value) => ttl = *value,
            InfoIpTunnel::PMtuDisc(value) => pmtudisc = *value,
            _ => {}
        }
    }
    LinkKind::Ipip { local, remote, ttl, pmtudisc }
}

pub(super) fn interface_name(names: &BTreeMap<u32, String>, index: u32) -> String {
    names.get(&index).cloned().unwrap_or_else(|| format!("if{index}"))
}

/// True when the kernel cannot change `before` into `after` in place: ipip_changelink
/// refuses to give an any-remote device a remote or to take a point-to-point device's
/// remote away (the IFF_POINTOPOINT flag is fixed at creation).
pub(crate) fn needs_recreate(before: &LinkKind, after: &LinkKind) -> bool {
    match (before, after) {
        (LinkKind::Ipip { remote: r1, .. }, LinkKind::Ipip { remote: r2, .. }) => r1.is_some() != r2.is_some(),
        _ => false,
    }
}

fn ipip_fields(kind: &LinkKind) -> Result<(Option<Ipv4Addr>, Option<Ipv4Addr>, u8, bool), String> {
    match kind {
        LinkKind::Ipip { local, remote, ttl, pmtudisc } => Ok((*local, *remote, *ttl, *pmtudisc)),
        LinkKind::Other { kind } => Err(format!("it is of kind {kind}; lvs-converge only creates ipip tunnels")),
        other => Err(format!("{} tunnels are not supported yet", other.name())),
    }
}

/// RTM_NEWLINK (create) of an ipip device with MTU and admin state in the same message.
pub(crate) fn ipip_create_message(link: &Link) -> Result<LinkMessage, String> {
    if link.is_fallback_tunnel() {
        return Err(format!(
            "{FALLBACK_TUNNEL} is created by the ipip module itself (modprobe ipip); it can only be configured"
        ));
    }
    if check_interface_name(&link.name).is_err() {
        return Err(format!("`{}` is not a valid interface name ({INTERFACE_NAME_RULE})", link.name));
    }
    let (local, remote, ttl, pmtudisc) = ipip_fields(&link.kind)?;
    let mut builder: LinkMessageBuilder<LinkIpIp> = LinkIpIp::new(&link.name);
    // Explicit "any" (0.0.0.0) is what `ip` sends too.
    builder = builder
        .local(local.unwrap_or(Ipv4Addr::UNSPECIFIED))
        .remote(remote.unwrap_or(Ipv4Addr::UNSPECIFIED))
        .ttl(ttl)
        .pmtudisc(pmtudisc);
    if let Some(mtu) = link.mtu {
        builder = builder.mtu(mtu);
    }
    if link.up == Some(true) {
        builder = builder.up();
    }
    Ok(builder.build())
}

/// RTM_NEWLINK (change) of an existing ipip device: its current IFLA_INFO_DATA with the
/// four managed attributes replaced. The kernel rebuilds all tunnel parameters from the
/// message (an attribute left out resets to its default), so the unmanaged ones (tos,
/// link, fwmark, encapsulation) are sent back as they are.
pub(crate) fn ipip_change_message(current: &LinkMessage, after: &Link) -> Result<LinkMessage, String> {
    let (local, remote, ttl, pmtudisc) = ipip_fields(&after.kind)?;
    let mut data: Vec<InfoIpTunnel> = Vec::new();
    let mut is_ipip = false;
    for attribute in &current.attributes {
        if let LinkAttribute::LinkInfo(infos) = attribute {
            for info in infos {
                match info {
                    LinkInfo::Kind(InfoKind::IpIp) => is_ipip = true,
                    LinkInfo::Data(InfoData::IpTunnel(existing)) => data = existing.clone(),
                    _ => {}
                }
            }
        }
    }
    if !is_ipip {
        return Err(format!("{} is not an ipip tunnel", after.name));
    }
    data.retain(|a| {
        !matches!(
            a,
            InfoIpTunnel::Local(_) | InfoIpTunnel::Remote(_) | InfoIpTunnel::Ttl(_) | InfoIpTunnel::PMtuDisc(_)
        )
    });
    data.extend([
        InfoIpTunnel::Local(IpAddr::V4(local.unwrap_or(Ipv4Addr::UNSPECIFIED))),
        InfoIpTunnel::Remote(IpAddr::V4(remote.unwrap_or(Ipv4Addr::UNSPECIFIED))),
        InfoIpTunnel::Ttl(ttl),
        InfoIpTunnel::PMtuDisc(pmtudisc),
    ]);
    Ok(LinkMessageBuilder::<LinkIpIp>::new_with_info_kind(InfoKind::IpIp)
        .index(current.header.index)
        .set_info_data(InfoData::IpTunnel(data))
        .build())
}

/// A link in `ip link` words: "tun1 (local 192.0.2.10, remote any, ttl 64, pmtudisc)".
pub fn describe_link(link: &Link) -> String {
    match &link.kind {
        LinkKind::Ipip { local, remote, ttl, pmtudisc } => {
            let any = |ip: &Option<Ipv4Addr>| ip.map_or("any".to_string(), |ip| ip.to_string());
            let ttl = if *ttl == 0 { "inherit".to_string() } else { ttl.to_string() };
            format!(
                "{} (local {}, remote {}, ttl {ttl}, {})",
                link.name,
                any(local),
                any(remote),
                if *pmtudisc { "pmtudisc" } else { "nopmtudisc" }
            )
        }
        other => format!("{} ({})", link.name, other.name()),
    }
}
