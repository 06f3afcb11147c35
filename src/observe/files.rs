//! Persistence files as they are on disk: exactly the paths the spec renders or owns, and
//! lvs-converge's files in the network directory. Absent files are simply not in the map.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use super::ObserveError;
use crate::model::files::FileState;
use crate::persist::confined::TargetRoot;
use crate::persist::under_root;

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
/// [`crate::persist::confined`]): a link there is an error, not a file.
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
            if name.starts_with(prefix.as_str()) && config && !is_scratch(&name) {
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
