//! Fault injection around any [`Host`]: the `*-at-change` and `run-before-*` rules of
//! `LVS_CONVERGE_FAULT` ([`crate::fault`]) act on the batches of the plan's own changes,
//! so the apply loop itself knows nothing of them, and the same rules prove rollback on the
//! kernel (the lab) and on [`super::memory::MemoryHost`] (unit tests).

use std::collections::BTreeSet;

use super::{ipvs, ChangeError, ChangeOutcome, Host};
use crate::fault::{self, ChangeFault, FaultRules};
use crate::model::ipvs::{DestinationKey, ServiceKey};
use crate::model::{HostState, Subsystem};
use crate::observe::ObserveError;
use crate::plan::Change;

/// `host`, with faults injected at the plan positions `rules` name.
pub struct FaultInjecting<H: Host> {
    host: H,
    rules: FaultRules,
    /// The subsystems whose `run-before-SUBSYSTEM` commands have run: once per apply,
    /// before the first batch of that subsystem, not again before a later pass's batch
    /// (the drain deletes after the files of a first pass, say).
    ran_before: BTreeSet<Subsystem>,
    /// What a kill rule does; [`fault::die`] outside tests, which cannot die.
    kill: fn(),
}

impl<H: Host> FaultInjecting<H> {
    pub fn new(host: H, rules: FaultRules) -> Self {
        FaultInjecting { host, rules, ran_before: BTreeSet::new(), kill: || fault::die() }
    }

    /// `host` with the rules of `LVS_CONVERGE_FAULT` (none without the `fault-injection`
    /// feature: then it is `host` itself).
    pub fn from_env(host: H) -> Self {
        FaultInjecting::new(host, FaultRules::from_env())
    }

    pub fn inner(&self) -> &H {
        &self.host
    }
}

impl<H: Host> Host for FaultInjecting<H> {
    fn observe(&mut self) -> Result<HostState, ObserveError> {
        self.host.observe()
    }

    fn observe_touched(&mut self, touched: &super::Touched) -> Result<&HostState, ObserveError> {
        self.host.observe_touched(touched)
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
            if self.ran_before.insert(subsystem) {
                for command in self.rules.commands_before(subsystem.name()) {
                    fault::run_before(subsystem.name(), command);
                }
            }
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

    fn netlink_writes(&self) -> usize {
        self.host.netlink_writes()
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::apply::memory::MemoryHost;
    use crate::model::ipvs::Destination;
    use crate::plan::IpvsChange;

    /// A host with one service and real servers .11 .12 .13 at weight 1, and re-weights of
    /// each of them to 2, 3, 4.
    fn host_and_reweights() -> (MemoryHost, Vec<Change>) {
        let text = "apiVersion: lvs-converge/v1\nkind: Host\nipvs:\n  services:\n    - address: 203.0.113.100\n      port: 80\n      realServers:\n        - address: 203.0.113.11\n        - address: 203.0.113.12\n        - address: 203.0.113.13\n";
        let spec = crate::desired::parse(text, std::path::Path::new("test.yaml")).unwrap();
        let service = spec.desired.ipvs.services.values().next().unwrap().clone();
        let reweights = (0..3)
            .map(|n| {
                let before: Destination = service.destinations.values().nth(n).unwrap().clone();
                let after = Destination { weight: n as u32 + 2, ..before.clone() };
                Change::Ipvs(IpvsChange::UpdateDestination { service: service.key, before, after })
            })
            .collect();
        (MemoryHost::new(HostState { ipvs: spec.desired.ipvs, ..Default::default() }), reweights)
    }

    fn weights(host: &MemoryHost) -> Vec<u32> {
        host.state.ipvs.services.values().next().unwrap().destinations.values().map(|d| d.weight).collect()
    }

    fn send(host: &mut FaultInjecting<MemoryHost>, first_order: usize, changes: &[Change]) -> Vec<ChangeOutcome> {
        let refs: Vec<&Change> = changes.iter().collect();
        host.apply_steps(first_order, &refs, &mut || false)
    }

    fn kinds(outcomes: &[ChangeOutcome]) -> String {
        outcomes
            .iter()
            .map(|outcome| match outcome {
                ChangeOutcome::Applied => 'A',
                ChangeOutcome::Failed(_) => 'F',
                ChangeOutcome::Unknown(_) => '?',
                ChangeOutcome::NotSent => '-',
            })
            .collect()
    }

    #[test]
    fn a_refused_ipvs_change_is_sent_in_its_window_and_the_kernel_carries_on() {
        let (host, reweights) = host_and_reweights();
        let mut host = FaultInjecting::new(host, FaultRules::parse("refuse-at-change:6"));
        let outcomes = send(&mut host, 5, &reweights);
        assert_eq!(kinds(&outcomes), "AFA");
        let ChangeOutcome::Failed(error) = &outcomes[1] else { unreachable!() };
        assert_eq!(error.errno, Some(2), "the host itself refused the stand-in: {error:?}");
        assert_eq!(weights(host.inner()), [2, 1, 4]);
        assert_eq!(host.inner().attempted, 3, "all three were sent");
    }

    #[test]
    fn a_failure_splits_the_batch_there_and_nothing_after_it_is_sent() {
        for rule in ["fail-at-change:2", "refuse-at-change:2"] {
            let (host, reweights) = host_and_reweights();
            let sysctl = Change::Sysctl(crate::plan::SysctlChange::Set {
                key: "net.ipv4.ip_forward".into(),
                before: None,
                after: "1".into(),
            });
            let mut host = FaultInjecting::new(host, FaultRules::parse(rule));
            if rule.starts_with("fail") {
                let outcomes = send(&mut host, 1, &reweights);
                assert_eq!(kinds(&outcomes), "AF-", "{rule}");
                let ChangeOutcome::Failed(error) = &outcomes[1] else { unreachable!() };
                assert_eq!(error.message, "injected failure (LVS_CONVERGE_FAULT)");
                assert_eq!((weights(host.inner()), host.inner().attempted), (vec![2, 1, 1], 1));
            }
            // A refusal of anything but IPVS is a failure: the change is not sent.
            let attempted = host.inner().attempted;
            assert_eq!(kinds(&send(&mut host, 2, &[sysctl])), "F", "{rule}");
            assert_eq!(host.inner().attempted, attempted, "{rule}");
        }
    }

    #[test]
    fn a_kill_strikes_only_once_the_changes_before_it_took_effect() {
        let (host, reweights) = host_and_reweights();
        let mut host = FaultInjecting::new(host, FaultRules::parse("kill-at-change:3")).kill_by_panicking();
        let killed = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| send(&mut host, 1, &reweights)));
        assert!(killed.is_err(), "kill-at-change:3 did not kill");
        assert_eq!(weights(host.inner()), [2, 3, 1], "changes 1 and 2 were made, 3 was not");

        // The host refused change 1: apply stops there, and the kill is never reached.
        let (mut refusing, reweights) = host_and_reweights();
        refusing.refuse = vec![0];
        refusing.carry_on = false;
        let mut host = FaultInjecting::new(refusing, FaultRules::parse("kill-at-change:3")).kill_by_panicking();
        assert_eq!(kinds(&send(&mut host, 1, &reweights)), "F--");
    }

    #[test]
    fn run_before_runs_once_per_apply_even_when_its_subsystem_comes_back_in_a_later_pass() {
        let scratch = crate::test_support::scratch_dir("faults", "run-before-passes");
        let log = scratch.join("log");
        let rules = FaultRules::parse(&format!("run-before-ipvs:echo ran >> {}", log.display()));
        let (host, reweights) = host_and_reweights();
        let mut host = FaultInjecting::new(host, rules);
        let file = Change::File(crate::plan::FileChange::Create {
            path: "/etc/lvs/a.conf".into(),
            after: crate::model::files::FileContent::from("text\n"),
        });
        // Pass 1 ends on the files; pass 2 (the drain deletes) is IPVS again.
        send(&mut host, 1, &reweights[..1]);
        send(&mut host, 2, std::slice::from_ref(&file));
        send(&mut host, 3, &reweights[1..]);
        assert_eq!(std::fs::read_to_string(&log).unwrap(), "ran\n");
        std::fs::remove_dir_all(scratch).unwrap();
    }

    #[test]
    fn run_before_runs_once_before_the_first_batch_of_its_subsystem() {
        let scratch = crate::test_support::scratch_dir("faults", "run-before");
        let log = scratch.join("log");
        let rules = FaultRules::parse(&format!("run-before-ipvs:echo ran >> {}", log.display()));
        let (host, reweights) = host_and_reweights();
        let mut host = FaultInjecting::new(host, rules);
        send(&mut host, 1, &reweights[..1]);
        send(&mut host, 2, &reweights[1..]);
        assert_eq!(std::fs::read_to_string(&log).unwrap(), "ran\n");
        // Undo operations are not plan batches: they run nothing.
        let undo = reweights[0].inverse().unwrap();
        host.apply(&undo.iter().collect::<Vec<_>>(), &mut || false);
        assert_eq!(std::fs::read_to_string(&log).unwrap(), "ran\n");
        std::fs::remove_dir_all(scratch).unwrap();
    }

    #[test]
    fn without_rules_the_wrapper_is_the_host() {
        let (host, reweights) = host_and_reweights();
        let mut host = FaultInjecting::new(host, FaultRules::parse(""));
        assert_eq!(kinds(&send(&mut host, 1, &reweights)), "AAA");
        assert_eq!(weights(host.inner()), [2, 3, 4]);
    }
}
