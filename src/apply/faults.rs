//! Fault injection around any [`Host`]: the `*-at-change` and `run-before-*` rules of
//! `LVS_CONVERGE_FAULT` ([`crate::fault`]) act on the batches of the plan's own changes,
//! so the apply loop itself knows nothing of them, and the same rules prove rollback on the
//! kernel (the lab) and on [`super::memory::MemoryHost`] (unit tests).

use super::{ipvs, ChangeError, ChangeOutcome, Host};
use crate::fault::{self, ChangeFault, FaultRules};
use crate::model::ipvs::{DestinationKey, ServiceKey};
use crate::model::HostState;
use crate::observe::ObserveError;
use crate::plan::Change;

/// `host`, with faults injected at the plan positions `rules` name.
pub struct FaultInjecting<H: Host> {
    host: H,
    rules: FaultRules,
    /// The subsystem of the last batch of plan changes, so that a `run-before-SUBSYSTEM`
    /// command runs once before that subsystem's changes, not before each batch.
    last_subsystem: Option<&'static str>,
    /// What a kill rule does; [`fault::die`] outside tests, which cannot die.
    kill: fn(),
}

impl<H: Host> FaultInjecting<H> {
    pub fn new(host: H, rules: FaultRules) -> Self {
        FaultInjecting { host, rules, last_subsystem: None, kill: || fault::die() }
    }

    /// `host` with the rules of `LVS_CONVERGE_FAULT` (none without the `fault-injection`
    /// feature: then it is `host` itself).
    pub fn from_env(host: H) -> Self {
        FaultInjecting::new(host, FaultRules::from_env())
    }

    pub fn inner(&self) -> &H {
        &self.host
    }

    pub fn inner_mut(&mut self) -> &mut H {
        &mut self.host
    }
}

impl<H: Host> Host for FaultInjecting<H> {
    fn observe(&mut self) -> Result<HostState, ObserveError> {
        self.host.observe()
    }

    fn apply(&mut self, changes: &[&Change], stop: &mut dyn FnMut() -> bool) -> Vec<ChangeOutcome> {
        self.host.apply(changes, stop)
    }

    /// The first change of the batch that a rule names decides: an IPVS change to refuse
    /// is replaced, in place, by an operation the kernel refuses, so that the kernel itself
    /// carries on with the rest of its window; for any other fault, only the changes
    /// before it are sent, and then the process dies (kill) or that change fails.
    fn apply_steps(
        &mut self,
        first_order: usize,
        changes: &[&Change],
        stop: &mut dyn FnMut() -> bool,
    ) -> Vec<ChangeOutcome> {
        if let Some(first) = changes.first() {
            let subsystem = first.subsystem();
            if self.last_subsystem != Some(subsystem) {
                for command in self.rules.commands_before(subsystem) {
                    fault::run_before(subsystem, command);
                }
            }
            self.last_subsystem = Some(subsystem);
        }
        let fault = (0..changes.len()).find_map(|index| self.rules.at_change(first_order + index).map(|f| (index, f)));
        let Some((at, fault)) = fault else {
            return self.host.apply_steps(first_order, changes, stop);
        };
        if let (ChangeFault::Refuse, Change::Ipvs(change)) = (fault, changes[at]) {
            let refused = Change::Ipvs(ipvs::refused_stand_in(change));
            let mut batch = changes.to_vec();
            batch[at] = &refused;
            return self.host.apply_steps(first_order, &batch, stop);
        }
        let mut outcomes = match at {
            0 => Vec::new(),
            _ => self.host.apply_steps(first_order, &changes[..at], stop),
        };
        outcomes.resize(at, ChangeOutcome::no_answer());
        if outcomes.iter().all(|outcome| *outcome == ChangeOutcome::Applied) {
            if fault == ChangeFault::Kill {
                (self.kill)();
            }
            outcomes.push(ChangeOutcome::Failed(ChangeError::new("injected failure (LVS_CONVERGE_FAULT)")));
        }
        outcomes.resize(changes.len(), ChangeOutcome::NotSent);
        outcomes
    }

    fn remember_drains(&mut self, draining: &[(ServiceKey, DestinationKey)]) -> Result<(), String> {
        self.host.remember_drains(draining)
    }
}

#[cfg(test)]
impl<H: Host> FaultInjecting<H> {
    /// A kill rule panics instead of killing the test process.
    pub fn kill_by_panicking(mut self) -> Self {
        self.kill = || panic!("fault injection: killed");
        self
    }
}
