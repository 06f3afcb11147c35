//! Which objects on the host the spec owns beyond those it declares. The spec and the desired
//! stage decide it, the planner and the readers act on it: so it is plain data here, where
//! every stage may use it without depending on the others.

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::health::is_health_service;
use super::ipvs::ServiceKey;
use super::persistence::NETWORK_DROP_IN_NAME;

/// By default only declared objects are managed; everything else is reported as unmanaged.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Ownership {
    pub ipvs: IpvsOwnership,
    #[serde(default)]
    pub files: FileOwnership,
}

/// Services the spec owns without declaring them: with `prune`, undeclared services inside
/// the scope are deleted; without it they are only reported.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct IpvsOwnership {
    pub prune: bool,
    /// Every service on the host.
    pub all: bool,
    /// Every service on these virtual addresses (any protocol and port).
    pub addresses: BTreeSet<IpAddr>,
    /// Every firewall-mark service with these marks.
    pub fwmarks: BTreeSet<u32>,
    /// Remove real servers gracefully: weight 0 first, delete once their connections end
    /// or after this many seconds. None: delete at once.
    #[serde(default)]
    pub drain_timeout: Option<u32>,
}

impl IpvsOwnership {
    /// The hidden health-check services are always covered: lvs-converge made them.
    pub fn covers(&self, key: &ServiceKey) -> bool {
        self.all
            || is_health_service(key)
            || match key {
                ServiceKey::Address { address, .. } => self.addresses.contains(address),
                ServiceKey::FirewallMark { fwmark, .. } => self.fwmarks.contains(fwmark),
            }
    }

    /// Whether an undeclared service on the host is deleted: with `prune`, those the scope
    /// covers; always, a hidden health-check service no check needs any more (no one else
    /// makes services with those marks, and one left behind would keep a path open).
    pub fn deletes_undeclared(&self, key: &ServiceKey) -> bool {
        (self.prune && self.covers(key)) || is_health_service(key)
    }
}

/// Which files the spec owns beyond those it renders.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FileOwnership {
    /// Paths of switched-off kinds or kinds with nothing to write: an owned file there is
    /// removed.
    #[serde(default, skip_serializing_if = "BTreeSet::is_empty")]
    pub paths: BTreeSet<PathBuf>,
    /// Directories (network configuration) where the files whose name starts with the
    /// prefix are lvs-converge's, and so are its drop-ins for the host's `.network` files
    /// ([`NETWORK_DROP_IN_NAME`] in each `<file>.network.d/`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub directories: BTreeMap<PathBuf, String>,
    /// Shell-variable settings (`NAME="value"`) the spec owns in files someone else owns,
    /// such as `AUTO` in Debian's /etc/default/ipvsadm: only that line is ever changed, and
    /// only when the file is there.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub settings: BTreeMap<PathBuf, BTreeMap<String, String>>,
}

impl FileOwnership {
    pub fn covers(&self, path: &Path) -> bool {
        self.paths.contains(path)
            || match (path.parent(), path.file_name().and_then(|n| n.to_str())) {
                (Some(directory), Some(name)) => {
                    self.directories.get(directory).is_some_and(|prefix| name.starts_with(prefix.as_str()))
                        || (name == NETWORK_DROP_IN_NAME && self.covers_drop_in_directory(directory))
                }
                _ => false,
            }
    }

    fn covers_drop_in_directory(&self, directory: &Path) -> bool {
        let drop_ins = directory.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.ends_with(".network.d"));
        drop_ins && directory.parent().is_some_and(|parent| self.directories.contains_key(parent))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::health::HEALTH_MARK_FIRST;
    use crate::model::ipvs::Family;

    #[test]
    fn health_check_services_are_owned_and_deleted_without_prune_and_strangers_are_not() {
        let ownership = IpvsOwnership::default();
        let hidden = ServiceKey::FirewallMark { fwmark: HEALTH_MARK_FIRST + 3, family: Family::Ipv4 };
        let stranger = ServiceKey::FirewallMark { fwmark: HEALTH_MARK_FIRST - 1, family: Family::Ipv4 };
        assert!(ownership.covers(&hidden) && ownership.deletes_undeclared(&hidden));
        assert!(!ownership.covers(&stranger) && !ownership.deletes_undeclared(&stranger));
        let pruning = IpvsOwnership { prune: true, fwmarks: [7].into(), ..IpvsOwnership::default() };
        let owned = ServiceKey::FirewallMark { fwmark: 7, family: Family::Ipv4 };
        assert!(pruning.deletes_undeclared(&owned) && !pruning.deletes_undeclared(&stranger));
    }
}
