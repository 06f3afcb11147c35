//! Writing persistence files safely: a temp file in the same directory, fsync, rename over
//! the old file, fsync the directory. A crash at any point leaves either the old or the new
//! file, never a torn one. The existing file's mode and owner are kept, the file it
//! replaces stays as `<path>.lvs-converge.bak` (the same inode: one backup), and nothing is
//! written when the content is already right. A file without lvs-converge's header is not
//! overwritten or removed unless the user passed `--take-over`; setting one value the spec
//! owns in it (`SetValue`) is not an overwrite.
//!
//! Every path is reached beneath the root without following links
//! ([`crate::target_root`]). A change is made only if the file is still as the plan
//! saw it, so that its undo is exact: undoing a write or a removal renames the backup back
//! (its bytes, mode and owner; no new space needed, a full disk does not block it), undoing
//! a create removes the file and leaves no backup behind.

use std::ffi::{OsStr, OsString};
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use nix::sys::stat::FileStat;

use super::live::Kernel;
use super::memory::MemoryHost;
use super::{Applier, ChangeError, ChangeOutcome};
use crate::fault;
use crate::model::files::{FileContent, FileState};
use crate::plan::{Change, FileChange, Plan};
use crate::target_root::{Directory, TargetRoot};

/// Mode of files lvs-converge creates.
const NEW_FILE_MODE: u32 = 0o644;

const BACKUP_SUFFIX: &str = ".lvs-converge.bak";

pub fn backup_path(path: &Path) -> PathBuf {
    let mut text = path.as_os_str().to_owned();
    text.push(BACKUP_SUFFIX);
    PathBuf::from(text)
}

fn backup_name(name: &OsStr) -> OsString {
    let mut backup = name.to_owned();
    backup.push(BACKUP_SUFFIX);
    backup
}

fn temp_name(name: &OsStr) -> OsString {
    let mut temp = OsString::from(".");
    temp.push(name);
    temp.push(".lvs-converge.tmp");
    temp
}

fn take_over_hint(path: &Path) -> String {
    format!(
        "refusing to overwrite {}: it was not written by lvs-converge (no header)\n  hint: move your settings into the spec, then run apply --take-over to replace the file (the old one is kept as {})",
        path.display(),
        backup_path(path).display()
    )
}

/// Before anything changes: the plan must not overwrite a foreign file unless allowed.
pub fn check_take_over(plan: &Plan, take_over: bool) -> Result<(), String> {
    if take_over {
        return Ok(());
    }
    let foreign: Vec<&Path> = plan
        .changes
        .iter()
        .filter_map(|p| match &p.change {
            Change::File(change) if change.overwrites_foreign_file() => Some(change.path()),
            _ => None,
        })
        .collect();
    match foreign.first() {
        None => Ok(()),
        Some(first) if foreign.len() == 1 => Err(take_over_hint(first)),
        Some(_) => Err(format!(
            "refusing to overwrite {} files not written by lvs-converge (no header): {}\n  hint: move your settings into the spec, then run apply --take-over (each old file is kept as <path>.lvs-converge.bak)",
            foreign.len(),
            foreign.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", ")
        )),
    }
}

/// One file's directory, its name there, and how the user sees it.
struct Slot {
    directory: Directory,
    name: OsString,
    shown: PathBuf,
}

impl Slot {
    fn failed(&self, what: &str, error: std::io::Error) -> ChangeError {
        ChangeError::io(format!("{what} {}: {error:?}", self.shown.display()), &error)
    }

    fn read(&self, name: &OsStr) -> Result<Option<FileContent>, ChangeError> {
        let shown = self.directory.shown_entry(name);
        self.directory
            .read(name)
            .map(|bytes| bytes.map(FileContent::from))
            .map_err(|e| ChangeError::io(format!("reading {}: {e}", shown.display()), &e))
    }
}

impl Applier for FileChange {
    fn over_netlink(&self) -> bool {
        false
    }

    fn live(&self, kernel: &mut Kernel) -> ChangeOutcome {
        apply(self, kernel.root(), kernel.takes_over()).into()
    }

    /// The checks the file applier makes (the file must be as planned; a foreign file is
    /// not overwritten without take-over; a backup must be what it was), on a map of files.
    fn in_memory(&self, host: &mut MemoryHost) -> Result<(), ChangeError> {
        let path = self.path().to_path_buf();
        let current = host.state.files.get(&path).map(|file| file.content.clone());
        let forward = matches!(self, FileChange::Create { .. } | FileChange::Update { .. } | FileChange::Delete { .. });
        let foreign = current.as_ref().is_some_and(|content| !FileState { content: content.clone() }.is_owned());
        if forward && foreign && !host.take_over {
            return Err(ChangeError::new(take_over_hint(&path)));
        }
        let as_planned = |planned: Option<&FileContent>| match (current.as_ref(), planned) {
            (Some(current), Some(planned)) if current == planned => Ok(()),
            (None, None) => Ok(()),
            (Some(_), None) => Err(ChangeError::new(changed_since_plan(&path, "it was created"))),
            (None, Some(_)) => Err(ChangeError::new(changed_since_plan(&path, "it was removed"))),
            (Some(_), Some(_)) => Err(ChangeError::new(changed_since_plan(&path, "its content differs"))),
        };
        let write = |host: &mut MemoryHost, content: &FileContent| {
            host.state.files.insert(path.clone(), FileState { content: content.clone() });
        };
        match self {
            FileChange::Create { after, .. } => {
                as_planned(None)?;
                write(host, after);
            }
            FileChange::Update { before, after, .. } | FileChange::SetValue { before, after, .. } => {
                as_planned(Some(before))?;
                if before != after {
                    host.backups.insert(path.clone(), before.clone());
                    write(host, after);
                }
            }
            FileChange::Delete { before, .. } => {
                as_planned(Some(before))?;
                host.backups.insert(path.clone(), before.clone());
                host.state.files.remove(&path);
            }
            FileChange::RemoveCreated { content, .. } => match current {
                None => {}
                Some(current) if current == *content => {
                    host.state.files.remove(&path);
                }
                Some(_) => return Err(ChangeError::new(changed_since_apply(&path))),
            },
            FileChange::RestoreBackup { replaces, backup, .. } => {
                if host.backups.get(&path) != Some(backup) {
                    return Err(ChangeError::new(format!(
                        "{} no longer holds {} as it was: nothing was restored",
                        backup_path(&path).display(),
                        path.display()
                    )));
                }
                if current.as_ref() != replaces.as_ref() {
                    return Err(ChangeError::new(changed_since_apply(&path)));
                }
                let restored = host.backups.remove(&path).expect("checked above");
                write(host, &restored);
            }
        }
        Ok(())
    }
}

/// Carries out one file change beneath `root` (`--root`, or `/`).
pub fn apply(change: &FileChange, root: Option<&Path>, take_over: bool) -> Result<(), ChangeError> {
    let target = TargetRoot::open(root, true)
        .map_err(|e| {
            ChangeError::io(format!("opening the root {}: {e}", root.unwrap_or(Path::new("/")).display()), &e)
        })?
        .ok_or_else(|| ChangeError::new("the root directory vanished"))?;
    let path = change.path();
    let shown = target.shown(path);
    let create = matches!(change, FileChange::Create { .. });
    let parent = target
        .parent(path, create)
        .map_err(|e| ChangeError::io(format!("opening the directory of {}: {e}", shown.display()), &e))?;
    let Some((directory, name)) = parent else {
        return match change {
            FileChange::RemoveCreated { .. } => Ok(()),
            _ => Err(ChangeError::new(changed_since_plan(&shown, "its directory is gone"))),
        };
    };
    let slot = Slot { directory, name, shown };
    let current = slot.read(&slot.name)?;
    let forward = matches!(change, FileChange::Create { .. } | FileChange::Update { .. } | FileChange::Delete { .. });
    if forward && !take_over && current.as_ref().is_some_and(|c| !c.is_owned()) {
        return Err(ChangeError::new(take_over_hint(path)));
    }
    match change {
        FileChange::Create { after, .. } => {
            expect_as_planned(&slot, current.as_ref(), None)?;
            write(&slot, after, None)
        }
        FileChange::Update { before, after, .. } | FileChange::SetValue { before, after, .. } => {
            expect_as_planned(&slot, current.as_ref(), Some(before))?;
            let status = slot.directory.regular_file(&slot.name).map_err(|e| slot.failed("reading", e))?;
            write(&slot, after, status)
        }
        FileChange::Delete { before, .. } => {
            expect_as_planned(&slot, current.as_ref(), Some(before))?;
            let backup = backup_name(&slot.name);
            slot.directory.rename(&slot.name, &backup).map_err(|e| slot.failed("removing", e))?;
            made_durable(&slot.directory)
        }
        FileChange::RemoveCreated { content, .. } => match current {
            None => Ok(()),
            Some(current) if current == *content => {
                slot.directory.remove(&slot.name).map_err(|e| slot.failed("removing", e))?;
                made_durable(&slot.directory)
            }
            Some(_) => Err(ChangeError::new(changed_since_apply(&slot.shown))),
        },
        FileChange::RestoreBackup { replaces, backup, .. } => {
            let backup_name = backup_name(&slot.name);
            if slot.read(&backup_name)?.as_ref() != Some(backup) {
                return Err(ChangeError::new(format!(
                    "{} no longer holds {} as it was: nothing was restored\n  hint: compare the two files and restore the right content by hand",
                    slot.directory.shown_entry(&backup_name).display(),
                    slot.shown.display()
                )));
            }
            if current.as_ref() != replaces.as_ref() {
                return Err(ChangeError::new(changed_since_apply(&slot.shown)));
            }
            slot.directory.rename(&backup_name, &slot.name).map_err(|e| slot.failed("restoring", e))?;
            made_durable(&slot.directory)
        }
    }
}

fn changed_since_plan(shown: &Path, how: &str) -> String {
    format!(
        "{} changed since the plan was made ({how}): nothing was written\n  hint: run plan again to see the file as it is now",
        shown.display()
    )
}

fn changed_since_apply(shown: &Path) -> String {
    format!(
        "{} changed since apply wrote it: left as it is\n  hint: something else writes this file; check it by hand",
        shown.display()
    )
}

/// The file must be as the plan saw it: otherwise the change (and its undo) would act on
/// something nobody reviewed.
fn expect_as_planned(
    slot: &Slot,
    current: Option<&FileContent>,
    planned: Option<&FileContent>,
) -> Result<(), ChangeError> {
    let changed = |how| Err(ChangeError::new(changed_since_plan(&slot.shown, how)));
    match (current, planned) {
        (Some(current), Some(planned)) if current == planned => Ok(()),
        (None, None) => Ok(()),
        (Some(_), None) => changed("it was created"),
        (None, Some(_)) => changed("it was removed"),
        (Some(_), Some(_)) => changed("its content differs"),
    }
}

/// Writes `content` atomically over the file (`existing`: its status, `None` if there is
/// none) unless it is already there, keeping the replaced file as the backup.
fn write(slot: &Slot, content: &FileContent, existing: Option<FileStat>) -> Result<(), ChangeError> {
    let directory = &slot.directory;
    if existing.is_some() && slot.read(&slot.name)?.as_ref() == Some(content) {
        return Ok(());
    }
    let temp = temp_name(&slot.name);
    let temp_shown = directory.shown_entry(&temp);
    let failed = |what: &str, error: std::io::Error| {
        ChangeError::io(format!("{what} {}: {error:?}", temp_shown.display()), &error)
    };
    directory.remove(&temp).map_err(|e| failed("removing the leftover", e))?;
    let mode = existing.map_or(NEW_FILE_MODE, |status| status.st_mode & 0o7777);
    let mut file = directory.create_new(&temp, mode).map_err(|e| failed("creating", e))?;
    let written = (|| -> std::io::Result<()> {
        file.write_all(content.as_bytes())?;
        // The umask may have narrowed the mode; owner as before (root's files stay root's).
        file.set_permissions(std::fs::Permissions::from_mode(mode))?;
        if let Some(status) = &existing {
            std::os::unix::fs::fchown(&file, Some(status.st_uid), Some(status.st_gid))?;
        }
        file.sync_all()
    })();
    drop(file);
    let renamed = written.map_err(|e| failed("writing", e)).and_then(|()| {
        if let Some(status) = &existing {
            keep_backup(slot, status)?;
        }
        fault::point("file-before-rename");
        directory.rename(&temp, &slot.name).map_err(|e| slot.failed("renaming the new file over", e))
    });
    if let Err(error) = renamed {
        let _ = directory.remove(&temp);
        return Err(error);
    }
    made_durable(directory)
}

/// Syncs the directory of a rename or removal that has already taken effect. A failed sync
/// does not undo it: the change is in place and must be reported (and rolled back) as
/// made; only whether it survives a power loss is in doubt, and the next plan shows that.
fn made_durable(directory: &Directory) -> Result<(), ChangeError> {
    let _ = directory.sync();
    Ok(())
}

/// `<path>.lvs-converge.bak` becomes the current file: a hard link to its inode, so the
/// rename over it keeps its bytes, mode and owner; a copy with the same mode and owner where
/// links don't work.
fn keep_backup(slot: &Slot, status: &FileStat) -> Result<(), ChangeError> {
    let directory = &slot.directory;
    let backup = backup_name(&slot.name);
    let failed = |error: std::io::Error| {
        ChangeError::io(format!("keeping a backup of {}: {error:?}", slot.shown.display()), &error)
    };
    directory.remove(&backup).map_err(failed)?;
    if directory.hard_link(&slot.name, &backup).is_ok() {
        return Ok(());
    }
    let content = slot.read(&slot.name)?.unwrap_or_default();
    let mode = status.st_mode & 0o7777;
    let mut copy = directory.create_new(&backup, mode).map_err(failed)?;
    let copied = (|| -> std::io::Result<()> {
        copy.write_all(content.as_bytes())?;
        copy.set_permissions(std::fs::Permissions::from_mode(mode))?;
        std::os::unix::fs::fchown(&copy, Some(status.st_uid), Some(status.st_gid))?;
        copy.sync_all()
    })();
    copied.map_err(|error| {
        let _ = directory.remove(&backup);
        failed(error)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::{symlink, MetadataExt};

    fn scratch(name: &str) -> PathBuf {
        crate::test_support::scratch_dir("files", name)
    }

    const OURS: &str = "# Managed by lvs-converge from /s.yaml: changes here are overwritten.\n";

    fn create(path: &str, after: &str) -> FileChange {
        FileChange::Create { path: path.into(), after: after.into() }
    }

    fn update(path: &str, before: impl Into<FileContent>, after: &str, owned: bool) -> FileChange {
        FileChange::Update { path: path.into(), before: before.into(), after: after.into(), owned }
    }

    fn undo(change: &FileChange, root: &Path) -> Result<(), ChangeError> {
        change.inverse().iter().try_for_each(|inverse| apply(inverse, Some(root), false))
    }

    /// Everything that makes a file the same file: bytes, mode, owner, inode.
    fn identity(path: &Path) -> (Vec<u8>, u32, u32, u32, u64) {
        let metadata = std::fs::symlink_metadata(path).unwrap();
        (std::fs::read(path).unwrap(), metadata.mode(), metadata.uid(), metadata.gid(), metadata.ino())
    }

    fn names(dir: &Path) -> Vec<String> {
        let mut names: Vec<_> =
            std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
        names.sort();
        names
    }

    fn running_as_root() -> bool {
        nix::unistd::geteuid().is_root()
    }

    #[test]
    fn creates_parents_and_a_0644_file_without_backup() {
        let root = scratch("create");
        apply(&create("/etc/sysctl.d/90.conf", "a = 1\n"), Some(&root), false).unwrap();
        let path = root.join("etc/sysctl.d/90.conf");
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "a = 1\n");
        assert_eq!(std::fs::metadata(&path).unwrap().mode() & 0o7777, 0o644);
        assert_eq!(std::fs::metadata(path.parent().unwrap()).unwrap().mode() & 0o7777, 0o755);
        assert_eq!(names(path.parent().unwrap()), ["90.conf"]);
    }

    #[test]
    fn keeps_mode_and_one_backup_and_does_not_touch_equal_content() {
        let root = scratch("update");
        let path = root.join("rules");
        std::fs::write(&path, format!("{OURS}old\n")).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        apply(&update("/rules", format!("{OURS}old\n"), &format!("{OURS}new\n"), true), Some(&root), false).unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), format!("{OURS}new\n"));
        assert_eq!(std::fs::metadata(&path).unwrap().mode() & 0o777, 0o600);
        assert_eq!(std::fs::read_to_string(backup_path(&path)).unwrap(), format!("{OURS}old\n"));
        apply(&update("/rules", format!("{OURS}new\n"), &format!("{OURS}newer\n"), true), Some(&root), false).unwrap();
        assert_eq!(std::fs::read_to_string(backup_path(&path)).unwrap(), format!("{OURS}new\n"));

        // Same content: not written at all (inode and mtime unchanged).
        let before = std::fs::metadata(&path).unwrap();
        std::thread::sleep(std::time::Duration::from_millis(20));
        let slot = Slot {
            directory: TargetRoot::open(Some(&root), false)
                .unwrap()
                .unwrap()
                .directory(Path::new("/"), false)
                .unwrap()
                .unwrap(),
            name: "rules".into(),
            shown: path.clone(),
        };
        write(&slot, &format!("{OURS}newer\n").into(), slot.directory.regular_file(&slot.name).unwrap()).unwrap();
        let after = std::fs::metadata(&path).unwrap();
        assert_eq!(
            (before.ino(), before.mtime(), before.mtime_nsec()),
            (after.ino(), after.mtime(), after.mtime_nsec())
        );
    }

    #[test]
    fn refuses_foreign_files_unless_taking_over() {
        let root = scratch("foreign");
        let path = root.join("etc/ipvsadm.rules");
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, "-A -t 192.0.2.1:80 -s rr\n").unwrap();
        let change = update(
            "/etc/ipvsadm.rules",
            "-A -t 192.0.2.1:80 -s rr\n",
            &format!("{OURS}-A -t 192.0.2.1:80 -s wlc\n"),
            false,
        );
        let error = apply(&change, Some(&root), false).unwrap_err();
        assert!(error.message.starts_with("refusing to overwrite /etc/ipvsadm.rules"), "{error:?}");
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "-A -t 192.0.2.1:80 -s rr\n");
        apply(&change, Some(&root), true).unwrap();
        assert!(std::fs::read_to_string(&path).unwrap().starts_with(OURS));
        assert_eq!(std::fs::read_to_string(backup_path(&path)).unwrap(), "-A -t 192.0.2.1:80 -s rr\n");
        // Now it is ours: removing it keeps the last content as the backup.
        let content = std::fs::read_to_string(&path).unwrap();
        let delete = FileChange::Delete { path: "/etc/ipvsadm.rules".into(), before: content.clone().into() };
        apply(&delete, Some(&root), false).unwrap();
        assert!(!path.exists());
        assert_eq!(std::fs::read_to_string(backup_path(&path)).unwrap(), content);
    }

    /// Issue 18, persistence finding 4: one setting the spec owns in Debian's
    /// /etc/default/ipvsadm is written without --take-over; undone, the very file is back.
    #[test]
    fn a_setting_is_written_into_a_foreign_file_without_take_over_and_undone() {
        let root = scratch("set-value");
        let path = root.join("etc/default/ipvsadm");
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, "# mine\nAUTO=\"false\"\n").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        let before = identity(&path);
        let change = FileChange::SetValue {
            path: "/etc/default/ipvsadm".into(),
            name: "AUTO".into(),
            value: "true".into(),
            before: "# mine\nAUTO=\"false\"\n".into(),
            after: "# mine\nAUTO=\"true\"\n".into(),
        };
        apply(&change, Some(&root), false).unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "# mine\nAUTO=\"true\"\n");
        assert_eq!(std::fs::metadata(&path).unwrap().mode() & 0o777, 0o600, "mode kept");
        undo(&change, &root).unwrap();
        assert_eq!(identity(&path), before);
    }

    /// Finding 6: a Latin-1 file taken over, then rolled back, came back as lossy UTF-8
    /// (U+FFFD) with its original bytes gone.
    #[test]
    fn a_latin1_file_taken_over_and_undone_is_the_same_file_again() {
        let root = scratch("latin1");
        let path = root.join("etc/ipvsadm.rules");
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        let latin1 = b"# caf\xe9 r\xe8gles\n-A -t 192.0.2.1:80 -s rr\n".to_vec();
        std::fs::write(&path, &latin1).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o640)).unwrap();
        if running_as_root() {
            std::os::unix::fs::chown(&path, Some(1234), Some(5678)).unwrap();
        }
        let original = identity(&path);
        let change = update("/etc/ipvsadm.rules", latin1, &format!("{OURS}-A -t 192.0.2.1:80 -s wlc\n"), false);
        apply(&change, Some(&root), true).unwrap();
        assert!(std::fs::read_to_string(&path).unwrap().starts_with(OURS));
        undo(&change, &root).unwrap();
        assert_eq!(identity(&path), original, "bytes, mode, owner and inode are back");
        assert_eq!(names(path.parent().unwrap()), ["ipvsadm.rules"], "no backup or temp file left");
    }

    /// Finding 6: undoing a create left a stray backup; undoing a delete recreated the file
    /// 0644 root:root.
    #[test]
    fn undoing_a_create_or_a_delete_leaves_the_directory_as_it_was() {
        let root = scratch("undo");
        let dir = root.join("etc");
        let created = create("/etc/modules-load.d.conf", &format!("{OURS}ip_vs\n"));
        std::fs::create_dir_all(&dir).unwrap();
        apply(&created, Some(&root), false).unwrap();
        undo(&created, &root).unwrap();
        assert!(names(&dir).is_empty(), "{:?}", names(&dir));

        let path = dir.join("sysctl.conf");
        std::fs::write(&path, format!("{OURS}a = 1\n")).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        if running_as_root() {
            std::os::unix::fs::chown(&path, Some(4321), Some(8765)).unwrap();
        }
        let original = identity(&path);
        let deleted = FileChange::Delete { path: "/etc/sysctl.conf".into(), before: format!("{OURS}a = 1\n").into() };
        apply(&deleted, Some(&root), false).unwrap();
        assert!(!path.exists());
        undo(&deleted, &root).unwrap();
        assert_eq!(identity(&path), original);
        assert_eq!(names(&dir), ["sysctl.conf"]);
    }

    /// Finding 6: on a full disk, undoing needed new space and failed. A rename needs none.
    /// A 64 KiB tmpfs where the system lets us mount one (root); skipped elsewhere.
    #[test]
    fn undo_succeeds_on_a_full_disk() {
        struct Mounted(PathBuf);
        impl Drop for Mounted {
            fn drop(&mut self) {
                let _ = std::process::Command::new("umount").arg(&self.0).status();
                let _ = std::fs::remove_dir(&self.0);
            }
        }
        let root = std::env::temp_dir().join(format!("lvs-converge-files-{}-full", std::process::id()));
        std::fs::create_dir_all(&root).unwrap();
        let mounted = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", "size=64k,mode=0755", "lvs-converge-test"])
            .arg(&root)
            .status()
            .is_ok_and(|status| status.success());
        if !mounted {
            let _ = std::fs::remove_dir(&root);
            eprintln!("skipped: cannot mount a tmpfs here (needs root)");
            return;
        }
        let _mounted = Mounted(root.clone());
        let path = root.join("ipvsadm.rules");
        let before = format!("{OURS}{}", "-A -t 192.0.2.1:80 -s rr\n".repeat(400));
        std::fs::write(&path, &before).unwrap();
        let original = identity(&path);
        let change = update("/ipvsadm.rules", before.as_str(), &format!("{OURS}-A -t 192.0.2.1:80 -s wlc\n"), true);
        apply(&change, Some(&root), false).unwrap();
        // Fill the disk to the last byte.
        let mut filler = std::fs::File::create(root.join("filler")).unwrap();
        while filler.write_all(&[0; 4096]).is_ok() {}
        while filler.write_all(&[0; 1]).is_ok() {}
        assert_eq!(
            std::fs::write(root.join("probe"), before.as_bytes()).unwrap_err().raw_os_error(),
            Some(nix::libc::ENOSPC),
            "the disk is full"
        );
        let _ = std::fs::remove_file(root.join("probe"));
        undo(&change, &root).unwrap();
        assert_eq!(identity(&path), original);
    }

    /// Finding 6 end to end, through apply's journal and the live host: a taken-over
    /// Latin-1 file, a deleted and a created file, then a later change fails. Rollback
    /// leaves every file as it was (bytes, mode, owner, inode) and no backup behind.
    #[test]
    fn a_failed_apply_rolls_the_files_back_exactly() {
        use crate::apply::{execute, live::LiveHost, ApplyError, ApplyOptions, Journal, Outcome};
        use crate::observe::{files::FileInterest, Interest};
        use crate::plan::Planned;

        let base = scratch("rollback");
        let (root, outside) = (base.join("root"), base.join("outside"));
        let etc = root.join("etc");
        std::fs::create_dir_all(&etc).unwrap();
        std::fs::create_dir_all(&outside).unwrap();
        let latin1 = b"# r\xe8gles\n-A -t 192.0.2.1:80 -s rr\n".to_vec();
        std::fs::write(etc.join("ipvsadm.rules"), &latin1).unwrap();
        std::fs::set_permissions(etc.join("ipvsadm.rules"), std::fs::Permissions::from_mode(0o640)).unwrap();
        std::fs::write(etc.join("old.conf"), format!("{OURS}x\n")).unwrap();
        std::fs::set_permissions(etc.join("old.conf"), std::fs::Permissions::from_mode(0o600)).unwrap();
        if running_as_root() {
            std::os::unix::fs::chown(etc.join("ipvsadm.rules"), Some(1234), Some(5678)).unwrap();
            std::os::unix::fs::chown(etc.join("old.conf"), Some(4321), Some(8765)).unwrap();
        }
        symlink(&outside, etc.join("network")).unwrap();
        let before: Vec<_> = ["ipvsadm.rules", "old.conf"].iter().map(|name| identity(&etc.join(name))).collect();
        let changes = [
            update("/etc/ipvsadm.rules", latin1.clone(), &format!("{OURS}-A -t 192.0.2.1:80 -s wlc\n"), false),
            FileChange::Delete { path: "/etc/old.conf".into(), before: format!("{OURS}x\n").into() },
            create("/etc/sysctl.d/90.conf", OURS),
            create("/etc/network/90-lvs-converge-tun1.netdev", OURS),
        ];
        let plan = Plan {
            changes: changes.into_iter().map(|change| Planned { change: Change::File(change), origin: None }).collect(),
            ..Plan::default()
        };
        let interest =
            Interest { files: FileInterest { root: Some(root.clone()), ..Default::default() }, ..Default::default() };
        let mut host = LiveHost::new(interest).take_over(true);
        let error = execute(&plan, 1, ApplyOptions::default(), &mut host, &mut Journal::default()).unwrap_err();
        assert!(
            matches!(&error, ApplyError::Change { failed, outcome: Outcome::RolledBack { kept }, .. }
                if kept.is_empty() && failed.len() == 1 && failed[0].step.order == 4),
            "{error:?}"
        );
        assert!(crate::render::apply_failure::apply_error(&error).contains("symbolic link"), "{error:?}");
        let after: Vec<_> = ["ipvsadm.rules", "old.conf"].iter().map(|name| identity(&etc.join(name))).collect();
        assert_eq!(after, before);
        assert_eq!(names(&etc), ["ipvsadm.rules", "network", "old.conf", "sysctl.d"]);
        assert!(names(&etc.join("sysctl.d")).is_empty());
        assert!(names(&outside).is_empty());
    }

    /// Finding 4: a link inside the root that points outside it.
    #[test]
    fn a_symlink_in_the_root_is_refused_and_the_outside_is_untouched() {
        let base = scratch("escape");
        let (root, outside) = (base.join("root"), base.join("host-etc"));
        std::fs::create_dir_all(root.join("etc")).unwrap();
        std::fs::create_dir_all(&outside).unwrap();
        std::fs::write(outside.join("ipvsadm.rules"), "host\n").unwrap();
        symlink(&outside, root.join("etc/sysctl.d")).unwrap();
        symlink(outside.join("ipvsadm.rules"), root.join("etc/ipvsadm.rules")).unwrap();
        let error = apply(&create("/etc/sysctl.d/90.conf", OURS), Some(&root), false).unwrap_err();
        assert!(error.message.contains("symbolic link"), "{error:?}");
        let error = apply(&update("/etc/ipvsadm.rules", "host\n", OURS, false), Some(&root), true).unwrap_err();
        assert!(error.message.contains("symbolic link"), "{error:?}");
        let error = apply(&create("/etc/../../host-etc/x", OURS), Some(&root), false).unwrap_err();
        assert!(error.message.contains("`.` or `..`"), "{error:?}");
        assert_eq!(names(&outside), ["ipvsadm.rules"]);
        assert_eq!(std::fs::read_to_string(outside.join("ipvsadm.rules")).unwrap(), "host\n");
        assert_eq!(names(&base), ["host-etc", "root"]);
    }

    #[test]
    fn a_file_changed_since_the_plan_is_not_written() {
        let root = scratch("changed");
        let path = root.join("a.conf");
        std::fs::write(&path, format!("{OURS}edited\n")).unwrap();
        let error = apply(&update("/a.conf", format!("{OURS}planned\n"), OURS, true), Some(&root), false).unwrap_err();
        assert!(error.message.contains("changed since the plan was made (its content differs)"), "{error:?}");
        let error = apply(&create("/a.conf", OURS), Some(&root), false).unwrap_err();
        assert!(error.message.contains("(it was created)"), "{error:?}");
        assert_eq!(std::fs::read_to_string(&path).unwrap(), format!("{OURS}edited\n"));
        assert_eq!(names(&root), ["a.conf"]);
    }

    /// The crash test: a child process (this test binary again) aborts between writing the
    /// temp file and renaming it. The old file must be intact, and the next write succeeds.
    #[test]
    fn crash_before_rename_leaves_the_old_file() {
        let old = format!("{OURS}old content\n");
        let new = format!("{OURS}new content\n");
        let change = update("/sysctl.conf", old.as_str(), &new, true);
        if let Some(root) = std::env::var_os("LVS_CONVERGE_TEST_CRASH_ROOT") {
            let _ = apply(&change, Some(Path::new(&root)), false);
            unreachable!("the fault point aborts the process");
        }
        let root = scratch("crash");
        let path = root.join("sysctl.conf");
        std::fs::write(&path, &old).unwrap();
        let status = std::process::Command::new(std::env::current_exe().unwrap())
            .args(["--exact", "apply::files::tests::crash_before_rename_leaves_the_old_file", "--nocapture"])
            .env("LVS_CONVERGE_TEST_CRASH_ROOT", &root)
            .env("LVS_CONVERGE_FAULT", "abort-at:file-before-rename")
            .status()
            .unwrap();
        assert!(!status.success(), "the child should have aborted");
        assert_eq!(std::fs::read_to_string(&path).unwrap(), old);
        let temp = root.join(".sysctl.conf.lvs-converge.tmp");
        assert!(temp.exists(), "the fault struck after the temp file was written");
        apply(&change, Some(&root), false).unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), new);
        assert!(!temp.exists());
    }
}
