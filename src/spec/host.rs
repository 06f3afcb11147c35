//! The host-level sections of a spec: kernel modules, links, addresses, routes and sysctls.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt;
use std::net::{IpAddr, Ipv4Addr};

use schemars::{json_schema, JsonSchema, Schema, SchemaGenerator};
use serde::de::{self, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::{schema, Problems};
use crate::model::addresses::{host_prefix_length, Address};
use crate::model::keyed::{self, Keyed, KeyedMap};
use crate::model::links::{check_interface_name, Link, LinkKind, FALLBACK_TUNNEL, INTERFACE_NAME_RULE};
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
    /// An ipip tunnel (tunl0 or a named one).
    Ipip,
    /// An existing interface (ethernet, loopback …): only `up` and `mtu` are managed.
    Existing,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct LinkSpec {
    /// An interface name: at most 15 bytes, no '/', ':' or whitespace, not `.` or `..`.
    #[schemars(regex(pattern = r"^(?!\.{1,2}$)[^/:\s]{1,15}$"))]
    pub name: String,
    /// Default: `ipip` for `tunl0` or when `local`/`remote` are given, else `existing`.
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<LinkType>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub local: Option<Ipv4Addr>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remote: Option<Ipv4Addr>,
    /// Outer TTL; 0 (default) inherits the inner packet's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ttl: Option<u8>,
    /// Path MTU discovery on the outer header (default on, as the kernel).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pmtudisc: Option<bool>,
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
    pub(super) fn to_model(&self, path: &str, problems: &mut Problems) -> Option<Link> {
        let tunnel_fields =
            self.local.is_some() || self.remote.is_some() || self.ttl.is_some() || self.pmtudisc.is_some();
        let kind = self.kind.unwrap_or(if self.name == FALLBACK_TUNNEL || tunnel_fields {
            LinkType::Ipip
        } else {
            LinkType::Existing
        });
        if check_interface_name(&self.name).is_err() {
            problems.add(
                &format!("{path}.name"),
                format!("`{}` is not a valid interface name", self.name),
                &format!("use {INTERFACE_NAME_RULE}"),
            );
            return None;
        }
        match kind {
            LinkType::Existing => {
                if tunnel_fields {
                    problems.add(
                        path,
                        format!(
                            "`{}` is an existing interface; local/remote/ttl/pmtudisc are for ipip tunnels",
                            self.name
                        ),
                        "add `type: ipip` or remove the tunnel fields",
                    );
                    return None;
                }
                Some(Link {
                    name: self.name.clone(),
                    kind: LinkKind::Other { kind: "existing".into() },
                    up: self.up,
                    mtu: self.mtu,
                })
            }
            LinkType::Ipip => {
                if self.name == FALLBACK_TUNNEL && (self.local.is_some() || self.remote.is_some()) {
                    problems.add(
                        path,
                        "tunl0 is the ipip module's fallback device: its local/remote can't be set".into(),
                        "leave tunl0 without endpoints (it accepts ipip from any director), or declare a named tunnel such as `tun-director` with local/remote",
                    );
                    return None;
                }
                Some(Link {
                    name: self.name.clone(),
                    kind: LinkKind::Ipip {
                        local: self.local,
                        remote: self.remote,
                        ttl: self.ttl.unwrap_or(0),
                        pmtudisc: self.pmtudisc.unwrap_or(true),
                    },
                    up: Some(self.up.unwrap_or(true)),
                    mtu: self.mtu,
                })
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
