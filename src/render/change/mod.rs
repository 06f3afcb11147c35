//! How each change reads: its kind and identity for people, its fields, a file's diff, and
//! its JSON before/after for machines. One file per subsystem; the planner holds only data.

mod addresses;
mod files;
mod fou;
mod ipvs;
mod links;
mod modules;
mod routes;
mod sysctl;

use serde::Serialize;

pub(crate) use addresses::compared_fields as address_fields;
pub(crate) use ipvs::destination_id;
pub use ipvs::{describe_draining, TIMEOUTS_ID};

use crate::model::Subsystem;
use crate::plan::{Action, Change};

/// A field of a changed object, as text for people.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldChange {
    pub name: String,
    pub before: Option<String>,
    pub after: Option<String>,
}

/// What renderers need to show any change, whatever its subsystem.
#[derive(Debug, Clone, PartialEq)]
pub struct ChangeView {
    pub subsystem: Subsystem,
    pub action: Action,
    /// What the object is, for people: `ipvs service`, `ipvs real server`, `sysctl` …
    pub kind: &'static str,
    /// Human identity, e.g. `tcp 203.0.113.100:80`.
    pub id: String,
    /// For creates: every field; updates: the ones that differ; deletes: every old field.
    pub fields: Vec<FieldChange>,
    pub before: Option<serde_json::Value>,
    pub after: Option<serde_json::Value>,
}

impl ChangeView {
    /// `kind id`: how messages name the object. A host's one object of a kind has its kind's
    /// last word as id (`ipvs connection timeouts`, id `timeouts`): it is not said twice.
    pub fn object(&self) -> String {
        let singleton = self.kind.strip_suffix(self.id.as_str()).is_some_and(|rest| rest.ends_with(' '));
        if singleton || self.id.is_empty() {
            self.kind.to_string()
        } else {
            format!("{} {}", self.kind, self.id)
        }
    }

    /// A view without fields or JSON, for objects only seen, never changed, this way.
    pub(crate) fn bare(subsystem: Subsystem, action: Action, kind: &'static str, id: String) -> ChangeView {
        ChangeView { subsystem, action, kind, id, fields: vec![], before: None, after: None }
    }
}

/// Which parts of a [`ChangeView`] a renderer reads: the text report reads no JSON sides,
/// JSON reads no text fields. Subsystems whose views are cheap build both whatever is asked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Parts {
    Text,
    Json,
    All,
}

impl Parts {
    fn text(self) -> bool {
        self != Parts::Json
    }

    fn json(self) -> bool {
        self != Parts::Text
    }
}

/// How `change` reads, every part of it.
pub fn describe(change: &Change) -> ChangeView {
    describe_parts(change, Parts::All)
}

/// How `change` reads, at least the `parts` asked for.
pub fn describe_parts(change: &Change, parts: Parts) -> ChangeView {
    match change {
        Change::Module(change) => modules::describe(change),
        Change::Link(change) => links::describe(change),
        Change::Fou(change) => fou::describe(change),
        Change::Sysctl(change) => sysctl::describe(change),
        Change::Address(change) => addresses::describe(change),
        Change::Route(change) => routes::describe(change),
        Change::Ipvs(change) => ipvs::describe(change, parts),
        Change::File(change) => files::describe(change),
    }
}

/// Multi-line detail for people (a file's unified diff), shown under the fields.
pub fn detail(change: &Change) -> Option<String> {
    match change {
        Change::File(change) => Some(files::diff(change)),
        _ => None,
    }
}

/// `kind id`, e.g. `ipvs service tcp 203.0.113.100:80`: how messages name a change's object.
pub fn object(change: &Change) -> String {
    describe(change).object()
}

/// `create`, `update`, `delete`.
pub fn action_word(action: Action) -> &'static str {
    match action {
        Action::Create => "create",
        Action::Update => "update",
        Action::Delete => "delete",
    }
}

pub(crate) fn to_json<T: Serialize>(value: &T) -> serde_json::Value {
    serde_json::to_value(value).expect("model types serialize to JSON")
}

/// Pairs the fields of two objects by name, keeping the ones that differ. A field missing on
/// one side (e.g. an optional setting) shows as absent there.
pub(crate) fn changed_fields(before: &[(&'static str, String)], after: &[(&'static str, String)]) -> Vec<FieldChange> {
    let mut names: Vec<&'static str> = before.iter().map(|(n, _)| *n).collect();
    for (name, _) in after {
        if !names.contains(name) {
            names.push(name);
        }
    }
    let lookup =
        |fields: &[(&'static str, String)], name: &str| fields.iter().find(|(n, _)| *n == name).map(|(_, v)| v.clone());
    names
        .into_iter()
        .filter_map(|name| {
            let (old, new) = (lookup(before, name), lookup(after, name));
            (old != new).then(|| FieldChange { name: name.to_string(), before: old, after: new })
        })
        .collect()
}

/// Every field of one object, shown on one side only (creates and deletes).
pub(crate) fn all_fields(fields: Vec<(&'static str, String)>, side: Action) -> Vec<FieldChange> {
    fields
        .into_iter()
        .map(|(name, value)| FieldChange {
            name: name.to_string(),
            before: (side == Action::Delete).then(|| value.clone()),
            after: (side != Action::Delete).then_some(value),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::addresses::Address;
    use crate::model::fou::{FouEncapsulation, FouPort};
    use crate::model::ipvs::Family;
    use crate::model::ipvs::{
        Destination, ForwardingMethod, Protocol, Scheduler, ServiceKey, ServiceSettings, Timeouts,
    };
    use crate::model::links::{Link, LinkKind};
    use crate::model::routes::{Route, RouteScope, RouteType, TABLE_LOCAL};
    use crate::plan::{
        AddressChange, FileChange, FouChange, IpvsChange, LinkChange, ModuleChange, RouteChange, SysctlChange,
    };

    /// The variant's name. No wildcard: a new variant does not compile until it is named
    /// here, and then [`every_variant_is_described`] fails until the table has one.
    fn variant(change: &Change) -> &'static str {
        match change {
            Change::Module(ModuleChange::Load { .. }) => "Module::Load",
            Change::Link(LinkChange::Create { .. }) => "Link::Create",
            Change::Link(LinkChange::Update { .. }) => "Link::Update",
            Change::Link(LinkChange::Delete { .. }) => "Link::Delete",
            Change::Fou(FouChange::Create { .. }) => "Fou::Create",
            Change::Fou(FouChange::Delete { .. }) => "Fou::Delete",
            Change::Sysctl(SysctlChange::Set { .. }) => "Sysctl::Set",
            Change::Address(AddressChange::Create { .. }) => "Address::Create",
            Change::Address(AddressChange::Update { .. }) => "Address::Update",
            Change::Address(AddressChange::Delete { .. }) => "Address::Delete",
            Change::Route(RouteChange::Create { .. }) => "Route::Create",
            Change::Route(RouteChange::Update { .. }) => "Route::Update",
            Change::Route(RouteChange::Delete { .. }) => "Route::Delete",
            Change::Ipvs(IpvsChange::SetTimeouts { .. }) => "Ipvs::SetTimeouts",
            Change::Ipvs(IpvsChange::CreateService { .. }) => "Ipvs::CreateService",
            Change::Ipvs(IpvsChange::UpdateService { .. }) => "Ipvs::UpdateService",
            Change::Ipvs(IpvsChange::DeleteService { .. }) => "Ipvs::DeleteService",
            Change::Ipvs(IpvsChange::CreateDestination { .. }) => "Ipvs::CreateDestination",
            Change::Ipvs(IpvsChange::UpdateDestination { .. }) => "Ipvs::UpdateDestination",
            Change::Ipvs(IpvsChange::DeleteDestination { .. }) => "Ipvs::DeleteDestination",
            Change::Ipvs(IpvsChange::DrainDestination { .. }) => "Ipvs::DrainDestination",
            Change::File(FileChange::Create { .. }) => "File::Create",
            Change::File(FileChange::Update { .. }) => "File::Update",
            Change::File(FileChange::Delete { .. }) => "File::Delete",
            Change::File(FileChange::SetValue { .. }) => "File::SetValue",
            Change::File(FileChange::RemoveCreated { .. }) => "File::RemoveCreated",
            Change::File(FileChange::RestoreBackup { .. }) => "File::RestoreBackup",
        }
    }

    /// The arms of [`variant`]: raise it with the arm a new variant needs.
    const VARIANTS: usize = 27;

    /// One change of every variant, with how it reads: `action kind id`, then its fields.
    fn table() -> Vec<(Change, &'static str, &'static str)> {
        let tunnel = |mtu| Link {
            name: "tun1".into(),
            kind: LinkKind::Ipip { local: None, remote: Some("192.0.2.11".parse().unwrap()), ttl: 64, pmtudisc: true },
            up: Some(true),
            mtu: Some(mtu),
        };
        let address = |label: Option<&str>| Address {
            interface: "lo".into(),
            address: "203.0.113.100".parse().unwrap(),
            prefix_length: 32,
            label: label.map(str::to_string),
            deprecated: false,
        };
        let deprecated_vip = |deprecated| Address {
            interface: "eth0".into(),
            address: "2001:db8:1::100".parse().unwrap(),
            prefix_length: 128,
            label: None,
            deprecated,
        };
        let route = |source: Option<&str>| Route {
            table: TABLE_LOCAL,
            kind: RouteType::Local,
            destination: "203.0.113.100".parse().unwrap(),
            prefix_length: 32,
            metric: 0,
            device: Some("lo".into()),
            gateway: None,
            scope: RouteScope::Host,
            source: source.map(|s| s.parse().unwrap()),
        };
        let service =
            ServiceKey::Address { protocol: Protocol::Tcp, address: "203.0.113.100".parse().unwrap(), port: 80 };
        let settings =
            |scheduler| ServiceSettings { scheduler, scheduler_flags: vec![], persistence: None, one_packet: false };
        let destination = |weight| Destination {
            address: "192.0.2.11".parse().unwrap(),
            port: 80,
            method: ForwardingMethod::Tunnel,
            weight,
            upper_threshold: 0,
            lower_threshold: 0,
            tunnel: Default::default(),
        };
        let timeouts = Timeouts { tcp: 60, ..Timeouts::KERNEL_DEFAULTS };
        let path = std::path::PathBuf::from("/etc/modules-load.d/lvs.conf");
        vec![
            (Change::Module(ModuleChange::Load { name: "ip_vs".into() }), "create kernel module ip_vs", ""),
            (
                Change::Link(LinkChange::Create { after: tunnel(1480) }),
                "create ipip tunnel tun1",
                "local=any remote=192.0.2.11 ttl=64 pmtudisc=on state=up mtu=1480",
            ),
            (
                Change::Link(LinkChange::Update { before: tunnel(1500), after: tunnel(1480) }),
                "update ipip tunnel tun1",
                "mtu=1500→1480",
            ),
            (
                Change::Link(LinkChange::Delete { before: tunnel(1480) }),
                "delete ipip tunnel tun1",
                "local=any remote=192.0.2.11 ttl=64 pmtudisc=on state=up mtu=1480",
            ),
            (
                Change::Fou(FouChange::Create {
                    after: FouPort { port: 6080, family: Family::Ipv4, encapsulation: FouEncapsulation::Gue },
                }),
                "create fou port 6080 (gue, IPv4)",
                "",
            ),
            (
                Change::Fou(FouChange::Delete {
                    before: FouPort {
                        port: 5555,
                        family: Family::Ipv6,
                        encapsulation: FouEncapsulation::Direct { protocol: 4 },
                    },
                }),
                "delete fou port 5555 (direct protocol 4, IPv6)",
                "",
            ),
            (
                Change::Sysctl(SysctlChange::Set {
                    key: "net.ipv4.ip_forward".into(),
                    before: None,
                    after: "1".into(),
                }),
                "update sysctl net.ipv4.ip_forward",
                "value=(not present yet)→1",
            ),
            (
                Change::Address(AddressChange::Create { after: address(Some("lo:vip")) }),
                "create address 203.0.113.100/32 on lo",
                "label=lo:vip",
            ),
            (
                Change::Address(AddressChange::Update { before: deprecated_vip(false), after: deprecated_vip(true) }),
                "update address 2001:db8:1::100/128 on eth0",
                "deprecated=no→yes",
            ),
            (
                Change::Address(AddressChange::Delete { before: address(None) }),
                "delete address 203.0.113.100/32 on lo",
                "label=lo",
            ),
            (
                Change::Route(RouteChange::Create { after: route(None) }),
                "create route local 203.0.113.100/32 table local",
                "device=lo scope=host",
            ),
            (
                Change::Route(RouteChange::Update { before: route(None), after: route(Some("203.0.113.100")) }),
                "update route local 203.0.113.100/32 table local",
                "source=→203.0.113.100",
            ),
            (
                Change::Route(RouteChange::Delete { before: route(None) }),
                "delete route local 203.0.113.100/32 table local",
                "device=lo scope=host",
            ),
            (
                Change::Ipvs(IpvsChange::SetTimeouts { before: Some(Timeouts::KERNEL_DEFAULTS), after: timeouts }),
                "update ipvs connection timeouts",
                "tcp=15m→1m",
            ),
            (
                Change::Ipvs(IpvsChange::CreateService { service, after: settings(Scheduler::Wlc) }),
                "create ipvs service tcp 203.0.113.100:80",
                "scheduler=wlc schedulerFlags=none persistence=off onePacket=off",
            ),
            (
                Change::Ipvs(IpvsChange::UpdateService {
                    service,
                    before: settings(Scheduler::Wlc),
                    after: settings(Scheduler::Rr),
                }),
                "update ipvs service tcp 203.0.113.100:80",
                "scheduler=wlc→rr",
            ),
            (
                Change::Ipvs(IpvsChange::DeleteService {
                    service,
                    before: settings(Scheduler::Rr),
                    destinations: vec![destination(1)],
                }),
                "delete ipvs service tcp 203.0.113.100:80",
                "scheduler=rr schedulerFlags=none persistence=off onePacket=off",
            ),
            (
                Change::Ipvs(IpvsChange::CreateDestination { service, after: destination(1) }),
                "create ipvs real server 192.0.2.11:80 of tcp 203.0.113.100:80",
                "method=tunnel (ipip) weight=1 upperThreshold=none lowerThreshold=none",
            ),
            (
                Change::Ipvs(IpvsChange::UpdateDestination { service, before: destination(1), after: destination(5) }),
                "update ipvs real server 192.0.2.11:80 of tcp 203.0.113.100:80",
                "weight=1→5",
            ),
            (
                Change::Ipvs(IpvsChange::DeleteDestination { service, before: destination(5) }),
                "delete ipvs real server 192.0.2.11:80 of tcp 203.0.113.100:80",
                "method=tunnel (ipip) weight=5 upperThreshold=none lowerThreshold=none",
            ),
            (
                Change::Ipvs(IpvsChange::DrainDestination { service, before: destination(5), timeout: 300 }),
                "update ipvs real server 192.0.2.11:80 of tcp 203.0.113.100:80",
                "weight=5→0 then=→deleted once its connections end (at the latest after 5m)",
            ),
            (
                Change::File(FileChange::Create { path: path.clone(), after: "ip_vs\n".into() }),
                "create file /etc/modules-load.d/lvs.conf",
                "",
            ),
            (
                Change::File(FileChange::Update {
                    path: path.clone(),
                    before: "ipip\n".into(),
                    after: "ip_vs\n".into(),
                    owned: true,
                }),
                "update file /etc/modules-load.d/lvs.conf",
                "",
            ),
            (
                Change::File(FileChange::Delete { path: path.clone(), before: "ip_vs\n".into() }),
                "delete file /etc/modules-load.d/lvs.conf",
                "",
            ),
            (
                Change::File(FileChange::SetValue {
                    path: path.clone(),
                    name: "AUTO".into(),
                    value: "true".into(),
                    before: "AUTO=\"false\"\n".into(),
                    after: "AUTO=\"true\"\n".into(),
                }),
                "update file /etc/modules-load.d/lvs.conf",
                "",
            ),
            (
                Change::File(FileChange::RemoveCreated { path: path.clone(), content: "ip_vs\n".into() }),
                "delete file /etc/modules-load.d/lvs.conf",
                "",
            ),
            (
                Change::File(FileChange::RestoreBackup { path, replaces: None, backup: "ip_vs\n".into() }),
                "create file /etc/modules-load.d/lvs.conf",
                "",
            ),
        ]
    }

    /// `name=value` on one side, `name=before→after` for updates (an absent side empty).
    fn fields_text(view: &ChangeView) -> String {
        let side = |value: &Option<String>| value.clone().unwrap_or_default();
        view.fields
            .iter()
            .map(|field| match (view.action, &field.before, &field.after) {
                (Action::Update, before, after) => format!("{}={}→{}", field.name, side(before), side(after)),
                (_, Some(value), None) | (_, None, Some(value)) => format!("{}={value}", field.name),
                (_, before, after) => format!("{}={}|{}", field.name, side(before), side(after)),
            })
            .collect::<Vec<_>>()
            .join(" ")
    }

    #[test]
    fn a_part_asked_for_reads_as_in_the_whole_view_and_ipvs_builds_no_other() {
        for (change, text, _) in table() {
            let all = describe(&change);
            let for_text = describe_parts(&change, Parts::Text);
            let for_json = describe_parts(&change, Parts::Json);
            assert_eq!((for_text.kind, &for_text.id, &for_text.fields), (all.kind, &all.id, &all.fields), "{text}");
            assert_eq!((for_json.kind, &for_json.id, for_json.action), (all.kind, &all.id, all.action), "{text}");
            assert_eq!((&for_json.before, &for_json.after), (&all.before, &all.after), "{text}");
            if let Change::Ipvs(_) = change {
                assert_eq!((&for_text.before, &for_text.after), (&None, &None), "{text}: JSON built for text");
                assert!(for_json.fields.is_empty(), "{text}: text fields built for JSON");
            }
        }
    }

    #[test]
    fn every_variant_is_described() {
        let table = table();
        let named: std::collections::BTreeSet<&str> = table.iter().map(|(change, ..)| variant(change)).collect();
        assert_eq!((named.len(), table.len()), (VARIANTS, VARIANTS), "every variant once in the table: {named:?}");
        for (change, text, fields) in &table {
            let view = describe(change);
            assert_eq!(format!("{} {}", action_word(change.action()), object(change)), *text, "{change:?}");
            assert_eq!(fields_text(&view), *fields, "{text}");
            assert_eq!((view.subsystem, view.action), (change.subsystem(), change.action()), "{text}");
            assert!(!view.kind.is_empty(), "{text}: no kind");
            assert!(view.before.is_some() || view.after.is_some(), "{text}: no JSON");
            assert_eq!(detail(change).is_some(), matches!(change, Change::File(_)), "{text}");
        }
    }
}
