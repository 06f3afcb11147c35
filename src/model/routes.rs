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

impl fmt::Display for RouteKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let table = match self.table {
            TABLE_MAIN => "main".to_string(),
            TABLE_LOCAL => "local".to_string(),
            other => other.to_string(),
        };
        let kind = format!("{:?}", self.kind).to_lowercase();
        write!(f, "{kind} {}/{} table {table}", self.destination, self.prefix_length)?;
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
