//! Running against a named network namespace (`--netns NAME`), as `ip netns exec` would.

use std::fs::File;
use std::path::PathBuf;

use nix::sched::{setns, CloneFlags};

#[derive(Debug, thiserror::Error)]
pub enum NetnsError {
    #[error("network namespace `{name}` not found at {path}: {source}\n  hint: list namespaces with `ip netns list`")]
    Open { name: String, path: PathBuf, source: std::io::Error },
    #[error(
        "cannot enter network namespace `{name}`: {source}\n  hint: entering a namespace needs root (CAP_SYS_ADMIN)"
    )]
    Enter { name: String, source: nix::Error },
}

/// Moves this (single-threaded) process into the named namespace. Sockets opened and
/// /proc/sys/net files read afterwards belong to it.
pub fn enter(name: &str) -> Result<(), NetnsError> {
    let path = if name.contains('/') { PathBuf::from(name) } else { PathBuf::from("/run/netns").join(name) };
    let file =
        File::open(&path).map_err(|source| NetnsError::Open { name: name.into(), path: path.clone(), source })?;
    setns(&file, CloneFlags::CLONE_NEWNET).map_err(|source| NetnsError::Enter { name: name.into(), source })
}
