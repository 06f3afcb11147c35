//! The desired stage: from a validated spec ([`spec::Validated`]) to the whole desired state of
//! one host. It adds what the spec implies but does not write (a role's defaults, the kernel
//! modules an IPVS table needs), records where each such object comes from, and renders the
//! persistence files from the result. Nothing here can fail: the spec refused all it had to.
//!
//! The result keeps the name [`Spec`] and its fields (`desired`, `ownership`, `origins`):
//! it is still the spec, resolved for one host, and that is how plan, cli, saved plans,
//! lint and import read it.

pub mod files;
pub mod health_paths;
mod merge;
mod prerequisites;
pub mod roles;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::model::health::HealthPolicy;
use crate::model::ownership::{FileOwnership, Ownership};
use crate::model::persistence::{HostNetworkd, PersistenceGap};
use crate::model::{HostState, ObjectId, Role};
use crate::spec::{self, Document, NodeSelector, SpecError, Validated};

/// A spec resolved for one host: its desired state and what it owns.
#[derive(Debug, Clone, PartialEq)]
pub struct Spec {
    pub source: PathBuf,
    /// The Cluster node this is, if any.
    pub node: Option<String>,
    pub role: Option<Role>,
    pub desired: HostState,
    pub ownership: Ownership,
    /// Where derived objects come from (`role real-server`, `ipvs services`); objects the
    /// spec declares itself are absent.
    pub origins: BTreeMap<ObjectId, String>,
    /// What the persistence files cannot bring back at boot.
    pub persistence_gaps: Vec<PersistenceGap>,
    /// The host's own networkd files this was resolved with (none offline).
    pub host_networkd: HostNetworkd,
    /// What to health-check and how (empty for a spec without checks).
    pub health: HealthPolicy,
}

/// Reads and validates the spec at `path`, resolved for the host `selector` picks.
pub fn load(path: &Path, selector: &NodeSelector) -> Result<Spec, SpecError> {
    resolve(&spec::read(path)?, selector)
}

/// Validates `document` for the host `selector` picks and resolves its desired state, as
/// for a host without networkd files of its own (offline: `validate`, `check`).
pub fn resolve(document: &Document, selector: &NodeSelector) -> Result<Spec, SpecError> {
    resolve_on(document, selector, &HostNetworkd::default())
}

/// [`resolve`] for a host whose own networkd files are `host_network` (read by
/// `observe::files::read_host_networkd`): they decide where network settings persist.
pub fn resolve_on(
    document: &Document,
    selector: &NodeSelector,
    host_network: &HostNetworkd,
) -> Result<Spec, SpecError> {
    document.validate(selector).map(|validated| build(validated, host_network))
}

/// Parses a Host spec, or a Cluster spec for the first node, and resolves it (tests, tools).
pub fn parse(text: &str, source: &Path) -> Result<Spec, SpecError> {
    spec::parse(text, source).map(|validated| build(validated, &HostNetworkd::default()))
}

/// Role defaults, then the hidden services that health checks travel through the tunnel (and
/// the sysctl their replies need), then the prerequisites of the IPVS table, of every tunnel link and FOU port, then the declared sections (which win), then the
/// files that persist the result.
pub fn build(validated: Validated, host_network: &HostNetworkd) -> Spec {
    let Validated {
        source,
        node,
        role,
        vip_interface,
        vips,
        receivers,
        declared,
        mut ipvs,
        ipvs_ownership,
        persist,
        mut health,
    } = validated;
    let mut desired = HostState::default();
    let mut origins = BTreeMap::new();
    let role_defaults = role.map(|role| match role {
        Role::Director => roles::director(&ipvs, vip_interface.as_deref()),
        Role::RealServer => roles::real_server(&receivers, &vips),
    });
    let link_modules = prerequisites::links(
        role_defaults.iter().flat_map(|defaults| defaults.links.values()).chain(declared.links.values()),
    );
    let fou_modules = prerequisites::fou(
        role_defaults.iter().flat_map(|defaults| defaults.fou.values()).chain(declared.fou.values()),
    );
    if let (Some(role), Some(defaults)) = (role, role_defaults) {
        merge::merge(&mut desired, &mut origins, defaults, Some(&format!("role {}", role.name())));
    }
    health.paths = health_paths::paths(&ipvs, &health.services);
    for (key, service) in health_paths::services(&health.paths).services {
        origins.insert(ObjectId::IpvsService(key), health_paths::ORIGIN.to_string());
        for destination in service.destinations.keys() {
            origins.insert(ObjectId::IpvsDestination(key, *destination), health_paths::ORIGIN.to_string());
        }
        ipvs.services.insert(key, service);
    }
    merge::merge(&mut desired, &mut origins, health_paths::sysctls(&health.paths), Some(health_paths::ORIGIN));
    merge::merge(&mut desired, &mut origins, prerequisites::ipvs(&ipvs), Some("ipvs services"));
    for (origin, modules) in link_modules {
        merge::merge(&mut desired, &mut origins, modules, Some(&origin));
    }
    merge::merge(&mut desired, &mut origins, fou_modules, Some("fou ports"));
    merge::merge(&mut desired, &mut origins, declared, None);
    desired.ipvs = ipvs;
    let mut file_ownership = FileOwnership::default();
    let mut persistence_gaps = Vec::new();
    if let Some(settings) = persist {
        let network;
        (desired.files, file_ownership, network) = files::render(&desired, &settings, host_network);
        for (drop_in, host_file) in network.drop_ins {
            origins.insert(ObjectId::File(drop_in), format!("the host's {}, as a drop-in", host_file.display()));
        }
        persistence_gaps = network.gaps;
    }
    let ownership = Ownership { ipvs: ipvs_ownership, files: file_ownership };
    Spec {
        source,
        node,
        role,
        desired,
        ownership,
        origins,
        persistence_gaps,
        host_networkd: host_network.clone(),
        health,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const REAL_SERVER: &str = "apiVersion: lvs-converge/v1\nkind: Host\nrole: real-server\nvips: [203.0.113.100]\n\
        sysctls:\n  net.ipv4.conf.all.rp_filter: 2\n";

    #[test]
    fn the_spec_stage_derives_nothing() {
        let validated = spec::parse(REAL_SERVER, Path::new("rs.yaml")).expect("valid");
        assert_eq!(validated.vips, ["203.0.113.100".parse::<std::net::IpAddr>().unwrap()]);
        assert!(validated.declared.links.is_empty() && validated.declared.modules.is_empty());
        assert_eq!(
            validated.declared.sysctls,
            BTreeMap::from([("net.ipv4.conf.all.rp_filter".to_string(), "2".to_string())])
        );
    }

    #[test]
    fn role_defaults_are_noted_and_the_spec_s_own_declaration_wins() {
        let spec = parse(REAL_SERVER, Path::new("rs.yaml")).expect("valid");
        let origin = |object: ObjectId| spec.origins.get(&object).map(String::as_str);
        assert_eq!(spec.desired.sysctls["net.ipv4.conf.all.rp_filter"], "2");
        assert_eq!(origin(ObjectId::Sysctl("net.ipv4.conf.all.rp_filter".into())), None);
        assert_eq!(spec.desired.sysctls["net.ipv4.conf.all.arp_ignore"], "1");
        assert_eq!(origin(ObjectId::Sysctl("net.ipv4.conf.all.arp_ignore".into())), Some("role real-server"));
        assert_eq!(origin(ObjectId::Module("ipip".into())), Some("ipip links"));
        assert!(spec.desired.links.contains_key("tunl0"));
    }

    #[test]
    fn fou_ports_bring_the_fou_module_for_both_families() {
        let text = "apiVersion: lvs-converge/v1\nkind: Host\nfou:\n  - { port: 6080, type: gue, family: ipv6 }\n\
            persist: { sysctl: false, ipvs: false, network: false, bootUnit: false }\n";
        let spec = parse(text, Path::new("rs.yaml")).expect("valid");
        assert!(spec.desired.modules.contains("fou"), "{:?}", spec.desired.modules);
        assert_eq!(spec.origins.get(&ObjectId::Module("fou".into())).map(String::as_str), Some("fou ports"));
        let modules_file = spec.desired.files.values().next().and_then(|file| file.content.as_text()).unwrap();
        assert!(modules_file.lines().any(|line| line == "fou"), "listed for boot:\n{modules_file}");
    }

    #[test]
    fn an_ipvs_table_brings_its_modules() {
        let text =
            "apiVersion: lvs-converge/v1\nkind: Host\nipvs:\n  services:\n    - { address: 203.0.113.100, port: 80, \
            scheduler: wlc, realServers: [{ address: 198.51.100.11 }] }\n";
        let spec = parse(text, Path::new("d.yaml")).expect("valid");
        let modules: Vec<&str> = spec.desired.modules.iter().map(String::as_str).collect();
        assert_eq!(modules, ["ip_vs", "ip_vs_wlc"]);
        assert_eq!(spec.origins.get(&ObjectId::Module("ip_vs".into())).map(String::as_str), Some("ipvs services"));
        assert!(spec.desired.files.is_empty() && spec.ownership.files == FileOwnership::default());
    }

    /// Issue 18: only the real-server role brought `ipip`; a tunnel declared without a role
    /// was created live (netlink loads the module) but at boot nothing loaded it.
    #[test]
    fn every_ipip_link_brings_the_ipip_module_live_and_at_boot() {
        for links in ["[{ name: tunl0 }]", "[{ name: tun-dir, local: 198.51.100.22, remote: 203.0.113.10 }]"] {
            let text = format!(
                "apiVersion: lvs-converge/v1\nkind: Host\nlinks: {links}\npersist: {{ network: false, bootUnit: false }}\n"
            );
            let spec = parse(&text, Path::new("/etc/lvs/t.yaml")).expect("valid");
            assert!(spec.desired.modules.contains("ipip"), "{links}");
            assert_eq!(
                spec.origins.get(&ObjectId::Module("ipip".into())).map(String::as_str),
                Some("ipip links"),
                "{links}"
            );
            let modules_file = &spec.desired.files[Path::new(crate::model::persistence::DEFAULT_MODULES_PATH)];
            assert!(modules_file.content.as_text().unwrap().ends_with("\nipip\n"), "{links}");
        }
        let eth0 = "apiVersion: lvs-converge/v1\nkind: Host\nlinks: [{ name: eth0, mtu: 1500 }]\n";
        assert!(parse(eth0, Path::new("t.yaml")).expect("valid").desired.modules.is_empty());
    }

    fn origin_of(spec: &Spec, object: ObjectId) -> Option<&str> {
        spec.origins.get(&object).map(String::as_str)
    }

    #[test]
    fn a_host_real_server_s_receive_brings_devices_fou_ports_and_their_modules() {
        let text = "apiVersion: lvs-converge/v1\nkind: Host\nrole: real-server\nvips: [203.0.113.100]\n\
            receive: [ipip, 'gue:6080', gre]\n";
        let spec = parse(text, Path::new("rs.yaml")).expect("valid");
        let links: Vec<&str> = spec.desired.links.keys().map(String::as_str).collect();
        assert_eq!(links, ["gre0", "tunl0"]);
        let ports: Vec<String> = spec.desired.fou.keys().map(ToString::to_string).collect();
        assert_eq!(ports, ["port 6080 ipv4"]);
        let modules: Vec<&str> = spec.desired.modules.iter().map(String::as_str).collect();
        assert_eq!(modules, ["fou", "ip_gre", "ipip"]);
        assert_eq!(origin_of(&spec, ObjectId::Module("ip_gre".into())), Some("gre links"));
        assert_eq!(origin_of(&spec, ObjectId::Module("fou".into())), Some("fou ports"));
        assert_eq!(origin_of(&spec, ObjectId::Link("gre0".into())), Some("role real-server"));
    }

    const CLUSTER: &str = "apiVersion: lvs-converge/v1\nkind: Cluster\nipvs:\n  services:\n\
        \x20   - { address: 203.0.113.100, port: 80, realServers: [{ node: rs1, tunnel: { type: gue, port: 6080, checksum: remcsum } }, { node: rs2 }] }\n\
        \x20   - { address: 2001:db8:1::100, port: 80, realServers: [{ node: rs1, tunnel: { type: gre } }, { address: 2001:db8:2::22 }] }\n\
        nodes:\n\
        \x20 - { name: director, role: director, address: 203.0.113.10, vipInterface: eth0 }\n\
        \x20 - { name: rs1, role: real-server, address: 203.0.113.11 }\n\
        \x20 - { name: rs2, role: real-server, address: 198.51.100.22 }\n\
        \x20 - { name: rs3, role: real-server, address: 2001:db8:2::22 }\n";

    fn node(name: &str) -> Spec {
        let document = spec::parse_document(CLUSTER, Path::new("cluster.yaml")).expect("parses");
        resolve(&document, &NodeSelector { name: Some(name), local_addresses: vec![] }).expect("valid")
    }

    #[test]
    fn a_cluster_real_server_receives_what_the_destinations_that_reach_it_send() {
        let rs1 = node("rs1");
        let links: Vec<&str> = rs1.desired.links.keys().map(String::as_str).collect();
        // GUE of the IPv4 VIP ends in tunl0; GRE of the IPv6 VIP over IPv4 in gre0.
        assert_eq!(links, ["gre0", "tunl0"]);
        assert_eq!(rs1.desired.fou.keys().map(ToString::to_string).collect::<Vec<_>>(), ["port 6080 ipv4"]);
        let vips: Vec<String> =
            rs1.desired.addresses.values().map(|a| format!("{}/{}", a.address, a.prefix_length)).collect();
        assert_eq!(vips, ["203.0.113.100/32", "2001:db8:1::100/128"]);
        // rs2 gets the default ipip: what the seed cluster has always planned.
        let rs2 = node("rs2");
        assert_eq!(rs2.desired.links.keys().map(String::as_str).collect::<Vec<_>>(), ["tunl0"]);
        assert!(rs2.desired.fou.is_empty());
        // rs3 takes an IPv6 VIP over its IPv6 address: ip6tnl0 in ip6ip6 mode, no IPv4 sysctls.
        let rs3 = node("rs3");
        assert_eq!(
            rs3.desired.links["ip6tnl0"].kind,
            crate::model::links::LinkKind::Ip6tnl {
                local: None,
                remote: None,
                hop_limit: 0,
                mode: crate::model::links::Ip6tnlMode::Ip6ip6
            }
        );
        assert!(rs3.desired.sysctls.keys().all(|key| !key.starts_with("net.ipv4.")), "{:?}", rs3.desired.sysctls);
    }
}
