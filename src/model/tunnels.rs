//! What a real server must decapsulate: one [`Receiver`] per kind of tunnelled packet a
//! director sends it. A Cluster spec derives them from the directors' destinations; a Host
//! spec says them with `receive:`. The real-server role turns them into devices and FOU
//! ports (`desired::roles`), and lint compares them with what the directors send.

use serde::{Deserialize, Serialize};

use super::ipvs::{Destination, Family, TunnelChecksum, TunnelType};
use super::links::{
    Ip6tnlMode, LinkKind, FALLBACK_GRE, FALLBACK_IP6GRE, FALLBACK_IP6TNL, FALLBACK_SIT, FALLBACK_TUNNEL,
};

/// A kind of tunnelled packet a real server takes: the director's encapsulation (and GUE's
/// UDP port), the family of the packet inside (the VIP's) and of the one outside (the real
/// server's own address, the underlay).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Receiver {
    pub encapsulation: TunnelType,
    /// The FOU port a GUE receiver listens on; `None` for every other encapsulation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<u16>,
    pub inner: Family,
    pub outer: Family,
    /// GRE with checksums (a destination's `checksum: csum`). The kernel's GRE devices match
    /// the checksum flag both ways (a device with `icsum` drops GRE without one, and the
    /// reverse), so it makes another receiver; GUE's port takes every checksum mode, so
    /// it is false for GUE and ipip.
    #[serde(default, skip_serializing_if = "is_false")]
    pub checksummed: bool,
}

fn is_false(value: &bool) -> bool {
    !*value
}

impl Receiver {
    /// What a real server needs to take the packets of a tunnel `destination` of a service
    /// of `service_family`. Of the checksum flags only GRE's count: a GUE port accepts
    /// every checksum mode.
    pub fn of(service_family: Family, destination: &Destination) -> Receiver {
        let encapsulation = destination.tunnel.kind;
        Receiver {
            encapsulation,
            port: (encapsulation == TunnelType::Gue).then_some(destination.tunnel.port),
            inner: service_family,
            outer: Family::of(&destination.address),
            checksummed: encapsulation == TunnelType::Gre
                && TunnelChecksum::from_flags(destination.tunnel.flags) != TunnelChecksum::None,
        }
    }

    /// The fallback device that takes this receiver's packets (see [`DECAPSULATORS`]).
    pub fn decapsulating_device(&self) -> &'static str {
        let handler = handler(self.encapsulation);
        DECAPSULATORS
            .iter()
            .find(|row| row.encapsulation == handler && row.outer == self.outer && row.inner.contains(&self.inner))
            .map(|row| row.device)
            .expect("DECAPSULATORS has a row for every handler, underlay and inner family")
    }

    /// The same receiver for packets of another inner family.
    pub fn with_inner(self, inner: Family) -> Receiver {
        Receiver { inner, ..self }
    }

    /// How a `receive:` entry writes this receiver (the inner family comes from the VIPs):
    /// `gue:6080`, or the object form for an IPv6 underlay.
    pub fn receive_entry(&self) -> String {
        let kind = self.encapsulation.name();
        match (self.outer, self.port, self.checksummed) {
            (Family::Ipv4, Some(port), _) => format!("{kind}:{port}"),
            (Family::Ipv4, None, true) => format!("{kind}:csum"),
            (Family::Ipv4, None, false) => kind.to_string(),
            (Family::Ipv6, Some(port), _) => format!("{{ type: {kind}, port: {port}, underlay: ipv6 }}"),
            (Family::Ipv6, None, true) => format!("{{ type: {kind}, checksum: csum, underlay: ipv6 }}"),
            (Family::Ipv6, None, false) => format!("{{ type: {kind}, underlay: ipv6 }}"),
        }
    }
}

/// A kind of tunnel device as a decapsulator, named by its fallback device: the handler
/// its packets reach it by, the underlay's family and the inner families it can hand on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decapsulator {
    pub device: &'static str,
    pub encapsulation: TunnelType,
    pub outer: Family,
    pub inner: &'static [Family],
}

/// Which device decapsulates which packets: the one table both directions read, which
/// device a receiver needs ([`Receiver::decapsulating_device`], for the real-server role)
/// and what a device receives ([`decapsulated_by`], for lint). GUE has no rows: its FOU
/// port hands the inner packet to the IP-in-IP handlers ([`handler`]).
pub const DECAPSULATORS: [Decapsulator; 5] = [
    Decapsulator {
        device: FALLBACK_TUNNEL,
        encapsulation: TunnelType::Ipip,
        outer: Family::Ipv4,
        inner: &[Family::Ipv4],
    },
    Decapsulator { device: FALLBACK_SIT, encapsulation: TunnelType::Ipip, outer: Family::Ipv4, inner: &[Family::Ipv6] },
    Decapsulator {
        device: FALLBACK_IP6TNL,
        encapsulation: TunnelType::Ipip,
        outer: Family::Ipv6,
        inner: &[Family::Ipv4, Family::Ipv6],
    },
    Decapsulator {
        device: FALLBACK_GRE,
        encapsulation: TunnelType::Gre,
        outer: Family::Ipv4,
        inner: &[Family::Ipv4, Family::Ipv6],
    },
    Decapsulator {
        device: FALLBACK_IP6GRE,
        encapsulation: TunnelType::Gre,
        outer: Family::Ipv6,
        inner: &[Family::Ipv4, Family::Ipv6],
    },
];

/// The decapsulating handler an encapsulation's packets end in: GUE's FOU port hands them
/// to the IP-in-IP ones.
fn handler(encapsulation: TunnelType) -> TunnelType {
    match encapsulation {
        TunnelType::Gue => TunnelType::Ipip,
        other => other,
    }
}

/// What a tunnel device of `kind` (fallback or named) decapsulates: its row of
/// [`DECAPSULATORS`] with the inner families narrowed to ip6tnl's mode; None for other
/// interfaces.
pub fn decapsulated_by(kind: &LinkKind) -> Option<Decapsulator> {
    let same_kind = |row: &&Decapsulator| {
        LinkKind::fallback(row.device)
            .is_some_and(|fallback| std::mem::discriminant(&fallback) == std::mem::discriminant(kind))
    };
    let row = DECAPSULATORS.iter().find(same_kind)?;
    let inner: &'static [Family] = match kind {
        LinkKind::Ip6tnl { mode: Ip6tnlMode::Ip6ip6, .. } => &[Family::Ipv6],
        LinkKind::Ip6tnl { mode: Ip6tnlMode::Ipip6, .. } => &[Family::Ipv4],
        _ => row.inner,
    };
    Some(Decapsulator { inner, ..*row })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::ipvs::TunnelEncapsulation;

    #[test]
    fn every_receiver_s_device_decapsulates_it_and_every_device_s_receivers_map_back_to_it() {
        for encapsulation in [TunnelType::Ipip, TunnelType::Gue, TunnelType::Gre] {
            for inner in [Family::Ipv4, Family::Ipv6] {
                for outer in [Family::Ipv4, Family::Ipv6] {
                    let port = (encapsulation == TunnelType::Gue).then_some(6080);
                    let receiver = Receiver { encapsulation, port, inner, outer, checksummed: false };
                    let device = receiver.decapsulating_device();
                    let mut kind = LinkKind::fallback(device).expect(device);
                    if let LinkKind::Ip6tnl { mode, .. } = &mut kind {
                        *mode = Ip6tnlMode::Any;
                    }
                    let by = decapsulated_by(&kind).expect(device);
                    assert_eq!((by.device, by.encapsulation, by.outer), (device, handler(encapsulation), outer));
                    assert!(by.inner.contains(&inner), "{receiver:?} on {device}");
                }
            }
        }
        for row in DECAPSULATORS {
            let kind = LinkKind::fallback(row.device).expect(row.device);
            assert_eq!(decapsulated_by(&kind).map(|by| by.device), Some(row.device));
            for &inner in row.inner {
                let receiver = Receiver {
                    encapsulation: row.encapsulation,
                    port: None,
                    inner,
                    outer: row.outer,
                    checksummed: false,
                };
                assert_eq!(receiver.decapsulating_device(), row.device, "{receiver:?}");
            }
        }
        let ipip6 = LinkKind::Ip6tnl { local: None, remote: None, hop_limit: 0, mode: Ip6tnlMode::Ipip6 };
        assert_eq!(decapsulated_by(&ipip6).map(|by| by.inner), Some(&[Family::Ipv4][..]));
        assert_eq!(decapsulated_by(&LinkKind::Other { kind: "veth".into() }), None);
    }

    fn destination(address: &str, kind: TunnelType, port: u16, flags: u16) -> Destination {
        Destination::tunnelled(address, TunnelEncapsulation { kind, port, flags })
    }

    #[test]
    fn a_destination_s_receiver_has_its_encapsulation_the_service_s_family_inside_and_its_own_outside() {
        let gue = Receiver::of(Family::Ipv6, &destination("198.51.100.22", TunnelType::Gue, 6080, 1));
        assert_eq!(
            gue,
            Receiver {
                encapsulation: TunnelType::Gue,
                port: Some(6080),
                inner: Family::Ipv6,
                outer: Family::Ipv4,
                checksummed: false
            }
        );
        // A port left over on a GRE destination does not make another receiver; GRE's checksum does.
        let gre = Receiver::of(Family::Ipv4, &destination("2001:db8:2::22", TunnelType::Gre, 6080, 0));
        assert_eq!(
            gre,
            Receiver {
                encapsulation: TunnelType::Gre,
                port: None,
                inner: Family::Ipv4,
                outer: Family::Ipv6,
                checksummed: false
            }
        );
        assert_eq!(gre, Receiver::of(Family::Ipv4, &destination("2001:db8:2::22", TunnelType::Gre, 0, 0)));
        let csum = Receiver::of(Family::Ipv4, &destination("198.51.100.22", TunnelType::Gre, 0, 1));
        assert!(csum.checksummed);
        assert_eq!(csum.receive_entry(), "gre:csum");
        let gue_csum = Receiver::of(Family::Ipv4, &destination("198.51.100.22", TunnelType::Gue, 6080, 1));
        assert!(!gue_csum.checksummed, "a GUE port takes every checksum mode");
    }

    #[test]
    fn receive_entries_are_written_as_the_spec_writes_them() {
        let gue = Receiver {
            encapsulation: TunnelType::Gue,
            port: Some(6080),
            inner: Family::Ipv4,
            outer: Family::Ipv4,
            checksummed: false,
        };
        assert_eq!(gue.receive_entry(), "gue:6080");
        assert_eq!(Receiver { encapsulation: TunnelType::Ipip, port: None, ..gue }.receive_entry(), "ipip");
        let over_ipv6 = Receiver { encapsulation: TunnelType::Gre, port: None, outer: Family::Ipv6, ..gue };
        assert_eq!(over_ipv6.receive_entry(), "{ type: gre, underlay: ipv6 }");
        let csum = Receiver { checksummed: true, ..over_ipv6 };
        assert_eq!(csum.receive_entry(), "{ type: gre, checksum: csum, underlay: ipv6 }");
        assert_eq!(gue.with_inner(Family::Ipv6).inner, Family::Ipv6);
    }
}
