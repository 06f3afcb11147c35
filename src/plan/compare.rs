//! What changed on a host between two observations: every object that appeared, changed or
//! went away, in every subsystem. Unlike [`super::diff`], which only looks at what a spec
//! declares (it never unloads a module or deletes an undeclared address), this compares two
//! observed states symmetrically; a saved plan uses it to say what made it stale.

use std::collections::{BTreeMap, BTreeSet};

use super::ipvs::{self as ipvs_plan};
use super::{
    changed_fields, Action, AddressChange, Change, ChangeView, FileChange, LinkChange, ModuleChange, RouteChange,
    SysctlChange,
};
use crate::model::ownership::IpvsOwnership;
use crate::model::HostState;

/// The objects that differ from `before` to `after`, as views (Create: appeared, Update:
/// changed, Delete: gone), in plan order: modules, links, sysctls, addresses, routes, IPVS,
/// files.
pub fn changes_between(before: &HostState, after: &HostState) -> Vec<ChangeView> {
    let mut views = Vec::new();
    let modules = |state: &HostState| state.modules.iter().map(|m| (m.clone(), ())).collect::<BTreeMap<_, _>>();
    views.extend(compare(&modules(before), &modules(after), |name, old, _| match old {
        None => vec![Change::Module(ModuleChange::Load { name: name.clone() }).view()],
        Some(()) => vec![bare("modules", Action::Delete, "kernel module", name.clone())],
    }));
    views.extend(compare(&before.links, &after.links, |_, old, new| {
        let change = transition(
            old,
            new,
            |after| LinkChange::Create { after },
            |before, after| LinkChange::Update { before, after },
            |before| LinkChange::Delete { before },
        );
        vec![Change::Link(change).view()]
    }));
    views.extend(compare(&before.sysctls, &after.sysctls, |key, old, new| match new {
        Some(after) => {
            vec![Change::Sysctl(SysctlChange::Set { key: key.clone(), before: old.cloned(), after: after.clone() })
                .view()]
        }
        None => vec![bare("sysctl", Action::Delete, "sysctl", key.clone())],
    }));
    views.extend(compare(&before.addresses, &after.addresses, |key, old, new| match (old, new) {
        (Some(old), Some(new)) => {
            let label = |a: &crate::model::Address| vec![("label", a.effective_label().to_string())];
            let mut view = bare("addresses", Action::Update, "address", key.to_string());
            view.fields = changed_fields(&label(old), &label(new));
            vec![view]
        }
        (None, Some(after)) => vec![Change::Address(AddressChange::Create { after: after.clone() }).view()],
        (Some(before), None) => vec![Change::Address(AddressChange::Delete { before: before.clone() }).view()],
        (None, None) => vec![],
    }));
    views.extend(compare(&before.routes, &after.routes, |_, old, new| {
        let change = transition(
            old,
            new,
            |after| RouteChange::Create { after },
            |before, after| RouteChange::Update { before, after },
            |before| RouteChange::Delete { before },
        );
        vec![Change::Route(change).view()]
    }));
    views.extend(ipvs(before, after));
    views.extend(compare(&before.files, &after.files, |path, old, new| {
        let path = path.clone();
        let change = transition(
            old,
            new,
            |after| FileChange::Create { path: path.clone(), after: after.content },
            |before, after| FileChange::Update {
                path: path.clone(),
                owned: before.is_owned(),
                before: before.content,
                after: after.content,
            },
            |before| FileChange::Delete { path: path.clone(), before: before.content },
        );
        vec![Change::File(change).view()]
    }));
    views
}

/// IPVS: the planner already compares whole tables when it owns every service (prune, no
/// drain: a vanished real server is simply gone); timeouts that vanished (ip_vs unloaded)
/// and drain records are compared here.
fn ipvs(before: &HostState, after: &HostState) -> Vec<ChangeView> {
    let everything = IpvsOwnership { prune: true, all: true, drain_timeout: None, ..Default::default() };
    let mut views: Vec<ChangeView> =
        ipvs_plan::diff(&after.ipvs, &before.ipvs, &everything).changes.iter().map(|c| c.view()).collect();
    if before.ipvs.timeouts.is_some() && after.ipvs.timeouts.is_none() {
        views.push(bare("ipvs", Action::Delete, "ipvs connection timeouts", String::new()));
    }
    let drains = |state: &HostState| {
        state
            .ipvs
            .activity
            .iter()
            .filter_map(|a| Some((format!("{} of {}", a.destination, a.service), a.draining_since?)))
            .collect::<BTreeMap<_, _>>()
    };
    views.extend(compare(&drains(before), &drains(after), |id, old, new| {
        let action = match (old, new) {
            (None, _) => Action::Create,
            (Some(_), Some(_)) => Action::Update,
            (Some(_), None) => Action::Delete,
        };
        let mut view = bare("ipvs", action, "ipvs drain of real server", id.clone());
        let since = |value: Option<&u64>| value.into_iter().map(|s| ("since", s.to_string())).collect::<Vec<_>>();
        view.fields = changed_fields(&since(old), &since(new));
        vec![view]
    }));
    views
}

/// Calls `view(key, before, after)` for every key whose value differs between the maps.
fn compare<K: Ord, V: PartialEq>(
    before: &BTreeMap<K, V>,
    after: &BTreeMap<K, V>,
    view: impl Fn(&K, Option<&V>, Option<&V>) -> Vec<ChangeView>,
) -> Vec<ChangeView> {
    let keys: BTreeSet<&K> = before.keys().chain(after.keys()).collect();
    keys.into_iter()
        .filter(|key| before.get(key) != after.get(key))
        .flat_map(|key| view(key, before.get(key), after.get(key)))
        .collect()
}

/// The change from `old` to `new` (at least one present), made by the matching constructor.
fn transition<V: Clone, C>(
    old: Option<&V>,
    new: Option<&V>,
    create: impl FnOnce(V) -> C,
    update: impl FnOnce(V, V) -> C,
    delete: impl FnOnce(V) -> C,
) -> C {
    match (old.cloned(), new.cloned()) {
        (None, Some(after)) => create(after),
        (Some(before), Some(after)) => update(before, after),
        (Some(before), None) => delete(before),
        (None, None) => unreachable!("compare passes keys present on one side at least"),
    }
}

/// A view without fields or JSON, for objects the planner never changes this way.
fn bare(subsystem: &'static str, action: Action, kind: &'static str, id: String) -> ChangeView {
    ChangeView { subsystem, action, kind, id, fields: vec![], before: None, after: None }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::ipvs::DestinationActivity;
    use crate::model::keyed::Keyed;
    use crate::model::links::{Link, LinkKind};
    use crate::model::routes::{Route, RouteScope, RouteType, TABLE_MAIN};
    use crate::model::FileState;
    use crate::observe::snapshot;

    fn state(yaml: &str) -> HostState {
        serde_yaml::from_str::<snapshot::Snapshot>(yaml).expect("snapshot").state
    }

    const BEFORE: &str = "apiVersion: lvs-converge/v1\nkind: ObservedState\nstate:\n  modules: [ip_vs, ipip]\n  sysctls: {net.ipv4.ip_forward: '0'}\n  addresses:\n    - {interface: eth0, address: 203.0.113.10, prefixLength: 24}\n  ipvs:\n    services:\n      - {protocol: tcp, address: 203.0.113.100, port: 80, scheduler: wlc, destinations: [{address: 203.0.113.11, port: 80, method: tunnel, weight: 1}]}\n";

    fn lines(views: &[ChangeView]) -> Vec<String> {
        views.iter().map(|v| format!("{:?} {}", v.action, v.object())).collect()
    }

    #[test]
    fn identical_states_have_no_changes() {
        assert_eq!(changes_between(&state(BEFORE), &state(BEFORE)), vec![]);
    }

    #[test]
    fn every_subsystem_reports_what_appeared_changed_and_went_away() {
        let before = state(BEFORE);
        let mut after = before.clone();
        after.modules.remove("ipip");
        after.sysctls.insert("net.ipv4.ip_forward".into(), "1".into());
        after.addresses.clear();
        let tunnel = LinkKind::Ipip { local: None, remote: None, ttl: 0, pmtudisc: true };
        let link = Link { name: "tun1".into(), kind: tunnel, up: Some(true), mtu: None };
        after.links.insert(link.key(), link);
        let route = Route {
            table: TABLE_MAIN,
            kind: RouteType::Unicast,
            destination: "198.51.100.0".parse().unwrap(),
            prefix_length: 24,
            metric: 0,
            device: Some("tun1".into()),
            gateway: None,
            scope: RouteScope::Link,
            source: None,
        };
        after.routes.insert(route.key(), route);
        after.files.insert("/etc/modules-load.d/lvs.conf".into(), FileState { content: "ip_vs\n".into() });
        let service = after.ipvs.services.values_mut().next().unwrap();
        service.destinations.values_mut().next().unwrap().weight = 5;
        let key = service.key;
        after.ipvs.activity.push(DestinationActivity {
            service: key,
            destination: *service.destinations.keys().next().unwrap(),
            active: 3,
            inactive: 0,
            draining_since: Some(100),
        });
        assert_eq!(
            lines(&changes_between(&before, &after)),
            [
                "Delete kernel module ipip",
                "Create ipip tunnel tun1",
                "Update sysctl net.ipv4.ip_forward",
                "Delete address 203.0.113.10/24 on eth0",
                "Create route unicast 198.51.100.0/24 table main",
                "Update ipvs real server 203.0.113.11:80 of tcp 203.0.113.100:80",
                "Create ipvs drain of real server 203.0.113.11:80 of tcp 203.0.113.100:80",
                "Create file /etc/modules-load.d/lvs.conf",
            ]
        );
        // And back: what went away appears.
        assert_eq!(lines(&changes_between(&after, &before))[0], "Create kernel module ipip");
    }
}
