//! systemd-networkd configuration for what the spec manages on each interface: a `.netdev`
//! for each named ipip tunnel (tunl0 comes with the `ipip` module and can't be created),
//! and a `.network` per interface with its admin state, MTU, addresses (with labels) and
//! routes.
//!
//! networkd applies only the first `.network` file (in lexical order) that matches an
//! interface. These files are named `90-lvs-converge-<interface>.network`, so for an
//! interface another file already configures (the director's `eth0`), that file wins and
//! this one is ignored: it never replaces the host's own network setup. The boot unit
//! (`lvs-converge apply` at boot) has no such limit; see the README.

use std::collections::BTreeSet;
use std::fmt::Write;

use super::one_line;
use crate::model::links::LinkKind;
use crate::model::routes::{RouteScope, RouteType, TABLE_LOCAL, TABLE_MAIN};
use crate::model::HostState;

/// (file name without the prefix, body) for every file, in name order.
pub fn render(desired: &HostState) -> Vec<(String, String)> {
    let mut interfaces: BTreeSet<&str> = desired.links.values().map(|l| l.name.as_str()).collect();
    interfaces.extend(desired.addresses.values().map(|a| a.interface.as_str()));
    interfaces.extend(desired.routes.values().filter_map(|r| r.device.as_deref()));
    let mut files = Vec::new();
    for interface in interfaces {
        let link = desired.links.get(interface);
        if let Some(link) = link.filter(|l| !l.is_fallback_tunnel()) {
            if let LinkKind::Ipip { local, remote, ttl, pmtudisc } = &link.kind {
                let mut netdev = format!("[NetDev]\nName={}\nKind=ipip\n", one_line(&link.name));
                if let Some(mtu) = link.mtu {
                    let _ = writeln!(netdev, "MTUBytes={mtu}");
                }
                netdev.push_str("\n[Tunnel]\n");
                if let Some(local) = local {
                    let _ = writeln!(netdev, "Local={local}");
                }
                if let Some(remote) = remote {
                    let _ = writeln!(netdev, "Remote={remote}");
                }
                if *ttl != 0 {
                    let _ = writeln!(netdev, "TTL={ttl}");
                }
                let _ = writeln!(netdev, "DiscoverPathMTU={}", yes_no(*pmtudisc));
                netdev.push_str("Independent=yes\n");
                files.push((format!("{interface}.netdev"), netdev));
            }
        }
        let tunnel = link.is_some_and(|l| matches!(l.kind, LinkKind::Ipip { .. }));
        let mut network = format!("[Match]\nName={}\n", one_line(interface));
        let mut link_section = String::new();
        if let Some(mtu) = link.and_then(|l| l.mtu) {
            let _ = writeln!(link_section, "MTUBytes={mtu}");
        }
        if let Some(up) = link.and_then(|l| l.up) {
            let _ = writeln!(link_section, "ActivationPolicy={}", if up { "up" } else { "down" });
        }
        if !link_section.is_empty() {
            let _ = write!(network, "\n[Link]\n{link_section}");
        }
        if tunnel {
            network.push_str("\n[Network]\nLinkLocalAddressing=no\nConfigureWithoutCarrier=yes\n");
        }
        for address in desired.addresses.values().filter(|a| a.interface == interface) {
            let _ = write!(network, "\n[Address]\nAddress={}/{}\n", address.address, address.prefix_length);
            if let Some(label) = &address.label {
                let _ = writeln!(network, "Label={}", one_line(label));
            }
        }
        for route in desired.routes.values().filter(|r| r.device.as_deref() == Some(interface)) {
            let _ = write!(network, "\n[Route]\nDestination={}/{}\n", route.destination, route.prefix_length);
            if let Some(gateway) = route.gateway {
                let _ = writeln!(network, "Gateway={gateway}");
            }
            let kind = match route.kind {
                RouteType::Unicast => "unicast",
                RouteType::Local => "local",
                RouteType::Blackhole => "blackhole",
                RouteType::Unreachable => "unreachable",
            };
            let table = match route.table {
                TABLE_MAIN => "main".to_string(),
                TABLE_LOCAL => "local".to_string(),
                other => other.to_string(),
            };
            let scope = match route.scope {
                RouteScope::Universe => "global",
                RouteScope::Link => "link",
                RouteScope::Host => "host",
            };
            let _ = write!(network, "Type={kind}\nTable={table}\nScope={scope}\n");
            if route.metric != 0 {
                let _ = writeln!(network, "Metric={}", route.metric);
            }
            if let Some(source) = route.source {
                let _ = writeln!(network, "PreferredSource={source}");
            }
        }
        if network.lines().count() > 2 {
            files.push((format!("{interface}.network"), network));
        }
    }
    files
}

fn yes_no(value: bool) -> &'static str {
    if value {
        "yes"
    } else {
        "no"
    }
}
