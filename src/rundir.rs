//! lvs-converge's runtime files under /run (gone at reboot, like the kernel state they
//! describe), one set per network namespace.

use std::os::unix::fs::MetadataExt;
use std::path::PathBuf;

pub const RUN_DIR: &str = "/run/lvs-converge";

/// Unix seconds now: the clock drain records, readings and saved plans are stamped with
/// (0 if the clock is before 1970).
pub fn unix_now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

/// `/run/lvs-converge/<stem>-netns-<inode>.<extension>` for the current network namespace
/// (namespaces are told apart by the inode of /proc/self/ns/net).
pub fn per_netns(stem: &str, extension: &str) -> std::io::Result<PathBuf> {
    let namespace = std::fs::metadata("/proc/self/ns/net")?;
    Ok(PathBuf::from(RUN_DIR).join(format!("{stem}-netns-{}.{extension}", namespace.ino())))
}
