//! One apply at a time per network namespace: an exclusive flock on a file under
//! /run/lvs-converge named after the namespace, holding the holder's pid for messages.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, Write};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::fcntl::{Flock, FlockArg};

use crate::rundir;

#[derive(Debug, thiserror::Error)]
pub enum LockError {
    #[error("cannot use the apply lock {}: {source}\n  hint: apply needs root and a writable /run", .path.display())]
    Io { path: PathBuf, source: std::io::Error },
    #[error("another lvs-converge apply (pid {holder}) is changing this host; gave up after {waited:?}\n  hint: wait for it, or give --lock-timeout SECONDS to wait longer (lock file {})", .path.display())]
    Busy { path: PathBuf, holder: String, waited: Duration },
}

/// Held for the whole apply; released when dropped (or when the process dies).
pub struct ApplyLock {
    _lock: Flock<File>,
}

/// Takes the lock, waiting up to `timeout` for another apply to finish.
pub fn acquire(timeout: Duration) -> Result<ApplyLock, LockError> {
    let path = rundir::per_netns("apply", "lock")
        .map_err(|source| LockError::Io { path: "/proc/self/ns/net".into(), source })?;
    let io = |source| LockError::Io { path: path.clone(), source };
    std::fs::create_dir_all(rundir::RUN_DIR).map_err(io)?;
    let started = Instant::now();
    let mut announced = false;
    loop {
        let file = OpenOptions::new().read(true).write(true).create(true).truncate(false).open(&path).map_err(io)?;
        match Flock::lock(file, FlockArg::LockExclusiveNonblock) {
            Ok(mut lock) => {
                lock.set_len(0).map_err(io)?;
                lock.rewind().map_err(io)?;
                write!(lock, "{}", std::process::id()).map_err(io)?;
                return Ok(ApplyLock { _lock: lock });
            }
            Err((mut file, Errno::EWOULDBLOCK)) => {
                let mut holder = String::new();
                let _ = file.read_to_string(&mut holder);
                let holder = if holder.trim().is_empty() { "unknown".to_string() } else { holder.trim().to_string() };
                let waited = started.elapsed();
                if waited >= timeout {
                    return Err(LockError::Busy { path, holder, waited });
                }
                if !announced {
                    eprintln!("waiting for another lvs-converge apply (pid {holder}) to finish (up to {timeout:?})…");
                    announced = true;
                }
                std::thread::sleep(Duration::from_millis(100));
            }
            Err((_, errno)) => return Err(io(std::io::Error::from(errno))),
        }
    }
}
