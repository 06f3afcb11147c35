//! Encoding and decoding against hand-written bytes, laid out the way
//! include/uapi/linux/ip_vs.h and the kernel's ip_vs_ctl.c do. No kernel needed.

use std::io::Cursor;
use std::net::IpAddr;

use neli::genl::Genlmsghdr;
use neli::nl::{NlPayload, Nlmsghdr};
use neli::FromBytes;

use super::codec;
use super::*;
use crate::model::ipvs::{
    Family, ForwardingMethod, Persistence, Protocol, Scheduler, SchedulerFlag, TunnelEncapsulation, TunnelType,
};
use crate::netlink::genl::tests::{nla, nlmsg};
use crate::netlink::genl::{self, controller, parse_datagram, DecodeError, Reply, Writer};

// ------------------------------------------------------------------ byte builders

const FAMILY: u16 = 0x1c;
const NESTED: u16 = 0x8000;

fn nested(kind: u16, children: &[Vec<u8>]) -> Vec<u8> {
    nla(kind, &children.concat())
}

fn genl(command: u8, attrs: &[Vec<u8>]) -> Vec<u8> {
    let mut out = vec![command, 1, 0, 0];
    out.extend_from_slice(&attrs.concat());
    out
}

fn u16b(v: u16) -> Vec<u8> {
    v.to_ne_bytes().to_vec()
}
fn u32b(v: u32) -> Vec<u8> {
    v.to_ne_bytes().to_vec()
}
fn addr16(a: &str) -> Vec<u8> {
    let mut out = [0u8; 16];
    match a.parse::<IpAddr>().unwrap() {
        IpAddr::V4(v4) => out[..4].copy_from_slice(&v4.octets()),
        IpAddr::V6(v6) => out = v6.octets(),
    }
    out.to_vec()
}
fn flags_struct(flags: u32, mask: u32) -> Vec<u8> {
    [flags.to_ne_bytes(), mask.to_ne_bytes()].concat()
}

fn encoded(op: &IpvsOp<'_>, seq: u32) -> Vec<u8> {
    let mut w = Writer::new();
    codec::encode_op(&mut w, FAMILY, seq, op).expect("encodable");
    w.bytes().to_vec()
}

fn encode_error(op: &IpvsOp<'_>) -> String {
    let mut w = Writer::new();
    let error = codec::encode_op(&mut w, FAMILY, 1, op).expect_err("should not encode");
    assert!(w.bytes().is_empty(), "a failed encoding must leave nothing behind");
    error
}

/// Our bytes read back by neli's own parser: the message must be well-formed netlink.
fn neli_parse(bytes: &[u8]) -> Genlmsghdr<u8, u16> {
    let message = Nlmsghdr::<u16, Genlmsghdr<u8, u16>>::from_bytes(&mut Cursor::new(bytes)).expect("neli parses it");
    assert_eq!(*message.nl_len() as usize, bytes.len());
    match message.nl_payload() {
        NlPayload::Payload(genl) => genl.clone(),
        other => panic!("{other:?}"),
    }
}

/// `u32` attribute `inner` of nested attribute `outer`, as neli reads it.
fn neli_nested_u32(genl: &Genlmsghdr<u8, u16>, outer: u16, inner: u16) -> u32 {
    let handle = genl.attrs().get_attr_handle();
    handle.get_nested_attributes::<u16>(outer).unwrap().get_attr_payload_as::<u32>(inner).unwrap()
}

fn neli_nested_u16(genl: &Genlmsghdr<u8, u16>, outer: u16, inner: u16) -> u16 {
    let handle = genl.attrs().get_attr_handle();
    handle.get_nested_attributes::<u16>(outer).unwrap().get_attr_payload_as::<u16>(inner).unwrap()
}

const REQ_ACK: u16 = 0x1 | 0x4;

// ------------------------------------------------------------------ model fixtures

fn tcp80() -> ServiceKey {
    ServiceKey::Address { protocol: Protocol::Tcp, address: "192.0.2.10".parse().unwrap(), port: 80 }
}

fn udp53_v6() -> ServiceKey {
    ServiceKey::Address { protocol: Protocol::Udp, address: "2001:db8::53".parse().unwrap(), port: 53 }
}

fn fwmark7() -> ServiceKey {
    ServiceKey::FirewallMark { fwmark: 7, family: Family::Ipv4 }
}

fn plain_settings() -> ServiceSettings {
    ServiceSettings { scheduler: Scheduler::Wlc, scheduler_flags: vec![], persistence: None, one_packet: false }
}

fn tunnel_dest() -> Destination {
    Destination {
        address: "198.51.100.7".parse().unwrap(),
        port: 8080,
        method: ForwardingMethod::Tunnel,
        weight: 3,
        upper_threshold: 100,
        lower_threshold: 10,
        tunnel: TunnelEncapsulation { kind: TunnelType::Gue, port: 5555, flags: 1 },
    }
}

fn tcp80_identity() -> Vec<Vec<u8>> {
    vec![nla(1, &u16b(2)), nla(2, &u16b(6)), nla(3, &addr16("192.0.2.10")), nla(4, &[0x00, 0x50])]
}

// ------------------------------------------------------------------ requests

#[test]
fn new_service_without_persistence_sends_ipvsadm_defaults() {
    let settings = plain_settings();
    let mut svc = tcp80_identity();
    svc.push(nla(6, b"wlc\0"));
    svc.push(nla(7, &flags_struct(0, 0x3d)));
    svc.push(nla(8, &u32b(0)));
    svc.push(nla(9, &[0xff, 0xff, 0xff, 0xff]));
    let expected = nlmsg(FAMILY, REQ_ACK, 7, &genl(1, &[nested(1 | NESTED, &svc)]));
    assert_eq!(encoded(&IpvsOp::NewService(tcp80(), &settings), 7), expected);
}

#[test]
fn set_service_carries_persistence_flags_and_engine() {
    let settings = ServiceSettings {
        scheduler: Scheduler::Sh,
        scheduler_flags: vec![SchedulerFlag::ShFallback, SchedulerFlag::ShPort],
        persistence: Some(Persistence { timeout: 600, prefix_length: 24, engine: Some("sip".into()) }),
        one_packet: true,
    };
    let mut svc = tcp80_identity();
    svc.push(nla(6, b"sh\0"));
    svc.push(nla(7, &flags_struct(0x1 | 0x4 | 0x8 | 0x10, 0x3d)));
    svc.push(nla(8, &u32b(600)));
    svc.push(nla(9, &[255, 255, 255, 0]));
    svc.push(nla(11, b"sip\0"));
    let expected = nlmsg(FAMILY, REQ_ACK, 1, &genl(2, &[nested(1 | NESTED, &svc)]));
    assert_eq!(encoded(&IpvsOp::SetService(tcp80(), &settings), 1), expected);
}

#[test]
fn ipv6_netmask_is_a_prefix_length_in_host_order() {
    let mut settings = plain_settings();
    let svc = nested(
        1 | NESTED,
        &[
            nla(1, &u16b(10)),
            nla(2, &u16b(17)),
            nla(3, &addr16("2001:db8::53")),
            nla(4, &[0, 53]),
            nla(6, b"wlc\0"),
            nla(7, &flags_struct(0, 0x3d)),
            nla(8, &u32b(0)),
            nla(9, &u32b(128)),
        ],
    );
    assert_eq!(encoded(&IpvsOp::NewService(udp53_v6(), &settings), 2), nlmsg(FAMILY, REQ_ACK, 2, &genl(1, &[svc])));
    settings.persistence = Some(Persistence { timeout: 300, prefix_length: 64, engine: None });
    let genl = neli_parse(&encoded(&IpvsOp::NewService(udp53_v6(), &settings), 3));
    assert_eq!((*genl.cmd(), *genl.version()), (1, 1));
    assert_eq!(neli_nested_u32(&genl, 1, 9), 64);
    assert_eq!(neli_nested_u32(&genl, 1, 7), 0x1);
}

#[test]
fn prefix_lengths_encode_as_contiguous_masks() {
    for (prefix, mask) in [(0u8, [0u8, 0, 0, 0]), (1, [128, 0, 0, 0]), (17, [255, 255, 128, 0]), (32, [255; 4])] {
        let settings = ServiceSettings {
            persistence: Some(Persistence { timeout: 1, prefix_length: prefix, engine: None }),
            ..plain_settings()
        };
        let genl = neli_parse(&encoded(&IpvsOp::NewService(tcp80(), &settings), 1));
        assert_eq!(neli_nested_u32(&genl, 1, 9), u32::from_ne_bytes(mask), "/{prefix}");
    }
    let too_long = ServiceSettings {
        persistence: Some(Persistence { timeout: 1, prefix_length: 33, engine: None }),
        ..plain_settings()
    };
    assert!(encode_error(&IpvsOp::NewService(tcp80(), &too_long)).contains("/33"));
}

#[test]
fn del_service_by_fwmark_sends_identity_only() {
    let svc = nested(1 | NESTED, &[nla(1, &u16b(2)), nla(5, &u32b(7))]);
    assert_eq!(encoded(&IpvsOp::DelService(fwmark7()), 3), nlmsg(FAMILY, REQ_ACK, 3, &genl(3, &[svc])));
}

fn full_dest_attrs(d: &Destination) -> Vec<Vec<u8>> {
    let af = if d.address.is_ipv4() { 2 } else { 10 };
    vec![
        nla(11, &u16b(af)),
        nla(1, &addr16(&d.address.to_string())),
        nla(2, &d.port.to_be_bytes()),
        nla(3, &u32b(d.method.kernel_value())),
        nla(4, &u32b(d.weight)),
        nla(5, &u32b(d.upper_threshold)),
        nla(6, &u32b(d.lower_threshold)),
        nla(13, &[d.tunnel.kind.kernel_value()]),
        nla(14, &d.tunnel.port.to_be_bytes()),
        nla(15, &u16b(d.tunnel.flags)),
    ]
}

#[test]
fn new_and_set_dest_carry_service_identity_and_full_destination() {
    let dest = tunnel_dest();
    let body =
        |command| genl(command, &[nested(1 | NESTED, &tcp80_identity()), nested(2 | NESTED, &full_dest_attrs(&dest))]);
    assert_eq!(encoded(&IpvsOp::NewDest(tcp80(), &dest), 4), nlmsg(FAMILY, REQ_ACK, 4, &body(5)));
    assert_eq!(encoded(&IpvsOp::SetDest(tcp80(), &dest), 5), nlmsg(FAMILY, REQ_ACK, 5, &body(6)));
    // The port really is big-endian on the wire: 8080 = 0x1f90, 5555 = 0x15b3.
    let bytes = encoded(&IpvsOp::NewDest(tcp80(), &dest), 4);
    assert!(bytes.windows(6).any(|w| w == [6, 0, 2, 0, 0x1f, 0x90]));
    assert!(bytes.windows(6).any(|w| w == [6, 0, 14, 0, 0x15, 0xb3]));
}

#[test]
fn ipv4_real_server_of_ipv6_service_says_its_own_family() {
    let dest = Destination { address: "203.0.113.5".parse().unwrap(), ..tunnel_dest() };
    let genl = neli_parse(&encoded(&IpvsOp::NewDest(udp53_v6(), &dest), 1));
    assert_eq!(neli_nested_u16(&genl, 1, 1), 10);
    assert_eq!(neli_nested_u16(&genl, 2, 11), 2);
}

#[test]
fn del_dest_sends_identities_only() {
    let key = DestinationKey { address: "198.51.100.7".parse().unwrap(), port: 80 };
    let dest = nested(2 | NESTED, &[nla(11, &u16b(2)), nla(1, &addr16("198.51.100.7")), nla(2, &[0, 80])]);
    assert_eq!(
        encoded(&IpvsOp::DelDest(tcp80(), key), 6),
        nlmsg(FAMILY, REQ_ACK, 6, &genl(7, &[nested(1 | NESTED, &tcp80_identity()), dest]))
    );
}

#[test]
fn set_timeouts_is_set_config_with_three_top_level_attributes() {
    let t = Timeouts { tcp: 900, tcp_fin: 120, udp: 300 };
    assert_eq!(
        encoded(&IpvsOp::SetTimeouts(t), 9),
        nlmsg(FAMILY, REQ_ACK, 9, &genl(12, &[nla(4, &u32b(900)), nla(5, &u32b(120)), nla(6, &u32b(300))]))
    );
    let zero = Timeouts { tcp: 0, ..t };
    assert!(encode_error(&IpvsOp::SetTimeouts(zero)).contains("at least 1 second"));
}

#[test]
fn family_lookup_asks_the_controller_by_name() {
    let mut w = Writer::new();
    controller::family_lookup(&mut w, 1, "IPVS");
    let expected = nlmsg(0x10, REQ_ACK, 1, &[vec![3u8, 2, 0, 0], nla(2, b"IPVS\0")].concat());
    assert_eq!(w.bytes(), expected);
}

#[test]
fn dump_requests() {
    let mut w = Writer::new();
    codec::get_services(&mut w, FAMILY, 1);
    assert_eq!(w.bytes(), nlmsg(FAMILY, 0x301, 1, &genl(4, &[])));
    w.clear();
    codec::get_dests(&mut w, FAMILY, 2, &tcp80());
    assert_eq!(w.bytes(), nlmsg(FAMILY, 0x301, 2, &genl(8, &[nested(1 | NESTED, &tcp80_identity())])));
    w.clear();
    codec::get_config(&mut w, FAMILY, 3);
    assert_eq!(w.bytes(), nlmsg(FAMILY, REQ_ACK, 3, &genl(13, &[])));
}

#[test]
fn several_requests_concatenate_into_one_datagram() {
    let settings = plain_settings();
    let ops = [IpvsOp::NewService(tcp80(), &settings), IpvsOp::DelService(fwmark7())];
    let mut w = Writer::new();
    for (i, op) in ops.iter().enumerate() {
        codec::encode_op(&mut w, FAMILY, i as u32, op).unwrap();
    }
    assert_eq!(w.bytes(), [encoded(&ops[0], 0), encoded(&ops[1], 1)].concat());
}

#[test]
fn every_operation_is_well_formed_netlink_for_neli() {
    let settings = plain_settings();
    let dest = tunnel_dest();
    let ops = [
        (IpvsOp::NewService(tcp80(), &settings), 1),
        (IpvsOp::SetService(fwmark7(), &settings), 2),
        (IpvsOp::DelService(udp53_v6()), 3),
        (IpvsOp::NewDest(udp53_v6(), &dest), 5),
        (IpvsOp::SetDest(fwmark7(), &dest), 6),
        (IpvsOp::DelDest(tcp80(), dest.key()), 7),
        (IpvsOp::SetTimeouts(Timeouts::KERNEL_DEFAULTS), 12),
    ];
    for (op, command) in ops {
        let genl = neli_parse(&encoded(&op, 1));
        assert_eq!((*genl.cmd(), *genl.version()), (command, 1), "{op:?}");
    }
}

// ------------------------------------------------------------------ replies

#[test]
fn attribute_walker_masks_flags_and_stops_at_truncation() {
    let mut bytes = [nla(1 | NESTED, &[1, 2, 3]), nla(2 | 0x4000, &u16b(7))].concat();
    let attrs = genl::Attrs::new(&bytes);
    assert_eq!(attrs.get(1), Some(&[1u8, 2, 3][..]));
    assert_eq!(attrs.get(2), Some(&7u16.to_ne_bytes()[..]));
    bytes.extend_from_slice(&[200, 0, 3, 0, 9, 9]); // claims 200 bytes
    let attrs = genl::Attrs::new(&bytes);
    assert_eq!(attrs.iter().count(), 2);
    assert_eq!(attrs.get(3), None);
}

const MULTI: u16 = 0x2;

/// A GET_SERVICE dump entry the way ip_vs_genl_fill_service builds it: nests without
/// NLA_F_NESTED, stats included, flags with mask ~0 and the HASHED bit set.
fn kernel_service(
    identity: Vec<Vec<u8>>,
    sched: &[u8],
    flags: u32,
    timeout: u32,
    netmask: &[u8],
    pe: Option<&[u8]>,
) -> Vec<u8> {
    let mut attrs = identity;
    attrs.push(nla(6, sched));
    if let Some(pe) = pe {
        attrs.push(nla(11, pe));
    }
    attrs.push(nla(7, &flags_struct(flags | 0x2, !0)));
    attrs.push(nla(8, &u32b(timeout)));
    attrs.push(nla(9, netmask));
    attrs.push(nested(10, &[nla(1, &u32b(5)), nla(2, &u32b(6))]));
    attrs.push(nested(12, &[nla(1, &7u64.to_ne_bytes())]));
    nlmsg(FAMILY, MULTI, 42, &genl(1, &[nested(1, &attrs)]))
}

fn decode_one_service(bytes: &[u8]) -> Result<Service, DecodeError> {
    let mut replies = parse_datagram(bytes).unwrap();
    assert_eq!(replies.len(), 1);
    match replies.remove(0) {
        Reply::Payload { seq, command, attrs } => {
            assert_eq!(command, 1);
            assert_eq!(seq, 42);
            codec::decode_service(attrs)
        }
        other => panic!("not a payload: {other:?}"),
    }
}

#[test]
fn decodes_a_kernel_service_entry() {
    let bytes = kernel_service(tcp80_identity(), b"mh\0", 0x1 | 0x8 | 0x10, 1800, &[255, 255, 0, 0], Some(b"sip\0"));
    let service = decode_one_service(&bytes).unwrap();
    assert_eq!(service.key, tcp80());
    assert_eq!(service.settings.scheduler, Scheduler::Mh);
    assert_eq!(service.settings.scheduler_flags, vec![SchedulerFlag::MhFallback, SchedulerFlag::MhPort]);
    assert_eq!(
        service.settings.persistence,
        Some(Persistence { timeout: 1800, prefix_length: 16, engine: Some("sip".into()) })
    );
    assert!(!service.settings.one_packet);
    assert!(service.destinations.is_empty());
}

#[test]
fn non_persistent_service_ignores_timeout_and_netmask() {
    let bytes = kernel_service(vec![nla(1, &u16b(2)), nla(5, &u32b(7))], b"rr\0", 0x4, 0, &[255; 4], None);
    let service = decode_one_service(&bytes).unwrap();
    assert_eq!(service.key, fwmark7());
    assert_eq!(service.settings.persistence, None);
    assert!(service.settings.one_packet);
    assert_eq!(
        service.settings.clone(),
        ServiceSettings { scheduler: Scheduler::Rr, one_packet: true, ..plain_settings() }
    );
}

#[test]
fn scheduler_bits_under_other_schedulers_read_as_sh_flags() {
    let bytes = kernel_service(tcp80_identity(), b"rr\0", 0x10, 0, &[255; 4], None);
    assert_eq!(decode_one_service(&bytes).unwrap().settings.scheduler_flags, vec![SchedulerFlag::ShPort]);
}

#[test]
fn ipv6_service_prefix_length_round_trips() {
    let identity = vec![nla(1, &u16b(10)), nla(2, &u16b(17)), nla(3, &addr16("2001:db8::53")), nla(4, &[0, 53])];
    let bytes = kernel_service(identity, b"wlc\0", 0x1, 300, &u32b(64), None);
    let service = decode_one_service(&bytes).unwrap();
    assert_eq!(service.key, udp53_v6());
    assert_eq!(service.settings.persistence.unwrap().prefix_length, 64);
}

#[test]
fn non_contiguous_netmask_is_reported_not_guessed() {
    let bytes = kernel_service(tcp80_identity(), b"wlc\0", 0x1, 300, &[255, 0, 255, 0], None);
    match decode_one_service(&bytes) {
        Err(DecodeError::Unrepresentable(msg)) => {
            assert!(msg.contains("255.0.255.0"), "{msg}");
            assert!(msg.contains("tcp 192.0.2.10:80"), "{msg}");
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn unknown_scheduler_and_protocol_are_unrepresentable() {
    let bytes = kernel_service(tcp80_identity(), b"fancy\0", 0, 0, &[255; 4], None);
    assert!(matches!(decode_one_service(&bytes), Err(DecodeError::Unrepresentable(m)) if m.contains("'fancy'")));
    let icmp = vec![nla(1, &u16b(2)), nla(2, &u16b(1)), nla(3, &addr16("192.0.2.10")), nla(4, &[0, 0])];
    let bytes = kernel_service(icmp, b"rr\0", 0, 0, &[255; 4], None);
    assert!(matches!(decode_one_service(&bytes), Err(DecodeError::Unrepresentable(m)) if m.contains("protocol 1")));
}

#[test]
fn missing_service_attribute_is_malformed() {
    let bytes = nlmsg(FAMILY, MULTI, 42, &genl(1, &[nested(1, &[nla(1, &u16b(2))])]));
    assert!(matches!(decode_one_service(&bytes), Err(DecodeError::Malformed(m)) if m.contains("PROTOCOL")));
}

/// A GET_DEST dump entry as ip_vs_genl_fill_dest builds it.
fn kernel_dest(addr: &str, af: Option<u16>, port: u16, fwd: u32, tun: (u8, u16, u16)) -> Vec<u8> {
    let mut attrs = vec![
        nla(1, &addr16(addr)),
        nla(2, &port.to_be_bytes()),
        nla(3, &u32b(fwd)),
        nla(4, &u32b(5)),
        nla(13, &[tun.0]),
        nla(14, &tun.1.to_be_bytes()),
        nla(15, &u16b(tun.2)),
        nla(5, &u32b(1000)),
        nla(6, &u32b(100)),
        nla(7, &u32b(3)),
        nla(8, &u32b(4)),
        nla(9, &u32b(0)),
    ];
    if let Some(af) = af {
        attrs.push(nla(11, &u16b(af)));
    }
    attrs.push(nested(10, &[nla(1, &u32b(5))]));
    nlmsg(FAMILY, MULTI, 43, &genl(5, &[nested(2, &attrs)]))
}

fn decode_one_dest(bytes: &[u8], service: &ServiceKey) -> Result<Destination, DecodeError> {
    match parse_datagram(bytes).unwrap().remove(0) {
        Reply::Payload { attrs, .. } => codec::decode_dest(attrs, service).map(|(dest, _)| dest),
        other => panic!("{other:?}"),
    }
}

#[test]
fn decodes_a_kernel_tunnel_destination() {
    // The kernel keeps more bits than the method in conn_flags; only 0x7 counts.
    let bytes = kernel_dest("198.51.100.7", Some(2), 8080, 0x2 | 0x100, (1, 5555, 1));
    let dest = decode_one_dest(&bytes, &tcp80()).unwrap();
    assert_eq!(dest, Destination { weight: 5, upper_threshold: 1000, lower_threshold: 100, ..tunnel_dest() });
}

#[test]
fn a_destination_entry_carries_its_connection_counts() {
    let bytes = kernel_dest("198.51.100.7", Some(2), 8080, 0x2, (1, 5555, 1));
    let Reply::Payload { attrs, .. } = parse_datagram(&bytes).unwrap().remove(0) else { panic!("not data") };
    let (_, connections) = codec::decode_dest(attrs, &tcp80()).unwrap();
    assert_eq!((connections.active, connections.inactive), (3, 4));
}

#[test]
fn non_tunnel_destination_gets_default_encapsulation() {
    let bytes = kernel_dest("198.51.100.7", Some(2), 80, 0x3, (2, 9, 3));
    let dest = decode_one_dest(&bytes, &tcp80()).unwrap();
    assert_eq!(dest.method, ForwardingMethod::Dr);
    assert_eq!(dest.tunnel, TunnelEncapsulation::default());
}

#[test]
fn destination_family_comes_from_the_service_on_old_kernels() {
    let bytes = kernel_dest("2001:db8::7", None, 53, 0x0, (0, 0, 0));
    let dest = decode_one_dest(&bytes, &udp53_v6()).unwrap();
    assert_eq!(dest.address, "2001:db8::7".parse::<IpAddr>().unwrap());
    assert_eq!(dest.method, ForwardingMethod::Masq);
    // And an IPv4 real server of an IPv6 service is read as IPv4.
    let bytes = kernel_dest("203.0.113.5", Some(2), 53, 0x2, (0, 0, 0));
    assert_eq!(decode_one_dest(&bytes, &udp53_v6()).unwrap().address, "203.0.113.5".parse::<IpAddr>().unwrap());
}

#[test]
fn local_node_forwarding_is_unrepresentable() {
    let bytes = kernel_dest("127.0.0.1", Some(2), 80, 0x1, (0, 0, 0));
    assert!(
        matches!(decode_one_dest(&bytes, &tcp80()), Err(DecodeError::Unrepresentable(m)) if m.contains("local node"))
    );
}

#[test]
fn decodes_get_config_reply_then_ack_in_one_datagram() {
    let reply = nlmsg(FAMILY, 0, 9, &genl(12, &[nla(4, &u32b(900)), nla(5, &u32b(120)), nla(6, &u32b(300))]));
    let mut ack_body = 0i32.to_ne_bytes().to_vec();
    ack_body.extend_from_slice(&nlmsg(FAMILY, REQ_ACK, 9, &[])[..16]);
    let ack = nlmsg(2, 0x100, 9, &ack_body);
    let bytes = [reply, ack].concat();
    let replies = parse_datagram(&bytes).unwrap();
    assert_eq!(replies.len(), 2);
    match &replies[0] {
        Reply::Payload { attrs, .. } => {
            assert_eq!(codec::decode_timeouts(*attrs).unwrap(), Timeouts { tcp: 900, tcp_fin: 120, udp: 300 })
        }
        other => panic!("{other:?}"),
    }
    assert!(matches!(replies[1], Reply::Ack { seq: 9 }));
}

#[test]
fn error_reply_echoes_request_and_carries_extack_message() {
    let request = encoded(&IpvsOp::DelService(fwmark7()), 77);
    let mut body = (-3i32).to_ne_bytes().to_vec(); // -ESRCH
    body.extend_from_slice(&request);
    body.extend_from_slice(&nla(1, b"no such service\0"));
    let error = nlmsg(2, 0x100 | 0x200, 77, &body);
    match &parse_datagram(&error).unwrap()[0] {
        Reply::Error { seq, errno, message } => {
            assert_eq!((*seq, *errno), (77, 3));
            assert_eq!(message.as_deref(), Some("no such service"));
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn dump_done_with_and_without_error_code() {
    let done = nlmsg(3, MULTI, 5, &0i32.to_ne_bytes());
    let failed = nlmsg(3, MULTI, 6, &(-22i32).to_ne_bytes());
    let bytes = [done, failed].concat();
    let replies = parse_datagram(&bytes).unwrap();
    assert!(matches!(replies[0], Reply::Done { seq: 5, errno: 0, .. }));
    assert!(matches!(replies[1], Reply::Done { seq: 6, errno: 22, .. }));
}

#[test]
fn truncated_datagram_is_an_error_not_a_panic() {
    let mut bytes = kernel_service(tcp80_identity(), b"rr\0", 0, 0, &[255; 4], None);
    bytes.truncate(bytes.len() - 8);
    assert!(parse_datagram(&bytes).is_err());
}

// ------------------------------------------------------------------ error wording

#[test]
fn rejections_name_the_cause_and_the_fix() {
    let settings = plain_settings();
    let dest = tunnel_dest();
    let cases: Vec<(IpvsOp<'_>, i32, &str)> = vec![
        (IpvsOp::NewService(tcp80(), &settings), 17, "service tcp 192.0.2.10:80 already exists"),
        (
            IpvsOp::NewService(tcp80(), &settings),
            2,
            "scheduler 'wlc' is not available: load ip_vs_wlc (modprobe ip_vs_wlc)",
        ),
        (IpvsOp::SetService(tcp80(), &settings), 3, "service tcp 192.0.2.10:80 does not exist"),
        (IpvsOp::DelService(fwmark7()), 3, "service fwmark 7 (ipv4) does not exist"),
        (IpvsOp::NewDest(tcp80(), &dest), 3, "service tcp 192.0.2.10:80 does not exist"),
        (IpvsOp::NewDest(tcp80(), &dest), 17, "real server 198.51.100.7:8080 already exists"),
        (IpvsOp::SetDest(tcp80(), &dest), 2, "real server 198.51.100.7:8080 does not exist"),
        (IpvsOp::DelDest(tcp80(), dest.key()), 2, "real server 198.51.100.7:8080 does not exist"),
        (IpvsOp::NewDest(tcp80(), &dest), 34, "out of range"),
        (IpvsOp::NewDest(tcp80(), &dest), 22, "loopback interface"),
        (IpvsOp::DelService(tcp80()), 12, "ENOMEM"),
    ];
    for (op, errno, expected) in cases {
        let text = op.rejection(errno);
        assert!(text.contains(expected), "{op:?} errno {errno}: {text}");
    }
    let with_pe = ServiceSettings {
        persistence: Some(Persistence { timeout: 1, prefix_length: 32, engine: Some("sip".into()) }),
        ..plain_settings()
    };
    assert!(IpvsOp::NewService(tcp80(), &with_pe).rejection(2).contains("ip_vs_pe_sip"));
}

#[test]
fn unavailable_ipvs_message_is_the_documented_one() {
    assert_eq!(
        NetlinkError::IpvsUnavailable.to_string(),
        "IPVS is not available in this kernel: load ip_vs (modprobe ip_vs)"
    );
}

// ------------------------------------------------------------------ batch outcomes

fn refused(errno: i32) -> Ack {
    Some(Err((errno, None)))
}

#[test]
fn every_acknowledgement_becomes_its_own_outcome() {
    let settings = plain_settings();
    let ops = [
        IpvsOp::NewService(tcp80(), &settings),
        IpvsOp::NewService(tcp80(), &settings),
        IpvsOp::DelService(fwmark7()),
        IpvsOp::DelService(udp53_v6()),
    ];
    let acks = [Some(Ok(())), refused(17), Some(Ok(())), refused(3)];
    let outcomes: Vec<OpOutcome> = ops.iter().zip(acks).map(|(op, ack)| op_outcome(op, ack, None)).collect();
    // The refusal in the middle does not hide what the kernel did after it.
    assert!(matches!(outcomes[0], OpOutcome::Applied));
    assert!(matches!(&outcomes[1], OpOutcome::Refused(e) if e.errno() == Some(17)), "{outcomes:?}");
    assert!(matches!(outcomes[2], OpOutcome::Applied), "{outcomes:?}");
    let OpOutcome::Refused(last) = &outcomes[3] else { panic!("{outcomes:?}") };
    assert_eq!(last.errno(), Some(3));
    assert_eq!(
        last.to_string(),
        "deleting service udp [2001:db8::53]:53: service udp [2001:db8::53]:53 does not exist (ESRCH)"
    );
    let (index, first) = first_failure(outcomes).expect_err("a refusal");
    assert_eq!((index, first.errno()), (1, Some(17)));
    assert!(
        first.to_string().starts_with("adding service tcp 192.0.2.10:80: service tcp 192.0.2.10:80 already exists"),
        "{first}"
    );
}

#[test]
fn the_kernels_extack_message_is_kept_apart_from_the_wording() {
    let op = IpvsOp::DelService(fwmark7());
    let outcome = op_outcome(&op, Some(Err((3, Some("no such service".to_string())))), None);
    let OpOutcome::Refused(error) = &outcome else { panic!("{outcome:?}") };
    assert_eq!(error.kernel_message(), Some("no such service"));
    assert_eq!(
        error.to_string(),
        "deleting service fwmark 7 (ipv4): service fwmark 7 (ipv4) does not exist (ESRCH) (kernel: no such service)"
    );
    let change_error = crate::apply::ChangeError::from(error);
    assert_eq!(change_error.kernel_message.as_deref(), Some("no such service"));
    assert_eq!(change_error.action.as_deref(), Some("deleting service fwmark 7 (ipv4)"));
    assert_eq!(change_error.errno, Some(3));

    let silent = op_outcome(&op, refused(3), None);
    let OpOutcome::Refused(error) = &silent else { panic!("{silent:?}") };
    assert_eq!(error.kernel_message(), None);
    assert_eq!(crate::apply::ChangeError::from(error).kernel_message, None);
}

#[test]
fn a_lost_acknowledgement_is_unknown_not_failed() {
    let op = IpvsOp::DelService(tcp80());
    let overflow = std::io::Error::from_raw_os_error(105);
    let outcome = op_outcome(&op, None, Some(&overflow));
    let OpOutcome::Unknown(error) = &outcome else { panic!("{outcome:?}") };
    assert_eq!(error.errno(), Some(105));
    assert!(error.to_string().contains("whether it was applied is unknown; read the table again"), "{error}");
    assert!(matches!(op_outcome(&op, Some(Ok(())), Some(&overflow)), OpOutcome::Applied));
}

#[test]
fn permission_denied_names_the_capability() {
    let outcome = op_outcome(&IpvsOp::DelService(tcp80()), refused(1), None);
    let OpOutcome::Refused(error) = outcome else { panic!("{outcome:?}") };
    assert!(matches!(error, NetlinkError::PermissionDenied { .. }));
    assert!(error.to_string().contains("CAP_NET_ADMIN"), "{error}");
}
