//! Fault injection for tests: make the process fail or die at a chosen point, to prove that
//! apply leaves the host recoverable. The rules are read only with the `fault-injection`
//! feature (the lab enables it) and in the crate's own unit tests; release builds without
//! it never read them, so no rule can act.
//!
//! `LVS_CONVERGE_FAULT` holds comma-separated rules:
//! - `kill-at-change:K` — abort (like kill -9: no cleanup, no unwinding) just before change K
//!   (1-based, in plan order) is made;
//! - `fail-at-change:K` — change K fails as if the kernel refused it (nothing after it is
//!   sent: the batch is split there);
//! - `refuse-at-change:K` — IPVS change K is sent, inside its pipelined batch, as an
//!   operation the kernel refuses (an update of a real server that does not exist, or
//!   timeouts out of range), so the kernel really carries on with the rest of the window;
//!   other changes fail as with `fail-at-change`;
//! - `run-before-SUBSYSTEM:COMMAND` (`run-before-ipvs` …) — runs `sh -c COMMAND` once per
//!   apply, just before the first batch of that subsystem is sent, not again before a
//!   later pass's batch (e.g. to delete a real server out of band; COMMAND cannot contain
//!   a comma);
//! - `abort-at:NAME` — abort when the code passes the named point (e.g. `file-before-rename`);
//! - `fail-at:NAME` — the first pass through the named point fails as if the kernel refused
//!   it (e.g. `tunnel-create`, `link-set-mtu`: the later requests of a change made of several);
//!   `fail-always-at:NAME` — every pass fails (so that putting things back fails too).
//!   `fou-answer` is a lost answer instead: the foo-over-UDP port was opened or closed, and
//!   its acknowledgement fails as a broken socket would (an unknown outcome).
//!
//! The rules about changes (`*-at-change`, `run-before-*`) act around any host, through
//! [`crate::apply::faults::FaultInjecting`]; the rules about named points act inside one
//! change (between the requests of a tunnel rebuild, between a file's write and its
//! rename), where no wrapper can reach, so those points call [`point`] and [`fail_at`].

/// What to do before change `number` (1-based).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChangeFault {
    Kill,
    Fail,
    Refuse,
}

/// The rules of `LVS_CONVERGE_FAULT`, as `(kind, argument)` pairs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FaultRules {
    rules: Vec<(String, String)>,
}

impl FaultRules {
    /// The rules in `text` (`kind:argument,kind:argument`); what is not a rule is ignored.
    pub fn parse(text: &str) -> Self {
        let rules = text
            .split(',')
            .filter_map(|rule| rule.split_once(':'))
            .map(|(kind, arg)| (kind.trim().to_string(), arg.trim().to_string()))
            .collect();
        FaultRules { rules }
    }

    /// The rules of `LVS_CONVERGE_FAULT`, where fault injection is compiled in; none
    /// otherwise.
    pub fn from_env() -> Self {
        if cfg!(any(feature = "fault-injection", test)) {
            FaultRules::parse(&std::env::var("LVS_CONVERGE_FAULT").unwrap_or_default())
        } else {
            FaultRules::default()
        }
    }

    /// The fault planned for change `number`, if any.
    pub fn at_change(&self, number: usize) -> Option<ChangeFault> {
        self.rules.iter().find_map(|(kind, arg)| {
            (arg.parse() == Ok(number)).then_some(()).and(match kind.as_str() {
                "kill-at-change" => Some(ChangeFault::Kill),
                "fail-at-change" => Some(ChangeFault::Fail),
                "refuse-at-change" => Some(ChangeFault::Refuse),
                _ => None,
            })
        })
    }

    /// The commands of the `run-before-SUBSYSTEM` rules, in order.
    pub fn commands_before(&self, subsystem: &str) -> Vec<&str> {
        let kind = format!("run-before-{subsystem}");
        self.rules.iter().filter(|(k, _)| *k == kind).map(|(_, command)| command.as_str()).collect()
    }
}

/// Runs `command` with `sh -c`, just before the apply's first batch of `subsystem` is sent.
pub fn run_before(subsystem: &str, command: &str) {
    let status = std::process::Command::new("sh").arg("-c").arg(command).status();
    eprintln!("fault injection: ran `{command}` before the {subsystem} changes: {status:?}");
}

#[cfg(any(feature = "fault-injection", test))]
fn rules() -> Vec<(String, String)> {
    FaultRules::from_env().rules
}

/// Aborts the process if a rule names this point.
#[cfg(any(feature = "fault-injection", test))]
pub fn point(name: &str) {
    if rules().iter().any(|(kind, arg)| kind == "abort-at" && arg == name) {
        eprintln!("fault injection: aborting at {name}");
        std::process::abort();
    }
}

#[cfg(not(any(feature = "fault-injection", test)))]
pub fn point(_name: &str) {}

/// An injected refusal if a rule names this point.
#[cfg(any(feature = "fault-injection", test))]
pub fn fail_at(name: &str) -> Result<(), String> {
    static FIRED: std::sync::Mutex<Vec<String>> = std::sync::Mutex::new(Vec::new());
    let rules = rules();
    let always = rules.iter().any(|(kind, arg)| kind == "fail-always-at" && arg == name);
    let once = rules.iter().any(|(kind, arg)| kind == "fail-at" && arg == name) && {
        let mut fired = FIRED.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let first = !fired.iter().any(|f| f == name);
        fired.push(name.to_string());
        first
    };
    match always || once {
        true => Err(format!("injected failure at {name} (LVS_CONVERGE_FAULT)")),
        false => Ok(()),
    }
}

#[cfg(not(any(feature = "fault-injection", test)))]
pub fn fail_at(_name: &str) -> Result<(), String> {
    Ok(())
}

/// Dies like kill -9 would: no destructors, no buffered output, no cleanup.
pub fn die() -> ! {
    eprintln!("fault injection: killed");
    // SIGKILL to ourselves: exactly what an operator's kill -9 or the OOM killer does.
    let _ = nix::sys::signal::raise(nix::sys::signal::Signal::SIGKILL);
    std::process::abort()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_are_read_as_the_lab_writes_them() {
        let rules =
            FaultRules::parse("kill-at-change:3, fail-at-change:5,refuse-at-change:7,run-before-ipvs:ipvsadm -C,junk");
        assert_eq!(
            (1..=8).map(|n| rules.at_change(n)).collect::<Vec<_>>(),
            [None, None, Some(ChangeFault::Kill), None, Some(ChangeFault::Fail), None, Some(ChangeFault::Refuse), None]
        );
        assert_eq!(rules.commands_before("ipvs"), ["ipvsadm -C"]);
        assert!(rules.commands_before("links").is_empty());
        assert_eq!(FaultRules::parse(""), FaultRules::default());
    }
}
