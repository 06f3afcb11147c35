//! Persistence files as they are on disk: exactly the paths the spec renders or owns, and
//! lvs-converge's files in the network directory. Absent files are simply not in the map.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use super::ObserveError;
use crate::model::files::FileState;
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

pub fn read(interest: &FileInterest) -> Result<BTreeMap<PathBuf, FileState>, ObserveError> {
    let root = interest.root.as_deref();
    let mut paths = interest.paths.clone();
    for (directory, prefix) in &interest.directories {
        let entries = match std::fs::read_dir(under_root(root, directory)) {
            Ok(entries) => entries,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => continue,
            Err(source) => return Err(ObserveError::Proc { path: under_root(root, directory), source }),
        };
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            let config = name.ends_with(".network") || name.ends_with(".netdev");
            if name.starts_with(prefix.as_str()) && config && !is_scratch(&name) {
                paths.insert(directory.join(name));
            }
        }
    }
    let mut files = BTreeMap::new();
    for path in paths {
        if let Some(content) = read_one(&under_root(root, &path))? {
            files.insert(path, FileState { content });
        }
    }
    Ok(files)
}

fn read_one(path: &Path) -> Result<Option<String>, ObserveError> {
    match std::fs::read(path) {
        Ok(bytes) => Ok(Some(String::from_utf8_lossy(&bytes).into_owned())),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(ObserveError::Proc { path: path.to_path_buf(), source }),
    }
}
