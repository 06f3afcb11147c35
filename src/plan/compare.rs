//! What changed on a host between two observations: every object that appeared, changed or
//! went away, in every subsystem. Unlike [`super::diff`], which only looks at what a spec
//! declares (it never unloads a module or deletes an undeclared address), this compares two
//! observed states symmetrically; a saved plan uses it to say what made it stale. Each
//! subsystem's comparison lives beside its diff; [`super::changes_between`] runs them in plan
//! order.

use std::collections::{BTreeMap, BTreeSet};

use super::{Action, Change};
use crate::model::addresses::Address;
use crate::model::ipvs::{DestinationKey, ServiceKey};

/// One object that differs between two observations. Most are the change that would have
/// made the difference; the rest are differences no plan makes (a module unloaded, a sysctl
/// gone, an address relabeled in place, drain records). How each reads is made in
/// `render::saved`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HostDifference {
    Changed(Change),
    ModuleUnloaded(String),
    SysctlGone(String),
    AddressRelabeled {
        before: Address,
        after: Address,
    },
    /// ip_vs was unloaded: its connection timeouts went with it.
    IpvsTimeoutsGone,
    /// A real server's drain record (Unix seconds it started) appeared, changed or went away.
    Drain {
        service: ServiceKey,
        destination: DestinationKey,
        before: Option<u64>,
        after: Option<u64>,
    },
}

impl HostDifference {
    /// Create: appeared, Update: changed, Delete: gone.
    pub fn action(&self) -> Action {
        match self {
            HostDifference::Changed(change) => change.action(),
            HostDifference::ModuleUnloaded(_) | HostDifference::SysctlGone(_) | HostDifference::IpvsTimeoutsGone => {
                Action::Delete
            }
            HostDifference::AddressRelabeled { .. } => Action::Update,
            HostDifference::Drain { before: None, .. } => Action::Create,
            HostDifference::Drain { after: Some(_), .. } => Action::Update,
            HostDifference::Drain { after: None, .. } => Action::Delete,
        }
    }
}

/// Calls `difference(key, before, after)` for every key whose value differs between the maps.
pub(super) fn each_difference<K: Ord, V: PartialEq>(
    before: &BTreeMap<K, V>,
    after: &BTreeMap<K, V>,
    difference: impl Fn(&K, Option<&V>, Option<&V>) -> Vec<HostDifference>,
) -> Vec<HostDifference> {
    let keys: BTreeSet<&K> = before.keys().chain(after.keys()).collect();
    keys.into_iter()
        .filter(|key| before.get(key) != after.get(key))
        .flat_map(|key| difference(key, before.get(key), after.get(key)))
        .collect()
}

/// The change from `old` to `new` (at least one present), made by the matching constructor.
pub(super) fn transition<V: Clone, C>(
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

#[cfg(test)]
mod tests {
    use super::super::changes_between;
    use super::*;
    use crate::model::ipvs::DestinationActivity;
    use crate::model::keyed::Keyed;
    use crate::model::links::{Link, LinkKind};
    use crate::model::routes::{Route, RouteScope, RouteType, TABLE_MAIN};
    use crate::model::FileState;
    use crate::model::HostState;
    use crate::observe::snapshot;

    fn state(yaml: &str) -> HostState {
        serde_yaml::from_str::<snapshot::Snapshot>(yaml).expect("snapshot").state
    }

    const BEFORE: &str = "apiVersion: lvs-converge/v1\nkind: ObservedState\nstate:\n  modules: [ip_vs, ipip]\n  sysctls: {net.ipv4.ip_forward: '0'}\n  addresses:\n    - {interface: eth0, address: 203.0.113.10, prefixLength: 24}\n  ipvs:\n    services:\n      - {protocol: tcp, address: 203.0.113.100, port: 80, scheduler: wlc, destinations: [{address: 203.0.113.11, port: 80, method: tunnel, weight: 1}]}\n";

    fn lines(differences: &[HostDifference]) -> Vec<String> {
        differences.iter().map(|d| format!("{:?} {}", d.action(), crate::render::saved::difference_object(d))).collect()
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
