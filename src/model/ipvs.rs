//! The IPVS part of host state: virtual services, their real servers and the global
//! connection timeouts. The same types describe what the spec wants and what the kernel has,
//! so that diffing is plain comparison.

use std::fmt;
use std::net::IpAddr;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::keyed::{Keyed, KeyedMap};

/// Transport protocol of an address:port virtual service.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Protocol {
    Tcp,
    Udp,
    Sctp,
}

impl Protocol {
    pub const ALL: [Protocol; 3] = [Protocol::Tcp, Protocol::Udp, Protocol::Sctp];

    /// IANA protocol number, as IPVS stores it.
    pub fn number(self) -> u16 {
        match self {
            Protocol::Tcp => 6,
            Protocol::Udp => 17,
            Protocol::Sctp => 132,
        }
    }

    pub fn from_number(number: u16) -> Option<Self> {
        Self::ALL.into_iter().find(|p| p.number() == number)
    }

    pub fn name(self) -> &'static str {
        match self {
            Protocol::Tcp => "tcp",
            Protocol::Udp => "udp",
            Protocol::Sctp => "sctp",
        }
    }
}

/// Address family. Firewall-mark services carry one explicitly; address services take it
/// from their address.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Family {
    Ipv4,
    Ipv6,
}

impl Family {
    /// The word snapshots and object texts use (`ipv4`).
    pub fn name(self) -> &'static str {
        match self {
            Family::Ipv4 => "ipv4",
            Family::Ipv6 => "ipv6",
        }
    }

    pub fn of(address: &IpAddr) -> Self {
        match address {
            IpAddr::V4(_) => Family::Ipv4,
            IpAddr::V6(_) => Family::Ipv6,
        }
    }

    /// Longest prefix of this family: the "one client, one real server" persistence mask.
    pub fn max_prefix(self) -> u8 {
        match self {
            Family::Ipv4 => 32,
            Family::Ipv6 => 128,
        }
    }
}

/// What identifies a virtual service to the kernel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(untagged)]
pub enum ServiceKey {
    Address { protocol: Protocol, address: IpAddr, port: u16 },
    FirewallMark { fwmark: u32, family: Family },
}

impl ServiceKey {
    /// The VIP of an address service (firewall-mark services have none).
    pub fn address(&self) -> Option<IpAddr> {
        match self {
            ServiceKey::Address { address, .. } => Some(*address),
            ServiceKey::FirewallMark { .. } => None,
        }
    }

    pub fn family(&self) -> Family {
        match self {
            ServiceKey::Address { address, .. } => Family::of(address),
            ServiceKey::FirewallMark { family, .. } => *family,
        }
    }
}

impl fmt::Display for ServiceKey {
    /// `tcp 203.0.113.100:80`, `udp [2001:db8::1]:53`, `fwmark 1 (ipv4)`: the way
    /// ipvsadm users name services.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ServiceKey::Address { protocol, address, port } => {
                write!(f, "{} {}", protocol.name(), SocketText(*address, *port))
            }
            ServiceKey::FirewallMark { fwmark, family } => {
                write!(f, "fwmark {fwmark} ({})", family.name())
            }
        }
    }
}

/// `addr:port` with IPv6 addresses bracketed.
pub struct SocketText(pub IpAddr, pub u16);

impl fmt::Display for SocketText {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            IpAddr::V4(a) => write!(f, "{a}:{}", self.1),
            IpAddr::V6(a) => write!(f, "[{a}]:{}", self.1),
        }
    }
}

/// IPVS scheduling algorithms known to the Linux kernel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Scheduler {
    Rr,
    Wrr,
    Lc,
    Wlc,
    Lblc,
    Lblcr,
    Dh,
    Sh,
    Sed,
    Nq,
    Fo,
    Ovf,
    Mh,
    Twos,
}

impl Scheduler {
    pub const ALL: [Scheduler; 14] = [
        Scheduler::Rr,
        Scheduler::Wrr,
        Scheduler::Lc,
        Scheduler::Wlc,
        Scheduler::Lblc,
        Scheduler::Lblcr,
        Scheduler::Dh,
        Scheduler::Sh,
        Scheduler::Sed,
        Scheduler::Nq,
        Scheduler::Fo,
        Scheduler::Ovf,
        Scheduler::Mh,
        Scheduler::Twos,
    ];

    /// The name the kernel and ipvsadm use (`-s NAME`).
    pub fn name(self) -> &'static str {
        match self {
            Scheduler::Rr => "rr",
            Scheduler::Wrr => "wrr",
            Scheduler::Lc => "lc",
            Scheduler::Wlc => "wlc",
            Scheduler::Lblc => "lblc",
            Scheduler::Lblcr => "lblcr",
            Scheduler::Dh => "dh",
            Scheduler::Sh => "sh",
            Scheduler::Sed => "sed",
            Scheduler::Nq => "nq",
            Scheduler::Fo => "fo",
            Scheduler::Ovf => "ovf",
            Scheduler::Mh => "mh",
            Scheduler::Twos => "twos",
        }
    }

    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.name() == name)
    }

    /// The kernel module that implements this scheduler.
    pub fn module(self) -> String {
        format!("ip_vs_{}", self.name())
    }
}

impl Default for Scheduler {
    /// ipvsadm's default when `-s` is omitted.
    fn default() -> Self {
        Scheduler::Wlc
    }
}

/// Scheduler-specific flags (`-b` in ipvsadm). The kernel stores them as generic
/// SCHED1/SCHED2 bits whose meaning depends on the scheduler.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema)]
pub enum SchedulerFlag {
    #[serde(rename = "sh-fallback")]
    ShFallback,
    #[serde(rename = "sh-port")]
    ShPort,
    #[serde(rename = "mh-fallback")]
    MhFallback,
    #[serde(rename = "mh-port")]
    MhPort,
}

impl SchedulerFlag {
    pub const ALL: [SchedulerFlag; 4] =
        [SchedulerFlag::ShFallback, SchedulerFlag::ShPort, SchedulerFlag::MhFallback, SchedulerFlag::MhPort];

    pub fn name(self) -> &'static str {
        match self {
            SchedulerFlag::ShFallback => "sh-fallback",
            SchedulerFlag::ShPort => "sh-port",
            SchedulerFlag::MhFallback => "mh-fallback",
            SchedulerFlag::MhPort => "mh-port",
        }
    }

    /// The scheduler this flag belongs to.
    pub fn scheduler(self) -> Scheduler {
        match self {
            SchedulerFlag::ShFallback | SchedulerFlag::ShPort => Scheduler::Sh,
            SchedulerFlag::MhFallback | SchedulerFlag::MhPort => Scheduler::Mh,
        }
    }

    /// IP_VS_SVC_F_SCHED1 (fallback) or IP_VS_SVC_F_SCHED2 (port).
    pub fn kernel_bit(self) -> u32 {
        match self {
            SchedulerFlag::ShFallback | SchedulerFlag::MhFallback => 0x08,
            SchedulerFlag::ShPort | SchedulerFlag::MhPort => 0x10,
        }
    }
}

/// Client affinity: connections from one client (network) go to the same real server for
/// `timeout` seconds after the last one ends (`ipvsadm -p TIMEOUT -M NETMASK`).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Persistence {
    /// Seconds.
    pub timeout: u32,
    /// Client network prefix length that shares affinity: 32 (IPv4) / 128 (IPv6) means one
    /// client address.
    pub prefix_length: u8,
    /// Persistence engine (`--pe`), e.g. `sip`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub engine: Option<String>,
}

/// A virtual service and its real servers.
// No deny_unknown_fields: serde cannot combine it with the flattened key. Snapshots are
// machine-written; the spec layer is where strictness matters.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Service {
    #[serde(flatten)]
    pub key: ServiceKey,
    #[serde(flatten)]
    pub settings: ServiceSettings,
    #[serde(default, with = "super::keyed::as_list")]
    pub destinations: KeyedMap<Destination>,
}

impl Keyed for Service {
    type Key = ServiceKey;
    fn key(&self) -> ServiceKey {
        self.key
    }
}

/// The fields of a service that can be changed in place.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ServiceSettings {
    pub scheduler: Scheduler,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub scheduler_flags: Vec<SchedulerFlag>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub persistence: Option<Persistence>,
    #[serde(default, skip_serializing_if = "is_false")]
    pub one_packet: bool,
}

fn is_false(value: &bool) -> bool {
    !*value
}

/// How IPVS hands a connection to a real server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema, Default)]
#[serde(rename_all = "lowercase")]
pub enum ForwardingMethod {
    /// IP-in-IP (or GUE/GRE) encapsulation: LVS-TUN, this tool's reason to exist.
    #[default]
    Tunnel,
    /// Direct routing: rewrite the MAC, the real server must share the segment.
    Dr,
    /// NAT: replies must flow back through the director.
    Masq,
}

impl ForwardingMethod {
    /// IP_VS_CONN_F_* forwarding value.
    pub fn kernel_value(self) -> u32 {
        match self {
            ForwardingMethod::Masq => 0,
            ForwardingMethod::Tunnel => 2,
            ForwardingMethod::Dr => 3,
        }
    }

    pub fn from_kernel_value(value: u32) -> Option<Self> {
        match value & 0x7 {
            0 => Some(ForwardingMethod::Masq),
            2 => Some(ForwardingMethod::Tunnel),
            3 => Some(ForwardingMethod::Dr),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            ForwardingMethod::Tunnel => "tunnel",
            ForwardingMethod::Dr => "dr",
            ForwardingMethod::Masq => "masq",
        }
    }
}

/// Encapsulation a tunnel-mode destination is sent with (`--tun-type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema, Default)]
#[serde(rename_all = "lowercase")]
pub enum TunnelType {
    #[default]
    Ipip,
    Gue,
    Gre,
}

impl TunnelType {
    pub fn kernel_value(self) -> u8 {
        match self {
            TunnelType::Ipip => 0,
            TunnelType::Gue => 1,
            TunnelType::Gre => 2,
        }
    }

    pub fn from_kernel_value(value: u8) -> Option<Self> {
        match value {
            0 => Some(TunnelType::Ipip),
            1 => Some(TunnelType::Gue),
            2 => Some(TunnelType::Gre),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            TunnelType::Ipip => "ipip",
            TunnelType::Gue => "gue",
            TunnelType::Gre => "gre",
        }
    }
}

/// Identity of a real server inside its service.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct DestinationKey {
    pub address: IpAddr,
    pub port: u16,
}

impl fmt::Display for DestinationKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        SocketText(self.address, self.port).fmt(f)
    }
}

/// A real server of a virtual service.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Destination {
    pub address: IpAddr,
    pub port: u16,
    pub method: ForwardingMethod,
    /// 0 is meaningful: no new connections, existing ones continue (drain).
    pub weight: u32,
    /// Stop sending new connections above this many (0 = no limit).
    #[serde(default)]
    pub upper_threshold: u32,
    /// Resume below this many (0 = no limit).
    #[serde(default)]
    pub lower_threshold: u32,
    /// Encapsulation for `method: tunnel`; the kernel ignores it otherwise, so it is kept at
    /// its default for other methods to keep comparisons meaningful.
    #[serde(default, skip_serializing_if = "is_default_tunnel")]
    pub tunnel: TunnelEncapsulation,
}

#[cfg(test)]
impl Destination {
    /// The tests' usual tunnel real server: port 80, weight 1, no thresholds.
    pub fn tunnelled(address: &str, tunnel: TunnelEncapsulation) -> Destination {
        Destination {
            address: address.parse().expect("an IP address"),
            port: 80,
            method: ForwardingMethod::Tunnel,
            weight: 1,
            upper_threshold: 0,
            lower_threshold: 0,
            tunnel,
        }
    }
}

/// Tunnel encapsulation of a destination (`--tun-type`, `--tun-port`, `--tun-nocsum` …).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TunnelEncapsulation {
    #[serde(rename = "type")]
    pub kind: TunnelType,
    /// Destination UDP port for GUE; 0 otherwise.
    #[serde(default)]
    pub port: u16,
    /// IP_VS_TUNNEL_ENCAP_FLAG_* bits (checksum options) for GUE/GRE.
    #[serde(default)]
    pub flags: u16,
}

/// Outer checksum of GUE and GRE packets (`--tun-nocsum`, `--tun-csum`, `--tun-remcsum`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema, Default)]
#[serde(rename_all = "lowercase")]
pub enum TunnelChecksum {
    /// No checksum (the kernel's default).
    #[default]
    None,
    /// A checksum over the outer UDP (GUE) or GRE header.
    Csum,
    /// Remote checksum offload: the real server completes the inner checksum (GUE only).
    Remcsum,
}

impl TunnelChecksum {
    /// IP_VS_TUNNEL_ENCAP_FLAG_CSUM and _REMCSUM.
    pub fn flags(self) -> u16 {
        match self {
            TunnelChecksum::None => 0,
            TunnelChecksum::Csum => 1,
            TunnelChecksum::Remcsum => 2,
        }
    }

    /// The option the flags select; ipvsadm lets the last one win, CSUM before REMCSUM.
    pub fn from_flags(flags: u16) -> Self {
        if flags & 1 != 0 {
            TunnelChecksum::Csum
        } else if flags & 2 != 0 {
            TunnelChecksum::Remcsum
        } else {
            TunnelChecksum::None
        }
    }

    /// ipvsadm's option without `--tun-`: `nocsum`, `csum`, `remcsum`.
    pub fn option_name(self) -> &'static str {
        match self {
            TunnelChecksum::None => "nocsum",
            other => other.name(),
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            TunnelChecksum::None => "none",
            TunnelChecksum::Csum => "csum",
            TunnelChecksum::Remcsum => "remcsum",
        }
    }
}

fn is_default_tunnel(tunnel: &TunnelEncapsulation) -> bool {
    *tunnel == TunnelEncapsulation::default()
}

impl Keyed for Destination {
    type Key = DestinationKey;
    fn key(&self) -> DestinationKey {
        DestinationKey { address: self.address, port: self.port }
    }
}

/// Idle timeouts of IPVS connection entries, in seconds (`ipvsadm --set TCP TCPFIN UDP`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Timeouts {
    pub tcp: u32,
    pub tcp_fin: u32,
    pub udp: u32,
}

impl Timeouts {
    /// The kernel's defaults: 15 min established TCP, 2 min FIN_WAIT, 5 min UDP.
    pub const KERNEL_DEFAULTS: Timeouts = Timeouts { tcp: 900, tcp_fin: 120, udp: 300 };
}

/// The whole IPVS table of one network namespace.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct IpvsState {
    #[serde(default, with = "super::keyed::as_list")]
    pub services: KeyedMap<Service>,
    /// `None` in a desired state means "leave the timeouts alone".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeouts: Option<Timeouts>,
    /// Observed only: real servers with connections, and since when removed ones drain.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub activity: Vec<DestinationActivity>,
    /// Observed only: when the table was read (Unix seconds); drain deadlines count from it,
    /// so that planning stays a pure function of what was observed.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub observed_at: u64,
    /// Observed only: the health verdicts of the agent running in this namespace, when one
    /// is (its records are current); plan and apply hold the weights they call for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub health: Option<super::health::HealthRecords>,
}

fn is_zero(value: &u64) -> bool {
    *value == 0
}

/// Live connections of a real server (`ipvsadm -Ln`'s ActiveConn / InActConn).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DestinationActivity {
    pub service: ServiceKey,
    pub destination: DestinationKey,
    pub active: u32,
    pub inactive: u32,
    /// When lvs-converge set its weight to 0 to remove it (Unix seconds).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub draining_since: Option<u64>,
}

impl IpvsState {
    /// Connections that keep a removed real server alive: established ones for TCP and
    /// SCTP; for UDP every entry, which lives until the kernel's UDP timeout expires it.
    pub fn connections_holding(&self, service: &ServiceKey, destination: &DestinationKey) -> u32 {
        let udp = matches!(service, ServiceKey::Address { protocol: Protocol::Udp, .. });
        self.activity
            .iter()
            .filter(|a| a.service == *service && a.destination == *destination)
            .map(|a| if udp { a.active + a.inactive } else { a.active })
            .sum()
    }

    pub fn draining_since(&self, service: &ServiceKey, destination: &DestinationKey) -> Option<u64> {
        self.activity.iter().find(|a| a.service == *service && a.destination == *destination)?.draining_since
    }
}
