//! The health overlay: what the agent's health verdicts make of the desired IPVS state.
//!
//! Health is not drift. A real server the agent found unhealthy keeps the weight the agent
//! gave it (0, or absent with `onFailure: remove`) in the desired state that `plan`, `apply`
//! and verification work from, so a manual apply beside the agent neither restores it nor
//! reports it as a change. Pure: the records come in with the observed state.

use serde::{Deserialize, Serialize};

use crate::desired::Spec;
use crate::model::health::{CheckKind, HealthPolicy, HealthRecord, HealthRecords, HealthStatus, OnFailure};
use crate::model::ipvs::{DestinationKey, Service, ServiceKey};
use crate::model::keyed::Keyed;
use crate::model::{HostState, IpvsState};

/// A real server whose desired state the health records change, and how.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct HealthHold {
    pub service: ServiceKey,
    /// The real server held (the sorry server, for [`HoldEffect::SorryServerAdded`]).
    pub destination: DestinationKey,
    /// Its verdict (for the sorry server: unhealthy, the service's).
    pub status: HealthStatus,
    /// Since when (Unix seconds); none for a real server the agent has no record of yet.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub since: Option<u64>,
    pub effect: HoldEffect,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HoldEffect {
    /// Weight 0: no new connections, existing ones continue.
    Drained,
    /// Taken out of the service (`onFailure: remove`).
    Removed,
    /// The weight its exec check returned (keepalived's misc_dynamic).
    Weight(u32),
    /// Too few real servers serve: the service's sorry server takes the connections.
    SorryServerAdded,
}

/// Overlays `spec`'s desired IPVS state with the health records `observed` carries, and
/// returns what it holds: the one step plan, apply and the agent take between observing and
/// planning, so that what apply makes and verifies is what the plan showed.
pub fn hold(spec: &mut Spec, observed: &HostState) -> Vec<HealthHold> {
    let (held, holds) = overlay(&spec.desired.ipvs, &spec.health, observed.ipvs.health.as_ref());
    spec.desired.ipvs = held;
    holds
}

/// `desired` as the health `records` leave it, and the holds that make the difference.
/// Without records (no agent runs, or its records expired) nothing is held: plan and apply
/// by hand act on the spec alone, as they do without health checks.
pub fn overlay(
    desired: &IpvsState,
    policy: &HealthPolicy,
    records: Option<&HealthRecords>,
) -> (IpvsState, Vec<HealthHold>) {
    let mut held = desired.clone();
    let mut holds = Vec::new();
    let Some(records) = records else { return (held, holds) };
    for (service_key, health) in &policy.services {
        let Some(service) = held.services.get_mut(service_key) else { continue };
        let record_of = |destination: &DestinationKey| -> Option<&HealthRecord> {
            records.servers.iter().find(|r| r.service == *service_key && r.destination == *destination)
        };
        // Real servers that take new connections: healthy, unchecked, or starting undrained.
        let mut serving = 0u32;
        // When the last of those that do not serve stopped serving: when quorum was lost.
        let mut out_since: Option<u64> = None;
        let keys: Vec<DestinationKey> = service.destinations.keys().copied().collect();
        for key in keys {
            let Some(check) = health.checks.get(&key) else {
                serving += 1;
                continue;
            };
            let record = record_of(&key);
            // The agent runs but has not judged this one yet (new in the spec).
            let status = record.map_or(HealthStatus::Starting, |r| r.status);
            let since = record.map(|r| r.since);
            let spec_weight = service.destinations.get(&key).map_or(0, |d| d.weight);
            let effect = match status {
                HealthStatus::Healthy => {
                    serving += 1;
                    // Only an exec check with a dynamic weight sets a weight: any other
                    // record's weight is not the check's to give.
                    let dynamic = matches!(check.kind, CheckKind::Exec { dynamic_weight: true, .. });
                    let weight = record.and_then(|r| r.weight).filter(|_| dynamic);
                    weight.filter(|weight| *weight != spec_weight).map(HoldEffect::Weight)
                }
                HealthStatus::Unhealthy => Some(match check.on_failure {
                    OnFailure::Drain => HoldEffect::Drained,
                    OnFailure::Remove => HoldEffect::Removed,
                }),
                HealthStatus::Starting if health.start_drained => Some(HoldEffect::Drained),
                HealthStatus::Starting => {
                    serving += 1;
                    None
                }
            };
            let Some(effect) = effect else { continue };
            match effect {
                HoldEffect::Removed => {
                    service.destinations.remove(&key);
                }
                HoldEffect::Weight(weight) => set_weight(service, &key, weight),
                HoldEffect::Drained | HoldEffect::SorryServerAdded => set_weight(service, &key, 0),
            }
            if matches!(effect, HoldEffect::Drained | HoldEffect::Removed) {
                out_since = out_since.max(since);
            }
            holds.push(HealthHold { service: *service_key, destination: key, status, since, effect });
        }
        let Some(quorum) = &health.quorum else { continue };
        let Some(sorry) = quorum.sorry_server.as_ref().filter(|_| serving < quorum.min_healthy) else { continue };
        service.destinations.entry(sorry.key()).or_insert_with(|| sorry.clone());
        holds.push(HealthHold {
            service: *service_key,
            destination: sorry.key(),
            status: HealthStatus::Unhealthy,
            since: out_since,
            effect: HoldEffect::SorryServerAdded,
        });
    }
    (held, holds)
}

fn set_weight(service: &mut Service, key: &DestinationKey, weight: u32) {
    if let Some(destination) = service.destinations.get_mut(key) {
        destination.weight = weight;
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::model::health::{CheckVia, HealthCheck, Quorum, ServiceHealth};
    use crate::model::ipvs::{Destination, Protocol, ServiceSettings, TunnelEncapsulation};

    fn web() -> ServiceKey {
        ServiceKey::Address { protocol: Protocol::Tcp, address: "203.0.113.100".parse().unwrap(), port: 80 }
    }

    fn rs(n: u8) -> DestinationKey {
        DestinationKey { address: format!("198.51.100.{n}").parse().unwrap(), port: 80 }
    }

    fn sorry() -> Destination {
        Destination { weight: 1, ..Destination::tunnelled("192.0.2.50", TunnelEncapsulation::default()) }
    }

    /// `tcp 203.0.113.100:80` with real servers .21 and .22 (weight 5), and .23 unchecked.
    fn desired() -> IpvsState {
        let destinations = [21, 22, 23].map(|n| {
            let destination =
                Destination { weight: 5, ..Destination::tunnelled(&format!("198.51.100.{n}"), Default::default()) };
            (destination.key(), destination)
        });
        let service = Service {
            key: web(),
            settings: ServiceSettings {
                scheduler: Default::default(),
                scheduler_flags: vec![],
                persistence: None,
                one_packet: false,
            },
            destinations: destinations.into_iter().collect(),
        };
        IpvsState { services: [(web(), service)].into_iter().collect(), ..IpvsState::default() }
    }

    fn check(on_failure: OnFailure) -> HealthCheck {
        HealthCheck {
            kind: CheckKind::Tcp,
            port: 80,
            interval_ms: 2_000,
            timeout_ms: 1_000,
            rise: 2,
            fall: 3,
            on_failure,
            via: CheckVia::Tunnel,
        }
    }

    fn policy(on_failure: OnFailure, start_drained: bool, quorum: Option<Quorum>) -> HealthPolicy {
        let checks: BTreeMap<_, _> = [(rs(21), check(on_failure)), (rs(22), check(on_failure))].into_iter().collect();
        HealthPolicy {
            services: [(web(), ServiceHealth { checks, quorum, start_drained })].into_iter().collect(),
            ..HealthPolicy::default()
        }
    }

    fn record(destination: DestinationKey, status: HealthStatus, weight: Option<u32>) -> HealthRecord {
        HealthRecord {
            service: web(),
            destination,
            status,
            since: 1_000,
            last_check: Some(1_100),
            last_outcome: None,
            latency_ms: Some(2),
            weight,
        }
    }

    fn records(servers: Vec<HealthRecord>) -> HealthRecords {
        HealthRecords { agent_pid: 7, updated_at: 1_100, valid_until: 1_200, servers }
    }

    fn weight_of(state: &IpvsState, destination: DestinationKey) -> Option<u32> {
        state.services[&web()].destinations.get(&destination).map(|d| d.weight)
    }

    fn hold(destination: DestinationKey, status: HealthStatus, effect: HoldEffect) -> HealthHold {
        HealthHold { service: web(), destination, status, since: Some(1_000), effect }
    }

    #[test]
    fn without_records_nothing_is_held() {
        let (held, holds) = overlay(&desired(), &policy(OnFailure::Drain, true, None), None);
        assert_eq!((held, holds), (desired(), vec![]), "no agent: plan and apply act on the spec alone");
    }

    #[test]
    fn an_unhealthy_real_server_is_drained_and_a_healthy_one_keeps_its_weight() {
        let found =
            records(vec![record(rs(21), HealthStatus::Unhealthy, None), record(rs(22), HealthStatus::Healthy, None)]);
        let (held, holds) = overlay(&desired(), &policy(OnFailure::Drain, false, None), Some(&found));
        assert_eq!(weight_of(&held, rs(21)), Some(0));
        assert_eq!(weight_of(&held, rs(22)), Some(5));
        assert_eq!(weight_of(&held, rs(23)), Some(5), "unchecked");
        assert_eq!(holds, vec![hold(rs(21), HealthStatus::Unhealthy, HoldEffect::Drained)]);
    }

    #[test]
    fn on_failure_remove_takes_an_unhealthy_real_server_out() {
        let found = records(vec![record(rs(22), HealthStatus::Unhealthy, None)]);
        let (held, holds) = overlay(&desired(), &policy(OnFailure::Remove, false, None), Some(&found));
        assert_eq!(weight_of(&held, rs(22)), None);
        assert_eq!(holds, vec![hold(rs(22), HealthStatus::Unhealthy, HoldEffect::Removed)]);
    }

    #[test]
    fn a_dynamic_weight_replaces_the_specs_and_an_equal_one_holds_nothing() {
        let found = records(vec![
            record(rs(21), HealthStatus::Healthy, Some(9)),
            record(rs(22), HealthStatus::Healthy, Some(5)),
        ]);
        let mut dynamic = policy(OnFailure::Drain, false, None);
        for check in dynamic.services.get_mut(&web()).unwrap().checks.values_mut() {
            check.kind = CheckKind::Exec { command: vec!["/bin/check".into()], dynamic_weight: true };
        }
        let (held, holds) = overlay(&desired(), &dynamic, Some(&found));
        assert_eq!(weight_of(&held, rs(21)), Some(9));
        assert_eq!(holds, vec![hold(rs(21), HealthStatus::Healthy, HoldEffect::Weight(9))]);
    }

    #[test]
    fn a_weight_in_the_record_of_a_check_without_dynamic_weight_holds_nothing() {
        let found = records(vec![record(rs(21), HealthStatus::Healthy, Some(9))]);
        let (held, holds) = overlay(&desired(), &policy(OnFailure::Drain, false, None), Some(&found));
        assert_eq!((held, holds), (desired(), vec![]), "a tcp check gives no weight");
        let mut fixed = policy(OnFailure::Drain, false, None);
        for check in fixed.services.get_mut(&web()).unwrap().checks.values_mut() {
            check.kind = CheckKind::Exec { command: vec!["/bin/check".into()], dynamic_weight: false };
        }
        let (held, holds) = overlay(&desired(), &fixed, Some(&found));
        assert_eq!((held, holds), (desired(), vec![]), "nor an exec check without dynamicWeight");
    }

    #[test]
    fn starting_real_servers_are_drained_only_with_start_drained() {
        // .21 has a record still starting; .22 none yet (new in the spec since the agent read it).
        let found = records(vec![record(rs(21), HealthStatus::Starting, None)]);
        let (held, holds) = overlay(&desired(), &policy(OnFailure::Drain, true, None), Some(&found));
        assert_eq!((weight_of(&held, rs(21)), weight_of(&held, rs(22))), (Some(0), Some(0)));
        let unjudged = HealthHold { since: None, ..hold(rs(22), HealthStatus::Starting, HoldEffect::Drained) };
        assert_eq!(holds, vec![hold(rs(21), HealthStatus::Starting, HoldEffect::Drained), unjudged]);

        let (held, holds) = overlay(&desired(), &policy(OnFailure::Drain, false, None), Some(&found));
        assert_eq!((held, holds), (desired(), vec![]), "without startDrained they serve until judged");
    }

    #[test]
    fn a_service_below_its_quorum_gets_its_sorry_server_and_loses_it_when_back() {
        // .23 is unchecked and serves: with both checked ones down, 1 serves, quorum wants 2.
        let quorum = Some(Quorum { min_healthy: 2, sorry_server: Some(sorry()) });
        let down = records(vec![
            record(rs(21), HealthStatus::Unhealthy, None),
            HealthRecord { since: 1_050, ..record(rs(22), HealthStatus::Unhealthy, None) },
        ]);
        let (held, holds) = overlay(&desired(), &policy(OnFailure::Drain, false, quorum.clone()), Some(&down));
        assert_eq!(held.services[&web()].destinations.get(&sorry().key()), Some(&sorry()));
        let lost = HealthHold {
            since: Some(1_050),
            ..hold(sorry().key(), HealthStatus::Unhealthy, HoldEffect::SorryServerAdded)
        };
        assert_eq!(holds.last(), Some(&lost), "since the last real server went: {holds:?}");

        let one_back =
            records(vec![record(rs(21), HealthStatus::Healthy, None), record(rs(22), HealthStatus::Unhealthy, None)]);
        let (held, holds) = overlay(&desired(), &policy(OnFailure::Drain, false, quorum), Some(&one_back));
        assert!(!held.services[&web()].destinations.contains_key(&sorry().key()), "quorum regained: gone again");
        assert_eq!(holds, vec![hold(rs(22), HealthStatus::Unhealthy, HoldEffect::Drained)]);
    }

    #[test]
    fn records_of_real_servers_or_services_not_in_the_spec_are_ignored() {
        let other =
            ServiceKey::Address { protocol: Protocol::Tcp, address: "203.0.113.200".parse().unwrap(), port: 80 };
        let found = records(vec![
            record(rs(99), HealthStatus::Unhealthy, None),
            HealthRecord { service: other, ..record(rs(21), HealthStatus::Unhealthy, None) },
            record(rs(21), HealthStatus::Healthy, None),
            record(rs(22), HealthStatus::Healthy, None),
        ]);
        let (held, holds) = overlay(&desired(), &policy(OnFailure::Remove, false, None), Some(&found));
        assert_eq!((held, holds), (desired(), vec![]));
    }

    const SPEC: &str = "apiVersion: lvs-converge/v1\nkind: Host\nipvs:\n  services:\n    - address: 203.0.113.100\n      port: 80\n      realServers:\n        - { address: 198.51.100.21, weight: 5 }\n        - { address: 198.51.100.22, weight: 5 }\n        - { address: 198.51.100.23, weight: 5 }\n";

    #[test]
    fn apply_beside_the_agent_keeps_the_held_weight_verifies_it_and_then_has_nothing_to_do() {
        use crate::apply::{memory::MemoryHost, ApplyOptions, Host as _};
        let mut spec = crate::desired::parse(SPEC, std::path::Path::new("director.yaml")).expect("valid spec");
        spec.health = policy(OnFailure::Drain, false, None);
        // The agent drained rs .21; someone set .22 to weight 1 by hand (drift to repair).
        let mut observed = spec.desired.clone();
        let table = observed.ipvs.services.get_mut(&web()).unwrap();
        table.destinations.get_mut(&rs(21)).unwrap().weight = 0;
        table.destinations.get_mut(&rs(22)).unwrap().weight = 1;
        observed.ipvs.health = Some(records(vec![record(rs(21), HealthStatus::Unhealthy, None)]));
        let mut host = MemoryHost::new(observed.clone());

        let holds = super::hold(&mut spec, &observed);
        let plan = crate::plan::diff(&spec.desired, &observed, &spec.ownership).with_health_holds(holds);
        assert_eq!(plan.changes.len(), 1, "only the drift, not the drain: {:?}", plan.changes);
        assert_eq!(plan.health_holds, vec![hold(rs(21), HealthStatus::Unhealthy, HoldEffect::Drained)]);
        crate::apply::apply(plan, &spec.desired, &spec.ownership, ApplyOptions::default(), &mut host)
            .expect("applied and verified with .21 held at 0");
        assert_eq!(weight_of(&host.state.ipvs, rs(21)), Some(0), "the manual apply restored no weight");
        assert_eq!(weight_of(&host.state.ipvs, rs(22)), Some(5));

        let again = host.observe().unwrap();
        let mut spec = crate::desired::parse(SPEC, std::path::Path::new("director.yaml")).unwrap();
        spec.health = policy(OnFailure::Drain, false, None);
        super::hold(&mut spec, &again);
        assert!(
            crate::plan::diff(&spec.desired, &again, &spec.ownership).converged(),
            "a second apply changes nothing"
        );
    }
}
