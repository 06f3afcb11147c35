//! The `ipvs:` section of a spec: virtual services, real servers and timeouts, as users write
//! them, and their translation into the model with every rule the kernel would otherwise
//! enforce later (and less helpfully).

use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::net::{IpAddr, Ipv4Addr};

use schemars::{json_schema, JsonSchema, Schema, SchemaGenerator};
use serde::de::{self, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::{schema, Problems};
use crate::model::duration::Seconds;
use crate::model::ipvs::{
    Destination, Family, ForwardingMethod, IpvsState, Persistence, Protocol, Scheduler, SchedulerFlag, Service,
    ServiceKey, ServiceSettings, Timeouts, TunnelChecksum, TunnelEncapsulation, TunnelType,
};
use crate::model::keyed::Keyed;
use crate::plan::ipvs::IpvsOwnership;

/// ipvsadm's persistence timeout when `-p` is given without a value.
pub const DEFAULT_PERSISTENCE_TIMEOUT: Seconds = Seconds(300);
/// ipvsadm's weight when `-w` is omitted.
pub const DEFAULT_WEIGHT: i64 = 1;
/// The kernel stores weights and thresholds as signed ints.
const MAX_WEIGHT: i64 = i32::MAX as i64;

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct IpvsSpec {
    /// Connection idle timeouts (`ipvsadm --set`). Omitted: left as they are on the host.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeouts: Option<TimeoutsSpec>,
    #[serde(default)]
    pub services: Vec<ServiceSpec>,
    /// Undeclared services the spec owns anyway (reported, or deleted with `prune`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<ScopeSpec>,
    /// Removing a real server drains it first (weight 0) and deletes it once its connections
    /// end, or after `timeout` (default 5m). `drain: false` deletes at once.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub drain: Option<DrainSpec>,
}

/// ipvsadm has no drain; keepalived and kube-proxy users learn to set weight 0 by hand.
pub const DEFAULT_DRAIN_TIMEOUT: Seconds = Seconds(300);

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum DrainSpec {
    Enabled(bool),
    Settings(DrainSettings),
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DrainSettings {
    pub timeout: Seconds,
}

impl IpvsSpec {
    /// Seconds a removed real server may drain, or None to delete at once.
    pub fn drain_timeout(&self) -> Option<u32> {
        match &self.drain {
            None | Some(DrainSpec::Enabled(true)) => Some(DEFAULT_DRAIN_TIMEOUT.0),
            Some(DrainSpec::Enabled(false)) => None,
            Some(DrainSpec::Settings(settings)) => Some(settings.timeout.0),
        }
    }
}

/// Ownership beyond the declared services. Services outside the scope are never touched.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ScopeSpec {
    /// Own every service on the host.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub all: bool,
    /// Own every service on these virtual IPs, whatever the protocol and port.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub addresses: Vec<IpAddr>,
    /// Own every firewall-mark service with these marks.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub fwmarks: Vec<u32>,
    /// Delete owned services that the spec does not declare. Default: only report them.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub prune: bool,
}

impl ScopeSpec {
    pub fn to_model(&self) -> IpvsOwnership {
        IpvsOwnership {
            drain_timeout: None,
            prune: self.prune,
            all: self.all,
            addresses: self.addresses.iter().copied().collect(),
            fwmarks: self.fwmarks.iter().copied().collect(),
        }
    }
}

/// Any timeout left out takes the kernel's default, so the spec alone decides the result.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TimeoutsSpec {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tcp: Option<Seconds>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tcp_fin: Option<Seconds>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub udp: Option<Seconds>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[schemars(transform = schema::service_rules, transform = schema::scheduler_flag_rules)]
pub struct ServiceSpec {
    /// `tcp` (default), `udp` or `sctp`; not used with `fwmark`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub protocol: Option<Protocol>,
    /// The virtual IP.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address: Option<IpAddr>,
    /// 1-65535, or 0 for all ports (needs `persistence`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0, max = 65535))]
    pub port: Option<i64>,
    /// Firewall-mark service (`ipvsadm -f`) instead of address:port.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 4294967295_i64))]
    pub fwmark: Option<i64>,
    /// Address family of a firewall-mark service (default ipv4).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub family: Option<Family>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scheduler: Option<Scheduler>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub scheduler_flags: Vec<SchedulerFlag>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub persistence: Option<PersistenceSpec>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub one_packet: bool,
    #[serde(default)]
    pub real_servers: Vec<RealServerSpec>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PersistenceSpec {
    /// Default 300s, as `ipvsadm -p`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<Seconds>,
    /// Clients sharing affinity: a prefix length (`24`) or an IPv4 mask (`255.255.255.0`).
    /// Default: the whole address (/32 or /128).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub netmask: Option<Netmask>,
    /// Persistence engine (`--pe`); the kernel has `sip`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub engine: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[schemars(transform = schema::real_server_rules)]
pub struct RealServerSpec {
    /// The real server's own routable address (never a tunnel-interior address).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address: Option<IpAddr>,
    /// In a Cluster spec: the node whose `address` this real server is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node: Option<String>,
    /// Default: the service's port.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0, max = 65535))]
    pub port: Option<i64>,
    /// `tunnel` (default), `dr` or `masq`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub method: Option<ForwardingMethod>,
    /// Default 1; 0 keeps existing connections but sends no new ones.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0, max = MAX_WEIGHT))]
    pub weight: Option<i64>,
    /// Stop sending new connections above this many (0, the default: no limit).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0, max = MAX_WEIGHT))]
    pub upper_threshold: Option<i64>,
    /// Resume below this many (0, the default: no limit); at most `upperThreshold`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0, max = MAX_WEIGHT))]
    pub lower_threshold: Option<i64>,
    /// Encapsulation for `method: tunnel` (default ipip).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tunnel: Option<TunnelSpec>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[schemars(transform = schema::tunnel_rules)]
pub struct TunnelSpec {
    #[serde(rename = "type", default)]
    pub kind: TunnelType,
    /// UDP port of the real server's GUE receiver (gue only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 65535))]
    pub port: Option<i64>,
    /// Outer checksum for GUE and GRE: `none` (default), `csum`, or `remcsum` (GUE only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checksum: Option<TunnelChecksum>,
}

/// A persistence netmask as a prefix length or an IPv4 dotted mask.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Netmask {
    Prefix(u8),
    Mask(Ipv4Addr),
}

impl Netmask {
    /// Prefix length, if the mask is contiguous and fits the family.
    fn prefix_for(self, family: Family) -> Result<u8, String> {
        let prefix = match self {
            Netmask::Prefix(prefix) => prefix,
            Netmask::Mask(mask) => {
                if family == Family::Ipv6 {
                    return Err(format!("`{mask}` is an IPv4 mask but the service is IPv6"));
                }
                let bits = u32::from(mask);
                if bits.leading_ones() + bits.trailing_zeros() != 32 {
                    return Err(format!("`{mask}` is not a contiguous netmask"));
                }
                bits.leading_ones() as u8
            }
        };
        if prefix > family.max_prefix() {
            return Err(format!("prefix /{prefix} is longer than an {family:?} address"));
        }
        Ok(prefix)
    }
}

impl fmt::Display for Netmask {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Netmask::Prefix(p) => write!(f, "{p}"),
            Netmask::Mask(m) => write!(f, "{m}"),
        }
    }
}

impl Serialize for Netmask {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Netmask::Prefix(p) => serializer.serialize_u8(*p),
            Netmask::Mask(m) => serializer.collect_str(m),
        }
    }
}

impl<'de> Deserialize<'de> for Netmask {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct NetmaskVisitor;
        impl Visitor<'_> for NetmaskVisitor {
            type Value = Netmask;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a prefix length such as 24 or an IPv4 mask such as 255.255.255.0")
            }
            fn visit_u64<E: de::Error>(self, value: u64) -> Result<Netmask, E> {
                u8::try_from(value)
                    .ok()
                    .filter(|p| *p <= 128)
                    .map(Netmask::Prefix)
                    .ok_or_else(|| E::custom(format!("prefix length {value} is out of range 0-128")))
            }
            fn visit_i64<E: de::Error>(self, value: i64) -> Result<Netmask, E> {
                Err(E::custom(format!("prefix length {value} is out of range 0-128")))
            }
            fn visit_str<E: de::Error>(self, text: &str) -> Result<Netmask, E> {
                let text = text.trim_start_matches('/');
                if let Ok(prefix) = text.parse::<u64>() {
                    return self.visit_u64(prefix);
                }
                text.parse::<Ipv4Addr>()
                    .map(Netmask::Mask)
                    .map_err(|_| E::custom(format!("`{text}` is neither a prefix length nor an IPv4 netmask")))
            }
        }
        deserializer.deserialize_any(NetmaskVisitor)
    }
}

impl JsonSchema for Netmask {
    fn schema_name() -> Cow<'static, str> {
        "Netmask".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        // Only contiguous masks resolve (`prefix_for`), so only those match. One schema for
        // both types, as for durations, so that editors name the broken rule.
        let masks: Vec<String> = (0..=32)
            .map(|prefix| {
                Ipv4Addr::from(u32::MAX.checked_shl(32 - prefix).unwrap_or(0)).to_string().replace('.', r"\.")
            })
            .collect();
        json_schema!({
            "description": "A prefix length (`24`, at most 32 for IPv4 and 128 for IPv6) or an IPv4 netmask (`255.255.255.0`).",
            "type": ["integer", "string"],
            "minimum": 0,
            "maximum": 128,
            "pattern": format!("^/*({}|{})$", schema::PREFIX_V6_PATTERN, masks.join("|")),
            "patternErrorMessage": "a prefix length such as 24 or a contiguous IPv4 netmask such as 255.255.255.0",
            "examples": [24, "255.255.255.0"]
        })
    }
}

impl IpvsSpec {
    /// The desired IPVS table, or the problems found (with their field paths below `path`).
    /// `nodes` maps a Cluster spec's node names to their addresses (empty for a Host spec).
    pub fn to_model(&self, path: &str, nodes: &BTreeMap<String, IpAddr>, problems: &mut Problems) -> IpvsState {
        let mut state =
            IpvsState { timeouts: self.timeouts.as_ref().map(TimeoutsSpec::to_model), ..IpvsState::default() };
        for (index, service_spec) in self.services.iter().enumerate() {
            let service_path = format!("{path}.services[{index}]");
            let Some(service) = service_spec.to_model(&service_path, nodes, problems) else {
                continue;
            };
            if state.services.contains_key(&service.key) {
                problems.add(
                    &service_path,
                    format!("service {} is declared twice", service.key),
                    "merge the two entries' realServers into one service",
                );
                continue;
            }
            state.services.insert(service.key(), service);
        }
        state
    }
}

impl TimeoutsSpec {
    fn to_model(&self) -> Timeouts {
        let defaults = Timeouts::KERNEL_DEFAULTS;
        Timeouts {
            tcp: self.tcp.map_or(defaults.tcp, |s| s.0),
            tcp_fin: self.tcp_fin.map_or(defaults.tcp_fin, |s| s.0),
            udp: self.udp.map_or(defaults.udp, |s| s.0),
        }
    }
}

fn port_in_range(value: i64, path: &str, allow_zero: bool, problems: &mut Problems) -> Option<u16> {
    let low = if allow_zero { 0 } else { 1 };
    match u16::try_from(value) {
        Ok(port) if i64::from(port) >= low => Some(port),
        _ => {
            problems.add(path, format!("port {value} is out of range {low}-65535"), "use a TCP/UDP port number");
            None
        }
    }
}

fn non_negative_int(value: i64, path: &str, what: &str, hint: &str, problems: &mut Problems) -> Option<u32> {
    if (0..=MAX_WEIGHT).contains(&value) {
        Some(value as u32)
    } else {
        problems.add(path, format!("{what} {value} is out of range 0-{MAX_WEIGHT}"), hint);
        None
    }
}

impl ServiceSpec {
    fn key(&self, path: &str, problems: &mut Problems) -> Option<ServiceKey> {
        match (self.fwmark, self.address) {
            (Some(_), Some(_)) => {
                problems.add(
                    path,
                    "a service has either `fwmark` or `address`, not both".into(),
                    "remove `address`/`port` for a firewall-mark service, or `fwmark` for an address one",
                );
                None
            }
            (None, None) => {
                problems.add(
                    path,
                    "service has neither `address` nor `fwmark`".into(),
                    "add `address: VIP` and `port: PORT` (or `fwmark: N`)",
                );
                None
            }
            (Some(mark), None) => {
                if self.protocol.is_some() || self.port.is_some() {
                    problems.add(
                        &format!("{path}.fwmark"),
                        "a firewall-mark service takes no `protocol` or `port`".into(),
                        "the mark set by your firewall rules selects the traffic; remove `protocol`/`port`",
                    );
                    return None;
                }
                match u32::try_from(mark) {
                    Ok(fwmark) if fwmark > 0 => {
                        Some(ServiceKey::FirewallMark { fwmark, family: self.family.unwrap_or(Family::Ipv4) })
                    }
                    _ => {
                        problems.add(
                            &format!("{path}.fwmark"),
                            format!("fwmark {mark} is out of range 1-4294967295"),
                            "use the mark your iptables/nftables rules set",
                        );
                        None
                    }
                }
            }
            (None, Some(address)) => {
                if let Some(family) = self.family.filter(|f| *f != Family::of(&address)) {
                    problems.add(
                        &format!("{path}.family"),
                        format!("family {family:?} contradicts address {address}"),
                        "`family` is only for firewall-mark services; remove it",
                    );
                    return None;
                }
                let Some(port_value) = self.port else {
                    problems.add(
                        path,
                        "service has no `port`".into(),
                        "add `port: 80` (0 = all ports, needs persistence)",
                    );
                    return None;
                };
                let port = port_in_range(port_value, &format!("{path}.port"), true, problems)?;
                if port == 0 && self.persistence.is_none() {
                    problems.add(
                        &format!("{path}.port"),
                        "port 0 (all ports) needs persistence".into(),
                        "add `persistence: {timeout: 300s}` or use a real port",
                    );
                    return None;
                }
                Some(ServiceKey::Address { protocol: self.protocol.unwrap_or(Protocol::Tcp), address, port })
            }
        }
    }

    fn to_model(&self, path: &str, nodes: &BTreeMap<String, IpAddr>, problems: &mut Problems) -> Option<Service> {
        let before = problems.len();
        let key = self.key(path, problems);
        let scheduler = self.scheduler.unwrap_or_default();
        let mut flags = BTreeSet::new();
        for (index, flag) in self.scheduler_flags.iter().enumerate() {
            if flag.scheduler() != scheduler {
                problems.add(
                    &format!("{path}.schedulerFlags[{index}]"),
                    format!(
                        "flag `{}` belongs to scheduler `{}`, not `{}`",
                        flag.name(),
                        flag.scheduler().name(),
                        scheduler.name()
                    ),
                    &format!("use `scheduler: {}` or remove the flag", flag.scheduler().name()),
                );
            }
            flags.insert(*flag);
        }
        let family = key.map(|k| k.family()).unwrap_or(Family::Ipv4);
        let persistence =
            self.persistence.as_ref().and_then(|p| p.to_model(&format!("{path}.persistence"), family, problems));
        let default_port = match key {
            Some(ServiceKey::Address { port, .. }) => port,
            _ => 0,
        };
        let mut destinations = Vec::new();
        for (index, real_server) in self.real_servers.iter().enumerate() {
            let dest_path = format!("{path}.realServers[{index}]");
            if let Some(dest) = real_server.to_model(&dest_path, family, default_port, nodes, problems) {
                if destinations.iter().any(|d: &Destination| d.key() == dest.key()) {
                    problems.add(
                        &dest_path,
                        format!("real server {} is listed twice in this service", dest.key()),
                        "remove the duplicate entry",
                    );
                    continue;
                }
                destinations.push(dest);
            }
        }
        if problems.len() > before {
            return None;
        }
        Some(Service {
            key: key?,
            settings: ServiceSettings {
                scheduler,
                scheduler_flags: flags.into_iter().collect(),
                persistence,
                one_packet: self.one_packet,
            },
            destinations: destinations.into_iter().map(|d| (d.key(), d)).collect(),
        })
    }
}

impl PersistenceSpec {
    fn to_model(&self, path: &str, family: Family, problems: &mut Problems) -> Option<Persistence> {
        let timeout = self.timeout.unwrap_or(DEFAULT_PERSISTENCE_TIMEOUT);
        if timeout.0 == 0 {
            problems.add(
                &format!("{path}.timeout"),
                "persistence timeout is 0".into(),
                "remove `persistence` to turn it off, or give a timeout such as 300s",
            );
            return None;
        }
        let prefix_length = match self.netmask.map(|m| m.prefix_for(family)) {
            None => family.max_prefix(),
            Some(Ok(prefix)) => prefix,
            Some(Err(message)) => {
                problems.add(&format!("{path}.netmask"), message, "use a prefix length such as 24 (IPv4) or 64 (IPv6)");
                return None;
            }
        };
        if let Some(engine) = self.engine.as_deref().filter(|e| *e != "sip") {
            problems.add(
                &format!("{path}.engine"),
                format!("unknown persistence engine `{engine}`"),
                "the Linux kernel provides `sip` (ip_vs_pe_sip)",
            );
            return None;
        }
        Some(Persistence { timeout: timeout.0, prefix_length, engine: self.engine.clone() })
    }
}

impl RealServerSpec {
    /// The address this real server is reached at: its own, or its node's.
    fn resolve_address(&self, path: &str, nodes: &BTreeMap<String, IpAddr>, problems: &mut Problems) -> Option<IpAddr> {
        match (self.address, &self.node) {
            (Some(address), None) => Some(address),
            (None, Some(node)) => {
                let found = nodes.get(node).copied();
                if found.is_none() {
                    let known: Vec<&str> = nodes.keys().map(String::as_str).collect();
                    let hint = if known.is_empty() {
                        "`node` refers to a node of a Cluster spec; in a Host spec give `address`".to_string()
                    } else {
                        format!("known nodes: {}", known.join(", "))
                    };
                    problems.add(&format!("{path}.node"), format!("no node named `{node}`"), &hint);
                }
                found
            }
            (Some(_), Some(_)) => {
                problems.add(path, "a real server has `address` or `node`, not both".into(), "keep one of them");
                None
            }
            (None, None) => {
                problems.add(
                    path,
                    "real server has no `address`".into(),
                    "add the real server's own routable address (not a tunnel-interior one)",
                );
                None
            }
        }
    }

    fn to_model(
        &self,
        path: &str,
        service_family: Family,
        default_port: u16,
        nodes: &BTreeMap<String, IpAddr>,
        problems: &mut Problems,
    ) -> Option<Destination> {
        let before = problems.len();
        let method = self.method.unwrap_or_default();
        let address = self.resolve_address(path, nodes, problems)?;
        if Family::of(&address) != service_family && method != ForwardingMethod::Tunnel {
            problems.add(
                &format!("{path}.address"),
                format!(
                    "{} real server {} on an {:?} service needs `method: tunnel`, not `{}`",
                    if service_family == Family::Ipv4 { "IPv6" } else { "IPv4" },
                    address,
                    service_family,
                    method.name()
                ),
                "only tunnel mode can carry one family inside the other; use an address of the service's family",
            );
        }
        let port = match self.port {
            Some(value) => port_in_range(value, &format!("{path}.port"), true, problems),
            None => Some(default_port),
        };
        let weight = non_negative_int(
            self.weight.unwrap_or(DEFAULT_WEIGHT),
            &format!("{path}.weight"),
            "weight",
            "weights are 0 (drain: no new connections) or positive",
            problems,
        );
        let threshold_hint = "0 means no limit";
        let upper = non_negative_int(
            self.upper_threshold.unwrap_or(0),
            &format!("{path}.upperThreshold"),
            "upperThreshold",
            threshold_hint,
            problems,
        );
        let lower = non_negative_int(
            self.lower_threshold.unwrap_or(0),
            &format!("{path}.lowerThreshold"),
            "lowerThreshold",
            threshold_hint,
            problems,
        );
        if let (Some(upper), Some(lower)) = (upper, lower) {
            if upper > 0 && lower > upper {
                problems.add(
                    &format!("{path}.lowerThreshold"),
                    format!("lowerThreshold {lower} is above upperThreshold {upper}"),
                    "the server is resumed below lowerThreshold after passing upperThreshold; keep lower ≤ upper",
                );
            }
        }
        let tunnel = self.tunnel_model(path, method, problems);
        if problems.len() > before {
            return None;
        }
        Some(Destination {
            address,
            port: port?,
            method,
            weight: weight?,
            upper_threshold: upper?,
            lower_threshold: lower?,
            tunnel: tunnel?,
        })
    }

    fn tunnel_model(
        &self,
        path: &str,
        method: ForwardingMethod,
        problems: &mut Problems,
    ) -> Option<TunnelEncapsulation> {
        let Some(spec) = &self.tunnel else {
            return Some(TunnelEncapsulation::default());
        };
        let tunnel_path = format!("{path}.tunnel");
        if method != ForwardingMethod::Tunnel {
            problems.add(
                &tunnel_path,
                format!("`tunnel` applies to `method: tunnel`, not `{}`", method.name()),
                "remove `tunnel` or set `method: tunnel`",
            );
            return None;
        }
        let checksum = spec.checksum.unwrap_or_default();
        let checksum_allowed = match spec.kind {
            TunnelType::Ipip => checksum == TunnelChecksum::None,
            TunnelType::Gre => checksum != TunnelChecksum::Remcsum,
            TunnelType::Gue => true,
        };
        if !checksum_allowed {
            problems.add(
                &format!("{tunnel_path}.checksum"),
                format!("checksum `{}` does not apply to {}", checksum.name(), spec.kind.name()),
                "ipip has no checksum option; GRE takes `csum`; `remcsum` is GUE only",
            );
            return None;
        }
        let flags = checksum.flags();
        match (spec.kind, spec.port) {
            (TunnelType::Gue, None) => {
                problems.add(
                    &tunnel_path,
                    "GUE encapsulation needs `port`".into(),
                    "the UDP port the real server's fou/GUE receiver listens on, e.g. 6080",
                );
                None
            }
            (TunnelType::Gue, Some(port)) => {
                let port = port_in_range(port, &format!("{tunnel_path}.port"), false, problems)?;
                Some(TunnelEncapsulation { kind: TunnelType::Gue, port, flags })
            }
            (kind, Some(_)) => {
                problems.add(
                    &format!("{tunnel_path}.port"),
                    format!("`port` applies to GUE, not {}", kind.name()),
                    "remove `port`",
                );
                None
            }
            (kind, None) => Some(TunnelEncapsulation { kind, port: 0, flags }),
        }
    }
}
