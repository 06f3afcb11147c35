//! Routes the spec declares (e.g. the seed manual's `ip route add VIP/32 dev lo table local`).

use std::fmt;
use std::net::IpAddr;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::keyed::Keyed;

pub const TABLE_MAIN: u32 = 254;
pub const TABLE_LOCAL: u32 = 255;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum RouteType {
    Unicast,
    Local,
    Blackhole,
    Unreachable,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum RouteScope {
    Universe,
    Link,
    Host,
}

/// What identifies a route to the kernel: table, type, destination prefix and metric.
/// Shown as `ip route` users read it: `local 203.0.113.100/32 table local`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RouteKey {
    pub table: u32,
    pub kind: RouteType,
    pub destination: IpAddr,
    pub prefix_length: u8,
    pub metric: u32,
}

impl RouteScope {
    /// The word `ip route` uses for this scope (and the spec, and JSON).
    pub fn name(self) -> &'static str {
        match self {
            RouteScope::Universe => "universe",
            RouteScope::Link => "link",
            RouteScope::Host => "host",
        }
    }
}

impl RouteType {
    /// The word `ip route` uses for this type (and the spec, and JSON).
    pub fn name(self) -> &'static str {
        match self {
            RouteType::Unicast => "unicast",
            RouteType::Local => "local",
            RouteType::Blackhole => "blackhole",
            RouteType::Unreachable => "unreachable",
        }
    }
}

/// A routing table as `ip route` names it: "main", "local", or its number.
pub struct TableName(pub u32);

impl fmt::Display for TableName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            TABLE_MAIN => f.write_str("main"),
            TABLE_LOCAL => f.write_str("local"),
            other => write!(f, "{other}"),
        }
    }
}

/// What names a route in plans, origins and errors: "local 203.0.113.100/32 table local".
impl fmt::Display for RouteKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}/{} table {}", self.kind.name(), self.destination, self.prefix_length, TableName(self.table))?;
        if self.metric != 0 {
            write!(f, " metric {}", self.metric)?;
        }
        Ok(())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Route {
    pub table: u32,
    #[serde(rename = "type")]
    pub kind: RouteType,
    pub destination: IpAddr,
    pub prefix_length: u8,
    #[serde(default)]
    pub metric: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gateway: Option<IpAddr>,
    pub scope: RouteScope,
    /// Preferred source address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<IpAddr>,
}

impl Keyed for Route {
    type Key = RouteKey;
    fn key(&self) -> RouteKey {
        RouteKey {
            table: self.table,
            kind: self.kind,
            destination: self.destination,
            prefix_length: self.prefix_length,
            metric: self.metric,
        }
    }
}

/// A whole route in `ip route` words: "local 203.0.113.100/32 dev lo table local scope host".
impl fmt::Display for Route {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}/{}", self.kind.name(), self.destination, self.prefix_length)?;
        if let Some(gateway) = self.gateway {
            write!(f, " via {gateway}")?;
        }
        if let Some(device) = &self.device {
            write!(f, " dev {device}")?;
        }
        write!(f, " table {}", TableName(self.table))?;
        if self.metric != 0 {
            write!(f, " metric {}", self.metric)?;
        }
        f.write_str(match self.scope {
            RouteScope::Universe => "",
            RouteScope::Link => " scope link",
            RouteScope::Host => " scope host",
        })?;
        if let Some(source) = self.source {
            write!(f, " src {source}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn route(text_kind: RouteType, destination: &str, prefix_length: u8, table: u32) -> Route {
        Route {
            table,
            kind: text_kind,
            destination: destination.parse().unwrap(),
            prefix_length,
            metric: 0,
            device: None,
            gateway: None,
            scope: RouteScope::Universe,
            source: None,
        }
    }

    #[test]
    fn type_names_are_the_spec_and_json_words() {
        for kind in [RouteType::Unicast, RouteType::Local, RouteType::Blackhole, RouteType::Unreachable] {
            assert_eq!(serde_json::to_value(kind).unwrap(), kind.name());
        }
        for scope in [RouteScope::Universe, RouteScope::Link, RouteScope::Host] {
            assert_eq!(serde_json::to_value(scope).unwrap(), scope.name());
        }
    }

    #[test]
    fn a_key_names_table_type_destination_and_metric() {
        let mut vip = route(RouteType::Local, "203.0.113.100", 32, TABLE_LOCAL);
        vip.device = Some("lo".into());
        assert_eq!(vip.key().to_string(), "local 203.0.113.100/32 table local");
        let mut other = route(RouteType::Unicast, "198.51.100.0", 24, 100);
        other.metric = 5;
        assert_eq!(other.key().to_string(), "unicast 198.51.100.0/24 table 100 metric 5");
        assert_eq!(route(RouteType::Blackhole, "::", 0, TABLE_MAIN).key().to_string(), "blackhole ::/0 table main");
    }

    #[test]
    fn a_route_reads_like_ip_route() {
        let mut vip = route(RouteType::Local, "203.0.113.100", 32, TABLE_LOCAL);
        vip.device = Some("lo".into());
        vip.scope = RouteScope::Host;
        assert_eq!(vip.to_string(), "local 203.0.113.100/32 dev lo table local scope host");
        let mut via = route(RouteType::Unicast, "198.51.100.0", 24, 100);
        via.gateway = Some("192.0.2.1".parse().unwrap());
        via.metric = 5;
        via.scope = RouteScope::Link;
        via.source = Some("192.0.2.10".parse().unwrap());
        assert_eq!(
            via.to_string(),
            "unicast 198.51.100.0/24 via 192.0.2.1 table 100 metric 5 scope link src 192.0.2.10"
        );
    }
}
