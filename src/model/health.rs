//! Health checks as plain data: what the spec asks to check and how (the policy), and what the
//! agent found (the records it shares with `plan`, `apply` and `status`).
//!
//! The agent writes [`HealthRecords`] to /run/lvs-converge/health-<netns>.json; the planner
//! overlays them on the desired IPVS table. Nothing here performs I/O.

use std::collections::BTreeMap;
use std::fmt;
use std::net::IpAddr;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::ipvs::{Destination, DestinationKey, Family, ForwardingMethod, ServiceKey, TunnelEncapsulation};

/// First firewall mark of the hidden check-path services: "LV" in the high half, so that a
/// mark an operator chose by hand is unlikely to fall in the range.
pub const HEALTH_MARK_FIRST: u32 = 0x4C56_0000;
/// Last firewall mark of the hidden check-path services.
pub const HEALTH_MARK_LAST: u32 = 0x4C56_FFFF;

/// Whether a firewall-mark service is one of the agent's hidden check-path services.
pub fn is_health_mark(mark: u32) -> bool {
    (HEALTH_MARK_FIRST..=HEALTH_MARK_LAST).contains(&mark)
}

/// Whether a service is one of the hidden check-path services (any family).
pub fn is_health_service(service: &ServiceKey) -> bool {
    matches!(service, ServiceKey::FirewallMark { fwmark, .. } if is_health_mark(*fwmark))
}

/// Everything the spec says about health checks, for one host.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, Default)]
pub struct HealthPolicy {
    /// Services with at least one checked real server, a quorum or `startDrained`.
    #[serde(default, with = "entries", skip_serializing_if = "BTreeMap::is_empty")]
    pub services: BTreeMap<ServiceKey, ServiceHealth>,
    /// The firewall mark of each tunnel path a `via: tunnel` check travels.
    #[serde(default, with = "entries", skip_serializing_if = "BTreeMap::is_empty")]
    pub paths: BTreeMap<CheckPathKey, u32>,
}

impl HealthPolicy {
    pub fn is_empty(&self) -> bool {
        self.services.is_empty() && self.paths.is_empty()
    }

    /// How many real servers of all services are checked.
    pub fn check_count(&self) -> usize {
        self.services.values().map(|service| service.checks.len()).sum()
    }

    /// The firewall mark a `via: tunnel` check of `destination` (a real server of `service`)
    /// sets on its socket; `None` when it travels no tunnel path.
    pub fn path_mark(&self, service: &ServiceKey, destination: &Destination) -> Option<u32> {
        CheckPathKey::of(service, destination).and_then(|key| self.paths.get(&key).copied())
    }
}

/// The checks of one service and what happens when too few real servers pass them.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, Default)]
pub struct ServiceHealth {
    /// The check of each real server, the service's merged with the real server's overrides;
    /// real servers with `healthCheck: false` (or no check at all) are absent.
    #[serde(default, with = "entries", skip_serializing_if = "BTreeMap::is_empty")]
    pub checks: BTreeMap<DestinationKey, HealthCheck>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quorum: Option<Quorum>,
    /// keepalived's `alpha`: a real server with no verdict yet is kept drained.
    #[serde(default)]
    pub start_drained: bool,
}

/// One real server's check, with every default filled in.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct HealthCheck {
    pub kind: CheckKind,
    /// The port checked (on the VIP through the tunnel, on the real server's address directly).
    pub port: u16,
    pub interval_ms: u32,
    pub timeout_ms: u32,
    /// Consecutive passes that make an unhealthy real server healthy.
    pub rise: u32,
    /// Consecutive failures that make a healthy real server unhealthy.
    pub fall: u32,
    pub on_failure: OnFailure,
    pub via: CheckVia,
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CheckKind {
    /// A TCP connect.
    Tcp,
    /// An HTTP GET whose status lies in `status_min..=status_max` and whose body contains
    /// `body`, if given.
    Http { path: String, status_min: u16, status_max: u16, body: Option<String>, host: Option<String> },
    /// A command (argv, no shell): exit 0 healthy; with `dynamic_weight`, exit 2..=255 is
    /// healthy with weight `exit - 2`.
    Exec { command: Vec<String>, dynamic_weight: bool },
}

impl CheckKind {
    pub fn name(&self) -> &'static str {
        match self {
            CheckKind::Tcp => "tcp",
            CheckKind::Http { .. } => "http",
            CheckKind::Exec { .. } => "exec",
        }
    }
}

/// What an unhealthy real server becomes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema, Default)]
#[serde(rename_all = "snake_case")]
pub enum OnFailure {
    /// Weight 0: no new connections, existing ones continue.
    #[default]
    Drain,
    /// Taken out of the service.
    Remove,
}

/// Which way a check travels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema, Default)]
#[serde(rename_all = "snake_case")]
pub enum CheckVia {
    /// To the VIP, encapsulated to the real server exactly like client traffic.
    #[default]
    Tunnel,
    /// To the real server's own address.
    Direct,
}

/// When fewer than `min_healthy` real servers are healthy, the sorry server is added.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Quorum {
    pub min_healthy: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sorry_server: Option<Destination>,
}

/// One hidden firewall-mark IPVS service per distinct tunnel path: the real server's address,
/// the encapsulation its destination uses (type, port, checksum) and the family of the
/// packets inside (the VIP's: an IPv6 VIP may travel to an IPv4 real server).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct CheckPathKey {
    pub address: IpAddr,
    pub tunnel: TunnelEncapsulation,
    pub family: Family,
}

impl CheckPathKey {
    /// The tunnel path client traffic of `service` takes to `destination`; `None` for a
    /// destination that is not tunnelled.
    pub fn of(service: &ServiceKey, destination: &Destination) -> Option<CheckPathKey> {
        (destination.method == ForwardingMethod::Tunnel).then_some(CheckPathKey {
            address: destination.address,
            tunnel: destination.tunnel,
            family: service.family(),
        })
    }
}

impl fmt::Display for CheckPathKey {
    /// `198.51.100.11 ipip (ipv4)`, `198.51.100.11 gue:6080 csum (ipv6)`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.address, self.tunnel.kind.name())?;
        if self.tunnel.port != 0 {
            write!(f, ":{}", self.tunnel.port)?;
        }
        if self.tunnel.flags != 0 {
            write!(f, " {}", super::ipvs::TunnelChecksum::from_flags(self.tunnel.flags).name())?;
        }
        write!(f, " ({})", self.family.name())
    }
}

/// What the agent found, shared with plan/apply/status through
/// /run/lvs-converge/health-<netns>.json. Times are Unix seconds.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub struct HealthRecords {
    pub agent_pid: u32,
    pub updated_at: u64,
    /// Readers ignore the records after this: the agent that wrote them is gone.
    pub valid_until: u64,
    #[serde(default)]
    pub servers: Vec<HealthRecord>,
}

/// The health of one real server of one service.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub struct HealthRecord {
    pub service: ServiceKey,
    pub destination: DestinationKey,
    pub status: HealthStatus,
    /// When `status` began.
    pub since: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_check: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_outcome: Option<CheckOutcome>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latency_ms: Option<u32>,
    /// The weight an exec check with a dynamic weight asked for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub weight: Option<u32>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HealthStatus {
    Healthy,
    Unhealthy,
    /// No verdict yet: fewer checks than rise (or fall) since the agent started.
    Starting,
}

/// The result of one check.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CheckOutcome {
    Passed,
    Refused,
    TimedOut,
    /// An HTTP status outside the expected range.
    HttpStatus(u16),
    BodyMismatch,
    /// A command's exit status other than a pass.
    Exit(i32),
    /// A command killed by this signal.
    Signal(i32),
    /// Any other error, as the system words it.
    Failed(String),
}

/// Maps with structured keys as JSON lists of `[key, value]` pairs (JSON keys are strings).
mod entries {
    use std::collections::BTreeMap;

    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    pub fn serialize<K, V, S>(map: &BTreeMap<K, V>, serializer: S) -> Result<S::Ok, S::Error>
    where
        K: Serialize,
        V: Serialize,
        S: Serializer,
    {
        serializer.collect_seq(map.iter())
    }

    pub fn deserialize<'de, K, V, D>(deserializer: D) -> Result<BTreeMap<K, V>, D::Error>
    where
        K: Deserialize<'de> + Ord,
        V: Deserialize<'de>,
        D: Deserializer<'de>,
    {
        Ok(Vec::<(K, V)>::deserialize(deserializer)?.into_iter().collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::ipvs::{Protocol, TunnelType};

    fn vip_service() -> ServiceKey {
        ServiceKey::Address { protocol: Protocol::Tcp, address: "203.0.113.100".parse().unwrap(), port: 80 }
    }

    #[test]
    fn health_marks_are_the_reserved_range_only() {
        assert!(is_health_mark(HEALTH_MARK_FIRST) && is_health_mark(HEALTH_MARK_LAST));
        assert!(!is_health_mark(HEALTH_MARK_FIRST - 1) && !is_health_mark(HEALTH_MARK_LAST + 1));
        assert!(!is_health_service(&vip_service()));
        assert!(is_health_service(&ServiceKey::FirewallMark { fwmark: HEALTH_MARK_FIRST, family: Family::Ipv6 }));
    }

    /// The records file is read by other processes (and people): its words are part of the
    /// interface.
    #[test]
    fn records_are_snake_case_json() {
        let records = HealthRecords {
            agent_pid: 42,
            updated_at: 1000,
            valid_until: 1100,
            servers: vec![HealthRecord {
                service: vip_service(),
                destination: DestinationKey { address: "198.51.100.11".parse().unwrap(), port: 80 },
                status: HealthStatus::Unhealthy,
                since: 990,
                last_check: Some(999),
                last_outcome: Some(CheckOutcome::HttpStatus(503)),
                latency_ms: Some(3),
                weight: None,
            }],
        };
        let json = serde_json::to_string(&records).unwrap();
        assert_eq!(
            json,
            r#"{"agent_pid":42,"updated_at":1000,"valid_until":1100,"servers":[{"service":{"protocol":"tcp","address":"203.0.113.100","port":80},"destination":{"address":"198.51.100.11","port":80},"status":"unhealthy","since":990,"last_check":999,"last_outcome":{"http_status":503},"latency_ms":3}]}"#
        );
        assert_eq!(serde_json::from_str::<HealthRecords>(&json).unwrap(), records);
        assert_eq!(serde_json::to_string(&CheckOutcome::TimedOut).unwrap(), r#""timed_out""#);
    }

    #[test]
    fn a_policy_round_trips_through_json() {
        let destination = Destination::tunnelled("198.51.100.11", TunnelEncapsulation::default());
        let check = HealthCheck {
            kind: CheckKind::Http { path: "/".into(), status_min: 200, status_max: 399, body: None, host: None },
            port: 80,
            interval_ms: 5000,
            timeout_ms: 2000,
            rise: 2,
            fall: 3,
            on_failure: OnFailure::Drain,
            via: CheckVia::Tunnel,
        };
        let path = CheckPathKey::of(&vip_service(), &destination).unwrap();
        let policy = HealthPolicy {
            services: BTreeMap::from([(
                vip_service(),
                ServiceHealth {
                    checks: BTreeMap::from([(DestinationKey { address: destination.address, port: 80 }, check)]),
                    quorum: Some(Quorum { min_healthy: 1, sorry_server: None }),
                    start_drained: true,
                },
            )]),
            paths: BTreeMap::from([(path, HEALTH_MARK_FIRST + 7)]),
        };
        let json = serde_json::to_string(&policy).unwrap();
        assert_eq!(serde_json::from_str::<HealthPolicy>(&json).unwrap(), policy);
        assert_eq!(policy.path_mark(&vip_service(), &destination), Some(HEALTH_MARK_FIRST + 7));
        assert_eq!(policy.check_count(), 1);
    }

    #[test]
    fn a_tunnel_path_is_named_by_address_encapsulation_and_family() {
        let gue = TunnelEncapsulation { kind: TunnelType::Gue, port: 6080, flags: 1 };
        let destination = Destination::tunnelled("198.51.100.11", gue);
        let six = ServiceKey::Address { protocol: Protocol::Tcp, address: "2001:db8::100".parse().unwrap(), port: 80 };
        assert_eq!(CheckPathKey::of(&six, &destination).unwrap().to_string(), "198.51.100.11 gue:6080 csum (ipv6)");
        let direct = Destination { method: ForwardingMethod::Dr, ..destination };
        assert_eq!(CheckPathKey::of(&six, &direct), None);
    }
}
