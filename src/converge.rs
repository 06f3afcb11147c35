//! One converge run: take the apply lock, resolve the spec for this host, observe, overlay
//! the health records, plan, apply, verify. `apply -f` runs it once; the agent runs it every
//! interval. Both go through [`converge_live`], so a manual apply and the agent can never
//! disagree about what "converged" means.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::apply::faults::FaultInjecting;
use crate::apply::live::LiveHost;
use crate::apply::{self, ApplyError, ApplyOptions, ApplyReport, Host};
use crate::desired::{self, Spec};
use crate::model::health::HealthRecords;
use crate::model::persistence::HostNetworkd;
use crate::model::HostState;
use crate::observe::{self, Interest, ObserveError};
use crate::spec::{self, NodeSelector, SpecError};
use crate::{interrupt, lock};

#[derive(Debug, thiserror::Error)]
pub enum ConvergeError {
    #[error(transparent)]
    Spec(#[from] SpecError),
    #[error(transparent)]
    Observe(#[from] ObserveError),
    #[error(transparent)]
    Lock(#[from] lock::LockError),
    /// The spec declares a foo-over-UDP port that the host has open bound to something.
    #[error("{}: `fou` declares port {} ({}), which this host has open bound to {}: lvs-converge opens ports unbound and cannot change a bound one\n  hint: close it (`ip fou del port {}{}` with the same local/peer/dev options, `ip fou show` lists them) or declare another port", .spec.display(), .port.port, .port.family.name(), crate::plan::unmanaged::bound_to(.binding), .port.port, if .port.family == crate::model::ipvs::Family::Ipv6 { " -6" } else { "" })]
    FouPortBound { spec: PathBuf, port: crate::model::fou::FouPort, binding: crate::model::fou::FouBinding },
    #[error("cannot install the SIGINT/SIGTERM handlers that let apply stop cleanly: {0}")]
    Signals(nix::Error),
    /// apply would overwrite a file lvs-converge did not write.
    #[error("{0}")]
    TakeOver(String),
}

/// How a converge run is carried out.
#[derive(Debug, Clone)]
pub struct ConvergeOptions {
    /// Overwrite persistence files lvs-converge did not write (`--take-over`).
    pub take_over: bool,
    pub apply: ApplyOptions,
    /// How long to wait for another apply's lock; zero: give up at once (the agent skips
    /// the run and tries again next interval).
    pub lock_timeout: Duration,
    /// Let SIGINT/SIGTERM stop apply at an operation boundary (`apply`). The agent handles
    /// those signals itself, between runs, and lets a run finish.
    pub stop_on_signals: bool,
    /// Health verdicts in force instead of the records file's: the agent's own, from memory
    /// (None: the file's, as `plan` and `apply` read them).
    pub health: Option<HealthRecords>,
}

/// What one run did: apply's result (a failed change included), the change requests sent,
/// and how long each stage took.
#[derive(Debug)]
pub struct Converged {
    pub spec: Spec,
    pub result: Result<ApplyReport, ApplyError>,
    pub netlink_writes: usize,
    /// Changes the plan held before apply: drift found (zero: the host was converged).
    pub planned: usize,
    pub stages: StageDurations,
}

#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct StageDurations {
    pub observe: Duration,
    pub plan: Duration,
    pub apply: Duration,
}

/// observe → overlay → plan → apply → verify on the live host (in the current network
/// namespace, persistence files below `root`), under the apply lock, which is released
/// when this returns. `node` picks a Cluster spec's node (None: by this host's addresses).
pub fn converge_live(
    document: &spec::Document,
    node: Option<&str>,
    root: Option<&Path>,
    options: &ConvergeOptions,
    on_wait: &mut dyn FnMut(&lock::Waiting),
) -> Result<Converged, ConvergeError> {
    let mut apply_lock = lock::acquire(options.lock_timeout, on_wait)?;
    let spec = resolve_for(document, node, root)?;
    if lock::writes_persistence(&spec.desired, &spec.ownership, None) {
        apply_lock.cover_persistence_files(options.lock_timeout, on_wait)?;
    }
    if options.stop_on_signals {
        // Before this, SIGINT/SIGTERM end the process with nothing changed.
        interrupt::install().map_err(ConvergeError::Signals)?;
    }
    let observing = Instant::now();
    let mut observed = observe_resolved(&spec, root)?;
    if let Some(health) = &options.health {
        observed.ipvs.health = Some(health.clone());
    }
    let observe_took = observing.elapsed();
    let interest = Interest::for_desired(&spec.desired).with_files(&spec.ownership.files, root);
    let mut live = None;
    let live_from = |observed| -> &mut dyn Host {
        live.insert(FaultInjecting::from_env(
            LiveHost::new(interest).take_over(options.take_over).planned_from(observed),
        ))
    };
    let mut converged = converge_on(document, spec, observed, options, live_from)?;
    converged.stages.observe = observe_took;
    Ok(converged)
}

/// The overlay → plan → apply → verify half of a run, on any host: `host_for` hands the
/// host apply works on, given the state the plan was made from (the live host keeps it as
/// its first reading; tests hand a memory host).
pub fn converge_on<'h>(
    document: &spec::Document,
    spec: Spec,
    observed: HostState,
    options: &ConvergeOptions,
    host_for: impl FnOnce(HostState) -> &'h mut dyn Host,
) -> Result<Converged, ConvergeError> {
    let planning = Instant::now();
    let mut spec = spec;
    let plan = plan_spec(document, &mut spec, &observed)?;
    apply::files::check_take_over(&plan, options.take_over).map_err(ConvergeError::TakeOver)?;
    let plan_took = planning.elapsed();
    let planned = plan.changes.len();
    let host = host_for(observed);
    let applying = Instant::now();
    let result = apply::apply(plan, &spec.desired, &spec.ownership, options.apply, host);
    let stages = StageDurations { observe: Duration::ZERO, plan: plan_took, apply: applying.elapsed() };
    let netlink_writes = host.netlink_writes();
    Ok(Converged { spec, result, netlink_writes, planned, stages })
}

/// `--node`, else this host's addresses (as `observed` holds them) pick a Cluster's node.
pub fn node_selector<'a>(node: Option<&'a str>, observed: &HostState) -> NodeSelector<'a> {
    NodeSelector { name: node, local_addresses: observed.addresses.values().map(|a| a.address).collect() }
}

/// Resolves the spec for the live host, its own networkd files (under `root`) included
/// when the spec writes network settings: those files decide where the settings go.
pub fn resolve_for(document: &spec::Document, node: Option<&str>, root: Option<&Path>) -> Result<Spec, ConvergeError> {
    // Only a Cluster spec without --node needs the host's addresses to pick its node first.
    let observed = if document.file.kind == spec::SpecKind::Cluster && node.is_none() {
        observe::observe_host(&Interest::default())?
    } else {
        HostState::default()
    };
    resolve_on_host(document, node, &observed, root)
}

/// Resolves `document` for the live host `observed` was read from, with its own networkd
/// files (under `root`) when the spec writes network settings.
pub fn resolve_on_host(
    document: &spec::Document,
    node: Option<&str>,
    observed: &HostState,
    root: Option<&Path>,
) -> Result<Spec, ConvergeError> {
    let validated = document.validate(&node_selector(node, observed))?;
    // Only a spec that persists network settings needs the host's own networkd files, which
    // decide where those settings go (offline, every interface gets a file of its own).
    let writes_network = validated.persist.as_ref().is_some_and(|persist| persist.network.is_some());
    let host_networkd =
        if writes_network { observe::files::read_host_networkd(root)? } else { HostNetworkd::default() };
    Ok(desired::build(validated, &host_networkd))
}

/// Observes the live host as the resolved spec needs it.
pub fn observe_resolved(spec: &Spec, root: Option<&Path>) -> Result<HostState, ObserveError> {
    let interest = Interest::for_desired(&spec.desired).with_files(&spec.ownership.files, root).with_lvs_sysctls();
    observe::observe_host(&interest)
}

/// The plan that takes `observed` to `spec`, each change marked with where its object came
/// from and, on a Cluster director, the real-server nodes to converge first: `plan`,
/// `apply -f` and the agent make the same one.
/// First the agent's health verdicts that `observed` carries are held in `spec`'s desired
/// state, so that what apply makes and verifies (and a saved plan keeps) is what the plan
/// shows; the plan lists those holds.
/// Refused when the spec declares a foo-over-UDP port the host has open bound to an
/// address, a peer or a device: lvs-converge can neither open the port beside it nor
/// change it.
pub fn plan_spec(
    document: &spec::Document,
    spec: &mut Spec,
    observed: &HostState,
) -> Result<crate::plan::Plan, ConvergeError> {
    let (_, colliding) = crate::plan::fou::bound(&spec.desired.fou, &observed.fou_bound);
    if let Some(bound) = colliding.first() {
        return Err(ConvergeError::FouPortBound {
            spec: spec.source.clone(),
            port: bound.port,
            binding: bound.binding,
        });
    }
    let holds = crate::plan::health::hold(spec, observed);
    Ok(crate::plan::diff(&spec.desired, observed, &spec.ownership)
        .annotate(|object| spec.origins.get(object).cloned())
        .with_first_converge(real_server_nodes(document, spec))
        .with_health_holds(holds))
}

/// A Cluster director's real-server nodes, by name and address: the hosts its tunnel
/// destinations reach.
fn real_server_nodes<'d>(document: &'d spec::Document, spec: &Spec) -> Vec<(&'d str, std::net::IpAddr)> {
    if spec.role != Some(crate::model::Role::Director) {
        return Vec::new();
    }
    let real_servers = document.file.nodes.iter().filter(|node| node.role == crate::model::Role::RealServer);
    real_servers.map(|node| (node.name.as_str(), node.address)).collect()
}
