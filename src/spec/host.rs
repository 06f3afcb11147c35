//! The host-level sections of a spec: kernel modules, links, addresses, routes and sysctls.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt;
use std::net::IpAddr;

use schemars::{json_schema, JsonSchema, Schema, SchemaGenerator};
use serde::de::{self, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::{schema, Problems};
use crate::model::addresses::{host_prefix_length, Address};
use crate::model::keyed::{self, Keyed, KeyedMap};
use crate::model::links::{check_interface_name, Ip6tnlMode, Link, LinkKind, DEFAULT_HOP_LIMIT, INTERFACE_NAME_RULE};
use crate::model::routes::{Route, RouteScope, RouteType, TABLE_LOCAL, TABLE_MAIN};
use crate::model::sysctl::{SysctlKey, SysctlKeyError};

/// An address with an optional prefix length: `203.0.113.100/32`, `2001:db8::1`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    pub address: IpAddr,
    /// None: a host address (/32 or /128).
    pub prefix_length: Option<u8>,
}

impl Cidr {
    pub fn prefix_or_host(&self) -> u8 {
        self.prefix_length.unwrap_or(host_prefix_length(&self.address))
    }

    fn parse(text: &str) -> Result<Cidr, String> {
        let (address, prefix) = match text.split_once('/') {
            Some((address, prefix)) => (address, Some(prefix)),
            None => (text, None),
        };
        let address: IpAddr = address.trim().parse().map_err(|_| format!("`{text}` is not an IP address"))?;
        let max = host_prefix_length(&address);
        let prefix_length = match prefix {
            None => None,
            Some(p) => Some(
                p.parse::<u8>()
                    .ok()
                    .filter(|p| *p <= max)
                    .ok_or_else(|| format!("prefix length `/{p}` is out of range 0-{max}"))?,
            ),
        };
        Ok(Cidr { address, prefix_length })
    }
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.prefix_length {
            Some(p) => write!(f, "{}/{p}", self.address),
            None => write!(f, "{}", self.address),
        }
    }
}

impl Serialize for Cidr {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Cidr {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct CidrVisitor;
        impl Visitor<'_> for CidrVisitor {
            type Value = Cidr;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an address with optional prefix length, such as 203.0.113.100/32")
            }
            fn visit_str<E: de::Error>(self, text: &str) -> Result<Cidr, E> {
                Cidr::parse(text).map_err(E::custom)
            }
        }
        deserializer.deserialize_str(CidrVisitor)
    }
}

impl JsonSchema for Cidr {
    fn schema_name() -> Cow<'static, str> {
        "Cidr".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        let ipv4 = format!("{}(/{})?", schema::IPV4_PATTERN, schema::PREFIX_V4_PATTERN);
        let ipv6 = format!("{}(/{})?", schema::IPV6_PATTERN, schema::PREFIX_V6_PATTERN);
        json_schema!({
            "description": "An address with an optional prefix length: `203.0.113.100/32`, `2001:db8::1/128`; without one, a host address.",
            "type": "string",
            "pattern": format!("^({ipv4}|{ipv6})$"),
            "patternErrorMessage": "an IPv4 or IPv6 address with an optional prefix length, such as 203.0.113.100/32",
            "examples": ["203.0.113.100/32"]
        })
    }
}

/// A sysctl value: people write `1` or `"1024 65000"`; the kernel reads text.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum SysctlValue {
    Number(i64),
    Text(String),
}

impl fmt::Display for SysctlValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SysctlValue::Number(n) => write!(f, "{n}"),
            SysctlValue::Text(t) => f.write_str(t),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum LinkType {
    /// An ipip tunnel, IPv4 in IPv4 (tunl0 or a named one).
    Ipip,
    /// A GRE tunnel over IPv4 (gre0 or a named one).
    Gre,
    /// IPv6 in IPv4 (sit0 or a named one).
    Sit,
    /// IPv4 or IPv6 in IPv6, by `mode` (ip6tnl0 or a named one).
    Ip6tnl,
    /// A GRE tunnel over IPv6 (ip6gre0 or a named one).
    Ip6gre,
    /// An existing interface (ethernet, loopback …): only `up` and `mtu` are managed.
    Existing,
}

impl LinkType {
    fn word(self) -> &'static str {
        match self {
            LinkType::Ipip => "ipip",
            LinkType::Gre => "gre",
            LinkType::Sit => "sit",
            LinkType::Ip6tnl => "ip6tnl",
            LinkType::Ip6gre => "ip6gre",
            LinkType::Existing => "existing",
        }
    }

    /// The type a `links:` entry gives for a model kind.
    pub fn of(kind: &LinkKind) -> LinkType {
        match kind {
            LinkKind::Ipip { .. } => LinkType::Ipip,
            LinkKind::Gre { .. } => LinkType::Gre,
            LinkKind::Sit { .. } => LinkType::Sit,
            LinkKind::Ip6tnl { .. } => LinkType::Ip6tnl,
            LinkKind::Ip6gre { .. } => LinkType::Ip6gre,
            LinkKind::Other { .. } => LinkType::Existing,
        }
    }

    /// True for the tunnels whose outer header is IPv6.
    fn ipv6_underlay(self) -> bool {
        matches!(self, LinkType::Ip6tnl | LinkType::Ip6gre)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[schemars(transform = schema::link_rules)]
pub struct LinkSpec {
    /// An interface name: at most 15 bytes, no '/', ':' or whitespace, not `.` or `..`.
    #[schemars(regex(pattern = r"^(?!\.{1,2}$)[^/:\s]{1,15}$"))]
    pub name: String,
    /// Default: the fallback device's own type for `tunl0`, `gre0`, `sit0`, `ip6tnl0` and
    /// `ip6gre0`; `ipip` when tunnel fields are given; else `existing`.
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<LinkType>,
    /// Outer source address: IPv4 for ipip, gre and sit; IPv6 for ip6tnl and ip6gre.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub local: Option<IpAddr>,
    /// Outer destination address, of the same family as `local`; none: any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remote: Option<IpAddr>,
    /// Outer TTL of ipip, gre and sit; 0 (default) inherits the inner packet's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ttl: Option<u8>,
    /// Outer hop limit of ip6tnl and ip6gre; default 64, 0 inherits the inner packet's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hop_limit: Option<u8>,
    /// Path MTU discovery on the outer header of ipip, gre and sit (default on, as the kernel).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pmtudisc: Option<bool>,
    /// ip6tnl only: the inner packets it carries: `ip6ip6` (default), `ipip6` (IPv4) or `any`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<Ip6tnlMode>,
    /// gre only (gre0 too), iproute2's `icsum`: take only GRE packets that carry a checksum
    /// (a director's `checksum: csum`) and drop those without; default false, the reverse.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub require_checksum: Option<bool>,
    /// Admin state; tunnels default to up, existing interfaces are left as they are.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub up: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mtu: Option<u32>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AddressSpec {
    /// `203.0.113.100/32`; without a prefix, a host address.
    pub address: Cidr,
    pub interface: String,
    /// IPv4 label, which must start with the interface name (`eth0:0`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
    /// IPv6 only: hold the address with preferred lifetime 0, so that the host answers and
    /// serves it but never sends from it. A director's IPv6 VIPs are held so by the director
    /// role: a tunnel packet whose source is the VIP is dropped by the real server.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub deprecated: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum TableSpec {
    Named(TableName),
    Number(u32),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum TableName {
    Main,
    Local,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[schemars(transform = schema::route_rules)]
pub struct RouteSpec {
    pub destination: Cidr,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gateway: Option<IpAddr>,
    /// `main` (default), `local` or a number.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub table: Option<TableSpec>,
    /// Default: `local` in table local, else `unicast`.
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<RouteType>,
    /// Default: `host` for local routes, `link` for device routes, `universe` via a gateway.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<RouteScope>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metric: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<IpAddr>,
}

/// Each item of a list section as a model object, put into `into`; the ones with problems
/// are left out (and reported at `section[index]`).
pub(super) fn put_each<S, T: Keyed>(
    items: &[S],
    section: &str,
    problems: &mut Problems,
    to_model: impl Fn(&S, &str, &mut Problems) -> Option<T>,
    into: &mut KeyedMap<T>,
) {
    for (index, item) in items.iter().enumerate() {
        if let Some(object) = to_model(item, &format!("{section}[{index}]"), problems) {
            keyed::put(into, object);
        }
    }
}

/// The `sysctls` section by canonical name; names or values with problems are left out.
pub(super) fn sysctls_to_model(
    sysctls: &BTreeMap<String, SysctlValue>,
    section: &str,
    problems: &mut Problems,
) -> BTreeMap<String, String> {
    let mut model = BTreeMap::new();
    let mut canonical_names = BTreeMap::new();
    for (key, value) in sysctls {
        let field = format!("{section}.{key}");
        let name = match SysctlKey::parse(key) {
            Ok(name) => name.to_string(),
            Err(error) => {
                problems.add(&field, error.to_string(), SysctlKeyError::HINT);
                continue;
            }
        };
        if let Some(first) = canonical_names.insert(name.clone(), key) {
            problems.add(
                &field,
                format!("`{key}` names the same sysctl as `{first}`"),
                "keep one of them (dotted and slashed names are the same sysctl)",
            );
            continue;
        }
        let value = value.to_string();
        if let Some(character) = value.chars().find(|c| c.is_control() && *c != '\t') {
            problems.add(
                &field,
                format!("the value of `{key}` holds the control character {character:?}"),
                "a sysctl value is one line of text: numbers separated by spaces or tabs, or a word",
            );
            continue;
        }
        model.insert(name, value);
    }
    model
}

impl LinkSpec {
    /// The tunnel fields given, by name, for messages about the ones a type does not take.
    fn tunnel_fields(&self) -> Vec<&'static str> {
        [
            ("local", self.local.is_some()),
            ("remote", self.remote.is_some()),
            ("ttl", self.ttl.is_some()),
            ("hopLimit", self.hop_limit.is_some()),
            ("pmtudisc", self.pmtudisc.is_some()),
            ("mode", self.mode.is_some()),
            ("requireChecksum", self.require_checksum.is_some()),
        ]
        .into_iter()
        .filter_map(|(name, given)| given.then_some(name))
        .collect()
    }

    pub(super) fn to_model(&self, path: &str, problems: &mut Problems) -> Option<Link> {
        let tunnel_fields = self.tunnel_fields();
        let fallback = LinkKind::fallback(&self.name);
        let kind = self.kind.unwrap_or(match &fallback {
            Some(kind) => LinkType::of(kind),
            None if !tunnel_fields.is_empty() => LinkType::Ipip,
            None => LinkType::Existing,
        });
        if check_interface_name(&self.name).is_err() {
            problems.add(
                &format!("{path}.name"),
                format!("`{}` is not a valid interface name", self.name),
                &format!("use {INTERFACE_NAME_RULE}"),
            );
            return None;
        }
        if kind == LinkType::Existing {
            if !tunnel_fields.is_empty() {
                problems.add(
                    path,
                    format!("`{}` is an existing interface; {} are for tunnels", self.name, tunnel_fields.join("/")),
                    "add the tunnel's `type` (ipip, gre, sit, ip6tnl, ip6gre) or remove the tunnel fields",
                );
                return None;
            }
            return Some(Link {
                name: self.name.clone(),
                kind: LinkKind::Other { kind: "existing".into() },
                up: self.up,
                mtu: self.mtu,
            });
        }
        let before = problems.len();
        if let Some(fallback) = &fallback {
            self.check_fallback(fallback, kind, path, problems);
        }
        if problems.len() == before {
            self.check_fields_of(kind, path, problems);
        }
        if problems.len() > before {
            return None;
        }
        let v4 = |ip: Option<IpAddr>| match ip {
            Some(IpAddr::V4(v4)) => Some(v4),
            _ => None,
        };
        let v6 = |ip: Option<IpAddr>| match ip {
            Some(IpAddr::V6(v6)) => Some(v6),
            _ => None,
        };
        let (local, remote) = (self.local, self.remote);
        let ttl = self.ttl.unwrap_or(0);
        let pmtudisc = self.pmtudisc.unwrap_or(true);
        let hop_limit = self.hop_limit.unwrap_or(DEFAULT_HOP_LIMIT);
        let kind = match kind {
            LinkType::Ipip => LinkKind::Ipip { local: v4(local), remote: v4(remote), ttl, pmtudisc },
            LinkType::Gre => LinkKind::Gre {
                local: v4(local),
                remote: v4(remote),
                ttl,
                pmtudisc,
                require_checksum: self.require_checksum.unwrap_or(false),
            },
            LinkType::Sit => LinkKind::Sit { local: v4(local), remote: v4(remote), ttl, pmtudisc },
            LinkType::Ip6tnl => LinkKind::Ip6tnl {
                local: v6(local),
                remote: v6(remote),
                hop_limit,
                mode: self.mode.unwrap_or_default(),
            },
            LinkType::Ip6gre => LinkKind::Ip6gre { local: v6(local), remote: v6(remote), hop_limit },
            LinkType::Existing => unreachable!("returned above"),
        };
        // A fallback keeps the kernel's parameters but the few it lets us set, so the plan's
        // `after` is what the host will have.
        let kind = match &fallback {
            Some(fallback) => fallback.configured_fallback(&kind),
            None => kind,
        };
        Some(Link { name: self.name.clone(), kind, up: Some(self.up.unwrap_or(true)), mtu: self.mtu })
    }

    /// A fallback device is of its module's type, and its endpoints are the kernel's.
    fn check_fallback(&self, fallback: &LinkKind, kind: LinkType, path: &str, problems: &mut Problems) {
        let name = &self.name;
        let module = fallback.module().unwrap_or("tunnel");
        let own = LinkType::of(fallback);
        if kind != own {
            problems.add(
                &format!("{path}.type"),
                format!("{name} is the {module} module's fallback {} device, not {}", own.word(), kind.word()),
                &format!(
                    "write `type: {}` or leave `type` out, or give a {} tunnel another name",
                    own.word(),
                    kind.word()
                ),
            );
            return;
        }
        // The kernel refuses changes to these on a fallback device; accepting them would
        // make the plan promise what the host never gets.
        let given = self.tunnel_fields();
        if let Some(field) = ["local", "remote"].into_iter().find(|f| given.contains(f)) {
            problems.add(
                &format!("{path}.{field}"),
                format!("{name} is the {module} module's fallback device: its local/remote can't be set"),
                &format!(
                    "leave {name} without endpoints (it accepts {} from any sender), or declare a named tunnel such as `tun-director` with local/remote",
                    own.word()
                ),
            );
        }
        for field in ["ttl", "hopLimit", "pmtudisc"].into_iter().filter(|f| given.contains(f)) {
            problems.add(
                &format!("{path}.{field}"),
                format!("{name} is the {module} module's fallback device: its {field} is the kernel's and can't be set"),
                &format!(
                    "remove `{field}`: of a fallback device only up, mtu, mode (ip6tnl0) and requireChecksum (gre0) are managed; declare a named {} tunnel for your own {field}",
                    own.word()
                ),
            );
        }
    }

    /// The fields `kind` takes, and endpoints of its underlay's family.
    fn check_fields_of(&self, kind: LinkType, path: &str, problems: &mut Problems) {
        let ipv6 = kind.ipv6_underlay();
        let refused: &[&str] = match kind {
            LinkType::Ip6tnl => &["ttl", "pmtudisc", "requireChecksum"],
            LinkType::Ip6gre => &["ttl", "pmtudisc", "mode", "requireChecksum"],
            LinkType::Gre => &["hopLimit", "mode"],
            _ => &["hopLimit", "mode", "requireChecksum"],
        };
        for field in self.tunnel_fields().into_iter().filter(|f| refused.contains(f)) {
            let instead = match field {
                "ttl" => "use `hopLimit` for the outer hop limit of an IPv6 tunnel",
                "hopLimit" => "use `ttl` for the outer TTL of an IPv4 tunnel",
                "mode" => "`mode` applies to ip6tnl only",
                "requireChecksum" => "`requireChecksum` applies to gre (IPv4) only; remove it",
                _ => "remove it (the kernel has no such setting for this type)",
            };
            problems.add(
                &format!("{path}.{field}"),
                format!("`{field}` does not apply to {} tunnels", kind.word()),
                instead,
            );
        }
        for (field, address) in [("local", self.local), ("remote", self.remote)] {
            let Some(address) = address else { continue };
            if address.is_ipv6() != ipv6 {
                let (family, types, other) = if ipv6 {
                    ("IPv6", "ip6tnl and ip6gre", "ipip, gre or sit")
                } else {
                    ("IPv4", "ipip, gre and sit", "ip6tnl or ip6gre")
                };
                problems.add(
                    &format!("{path}.{field}"),
                    format!("{address} is not an {family} address, and {} tunnels run over {family}", kind.word()),
                    &format!("{types} tunnels take {family} endpoints: give one, or set `type` to {other}"),
                );
            }
        }
    }
}

impl AddressSpec {
    pub(super) fn to_model(&self, path: &str, problems: &mut Problems) -> Option<Address> {
        if let Some(label) = &self.label {
            if !label.starts_with(&self.interface) || label.len() > 15 || self.address.address.is_ipv6() {
                problems.add(
                    &format!("{path}.label"),
                    format!("label `{label}` is not valid for {} on {}", self.address, self.interface),
                    &format!(
                        "IPv4 labels start with the interface name and have at most 15 characters, e.g. `{}:0`",
                        self.interface
                    ),
                );
                return None;
            }
        }
        if self.deprecated && self.address.address.is_ipv4() {
            problems.add(
                &format!("{path}.deprecated"),
                format!("`deprecated` is for IPv6 addresses; {} is IPv4", self.address),
                "remove `deprecated: true` (IPv4 source selection does not follow address lifetimes)",
            );
            return None;
        }
        Some(Address {
            interface: self.interface.clone(),
            address: self.address.address,
            prefix_length: self.address.prefix_or_host(),
            label: self.label.clone().filter(|l| *l != self.interface),
            deprecated: self.deprecated,
        })
    }
}

impl RouteSpec {
    pub(super) fn to_model(&self, path: &str, problems: &mut Problems) -> Option<Route> {
        let table = match self.table {
            None | Some(TableSpec::Named(TableName::Main)) => TABLE_MAIN,
            Some(TableSpec::Named(TableName::Local)) => TABLE_LOCAL,
            Some(TableSpec::Number(n)) => n,
        };
        if self.device.is_none()
            && self.gateway.is_none()
            && !matches!(self.kind, Some(RouteType::Blackhole | RouteType::Unreachable))
        {
            problems.add(
                path,
                format!("route {} has neither `device` nor `gateway`", self.destination),
                "add `device: lo` (local routes) or `gateway: ADDRESS`",
            );
            return None;
        }
        let kind = self.kind.unwrap_or(if table == TABLE_LOCAL { RouteType::Local } else { RouteType::Unicast });
        let scope = self.scope.unwrap_or(match (kind, self.gateway) {
            (RouteType::Local, _) => RouteScope::Host,
            (_, Some(_)) => RouteScope::Universe,
            (RouteType::Unicast, None) => RouteScope::Link,
            _ => RouteScope::Universe,
        });
        Some(Route {
            table,
            kind,
            destination: self.destination.address,
            prefix_length: self.destination.prefix_or_host(),
            metric: self.metric.unwrap_or(0),
            device: self.device.clone(),
            gateway: self.gateway,
            scope,
            source: self.source,
        })
    }
}
