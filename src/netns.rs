//! Running against a named network namespace (`--netns NAME`), as `ip netns exec` would.

use std::fs::File;
use std::path::PathBuf;

use nix::errno::Errno;
use nix::sched::{setns, CloneFlags};
use nix::sys::statfs::{fstatfs, NSFS_MAGIC};

#[derive(Debug, thiserror::Error)]
pub enum NetnsError {
    #[error("network namespace `{name}` not found at {path}: {source}\n  hint: list namespaces with `ip netns list`")]
    Open { name: String, path: PathBuf, source: std::io::Error },
    #[error("`{name}` is not a network namespace: {path} {what}\n  hint: give a name from `ip netns list`, or the path of a network namespace such as /run/netns/NAME or /proc/PID/ns/net", path = .path.display())]
    NotANetworkNamespace { name: String, path: PathBuf, what: &'static str },
    #[error(
        "cannot enter network namespace `{name}`: {source}\n  hint: entering a namespace needs root (CAP_SYS_ADMIN)"
    )]
    NotPermitted { name: String, source: Errno },
    #[error("cannot enter network namespace `{name}`: {source}")]
    Enter { name: String, source: Errno },
}

/// Moves this (single-threaded) process into the named namespace. Sockets opened and
/// /proc/sys/net files read afterwards belong to it.
pub fn enter(name: &str) -> Result<(), NetnsError> {
    let path = if name.contains('/') { PathBuf::from(name) } else { PathBuf::from("/run/netns").join(name) };
    let file =
        File::open(&path).map_err(|source| NetnsError::Open { name: name.into(), path: path.clone(), source })?;
    let not_a_network_namespace =
        |what| NetnsError::NotANetworkNamespace { name: name.into(), path: path.clone(), what };
    // Namespaces live on nsfs; anything else (a regular file, a /run/netns entry whose
    // bind mount is gone) would only earn a bare EINVAL from setns.
    if !fstatfs(&file).is_ok_and(|fs| fs.filesystem_type() == NSFS_MAGIC) {
        return Err(not_a_network_namespace("is not a namespace file (not on nsfs)"));
    }
    setns(&file, CloneFlags::CLONE_NEWNET).map_err(|source| match source {
        // On nsfs, EINVAL means a namespace of another kind (/proc/PID/ns/uts …).
        Errno::EINVAL => not_a_network_namespace("is a namespace of another kind"),
        Errno::EPERM | Errno::EACCES => NetnsError::NotPermitted { name: name.into(), source },
        _ => NetnsError::Enter { name: name.into(), source },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Issue 18: `--netns /etc/passwd` was hinted as needing root.
    #[test]
    fn a_file_that_is_no_namespace_is_named_as_such_without_the_root_hint() {
        let error = enter("/etc/passwd").unwrap_err().to_string();
        assert!(
            error.starts_with("`/etc/passwd` is not a network namespace: /etc/passwd is not a namespace file"),
            "{error}"
        );
        assert!(!error.contains("root"), "{error}");
    }

    #[test]
    fn a_namespace_of_another_kind_is_not_a_network_namespace() {
        // setns checks the kind before the caller's privileges: this fails for root too.
        let error = enter("/proc/self/ns/uts").unwrap_err().to_string();
        assert!(error.contains("is a namespace of another kind"), "{error}");
        assert!(!error.contains("root"), "{error}");
    }
}
