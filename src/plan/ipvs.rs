//! Diffing IPVS tables. Identity decides create/delete; every other field is updated in place
//! (SET_SERVICE / SET_DEST), because deleting and re-adding a real server drops its
//! connections and the kernel parks deleted destinations in a trash list.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::compare::{each_difference, HostDifference};
use super::{Action, Change, Unmanaged};
use crate::model::ipvs::{Destination, DestinationKey, IpvsState, Service, ServiceKey, ServiceSettings, Timeouts};
use crate::model::keyed::Keyed;
use crate::model::ownership::IpvsOwnership;
use crate::model::ObjectId;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "change", rename_all = "camelCase")]
pub enum IpvsChange {
    SetTimeouts {
        before: Option<Timeouts>,
        after: Timeouts,
    },
    CreateService {
        service: ServiceKey,
        after: ServiceSettings,
    },
    UpdateService {
        service: ServiceKey,
        before: ServiceSettings,
        after: ServiceSettings,
    },
    /// Deleting a service deletes its real servers too; they are kept here so the change
    /// can be undone exactly.
    DeleteService {
        service: ServiceKey,
        before: ServiceSettings,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        destinations: Vec<Destination>,
    },
    CreateDestination {
        service: ServiceKey,
        after: Destination,
    },
    UpdateDestination {
        service: ServiceKey,
        before: Destination,
        after: Destination,
    },
    DeleteDestination {
        service: ServiceKey,
        before: Destination,
    },
    /// First step of removing a real server gracefully: weight 0, so it gets no new
    /// connections while its current ones finish; it is deleted once they have.
    DrainDestination {
        service: ServiceKey,
        before: Destination,
        /// Seconds after which it is deleted even with connections left.
        timeout: u32,
    },
}

/// A removed real server that is still draining: nothing to do until its connections end
/// or its drain deadline passes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Draining {
    pub service: ServiceKey,
    pub destination: DestinationKey,
    pub connections: u32,
    /// Unix seconds after which it is deleted regardless.
    pub deadline: u64,
}

pub struct IpvsDiff {
    pub changes: Vec<IpvsChange>,
    pub unmanaged: Vec<Unmanaged>,
    pub draining: Vec<Draining>,
}

/// Changes in execution order: timeouts; services created or updated; real servers added,
/// then updated, then removed (make before break); services removed last.
pub fn diff(desired: &IpvsState, observed: &IpvsState, ownership: &IpvsOwnership) -> IpvsDiff {
    let mut timeouts = Vec::new();
    let mut services = Vec::new();
    let mut added = Vec::new();
    let mut updated = Vec::new();
    let mut removed = Vec::new();
    let mut draining = Vec::new();

    if let Some(after) = desired.timeouts {
        if observed.timeouts != Some(after) {
            timeouts.push(IpvsChange::SetTimeouts { before: observed.timeouts, after });
        }
    }

    for (key, want) in &desired.services {
        let Some(have) = observed.services.get(key) else {
            services.push(IpvsChange::CreateService { service: *key, after: want.settings.clone() });
            added.extend(
                want.destinations.values().map(|d| IpvsChange::CreateDestination { service: *key, after: d.clone() }),
            );
            continue;
        };
        if want.settings != have.settings {
            services.push(IpvsChange::UpdateService {
                service: *key,
                before: have.settings.clone(),
                after: want.settings.clone(),
            });
        }
        diff_destinations(*key, want, have, &mut added, &mut updated);
        for dest in have.destinations.values().filter(|d| !want.destinations.contains_key(&d.key())) {
            match removal(*key, dest, observed, ownership.drain_timeout) {
                Removal::Now(change) => removed.push(change),
                Removal::DrainFirst(change) => updated.push(change),
                Removal::Wait(wait) => draining.push(wait),
            }
        }
    }

    let mut unmanaged = Vec::new();
    let mut deleted = Vec::new();
    for (key, have) in observed.services.iter().filter(|(key, _)| !desired.services.contains_key(key)) {
        if ownership.deletes_undeclared(key) {
            deleted.push(IpvsChange::DeleteService {
                service: *key,
                before: have.settings.clone(),
                destinations: have.destinations.values().cloned().collect(),
            });
        } else {
            unmanaged.push(Unmanaged::IpvsService { service: *key, in_scope: ownership.covers(key) });
        }
    }

    let changes = [timeouts, services, added, updated, removed, deleted].into_iter().flatten().collect();
    IpvsDiff { changes, unmanaged, draining }
}

enum Removal {
    Now(IpvsChange),
    DrainFirst(IpvsChange),
    Wait(Draining),
}

/// How a real server that the spec no longer lists goes away: drained first (weight 0),
/// then deleted once nothing holds it or its drain deadline has passed.
fn removal(service: ServiceKey, dest: &Destination, observed: &IpvsState, drain_timeout: Option<u32>) -> Removal {
    let delete = IpvsChange::DeleteDestination { service, before: dest.clone() };
    let Some(timeout) = drain_timeout else { return Removal::Now(delete) };
    if dest.weight > 0 {
        return Removal::DrainFirst(IpvsChange::DrainDestination { service, before: dest.clone(), timeout });
    }
    let key = dest.key();
    let connections = observed.connections_holding(&service, &key);
    let since = observed.draining_since(&service, &key).unwrap_or(observed.observed_at);
    let deadline = since + u64::from(timeout);
    if connections == 0 || observed.observed_at >= deadline {
        Removal::Now(delete)
    } else {
        Removal::Wait(Draining { service, destination: key, connections, deadline })
    }
}

fn diff_destinations(
    service: ServiceKey,
    want: &Service,
    have: &Service,
    added: &mut Vec<IpvsChange>,
    updated: &mut Vec<IpvsChange>,
) {
    for (key, dest) in &want.destinations {
        match have.destinations.get(key) {
            None => added.push(IpvsChange::CreateDestination { service, after: dest.clone() }),
            Some(current) if current != dest => {
                updated.push(IpvsChange::UpdateDestination { service, before: current.clone(), after: dest.clone() })
            }
            Some(_) => {}
        }
    }
}

impl IpvsChange {
    /// The service this change is about; `None` for the timeouts, which are the table's.
    pub fn service(&self) -> Option<ServiceKey> {
        match self {
            IpvsChange::SetTimeouts { .. } => None,
            IpvsChange::CreateService { service, .. }
            | IpvsChange::UpdateService { service, .. }
            | IpvsChange::DeleteService { service, .. }
            | IpvsChange::CreateDestination { service, .. }
            | IpvsChange::UpdateDestination { service, .. }
            | IpvsChange::DeleteDestination { service, .. }
            | IpvsChange::DrainDestination { service, .. } => Some(*service),
        }
    }

    /// The changes that undo this one, in order.
    pub fn inverse(&self) -> Vec<IpvsChange> {
        match self.clone() {
            IpvsChange::SetTimeouts { before: Some(before), after } => {
                vec![IpvsChange::SetTimeouts { before: Some(after), after: before }]
            }
            // ip_vs was not loaded before: its timeouts were the kernel's defaults.
            IpvsChange::SetTimeouts { before: None, after } => {
                vec![IpvsChange::SetTimeouts { before: Some(after), after: Timeouts::KERNEL_DEFAULTS }]
            }
            IpvsChange::CreateService { service, after } => {
                vec![IpvsChange::DeleteService { service, before: after, destinations: vec![] }]
            }
            IpvsChange::UpdateService { service, before, after } => {
                vec![IpvsChange::UpdateService { service, before: after, after: before }]
            }
            IpvsChange::DeleteService { service, before, destinations } => {
                let mut undo = vec![IpvsChange::CreateService { service, after: before }];
                undo.extend(destinations.into_iter().map(|after| IpvsChange::CreateDestination { service, after }));
                undo
            }
            IpvsChange::CreateDestination { service, after } => {
                vec![IpvsChange::DeleteDestination { service, before: after }]
            }
            IpvsChange::UpdateDestination { service, before, after } => {
                vec![IpvsChange::UpdateDestination { service, before: after, after: before }]
            }
            IpvsChange::DeleteDestination { service, before } => {
                vec![IpvsChange::CreateDestination { service, after: before }]
            }
            IpvsChange::DrainDestination { service, before, .. } => {
                vec![IpvsChange::UpdateDestination { service, before: drained(&before), after: before }]
            }
        }
    }

    pub fn object(&self) -> ObjectId {
        match self {
            IpvsChange::SetTimeouts { .. } => ObjectId::IpvsTimeouts,
            IpvsChange::CreateService { service, .. }
            | IpvsChange::UpdateService { service, .. }
            | IpvsChange::DeleteService { service, .. } => ObjectId::IpvsService(*service),
            IpvsChange::CreateDestination { service, after: destination }
            | IpvsChange::UpdateDestination { service, after: destination, .. }
            | IpvsChange::DeleteDestination { service, before: destination }
            | IpvsChange::DrainDestination { service, before: destination, .. } => {
                ObjectId::IpvsDestination(*service, destination.key())
            }
        }
    }

    pub fn action(&self) -> Action {
        match self {
            IpvsChange::CreateService { .. } | IpvsChange::CreateDestination { .. } => Action::Create,
            IpvsChange::SetTimeouts { .. }
            | IpvsChange::UpdateService { .. }
            | IpvsChange::UpdateDestination { .. }
            | IpvsChange::DrainDestination { .. } => Action::Update,
            IpvsChange::DeleteService { .. } | IpvsChange::DeleteDestination { .. } => Action::Delete,
        }
    }
}

/// A real server as it is while draining: weight 0, nothing else changed.
pub fn drained(dest: &Destination) -> Destination {
    Destination { weight: 0, ..dest.clone() }
}

/// IPVS: the planner already compares whole tables when it owns every service (prune, no
/// drain: a vanished real server is simply gone); timeouts that vanished (ip_vs unloaded)
/// and drain records are compared here.
pub fn compare(before: &IpvsState, after: &IpvsState) -> Vec<HostDifference> {
    let everything = IpvsOwnership { prune: true, all: true, drain_timeout: None, ..Default::default() };
    let mut differences: Vec<HostDifference> = diff(after, before, &everything)
        .changes
        .into_iter()
        .map(|change| HostDifference::Changed(Change::Ipvs(change)))
        .collect();
    if before.timeouts.is_some() && after.timeouts.is_none() {
        differences.push(HostDifference::IpvsTimeoutsGone);
    }
    let drains = |state: &IpvsState| {
        state
            .activity
            .iter()
            // Ordered as before this was typed: by the object's text.
            .filter_map(|a| {
                let text = ObjectId::IpvsDestination(a.service, a.destination).to_string();
                Some(((text, a.service, a.destination), a.draining_since?))
            })
            .collect::<BTreeMap<_, _>>()
    };
    differences.extend(each_difference(&drains(before), &drains(after), |(_, service, destination), old, new| {
        vec![HostDifference::Drain {
            service: *service,
            destination: *destination,
            before: old.copied(),
            after: new.copied(),
        }]
    }));
    differences
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::ipvs::{ForwardingMethod, Protocol, Scheduler};
    use crate::model::keyed::Keyed;

    fn dest(address: &str, weight: u32) -> Destination {
        Destination {
            address: address.parse().unwrap(),
            port: 80,
            method: ForwardingMethod::Tunnel,
            weight,
            upper_threshold: 0,
            lower_threshold: 0,
            tunnel: Default::default(),
        }
    }

    fn service(dests: &[Destination]) -> Service {
        Service {
            key: ServiceKey::Address { protocol: Protocol::Tcp, address: "203.0.113.100".parse().unwrap(), port: 80 },
            settings: ServiceSettings {
                scheduler: Scheduler::Wlc,
                scheduler_flags: vec![],
                persistence: None,
                one_packet: false,
            },
            destinations: dests.iter().map(|d| (d.key(), d.clone())).collect(),
        }
    }

    fn state(services: &[Service]) -> IpvsState {
        IpvsState { services: services.iter().map(|s| (s.key(), s.clone())).collect(), ..IpvsState::default() }
    }

    #[test]
    fn converged_state_plans_nothing() {
        let s = state(&[service(&[dest("203.0.113.11", 1)])]);
        let plan = diff(&s, &s, &IpvsOwnership::default());
        assert!(plan.changes.is_empty());
        assert!(plan.unmanaged.is_empty());
    }

    #[test]
    fn weight_change_is_an_in_place_update_not_delete_and_add() {
        let desired = state(&[service(&[dest("203.0.113.11", 0)])]);
        let observed = state(&[service(&[dest("203.0.113.11", 5)])]);
        let plan = diff(&desired, &observed, &IpvsOwnership::default());
        assert_eq!(plan.changes.len(), 1);
        assert!(
            matches!(&plan.changes[0], IpvsChange::UpdateDestination { before, after, .. } if before.weight == 5 && after.weight == 0)
        );
    }

    /// Switching ipip → GUE must not delete the real server: its connections would be cut.
    #[test]
    fn a_tunnel_type_switch_is_an_in_place_update_not_delete_and_add() {
        use crate::model::ipvs::{TunnelEncapsulation, TunnelType};
        let gue = Destination {
            tunnel: TunnelEncapsulation { kind: TunnelType::Gue, port: 6080, flags: 1 },
            ..dest("203.0.113.11", 1)
        };
        let desired = state(&[service(std::slice::from_ref(&gue))]);
        let observed = state(&[service(&[dest("203.0.113.11", 1)])]);
        let plan = diff(&desired, &observed, &IpvsOwnership::default());
        assert_eq!(
            plan.changes,
            [IpvsChange::UpdateDestination {
                service: service(&[]).key,
                before: dest("203.0.113.11", 1),
                after: gue.clone()
            }]
        );
        assert!(plan.draining.is_empty());
        assert_eq!(
            plan.changes[0].inverse(),
            [IpvsChange::UpdateDestination { service: service(&[]).key, before: gue, after: dest("203.0.113.11", 1) }]
        );
    }

    #[test]
    fn adds_come_before_removals() {
        let desired = state(&[service(&[dest("203.0.113.12", 1)])]);
        let observed = state(&[service(&[dest("203.0.113.11", 1)])]);
        let plan = diff(&desired, &observed, &IpvsOwnership::default());
        let actions: Vec<Action> = plan.changes.iter().map(IpvsChange::action).collect();
        assert_eq!(actions, vec![Action::Create, Action::Delete]);
    }

    #[test]
    fn undeclared_services_are_reported_not_touched() {
        let mut other = service(&[]);
        other.key = ServiceKey::Address { protocol: Protocol::Udp, address: "192.0.2.1".parse().unwrap(), port: 53 };
        let desired = state(&[service(&[])]);
        let observed = state(&[service(&[]), other.clone()]);
        let plan = diff(&desired, &observed, &IpvsOwnership::default());
        assert!(plan.changes.is_empty());
        assert_eq!(plan.unmanaged.len(), 1);
        assert_eq!(plan.unmanaged, [Unmanaged::IpvsService { service: other.key, in_scope: false }]);
    }

    fn with_connections(mut state: IpvsState, dest: &str, active: u32, since: Option<u64>) -> IpvsState {
        let service = *state.services.keys().next().unwrap();
        state.activity.push(crate::model::ipvs::DestinationActivity {
            service,
            destination: DestinationKey { address: dest.parse().unwrap(), port: 80 },
            active,
            inactive: 3,
            draining_since: since,
        });
        state.observed_at = 1_000;
        state
    }

    #[test]
    fn a_removed_real_server_is_drained_then_deleted_when_idle_or_late() {
        let draining = IpvsOwnership { drain_timeout: Some(300), ..Default::default() };
        let desired = state(&[service(&[dest("203.0.113.11", 1)])]);
        // Still taking traffic: weight 0 first.
        let live = state(&[service(&[dest("203.0.113.11", 1), dest("198.51.100.22", 4)])]);
        let plan = diff(&desired, &live, &draining);
        assert!(
            matches!(plan.changes.as_slice(), [IpvsChange::DrainDestination { before, timeout: 300, .. }] if before.weight == 4)
        );
        // Weight 0 with an established connection, 100 s into a 300 s drain: wait.
        let busy = with_connections(
            state(&[service(&[dest("203.0.113.11", 1), dest("198.51.100.22", 0)])]),
            "198.51.100.22",
            1,
            Some(900),
        );
        let plan = diff(&desired, &busy, &draining);
        assert!(plan.changes.is_empty());
        assert_eq!(plan.draining.len(), 1);
        assert_eq!(plan.draining[0].deadline, 1_200);
        // Only TIME_WAIT entries left (inactive): TCP is done, delete.
        let idle = with_connections(
            state(&[service(&[dest("203.0.113.11", 1), dest("198.51.100.22", 0)])]),
            "198.51.100.22",
            0,
            Some(900),
        );
        assert!(matches!(diff(&desired, &idle, &draining).changes.as_slice(), [IpvsChange::DeleteDestination { .. }]));
        // Past the deadline: delete even with connections.
        let late = with_connections(
            state(&[service(&[dest("203.0.113.11", 1), dest("198.51.100.22", 0)])]),
            "198.51.100.22",
            5,
            Some(600),
        );
        assert!(matches!(diff(&desired, &late, &draining).changes.as_slice(), [IpvsChange::DeleteDestination { .. }]));
        // Drain off: delete at once.
        assert!(matches!(
            diff(&desired, &live, &IpvsOwnership::default()).changes.as_slice(),
            [IpvsChange::DeleteDestination { .. }]
        ));
    }

    #[test]
    fn every_change_is_undone_by_its_inverse() {
        use crate::apply::ipvs::apply_to_table;
        let start = state(&[service(&[dest("203.0.113.11", 1), dest("198.51.100.22", 4)])]);
        let mut other = service(&[dest("192.0.2.7", 2)]);
        other.key =
            ServiceKey::Address { protocol: Protocol::Udp, address: "203.0.113.100".parse().unwrap(), port: 53 };
        let mut target = state(&[service(&[dest("203.0.113.11", 3), dest("203.0.113.12", 1)])]);
        target.services.values_mut().next().unwrap().settings.scheduler = Scheduler::Rr;
        let mut start_with_other = start.clone();
        start_with_other.services.insert(other.key, other);
        let ownership = IpvsOwnership { all: true, prune: true, drain_timeout: Some(60), ..Default::default() };
        let changes = diff(&target, &start_with_other, &ownership).changes;
        assert!(changes.len() >= 4, "{changes:?}");
        let mut state = start_with_other.clone();
        for change in &changes {
            apply_to_table(&mut state, change).unwrap();
        }
        for change in changes.iter().rev() {
            for undo in change.inverse() {
                apply_to_table(&mut state, &undo).unwrap();
            }
        }
        assert_eq!(state, start_with_other);
    }

    #[test]
    fn prune_deletes_undeclared_services_only_inside_the_scope() {
        let mut in_scope = service(&[]);
        in_scope.key =
            ServiceKey::Address { protocol: Protocol::Udp, address: "203.0.113.100".parse().unwrap(), port: 53 };
        let mut outside = service(&[]);
        outside.key = ServiceKey::Address { protocol: Protocol::Udp, address: "192.0.2.1".parse().unwrap(), port: 53 };
        let desired = state(&[service(&[])]);
        let outside_key = outside.key;
        let observed = state(&[service(&[]), in_scope.clone(), outside]);
        let mut ownership =
            IpvsOwnership { addresses: ["203.0.113.100".parse().unwrap()].into(), ..Default::default() };

        let report_only = diff(&desired, &observed, &ownership);
        assert!(report_only.changes.is_empty());
        assert_eq!(
            report_only.unmanaged,
            [
                Unmanaged::IpvsService { service: outside_key, in_scope: false },
                Unmanaged::IpvsService { service: in_scope.key, in_scope: true },
            ]
        );

        ownership.prune = true;
        let pruned = diff(&desired, &observed, &ownership);
        assert_eq!(
            pruned.changes,
            vec![IpvsChange::DeleteService {
                service: in_scope.key,
                before: in_scope.settings.clone(),
                destinations: vec![]
            }]
        );
        assert_eq!(pruned.unmanaged, [Unmanaged::IpvsService { service: outside_key, in_scope: false }]);
    }

    /// A hidden health-check service no check needs any more is deleted without `prune`; a
    /// firewall-mark service just outside their range is a stranger, reported and left.
    #[test]
    fn hidden_health_check_services_are_deleted_when_not_desired_and_strangers_are_left() {
        use crate::model::health::{HEALTH_MARK_FIRST, HEALTH_MARK_LAST};
        let fwmark = |mark| {
            let mut hidden = service(&[]);
            hidden.key = ServiceKey::FirewallMark { fwmark: mark, family: crate::model::ipvs::Family::Ipv4 };
            hidden
        };
        let (hidden, stranger) = (fwmark(HEALTH_MARK_LAST), fwmark(HEALTH_MARK_FIRST - 1));
        let desired = state(&[service(&[])]);
        let observed = state(&[service(&[]), hidden.clone(), stranger.clone()]);
        let plan = diff(&desired, &observed, &IpvsOwnership::default());
        assert_eq!(
            plan.changes,
            vec![IpvsChange::DeleteService {
                service: hidden.key,
                before: hidden.settings.clone(),
                destinations: vec![]
            }]
        );
        assert_eq!(plan.unmanaged, [Unmanaged::IpvsService { service: stranger.key, in_scope: false }]);
        // Still desired: left as it is.
        let kept = diff(&state(&[service(&[]), hidden.clone()]), &observed, &IpvsOwnership::default());
        assert!(kept.changes.is_empty(), "{:?}", kept.changes);
    }
}
