//! Host state as plain data: what the spec wants and what the host has, in the same types.
//!
//! Nothing here performs I/O. Readers in `observe` fill these types from the kernel; the spec
//! layer fills them from YAML; `plan` compares two of them.

pub mod addresses;
pub mod duration;
pub mod files;
pub mod ipvs;
pub mod keyed;
pub mod links;
pub mod modules;
pub mod routes;
pub mod sysctl;

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

pub use addresses::Address;
pub use files::FileState;
pub use ipvs::IpvsState;
use keyed::KeyedMap;
pub use links::Link;
pub use routes::Route;

/// The dotted sysctl name of a per-interface IPv4 setting: `net.ipv4.conf.eth0/100.rp_filter`
/// for VLAN `eth0.100`, whose dot the kernel's sysctl tree writes as a slash.
pub fn interface_sysctl(interface: &str, setting: &str) -> String {
    format!("net.ipv4.conf.{}.{setting}", interface.replace('.', "/"))
}

/// Everything lvs-converge manages on one host (one network namespace).
///
/// In a desired state each collection holds what the spec declares; in an observed state,
/// what the host has (for sysctls: the keys that were asked for).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct HostState {
    /// Loaded kernel modules (`/proc/modules`, plus built-ins).
    #[serde(default, skip_serializing_if = "BTreeSet::is_empty")]
    pub modules: BTreeSet<String>,
    #[serde(default, with = "keyed::as_list", skip_serializing_if = "BTreeMap::is_empty")]
    pub links: KeyedMap<Link>,
    /// `net.*` sysctls by dotted name (`net.ipv4.conf.all.arp_ignore`) → value as the kernel
    /// prints it.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub sysctls: BTreeMap<String, String>,
    #[serde(default, with = "keyed::as_list", skip_serializing_if = "BTreeMap::is_empty")]
    pub addresses: KeyedMap<Address>,
    #[serde(default, with = "keyed::as_list", skip_serializing_if = "BTreeMap::is_empty")]
    pub routes: KeyedMap<Route>,
    #[serde(default)]
    pub ipvs: IpvsState,
    /// Persistence files by absolute path (as on the target system, without `--root`). In a
    /// desired state: what the spec renders; observed: those paths that exist.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub files: BTreeMap<PathBuf, FileState>,
}
