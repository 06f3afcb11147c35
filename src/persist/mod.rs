//! Persistence: pure renderers from a desired [`HostState`] to the files that bring a host
//! back to that state at boot, one module per format. Every file starts with the header
//! [`crate::model::files::HEADER_PREFIX`], a comment in every one of these formats.
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

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::model::files::{FileState, HEADER_PREFIX};
use crate::model::HostState;
use crate::plan::files::FileOwnership;

pub const DEFAULT_SYSCTL_PATH: &str = "/etc/sysctl.d/90-lvs-converge.conf";
pub const DEFAULT_MODULES_PATH: &str = "/etc/modules-load.d/lvs-converge.conf";
pub const DEFAULT_IPVS_PATH: &str = "/etc/ipvsadm.rules";
pub const DEFAULT_NETWORK_DIRECTORY: &str = "/etc/systemd/network";
pub const DEFAULT_UNIT_PATH: &str = "/etc/systemd/system/lvs-converge.service";
pub const DEFAULT_BINARY: &str = "/usr/bin/lvs-converge";
/// Network files are named `90-lvs-converge-<interface>.{netdev,network}`.
pub const NETWORK_FILE_PREFIX: &str = "90-lvs-converge-";

/// What to persist and where, resolved from the spec's `persist:` section. `None`: off.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PersistSettings {
    /// Names the spec in every header: its absolute path, and the node of a Cluster spec.
    pub source: String,
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

/// The header line every owned file starts with (ends with a newline).
pub fn header(source: &str) -> String {
    format!("{HEADER_PREFIX} from {source}: changes here are overwritten.\n")
}

/// Every file `settings` asks for, rendered from `desired`, and which other files the spec
/// owns (kinds with nothing to write, switched-off kinds, the network directory).
pub fn render(desired: &HostState, settings: &PersistSettings) -> (BTreeMap<PathBuf, FileState>, FileOwnership) {
    let header = header(&settings.source);
    let mut files = BTreeMap::new();
    let mut ownership = FileOwnership { paths: settings.off.iter().cloned().collect(), ..FileOwnership::default() };
    let mut single = |path: &Option<PathBuf>, body: Option<String>| {
        if let Some(path) = path {
            match body {
                Some(body) => {
                    files.insert(path.clone(), FileState { content: format!("{header}{body}") });
                }
                None => {
                    ownership.paths.insert(path.clone());
                }
            }
        }
    };
    single(&settings.sysctl, sysctl::render(desired));
    single(&settings.modules, modules::render(desired));
    single(&settings.ipvs, ipvsadm::render(&desired.ipvs));
    single(&settings.boot_unit.as_ref().map(|u| u.path.clone()), settings.boot_unit.as_ref().map(unit::render));
    for directory in &settings.network_off {
        ownership.directories.insert(directory.clone(), NETWORK_FILE_PREFIX.to_string());
    }
    if let Some(directory) = &settings.network {
        ownership.directories.insert(directory.clone(), NETWORK_FILE_PREFIX.to_string());
        for (name, body) in networkd::render(desired) {
            files.insert(
                directory.join(format!("{NETWORK_FILE_PREFIX}{name}")),
                FileState { content: format!("{header}{body}") },
            );
        }
    }
    (files, ownership)
}

/// `path` under `root` (`--root DIR`): how the tool reaches a file of the target system.
pub fn under_root(root: Option<&Path>, path: &Path) -> PathBuf {
    match root {
        Some(root) => root.join(path.strip_prefix("/").unwrap_or(path)),
        None => path.to_path_buf(),
    }
}
