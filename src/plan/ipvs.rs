//! Diffing IPVS tables. Identity decides create/delete; every other field is updated in place
//! (SET_SERVICE / SET_DEST), because deleting and re-adding a real server drops its
//! connections and the kernel parks deleted destinations in a trash list.

use serde::{Deserialize, Serialize};

use super::{all_fields, changed_fields, Action, ChangeView, Unmanaged};
use crate::model::ipvs::{
    Destination, DestinationKey, IpvsState, Persistence, Service, ServiceKey, ServiceSettings, Timeouts,
};
use crate::model::duration::Seconds;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "change", rename_all = "camelCase")]
pub enum IpvsChange {
    SetTimeouts { before: Option<Timeouts>, after: Timeouts },
    CreateService { service: ServiceKey, after: ServiceSettings },
    UpdateService { service: ServiceKey, before: ServiceSettings, after: ServiceSettings },
    DeleteService { service: ServiceKey, before: ServiceSettings },
    CreateDestination { service: ServiceKey, after: Destination },
    UpdateDestination { service: ServiceKey, before: Destination, after: Destination },
    DeleteDestination { service: ServiceKey, before: Destination },
}

pub struct IpvsDiff {
    pub changes: Vec<IpvsChange>,
    pub unmanaged: Vec<Unmanaged>,
}

/// Changes in execution order: timeouts; services created or updated; real servers added,
/// then updated, then removed (make before break); services removed last.
pub fn diff(desired: &IpvsState, observed: &IpvsState) -> IpvsDiff {
    let mut timeouts = Vec::new();
    let mut services = Vec::new();
    let mut added = Vec::new();
    let mut updated = Vec::new();
    let mut removed = Vec::new();

    if let Some(after) = desired.timeouts {
        if observed.timeouts != Some(after) {
            timeouts.push(IpvsChange::SetTimeouts { before: observed.timeouts, after });
        }
    }

    for (key, want) in &desired.services {
        let Some(have) = observed.services.get(key) else {
            services.push(IpvsChange::CreateService { service: *key, after: want.settings() });
            added.extend(want.destinations.values().map(|d| IpvsChange::CreateDestination { service: *key, after: d.clone() }));
            continue;
        };
        if want.settings() != have.settings() {
            services.push(IpvsChange::UpdateService { service: *key, before: have.settings(), after: want.settings() });
        }
        diff_destinations(*key, want, have, &mut added, &mut updated, &mut removed);
    }

    let unmanaged = observed
        .services
        .keys()
        .filter(|key| !desired.services.contains_key(key))
        .map(|key| Unmanaged { subsystem: "ipvs".into(), kind: "service".into(), id: key.to_string() })
        .collect();

    let changes = [timeouts, services, added, updated, removed].into_iter().flatten().collect();
    IpvsDiff { changes, unmanaged }
}

fn diff_destinations(
    service: ServiceKey,
    want: &Service,
    have: &Service,
    added: &mut Vec<IpvsChange>,
    updated: &mut Vec<IpvsChange>,
    removed: &mut Vec<IpvsChange>,
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
    for (key, dest) in &have.destinations {
        if !want.destinations.contains_key(key) {
            removed.push(IpvsChange::DeleteDestination { service, before: dest.clone() });
        }
    }
}

impl IpvsChange {
    pub fn action(&self) -> Action {
        match self {
            IpvsChange::CreateService { .. } | IpvsChange::CreateDestination { .. } => Action::Create,
            IpvsChange::SetTimeouts { .. } | IpvsChange::UpdateService { .. } | IpvsChange::UpdateDestination { .. } => {
                Action::Update
            }
            IpvsChange::DeleteService { .. } | IpvsChange::DeleteDestination { .. } => Action::Delete,
        }
    }

    pub fn view(&self) -> ChangeView {
        let action = self.action();
        let (kind, id, fields, before, after) = match self {
            IpvsChange::SetTimeouts { before, after } => (
                "timeouts",
                "connection timeouts".to_string(),
                changed_fields(&before.map(|t| timeout_fields(&t)).unwrap_or_default(), &timeout_fields(after)),
                before.map(|t| to_json(&t)),
                Some(to_json(after)),
            ),
            IpvsChange::CreateService { service, after } => {
                ("service", service.to_string(), all_fields(service_fields(after), action), None, Some(to_json(after)))
            }
            IpvsChange::UpdateService { service, before, after } => (
                "service",
                service.to_string(),
                changed_fields(&service_fields(before), &service_fields(after)),
                Some(to_json(before)),
                Some(to_json(after)),
            ),
            IpvsChange::DeleteService { service, before } => {
                ("service", service.to_string(), all_fields(service_fields(before), action), Some(to_json(before)), None)
            }
            IpvsChange::CreateDestination { service, after } => (
                "real server",
                destination_id(service, after),
                all_fields(destination_fields(after), action),
                None,
                Some(to_json(after)),
            ),
            IpvsChange::UpdateDestination { service, before, after } => (
                "real server",
                destination_id(service, after),
                changed_fields(&destination_fields(before), &destination_fields(after)),
                Some(to_json(before)),
                Some(to_json(after)),
            ),
            IpvsChange::DeleteDestination { service, before } => (
                "real server",
                destination_id(service, before),
                all_fields(destination_fields(before), action),
                Some(to_json(before)),
                None,
            ),
        };
        ChangeView { subsystem: "ipvs", action, kind, id, fields, before, after }
    }
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
    let mut fields = vec![("scheduler", settings.scheduler.name().to_string())];
    if !settings.scheduler_flags.is_empty() {
        let names: Vec<&str> = settings.scheduler_flags.iter().map(|f| f.name()).collect();
        fields.push(("schedulerFlags", names.join(",")));
    }
    fields.push(("persistence", settings.persistence.as_ref().map_or_else(|| "off".to_string(), persistence_text)));
    if settings.one_packet {
        fields.push(("onePacket", "on".to_string()));
    }
    fields
}

fn persistence_text(persistence: &Persistence) -> String {
    let mut text = format!("{} per /{}", Seconds(persistence.timeout), persistence.prefix_length);
    if let Some(engine) = &persistence.engine {
        text.push_str(&format!(" (engine {engine})"));
    }
    text
}

fn destination_fields(dest: &Destination) -> Vec<(&'static str, String)> {
    let mut method = dest.method.name().to_string();
    if dest.method == crate::model::ipvs::ForwardingMethod::Tunnel {
        method.push_str(&format!(" ({})", dest.tunnel.kind.name()));
        if dest.tunnel.port != 0 {
            method.push_str(&format!(" port {}", dest.tunnel.port));
        }
    }
    let mut fields = vec![("method", method), ("weight", dest.weight.to_string())];
    if dest.upper_threshold != 0 {
        fields.push(("upperThreshold", dest.upper_threshold.to_string()));
    }
    if dest.lower_threshold != 0 {
        fields.push(("lowerThreshold", dest.lower_threshold.to_string()));
    }
    fields
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
            scheduler: Scheduler::Wlc,
            scheduler_flags: vec![],
            persistence: None,
            one_packet: false,
            destinations: dests.iter().map(|d| (d.key(), d.clone())).collect(),
        }
    }

    fn state(services: &[Service]) -> IpvsState {
        IpvsState { services: services.iter().map(|s| (s.key(), s.clone())).collect(), timeouts: None }
    }

    #[test]
    fn converged_state_plans_nothing() {
        let s = state(&[service(&[dest("203.0.113.11", 1)])]);
        let plan = diff(&s, &s);
        assert!(plan.changes.is_empty());
        assert!(plan.unmanaged.is_empty());
    }

    #[test]
    fn weight_change_is_an_in_place_update_not_delete_and_add() {
        let desired = state(&[service(&[dest("203.0.113.11", 0)])]);
        let observed = state(&[service(&[dest("203.0.113.11", 5)])]);
        let plan = diff(&desired, &observed);
        assert_eq!(plan.changes.len(), 1);
        assert!(matches!(&plan.changes[0], IpvsChange::UpdateDestination { before, after, .. } if before.weight == 5 && after.weight == 0));
        let view = plan.changes[0].view();
        assert_eq!(view.fields.len(), 1);
        assert_eq!(view.fields[0].name, "weight");
    }

    #[test]
    fn adds_come_before_removals() {
        let desired = state(&[service(&[dest("203.0.113.12", 1)])]);
        let observed = state(&[service(&[dest("203.0.113.11", 1)])]);
        let plan = diff(&desired, &observed);
        let actions: Vec<Action> = plan.changes.iter().map(IpvsChange::action).collect();
        assert_eq!(actions, vec![Action::Create, Action::Delete]);
    }

    #[test]
    fn undeclared_services_are_reported_not_touched() {
        let mut other = service(&[]);
        other.key = ServiceKey::Address { protocol: Protocol::Udp, address: "192.0.2.1".parse().unwrap(), port: 53 };
        let desired = state(&[service(&[])]);
        let observed = state(&[service(&[]), other]);
        let plan = diff(&desired, &observed);
        assert!(plan.changes.is_empty());
        assert_eq!(plan.unmanaged.len(), 1);
        assert_eq!(plan.unmanaged[0].id, "udp 192.0.2.1:53");
    }
}
