//! Persistence files as they are on disk: exactly the paths the spec renders or owns, and
//! lvs-converge's files in the network directory. Absent files are simply not in the map.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use super::ObserveError;
use crate::model::files::FileState;
use crate::target_root::{under_root, TargetRoot};

/// Which files to read.
#[derive(Debug, Clone, Default)]
pub struct FileInterest {
    pub paths: BTreeSet<PathBuf>,
    /// Directory → file name prefix (network configuration).
    pub directories: BTreeMap<PathBuf, String>,
    /// `--root DIR`: every path is read under it.
    pub root: Option<PathBuf>,
}

/// Backups and temporary files of the writer are not configuration.
pub fn is_scratch(name: &str) -> bool {
    name.ends_with(".lvs-converge.bak") || name.ends_with(".lvs-converge.tmp")
}

/// Reads every file of interest beneath the root, never through a symbolic link (see
/// [`crate::target_root`]): a link there is an error, not a file.
pub fn read(interest: &FileInterest) -> Result<BTreeMap<PathBuf, FileState>, ObserveError> {
    let root = interest.root.as_deref();
    let failed = |path: &Path| {
        let shown = under_root(root, path);
        move |source| ObserveError::Proc { path: shown, source }
    };
    let Some(target) = TargetRoot::open(root, false).map_err(failed(Path::new("/")))? else {
        return Ok(BTreeMap::new());
    };
    let mut paths = interest.paths.clone();
    for (directory, prefix) in &interest.directories {
        let Some(opened) = target.directory(directory, false).map_err(failed(directory))? else {
            continue;
        };
        for name in opened.names().map_err(failed(directory))? {
            // Names lvs-converge renders are UTF-8; no other name can be one of them.
            let Some(name) = name.to_str() else { continue };
            let config = name.ends_with(".network") || name.ends_with(".netdev");
            if name.starts_with(prefix.as_str()) && config && !is_scratch(name) {
                paths.insert(directory.join(name));
            }
        }
    }
    let mut files = BTreeMap::new();
    for path in paths {
        if let Some(bytes) = target.read(&path).map_err(failed(&path))? {
            files.insert(path, FileState { content: bytes.into() });
        }
    }
    Ok(files)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    fn scratch(name: &str) -> PathBuf {
        crate::test_support::scratch_dir("observe-files", name)
    }

    fn interest(root: &Path, paths: &[&str], directory: Option<&str>) -> FileInterest {
        FileInterest {
            paths: paths.iter().map(PathBuf::from).collect(),
            directories: directory.map(|d| (PathBuf::from(d), "90-lvs-converge-".to_string())).into_iter().collect(),
            root: Some(root.to_path_buf()),
        }
    }

    /// Finding 6: the reader turned a Latin-1 file into lossy UTF-8 (U+FFFD).
    #[test]
    fn files_are_read_byte_for_byte() {
        let root = scratch("bytes");
        std::fs::create_dir_all(root.join("etc/net")).unwrap();
        std::fs::write(root.join("etc/ipvsadm.rules"), b"# caf\xe9\n").unwrap();
        std::fs::write(root.join("etc/net/90-lvs-converge-tun1.netdev"), "x\n").unwrap();
        std::fs::write(root.join("etc/net/90-lvs-converge-tun1.netdev.lvs-converge.bak"), "x\n").unwrap();
        let files = read(&interest(&root, &["/etc/ipvsadm.rules", "/etc/absent"], Some("/etc/net"))).unwrap();
        let contents: Vec<_> =
            files.iter().map(|(path, file)| (path.display().to_string(), file.content.as_bytes())).collect();
        assert_eq!(
            contents,
            [
                ("/etc/ipvsadm.rules".to_string(), &b"# caf\xe9\n"[..]),
                ("/etc/net/90-lvs-converge-tun1.netdev".to_string(), &b"x\n"[..])
            ]
        );
        assert!(read(&interest(&root.join("absent"), &["/etc/ipvsadm.rules"], None)).unwrap().is_empty());
    }

    /// Finding 4: `plan` read (and showed) files outside the root through a link in it.
    #[test]
    fn links_in_the_root_are_errors_not_files() {
        let base = scratch("links");
        let (root, outside) = (base.join("root"), base.join("outside"));
        std::fs::create_dir_all(root.join("etc")).unwrap();
        std::fs::create_dir_all(&outside).unwrap();
        std::fs::write(outside.join("90-lvs-converge-x.network"), "secret\n").unwrap();
        symlink(&outside, root.join("etc/network")).unwrap();
        symlink(outside.join("90-lvs-converge-x.network"), root.join("etc/sysctl.conf")).unwrap();
        for interest in [interest(&root, &["/etc/sysctl.conf"], None), interest(&root, &[], Some("/etc/network"))] {
            let error = read(&interest).unwrap_err().to_string();
            assert!(error.contains("symbolic link"), "{error}");
        }
    }
}
