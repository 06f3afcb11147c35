//! The agent's loop, on a current-thread tokio runtime: a converge run every interval (±10 %
//! jitter, so directors started together do not read and write in step), signals between
//! steps, the systemd watchdog. A run goes to a blocking thread: it talks netlink through its
//! own runtime, and the loop keeps answering the watchdog (and signals) while it works.

use std::collections::hash_map::RandomState;
use std::collections::BTreeMap;
use std::hash::BuildHasher;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc::UnboundedReceiver;
use tokio::task::{JoinHandle, JoinSet};
use tokio::time::Instant;

use super::health::{self, Checks, Recorded, Wanted};
use super::metrics::Metrics;
use super::notify::Notifier;
use super::probe::{self, ProbeKey, ProbeResult};
use super::records;
use super::signals::Command;
use super::{AgentEvent, RunFailure, RunOutcome, RunReport, Trigger};
use crate::apply::ApplyOptions;
use crate::converge::{self, ConvergeError, ConvergeOptions, Converged};
use crate::desired::Spec;
use crate::lock::LockError;
use crate::model::health::{HealthRecords, HealthStatus};
use crate::rundir::{unix_now, RunDir};
use crate::spec;

/// A spec read and resolved for this host: what runs converge to.
#[derive(Debug)]
pub struct Loaded {
    pub document: spec::Document,
    pub spec: Spec,
}

/// The host the agent converges, behind a seam: the live host in production, a memory host
/// in tests. Both methods block (they may read the host); the loop calls them off its thread.
pub trait AgentHost: Send + Sync + 'static {
    /// Reads the spec at `path` and resolves it for this host, refusing what `apply` would.
    fn load(&self, path: &Path) -> Result<Loaded, ConvergeError>;
    /// One converge run, holding the health verdicts `health` (the agent's own, from
    /// memory: the records file is for other readers and may be unwritable or lapsed).
    /// Never waits for the apply lock: a busy lock skips the run.
    fn converge(&self, loaded: &Loaded, health: HealthRecords) -> RunOutcome;
    /// The director's own address toward a real server, which checks through the tunnel
    /// bind to (None: let the kernel choose).
    fn source_toward(&self, address: IpAddr) -> Option<IpAddr> {
        health::live_source_toward(address)
    }
}

/// The live host, in the namespace the process is in, persistence files below `root`.
#[derive(Debug, Clone, Default)]
pub struct LiveAgentHost {
    /// The Cluster node this host is (None: by its addresses).
    pub node: Option<String>,
    pub root: Option<PathBuf>,
}

impl AgentHost for LiveAgentHost {
    fn load(&self, path: &Path) -> Result<Loaded, ConvergeError> {
        let document = spec::read(path)?;
        let spec = converge::resolve_for(&document, self.node.as_deref(), self.root.as_deref())?;
        Ok(Loaded { document, spec })
    }

    fn converge(&self, loaded: &Loaded, health: HealthRecords) -> RunOutcome {
        let options = ConvergeOptions { health: Some(health), ..run_options() };
        let converged = converge::converge_live(
            &loaded.document,
            self.node.as_deref(),
            self.root.as_deref(),
            &options,
            &mut |_| {},
        );
        outcome_of(converged)
    }
}

/// How the agent's runs apply: rolled back on failure, never waiting for the lock or for
/// drains, never taking over a file someone else wrote, and not stopped by SIGINT/SIGTERM
/// halfway (the loop stops after the run).
pub fn run_options() -> ConvergeOptions {
    ConvergeOptions {
        take_over: false,
        apply: ApplyOptions { rollback: true, wait: false, stop: never },
        lock_timeout: Duration::ZERO,
        stop_on_signals: false,
        health: None,
    }
}

fn never() -> bool {
    false
}

/// A run's outcome from what converge returned.
pub fn outcome_of(converged: Result<Converged, ConvergeError>) -> RunOutcome {
    match converged {
        Err(ConvergeError::Lock(LockError::Busy { holder, .. })) => RunOutcome::LockBusy { holder },
        Err(error) => RunOutcome::Failed(RunFailure::Converge(error)),
        Ok(Converged { result: Err(error), .. }) => RunOutcome::Failed(RunFailure::Apply(error)),
        Ok(Converged { result: Ok(report), netlink_writes, stages, .. }) if report.changed() => {
            RunOutcome::Repaired { changes: report.plan.changes.len(), netlink_writes, stages }
        }
        Ok(Converged { stages, .. }) => RunOutcome::Converged { stages },
    }
}

#[derive(Debug, Clone)]
pub struct AgentOptions {
    pub spec: PathBuf,
    /// Between two converge runs (each jittered by ±10 %).
    pub interval: Duration,
    /// One run and one round of checks, then exit.
    pub once: bool,
    /// Where the health records go: [`crate::rundir::RUN_DIR`] (tests: a scratch directory).
    pub records_dir: PathBuf,
}

/// Who hears what the agent does: `log` gets every event; `status_of` gives the one-line
/// systemd STATUS= for the events that change it (words are render's, not the loop's).
pub struct Told<'a> {
    pub log: &'a mut dyn FnMut(&AgentEvent),
    pub status_of: fn(&AgentEvent) -> Option<String>,
    pub notifier: &'a Notifier,
    pub metrics: Option<&'a Metrics>,
}

impl Told<'_> {
    /// A probe's result: its latency and its real servers' health for the metrics, each
    /// transition for the log.
    fn health(&mut self, recorded: &Recorded) {
        if let Some(metrics) = self.metrics {
            metrics.observe_check(recorded.latency);
            for ((service, destination), status) in &recorded.health {
                let healthy = match status {
                    HealthStatus::Healthy => true,
                    HealthStatus::Unhealthy => false,
                    HealthStatus::Starting => continue,
                };
                metrics.set_health(&service.to_string(), &destination.to_string(), healthy);
            }
        }
        for transition in &recorded.transitions {
            (self.log)(&AgentEvent::Health(transition.clone()));
        }
    }

    fn tell(&mut self, event: &AgentEvent) {
        self.record(event);
        if let Some(status) = (self.status_of)(event) {
            self.notifier.status(&status);
        }
    }

    /// The log and the metrics, without a word to systemd.
    fn record(&mut self, event: &AgentEvent) {
        (self.log)(event);
        if let (AgentEvent::Run(report), Some(metrics)) = (event, self.metrics) {
            metrics.record_run(report);
        }
    }
}

/// How the loop ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ended {
    /// Whether the last converge run failed (or was skipped for a busy lock): `--once`'s
    /// exit code.
    pub last_run_failed: bool,
}

/// Runs the agent until a stop command (or, with `once`, one run and one round of checks).
/// The spec must load at start; after that every failure is told and the loop goes on.
pub async fn run<H: AgentHost>(
    host: Arc<H>,
    options: &AgentOptions,
    mut commands: UnboundedReceiver<Command>,
    told: &mut Told<'_>,
) -> Result<Ended, ConvergeError> {
    let (first, wanted) = load(&host, &options.spec).await?;
    let mut loaded = Arc::new(first);
    let mut checks = Checks::default();
    checks.update(wanted, Instant::now(), unix_now());
    // A restarted agent goes on from the verdicts its predecessor left (still current):
    // a dead real server stays held until a check says otherwise.
    if let Some(previous) = previous_records(&options.records_dir) {
        checks.resume(&previous);
    }
    let mut records = RecordsFile::new(&options.records_dir);
    let checked = checks.checked_count();
    told.tell(&AgentEvent::Started { spec: options.spec.clone(), interval: options.interval, checks: checked });
    let mut probes: JoinSet<(ProbeKey, ProbeResult)> = JoinSet::new();
    records.write(&checks, options.interval, told);
    let mut running = Some(start_run(&host, &loaded, &checks, options.interval, Trigger::Start));
    // A run asked for while another is under way: started when that one ends.
    let mut queued: Option<Trigger> = None;
    let mut next_run = Instant::now();
    let mut stop_after_run = false;
    let mut ready = false;
    let mut checking = false;
    let mut busy_retry: Option<Duration> = None;
    let mut last_run_failed = false;
    let mut commands_open = true;
    let mut watchdog = told.notifier.watchdog_every().map(tokio::time::interval);
    loop {
        let next_check = checks.next_due();
        tokio::select! {
            finished = async { running.as_mut().expect("guarded by is_some").await }, if running.is_some() => {
                running = None;
                let report = finished.unwrap_or_else(|error| std::panic::resume_unwind(error.into_panic()));
                last_run_failed = matches!(report.outcome, RunOutcome::Failed(_) | RunOutcome::LockBusy { .. });
                // A health or reload run skipped for a busy lock is tried again soon (1 s,
                // doubling up to the interval), not a whole interval later.
                let busy = matches!(report.outcome, RunOutcome::LockBusy { .. });
                let wanted_soon = matches!(report.trigger, Trigger::Health | Trigger::Reload) || busy_retry.is_some();
                busy_retry = (busy && wanted_soon)
                    .then(|| busy_retry.map_or(Duration::from_secs(1), |last| last * 2).min(options.interval));
                if !last_run_failed && !checking {
                    // Checks start after a run that made the check paths: before it (or
                    // after one that failed or was skipped), a check through the tunnel
                    // could find no hidden service and pass or fail for the wrong reason.
                    checking = true;
                    checks.start_from(Instant::now());
                }
                let event = AgentEvent::Run(report);
                if ready {
                    told.tell(&event);
                } else {
                    // systemd starts what comes after the agent once the host is converged.
                    told.record(&event);
                    told.notifier.ready(&(told.status_of)(&event).unwrap_or_default());
                    ready = true;
                }
                if stop_after_run || options.once {
                    break;
                }
                next_run = Instant::now()
                    + busy_retry.unwrap_or_else(|| jittered(options.interval, RandomState::new().hash_one(next_run)));
                if let Some(trigger) = queued.take() {
                    records.write(&checks, options.interval, told);
                    running = Some(start_run(&host, &loaded, &checks, options.interval, trigger));
                }
            }
            () = tokio::time::sleep_until(next_run), if running.is_none() => {
                // Rewritten before every run: a live agent's records never lapse.
                records.write(&checks, options.interval, told);
                running = Some(start_run(&host, &loaded, &checks, options.interval, Trigger::Interval));
            }
            () = tokio::time::sleep_until(next_check.unwrap_or(next_run)), if next_check.is_some() && checking && !stop_after_run => {
                for key in checks.take_due(Instant::now()) {
                    probes.spawn(run_probe(key));
                }
            }
            Some(joined) = probes.join_next(), if !probes.is_empty() => {
                let (key, result) = joined.unwrap_or_else(|error| std::panic::resume_unwind(error.into_panic()));
                // Only a result that may change a verdict or a weight needs the records before it.
                let before = checks.may_change(&key, &result).then(|| checks.records(0, 0, 0));
                let recorded = checks.record(&key, &result, unix_now());
                told.health(&recorded);
                if let (true, false, Some(before)) = (recorded.changes_the_table(), stop_after_run, before) {
                    records.write(&checks, options.interval, told);
                    // The table follows health now, not at the next interval; a verdict that
                    // holds nothing new (a first "healthy" without startDrained) runs nothing.
                    if holds_differ(&loaded.spec, &before, &checks.records(0, 0, 0)) {
                        match running {
                            Some(_) => queued = Some(queued.unwrap_or(Trigger::Health)),
                            None => running = Some(start_run(&host, &loaded, &checks, options.interval, Trigger::Health)),
                        }
                    }
                }
            }
            command = commands.recv(), if commands_open => match command {
                None => commands_open = false,
                Some(Command::Stop(signal)) => {
                    told.tell(&AgentEvent::Stopping { signal });
                    told.notifier.stopping();
                    if running.is_none() {
                        break;
                    }
                    stop_after_run = true;
                }
                Some(Command::Reload) => match load(&host, &options.spec).await {
                    Ok((new, wanted)) => {
                        loaded = Arc::new(new);
                        let dropped = checks.update(wanted, Instant::now(), unix_now());
                        if let Some(metrics) = told.metrics {
                            for (service, destination) in &dropped {
                                metrics.forget_health(&service.to_string(), &destination.to_string());
                            }
                        }
                        let checked = checks.checked_count();
                        told.tell(&AgentEvent::Reloaded { spec: options.spec.clone(), checks: checked });
                        // Records of real servers no longer checked go with this write.
                        records.write(&checks, options.interval, told);
                        match running {
                            Some(_) => queued = Some(Trigger::Reload),
                            None => running = Some(start_run(&host, &loaded, &checks, options.interval, Trigger::Reload)),
                        }
                    }
                    Err(error) => told.tell(&AgentEvent::ReloadRefused { error }),
                },
            },
            () = tick(&mut watchdog) => told.notifier.watchdog(),
        }
    }
    if options.once && !stop_after_run && checking {
        for key in checks.take_all() {
            probes.spawn(run_probe(key));
        }
        while let Some(joined) = probes.join_next().await {
            let (key, result) = joined.unwrap_or_else(|error| std::panic::resume_unwind(error.into_panic()));
            let recorded = checks.record(&key, &result, unix_now());
            told.health(&recorded);
        }
    }
    if options.once {
        // No agent renews them after `--once`: they lapse at once, holding nothing.
        records.write_lapsed(&checks, told);
    }
    // Probes still running are abandoned with the runtime; their verdicts would change nothing.
    probes.abort_all();
    Ok(Ended { last_run_failed })
}

/// Whether the health overlay makes a different IPVS table of `after` than of `before`.
fn holds_differ(spec: &Spec, before: &HealthRecords, after: &HealthRecords) -> bool {
    let held = |records| crate::plan::health::overlay(&spec.desired.ipvs, &spec.health, Some(records)).0;
    held(before) != held(after)
}

async fn run_probe(key: ProbeKey) -> (ProbeKey, ProbeResult) {
    let result = probe::probe(&key.kind, &key.target).await;
    (key, result)
}

/// The health records file, written through the checked run directory (created on the
/// first write). Nothing is written while nothing is checked, unless records were written
/// before: then an empty list replaces them, so dropped checks hold no weight.
struct RecordsFile {
    dir: PathBuf,
    run_dir: Option<RunDir>,
    written: bool,
}

impl RecordsFile {
    fn new(dir: &Path) -> RecordsFile {
        RecordsFile { dir: dir.to_path_buf(), run_dir: None, written: false }
    }

    fn write(&mut self, checks: &Checks, converge_interval: Duration, told: &mut Told<'_>) {
        self.write_until(checks, |now| records::valid_until(now, checks.longest_interval(), converge_interval), told);
    }

    /// The records, valid until now only: for whoever reads them after the agent is gone.
    fn write_lapsed(&mut self, checks: &Checks, told: &mut Told<'_>) {
        self.write_until(checks, |now| now, told);
    }

    fn write_until(&mut self, checks: &Checks, valid_until: impl FnOnce(u64) -> u64, told: &mut Told<'_>) {
        if checks.is_empty() && !self.written {
            return;
        }
        let now = unix_now();
        let health = checks.records(std::process::id(), now, valid_until(now));
        let written = (|| {
            let run_dir = match &mut self.run_dir {
                Some(run_dir) => run_dir,
                slot => slot.insert(RunDir::create_at(&self.dir).map_err(std::io::Error::other)?),
            };
            run_dir.replace_json(&records::file_name()?, &health)
        })();
        match written {
            Ok(()) => self.written = true,
            Err(error) => told.tell(&AgentEvent::RecordsUnwritten { dir: self.dir.clone(), error }),
        }
    }
}

/// Loads the spec, and the probes it asks for, off the loop's thread (resolving a Cluster's
/// node and finding a probe's source address may read the host).
async fn load<H: AgentHost>(host: &Arc<H>, path: &Path) -> Result<(Loaded, BTreeMap<ProbeKey, Wanted>), ConvergeError> {
    let (host, path) = (Arc::clone(host), path.to_path_buf());
    tokio::task::spawn_blocking(move || {
        let loaded = host.load(&path)?;
        let wanted = health::wanted(&loaded.spec, &|address| host.source_toward(address));
        Ok((loaded, wanted))
    })
    .await
    .unwrap_or_else(|error| std::panic::resume_unwind(error.into_panic()))
}

/// The records a previous agent left in `dir`, if still current.
fn previous_records(dir: &Path) -> Option<HealthRecords> {
    let run_dir = RunDir::existing_at(dir).ok().flatten()?;
    crate::observe::health::find_in(&run_dir, unix_now()).current()
}

/// Starts a converge run holding the agent's verdicts as they stand now.
fn start_run<H: AgentHost>(
    host: &Arc<H>,
    loaded: &Arc<Loaded>,
    checks: &Checks,
    converge_interval: Duration,
    trigger: Trigger,
) -> JoinHandle<RunReport> {
    let (host, loaded) = (Arc::clone(host), Arc::clone(loaded));
    let now = unix_now();
    let valid_until = records::valid_until(now, checks.longest_interval(), converge_interval);
    let health = checks.records(std::process::id(), now, valid_until);
    tokio::task::spawn_blocking(move || {
        let started = std::time::Instant::now();
        let outcome = host.converge(&loaded, health);
        RunReport { trigger, outcome, took: started.elapsed() }
    })
}

/// The next tick of the watchdog interval; never, without a watchdog.
async fn tick(watchdog: &mut Option<tokio::time::Interval>) {
    match watchdog {
        Some(interval) => {
            interval.tick().await;
        }
        None => std::future::pending().await,
    }
}

/// `interval` moved by up to ±10 %, by `random` (any u64, evenly spread).
pub fn jittered(interval: Duration, random: u64) -> Duration {
    let spread = interval / 5; // the whole ±10 % range
    let offset = spread.mul_f64(random as f64 / u64::MAX as f64);
    (interval - interval / 10) + offset
}
