//! IP addresses on interfaces: the VIP on `lo`/`tunl0`/an ethernet label, tunnel addresses.

use std::fmt;
use std::net::IpAddr;

use serde::{Deserialize, Serialize};

use super::keyed::Keyed;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct AddressKey {
    pub address: IpAddr,
    pub prefix_length: u8,
}

/// An address assigned to an interface (`ip addr add ADDRESS/PREFIX dev IFACE label LABEL`).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Address {
    pub interface: String,
    pub address: IpAddr,
    pub prefix_length: u8,
    /// IPv4 label such as `eth0:0` (the seed manual's alias interface); None = the interface
    /// name, which is what the kernel reports when no label was given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
    /// Preferred lifetime 0 (`ip addr add … preferred_lft 0`, the kernel's `deprecated` flag):
    /// the address is still owned, answered and served, but the kernel never picks it as the
    /// source of packets it sends. A director's IPv6 VIP must be this: otherwise it becomes the
    /// outer source of the tunnel packets, and a real server drops tunnel packets that come
    /// from one of its own addresses (the VIP on its lo).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub deprecated: bool,
}

/// Addresses are identified by interface and address: the same VIP on `lo` and on `eth0` are
/// two different objects.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct AddressId {
    pub interface: String,
    pub address: IpAddr,
    pub prefix_length: u8,
}

impl fmt::Display for AddressId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{} on {}", self.address, self.prefix_length, self.interface)
    }
}

impl Keyed for Address {
    type Key = AddressId;
    fn key(&self) -> AddressId {
        AddressId { interface: self.interface.clone(), address: self.address, prefix_length: self.prefix_length }
    }
}

impl Address {
    /// The label the kernel reports: the given one, or the interface's own name.
    pub fn effective_label(&self) -> &str {
        self.label.as_deref().unwrap_or(&self.interface)
    }
}

/// The prefix length of a single address: 32 for IPv4, 128 for IPv6.
pub fn host_prefix_length(address: &IpAddr) -> u8 {
    if address.is_ipv4() {
        32
    } else {
        128
    }
}

/// True when `address` lies in `network`/`prefix_length` (same family only).
pub fn prefix_contains(network: IpAddr, prefix_length: u8, address: IpAddr) -> bool {
    network.is_ipv4() == address.is_ipv4()
        && network_bits(network, prefix_length) == network_bits(address, prefix_length)
}

/// The first `prefix_length` bits of `address` (all of them past its width): what two
/// addresses of one family share when one prefix holds both.
pub fn network_bits(address: IpAddr, prefix_length: u8) -> u128 {
    let (bits, width) = match address {
        IpAddr::V4(v4) => (u128::from(u32::from(v4)), 32),
        IpAddr::V6(v6) => (u128::from(v6), 128),
    };
    let prefix = u32::from(prefix_length).min(width);
    if prefix == 0 {
        0
    } else {
        bits >> (width - prefix)
    }
}

impl Address {
    /// True when `other` is on this address's subnet (the prefix the kernel routes on-link).
    pub fn subnet_contains(&self, other: IpAddr) -> bool {
        prefix_contains(self.address, self.prefix_length, other)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes_contain_their_members_only() {
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        assert!(prefix_contains(ip("10.0.0.1"), 24, ip("10.0.0.2")));
        assert!(!prefix_contains(ip("10.0.0.1"), 24, ip("10.0.1.2")));
        assert!(prefix_contains(ip("0.0.0.0"), 0, ip("198.51.100.22")));
        assert!(!prefix_contains(ip("203.0.113.100"), 32, ip("203.0.113.101")));
        assert!(prefix_contains(ip("2001:db8::1"), 64, ip("2001:db8::ffff")));
        assert!(!prefix_contains(ip("2001:db8::1"), 64, ip("10.0.0.1")));
    }
}
