//! `lvs-converge agent`: a long-running converge loop. Every interval (jittered) it runs the
//! same converge as `apply -f` under the same lock; between runs it health-checks real
//! servers and shares their health with `plan`/`apply` through the records file. It never
//! prints: what happens is told as [`AgentEvent`]s, which the command line renders and logs.

pub mod health;
pub mod metrics;
pub mod notify;
pub mod probe;
pub mod records;
pub mod run;
pub mod signals;
pub mod tracker;

use std::path::PathBuf;
use std::time::Duration;

use crate::apply::ApplyError;
use crate::converge::{ConvergeError, StageDurations};

/// One thing the agent did or saw: each is one log line.
#[derive(Debug)]
pub enum AgentEvent {
    /// The loop started with this spec and converge interval.
    Started { spec: PathBuf, interval: Duration, checks: usize },
    /// A converge run ended.
    Run(RunReport),
    /// SIGHUP: the spec was read again and is in force from now on.
    Reloaded { spec: PathBuf, checks: usize },
    /// SIGHUP: the new spec is invalid; the old one stays in force.
    ReloadRefused { error: ConvergeError },
    /// SIGTERM/SIGINT: the loop stops; the IPVS table stays as it is.
    Stopping { signal: &'static str },
    /// A real server's health changed (its first verdict included).
    Health(health::Transition),
    /// The health records could not be written (plan/apply by hand then go by the last ones).
    RecordsUnwritten { dir: PathBuf, error: std::io::Error },
}

/// What one converge run found and did.
#[derive(Debug)]
pub struct RunReport {
    /// Why this run happened.
    pub trigger: Trigger,
    pub outcome: RunOutcome,
    pub took: Duration,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trigger {
    /// The first run, at start.
    Start,
    /// The interval elapsed.
    Interval,
    /// A health transition changed what the IPVS table should hold.
    Health,
    /// SIGHUP brought a new spec.
    Reload,
}

#[derive(Debug)]
pub enum RunOutcome {
    /// The host already matched: nothing was changed.
    Converged { stages: StageDurations },
    /// Drift found and repaired: `changes` changes made and verified.
    Repaired { changes: usize, netlink_writes: usize, stages: StageDurations },
    /// Another apply holds the lock: this run was skipped (never waited for, so a manual
    /// apply always gets in).
    LockBusy { holder: String },
    /// The run failed; the loop goes on.
    Failed(RunFailure),
}

#[derive(Debug)]
pub enum RunFailure {
    /// Before changing anything: the spec, reading the host, the lock …
    Converge(ConvergeError),
    /// While changing the host (rolled back, or partial: the error says which).
    Apply(ApplyError),
}

impl RunOutcome {
    /// The `outcome` label of `lvs_converge_converge_runs_total`, and the JSON log's outcome.
    pub fn name(&self) -> &'static str {
        match self {
            RunOutcome::Converged { .. } => "converged",
            RunOutcome::Repaired { .. } => "repaired",
            RunOutcome::LockBusy { .. } => "lock_busy",
            RunOutcome::Failed(_) => "failed",
        }
    }
}

#[cfg(test)]
mod tests;
