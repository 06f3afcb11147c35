//! Tunnel devices (ipip, sit, ip6tnl, gre, ip6gre) between the model and rtnetlink's
//! IFLA_INFO_DATA: decoding what the kernel reports, and the messages that create and
//! change them. Pure conversions, no I/O.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use rtnetlink::packet_core::Nla;
use rtnetlink::packet_route::link::{
    GreIOFlags, InfoData, InfoGre, InfoGre6, InfoIpTunnel, InfoKind, LinkAttribute, LinkInfo, LinkMessage,
};
use rtnetlink::packet_route::IpProtocol;
use rtnetlink::{LinkMessageBuilder, LinkUnspec};

use crate::model::links::{check_interface_name, Ip6tnlMode, Link, LinkKind, INTERFACE_NAME_RULE};

/// The model's kind of a tunnel device; None for kinds that are not tunnels lvs-converge
/// manages (gretap, erspan, ip6gretap, vti … are Ethernet-over-GRE or IPsec devices, even
/// though the gre modules create some of them as fallbacks too).
pub(crate) fn decode_tunnel(kind: &InfoKind, data: Option<&InfoData>) -> Option<LinkKind> {
    let ip_tunnel = match data {
        Some(InfoData::IpTunnel(data)) => data.as_slice(),
        _ => &[],
    };
    Some(match kind {
        InfoKind::IpIp => {
            let (local, remote, ttl, pmtudisc) = decode_ipv4_tunnel(ip_tunnel);
            LinkKind::Ipip { local, remote, ttl, pmtudisc }
        }
        InfoKind::SitTun => {
            let (local, remote, ttl, pmtudisc) = decode_ipv4_tunnel(ip_tunnel);
            LinkKind::Sit { local, remote, ttl, pmtudisc }
        }
        InfoKind::Ip6Tnl => decode_ip6tnl(ip_tunnel),
        InfoKind::GreTun => decode_gre(match data {
            Some(InfoData::GreTun(data)) => data,
            _ => &[],
        }),
        InfoKind::GreTun6 => decode_ip6gre(match data {
            Some(InfoData::GreTun6(data)) => data,
            _ => &[],
        }),
        _ => return None,
    })
}

fn specified_v4(ip: Ipv4Addr) -> Option<Ipv4Addr> {
    Some(ip).filter(|ip| !ip.is_unspecified())
}

fn specified_v6(ip: Ipv6Addr) -> Option<Ipv6Addr> {
    Some(ip).filter(|ip| !ip.is_unspecified())
}

/// ipip and sit share IFLA_IPTUN_*. The kernel reports "any" as 0.0.0.0; attributes the
/// model does not manage (tos, link, fwmark, encapsulation) are ignored.
fn decode_ipv4_tunnel(data: &[InfoIpTunnel]) -> (Option<Ipv4Addr>, Option<Ipv4Addr>, u8, bool) {
    let v4 = |ip: &IpAddr| match ip {
        IpAddr::V4(v4) => specified_v4(*v4),
        IpAddr::V6(_) => None,
    };
    let (mut local, mut remote, mut ttl) = (None, None, 0);
    // The kernel's default (and what it reports for every named device).
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
    (local, remote, ttl, pmtudisc)
}

fn decode_ip6tnl(data: &[InfoIpTunnel]) -> LinkKind {
    let v6 = |ip: &IpAddr| match ip {
        IpAddr::V6(v6) => specified_v6(*v6),
        IpAddr::V4(_) => None,
    };
    let (mut local, mut remote, mut hop_limit, mut mode) = (None, None, 0, Ip6tnlMode::Any);
    for attribute in data {
        match attribute {
            InfoIpTunnel::Local(ip) => local = v6(ip),
            InfoIpTunnel::Remote(ip) => remote = v6(ip),
            InfoIpTunnel::Ttl(value) => hop_limit = *value,
            InfoIpTunnel::Protocol(protocol) => mode = ip6tnl_mode(*protocol),
            _ => {}
        }
    }
    LinkKind::Ip6tnl { local, remote, hop_limit, mode }
}

/// IFLA_IPTUN_PROTO of an ip6tnl device: the inner protocol it accepts, 0 for both.
fn ip6tnl_mode(protocol: IpProtocol) -> Ip6tnlMode {
    match protocol {
        IpProtocol::Ipv6 => Ip6tnlMode::Ip6ip6,
        IpProtocol::Ipip => Ip6tnlMode::Ipip6,
        _ => Ip6tnlMode::Any,
    }
}

fn ip6tnl_protocol(mode: Ip6tnlMode) -> IpProtocol {
    match mode {
        Ip6tnlMode::Ip6ip6 => IpProtocol::Ipv6,
        Ip6tnlMode::Ipip6 => IpProtocol::Ipip,
        // IPPROTO_IP, which the crate names by its IPv6 meaning.
        Ip6tnlMode::Any => IpProtocol::Hopopts,
    }
}

fn decode_gre(data: &[InfoGre]) -> LinkKind {
    let (mut local, mut remote, mut ttl, mut pmtudisc, mut require_checksum) = (None, None, 0, true, false);
    for attribute in data {
        match attribute {
            InfoGre::Local(ip) => local = specified_v4(*ip),
            InfoGre::Remote(ip) => remote = specified_v4(*ip),
            InfoGre::Ttl(value) => ttl = *value,
            InfoGre::PathMTUDiscovery(value) => pmtudisc = *value,
            InfoGre::IFlags(flags) => require_checksum = flags.contains(GreIOFlags::Checksum),
            _ => {}
        }
    }
    LinkKind::Gre { local, remote, ttl, pmtudisc, require_checksum }
}

/// IFLA_GRE_IFLAGS with the checksum bit as `require_checksum` says and the other bits
/// (keys, sequence numbers, which lvs-converge does not manage) as they are.
fn gre_input_flags(existing: GreIOFlags, require_checksum: bool) -> GreIOFlags {
    let mut flags = existing;
    flags.set(GreIOFlags::Checksum, require_checksum);
    flags
}

fn decode_ip6gre(data: &[InfoGre6]) -> LinkKind {
    let (mut local, mut remote, mut hop_limit) = (None, None, 0);
    for attribute in data {
        match attribute {
            InfoGre6::Local(ip) => local = specified_v6(*ip),
            InfoGre6::Remote(ip) => remote = specified_v6(*ip),
            InfoGre6::Ttl(value) => hop_limit = *value,
            _ => {}
        }
    }
    LinkKind::Ip6gre { local, remote, hop_limit }
}

/// The rtnetlink kind and the managed IFLA_INFO_DATA attributes of a tunnel, "any"
/// endpoints sent explicitly as `ip` sends them.
fn tunnel_info(kind: &LinkKind) -> Result<(InfoKind, InfoData), String> {
    let v4 = |ip: &Option<Ipv4Addr>| IpAddr::V4(ip.unwrap_or(Ipv4Addr::UNSPECIFIED));
    let v6 = |ip: &Option<Ipv6Addr>| ip.unwrap_or(Ipv6Addr::UNSPECIFIED);
    let ipv4_tunnel = |local, remote, ttl: &u8, pmtudisc: &bool| {
        vec![
            InfoIpTunnel::Local(v4(local)),
            InfoIpTunnel::Remote(v4(remote)),
            InfoIpTunnel::Ttl(*ttl),
            InfoIpTunnel::PMtuDisc(*pmtudisc),
        ]
    };
    Ok(match kind {
        LinkKind::Ipip { local, remote, ttl, pmtudisc } => {
            (InfoKind::IpIp, InfoData::IpTunnel(ipv4_tunnel(local, remote, ttl, pmtudisc)))
        }
        LinkKind::Sit { local, remote, ttl, pmtudisc } => {
            (InfoKind::SitTun, InfoData::IpTunnel(ipv4_tunnel(local, remote, ttl, pmtudisc)))
        }
        LinkKind::Ip6tnl { local, remote, hop_limit, mode } => (
            InfoKind::Ip6Tnl,
            InfoData::IpTunnel(vec![
                InfoIpTunnel::Local(IpAddr::V6(v6(local))),
                InfoIpTunnel::Remote(IpAddr::V6(v6(remote))),
                InfoIpTunnel::Ttl(*hop_limit),
                InfoIpTunnel::Protocol(ip6tnl_protocol(*mode)),
            ]),
        ),
        LinkKind::Gre { local, remote, ttl, pmtudisc, require_checksum } => (
            InfoKind::GreTun,
            InfoData::GreTun(vec![
                InfoGre::Local(local.unwrap_or(Ipv4Addr::UNSPECIFIED)),
                InfoGre::Remote(remote.unwrap_or(Ipv4Addr::UNSPECIFIED)),
                InfoGre::Ttl(*ttl),
                InfoGre::PathMTUDiscovery(*pmtudisc),
                InfoGre::IFlags(gre_input_flags(GreIOFlags::empty(), *require_checksum)),
            ]),
        ),
        LinkKind::Ip6gre { local, remote, hop_limit } => (
            InfoKind::GreTun6,
            InfoData::GreTun6(vec![
                InfoGre6::Local(v6(local)),
                InfoGre6::Remote(v6(remote)),
                InfoGre6::Ttl(*hop_limit),
            ]),
        ),
        LinkKind::Other { kind } => {
            return Err(format!(
                "it is of kind {kind}; lvs-converge only creates ipip, gre, sit, ip6tnl and ip6gre tunnels"
            ))
        }
    })
}

/// RTM_NEWLINK (create) of a tunnel device with MTU and admin state in the same message.
pub(crate) fn tunnel_create_message(link: &Link) -> Result<LinkMessage, String> {
    if link.is_fallback_tunnel() {
        let module = LinkKind::fallback(&link.name).and_then(|kind| kind.module()).unwrap_or("its");
        return Err(format!(
            "{} is created by the {module} module itself (modprobe {module}); it can only be configured",
            link.name
        ));
    }
    if check_interface_name(&link.name).is_err() {
        return Err(format!("`{}` is not a valid interface name ({INTERFACE_NAME_RULE})", link.name));
    }
    let (kind, data) = tunnel_info(&link.kind)?;
    let mut builder =
        LinkMessageBuilder::<LinkUnspec>::new_with_info_kind(kind).name(link.name.clone()).set_info_data(data);
    if let Some(mtu) = link.mtu {
        builder = builder.mtu(mtu);
    }
    if link.up == Some(true) {
        builder = builder.up();
    }
    Ok(builder.build())
}

/// RTM_NEWLINK (change) of an existing tunnel device: its current IFLA_INFO_DATA with the
/// managed attributes replaced. The kernel rebuilds all tunnel parameters from the message
/// (an attribute left out resets to its default), so the unmanaged ones (tos, link, flags,
/// fwmark, encapsulation, keys) are sent back as they are.
pub(crate) fn tunnel_change_message(current: &LinkMessage, after: &Link) -> Result<LinkMessage, String> {
    let (kind, managed) = tunnel_info(&after.kind)?;
    let mut current_kind = None;
    let mut current_data = None;
    for attribute in &current.attributes {
        if let LinkAttribute::LinkInfo(infos) = attribute {
            for info in infos {
                match info {
                    LinkInfo::Kind(kind) => current_kind = Some(kind),
                    LinkInfo::Data(data) => current_data = Some(data),
                    _ => {}
                }
            }
        }
    }
    if current_kind != Some(&kind) {
        return Err(format!("{} is not a tunnel of kind {}", after.name, after.kind.name()));
    }
    let data = match (current_data, managed) {
        (Some(InfoData::IpTunnel(existing)), InfoData::IpTunnel(managed)) => {
            InfoData::IpTunnel(replace_attributes(existing, managed))
        }
        (Some(InfoData::GreTun(existing)), InfoData::GreTun(managed)) => {
            let existing_flags = existing.iter().find_map(|a| match a {
                InfoGre::IFlags(flags) => Some(*flags),
                _ => None,
            });
            let managed = managed
                .into_iter()
                .map(|a| match (a, existing_flags) {
                    (InfoGre::IFlags(wanted), Some(existing)) => {
                        InfoGre::IFlags(gre_input_flags(existing, wanted.contains(GreIOFlags::Checksum)))
                    }
                    (a, _) => a,
                })
                .collect();
            InfoData::GreTun(replace_attributes(existing, managed))
        }
        (Some(InfoData::GreTun6(existing)), InfoData::GreTun6(managed)) => {
            InfoData::GreTun6(replace_attributes(existing, managed))
        }
        (_, managed) => managed,
    };
    Ok(LinkMessageBuilder::<LinkUnspec>::new_with_info_kind(kind)
        .index(current.header.index)
        .set_info_data(data)
        .build())
}

/// `existing` without the attribute types `managed` carries, then `managed`.
fn replace_attributes<A: Nla + Clone>(existing: &[A], managed: Vec<A>) -> Vec<A> {
    let replaced: Vec<u16> = managed.iter().map(Nla::kind).collect();
    existing.iter().filter(|a| !replaced.contains(&a.kind())).cloned().chain(managed).collect()
}

/// True when the kernel cannot change `before` into `after` in place: another kind is
/// another driver; and ip_tunnel_changelink (ipip, gre) refuses to give an any-remote
/// device a remote or to take a point-to-point device's remote away (IFF_POINTOPOINT is
/// fixed at creation), which sit and the IPv6 tunnels are treated alike for.
pub(crate) fn needs_recreate(before: &LinkKind, after: &LinkKind) -> bool {
    if std::mem::discriminant(before) != std::mem::discriminant(after) {
        return true;
    }
    remote_is_set(before) != remote_is_set(after)
}

fn remote_is_set(kind: &LinkKind) -> bool {
    match kind {
        LinkKind::Ipip { remote, .. } | LinkKind::Gre { remote, .. } | LinkKind::Sit { remote, .. } => remote.is_some(),
        LinkKind::Ip6tnl { remote, .. } | LinkKind::Ip6gre { remote, .. } => remote.is_some(),
        LinkKind::Other { .. } => false,
    }
}

/// A link in `ip -d link` words, without its kind: "tun1 (local 192.0.2.10, remote any,
/// ttl 64, pmtudisc)".
pub fn describe_link(link: &Link) -> String {
    fn any<T: ToString>(ip: &Option<T>) -> String {
        ip.as_ref().map_or("any".to_string(), |ip| ip.to_string())
    }
    let inherit = |ttl: &u8| if *ttl == 0 { "inherit".to_string() } else { ttl.to_string() };
    let pmtu = |pmtudisc: &bool| if *pmtudisc { "pmtudisc" } else { "nopmtudisc" };
    let name = &link.name;
    match &link.kind {
        LinkKind::Gre { local, remote, ttl, pmtudisc, require_checksum: true } => format!(
            "{name} (local {}, remote {}, ttl {}, {}, icsum)",
            any(local),
            any(remote),
            inherit(ttl),
            pmtu(pmtudisc)
        ),
        LinkKind::Ipip { local, remote, ttl, pmtudisc }
        | LinkKind::Gre { local, remote, ttl, pmtudisc, .. }
        | LinkKind::Sit { local, remote, ttl, pmtudisc } => {
            format!("{name} (local {}, remote {}, ttl {}, {})", any(local), any(remote), inherit(ttl), pmtu(pmtudisc))
        }
        LinkKind::Ip6tnl { local, remote, hop_limit, mode } => format!(
            "{name} (mode {mode}, local {}, remote {}, hoplimit {})",
            any(local),
            any(remote),
            inherit(hop_limit)
        ),
        LinkKind::Ip6gre { local, remote, hop_limit } => {
            format!("{name} (local {}, remote {}, hoplimit {})", any(local), any(remote), inherit(hop_limit))
        }
        LinkKind::Other { kind } => format!("{name} ({kind})"),
    }
}
