//! What any generic netlink family relies on: request framing, family lookup by name,
//! batch sequence numbers, and one real exchange with the kernel's controller (present in
//! every kernel, no privilege needed). The IPVS tests cover reply parsing and attributes.

use super::*;
use crate::netlink::errno;

/// A netlink attribute, padded to 4 bytes (the other families' tests build with it too).
pub(crate) fn nla(kind: u16, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    out.extend_from_slice(&((4 + payload.len()) as u16).to_ne_bytes());
    out.extend_from_slice(&kind.to_ne_bytes());
    out.extend_from_slice(payload);
    while out.len() % 4 != 0 {
        out.push(0);
    }
    out
}

/// A netlink message: header, then `body`.
pub(crate) fn nlmsg(kind: u16, flags: u16, seq: u32, body: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    out.extend_from_slice(&((16 + body.len()) as u32).to_ne_bytes());
    out.extend_from_slice(&kind.to_ne_bytes());
    out.extend_from_slice(&flags.to_ne_bytes());
    out.extend_from_slice(&seq.to_ne_bytes());
    out.extend_from_slice(&0u32.to_ne_bytes());
    out.extend_from_slice(body);
    out
}

/// A socket, or None (with a note) where this process may not open one.
fn socket() -> Option<GenlSocket> {
    match GenlSocket::open() {
        Ok(socket) => Some(socket),
        Err(e) => {
            eprintln!("SKIPPED: cannot open a generic netlink socket ({e})");
            None
        }
    }
}

#[test]
fn family_lookup_asks_the_controller_for_any_name() {
    let mut w = Writer::new();
    controller::family_lookup(&mut w, 7, "fou");
    let expected = nlmsg(0x10, NLM_F_REQUEST | NLM_F_ACK, 7, &[vec![3u8, 2, 0, 0], nla(2, b"fou\0")].concat());
    assert_eq!(w.bytes(), expected);
}

#[test]
fn family_id_is_read_from_the_reply_and_missing_is_malformed() {
    let reply = [nla(2, b"fou\0"), nla(1, &0x1fu16.to_ne_bytes())].concat();
    assert_eq!(controller::decode_family_id(Attrs::new(&reply)), Ok(0x1f));
    let without_id = nla(2, b"fou\0");
    assert!(matches!(
        controller::decode_family_id(Attrs::new(&without_id)),
        Err(DecodeError::Malformed(m)) if m.contains("CTRL_ATTR_FAMILY_ID")
    ));
}

#[test]
fn a_message_whose_body_fails_leaves_the_buffer_as_it_was() {
    let mut w = Writer::new();
    controller::family_lookup(&mut w, 1, "IPVS");
    let before = w.bytes().to_vec();
    let result = w.message(0x20, NLM_F_ACK, 2, (1, 1), |w| {
        w.u32(1, 5);
        Err("refused")
    });
    assert_eq!(result, Err("refused"));
    assert_eq!(w.bytes(), before);
}

#[test]
fn a_nest_is_flagged_and_measures_its_children() {
    let mut w = Writer::new();
    w.nest(3, |w| {
        w.u16(1, 9);
        w.be16(2, 80);
        Ok::<(), ()>(())
    })
    .unwrap();
    let children = [nla(1, &9u16.to_ne_bytes()), nla(2, &80u16.to_be_bytes())].concat();
    assert_eq!(w.bytes(), nla(3 | 0x8000, &children));
}

#[test]
fn a_request_that_cannot_be_written_uses_no_sequence_number() {
    let Some(mut socket) = socket() else { return };
    let first = socket.start_batch();
    socket.add_to_batch(|w, seq| controller_request(w, seq, Ok(()))).unwrap();
    let written = socket.batch_len();
    assert_eq!(socket.add_to_batch(|w, seq| controller_request(w, seq, Err("bad"))), Err("bad"));
    assert_eq!(socket.batch_len(), written, "nothing appended for the refused request");
    socket.add_to_batch(|w, seq| controller_request(w, seq, Ok(()))).unwrap();
    let seqs: Vec<u32> = parse_datagram(socket.out.bytes()).unwrap().iter().filter_map(Reply::seq).collect();
    assert_eq!(seqs, [first, first + 1], "consecutive, the refused one skipped");
}

/// A GETFAMILY request that fails after writing its attribute when `outcome` says so.
fn controller_request(w: &mut Writer, seq: u32, outcome: Result<(), &'static str>) -> Result<(), &'static str> {
    w.message(controller::ID, NLM_F_ACK, seq, (controller::CMD_GETFAMILY, controller::VERSION), |w| {
        w.string(controller::ATTR_FAMILY_NAME, "nlctrl");
        outcome
    })
}

#[test]
fn the_kernel_controller_resolves_itself_and_refuses_an_unknown_family() {
    let Some(mut socket) = socket() else { return };
    // The controller registers itself as "nlctrl" with the fixed id GENL_ID_CTRL.
    assert_eq!(socket.resolve_family("nlctrl").unwrap(), controller::ID);
    match socket.resolve_family("no-such-family") {
        Err(Fault::Errno { errno, .. }) => assert_eq!(errno, errno::ENOENT),
        other => panic!("expected ENOENT, got {other:?}"),
    }
    // The refusal ended that request cleanly: the socket goes on working.
    assert_eq!(socket.resolve_family("nlctrl").unwrap(), controller::ID);
}

#[test]
fn a_batch_gets_one_acknowledgement_per_request_in_order() {
    let Some(mut socket) = socket() else { return };
    let first = socket.start_batch();
    for name in ["nlctrl", "no-such-family", "nlctrl"] {
        socket
            .add_to_batch(|w, seq| {
                w.message(controller::ID, NLM_F_ACK, seq, (controller::CMD_GETFAMILY, controller::VERSION), |w| {
                    w.string(controller::ATTR_FAMILY_NAME, name);
                    Ok::<(), ()>(())
                })
            })
            .unwrap();
    }
    socket.send_batch().unwrap();
    let mut acks: Vec<Ack> = vec![None; 3];
    assert!(socket.collect_acks(first, &mut acks).is_none(), "no acknowledgement lost");
    // The kernel went on after the refused request in the middle.
    assert!(matches!(acks[0], Some(Ok(()))), "{acks:?}");
    assert!(matches!(acks[1], Some(Err((e, _))) if e == errno::ENOENT), "{acks:?}");
    assert!(matches!(acks[2], Some(Ok(()))), "{acks:?}");
}

#[test]
fn queued_replies_are_taken_many_datagrams_per_receive() {
    let Some(mut socket) = socket() else { return };
    // 50 lookups: 50 replies and 50 acks, 100 datagrams, each queued by the send.
    let requests = 50;
    let first = socket.start_batch();
    for _ in 0..requests {
        socket.add_to_batch(|w, seq| controller_request(w, seq, Ok(()))).unwrap();
    }
    let before = socket.calls();
    socket.send_batch().unwrap();
    let mut acks: Vec<Ack> = vec![None; requests];
    assert!(socket.collect_acks(first, &mut acks).is_none(), "no acknowledgement lost");
    assert!(acks.iter().all(|ack| matches!(ack, Some(Ok(())))), "{acks:?}");
    let after = socket.calls();
    assert_eq!(after.sends - before.sends, 1);
    let receives = after.receives - before.receives;
    assert!(receives <= 5, "100 datagrams took {receives} receives");
}

#[test]
fn typed_reads_take_the_first_attribute_of_a_type_below_and_above_the_index() {
    let nested = [nla(1, &7u32.to_ne_bytes())].concat();
    let run = [
        nla(3, &1u32.to_ne_bytes()),
        nla(3, &2u32.to_ne_bytes()),
        nla(40, &3u32.to_ne_bytes()),
        nla(40, &4u32.to_ne_bytes()),
        nla(5 | 0x8000, &nested),
    ]
    .concat();
    let typed = Typed::new(Attrs::new(&run));
    assert_eq!(typed.u32(3, "A").unwrap(), Some(1));
    assert_eq!(typed.u32(40, "B").unwrap(), Some(3));
    assert_eq!(typed.u32(4, "C").unwrap(), None);
    // NLA_F_NESTED is not part of the type.
    assert_eq!(typed.nested(5, "D").unwrap().u32(1, "E").unwrap(), Some(7));
    assert!(matches!(typed.u32(5, "D"), Ok(Some(_))), "a nest reads as its payload");
}
