//! Pure translation between the model and IPVS generic netlink messages: writing requests
//! and reading the kernel's replies back into model types. No I/O here, so all of it is
//! unit-tested without a kernel.
//!
//! Requests are written in place by the shared generic netlink [`Writer`]. The unit tests
//! check the bytes against hand-written layouts and parse them back with neli.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::consts::{self, cmd, cmd_attr, dest_attr, svc_attr, svc_flag};
use super::IpvsOp;
use crate::model::ipvs::{
    Destination, DestinationKey, Family, ForwardingMethod, Persistence, Protocol, Scheduler, SchedulerFlag, Service,
    ServiceKey, ServiceSettings, Timeouts, TunnelEncapsulation, TunnelType,
};
use crate::netlink::genl::{Attrs, DecodeError, Typed, Writer, NLM_F_ACK, NLM_F_DUMP};

fn family_number(family: Family) -> u16 {
    match family {
        Family::Ipv4 => consts::AF_INET,
        Family::Ipv6 => consts::AF_INET6,
    }
}

/// `union nf_inet_addr`: 16 bytes, IPv4 in the first four.
fn inet_addr(address: &IpAddr) -> [u8; 16] {
    let mut bytes = [0u8; 16];
    match address {
        IpAddr::V4(a) => bytes[..4].copy_from_slice(&a.octets()),
        IpAddr::V6(a) => bytes = a.octets(),
    }
    bytes
}

// ------------------------------------------------------------------ requests

/// The attributes that name a service (what DEL_SERVICE, GET_DEST and the dest commands
/// carry inside IPVS_CMD_ATTR_SERVICE).
pub fn service_identity(w: &mut Writer, key: &ServiceKey) {
    w.u16(svc_attr::AF, family_number(key.family()));
    match key {
        ServiceKey::Address { protocol, address, port } => {
            w.u16(svc_attr::PROTOCOL, protocol.number());
            w.attr(svc_attr::ADDR, &inet_addr(address));
            w.be16(svc_attr::PORT, *port);
        }
        ServiceKey::FirewallMark { fwmark, .. } => w.u32(svc_attr::FWMARK, *fwmark),
    }
}

/// The `IP_VS_SVC_F_*` bits for these settings.
pub fn service_flags(settings: &ServiceSettings) -> u32 {
    let mut flags = 0;
    if settings.persistence.is_some() {
        flags |= svc_flag::PERSISTENT;
    }
    if settings.one_packet {
        flags |= svc_flag::ONEPACKET;
    }
    for flag in &settings.scheduler_flags {
        flags |= flag.kernel_bit();
    }
    flags
}

/// IPVS_SVC_ATTR_NETMASK payload: for IPv4 the mask itself in network byte order, for IPv6
/// the prefix length as a host-order number (that is how the kernel and ipvsadm use it).
fn netmask_bytes(family: Family, prefix_length: u8) -> Result<[u8; 4], String> {
    if prefix_length > family.max_prefix() {
        return Err(format!(
            "persistence prefix length /{prefix_length} is longer than an {} address",
            match family {
                Family::Ipv4 => "IPv4",
                Family::Ipv6 => "IPv6",
            }
        ));
    }
    Ok(match family {
        Family::Ipv4 => {
            let mask = u32::MAX.checked_shl(32 - u32::from(prefix_length)).unwrap_or(0);
            mask.to_be_bytes()
        }
        Family::Ipv6 => u32::from(prefix_length).to_ne_bytes(),
    })
}

/// Identity plus every setting: what NEW_SERVICE and SET_SERVICE carry. Without
/// persistence the kernel gets timeout 0 and the full-length netmask, as ipvsadm sends.
/// The flags mask covers every user-settable bit, so a SET clears what is not wanted.
pub fn service_full(w: &mut Writer, key: &ServiceKey, settings: &ServiceSettings) -> Result<(), String> {
    let family = key.family();
    let (timeout, prefix) = match &settings.persistence {
        Some(p) => (p.timeout, p.prefix_length),
        None => (0, family.max_prefix()),
    };
    let netmask = netmask_bytes(family, prefix)?;
    service_identity(w, key);
    w.string(svc_attr::SCHED_NAME, settings.scheduler.name());
    let mut flags = [0u8; 8];
    flags[..4].copy_from_slice(&service_flags(settings).to_ne_bytes());
    flags[4..].copy_from_slice(&svc_flag::MANAGED.to_ne_bytes());
    w.attr(svc_attr::FLAGS, &flags);
    w.u32(svc_attr::TIMEOUT, timeout);
    w.attr(svc_attr::NETMASK, &netmask);
    if let Some(engine) = settings.persistence.as_ref().and_then(|p| p.engine.as_deref()) {
        w.string(svc_attr::PE_NAME, engine);
    }
    Ok(())
}

/// The attributes that name a destination inside its service. The family is always
/// given: a real server may differ from its service (IPv4 behind an IPv6 service, tunnel).
pub fn dest_identity(w: &mut Writer, key: &DestinationKey) {
    w.u16(dest_attr::ADDR_FAMILY, family_number(Family::of(&key.address)));
    w.attr(dest_attr::ADDR, &inet_addr(&key.address));
    w.be16(dest_attr::PORT, key.port);
}

/// Identity plus every setting: what NEW_DEST and SET_DEST carry.
pub fn dest_full(w: &mut Writer, dest: &Destination) {
    dest_identity(w, &DestinationKey { address: dest.address, port: dest.port });
    w.u32(dest_attr::FWD_METHOD, dest.method.kernel_value());
    w.u32(dest_attr::WEIGHT, dest.weight);
    w.u32(dest_attr::U_THRESH, dest.upper_threshold);
    w.u32(dest_attr::L_THRESH, dest.lower_threshold);
    w.u8(dest_attr::TUN_TYPE, dest.tunnel.kind.kernel_value());
    w.be16(dest_attr::TUN_PORT, dest.tunnel.port);
    w.u16(dest_attr::TUN_FLAGS, dest.tunnel.flags);
}

/// Adapts an attribute writer that cannot fail to the fallible `message`/`nest` API.
fn just(write: impl FnOnce(&mut Writer)) -> impl FnOnce(&mut Writer) -> Result<(), String> {
    move |w| {
        write(w);
        Ok(())
    }
}

fn no_attributes(_: &mut Writer) -> Result<(), String> {
    Ok(())
}

/// Appends the request for one operation (with NLM_F_ACK). Fails, appending nothing,
/// only for values the kernel cannot be given.
pub fn encode_op(w: &mut Writer, family: u16, seq: u32, op: &IpvsOp<'_>) -> Result<(), String> {
    let version = consts::FAMILY_VERSION;
    match op {
        IpvsOp::NewService(key, settings) | IpvsOp::SetService(key, settings) => {
            let command = if matches!(op, IpvsOp::NewService(..)) { cmd::NEW_SERVICE } else { cmd::SET_SERVICE };
            w.message(family, NLM_F_ACK, seq, (command, version), |w| {
                w.nest(cmd_attr::SERVICE, |w| service_full(w, key, settings))
            })
        }
        IpvsOp::DelService(key) => w.message(family, NLM_F_ACK, seq, (cmd::DEL_SERVICE, version), |w| {
            w.nest(cmd_attr::SERVICE, just(|w| service_identity(w, key)))
        }),
        IpvsOp::NewDest(key, dest) | IpvsOp::SetDest(key, dest) => {
            let command = if matches!(op, IpvsOp::NewDest(..)) { cmd::NEW_DEST } else { cmd::SET_DEST };
            w.message(family, NLM_F_ACK, seq, (command, version), |w| {
                w.nest(cmd_attr::SERVICE, just(|w| service_identity(w, key)))?;
                w.nest(cmd_attr::DEST, just(|w| dest_full(w, dest)))
            })
        }
        IpvsOp::DelDest(key, dest) => w.message(family, NLM_F_ACK, seq, (cmd::DEL_DEST, version), |w| {
            w.nest(cmd_attr::SERVICE, just(|w| service_identity(w, key)))?;
            w.nest(cmd_attr::DEST, just(|w| dest_identity(w, dest)))
        }),
        IpvsOp::SetTimeouts(t) => {
            if t.tcp == 0 || t.tcp_fin == 0 || t.udp == 0 {
                return Err(format!(
                    "timeouts must be at least 1 second (got tcp {}s, tcpfin {}s, udp {}s): \
                     the kernel reads 0 as \"leave unchanged\"",
                    t.tcp, t.tcp_fin, t.udp
                ));
            }
            w.message(family, NLM_F_ACK, seq, (cmd::SET_CONFIG, version), |w| {
                w.u32(cmd_attr::TIMEOUT_TCP, t.tcp);
                w.u32(cmd_attr::TIMEOUT_TCP_FIN, t.tcp_fin);
                w.u32(cmd_attr::TIMEOUT_UDP, t.udp);
                Ok(())
            })
        }
    }
}

/// GET_SERVICE dump: every service of the namespace.
pub fn get_services(w: &mut Writer, family: u16, seq: u32) {
    let _ = w.message(family, NLM_F_DUMP, seq, (cmd::GET_SERVICE, consts::FAMILY_VERSION), no_attributes);
}

/// GET_SERVICE of one service, not a dump: its settings (one reply, then the ack), or
/// ESRCH when the namespace has no such service.
pub fn get_service(w: &mut Writer, family: u16, seq: u32, key: &ServiceKey) {
    let _ = w.message(family, NLM_F_ACK, seq, (cmd::GET_SERVICE, consts::FAMILY_VERSION), |w| {
        w.nest(cmd_attr::SERVICE, just(|w| service_identity(w, key)))
    });
}

/// GET_DEST dump: the real servers of one service.
pub fn get_dests(w: &mut Writer, family: u16, seq: u32, key: &ServiceKey) {
    let _ = w.message(family, NLM_F_DUMP, seq, (cmd::GET_DEST, consts::FAMILY_VERSION), |w| {
        w.nest(cmd_attr::SERVICE, just(|w| service_identity(w, key)))
    });
}

/// GET_CONFIG: the timeouts (one reply, then the ack).
pub fn get_config(w: &mut Writer, family: u16, seq: u32) {
    let _ = w.message(family, NLM_F_ACK, seq, (cmd::GET_CONFIG, consts::FAMILY_VERSION), no_attributes);
}

// ------------------------------------------------------------------ replies

fn family_from(number: u16, what: &str) -> Result<Family, DecodeError> {
    match number {
        consts::AF_INET => Ok(Family::Ipv4),
        consts::AF_INET6 => Ok(Family::Ipv6),
        other => Err(DecodeError::Unrepresentable(format!("{what} has address family {other}"))),
    }
}

fn address_from(family: Family, bytes: [u8; 16]) -> IpAddr {
    match family {
        Family::Ipv4 => IpAddr::V4(Ipv4Addr::new(bytes[0], bytes[1], bytes[2], bytes[3])),
        Family::Ipv6 => IpAddr::V6(Ipv6Addr::from(bytes)),
    }
}

/// The prefix length of a persistence netmask attribute (see [`netmask_bytes`]).
fn prefix_from_netmask(family: Family, raw: [u8; 4], service: &ServiceKey) -> Result<u8, DecodeError> {
    match family {
        Family::Ipv4 => {
            let mask = u32::from_be_bytes(raw);
            let ones = mask.leading_ones();
            if ones + mask.trailing_zeros() != 32 {
                return Err(DecodeError::Unrepresentable(format!(
                    "service {service} has the non-contiguous persistence netmask {} \
                     (only prefix lengths can be expressed; recreate it with a netmask like \
                     255.255.255.0)",
                    Ipv4Addr::from(raw)
                )));
            }
            Ok(ones as u8)
        }
        Family::Ipv6 => {
            let prefix = u32::from_ne_bytes(raw);
            if prefix > 128 {
                return Err(DecodeError::Malformed(format!(
                    "service {service} has IPv6 persistence prefix length {prefix}"
                )));
            }
            Ok(prefix as u8)
        }
    }
}

/// One GET_SERVICE dump entry (a NEW_SERVICE message with IPVS_CMD_ATTR_SERVICE), without
/// destinations.
pub fn decode_service(attrs: Attrs<'_>) -> Result<Service, DecodeError> {
    let a = Typed::new(attrs).nested(cmd_attr::SERVICE, "IPVS_CMD_ATTR_SERVICE")?;
    let af = Typed::require(a.u16(svc_attr::AF, "IPVS_SVC_ATTR_AF")?, "IPVS_SVC_ATTR_AF")?;
    let family = family_from(af, "a service")?;
    let fwmark = a.u32(svc_attr::FWMARK, "IPVS_SVC_ATTR_FWMARK")?.unwrap_or(0);
    let key = if fwmark != 0 {
        ServiceKey::FirewallMark { fwmark, family }
    } else {
        let number = Typed::require(a.u16(svc_attr::PROTOCOL, "IPVS_SVC_ATTR_PROTOCOL")?, "IPVS_SVC_ATTR_PROTOCOL")?;
        let address = Typed::require(a.fixed::<16>(svc_attr::ADDR, "IPVS_SVC_ATTR_ADDR")?, "IPVS_SVC_ATTR_ADDR")?;
        let port = Typed::require(a.be16(svc_attr::PORT, "IPVS_SVC_ATTR_PORT")?, "IPVS_SVC_ATTR_PORT")?;
        let address = address_from(family, address);
        let protocol = Protocol::from_number(number).ok_or_else(|| {
            DecodeError::Unrepresentable(format!(
                "service on {address} port {port} uses IP protocol {number} \
                 (only tcp, udp and sctp are supported)"
            ))
        })?;
        ServiceKey::Address { protocol, address, port }
    };
    // Only errors name the service: formatting 10,000 keys showed in dump profiles.
    let name = || key.to_string();

    let sched_name = a
        .string(svc_attr::SCHED_NAME)
        .ok_or_else(|| DecodeError::Malformed(format!("service {} has no scheduler name", name())))?;
    let scheduler = Scheduler::from_name(&sched_name).ok_or_else(|| {
        DecodeError::Unrepresentable(format!(
            "service {} uses the scheduler '{sched_name}', unknown to lvs-converge",
            name()
        ))
    })?;
    let flags = Typed::require(a.fixed::<8>(svc_attr::FLAGS, "IPVS_SVC_ATTR_FLAGS")?, "IPVS_SVC_ATTR_FLAGS")?;
    let flags = u32::from_ne_bytes([flags[0], flags[1], flags[2], flags[3]]);

    // SCHED1/SCHED2 mean "fallback"/"port" to sh and mh; under any other scheduler they
    // are read as the sh flags, so that a desired state without them shows a difference
    // and SET_SERVICE (whose mask covers them) clears them.
    let mut scheduler_flags = Vec::new();
    if flags & svc_flag::SCHED1 != 0 {
        scheduler_flags.push(if scheduler == Scheduler::Mh {
            SchedulerFlag::MhFallback
        } else {
            SchedulerFlag::ShFallback
        });
    }
    if flags & svc_flag::SCHED2 != 0 {
        scheduler_flags.push(if scheduler == Scheduler::Mh { SchedulerFlag::MhPort } else { SchedulerFlag::ShPort });
    }
    scheduler_flags.sort();

    let persistence = if flags & svc_flag::PERSISTENT != 0 {
        let timeout = a.u32(svc_attr::TIMEOUT, "IPVS_SVC_ATTR_TIMEOUT")?.unwrap_or(0);
        let netmask =
            Typed::require(a.fixed::<4>(svc_attr::NETMASK, "IPVS_SVC_ATTR_NETMASK")?, "IPVS_SVC_ATTR_NETMASK")?;
        Some(Persistence {
            timeout,
            prefix_length: prefix_from_netmask(family, netmask, &key)?,
            engine: a.string(svc_attr::PE_NAME).filter(|s| !s.is_empty()),
        })
    } else {
        None
    };

    Ok(Service {
        key,
        settings: ServiceSettings {
            scheduler,
            scheduler_flags,
            persistence,
            one_packet: flags & svc_flag::ONEPACKET != 0,
        },
        destinations: Default::default(),
    })
}

/// Live connection counts of a real server: active, inactive.
pub struct Connections {
    pub active: u32,
    pub inactive: u32,
}

/// One GET_DEST dump entry (a NEW_DEST message with IPVS_CMD_ATTR_DEST): the real server
/// and its live connection counts. Kernels before 3.18 do not say the destination's
/// family: it is then the service's.
pub fn decode_dest(attrs: Attrs<'_>, service: &ServiceKey) -> Result<(Destination, Connections), DecodeError> {
    let a = Typed::new(attrs).nested(cmd_attr::DEST, "IPVS_CMD_ATTR_DEST")?;
    let connections = Connections {
        active: a.u32(dest_attr::ACTIVE_CONNS, "IPVS_DEST_ATTR_ACTIVE_CONNS")?.unwrap_or(0),
        inactive: a.u32(dest_attr::INACT_CONNS, "IPVS_DEST_ATTR_INACT_CONNS")?.unwrap_or(0),
    };
    let family = match a.u16(dest_attr::ADDR_FAMILY, "IPVS_DEST_ATTR_ADDR_FAMILY")? {
        Some(af) => family_from(af, &format!("a real server of service {service}"))?,
        None => service.family(),
    };
    let address = address_from(
        family,
        Typed::require(a.fixed::<16>(dest_attr::ADDR, "IPVS_DEST_ATTR_ADDR")?, "IPVS_DEST_ATTR_ADDR")?,
    );
    let port = Typed::require(a.be16(dest_attr::PORT, "IPVS_DEST_ATTR_PORT")?, "IPVS_DEST_ATTR_PORT")?;
    let key = DestinationKey { address, port };
    let fwd = Typed::require(a.u32(dest_attr::FWD_METHOD, "IPVS_DEST_ATTR_FWD_METHOD")?, "IPVS_DEST_ATTR_FWD_METHOD")?;
    let method = ForwardingMethod::from_kernel_value(fwd & consts::CONN_F_FWD_MASK).ok_or_else(|| {
        DecodeError::Unrepresentable(format!(
            "real server {key} of service {service} uses forwarding method {} \
                 (only masq, tunnel and dr are supported)",
            match fwd & consts::CONN_F_FWD_MASK {
                1 => "local node".to_string(),
                4 => "bypass".to_string(),
                n => format!("{n}"),
            }
        ))
    })?;
    let weight = Typed::require(a.u32(dest_attr::WEIGHT, "IPVS_DEST_ATTR_WEIGHT")?, "IPVS_DEST_ATTR_WEIGHT")?;
    let upper_threshold = a.u32(dest_attr::U_THRESH, "IPVS_DEST_ATTR_U_THRESH")?.unwrap_or(0);
    let lower_threshold = a.u32(dest_attr::L_THRESH, "IPVS_DEST_ATTR_L_THRESH")?.unwrap_or(0);
    let tunnel = if method == ForwardingMethod::Tunnel {
        let kind = a.u8(dest_attr::TUN_TYPE, "IPVS_DEST_ATTR_TUN_TYPE")?.unwrap_or(0);
        TunnelEncapsulation {
            kind: TunnelType::from_kernel_value(kind).ok_or_else(|| {
                DecodeError::Unrepresentable(format!(
                    "real server {key} of service {service} uses tunnel type {kind} \
                     (only ipip, gue and gre are supported)"
                ))
            })?,
            port: a.be16(dest_attr::TUN_PORT, "IPVS_DEST_ATTR_TUN_PORT")?.unwrap_or(0),
            flags: a.u16(dest_attr::TUN_FLAGS, "IPVS_DEST_ATTR_TUN_FLAGS")?.unwrap_or(0),
        }
    } else {
        TunnelEncapsulation::default()
    };
    Ok((Destination { address, port, method, weight, upper_threshold, lower_threshold, tunnel }, connections))
}

/// The GET_CONFIG reply. A timeout the kernel leaves out (protocol compiled out) reads 0.
pub fn decode_timeouts(attrs: Attrs<'_>) -> Result<Timeouts, DecodeError> {
    let a = Typed::new(attrs);
    Ok(Timeouts {
        tcp: a.u32(cmd_attr::TIMEOUT_TCP, "IPVS_CMD_ATTR_TIMEOUT_TCP")?.unwrap_or(0),
        tcp_fin: a.u32(cmd_attr::TIMEOUT_TCP_FIN, "IPVS_CMD_ATTR_TIMEOUT_TCP_FIN")?.unwrap_or(0),
        udp: a.u32(cmd_attr::TIMEOUT_UDP, "IPVS_CMD_ATTR_TIMEOUT_UDP")?.unwrap_or(0),
    })
}
