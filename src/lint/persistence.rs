//! Rules about what survives a reboot: what the spec manages live but its persistence
//! files cannot bring back at boot (the desired stage finds these gaps; the words are here).

use super::Finding;
use crate::desired::Spec;
use crate::model::persistence::PersistenceGap;
use crate::spec::Document;

pub(super) fn check(document: &Document, spec: &Spec, prefix: &str) -> Vec<Finding> {
    spec.persistence_gaps.iter().map(|gap| finding(document, spec, gap, prefix)).collect()
}

fn finding(document: &Document, spec: &Spec, gap: &PersistenceGap, prefix: &str) -> Finding {
    match gap {
        PersistenceGap::RouteWithoutInterface { route, gateway } => {
            let routes = match &spec.node {
                Some(node) => document.file.nodes.iter().find(|n| &n.name == node).map(|n| n.routes.as_slice()),
                None => Some(document.file.routes.as_slice()),
            };
            let index = routes.unwrap_or_default().iter().position(|r| {
                r.destination.address == route.destination && r.destination.prefix_or_host() == route.prefix_length
            });
            let path = match index {
                Some(index) => format!("{prefix}routes[{index}]"),
                None => format!("{prefix}routes"),
            };
            let (via, reason) = match gateway {
                Some(gateway) => (format!(" via {gateway}"), format!("no interface the spec configures holds {gateway}")),
                None => (String::new(), "it has neither `device` nor a gateway".to_string()),
            };
            let reached = gateway.map(|g| g.to_string()).unwrap_or_else(|| "the destination".into());
            Finding::warning(
                "route-not-persisted",
                format!("route {route}{via} is applied but not persisted: {reason}"),
                "systemd-networkd puts a route on the interface whose .network file holds it; for a route with a \
                 gateway and no device that interface is unknown, so no file brings the route back after a reboot \
                 (only the boot unit, `lvs-converge apply` at boot, would).",
                format!("add `device: INTERFACE` (the interface {reached} is reached through) to the route"),
            )
            .at(path)
        }
        PersistenceGap::SharedHostFile { interface, host_file } => Finding::warning(
            "network-not-persisted",
            format!(
                "{interface}'s settings are applied but not persisted: the host's {} may configure it and other interfaces too",
                host_file.display()
            ),
            "systemd-networkd applies one .network file per interface. A drop-in of that file would give every \
             interface it matches these addresses and routes, and a file of lvs-converge's own would take the \
             interface from the host's configuration, so none is written (the boot unit still applies them).",
            format!(
                "give {interface} a .network file of its own (`[Match] Name={interface}`, sorting before {}), or add the settings there by hand",
                host_file.file_name().map(|n| n.to_string_lossy()).unwrap_or_default()
            ),
        )
        .at(format!("{prefix}persist")),
        PersistenceGap::Ipv6FouPort { port } => Finding::warning(
            "fou-port-not-persisted",
            format!("IPv6 fou port {port} is opened but not persisted by systemd-networkd"),
            "networkd opens a fou port on an IPv6 socket only when it is bound to a local or peer address, and the \
             spec's ports are not: no .netdev file brings it back after a reboot (only the boot unit, \
             `lvs-converge apply` at boot, would).",
            "keep the boot unit on (`persist: { bootUnit: true }`), which opens it at boot".into(),
        )
        .at(format!("{prefix}fou")),
        PersistenceGap::GreInputChecksum { interface } => Finding::warning(
            "gre-checksum-not-persisted",
            format!("{interface}'s requireChecksum (icsum) is applied but not persisted by systemd-networkd"),
            "systemd.netdev(5) has no [Tunnel] setting for GRE input checksums: the .netdev brings the tunnel \
             back after a reboot without icsum, and it drops checksummed GRE until the boot unit \
             (`lvs-converge apply` at boot) sets it.",
            "keep the boot unit on (`persist: { bootUnit: true }`), which sets it at boot".into(),
        )
        .at(format!("{prefix}links")),
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use crate::lint::{check_document, Severity};

    /// Issue 18: a route via a gateway was applied and then lost at reboot without a word.
    #[test]
    fn a_route_no_file_can_bring_back_is_a_located_warning() {
        let text = "apiVersion: lvs-converge/v1\nkind: Host\n\
            addresses: [{ address: 192.0.2.10/24, interface: eth1 }]\n\
            routes:\n  - { destination: 198.18.0.0/15, gateway: 192.0.2.1 }\n  - { destination: 100.64.0.0/10, gateway: 172.16.0.1 }\n\
            persist: { bootUnit: false }\n";
        let document = crate::spec::parse_document(text, Path::new("h.yaml")).unwrap();
        let findings = check_document(&document, None).unwrap();
        let gaps: Vec<_> = findings.iter().filter(|f| f.code == "route-not-persisted").collect();
        assert_eq!(gaps.len(), 1, "{findings:#?}");
        assert_eq!(gaps[0].severity, Severity::Warning);
        assert!(
            gaps[0].message.starts_with("route unicast 100.64.0.0/10 table main via 172.16.0.1"),
            "{}",
            gaps[0].message
        );
        let location = gaps[0].location.as_ref().unwrap();
        assert_eq!((location.line, location.path.as_str()), (6, "routes[1]"));
        // Without persist: nothing is promised at boot, so nothing is missing.
        let live_only = text.replace("persist: { bootUnit: false }\n", "");
        let document = crate::spec::parse_document(&live_only, Path::new("h.yaml")).unwrap();
        assert!(check_document(&document, None).unwrap().iter().all(|f| f.code != "route-not-persisted"));
    }

    #[test]
    fn an_ipv6_fou_port_networkd_cannot_open_is_a_located_warning() {
        let text = "apiVersion: lvs-converge/v1\nkind: Host\n\
            fou:\n  - { port: 6080, type: gue }\n  - { port: 6080, type: gue, family: ipv6 }\n\
            persist: { bootUnit: false }\n";
        let document = crate::spec::parse_document(text, Path::new("h.yaml")).unwrap();
        let findings = check_document(&document, None).unwrap();
        let gaps: Vec<_> = findings.iter().filter(|f| f.code == "fou-port-not-persisted").collect();
        assert_eq!(gaps.len(), 1, "{findings:#?}");
        assert_eq!(gaps[0].message, "IPv6 fou port 6080 is opened but not persisted by systemd-networkd");
        assert_eq!(gaps[0].location.as_ref().unwrap().path, "fou");
    }
}
