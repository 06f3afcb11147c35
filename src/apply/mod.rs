//! Appliers: carry out a plan's changes in order, then re-read the host and verify that
//! nothing is left to do.

pub mod addresses;
pub mod ipvs;
pub mod links;
pub mod live;
pub mod modules;
pub mod routes;
pub mod sysctl;

use crate::model::HostState;
use crate::observe::ObserveError;
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
}

#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    #[error(transparent)]
    Observe(#[from] ObserveError),
    #[error("change {number} of {total} failed: {what}\n  cause: {message}\n  {}", applied_text(*.number - 1))]
    Change { number: usize, total: usize, what: String, message: String },
    #[error("apply finished but the host still differs from the spec in {} place(s):\n{}\n  hint: something else may be changing this host (another tool, a daemon); compare `lvs-converge plan`", .residual.changes.len(), describe(.residual))]
    Residual { residual: Plan },
}

fn applied_text(done: usize) -> String {
    match done {
        0 => "nothing was changed; fix the cause and run apply again".into(),
        n => format!("the {n} change(s) before it were applied and stay in place; fix the cause and run apply again"),
    }
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
    /// The plan that was carried out (empty: nothing to do).
    pub plan: Plan,
}

impl ApplyReport {
    pub fn changed(&self) -> bool {
        !self.plan.is_empty()
    }
}

/// Carries out `plan` (computed against the host's current state), then verifies.
pub fn apply(
    plan: Plan,
    desired: &HostState,
    ownership: &Ownership,
    host: &mut dyn Host,
) -> Result<ApplyReport, ApplyError> {
    if !plan.is_empty() {
        execute(&plan, host)?;
        verify(desired, ownership, host)?;
    }
    Ok(ApplyReport { plan })
}

/// Carries out the plan's changes in order, batching consecutive changes of one subsystem.
pub fn execute(plan: &Plan, host: &mut dyn Host) -> Result<(), ApplyError> {
    let total = plan.changes.len();
    let mut start = 0;
    while start < total {
        let subsystem = plan.changes[start].change.subsystem();
        let batch: Vec<&Change> = plan.changes[start..]
            .iter()
            .map(|planned| &planned.change)
            .take_while(|change| change.subsystem() == subsystem)
            .collect();
        if let Err(failure) = host.apply(&batch) {
            let index = start + failure.index;
            let view = plan.changes[index].change.view();
            return Err(ApplyError::Change {
                number: index + 1,
                total,
                what: format!("{} {}", format!("{:?}", view.action).to_lowercase(), view.object()),
                message: failure.message,
            });
        }
        start += batch.len();
    }
    Ok(())
}

/// Re-reads the host; anything still different is an error naming it.
pub fn verify(desired: &HostState, ownership: &Ownership, host: &mut dyn Host) -> Result<(), ApplyError> {
    let residual = plan::diff(desired, &host.observe()?, ownership);
    if residual.is_empty() {
        Ok(())
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
        apply(plan, desired, ownership, host)
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
    fn failure_names_the_change_and_what_was_applied() {
        let (state, ownership) = desired(SPEC);
        let mut host = MemoryHost { refuse_at: Some(1), ..Default::default() };
        let error = converge(&state, &ownership, &mut host).expect_err("refused");
        let text = error.to_string();
        assert!(text.starts_with("change 2 of 3 failed: create ipvs real server"), "{text}");
        assert!(text.contains("injected failure") && text.contains("the 1 change(s) before it were applied"), "{text}");
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
}
