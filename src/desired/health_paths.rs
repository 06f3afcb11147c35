//! The hidden check-path services: a `via: tunnel` check is a connection to the VIP whose
//! socket carries a firewall mark, and for every distinct tunnel path (real server address,
//! encapsulation, VIP family) the IPVS table holds a firewall-mark service that sends the
//! marked packets down that one path exactly like client traffic. A real server without its
//! VIP, its tunnel device or a fitting rp_filter then fails its check as its clients would.

use std::collections::{BTreeMap, BTreeSet};

use sha2::{Digest, Sha256};

use crate::model::health::{CheckPathKey, CheckVia, ServiceHealth, HEALTH_MARK_FIRST, HEALTH_MARK_LAST};
use crate::model::ipvs::{
    Destination, Family, ForwardingMethod, IpvsState, Scheduler, Service, ServiceKey, ServiceSettings,
};
use crate::model::keyed::Keyed;
use crate::model::{interface_sysctl, HostState};

/// The origin the plan shows for the hidden services and the sysctl they need.
pub const ORIGIN: &str = "health checks through the tunnel";

/// The reply to a check through the tunnel comes from the VIP, which is one of the director's
/// own addresses: without accept_local the director drops it as a martian. `all` rather than
/// the arrival interface, which the spec does not know (the lab found either works; `lo`'s
/// alone does not).
pub fn accept_local_sysctl() -> String {
    interface_sysctl("all", "accept_local")
}

/// The tunnel paths of every `via: tunnel` check of `services` (real servers of `ipvs`), each
/// with its firewall mark.
pub fn paths(ipvs: &IpvsState, services: &BTreeMap<ServiceKey, ServiceHealth>) -> BTreeMap<CheckPathKey, u32> {
    let keys: BTreeSet<CheckPathKey> = services
        .iter()
        .flat_map(|(service, health)| {
            health.checks.iter().filter(|(_, check)| check.via == CheckVia::Tunnel).filter_map(
                move |(destination, _)| {
                    let destination = ipvs.services.get(service)?.destinations.get(destination)?;
                    CheckPathKey::of(service, destination)
                },
            )
        })
        .collect();
    marks(keys)
}

/// A mark per path from a hash of the path alone, so that a path keeps its mark (and its
/// service) while real servers come and go. Collisions take the next free mark, in the paths'
/// sorted order.
fn marks(keys: BTreeSet<CheckPathKey>) -> BTreeMap<CheckPathKey, u32> {
    let range = HEALTH_MARK_LAST - HEALTH_MARK_FIRST + 1;
    let mut taken = BTreeSet::new();
    let mut marks = BTreeMap::new();
    for key in keys {
        let digest = Sha256::digest(key.to_string().as_bytes());
        let mut offset = u32::from_be_bytes([digest[0], digest[1], digest[2], digest[3]]) % range;
        while !taken.insert(offset) {
            offset = (offset + 1) % range;
        }
        marks.insert(key, HEALTH_MARK_FIRST + offset);
    }
    marks
}

/// The hidden services of `paths`: `fwmark M (family)`, round robin over its one real server,
/// sent with the encapsulation of the path, weight 1.
pub fn services(paths: &BTreeMap<CheckPathKey, u32>) -> IpvsState {
    let mut state = IpvsState::default();
    for (path, mark) in paths {
        let destination = Destination {
            address: path.address,
            port: 0,
            method: ForwardingMethod::Tunnel,
            weight: 1,
            upper_threshold: 0,
            lower_threshold: 0,
            tunnel: path.tunnel,
        };
        let service = Service {
            key: ServiceKey::FirewallMark { fwmark: *mark, family: path.family },
            settings: ServiceSettings {
                scheduler: Scheduler::Rr,
                scheduler_flags: Vec::new(),
                persistence: None,
                one_packet: false,
            },
            destinations: BTreeMap::from([(destination.key(), destination)]),
        };
        state.services.insert(service.key, service);
    }
    state
}

/// What the director needs beyond the services: accept_local, when a check's reply is IPv4
/// (IPv6 has no martian check on a local source).
pub fn sysctls(paths: &BTreeMap<CheckPathKey, u32>) -> HostState {
    let mut state = HostState::default();
    if paths.keys().any(|path| path.family == Family::Ipv4) {
        state.sysctls.insert(accept_local_sysctl(), "1".into());
    }
    state
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::model::health::is_health_mark;
    use crate::model::ipvs::TunnelType;
    use crate::model::ObjectId;

    const SPEC: &str =
        "apiVersion: lvs-converge/v1\nkind: Host\nrole: director\nvipInterface: eth0\nipvs:\n  services:\n\
        \x20   - address: 203.0.113.100\n      port: 80\n      healthCheck: { type: http }\n      realServers:\n\
        \x20       - { address: 198.51.100.11 }\n\
        \x20       - { address: 198.51.100.12, tunnel: { type: gue, port: 6080 } }\n\
        \x20       - { address: 198.51.100.13, method: dr }\n\
        \x20   - address: 203.0.113.100\n      port: 443\n      healthCheck: { type: tcp }\n      realServers:\n\
        \x20       - { address: 198.51.100.11 }\n";

    fn resolve(text: &str) -> crate::desired::Spec {
        crate::desired::parse(text, Path::new("d.yaml")).unwrap_or_else(|e| panic!("valid: {e}"))
    }

    fn hidden(spec: &crate::desired::Spec) -> Vec<(u32, String)> {
        spec.desired
            .ipvs
            .services
            .values()
            .filter_map(|service| match service.key {
                ServiceKey::FirewallMark { fwmark, .. } if is_health_mark(fwmark) => {
                    let destination = service.destinations.values().next().unwrap();
                    Some((fwmark, format!("{} {}", destination.address, destination.tunnel.kind.name())))
                }
                _ => None,
            })
            .collect()
    }

    #[test]
    fn one_hidden_service_per_tunnel_path_with_its_encapsulation_and_origin() {
        let spec = resolve(SPEC);
        let mut paths: Vec<String> = hidden(&spec).into_iter().map(|(_, path)| path).collect();
        paths.sort();
        // 198.51.100.11 is checked by two services over one path: one service; dr has none.
        assert_eq!(paths, ["198.51.100.11 ipip", "198.51.100.12 gue"]);
        assert_eq!(spec.health.paths.len(), 2);
        for (path, mark) in &spec.health.paths {
            let key = ServiceKey::FirewallMark { fwmark: *mark, family: Family::Ipv4 };
            let service = &spec.desired.ipvs.services[&key];
            assert_eq!(service.settings.scheduler, Scheduler::Rr);
            let destination = service.destinations.values().next().unwrap();
            assert_eq!((destination.port, destination.weight, destination.tunnel), (0, 1, path.tunnel));
            assert_eq!(spec.origins.get(&ObjectId::IpvsService(key)).map(String::as_str), Some(ORIGIN));
            assert_eq!(
                spec.origins.get(&ObjectId::IpvsDestination(key, destination.key())).map(String::as_str),
                Some(ORIGIN)
            );
        }
        let gue = spec.health.paths.keys().find(|path| path.tunnel.kind == TunnelType::Gue).unwrap();
        assert_eq!(gue.tunnel.port, 6080);
        assert_eq!(spec.desired.sysctls[&accept_local_sysctl()], "1");
        assert_eq!(spec.origins.get(&ObjectId::Sysctl(accept_local_sysctl())).map(String::as_str), Some(ORIGIN));
        assert!(
            spec.desired.modules.contains("ip_vs_rr"),
            "the hidden services' scheduler: {:?}",
            spec.desired.modules
        );
    }

    #[test]
    fn marks_stay_when_a_real_server_is_added() {
        let before = resolve(SPEC);
        let added = SPEC.replace(
            "        - { address: 198.51.100.13, method: dr }\n",
            "        - { address: 198.51.100.13, method: dr }\n        - { address: 198.51.100.9 }\n        - { address: 198.51.100.14 }\n",
        );
        let after = resolve(&added);
        assert_eq!(after.health.paths.len(), 4);
        for (path, mark) in &before.health.paths {
            assert_eq!(after.health.paths.get(path), Some(mark), "{path}");
        }
    }

    #[test]
    fn without_tunnel_checks_there_is_nothing_hidden() {
        for text in [
            SPEC.replace("healthCheck: { type: http }", "healthCheck: { type: http, via: direct }")
                .replace("healthCheck: { type: tcp }", "healthCheck: { type: tcp, via: direct }"),
            SPEC.replace("      healthCheck: { type: http }\n", "").replace("      healthCheck: { type: tcp }\n", ""),
        ] {
            let spec = resolve(&text);
            assert!(hidden(&spec).is_empty() && spec.health.paths.is_empty(), "{text}");
            assert!(!spec.desired.sysctls.contains_key(&accept_local_sysctl()), "{text}");
        }
    }

    #[test]
    fn colliding_paths_take_the_next_free_mark_in_sorted_order() {
        let keys: BTreeSet<CheckPathKey> = (0..3000u32)
            .map(|n| CheckPathKey {
                address: std::net::IpAddr::V4(std::net::Ipv4Addr::from(0x0A00_0000 + n)),
                tunnel: Default::default(),
                family: Family::Ipv4,
            })
            .collect();
        let marks = marks(keys.clone());
        let distinct: BTreeSet<u32> = marks.values().copied().collect();
        assert_eq!(distinct.len(), keys.len(), "3000 paths in 65536 marks collide, and each still gets its own");
        assert!(distinct.iter().all(|mark| is_health_mark(*mark)));
        assert_eq!(super::marks(keys), marks, "the same paths, the same marks");
    }

    #[test]
    fn an_ipv6_vip_over_ipv4_gets_its_own_ipv6_path_and_no_accept_local() {
        let text = "apiVersion: lvs-converge/v1\nkind: Host\nipvs:\n  services:\n\
            \x20   - { address: 2001:db8::100, port: 80, healthCheck: { type: tcp }, realServers: [{ address: 198.51.100.11 }] }\n";
        let spec = resolve(text);
        let (path, mark) = spec.health.paths.iter().next().unwrap();
        assert_eq!(path.family, Family::Ipv6);
        assert!(spec
            .desired
            .ipvs
            .services
            .contains_key(&ServiceKey::FirewallMark { fwmark: *mark, family: Family::Ipv6 }));
        assert!(!spec.desired.sysctls.contains_key(&accept_local_sysctl()));
    }
}
