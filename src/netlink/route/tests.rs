//! Pure conversions between kernel messages and the model, and error texts. The live
//! counterpart (against a kernel with ipip) is tests/lab/scenarios/20_links_addresses_routes_read.sh.

use rtnetlink::packet_core::{Emitable, Parseable};

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::Duration;

use rtnetlink::packet_route::address::{
    AddressAttribute, AddressFlags, AddressHeaderFlags, AddressMessage, AddressScope,
};
use rtnetlink::packet_route::link::{
    InfoData, InfoGre, InfoGre6, InfoIpTunnel, InfoKind, LinkAttribute, LinkFlags, LinkInfo, LinkLayerType, LinkMessage,
};
use rtnetlink::packet_route::route::{
    RouteAttribute, RouteHeader, RouteProtocol, RouteScope as RtScope, RouteType as RtType, RouteVia,
};
use rtnetlink::packet_route::AddressFamily;

use super::addresses::{
    address_change_message, address_from_message, address_message, describe_address_action, normalise_label,
};
use super::client::{consistent_read, within};
use super::error::{extack_message, hint, Op};
use super::links::{link_from_message, link_name};
use super::routes::{route_from_message, route_message};
use super::tunnels::{decode_tunnel, describe_link, needs_recreate, tunnel_change_message, tunnel_create_message};
use super::*;
use crate::model::addresses::Address;
use crate::model::links::{Ip6tnlMode, Link, LinkKind};
use crate::model::routes::{Route, RouteScope, RouteType, TABLE_LOCAL, TABLE_MAIN};

fn v4(text: &str) -> Ipv4Addr {
    text.parse().unwrap()
}

fn ip(text: &str) -> IpAddr {
    text.parse().unwrap()
}

/// Sends a message through its wire format and back, as the kernel would see and echo it.
fn wire<M: Emitable + Parseable<[u8]>>(message: &M) -> M {
    let mut bytes = vec![0u8; message.buffer_len()];
    message.emit(&mut bytes);
    M::parse(&bytes[..]).expect("parses back")
}

fn names() -> BTreeMap<u32, String> {
    [(1, "lo"), (2, "eth0"), (3, "tunl0"), (7, "tun1")].into_iter().map(|(i, n)| (i, n.to_string())).collect()
}

fn ipip(local: Option<&str>, remote: Option<&str>, ttl: u8, pmtudisc: bool) -> LinkKind {
    LinkKind::Ipip { local: local.map(v4), remote: remote.map(v4), ttl, pmtudisc }
}

fn v6(text: &str) -> Ipv6Addr {
    text.parse().unwrap()
}

fn decode_ipip(data: &[InfoIpTunnel]) -> LinkKind {
    decode_tunnel(&InfoKind::IpIp, Some(&InfoData::IpTunnel(data.to_vec()))).unwrap()
}

fn link_message(index: u32, name: &str, infos: Vec<LinkInfo>, layer: LinkLayerType, up: bool) -> LinkMessage {
    let mut message = LinkMessage::default();
    message.header.index = index;
    message.header.link_layer_type = layer;
    if up {
        message.header.flags = LinkFlags::Up | LinkFlags::Running;
    }
    message.attributes.push(LinkAttribute::IfName(name.into()));
    message.attributes.push(LinkAttribute::Mtu(1480));
    if !infos.is_empty() {
        message.attributes.push(LinkAttribute::LinkInfo(infos));
    }
    message
}

// ---------------------------------------------------------------- links

#[test]
fn ipip_any_endpoints_are_none_and_pmtudisc_defaults_on() {
    let data = [
        InfoIpTunnel::Link(0),
        InfoIpTunnel::Local(ip("0.0.0.0")),
        InfoIpTunnel::Remote(ip("0.0.0.0")),
        InfoIpTunnel::Ttl(0),
        InfoIpTunnel::Tos(0),
        InfoIpTunnel::Protocol(rtnetlink::packet_route::IpProtocol::Ipip),
    ];
    assert_eq!(decode_ipip(&data), ipip(None, None, 0, true));
    assert_eq!(decode_ipip(&[]), ipip(None, None, 0, true));
}

#[test]
fn ipip_endpoints_ttl_and_nopmtudisc_are_decoded() {
    let data = [
        InfoIpTunnel::Local(ip("192.0.2.10")),
        InfoIpTunnel::Remote(ip("198.51.100.22")),
        InfoIpTunnel::Ttl(64),
        InfoIpTunnel::PMtuDisc(false),
        InfoIpTunnel::FwMark(0),
    ];
    assert_eq!(decode_ipip(&data), ipip(Some("192.0.2.10"), Some("198.51.100.22"), 64, false));
}

#[test]
fn tunl0_as_the_kernel_reports_it() {
    // ip -d link show tunl0: "ipip any remote any local any ttl inherit nopmtudisc"
    let message = link_message(
        3,
        "tunl0",
        vec![
            LinkInfo::Kind(InfoKind::IpIp),
            LinkInfo::Data(InfoData::IpTunnel(vec![
                InfoIpTunnel::Local(ip("0.0.0.0")),
                InfoIpTunnel::Remote(ip("0.0.0.0")),
                InfoIpTunnel::Ttl(0),
                InfoIpTunnel::PMtuDisc(false),
            ])),
        ],
        LinkLayerType::Tunnel,
        false,
    );
    let link = link_from_message(&wire(&message)).unwrap();
    assert_eq!(link, Link { name: "tunl0".into(), kind: ipip(None, None, 0, false), up: Some(false), mtu: Some(1480) });
    assert!(link.is_fallback_tunnel());
}

#[test]
fn other_kinds_come_from_info_kind_or_the_link_layer() {
    let veth = link_message(9, "veth0", vec![LinkInfo::Kind(InfoKind::Veth)], LinkLayerType::Ether, true);
    let lo = link_message(1, "lo", vec![], LinkLayerType::Loopback, true);
    let nic = link_message(2, "eth0", vec![], LinkLayerType::Ether, false);
    let kind = |m: &LinkMessage| link_from_message(&wire(m)).unwrap().kind;
    assert_eq!(kind(&veth), LinkKind::Other { kind: "veth".into() });
    assert_eq!(kind(&lo), LinkKind::Other { kind: "loopback".into() });
    assert_eq!(kind(&nic), LinkKind::Other { kind: "ether".into() });
    assert_eq!(link_from_message(&veth).unwrap().up, Some(true));
    assert_eq!(link_from_message(&nic).unwrap().up, Some(false));
}

#[test]
fn created_tunnel_reads_back_as_itself() {
    let link = Link {
        name: "tun1".into(),
        kind: ipip(Some("192.0.2.10"), Some("198.51.100.22"), 64, true),
        up: Some(true),
        mtu: Some(1400),
    };
    let message = tunnel_create_message(&link).unwrap();
    assert!(message.header.flags.contains(LinkFlags::Up));
    assert!(message.header.change_mask.contains(LinkFlags::Up));
    assert_eq!(link_from_message(&wire(&message)), Some(link));
}

#[test]
fn created_any_any_tunnel_sends_explicit_any() {
    let link = Link { name: "tun2".into(), kind: ipip(None, None, 0, false), up: None, mtu: None };
    let message = tunnel_create_message(&link).unwrap();
    assert!(!message.header.change_mask.contains(LinkFlags::Up), "admin state untouched");
    assert!(!message.attributes.iter().any(|a| matches!(a, LinkAttribute::Mtu(_))));
    assert_eq!(link_from_message(&wire(&message)).unwrap().kind, link.kind);
}

#[test]
fn tunl0_and_other_kinds_are_never_created() {
    let tunl0 = Link { name: "tunl0".into(), kind: ipip(None, None, 0, false), up: Some(true), mtu: None };
    assert!(tunnel_create_message(&tunl0).unwrap_err().contains("ipip module"));
    let veth = Link { name: "veth0".into(), kind: LinkKind::Other { kind: "veth".into() }, up: None, mtu: None };
    assert!(tunnel_create_message(&veth).unwrap_err().contains("only creates ipip, gre, sit, ip6tnl and ip6gre"));
    let long =
        Link { name: "a-very-long-tunnel".into(), kind: ipip(None, Some("192.0.2.1"), 0, true), up: None, mtu: None };
    assert!(tunnel_create_message(&long).unwrap_err().contains("not a valid interface name"));
}

#[test]
fn change_keeps_unmanaged_tunnel_attributes_and_replaces_managed_ones() {
    let current = link_message(
        7,
        "tun1",
        vec![
            LinkInfo::Kind(InfoKind::IpIp),
            LinkInfo::Data(InfoData::IpTunnel(vec![
                InfoIpTunnel::Local(ip("192.0.2.10")),
                InfoIpTunnel::Remote(ip("198.51.100.22")),
                InfoIpTunnel::Ttl(64),
                InfoIpTunnel::Tos(0x10),
                InfoIpTunnel::PMtuDisc(true),
            ])),
        ],
        LinkLayerType::Tunnel,
        true,
    );
    let after = Link { name: "tun1".into(), kind: ipip(None, Some("198.51.100.33"), 0, false), up: None, mtu: None };
    let message = wire(&tunnel_change_message(&current, &after).unwrap());
    assert_eq!(message.header.index, 7);
    assert!(link_name(&message).is_none(), "identified by index only");
    let Some(LinkAttribute::LinkInfo(infos)) =
        message.attributes.iter().find(|a| matches!(a, LinkAttribute::LinkInfo(_)))
    else {
        panic!("no IFLA_LINKINFO")
    };
    let Some(LinkInfo::Data(InfoData::IpTunnel(data))) = infos.iter().find(|i| matches!(i, LinkInfo::Data(_))) else {
        panic!("no IFLA_INFO_DATA")
    };
    assert!(data.contains(&InfoIpTunnel::Tos(0x10)), "{data:?}");
    assert_eq!(decode_ipip(data), after.kind);
    assert_eq!(data.iter().filter(|a| matches!(a, InfoIpTunnel::Remote(_))).count(), 1);
}

#[test]
fn switching_between_fixed_and_any_remote_needs_a_new_device() {
    let p2p = ipip(Some("192.0.2.10"), Some("198.51.100.22"), 0, true);
    let other_p2p = ipip(None, Some("198.51.100.33"), 64, true);
    let any = ipip(Some("192.0.2.10"), None, 0, true);
    assert!(!needs_recreate(&p2p, &other_p2p));
    assert!(!needs_recreate(&any, &ipip(Some("192.0.2.11"), None, 0, false)));
    assert!(needs_recreate(&p2p, &any));
    assert!(needs_recreate(&any, &p2p));
}

fn ip6tnl(local: Option<&str>, remote: Option<&str>, hop_limit: u8, mode: Ip6tnlMode) -> LinkKind {
    LinkKind::Ip6tnl { local: local.map(v6), remote: remote.map(v6), hop_limit, mode }
}

fn kind_of(name: &str, infos: Vec<LinkInfo>) -> LinkKind {
    link_from_message(&wire(&link_message(4, name, infos, LinkLayerType::Tunnel, false))).unwrap().kind
}

#[test]
fn fallback_devices_as_the_kernel_reports_them_read_as_their_kinds() {
    // ip -d link show gre0: "gre remote any local any ttl inherit nopmtudisc"
    let gre0 = kind_of(
        "gre0",
        vec![
            LinkInfo::Kind(InfoKind::GreTun),
            LinkInfo::Data(InfoData::GreTun(vec![
                InfoGre::Link(0),
                InfoGre::Local(v4("0.0.0.0")),
                InfoGre::Remote(v4("0.0.0.0")),
                InfoGre::Ttl(0),
                InfoGre::Tos(0),
                InfoGre::PathMTUDiscovery(false),
            ])),
        ],
    );
    assert_eq!(gre0, LinkKind::fallback("gre0").unwrap());
    // sit0: "sit ip6ip remote any local any ttl 64 nopmtudisc"
    let sit0 = kind_of(
        "sit0",
        vec![
            LinkInfo::Kind(InfoKind::SitTun),
            LinkInfo::Data(InfoData::IpTunnel(vec![
                InfoIpTunnel::Local(ip("0.0.0.0")),
                InfoIpTunnel::Remote(ip("0.0.0.0")),
                InfoIpTunnel::Ttl(64),
                InfoIpTunnel::PMtuDisc(false),
                InfoIpTunnel::Protocol(rtnetlink::packet_route::IpProtocol::Ipv6),
            ])),
        ],
    );
    assert_eq!(sit0, LinkKind::fallback("sit0").unwrap());
    // ip6tnl0: "ip6tnl ip6ip6 remote :: local :: encaplimit 0 hoplimit inherit"
    let ip6tnl0 = kind_of(
        "ip6tnl0",
        vec![
            LinkInfo::Kind(InfoKind::Ip6Tnl),
            LinkInfo::Data(InfoData::IpTunnel(vec![
                InfoIpTunnel::Local(ip("::")),
                InfoIpTunnel::Remote(ip("::")),
                InfoIpTunnel::Ttl(0),
                InfoIpTunnel::EncapLimit(0),
                InfoIpTunnel::Protocol(rtnetlink::packet_route::IpProtocol::Ipv6),
            ])),
        ],
    );
    assert_eq!(ip6tnl0, LinkKind::fallback("ip6tnl0").unwrap());
    let ip6gre0 = kind_of(
        "ip6gre0",
        vec![
            LinkInfo::Kind(InfoKind::GreTun6),
            LinkInfo::Data(InfoData::GreTun6(vec![
                InfoGre6::Local(v6("::")),
                InfoGre6::Remote(v6("::")),
                InfoGre6::Ttl(0),
            ])),
        ],
    );
    assert_eq!(ip6gre0, LinkKind::fallback("ip6gre0").unwrap());
}

#[test]
fn ethernet_over_gre_devices_are_other_kinds_not_gre_tunnels() {
    let gre_data = vec![InfoGre::Local(v4("0.0.0.0")), InfoGre::Remote(v4("0.0.0.0"))];
    let gre6_data = vec![InfoGre6::Local(v6("::")), InfoGre6::Remote(v6("::"))];
    for (name, infos, kind) in [
        (
            "gretap0",
            vec![LinkInfo::Kind(InfoKind::GreTap), LinkInfo::Data(InfoData::GreTap(gre_data.clone()))],
            "gretap",
        ),
        ("erspan0", vec![LinkInfo::Kind(InfoKind::ErSpan), LinkInfo::Data(InfoData::ErSpan(gre_data))], "erspan"),
        (
            "ip6gretap0",
            vec![LinkInfo::Kind(InfoKind::GreTap6), LinkInfo::Data(InfoData::GreTap6(gre6_data.clone()))],
            "ip6gretap",
        ),
        (
            "ip6erspan0",
            vec![LinkInfo::Kind(InfoKind::Ip6ErSpan), LinkInfo::Data(InfoData::Ip6ErSpan(gre6_data))],
            "ip6erspan",
        ),
    ] {
        assert_eq!(kind_of(name, infos), LinkKind::Other { kind: kind.into() }, "{name}");
    }
}

#[test]
fn every_tunnel_kind_is_created_as_itself() {
    let kinds = [
        ipip(Some("192.0.2.10"), Some("198.51.100.22"), 64, true),
        LinkKind::Gre { local: Some(v4("192.0.2.10")), remote: None, ttl: 0, pmtudisc: false },
        LinkKind::Sit { local: None, remote: Some(v4("198.51.100.22")), ttl: 64, pmtudisc: true },
        ip6tnl(Some("2001:db8::1"), Some("2001:db8::2"), 64, Ip6tnlMode::Ip6ip6),
        ip6tnl(None, None, 0, Ip6tnlMode::Any),
        ip6tnl(Some("2001:db8::1"), None, 255, Ip6tnlMode::Ipip6),
        LinkKind::Ip6gre { local: None, remote: Some(v6("2001:db8::2")), hop_limit: 64 },
    ];
    for kind in kinds {
        let link = Link { name: "tun1".into(), kind, up: Some(true), mtu: Some(1400) };
        let message = tunnel_create_message(&link).unwrap();
        assert_eq!(link_from_message(&wire(&message)), Some(link.clone()), "{link:?}");
    }
}

#[test]
fn fallback_devices_are_never_created_and_say_which_module_brings_them() {
    for (name, kind, module) in [
        ("gre0", LinkKind::fallback("gre0").unwrap(), "ip_gre"),
        ("sit0", LinkKind::fallback("sit0").unwrap(), "sit"),
        ("ip6tnl0", LinkKind::fallback("ip6tnl0").unwrap(), "ip6_tunnel"),
        ("ip6gre0", LinkKind::fallback("ip6gre0").unwrap(), "ip6_gre"),
    ] {
        let link = Link { name: name.into(), kind, up: Some(true), mtu: None };
        let refusal = tunnel_create_message(&link).unwrap_err();
        assert!(refusal.contains(&format!("created by the {module} module itself (modprobe {module})")), "{refusal}");
    }
}

#[test]
fn a_gre_change_keeps_its_keys_and_an_ip6tnl_change_its_flags() {
    let gre = link_message(
        8,
        "gre1",
        vec![
            LinkInfo::Kind(InfoKind::GreTun),
            LinkInfo::Data(InfoData::GreTun(vec![
                InfoGre::IKey(7),
                InfoGre::Local(v4("192.0.2.10")),
                InfoGre::Remote(v4("198.51.100.22")),
                InfoGre::Ttl(64),
                InfoGre::PathMTUDiscovery(true),
            ])),
        ],
        LinkLayerType::Tunnel,
        true,
    );
    let after = Link {
        name: "gre1".into(),
        kind: LinkKind::Gre { local: None, remote: Some(v4("198.51.100.33")), ttl: 0, pmtudisc: false },
        up: None,
        mtu: None,
    };
    let message = wire(&tunnel_change_message(&gre, &after).unwrap());
    assert_eq!(message.header.index, 8);
    let Some(LinkAttribute::LinkInfo(infos)) =
        message.attributes.iter().find(|a| matches!(a, LinkAttribute::LinkInfo(_)))
    else {
        panic!("no IFLA_LINKINFO")
    };
    let Some(LinkInfo::Data(InfoData::GreTun(data))) = infos.iter().find(|i| matches!(i, LinkInfo::Data(_))) else {
        panic!("no gre IFLA_INFO_DATA: {infos:?}")
    };
    assert!(data.contains(&InfoGre::IKey(7)), "{data:?}");
    assert_eq!(data.iter().filter(|a| matches!(a, InfoGre::Remote(_))).count(), 1);
    assert_eq!(decode_tunnel(&InfoKind::GreTun, Some(&InfoData::GreTun(data.clone()))), Some(after.kind.clone()));

    let ip6tnl0 = link_message(
        5,
        "ip6tnl0",
        vec![
            LinkInfo::Kind(InfoKind::Ip6Tnl),
            LinkInfo::Data(InfoData::IpTunnel(vec![
                InfoIpTunnel::Local(ip("::")),
                InfoIpTunnel::Remote(ip("::")),
                InfoIpTunnel::Ttl(0),
                InfoIpTunnel::EncapLimit(0),
                InfoIpTunnel::Protocol(rtnetlink::packet_route::IpProtocol::Ipv6),
            ])),
        ],
        LinkLayerType::Tunnel6,
        false,
    );
    let any = Link { name: "ip6tnl0".into(), kind: ip6tnl(None, None, 0, Ip6tnlMode::Any), up: None, mtu: None };
    let message = wire(&tunnel_change_message(&ip6tnl0, &any).unwrap());
    let read = link_from_message(&message);
    assert_eq!(read.map(|l| l.kind), None, "no name in a change: identified by index");
    let Some(LinkAttribute::LinkInfo(infos)) =
        message.attributes.iter().find(|a| matches!(a, LinkAttribute::LinkInfo(_)))
    else {
        panic!("no IFLA_LINKINFO")
    };
    let Some(LinkInfo::Data(InfoData::IpTunnel(data))) = infos.iter().find(|i| matches!(i, LinkInfo::Data(_))) else {
        panic!("no IFLA_INFO_DATA")
    };
    assert!(data.contains(&InfoIpTunnel::EncapLimit(0)), "{data:?}");
    assert_eq!(decode_tunnel(&InfoKind::Ip6Tnl, Some(&InfoData::IpTunnel(data.clone()))), Some(any.kind));
    let wrong = Link { kind: LinkKind::Ip6gre { local: None, remote: None, hop_limit: 0 }, ..after };
    assert!(tunnel_change_message(&gre, &wrong).unwrap_err().contains("is not a tunnel of kind ip6gre"));
}

#[test]
fn another_kind_under_the_same_name_needs_a_new_device() {
    let gre = LinkKind::Gre { local: None, remote: Some(v4("198.51.100.22")), ttl: 0, pmtudisc: true };
    let ipip = ipip(None, Some("198.51.100.22"), 0, true);
    assert!(needs_recreate(&gre, &ipip));
    let p2p6 = ip6tnl(None, Some("2001:db8::2"), 64, Ip6tnlMode::Ip6ip6);
    assert!(!needs_recreate(&p2p6, &ip6tnl(None, Some("2001:db8::3"), 64, Ip6tnlMode::Any)));
    assert!(needs_recreate(&p2p6, &ip6tnl(None, None, 64, Ip6tnlMode::Ip6ip6)));
}

// ---------------------------------------------------------------- addresses

fn address_message_from_kernel(
    family: AddressFamily,
    index: u32,
    ip: IpAddr,
    len: u8,
    label: Option<&str>,
) -> AddressMessage {
    let mut message = AddressMessage::default();
    message.header.family = family;
    message.header.index = index;
    message.header.prefix_len = len;
    message.attributes.push(AddressAttribute::Address(ip));
    if family == AddressFamily::Inet {
        message.attributes.push(AddressAttribute::Local(ip));
    }
    if let Some(label) = label {
        message.attributes.push(AddressAttribute::Label(label.into()));
    }
    message
}

#[test]
fn label_equal_to_the_interface_name_reads_as_none() {
    let plain = address_message_from_kernel(AddressFamily::Inet, 1, ip("203.0.113.100"), 32, Some("lo"));
    let alias = address_message_from_kernel(AddressFamily::Inet, 2, ip("203.0.113.100"), 32, Some("eth0:0"));
    let read = |m: &AddressMessage| address_from_message(&wire(m), &names()).unwrap();
    assert_eq!(
        read(&plain),
        Address {
            interface: "lo".into(),
            address: ip("203.0.113.100"),
            prefix_length: 32,
            label: None,
            deprecated: false
        }
    );
    assert_eq!(read(&alias).label.as_deref(), Some("eth0:0"));
    assert_eq!(read(&alias).interface, "eth0");
    assert_eq!(normalise_label(ip("2001:db8::1"), Some("eth0".into()), "eth0"), None);
    assert_eq!(normalise_label(ip("192.0.2.1"), Some("eth0".into()), "eth0"), None);
}

#[test]
fn ipv6_addresses_are_read_but_not_link_local_ones() {
    let global = address_message_from_kernel(AddressFamily::Inet6, 2, ip("2001:db8::100"), 128, None);
    let link_local = address_message_from_kernel(AddressFamily::Inet6, 2, ip("fe80::1"), 64, None);
    let loopback = address_message_from_kernel(AddressFamily::Inet6, 1, ip("::1"), 128, None);
    assert_eq!(address_from_message(&wire(&global), &names()).unwrap().address, ip("2001:db8::100"));
    assert_eq!(address_from_message(&wire(&link_local), &names()), None);
    assert_eq!(address_from_message(&wire(&loopback), &names()).unwrap().interface, "lo");
}

#[test]
fn point_to_point_address_is_the_local_one() {
    let mut message = AddressMessage::default();
    message.header.family = AddressFamily::Inet;
    message.header.index = 7;
    message.header.prefix_len = 32;
    message.attributes.push(AddressAttribute::Local(ip("10.9.0.1")));
    message.attributes.push(AddressAttribute::Address(ip("10.9.0.2")));
    assert_eq!(address_from_message(&wire(&message), &names()).unwrap().address, ip("10.9.0.1"));
}

#[test]
fn ipv4_address_is_sent_like_ip_addr_add() {
    let vip = Address {
        interface: "eth0".into(),
        address: ip("203.0.113.100"),
        prefix_length: 32,
        label: Some("eth0:0".into()),
        deprecated: false,
    };
    let message = address_message(&vip, 2, true).unwrap();
    assert_eq!(message.header.family, AddressFamily::Inet);
    assert_eq!(message.header.scope, AddressScope::Universe);
    assert!(message.attributes.contains(&AddressAttribute::Local(vip.address)));
    assert!(message.attributes.contains(&AddressAttribute::Address(vip.address)));
    assert!(message.attributes.contains(&AddressAttribute::Label("eth0:0".into())));
    assert!(!message.attributes.iter().any(|a| matches!(a, AddressAttribute::Broadcast(_))));
    assert_eq!(address_from_message(&wire(&message), &names()), Some(vip));
    let loopback =
        Address { interface: "lo".into(), address: ip("127.0.0.2"), prefix_length: 8, label: None, deprecated: false };
    assert_eq!(address_message(&loopback, 1, true).unwrap().header.scope, AddressScope::Host);
}

#[test]
fn ipv6_address_skips_dad_when_added_and_refuses_labels() {
    let vip = Address {
        interface: "lo".into(),
        address: ip("2001:db8::100"),
        prefix_length: 128,
        label: None,
        deprecated: false,
    };
    let added = address_message(&vip, 1, true).unwrap();
    assert!(added.attributes.contains(&AddressAttribute::Flags(AddressFlags::Nodad)));
    assert!(added.header.flags.contains(AddressHeaderFlags::Nodad));
    let removed = address_message(&vip, 1, false).unwrap();
    assert!(!removed.attributes.iter().any(|a| matches!(a, AddressAttribute::Flags(_))));
    assert_eq!(address_from_message(&wire(&added), &names()), Some(vip.clone()));
    let labelled = Address { label: Some("lo:6".into()), ..vip };
    assert!(address_message(&labelled, 1, true).unwrap_err().contains("only IPv4"));
}

fn lifetimes_sent(message: &AddressMessage) -> Option<(u32, u32)> {
    message.attributes.iter().find_map(|a| match a {
        AddressAttribute::CacheInfo(info) => Some((info.ifa_preferred, info.ifa_valid)),
        _ => None,
    })
}

#[test]
fn deprecated_ipv6_address_is_added_with_preferred_lifetime_zero() {
    let vip = Address {
        interface: "eth0".into(),
        address: ip("2001:db8:1::100"),
        prefix_length: 128,
        label: None,
        deprecated: true,
    };
    let added = address_message(&vip, 2, true).unwrap();
    assert_eq!(lifetimes_sent(&added), Some((0, u32::MAX)));
    assert!(added.attributes.contains(&AddressAttribute::Flags(AddressFlags::Nodad)));
    let plain = Address { deprecated: false, ..vip.clone() };
    assert_eq!(lifetimes_sent(&address_message(&plain, 2, true).unwrap()), None, "unchanged for other addresses");
    assert_eq!(lifetimes_sent(&address_message(&vip, 2, false).unwrap()), None, "deleting says no lifetimes");
    let v4 = Address { address: ip("203.0.113.100"), prefix_length: 32, ..vip };
    assert!(address_message(&v4, 2, true).unwrap_err().contains("only IPv6"));
}

#[test]
fn changing_an_address_says_its_lifetimes_both_ways_and_keeps_nodad() {
    let vip = Address {
        interface: "eth0".into(),
        address: ip("2001:db8:1::100"),
        prefix_length: 128,
        label: None,
        deprecated: true,
    };
    let deprecate = address_change_message(&vip, 2).unwrap();
    assert_eq!(lifetimes_sent(&deprecate), Some((0, u32::MAX)));
    assert_eq!(deprecate.attributes.iter().filter(|a| matches!(a, AddressAttribute::CacheInfo(_))).count(), 1);
    let prefer = address_change_message(&Address { deprecated: false, ..vip }, 2).unwrap();
    assert_eq!(lifetimes_sent(&prefer), Some((u32::MAX, u32::MAX)));
    assert!(prefer.attributes.contains(&AddressAttribute::Flags(AddressFlags::Nodad)));
}

#[test]
fn deprecated_flag_is_read_for_ipv6_only() {
    let mut v6 = address_message_from_kernel(AddressFamily::Inet6, 2, ip("2001:db8:1::100"), 128, None);
    v6.attributes.push(AddressAttribute::Flags(AddressFlags::Deprecated | AddressFlags::Nodad));
    assert!(address_from_message(&wire(&v6), &names()).unwrap().deprecated);
    let mut header_only = address_message_from_kernel(AddressFamily::Inet6, 2, ip("2001:db8:1::100"), 128, None);
    header_only.header.flags = AddressHeaderFlags::Deprecated;
    assert!(address_from_message(&wire(&header_only), &names()).unwrap().deprecated);
    let mut preferred = address_message_from_kernel(AddressFamily::Inet6, 2, ip("2001:db8:1::100"), 128, None);
    preferred.attributes.push(AddressAttribute::Flags(AddressFlags::Nodad));
    assert!(!address_from_message(&wire(&preferred), &names()).unwrap().deprecated);
    let mut v4 = address_message_from_kernel(AddressFamily::Inet, 2, ip("203.0.113.100"), 32, None);
    v4.attributes.push(AddressAttribute::Flags(AddressFlags::Deprecated));
    assert!(!address_from_message(&wire(&v4), &names()).unwrap().deprecated);
}

// ---------------------------------------------------------------- routes

fn vip_local_route() -> Route {
    Route {
        table: TABLE_LOCAL,
        kind: RouteType::Local,
        destination: ip("203.0.113.100"),
        prefix_length: 32,
        metric: 0,
        device: Some("lo".into()),
        gateway: None,
        scope: RouteScope::Host,
        source: None,
    }
}

#[test]
fn route_is_sent_like_ip_route_add() {
    let route = vip_local_route();
    let message = route_message(&route, Some(1)).unwrap();
    assert_eq!(message.header.table, 255);
    assert_eq!(message.header.protocol, RouteProtocol::Static);
    assert_eq!(message.header.kind, RtType::Local);
    assert_eq!(message.header.scope, RtScope::Host);
    assert!(!message.attributes.iter().any(|a| matches!(a, RouteAttribute::Table(_))));
    assert!(!message.attributes.iter().any(|a| matches!(a, RouteAttribute::Priority(_))));
    assert!(message.attributes.contains(&RouteAttribute::Oif(1)));
    assert_eq!(route_from_message(&wire(&message), &names()), Some(route));
}

#[test]
fn tables_above_255_go_in_rta_table() {
    let route = Route {
        table: 1000,
        kind: RouteType::Unicast,
        destination: ip("0.0.0.0"),
        prefix_length: 0,
        metric: 100,
        device: Some("tun1".into()),
        gateway: Some(ip("10.9.0.2")),
        scope: RouteScope::Universe,
        source: Some(ip("192.0.2.10")),
    };
    let message = route_message(&route, Some(7)).unwrap();
    assert_eq!(message.header.table, RouteHeader::RT_TABLE_UNSPEC);
    assert!(message.attributes.contains(&RouteAttribute::Table(1000)));
    assert!(message.attributes.contains(&RouteAttribute::Priority(100)));
    assert!(!message.attributes.iter().any(|a| matches!(a, RouteAttribute::Destination(_))), "default route");
    assert_eq!(route_from_message(&wire(&message), &names()), Some(route));
}

#[test]
fn ipv6_gateway_for_ipv4_route_is_rta_via() {
    let route = Route { gateway: Some(ip("fe80::1")), device: Some("eth0".into()), ..tables_route() };
    let message = route_message(&route, Some(2)).unwrap();
    assert!(message.attributes.contains(&RouteAttribute::Via(RouteVia::Inet6("fe80::1".parse().unwrap()))));
    assert_eq!(route_from_message(&wire(&message), &names()), Some(route));
    let wrong =
        Route { destination: ip("2001:db8::"), prefix_length: 64, gateway: Some(ip("192.0.2.1")), ..tables_route() };
    assert!(route_message(&wrong, None).unwrap_err().contains("IPv4 gateway"));
}

fn tables_route() -> Route {
    Route {
        table: TABLE_MAIN,
        kind: RouteType::Unicast,
        destination: ip("198.51.100.0"),
        prefix_length: 24,
        metric: 0,
        device: None,
        gateway: None,
        scope: RouteScope::Universe,
        source: None,
    }
}

#[test]
fn unmanaged_route_kinds_are_not_reported() {
    let mut broadcast = route_message(&vip_local_route(), Some(1)).unwrap();
    broadcast.header.kind = RtType::Broadcast;
    assert_eq!(route_from_message(&wire(&broadcast), &names()), None);

    let mut prohibit = route_message(&tables_route(), None).unwrap();
    prohibit.header.kind = RtType::Prohibit;
    assert_eq!(route_from_message(&wire(&prohibit), &names()), None);

    let v6 = |dest: &str, len: u8, kind: RouteType| Route {
        table: TABLE_LOCAL,
        kind,
        destination: ip(dest),
        prefix_length: len,
        device: Some("eth0".into()),
        ..tables_route()
    };
    let read = |route: &Route| route_from_message(&wire(&route_message(route, Some(2)).unwrap()), &names());
    assert_eq!(read(&v6("fe80::", 64, RouteType::Unicast)), None);
    assert_eq!(read(&v6("fe80::5054:ff:fe12:3456", 128, RouteType::Local)), None);
    assert_eq!(read(&v6("ff00::", 8, RouteType::Unicast)), None);
    assert!(read(&v6("2001:db8::100", 128, RouteType::Local)).is_some());
}

#[test]
fn blackhole_and_unreachable_routes_have_no_device() {
    for kind in [RouteType::Blackhole, RouteType::Unreachable] {
        let route = Route { kind, ..tables_route() };
        assert_eq!(route_from_message(&wire(&route_message(&route, None).unwrap()), &names()), Some(route));
    }
}

#[test]
fn routes_are_described_in_ip_route_words() {
    assert_eq!(vip_local_route().to_string(), "local 203.0.113.100/32 dev lo table local scope host");
    let route = Route { gateway: Some(ip("192.0.2.1")), metric: 5, table: 100, ..tables_route() };
    assert_eq!(route.to_string(), "unicast 198.51.100.0/24 via 192.0.2.1 table 100 metric 5");
}

// ---------------------------------------------------------------- errors

/// An NLMSG_ERROR payload after the code: the echoed request header (capped) or the whole
/// request, then an NLMSGERR_ATTR_MSG.
fn error_payload(capped: bool, text: &str) -> Vec<u8> {
    let request_len: u32 = 16 + 12;
    let mut payload = request_len.to_ne_bytes().to_vec();
    payload.extend([0u8; 12]);
    if !capped {
        payload.extend([0xaau8; 12]);
    }
    let mut value = text.as_bytes().to_vec();
    value.push(0);
    payload.extend(((4 + value.len()) as u16).to_ne_bytes());
    payload.extend(1u16.to_ne_bytes());
    payload.extend(&value);
    while payload.len() % 4 != 0 {
        payload.push(0);
    }
    payload
}

#[test]
fn kernel_explanations_are_read_from_the_extended_ack() {
    let text = "Invalid prefix for given prefix length";
    assert_eq!(extack_message(&error_payload(true, text), true).as_deref(), Some(text));
    assert_eq!(extack_message(&error_payload(false, text), false).as_deref(), Some(text));
    assert_eq!(extack_message(&[0u8; 16], true), None);
    assert_eq!(extack_message(&[1, 2, 3], true), None);
}

fn rejected(op: Op<'_>, code: i32, action: &str) -> String {
    RouteNetlinkError::Rejected { action: action.into(), errno: code, kernel: None, hint: hint(op, code) }.to_string()
}

#[test]
fn second_any_any_tunnel_is_explained_as_tunl0() {
    let link = Link { name: "tun9".into(), kind: ipip(None, None, 0, true), up: None, mtu: None };
    let text = rejected(Op::CreateTunnel(&link), errno::EEXIST, "creating ipip tunnel tun9");
    assert!(
        text.contains("with no local/remote this ipip device would be the fallback tunl0, which the ipip module already creates; configure tunl0 instead or give the tunnel a local/remote address"),
        "{text}"
    );
    assert!(text.starts_with("creating ipip tunnel tun9: File exists (EEXIST) — "), "{text}");
    let p2p = Link { kind: ipip(None, Some("192.0.2.1"), 0, true), ..link };
    assert!(rejected(Op::CreateTunnel(&p2p), errno::EEXIST, "x").contains("same local and remote"));
    let ip6gre = Link { kind: LinkKind::Ip6gre { local: None, remote: None, hop_limit: 64 }, ..p2p };
    let text = rejected(Op::CreateTunnel(&ip6gre), errno::EEXIST, "x");
    assert!(text.contains("the fallback ip6gre0, which the ip6_gre module already creates"), "{text}");
    let text = rejected(Op::CreateTunnel(&ip6gre), errno::EOPNOTSUPP, "x");
    assert!(text.contains("run `modprobe ip6_gre`"), "{text}");
}

#[test]
fn errors_name_the_object_the_cause_and_what_to_do() {
    let vip = Address {
        interface: "lo".into(),
        address: ip("203.0.113.100"),
        prefix_length: 32,
        label: None,
        deprecated: false,
    };
    assert_eq!(
        rejected(Op::AddAddress(&vip), errno::ENODEV, &describe_address_action("adding", &vip)),
        "adding 203.0.113.100/32 to lo: No such device (ENODEV) — does interface lo exist?"
    );
    let missing =
        RouteNetlinkError::NoSuchInterface { action: "adding 203.0.113.100/32 to lo".into(), interface: "lo".into() };
    assert!(missing.to_string().contains("does interface lo exist?"));
    assert_eq!(missing.errno(), Some(errno::ENODEV));
    assert!(rejected(Op::AddRoute(&vip_local_route()), errno::EPERM, "adding route").contains("CAP_NET_ADMIN"));
    let with_kernel = RouteNetlinkError::Rejected {
        action: "adding route unicast 198.51.100.0/24 table main".into(),
        errno: errno::EINVAL,
        kernel: Some("Invalid prefix for given prefix length".into()),
        hint: None,
    };
    assert_eq!(
        with_kernel.to_string(),
        "adding route unicast 198.51.100.0/24 table main: Invalid argument (EINVAL) (kernel: Invalid prefix for given prefix length)"
    );
}

#[test]
fn links_are_described_in_ip_link_words() {
    let link = Link { name: "tun1".into(), kind: ipip(Some("192.0.2.10"), None, 0, false), up: None, mtu: None };
    assert_eq!(describe_link(&link), "tun1 (local 192.0.2.10, remote any, ttl inherit, nopmtudisc)");
    let ip6tnl = Link { kind: ip6tnl(None, Some("2001:db8::2"), 64, Ip6tnlMode::Ipip6), ..link };
    assert_eq!(describe_link(&ip6tnl), "tun1 (mode ipip6, local any, remote 2001:db8::2, hoplimit 64)");
}

#[test]
fn a_request_without_an_answer_ends_at_the_time_limit() {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap();
    let never = std::future::pending::<()>();
    assert_eq!(within(&runtime, Duration::from_millis(20), never), None);
    assert_eq!(within(&runtime, Duration::from_millis(20), async { 7 }), Some(7));
}

#[test]
fn an_interrupted_dump_is_read_again_and_never_used() {
    let mut reads = 0;
    let table = consistent_read(3, "reading the routes", || {
        reads += 1;
        Ok((reads, reads < 3))
    });
    assert_eq!((table.unwrap(), reads), (3, 3), "the third, consistent read is the one used");

    let mut reads = 0;
    let error = consistent_read(3, "reading the routes", || {
        reads += 1;
        Ok(((), true))
    })
    .unwrap_err();
    assert_eq!(reads, 3);
    assert!(matches!(error, RouteNetlinkError::Inconsistent { attempts: 3, .. }), "{error}");
    assert!(error.to_string().starts_with("reading the routes: the kernel's table kept changing"), "{error}");
}
