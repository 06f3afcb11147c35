//! What part of the host an object belongs to and which object it is: the one identity that
//! plans, renderers, drift counts, origins and unmanaged lists share, instead of strings each
//! stage would have to agree on.

use std::fmt;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::addresses::AddressId;
use super::ipvs::{DestinationKey, ServiceKey};
use super::routes::RouteKey;

/// A part of the host that lvs-converge reads and changes as a whole. The order is the plan's:
/// prerequisites first, IPVS next, persistence files last.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Subsystem {
    Modules,
    Links,
    Sysctl,
    Addresses,
    Routes,
    Ipvs,
    Files,
}

impl Subsystem {
    /// Every subsystem, in plan order.
    pub const ALL: [Subsystem; 7] = [
        Subsystem::Modules,
        Subsystem::Links,
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

    /// Saved plans key origins by this text: changing it makes older saved plans inconsistent.
    #[test]
    fn object_text_is_subsystem_then_identity() {
        let vip = "203.0.113.100".parse().unwrap();
        let service = ServiceKey::Address { protocol: Protocol::Tcp, address: vip, port: 80 };
        let cases = [
            (ObjectId::Module("ip_vs".into()), "modules ip_vs"),
            (ObjectId::Link("tunl0".into()), "links tunl0"),
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
