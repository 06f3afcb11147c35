//! Persistence files: each rendered file is created or rewritten when its content differs;
//! a file of a kind the spec switched off (or that renders nothing) is deleted when
//! lvs-converge wrote it. A file someone else wrote (no header) is shown but flagged: apply
//! refuses to overwrite it without `--take-over`, and never deletes it. An ipvsadm
//! package's empty stub is neither: it is replaced freely and never deleted (the package
//! owns it).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::compare::{each_difference, transition, HostDifference};
use super::{Action, Change};
use crate::model::files::{FileContent, FileState};
use crate::model::ownership::FileOwnership;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "change", rename_all = "camelCase")]
pub enum FileChange {
    Create {
        path: PathBuf,
        after: FileContent,
    },
    /// `owned`: the file on the host carries lvs-converge's header.
    Update {
        path: PathBuf,
        before: FileContent,
        after: FileContent,
        owned: bool,
    },
    Delete {
        path: PathBuf,
        before: FileContent,
    },
    /// One shell-variable setting (`name="value"`) in a file someone else owns: that line
    /// alone changes (or is appended), the rest stays byte for byte. Needs no
    /// `--take-over`: the spec owns the setting, not the file.
    SetValue {
        path: PathBuf,
        name: String,
        value: String,
        before: FileContent,
        after: FileContent,
    },
    /// Undoes a create: the file lvs-converge wrote (`content`) goes, leaving no backup,
    /// since there was nothing before it. Only rollback makes it, never a plan file.
    #[serde(skip_deserializing)]
    RemoveCreated {
        path: PathBuf,
        content: FileContent,
    },
    /// Undoes an update or delete: `<path>.lvs-converge.bak`, the very file that was there
    /// (`backup`: its bytes; its inode keeps mode and owner), is renamed back over what
    /// lvs-converge wrote (`replaces`, none after a delete). A rename needs no free space.
    /// Only rollback makes it, never a plan file.
    #[serde(skip_deserializing)]
    RestoreBackup {
        path: PathBuf,
        replaces: Option<FileContent>,
        backup: FileContent,
    },
}

/// Changes, and the paths of foreign files that would have been deleted (left alone).
pub fn diff(
    desired: &BTreeMap<PathBuf, FileState>,
    observed: &BTreeMap<PathBuf, FileState>,
    ownership: &FileOwnership,
) -> (Vec<FileChange>, Vec<PathBuf>) {
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
    for (path, settings) in &ownership.settings {
        // No file, no package that reads it: nothing to set.
        let Some(have) = observed.get(path).filter(|_| !desired.contains_key(path)) else { continue };
        let mut content = have.content.clone();
        for (name, value) in settings {
            let after = with_shell_setting(&content, name, value);
            if after != content {
                changes.push(FileChange::SetValue {
                    path: path.clone(),
                    name: name.clone(),
                    value: value.clone(),
                    before: content,
                    after: after.clone(),
                });
                content = after;
            }
        }
    }
    for (path, have) in observed.iter().filter(|(path, _)| !desired.contains_key(*path)) {
        if !ownership.covers(path) {
            continue;
        }
        if have.content.written_by_lvs_converge() {
            changes.push(FileChange::Delete { path: path.clone(), before: have.content.clone() });
        } else if !have.content.is_package_stub() {
            foreign.push(path.clone());
        }
    }
    (changes, foreign)
}

/// `content` with the shell assignment of `name` set to `value`: each uncommented
/// `name=…` line is replaced (an `export` kept), or one is appended. Every other byte stays.
fn with_shell_setting(content: &FileContent, name: &str, value: &str) -> FileContent {
    let assignment = format!("{name}=\"{value}\"");
    let mut out: Vec<u8> = Vec::with_capacity(content.len() + assignment.len() + 1);
    let mut found = false;
    for line in content.as_bytes().split_inclusive(|byte| *byte == b'\n') {
        let text = line.strip_suffix(b"\n").unwrap_or(line);
        let text = text.strip_suffix(b"\r").unwrap_or(text);
        let indent = text.iter().take_while(|byte| matches!(byte, b' ' | b'\t')).count();
        let rest = &text[indent..];
        let (export, rest) = match rest.strip_prefix(b"export ") {
            Some(rest) => (true, rest),
            None => (false, rest),
        };
        if rest.starts_with(format!("{name}=").as_bytes()) {
            found = true;
            out.extend_from_slice(&text[..indent]);
            if export {
                out.extend_from_slice(b"export ");
            }
            out.extend_from_slice(assignment.as_bytes());
            out.extend_from_slice(&line[text.len()..]);
        } else {
            out.extend_from_slice(line);
        }
    }
    if !found {
        if !out.is_empty() && !out.ends_with(b"\n") {
            out.push(b'\n');
        }
        out.extend_from_slice(assignment.as_bytes());
        out.push(b'\n');
    }
    out.into()
}

impl FileChange {
    pub fn path(&self) -> &Path {
        match self {
            FileChange::Create { path, .. }
            | FileChange::Update { path, .. }
            | FileChange::Delete { path, .. }
            | FileChange::SetValue { path, .. }
            | FileChange::RemoveCreated { path, .. }
            | FileChange::RestoreBackup { path, .. } => path,
        }
    }

    /// A file without lvs-converge's header would be overwritten.
    pub fn overwrites_foreign_file(&self) -> bool {
        matches!(self, FileChange::Update { owned: false, .. })
    }

    /// The changes that undo this one: put back the very file that was there (its backup),
    /// or remove the one that was created, without writing new content.
    pub fn inverse(&self) -> Vec<FileChange> {
        vec![match self.clone() {
            FileChange::Create { path, after } => FileChange::RemoveCreated { path, content: after },
            FileChange::Update { path, before, after, .. } => {
                FileChange::RestoreBackup { path, replaces: Some(after), backup: before }
            }
            FileChange::Delete { path, before } => FileChange::RestoreBackup { path, replaces: None, backup: before },
            FileChange::SetValue { path, before, after, .. } => {
                FileChange::RestoreBackup { path, replaces: Some(after), backup: before }
            }
            FileChange::RemoveCreated { path, content } => FileChange::Create { path, after: content },
            FileChange::RestoreBackup { path, replaces: Some(after), backup } => {
                FileChange::Update { path, before: backup, after, owned: true }
            }
            FileChange::RestoreBackup { path, replaces: None, backup } => FileChange::Delete { path, before: backup },
        }]
    }

    /// The content before and after this change (`None`: no file).
    pub fn contents(&self) -> (Option<&FileContent>, Option<&FileContent>) {
        match self {
            FileChange::Create { after, .. } => (None, Some(after)),
            FileChange::Update { before, after, .. } | FileChange::SetValue { before, after, .. } => {
                (Some(before), Some(after))
            }
            FileChange::Delete { before, .. } | FileChange::RemoveCreated { content: before, .. } => {
                (Some(before), None)
            }
            FileChange::RestoreBackup { replaces, backup, .. } => (replaces.as_ref(), Some(backup)),
        }
    }

    /// Create when there was no file, delete when none is left, update otherwise (undoes
    /// included: restoring a backup over a created file updates it).
    pub fn action(&self) -> Action {
        match self.contents() {
            (None, _) => Action::Create,
            (Some(_), Some(_)) => Action::Update,
            (Some(_), None) => Action::Delete,
        }
    }
}

pub fn compare(before: &BTreeMap<PathBuf, FileState>, after: &BTreeMap<PathBuf, FileState>) -> Vec<HostDifference> {
    each_difference(before, after, |path, old, new| {
        let path = path.clone();
        let change = transition(
            old,
            new,
            |after| FileChange::Create { path: path.clone(), after: after.content },
            |before, after| FileChange::Update {
                path: path.clone(),
                owned: before.is_owned(),
                before: before.content,
                after: after.content,
            },
            |before| FileChange::Delete { path: path.clone(), before: before.content },
        );
        vec![HostDifference::Changed(Change::File(change))]
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn files(entries: &[(&str, &str)]) -> BTreeMap<PathBuf, FileState> {
        entries.iter().map(|(p, c)| (PathBuf::from(p), FileState { content: (*c).into() })).collect()
    }

    const OURS: &str = "# Managed by lvs-converge: changes here are overwritten.\na = 1\n";

    #[test]
    fn creates_updates_and_leaves_equal_files_alone() {
        let desired = files(&[("/etc/a", OURS), ("/etc/b", OURS), ("/etc/c", OURS)]);
        let observed = files(&[("/etc/b", OURS), ("/etc/c", "# hand-made\n")]);
        let (changes, foreign) = diff(&desired, &observed, &FileOwnership::default());
        assert!(foreign.is_empty());
        assert_eq!(changes.len(), 2);
        assert!(matches!(&changes[0], FileChange::Create { path, .. } if path == Path::new("/etc/a")));
        assert!(matches!(&changes[1], FileChange::Update { owned: false, .. }));
        assert!(changes[1].overwrites_foreign_file());
    }

    #[test]
    fn deletes_only_owned_files_in_its_scope() {
        let ownership = FileOwnership {
            paths: [PathBuf::from("/etc/off")].into(),
            directories: [(PathBuf::from("/etc/net"), "90-lvs-converge-".to_string())].into(),
            ..Default::default()
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
        assert_eq!(foreign, [PathBuf::from("/etc/net/90-lvs-converge-eth0.network")]);
    }

    /// Finding 18.4: Debian's empty rules stub was "not owned" (take-over needed) and would
    /// have been listed as a foreign file left alone.
    #[test]
    fn a_package_stub_is_replaced_freely_and_never_deleted() {
        let stub = "# emtpy rules file for ipvsadm\n";
        let desired = files(&[("/etc/ipvsadm.rules", "--set 0 0 0\n-A -f 1 -s wlc\n")]);
        let (changes, _) = diff(&desired, &files(&[("/etc/ipvsadm.rules", stub)]), &FileOwnership::default());
        assert!(matches!(&changes[..], [FileChange::Update { owned: true, .. }]), "{changes:?}");
        let ownership = FileOwnership { paths: [PathBuf::from("/etc/ipvsadm.rules")].into(), ..Default::default() };
        let (changes, foreign) = diff(&BTreeMap::new(), &files(&[("/etc/ipvsadm.rules", stub)]), &ownership);
        assert!(changes.is_empty() && foreign.is_empty(), "{changes:?} {foreign:?}");
        let ours = "--set 0 0 0\n-A -f 1 -s wlc\n";
        let (changes, _) = diff(&BTreeMap::new(), &files(&[("/etc/ipvsadm.rules", ours)]), &ownership);
        assert!(matches!(&changes[..], [FileChange::Delete { .. }]), "{changes:?}");
    }

    const DEBIAN_DEFAULTS: &str = "# ipvsadm\n\n# if you want to start ipvsadm on boot set this to true\nAUTO=\"false\"\n\n# daemon method (none|master|backup)\nDAEMON=\"none\"\n\n# use interface (eth0,eth1...)\nIFACE=\"eth0\"\t\n";

    fn auto_true() -> FileOwnership {
        let settings = [("AUTO".to_string(), "true".to_string())].into();
        FileOwnership { settings: [(PathBuf::from("/etc/default/ipvsadm"), settings)].into(), ..Default::default() }
    }

    /// Finding 18.4: with Debian's `AUTO="false"` nothing restored the rules at boot.
    #[test]
    fn a_setting_in_a_foreign_file_changes_that_line_alone() {
        let observed = files(&[("/etc/default/ipvsadm", DEBIAN_DEFAULTS)]);
        let (changes, foreign) = diff(&BTreeMap::new(), &observed, &auto_true());
        assert!(foreign.is_empty());
        let [FileChange::SetValue { before, after, .. }] = &changes[..] else { panic!("{changes:?}") };
        assert_eq!(before.as_text().unwrap(), DEBIAN_DEFAULTS);
        assert_eq!(after.as_text().unwrap(), DEBIAN_DEFAULTS.replace("AUTO=\"false\"", "AUTO=\"true\""));
        assert!(!changes[0].overwrites_foreign_file(), "the spec owns the setting: no --take-over");
        // Set: nothing to do. No file (no ipvsadm package): nothing to do.
        let converged = files(&[("/etc/default/ipvsadm", &DEBIAN_DEFAULTS.replace("\"false\"", "\"true\""))]);
        assert!(diff(&BTreeMap::new(), &converged, &auto_true()).0.is_empty());
        assert!(diff(&BTreeMap::new(), &BTreeMap::new(), &auto_true()).0.is_empty());
        // Undone by putting the very file back.
        assert!(matches!(&changes[0].inverse()[..], [FileChange::RestoreBackup { replaces: Some(_), .. }]));
    }

    #[test]
    fn a_setting_keeps_comments_exports_and_bytes_and_is_appended_when_missing() {
        let set = |text: &[u8]| with_shell_setting(&text.to_vec().into(), "AUTO", "true").as_bytes().to_vec();
        assert_eq!(
            set(b"# AUTO=\"false\"\n  export AUTO=no\r\ncaf\xe9\n"),
            b"# AUTO=\"false\"\n  export AUTO=\"true\"\r\ncaf\xe9\n"
        );
        assert_eq!(set(b"DAEMON=\"none\""), b"DAEMON=\"none\"\nAUTO=\"true\"\n");
        assert_eq!(set(b"AUTOSTART=1\n"), b"AUTOSTART=1\nAUTO=\"true\"\n");
    }

    #[test]
    fn undo_puts_the_backup_back_or_removes_what_was_created() {
        let create = FileChange::Create { path: "/etc/a".into(), after: OURS.into() };
        assert_eq!(create.inverse(), [FileChange::RemoveCreated { path: "/etc/a".into(), content: OURS.into() }]);
        let update =
            FileChange::Update { path: "/etc/a".into(), before: "x\n".into(), after: OURS.into(), owned: true };
        assert_eq!(
            update.inverse(),
            [FileChange::RestoreBackup { path: "/etc/a".into(), replaces: Some(OURS.into()), backup: "x\n".into() }]
        );
        let delete = FileChange::Delete { path: "/etc/a".into(), before: OURS.into() };
        assert_eq!(
            delete.inverse(),
            [FileChange::RestoreBackup { path: "/etc/a".into(), replaces: None, backup: OURS.into() }]
        );
        for change in [create, update, delete] {
            assert_eq!(change.inverse()[0].inverse(), std::slice::from_ref(&change), "undoing the undo is the change");
            // A plan file can only carry what a plan makes.
            let undo = serde_json::to_string(&change.inverse()[0]).unwrap();
            assert!(serde_json::from_str::<FileChange>(&undo).is_err(), "{undo}");
        }
    }
}
