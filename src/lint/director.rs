//! Rules for a director: where its IPVS table sends tunnelled packets.

use std::collections::HashMap;
use std::net::IpAddr;

use super::facts::Facts;
use super::Finding;
use crate::desired::Spec;
use crate::model::ipvs::{Destination, Family, ForwardingMethod, Protocol, Scheduler, Service, ServiceKey, TunnelType};
use crate::spec::{Document, NodeSpec};

pub(super) fn check(document: &Document, spec: &Spec, facts: &Facts) -> Vec<Finding> {
    let places = SpecPlaces::new(document);
    let mut findings = Vec::new();
    for service in spec.desired.ipvs.services.values() {
        let service_index = places.service_index(&service.key);
        let service_path = || service_index.map(service_path).unwrap_or_default();
        findings.extend(persistence_scheduler(service).map(|f| f.at(service_path())));
        for dest in service.destinations.values() {
            let rules = [
                via_tunnel(service, dest, facts),
                to_local_address(service, dest, facts),
                port_rewrite(service, dest),
                family_crossing(&places, service, dest),
                vip_as_tunnel_source(service, dest, facts),
            ];
            let mut found = rules.into_iter().flatten().peekable();
            if found.peek().is_none() {
                continue;
            }
            let path = service_index
                .and_then(|index| places.destination_path(index, service, dest))
                .unwrap_or_else(service_path);
            findings.extend(found.map(|f| f.at(path.clone())));
        }
    }
    findings
}

fn tunnels(dest: &Destination) -> bool {
    dest.method == ForwardingMethod::Tunnel
}

/// The seed manual's `ipvsadm -a -r 10.0.0.2:80 -i` with 10.0.0.1/24 on the director's tunl0.
fn via_tunnel(service: &Service, dest: &Destination, facts: &Facts) -> Option<Finding> {
    if !tunnels(dest) && dest.method != ForwardingMethod::Dr {
        return None;
    }
    let egress = facts.egress(dest.address)?;
    if !facts.is_remoteless_tunnel(egress.device()) {
        return None;
    }
    Some(Finding::error(
        "real-server-via-tunnel",
        format!(
            "real server {} of {} is reached through tunnel device {} (route {})",
            dest.address,
            service.key,
            egress.device(),
            egress.route()
        ),
        "IPVS tunnel mode encapsulates each packet itself, to the real server's own address, and sends it by the \
         normal route. An address inside a tunnel's subnet routes the packet into that tunnel device, which has no \
         remote end to send it to: the request is dropped and clients time out.",
        format!(
            "give the real server's own routable address (the one its tunnel receives on, e.g. its eth0 address) \
             instead of {}; a director needs no tunnel device or tunnel address for LVS-TUN, so remove the address \
             on {} too",
            dest.address,
            egress.device()
        ),
    ))
}

fn to_local_address(service: &Service, dest: &Destination, facts: &Facts) -> Option<Finding> {
    if !tunnels(dest) || !facts.is_local(dest.address) {
        return None;
    }
    Some(Finding::error(
        "real-server-is-local",
        format!("real server {} of {} is an address of this host", dest.address, service.key),
        "IPVS hands connections for a local real server to the director's own sockets instead of tunnelling them, \
         so the tunnel is never used and the director serves the traffic itself (or nothing listens).",
        format!("use the address the real server has on its own host, not {} which this director holds", dest.address),
    ))
}

/// TUN and DR deliver the client's packet unchanged: the real server sees the VIP's port.
fn port_rewrite(service: &Service, dest: &Destination) -> Option<Finding> {
    let ServiceKey::Address { port, .. } = service.key else { return None };
    if dest.method == ForwardingMethod::Masq || port == 0 || dest.port == port {
        return None;
    }
    Some(Finding::error(
        "tunnel-port-mismatch",
        format!(
            "real server {}:{} of {} uses port {} but {} cannot change ports",
            dest.address,
            dest.port,
            service.key,
            dest.port,
            dest.method.name()
        ),
        "Tunnel and direct-routing modes forward the client's packet as it is; only NAT (masq) rewrites the \
         destination port. The real server receives the connection on the VIP's port.",
        format!("remove `port` from the real server (it defaults to the service's port {port}), or make it listen on {port}"),
    ))
}

/// An IPv6 service tunnelled to an IPv4 address is 6in4 (protocol 41), which ipip (tunl0) does
/// not decapsulate. A Cluster node's receivers are judged by the cluster rules instead.
fn family_crossing(places: &SpecPlaces, service: &Service, dest: &Destination) -> Option<Finding> {
    if !tunnels(dest) || Family::of(&dest.address) == service.key.family() {
        return None;
    }
    if places.node_at(dest.address).is_some() {
        return None;
    }
    let (inner, decapsulator) = match service.key.family() {
        Family::Ipv6 => ("IPv6-in-IPv4 (protocol 41)", "sit0 (module sit)"),
        Family::Ipv4 => ("IPv4-in-IPv6", "ip6tnl0 (module ip6_tunnel)"),
    };
    Some(Finding::warning(
        "tunnel-family-crossing",
        format!("real server {} of {} receives {inner} packets", dest.address, service.key),
        "A real server set up for ipip (tunl0) drops these packets: only a tunnel device of the matching kind \
         decapsulates them.",
        format!("make sure the real server has {decapsulator} up with the VIP on lo, or give it an address of the service's family"),
    ))
}

/// IPVS picks the outer source of an IPv6 tunnel by the kernel's source address selection,
/// which prefers the VIP once it is on the director's interface (measured on the lab
/// kernel); the real server's ip6tnl0 drops a packet whose outer source is one of its own
/// addresses, and the VIP is on its lo. ip6gre0 does not check. A deprecated VIP (the
/// director role's) is never preferred.
fn vip_as_tunnel_source(service: &Service, dest: &Destination, facts: &Facts) -> Option<Finding> {
    let ServiceKey::Address { address: vip @ IpAddr::V6(_), .. } = service.key else { return None };
    let ip6tnl = matches!(dest.tunnel.kind, TunnelType::Ipip | TunnelType::Gue);
    if !tunnels(dest) || !dest.address.is_ipv6() || !ip6tnl || !facts.is_preferred_source(vip) {
        return None;
    }
    Some(Finding::warning(
        "ipv6-vip-as-tunnel-source",
        format!(
            "the director may send {} packets to {} from VIP {vip}, which the real server drops",
            dest.tunnel.kind.name(),
            dest.address
        ),
        "For an IPv6 tunnel IPVS takes the source address the kernel prefers towards the real server, and with the \
         VIP on the director's interface that is the VIP. The real server holds the VIP on lo, and its ip6tnl0 drops \
         every packet whose outer source is one of its own addresses.",
        format!(
            "deprecate the VIP on the director so that it is never preferred as a source: `ip addr change {vip}/128 \
             dev IFACE preferred_lft 0` (`deprecated: true` in the spec; `role: director` does it for its VIPs), \
             or use GRE, whose ip6gre0 does not check"
        ),
    ))
}

fn persistence_scheduler(service: &Service) -> Option<Finding> {
    service.settings.persistence.as_ref()?;
    match service.settings.scheduler {
        Scheduler::Sh | Scheduler::Dh | Scheduler::Mh => Some(Finding::warning(
            "persistence-with-hashing",
            format!("{} combines persistence with the {} scheduler", service.key, service.settings.scheduler.name()),
            "Hashing schedulers already send a client to the same real server every time; persistence adds a \
             connection template per client on top, which keeps a client on a server after its weight changes and \
             costs memory, and the hash stops deciding anything once the template exists.",
            "drop `persistence`, or use a non-hashing scheduler such as wlc with persistence".into(),
        )),
        Scheduler::Rr | Scheduler::Wrr => Some(Finding::note(
            "persistence-round-robin",
            format!("{} is persistent with the {} scheduler", service.key, service.settings.scheduler.name()),
            "With persistence the scheduler picks a real server per client, not per connection: round robin \
             balances clients, so a few busy clients (NAT gateways, proxies) load one server while the others idle.",
            "use lc or wlc, which count the connections each server holds, or shorten the persistence timeout".into(),
        )),
        _ => None,
    }
}

/// Where the spec file declares each service and node, indexed once so that locating the
/// findings of N services costs N lookups, not N searches of the file.
pub(super) struct SpecPlaces<'d> {
    document: &'d Document,
    /// (protocol, address, port) → index in `ipvs.services`, the first declaration's.
    by_address: HashMap<(Protocol, IpAddr, i64), usize>,
    by_fwmark: HashMap<i64, usize>,
    node_addresses: HashMap<&'d str, IpAddr>,
    nodes_by_address: HashMap<IpAddr, &'d NodeSpec>,
}

impl<'d> SpecPlaces<'d> {
    pub(super) fn new(document: &'d Document) -> Self {
        let mut by_address = HashMap::new();
        let mut by_fwmark = HashMap::new();
        let services = document.file.ipvs.as_ref().map(|ipvs| ipvs.services.as_slice()).unwrap_or_default();
        for (index, service) in services.iter().enumerate() {
            if let (Some(address), Some(port)) = (service.address, service.port) {
                let protocol = service.protocol.unwrap_or(Protocol::Tcp);
                by_address.entry((protocol, address, port)).or_insert(index);
            }
            if let Some(fwmark) = service.fwmark {
                by_fwmark.entry(fwmark).or_insert(index);
            }
        }
        let (mut node_addresses, mut nodes_by_address) = (HashMap::new(), HashMap::new());
        for node in &document.file.nodes {
            node_addresses.entry(node.name.as_str()).or_insert(node.address);
            nodes_by_address.entry(node.address).or_insert(node);
        }
        SpecPlaces { document, by_address, by_fwmark, node_addresses, nodes_by_address }
    }

    /// The index in `ipvs.services` of the service with `key`, when the spec file declares it.
    pub(super) fn service_index(&self, key: &ServiceKey) -> Option<usize> {
        match key {
            ServiceKey::Address { protocol, address, port } => {
                self.by_address.get(&(*protocol, *address, i64::from(*port))).copied()
            }
            ServiceKey::FirewallMark { fwmark, .. } => self.by_fwmark.get(&i64::from(*fwmark)).copied(),
        }
    }

    /// The first node of a Cluster spec with `address`.
    pub(super) fn node_at(&self, address: IpAddr) -> Option<&'d NodeSpec> {
        self.nodes_by_address.get(&address).copied()
    }

    /// The field of the real server `dest` in the service declared at `service_index`.
    pub(super) fn destination_path(
        &self,
        service_index: usize,
        service: &Service,
        dest: &Destination,
    ) -> Option<String> {
        let services = &self.document.file.ipvs.as_ref()?.services;
        let default_port = match service.key {
            ServiceKey::Address { port, .. } => port,
            ServiceKey::FirewallMark { .. } => 0,
        };
        let real_servers = &services.get(service_index)?.real_servers;
        let position = real_servers.iter().position(|rs| {
            let address =
                rs.address.or_else(|| rs.node.as_deref().and_then(|name| self.node_addresses.get(name).copied()));
            let port = rs.port.unwrap_or(i64::from(default_port));
            address == Some(dest.address) && port == i64::from(dest.port)
        })?;
        let field = if real_servers[position].node.is_some() { "node" } else { "address" };
        Some(format!("{}.realServers[{position}].{field}", service_path(service_index)))
    }
}

/// `ipvs.services[N]`.
pub(super) fn service_path(index: usize) -> String {
    format!("ipvs.services[{index}]")
}
