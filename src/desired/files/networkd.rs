//! systemd-networkd configuration for what the spec manages on each interface: a `.netdev`
//! for each named tunnel (ipip, gre, sit, ip6tnl, ip6gre; the fallback devices such as
//! tunl0 come with their module and can't be created),
//! and the `.network` settings of each interface: admin state, MTU, addresses (with
//! labels) and routes.
//!
//! Each IPv4 foo-over-UDP port gets a `.netdev` of `Kind=fou`, which networkd opens at
//! start without any `.network` file; an IPv6 port is a [`PersistenceGap`] (networkd takes
//! the socket's family from a local or peer address, which the spec's ports have none of).
//!
//! networkd applies only the first `.network` file (by name, across its directories) that
//! matches an interface. Where the host's own file configures an interface (the director's
//! `eth0`), lvs-converge's settings go in a drop-in of that file,
//! `<file>.network.d/90-lvs-converge.conf`, which networkd reads with it; elsewhere in a
//! file of its own, `90-lvs-converge-<interface>.network`. A host file that matches other
//! interfaces too gets no drop-in (it would configure them all alike), and no file of
//! lvs-converge's own competes with it: that is a [`PersistenceGap`] the plan names.
//!
//! Routes go in the file of their device; a route via a gateway without a device in the
//! file of the interface the spec puts the gateway's subnet on; a route that only drops
//! packets (blackhole, unreachable) in lo's. The boot unit (`lvs-converge apply` at boot)
//! has no such limits; see the README.

use std::collections::BTreeSet;
use std::fmt::Write;
use std::path::{Path, PathBuf};

use super::one_line;
use crate::model::addresses::prefix_contains;
use crate::model::fou::{FouEncapsulation, FouPort};
use crate::model::ipvs::Family;
use crate::model::keyed::Keyed;
use crate::model::links::{Link, LinkKind, FALLBACK_TUNNELS};
use crate::model::persistence::{HostNetworkd, PersistenceGap, NETWORK_DROP_IN_NAME, NETWORK_FILE_PREFIX};
use crate::model::routes::{Route, RouteScope, RouteType, TableName};
use crate::model::HostState;

/// One rendered file: its path relative to the network directory, its body, and for a
/// drop-in the host file it extends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NetworkFile {
    pub name: PathBuf,
    pub body: String,
    pub extends: Option<PathBuf>,
}

/// What the files are, and what they cannot persist.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct NetworkFiles {
    pub files: Vec<NetworkFile>,
    pub gaps: Vec<PersistenceGap>,
}

/// The interface whose `.network` settings persist `route`, if there is one (see the module
/// documentation); the gateway's interface is the one with the longest prefix holding it.
fn persisting_interface<'a>(desired: &'a HostState, route: &'a Route) -> Option<&'a str> {
    if let Some(device) = &route.device {
        return Some(device);
    }
    if matches!(route.kind, RouteType::Blackhole | RouteType::Unreachable) {
        return Some("lo");
    }
    let gateway = route.gateway?;
    let on_addresses = desired.addresses.values().map(|a| (a.address, a.prefix_length, a.interface.as_str()));
    let device_routes = desired.routes.values().filter(|r| r.gateway.is_none() && r.kind == RouteType::Unicast);
    let on_routes = device_routes.filter_map(|r| Some((r.destination, r.prefix_length, r.device.as_deref()?)));
    on_addresses
        .chain(on_routes)
        .filter(|(network, prefix_length, _)| prefix_contains(*network, *prefix_length, gateway))
        .max_by_key(|(_, prefix_length, _)| *prefix_length)
        .map(|(_, _, interface)| interface)
}

/// Every file for `desired`, given the host's own `.network` files.
pub fn render(desired: &HostState, host: &HostNetworkd) -> NetworkFiles {
    let mut interfaces: BTreeSet<&str> = desired.links.values().map(|l| l.name.as_str()).collect();
    interfaces.extend(desired.addresses.values().map(|a| a.interface.as_str()));
    let mut gaps = Vec::new();
    let mut routes = Vec::new();
    for route in desired.routes.values() {
        match persisting_interface(desired, route) {
            Some(interface) => {
                interfaces.insert(interface);
                routes.push((interface, route));
            }
            None => gaps.push(PersistenceGap::RouteWithoutInterface { route: route.key(), gateway: route.gateway }),
        }
    }
    let mut files = Vec::new();
    for interface in interfaces {
        let link = desired.links.get(interface);
        if let Some(netdev) = link.filter(|l| !l.is_fallback_tunnel()).and_then(tunnel_netdev) {
            let name = PathBuf::from(format!("{NETWORK_FILE_PREFIX}{interface}.netdev"));
            files.push(NetworkFile { name, body: netdev, extends: None });
        }
        let tunnel = link.is_some_and(|l| l.kind.is_tunnel());
        let mut network = String::new();
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
            if address.deprecated {
                // systemd.network(5): 0 = "immediately expired", never chosen as a source.
                network.push_str("PreferredLifetime=0\n");
            }
        }
        for (_, route) in routes.iter().filter(|(on, _)| *on == interface) {
            let _ = write!(network, "\n[Route]\nDestination={}/{}\n", route.destination, route.prefix_length);
            if let Some(gateway) = route.gateway {
                let _ = writeln!(network, "Gateway={gateway}");
            }
            // networkd's `Type=` and `Table=` take the words `ip route` uses; its scope word
            // for the universe is "global".
            let (kind, table) = (route.kind.name(), TableName(route.table));
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
        if network.is_empty() {
            continue;
        }
        // lo and tunnels (the fallback devices too, declared or not) have no MAC address to
        // match.
        let hardware = interface != "lo" && !FALLBACK_TUNNELS.contains(&interface) && !tunnel;
        match host.configuring(interface, hardware) {
            None => files.push(NetworkFile {
                name: PathBuf::from(format!("{NETWORK_FILE_PREFIX}{interface}.network")),
                body: format!("[Match]\nName={}\n{network}", one_line(interface)),
                extends: None,
            }),
            Some(host_file) if host_file.matches.only(interface) => {
                let file_name = host_file.path.file_name().unwrap_or(host_file.path.as_os_str());
                let mut directory = file_name.to_os_string();
                directory.push(".d");
                files.push(NetworkFile {
                    name: Path::new(&directory).join(NETWORK_DROP_IN_NAME),
                    body: network.strip_prefix('\n').unwrap_or(&network).to_string(),
                    extends: Some(host_file.path.clone()),
                });
            }
            Some(host_file) => gaps.push(PersistenceGap::SharedHostFile {
                interface: interface.to_string(),
                host_file: host_file.path.clone(),
            }),
        }
    }
    for port in desired.fou.values() {
        match fou_netdev(port) {
            Some(file) => files.push(file),
            None => gaps.push(PersistenceGap::Ipv6FouPort { port: port.port }),
        }
    }
    files.sort_by(|a, b| a.name.cmp(&b.name));
    NetworkFiles { files, gaps }
}

/// The `.netdev` of a named tunnel: `Kind=` and `[Tunnel]` as systemd.netdev(5) names
/// them. IPv6 tunnels always state their hop limit (networkd's `TTL=`), as their default is
/// not the spec's.
fn tunnel_netdev(link: &Link) -> Option<String> {
    let mut tunnel = String::new();
    let endpoints = |tunnel: &mut String, local: Option<String>, remote: Option<String>| {
        if let Some(local) = local {
            let _ = writeln!(tunnel, "Local={local}");
        }
        if let Some(remote) = remote {
            let _ = writeln!(tunnel, "Remote={remote}");
        }
    };
    match &link.kind {
        LinkKind::Ipip { local, remote, ttl, pmtudisc }
        | LinkKind::Gre { local, remote, ttl, pmtudisc }
        | LinkKind::Sit { local, remote, ttl, pmtudisc } => {
            endpoints(&mut tunnel, local.map(|ip| ip.to_string()), remote.map(|ip| ip.to_string()));
            if *ttl != 0 {
                let _ = writeln!(tunnel, "TTL={ttl}");
            }
            let _ = writeln!(tunnel, "DiscoverPathMTU={}", yes_no(*pmtudisc));
        }
        LinkKind::Ip6tnl { local, remote, hop_limit, mode } => {
            endpoints(&mut tunnel, local.map(|ip| ip.to_string()), remote.map(|ip| ip.to_string()));
            let _ = writeln!(tunnel, "TTL={hop_limit}\nMode={mode}");
        }
        LinkKind::Ip6gre { local, remote, hop_limit } => {
            endpoints(&mut tunnel, local.map(|ip| ip.to_string()), remote.map(|ip| ip.to_string()));
            let _ = writeln!(tunnel, "TTL={hop_limit}");
        }
        LinkKind::Other { .. } => return None,
    }
    let mut netdev = format!("[NetDev]\nName={}\nKind={}\n", one_line(&link.name), link.kind.name());
    if let Some(mtu) = link.mtu {
        let _ = writeln!(netdev, "MTUBytes={mtu}");
    }
    let _ = write!(netdev, "\n[Tunnel]\n{tunnel}Independent=yes\n");
    Some(netdev)
}

/// The `.netdev` that opens an IPv4 port; `None` for an IPv6 one (see the module
/// documentation). networkd wants a `Name=` for every netdev, though a port is no
/// interface: `fou<port>`.
fn fou_netdev(port: &FouPort) -> Option<NetworkFile> {
    if port.family != Family::Ipv4 {
        return None;
    }
    let name = format!("fou{}", port.port);
    let mut body = format!("[NetDev]\nName={name}\nKind=fou\n\n[FooOverUDP]\nPort={}\n", port.port);
    match port.encapsulation {
        FouEncapsulation::Gue => body.push_str("Encapsulation=GenericUDPEncapsulation\n"),
        FouEncapsulation::Direct { protocol } => {
            let _ = write!(body, "Encapsulation=FooOverUDP\nProtocol={protocol}\n");
        }
    }
    Some(NetworkFile { name: PathBuf::from(format!("{NETWORK_FILE_PREFIX}{name}.netdev")), body, extends: None })
}

fn yes_no(value: bool) -> &'static str {
    if value {
        "yes"
    } else {
        "no"
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::desired;
    use crate::model::persistence::{HostNetworkFile, InterfaceMatch, DEFAULT_NETWORK_DIRECTORY};
    use crate::model::ObjectId;

    const PERSIST: &str = "persist: { sysctl: false, modules: false, ipvs: false, bootUnit: false }\n";

    fn host(files: &[(&str, &[&str])]) -> HostNetworkd {
        HostNetworkd {
            files: files
                .iter()
                .map(|(path, names)| HostNetworkFile {
                    path: path.into(),
                    matches: InterfaceMatch::Names {
                        patterns: names.iter().map(|n| n.to_string()).collect(),
                        inverted: false,
                        conditional: false,
                    },
                })
                .collect(),
        }
    }

    fn resolve(spec: &str, host: &HostNetworkd) -> desired::Spec {
        let document = crate::spec::parse_document(spec, Path::new("/etc/lvs/d.yaml")).expect("parses");
        desired::resolve_on(&document, &Default::default(), host).expect("valid")
    }

    /// Each network file lvs-converge renders, by path under the network directory, without
    /// its header line.
    fn bodies(spec: &desired::Spec) -> Vec<(String, String)> {
        let directory = Path::new(DEFAULT_NETWORK_DIRECTORY);
        spec.desired
            .files
            .iter()
            .filter_map(|(path, file)| Some((path.strip_prefix(directory).ok()?, file)))
            .map(|(path, file)| {
                let text = file.content.as_text().unwrap();
                (path.display().to_string(), text.split_once('\n').unwrap().1.to_string())
            })
            .collect()
    }

    const DIRECTOR: &str = "apiVersion: lvs-converge/v1\nkind: Host\nrole: director\nvipInterface: eth0:0\n\
        addresses: [{ address: 192.0.2.10/24, interface: eth1 }]\n\
        ipvs:\n  services:\n    - { address: 203.0.113.100, port: 80, realServers: [{ address: 203.0.113.11 }] }\n";

    #[test]
    fn named_tunnels_of_every_kind_get_a_netdev_and_fallbacks_only_their_network_settings() {
        let spec = format!(
            "apiVersion: lvs-converge/v1\nkind: Host\n{PERSIST}links:\n\
             - {{ name: gre0 }}\n\
             - {{ name: ip6tnl0, mode: any }}\n\
             - {{ name: gre1, type: gre, local: 192.0.2.10, remote: 192.0.2.1, ttl: 64 }}\n\
             - {{ name: sit1, type: sit, remote: 192.0.2.1, pmtudisc: false }}\n\
             - {{ name: t6, type: ip6tnl, local: \"2001:db8::10\", remote: \"2001:db8::1\", mode: ipip6 }}\n\
             - {{ name: g6, type: ip6gre, remote: \"2001:db8::1\", hopLimit: 0, mtu: 1400 }}\n"
        );
        let bodies = bodies(&resolve(&spec, &HostNetworkd::default()));
        let body = |name: &str| bodies.iter().find(|(n, _)| n == name).map(|(_, b)| b.as_str()).unwrap_or_default();
        let network =
            "\n[Link]\nActivationPolicy=up\n\n[Network]\nLinkLocalAddressing=no\nConfigureWithoutCarrier=yes\n";
        assert_eq!(body("90-lvs-converge-gre0.network"), format!("[Match]\nName=gre0\n{network}"));
        assert_eq!(body("90-lvs-converge-ip6tnl0.network"), format!("[Match]\nName=ip6tnl0\n{network}"));
        for fallback in ["gre0", "ip6tnl0"] {
            assert!(
                !bodies.iter().any(|(name, _)| name == &format!("90-lvs-converge-{fallback}.netdev")),
                "{bodies:?}"
            );
        }
        assert_eq!(
            body("90-lvs-converge-gre1.netdev"),
            "[NetDev]\nName=gre1\nKind=gre\n\n[Tunnel]\nLocal=192.0.2.10\nRemote=192.0.2.1\nTTL=64\nDiscoverPathMTU=yes\nIndependent=yes\n"
        );
        assert_eq!(
            body("90-lvs-converge-sit1.netdev"),
            "[NetDev]\nName=sit1\nKind=sit\n\n[Tunnel]\nRemote=192.0.2.1\nDiscoverPathMTU=no\nIndependent=yes\n"
        );
        assert_eq!(
            body("90-lvs-converge-t6.netdev"),
            "[NetDev]\nName=t6\nKind=ip6tnl\n\n[Tunnel]\nLocal=2001:db8::10\nRemote=2001:db8::1\nTTL=64\nMode=ipip6\nIndependent=yes\n"
        );
        assert_eq!(
            body("90-lvs-converge-g6.netdev"),
            "[NetDev]\nName=g6\nKind=ip6gre\nMTUBytes=1400\n\n[Tunnel]\nRemote=2001:db8::1\nTTL=0\nIndependent=yes\n"
        );
        assert_eq!(body("90-lvs-converge-g6.network"), format!("[Match]\nName=g6\n\n[Link]\nMTUBytes=1400\nActivationPolicy=up\n\n[Network]\nLinkLocalAddressing=no\nConfigureWithoutCarrier=yes\n"));
    }

    /// Issue 14: the director's IPv6 VIP is persisted deprecated, as `apply` holds it; its
    /// IPv4 VIP as before.
    #[test]
    fn a_director_s_ipv6_vip_is_persisted_with_preferred_lifetime_zero() {
        let spec = format!(
            "{}    - {{ address: \"2001:db8:1::100\", port: 80, realServers: [{{ address: \"2001:db8:1::11\" }}] }}\n{PERSIST}",
            DIRECTOR
        );
        let spec = resolve(&spec, &HostNetworkd::default());
        let eth0 = bodies(&spec).into_iter().find(|(path, _)| path.ends_with("-eth0.network")).unwrap().1;
        assert_eq!(
            eth0,
            "[Match]\nName=eth0\n\n[Address]\nAddress=203.0.113.100/32\nLabel=eth0:0\n\n\
             [Address]\nAddress=2001:db8:1::100/128\nPreferredLifetime=0\n"
        );
    }

    /// Issue 18: `90-lvs-converge-eth0.network` lost to (or, sorting first, took eth0 from)
    /// the host's own file for eth0: networkd applies only the first match.
    #[test]
    fn an_interface_the_host_configures_gets_a_drop_in_of_the_host_s_file() {
        let spec = format!("{DIRECTOR}{PERSIST}");
        let host = host(&[("/run/systemd/network/10-netplan-eth0.network", &["eth0"])]);
        let spec = resolve(&spec, &host);
        assert_eq!(
            bodies(&spec),
            [
                (
                    "10-netplan-eth0.network.d/90-lvs-converge.conf".to_string(),
                    "[Address]\nAddress=203.0.113.100/32\nLabel=eth0:0\n".to_string()
                ),
                (
                    "90-lvs-converge-eth1.network".to_string(),
                    "[Match]\nName=eth1\n\n[Address]\nAddress=192.0.2.10/24\n".to_string()
                ),
            ]
        );
        let drop_in = Path::new(DEFAULT_NETWORK_DIRECTORY).join("10-netplan-eth0.network.d/90-lvs-converge.conf");
        assert_eq!(
            spec.origins.get(&ObjectId::File(drop_in.clone())).map(String::as_str),
            Some("the host's /run/systemd/network/10-netplan-eth0.network, as a drop-in")
        );
        assert!(spec.ownership.files.covers(&drop_in));
        assert!(spec.persistence_gaps.is_empty());
        // Offline (no host files known): a file of its own, as before.
        let offline = resolve(&format!("{DIRECTOR}{PERSIST}"), &HostNetworkd::default());
        assert!(offline
            .desired
            .files
            .contains_key(&Path::new(DEFAULT_NETWORK_DIRECTORY).join("90-lvs-converge-eth0.network")));
    }

    #[test]
    fn a_host_file_for_other_interfaces_too_gets_no_drop_in_and_no_rival() {
        let spec = resolve(
            &format!("{DIRECTOR}{PERSIST}"),
            &host(&[("/usr/lib/systemd/network/80-wired.network", &["en*", "eth*"])]),
        );
        assert!(bodies(&spec).is_empty(), "{:?}", bodies(&spec));
        assert_eq!(
            spec.persistence_gaps,
            [
                PersistenceGap::SharedHostFile {
                    interface: "eth0".into(),
                    host_file: "/usr/lib/systemd/network/80-wired.network".into()
                },
                PersistenceGap::SharedHostFile {
                    interface: "eth1".into(),
                    host_file: "/usr/lib/systemd/network/80-wired.network".into()
                }
            ]
        );
    }

    /// Review of issue 18: a host file matched by MAC address only (netplan) may be the one
    /// networkd applies to eth0 and eth1; a file of ours would lose to it at boot.
    #[test]
    fn a_host_file_matched_by_mac_address_gets_no_rival_for_interfaces_with_one() {
        let by_mac = HostNetworkd {
            files: vec![HostNetworkFile {
                path: "/run/systemd/network/10-netplan-eth0.network".into(),
                matches: InterfaceMatch::OtherConditions { mac_only: true },
            }],
        };
        let spec = resolve(&format!("{DIRECTOR}{PERSIST}"), &by_mac);
        assert!(bodies(&spec).is_empty(), "{:?}", bodies(&spec));
        let gaps: Vec<_> = spec
            .persistence_gaps
            .iter()
            .map(|gap| match gap {
                PersistenceGap::SharedHostFile { interface, .. } => interface.as_str(),
                other => panic!("{other:?}"),
            })
            .collect();
        assert_eq!(gaps, ["eth0", "eth1"]);
    }

    /// Issue 18: routes via a gateway without a device, and blackhole/unreachable routes,
    /// were applied but written in no file.
    #[test]
    fn routes_via_a_gateway_and_routes_that_drop_go_in_a_file_or_are_named_gaps() {
        let spec = "apiVersion: lvs-converge/v1\nkind: Host\n\
            links: [{ name: tun-dir, local: 198.51.100.22, remote: 203.0.113.10 }]\n\
            addresses: [{ address: 192.0.2.10/24, interface: eth1 }, { address: 192.0.2.77/32, interface: lo }]\n\
            routes:\n\
            \x20 - { destination: 10.1.0.0/16, device: tun-dir }\n\
            \x20 - { destination: 198.18.0.0/15, gateway: 192.0.2.1, metric: 20 }\n\
            \x20 - { destination: 10.9.0.0/24, gateway: 10.1.2.3, table: 100 }\n\
            \x20 - { destination: 203.0.113.0/24, type: blackhole }\n\
            \x20 - { destination: 198.51.100.128/25, type: unreachable, table: 100 }\n\
            \x20 - { destination: 100.64.0.0/10, gateway: 172.16.0.1 }\n";
        let spec = resolve(&format!("{spec}{PERSIST}"), &HostNetworkd::default());
        let bodies = bodies(&spec);
        let body = |name: &str| bodies.iter().find(|(n, _)| n == name).map(|(_, b)| b.as_str()).unwrap();
        assert_eq!(
            body("90-lvs-converge-eth1.network"),
            "[Match]\nName=eth1\n\n[Address]\nAddress=192.0.2.10/24\n\n\
             [Route]\nDestination=198.18.0.0/15\nGateway=192.0.2.1\nType=unicast\nTable=main\nScope=global\nMetric=20\n"
        );
        assert_eq!(
            body("90-lvs-converge-tun-dir.network"),
            "[Match]\nName=tun-dir\n\n[Link]\nActivationPolicy=up\n\n\
             [Network]\nLinkLocalAddressing=no\nConfigureWithoutCarrier=yes\n\n\
             [Route]\nDestination=10.9.0.0/24\nGateway=10.1.2.3\nType=unicast\nTable=100\nScope=global\n\n\
             [Route]\nDestination=10.1.0.0/16\nType=unicast\nTable=main\nScope=link\n"
        );
        assert_eq!(
            body("90-lvs-converge-lo.network"),
            "[Match]\nName=lo\n\n[Address]\nAddress=192.0.2.77/32\n\n\
             [Route]\nDestination=198.51.100.128/25\nType=unreachable\nTable=100\nScope=global\n\n\
             [Route]\nDestination=203.0.113.0/24\nType=blackhole\nTable=main\nScope=global\n"
        );
        let unreached =
            spec.desired.routes.values().find(|r| r.gateway == Some("172.16.0.1".parse().unwrap())).unwrap();
        assert_eq!(
            spec.persistence_gaps,
            [PersistenceGap::RouteWithoutInterface {
                route: unreached.key(),
                gateway: Some("172.16.0.1".parse().unwrap())
            }]
        );
        assert!(!bodies.iter().any(|(_, body)| body.contains("100.64.0.0")));
    }

    #[test]
    fn ipv4_fou_ports_get_a_netdev_each_and_an_ipv6_port_is_a_named_gap() {
        let spec = "apiVersion: lvs-converge/v1\nkind: Host\nfou:\n\
            \x20 - { port: 6080, type: gue }\n\
            \x20 - { port: 5555, type: direct, protocol: 47 }\n\
            \x20 - { port: 6080, type: gue, family: ipv6 }\n";
        let spec = resolve(&format!("{spec}{PERSIST}"), &HostNetworkd::default());
        assert_eq!(
            bodies(&spec),
            [
                (
                    "90-lvs-converge-fou5555.netdev".to_string(),
                    "[NetDev]\nName=fou5555\nKind=fou\n\n[FooOverUDP]\nPort=5555\nEncapsulation=FooOverUDP\nProtocol=47\n"
                        .to_string()
                ),
                (
                    "90-lvs-converge-fou6080.netdev".to_string(),
                    "[NetDev]\nName=fou6080\nKind=fou\n\n[FooOverUDP]\nPort=6080\nEncapsulation=GenericUDPEncapsulation\n"
                        .to_string()
                ),
            ]
        );
        assert_eq!(spec.persistence_gaps, [PersistenceGap::Ipv6FouPort { port: 6080 }]);
    }
}
