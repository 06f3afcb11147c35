//! What lint rules know about one host: the spec's desired state, completed by what was
//! observed on the host where the spec is silent. The spec wins where both speak, because
//! the rules judge the host as it will be after `apply`.

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;

use crate::model::addresses::{host_prefix_length, prefix_contains};
use crate::model::fou::{FouEncapsulation, FouPort};
use crate::model::ipvs::{Family, TunnelType};
use crate::model::keyed::Keyed;
use crate::model::links::{LinkKind, FALLBACK_TUNNELS};
use crate::model::routes::{RouteType, TABLE_MAIN};
use crate::model::tunnels::{decapsulated_by, Receiver};
use crate::model::{Address, HostState, Link};

pub struct Facts<'a> {
    pub desired: &'a HostState,
    pub observed: Option<&'a HostState>,
}

/// Where a sysctl value comes from, so that a finding can point at the spec or the host.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    Spec,
    Host,
}

/// The interface a packet to some address leaves by, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Egress {
    pub device: String,
    /// `10.0.0.0/24` (on-link) or `10.0.0.0/24 via 192.0.2.1`.
    pub route: String,
}

impl<'a> Facts<'a> {
    pub fn new(desired: &'a HostState, observed: Option<&'a HostState>) -> Self {
        Facts { desired, observed }
    }

    fn states(&self) -> impl Iterator<Item = &'a HostState> {
        std::iter::once(self.desired).chain(self.observed)
    }

    /// Every address the host will have: declared ones and those already there.
    pub fn addresses(&self) -> Vec<&'a Address> {
        let mut seen = std::collections::BTreeSet::new();
        self.states().flat_map(|s| s.addresses.values()).filter(|a| seen.insert((&a.interface, a.address))).collect()
    }

    pub fn is_local(&self, address: IpAddr) -> bool {
        self.addresses().iter().any(|a| a.address == address)
    }

    /// True when `address` is held and the kernel may pick it as a source address: it is
    /// not deprecated everywhere it is held.
    pub fn is_preferred_source(&self, address: IpAddr) -> bool {
        self.addresses().iter().any(|a| a.address == address && !a.deprecated)
    }

    /// Interfaces by name, the spec's declaration first.
    pub fn links(&self) -> BTreeMap<&'a str, &'a Link> {
        let mut links = BTreeMap::new();
        for state in self.states() {
            for link in state.links.values() {
                links.entry(link.name.as_str()).or_insert(link);
            }
        }
        links
    }

    /// Tunnel devices of every kind (which decapsulate, or on a director would wrongly carry
    /// IPVS traffic), with the fallback device of each tunnel module the spec loads.
    pub fn tunnel_devices(&self) -> Vec<&'a str> {
        let mut names: Vec<&str> =
            self.links().into_iter().filter(|(_, l)| l.kind.is_tunnel()).map(|(n, _)| n).collect();
        for fallback in FALLBACK_TUNNELS {
            let module = LinkKind::fallback(fallback).and_then(|kind| kind.module());
            if module.is_some_and(|m| self.desired.modules.contains(m)) && !names.contains(&fallback) {
                names.push(fallback);
            }
        }
        names
    }

    pub fn is_tunnel_device(&self, name: &str) -> bool {
        self.tunnel_devices().contains(&name)
    }

    /// A tunnel device's kind: as declared or read, or the fallback's when only its module is.
    fn tunnel_kind(&self, name: &str) -> Option<LinkKind> {
        self.links().get(name).map(|link| link.kind.clone()).or_else(|| LinkKind::fallback(name))
    }

    /// Tunnel devices that hand IPv4 packets to the stack, which reverse-path filtering
    /// judges (sit carries IPv6 only, ip6tnl by its mode).
    pub fn ipv4_decapsulating_devices(&self) -> Vec<&'a str> {
        self.tunnel_devices()
            .into_iter()
            .filter(|name| {
                self.tunnel_kind(name)
                    .and_then(|kind| decapsulated_by(&kind))
                    .is_some_and(|by| by.inner.contains(&Family::Ipv4))
            })
            .collect()
    }

    /// A tunnel device without a fixed far end (tunl0, `remote any`): what it is handed has
    /// nowhere to go. A point-to-point tunnel re-encapsulates to its `remote` instead.
    pub fn is_remoteless_tunnel(&self, name: &str) -> bool {
        match self.links().get(name).map(|link| &link.kind) {
            Some(LinkKind::Ipip { remote, .. } | LinkKind::Gre { remote, .. } | LinkKind::Sit { remote, .. }) => {
                remote.is_none()
            }
            Some(LinkKind::Ip6tnl { remote, .. } | LinkKind::Ip6gre { remote, .. }) => remote.is_none(),
            _ => self.is_tunnel_device(name),
        }
    }

    /// FOU ports, declared and already open.
    pub fn fou_ports(&self) -> Vec<&'a FouPort> {
        let mut seen = std::collections::BTreeSet::new();
        self.states().flat_map(|s| s.fou.values()).filter(|p| seen.insert(p.key())).collect()
    }

    /// What this host decapsulates: each tunnel device that is not down, for the inner
    /// families it carries, and GUE through each GUE port of its underlay's family.
    pub fn receivers(&self) -> BTreeSet<Receiver> {
        let gue_ports: Vec<&FouPort> =
            self.fou_ports().into_iter().filter(|p| p.encapsulation == FouEncapsulation::Gue).collect();
        let mut receivers = BTreeSet::new();
        for (name, link) in self.links() {
            if link.up == Some(false) || !self.is_tunnel_device(name) {
                continue;
            }
            let Some(by) = decapsulated_by(&link.kind) else { continue };
            let (encapsulation, outer) = (by.encapsulation, by.outer);
            // A GRE device takes checksummed GRE only with icsum, and then only that.
            let checksummed = matches!(link.kind, LinkKind::Gre { require_checksum: true, .. });
            for &inner in by.inner {
                receivers.insert(Receiver { encapsulation, port: None, inner, outer, checksummed });
                if encapsulation == TunnelType::Ipip {
                    for port in gue_ports.iter().filter(|p| p.family == outer) {
                        receivers.insert(Receiver {
                            encapsulation: TunnelType::Gue,
                            port: Some(port.port),
                            inner,
                            outer,
                            checksummed: false,
                        });
                    }
                }
            }
        }
        receivers
    }

    /// A sysctl's value as the host will have it, if the spec or the reading says.
    pub fn sysctl(&self, key: &str) -> Option<(i64, Source)> {
        let parse = |value: &String| value.trim().parse::<i64>().ok();
        if let Some(value) = self.desired.sysctls.get(key).and_then(parse) {
            return Some((value, Source::Spec));
        }
        self.observed.and_then(|o| o.sysctls.get(key)).and_then(parse).map(|v| (v, Source::Host))
    }

    /// The interface the main table sends `destination` out of: the longest matching prefix
    /// among declared and observed routes and the on-link subnets of the host's addresses.
    pub fn egress(&self, destination: IpAddr) -> Option<Egress> {
        let mut best: Option<(u8, u32, Egress)> = None;
        let mut consider = |prefix: u8, metric: u32, egress: Egress| {
            let better = match &best {
                None => true,
                Some((p, m, _)) => prefix > *p || (prefix == *p && metric < *m),
            };
            if better {
                best = Some((prefix, metric, egress));
            }
        };
        for route in self.states().flat_map(|s| s.routes.values()) {
            let usable = route.table == TABLE_MAIN && route.kind == RouteType::Unicast;
            if !usable || !prefix_contains(route.destination, route.prefix_length, destination) {
                continue;
            }
            // A route by gateway alone leaves by the interface whose subnet holds the gateway.
            let device = route.device.clone().or_else(|| route.gateway.and_then(|g| self.on_link(g)));
            if let Some(device) = device {
                let via = route.gateway.map(|g| format!(" via {g}")).unwrap_or_default();
                let text = format!("{}/{}{via} dev {device}", route.destination, route.prefix_length);
                consider(route.prefix_length, route.metric, Egress { device, route: text });
            }
        }
        for address in self.addresses().into_iter().filter(|a| self.is_up(&a.interface)) {
            if address.prefix_length < host_prefix_length(&address.address) && address.subnet_contains(destination) {
                let text = format!("{}/{} on {}", address.address, address.prefix_length, address.interface);
                consider(address.prefix_length, 0, Egress { device: address.interface.clone(), route: text });
            }
        }
        best.map(|(_, _, egress)| egress)
    }

    /// The interface whose on-link subnet holds `address`, if any.
    fn on_link(&self, address: IpAddr) -> Option<String> {
        self.addresses()
            .into_iter()
            .filter(|a| self.is_up(&a.interface) && a.prefix_length < host_prefix_length(&a.address))
            .filter(|a| a.subnet_contains(address))
            .max_by_key(|a| a.prefix_length)
            .map(|a| a.interface.clone())
    }

    /// An interface that is (or will be) down routes nothing.
    fn is_up(&self, interface: &str) -> bool {
        self.links().get(interface).is_none_or(|link| link.up != Some(false))
    }
}

/// A family as findings write it.
pub(super) fn family_name(family: Family) -> &'static str {
    match family {
        Family::Ipv4 => "IPv4",
        Family::Ipv6 => "IPv6",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::keyed;
    use crate::model::links::Ip6tnlMode;

    fn link(name: &str, up: bool) -> Link {
        Link { name: name.into(), kind: LinkKind::fallback(name).expect(name), up: Some(up), mtu: None }
    }

    fn receiver(encapsulation: TunnelType, port: Option<u16>, inner: Family, outer: Family) -> Receiver {
        Receiver { encapsulation, port, inner, outer, checksummed: false }
    }

    #[test]
    fn a_host_receives_through_each_tunnel_device_that_is_up_and_gue_through_its_ports() {
        use Family::{Ipv4, Ipv6};
        let mut state = HostState::default();
        keyed::put(&mut state.links, link("tunl0", true));
        keyed::put(&mut state.links, link("sit0", false));
        keyed::put(&mut state.links, link("gre0", true));
        let mut ip6tnl0 = link("ip6tnl0", true);
        ip6tnl0.kind = LinkKind::Ip6tnl { local: None, remote: None, hop_limit: 0, mode: Ip6tnlMode::Ipip6 };
        keyed::put(&mut state.links, ip6tnl0);
        for family in [Ipv4, Ipv6] {
            keyed::put(&mut state.fou, FouPort { port: 6080, family, encapsulation: FouEncapsulation::Gue });
        }
        keyed::put(
            &mut state.fou,
            FouPort { port: 5555, family: Ipv4, encapsulation: FouEncapsulation::Direct { protocol: 4 } },
        );
        let receivers: Vec<Receiver> = Facts::new(&state, None).receivers().into_iter().collect();
        assert_eq!(
            receivers,
            [
                receiver(TunnelType::Ipip, None, Ipv4, Ipv4),
                receiver(TunnelType::Ipip, None, Ipv4, Ipv6),
                receiver(TunnelType::Gue, Some(6080), Ipv4, Ipv4),
                receiver(TunnelType::Gue, Some(6080), Ipv4, Ipv6),
                receiver(TunnelType::Gre, None, Ipv4, Ipv4),
                receiver(TunnelType::Gre, None, Ipv6, Ipv4),
            ],
            "sit0 is down, ip6tnl0 in ipip6 mode takes no IPv6, the direct port is not GUE"
        );
        let facts = Facts::new(&state, None);
        let mut rp_filtered = facts.ipv4_decapsulating_devices();
        rp_filtered.sort();
        assert_eq!(rp_filtered, ["gre0", "ip6tnl0", "tunl0"]);
    }
}
