//! Requests and replies against hand-written bytes, laid out as include/uapi/linux/fou.h
//! and iproute2's `ip fou` do. No kernel needed; the lab (24_fou_ports) talks to one.

use super::codec::{self, *};
use super::*;
use crate::model::fou::{FouBinding, FouEncapsulation};
use crate::model::ipvs::Family;
use crate::netlink::genl::tests::{nla, nlmsg};
use crate::netlink::genl::{Attrs, Writer, NLM_F_ACK, NLM_F_DUMP, NLM_F_REQUEST};

const FAMILY: u16 = 0x22;

fn genl(command: u8, attrs: &[Vec<u8>]) -> Vec<u8> {
    [vec![command, 1, 0, 0], attrs.concat()].concat()
}

fn gue(port: u16, family: Family) -> FouPort {
    FouPort { port, family, encapsulation: FouEncapsulation::Gue }
}

#[test]
fn adding_a_gue_port_sends_the_port_big_endian_with_family_and_type() {
    let mut w = Writer::new();
    codec::add_port(&mut w, FAMILY, 5, &gue(6080, Family::Ipv4));
    let body = genl(CMD_ADD, &[nla(ATTR_PORT, &6080u16.to_be_bytes()), nla(ATTR_AF, &[2]), nla(ATTR_TYPE, &[2])]);
    assert_eq!(w.bytes(), nlmsg(FAMILY, NLM_F_REQUEST | NLM_F_ACK, 5, &body));
}

#[test]
fn adding_a_direct_port_names_its_protocol_and_ipv6_says_af_inet6() {
    let mut w = Writer::new();
    let port = FouPort { port: 5555, family: Family::Ipv6, encapsulation: FouEncapsulation::Direct { protocol: 41 } };
    codec::add_port(&mut w, FAMILY, 6, &port);
    let body = genl(
        CMD_ADD,
        &[nla(ATTR_PORT, &5555u16.to_be_bytes()), nla(ATTR_AF, &[10]), nla(ATTR_TYPE, &[1]), nla(ATTR_IPPROTO, &[41])],
    );
    assert_eq!(w.bytes(), nlmsg(FAMILY, NLM_F_REQUEST | NLM_F_ACK, 6, &body));
}

#[test]
fn deleting_names_the_port_by_number_and_family_only() {
    let mut w = Writer::new();
    codec::delete_port(&mut w, FAMILY, 7, &gue(6080, Family::Ipv6));
    let body = genl(CMD_DEL, &[nla(ATTR_PORT, &6080u16.to_be_bytes()), nla(ATTR_AF, &[10])]);
    assert_eq!(w.bytes(), nlmsg(FAMILY, NLM_F_REQUEST | NLM_F_ACK, 7, &body));
}

#[test]
fn the_dump_is_a_bare_get() {
    let mut w = Writer::new();
    codec::get_ports(&mut w, FAMILY, 8);
    assert_eq!(w.bytes(), nlmsg(FAMILY, NLM_F_REQUEST | NLM_F_DUMP, 8, &genl(CMD_GET, &[])));
}

/// A dump entry as fou_fill_info() writes it on a current kernel: every attribute, zeros
/// for the address, peer and device a plain `ip fou add` leaves unset.
fn reply(port: u16, af: u8, ipproto: u8, kind: u8) -> Vec<Vec<u8>> {
    vec![
        nla(ATTR_AF, &[af]),
        nla(ATTR_PORT, &port.to_be_bytes()),
        nla(ATTR_PEER_PORT, &0u16.to_be_bytes()),
        nla(ATTR_IPPROTO, &[ipproto]),
        nla(ATTR_TYPE, &[kind]),
        nla(ATTR_IFINDEX, &0i32.to_ne_bytes()),
        nla(ATTR_LOCAL_V4, &[0; 4]),
        nla(ATTR_PEER_V4, &[0; 4]),
    ]
}

/// A port of the model: decoded bound to nothing.
fn decode(attrs: &[Vec<u8>]) -> Result<FouPort, DecodeError> {
    let bound = codec::decode_port(Attrs::new(&attrs.concat()))?;
    assert_eq!(bound.binding, FouBinding::default(), "{bound:?}");
    Ok(bound.port)
}

#[test]
fn dump_entries_decode_into_ports() {
    assert_eq!(decode(&reply(6080, 2, 0, 2)), Ok(gue(6080, Family::Ipv4)));
    assert_eq!(
        decode(&reply(5555, 10, 4, 1)),
        Ok(FouPort { port: 5555, family: Family::Ipv6, encapsulation: FouEncapsulation::Direct { protocol: 4 } })
    );
    // Older kernels send only port, family, protocol and type.
    let old =
        [nla(ATTR_PORT, &6080u16.to_be_bytes()), nla(ATTR_AF, &[2]), nla(ATTR_IPPROTO, &[0]), nla(ATTR_TYPE, &[2])];
    assert_eq!(decode(&old), Ok(gue(6080, Family::Ipv4)));
}

#[test]
fn a_port_bound_to_an_address_a_peer_or_a_device_decodes_with_what_it_is_bound_to() {
    let mut bound = reply(7000, 2, 0, 2);
    bound.retain(|attr| ![nla(ATTR_PEER_V4, &[0; 4]), nla(ATTR_IFINDEX, &0i32.to_ne_bytes())].contains(attr));
    bound.push(nla(ATTR_PEER_V4, &[192, 0, 2, 1]));
    bound.push(nla(ATTR_IFINDEX, &3i32.to_ne_bytes()));
    let decoded = codec::decode_port(Attrs::new(&bound.concat())).unwrap();
    assert_eq!(decoded.port, gue(7000, Family::Ipv4));
    let binding = FouBinding { peer: Some("192.0.2.1".parse().unwrap()), ifindex: Some(3), ..FouBinding::default() };
    assert_eq!(decoded.binding, binding);
    let mut local6 = reply(7000, 10, 0, 2);
    local6.retain(|attr| attr != &nla(ATTR_LOCAL_V4, &[0; 4]));
    local6.push(nla(ATTR_LOCAL_V6, &"2001:db8::10".parse::<std::net::Ipv6Addr>().unwrap().octets()));
    let decoded = codec::decode_port(Attrs::new(&local6.concat())).unwrap();
    assert_eq!(decoded.binding.local, Some("2001:db8::10".parse().unwrap()));
    let mut short = reply(7000, 2, 0, 2);
    short.push(nla(ATTR_LOCAL_V6, &[1, 2, 3]));
    assert!(matches!(codec::decode_port(Attrs::new(&short.concat())), Err(DecodeError::Malformed(_))));
}

#[test]
fn a_port_with_an_unknown_type_or_remcsum_nopartial_is_unrepresentable() {
    assert!(matches!(decode(&reply(6080, 2, 0, 9)), Err(DecodeError::Unrepresentable(m)) if m.contains("type")));
    let mut nopartial = reply(6080, 2, 0, 2);
    nopartial.push(nla(ATTR_REMCSUM_NOPARTIAL, &[]));
    assert!(matches!(decode(&nopartial), Err(DecodeError::Unrepresentable(_))));
    assert!(matches!(decode(&[nla(ATTR_AF, &[2])]), Err(DecodeError::Malformed(m)) if m.contains("FOU_ATTR_PORT")));
}

#[test]
fn a_port_bound_by_another_socket_says_how_to_free_it() {
    let fault = Fault::Errno { errno: errno::EADDRINUSE, message: None };
    let port = gue(6080, Family::Ipv4);
    let error = fault_error(fault, "opening foo-over-UDP port 6080 (ipv4)".into(), |e| add_refused(&port, e));
    assert_eq!(error.errno(), Some(errno::EADDRINUSE));
    let text = error.to_string();
    assert!(text.starts_with("opening foo-over-UDP port 6080 (ipv4): UDP port 6080 is already bound"), "{text}");
    assert!(text.contains("ss -ulpn"), "{text}");
}

#[test]
fn without_the_module_the_family_is_unknown_or_the_client_connects() {
    // The host kernel may or may not have fou: either answer is one of these two.
    match FouClient::connect() {
        Ok(_) | Err(FouNetlinkError::Unavailable) => {}
        Err(FouNetlinkError::Socket { source }) => eprintln!("SKIPPED: no generic netlink socket ({source})"),
        Err(other) => panic!("{other}"),
    }
}

#[test]
fn a_change_sent_whose_answer_is_lost_may_have_changed_the_host_a_refusal_did_not() {
    let action = || "opening foo-over-UDP port 6080 (ipv4)".to_string();
    let port = gue(6080, Family::Ipv4);
    let error = |fault| fault_error(fault, action(), |e| add_refused(&port, e));
    let lost = error(Fault::Io(io::Error::from_raw_os_error(errno::ENOBUFS)));
    assert!(lost.may_have_changed_the_host(), "{lost}");
    assert!(error(Fault::Protocol("ack for another command".into())).may_have_changed_the_host());
    let refused = error(Fault::Errno { errno: errno::EADDRINUSE, message: None });
    assert!(!refused.may_have_changed_the_host(), "{refused}");
    let unsent = error(Fault::Unsent(io::Error::from_raw_os_error(errno::EPERM)));
    assert!(!unsent.may_have_changed_the_host(), "{unsent}");
    assert!(!FouNetlinkError::Unavailable.may_have_changed_the_host());
}
