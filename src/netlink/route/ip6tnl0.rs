//! ip6tnl0's mode, the one tunnel parameter of a fallback device that can change. The
//! kernel refuses RTM_NEWLINK changes of every fallback device (EINVAL, measured on the
//! lab's 6.1), but its SIOCCHGTUNNEL ioctl on ip6tnl0 updates the inner protocol
//! (ip6_tnl0_update), which is what `ip -6 tunnel change ip6tnl0 mode any` sends.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

use nix::libc;

use crate::model::links::Ip6tnlMode;

/// SIOCDEVPRIVATE + 3, from <linux/if_tunnel.h>.
const SIOCCHGTUNNEL: libc::c_ulong = 0x89F3;

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

/// `struct ifreq` with its `ifr_data` member: the device name and where its parameters are.
#[repr(C)]
struct InterfaceRequest {
    name: [u8; libc::IFNAMSIZ],
    data: *mut Ip6TunnelParameters,
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

/// Sets the mode of the fallback device `name` (ip6tnl0) in the calling thread's network
/// namespace. Its endpoints stay any/any, which is how the kernel finds it.
pub(super) fn set_mode(name: &str, mode: Ip6tnlMode) -> io::Result<()> {
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
    let mut request = InterfaceRequest { name: name_bytes(name), data: &mut parameters, _rest: [0; 16] };
    // SAFETY: socket(2) returns a new descriptor or -1; OwnedFd takes sole ownership of it.
    let socket = unsafe { libc::socket(libc::AF_INET6, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) };
    if socket < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `socket` is a valid descriptor nothing else owns.
    let socket = unsafe { OwnedFd::from_raw_fd(socket) };
    // SAFETY: `request` and the parameters it points to are live, #[repr(C)] and as large as
    // the kernel reads (struct ifreq, struct ip6_tnl_parm) for this request.
    let result = unsafe { libc::ioctl(socket.as_raw_fd(), SIOCCHGTUNNEL as _, &mut request) };
    if result < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_structures_are_as_large_as_the_kernels() {
        assert_eq!(std::mem::size_of::<Ip6TunnelParameters>(), 64);
        assert_eq!(std::mem::offset_of!(Ip6TunnelParameters, flowinfo), 24);
        assert_eq!(std::mem::offset_of!(Ip6TunnelParameters, local), 32);
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
}
