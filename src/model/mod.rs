//! Host state as plain data: what the spec wants and what the host has, in the same types.
//!
//! [`Subsystem`] and [`ObjectId`] name its parts and objects: the one identity that plans,
//! renderers, drift counts, origins and unmanaged lists share, instead of strings each stage
//! would have to agree on.
//!
//! Nothing here performs I/O, and nothing here imports another stage: every stage may use
//! these types. Readers in `observe` fill them from the kernel; `spec` and `desired` fill
//! them from YAML; `plan` compares two of them.

pub mod addresses;
pub mod duration;
pub mod files;
pub mod fou;
pub mod health;
pub mod ipvs;
pub mod keyed;
pub mod links;
pub mod modules;
pub mod ownership;
pub mod persistence;
pub mod role;
pub mod routes;
pub mod sysctl;
pub mod tunnels;

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

pub use addresses::Address;
use addresses::AddressId;
pub use files::FileState;
use fou::{BoundFouPort, FouKey, FouPort};
pub use ipvs::IpvsState;
use ipvs::{DestinationKey, ServiceKey};
use keyed::KeyedMap;
pub use links::Link;
pub use ownership::Ownership;
pub use role::Role;
pub use routes::Route;
use routes::RouteKey;

/// The only spec and snapshot version this build understands.
pub const API_VERSION: &str = "lvs-converge/v1";

/// The dotted sysctl name of a per-interface IPv4 setting: `net.ipv4.conf.eth0/100.rp_filter`
/// for VLAN `eth0.100`, whose dot the kernel's sysctl tree writes as a slash.
pub fn interface_sysctl(interface: &str, setting: &str) -> String {
    format!("net.ipv4.conf.{}.{setting}", interface.replace('.', "/"))
}

/// Everything lvs-converge manages on one host (one network namespace).
///
/// In a desired state each collection holds what the spec declares; in an observed state,
/// what the host has (for sysctls: the keys that were asked for).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct HostState {
    /// Loaded kernel modules (`/proc/modules`, plus built-ins).
    #[serde(default, skip_serializing_if = "BTreeSet::is_empty")]
    pub modules: BTreeSet<String>,
    #[serde(default, with = "keyed::as_list", skip_serializing_if = "BTreeMap::is_empty")]
    pub links: KeyedMap<Link>,
    /// Foo-over-UDP receive ports (`ip fou show`).
    #[serde(default, with = "keyed::as_list", skip_serializing_if = "BTreeMap::is_empty")]
    pub fou: KeyedMap<FouPort>,
    /// Foo-over-UDP ports bound to an address, a peer or a device: observed only (a spec
    /// cannot declare one), reported and left alone.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub fou_bound: Vec<BoundFouPort>,
    /// `net.*` sysctls by dotted name (`net.ipv4.conf.all.arp_ignore`) → value as the kernel
    /// prints it.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub sysctls: BTreeMap<String, String>,
    #[serde(default, with = "keyed::as_list", skip_serializing_if = "BTreeMap::is_empty")]
    pub addresses: KeyedMap<Address>,
    #[serde(default, with = "keyed::as_list", skip_serializing_if = "BTreeMap::is_empty")]
    pub routes: KeyedMap<Route>,
    #[serde(default)]
    pub ipvs: IpvsState,
    /// Persistence files by absolute path (as on the target system, without `--root`). In a
    /// desired state: what the spec renders; observed: those paths that exist.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub files: BTreeMap<PathBuf, FileState>,
}

impl HostState {
    /// Puts `other`'s modules, links, FOU ports, sysctls, addresses and routes into this state, replacing
    /// objects with the same identity, and names every object it put. A source of such objects
    /// (a role's defaults, an IPVS table's prerequisites, the spec's own sections) is a
    /// partial state; IPVS tables and files are only ever whole, so they are not overlaid.
    pub fn overlay(&mut self, other: HostState) -> Vec<ObjectId> {
        let mut put = Vec::new();
        for module in other.modules {
            put.push(ObjectId::Module(module.clone()));
            self.modules.insert(module);
        }
        for (key, value) in other.sysctls {
            put.push(ObjectId::Sysctl(key.clone()));
            self.sysctls.insert(key, value);
        }
        overlay_keyed(&mut self.links, other.links, ObjectId::Link, &mut put);
        overlay_keyed(&mut self.fou, other.fou, ObjectId::FouPort, &mut put);
        overlay_keyed(&mut self.addresses, other.addresses, ObjectId::Address, &mut put);
        overlay_keyed(&mut self.routes, other.routes, ObjectId::Route, &mut put);
        put
    }
}

fn overlay_keyed<T: keyed::Keyed>(
    into: &mut KeyedMap<T>,
    from: KeyedMap<T>,
    object: impl Fn(T::Key) -> ObjectId,
    put: &mut Vec<ObjectId>,
) {
    for (key, item) in from {
        put.push(object(key.clone()));
        into.insert(key, item);
    }
}

/// A part of the host that lvs-converge reads and changes as a whole. The order is the plan's:
/// prerequisites first, IPVS next, persistence files last.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Subsystem {
    Modules,
    Links,
    Fou,
    Sysctl,
    Addresses,
    Routes,
    Ipvs,
    Files,
}

impl Subsystem {
    /// Every subsystem, in plan order.
    pub const ALL: [Subsystem; 8] = [
        Subsystem::Modules,
        Subsystem::Links,
        Subsystem::Fou,
        Subsystem::Sysctl,
        Subsystem::Addresses,
        Subsystem::Routes,
        Subsystem::Ipvs,
        Subsystem::Files,
    ];

    /// The name JSON reports and fault rules use (`modules`, `ipvs` …).
    pub fn name(self) -> &'static str {
        match self {
            Subsystem::Modules => "modules",
            Subsystem::Links => "links",
            Subsystem::Fou => "fou",
            Subsystem::Sysctl => "sysctl",
            Subsystem::Addresses => "addresses",
            Subsystem::Routes => "routes",
            Subsystem::Ipvs => "ipvs",
            Subsystem::Files => "files",
        }
    }
}

impl fmt::Display for Subsystem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// One object on the host, by the identity its subsystem gives it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ObjectId {
    Module(String),
    Link(String),
    FouPort(FouKey),
    Sysctl(String),
    Address(AddressId),
    Route(RouteKey),
    /// The table-wide connection timeouts.
    IpvsTimeouts,
    IpvsService(ServiceKey),
    IpvsDestination(ServiceKey, DestinationKey),
    File(PathBuf),
}

impl ObjectId {
    pub fn subsystem(&self) -> Subsystem {
        match self {
            ObjectId::Module(_) => Subsystem::Modules,
            ObjectId::Link(_) => Subsystem::Links,
            ObjectId::FouPort(_) => Subsystem::Fou,
            ObjectId::Sysctl(_) => Subsystem::Sysctl,
            ObjectId::Address(_) => Subsystem::Addresses,
            ObjectId::Route(_) => Subsystem::Routes,
            ObjectId::IpvsTimeouts | ObjectId::IpvsService(_) | ObjectId::IpvsDestination(..) => Subsystem::Ipvs,
            ObjectId::File(_) => Subsystem::Files,
        }
    }
}

/// `subsystem identity`, e.g. `routes local 203.0.113.100/32 table local`: how saved plans
/// key origins (a stable text, not words for people).
impl fmt::Display for ObjectId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ", self.subsystem())?;
        match self {
            ObjectId::Module(name) | ObjectId::Link(name) | ObjectId::Sysctl(name) => f.write_str(name),
            ObjectId::FouPort(key) => key.fmt(f),
            ObjectId::Address(id) => id.fmt(f),
            ObjectId::Route(key) => key.fmt(f),
            ObjectId::IpvsTimeouts => Ok(()),
            ObjectId::IpvsService(service) => service.fmt(f),
            ObjectId::IpvsDestination(service, destination) => write!(f, "{destination} of {service}"),
            ObjectId::File(path) => path.display().fmt(f),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::ipvs::Protocol;
    use crate::model::routes::{RouteType, TABLE_LOCAL};

    #[test]
    fn overlay_replaces_objects_of_the_same_identity_and_names_what_it_put() {
        let link =
            |mtu| Link { name: "tun1".into(), kind: links::LinkKind::Other { kind: "dummy".into() }, up: None, mtu };
        let mut state =
            HostState { sysctls: BTreeMap::from([("net.ipv4.ip_forward".into(), "0".into())]), ..HostState::default() };
        keyed::put(&mut state.links, link(Some(1400)));
        let mut source = HostState { modules: BTreeSet::from(["ipip".into()]), ..HostState::default() };
        source.sysctls.insert("net.ipv4.ip_forward".into(), "1".into());
        keyed::put(&mut source.links, link(Some(1480)));
        let put = state.overlay(source);
        assert_eq!(
            put,
            [
                ObjectId::Module("ipip".into()),
                ObjectId::Sysctl("net.ipv4.ip_forward".into()),
                ObjectId::Link("tun1".into())
            ]
        );
        assert_eq!(state.sysctls["net.ipv4.ip_forward"], "1");
        assert_eq!(state.links["tun1"].mtu, Some(1480));
        assert!(state.modules.contains("ipip"));
    }

    /// Saved plans key origins by this text: changing it makes older saved plans inconsistent.
    #[test]
    fn object_text_is_subsystem_then_identity() {
        let vip = "203.0.113.100".parse().unwrap();
        let service = ServiceKey::Address { protocol: Protocol::Tcp, address: vip, port: 80 };
        let cases = [
            (ObjectId::Module("ip_vs".into()), "modules ip_vs"),
            (ObjectId::Link("tunl0".into()), "links tunl0"),
            (ObjectId::FouPort(FouKey { family: ipvs::Family::Ipv4, port: 6080 }), "fou port 6080 ipv4"),
            (ObjectId::Sysctl("net.ipv4.ip_forward".into()), "sysctl net.ipv4.ip_forward"),
            (
                ObjectId::Address(AddressId { interface: "lo".into(), address: vip, prefix_length: 32 }),
                "addresses 203.0.113.100/32 on lo",
            ),
            (
                ObjectId::Route(RouteKey {
                    table: TABLE_LOCAL,
                    kind: RouteType::Local,
                    destination: vip,
                    prefix_length: 32,
                    metric: 0,
                }),
                "routes local 203.0.113.100/32 table local",
            ),
            (ObjectId::IpvsService(service), "ipvs tcp 203.0.113.100:80"),
            (
                ObjectId::IpvsDestination(service, DestinationKey { address: "192.0.2.11".parse().unwrap(), port: 80 }),
                "ipvs 192.0.2.11:80 of tcp 203.0.113.100:80",
            ),
            (ObjectId::File("/etc/sysctl.d/90-lvs.conf".into()), "files /etc/sysctl.d/90-lvs.conf"),
        ];
        for (object, text) in cases {
            assert_eq!(object.to_string(), text);
        }
        assert_eq!(ObjectId::IpvsTimeouts.subsystem(), Subsystem::Ipvs);
    }
}
