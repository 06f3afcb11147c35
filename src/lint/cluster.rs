//! Rules across the hosts of a Cluster spec: each real server a director tunnels to must be
//! able to take what the director sends it.

use super::director::{destination_path, service_path};
use super::facts::Facts;
use super::real_server::held_vips;
use super::Finding;
use crate::desired::Spec;
use crate::model::ipvs::{Family, ForwardingMethod, ServiceKey, TunnelType};
use crate::model::Role;
use crate::spec::Document;

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
                if facts.tunnel_devices().is_empty() {
                    about_node.push(Finding::error(
                        "cluster-no-tunnel",
                        format!("node {} gets tunnelled packets for {} but has no ipip device", node.name, service.key),
                        "Without a tunnel device of the director's encapsulation the real server's kernel drops \
                         protocol-4 packets.",
                        format!("give node {} `role: real-server` (it brings tunl0) or an ipip link", node.name),
                    ));
                } else if dest.tunnel.kind != TunnelType::Ipip {
                    about_node.push(Finding::error(
                        "cluster-tunnel-type",
                        format!(
                            "the director sends {} packets to node {}, which decapsulates ipip only",
                            dest.tunnel.kind.name(),
                            node.name
                        ),
                        "A real server must have a receiver of the same encapsulation: ipip on tunl0, GUE on a fou \
                         port, GRE on a gre device. lvs-converge sets up ipip only.",
                        "use `tunnel: { type: ipip }` (the default) for this real server, or set up the matching \
                         receiver on it yourself"
                            .into(),
                    ));
                } else if Family::of(&dest.address) != service.key.family() {
                    about_node.push(Finding::error(
                        "cluster-tunnel-family",
                        format!(
                            "node {} is reached over {:?} for {}: that is not ipip, which is all it decapsulates",
                            node.name,
                            Family::of(&dest.address),
                            service.key
                        ),
                        "A service of one family tunnelled to an address of the other is 6in4 or 4in6, not ipip; \
                         tunl0 drops it.",
                        "give the real server an address of the service's family, or set up sit0/ip6tnl0 on it".into(),
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
