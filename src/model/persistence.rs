//! What to persist and where, as the spec's `persist:` section resolves it: the desired
//! stage renders these files, the spec validates the paths and values that go into them.

use std::net::IpAddr;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::routes::RouteKey;

pub const DEFAULT_SYSCTL_PATH: &str = "/etc/sysctl.d/90-lvs-converge.conf";
pub const DEFAULT_MODULES_PATH: &str = "/etc/modules-load.d/lvs-converge.conf";
pub const DEFAULT_IPVS_PATH: &str = "/etc/ipvsadm.rules";
pub const DEFAULT_NETWORK_DIRECTORY: &str = "/etc/systemd/network";
pub const DEBIAN_IPVSADM_DEFAULTS: &str = "/etc/default/ipvsadm";
pub const RHEL_IPVS_PATH: &str = "/etc/sysconfig/ipvsadm";
/// Shell settings a distro's ipvsadm package reads beside the rules file lvs-converge
/// writes. Set only where `file` exists.
pub struct PackageSettings {
    /// The rules path the package restores at boot.
    pub rules: &'static str,
    pub file: &'static str,
    /// The values the spec owns there.
    pub values: &'static [(&'static str, &'static str)],
}

pub const IPVSADM_PACKAGE_SETTINGS: [PackageSettings; 1] = [
    // Debian's init script restores the rules at boot only with AUTO="true"; the package
    // ships "false".
    PackageSettings { rules: DEFAULT_IPVS_PATH, file: DEBIAN_IPVSADM_DEFAULTS, values: &[("AUTO", "true")] },
];
/// RHEL's ipvsadm.service restores `RHEL_IPVS_PATH` at start but, at stop, writes
/// `ipvsadm-save -n` over it (`ExecStop=`; it reads no ipvsadm-config): the rules would lose
/// their marker, timeouts and thresholds and no longer be lvs-converge's. With the rules
/// there, this drop-in replaces that `ExecStop=` with the table flush alone.
pub const RHEL_IPVSADM_DROP_IN: &str = "/etc/systemd/system/ipvsadm.service.d/90-lvs-converge.conf";
pub const DEFAULT_UNIT_PATH: &str = "/etc/systemd/system/lvs-converge.service";
pub const DEFAULT_BINARY: &str = "/usr/bin/lvs-converge";
/// Network files are named `90-lvs-converge-<interface>.{netdev,network}`.
pub const NETWORK_FILE_PREFIX: &str = "90-lvs-converge-";
/// For an interface the host's own `.network` file configures, lvs-converge's settings go
/// in `<that file's name>.d/` under this name instead (networkd applies only one `.network`
/// file per interface, but every drop-in of that file).
pub const NETWORK_DROP_IN_NAME: &str = "90-lvs-converge.conf";
/// Where systemd-networkd looks for `.network` files, first to last: a file masks the
/// files of the same name in the directories after it.
pub const NETWORKD_DIRECTORIES: [&str; 5] = [
    "/etc/systemd/network",
    "/run/systemd/network",
    "/usr/local/lib/systemd/network",
    "/usr/lib/systemd/network",
    "/lib/systemd/network",
];

/// The host's own systemd-networkd `.network` files (not lvs-converge's), in the order
/// networkd tries them: by file name, the masked ones left out. The first whose `[Match]`
/// accepts an interface configures it; no other `.network` file is read for it.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct HostNetworkd {
    pub files: Vec<HostNetworkFile>,
}

/// One `.network` file and the interface names its `[Match]` section accepts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HostNetworkFile {
    /// As on the target system (without `--root`).
    pub path: PathBuf,
    pub matches: InterfaceMatch,
}

/// What a `[Match]` section says about interface names.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum InterfaceMatch {
    /// No condition at all: networkd applies the file to every interface.
    Every,
    /// `Name=`: shell globs, any of which accepts a name; `!` before the list inverts it.
    /// `conditional`: conditions other than a MAC address stand beside `Name=` (driver,
    /// type, host, kernel command line …), so the file may not apply to a name it accepts:
    /// no drop-in can rely on it. (A MAC address beside an exact name, netplan's
    /// `match: macaddress` with `set-name`, still configures that one name alone.)
    Names {
        patterns: Vec<String>,
        inverted: bool,
        #[serde(default)]
        conditional: bool,
    },
    /// Conditions other than `Name=` only (netplan's `match: macaddress`, `Type=ether`): no
    /// name can tell which interfaces it configures, so it may be any of them. `mac_only`:
    /// only `MACAddress=`/`PermanentMACAddress=`, which interfaces without one (lo, ipip
    /// tunnels) never match.
    OtherConditions { mac_only: bool },
}

impl HostNetworkd {
    /// The host's file that configures `interface`, if one may. `hardware`: the interface
    /// may have a MAC address (not lo, not an ipip tunnel), so a file matched by MAC address
    /// alone may be the one.
    pub fn configuring(&self, interface: &str, hardware: bool) -> Option<&HostNetworkFile> {
        self.files.iter().find(|file| file.matches.accepts(interface, hardware))
    }
}

impl InterfaceMatch {
    /// Whether this accepts `interface` and no other name: every pattern is that very name.
    pub fn only(&self, interface: &str) -> bool {
        match self {
            InterfaceMatch::Every | InterfaceMatch::OtherConditions { .. } => false,
            InterfaceMatch::Names { patterns, inverted, conditional } => {
                !inverted && !conditional && !patterns.is_empty() && patterns.iter().all(|pattern| pattern == interface)
            }
        }
    }

    /// Whether this may configure `interface`; `hardware` as in [`HostNetworkd::configuring`].
    pub fn accepts(&self, interface: &str, hardware: bool) -> bool {
        match self {
            InterfaceMatch::Every => true,
            InterfaceMatch::OtherConditions { mac_only } => !mac_only || hardware,
            InterfaceMatch::Names { patterns, inverted, .. } => {
                patterns.iter().any(|pattern| glob_matches(pattern.as_bytes(), interface.as_bytes())) != *inverted
            }
        }
    }
}

/// fnmatch(3) without flags, as networkd matches `Name=`: `*`, `?`, `[...]` with ranges and
/// `!`/`^` negation, and `\` quoting the next character.
fn glob_matches(pattern: &[u8], name: &[u8]) -> bool {
    match pattern.split_first() {
        None => name.is_empty(),
        Some((b'*', rest)) => (0..=name.len()).any(|skip| glob_matches(rest, &name[skip..])),
        Some((b'?', rest)) => !name.is_empty() && glob_matches(rest, &name[1..]),
        Some((b'[', rest)) => match (bracket(rest, name.first().copied()), name.first()) {
            (Some((matched, after)), Some(_)) => matched && glob_matches(after, &name[1..]),
            // An unclosed `[` is a literal character.
            (None, Some(b'[')) => glob_matches(rest, &name[1..]),
            _ => false,
        },
        Some((b'\\', rest)) if !rest.is_empty() => {
            name.first() == Some(&rest[0]) && glob_matches(&rest[1..], &name[1..])
        }
        Some((literal, rest)) => name.first() == Some(literal) && glob_matches(rest, &name[1..]),
    }
}

/// A bracket expression (after its `[`): whether `byte` is in it, and the pattern after the
/// closing `]`; `None` when it has no closing `]`.
fn bracket(pattern: &[u8], byte: Option<u8>) -> Option<(bool, &[u8])> {
    let (negated, mut at) = match pattern.first() {
        Some(b'!' | b'^') => (true, 1),
        _ => (false, 0),
    };
    let mut found = false;
    let mut first = true;
    loop {
        let current = *pattern.get(at)?;
        if current == b']' && !first {
            return Some((found != negated, &pattern[at + 1..]));
        }
        first = false;
        if pattern.get(at + 1) == Some(&b'-') && pattern.get(at + 2).is_some_and(|end| *end != b']') {
            let end = pattern[at + 2];
            found |= byte.is_some_and(|b| (current..=end).contains(&b));
            at += 3;
        } else {
            found |= byte == Some(current);
            at += 1;
        }
    }
}

/// Something the spec manages that the persistence files cannot bring back at boot.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum PersistenceGap {
    /// A route via a gateway without `device`, where no interface the spec configures reaches
    /// the gateway: networkd puts a route on an interface, and which one is not known.
    /// (Validation refuses a forwarding route with neither, so `gateway` is always there.)
    RouteWithoutInterface { route: RouteKey, gateway: Option<IpAddr> },
    /// The host's file that may configure `interface` matches other interfaces too, or by
    /// conditions no name can tell: a drop-in would configure them all alike (or attach to a
    /// file that does not apply), and a file of lvs-converge's own would lose to it or take
    /// the interface away from the host's configuration (networkd applies one file), so
    /// nothing is written for it.
    SharedHostFile { interface: String, host_file: PathBuf },
    /// A foo-over-UDP port on an IPv6 socket: networkd opens a `Kind=fou` port on an IPv6
    /// socket only when it is bound to a local or peer address, which the spec's ports
    /// never are.
    Ipv6FouPort { port: u16 },
    /// A named GRE tunnel that requires checksums (`icsum`): systemd.netdev(5) has no
    /// setting for it (networkd builds IFLA_GRE_IFLAGS from keys and sequence numbers only),
    /// so the tunnel its .netdev creates drops checksummed GRE until the boot unit runs.
    GreInputChecksum { interface: String },
}

/// What to persist and where, resolved from the spec's `persist:` section. `None`: off.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PersistSettings {
    /// The node of a Cluster spec, named in every header. Never the spec's path: the same
    /// spec planned from another place (a CI checkout) must render the same files.
    pub node: Option<String>,
    pub sysctl: Option<PathBuf>,
    pub modules: Option<PathBuf>,
    pub ipvs: Option<PathBuf>,
    /// systemd-networkd files in this directory.
    pub network: Option<PathBuf>,
    pub boot_unit: Option<BootUnit>,
    /// Default paths of kinds switched off with `false`: a file lvs-converge wrote there
    /// earlier is removed.
    pub off: Vec<PathBuf>,
    /// Network directories switched off (their `90-lvs-converge-*` files are removed).
    pub network_off: Vec<PathBuf>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BootUnit {
    pub path: PathBuf,
    /// The spec as the boot unit reads it.
    pub spec_path: PathBuf,
    pub binary: PathBuf,
    /// `--node NAME` for a Cluster spec.
    pub node: Option<String>,
    /// The unit runs `lvs-converge agent` (long-running) rather than a oneshot `apply`.
    pub agent: bool,
}

/// Why `text` cannot be a value in the boot unit, if it cannot: validation refuses such
/// values, so that the unit always means exactly what the spec says.
pub fn unrepresentable(text: &str) -> Option<&'static str> {
    if text.chars().any(char::is_control) {
        Some("contains a control character (a newline would start a new unit line)")
    } else if text.ends_with('\\') {
        Some("ends with a backslash (systemd would join the next unit line to it)")
    } else if text != text.trim() {
        Some("starts or ends with whitespace (systemd strips it from unit values)")
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    fn names(patterns: &[&str], inverted: bool) -> InterfaceMatch {
        InterfaceMatch::Names {
            patterns: patterns.iter().map(|p| p.to_string()).collect(),
            inverted,
            conditional: false,
        }
    }

    /// Issue 18: networkd's first matching file wins, so which host file configures an
    /// interface decides where lvs-converge's settings must go.
    #[test]
    fn interface_names_match_as_networkd_matches_them() {
        let accepts = |m: &InterfaceMatch, name: &str| m.accepts(name, true);
        assert!(accepts(&names(&["eth0"], false), "eth0") && !accepts(&names(&["eth0"], false), "eth01"));
        assert!(accepts(&names(&["en*", "eth*"], false), "eth1") && accepts(&names(&["en*"], false), "enp3s0"));
        assert!(!accepts(&names(&["en*"], false), "lo"));
        assert!(accepts(&names(&["eth?"], false), "eth7") && !accepts(&names(&["eth?"], false), "eth10"));
        assert!(accepts(&names(&["eth[0-3]"], false), "eth2") && !accepts(&names(&["eth[0-3]"], false), "eth4"));
        assert!(accepts(&names(&["eth[!0-3]"], false), "eth4") && !accepts(&names(&["eth[^0-3]"], false), "eth1"));
        assert!(accepts(&names(&["tun[]x]"], false), "tun]") && accepts(&names(&["a\\*"], false), "a*"));
        assert!(!accepts(&names(&["a\\*"], false), "ab") && accepts(&names(&["eth["], false), "eth["));
        assert!(accepts(&names(&["eth0", "lo"], true), "tunl0") && !accepts(&names(&["eth0", "lo"], true), "lo"));
        assert!(accepts(&InterfaceMatch::Every, "tunl0"));
        assert!(!accepts(&names(&[], false), "eth0"));
        let host = HostNetworkd {
            files: vec![
                HostNetworkFile {
                    path: "/run/systemd/network/10-netplan-eth0.network".into(),
                    matches: names(&["eth0"], false),
                },
                HostNetworkFile {
                    path: "/usr/lib/systemd/network/80-wired.network".into(),
                    matches: names(&["e*"], false),
                },
            ],
        };
        let configuring = |name: &str| host.configuring(name, name.starts_with("eth")).map(|file| file.path.as_path());
        assert_eq!(configuring("eth0"), Some(Path::new("/run/systemd/network/10-netplan-eth0.network")));
        assert_eq!(configuring("eth1"), Some(Path::new("/usr/lib/systemd/network/80-wired.network")));
        assert_eq!(configuring("tunl0"), None);
        assert!(names(&["eth0", "eth0"], false).only("eth0") && !names(&["eth0", "eth1"], false).only("eth0"));
        assert!(!names(&["eth*"], false).only("eth0") && !names(&["eth1"], true).only("eth0"));
        assert!(!InterfaceMatch::Every.only("eth0"));
    }

    #[test]
    fn unrepresentable_values_are_named() {
        assert!(unrepresentable("/etc/lvs/a.yaml").is_none());
        assert!(unrepresentable("/etc/lvs/a b%$.yaml").is_none());
        assert!(unrepresentable("/etc/lvs/a\n.yaml").unwrap().contains("control character"));
        assert!(unrepresentable("/etc/lvs/a\\").unwrap().contains("backslash"));
        assert!(unrepresentable("/etc/lvs/a ").unwrap().contains("whitespace"));
    }
}
