//! File I/O on the target system (`/`, or `--root DIR`), shared by the readers in `observe`
//! and the appliers in `apply`; it renders nothing (that is `desired::files`).
//!
//! The one rule for every file path lvs-converge derives (persistence files, their backups
//! and temp files, the directories they go in): it is resolved beneath the target root (`/`,
//! or `--root DIR`) and never through a symbolic link. A link inside an image root that
//! points at `/etc` of the build host, or a `..`, must not make a write land outside the
//! root; and a link is refused rather than followed on the live host too, so that what
//! `plan` reads is the very file `apply` replaces.
//!
//! Paths are opened with openat2(RESOLVE_IN_ROOT | RESOLVE_NO_SYMLINKS); where the kernel
//! lacks it (before 5.6, or a seccomp filter refuses it), component by component with
//! openat(O_NOFOLLOW | O_DIRECTORY), which is just as strict. Files are then reached
//! relative to their directory's descriptor with O_NOFOLLOW, so the check and the use are
//! the same object.

use std::ffi::{OsStr, OsString};
use std::fs::File;
use std::io::{self, Read};
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::{Component, Path, PathBuf};

use nix::errno::Errno;
use nix::fcntl::{self, AtFlags, OFlag, OpenHow, ResolveFlag};
use nix::sys::stat::{self, FileStat, Mode, SFlag};
use nix::unistd::{self, UnlinkatFlags};

/// Mode of the directories lvs-converge creates, whatever the umask.
pub const NEW_DIRECTORY_MODE: u32 = 0o755;

/// How directories are opened beneath the root.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Resolver {
    Openat2,
    /// openat of one component at a time, for kernels without openat2.
    Walk,
}

/// The target system's file tree.
#[derive(Debug)]
pub struct TargetRoot {
    root: Option<PathBuf>,
    fd: OwnedFd,
    resolver: Resolver,
}

/// An open directory beneath the root, and how to name it in messages.
#[derive(Debug)]
pub struct Directory {
    fd: OwnedFd,
    shown: PathBuf,
}

fn symlink_refused() -> io::Error {
    io::Error::other(
        "a symbolic link is on the way (lvs-converge does not follow links in persistence paths, so that no file lands outside the root)\n  hint: set the spec's persist path to where the file really is, or replace the link by a directory or file",
    )
}

fn io_error(errno: Errno) -> io::Error {
    io::Error::from_raw_os_error(errno as i32)
}

/// `path` as components beneath the root: absolute, and nothing but plain names.
fn beneath(path: &Path) -> io::Result<Vec<&OsStr>> {
    let mut components = path.components();
    if components.next() != Some(Component::RootDir) {
        return Err(io::Error::other(format!("`{}` is not an absolute path", path.display())));
    }
    components
        .map(|component| match component {
            Component::Normal(name) => Ok(name),
            _ => Err(io::Error::other(format!("`{}` contains `.` or `..`", path.display()))),
        })
        .collect()
}

impl TargetRoot {
    /// `root` (`--root DIR`, the user's own choice, followed as given) or `/`. `None` when
    /// the root does not exist and `create` is false: nothing is beneath it.
    pub fn open(root: Option<&Path>, create: bool) -> io::Result<Option<TargetRoot>> {
        let top = root.unwrap_or(Path::new("/"));
        if create {
            // The root and its missing parents get the same mode as any directory apply
            // makes, whatever the umask.
            let missing: Vec<&Path> = top.ancestors().take_while(|dir| !dir.exists()).collect();
            std::fs::DirBuilder::new().recursive(true).mode(NEW_DIRECTORY_MODE).create(top)?;
            for dir in missing {
                std::fs::set_permissions(dir, std::fs::Permissions::from_mode(NEW_DIRECTORY_MODE))?;
            }
        }
        let fd = match fcntl::open(top, OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC, Mode::empty()) {
            Ok(fd) => fd,
            Err(Errno::ENOENT) => return Ok(None),
            Err(errno) => return Err(io_error(errno)),
        };
        let mut target = TargetRoot { root: root.map(Path::to_path_buf), fd, resolver: Resolver::Openat2 };
        // Probe once: openat2 of the root itself works wherever the call exists.
        if target.openat2(Path::new(".")).is_err() {
            target.resolver = Resolver::Walk;
        }
        Ok(Some(target))
    }

    /// How the user sees `path` of the target: below `--root`.
    pub fn shown(&self, path: &Path) -> PathBuf {
        under_root(self.root.as_deref(), path)
    }

    fn openat2(&self, relative: &Path) -> nix::Result<OwnedFd> {
        let how = OpenHow::new()
            .flags(OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC)
            .resolve(ResolveFlag::RESOLVE_IN_ROOT | ResolveFlag::RESOLVE_NO_SYMLINKS);
        fcntl::openat2(self.fd.as_fd(), relative, how)
    }

    /// The directory `path` (absolute on the target); `None` when it does not exist,
    /// unless `create`: then missing directories are made, mode 0755.
    pub fn directory(&self, path: &Path, create: bool) -> io::Result<Option<Directory>> {
        let names = beneath(path)?;
        let shown = self.shown(path);
        let relative: PathBuf = if names.is_empty() { PathBuf::from(".") } else { names.iter().collect() };
        if self.resolver == Resolver::Openat2 {
            match self.openat2(&relative) {
                Ok(fd) => return Ok(Some(Directory { fd, shown })),
                Err(Errno::ELOOP) => return Err(symlink_refused()),
                Err(Errno::ENOENT) if create => {}
                Err(Errno::ENOENT) => return Ok(None),
                Err(errno) => return Err(io_error(errno)),
            }
        }
        self.walk(&names, create).map(|fd| fd.map(|fd| Directory { fd, shown }))
    }

    /// One component at a time, never following a link, making what is missing if asked.
    fn walk(&self, names: &[&OsStr], create: bool) -> io::Result<Option<OwnedFd>> {
        let flags = OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC;
        let mut current = self.fd.try_clone()?;
        for name in names {
            let mut created = false;
            let next = loop {
                match fcntl::openat(current.as_fd(), *name, flags, Mode::empty()) {
                    Ok(fd) => break fd,
                    Err(Errno::ENOENT) if create && !created => {
                        match stat::mkdirat(current.as_fd(), *name, Mode::from_bits_truncate(NEW_DIRECTORY_MODE)) {
                            Ok(()) | Err(Errno::EEXIST) => created = true,
                            Err(errno) => return Err(io_error(errno)),
                        }
                    }
                    Err(Errno::ENOENT) => return Ok(None),
                    Err(errno @ (Errno::ELOOP | Errno::ENOTDIR)) => {
                        let link = stat::fstatat(current.as_fd(), *name, AtFlags::AT_SYMLINK_NOFOLLOW)
                            .is_ok_and(|st| SFlag::from_bits_truncate(st.st_mode) & SFlag::S_IFMT == SFlag::S_IFLNK);
                        return Err(if link { symlink_refused() } else { io_error(errno) });
                    }
                    Err(errno) => return Err(io_error(errno)),
                }
            };
            if created {
                // mkdir's mode went through the umask (000 would give 0777).
                stat::fchmod(next.as_fd(), Mode::from_bits_truncate(NEW_DIRECTORY_MODE)).map_err(io_error)?;
            }
            current = next;
        }
        Ok(Some(current))
    }

    /// The parent directory of the file `path` and the file's name in it.
    pub fn parent(&self, path: &Path, create: bool) -> io::Result<Option<(Directory, OsString)>> {
        let (Some(parent), Some(name)) = (path.parent(), path.file_name()) else {
            return Err(io::Error::other(format!("`{}` does not name a file", path.display())));
        };
        Ok(self.directory(parent, create)?.map(|directory| (directory, name.to_owned())))
    }

    /// The content of the regular file `path`; `None` when it does not exist.
    pub fn read(&self, path: &Path) -> io::Result<Option<Vec<u8>>> {
        match self.parent(path, false)? {
            None => Ok(None),
            Some((directory, name)) => directory.read(&name),
        }
    }
}

impl Directory {
    pub fn shown(&self) -> &Path {
        &self.shown
    }

    /// How the user sees the entry `name` of this directory.
    pub fn shown_entry(&self, name: &OsStr) -> PathBuf {
        self.shown.join(name)
    }

    /// The names in this directory.
    pub fn names(&self) -> io::Result<Vec<OsString>> {
        let mut dir = nix::dir::Dir::openat(
            self.fd.as_fd(),
            ".",
            OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
            Mode::empty(),
        )
        .map_err(io_error)?;
        let mut names = Vec::new();
        for entry in dir.iter() {
            let name = entry.map_err(io_error)?.file_name().to_bytes().to_vec();
            if name != b"." && name != b".." {
                names.push(OsStr::from_bytes(&name).to_owned());
            }
        }
        Ok(names)
    }

    /// The entry's status, not following a link; `None` when it does not exist. Only a
    /// regular file is a file lvs-converge reads, replaces or renames.
    pub fn regular_file(&self, name: &OsStr) -> io::Result<Option<FileStat>> {
        match stat::fstatat(self.fd.as_fd(), name, AtFlags::AT_SYMLINK_NOFOLLOW) {
            Ok(status) => match SFlag::from_bits_truncate(status.st_mode) & SFlag::S_IFMT {
                SFlag::S_IFREG => Ok(Some(status)),
                SFlag::S_IFLNK => Err(symlink_refused()),
                _ => Err(io::Error::other("not a regular file")),
            },
            Err(Errno::ENOENT) => Ok(None),
            Err(errno) => Err(io_error(errno)),
        }
    }

    /// The content of the regular file `name`; `None` when it does not exist.
    pub fn read(&self, name: &OsStr) -> io::Result<Option<Vec<u8>>> {
        // O_NONBLOCK: a FIFO planted here must not hang the open; it is refused below.
        let flags = OFlag::O_RDONLY | OFlag::O_NOFOLLOW | OFlag::O_NONBLOCK | OFlag::O_NOCTTY | OFlag::O_CLOEXEC;
        let fd = match fcntl::openat(self.fd.as_fd(), name, flags, Mode::empty()) {
            Ok(fd) => fd,
            Err(Errno::ENOENT) => return Ok(None),
            Err(Errno::ELOOP) => return Err(symlink_refused()),
            Err(errno) => return Err(io_error(errno)),
        };
        let status = stat::fstat(fd.as_fd()).map_err(io_error)?;
        if SFlag::from_bits_truncate(status.st_mode) & SFlag::S_IFMT != SFlag::S_IFREG {
            return Err(io::Error::other("not a regular file"));
        }
        let mut bytes = Vec::new();
        File::from(fd).read_to_end(&mut bytes)?;
        Ok(Some(bytes))
    }

    /// A new regular file `name` (it must not exist), opened for writing with `mode`.
    pub fn create_new(&self, name: &OsStr, mode: u32) -> io::Result<File> {
        let flags = OFlag::O_WRONLY | OFlag::O_CREAT | OFlag::O_EXCL | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC;
        let fd = fcntl::openat(self.fd.as_fd(), name, flags, Mode::from_bits_truncate(mode)).map_err(io_error)?;
        Ok(File::from(fd))
    }

    /// Removes the entry `name` (a link itself, never its target). Whether it was there.
    pub fn remove(&self, name: &OsStr) -> io::Result<bool> {
        match unistd::unlinkat(self.fd.as_fd(), name, UnlinkatFlags::NoRemoveDir) {
            Ok(()) => Ok(true),
            Err(Errno::ENOENT) => Ok(false),
            Err(errno) => Err(io_error(errno)),
        }
    }

    /// Renames `from` to `to` in this directory, replacing `to`: needs no free space.
    pub fn rename(&self, from: &OsStr, to: &OsStr) -> io::Result<()> {
        fcntl::renameat(self.fd.as_fd(), from, self.fd.as_fd(), to).map_err(io_error)
    }

    /// A second name `to` for the file `from` (a link is not followed).
    pub fn hard_link(&self, from: &OsStr, to: &OsStr) -> io::Result<()> {
        unistd::linkat(self.fd.as_fd(), from, self.fd.as_fd(), to, AtFlags::empty()).map_err(io_error)
    }

    /// Makes the directory's entries durable (after a rename or an unlink).
    pub fn sync(&self) -> io::Result<()> {
        unistd::fsync(self.fd.as_fd()).map_err(io_error)
    }
}

/// `path` under `root` (`--root DIR`): how the tool reaches a file of the target system.
pub fn under_root(root: Option<&Path>, path: &Path) -> PathBuf {
    match root {
        Some(root) => root.join(path.strip_prefix("/").unwrap_or(path)),
        None => path.to_path_buf(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::{symlink, MetadataExt};

    fn scratch(name: &str) -> PathBuf {
        crate::test_support::scratch_dir("confined", name)
    }

    fn both_resolvers(root: &Path) -> Vec<TargetRoot> {
        let openat2 = TargetRoot::open(Some(root), false).unwrap().unwrap();
        let walk = TargetRoot { resolver: Resolver::Walk, ..TargetRoot::open(Some(root), false).unwrap().unwrap() };
        vec![openat2, walk]
    }

    #[test]
    fn a_symlink_inside_the_root_is_refused_and_its_target_untouched() {
        let base = scratch("symlink");
        let (root, outside) = (base.join("root"), base.join("outside"));
        std::fs::create_dir_all(root.join("etc")).unwrap();
        std::fs::create_dir_all(&outside).unwrap();
        std::fs::write(outside.join("secret.conf"), "host's own\n").unwrap();
        symlink(&outside, root.join("etc/sysctl.d")).unwrap();
        symlink(outside.join("secret.conf"), root.join("etc/ipvsadm.rules")).unwrap();
        for target in both_resolvers(&root) {
            let through_directory = target.read(Path::new("/etc/sysctl.d/secret.conf")).unwrap_err();
            assert!(
                through_directory.to_string().contains("symbolic link"),
                "{:?}: {through_directory}",
                target.resolver
            );
            let error = target.directory(Path::new("/etc/sysctl.d/new"), true).unwrap_err();
            assert!(error.to_string().contains("symbolic link"), "{:?}: {error}", target.resolver);
            let file = target.read(Path::new("/etc/ipvsadm.rules")).unwrap_err();
            assert!(file.to_string().contains("symbolic link"), "{:?}: {file}", target.resolver);
        }
        assert_eq!(std::fs::read_dir(&outside).unwrap().count(), 1, "nothing was created outside the root");
        assert_eq!(std::fs::read_to_string(outside.join("secret.conf")).unwrap(), "host's own\n");
    }

    #[test]
    fn dot_dot_and_relative_paths_are_refused() {
        let root = scratch("dotdot");
        for target in both_resolvers(&root) {
            for path in ["/etc/../../x", "etc/x", "/etc/./x/../y", "./etc/x"] {
                let error = target.read(Path::new(path)).unwrap_err().to_string();
                assert!(error.contains("`.` or `..`") || error.contains("not an absolute path"), "{path}: {error}");
            }
        }
    }

    #[test]
    fn missing_directories_are_made_0755_whatever_the_umask() {
        let root = scratch("mkdir");
        // umask 000 made them 0777 (std's create_dir_all asks for 0777); 077 would make 0700.
        for umask in [0o000, 0o077] {
            let old = stat::umask(Mode::from_bits_truncate(umask));
            let made = both_resolvers(&root)
                .iter()
                .map(|target| target.directory(Path::new(&format!("/{umask:o}/{:?}/network", target.resolver)), true))
                .collect::<Vec<_>>();
            stat::umask(old);
            for directory in made {
                let directory = directory.unwrap().unwrap();
                for path in [directory.shown(), directory.shown().parent().unwrap()] {
                    assert_eq!(std::fs::metadata(path).unwrap().mode() & 0o7777, 0o755, "{}", path.display());
                }
            }
        }
        assert!(TargetRoot::open(Some(&root.join("absent")), false).unwrap().is_none());
        // The root itself, when apply makes it (an image root), and its missing parents.
        let old = stat::umask(Mode::from_bits_truncate(0o077));
        let made = TargetRoot::open(Some(&root.join("image/root")), true);
        stat::umask(old);
        made.unwrap().expect("made");
        for path in [root.join("image"), root.join("image/root")] {
            assert_eq!(std::fs::metadata(&path).unwrap().mode() & 0o7777, 0o755, "{}", path.display());
        }
    }

    #[test]
    fn reads_regular_files_only() {
        let root = scratch("regular");
        std::fs::create_dir_all(root.join("etc")).unwrap();
        std::fs::write(root.join("etc/a"), b"caf\xe9\n").unwrap();
        nix::unistd::mkfifo(&root.join("etc/fifo"), Mode::from_bits_truncate(0o600)).unwrap();
        for target in both_resolvers(&root) {
            assert_eq!(target.read(Path::new("/etc/a")).unwrap().unwrap(), b"caf\xe9\n");
            assert_eq!(target.read(Path::new("/etc/none")).unwrap(), None);
            assert_eq!(target.read(Path::new("/nowhere/none")).unwrap(), None);
            assert!(target.read(Path::new("/etc/fifo")).unwrap_err().to_string().contains("not a regular file"));
        }
    }
}
