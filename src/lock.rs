//! Apply locks, exclusive flocks on files under /run/lvs-converge holding the holder's pid
//! for messages: one apply at a time per network namespace, and one writer at a time of the
//! host-wide persistence files (sysctl.d drop-in, ipvsadm rules, units …), which applies in
//! different namespaces share.
//!
//! The persistence lock is only ever taken while holding a namespace lock, never the other
//! way round: with one order, two applies can't each hold the lock the other waits for.

use std::fs::File;
use std::io::{Read, Seek, Write};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::fcntl::{Flock, FlockArg};

use crate::model::HostState;
use crate::model::Ownership;
use crate::plan::{Change, Plan};
use crate::rundir::{self, RunDir, RunDirError};

/// The host-wide lock of the persistence files.
const PERSISTENCE_LOCK: &str = "persistence-files.lock";

#[derive(Debug, thiserror::Error)]
pub enum LockError {
    #[error(transparent)]
    RunDir(#[from] RunDirError),
    #[error("cannot use the apply lock {}: {source}\n  hint: apply needs root and a writable /run", .path.display())]
    Io { path: PathBuf, source: std::io::Error },
    #[error("another lvs-converge apply (pid {holder}) {}; gave up after {waited:?}\n  hint: wait for it, or give --lock-timeout SECONDS to wait longer (lock file {})", .scope.doing(), .path.display())]
    Busy { path: PathBuf, holder: String, waited: Duration, scope: Scope },
}

/// What a lock guards, for messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    Namespace,
    PersistenceFiles,
}

impl Scope {
    /// What the holder is doing, as the error and the waiting notice both say it.
    pub fn doing(self) -> &'static str {
        match self {
            Scope::Namespace => "is changing this host",
            Scope::PersistenceFiles => "is writing the persistence files (shared by every network namespace)",
        }
    }
}

/// Another apply holds a lock this one needs, so this one waits (at most `timeout`). The
/// lock says it once, when it first has to wait, and leaves telling people to its caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Waiting {
    pub holder: String,
    pub scope: Scope,
    pub timeout: Duration,
}

/// Held for the whole apply; released when dropped (or when the process dies).
pub struct ApplyLock {
    run_dir: RunDir,
    _namespace: Flock<File>,
    persistence: Option<Flock<File>>,
}

/// Takes the current network namespace's lock, waiting up to `timeout` for another apply to
/// finish; `on_wait` hears once that it waits.
pub fn acquire(timeout: Duration, on_wait: &mut dyn FnMut(&Waiting)) -> Result<ApplyLock, LockError> {
    acquire_in(RunDir::create()?, timeout, on_wait)
}

fn acquire_in(run_dir: RunDir, timeout: Duration, on_wait: &mut dyn FnMut(&Waiting)) -> Result<ApplyLock, LockError> {
    let name = rundir::per_netns("apply", "lock")
        .map_err(|source| LockError::Io { path: "/proc/self/ns/net".into(), source })?;
    let namespace = take(&run_dir, &name, Scope::Namespace, timeout, on_wait)?;
    Ok(ApplyLock { run_dir, _namespace: namespace, persistence: None })
}

impl ApplyLock {
    /// Also takes the host-wide lock of the persistence files, waiting up to `timeout`
    /// (`on_wait` hears once that it waits). Call it before reading those files, so the plan
    /// sees what no one else is writing.
    pub fn cover_persistence_files(
        &mut self,
        timeout: Duration,
        on_wait: &mut dyn FnMut(&Waiting),
    ) -> Result<(), LockError> {
        if self.persistence.is_none() {
            self.persistence = Some(take(&self.run_dir, PERSISTENCE_LOCK, Scope::PersistenceFiles, timeout, on_wait)?);
        }
        Ok(())
    }
}

/// Whether an apply may write persistence files, and so needs their host-wide lock: the
/// spec renders or owns some, or the plan (a saved one may have been edited) changes one.
pub fn writes_persistence(desired: &HostState, ownership: &Ownership, plan: Option<&Plan>) -> bool {
    !desired.files.is_empty()
        || !ownership.files.paths.is_empty()
        || !ownership.files.directories.is_empty()
        || plan.is_some_and(|plan| plan.changes.iter().any(|planned| matches!(planned.change, Change::File(_))))
}

/// Locks `name` in `run_dir`, polling until `timeout`; `on_wait` hears of the first poll
/// that finds it held, unless that one already gives up. The file is never truncated
/// before the lock is held: it holds the current holder's pid.
fn take(
    run_dir: &RunDir,
    name: &str,
    scope: Scope,
    timeout: Duration,
    on_wait: &mut dyn FnMut(&Waiting),
) -> Result<Flock<File>, LockError> {
    let path = run_dir.path().join(name);
    let io = |source| LockError::Io { path: path.clone(), source };
    let started = Instant::now();
    let mut announced = false;
    loop {
        let file = run_dir.open_lock_file(name).map_err(io)?;
        match Flock::lock(file, FlockArg::LockExclusiveNonblock) {
            Ok(mut lock) => {
                lock.set_len(0).map_err(io)?;
                lock.rewind().map_err(io)?;
                write!(lock, "{}", std::process::id()).map_err(io)?;
                return Ok(lock);
            }
            Err((mut file, Errno::EWOULDBLOCK)) => {
                let mut holder = String::new();
                let _ = file.read_to_string(&mut holder);
                let holder = if holder.trim().is_empty() { "unknown".to_string() } else { holder.trim().to_string() };
                let waited = started.elapsed();
                if waited >= timeout {
                    return Err(LockError::Busy { path, holder, waited, scope });
                }
                if !announced {
                    on_wait(&Waiting { holder, scope, timeout });
                    announced = true;
                }
                std::thread::sleep(Duration::from_millis(100));
            }
            Err((_, errno)) => return Err(io(std::io::Error::from(errno))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rundir::tests::scratch;

    fn hold(path: &std::path::Path, pid: &str) -> Flock<File> {
        std::fs::write(path, pid).unwrap();
        let file = std::fs::OpenOptions::new().read(true).write(true).open(path).unwrap();
        Flock::lock(file, FlockArg::LockExclusiveNonblock).map_err(|(_, errno)| errno).unwrap()
    }

    #[test]
    fn a_symlinked_lock_file_is_refused_and_its_target_untouched() {
        let scratch = scratch("lock-symlink");
        let run = scratch.join("run");
        let run_dir = RunDir::create_at(&run).unwrap();
        std::fs::write(scratch.join("victim"), "precious\n").unwrap();
        let name = rundir::per_netns("apply", "lock").unwrap();
        std::os::unix::fs::symlink(scratch.join("victim"), run.join(&name)).unwrap();
        let error = acquire_in(run_dir, Duration::ZERO, &mut |_| {}).err().expect("a symlinked lock file was used");
        assert!(error.to_string().contains("is a symbolic link"), "{error}");
        assert_eq!(std::fs::read_to_string(scratch.join("victim")).unwrap(), "precious\n");
        std::fs::remove_dir_all(scratch).unwrap();
    }

    #[test]
    fn a_held_namespace_lock_is_waited_for_then_named() {
        let scratch = scratch("lock-busy");
        let run = scratch.join("run");
        let run_dir = RunDir::create_at(&run).unwrap();
        let _other = hold(&run.join(rundir::per_netns("apply", "lock").unwrap()), "4242");
        let mut waits = Vec::new();
        let error = acquire_in(run_dir, Duration::from_millis(200), &mut |waiting| waits.push(waiting.clone()))
            .err()
            .expect("took a held lock");
        let message = error.to_string();
        assert!(message.contains("another lvs-converge apply (pid 4242) is changing this host"), "{message}");
        let expected = Waiting { holder: "4242".into(), scope: Scope::Namespace, timeout: Duration::from_millis(200) };
        assert_eq!(waits, [expected], "said once, though it polled until the timeout");
        std::fs::remove_dir_all(scratch).unwrap();
    }

    #[test]
    fn an_apply_that_writes_persistence_files_waits_for_the_host_wide_lock() {
        let scratch = scratch("lock-persistence");
        let run = scratch.join("run");
        let mut waits = Vec::new();
        let mut on_wait = |waiting: &Waiting| waits.push(waiting.clone());
        let mut lock = acquire_in(RunDir::create_at(&run).unwrap(), Duration::ZERO, &mut on_wait).unwrap();
        // Another namespace's apply, writing the persistence files right now.
        let other = hold(&run.join(PERSISTENCE_LOCK), "4343");
        let started = Instant::now();
        let error =
            lock.cover_persistence_files(Duration::from_millis(300), &mut on_wait).expect_err("took a held lock");
        assert!(started.elapsed() >= Duration::from_millis(300), "gave up without waiting");
        let message = error.to_string();
        assert!(
            message.contains("another lvs-converge apply (pid 4343) is writing the persistence files"),
            "{message}"
        );
        assert!(message.contains("--lock-timeout"), "{message}");
        drop(other);
        lock.cover_persistence_files(Duration::ZERO, &mut on_wait).expect("free once the other apply is done");
        let expected =
            Waiting { holder: "4343".into(), scope: Scope::PersistenceFiles, timeout: Duration::from_millis(300) };
        assert_eq!(waits, [expected], "only the held lock is waited for");
        let mine = std::fs::read_to_string(run.join(PERSISTENCE_LOCK)).unwrap();
        assert_eq!(mine, std::process::id().to_string());
        std::fs::remove_dir_all(scratch).unwrap();
    }

    #[test]
    fn an_apply_that_gives_up_at_once_never_says_it_waits() {
        let scratch = scratch("lock-no-wait");
        let run = scratch.join("run");
        let run_dir = RunDir::create_at(&run).unwrap();
        let _other = hold(&run.join(rundir::per_netns("apply", "lock").unwrap()), "4444");
        let mut waits = Vec::new();
        let error = acquire_in(run_dir, Duration::ZERO, &mut |waiting| waits.push(waiting.clone()));
        assert!(matches!(error, Err(LockError::Busy { .. })), "took a held lock");
        assert_eq!(waits, [], "--lock-timeout 0 gives up without waiting");
        std::fs::remove_dir_all(scratch).unwrap();
    }

    #[test]
    fn only_applies_that_may_write_files_need_the_host_wide_lock() {
        let mut ownership = Ownership::default();
        let desired = HostState::default();
        assert!(!writes_persistence(&desired, &ownership, Some(&Plan::default())));
        ownership.files.paths.insert("/etc/sysctl.d/90-lvs-converge.conf".into());
        assert!(writes_persistence(&desired, &ownership, None));
        let create = crate::plan::files::FileChange::Create { path: "/etc/x".into(), after: String::new().into() };
        let edited = Plan {
            changes: vec![crate::plan::Planned { change: Change::File(create), origin: None }],
            ..Plan::default()
        };
        assert!(writes_persistence(&desired, &Ownership::default(), Some(&edited)));
    }
}
