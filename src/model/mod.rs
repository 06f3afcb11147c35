//! Host state as plain data: what the spec wants and what the host has, in the same types.
//!
//! Nothing here performs I/O. Readers in `observe` fill these types from the kernel; the spec
//! layer fills them from YAML; `plan` compares two of them.

pub mod duration;
pub mod ipvs;
pub mod keyed;

use serde::{Deserialize, Serialize};

pub use ipvs::IpvsState;

/// Everything lvs-converge manages on one host (one network namespace).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct HostState {
    #[serde(default)]
    pub ipvs: IpvsState,
}
