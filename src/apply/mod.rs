//! Appliers: carry out a plan's changes in order, then re-read the host and verify that
//! nothing is left to do.
//!
//! What a failed apply reports is computed from what the host said about every change it
//! was given (applied, failed, unknown, not sent), never assumed from the position of the
//! first failure: the kernel carries on with a pipelined IPVS window after refusing one
//! operation, so changes after a failed one may have taken effect.

pub mod addresses;
pub mod drains;
pub mod faults;
pub mod files;
pub mod fou;
pub mod ipvs;
pub mod links;
pub mod live;
pub mod memory;
pub mod modules;
pub mod routes;
pub mod sysctl;
pub mod touched;

use crate::model::ipvs::{DestinationKey, ServiceKey};
use crate::model::keyed::Keyed;
use crate::model::HostState;
use crate::model::Ownership;
use crate::observe::ObserveError;
use crate::plan::saved::{SavedPlan, Stale};
use crate::plan::{self, Change, Plan};
use live::Kernel;
use memory::MemoryHost;
use touched::Touched;

/// Why the host did not make a change (or could not say whether it did), typed so that
/// the kernel's own answer survives to the report and to JSON.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct ChangeError {
    /// What lvs-converge was doing and why that failed, as the layer that failed words it.
    pub message: String,
    /// The errno (positive) the kernel (or the system call) answered, where there was one.
    pub errno: Option<i32>,
    /// What lvs-converge was doing when the kernel refused (`adding route …`), where the
    /// layer that failed says so apart from its message.
    pub action: Option<String>,
    /// The kernel's own explanation (netlink extended ack), when it sent one.
    pub kernel_message: Option<String>,
}

impl ChangeError {
    /// A failure that did not come from the kernel (a check of lvs-converge's own).
    pub fn new(message: impl Into<String>) -> Self {
        ChangeError { message: message.into(), errno: None, action: None, kernel_message: None }
    }

    /// A failure with the kernel's errno.
    pub fn with_errno(message: impl Into<String>, errno: i32) -> Self {
        ChangeError { errno: Some(errno), ..ChangeError::new(message) }
    }

    /// A failed system call: `message` already words it; its errno is kept.
    pub fn io(message: impl Into<String>, error: &std::io::Error) -> Self {
        ChangeError { errno: error.raw_os_error(), ..ChangeError::new(message) }
    }

    /// The same failure, met while undoing a step.
    fn undoing(self) -> Self {
        ChangeError { message: format!("undoing it: {}", self.message), ..self }
    }
}

impl From<&crate::netlink::route::RouteNetlinkError> for ChangeError {
    fn from(error: &crate::netlink::route::RouteNetlinkError) -> Self {
        use crate::netlink::route::RouteNetlinkError::Rejected;
        let (action, kernel_message) = match error {
            Rejected { action, kernel, .. } => (Some(action.clone()), kernel.clone()),
            _ => (None, None),
        };
        ChangeError { message: error.to_string(), errno: error.errno(), action, kernel_message }
    }
}

impl From<&crate::netlink::ipvs::NetlinkError> for ChangeError {
    fn from(error: &crate::netlink::ipvs::NetlinkError) -> Self {
        use crate::netlink::ipvs::NetlinkError::Rejected;
        let action = match error {
            Rejected { action, .. } => Some(action.clone()),
            _ => None,
        };
        let kernel_message = error.kernel_message().map(str::to_string);
        ChangeError { message: error.to_string(), errno: error.errno(), action, kernel_message }
    }
}

/// What became of one change passed to [`Host::apply`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChangeOutcome {
    /// It took effect.
    Applied,
    /// It was refused and did not take effect.
    Failed(ChangeError),
    /// It was sent but the answer was lost: it may or may not have taken effect.
    Unknown(ChangeError),
    /// It was never attempted (an earlier one failed, or a stop was requested).
    NotSent,
}

impl ChangeOutcome {
    /// What a host that gave no answer for a change said about it: nothing, so it may
    /// have taken effect.
    pub fn no_answer() -> Self {
        ChangeOutcome::Unknown(ChangeError::new("the host gave no outcome for this change"))
    }
}

impl From<Result<(), ChangeError>> for ChangeOutcome {
    /// A change made by one request that either took effect or was refused.
    fn from(result: Result<(), ChangeError>) -> Self {
        result.map_or_else(ChangeOutcome::Failed, |()| ChangeOutcome::Applied)
    }
}

/// How one subsystem's changes are carried out, on the live kernel and on the in-memory
/// host alike, so that both hosts stay one dispatch away from every subsystem: a subsystem
/// implements it for its change type in its own file, and [`applier`] names it.
pub trait Applier {
    /// Whether the change is made by netlink requests (counted as the apply's netlink
    /// writes), not by files, /proc or modprobe.
    fn over_netlink(&self) -> bool;
    /// Makes the change on the kernel and says what became of it.
    fn live(&self, kernel: &mut Kernel) -> ChangeOutcome;
    /// Makes the change on the in-memory host, refusing what the kernel refuses, with its
    /// errno, and with the kernel's side effects on other subsystems.
    fn in_memory(&self, host: &mut MemoryHost) -> Result<(), ChangeError>;
}

/// The applier of a change: the one place the appliers go over every subsystem.
pub fn applier(change: &Change) -> &dyn Applier {
    match change {
        Change::Module(change) => change,
        Change::Link(change) => change,
        Change::Fou(change) => change,
        Change::Sysctl(change) => change,
        Change::Address(change) => change,
        Change::Route(change) => change,
        Change::Ipvs(change) => change,
        Change::File(change) => change,
    }
}

/// The host as appliers see it: something to read and to change. The live kernel in
/// production, [`memory::MemoryHost`] in unit tests, either of them wrapped by
/// [`faults::FaultInjecting`] when fault rules are given.
pub trait Host {
    /// Reads the whole host, and remembers it as what [`Host::observe_touched`] starts from.
    fn observe(&mut self) -> Result<HostState, ObserveError>;
    /// The host after a pass that changed `touched`: what was last read (or the state the
    /// plan was made from), with `touched` read again. The whole host when nothing was read
    /// before or `touched` says everything.
    fn observe_touched(&mut self, touched: &Touched) -> Result<&HostState, ObserveError>;
    /// Makes `changes` (all of one subsystem, in order) and says what became of each: one
    /// outcome per change, in order. A host may carry on after a failure (the kernel does
    /// within an IPVS window), so any change may be `Applied` whatever came before it.
    /// `stop` is asked at the operation boundaries inside the batch (IPVS windows); once it
    /// says yes, nothing more is sent.
    fn apply(&mut self, changes: &[&Change], stop: &mut dyn FnMut() -> bool) -> Vec<ChangeOutcome>;
    /// [`Host::apply`] for a batch of the plan's own changes, the first of them step
    /// `first_order` of the apply (undo operations go to [`Host::apply`]). This is the seam
    /// for fault injection ([`faults::FaultInjecting`]): its rules name plan positions
    /// (`fail-at-change:K`) and must never strike an undo, so the apply loop passes positions
    /// here and nowhere else; every other host is the default, [`Host::apply`].
    fn apply_steps(
        &mut self,
        _first_order: usize,
        changes: &[&Change],
        stop: &mut dyn FnMut() -> bool,
    ) -> Vec<ChangeOutcome> {
        self.apply(changes, stop)
    }
    /// Change requests sent over netlink so far (reads not counted), undo operations
    /// included: what an apply reports as its netlink writes.
    fn netlink_writes(&self) -> usize;
    /// Remembers which removed real servers are draining (keeping the start time of those
    /// already known), so a drain's deadline survives between runs.
    fn remember_drains(&mut self, _draining: &[(ServiceKey, DestinationKey)]) -> Result<(), String> {
        Ok(())
    }
}

/// Makes changes one at a time, up to the first that does not plainly apply or a stop
/// request between two of them; the rest are not sent. How hosts carry out anything but a
/// run of IPVS changes, which goes to the kernel as one batch.
fn one_by_one(
    changes: &[&Change],
    stop: &mut dyn FnMut() -> bool,
    mut make: impl FnMut(&Change) -> ChangeOutcome,
) -> Vec<ChangeOutcome> {
    let mut outcomes = Vec::with_capacity(changes.len());
    for (index, change) in changes.iter().enumerate() {
        if index > 0 && stop() {
            break;
        }
        let outcome = make(change);
        let went_wrong = outcome != ChangeOutcome::Applied;
        outcomes.push(outcome);
        if went_wrong {
            break;
        }
    }
    outcomes.resize(changes.len(), ChangeOutcome::NotSent);
    outcomes
}

/// A change of the plan being applied, with its 1-based position in that plan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    pub order: usize,
    pub change: Change,
}

/// A step that went wrong (or whose undo did), and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StepError {
    pub step: Step,
    pub error: ChangeError,
}

/// How a failed or interrupted apply left the host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Nothing took effect.
    Untouched,
    /// Everything that took effect was undone: the host is as it was, except `kept`, what
    /// cannot be undone (loaded modules …), which stays.
    RolledBack { kept: Vec<Step> },
    /// The host holds part of the plan: `stays` took effect and was not undone (rollback
    /// off, or its undo failed: see `rollback_failures`); whether `unknown` took effect is
    /// not known (its answer was lost).
    Partial { stays: Vec<Step>, unknown: Vec<StepError>, rollback_failures: Vec<StepError> },
}

impl Outcome {
    /// Everything this outcome leaves on the host that the plan put there.
    pub fn stays(&self) -> &[Step] {
        match self {
            Outcome::Untouched => &[],
            Outcome::RolledBack { kept } => kept,
            Outcome::Partial { stays, .. } => stays,
        }
    }
}

/// Why an apply failed and how it left the host. Plain data: its words are made in
/// `render::apply_failure`, because naming a step takes render's words for changes.
#[derive(Debug)]
pub enum ApplyError {
    Observe(ObserveError),
    /// Changes were refused (or their answers lost); `outcome` says what the host holds.
    Change {
        total: usize,
        failed: Vec<StepError>,
        outcome: Outcome,
    },
    /// A stop request (SIGINT/SIGTERM) ended apply at an operation boundary.
    Interrupted {
        sent: usize,
        total: usize,
        outcome: Outcome,
    },
    /// Apply finished, but re-planning the host still gives these changes.
    Residual {
        // Boxed like `Stale`: a plan is the largest thing an error carries.
        residual: Box<Plan>,
    },
    /// A saved plan no longer fits the host: nothing was changed.
    Stale(Box<Stale>),
    /// The drain records could not be written (the reason, as the record store words it).
    DrainRecords(String),
    /// Changes took effect, then apply could not finish (re-reading or verifying the host,
    /// recording drains): what was made stays, and `outcome` lists it.
    AfterChanges {
        cause: Box<ApplyError>,
        outcome: Outcome,
    },
}

impl From<ObserveError> for ApplyError {
    fn from(error: ObserveError) -> Self {
        ApplyError::Observe(error)
    }
}

impl ApplyError {
    /// How the host was left, for a failed or interrupted change; `None` for errors that
    /// happen before or after changes are made.
    pub fn outcome(&self) -> Option<&Outcome> {
        match self {
            ApplyError::Change { outcome, .. }
            | ApplyError::Interrupted { outcome, .. }
            | ApplyError::AfterChanges { outcome, .. } => Some(outcome),
            _ => None,
        }
    }
}

/// What an apply did.
#[derive(Debug, Clone, PartialEq)]
pub struct ApplyReport {
    /// The changes that were carried out (empty: nothing to do), and the real servers still
    /// draining at the end.
    pub plan: Plan,
    /// Change requests sent over netlink (reads not counted): one per IPVS operation.
    pub netlink_writes: usize,
}

impl ApplyReport {
    pub fn changed(&self) -> bool {
        !self.plan.is_empty()
    }
}

/// Asked at every operation boundary: true when apply must stop there (SIGINT/SIGTERM).
pub type StopCheck = fn() -> bool;

/// Choices the user makes on the command line.
#[derive(Debug, Clone, Copy)]
pub struct ApplyOptions {
    /// Undo the changes already made when a later one fails (`--no-rollback` turns it off).
    pub rollback: bool,
    /// Wait for draining real servers to finish (up to their drain timeout) and delete them,
    /// instead of leaving that to the next run.
    pub wait: bool,
    /// Whether to stop; [`crate::interrupt::requested`] in production, anything in tests.
    pub stop: StopCheck,
}

impl Default for ApplyOptions {
    fn default() -> Self {
        ApplyOptions { rollback: true, wait: false, stop: crate::interrupt::requested }
    }
}

/// Carries out `plan` (computed against the host's current state), then re-reads the host:
/// real servers whose drain has finished are deleted in a follow-up pass (with `wait`, until
/// none is left draining); anything else still different is an error. A failure in any
/// pass rolls back (or reports) everything this apply did, earlier passes included.
pub fn apply(
    plan: Plan,
    desired: &HostState,
    ownership: &Ownership,
    options: ApplyOptions,
    host: &mut dyn Host,
) -> Result<ApplyReport, ApplyError> {
    if plan.converged() {
        return Ok(ApplyReport { plan, netlink_writes: 0 });
    }
    let writes_before = host.netlink_writes();
    let done =
        |plan: Plan, host: &dyn Host| ApplyReport { plan, netlink_writes: host.netlink_writes() - writes_before };
    const FOLLOW_UP_PASSES: usize = 5;
    let mut report = plan.clone();
    let mut current = plan;
    let mut follow_ups = 0;
    let mut journal = Journal::default();
    loop {
        let first_order = report.changes.len() - current.changes.len() + 1;
        execute(&current, first_order, options, host, &mut journal)?;
        // From here on the host holds what the journal lists, whatever goes wrong.
        let stays = |cause: ApplyError, journal: &Journal| ApplyError::AfterChanges {
            cause: Box::new(cause),
            outcome: Outcome::Partial { stays: journal.steps(), unknown: Vec::new(), rollback_failures: Vec::new() },
        };
        // Real servers still draining change without apply (their connections end): their
        // services are read again too, or a drain waited on would never be seen to end.
        let mut touched = Touched::of(&current);
        touched.services.extend(report.draining.iter().map(|draining| draining.service));
        let observed = host.observe_touched(&touched).map_err(|e| stays(e.into(), &journal))?;
        let mut next = plan::diff(desired, observed, ownership);
        if !next.changes.iter().all(|planned| is_drain_follow_up(&planned.change)) || follow_ups == FOLLOW_UP_PASSES {
            next = verify(desired, ownership, &touched, host).map_err(|e| stays(e, &journal))?;
        }
        host.remember_drains(&draining_now(&current, &next))
            .map_err(|e| stays(ApplyError::DrainRecords(e), &journal))?;
        report.draining = next.draining.clone();
        report.observed_at = next.observed_at;
        // A stop request between passes ends apply here, before the follow-up: what was done
        // is verified and stays; the drained real servers are deleted by the next run.
        if !next.changes.is_empty() && (options.stop)() {
            return Ok(done(report, host));
        }
        if !next.changes.is_empty() {
            follow_ups += 1;
            report.changes.extend(next.changes.iter().cloned());
            current = next;
            continue;
        }
        if next.draining.is_empty() || !options.wait || (options.stop)() {
            return Ok(done(report, host));
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

/// The undo log of one apply: every step that took effect, whatever its position in its
/// batch, with the changes that undo it (`None`: it cannot be undone).
#[derive(Default)]
struct Journal {
    undo: Vec<(Step, Option<Vec<Change>>)>,
}

/// What a rollback left: steps that stay (no undo, or their undo failed), and why.
struct Undone {
    kept: Vec<Step>,
    failures: Vec<StepError>,
    unknown: Vec<StepError>,
    /// Services and interfaces this apply created and the rollback deleted again: the
    /// kernel deleted what lived in them (real servers; addresses, routes and sysctls of
    /// the interface) with them, whatever became of those objects' own undo.
    deleted: Vec<Container>,
    /// Services and interfaces this apply created whose deletion by the rollback got no
    /// answer: what lived in them may be gone with them or not.
    maybe_deleted: Vec<Container>,
}

impl Undone {
    /// True when `step` left nothing behind because what it lives in was deleted since.
    fn swept(&self, step: &Step) -> bool {
        container(&step.change).is_some_and(|container| self.deleted.contains(&container))
    }

    /// True when whether `step` left anything behind depends on a deletion of what it
    /// lives in whose answer was lost.
    fn maybe_swept(&self, step: &Step) -> bool {
        container(&step.change).is_some_and(|container| self.maybe_deleted.contains(&container))
    }
}

/// Something the kernel deletes together with everything in it.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Container {
    Service(ServiceKey),
    Interface(String),
}

/// What the object a change puts on the host lives in: a real server in its service; an
/// address, a route through a device or a per-interface sysctl on its interface.
fn container(change: &Change) -> Option<Container> {
    use plan::IpvsChange::{CreateDestination, DrainDestination, UpdateDestination};
    match change {
        Change::Ipvs(
            CreateDestination { service, .. } | UpdateDestination { service, .. } | DrainDestination { service, .. },
        ) => Some(Container::Service(*service)),
        Change::Address(plan::AddressChange::Create { after }) => Some(Container::Interface(after.interface.clone())),
        Change::Route(plan::RouteChange::Create { after } | plan::RouteChange::Update { after, .. }) => {
            after.device.clone().map(Container::Interface)
        }
        Change::Sysctl(plan::SysctlChange::Set { key, .. }) => sysctl::interface_of(key).map(Container::Interface),
        _ => None,
    }
}

/// What a change creates that undoing it deletes, with everything in it.
fn created_container(change: &Change) -> Option<Container> {
    match change {
        Change::Ipvs(plan::IpvsChange::CreateService { service, .. }) => Some(Container::Service(*service)),
        Change::Link(plan::LinkChange::Create { after }) => Some(Container::Interface(after.name.clone())),
        _ => None,
    }
}

impl Journal {
    fn record(&mut self, step: Step) {
        let inverse = step.change.inverse();
        self.undo.push((step, inverse));
    }

    fn is_empty(&self) -> bool {
        self.undo.is_empty()
    }

    fn steps(&self) -> Vec<Step> {
        self.undo.iter().map(|(step, _)| step.clone()).collect()
    }

    /// Undoes everything recorded, newest first, one change at a time. A failed undo does
    /// not stop the others: each is tried, and every failure is returned with its step
    /// (which stays). A stop request does not interrupt a rollback.
    fn roll_back(self, host: &mut dyn Host) -> Undone {
        let mut undone = Undone {
            kept: Vec::new(),
            failures: Vec::new(),
            unknown: Vec::new(),
            deleted: Vec::new(),
            maybe_deleted: Vec::new(),
        };
        for (step, inverse) in self.undo.into_iter().rev() {
            let Some(inverse) = inverse else {
                undone.kept.push(step);
                continue;
            };
            let mut failed = None;
            let mut unknown = None;
            // What stays of a step whose undo failed part-way (a deleted service was
            // recreated but one of its real servers was not): the opposite of each part
            // that failed. If the first part failed, the whole step stays.
            let mut residue: Option<Vec<Change>> = Some(Vec::new());
            for (part, change) in inverse.iter().enumerate() {
                let outcome = host.apply(&[change], &mut || false).into_iter().next();
                let error = match outcome {
                    Some(ChangeOutcome::Applied) => continue,
                    Some(ChangeOutcome::Unknown(error)) => {
                        unknown = unknown.or(Some(error.undoing()));
                        continue;
                    }
                    Some(ChangeOutcome::Failed(error)) => error.undoing(),
                    Some(ChangeOutcome::NotSent) | None => ChangeError::new("undoing it: the host did not attempt it"),
                };
                failed = failed.or(Some(error));
                residue = match (part, residue, change.inverse()) {
                    (1.., Some(mut residue), Some(opposite)) => {
                        residue.extend(opposite);
                        Some(residue)
                    }
                    _ => None,
                };
            }
            match (failed, unknown) {
                (_, Some(error)) => {
                    undone.maybe_deleted.extend(created_container(&step.change));
                    undone.unknown.push(StepError { step, error })
                }
                (Some(error), None) => {
                    match residue {
                        Some(residue) => undone
                            .kept
                            .extend(residue.into_iter().rev().map(|change| Step { order: step.order, change })),
                        None => undone.kept.push(step.clone()),
                    }
                    undone.failures.push(StepError { step, error });
                }
                (None, None) => undone.deleted.extend(created_container(&step.change)),
            }
        }
        undone.kept.reverse();
        undone
    }

    /// How the host is left after a failure or a stop: rolls back what took effect if
    /// asked to, and says exactly what stays and what is unknown.
    fn settle(self, unknown: Vec<StepError>, rollback: bool, host: &mut dyn Host) -> Outcome {
        if self.is_empty() && unknown.is_empty() {
            return Outcome::Untouched;
        }
        if !rollback {
            return Outcome::Partial { stays: self.steps(), unknown, rollback_failures: Vec::new() };
        }
        let mut undone = self.roll_back(host);
        let mut all_unknown = unknown;
        all_unknown.append(&mut undone.unknown);
        all_unknown.retain(|unknown| !undone.swept(&unknown.step));
        all_unknown.sort_by_key(|unknown| unknown.step.order);
        let (maybe_kept, kept): (Vec<Step>, Vec<Step>) =
            undone.kept.iter().filter(|step| !undone.swept(step)).cloned().partition(|step| undone.maybe_swept(step));
        all_unknown.extend(maybe_kept.into_iter().map(|step| {
            let what = match container(&step.change) {
                Some(Container::Interface(_)) => "interface",
                _ => "service",
            };
            let error = ChangeError::new(format!(
                "whether it stays depends on the deletion of its {what}, whose answer was lost"
            ));
            StepError { step, error }
        }));
        all_unknown.sort_by_key(|unknown| unknown.step.order);
        // A failed undo whose step was swept away with its service left nothing behind.
        if all_unknown.is_empty() && undone.failures.iter().all(|failure| undone.swept(&failure.step)) {
            return Outcome::RolledBack { kept };
        }
        Outcome::Partial { stays: kept, unknown: all_unknown, rollback_failures: undone.failures }
    }
}

/// The changes of one batch: consecutive IPVS changes go to the kernel together
/// (pipelined), every other change alone, so that a stop is seen between them.
fn batch_end(changes: &[&Change], start: usize) -> usize {
    match changes[start] {
        Change::Ipvs(_) => start + changes[start..].iter().take_while(|c| matches!(c, Change::Ipvs(_))).count(),
        _ => start + 1,
    }
}

/// Carries out the plan's changes in order (its first change is step `first_order` of the
/// apply), recording every change that takes effect in `journal`. On a failure, an
/// unknown outcome or a stop request, sends nothing more and settles the host: rolls back
/// everything in the journal (unless told not to) and reports exactly what stays.
fn execute(
    plan: &Plan,
    first_order: usize,
    options: ApplyOptions,
    host: &mut dyn Host,
    journal: &mut Journal,
) -> Result<(), ApplyError> {
    let changes: Vec<&Change> = plan.changes.iter().map(|planned| &planned.change).collect();
    let total = first_order - 1 + changes.len();
    let step = |index: usize| Step { order: first_order + index, change: changes[index].clone() };
    let mut failed = Vec::new();
    let mut unknown = Vec::new();
    let mut sent = 0;
    let mut interrupted = false;
    let mut start = 0;
    while start < changes.len() {
        if (options.stop)() {
            interrupted = true;
            break;
        }
        let end = batch_end(&changes, start);
        let batch = &changes[start..end];
        let mut outcomes = host.apply_steps(first_order + start, batch, &mut || (options.stop)());
        // A host that answers for fewer changes than it was given has not said what became
        // of the rest: they count as unknown, never as done or not done.
        outcomes.resize(batch.len(), ChangeOutcome::no_answer());
        let mut stopped_inside = false;
        for (index, outcome) in (start..end).zip(outcomes) {
            match outcome {
                ChangeOutcome::Applied => journal.record(step(index)),
                ChangeOutcome::Failed(error) => failed.push(StepError { step: step(index), error }),
                ChangeOutcome::Unknown(error) => unknown.push(StepError { step: step(index), error }),
                ChangeOutcome::NotSent => {
                    stopped_inside = true;
                    continue;
                }
            }
            sent = index + 1;
        }
        if !failed.is_empty() || !unknown.is_empty() {
            break;
        }
        if stopped_inside {
            interrupted = true;
            break;
        }
        start = end;
    }
    if failed.is_empty() && unknown.is_empty() && !interrupted {
        return Ok(());
    }
    let outcome = std::mem::take(journal).settle(unknown, options.rollback, host);
    Err(if failed.is_empty() && interrupted {
        ApplyError::Interrupted { sent: first_order - 1 + sent, total, outcome }
    } else {
        ApplyError::Change { total, failed, outcome }
    })
}

/// Re-reads what the pass `touched`; anything still different is an error naming it. A
/// just-applied change can take a moment to show (e.g. an address still in DAD), so a few
/// short re-reads are allowed before giving up. Returns the last plan read (no changes;
/// real servers may still be draining), so the caller need not read the host again.
pub fn verify(
    desired: &HostState,
    ownership: &Ownership,
    touched: &Touched,
    host: &mut dyn Host,
) -> Result<Plan, ApplyError> {
    const ATTEMPTS: u32 = 3;
    let mut residual = plan::diff(desired, host.observe_touched(touched)?, ownership);
    for attempt in 1..ATTEMPTS {
        if residual.is_empty() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100 * u64::from(attempt)));
        residual = plan::diff(desired, host.observe_touched(touched)?, ownership);
    }
    if residual.is_empty() {
        Ok(residual)
    } else {
        Err(ApplyError::Residual { residual: Box::new(residual) })
    }
}

#[cfg(test)]
mod bench_tests;
#[cfg(test)]
mod subsystem_tests;
#[cfg(test)]
mod tests;
