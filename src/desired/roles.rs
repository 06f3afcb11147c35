//! Role defaults: what LVS-TUN needs on a director or a real server, derived from a short
//! spec. Everything a role adds shows in the plan as coming from the role, and anything the
//! spec declares itself (same sysctl, link, address) wins. The spec has already refused what
//! a role cannot be derived from (`spec::role_checks`), so deriving cannot fail.

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;

use crate::model::addresses::{host_prefix_length, Address};
use crate::model::fou::{FouEncapsulation, FouPort};
use crate::model::interface_sysctl;
use crate::model::ipvs::{Family, ForwardingMethod, IpvsState, ServiceKey, TunnelType};
use crate::model::keyed;
use crate::model::links::{Ip6tnlMode, Link, LinkKind, FALLBACK_GRE};
use crate::model::tunnels::Receiver;
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

/// A real server: for each receiver the device that decapsulates its packets (and GUE's FOU
/// port), the VIPs on lo, no ARP answers for IPv4 VIPs, and no reverse-path filtering of
/// decapsulated IPv4 packets (their source is the client, which the device has no route
/// to). The effective rp_filter is max(all, device), so both are 0. The modules come with
/// the devices and ports, as for any declared ones: `prerequisites`.
pub fn real_server(receivers: &BTreeSet<Receiver>, vips: &[IpAddr]) -> HostState {
    let mut declared = HostState::default();
    let mut decapsulates: BTreeMap<&'static str, BTreeSet<Family>> = BTreeMap::new();
    for receiver in receivers {
        decapsulates.entry(receiver.decapsulating_device()).or_default().insert(receiver.inner);
        if let (TunnelType::Gue, Some(port)) = (receiver.encapsulation, receiver.port) {
            keyed::put(
                &mut declared.fou,
                FouPort { port, family: receiver.outer, encapsulation: FouEncapsulation::Gue },
            );
        }
    }
    // gre0 takes either checksummed GRE or GRE without checksums; lint refuses a node sent
    // both, so "any" is "all" here.
    let gre_checksummed = receivers.iter().any(|r| r.checksummed && r.decapsulating_device() == FALLBACK_GRE);
    for (device, inner) in &decapsulates {
        let Some(mut kind) = LinkKind::fallback(device) else { continue };
        match &mut kind {
            LinkKind::Ip6tnl { mode, .. } => *mode = ip6tnl_mode(inner),
            LinkKind::Gre { require_checksum, .. } => *require_checksum = gre_checksummed,
            _ => {}
        }
        keyed::put(&mut declared.links, Link { name: (*device).into(), kind, up: Some(true), mtu: None });
    }
    for vip in vips {
        keyed::put(
            &mut declared.addresses,
            Address {
                interface: "lo".into(),
                address: *vip,
                prefix_length: host_prefix_length(vip),
                label: None,
                deprecated: false,
            },
        );
    }
    if vips.iter().any(IpAddr::is_ipv4) {
        for (key, value) in [
            ("net.ipv4.conf.all.arp_ignore", "1"),
            ("net.ipv4.conf.all.arp_announce", "2"),
            ("net.ipv4.conf.lo.arp_ignore", "1"),
            ("net.ipv4.conf.lo.arp_announce", "2"),
        ] {
            declared.sysctls.insert(key.into(), value.into());
        }
    }
    let ipv4_decapsulating: Vec<&str> =
        decapsulates.iter().filter(|(_, inner)| inner.contains(&Family::Ipv4)).map(|(device, _)| *device).collect();
    if !ipv4_decapsulating.is_empty() {
        declared.sysctls.insert(interface_sysctl("all", "rp_filter"), "0".into());
    }
    for device in ipv4_decapsulating {
        declared.sysctls.insert(interface_sysctl(device, "rp_filter"), "0".into());
    }
    declared
}

/// ip6tnl0 drops inner packets of a protocol its mode does not name. IPv4 inside gets
/// `any`, never `ipip6`: `any` is the mode the lab asserted carrying 4in6 traffic.
fn ip6tnl_mode(inner: &BTreeSet<Family>) -> Ip6tnlMode {
    if inner.contains(&Family::Ipv4) {
        Ip6tnlMode::Any
    } else {
        Ip6tnlMode::Ip6ip6
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::keyed::Keyed;
    use crate::model::ObjectId;
    use Family::{Ipv4, Ipv6};

    fn receiver(encapsulation: TunnelType, port: Option<u16>, inner: Family, outer: Family) -> Receiver {
        Receiver { encapsulation, port, inner, outer, checksummed: false }
    }

    fn role(receivers: &[Receiver], vips: &[&str]) -> HostState {
        let vips: Vec<IpAddr> = vips.iter().map(|v| v.parse().unwrap()).collect();
        real_server(&receivers.iter().copied().collect(), &vips)
    }

    /// Every object the role declares, as the plan names them.
    fn objects(state: &HostState) -> Vec<String> {
        let mut objects: Vec<String> = state.links.values().map(|l| format!("link {l} up={:?}", l.up)).collect();
        objects.extend(
            state.fou.values().map(|p| format!("fou {} {}", ObjectId::FouPort(p.key()), p.encapsulation.name())),
        );
        objects.extend(
            state.addresses.values().map(|a| format!("address {}/{} on {}", a.address, a.prefix_length, a.interface)),
        );
        objects.extend(state.sysctls.iter().map(|(k, v)| format!("{k}={v}")));
        objects
    }

    #[test]
    fn ipip_for_an_ipv4_vip_is_tunl0_up_the_vip_on_lo_and_the_arp_and_rp_filter_sysctls() {
        let state = role(&[receiver(TunnelType::Ipip, None, Ipv4, Ipv4)], &["203.0.113.100"]);
        assert_eq!(
            objects(&state),
            [
                "link tunl0 (ipip) up=Some(true)",
                "address 203.0.113.100/32 on lo",
                "net.ipv4.conf.all.arp_announce=2",
                "net.ipv4.conf.all.arp_ignore=1",
                "net.ipv4.conf.all.rp_filter=0",
                "net.ipv4.conf.lo.arp_announce=2",
                "net.ipv4.conf.lo.arp_ignore=1",
                "net.ipv4.conf.tunl0.rp_filter=0",
            ]
        );
    }

    #[test]
    fn gue_adds_a_fou_port_of_the_underlay_s_family_and_the_ip_in_ip_device_of_the_inner_one() {
        let state = role(&[receiver(TunnelType::Gue, Some(6080), Ipv4, Ipv4)], &["203.0.113.100"]);
        let names = objects(&state);
        assert!(names.contains(&"fou fou port 6080 ipv4 gue".to_string()), "{names:?}");
        assert!(names.contains(&"link tunl0 (ipip) up=Some(true)".to_string()), "{names:?}");
        assert!(names.contains(&"net.ipv4.conf.tunl0.rp_filter=0".to_string()), "{names:?}");

        let over_ipv6 = role(&[receiver(TunnelType::Gue, Some(6080), Ipv6, Ipv6)], &["2001:db8:1::100"]);
        let names = objects(&over_ipv6);
        assert!(names.contains(&"fou fou port 6080 ipv6 gue".to_string()), "{names:?}");
        assert_eq!(
            over_ipv6.links["ip6tnl0"].kind,
            LinkKind::Ip6tnl { local: None, remote: None, hop_limit: 0, mode: Ip6tnlMode::Ip6ip6 }
        );
    }

    #[test]
    fn gre_uses_gre0_over_ipv4_and_ip6gre0_over_ipv6() {
        let state = role(
            &[receiver(TunnelType::Gre, None, Ipv4, Ipv4), receiver(TunnelType::Gre, None, Ipv4, Ipv6)],
            &["203.0.113.100"],
        );
        assert_eq!(state.links.keys().map(String::as_str).collect::<Vec<_>>(), ["gre0", "ip6gre0"]);
        assert!(state.links.values().all(|link| link.up == Some(true)));
        for device in ["all", "gre0", "ip6gre0"] {
            assert_eq!(state.sysctls[&interface_sysctl(device, "rp_filter")], "0", "{device}");
        }
        assert!(state.fou.is_empty());
        assert!(matches!(state.links["gre0"].kind, LinkKind::Gre { require_checksum: false, .. }));
    }

    #[test]
    fn checksummed_gre_over_ipv4_makes_gre0_require_checksums() {
        let csum = Receiver { checksummed: true, ..receiver(TunnelType::Gre, None, Ipv4, Ipv4) };
        let state = role(&[csum, receiver(TunnelType::Ipip, None, Ipv4, Ipv4)], &["203.0.113.100"]);
        assert!(matches!(state.links["gre0"].kind, LinkKind::Gre { require_checksum: true, .. }));
        // Over IPv6 the flag is not managed: ip6gre0 stays as the kernel made it.
        let over_ipv6 = Receiver { checksummed: true, ..receiver(TunnelType::Gre, None, Ipv4, Ipv6) };
        let state = role(&[over_ipv6], &["203.0.113.100"]);
        assert_eq!(state.links["ip6gre0"].kind, LinkKind::fallback("ip6gre0").unwrap());
    }

    #[test]
    fn an_ipv6_vip_is_a_128_on_lo_without_arp_or_rp_filter_sysctls() {
        let state = role(&[receiver(TunnelType::Ipip, None, Ipv6, Ipv4)], &["2001:db8:1::100"]);
        assert_eq!(objects(&state), ["link sit0 (sit) up=Some(true)", "address 2001:db8:1::100/128 on lo"]);
    }

    #[test]
    fn ip6tnl0_s_mode_carries_every_inner_family_it_must() {
        let both = role(
            &[receiver(TunnelType::Ipip, None, Ipv4, Ipv6), receiver(TunnelType::Gue, Some(6080), Ipv6, Ipv6)],
            &["203.0.113.100", "2001:db8:1::100"],
        );
        assert!(matches!(both.links["ip6tnl0"].kind, LinkKind::Ip6tnl { mode: Ip6tnlMode::Any, .. }));
        assert_eq!(both.sysctls[&interface_sysctl("ip6tnl0", "rp_filter")], "0");
        let ipv4_only = role(&[receiver(TunnelType::Ipip, None, Ipv4, Ipv6)], &["203.0.113.100"]);
        assert!(matches!(ipv4_only.links["ip6tnl0"].kind, LinkKind::Ip6tnl { mode: Ip6tnlMode::Any, .. }));
        assert_eq!(ipv4_only.links.len(), 1);
    }
}
