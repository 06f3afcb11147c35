//! Lines for people on stderr, beside the report on stdout: an error, a note, where a plan
//! was saved, an apply waiting for another. Each is one line or a line and its hint, with
//! no trailing newline: the command line writes it as a line.

use std::fmt::Display;
use std::path::Path;

use crate::lock::Waiting;

/// A command that failed; the exit code says how the host was left.
pub fn error(error: &dyn Display) -> String {
    format!("error: {error}")
}

/// Something worth knowing that did not stop the command (what `import` could not carry over).
pub fn note(note: &dyn Display) -> String {
    format!("note: {note}")
}

/// After `plan --out`: where the plan is and how to carry it out.
pub fn plan_saved(path: &Path) -> String {
    format!("Saved the plan to {0}. To make exactly these changes: lvs-converge apply {0}", path.display())
}

/// Said once, when apply first finds the lock it needs held by another apply.
pub fn lock_waiting(waiting: &Waiting) -> String {
    format!(
        "waiting for another lvs-converge apply (pid {}) that {} (up to {:?})…",
        waiting.holder,
        waiting.scope.doing(),
        waiting.timeout
    )
}

/// An apply that succeeded but whose report stdout refused: the host holds the changes.
pub fn apply_report_unwritten(error: &std::io::Error) -> String {
    format!(
        "error: the changes were applied and verified, but the report could not be written to standard output: {error}\n  hint: `lvs-converge plan` shows that the host matches the spec"
    )
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::lock::Scope;

    #[test]
    fn a_saved_plan_is_named_twice_where_it_is_and_how_to_apply_it() {
        assert_eq!(
            plan_saved(Path::new("/tmp/p.json")),
            "Saved the plan to /tmp/p.json. To make exactly these changes: lvs-converge apply /tmp/p.json"
        );
    }

    #[test]
    fn waiting_names_the_holder_what_it_does_and_how_long_this_apply_waits() {
        let waiting = |scope| Waiting { holder: "4242".into(), scope, timeout: Duration::from_secs(30) };
        assert_eq!(
            lock_waiting(&waiting(Scope::Namespace)),
            "waiting for another lvs-converge apply (pid 4242) that is changing this host (up to 30s)…"
        );
        assert_eq!(
            lock_waiting(&waiting(Scope::PersistenceFiles)),
            "waiting for another lvs-converge apply (pid 4242) that is writing the persistence files (shared by every network namespace) (up to 30s)…"
        );
    }
}
