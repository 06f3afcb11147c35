//! Persistence files: pure renderers from a desired [`HostState`] to the files that bring a
//! host back to that state at boot, one module per format. Every file starts with the header
//! [`crate::model::files::HEADER_PREFIX`], a comment in every one of these formats, except
//! the IPVS rules: plain `ipvsadm -R` reads no comment, they start with
//! [`crate::model::files::IPVS_RULES_MARKER`] instead.
//!
//! - `sysctl`: a sysctl.d drop-in (`sysctl -p FILE`, systemd-sysctl);
//! - `modules`: a modules-load.d list (systemd-modules-load, one module per line);
//! - `ipvsadm`: IPVS rules in `ipvsadm-save -n` format, for `ipvsadm-restore`;
//! - `networkd`: systemd-networkd `.netdev`/`.network` files for tunnels, VIPs and routes;
//! - `unit`: the systemd unit that runs `lvs-converge apply` at boot (the preferred path).

pub mod ipvsadm;
pub mod modules;
pub mod networkd;
pub mod sysctl;
pub mod unit;

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::model::files::{FileState, HEADER_PREFIX, IPVS_RULES_MARKER};
use crate::model::ownership::FileOwnership;
use crate::model::persistence::{
    HostNetworkd, PersistSettings, PersistenceGap, IPVSADM_PACKAGE_SETTINGS, NETWORK_FILE_PREFIX, RHEL_IPVSADM_DROP_IN,
    RHEL_IPVS_PATH,
};
use crate::model::HostState;

/// The header line every owned file starts with (ends with a newline). It names the node
/// of a Cluster spec but never the spec's path, so that the same spec planned from another
/// place (a CI checkout) renders the same files.
pub fn header(node: Option<&str>) -> String {
    match node {
        Some(node) => format!("{HEADER_PREFIX} (node {}): changes here are overwritten.\n", one_line(node)),
        None => format!("{HEADER_PREFIX}: changes here are overwritten.\n"),
    }
}

/// A spec value as it goes into one line of a rendered file. Validation should refuse
/// control characters; should one get through, it is written escaped (`\n`), so that no
/// value can ever start a line of its own (a second sysctl, module or unit setting).
pub fn one_line(value: &str) -> Cow<'_, str> {
    if value.chars().any(char::is_control) {
        Cow::Owned(value.chars().flat_map(|c| c.escape_debug()).collect())
    } else {
        Cow::Borrowed(value)
    }
}

/// What the network files could not persist, and the host file each drop-in extends.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NetworkNotes {
    pub gaps: Vec<PersistenceGap>,
    /// Drop-in path → the host's `.network` file it extends.
    pub drop_ins: BTreeMap<PathBuf, PathBuf>,
}

/// Every file `settings` asks for, rendered from `desired` (network files given the host's
/// own, `host_network`), and which other files the spec owns (kinds with nothing to write,
/// switched-off kinds, the network directory).
pub fn render(
    desired: &HostState,
    settings: &PersistSettings,
    host_network: &HostNetworkd,
) -> (BTreeMap<PathBuf, FileState>, FileOwnership, NetworkNotes) {
    let header = header(settings.node.as_deref());
    let mut files = BTreeMap::new();
    let mut ownership = FileOwnership { paths: settings.off.iter().cloned().collect(), ..FileOwnership::default() };
    let mut single = |path: &Option<PathBuf>, first_line: &str, body: Option<String>| {
        if let Some(path) = path {
            match body {
                Some(body) => {
                    files.insert(path.clone(), FileState { content: format!("{first_line}{body}").into() });
                }
                None => {
                    ownership.paths.insert(path.clone());
                }
            }
        }
    };
    single(&settings.sysctl, &header, sysctl::render(desired));
    single(&settings.modules, &header, modules::render(desired));
    let rules = ipvsadm::render(&desired.ipvs);
    // The distro's ipvsadm package restores these very rules at boot only when set to.
    let package_settings = IPVSADM_PACKAGE_SETTINGS
        .iter()
        .find(|package| rules.is_some() && settings.ipvs.as_deref() == Some(Path::new(package.rules)));
    // Owned whatever the rules path (removed, if it is ours, once the rules are elsewhere or
    // gone): its path is fixed, and only a file with lvs-converge's header is ever deleted.
    let rules_at_rhel_path = settings.ipvs.as_deref() == Some(Path::new(RHEL_IPVS_PATH));
    let keep_rules_at_stop = rules
        .as_ref()
        .filter(|_| rules_at_rhel_path)
        .map(|_| "[Service]\nExecStop=\nExecStop=/sbin/ipvsadm -C\n".to_string());
    single(&Some(PathBuf::from(RHEL_IPVSADM_DROP_IN)), &header, keep_rules_at_stop);
    single(&settings.ipvs, IPVS_RULES_MARKER, rules);
    let unit_path = settings.boot_unit.as_ref().map(|u| u.path.clone());
    single(&unit_path, &header, settings.boot_unit.as_ref().map(unit::render));
    for directory in &settings.network_off {
        ownership.directories.insert(directory.clone(), NETWORK_FILE_PREFIX.to_string());
    }
    let mut notes = NetworkNotes::default();
    if let Some(directory) = &settings.network {
        ownership.directories.insert(directory.clone(), NETWORK_FILE_PREFIX.to_string());
        let network = networkd::render(desired, host_network);
        for file in network.files {
            let path = directory.join(&file.name);
            if let Some(host_file) = file.extends {
                notes.drop_ins.insert(path.clone(), host_file);
            }
            files.insert(path, FileState { content: format!("{header}{}", file.body).into() });
        }
        notes.gaps = network.gaps;
    }
    if let Some(package) = package_settings {
        let values = package.values.iter().map(|(name, value)| (name.to_string(), value.to_string())).collect();
        ownership.settings.insert(package.file.into(), values);
    }
    (files, ownership, notes)
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::desired;
    use crate::model::persistence::*;

    const HEADER: &str = "# Managed by lvs-converge (node rs2): changes here are overwritten.\n";

    fn desired(text: &str) -> HostState {
        desired::parse(text, Path::new("t.yaml")).expect("valid spec").desired
    }

    fn settings() -> PersistSettings {
        PersistSettings {
            node: Some("rs2".into()),
            sysctl: Some(DEFAULT_SYSCTL_PATH.into()),
            modules: Some(DEFAULT_MODULES_PATH.into()),
            ipvs: Some(DEFAULT_IPVS_PATH.into()),
            network: Some(DEFAULT_NETWORK_DIRECTORY.into()),
            boot_unit: Some(BootUnit {
                path: DEFAULT_UNIT_PATH.into(),
                spec_path: "/etc/lvs/rs.yaml".into(),
                binary: DEFAULT_BINARY.into(),
                node: Some("rs2".into()),
                agent: false,
            }),
            off: vec![],
            network_off: vec![],
        }
    }

    const REAL_SERVER: &str = "apiVersion: lvs-converge/v1\nkind: Host\nrole: real-server\nvips: [203.0.113.100]\nlinks:\n  - { name: tun-dir, local: 198.51.100.22, remote: 203.0.113.10, ttl: 64, mtu: 1480 }\naddresses:\n  - { address: 10.0.0.2/24, interface: tun-dir }\nroutes:\n  - { destination: 192.0.2.0/24, device: tun-dir, metric: 10 }\n";

    #[test]
    fn every_file_starts_with_the_header_and_nothing_to_write_means_no_file() {
        let (files, ownership, _) = render(&desired(REAL_SERVER), &settings(), &HostNetworkd::default());
        for (path, file) in &files {
            assert!(file.content.as_text().unwrap().starts_with(HEADER), "{}", path.display());
            assert!(file.content.written_by_lvs_converge());
            assert!(file.is_owned());
        }
        // A real server has no IPVS table: no rules file, but an old one of ours goes.
        assert!(!files.contains_key(Path::new(DEFAULT_IPVS_PATH)));
        assert!(ownership.paths.contains(Path::new(DEFAULT_IPVS_PATH)));
        assert_eq!(ownership.directories[Path::new(DEFAULT_NETWORK_DIRECTORY)], NETWORK_FILE_PREFIX);
    }

    /// Finding 18.2: the rules file started with the `#` header, and plain `ipvsadm -R`
    /// stops at the first line it cannot parse.
    #[test]
    fn the_ipvs_rules_carry_no_comment_only_the_marker_ipvsadm_accepts() {
        let director = desired(
            "apiVersion: lvs-converge/v1\nkind: Host\nrole: director\nvipInterface: eth0\nipvs:\n  services:\n    - { address: 203.0.113.100, port: 80, realServers: [{ address: 203.0.113.11 }] }\n",
        );
        let (files, _, _) = render(&director, &settings(), &HostNetworkd::default());
        let rules = &files[Path::new(DEFAULT_IPVS_PATH)];
        let text = rules.content.as_text().unwrap();
        assert_eq!(
            text,
            "--set 0 0 0\n-A -t 203.0.113.100:80 -s wlc\n-a -t 203.0.113.100:80 -r 203.0.113.11:80 -i -w 1 --tun-type ipip\n"
        );
        assert!(rules.is_owned() && rules.content.written_by_lvs_converge());
        let (_, ownership, _) = render(&director, &settings(), &HostNetworkd::default());
        let owned = |ownership: &FileOwnership| -> Vec<String> {
            let mut all = Vec::new();
            for (path, values) in &ownership.settings {
                all.extend(values.iter().map(|(name, value)| format!("{}: {name}={value}", path.display())));
            }
            all
        };
        assert_eq!(owned(&ownership), ["/etc/default/ipvsadm: AUTO=true"]);
        let rhel = PersistSettings { ipvs: Some("/etc/sysconfig/ipvsadm".into()), ..settings() };
        let (files, ownership, _) = render(&director, &rhel, &HostNetworkd::default());
        // RHEL's ipvsadm.service would save the live table over the rules at stop (its
        // `ExecStop=`, which reads no ipvsadm-config): a drop-in leaves only the flush.
        assert!(ownership.settings.is_empty());
        assert_eq!(
            files[Path::new(RHEL_IPVSADM_DROP_IN)].content.as_text().unwrap().strip_prefix(HEADER).unwrap(),
            "[Service]\nExecStop=\nExecStop=/sbin/ipvsadm -C\n"
        );
        let (files, ownership, _) = render(&desired(REAL_SERVER), &rhel, &HostNetworkd::default());
        assert!(!files.contains_key(Path::new(RHEL_IPVSADM_DROP_IN)), "no rules, no drop-in");
        assert!(ownership.paths.contains(Path::new(RHEL_IPVSADM_DROP_IN)), "an old drop-in of ours goes");
        let (files, ownership, _) = render(&director, &settings(), &HostNetworkd::default());
        assert!(!files.contains_key(Path::new(RHEL_IPVSADM_DROP_IN)), "Debian's path: no RHEL drop-in");
        assert!(ownership.paths.contains(Path::new(RHEL_IPVSADM_DROP_IN)), "one left from the RHEL path goes");
        // Rules elsewhere or none at all: no package restores them.
        let (_, ownership, _) = render(
            &director,
            &PersistSettings { ipvs: Some("/etc/lvs/rules".into()), ..settings() },
            &HostNetworkd::default(),
        );
        assert!(ownership.settings.is_empty());
        let (_, ownership, _) = render(&desired(REAL_SERVER), &settings(), &HostNetworkd::default());
        assert!(ownership.settings.is_empty());
    }

    #[test]
    fn sysctl_modules_and_unit_render_exactly() {
        let (files, _, _) = render(&desired(REAL_SERVER), &settings(), &HostNetworkd::default());
        let text =
            |path: &str| files[Path::new(path)].content.as_text().unwrap().strip_prefix(HEADER).unwrap().to_string();
        assert_eq!(
            text(DEFAULT_SYSCTL_PATH),
            "net.ipv4.conf.all.arp_announce = 2\nnet.ipv4.conf.all.arp_ignore = 1\nnet.ipv4.conf.all.rp_filter = 0\n\
             net.ipv4.conf.lo.arp_announce = 2\nnet.ipv4.conf.lo.arp_ignore = 1\nnet.ipv4.conf.tunl0.rp_filter = 0\n"
        );
        assert_eq!(text(DEFAULT_MODULES_PATH), "ipip\n");
        assert_eq!(
            text(DEFAULT_UNIT_PATH),
            "[Unit]\nDescription=Converge this host to its LVS spec (lvs-converge apply)\nWants=network-online.target\n\
             After=network-online.target systemd-modules-load.service systemd-sysctl.service\n\
             ConditionPathExists=/etc/lvs/rs.yaml\n\n[Service]\nType=oneshot\nRemainAfterExit=yes\n\
             ExecStart=/usr/bin/lvs-converge apply -f /etc/lvs/rs.yaml --node rs2\n\n[Install]\nWantedBy=multi-user.target\n"
        );
    }

    #[test]
    fn networkd_files_render_exactly() {
        let (files, _, _) = render(&desired(REAL_SERVER), &settings(), &HostNetworkd::default());
        let text = |name: &str| {
            let path = Path::new(DEFAULT_NETWORK_DIRECTORY).join(format!("{NETWORK_FILE_PREFIX}{name}"));
            files[&path].content.as_text().unwrap().strip_prefix(HEADER).unwrap().to_string()
        };
        assert_eq!(
            text("tun-dir.netdev"),
            "[NetDev]\nName=tun-dir\nKind=ipip\nMTUBytes=1480\n\n[Tunnel]\nLocal=198.51.100.22\nRemote=203.0.113.10\n\
             TTL=64\nDiscoverPathMTU=yes\nIndependent=yes\n"
        );
        assert_eq!(
            text("tun-dir.network"),
            "[Match]\nName=tun-dir\n\n[Link]\nMTUBytes=1480\nActivationPolicy=up\n\n\
             [Network]\nLinkLocalAddressing=no\nConfigureWithoutCarrier=yes\n\n\
             [Address]\nAddress=10.0.0.2/24\n\n\
             [Route]\nDestination=192.0.2.0/24\nType=unicast\nTable=main\nScope=link\nMetric=10\n"
        );
        assert_eq!(text("lo.network"), "[Match]\nName=lo\n\n[Address]\nAddress=203.0.113.100/32\n");
        assert_eq!(
            text("tunl0.network"),
            "[Match]\nName=tunl0\n\n[Link]\nActivationPolicy=up\n\n[Network]\nLinkLocalAddressing=no\nConfigureWithoutCarrier=yes\n"
        );
        let director = desired(
            "apiVersion: lvs-converge/v1\nkind: Host\nrole: director\nvipInterface: eth0:0\nipvs:\n  services:\n    - { address: 203.0.113.100, port: 80, realServers: [{ address: 203.0.113.11 }] }\n",
        );
        let (files, _, _) = render(&director, &settings(), &HostNetworkd::default());
        let path = Path::new(DEFAULT_NETWORK_DIRECTORY).join("90-lvs-converge-eth0.network");
        assert_eq!(
            files[&path].content.as_text().unwrap().strip_prefix(HEADER).unwrap(),
            "[Match]\nName=eth0\n\n[Address]\nAddress=203.0.113.100/32\nLabel=eth0:0\n"
        );
    }

    #[test]
    fn switched_off_kinds_render_nothing_but_own_their_default_path() {
        let spec = "apiVersion: lvs-converge/v1\nkind: Host\nrole: real-server\nvips: [203.0.113.100]\npersist:\n  sysctl: false\n  network: false\n  modules: { path: /etc/modules-load.d/lvs.conf }\n  bootUnit: false\n";
        let spec = desired::parse(spec, Path::new("/etc/lvs/rs.yaml")).expect("valid");
        let paths: Vec<_> = spec.desired.files.keys().map(|p| p.display().to_string()).collect();
        assert_eq!(paths, ["/etc/modules-load.d/lvs.conf"]);
        let owned: Vec<_> = spec.ownership.files.paths.iter().map(|p| p.display().to_string()).collect();
        assert_eq!(owned, [DEFAULT_IPVS_PATH, DEFAULT_SYSCTL_PATH, RHEL_IPVSADM_DROP_IN, DEFAULT_UNIT_PATH]);
        assert!(spec.ownership.files.directories.contains_key(Path::new(DEFAULT_NETWORK_DIRECTORY)));
    }

    #[test]
    fn a_control_character_in_a_value_never_starts_a_line_of_its_own() {
        let mut state = desired(REAL_SERVER);
        state.sysctls.insert("net.ipv4.ip_forward".into(), "1\nkernel.core_pattern = |/tmp/x".into());
        state.modules.insert("ipip\nevil".into());
        let (files, _, _) = render(&state, &settings(), &HostNetworkd::default());
        for (path, file) in &files {
            let text = file.content.as_text().unwrap();
            assert!(
                !text.lines().any(|line| line.starts_with("kernel.") || line == "evil"),
                "{}:\n{text}",
                path.display()
            );
        }
        assert!(files[Path::new(DEFAULT_SYSCTL_PATH)]
            .content
            .as_text()
            .unwrap()
            .contains("net.ipv4.ip_forward = 1\\nkernel.core_pattern = |/tmp/x\n"));
        assert_eq!(one_line("eth0"), "eth0");
    }

    #[test]
    fn a_control_character_in_the_node_stays_inside_the_header_comment() {
        assert_eq!(header(Some("rs\nb")), "# Managed by lvs-converge (node rs\\nb): changes here are overwritten.\n");
    }

    /// Finding 18.1: the header held the spec's absolute path, so the same spec planned from
    /// a CI checkout showed every file as drifted.
    #[test]
    fn the_same_spec_at_another_path_renders_the_same_files() {
        let at = |path: &str| {
            let spec = "apiVersion: lvs-converge/v1\nkind: Host\nrole: real-server\nvips: [203.0.113.100]\npersist:\n  bootUnit: { specPath: /etc/lvs/rs.yaml }\n";
            desired::parse(spec, Path::new(path)).expect("valid").desired.files
        };
        let (host, checkout) = (at("/etc/lvs/rs.yaml"), at("/builds/ci/lvs/rs.yaml"));
        assert!(!host.is_empty());
        assert_eq!(host, checkout);
        assert!(host.values().all(|file| file.content.as_text().unwrap().starts_with("# Managed by lvs-converge: ")));
    }

    #[test]
    fn no_persist_section_manages_no_file() {
        let spec = desired::parse(REAL_SERVER, Path::new("t.yaml")).unwrap();
        assert!(spec.desired.files.is_empty());
        assert_eq!(spec.ownership.files, FileOwnership::default());
    }
}
