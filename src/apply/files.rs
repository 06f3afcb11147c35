//! Writing persistence files safely: a temp file in the same directory, fsync, rename over
//! the old file, fsync the directory. A crash at any point leaves either the old or the new
//! file, never a torn one. The existing file's mode and owner are kept, its previous content
//! stays in `<path>.lvs-converge.bak` (one backup), and nothing is written when the content
//! is already right. A file without lvs-converge's header is not overwritten or removed
//! unless the user passed `--take-over`.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use crate::fault;
use crate::model::files::FileState;
use crate::persist::under_root;
use crate::plan::{Change, FileChange, Plan};

/// Mode of files lvs-converge creates.
const NEW_FILE_MODE: u32 = 0o644;

pub fn backup_path(path: &Path) -> PathBuf {
    suffixed(path, ".lvs-converge.bak")
}

fn temp_path(path: &Path) -> PathBuf {
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    path.with_file_name(format!(".{name}.lvs-converge.tmp"))
}

fn suffixed(path: &Path, suffix: &str) -> PathBuf {
    let mut text = path.as_os_str().to_owned();
    text.push(suffix);
    PathBuf::from(text)
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

/// Carries out one file change; `root` prefixes the path (`--root`).
pub fn apply(change: &FileChange, root: Option<&Path>, take_over: bool) -> Result<(), String> {
    let target = under_root(root, change.path());
    let current = read(&target)?;
    if let Some(current) = &current {
        if !current.is_owned() && !take_over {
            return Err(take_over_hint(change.path()));
        }
    }
    match change {
        FileChange::Create { after, .. } | FileChange::Update { after, .. } => {
            write_if_changed(&target, after).map(|_| ())
        }
        FileChange::Delete { .. } => match current {
            None => Ok(()),
            Some(_) => remove_keeping_backup(&target),
        },
    }
}

fn read(path: &Path) -> Result<Option<FileState>, String> {
    match std::fs::read(path) {
        Ok(bytes) => Ok(Some(FileState { content: String::from_utf8_lossy(&bytes).into_owned() })),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(error) => Err(format!("reading {}: {error}", path.display())),
    }
}

/// Writes `content` to `path` atomically unless it is already there. Returns whether it
/// wrote.
pub fn write_if_changed(path: &Path, content: &str) -> Result<bool, String> {
    let io = |what: &str, p: &Path, error: std::io::Error| format!("{what} {}: {error}", p.display());
    let existing = match std::fs::metadata(path) {
        Ok(metadata) => Some(metadata),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => None,
        Err(error) => return Err(io("reading", path, error)),
    };
    if existing.is_some() && std::fs::read(path).map_err(|e| io("reading", path, e))? == content.as_bytes() {
        return Ok(false);
    }
    let directory = path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
    std::fs::create_dir_all(directory).map_err(|e| io("creating directory", directory, e))?;
    let temp = temp_path(path);
    let mode = existing.as_ref().map_or(NEW_FILE_MODE, |m| m.permissions().mode() & 0o7777);
    let _ = std::fs::remove_file(&temp); // a leftover of an interrupted run
    let mut file =
        OpenOptions::new().write(true).create_new(true).mode(mode).open(&temp).map_err(|e| io("creating", &temp, e))?;
    let written = (|| -> std::io::Result<()> {
        file.write_all(content.as_bytes())?;
        // The umask may have narrowed the mode; owner as before (root's files stay root's).
        file.set_permissions(std::fs::Permissions::from_mode(mode))?;
        if let Some(metadata) = &existing {
            std::os::unix::fs::fchown(&file, Some(metadata.uid()), Some(metadata.gid()))?;
        }
        file.sync_all()
    })();
    if let Err(error) = written {
        let _ = std::fs::remove_file(&temp);
        return Err(io("writing", &temp, error));
    }
    drop(file);
    if existing.is_some() {
        keep_backup(path)?;
    }
    fault::point("file-before-rename");
    std::fs::rename(&temp, path).map_err(|e| {
        let _ = std::fs::remove_file(&temp);
        io("renaming the new file over", path, e)
    })?;
    sync_directory(directory)?;
    Ok(true)
}

/// `<path>.lvs-converge.bak` becomes the current file (a hard link to the old inode, so the
/// old content survives the rename; a copy where links don't work).
fn keep_backup(path: &Path) -> Result<(), String> {
    let backup = backup_path(path);
    let _ = std::fs::remove_file(&backup);
    if std::fs::hard_link(path, &backup).is_err() {
        std::fs::copy(path, &backup).map_err(|e| format!("keeping a backup of {}: {e}", path.display()))?;
    }
    Ok(())
}

/// A removed file stays as its backup.
fn remove_keeping_backup(path: &Path) -> Result<(), String> {
    std::fs::rename(path, backup_path(path)).map_err(|e| format!("removing {}: {e}", path.display()))?;
    sync_directory(path.parent().unwrap_or(Path::new(".")))
}

fn sync_directory(directory: &Path) -> Result<(), String> {
    File::open(directory).and_then(|d| d.sync_all()).map_err(|e| format!("syncing {}: {e}", directory.display()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::MetadataExt;

    fn scratch(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("lvs-converge-files-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    const OURS: &str = "# Managed by lvs-converge from /s.yaml: changes here are overwritten.\n";

    #[test]
    fn creates_parents_with_0644_and_no_backup() {
        let dir = scratch("create");
        let path = dir.join("etc/sysctl.d/90.conf");
        assert!(write_if_changed(&path, "a = 1\n").unwrap());
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "a = 1\n");
        assert_eq!(std::fs::metadata(&path).unwrap().mode() & 0o777, 0o644);
        assert!(!backup_path(&path).exists());
        assert!(!temp_path(&path).exists());
    }

    #[test]
    fn keeps_mode_and_one_backup_and_does_not_touch_equal_content() {
        let dir = scratch("update");
        let path = dir.join("rules");
        std::fs::write(&path, "old\n").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        assert!(write_if_changed(&path, "new\n").unwrap());
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "new\n");
        assert_eq!(std::fs::metadata(&path).unwrap().mode() & 0o777, 0o600);
        assert_eq!(std::fs::read_to_string(backup_path(&path)).unwrap(), "old\n");
        assert!(write_if_changed(&path, "newer\n").unwrap());
        assert_eq!(std::fs::read_to_string(backup_path(&path)).unwrap(), "new\n");

        // Same content: not written at all (inode and mtime unchanged).
        let before = std::fs::metadata(&path).unwrap();
        std::thread::sleep(std::time::Duration::from_millis(20));
        assert!(!write_if_changed(&path, "newer\n").unwrap());
        let after = std::fs::metadata(&path).unwrap();
        assert_eq!(
            (before.ino(), before.mtime(), before.mtime_nsec()),
            (after.ino(), after.mtime(), after.mtime_nsec())
        );
    }

    #[test]
    fn refuses_foreign_files_unless_taking_over() {
        let dir = scratch("foreign");
        let path = dir.join("etc/ipvsadm.rules");
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, "-A -t 192.0.2.1:80 -s rr\n").unwrap();
        let change = FileChange::Update {
            path: "/etc/ipvsadm.rules".into(),
            before: "-A -t 192.0.2.1:80 -s rr\n".into(),
            after: format!("{OURS}-A -t 192.0.2.1:80 -s wlc\n"),
            owned: false,
        };
        let error = apply(&change, Some(&dir), false).unwrap_err();
        assert!(error.starts_with("refusing to overwrite /etc/ipvsadm.rules"), "{error}");
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "-A -t 192.0.2.1:80 -s rr\n");
        apply(&change, Some(&dir), true).unwrap();
        assert!(std::fs::read_to_string(&path).unwrap().starts_with(OURS));
        assert_eq!(std::fs::read_to_string(backup_path(&path)).unwrap(), "-A -t 192.0.2.1:80 -s rr\n");
        // Now it is ours: removing it keeps the last content as the backup.
        let delete = FileChange::Delete { path: "/etc/ipvsadm.rules".into(), before: String::new() };
        apply(&delete, Some(&dir), false).unwrap();
        assert!(!path.exists());
        assert!(std::fs::read_to_string(backup_path(&path)).unwrap().starts_with(OURS));
    }

    /// The crash test: a child process (this test binary again) aborts between writing the
    /// temp file and renaming it. The old file must be intact, and the next write succeeds.
    #[test]
    fn crash_before_rename_leaves_the_old_file() {
        if let Some(path) = std::env::var_os("LVS_CONVERGE_TEST_CRASH_PATH") {
            let _ = write_if_changed(Path::new(&path), "new content\n");
            unreachable!("the fault point aborts the process");
        }
        let dir = scratch("crash");
        let path = dir.join("sysctl.conf");
        std::fs::write(&path, "old content\n").unwrap();
        let status = std::process::Command::new(std::env::current_exe().unwrap())
            .args(["--exact", "apply::files::tests::crash_before_rename_leaves_the_old_file", "--nocapture"])
            .env("LVS_CONVERGE_TEST_CRASH_PATH", &path)
            .env("LVS_CONVERGE_FAULT", "abort-at:file-before-rename")
            .status()
            .unwrap();
        assert!(!status.success(), "the child should have aborted");
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "old content\n");
        assert!(temp_path(&path).exists(), "the fault struck after the temp file was written");
        assert!(write_if_changed(&path, "new content\n").unwrap());
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "new content\n");
        assert!(!temp_path(&path).exists());
    }
}
