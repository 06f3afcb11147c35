//! Rules across the hosts of a Cluster spec: each real server a director tunnels to must be
//! able to take what the director sends it: the VIP, and a receiver of the destination's
//! encapsulation, GUE port and families.

use super::director::{destination_path, service_path};
use super::facts::{family_name, Facts};
use super::real_server::held_vips;
use super::Finding;
use crate::desired::Spec;
use crate::model::ipvs::{ForwardingMethod, ServiceKey, TunnelChecksum, TunnelType};
use crate::model::tunnels::Receiver;
use crate::model::Role;
use crate::spec::{Document, NodeSpec};

pub(super) fn check(document: &Document, specs: &[Spec]) -> Vec<Finding> {
    let mut findings = Vec::new();
    let directors = specs.iter().filter(|s| s.role == Some(Role::Director));
    for director in directors {
        for service in director.desired.ipvs.services.values() {
            let service_path = service_path(document, &service.key).unwrap_or_default();
            for dest in service.destinations.values().filter(|d| d.method == ForwardingMethod::Tunnel) {
                let path = destination_path(document, &service_path, service, dest).unwrap_or(service_path.clone());
                let Some(node) = document.file.nodes.iter().find(|n| n.address == dest.address) else {
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
                let Some(real_server) = specs.iter().find(|s| s.node.as_deref() == Some(&node.name)) else { continue };
                let facts = Facts::new(&real_server.desired, None);
                let mut about_node = Vec::new();
                if let ServiceKey::Address { address: vip, .. } = service.key {
                    if !held_vips(&facts).contains(&vip) {
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
                if !facts.receivers().contains(&sent) {
                    about_node.push(receiver_missing(node, &sent, &service.key.to_string()));
                } else if dest.tunnel.kind == TunnelType::Gre
                    && TunnelChecksum::from_flags(dest.tunnel.flags) != TunnelChecksum::None
                {
                    about_node.push(Finding::error(
                        "cluster-gre-checksum",
                        format!(
                            "the director sends GRE with checksums to node {}, whose gre device drops them",
                            node.name
                        ),
                        "A GRE receiver takes checksummed packets only if it was created with `icsum`, and then only \
                         those; the fallback gre0/ip6gre0 the real-server role brings has no checksum flag, and the \
                         kernel drops checksummed GRE on it (rx_crc_errors).",
                        "use `tunnel: { type: gre }` without `checksum`, or GUE, whose receiver takes every checksum \
                         mode (`tunnel: { type: gue, port: 6080, checksum: csum }`)"
                            .into(),
                    ));
                }
                for mut finding in about_node {
                    finding.node = Some(node.name.clone());
                    findings.push(finding.at(path.clone()));
                }
            }
        }
    }
    findings
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
