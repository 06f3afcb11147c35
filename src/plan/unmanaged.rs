//! Objects the spec does not own. Their form in saved plans (`{subsystem, kind, id}`) is
//! words, a kind and an identity, because JSON plans always showed them so: one form for
//! both, which reading a saved plan parses back. render shows the same kind and identity.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;

use serde::de::Error as _;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::model::fou::{FouBinding, FouKey};
use crate::model::ipvs::{Family, Protocol, ServiceKey};
use crate::model::links::{LinkKind, FALLBACK_TUNNELS};
use crate::model::{ObjectId, Subsystem};

/// An object on the host that the spec does not own: reported, never touched.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Unmanaged {
    /// A tunnel the spec does not declare; `kind` is its word (`ipip`, `gre`, `ip6gre` …).
    Tunnel { name: String, kind: String },
    /// A foo-over-UDP port the spec does not declare.
    FouPort(FouKey),
    /// A foo-over-UDP port bound to an address, a peer or a device (never declared).
    BoundFouPort { key: FouKey, binding: FouBinding },
    /// A service the spec does not declare. `in_scope`: its ownership covers the service,
    /// which only `prune` would remove.
    IpvsService { service: ServiceKey, in_scope: bool },
    /// A file in the spec's file scope that lvs-converge did not write, so it is not deleted.
    ForeignFile(PathBuf),
}

impl Unmanaged {
    pub fn object(&self) -> ObjectId {
        match self {
            Unmanaged::Tunnel { name, .. } => ObjectId::Link(name.clone()),
            Unmanaged::FouPort(key) | Unmanaged::BoundFouPort { key, .. } => ObjectId::FouPort(*key),
            Unmanaged::IpvsService { service, .. } => ObjectId::IpvsService(*service),
            Unmanaged::ForeignFile(path) => ObjectId::File(path.clone()),
        }
    }

    pub fn subsystem(&self) -> Subsystem {
        self.object().subsystem()
    }
}

const IN_SCOPE: &str = " (in scope; set prune to remove it)";
const FOREIGN: &str = " (not written by lvs-converge)";
const BOUND_TO: &str = " bound to ";

/// `local 192.0.2.10, peer 192.0.2.1, peer port 5555, device #3`: what a foo-over-UDP
/// port's socket is bound to besides its port.
pub fn bound_to(binding: &FouBinding) -> String {
    let mut words = Vec::new();
    words.extend(binding.local.map(|address| format!("local {address}")));
    words.extend(binding.peer.map(|address| format!("peer {address}")));
    words.extend(binding.peer_port.map(|port| format!("peer port {port}")));
    words.extend(binding.ifindex.map(|index| format!("device #{index}")));
    words.join(", ")
}

/// The binding [`bound_to`] put in words.
fn parse_bound_to(text: &str) -> Option<FouBinding> {
    let mut binding = FouBinding::default();
    for word in text.split(", ") {
        if let Some(address) = word.strip_prefix("local ") {
            binding.local = Some(address.parse::<IpAddr>().ok()?);
        } else if let Some(port) = word.strip_prefix("peer port ") {
            binding.peer_port = Some(port.parse().ok()?);
        } else if let Some(address) = word.strip_prefix("peer ") {
            binding.peer = Some(address.parse::<IpAddr>().ok()?);
        } else {
            binding.ifindex = Some(word.strip_prefix("device #")?.parse().ok()?);
        }
    }
    Some(binding)
}

/// What the object is: `gre tunnel`, `ipvs service`, `file`.
pub fn kind(unmanaged: &Unmanaged) -> String {
    match unmanaged {
        Unmanaged::Tunnel { kind, .. } => format!("{kind}{TUNNEL}"),
        Unmanaged::FouPort(_) | Unmanaged::BoundFouPort { .. } => "fou port".into(),
        Unmanaged::IpvsService { .. } => "ipvs service".into(),
        Unmanaged::ForeignFile(_) => "file".into(),
    }
}

const TUNNEL: &str = " tunnel";

/// True for the word of a tunnel kind lvs-converge knows (`LinkKind::name`).
fn is_tunnel_word(word: &str) -> bool {
    FALLBACK_TUNNELS.iter().filter_map(|name| LinkKind::fallback(name)).any(|kind| kind.name() == word)
}

/// Which one, with why it is left alone when that is not plain.
pub fn id(unmanaged: &Unmanaged) -> String {
    match unmanaged {
        Unmanaged::Tunnel { name, .. } => name.clone(),
        Unmanaged::FouPort(key) => format!("{} ({})", key.port, key.family.name()),
        Unmanaged::BoundFouPort { key, binding } => {
            format!("{} ({}){BOUND_TO}{}", key.port, key.family.name(), bound_to(binding))
        }
        Unmanaged::IpvsService { service, in_scope: true } => format!("{service}{IN_SCOPE}"),
        Unmanaged::IpvsService { service, in_scope: false } => service.to_string(),
        Unmanaged::ForeignFile(path) => format!("{}{FOREIGN}", path.display()),
    }
}

#[derive(Debug, PartialEq, Eq, Serialize, Deserialize)]
struct Record {
    subsystem: Subsystem,
    kind: String,
    id: String,
}

impl Record {
    fn of(unmanaged: &Unmanaged) -> Record {
        Record { subsystem: unmanaged.subsystem(), kind: kind(unmanaged), id: id(unmanaged) }
    }

    /// The object these words name, if this build writes exactly these words for it.
    fn parse(&self) -> Option<Unmanaged> {
        let unmanaged = match self.kind.as_str() {
            tunnel if tunnel.strip_suffix(TUNNEL).is_some_and(is_tunnel_word) => Unmanaged::Tunnel {
                name: self.id.clone(),
                kind: tunnel.strip_suffix(TUNNEL).unwrap_or_default().into(),
            },
            "fou port" => match self.id.split_once(BOUND_TO) {
                Some((key, binding)) => {
                    Unmanaged::BoundFouPort { key: parse_fou_port(key)?, binding: parse_bound_to(binding)? }
                }
                None => Unmanaged::FouPort(parse_fou_port(&self.id)?),
            },
            "ipvs service" => match self.id.strip_suffix(IN_SCOPE) {
                Some(service) => Unmanaged::IpvsService { service: parse_service(service)?, in_scope: true },
                None => Unmanaged::IpvsService { service: parse_service(&self.id)?, in_scope: false },
            },
            "file" => Unmanaged::ForeignFile(PathBuf::from(self.id.strip_suffix(FOREIGN)?)),
            _ => return None,
        };
        (Record::of(&unmanaged) == *self).then_some(unmanaged)
    }
}

/// `6080 (ipv4)`: a FOU port's text.
fn parse_fou_port(text: &str) -> Option<FouKey> {
    let (port, family_name) = text.strip_suffix(')')?.split_once(" (")?;
    let family = [Family::Ipv4, Family::Ipv6].into_iter().find(|family| family.name() == family_name)?;
    Some(FouKey { family, port: port.parse().ok()? })
}

/// `tcp 203.0.113.100:80`, `udp [2001:db8::1]:53`, `fwmark 1 (ipv4)`: a service's text.
fn parse_service(text: &str) -> Option<ServiceKey> {
    let (first, rest) = text.split_once(' ')?;
    if first == "fwmark" {
        let (fwmark, family) = rest.split_once(' ')?;
        let family = match family {
            "(ipv4)" => Family::Ipv4,
            "(ipv6)" => Family::Ipv6,
            _ => return None,
        };
        return Some(ServiceKey::FirewallMark { fwmark: fwmark.parse().ok()?, family });
    }
    let protocol = Protocol::ALL.into_iter().find(|protocol| protocol.name() == first)?;
    let socket: SocketAddr = rest.parse().ok()?;
    Some(ServiceKey::Address { protocol, address: socket.ip(), port: socket.port() })
}

impl Serialize for Unmanaged {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        Record::of(self).serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for Unmanaged {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let record = Record::deserialize(deserializer)?;
        record.parse().ok_or_else(|| {
            D::Error::custom(format!("unknown unmanaged object: {} {} {}", record.subsystem, record.kind, record.id))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One of every kind; the match makes a new kind fail to compile until it is listed.
    fn every_kind() -> Vec<Unmanaged> {
        let service = |text: &str| parse_service(text).expect("a service's text");
        let all = vec![
            Unmanaged::Tunnel { name: "tun9".into(), kind: "ipip".into() },
            Unmanaged::Tunnel { name: "gre1".into(), kind: "gre".into() },
            Unmanaged::Tunnel { name: "t6".into(), kind: "ip6gre".into() },
            Unmanaged::FouPort(FouKey { family: Family::Ipv6, port: 6080 }),
            Unmanaged::BoundFouPort {
                key: FouKey { family: Family::Ipv4, port: 7000 },
                binding: FouBinding {
                    local: Some("192.0.2.10".parse().unwrap()),
                    peer: Some("192.0.2.1".parse().unwrap()),
                    peer_port: Some(5555),
                    ifindex: Some(3),
                },
            },
            Unmanaged::IpvsService { service: service("tcp 203.0.113.100:80"), in_scope: false },
            Unmanaged::IpvsService { service: service("udp [2001:db8::1]:53"), in_scope: true },
            Unmanaged::IpvsService { service: service("fwmark 7 (ipv6)"), in_scope: false },
            Unmanaged::ForeignFile("/etc/ipvsadm.rules".into()),
        ];
        for unmanaged in &all {
            match unmanaged {
                Unmanaged::Tunnel { .. }
                | Unmanaged::FouPort(_)
                | Unmanaged::BoundFouPort { .. }
                | Unmanaged::IpvsService { .. }
                | Unmanaged::ForeignFile(_) => {}
            }
        }
        all
    }

    #[test]
    fn every_kind_reads_as_it_always_has() {
        let lines: Vec<String> = every_kind().iter().map(|u| serde_json::to_string(u).unwrap()).collect();
        assert_eq!(
            lines,
            [
                r#"{"subsystem":"links","kind":"ipip tunnel","id":"tun9"}"#,
                r#"{"subsystem":"links","kind":"gre tunnel","id":"gre1"}"#,
                r#"{"subsystem":"links","kind":"ip6gre tunnel","id":"t6"}"#,
                r#"{"subsystem":"fou","kind":"fou port","id":"6080 (ipv6)"}"#,
                r#"{"subsystem":"fou","kind":"fou port","id":"7000 (ipv4) bound to local 192.0.2.10, peer 192.0.2.1, peer port 5555, device #3"}"#,
                r#"{"subsystem":"ipvs","kind":"ipvs service","id":"tcp 203.0.113.100:80"}"#,
                r#"{"subsystem":"ipvs","kind":"ipvs service","id":"udp [2001:db8::1]:53 (in scope; set prune to remove it)"}"#,
                r#"{"subsystem":"ipvs","kind":"ipvs service","id":"fwmark 7 (ipv6)"}"#,
                r#"{"subsystem":"files","kind":"file","id":"/etc/ipvsadm.rules (not written by lvs-converge)"}"#,
            ]
        );
    }

    #[test]
    fn saved_words_read_back_as_the_same_object() {
        for unmanaged in every_kind() {
            let json = serde_json::to_string(&unmanaged).unwrap();
            assert_eq!(serde_json::from_str::<Unmanaged>(&json).unwrap(), unmanaged, "{json}");
        }
    }

    #[test]
    fn words_this_build_does_not_write_are_refused() {
        for json in [
            r#"{"subsystem":"links","kind":"gretap tunnel","id":"gretap0"}"#,
            r#"{"subsystem":"links","kind":" tunnel","id":"t1"}"#,
            r#"{"subsystem":"ipvs","kind":"ipvs service","id":"tcp 203.0.113.100"}"#,
            r#"{"subsystem":"ipvs","kind":"ipvs service","id":"icmp 203.0.113.100:80"}"#,
            r#"{"subsystem":"links","kind":"ipvs service","id":"tcp 203.0.113.100:80"}"#,
            r#"{"subsystem":"files","kind":"file","id":"/etc/ipvsadm.rules"}"#,
            r#"{"subsystem":"fou","kind":"fou port","id":"6080 (ipv5)"}"#,
            r#"{"subsystem":"fou","kind":"fou port","id":"port 6080 ipv4"}"#,
            r#"{"subsystem":"fou","kind":"fou port","id":"6080 (ipv4) bound to gateway 192.0.2.1"}"#,
        ] {
            assert!(serde_json::from_str::<Unmanaged>(json).is_err(), "{json}");
        }
    }
}
