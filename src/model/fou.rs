//! Foo-over-UDP receive ports: the UDP sockets that take GUE (or bare IP-in-UDP) packets
//! off the wire and hand the inner packet to the IP stack, as `ip fou add port N gue` does.

use std::fmt;
use std::net::IpAddr;

use serde::{Deserialize, Serialize};

use super::ipvs::Family;
use super::keyed::Keyed;

/// What a port expects inside its UDP payload. Written beside the port as `type: gue` or
/// `type: direct, protocol: 4`, as the spec writes it (YAML has no plain form for a
/// variant with fields).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum FouEncapsulation {
    /// Generic UDP Encapsulation: a GUE header names the inner protocol (what IPVS sends
    /// with `--tun-type gue`).
    Gue,
    /// No header of its own: every payload is an IP packet of this protocol (4 = IPv4,
    /// 41 = IPv6, 47 = GRE).
    Direct { protocol: u8 },
}

impl FouEncapsulation {
    /// iproute2's word (`ip fou add port N gue` / `ipproto P`).
    pub fn name(self) -> &'static str {
        match self {
            FouEncapsulation::Gue => "gue",
            FouEncapsulation::Direct { .. } => "direct",
        }
    }
}

/// A receive port. The kernel knows it by socket family and port: the same port may be open
/// once for IPv4 and once for IPv6.
// No deny_unknown_fields: serde cannot combine it with the flattened encapsulation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FouPort {
    pub port: u16,
    /// The socket's family: the underlay the encapsulated packets arrive over.
    pub family: Family,
    #[serde(flatten)]
    pub encapsulation: FouEncapsulation,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct FouKey {
    pub family: Family,
    pub port: u16,
}

impl fmt::Display for FouKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "port {} {}", self.port, self.family.name())
    }
}

impl Keyed for FouPort {
    type Key = FouKey;
    fn key(&self) -> FouKey {
        FouKey { family: self.family, port: self.port }
    }
}

impl FouPort {
    /// The module whose generic netlink family opens the port. `fou` opens IPv6 sockets
    /// too (fou6 only adds the transmit side of ip6 tunnels), so it is the same module for
    /// both families.
    pub fn module(&self) -> &'static str {
        "fou"
    }
}

/// A port opened bound to a local or peer address, a peer port or a device (`ip fou add
/// port N gue local A peer B peer_port P dev D`). A spec cannot declare one: it is only read
/// from the host, reported and left alone.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BoundFouPort {
    #[serde(flatten)]
    pub port: FouPort,
    #[serde(flatten)]
    pub binding: FouBinding,
}

/// What a port's socket is bound to besides its port; all `None` for a port of the model.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FouBinding {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub local: Option<IpAddr>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub peer: Option<IpAddr>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub peer_port: Option<u16>,
    /// The device's interface index.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ifindex: Option<u32>,
}

impl FouBinding {
    pub fn is_unbound(&self) -> bool {
        *self == FouBinding::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ports_read_and_write_as_the_spec_and_snapshots_spell_them() {
        let gue = FouPort { port: 6080, family: Family::Ipv4, encapsulation: FouEncapsulation::Gue };
        let direct =
            FouPort { port: 5555, family: Family::Ipv6, encapsulation: FouEncapsulation::Direct { protocol: 4 } };
        let json = serde_json::to_value([gue, direct]).unwrap();
        assert_eq!(
            json,
            serde_json::json!([
                {"port": 6080, "family": "ipv4", "type": "gue"},
                {"port": 5555, "family": "ipv6", "type": "direct", "protocol": 4},
            ])
        );
        assert_eq!(serde_json::from_value::<Vec<FouPort>>(json).unwrap(), [gue, direct]);
    }

    #[test]
    fn the_same_port_of_two_families_is_two_objects() {
        let port = |family| FouPort { port: 6080, family, encapsulation: FouEncapsulation::Gue };
        assert_ne!(port(Family::Ipv4).key(), port(Family::Ipv6).key());
        assert_eq!(port(Family::Ipv6).key().to_string(), "port 6080 ipv6");
    }
}
