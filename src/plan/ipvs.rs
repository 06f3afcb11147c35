//! Diffing IPVS tables. Identity decides create/delete; every other field is updated in place
//! (SET_SERVICE / SET_DEST), because deleting and re-adding a real server drops its
//! connections and the kernel parks deleted destinations in a trash list.

use serde::{Deserialize, Serialize};

use super::{all_fields, changed_fields, Action, ChangeView, Unmanaged};
use crate::model::duration::Seconds;
use crate::model::ipvs::{
    Destination, DestinationKey, IpvsState, Persistence, Service, ServiceKey, ServiceSettings, Timeouts,
};
use crate::model::keyed::Keyed;
use crate::model::ownership::IpvsOwnership;
use crate::model::{ObjectId, Subsystem};

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

impl Draining {
    pub fn describe(&self, now: u64) -> String {
        format!(
            "real server {} of {}: draining, {} connection(s) left; deleted when they end, at the latest in {}",
            self.destination,
            self.service,
            self.connections,
            Seconds(u32::try_from(self.deadline.saturating_sub(now)).unwrap_or(u32::MAX))
        )
    }
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
        if ownership.prune && ownership.covers(key) {
            deleted.push(IpvsChange::DeleteService {
                service: *key,
                before: have.settings.clone(),
                destinations: have.destinations.values().cloned().collect(),
            });
        } else {
            let id = if ownership.covers(key) {
                format!("{key} (in scope; set prune to remove it)")
            } else {
                key.to_string()
            };
            unmanaged.push(Unmanaged { subsystem: Subsystem::Ipvs, kind: "ipvs service".into(), id });
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

    pub fn view(&self) -> ChangeView {
        let action = self.action();
        let (kind, id, fields, before, after) = match self {
            IpvsChange::SetTimeouts { before, after } => (
                "ipvs connection timeouts",
                String::new(),
                changed_fields(&before.map(|t| timeout_fields(&t)).unwrap_or_default(), &timeout_fields(after)),
                before.map(|t| to_json(&t)),
                Some(to_json(after)),
            ),
            IpvsChange::CreateService { service, after } => (
                "ipvs service",
                service.to_string(),
                all_fields(service_fields(after), action),
                None,
                Some(to_json(after)),
            ),
            IpvsChange::UpdateService { service, before, after } => (
                "ipvs service",
                service.to_string(),
                changed_fields(&service_fields(before), &service_fields(after)),
                Some(to_json(before)),
                Some(to_json(after)),
            ),
            IpvsChange::DeleteService { service, before, .. } => (
                "ipvs service",
                service.to_string(),
                all_fields(service_fields(before), action),
                Some(to_json(before)),
                None,
            ),
            IpvsChange::CreateDestination { service, after } => (
                "ipvs real server",
                destination_id(service, after),
                all_fields(destination_fields(after), action),
                None,
                Some(to_json(after)),
            ),
            IpvsChange::UpdateDestination { service, before, after } => (
                "ipvs real server",
                destination_id(service, after),
                changed_fields(&destination_fields(before), &destination_fields(after)),
                Some(to_json(before)),
                Some(to_json(after)),
            ),
            IpvsChange::DeleteDestination { service, before } => (
                "ipvs real server",
                destination_id(service, before),
                all_fields(destination_fields(before), action),
                Some(to_json(before)),
                None,
            ),
            IpvsChange::DrainDestination { service, before, timeout } => {
                let after = drained(before);
                let mut fields = changed_fields(&destination_fields(before), &destination_fields(&after));
                fields.push(super::FieldChange {
                    name: "then".into(),
                    before: None,
                    after: Some(format!(
                        "deleted once its connections end (at the latest after {})",
                        Seconds(*timeout)
                    )),
                });
                (
                    "ipvs real server",
                    destination_id(service, before),
                    fields,
                    Some(to_json(before)),
                    Some(to_json(&after)),
                )
            }
        };
        ChangeView { subsystem: "ipvs", action, kind, id, fields, before, after }
    }
}

/// A real server as it is while draining: weight 0, nothing else changed.
pub fn drained(dest: &Destination) -> Destination {
    Destination { weight: 0, ..dest.clone() }
}

fn to_json<T: Serialize>(value: &T) -> serde_json::Value {
    serde_json::to_value(value).expect("model types serialize to JSON")
}

fn destination_id(service: &ServiceKey, dest: &Destination) -> String {
    let key = DestinationKey { address: dest.address, port: dest.port };
    format!("{key} of {service}")
}

fn timeout_fields(timeouts: &Timeouts) -> Vec<(&'static str, String)> {
    vec![
        ("tcp", Seconds(timeouts.tcp).to_string()),
        ("tcpFin", Seconds(timeouts.tcp_fin).to_string()),
        ("udp", Seconds(timeouts.udp).to_string()),
    ]
}

fn service_fields(settings: &ServiceSettings) -> Vec<(&'static str, String)> {
    let flags: Vec<&str> = settings.scheduler_flags.iter().map(|f| f.name()).collect();
    vec![
        ("scheduler", settings.scheduler.name().to_string()),
        ("schedulerFlags", if flags.is_empty() { "none".to_string() } else { flags.join(",") }),
        ("persistence", settings.persistence.as_ref().map_or_else(|| "off".to_string(), persistence_text)),
        ("onePacket", on_off(settings.one_packet).to_string()),
    ]
}

fn on_off(value: bool) -> &'static str {
    if value {
        "on"
    } else {
        "off"
    }
}

fn persistence_text(persistence: &Persistence) -> String {
    let mut text = format!("{} per /{}", Seconds(persistence.timeout), persistence.prefix_length);
    if let Some(engine) = &persistence.engine {
        text.push_str(&format!(" (engine {engine})"));
    }
    text
}

/// 0 means "no limit" to the kernel.
fn threshold_text(value: u32) -> String {
    if value == 0 {
        "none".to_string()
    } else {
        value.to_string()
    }
}

fn destination_fields(dest: &Destination) -> Vec<(&'static str, String)> {
    let mut method = dest.method.name().to_string();
    if dest.method == crate::model::ipvs::ForwardingMethod::Tunnel {
        method.push_str(&format!(" ({})", dest.tunnel.kind.name()));
        if dest.tunnel.port != 0 {
            method.push_str(&format!(" port {}", dest.tunnel.port));
        }
        let checksum = crate::model::ipvs::TunnelChecksum::from_flags(dest.tunnel.flags);
        if checksum != crate::model::ipvs::TunnelChecksum::None {
            method.push_str(&format!(" checksum {}", checksum.name()));
        }
    }
    vec![
        ("method", method),
        ("weight", dest.weight.to_string()),
        ("upperThreshold", threshold_text(dest.upper_threshold)),
        ("lowerThreshold", threshold_text(dest.lower_threshold)),
    ]
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
        let view = plan.changes[0].view();
        assert_eq!(view.fields.len(), 1);
        assert_eq!(view.fields[0].name, "weight");
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
        let observed = state(&[service(&[]), other]);
        let plan = diff(&desired, &observed, &IpvsOwnership::default());
        assert!(plan.changes.is_empty());
        assert_eq!(plan.unmanaged.len(), 1);
        assert_eq!(plan.unmanaged[0].id, "udp 192.0.2.1:53");
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
        assert_eq!(plan.changes[0].view().fields[0].after.as_deref(), Some("0"));
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
        assert!(
            plan.draining[0].describe(1_000).contains("1 connection(s) left"),
            "{}",
            plan.draining[0].describe(1_000)
        );
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
        use crate::apply::ipvs::apply_to_state;
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
            apply_to_state(&mut state, change).unwrap();
        }
        for change in changes.iter().rev() {
            for undo in change.inverse() {
                apply_to_state(&mut state, &undo).unwrap();
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
        let observed = state(&[service(&[]), in_scope.clone(), outside]);
        let mut ownership =
            IpvsOwnership { addresses: ["203.0.113.100".parse().unwrap()].into(), ..Default::default() };

        let report_only = diff(&desired, &observed, &ownership);
        assert!(report_only.changes.is_empty());
        assert_eq!(report_only.unmanaged.len(), 2);

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
        assert_eq!(pruned.unmanaged.len(), 1);
        assert_eq!(pruned.unmanaged[0].id, "udp 192.0.2.1:53");
    }
}
