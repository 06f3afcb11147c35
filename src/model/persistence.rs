//! What to persist and where, as the spec's `persist:` section resolves it: the desired
//! stage renders these files, the spec validates the paths and values that go into them.

use std::path::PathBuf;

pub const DEFAULT_SYSCTL_PATH: &str = "/etc/sysctl.d/90-lvs-converge.conf";
pub const DEFAULT_MODULES_PATH: &str = "/etc/modules-load.d/lvs-converge.conf";
pub const DEFAULT_IPVS_PATH: &str = "/etc/ipvsadm.rules";
pub const DEFAULT_NETWORK_DIRECTORY: &str = "/etc/systemd/network";
pub const DEBIAN_IPVSADM_DEFAULTS: &str = "/etc/default/ipvsadm";
pub const RHEL_IPVS_PATH: &str = "/etc/sysconfig/ipvsadm";
pub const RHEL_IPVSADM_CONFIG: &str = "/etc/sysconfig/ipvsadm-config";
/// Shell settings a distro's ipvsadm package reads beside the rules file lvs-converge
/// writes. Set only where `file` exists.
pub struct PackageSettings {
    /// The rules path the package restores at boot.
    pub rules: &'static str,
    pub file: &'static str,
    /// The values the spec owns there.
    pub values: &'static [(&'static str, &'static str)],
}

pub const IPVSADM_PACKAGE_SETTINGS: [PackageSettings; 2] = [
    // Debian's init script restores the rules at boot only with AUTO="true"; the package
    // ships "false".
    PackageSettings { rules: DEFAULT_IPVS_PATH, file: DEBIAN_IPVSADM_DEFAULTS, values: &[("AUTO", "true")] },
    // RHEL's ipvsadm.service, with "yes", saves the live table over the rules at stop or
    // restart: the file would no longer be lvs-converge's.
    PackageSettings {
        rules: RHEL_IPVS_PATH,
        file: RHEL_IPVSADM_CONFIG,
        values: &[("IPVS_SAVE_ON_STOP", "no"), ("IPVS_SAVE_ON_RESTART", "no")],
    },
];
pub const DEFAULT_UNIT_PATH: &str = "/etc/systemd/system/lvs-converge.service";
pub const DEFAULT_BINARY: &str = "/usr/bin/lvs-converge";
/// Network files are named `90-lvs-converge-<interface>.{netdev,network}`.
pub const NETWORK_FILE_PREFIX: &str = "90-lvs-converge-";

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
    use super::*;

    #[test]
    fn unrepresentable_values_are_named() {
        assert!(unrepresentable("/etc/lvs/a.yaml").is_none());
        assert!(unrepresentable("/etc/lvs/a b%$.yaml").is_none());
        assert!(unrepresentable("/etc/lvs/a\n.yaml").unwrap().contains("control character"));
        assert!(unrepresentable("/etc/lvs/a\\").unwrap().contains("backslash"));
        assert!(unrepresentable("/etc/lvs/a ").unwrap().contains("whitespace"));
    }
}
