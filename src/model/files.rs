//! Files lvs-converge writes so that the host comes back converged after a reboot: a
//! sysctl.d drop-in, a modules-load.d list, IPVS rules for `ipvsadm-restore`, network
//! configuration and the boot unit. They are host state like any other: desired from the
//! spec, observed from the disk, diffed and applied.

use serde::{Deserialize, Serialize};

/// The first line of every file lvs-converge owns starts with this. A file without it was
/// written by someone else and is never overwritten unless the user says `--take-over`.
pub const HEADER_PREFIX: &str = "# Managed by lvs-converge";

/// One regular file, by content (mode and owner are kept as found; new files get 0644 root).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct FileState {
    pub content: String,
}

impl FileState {
    /// True when lvs-converge wrote this file (its first line is the header).
    pub fn is_owned(&self) -> bool {
        self.content.starts_with(HEADER_PREFIX)
    }
}
