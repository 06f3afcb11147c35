//! Model → spec types in the spec's canonical form: every value that equals the spec's
//! default is left out (protocol tcp, weight 1, method tunnel, a real server's port equal to
//! the service's, persistence timeout 300s and a whole-address netmask), so the written spec
//! says only what is particular to the host. The inverse of `spec::ipvs`'s `to_model` for
//! everything the spec can express.

use std::collections::BTreeMap;
use std::net::IpAddr;

use crate::model::addresses::Address;
use crate::model::duration::Seconds;
use crate::model::fou::{FouEncapsulation, FouPort};
use crate::model::health::{is_health_service, HEALTH_MARK_FIRST, HEALTH_MARK_LAST};
use crate::model::ipvs::{
    Destination, DestinationKey, Family, ForwardingMethod, IpvsState, Persistence, Protocol, Service, ServiceKey,
    Timeouts, TunnelChecksum, TunnelEncapsulation, TunnelType,
};
use crate::model::links::{Ip6tnlMode, Link, LinkKind, DEFAULT_HOP_LIMIT};
use crate::spec::fou::{FouSpec, FouType};
use crate::spec::host::{AddressSpec, Cidr, LinkSpec, LinkType, SysctlValue};
use crate::spec::ipvs::{
    IpvsSpec, Netmask, PersistenceSpec, RealServerSpec, ServiceSpec, TimeoutsSpec, TunnelSpec,
    DEFAULT_PERSISTENCE_TIMEOUT, DEFAULT_WEIGHT,
};

/// Notes to attach to services and real servers, found while reading the source.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IpvsNotes {
    pub services: BTreeMap<ServiceKey, Vec<String>>,
    pub destinations: BTreeMap<(ServiceKey, DestinationKey), Vec<String>>,
}

impl IpvsNotes {
    pub fn service(&mut self, key: ServiceKey, text: String) {
        self.services.entry(key).or_default().push(text);
    }

    pub fn destination(&mut self, service: ServiceKey, destination: DestinationKey, text: String) {
        self.destinations.entry((service, destination)).or_default().push(text);
    }
}

/// The `ipvs:` section for `ipvs`, and the comments for its items keyed by writer path
/// (below `path`, e.g. `ipvs`).
pub fn ipvs_spec(ipvs: &IpvsState, notes: &IpvsNotes, path: &str) -> (IpvsSpec, super::writer::Comments) {
    let mut comments = super::writer::Comments::new();
    let mut services = Vec::new();
    let (hidden, declared): (Vec<&Service>, Vec<&Service>) =
        ipvs.services.values().partition(|service| is_health_service(&service.key));
    if !hidden.is_empty() {
        comments.entry("apiVersion".into()).or_default().push(format!(
            "{} hidden health-check service(s) (fwmark {:#x}-{:#x}) are not imported: a `healthCheck` makes them.",
            hidden.len(),
            HEALTH_MARK_FIRST,
            HEALTH_MARK_LAST
        ));
    }
    for (index, service) in declared.into_iter().enumerate() {
        let service_path = format!("{path}.services[{index}]");
        if let Some(texts) = notes.services.get(&service.key) {
            comments.entry(service_path.clone()).or_default().extend(texts.iter().cloned());
        }
        for (rs_index, destination) in service.destinations.values().enumerate() {
            if let Some(texts) = notes.destinations.get(&(service.key, destination_key(destination))) {
                let rs_path = format!("{service_path}.realServers[{rs_index}]");
                comments.entry(rs_path).or_default().extend(texts.iter().cloned());
            }
        }
        services.push(service_spec(service));
    }
    let spec = IpvsSpec {
        timeouts: ipvs.timeouts.filter(|t| *t != Timeouts::KERNEL_DEFAULTS).map(timeouts_spec),
        services,
        scope: None,
        drain: None,
    };
    (spec, comments)
}

fn destination_key(destination: &Destination) -> DestinationKey {
    DestinationKey { address: destination.address, port: destination.port }
}

fn timeouts_spec(timeouts: Timeouts) -> TimeoutsSpec {
    let defaults = Timeouts::KERNEL_DEFAULTS;
    let keep = |value: u32, default: u32| (value != default).then_some(Seconds(value));
    TimeoutsSpec {
        tcp: keep(timeouts.tcp, defaults.tcp),
        tcp_fin: keep(timeouts.tcp_fin, defaults.tcp_fin),
        udp: keep(timeouts.udp, defaults.udp),
    }
}

fn service_spec(service: &Service) -> ServiceSpec {
    let settings = &service.settings;
    let (protocol, address, port, fwmark, family, service_port) = match service.key {
        ServiceKey::Address { protocol, address, port } => {
            ((protocol != Protocol::Tcp).then_some(protocol), Some(address), Some(i64::from(port)), None, None, port)
        }
        ServiceKey::FirewallMark { fwmark, family } => {
            (None, None, None, Some(i64::from(fwmark)), (family != Family::Ipv4).then_some(family), 0)
        }
    };
    ServiceSpec {
        protocol,
        address,
        port,
        fwmark,
        family,
        scheduler: Some(settings.scheduler),
        scheduler_flags: settings.scheduler_flags.clone(),
        persistence: settings.persistence.as_ref().map(|p| persistence_spec(p, service.key.family())),
        one_packet: settings.one_packet,
        real_servers: service.destinations.values().map(|d| real_server_spec(d, service_port)).collect(),
        health_check: None,
        quorum: None,
        start_drained: false,
    }
}

fn persistence_spec(persistence: &Persistence, family: Family) -> PersistenceSpec {
    PersistenceSpec {
        timeout: (persistence.timeout != DEFAULT_PERSISTENCE_TIMEOUT.0).then_some(Seconds(persistence.timeout)),
        netmask: (persistence.prefix_length != family.max_prefix())
            .then_some(Netmask::Prefix(persistence.prefix_length)),
        engine: persistence.engine.clone(),
    }
}

fn real_server_spec(destination: &Destination, service_port: u16) -> RealServerSpec {
    let tunnel = (destination.method == ForwardingMethod::Tunnel
        && destination.tunnel.kind != TunnelEncapsulation::default().kind)
        .then(|| TunnelSpec {
            kind: destination.tunnel.kind,
            port: (destination.tunnel.kind == TunnelType::Gue).then_some(i64::from(destination.tunnel.port)),
            checksum: Some(TunnelChecksum::from_flags(destination.tunnel.flags)).filter(|c| *c != TunnelChecksum::None),
        });
    let nonzero = |value: u32| (value != 0).then_some(i64::from(value));
    RealServerSpec {
        address: Some(destination.address),
        node: None,
        port: (destination.port != service_port).then_some(i64::from(destination.port)),
        method: (destination.method != ForwardingMethod::default()).then_some(destination.method),
        weight: (i64::from(destination.weight) != DEFAULT_WEIGHT).then_some(i64::from(destination.weight)),
        upper_threshold: nonzero(destination.upper_threshold),
        lower_threshold: nonzero(destination.lower_threshold),
        tunnel,
        health_check: None,
    }
}

/// A tunnel as a `links:` entry, with what the spec's defaults say left out: tunnels
/// default to up, path MTU discovery on, TTL 0, hop limit 64, ip6tnl mode ip6ip6, and the
/// type of a fallback device is its own, of a tunnel with endpoints ipip. `mtu` is written
/// unless it is the kind's usual one.
pub fn link_spec(link: &Link) -> Option<LinkSpec> {
    if !link.kind.is_tunnel() {
        return None;
    }
    let fallback = link.is_fallback_tunnel();
    let (mut ttl, mut pmtudisc, mut hop_limit, mut mode) = (None, None, None, None);
    let require_checksum = match &link.kind {
        LinkKind::Gre { require_checksum: true, .. } => Some(true),
        _ => None,
    };
    let (local, remote) = match &link.kind {
        LinkKind::Ipip { local: l, remote: r, ttl: t, pmtudisc: p }
        | LinkKind::Gre { local: l, remote: r, ttl: t, pmtudisc: p, .. }
        | LinkKind::Sit { local: l, remote: r, ttl: t, pmtudisc: p } => {
            ttl = Some(*t).filter(|t| *t != 0);
            pmtudisc = Some(*p).filter(|p| !*p);
            (l.map(IpAddr::V4), r.map(IpAddr::V4))
        }
        LinkKind::Ip6tnl { local: l, remote: r, hop_limit: h, mode: m } => {
            hop_limit = Some(*h).filter(|h| *h != DEFAULT_HOP_LIMIT);
            mode = Some(*m).filter(|m| *m != Ip6tnlMode::default());
            (l.map(IpAddr::V6), r.map(IpAddr::V6))
        }
        LinkKind::Ip6gre { local: l, remote: r, hop_limit: h } => {
            hop_limit = Some(*h).filter(|h| *h != DEFAULT_HOP_LIMIT);
            (l.map(IpAddr::V6), r.map(IpAddr::V6))
        }
        LinkKind::Other { .. } => return None,
    };
    let implied_ipip = matches!(link.kind, LinkKind::Ipip { .. }) && (local.is_some() || remote.is_some());
    let kind = LinkType::of(&link.kind);
    let spec = LinkSpec {
        name: link.name.clone(),
        kind: (!fallback && !implied_ipip).then_some(kind),
        local,
        remote,
        ttl,
        hop_limit,
        pmtudisc,
        mode,
        require_checksum,
        up: (link.up != Some(true)).then_some(link.up.unwrap_or(false)),
        mtu: link.mtu.filter(|mtu| Some(*mtu) != link.kind.usual_mtu()),
    };
    if fallback {
        // A fallback's own parameters are the kernel's and never compared; ip6tnl0's mode
        // and gre0's requireChecksum are.
        return Some(LinkSpec { local: None, remote: None, ttl: None, hop_limit: None, pmtudisc: None, ..spec });
    }
    Some(spec)
}

/// A port as a `fou:` entry: the family only when it is not the default IPv4.
pub fn fou_spec(port: &FouPort) -> FouSpec {
    let (kind, protocol) = match port.encapsulation {
        FouEncapsulation::Gue => (FouType::Gue, None),
        FouEncapsulation::Direct { protocol } => (FouType::Direct, Some(protocol)),
    };
    FouSpec { port: port.port, kind, family: (port.family != Family::Ipv4).then_some(port.family), protocol }
}

pub fn address_spec(address: &Address) -> AddressSpec {
    AddressSpec {
        // The prefix is always written: `203.0.113.100/32` on lo reads unambiguously.
        address: Cidr { address: address.address, prefix_length: Some(address.prefix_length) },
        interface: address.interface.clone(),
        label: address.label.clone().filter(|label| *label != address.interface),
        deprecated: address.deprecated,
    }
}

pub fn sysctl_value(value: &str) -> SysctlValue {
    match value.parse::<i64>() {
        Ok(number) if number.to_string() == value => SysctlValue::Number(number),
        _ => SysctlValue::Text(value.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::health::HEALTH_MARK_FIRST;
    use crate::model::ipvs::{Scheduler, ServiceSettings};
    use crate::model::keyed::Keyed;

    /// A director the agent ran on holds hidden services; imported, they would be declared
    /// services in the marks the spec refuses.
    #[test]
    fn hidden_health_check_services_are_left_out_with_a_note() {
        let service = |key| Service {
            key,
            settings: ServiceSettings {
                scheduler: Scheduler::Rr,
                scheduler_flags: vec![],
                persistence: None,
                one_packet: false,
            },
            destinations: [Destination::tunnelled("198.51.100.11", TunnelEncapsulation::default())]
                .into_iter()
                .map(|d| (d.key(), d))
                .collect(),
        };
        let hidden = ServiceKey::FirewallMark { fwmark: HEALTH_MARK_FIRST + 5, family: Family::Ipv4 };
        let declared = ServiceKey::FirewallMark { fwmark: 7, family: Family::Ipv4 };
        let mut ipvs = IpvsState::default();
        ipvs.services.insert(hidden, service(hidden));
        ipvs.services.insert(declared, service(declared));
        let (spec, comments) = ipvs_spec(&ipvs, &IpvsNotes::default(), "ipvs");
        assert_eq!(spec.services.iter().map(|s| s.fwmark).collect::<Vec<_>>(), [Some(7)]);
        let note = &comments["apiVersion"];
        assert!(note.iter().any(|text| text.starts_with("1 hidden health-check service(s)")), "{note:?}");
    }
}
