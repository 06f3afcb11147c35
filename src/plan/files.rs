//! Persistence files: each rendered file is created or rewritten when its content differs;
//! a file of a kind the spec switched off (or that renders nothing) is deleted when
//! lvs-converge wrote it. A file someone else wrote (no header) is shown but flagged: apply
//! refuses to overwrite it without `--take-over`, and never deletes it.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::{Action, ChangeView};
use crate::model::files::FileState;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "change", rename_all = "camelCase")]
pub enum FileChange {
    Create {
        path: PathBuf,
        after: String,
    },
    /// `owned`: the file on the host carries lvs-converge's header.
    Update {
        path: PathBuf,
        before: String,
        after: String,
        owned: bool,
    },
    Delete {
        path: PathBuf,
        before: String,
    },
}

/// Which files the spec owns beyond those it renders.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FileOwnership {
    /// Paths of switched-off kinds or kinds with nothing to write: an owned file there is
    /// removed.
    #[serde(default, skip_serializing_if = "BTreeSet::is_empty")]
    pub paths: BTreeSet<PathBuf>,
    /// Directories (network configuration) where the files whose name starts with the
    /// prefix are lvs-converge's.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub directories: BTreeMap<PathBuf, String>,
}

impl FileOwnership {
    pub fn covers(&self, path: &Path) -> bool {
        self.paths.contains(path)
            || match (path.parent(), path.file_name().and_then(|n| n.to_str())) {
                (Some(directory), Some(name)) => {
                    self.directories.get(directory).is_some_and(|prefix| name.starts_with(prefix.as_str()))
                }
                _ => false,
            }
    }
}

/// Changes, and the paths of foreign files that would have been deleted (left alone).
pub fn diff(
    desired: &BTreeMap<PathBuf, FileState>,
    observed: &BTreeMap<PathBuf, FileState>,
    ownership: &FileOwnership,
) -> (Vec<FileChange>, Vec<String>) {
    let mut changes = Vec::new();
    let mut foreign = Vec::new();
    for (path, want) in desired {
        match observed.get(path) {
            None => changes.push(FileChange::Create { path: path.clone(), after: want.content.clone() }),
            Some(have) if have == want => {}
            Some(have) => changes.push(FileChange::Update {
                path: path.clone(),
                before: have.content.clone(),
                after: want.content.clone(),
                owned: have.is_owned(),
            }),
        }
    }
    for (path, have) in observed.iter().filter(|(path, _)| !desired.contains_key(*path)) {
        if !ownership.covers(path) {
            continue;
        }
        if have.is_owned() {
            changes.push(FileChange::Delete { path: path.clone(), before: have.content.clone() });
        } else {
            foreign.push(format!("{} (not written by lvs-converge)", path.display()));
        }
    }
    (changes, foreign)
}

impl FileChange {
    pub fn path(&self) -> &Path {
        match self {
            FileChange::Create { path, .. } | FileChange::Update { path, .. } | FileChange::Delete { path, .. } => path,
        }
    }

    /// A file without lvs-converge's header would be overwritten.
    pub fn overwrites_foreign_file(&self) -> bool {
        matches!(self, FileChange::Update { owned: false, .. })
    }

    /// The changes that undo this one.
    pub fn inverse(&self) -> Vec<FileChange> {
        vec![match self.clone() {
            FileChange::Create { path, after } => FileChange::Delete { path, before: after },
            FileChange::Update { path, before, after, .. } => {
                FileChange::Update { path, before: after, after: before, owned: true }
            }
            FileChange::Delete { path, before } => FileChange::Create { path, after: before },
        }]
    }

    pub fn view(&self) -> ChangeView {
        let (action, before, after) = match self {
            FileChange::Create { after, .. } => (Action::Create, None, Some(serde_json::json!({ "content": after }))),
            FileChange::Update { before, after, owned, .. } => (
                Action::Update,
                Some(serde_json::json!({ "content": before, "owned": owned })),
                Some(serde_json::json!({ "content": after })),
            ),
            FileChange::Delete { before, .. } => (Action::Delete, Some(serde_json::json!({ "content": before })), None),
        };
        ChangeView {
            subsystem: "files",
            action,
            kind: "file",
            id: self.path().display().to_string(),
            fields: vec![],
            before,
            after,
        }
    }

    /// A unified diff from the file on the host to the rendered one, preceded by a warning
    /// when the file is not lvs-converge's.
    pub fn detail(&self) -> String {
        let (before, after) = match self {
            FileChange::Create { after, .. } => ("", after.as_str()),
            FileChange::Update { before, after, .. } => (before.as_str(), after.as_str()),
            FileChange::Delete { before, .. } => (before.as_str(), ""),
        };
        let path = self.path().display().to_string();
        let old = if matches!(self, FileChange::Create { .. }) { "/dev/null".to_string() } else { path.clone() };
        let new = if matches!(self, FileChange::Delete { .. }) { "/dev/null".to_string() } else { path };
        let mut text = String::new();
        if self.overwrites_foreign_file() {
            text.push_str("not owned (no lvs-converge header): apply will refuse without --take-over\n");
        }
        let diff = similar::TextDiff::from_lines(before, after);
        text.push_str(&diff.unified_diff().context_radius(3).header(&old, &new).to_string());
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn files(entries: &[(&str, &str)]) -> BTreeMap<PathBuf, FileState> {
        entries.iter().map(|(p, c)| (PathBuf::from(p), FileState { content: c.to_string() })).collect()
    }

    const OURS: &str = "# Managed by lvs-converge from /s.yaml: changes here are overwritten.\na = 1\n";

    #[test]
    fn creates_updates_and_leaves_equal_files_alone() {
        let desired = files(&[("/etc/a", OURS), ("/etc/b", OURS), ("/etc/c", OURS)]);
        let observed = files(&[("/etc/b", OURS), ("/etc/c", "# hand-made\n")]);
        let (changes, foreign) = diff(&desired, &observed, &FileOwnership::default());
        assert!(foreign.is_empty());
        assert_eq!(changes.len(), 2);
        assert!(matches!(&changes[0], FileChange::Create { path, .. } if path == Path::new("/etc/a")));
        assert!(matches!(&changes[1], FileChange::Update { owned: false, .. }));
        assert!(changes[1].detail().starts_with("not owned"));
    }

    #[test]
    fn deletes_only_owned_files_in_its_scope() {
        let ownership = FileOwnership {
            paths: [PathBuf::from("/etc/off")].into(),
            directories: [(PathBuf::from("/etc/net"), "90-lvs-converge-".to_string())].into(),
        };
        let observed = files(&[
            ("/etc/off", OURS),
            ("/etc/net/90-lvs-converge-tun1.netdev", OURS),
            ("/etc/net/90-lvs-converge-eth0.network", "# mine\n"),
            ("/etc/elsewhere", OURS),
        ]);
        let (changes, foreign) = diff(&BTreeMap::new(), &observed, &ownership);
        let deleted: Vec<_> = changes.iter().map(|c| c.path().display().to_string()).collect();
        assert_eq!(deleted, ["/etc/net/90-lvs-converge-tun1.netdev", "/etc/off"]);
        assert_eq!(foreign, ["/etc/net/90-lvs-converge-eth0.network (not written by lvs-converge)"]);
    }

    #[test]
    fn detail_is_a_unified_diff_of_exactly_the_edit() {
        let change = FileChange::Update {
            path: "/etc/x.conf".into(),
            before: format!("{OURS}b = 2\n"),
            after: format!("{OURS}b = 3\n"),
            owned: true,
        };
        assert_eq!(
            change.detail(),
            "--- /etc/x.conf\n+++ /etc/x.conf\n@@ -1,3 +1,3 @@\n # Managed by lvs-converge from /s.yaml: changes here are overwritten.\n a = 1\n-b = 2\n+b = 3\n"
        );
    }
}
