//! lvs-converge's runtime files under /run (gone at reboot, like the kernel state they
//! describe): the apply locks and the drain records.
//!
//! Root acts on what it finds there, so the directory is trusted only when it is ours: a
//! real directory (not a symlink), owned by the effective user, writable by no one else. It
//! is created 0700 whatever the umask. Files in it are opened relative to the checked
//! directory handle, never following a symlink, so nothing planted there can redirect a
//! write to another file.

use std::fs::File;
use std::io::Write;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::fcntl::OFlag;
use nix::sys::stat::{Mode, SFlag};
use nix::unistd::UnlinkatFlags;

pub const RUN_DIR: &str = "/run/lvs-converge";

const DIRECTORY_MODE: u32 = 0o700;
const FILE_MODE: u32 = 0o600;

#[derive(Debug, thiserror::Error)]
pub enum RunDirError {
    #[error("cannot use {}: {source}\n  hint: apply needs root and a writable /run", .path.display())]
    Io { path: PathBuf, source: std::io::Error },
    #[error("refusing to use {}: {problem}\n  hint: lvs-converge keeps its locks and drain records there, so it must be a directory owned by the user running it (root) that no one else can write: remove it (`rm -r {}`) and lvs-converge recreates it 0700", .path.display(), .path.display())]
    Untrusted { path: PathBuf, problem: String },
}

/// The checked runtime directory, held open: every file is reached through this handle.
#[derive(Debug)]
pub struct RunDir {
    path: PathBuf,
    directory: OwnedFd,
}

impl RunDir {
    /// The runtime directory, created if absent, for apply.
    pub fn create() -> Result<RunDir, RunDirError> {
        RunDir::create_at(Path::new(RUN_DIR))
    }

    /// The runtime directory if it exists, for readers (which never create it).
    pub fn existing() -> Result<Option<RunDir>, RunDirError> {
        RunDir::existing_at(Path::new(RUN_DIR))
    }

    pub fn create_at(path: &Path) -> Result<RunDir, RunDirError> {
        let created = match nix::unistd::mkdir(path, Mode::from_bits_truncate(DIRECTORY_MODE)) {
            Ok(()) => true,
            Err(Errno::EEXIST) => false,
            Err(errno) => return Err(RunDirError::Io { path: path.to_path_buf(), source: errno.into() }),
        };
        let run_dir = RunDir::open_checked(path)?;
        if created {
            // The umask may have taken bits away (0o200 would leave us unable to write).
            nix::sys::stat::fchmod(&run_dir.directory, Mode::from_bits_truncate(DIRECTORY_MODE))
                .map_err(|errno| run_dir.io(errno.into()))?;
        }
        Ok(run_dir)
    }

    pub fn existing_at(path: &Path) -> Result<Option<RunDir>, RunDirError> {
        match std::fs::symlink_metadata(path) {
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(None),
            _ => RunDir::open_checked(path).map(Some),
        }
    }

    /// Opens `path` without following a symlink and checks what was opened (not what the
    /// path names a moment later).
    fn open_checked(path: &Path) -> Result<RunDir, RunDirError> {
        let untrusted = |problem: String| RunDirError::Untrusted { path: path.to_path_buf(), problem };
        let flags = OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC;
        let directory = match nix::fcntl::open(path, flags, Mode::empty()) {
            Ok(directory) => directory,
            Err(Errno::ELOOP | Errno::ENOTDIR) => {
                let symlink = std::fs::symlink_metadata(path).is_ok_and(|status| status.file_type().is_symlink());
                let problem = if symlink { "it is a symbolic link" } else { "it is not a directory" };
                return Err(untrusted(problem.into()));
            }
            Err(errno) => return Err(RunDirError::Io { path: path.to_path_buf(), source: errno.into() }),
        };
        let status = nix::sys::stat::fstat(&directory)
            .map_err(|errno| RunDirError::Io { path: path.to_path_buf(), source: errno.into() })?;
        let ours = nix::unistd::geteuid().as_raw();
        if status.st_uid != ours {
            return Err(untrusted(format!(
                "it is owned by uid {}, not by uid {ours} running lvs-converge",
                status.st_uid
            )));
        }
        if status.st_mode & 0o022 != 0 {
            return Err(untrusted(format!("its mode {:04o} lets others write into it", status.st_mode & 0o7777)));
        }
        Ok(RunDir { path: path.to_path_buf(), directory })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn io(&self, source: std::io::Error) -> RunDirError {
        RunDirError::Io { path: self.path.clone(), source }
    }

    /// Opens (creating 0600) the regular file `name` for reading and writing, without
    /// truncating it: a lock file, whose content only its holder may replace.
    pub fn open_lock_file(&self, name: &str) -> std::io::Result<File> {
        let flags = OFlag::O_RDWR | OFlag::O_CREAT | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC;
        let file = self.open_file(name, flags)?;
        let kind = file.metadata()?.mode() & SFlag::S_IFMT.bits();
        if kind != SFlag::S_IFREG.bits() {
            return Err(std::io::Error::other(format!("{} is not a regular file", self.path.join(name).display())));
        }
        Ok(file)
    }

    /// The content of `name`; NotFound when absent, an error (ELOOP) when it is a symlink.
    pub fn read(&self, name: &str) -> std::io::Result<String> {
        let mut file = self.open_file(name, OFlag::O_RDONLY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC)?;
        let mut text = String::new();
        std::io::Read::read_to_string(&mut file, &mut text)?;
        Ok(text)
    }

    /// `name` parsed as JSON; `None` when it is absent, unreadable or not a `T`. The record
    /// files here (drains, health) are advisory: one lvs-converge cannot read counts as none.
    pub fn read_json<T: serde::de::DeserializeOwned>(&self, name: &str) -> Option<T> {
        self.read(name).ok().and_then(|text| serde_json::from_str(&text).ok())
    }

    /// Replaces `name` atomically with `value` as pretty JSON and a final newline.
    pub fn replace_json(&self, name: &str, value: &impl serde::Serialize) -> std::io::Result<()> {
        let mut text = serde_json::to_string_pretty(value).map_err(std::io::Error::other)?;
        text.push('\n');
        self.replace(name, text.as_bytes())
    }

    /// Replaces `name` atomically: written to a fresh 0600 temporary file (exclusive, never
    /// through a symlink), then renamed over it. Callers hold the apply lock, so a leftover
    /// temporary file is from a crashed run and is removed first.
    pub fn replace(&self, name: &str, content: &[u8]) -> std::io::Result<()> {
        let temporary = format!("{name}.tmp");
        match nix::unistd::unlinkat(&self.directory, temporary.as_str(), UnlinkatFlags::NoRemoveDir) {
            Ok(()) | Err(Errno::ENOENT) => {}
            Err(errno) => return Err(errno.into()),
        }
        let flags = OFlag::O_WRONLY | OFlag::O_CREAT | OFlag::O_EXCL | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC;
        let mut file = self.open_file(&temporary, flags)?;
        file.write_all(content)?;
        file.sync_all()?;
        nix::fcntl::renameat(&self.directory, temporary.as_str(), &self.directory, name)?;
        Ok(())
    }

    fn open_file(&self, name: &str, flags: OFlag) -> std::io::Result<File> {
        debug_assert!(!name.contains('/'), "run files are named, not pathed: {name}");
        match nix::fcntl::openat(self.directory.as_fd(), name, flags, Mode::from_bits_truncate(FILE_MODE)) {
            Ok(fd) => Ok(File::from(fd)),
            Err(Errno::ELOOP) => Err(std::io::Error::other(format!(
                "{} is a symbolic link, which lvs-converge never follows here: remove it",
                self.path.join(name).display()
            ))),
            Err(errno) => Err(errno.into()),
        }
    }
}

/// Unix seconds now: the clock drain records, readings and saved plans are stamped with
/// (0 if the clock is before 1970).
pub fn unix_now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

/// `<stem>-netns-<inode>.<extension>`: the name of a runtime file of the current network
/// namespace (namespaces are told apart by the inode of /proc/self/ns/net).
pub fn per_netns(stem: &str, extension: &str) -> std::io::Result<String> {
    let namespace = std::fs::metadata("/proc/self/ns/net")?;
    Ok(format!("{stem}-netns-{}.{extension}", namespace.ino()))
}

#[cfg(test)]
pub(crate) mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    /// A fresh scratch directory to hold a run directory (the run directory itself is not
    /// created).
    pub(crate) fn scratch(name: &str) -> PathBuf {
        crate::test_support::scratch_dir("rundir", name)
    }

    fn mode(path: &Path) -> u32 {
        std::fs::symlink_metadata(path).unwrap().mode() & 0o7777
    }

    fn refusal(path: &Path) -> String {
        match RunDir::create_at(path) {
            Err(error @ RunDirError::Untrusted { .. }) => error.to_string(),
            other => panic!("{} was accepted: {other:?}", path.display()),
        }
    }

    #[test]
    fn a_directory_others_can_write_is_refused() {
        let scratch = scratch("sticky");
        let run = scratch.join("run");
        std::fs::create_dir(&run).unwrap();
        std::fs::set_permissions(&run, std::fs::Permissions::from_mode(0o1777)).unwrap();
        let error = refusal(&run);
        assert!(error.contains("mode 1777 lets others write"), "{error}");
        assert!(error.contains("rm -r"), "says what to do: {error}");
        assert!(matches!(RunDir::existing_at(&run), Err(RunDirError::Untrusted { .. })), "readers refuse it too");
        std::fs::remove_dir_all(scratch).unwrap();
    }

    #[test]
    fn a_symlink_or_a_file_in_its_place_is_refused() {
        let scratch = scratch("symlink");
        std::fs::create_dir(scratch.join("elsewhere")).unwrap();
        std::os::unix::fs::symlink(scratch.join("elsewhere"), scratch.join("run")).unwrap();
        assert!(refusal(&scratch.join("run")).contains("symbolic link"));
        std::fs::write(scratch.join("file"), "").unwrap();
        assert!(refusal(&scratch.join("file")).contains("not a directory"));
        std::fs::remove_dir_all(scratch).unwrap();
    }

    #[test]
    fn a_directory_of_another_user_is_refused() {
        let scratch = scratch("owner");
        let run = scratch.join("run");
        std::fs::create_dir(&run).unwrap();
        std::fs::set_permissions(&run, std::fs::Permissions::from_mode(0o700)).unwrap();
        let other = nix::unistd::geteuid().as_raw() + 1;
        if nix::unistd::chown(&run, Some(other.into()), None).is_err() {
            eprintln!("skipped: chown needs root");
            return;
        }
        assert!(refusal(&run).contains(&format!("owned by uid {other}")));
        std::fs::remove_dir_all(scratch).unwrap();
    }

    #[test]
    fn modes_are_0700_and_0600_whatever_the_umask() {
        let scratch = scratch("umask");
        let run = scratch.join("run");
        // umask is per process: this is the only test that changes it, and it puts it back.
        let before = nix::sys::stat::umask(Mode::empty());
        let made = RunDir::create_at(&run).and_then(|dir| {
            dir.open_lock_file("a.lock").map_err(|e| dir.io(e))?;
            dir.replace("record.json", b"{}").map_err(|e| dir.io(e))
        });
        nix::sys::stat::umask(Mode::from_bits_truncate(0o277));
        let tight = RunDir::create_at(&scratch.join("tight"));
        nix::sys::stat::umask(before);
        made.unwrap();
        tight.unwrap();
        assert_eq!(mode(&run), 0o700);
        assert_eq!(mode(&run.join("a.lock")), 0o600);
        assert_eq!(mode(&run.join("record.json")), 0o600);
        assert_eq!(mode(&scratch.join("tight")), 0o700);
        std::fs::remove_dir_all(scratch).unwrap();
    }

    #[test]
    fn replace_never_writes_through_a_planted_symlink() {
        let scratch = scratch("replace");
        let run = RunDir::create_at(&scratch.join("run")).unwrap();
        std::fs::write(scratch.join("victim"), "victim\n").unwrap();
        std::os::unix::fs::symlink(scratch.join("victim"), scratch.join("run/record.json.tmp")).unwrap();
        std::os::unix::fs::symlink(scratch.join("victim"), scratch.join("run/record.json")).unwrap();
        run.replace("record.json", b"new").unwrap();
        assert_eq!(std::fs::read_to_string(scratch.join("victim")).unwrap(), "victim\n");
        assert_eq!(std::fs::read_to_string(scratch.join("run/record.json")).unwrap(), "new");
        std::os::unix::fs::symlink(scratch.join("victim"), scratch.join("run/other.json")).unwrap();
        assert!(run.read("other.json").is_err(), "read followed a symlink");
        std::fs::remove_dir_all(scratch).unwrap();
    }

    #[test]
    fn the_file_is_replaced_whole() {
        let scratch = crate::test_support::scratch_dir("rundir", "replace-json");
        let run_dir = RunDir::create_at(&scratch.join("run")).unwrap();
        run_dir.replace_json("health.json", &serde_json::json!({"servers": [1]})).unwrap();
        run_dir.replace_json("health.json", &serde_json::json!({"servers": [2]})).unwrap();
        let read: serde_json::Value = serde_json::from_str(&run_dir.read("health.json").unwrap()).unwrap();
        assert_eq!(read, serde_json::json!({"servers": [2]}));
        assert!(run_dir.read("health.json.tmp").is_err(), "no temporary file left");
        std::fs::remove_dir_all(scratch).unwrap();
    }
}
