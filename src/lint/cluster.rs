//! Rules across the hosts of a Cluster spec: each real server a director tunnels to must be
//! able to take what the director sends it: the VIP, and a receiver of the destination's
//! encapsulation, GUE port and families.

use super::director::{service_path, SpecPlaces};
use super::facts::{family_name, Facts};
use super::real_server::held_vips;
use super::Finding;
use crate::desired::Spec;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::IpAddr;

use crate::model::ipvs::{Family, ForwardingMethod, ServiceKey, TunnelType};
use crate::model::tunnels::Receiver;
use crate::model::Role;
use crate::spec::{Document, NodeSpec};

/// The GRE destinations sent to one node over one underlay family: whether each carries
/// checksums, what it is in words, where it is, and its finding if its receiver is missing.
type GreSends = Vec<(bool, String, String, Option<Finding>)>;

pub(super) fn check(document: &Document, specs: &[Spec]) -> Vec<Finding> {
    let mut findings = Vec::new();
    let mut gre_sends: BTreeMap<(String, Family), GreSends> = BTreeMap::new();
    let places = SpecPlaces::new(document);
    let mut specs_by_node = HashMap::new();
    for spec in specs {
        if let Some(node) = spec.node.as_deref() {
            specs_by_node.entry(node).or_insert(spec);
        }
    }
    let mut takes: HashMap<&str, RealServerTakes> = HashMap::new();
    let directors = specs.iter().filter(|s| s.role == Some(Role::Director));
    for director in directors {
        for service in director.desired.ipvs.services.values() {
            let service_index = places.service_index(&service.key);
            let service_path = service_index.map(service_path).unwrap_or_default();
            for dest in service.destinations.values().filter(|d| d.method == ForwardingMethod::Tunnel) {
                let path = service_index
                    .and_then(|index| places.destination_path(index, service, dest))
                    .unwrap_or(service_path.clone());
                let Some(node) = places.node_at(dest.address) else {
                    findings.push(
                        Finding::note(
                            "cluster-real-server-outside",
                            format!("real server {} of {} is not a node of this cluster", dest.address, service.key),
                            "Only nodes of the spec can be checked for the VIP and a matching tunnel.",
                            "add the host under `nodes` with `role: real-server` and refer to it by `node:`".into(),
                        )
                        .at(path),
                    );
                    continue;
                };
                let Some(real_server) = specs_by_node.get(node.name.as_str()) else { continue };
                let takes = takes.entry(node.name.as_str()).or_insert_with(|| RealServerTakes::of(real_server));
                let mut about_node = Vec::new();
                if let ServiceKey::Address { address: vip, .. } = service.key {
                    if !takes.vips.contains(&vip) {
                        about_node.push(Finding::error(
                            "cluster-vip-missing",
                            format!(
                                "node {} is a real server of {} but does not hold VIP {vip}",
                                node.name, service.key
                            ),
                            "The real server accepts a decapsulated packet only if its destination, the VIP, is one \
                             of its own addresses.",
                            format!(
                                "give node {} the VIP on lo (`role: real-server` does so for its services)",
                                node.name
                            ),
                        ));
                    }
                }
                let sent = Receiver::of(service.key.family(), dest);
                let missing =
                    (!takes.receivers.contains(&sent)).then(|| receiver_missing(node, &sent, &service.key.to_string()));
                if sent.encapsulation == TunnelType::Gre && sent.checksummed && sent.outer == Family::Ipv6 {
                    about_node.push(Finding::error(
                        "cluster-gre-checksum",
                        format!(
                            "the director sends GRE with checksums over IPv6 to node {}, whose ip6gre0 drops them",
                            node.name
                        ),
                        "An ip6gre device takes checksummed packets only with `icsum`, and lvs-converge does not set \
                         ip6gre0's (it does gre0's, over IPv4): the kernel drops checksummed GRE on it.",
                        "use `tunnel: { type: gre }` without `checksum` over IPv6, or GUE, whose receiver takes every \
                         checksum mode (`tunnel: { type: gue, port: 6080, checksum: csum }`)"
                            .into(),
                    ));
                } else if sent.encapsulation == TunnelType::Gre {
                    // Whether a GRE destination's receiver is missing depends on the node's other GRE
                    // destinations (one checksum mode per device): judged once all are seen.
                    let what = format!("{} of {}", dest.address, service.key);
                    gre_sends.entry((node.name.clone(), sent.outer)).or_default().push((
                        sent.checksummed,
                        what,
                        path.clone(),
                        missing.map(|mut finding| {
                            finding.node = Some(node.name.clone());
                            finding.at(path.clone())
                        }),
                    ));
                } else if let Some(finding) = missing {
                    about_node.push(finding);
                }
                for mut finding in about_node {
                    finding.node = Some(node.name.clone());
                    findings.push(finding.at(path.clone()));
                }
            }
        }
    }
    for ((node, outer), sends) in gre_sends {
        let with_checksums = sends.iter().find(|(checksummed, ..)| *checksummed);
        let without = sends.iter().find(|(checksummed, ..)| !*checksummed);
        let (Some((_, with, _, _)), Some((_, plain, _, _))) = (with_checksums, without) else {
            findings.extend(sends.into_iter().filter_map(|(.., missing)| missing));
            continue;
        };
        let second = sends.iter().find(|(checksummed, ..)| *checksummed != sends[0].0).map_or("", |s| s.2.as_str());
        let mut finding = Finding::error(
            "cluster-gre-checksum-mixed",
            format!(
                "node {node} is sent GRE over {} both with checksums ({with}) and without ({plain})",
                family_name(outer)
            ),
            "The kernel's GRE device takes checksummed GRE only with `icsum`, and then drops GRE without \
             checksums: one address receives one of the two (measured on the lab kernel).",
            format!(
                "one checksum mode per real server: give every GRE destination of node {node} `checksum: csum`, or \
                 none (or send one of them GUE, whose receiver takes every checksum mode)"
            ),
        );
        finding.node = Some(node);
        findings.push(finding.at(second.to_string()));
    }
    findings
}

/// What a real server node takes, found once per node rather than once per destination.
struct RealServerTakes {
    vips: BTreeSet<IpAddr>,
    receivers: BTreeSet<Receiver>,
}

impl RealServerTakes {
    fn of(real_server: &Spec) -> Self {
        let facts = Facts::new(&real_server.desired, None);
        RealServerTakes { vips: held_vips(&facts).into_iter().collect(), receivers: facts.receivers() }
    }
}

/// A node that does not decapsulate what a destination sends it.
fn receiver_missing(node: &NodeSpec, sent: &Receiver, service: &str) -> Finding {
    let entry = sent.receive_entry();
    let name = &node.name;
    let fix = match (node.role, &node.receive) {
        (Role::RealServer, Some(_)) => format!(
            "add `{entry}` to node {name}'s receive, or remove its `receive` so the role derives it from the \
             destinations"
        ),
        (Role::RealServer, None) => format!(
            "node {name}'s own links turn the role's receiver off: leave its {} device up, or drop that declaration",
            sent.encapsulation.name()
        ),
        (Role::Director, _) => {
            format!("send node {name} what it decapsulates, or make it `role: real-server` so it derives its receivers")
        }
    };
    Finding::error(
        "cluster-receiver-missing",
        format!(
            "the director sends {} ({} inside {}) to node {name} for {service}, and node {name} has no receiver for it",
            carried(sent),
            family_name(sent.inner),
            family_name(sent.outer),
        ),
        "A real server decapsulates only what it has a receiver for: ipip on tunl0 (sit0 for IPv6 inside, \
         ip6tnl0 over IPv6), GUE on a FOU port of that number and then the same devices, GRE on gre0 (ip6gre0 \
         over IPv6). The kernel drops everything else, and the client's connection hangs.",
        fix,
    )
}

/// The encapsulation in the words of its RFCs: `GUE to UDP port 6080`.
fn carried(sent: &Receiver) -> String {
    match (sent.encapsulation, sent.port) {
        (TunnelType::Ipip, _) => "IP-in-IP".into(),
        (TunnelType::Gre, _) => "GRE".into(),
        (TunnelType::Gue, Some(port)) => format!("GUE to UDP port {port}"),
        (TunnelType::Gue, None) => "GUE".into(),
    }
}
