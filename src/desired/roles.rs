//! Role defaults: what LVS-TUN needs on a director or a real server, derived from a short
//! spec. Everything a role adds shows in the plan as coming from the role, and anything the
//! spec declares itself (same sysctl, link, address) wins. The spec has already refused what
//! a role cannot be derived from (`spec::role_checks`), so deriving cannot fail.

use std::collections::BTreeSet;
use std::net::IpAddr;

use crate::model::addresses::{host_prefix_length, Address};
use crate::model::ipvs::{ForwardingMethod, IpvsState, ServiceKey};
use crate::model::keyed;
use crate::model::links::{Link, LinkKind, FALLBACK_TUNNEL};
use crate::model::HostState;

/// Splits `eth0:0` into interface `eth0` and label `eth0:0`.
fn interface_and_label(vip_interface: &str) -> (String, Option<String>) {
    match vip_interface.split_once(':') {
        Some((interface, _)) => (interface.to_string(), Some(vip_interface.to_string())),
        None => (vip_interface.to_string(), None),
    }
}

/// The director: the VIPs of its IPVS services on the client-facing interface, and IP
/// forwarding when a real server is reached by NAT (tunnel and DR modes don't forward).
pub fn director(ipvs: &IpvsState, vip_interface: Option<&str>) -> HostState {
    let mut declared = HostState::default();
    if let Some(vip_interface) = vip_interface {
        let vips: BTreeSet<IpAddr> = ipvs.services.keys().filter_map(ServiceKey::address).collect();
        let (interface, label) = interface_and_label(vip_interface);
        for vip in &vips {
            keyed::put(
                &mut declared.addresses,
                Address {
                    interface: interface.clone(),
                    address: *vip,
                    prefix_length: host_prefix_length(vip),
                    label: label.clone().filter(|_| vip.is_ipv4()),
                    deprecated: vip.is_ipv6(),
                },
            );
        }
    }
    let nat = ipvs.services.values().flat_map(|s| s.destinations.values()).any(|d| d.method == ForwardingMethod::Masq);
    if nat {
        declared.sysctls.insert("net.ipv4.ip_forward".into(), "1".into());
    }
    declared
}

/// A real server: ipip decapsulation on tunl0, the VIPs on lo, no ARP answers for them, and
/// no reverse-path filtering of decapsulated packets (their source is the client, which
/// tunl0 has no route to). The effective rp_filter is max(all, tunl0), so both are 0.
pub fn real_server(vips: &[IpAddr]) -> HostState {
    // The `ipip` module comes with tunl0, as with every ipip link: `prerequisites::links`.
    let mut declared = HostState::default();
    keyed::put(
        &mut declared.links,
        Link {
            name: FALLBACK_TUNNEL.into(),
            kind: LinkKind::Ipip { local: None, remote: None, ttl: 0, pmtudisc: true },
            up: Some(true),
            mtu: None,
        },
    );
    for vip in vips {
        keyed::put(
            &mut declared.addresses,
            Address { interface: "lo".into(), address: *vip, prefix_length: 32, label: None, deprecated: false },
        );
    }
    for (key, value) in [
        ("net.ipv4.conf.all.arp_ignore", "1"),
        ("net.ipv4.conf.all.arp_announce", "2"),
        ("net.ipv4.conf.lo.arp_ignore", "1"),
        ("net.ipv4.conf.lo.arp_announce", "2"),
        ("net.ipv4.conf.all.rp_filter", "0"),
        ("net.ipv4.conf.tunl0.rp_filter", "0"),
    ] {
        declared.sysctls.insert(key.into(), value.into());
    }
    declared
}
