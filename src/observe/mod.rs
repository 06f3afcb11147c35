//! Observers: read-only readers of the host's live state, one per subsystem, plus
//! snapshots of that state on disk (`show` writes them, `plan --observed` reads them).
//! Nothing in this module changes the host; in particular the IPVS table is only read when
//! ip_vs is already loaded, because asking netlink for the IPVS family would load it (on a
//! kernel without module support, asking loads nothing and is the only way to know).

pub mod addresses;
pub mod drains;
pub mod files;
pub mod fou;
pub mod health;
pub mod ipvs;
pub mod links;
pub mod modules;
pub mod routes;
pub mod snapshot;
pub mod sysctl;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use crate::model::{HostState, IpvsState};
use crate::netlink::ipvs::NetlinkError;
use crate::netlink::route::{RouteClient, RouteNetlinkError};

#[derive(Debug, thiserror::Error)]
pub enum ObserveError {
    #[error("reading the IPVS table: {0}")]
    Ipvs(#[source] NetlinkError),
    #[error("{0}")]
    Fou(#[source] crate::netlink::fou::FouNetlinkError),
    #[error("reading links, addresses and routes: {0}")]
    Route(#[source] RouteNetlinkError),
    #[error("refusing to read sysctl `{name}`: {source}\n  hint: {}", crate::model::sysctl::SysctlKeyError::HINT)]
    SysctlName { name: String, source: crate::model::sysctl::SysctlKeyError },
    #[error("reading {}: {source}", .path.display())]
    Proc { path: PathBuf, source: std::io::Error },
    #[error("reading snapshot {path}: {message}\n  hint: snapshots are written by `lvs-converge show`")]
    Snapshot { path: String, message: String },
}

/// Which sysctls to read (all other subsystems are read whole).
#[derive(Debug, Clone, Default)]
pub struct Interest {
    /// None: the LVS-relevant keys of every interface (what `show` prints).
    pub sysctl_keys: Option<BTreeSet<String>>,
    /// Persistence files (none unless the spec has `persist:`).
    pub files: files::FileInterest,
    /// Also the LVS-relevant keys of every interface, for the checks a plan runs (they judge
    /// what the spec leaves out as the host has it).
    pub lvs_sysctls: bool,
    /// The modules wanted: what counts as present on a kernel without module support.
    pub modules: BTreeSet<String>,
}

impl Interest {
    /// What a plan for `desired` needs to see.
    pub fn for_desired(desired: &HostState) -> Self {
        Interest {
            sysctl_keys: Some(desired.sysctls.keys().cloned().collect()),
            files: files::FileInterest { paths: desired.files.keys().cloned().collect(), ..Default::default() },
            lvs_sysctls: false,
            modules: desired.modules.clone(),
        }
    }

    /// Also the sysctls `check` judges, whether the spec sets them or not.
    pub fn with_lvs_sysctls(mut self) -> Self {
        self.lvs_sysctls = true;
        self
    }

    /// Also the files the spec owns without rendering them, all read under `root`.
    pub fn with_files(mut self, ownership: &crate::model::ownership::FileOwnership, root: Option<&Path>) -> Self {
        self.files.paths.extend(ownership.paths.iter().cloned());
        self.files.paths.extend(ownership.settings.keys().cloned());
        self.files.directories.extend(ownership.directories.clone());
        self.files.root = root.map(Path::to_path_buf);
        self
    }
}

/// Reads the live state of the current network namespace.
pub fn observe_host(interest: &Interest) -> Result<HostState, ObserveError> {
    let (mut state, modules) = observe_network(interest)?;
    state.ipvs = match &modules {
        modules::KernelModules::Listed(listed) if !listed.contains("ip_vs") => IpvsState::default(),
        modules::KernelModules::Listed(_) => ipvs::read()?,
        modules::KernelModules::BuiltIn => match ipvs::read() {
            Err(ObserveError::Ipvs(NetlinkError::IpvsUnavailable)) => IpvsState::default(),
            read => read?,
        },
    };
    state.files = files::read(&interest.files)?;
    Ok(state)
}

/// Reads everything but the IPVS table and the files (modules, links, foo-over-UDP ports,
/// sysctls, addresses, routes), and how the kernel lists its modules.
pub fn observe_network(interest: &Interest) -> Result<(HostState, modules::KernelModules), ObserveError> {
    let modules = modules::read()?;
    let mut route = RouteClient::connect().map_err(ObserveError::Route)?;
    let links = links::read(&mut route).map_err(ObserveError::Route)?;
    let addresses = addresses::read(&mut route).map_err(ObserveError::Route)?;
    let routes = routes::read(&mut route).map_err(ObserveError::Route)?;
    let sysctl_keys = match &interest.sysctl_keys {
        Some(keys) if interest.lvs_sysctls => {
            keys.iter().cloned().chain(sysctl::default_keys(links.keys().cloned())).collect()
        }
        Some(keys) => keys.clone(),
        None => sysctl::default_keys(links.keys().cloned()),
    };
    let sysctls = sysctl::read(&sysctl_keys)?;
    let (fou, fou_bound) = fou::read(&modules)?;
    let present = modules.clone().present(&interest.modules);
    let network =
        HostState { modules: present, links, fou, fou_bound, sysctls, addresses, routes, ..HostState::default() };
    Ok((network, modules))
}
