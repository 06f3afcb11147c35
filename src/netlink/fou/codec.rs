//! The "fou" family's requests and replies (include/uapi/linux/fou.h).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::model::fou::{BoundFouPort, FouBinding, FouEncapsulation, FouPort};
use crate::model::ipvs::Family;
use crate::netlink::genl::{Attrs, DecodeError, Typed, Writer, NLM_F_ACK, NLM_F_DUMP};

pub const FAMILY_NAME: &str = "fou";
const VERSION: u8 = 1;

pub const CMD_ADD: u8 = 1;
pub const CMD_DEL: u8 = 2;
/// Also the command of each dump reply.
pub const CMD_GET: u8 = 3;

pub const ATTR_PORT: u16 = 1;
pub const ATTR_AF: u16 = 2;
pub const ATTR_IPPROTO: u16 = 3;
pub const ATTR_TYPE: u16 = 4;
pub const ATTR_REMCSUM_NOPARTIAL: u16 = 5;
pub const ATTR_LOCAL_V4: u16 = 6;
pub const ATTR_LOCAL_V6: u16 = 7;
pub const ATTR_PEER_V4: u16 = 8;
pub const ATTR_PEER_V6: u16 = 9;
pub const ATTR_PEER_PORT: u16 = 10;
pub const ATTR_IFINDEX: u16 = 11;

pub const ENCAP_DIRECT: u8 = 1;
pub const ENCAP_GUE: u8 = 2;

pub const AF_INET: u8 = 2;
pub const AF_INET6: u8 = 10;

fn af(family: Family) -> u8 {
    match family {
        Family::Ipv4 => AF_INET,
        Family::Ipv6 => AF_INET6,
    }
}

pub fn get_ports(w: &mut Writer, family: u16, seq: u32) {
    let _ = w.message(family, NLM_F_DUMP, seq, (CMD_GET, VERSION), |_| Ok::<(), ()>(()));
}

/// FOU_CMD_ADD as `ip fou add port P [gue | ipproto N] [-6]` sends it.
pub fn add_port(w: &mut Writer, family: u16, seq: u32, port: &FouPort) {
    let _ = w.message(family, NLM_F_ACK, seq, (CMD_ADD, VERSION), |w| {
        w.be16(ATTR_PORT, port.port);
        w.u8(ATTR_AF, af(port.family));
        match port.encapsulation {
            FouEncapsulation::Gue => w.u8(ATTR_TYPE, ENCAP_GUE),
            FouEncapsulation::Direct { protocol } => {
                w.u8(ATTR_TYPE, ENCAP_DIRECT);
                w.u8(ATTR_IPPROTO, protocol);
            }
        }
        Ok::<(), ()>(())
    });
}

/// FOU_CMD_DEL: the kernel finds the port by family and number (and by local and peer
/// address, which ports of the model never have).
pub fn delete_port(w: &mut Writer, family: u16, seq: u32, port: &FouPort) {
    let _ = w.message(family, NLM_F_ACK, seq, (CMD_DEL, VERSION), |w| {
        w.be16(ATTR_PORT, port.port);
        w.u8(ATTR_AF, af(port.family));
        Ok::<(), ()>(())
    });
}

/// One port of a dump, with what its socket is bound to. Kernels since 5.x also report
/// the socket's local and peer address, peer port and device, as zeros for a port opened
/// without them.
pub fn decode_port(attrs: Attrs<'_>) -> Result<BoundFouPort, DecodeError> {
    let typed = Typed::new(attrs);
    let port = Typed::require(typed.be16(ATTR_PORT, "FOU_ATTR_PORT")?, "FOU_ATTR_PORT")?;
    let family = match typed.u8(ATTR_AF, "FOU_ATTR_AF")? {
        None | Some(AF_INET) => Family::Ipv4,
        Some(AF_INET6) => Family::Ipv6,
        Some(other) => {
            return Err(DecodeError::Unrepresentable(format!("foo-over-UDP port {port} has address family {other}")))
        }
    };
    let encapsulation = match typed.u8(ATTR_TYPE, "FOU_ATTR_TYPE")? {
        Some(ENCAP_GUE) => FouEncapsulation::Gue,
        Some(ENCAP_DIRECT) => FouEncapsulation::Direct {
            protocol: Typed::require(typed.u8(ATTR_IPPROTO, "FOU_ATTR_IPPROTO")?, "FOU_ATTR_IPPROTO")?,
        },
        other => {
            return Err(DecodeError::Unrepresentable(format!(
                "foo-over-UDP port {port} has encapsulation type {other:?}"
            )))
        }
    };
    if attrs.get(ATTR_REMCSUM_NOPARTIAL).is_some() {
        return Err(DecodeError::Unrepresentable(format!("foo-over-UDP port {port} has remcsum_nopartial set")));
    }
    let address = |v4: u16, v6: u16, what: &str| -> Result<Option<IpAddr>, DecodeError> {
        let v4 = typed.fixed::<4>(v4, what)?.map(Ipv4Addr::from).filter(|a| !a.is_unspecified()).map(IpAddr::V4);
        let v6 = typed.fixed::<16>(v6, what)?.map(Ipv6Addr::from).filter(|a| !a.is_unspecified()).map(IpAddr::V6);
        Ok(v4.or(v6))
    };
    let binding = FouBinding {
        local: address(ATTR_LOCAL_V4, ATTR_LOCAL_V6, "FOU_ATTR_LOCAL")?,
        peer: address(ATTR_PEER_V4, ATTR_PEER_V6, "FOU_ATTR_PEER")?,
        peer_port: typed.be16(ATTR_PEER_PORT, "FOU_ATTR_PEER_PORT")?.filter(|port| *port != 0),
        // An int the kernel writes in host order; 0: no device.
        ifindex: typed.u32(ATTR_IFINDEX, "FOU_ATTR_IFINDEX")?.filter(|index| *index != 0),
    };
    Ok(BoundFouPort { port: FouPort { port, family, encapsulation }, binding })
}
