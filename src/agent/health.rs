//! The agent's health checks: which probes to run (one per [`ProbeKey`], however many services
//! share a real server), when (each on its check's interval, the first run spread over it so
//! a hundred checks do not fire at once), and what their results make of each real server's
//! health (rise/fall, by [`Tracker`]), down to the records `plan` and `apply` read.

use std::collections::{BTreeMap, BTreeSet};
use std::hash::BuildHasher;
use std::net::SocketAddr;
use std::time::Duration;

use tokio::time::Instant;

use super::probe::{self, ProbeKey, ProbeKind, ProbeResult, ProbeTarget};
use super::tracker::{Health, Tracker};
use crate::desired::Spec;
use crate::model::health::{CheckKind, CheckOutcome, CheckVia, HealthCheck, HealthRecord, HealthRecords, HealthStatus};
use crate::model::ipvs::{Destination, DestinationKey, ServiceKey};

/// A real server of a service: who a probe's verdict is about.
pub type Checked = (ServiceKey, DestinationKey);

/// One probe as the spec asks for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Wanted {
    /// The shortest interval among the checks that share the probe.
    pub interval: Duration,
    pub rise: u32,
    pub fall: u32,
    pub checked: BTreeSet<Checked>,
}

/// The probes `spec`'s health policy asks for. `source_toward` finds the director's own
/// address toward a real server (a check through the tunnel binds to it, so the reply
/// comes back); None when there is no route: the probe then lets the kernel choose.
/// Checks sharing a probe take the shortest interval and the first one's rise/fall (in
/// service order).
pub fn wanted(
    spec: &Spec,
    source_toward: &dyn Fn(std::net::IpAddr) -> Option<std::net::IpAddr>,
) -> BTreeMap<ProbeKey, Wanted> {
    let mut probes: BTreeMap<ProbeKey, Wanted> = BTreeMap::new();
    for (service_key, service_health) in &spec.health.services {
        let Some(service) = spec.desired.ipvs.services.get(service_key) else { continue };
        for (destination_key, check) in &service_health.checks {
            let Some(destination) = service.destinations.get(destination_key) else { continue };
            let mark = spec.health.path_mark(service_key, destination);
            let key = probe_key(service_key, destination, check, mark, source_toward);
            let interval = Duration::from_millis(check.interval_ms.into());
            let wanted = probes.entry(key).or_insert_with(|| Wanted {
                interval,
                rise: check.rise,
                fall: check.fall,
                checked: BTreeSet::new(),
            });
            wanted.interval = wanted.interval.min(interval);
            wanted.checked.insert((*service_key, *destination_key));
        }
    }
    probes
}

/// Where and how one real server's check goes. Through the tunnel (tcp/http, an address
/// service, a tunnelled real server with its hidden path): to the VIP, marked, bound to the
/// director's address toward the real server. Otherwise to the real server's own address.
fn probe_key(
    service: &ServiceKey,
    destination: &Destination,
    check: &HealthCheck,
    mark: Option<u32>,
    source_toward: &dyn Fn(std::net::IpAddr) -> Option<std::net::IpAddr>,
) -> ProbeKey {
    let timeout = Duration::from_millis(check.timeout_ms.into());
    let direct = SocketAddr::new(destination.address, check.port);
    let through_tunnel = match (&check.kind, check.via, service.address(), mark) {
        (CheckKind::Tcp | CheckKind::Http { .. }, CheckVia::Tunnel, Some(vip), Some(mark)) => Some((vip, mark)),
        _ => None,
    };
    let target = match through_tunnel {
        Some((vip, mark)) => ProbeTarget {
            connect: SocketAddr::new(vip, check.port),
            bind: source_toward(destination.address),
            mark: Some(mark),
            timeout,
        },
        None => ProbeTarget { connect: direct, bind: None, mark: None, timeout },
    };
    let kind = match &check.kind {
        CheckKind::Tcp => ProbeKind::Tcp,
        CheckKind::Http { path, status_min, status_max, body, host } => ProbeKind::Http {
            path: path.clone(),
            status: *status_min..=*status_max,
            body: body.clone(),
            host: host.clone(),
        },
        CheckKind::Exec { command, dynamic_weight } => {
            let vip = service.address().map(|vip| vip.to_string()).unwrap_or_default();
            let vip_port = match service {
                ServiceKey::Address { port, .. } => port.to_string(),
                ServiceKey::FirewallMark { .. } => String::new(),
            };
            let env = vec![
                ("LVS_REAL_SERVER".to_string(), destination.address.to_string()),
                ("LVS_REAL_SERVER_PORT".to_string(), check.port.to_string()),
                ("LVS_VIP".to_string(), vip),
                ("LVS_VIP_PORT".to_string(), vip_port),
            ];
            ProbeKind::Exec { command: command.clone(), env, dynamic_weight: *dynamic_weight }
        }
    };
    ProbeKey { kind, target }
}

/// The director's own address toward `address`, as the kernel would pick it.
pub fn live_source_toward(address: std::net::IpAddr) -> Option<std::net::IpAddr> {
    probe::source_toward(address).ok()
}

/// A probe's schedule and what its results made of the real servers it checks.
#[derive(Debug)]
struct Scheduled {
    wanted: Wanted,
    tracker: Tracker<u64>,
    next: Instant,
    in_flight: bool,
    last: Option<Last>,
}

#[derive(Debug, Clone)]
struct Last {
    at: u64,
    outcome: CheckOutcome,
    latency: Duration,
    weight: Option<u32>,
}

/// A real server whose health changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transition {
    pub service: ServiceKey,
    pub destination: DestinationKey,
    pub from: HealthStatus,
    pub to: HealthStatus,
    /// The check that completed the change.
    pub outcome: CheckOutcome,
    pub latency: Duration,
}

/// What one probe result changed.
#[derive(Debug, Default)]
pub struct Recorded {
    pub transitions: Vec<Transition>,
    /// A dynamic weight (exec) other than the last one: the table must follow it.
    pub weight_changed: bool,
    /// The real servers the probe checks, with their health now.
    pub health: Vec<(Checked, HealthStatus)>,
    pub latency: Duration,
}

impl Recorded {
    /// Whether the IPVS table should be converged again at once.
    pub fn changes_the_table(&self) -> bool {
        !self.transitions.is_empty() || self.weight_changed
    }
}

/// Every probe the spec asks for, with its schedule and its real servers' health.
#[derive(Debug, Default)]
pub struct Checks {
    probes: BTreeMap<ProbeKey, Scheduled>,
}

impl Checks {
    /// Takes the probes a (new) spec wants: a probe kept keeps its health and schedule; a
    /// new one starts with no verdict, its first run at a spread point of its interval.
    /// Returns the real servers no longer checked.
    pub fn update(&mut self, wanted: BTreeMap<ProbeKey, Wanted>, now: Instant, unix_now: u64) -> Vec<Checked> {
        let before: BTreeSet<Checked> = self.checked().collect();
        let mut old = std::mem::take(&mut self.probes);
        for (key, wanted) in wanted {
            let scheduled = match old.remove(&key) {
                Some(mut kept) => {
                    kept.tracker.set_thresholds(wanted.rise, wanted.fall);
                    kept.wanted = wanted;
                    kept
                }
                None => {
                    let first = spread(&key, wanted.interval);
                    Scheduled {
                        tracker: Tracker::new(wanted.rise, wanted.fall, unix_now),
                        next: now + first,
                        in_flight: false,
                        last: None,
                        wanted,
                    }
                }
            };
            self.probes.insert(key, scheduled);
        }
        let after: BTreeSet<Checked> = self.checked().collect();
        before.difference(&after).copied().collect()
    }

    /// Takes up the verdicts of `previous` records (an agent that ran before this one): a
    /// probe whose real servers have one resumes from it, the most recent if they differ.
    pub fn resume(&mut self, previous: &HealthRecords) {
        for scheduled in self.probes.values_mut() {
            let judged = previous
                .servers
                .iter()
                .filter(|record| record.status != HealthStatus::Starting)
                .filter(|record| scheduled.wanted.checked.contains(&(record.service, record.destination)))
                .max_by_key(|record| record.since);
            let Some(record) = judged else { continue };
            scheduled.tracker =
                Tracker::resume(scheduled.wanted.rise, scheduled.wanted.fall, record.status, record.since);
            if let (Some(at), Some(outcome)) = (record.last_check, &record.last_outcome) {
                let latency = Duration::from_millis(record.latency_ms.unwrap_or(0).into());
                scheduled.last = Some(Last { at, outcome: outcome.clone(), latency, weight: record.weight });
            }
        }
    }

    fn checked(&self) -> impl Iterator<Item = Checked> + '_ {
        self.probes.values().flat_map(|scheduled| scheduled.wanted.checked.iter().copied())
    }

    /// How many real servers (of all services) are checked.
    pub fn checked_count(&self) -> usize {
        self.checked().count()
    }

    pub fn is_empty(&self) -> bool {
        self.probes.is_empty()
    }

    /// When the next probe is due (None: no probe waits to run).
    pub fn next_due(&self) -> Option<Instant> {
        self.probes.values().filter(|scheduled| !scheduled.in_flight).map(|scheduled| scheduled.next).min()
    }

    /// The probes due at `now`, marked as running and scheduled one interval on.
    pub fn take_due(&mut self, now: Instant) -> Vec<ProbeKey> {
        let mut due = Vec::new();
        for (key, scheduled) in &mut self.probes {
            if !scheduled.in_flight && scheduled.next <= now {
                scheduled.in_flight = true;
                scheduled.next = now + scheduled.wanted.interval;
                due.push(key.clone());
            }
        }
        due
    }

    /// Every probe, marked as running: `--once`'s one round.
    pub fn take_all(&mut self) -> Vec<ProbeKey> {
        self.probes.values_mut().for_each(|scheduled| scheduled.in_flight = true);
        self.probes.keys().cloned().collect()
    }

    /// Schedules every probe's next run from `now`, each at its spread point of its interval.
    pub fn start_from(&mut self, now: Instant) {
        for (key, scheduled) in &mut self.probes {
            scheduled.next = now + spread(key, scheduled.wanted.interval);
        }
    }

    /// Whether `result` could complete a transition or change a dynamic weight: a result
    /// that agrees with a standing verdict and keeps the weight changes no record's verdict.
    pub fn may_change(&self, key: &ProbeKey, result: &ProbeResult) -> bool {
        let Some(scheduled) = self.probes.get(key) else { return false };
        let agrees = match scheduled.tracker.health() {
            Health::Healthy => result.healthy,
            Health::Unhealthy => !result.healthy,
            Health::Starting => false,
        };
        !agrees || result.weight != scheduled.last.as_ref().and_then(|last| last.weight)
    }

    /// Counts a probe's result, got at `at` (Unix seconds). A probe the spec dropped while
    /// it ran changes nothing.
    pub fn record(&mut self, key: &ProbeKey, result: &ProbeResult, at: u64) -> Recorded {
        let Some(scheduled) = self.probes.get_mut(key) else { return Recorded::default() };
        scheduled.in_flight = false;
        let outcome = result.outcome.clone();
        let weight_before = scheduled.last.as_ref().and_then(|last| last.weight);
        let weight_changed =
            result.healthy && scheduled.tracker.health() == Health::Healthy && result.weight != weight_before;
        scheduled.last = Some(Last { at, outcome: outcome.clone(), latency: result.latency, weight: result.weight });
        let transitions = match scheduled.tracker.record(result.healthy, at) {
            Some(transition) => scheduled
                .wanted
                .checked
                .iter()
                .map(|(service, destination)| Transition {
                    service: *service,
                    destination: *destination,
                    from: transition.from,
                    to: transition.to,
                    outcome: outcome.clone(),
                    latency: result.latency,
                })
                .collect(),
            None => Vec::new(),
        };
        let now = scheduled.tracker.health();
        let health = scheduled.wanted.checked.iter().map(|checked| (*checked, now)).collect();
        Recorded { transitions, weight_changed, health, latency: result.latency }
    }

    /// The longest interval of any probe: how stale a verdict can get while still current.
    pub fn longest_interval(&self) -> Duration {
        self.probes.values().map(|scheduled| scheduled.wanted.interval).max().unwrap_or_default()
    }

    /// The records of every checked real server, as plan/apply/status read them.
    pub fn records(&self, agent_pid: u32, updated_at: u64, valid_until: u64) -> HealthRecords {
        let mut servers: Vec<HealthRecord> = self
            .probes
            .values()
            .flat_map(|scheduled| {
                scheduled.wanted.checked.iter().map(move |(service, destination)| HealthRecord {
                    service: *service,
                    destination: *destination,
                    status: scheduled.tracker.health(),
                    since: scheduled.tracker.since(),
                    last_check: scheduled.last.as_ref().map(|last| last.at),
                    last_outcome: scheduled.last.as_ref().map(|last| last.outcome.clone()),
                    latency_ms: scheduled
                        .last
                        .as_ref()
                        .map(|last| u32::try_from(last.latency.as_millis()).unwrap_or(u32::MAX)),
                    weight: scheduled.last.as_ref().and_then(|last| last.weight),
                })
            })
            .collect();
        servers.sort();
        HealthRecords { agent_pid, updated_at, valid_until, servers }
    }
}

/// Where in its interval a new probe first runs: a random point (a fresh hasher's keys),
/// so that probes added together do not all fire at once.
fn spread(key: &ProbeKey, interval: Duration) -> Duration {
    let random = std::collections::hash_map::RandomState::new().hash_one(key);
    interval.mul_f64(random as f64 / u64::MAX as f64)
}
