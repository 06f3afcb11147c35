//! Observers: read-only readers of the host's live state, one per subsystem, plus
//! snapshots of that state on disk (`show` writes them, `plan --observed` reads them).
//! Nothing in this module changes the host.

pub mod ipvs;
pub mod snapshot;

use crate::model::HostState;
use crate::netlink::ipvs::NetlinkError;

#[derive(Debug, thiserror::Error)]
pub enum ObserveError {
    #[error("reading the IPVS table: {0}")]
    Ipvs(#[source] NetlinkError),
    #[error(
        "reading snapshot {path}: {message}\n  hint: snapshots are written by `lvs-converge show`"
    )]
    Snapshot { path: String, message: String },
}

/// Reads the live state of the current network namespace.
pub fn observe_host() -> Result<HostState, ObserveError> {
    Ok(HostState {
        ipvs: ipvs::read()?,
    })
}
