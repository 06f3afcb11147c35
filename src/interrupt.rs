//! A stop request from SIGINT or SIGTERM while apply changes the host.
//!
//! Dying in the middle of a batch would leave a half-built table that nobody reports (a
//! SIGTERM 2 s into a 4000-service apply left 2816 services without real servers). So
//! during apply the signals only raise a flag; apply looks at it at every operation
//! boundary, stops there, rolls back (or reports what stays) and exits 3 or 4.

use std::sync::atomic::{AtomicBool, Ordering};

use nix::sys::signal::{sigaction, SaFlags, SigAction, SigHandler, SigSet, Signal};

static REQUESTED: AtomicBool = AtomicBool::new(false);

extern "C" fn raise_flag(_signal: nix::libc::c_int) {
    // Only an atomic store: anything more is not async-signal-safe.
    REQUESTED.store(true, Ordering::SeqCst);
}

/// From now on SIGINT and SIGTERM ask apply to stop instead of killing the process.
pub fn install() -> nix::Result<()> {
    let action = SigAction::new(SigHandler::Handler(raise_flag), SaFlags::SA_RESTART, SigSet::empty());
    for signal in [Signal::SIGINT, Signal::SIGTERM] {
        // SAFETY: the handler only stores to an atomic, which is async-signal-safe.
        unsafe { sigaction(signal, &action) }?;
    }
    Ok(())
}

/// True once SIGINT or SIGTERM arrived after [`install`].
pub fn requested() -> bool {
    REQUESTED.load(Ordering::SeqCst)
}
