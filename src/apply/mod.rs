//! Appliers: carry out a plan's changes in order, then re-read the host and verify that
//! nothing is left to do.

pub mod addresses;
pub mod drains;
pub mod files;
pub mod ipvs;
pub mod links;
pub mod live;
pub mod modules;
pub mod routes;
pub mod sysctl;

use std::fmt;

use crate::fault;
use crate::model::ipvs::{DestinationKey, ServiceKey};
use crate::model::keyed::Keyed;
use crate::model::HostState;
use crate::observe::ObserveError;
use crate::plan::saved::{SavedPlan, Stale};
use crate::plan::{self, Change, Ownership, Plan};

/// A change that the host refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChangeFailure {
    /// Index into the batch that was passed to [`Host::apply`].
    pub index: usize,
    pub message: String,
}

/// The host as appliers see it: something to read and to change. The live kernel in
/// production, memory in unit tests.
pub trait Host {
    fn observe(&mut self) -> Result<HostState, ObserveError>;
    /// Makes `changes` (all of one subsystem, in order); stops at the first failure.
    fn apply(&mut self, changes: &[&Change]) -> Result<(), ChangeFailure>;
    /// Remembers which removed real servers are draining (keeping the start time of those
    /// already known), so a drain's deadline survives between runs.
    fn remember_drains(&mut self, _draining: &[(ServiceKey, DestinationKey)]) -> Result<(), String> {
        Ok(())
    }
}

/// How a failed apply left the host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Nothing had been changed yet.
    Untouched,
    /// Every change made before the failure was undone: the host is as it was.
    /// `kept` lists what cannot be undone (loaded modules …) and stays.
    RolledBack { kept: Vec<String> },
    /// Changes made before the failure stay (rollback off, or it failed too).
    Partial { applied: Vec<String>, rollback_error: Option<String> },
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Outcome::Untouched => f.write_str("nothing was changed; fix the cause and run apply again"),
            Outcome::RolledBack { kept } if kept.is_empty() => {
                f.write_str("the changes made before it were rolled back: the host is as it was")
            }
            Outcome::RolledBack { kept } => write!(
                f,
                "the changes made before it were rolled back; these cannot be undone and stay: {}",
                kept.join(", ")
            ),
            Outcome::Partial { applied, rollback_error } => {
                write!(f, "these {} change(s) were applied and stay: {}", applied.len(), applied.join(", "))?;
                if let Some(error) = rollback_error {
                    write!(f, "\n  rollback failed: {error}")?;
                }
                f.write_str("\n  fix the cause and run apply again to finish")
            }
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    #[error(transparent)]
    Observe(#[from] ObserveError),
    #[error("change {number} of {total} failed: {what}\n  cause: {message}\n  {outcome}")]
    Change { number: usize, total: usize, what: String, message: String, outcome: Outcome },
    #[error("apply finished but the host still differs from the spec in {} place(s):\n{}\n  hint: something else may be changing this host (another tool, a daemon); compare `lvs-converge plan`", .residual.changes.len(), describe(.residual))]
    Residual { residual: Plan },
    /// A saved plan no longer fits the host: nothing was changed.
    #[error(transparent)]
    Stale(Box<Stale>),
    #[error("the changes were applied, but recording which real servers drain failed: {0}\n  hint: a later apply restarts their drain clock; check that /run is writable")]
    DrainRecords(String),
}

fn describe(plan: &Plan) -> String {
    plan.changes
        .iter()
        .map(|planned| {
            let view = planned.change.view();
            format!("    {:?} {}", view.action, view.object())
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// What an apply did.
#[derive(Debug, Clone, PartialEq)]
pub struct ApplyReport {
    /// The changes that were carried out (empty: nothing to do), and the real servers still
    /// draining at the end.
    pub plan: Plan,
}

impl ApplyReport {
    pub fn changed(&self) -> bool {
        !self.plan.is_empty()
    }
}

/// Choices the user makes on the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ApplyOptions {
    /// Undo the changes already made when a later one fails (`--no-rollback` turns it off).
    pub rollback: bool,
    /// Wait for draining real servers to finish (up to their drain timeout) and delete them,
    /// instead of leaving that to the next run.
    pub wait: bool,
}

impl Default for ApplyOptions {
    fn default() -> Self {
        ApplyOptions { rollback: true, wait: false }
    }
}

/// Carries out `plan` (computed against the host's current state), then re-reads the host:
/// real servers whose drain has finished are deleted in a follow-up pass (with `wait`, until
/// none is left draining); anything else still different is an error.
pub fn apply(
    plan: Plan,
    desired: &HostState,
    ownership: &Ownership,
    options: ApplyOptions,
    host: &mut dyn Host,
) -> Result<ApplyReport, ApplyError> {
    if plan.converged() {
        return Ok(ApplyReport { plan });
    }
    const FOLLOW_UP_PASSES: usize = 5;
    let mut report = plan.clone();
    let mut current = plan;
    let mut follow_ups = 0;
    loop {
        execute(&current, options, host)?;
        let mut next = plan::diff(desired, &host.observe()?, ownership);
        if !next.changes.iter().all(|planned| is_drain_follow_up(&planned.change)) || follow_ups == FOLLOW_UP_PASSES {
            next = verify(desired, ownership, host)?;
        }
        host.remember_drains(&draining_now(&current, &next)).map_err(ApplyError::DrainRecords)?;
        report.draining = next.draining.clone();
        report.observed_at = next.observed_at;
        if !next.changes.is_empty() {
            follow_ups += 1;
            report.changes.extend(next.changes.iter().cloned());
            current = next;
            continue;
        }
        if next.draining.is_empty() || !options.wait {
            return Ok(ApplyReport { plan: report });
        }
        // Waiting for connections to end: re-read every second until the drain deadlines.
        std::thread::sleep(std::time::Duration::from_secs(1));
        current = Plan::default();
    }
}

/// Carries out a saved plan exactly as it was reviewed, if the host (read as the plan read
/// it) is still what the plan was computed from; otherwise changes nothing and says what
/// changed since. Verification and drain follow-ups are [`apply`]'s.
pub fn apply_saved(
    saved: SavedPlan,
    plan_file: &std::path::Path,
    now_seconds: u64,
    options: ApplyOptions,
    host: &mut dyn Host,
) -> Result<ApplyReport, ApplyError> {
    saved.check_fresh(&host.observe()?, plan_file, now_seconds).map_err(ApplyError::Stale)?;
    apply(saved.plan, &saved.desired, &saved.ownership, options, host)
}

/// Deleting a drained real server, the only change a re-read may legitimately still find.
fn is_drain_follow_up(change: &Change) -> bool {
    matches!(change, Change::Ipvs(plan::IpvsChange::DeleteDestination { .. }))
}

/// Real servers draining after this pass: just drained, or still waiting.
fn draining_now(executed: &Plan, next: &Plan) -> Vec<(ServiceKey, DestinationKey)> {
    let drained = executed.changes.iter().filter_map(|planned| match &planned.change {
        Change::Ipvs(plan::IpvsChange::DrainDestination { service, before, .. }) => Some((*service, before.key())),
        _ => None,
    });
    drained.chain(next.draining.iter().map(|d| (d.service, d.destination))).collect()
}

/// The undo log of one apply: for every change made, the changes that undo it.
#[derive(Default)]
struct Journal {
    undo: Vec<(String, Option<Vec<Change>>)>,
}

impl Journal {
    fn record(&mut self, change: &Change) {
        self.undo.push((change.view().object(), change.inverse()));
    }

    fn applied(&self) -> Vec<String> {
        self.undo.iter().map(|(what, _)| what.clone()).collect()
    }

    /// Undoes everything recorded, newest first. Returns what could not be undone.
    fn roll_back(self, host: &mut dyn Host) -> Result<Vec<String>, String> {
        let mut kept = Vec::new();
        for (what, inverse) in self.undo.into_iter().rev() {
            let Some(inverse) = inverse else {
                kept.push(what);
                continue;
            };
            for change in &inverse {
                host.apply(&[change]).map_err(|failure| format!("undoing {what}: {}", failure.message))?;
            }
        }
        Ok(kept)
    }
}

/// Carries out the plan's changes in order, batching consecutive changes of one subsystem;
/// on failure, rolls back what was done (unless told not to).
pub fn execute(plan: &Plan, options: ApplyOptions, host: &mut dyn Host) -> Result<(), ApplyError> {
    let changes: Vec<&Change> = plan.changes.iter().map(|planned| &planned.change).collect();
    let total = changes.len();
    let mut journal = Journal::default();
    let mut start = 0;
    while start < total {
        let subsystem = changes[start].subsystem();
        let mut end = start + changes[start..].iter().take_while(|c| c.subsystem() == subsystem).count();
        // An injected fault splits the batch so that it strikes exactly at its change.
        let fault = (start..end).find_map(|index| fault::at_change(index + 1).map(|f| (index, f)));
        if let Some((index, _)) = fault {
            end = index;
        }
        let result = host.apply(&changes[start..end]);
        let done = match &result {
            Ok(()) => end - start,
            Err(failure) => failure.index,
        };
        for change in &changes[start..start + done] {
            journal.record(change);
        }
        let failure = match (result, fault) {
            (Err(failure), _) => Some((start + failure.index, failure.message)),
            (Ok(()), Some((_, fault::ChangeFault::Kill))) => fault::die(),
            (Ok(()), Some((index, fault::ChangeFault::Fail))) => {
                Some((index, "injected failure (LVS_CONVERGE_FAULT)".to_string()))
            }
            (Ok(()), None) => None,
        };
        if let Some((index, message)) = failure {
            let outcome = if journal.undo.is_empty() {
                Outcome::Untouched
            } else if options.rollback {
                let applied = journal.applied();
                match journal.roll_back(host) {
                    Ok(kept) => Outcome::RolledBack { kept },
                    Err(error) => Outcome::Partial { applied, rollback_error: Some(error) },
                }
            } else {
                Outcome::Partial { applied: journal.applied(), rollback_error: None }
            };
            let view = changes[index].view();
            return Err(ApplyError::Change {
                number: index + 1,
                total,
                what: format!("{} {}", format!("{:?}", view.action).to_lowercase(), view.object()),
                message,
                outcome,
            });
        }
        start = end;
    }
    Ok(())
}

/// Re-reads the host; anything still different is an error naming it. A just-applied
/// change can take a moment to show (e.g. an address still in DAD), so a few short
/// re-reads are allowed before giving up. Returns the last plan read (no changes; real
/// servers may still be draining), so the caller need not read the host again.
pub fn verify(desired: &HostState, ownership: &Ownership, host: &mut dyn Host) -> Result<Plan, ApplyError> {
    const ATTEMPTS: u32 = 3;
    let mut residual = plan::diff(desired, &host.observe()?, ownership);
    for attempt in 1..ATTEMPTS {
        if residual.is_empty() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100 * u64::from(attempt)));
        residual = plan::diff(desired, &host.observe()?, ownership);
    }
    if residual.is_empty() {
        Ok(residual)
    } else {
        Err(ApplyError::Residual { residual })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec;

    /// A host whose state lives in memory; can be told to refuse the n-th change it is asked
    /// to make, or to silently ignore weight changes (a host that doesn't take a change).
    #[derive(Default)]
    struct MemoryHost {
        state: HostState,
        refuse_at: Option<usize>,
        ignore_updates: bool,
        made: usize,
    }

    impl Host for MemoryHost {
        fn observe(&mut self) -> Result<HostState, ObserveError> {
            Ok(self.state.clone())
        }

        fn apply(&mut self, changes: &[&Change]) -> Result<(), ChangeFailure> {
            for (index, change) in changes.iter().enumerate() {
                let Change::Ipvs(change) = change else { panic!("these tests plan IPVS changes only") };
                if self.refuse_at == Some(self.made) {
                    self.refuse_at = None;
                    return Err(ChangeFailure { index, message: "injected failure".into() });
                }
                if self.ignore_updates && matches!(change, plan::IpvsChange::UpdateDestination { .. }) {
                    continue;
                }
                ipvs::apply_to_state(&mut self.state.ipvs, change)
                    .map_err(|message| ChangeFailure { index, message })?;
                self.made += 1;
            }
            Ok(())
        }
    }

    fn converge(desired: &HostState, ownership: &Ownership, host: &mut MemoryHost) -> Result<ApplyReport, ApplyError> {
        let plan = plan::diff(desired, &host.observe()?, ownership);
        apply(plan, desired, ownership, ApplyOptions::default(), host)
    }

    fn desired(text: &str) -> (HostState, Ownership) {
        let spec = spec::parse(text, std::path::Path::new("test.yaml")).expect("valid spec");
        let mut desired = spec.desired;
        desired.modules.clear();
        (desired, spec.ownership)
    }

    const SPEC: &str = "apiVersion: lvs-converge/v1\nkind: Host\nipvs:\n  services:\n    - address: 203.0.113.100\n      port: 80\n      realServers:\n        - address: 203.0.113.11\n        - address: 198.51.100.22\n          weight: 0\n";

    #[test]
    fn apply_converges_and_second_apply_changes_nothing() {
        let (state, ownership) = desired(SPEC);
        let mut host = MemoryHost::default();
        let first = converge(&state, &ownership, &mut host).expect("apply");
        assert_eq!(first.plan.changes.len(), 3);
        assert_eq!(host.state, state);
        let second = converge(&state, &ownership, &mut host).expect("second apply");
        assert!(!second.changed());
    }

    #[test]
    fn failure_rolls_back_to_the_exact_starting_state() {
        let (state, ownership) = desired(SPEC);
        let mut host = MemoryHost::default();
        converge(&state, &ownership, &mut host).unwrap();
        // Start from a converged host, then ask for a re-weight, a new and a removed server.
        let start = host.state.clone();
        let (changed, _) = desired(&SPEC.replace("203.0.113.11", "203.0.113.12").replace("weight: 0", "weight: 5"));
        host.refuse_at = Some(host.made + 2);
        let error = converge(&changed, &ownership, &mut host).expect_err("refused");
        let text = error.to_string();
        assert!(text.starts_with("change 3 of 3 failed: update ipvs real server 203.0.113.11:80"), "{text}");
        assert!(
            matches!(&error, ApplyError::Change { outcome: Outcome::RolledBack { kept }, .. } if kept.is_empty()),
            "{text}"
        );
        assert!(text.contains("rolled back: the host is as it was"), "{text}");
        assert_eq!(host.state, start);
    }

    #[test]
    fn without_rollback_the_earlier_changes_stay_and_are_listed() {
        let (state, ownership) = desired(SPEC);
        let mut host = MemoryHost { refuse_at: Some(1), ..Default::default() };
        let plan = plan::diff(&state, &host.state, &ownership);
        let error = apply(plan, &state, &ownership, ApplyOptions { rollback: false, wait: false }, &mut host)
            .expect_err("refused");
        let text = error.to_string();
        assert!(text.starts_with("change 2 of 3 failed: create ipvs real server"), "{text}");
        assert!(
            matches!(&error, ApplyError::Change { outcome: Outcome::Partial { applied, rollback_error: None }, .. } if applied.len() == 1),
            "{text}"
        );
        assert!(
            text.contains("injected failure") && text.contains("these 1 change(s) were applied and stay: ipvs service"),
            "{text}"
        );
        assert_eq!(host.state.ipvs.services.len(), 1);
    }

    #[test]
    fn a_change_that_does_not_take_is_reported_as_residual_drift() {
        let (state, ownership) = desired(SPEC);
        let mut host = MemoryHost::default();
        converge(&state, &ownership, &mut host).unwrap();
        host.state.ipvs.services.values_mut().next().unwrap().destinations.values_mut().next().unwrap().weight = 9;
        host.ignore_updates = true;
        let error = converge(&state, &ownership, &mut host).expect_err("residual drift");
        assert!(matches!(&error, ApplyError::Residual { residual } if residual.changes.len() == 1), "{error}");
        assert!(error.to_string().contains("Update ipvs real server"), "{error}");
    }

    fn save(desired: &HostState, ownership: &Ownership, host: &MemoryHost) -> SavedPlan {
        use crate::plan::saved::{ObservedFrom, Provenance, SpecFingerprint};
        let made = Provenance {
            created_at: 0,
            spec: SpecFingerprint { path: "director.yaml".into(), sha256: String::new() },
            node: None,
            netns: None,
            root: None,
            observed_from: ObservedFrom::Live,
        };
        let plan = plan::diff(desired, &host.state, ownership);
        SavedPlan::new(made, desired.clone(), ownership.clone(), Default::default(), plan, host.state.clone())
    }

    fn apply_file(saved: &SavedPlan, host: &mut MemoryHost) -> Result<ApplyReport, ApplyError> {
        apply_saved(saved.clone(), std::path::Path::new("plan.json"), 0, ApplyOptions::default(), host)
    }

    #[test]
    fn a_saved_plan_applies_once_then_is_stale() {
        let (state, ownership) = desired(SPEC);
        let mut host = MemoryHost::default();
        let saved = save(&state, &ownership, &host);
        let report = apply_file(&saved, &mut host).expect("fresh plan applies");
        assert_eq!(report.plan.changes, saved.plan.changes);
        assert_eq!(host.state, state);
        let error = apply_file(&saved, &mut host).expect_err("the host changed under the plan: its own apply");
        assert!(matches!(error, ApplyError::Stale(_)), "{error}");
        assert!(error.to_string().contains("appeared ipvs service tcp 203.0.113.100:80"), "{error}");
        assert_eq!(host.state, state);
    }

    #[test]
    fn a_stale_saved_plan_changes_nothing_and_names_the_drift() {
        let (state, ownership) = desired(SPEC);
        let mut host = MemoryHost::default();
        converge(&state, &ownership, &mut host).unwrap();
        let (changed, _) = desired(&SPEC.replace("weight: 0", "weight: 5"));
        let saved = save(&changed, &ownership, &host);
        assert_eq!(saved.plan.changes.len(), 1);
        host.state.ipvs.services.values_mut().next().unwrap().destinations.values_mut().next().unwrap().weight = 9;
        let before = host.state.clone();
        let made = host.made;
        let error = apply_file(&saved, &mut host).expect_err("stale");
        assert!(
            error
                .to_string()
                .contains("changed  ipvs real server 198.51.100.22:80 of tcp 203.0.113.100:80: weight 0 → 9"),
            "{error}"
        );
        assert_eq!((host.state.clone(), host.made), (before, made));
    }

    #[test]
    fn an_empty_saved_plan_is_a_no_op_as_often_as_it_is_applied() {
        let (state, ownership) = desired(SPEC);
        let mut host = MemoryHost::default();
        converge(&state, &ownership, &mut host).unwrap();
        let saved = save(&state, &ownership, &host);
        assert!(saved.plan.is_empty());
        for _ in 0..2 {
            assert!(!apply_file(&saved, &mut host).expect("no-op").changed());
        }
    }
}
