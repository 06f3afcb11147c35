//! The tunnel parameters of fallback devices that can change: ip6tnl0's mode and gre0's
//! input checksum flag. The kernel refuses RTM_NEWLINK changes of every fallback device
//! (EINVAL, measured on the lab's 6.1), but its SIOCCHGTUNNEL ioctl updates ip6tnl0's inner
//! protocol (ip6_tnl0_update) and gre0's flags (ipgre_tunnel_ctl), which is what `ip -6
//! tunnel change ip6tnl0 mode any` and `ip tunnel change gre0 mode gre icsum` send.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

use nix::libc;

use crate::model::links::Ip6tnlMode;

/// SIOCDEVPRIVATE + 0 and + 3, from <linux/if_tunnel.h>.
const SIOCGETTUNNEL: libc::c_ulong = 0x89F0;
const SIOCCHGTUNNEL: libc::c_ulong = 0x89F3;

/// GRE_CSUM of <linux/if_tunnel.h>, a flag of the GRE header as it is on the wire.
const GRE_CSUM: u16 = 0x8000;

/// `struct ip6_tnl_parm` from <linux/ip6_tunnel.h>.
#[repr(C)]
struct Ip6TunnelParameters {
    name: [u8; libc::IFNAMSIZ],
    link: i32,
    proto: u8,
    encap_limit: u8,
    hop_limit: u8,
    flowinfo: u32,
    flags: u32,
    local: [u8; 16],
    remote: [u8; 16],
}

/// `struct ip_tunnel_parm` from <linux/if_tunnel.h>, its `struct iphdr` spelled out.
/// Flags, keys and addresses are in network byte order.
#[repr(C)]
#[derive(Default)]
struct Ipv4TunnelParameters {
    name: [u8; libc::IFNAMSIZ],
    link: i32,
    i_flags: u16,
    o_flags: u16,
    i_key: u32,
    o_key: u32,
    version_ihl: u8,
    tos: u8,
    total_length: u16,
    id: u16,
    frag_off: u16,
    ttl: u8,
    protocol: u8,
    check: u16,
    saddr: u32,
    daddr: u32,
}

/// `struct ifreq` with its `ifr_data` member: the device name and where its parameters are.
#[repr(C)]
struct InterfaceRequest {
    name: [u8; libc::IFNAMSIZ],
    data: *mut libc::c_void,
    // The rest of the ifreq union (24 bytes in all on 64-bit, 16 on 32-bit).
    _rest: [u8; 16],
}

/// IPPROTO_IPV6, IPPROTO_IPIP, or 0 for both: the protocol byte of a mode.
pub(super) fn protocol_of(mode: Ip6tnlMode) -> u8 {
    match mode {
        Ip6tnlMode::Ip6ip6 => libc::IPPROTO_IPV6 as u8,
        Ip6tnlMode::Ipip6 => libc::IPPROTO_IPIP as u8,
        Ip6tnlMode::Any => 0,
    }
}

fn name_bytes(name: &str) -> [u8; libc::IFNAMSIZ] {
    let mut bytes = [0u8; libc::IFNAMSIZ];
    // Names are checked to be at most 15 bytes; the last byte stays the terminating NUL.
    for (to, from) in bytes.iter_mut().zip(name.bytes().take(libc::IFNAMSIZ - 1)) {
        *to = from;
    }
    bytes
}

/// One SIOC*TUNNEL `request` for the device `name` with `parameters` (read or written by
/// the kernel), on a socket of `family` in the calling thread's network namespace.
///
/// # Safety
/// `P` must be the #[repr(C)] parameter structure the kernel reads and writes for this
/// request and family (struct ip_tunnel_parm for AF_INET, ip6_tnl_parm for AF_INET6).
unsafe fn tunnel_ioctl<P>(
    family: libc::c_int,
    request: libc::c_ulong,
    name: &str,
    parameters: &mut P,
) -> io::Result<()> {
    let mut interface_request =
        InterfaceRequest { name: name_bytes(name), data: (parameters as *mut P).cast(), _rest: [0; 16] };
    // SAFETY: socket(2) returns a new descriptor or -1; OwnedFd takes sole ownership of it.
    let socket = unsafe { libc::socket(family, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) };
    if socket < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `socket` is a valid descriptor nothing else owns.
    let socket = unsafe { OwnedFd::from_raw_fd(socket) };
    // SAFETY: the request and the parameters it points to are live and, by the caller's
    // promise, as large as the kernel reads and writes for this request.
    let result = unsafe { libc::ioctl(socket.as_raw_fd(), request as _, &mut interface_request) };
    if result < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Sets the mode of the fallback device `name` (ip6tnl0) in the calling thread's network
/// namespace. Its endpoints stay any/any, which is how the kernel finds it.
pub(super) fn set_ip6tnl_mode(name: &str, mode: Ip6tnlMode) -> io::Result<()> {
    let mut parameters = Ip6TunnelParameters {
        name: name_bytes(name),
        link: 0,
        proto: protocol_of(mode),
        encap_limit: 0,
        hop_limit: 0,
        flowinfo: 0,
        flags: 0,
        local: [0; 16],
        remote: [0; 16],
    };
    // SAFETY: an ip6_tnl_parm on an AF_INET6 socket, as ip6_tnl_siocdevprivate reads it.
    unsafe { tunnel_ioctl(libc::AF_INET6, SIOCCHGTUNNEL, name, &mut parameters) }
}

/// `i_flags` with GRE_CSUM set or cleared, the other flags (keys, sequence numbers) kept.
fn with_input_checksum(i_flags: u16, require_checksum: bool) -> u16 {
    let csum = GRE_CSUM.to_be();
    if require_checksum {
        i_flags | csum
    } else {
        i_flags & !csum
    }
}

/// Sets or clears `icsum` on the fallback GRE device `name` (gre0): its parameters as the
/// kernel has them (SIOCGETTUNNEL), the input checksum flag changed, written back. Every
/// flag is sent explicitly, so that clearing works, which `ip tunnel change gre0 mode gre`
/// does not do (iproute2 starts from the old flags).
pub(super) fn set_gre_input_checksum(name: &str, require_checksum: bool) -> io::Result<()> {
    let mut parameters = Ipv4TunnelParameters { name: name_bytes(name), ..Default::default() };
    // SAFETY: an ip_tunnel_parm on an AF_INET socket, as ip_tunnel_siocdevprivate reads it.
    unsafe { tunnel_ioctl(libc::AF_INET, SIOCGETTUNNEL, name, &mut parameters)? };
    parameters.i_flags = with_input_checksum(parameters.i_flags, require_checksum);
    // ipgre_tunnel_ctl refuses a change that does not say IPv4 header, GRE, 20 bytes.
    parameters.version_ihl = 0x45;
    parameters.protocol = libc::IPPROTO_GRE as u8;
    // SAFETY: as above.
    unsafe { tunnel_ioctl(libc::AF_INET, SIOCCHGTUNNEL, name, &mut parameters) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_structures_are_as_large_as_the_kernels() {
        assert_eq!(std::mem::size_of::<Ip6TunnelParameters>(), 64);
        assert_eq!(std::mem::offset_of!(Ip6TunnelParameters, flowinfo), 24);
        assert_eq!(std::mem::offset_of!(Ip6TunnelParameters, local), 32);
        assert_eq!(std::mem::size_of::<Ipv4TunnelParameters>(), 52);
        assert_eq!(std::mem::offset_of!(Ipv4TunnelParameters, i_flags), 20);
        assert_eq!(std::mem::offset_of!(Ipv4TunnelParameters, version_ihl), 32);
        assert_eq!(std::mem::offset_of!(Ipv4TunnelParameters, saddr), 44);
        #[cfg(target_pointer_width = "64")]
        assert_eq!(std::mem::size_of::<InterfaceRequest>(), 40);
    }

    #[test]
    fn modes_are_the_inner_protocols() {
        assert_eq!(protocol_of(Ip6tnlMode::Ip6ip6), 41);
        assert_eq!(protocol_of(Ip6tnlMode::Ipip6), 4);
        assert_eq!(protocol_of(Ip6tnlMode::Any), 0);
        assert_eq!(&name_bytes("ip6tnl0")[..8], b"ip6tnl0\0");
    }

    #[test]
    fn the_input_checksum_flag_is_the_wire_s_first_bit_and_leaves_the_others() {
        let key = 0x2000u16.to_be();
        let set = with_input_checksum(key, true);
        assert_eq!(set.to_ne_bytes()[0], 0xa0, "GRE_CSUM | GRE_KEY in network byte order");
        assert_eq!(with_input_checksum(set, false), key);
        assert_eq!(with_input_checksum(0, false), 0);
    }
}
