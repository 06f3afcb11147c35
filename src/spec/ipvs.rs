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

use super::health::{self, CheckedRealServer, HealthCheckSpec, QuorumSpec, RealServerHealthSpec, ServiceHealthSpec};
use super::{schema, Problems};
use crate::model::duration::Seconds;
use crate::model::health::{is_health_mark, ServiceHealth, HEALTH_MARK_FIRST, HEALTH_MARK_LAST};
use crate::model::ipvs::{
    Destination, Family, ForwardingMethod, IpvsState, Persistence, Protocol, Scheduler, SchedulerFlag, Service,
    ServiceKey, ServiceSettings, Timeouts, TunnelChecksum, TunnelEncapsulation, TunnelType,
};
use crate::model::keyed::Keyed;
use crate::model::ownership::IpvsOwnership;

/// ipvsadm's persistence timeout when `-p` is given without a value.
pub const DEFAULT_PERSISTENCE_TIMEOUT: Seconds = Seconds(300);
/// ipvsadm's weight when `-w` is omitted.
pub const DEFAULT_WEIGHT: i64 = 1;
/// C's INT_MAX: ipvsadm reads thresholds up to it.
const INT_MAX: i64 = i32::MAX as i64;
/// ipvsadm's `-w` range (`string_to_number(optarg, 0, 65535)` in upstream ipvsadm.c up to
/// 1.31; Debian patches it to INT_MAX, but the spec must restore on every distro).
const IPVSADM_MAX_WEIGHT: i64 = 65535;
/// ipvsadm's `MAX_TIMEOUT` (31 days): the most `-p` and `--set` take.
const IPVSADM_MAX_TIMEOUT: i64 = 86400 * 31;
/// The largest timer tick rate Linux is built with (CONFIG_HZ_1000). Limits on values the
/// kernel multiplies by HZ are taken at this rate, so that they hold on every kernel.
const MAX_HZ: i64 = 1000;

/// A number the spec hands to the kernel: the range the kernel accepts (and keeps as
/// written), and where in the kernel that range comes from. One table, [`KERNEL_LIMITS`],
/// drives validation, the messages and the README's list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limit {
    /// The field as the spec names it.
    pub field: &'static str,
    pub min: i64,
    pub max: i64,
    /// Why the range is what it is, naming the kernel code.
    pub source: &'static str,
    pub hint: &'static str,
}

pub const SERVICE_PORT: Limit = Limit {
    field: "port",
    min: 0,
    max: 65535,
    source: "a 16-bit port; 0 is the all-ports service",
    hint: "use a TCP/UDP port number",
};
pub const REAL_SERVER_PORT: Limit = Limit {
    source: "a 16-bit port; 0 only on an all-ports or firewall-mark service",
    hint: "leave `port` out to use the service's port",
    ..SERVICE_PORT
};
pub const GUE_PORT: Limit = Limit {
    field: "tunnel port",
    min: 1,
    max: 65535,
    source: "ip_vs_add_dest() refuses GUE with tunnel port 0: EINVAL",
    hint: "the UDP port the real server's fou/GUE receiver listens on, e.g. 6080",
};
pub const FWMARK: Limit = Limit {
    field: "fwmark",
    min: 1,
    max: u32::MAX as i64,
    source: "a 32-bit mark; mark 0 means an address service to the kernel",
    hint: "use the mark your iptables/nftables rules set",
};
pub const WEIGHT: Limit = Limit {
    field: "weight",
    min: 0,
    max: IPVSADM_MAX_WEIGHT,
    source: "ipvsadm -R, which restores the persisted rules, reads -w up to 65535 (upstream and \
             RHEL; Debian patches it to INT_MAX): a rules file with more is refused at boot",
    hint: "weights are 0 (drain: no new connections) to 65535; scale them down keeping their ratios",
};
pub const UPPER_THRESHOLD: Limit = Limit {
    field: "upperThreshold",
    min: 0,
    max: INT_MAX,
    source: "ipvsadm -R, which restores the persisted rules, reads -x/-y up to INT_MAX",
    hint: "0 means no limit",
};
pub const LOWER_THRESHOLD: Limit = Limit { field: "lowerThreshold", ..UPPER_THRESHOLD };
pub const PERSISTENCE_TIMEOUT: Limit = Limit {
    field: "persistence timeout",
    min: 1,
    max: IPVSADM_MAX_TIMEOUT,
    source: "ipvsadm -R, which restores the persisted rules, reads -p up to 31 days (2678400s); \
             the kernel keeps timeout × HZ jiffies in 32 bits, which holds that at every HZ",
    hint: "at most 31 days (2678400s, `31d`); remove `persistence` to turn it off",
};
pub const CONNECTION_TIMEOUT: Limit = Limit {
    field: "timeout",
    min: 1,
    max: INT_MAX / MAX_HZ,
    source: "ip_vs_set_timeout() refuses more than INT_MAX/HZ seconds with EINVAL, 2147483s at \
             HZ=1000, and reads 0 as \"leave unchanged\"",
    hint: "at most 24 days (2147483s, `24d20h31m23s`); leave it out for the kernel's default",
};
pub const PREFIX_V4: Limit = Limit {
    field: "netmask",
    min: 0,
    max: 32,
    source: "an IPv4 prefix length",
    hint: "use a prefix length such as 24 (IPv4) or 64 (IPv6)",
};
pub const PREFIX_V6: Limit = Limit {
    field: "netmask",
    min: 1,
    max: 128,
    source: "ip_vs_add_service() refuses IPv6 prefix lengths outside 1-128: EINVAL",
    ..PREFIX_V4
};

/// Every range the spec checks for the kernel's sake.
pub const KERNEL_LIMITS: [Limit; 11] = [
    SERVICE_PORT,
    REAL_SERVER_PORT,
    GUE_PORT,
    FWMARK,
    WEIGHT,
    UPPER_THRESHOLD,
    LOWER_THRESHOLD,
    PERSISTENCE_TIMEOUT,
    CONNECTION_TIMEOUT,
    PREFIX_V4,
    PREFIX_V6,
];

impl Limit {
    /// `value` as the kernel takes it, or a problem at `path` naming the range and its source.
    pub fn check(&self, value: i64, path: &str, problems: &mut Problems) -> Option<u32> {
        if (self.min..=self.max).contains(&value) {
            return u32::try_from(value).ok();
        }
        problems.add(path, self.out_of_range(&value.to_string()), self.hint);
        None
    }

    /// `port 70000 is out of range 0-65535 (why)`; `value` as written, which may be too
    /// large for any integer type.
    pub fn out_of_range(&self, value: &str) -> String {
        format!("{} {value} is out of range {}-{} ({})", self.field, self.min, self.max, self.source)
    }
}

/// The kernel's range for the number at field `path` (`ipvs.services[0].realServers[1].port`),
/// if the spec checks one there. The netmask's depends on the service's family: not here.
pub fn limit_at(path: &str) -> Option<Limit> {
    let (parent, field) = path.rsplit_once('.')?;
    let parent_field = parent.rsplit('.').next().unwrap_or(parent);
    let in_list = |list: &str| parent_field.starts_with(list) && parent_field.ends_with(']');
    let limit = match field {
        "port" if parent_field == "tunnel" => GUE_PORT,
        "port" if in_list("realServers[") => REAL_SERVER_PORT,
        "port" if in_list("services[") => SERVICE_PORT,
        "fwmark" if in_list("services[") => FWMARK,
        "weight" if in_list("realServers[") => WEIGHT,
        "upperThreshold" if in_list("realServers[") => UPPER_THRESHOLD,
        "lowerThreshold" if in_list("realServers[") => LOWER_THRESHOLD,
        "timeout" if parent_field == "persistence" => PERSISTENCE_TIMEOUT,
        "tcp" | "tcpFin" | "udp" if parent_field == "timeouts" => CONNECTION_TIMEOUT,
        _ => return None,
    };
    Some(limit)
}

/// An address the kernel cannot use in some place, and why.
struct AddressRule {
    /// What the address is (`multicast`).
    kind: &'static str,
    matches: fn(&IpAddr) -> bool,
    /// The kernel refuses it as a real server: ip_vs_new_dest() wants an IPv4 address that
    /// inet_addr_type() calls unicast or local, or an IPv6 unicast one that is not link-local.
    real_server: bool,
    /// It cannot be a VIP: no packet is addressed to it, or IPVS ignores packets to it
    /// (ip_vs_in() handles only packets addressed to this host, not broadcast or multicast).
    vip: bool,
}

const ADDRESS_RULES: [AddressRule; 5] = [
    AddressRule {
        kind: "unspecified (0.0.0.0/8 or ::)",
        matches: |a| match a {
            IpAddr::V4(v4) => v4.octets()[0] == 0,
            IpAddr::V6(v6) => v6.is_unspecified(),
        },
        real_server: true,
        vip: true,
    },
    AddressRule {
        kind: "the broadcast address",
        matches: |a| matches!(a, IpAddr::V4(v4) if v4.is_broadcast()),
        real_server: true,
        vip: true,
    },
    AddressRule { kind: "multicast", matches: |a| a.is_multicast(), real_server: true, vip: true },
    AddressRule {
        kind: "IPv6 link-local",
        matches: |a| matches!(a, IpAddr::V6(v6) if v6.segments()[0] & 0xffc0 == 0xfe80),
        real_server: true,
        vip: false,
    },
    AddressRule {
        kind: "IPv4-mapped IPv6",
        matches: |a| matches!(a, IpAddr::V6(v6) if v6.to_ipv4_mapped().is_some()),
        real_server: true,
        vip: false,
    },
];

/// Why `address` cannot be a real server, if it cannot.
pub fn real_server_address_problem(address: &IpAddr) -> Option<String> {
    ADDRESS_RULES.iter().find(|rule| rule.real_server && (rule.matches)(address)).map(|rule| {
        format!(
            "real server {address} is {}: ip_vs_new_dest() refuses it with EINVAL (it takes unicast, \
             not link-local, addresses)",
            rule.kind
        )
    })
}

/// Why `address` cannot be a VIP, if it cannot.
pub fn vip_problem(address: &IpAddr) -> Option<String> {
    ADDRESS_RULES.iter().find(|rule| rule.vip && (rule.matches)(address)).map(|rule| {
        format!(
            "VIP {address} is {}: IPVS never sees a connection to it (ip_vs_in() handles only packets \
             addressed to this host)",
            rule.kind
        )
    })
}

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
    /// Established TCP connections; 1s to 2147483s (24d20h31m23s).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("minimum" = CONNECTION_TIMEOUT.min, "maximum" = CONNECTION_TIMEOUT.max))]
    pub tcp: Option<Seconds>,
    /// TCP connections after the FIN; 1s to 2147483s.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("minimum" = CONNECTION_TIMEOUT.min, "maximum" = CONNECTION_TIMEOUT.max))]
    pub tcp_fin: Option<Seconds>,
    /// UDP flows; 1s to 2147483s.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("minimum" = CONNECTION_TIMEOUT.min, "maximum" = CONNECTION_TIMEOUT.max))]
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
    /// How the agent checks the real servers; each real server may override fields (or say
    /// `healthCheck: false`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub health_check: Option<HealthCheckSpec>,
    /// With fewer healthy real servers than `minHealthy`, the sorry server is added.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quorum: Option<QuorumSpec>,
    /// A real server the agent has no verdict on yet stays drained until it passes its check
    /// (keepalived's `alpha`).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub start_drained: bool,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PersistenceSpec {
    /// Default 300s, as `ipvsadm -p`; 1s to 2678400s (31d), the most `ipvsadm -p` takes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("minimum" = PERSISTENCE_TIMEOUT.min, "maximum" = PERSISTENCE_TIMEOUT.max))]
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
    /// Default 1; 0 keeps existing connections but sends no new ones; at most 65535
    /// (`ipvsadm -w`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("minimum" = WEIGHT.min, "maximum" = WEIGHT.max))]
    pub weight: Option<i64>,
    /// Stop sending new connections above this many (0, the default: no limit).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0, max = INT_MAX))]
    pub upper_threshold: Option<i64>,
    /// Resume below this many (0, the default: no limit); at most `upperThreshold`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0, max = INT_MAX))]
    pub lower_threshold: Option<i64>,
    /// Encapsulation for `method: tunnel` (default ipip).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tunnel: Option<TunnelSpec>,
    /// Fields that override the service's health check, or `false`: not checked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub health_check: Option<RealServerHealthSpec>,
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
    /// Prefix length, if the mask is contiguous and of the family (its range is the
    /// family's [`Limit`]).
    fn prefix_for(self, family: Family) -> Result<u8, String> {
        match self {
            Netmask::Prefix(prefix) => Ok(prefix),
            Netmask::Mask(mask) => {
                if family == Family::Ipv6 {
                    return Err(format!("`{mask}` is an IPv4 mask but the service is IPv6"));
                }
                let bits = u32::from(mask);
                if bits.leading_ones() + bits.trailing_zeros() != 32 {
                    return Err(format!("`{mask}` is not a contiguous netmask"));
                }
                Ok(bits.leading_ones() as u8)
            }
        }
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
    /// With it, the health checks of the services that have them.
    pub fn to_model(
        &self,
        path: &str,
        nodes: &BTreeMap<String, IpAddr>,
        problems: &mut Problems,
    ) -> (IpvsState, BTreeMap<ServiceKey, ServiceHealth>) {
        let timeouts = self.timeouts.as_ref().and_then(|t| t.to_model(&format!("{path}.timeouts"), problems));
        let mut state = IpvsState { timeouts, ..IpvsState::default() };
        let mut health = BTreeMap::new();
        let mut first_declared: BTreeMap<_, String> = BTreeMap::new();
        for (index, service_spec) in self.services.iter().enumerate() {
            let service_path = format!("{path}.services[{index}]");
            let Some((service, service_health)) = service_spec.to_model(&service_path, nodes, problems) else {
                continue;
            };
            if let Some(first) = first_declared.get(&service.key) {
                problems.add_repeated(
                    &service_path,
                    first,
                    format!("service {} is declared twice", service.key),
                    "merge the two entries' realServers into one service",
                );
                continue;
            }
            first_declared.insert(service.key, service_path);
            if let Some(service_health) = service_health {
                health.insert(service.key, service_health);
            }
            state.services.insert(service.key(), service);
        }
        (state, health)
    }
}

impl TimeoutsSpec {
    fn to_model(&self, path: &str, problems: &mut Problems) -> Option<Timeouts> {
        let defaults = Timeouts::KERNEL_DEFAULTS;
        let mut timeout = |value: Option<Seconds>, field: &str, default: u32| match value {
            None => Some(default),
            Some(seconds) => CONNECTION_TIMEOUT.check(i64::from(seconds.0), &format!("{path}.{field}"), problems),
        };
        let tcp = timeout(self.tcp, "tcp", defaults.tcp);
        let tcp_fin = timeout(self.tcp_fin, "tcpFin", defaults.tcp_fin);
        let udp = timeout(self.udp, "udp", defaults.udp);
        Some(Timeouts { tcp: tcp?, tcp_fin: tcp_fin?, udp: udp? })
    }
}

/// A port the limit allows, as the kernel's 16 bits.
fn port_number(limit: &Limit, value: i64, path: &str, problems: &mut Problems) -> Option<u16> {
    limit.check(value, path, problems).and_then(|port| u16::try_from(port).ok())
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
                let fwmark = FWMARK.check(mark, &format!("{path}.fwmark"), problems)?;
                if is_health_mark(fwmark) {
                    problems.add(
                        &format!("{path}.fwmark"),
                        format!(
                            "fwmark {mark} ({mark:#x}) is in the range lvs-converge keeps for its health-check \
                             services ({HEALTH_MARK_FIRST:#x}-{HEALTH_MARK_LAST:#x})"
                        ),
                        "use a mark outside that range in your firewall rules and here",
                    );
                    return None;
                }
                Some(ServiceKey::FirewallMark { fwmark, family: self.family.unwrap_or(Family::Ipv4) })
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
                if let Some(message) = vip_problem(&address) {
                    problems.add(&format!("{path}.address"), message, "use the address clients connect to");
                    return None;
                }
                let port = port_number(&SERVICE_PORT, port_value, &format!("{path}.port"), problems)?;
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

    fn to_model(
        &self,
        path: &str,
        nodes: &BTreeMap<String, IpAddr>,
        problems: &mut Problems,
    ) -> Option<(Service, Option<ServiceHealth>)> {
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
        let mut first_listed: BTreeMap<_, String> = BTreeMap::new();
        for (index, real_server) in self.real_servers.iter().enumerate() {
            let dest_path = format!("{path}.realServers[{index}]");
            if let Some(dest) = real_server.to_model(&dest_path, family, default_port, nodes, problems) {
                if let Some(first) = first_listed.get(&dest.key()) {
                    problems.add_repeated(
                        &dest_path,
                        first,
                        format!("real server {} is listed twice in this service", dest.key()),
                        "remove the duplicate entry",
                    );
                    continue;
                }
                first_listed.insert(dest.key(), dest_path);
                destinations.push((index, dest));
            }
        }
        let checked: Vec<CheckedRealServer> = destinations
            .iter()
            .map(|(index, destination)| CheckedRealServer {
                path: format!("{path}.realServers[{index}]"),
                health_check: self.real_servers[*index].health_check.as_ref(),
                destination,
            })
            .collect();
        let health_spec = ServiceHealthSpec {
            path,
            check: self.health_check.as_ref(),
            quorum: self.quorum.as_ref(),
            start_drained: self.start_drained,
            firewall_mark: self.fwmark.is_some(),
        };
        let service_health = health::service_health(&health_spec, &checked, family, default_port, nodes, problems);
        if problems.len() > before {
            return None;
        }
        let service = Service {
            key: key?,
            settings: ServiceSettings {
                scheduler,
                scheduler_flags: flags.into_iter().collect(),
                persistence,
                one_packet: self.one_packet,
            },
            destinations: destinations.into_iter().map(|(_, d)| (d.key(), d)).collect(),
        };
        Some((service, service_health))
    }
}

impl PersistenceSpec {
    fn to_model(&self, path: &str, family: Family, problems: &mut Problems) -> Option<Persistence> {
        let timeout = self.timeout.unwrap_or(DEFAULT_PERSISTENCE_TIMEOUT);
        let timeout = PERSISTENCE_TIMEOUT.check(i64::from(timeout.0), &format!("{path}.timeout"), problems)?;
        let netmask_path = format!("{path}.netmask");
        let prefix_length = match self.netmask.map(|m| m.prefix_for(family)) {
            None => family.max_prefix(),
            Some(Ok(prefix)) => {
                let limit = if family == Family::Ipv6 { PREFIX_V6 } else { PREFIX_V4 };
                let prefix = limit.check(i64::from(prefix), &netmask_path, problems)?;
                u8::try_from(prefix).ok()?
            }
            Some(Err(message)) => {
                problems.add(&netmask_path, message, PREFIX_V4.hint);
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
        Some(Persistence { timeout, prefix_length, engine: self.engine.clone() })
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

    pub(super) fn to_model(
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
        if let Some(message) = real_server_address_problem(&address) {
            problems.add(&format!("{path}.address"), message, "use the real server's own unicast address");
        }
        let port_path = format!("{path}.port");
        let port = match self.port {
            // The kernel sends to the VIP's port when the real server's is 0
            // (ip_vs_schedule), and ipvsadm -R rewrites a tunnel or dr real server's port to
            // the service's: 0 would be a second name for the service's port.
            Some(0) if default_port != 0 => {
                problems.add(
                    &port_path,
                    format!("port 0 on a real server of a port-{default_port} service"),
                    &format!("the kernel forwards to the service's port anyway: leave `port` out (it defaults to {default_port}), or write {default_port}"),
                );
                None
            }
            Some(value) => port_number(&REAL_SERVER_PORT, value, &port_path, problems),
            None => Some(default_port),
        };
        let weight = WEIGHT.check(self.weight.unwrap_or(DEFAULT_WEIGHT), &format!("{path}.weight"), problems);
        let upper =
            UPPER_THRESHOLD.check(self.upper_threshold.unwrap_or(0), &format!("{path}.upperThreshold"), problems);
        let lower =
            LOWER_THRESHOLD.check(self.lower_threshold.unwrap_or(0), &format!("{path}.lowerThreshold"), problems);
        if let (Some(upper), Some(lower)) = (upper, lower) {
            if lower > upper {
                problems.add(
                    &format!("{path}.lowerThreshold"),
                    format!(
                        "lowerThreshold {lower} is above upperThreshold {upper} (ip_vs_add_dest() refuses it with \
                         ERANGE, also when upperThreshold is 0, no limit)"
                    ),
                    "keep lowerThreshold ≤ upperThreshold, or leave lowerThreshold out",
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
                let port = port_number(&GUE_PORT, port, &format!("{tunnel_path}.port"), problems)?;
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
