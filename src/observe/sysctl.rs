//! Sysctls under /proc/sys. Every name is checked against `SysctlKey`'s grammar and its file
//! opened beneath /proc/sys without following symlinks, whoever handed us the name (a spec,
//! a saved plan, an import): a name must never reach a file outside /proc/sys.

use std::collections::{BTreeMap, BTreeSet};
use std::fs::File;
use std::io::{ErrorKind, Read};
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::fcntl::{OFlag, OpenHow, ResolveFlag};
use nix::sys::stat::Mode;

use super::ObserveError;
use crate::model::sysctl::SysctlKey;

pub const PROC_SYS: &str = "/proc/sys";

/// Where `key` lives, for messages.
pub fn path_of(key: &SysctlKey) -> PathBuf {
    Path::new(PROC_SYS).join(key.relative_path())
}

/// How a sysctl file is opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    Read,
    Write,
}

/// Opens the file of `key` beneath /proc/sys.
pub fn open(key: &SysctlKey, access: Access) -> std::io::Result<File> {
    open_beneath(Path::new(PROC_SYS), &key.relative_path(), access)
}

/// Opens `relative` beneath `top` with openat2(RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS); on a
/// kernel without openat2 (before 5.6), by the canonical path, which must stay under `top`.
fn open_beneath(top: &Path, relative: &Path, access: Access) -> std::io::Result<File> {
    let mode = match access {
        Access::Read => OFlag::O_RDONLY,
        Access::Write => OFlag::O_WRONLY,
    };
    let directory = nix::fcntl::open(top, OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC, Mode::empty())?;
    let how = OpenHow::new()
        .flags(mode | OFlag::O_CLOEXEC | OFlag::O_NOFOLLOW)
        .resolve(ResolveFlag::RESOLVE_BENEATH | ResolveFlag::RESOLVE_NO_SYMLINKS);
    match nix::fcntl::openat2(&directory, relative, how) {
        Ok(fd) => Ok(File::from(fd)),
        // No openat2 (old kernel), or a seccomp filter that refuses it (older container
        // runtimes answer EPERM): the same rule, checked on the resolved path.
        Err(Errno::ENOSYS | Errno::EPERM) => open_by_canonical_path(top, relative, access),
        Err(errno) => Err(errno.into()),
    }
}

fn open_by_canonical_path(top: &Path, relative: &Path, access: Access) -> std::io::Result<File> {
    let top = std::fs::canonicalize(top)?;
    let canonical = std::fs::canonicalize(top.join(relative))?;
    if canonical != top.join(relative) || !canonical.starts_with(&top) {
        return Err(std::io::Error::new(
            ErrorKind::PermissionDenied,
            format!("{} resolves to {}, through a symlink", top.join(relative).display(), canonical.display()),
        ));
    }
    let mut options = std::fs::OpenOptions::new();
    match access {
        Access::Read => options.read(true),
        Access::Write => options.write(true),
    };
    std::os::unix::fs::OpenOptionsExt::custom_flags(&mut options, OFlag::O_NOFOLLOW.bits()).open(&canonical)
}

/// Reads `keys`; a key whose file does not exist (its interface isn't there yet) is absent
/// from the result.
pub fn read(keys: &BTreeSet<String>) -> Result<BTreeMap<String, String>, ObserveError> {
    let mut values = BTreeMap::new();
    for name in keys {
        let key = SysctlKey::parse(name).map_err(|source| ObserveError::SysctlName { name: name.clone(), source })?;
        let path = path_of(&key);
        let mut text = String::new();
        match open(&key, Access::Read).and_then(|mut file| file.read_to_string(&mut text)) {
            Ok(_) => {
                values.insert(name.clone(), text.trim_end().to_string());
            }
            Err(error) if error.kind() == ErrorKind::NotFound => {}
            Err(source) => return Err(ObserveError::Proc { path, source }),
        }
    }
    Ok(values)
}

/// The LVS-relevant keys of the interfaces that exist, for `show` without a spec. An
/// interface whose name the grammar does not cover (the kernel allows more) is left out.
pub fn default_keys(interfaces: impl Iterator<Item = String>) -> BTreeSet<String> {
    let mut keys = BTreeSet::from(["net.ipv4.ip_forward".to_string(), "net.ipv4.vs.conntrack".to_string()]);
    for interface in ["all".to_string(), "default".to_string()].into_iter().chain(interfaces) {
        for name in ["arp_ignore", "arp_announce", "rp_filter"] {
            let key = crate::model::interface_sysctl(&interface, name);
            if SysctlKey::parse(&key).is_ok() {
                keys.insert(key);
            }
        }
    }
    keys
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A stand-in for /proc/sys with a symlink out of it: `net/escape` → the scratch
    /// directory's `outside`, which holds `secret`.
    fn tree(name: &str) -> PathBuf {
        let scratch = std::env::temp_dir().join(format!("lvs-converge-sysctl-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&scratch);
        std::fs::create_dir_all(scratch.join("sys/net/ipv4")).unwrap();
        std::fs::create_dir_all(scratch.join("outside")).unwrap();
        std::fs::write(scratch.join("sys/net/ipv4/ip_forward"), "0\n").unwrap();
        std::fs::write(scratch.join("outside/secret"), "secret\n").unwrap();
        std::os::unix::fs::symlink(scratch.join("outside"), scratch.join("sys/net/escape")).unwrap();
        scratch
    }

    #[test]
    fn files_beneath_the_top_open() {
        let scratch = tree("inside");
        let mut text = String::new();
        open_beneath(&scratch.join("sys"), Path::new("net/ipv4/ip_forward"), Access::Read)
            .unwrap()
            .read_to_string(&mut text)
            .unwrap();
        assert_eq!(text, "0\n");
        open_by_canonical_path(&scratch.join("sys"), Path::new("net/ipv4/ip_forward"), Access::Write).unwrap();
        std::fs::remove_dir_all(scratch).unwrap();
    }

    #[test]
    fn symlinks_and_dot_dot_out_of_the_top_are_refused() {
        let scratch = tree("outside");
        let top = scratch.join("sys");
        for relative in ["net/escape/secret", "net/../../outside/secret", "../outside/secret"] {
            for access in [Access::Read, Access::Write] {
                assert!(open_beneath(&top, Path::new(relative), access).is_err(), "openat2 opened {relative}");
                assert!(
                    open_by_canonical_path(&top, Path::new(relative), access).is_err(),
                    "the fallback opened {relative}"
                );
            }
        }
        assert_eq!(std::fs::read_to_string(scratch.join("outside/secret")).unwrap(), "secret\n");
        std::fs::remove_dir_all(scratch).unwrap();
    }

    #[test]
    fn the_reader_refuses_a_name_outside_the_grammar_before_opening_anything() {
        // /proc/sys/net/ipv4/../../../../proc/version: a file that exists everywhere.
        let traversal = BTreeSet::from(["net.ipv4.//.//.//.//.proc.version".to_string()]);
        let error = read(&traversal).expect_err("a traversal name was read");
        assert!(matches!(error, ObserveError::SysctlName { .. }), "{error}");
    }

    #[test]
    fn interfaces_the_grammar_does_not_cover_are_left_out_of_the_defaults() {
        let keys = default_keys(["eth0.100".to_string(), "..".to_string(), "wg+1".to_string()].into_iter());
        assert!(keys.contains("net.ipv4.conf.eth0/100.rp_filter"));
        assert!(keys.iter().all(|key| SysctlKey::parse(key).is_ok()), "{keys:?}");
    }
}
