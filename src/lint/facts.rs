//! What lint rules know about one host: the spec's desired state, completed by what was
//! observed on the host where the spec is silent. The spec wins where both speak, because
//! the rules judge the host as it will be after `apply`.
//!
//! Everything is indexed once, in [`Facts::new`]: a director holds a VIP (an address and a
//! local route) per service and the rules ask about every real server, so a rule's question
//! must not walk every address and route again.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::net::IpAddr;

use crate::model::addresses::{host_prefix_length, network_bits};
use crate::model::fou::{FouEncapsulation, FouPort};
use crate::model::ipvs::{Family, TunnelType};
use crate::model::keyed::Keyed;
use crate::model::links::{LinkKind, FALLBACK_TUNNELS};
use crate::model::routes::{Route, RouteType, TABLE_MAIN};
use crate::model::tunnels::{decapsulated_by, Receiver};
use crate::model::{Address, HostState, Link};

pub struct Facts<'a> {
    pub desired: &'a HostState,
    pub observed: Option<&'a HostState>,
    /// Declared and observed addresses, each (interface, address) once, the spec's first.
    addresses: Vec<&'a Address>,
    /// Interfaces by name, the spec's declaration first.
    links: BTreeMap<&'a str, &'a Link>,
    tunnel_devices: Vec<&'a str>,
    local: HashSet<IpAddr>,
    preferred_sources: HashSet<IpAddr>,
    /// Addresses with a subnet (shorter than a host prefix), on any interface.
    subnet_addresses: Vec<&'a Address>,
    /// Main-table unicast routes that leave by a known device, then the on-link subnets.
    egress: PrefixIndex<Egress<'a>>,
}

/// Where a sysctl value comes from, so that a finding can point at the spec or the host.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    Spec,
    Host,
}

/// The way a packet to some address leaves the host: a main-table route or an on-link
/// subnet. Its words are made only for a finding that shows them.
#[derive(Debug, Clone, Copy)]
pub enum Egress<'a> {
    Route { route: &'a Route, device: &'a str },
    OnLink(&'a Address),
}

impl<'a> Egress<'a> {
    /// The interface it leaves by.
    pub fn device(&self) -> &'a str {
        match self {
            Egress::Route { device, .. } => device,
            Egress::OnLink(address) => &address.interface,
        }
    }

    /// `10.0.0.0/24 via 192.0.2.1 dev eth0` (a route) or `10.0.0.1/24 on eth0` (on-link).
    pub fn route(&self) -> String {
        match self {
            Egress::Route { route, device } => {
                let via = route.gateway.map(|g| format!(" via {g}")).unwrap_or_default();
                format!("{}/{}{via} dev {device}", route.destination, route.prefix_length)
            }
            Egress::OnLink(address) => {
                format!("{}/{} on {}", address.address, address.prefix_length, address.interface)
            }
        }
    }

    fn metric(&self) -> u32 {
        match self {
            Egress::Route { route, .. } => route.metric,
            Egress::OnLink(_) => 0,
        }
    }
}

/// Prefixes grouped by family and length, each group hashed by its masked network, so that
/// the longest match costs one probe per prefix length in use rather than a walk of them all.
struct PrefixIndex<T> {
    /// (IPv4?, prefix length) → masked network → entries in the order they were added.
    groups: BTreeMap<(bool, u8), HashMap<u128, Vec<T>>>,
}

impl<T> Default for PrefixIndex<T> {
    fn default() -> Self {
        PrefixIndex { groups: BTreeMap::new() }
    }
}

impl<T> PrefixIndex<T> {
    fn insert(&mut self, network: IpAddr, prefix_length: u8, entry: T) {
        let group = self.groups.entry((network.is_ipv4(), prefix_length)).or_default();
        group.entry(network_bits(network, prefix_length)).or_default().push(entry);
    }

    /// The entries of the longest prefixes that hold `address`, in the order they were added.
    fn longest_match(&self, address: IpAddr) -> &[T] {
        let family = address.is_ipv4();
        let lengths = self.groups.range((family, 0)..=(family, u8::MAX)).rev();
        for (&(_, prefix_length), group) in lengths {
            count_visit();
            if let Some(entries) = group.get(&network_bits(address, prefix_length)) {
                return entries;
            }
        }
        &[]
    }
}

#[cfg(test)]
thread_local! {
    /// Prefix groups probed by this thread's questions, to prove they do not walk every entry.
    static VISITS: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}

#[cfg(test)]
fn count_visit() {
    VISITS.with(|visits| visits.set(visits.get() + 1));
}

#[cfg(not(test))]
fn count_visit() {}

impl<'a> Facts<'a> {
    pub fn new(desired: &'a HostState, observed: Option<&'a HostState>) -> Self {
        let states = || std::iter::once(desired).chain(observed);
        let mut seen = HashSet::new();
        let addresses: Vec<&Address> = states()
            .flat_map(|s| s.addresses.values())
            .filter(|a| seen.insert((a.interface.as_str(), a.address)))
            .collect();
        let mut links = BTreeMap::new();
        for link in states().flat_map(|s| s.links.values()) {
            links.entry(link.name.as_str()).or_insert(link);
        }
        let mut tunnel_devices: Vec<&str> = links.iter().filter(|(_, l)| l.kind.is_tunnel()).map(|(&n, _)| n).collect();
        for fallback in FALLBACK_TUNNELS {
            let module = LinkKind::fallback(fallback).and_then(|kind| kind.module());
            if module.is_some_and(|m| desired.modules.contains(m)) && !tunnel_devices.contains(&fallback) {
                tunnel_devices.push(fallback);
            }
        }
        let local = addresses.iter().map(|a| a.address).collect();
        let preferred_sources = addresses.iter().filter(|a| !a.deprecated).map(|a| a.address).collect();
        let subnet_addresses: Vec<&Address> =
            addresses.iter().copied().filter(|a| a.prefix_length < host_prefix_length(&a.address)).collect();
        // An interface that is (or will be) down routes nothing.
        let is_up = |interface: &str| links.get(interface).is_none_or(|link| link.up != Some(false));
        // On-link subnets of interfaces that are up, for gateways.
        let mut on_link = PrefixIndex::default();
        for &address in subnet_addresses.iter().filter(|a| is_up(&a.interface)) {
            on_link.insert(address.address, address.prefix_length, address);
        }
        let mut egress = PrefixIndex::default();
        for route in states().flat_map(|s| s.routes.values()) {
            if route.table != TABLE_MAIN || route.kind != RouteType::Unicast {
                continue;
            }
            // A route by gateway alone leaves by the interface whose subnet holds the gateway.
            let device = route.device.as_deref().or_else(|| {
                let gateway = route.gateway?;
                on_link.longest_match(gateway).last().map(|a: &&Address| a.interface.as_str())
            });
            if let Some(device) = device {
                egress.insert(route.destination, route.prefix_length, Egress::Route { route, device });
            }
        }
        for &address in subnet_addresses.iter().filter(|a| is_up(&a.interface)) {
            egress.insert(address.address, address.prefix_length, Egress::OnLink(address));
        }
        Facts {
            desired,
            observed,
            addresses,
            links,
            tunnel_devices,
            local,
            preferred_sources,
            subnet_addresses,
            egress,
        }
    }

    fn states(&self) -> impl Iterator<Item = &'a HostState> {
        std::iter::once(self.desired).chain(self.observed)
    }

    /// Every address the host will have: declared ones and those already there.
    pub fn addresses(&self) -> &[&'a Address] {
        &self.addresses
    }

    /// The addresses with a subnet of their own (shorter than a host prefix): the segments
    /// the host sits on.
    pub fn subnet_addresses(&self) -> &[&'a Address] {
        &self.subnet_addresses
    }

    pub fn is_local(&self, address: IpAddr) -> bool {
        self.local.contains(&address)
    }

    /// True when `address` is held and the kernel may pick it as a source address: it is
    /// not deprecated everywhere it is held.
    pub fn is_preferred_source(&self, address: IpAddr) -> bool {
        self.preferred_sources.contains(&address)
    }

    /// Interfaces by name, the spec's declaration first.
    pub fn links(&self) -> &BTreeMap<&'a str, &'a Link> {
        &self.links
    }

    /// Tunnel devices of every kind (which decapsulate, or on a director would wrongly carry
    /// IPVS traffic), with the fallback device of each tunnel module the spec loads.
    pub fn tunnel_devices(&self) -> &[&'a str] {
        &self.tunnel_devices
    }

    pub fn is_tunnel_device(&self, name: &str) -> bool {
        self.tunnel_devices.contains(&name)
    }

    /// A tunnel device's kind: as declared or read, or the fallback's when only its module is.
    fn tunnel_kind(&self, name: &str) -> Option<LinkKind> {
        self.links.get(name).map(|link| link.kind.clone()).or_else(|| LinkKind::fallback(name))
    }

    /// Tunnel devices that hand IPv4 packets to the stack, which reverse-path filtering
    /// judges (sit carries IPv6 only, ip6tnl by its mode).
    pub fn ipv4_decapsulating_devices(&self) -> Vec<&'a str> {
        self.tunnel_devices
            .iter()
            .copied()
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
        match self.links.get(name).map(|link| &link.kind) {
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
        for (name, link) in &self.links {
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
    /// among declared and observed routes and the on-link subnets of the host's addresses
    /// (the lowest metric among equals, routes first).
    pub fn egress(&self, destination: IpAddr) -> Option<Egress<'a>> {
        // min_by_key keeps the first of equal metrics.
        self.egress.longest_match(destination).iter().min_by_key(|egress| egress.metric()).copied()
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

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    fn address(interface: &str, address: &str, prefix_length: u8) -> Address {
        Address { interface: interface.into(), address: ip(address), prefix_length, label: None, deprecated: false }
    }

    fn route(table: u32, kind: RouteType, destination: &str, prefix_length: u8) -> Route {
        Route {
            table,
            kind,
            destination: ip(destination),
            prefix_length,
            metric: 0,
            device: None,
            gateway: None,
            scope: crate::model::routes::RouteScope::Universe,
            source: None,
        }
    }

    fn visits() -> usize {
        VISITS.with(|visits| visits.get())
    }

    #[test]
    fn egress_is_the_longest_prefix_then_the_lowest_metric_routes_before_subnets() {
        let mut state = HostState::default();
        keyed::put(&mut state.addresses, address("eth0", "192.0.2.10", 24));
        keyed::put(&mut state.addresses, address("eth1", "10.1.0.10", 16));
        let mut default = route(TABLE_MAIN, RouteType::Unicast, "0.0.0.0", 0);
        default.gateway = Some(ip("192.0.2.1"));
        keyed::put(&mut state.routes, default);
        let mut narrow = route(TABLE_MAIN, RouteType::Unicast, "10.1.2.0", 24);
        (narrow.device, narrow.metric) = (Some("eth2".into()), 100);
        keyed::put(&mut state.routes, narrow.clone());
        (narrow.device, narrow.metric) = (Some("eth3".into()), 50);
        keyed::put(&mut state.routes, narrow);
        let mut same_as_subnet = route(TABLE_MAIN, RouteType::Unicast, "192.0.2.0", 24);
        same_as_subnet.device = Some("eth4".into());
        keyed::put(&mut state.routes, same_as_subnet);
        keyed::put(&mut state.routes, route(crate::model::routes::TABLE_LOCAL, RouteType::Local, "10.1.2.3", 32));
        let facts = Facts::new(&state, None);
        let egress = |to: &str| facts.egress(ip(to)).map(|e| (e.device().to_string(), e.route()));
        let expect = |device: &str, route: &str| Some((device.to_string(), route.to_string()));
        assert_eq!(egress("198.51.100.1"), expect("eth0", "0.0.0.0/0 via 192.0.2.1 dev eth0"), "gateway on eth0");
        assert_eq!(egress("10.1.2.3"), expect("eth3", "10.1.2.0/24 dev eth3"), "longest, then lowest metric");
        assert_eq!(egress("10.1.3.3"), expect("eth1", "10.1.0.10/16 on eth1"));
        assert_eq!(egress("192.0.2.20"), expect("eth4", "192.0.2.0/24 dev eth4"), "a route before a subnet");
        assert_eq!(egress("2001:db8::1"), None, "no IPv6 way out");
    }

    /// Issue 12: with a VIP per service (an address and a route each), asking the way to every
    /// real server walked every address and route: quadratic. Indexed, each question probes
    /// one group of prefixes per length in use.
    #[test]
    fn egress_for_every_real_server_of_a_large_director_costs_a_few_probes_each() {
        let probes = |services: u32| {
            let mut state = HostState::default();
            keyed::put(&mut state.addresses, address("eth0", "192.0.2.10", 16));
            let mut default = route(TABLE_MAIN, RouteType::Unicast, "0.0.0.0", 0);
            default.gateway = Some(ip("192.0.2.1"));
            keyed::put(&mut state.routes, default);
            for n in 0..services {
                let vip = std::net::Ipv4Addr::from(0x0a00_0000 + n).to_string();
                keyed::put(&mut state.addresses, address("eth0", &vip, 32));
                let mut to_vip = route(TABLE_MAIN, RouteType::Unicast, &vip, 32);
                to_vip.device = Some("eth0".into());
                keyed::put(&mut state.routes, to_vip);
            }
            let before = visits();
            let facts = Facts::new(&state, None);
            for n in 0..services * 4 {
                let real_server = IpAddr::V4(std::net::Ipv4Addr::from(0xc000_6400 + n));
                assert_eq!(facts.egress(real_server).map(|e| e.device()), Some("eth0"));
                assert!(facts.is_local(ip("10.0.0.0")) && !facts.is_local(real_server));
            }
            visits() - before
        };
        let (small, large) = (probes(500), probes(2000));
        assert!(small <= 3 * 500 * 4 + 1, "{small} probes for 2000 questions");
        assert_eq!(large, 4 * small - 3, "linear: 4 times the questions, 4 times the probes");
    }
}
