//! Diff: a pure function from (desired, observed) to an ordered list of typed changes.
//! The planner never touches the host; `apply` carries the changes out.

pub mod addresses;
pub mod compare;
pub mod files;
pub mod fou;
pub mod health;
pub mod ipvs;
pub mod links;
pub mod modules;
pub mod routes;
pub mod saved;
pub mod sysctl;
pub mod unmanaged;
use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;

use serde::{Deserialize, Serialize};

use crate::model::ipvs::{Family, ForwardingMethod};
use crate::model::keyed::Keyed;
use crate::model::ownership::Ownership;
use crate::model::tunnels::Receiver;
use crate::model::{HostState, ObjectId, Subsystem};
pub use addresses::AddressChange;
pub use files::FileChange;
pub use fou::FouChange;
pub use ipvs::IpvsChange;
pub use links::LinkChange;
pub use modules::ModuleChange;
pub use routes::RouteChange;
pub use sysctl::SysctlChange;
pub use unmanaged::Unmanaged;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    Create,
    Update,
    Delete,
}

/// One change to the host. How it reads to people (its name, fields and JSON view) is
/// made in `render::change`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "subsystem", rename_all = "lowercase")]
pub enum Change {
    Module(ModuleChange),
    Link(LinkChange),
    Fou(FouChange),
    Sysctl(SysctlChange),
    Address(AddressChange),
    Route(RouteChange),
    Ipvs(IpvsChange),
    File(FileChange),
}

/// A change with the reason it is in the plan: the spec itself, or a role's defaults.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Planned {
    #[serde(flatten)]
    pub change: Change,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub origin: Option<String>,
}

impl Change {
    /// Whether the change makes, alters or removes its object.
    pub fn action(&self) -> Action {
        match self {
            Change::Module(ModuleChange::Load { .. })
            | Change::Link(LinkChange::Create { .. })
            | Change::Fou(FouChange::Create { .. })
            | Change::Address(AddressChange::Create { .. })
            | Change::Route(RouteChange::Create { .. }) => Action::Create,
            Change::Link(LinkChange::Update { .. })
            | Change::Address(AddressChange::Update { .. })
            | Change::Route(RouteChange::Update { .. })
            | Change::Sysctl(SysctlChange::Set { .. }) => Action::Update,
            Change::Link(LinkChange::Delete { .. })
            | Change::Fou(FouChange::Delete { .. })
            | Change::Address(AddressChange::Delete { .. })
            | Change::Route(RouteChange::Delete { .. }) => Action::Delete,
            Change::Ipvs(change) => change.action(),
            Change::File(change) => change.action(),
        }
    }

    /// The changes that undo this one, in order; `None` when it cannot be undone (a module
    /// is never unloaded, a sysctl that did not exist cannot be made absent again, tunl0
    /// that appeared with its module cannot be removed).
    pub fn inverse(&self) -> Option<Vec<Change>> {
        Some(match self.clone() {
            Change::Module(_) => return None,
            Change::Link(LinkChange::Create { after }) if after.is_fallback_tunnel() => return None,
            Change::Link(LinkChange::Create { after }) => vec![Change::Link(LinkChange::Delete { before: after })],
            Change::Link(LinkChange::Update { before, after }) => {
                vec![Change::Link(LinkChange::Update { before: after, after: before })]
            }
            Change::Link(LinkChange::Delete { before }) => vec![Change::Link(LinkChange::Create { after: before })],
            Change::Fou(change) => vec![Change::Fou(change.inverse())],
            Change::Sysctl(SysctlChange::Set { key, before: Some(before), after }) => {
                vec![Change::Sysctl(SysctlChange::Set { key, before: Some(after), after: before })]
            }
            Change::Sysctl(SysctlChange::Set { before: None, .. }) => return None,
            Change::Address(AddressChange::Create { after }) => {
                vec![Change::Address(AddressChange::Delete { before: after })]
            }
            Change::Address(AddressChange::Delete { before }) => {
                vec![Change::Address(AddressChange::Create { after: before })]
            }
            Change::Address(AddressChange::Update { before, after }) => {
                vec![Change::Address(AddressChange::Update { before: after, after: before })]
            }
            Change::Route(RouteChange::Create { after }) => vec![Change::Route(RouteChange::Delete { before: after })],
            Change::Route(RouteChange::Update { before, after }) => {
                vec![Change::Route(RouteChange::Update { before: after, after: before })]
            }
            Change::Route(RouteChange::Delete { before }) => vec![Change::Route(RouteChange::Create { after: before })],
            Change::Ipvs(change) => change.inverse().into_iter().map(Change::Ipvs).collect(),
            Change::File(change) => change.inverse().into_iter().map(Change::File).collect(),
        })
    }

    /// Changes of one subsystem are applied together (IPVS in bulk).
    pub fn subsystem(&self) -> Subsystem {
        self.object().subsystem()
    }

    /// The object this change makes, alters or removes.
    pub fn object(&self) -> ObjectId {
        match self {
            Change::Module(ModuleChange::Load { name }) => ObjectId::Module(name.clone()),
            Change::Link(change) => ObjectId::Link(change.link().name.clone()),
            Change::Fou(change) => ObjectId::FouPort(change.port().key()),
            Change::Sysctl(SysctlChange::Set { key, .. }) => ObjectId::Sysctl(key.clone()),
            Change::Address(change) => ObjectId::Address(change.address().key()),
            Change::Route(change) => ObjectId::Route(change.route().key()),
            Change::Ipvs(change) => change.object(),
            Change::File(change) => ObjectId::File(change.path().to_path_buf()),
        }
    }
}

/// The ordered changes that take the host from observed to desired.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Plan {
    pub changes: Vec<Planned>,
    pub unmanaged: Vec<Unmanaged>,
    /// Removed real servers waiting for their connections to end: nothing to do now, but
    /// the host is not yet what the spec says.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub draining: Vec<ipvs::Draining>,
    /// When the plan's host state was read (Unix seconds; 0 for snapshots without it).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub observed_at: u64,
    /// Cluster nodes to converge before this plan is applied: each must decapsulate what a
    /// new or re-encapsulated destination will send it (see [`Plan::with_first_converge`]).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub first_converge: Vec<FirstConverge>,
    /// Real servers whose weight the agent's health checks hold (see [`health::hold`]):
    /// the desired state already has them, so they are never changes.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub health_holds: Vec<health::HealthHold>,
}

/// A node that must take a kind of tunnelled packet before this host sends it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct FirstConverge {
    pub node: String,
    /// The node's receiver as a `receive:` entry (`gue:6080`).
    pub receives: String,
    /// The family of the packets inside.
    pub inner: Family,
}

fn is_zero(value: &u64) -> bool {
    *value == 0
}

impl Plan {
    /// No change to make now (real servers may still be draining: see [`Plan::converged`]).
    pub fn is_empty(&self) -> bool {
        self.changes.is_empty()
    }

    /// The host is exactly what the spec says.
    pub fn converged(&self) -> bool {
        self.changes.is_empty() && self.draining.is_empty()
    }

    /// The plan with the holds its desired state was overlaid with.
    pub fn with_health_holds(mut self, holds: Vec<health::HealthHold>) -> Self {
        self.health_holds = holds;
        self
    }

    /// Counts of (create, update, delete).
    pub fn summary(&self) -> Summary {
        let mut summary = Summary::default();
        for planned in &self.changes {
            match planned.change.action() {
                Action::Create => summary.create += 1,
                Action::Update => summary.update += 1,
                Action::Delete => summary.delete += 1,
            }
        }
        summary
    }

    /// Per-subsystem counts for monitoring: every subsystem of [`Subsystem::ALL`] is present,
    /// with zeros when nothing differs, so a consumer never meets a missing key.
    pub fn drift(&self) -> Drift {
        let mut subsystems: BTreeMap<String, SubsystemDrift> =
            Subsystem::ALL.iter().map(|subsystem| (subsystem.name().to_string(), SubsystemDrift::default())).collect();
        fn count(subsystems: &mut BTreeMap<String, SubsystemDrift>, subsystem: Subsystem) -> &mut SubsystemDrift {
            subsystems.entry(subsystem.name().to_string()).or_default()
        }
        for planned in &self.changes {
            let counts = count(&mut subsystems, planned.change.subsystem());
            match planned.change.action() {
                Action::Create => counts.create += 1,
                Action::Update => counts.update += 1,
                Action::Delete => counts.delete += 1,
            }
        }
        for unmanaged in &self.unmanaged {
            count(&mut subsystems, unmanaged.subsystem()).unmanaged += 1;
        }
        count(&mut subsystems, Subsystem::Ipvs).draining += self.draining.len();
        Drift { drifted: !self.converged(), subsystems }
    }

    /// Names the `nodes` (name, address) that must be converged first: those a created
    /// tunnel destination, or one whose encapsulation changes, reaches. Ordering across hosts
    /// is the operator's; the plan only says it.
    pub fn with_first_converge<'n>(mut self, nodes: impl IntoIterator<Item = (&'n str, IpAddr)>) -> Self {
        let nodes: Vec<(&str, IpAddr)> = nodes.into_iter().collect();
        let mut first = BTreeSet::new();
        for planned in &self.changes {
            let (service, before, after) = match &planned.change {
                Change::Ipvs(IpvsChange::CreateDestination { service, after }) => (service, None, after),
                Change::Ipvs(IpvsChange::UpdateDestination { service, before, after }) => {
                    (service, Some(before), after)
                }
                _ => continue,
            };
            if after.method != ForwardingMethod::Tunnel {
                continue;
            }
            let receiver = Receiver::of(service.family(), after);
            let unchanged = before.is_some_and(|before| {
                before.method == ForwardingMethod::Tunnel && Receiver::of(service.family(), before) == receiver
            });
            if unchanged {
                continue;
            }
            for (node, _) in nodes.iter().filter(|(_, address)| *address == after.address) {
                first.insert(FirstConverge {
                    node: node.to_string(),
                    receives: receiver.receive_entry(),
                    inner: receiver.inner,
                });
            }
        }
        self.first_converge = first.into_iter().collect();
        self
    }

    /// Marks each change with where its object came from (see [`origins_by_text`] for saved
    /// plans, which key origins by text).
    pub fn annotate(mut self, origin_of: impl Fn(&ObjectId) -> Option<String>) -> Self {
        for planned in &mut self.changes {
            planned.origin = origin_of(&planned.change.object());
        }
        self
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Summary {
    pub create: usize,
    pub update: usize,
    pub delete: usize,
}

/// Whether the host differs from the spec, and how, per subsystem (see [`Plan::drift`]).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Drift {
    /// Changes to make or real servers still draining (unmanaged objects are not drift).
    pub drifted: bool,
    pub subsystems: BTreeMap<String, SubsystemDrift>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct SubsystemDrift {
    pub create: usize,
    pub update: usize,
    pub delete: usize,
    /// Objects on the host the spec does not own (listed, never touched).
    pub unmanaged: usize,
    /// Removed real servers waiting for their connections to end (IPVS only).
    pub draining: usize,
}

/// Origins keyed by each object's text (`routes local 203.0.113.100/32 table local`), as
/// saved plans hold them.
pub fn origins_by_text(origins: &BTreeMap<ObjectId, String>) -> BTreeMap<String, String> {
    origins.iter().map(|(object, origin)| (object.to_string(), origin.clone())).collect()
}

/// Plans the changes from `observed` to `desired`, in the order they must be made:
/// prerequisites first (modules, links, FOU ports, sysctls, addresses, routes), then IPVS (which adds
/// before it removes), then the removals in reverse order of creation. Persistence files
/// come last: they describe the result, and a failed live change must not persist a
/// configuration that never worked.
pub fn diff(desired: &HostState, observed: &HostState, ownership: &Ownership) -> Plan {
    let mut plan = Plan::default();
    let (link_changes, unmanaged_links) = links::diff(&desired.links, &observed.links);
    let (fou_changes, unmanaged_fou) = fou::diff(&desired.fou, &observed.fou);
    let (address_creates, address_deletes) = addresses::diff(&desired.addresses, &observed.addresses);
    let ipvs = ipvs::diff(&desired.ipvs, &observed.ipvs, &ownership.ipvs);
    let route_changes = routes::diff(&desired.routes, &observed.routes);
    let (file_changes, foreign_files) = files::diff(&desired.files, &observed.files, &ownership.files);

    let ordered = modules::diff(&desired.modules, &observed.modules)
        .into_iter()
        .map(Change::Module)
        .chain(link_changes.into_iter().map(Change::Link))
        .chain(fou_changes.into_iter().map(Change::Fou))
        .chain(sysctl::diff(&desired.sysctls, &observed.sysctls).into_iter().map(Change::Sysctl))
        .chain(address_deletes.into_iter().map(Change::Address))
        .chain(address_creates.into_iter().map(Change::Address))
        .chain(route_changes.into_iter().map(Change::Route))
        .chain(ipvs.changes.into_iter().map(Change::Ipvs))
        .chain(file_changes.into_iter().map(Change::File));
    plan.changes = ordered.map(|change| Planned { change, origin: None }).collect();

    plan.unmanaged.extend(unmanaged_links);
    plan.unmanaged.extend(unmanaged_fou.into_iter().map(Unmanaged::FouPort));
    let (unmanaged_bound, _) = fou::bound(&desired.fou, &observed.fou_bound);
    plan.unmanaged.extend(
        unmanaged_bound
            .into_iter()
            .map(|bound| Unmanaged::BoundFouPort { key: bound.port.key(), binding: bound.binding }),
    );
    plan.unmanaged.extend(ipvs.unmanaged);
    plan.draining = ipvs.draining;
    plan.observed_at = observed.ipvs.observed_at;
    plan.unmanaged.extend(foreign_files.into_iter().map(Unmanaged::ForeignFile));
    plan
}

/// The objects that differ from `before` to `after`, in plan order (see [`compare`]).
pub fn changes_between(before: &HostState, after: &HostState) -> Vec<compare::HostDifference> {
    [
        modules::compare(&before.modules, &after.modules),
        links::compare(&before.links, &after.links),
        fou::compare(&before.fou, &after.fou),
        sysctl::compare(&before.sysctls, &after.sysctls),
        addresses::compare(&before.addresses, &after.addresses),
        routes::compare(&before.routes, &after.routes),
        ipvs::compare(&before.ipvs, &after.ipvs),
        files::compare(&before.files, &after.files),
    ]
    .concat()
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;
    use crate::model::ipvs::{Destination, Protocol, ServiceKey, TunnelEncapsulation, TunnelType};

    fn tunnel_destination(address: &str, kind: TunnelType, port: u16) -> Destination {
        Destination::tunnelled(address, TunnelEncapsulation { kind, port, flags: 0 })
    }

    #[test]
    fn a_new_or_re_encapsulated_destination_names_its_node_to_converge_first() {
        let service =
            ServiceKey::Address { protocol: Protocol::Tcp, address: "2001:db8:1::100".parse().unwrap(), port: 80 };
        let ipip = |address| tunnel_destination(address, TunnelType::Ipip, 0);
        let gue = |address| tunnel_destination(address, TunnelType::Gue, 6080);
        let planned = |change| Planned { change: Change::Ipvs(change), origin: None };
        let plan = Plan {
            changes: vec![
                // rs1 switches ipip → GUE; rs2 only changes weight; rs3 is new; rs4 is no node.
                planned(IpvsChange::UpdateDestination {
                    service,
                    before: ipip("203.0.113.11"),
                    after: gue("203.0.113.11"),
                }),
                planned(IpvsChange::UpdateDestination {
                    service,
                    before: ipip("198.51.100.22"),
                    after: Destination { weight: 5, ..ipip("198.51.100.22") },
                }),
                planned(IpvsChange::CreateDestination {
                    service,
                    after: tunnel_destination("2001:db8:2::22", TunnelType::Gre, 0),
                }),
                planned(IpvsChange::CreateDestination { service, after: ipip("192.0.2.9") }),
            ],
            ..Default::default()
        };
        let nodes = [
            ("rs1", "203.0.113.11".parse().unwrap()),
            ("rs2", "198.51.100.22".parse().unwrap()),
            ("rs3", "2001:db8:2::22".parse().unwrap()),
        ];
        let plan = plan.with_first_converge(nodes);
        let first = |node: &str, receives: &str| FirstConverge {
            node: node.into(),
            receives: receives.into(),
            inner: Family::Ipv6,
        };
        assert_eq!(plan.first_converge, [first("rs1", "gue:6080"), first("rs3", "{ type: gre, underlay: ipv6 }")]);
    }

    #[test]
    fn drift_counts_per_subsystem_and_always_lists_every_subsystem() {
        let planned = |change| Planned { change, origin: None };
        let set = |key: &str| Change::Sysctl(SysctlChange::Set { key: key.into(), before: None, after: "1".into() });
        let plan = Plan {
            changes: vec![
                planned(Change::Module(ModuleChange::Load { name: "ip_vs".into() })),
                planned(set("net.ipv4.ip_forward")),
                planned(set("net.ipv4.conf.all.arp_ignore")),
            ],
            unmanaged: vec![Unmanaged::Tunnel { name: "tun9".into(), kind: "ipip".into() }],
            ..Default::default()
        };
        let drift = plan.drift();
        assert!(drift.drifted);
        assert_eq!(
            drift.subsystems.keys().map(String::as_str).collect::<BTreeSet<_>>(),
            Subsystem::ALL.iter().map(|s| s.name()).collect::<BTreeSet<_>>()
        );
        assert_eq!(drift.subsystems["sysctl"], SubsystemDrift { update: 2, ..Default::default() });
        assert_eq!(drift.subsystems["modules"], SubsystemDrift { create: 1, ..Default::default() });
        assert_eq!(drift.subsystems["links"], SubsystemDrift { unmanaged: 1, ..Default::default() });
        assert_eq!(drift.subsystems["ipvs"], SubsystemDrift::default());

        let converged = Plan { changes: vec![], ..plan }.drift();
        assert!(!converged.drifted);
        assert_eq!(converged.subsystems.len(), Subsystem::ALL.len());
    }
}
