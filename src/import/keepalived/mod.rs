//! keepalived.conf: the IPVS table keepalived's checker process builds from `virtual_server`
//! blocks when every real server is healthy, with keepalived's own defaults and
//! corrections (keepalived 2.x, `check_parser.c` / `validate_check_config`). [`lexer`]
//! reads the file as keepalived's `lib/parser.c` does (includes, definitions, comments);
//! this module gives the statements keepalived's meaning:
//!
//! - scheduler `wlc`; forwarding method: the real server's `lvs_method` (keepalived ignores
//!   `lb_kind` there), else the virtual server's `lvs_method`/`lb_kind`, else NAT; `TUN` may
//!   add `type ipip|gue|gre`, `port N` (GUE only, required there) and a checksum option;
//! - weight: the real server's, else the virtual server's `weight`, else 1;
//!   `persistence_timeout` without a value, or `persistence_granularity` without a timeout,
//!   or port 0 without persistence: 360 s (IPVS_SVC_PERSISTENT_TIMEOUT);
//! - **no `protocol` on an address service means UDP** (keepalived sets it explicitly);
//! - `ops` only for UDP or fwmark services; a non-NAT real server's port is the virtual
//!   server's (0 for fwmark services); a virtual server without real servers is not added;
//! - `virtual_server group NAME`: one service per member of `virtual_server_group NAME`
//!   (addresses, `A.B.C.D-E` ranges, `fwmark N`), each with the block's settings.
//!
//! Where keepalived refuses a value it warns and keeps what it had (an unknown scheduler or
//! method, `persistence_timeout 0`, a GUE tunnel without port …): so does the import, with a
//! note naming the line. Health checkers, sorry servers, quorum and the like change the
//! table at run time and have no place in a spec; they are reported (with line numbers), as
//! are VRRP and static addresses. `global_defs { lvs_timeouts … }` is imported as the IPVS
//! timeouts.

mod lexer;

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::canonical::IpvsNotes;
use super::ImportError;
use crate::model::ipvs::{
    Destination, DestinationKey, Family, ForwardingMethod, IpvsState, Persistence, Protocol, Scheduler, SchedulerFlag,
    Service, ServiceKey, ServiceSettings, Timeouts, TunnelChecksum, TunnelEncapsulation, TunnelType,
};
use crate::model::keyed::{Keyed, KeyedMap};
use crate::spec::ipvs::WEIGHT;
use lexer::{Node, Origin};

pub use lexer::MAX_INCLUDE_DEPTH;

/// keepalived's persistence timeout when none is given (IPVS_SVC_PERSISTENT_TIMEOUT, 6 min).
pub const KEEPALIVED_PERSISTENCE_TIMEOUT: u32 = 360;
/// The longest `persistence_timeout` keepalived takes (LVS_MAX_TIMEOUT, 31 days).
const KEEPALIVED_MAX_PERSISTENCE_TIMEOUT: u32 = 2_678_400;
/// The largest `weight` keepalived 2.x takes (IPVS_WEIGHT_LIMIT, INT_MAX).
const KEEPALIVED_MAX_WEIGHT: u32 = i32::MAX as u32;

#[derive(Debug, Default)]
pub struct KeepalivedConfig {
    pub ipvs: IpvsState,
    pub notes: IpvsNotes,
    pub messages: Vec<String>,
}

/// Reads `text`, the keepalived.conf named `file`, and the files it includes (relative to
/// `file`'s directory).
pub fn parse(text: &str, file: &str) -> Result<KeepalivedConfig, ImportError> {
    let lexed = lexer::read(text, file)?;
    let mut config = KeepalivedConfig { messages: lexed.messages, ..KeepalivedConfig::default() };
    let groups = groups(&lexed.nodes, &mut config.messages);
    let mut declared = BTreeMap::new();
    for node in &lexed.nodes {
        match node.keyword() {
            "virtual_server" => virtual_server(node, &groups, &mut declared, &mut config)?,
            "global_defs" => global_defs(node, &mut config),
            "virtual_server_group" => {}
            other => config.messages.push(format!(
                "{}: `{other}` not converted ({})",
                node.origin,
                match other {
                    "vrrp_instance" | "vrrp_sync_group" | "vrrp_script" | "vrrp_track_process" => {
                        "VRRP fails the VIP over between directors; the spec holds one host's state"
                    }
                    "static_ipaddress" | "static_routes" | "static_rules" =>
                        "import the live host to capture addresses and routes",
                    _ => "not an IPVS setting",
                }
            )),
        }
    }
    Ok(config)
}

fn global_defs(node: &Node, config: &mut KeepalivedConfig) {
    for child in node.children.iter().flatten() {
        match child.keyword() {
            "lvs_timeouts" => {
                let mut timeouts = Timeouts::KERNEL_DEFAULTS;
                let mut words = child.words[1..].iter();
                while let (Some(name), Some(value)) = (words.next(), words.next()) {
                    let Ok(seconds) = value.parse::<u32>() else {
                        config.messages.push(format!("{}: lvs_timeouts {name} `{value}` ignored", child.origin));
                        continue;
                    };
                    match name.as_str() {
                        "tcp" => timeouts.tcp = seconds,
                        "tcpfin" => timeouts.tcp_fin = seconds,
                        "udp" => timeouts.udp = seconds,
                        _ => config.messages.push(format!("{}: lvs_timeouts `{name}` ignored", child.origin)),
                    }
                }
                config.ipvs.timeouts = Some(timeouts);
            }
            "lvs_sync_daemon" => config.messages.push(format!(
                "{}: lvs_sync_daemon not converted (connection sync is not managed by lvs-converge)",
                child.origin
            )),
            keyword @ ("lvs_flush" | "lvs_flush_onstop") => config.messages.push(format!(
                "{}: `{keyword}` not converted: keepalived empties the whole IPVS table ({}); lvs-converge \
                 changes only the services the spec owns (widen that with `ipvs.scope`)",
                child.origin,
                if keyword == "lvs_flush" { "when it starts" } else { "when it stops" }
            )),
            _ => {}
        }
    }
}

/// A member of a `virtual_server_group`.
#[derive(Debug, Clone, Copy)]
enum Target {
    Address(IpAddr, u16),
    Fwmark(u32),
}

#[derive(Debug)]
struct Group {
    origin: Origin,
    members: Vec<Target>,
}

/// Every `virtual_server_group NAME { … }`, by name. keepalived reads them before it links
/// virtual servers to them, so a group may follow its use.
fn groups(nodes: &[Node], messages: &mut Vec<String>) -> BTreeMap<String, Group> {
    let mut groups = BTreeMap::new();
    for node in nodes.iter().filter(|node| node.keyword() == "virtual_server_group") {
        let name = node.arg(0).unwrap_or("").to_string();
        let mut members = Vec::new();
        for entry in node.children.iter().flatten() {
            match group_entry(entry) {
                Ok(targets) => members.extend(targets),
                Err(why) => messages.push(format!(
                    "{}: virtual_server_group {name}: `{}` skipped: {why}",
                    entry.origin,
                    entry.words.join(" ")
                )),
            }
        }
        let has = |wanted: fn(&Target) -> bool| members.iter().any(wanted);
        if has(|t| matches!(t, Target::Address(IpAddr::V4(_), _)))
            && has(|t| matches!(t, Target::Address(IpAddr::V6(_), _)))
            && has(|t| matches!(t, Target::Fwmark(_)))
        {
            messages.push(format!(
                "{}: virtual_server_group {name} has IPv4 and IPv6 addresses and a fwmark: keepalived removes \
                 the group (\"cannot have IPv4, IPv6 and fwmark without family\")",
                node.origin
            ));
            members.clear();
        }
        if groups.contains_key(&name) {
            messages.push(format!(
                "{}: virtual_server_group {name} is defined again: import uses the first definition",
                node.origin
            ));
            continue;
        }
        groups.insert(name, Group { origin: node.origin.clone(), members });
    }
    groups
}

/// `ADDRESS [PORT]`, `A.B.C.D-E [PORT]` (the last IPv4 byte, or IPv6 group in hex, running
/// up to E), `fwmark N`.
fn group_entry(entry: &Node) -> Result<Vec<Target>, String> {
    if entry.keyword() == "fwmark" {
        let mark = entry.arg(0).and_then(|word| word.parse::<u32>().ok()).filter(|mark| *mark > 0);
        return mark.map(|mark| vec![Target::Fwmark(mark)]).ok_or_else(|| "not a firewall mark".to_string());
    }
    let port = match entry.arg(0) {
        None => 0,
        Some(word) => word.parse::<u16>().map_err(|_| format!("`{word}` is not a port"))?,
    };
    let word = entry.keyword();
    if let Ok(address) = word.parse::<IpAddr>() {
        return Ok(vec![Target::Address(address, port)]);
    }
    let (first, last) = word.rsplit_once('-').ok_or_else(|| format!("`{word}` is not an address or range"))?;
    let first: IpAddr = first.parse().map_err(|_| format!("`{first}` is not an IP address"))?;
    let addresses: Vec<IpAddr> = match first {
        IpAddr::V4(v4) => {
            let [a, b, c, d] = v4.octets();
            let end = last.parse::<u8>().map_err(|_| format!("`{last}` is not the last byte of a range"))?;
            (d..=end).map(|byte| IpAddr::V4(Ipv4Addr::new(a, b, c, byte))).collect()
        }
        IpAddr::V6(v6) => {
            let mut segments = v6.segments();
            let start = segments[7];
            let end =
                u16::from_str_radix(last, 16).map_err(|_| format!("`{last}` is not the last group of a range"))?;
            (start..=end)
                .map(|group| {
                    segments[7] = group;
                    IpAddr::V6(Ipv6Addr::from(segments))
                })
                .collect()
        }
    };
    if addresses.is_empty() {
        return Err(format!("the range `{word}` ends before it starts"));
    }
    Ok(addresses.into_iter().map(|address| Target::Address(address, port)).collect())
}

/// A forwarding method with its tunnel settings.
#[derive(Debug, Clone, Copy)]
struct Method {
    method: ForwardingMethod,
    tunnel: TunnelEncapsulation,
}

impl Method {
    const KEEPALIVED_DEFAULT: Method = Method {
        method: ForwardingMethod::Masq,
        tunnel: TunnelEncapsulation { kind: TunnelType::Ipip, port: 0, flags: 0 },
    };

    fn describe(self) -> String {
        match self.method {
            ForwardingMethod::Masq => "NAT".into(),
            ForwardingMethod::Dr => "DR".into(),
            ForwardingMethod::Tunnel => format!("TUN type {}", self.tunnel.kind.name()),
        }
    }
}

/// `lvs_method`/`lb_kind` `NAT|DR|TUN [type ipip|gue|gre] [port N] [nocsum|csum|remcsum]`
/// as keepalived's `svr_forwarding_handler()` takes it: an unknown method changes nothing;
/// a known one is set even when its tunnel options are refused, and then the tunnel stays
/// what it was (`previous`).
fn forwarding(node: &Node, previous: Option<Method>, notes: &mut Vec<String>) -> Option<Method> {
    let at = node.origin.line_ref();
    let kept = |previous: Option<Method>| match previous {
        Some(method) => format!("keeps {}", method.describe()),
        None => "keeps its default, NAT".to_string(),
    };
    let Some((name, options)) = node.words[1..].split_first() else {
        notes.push(format!("{at}: `{}` without a method: keepalived {}", node.keyword(), kept(previous)));
        return previous;
    };
    let method = match name.as_str() {
        "NAT" => ForwardingMethod::Masq,
        "DR" => ForwardingMethod::Dr,
        "TUN" => ForwardingMethod::Tunnel,
        other => {
            notes.push(format!(
                "{at}: `{} {other}`: keepalived knows only NAT, DR and TUN (upper case), warns and {}",
                node.keyword(),
                kept(previous)
            ));
            return previous;
        }
    };
    let before = previous.map_or(TunnelEncapsulation::default(), |method| method.tunnel);
    let tunnel = match tunnel_options(options) {
        Ok(tunnel) => tunnel,
        Err(why) => {
            notes.push(format!(
                "{at}: `{}`: {why}; keepalived refuses the tunnel options and keeps {}",
                node.words.join(" "),
                if method == ForwardingMethod::Tunnel {
                    format!("TUN with the tunnel it had (type {})", before.kind.name())
                } else {
                    name.clone()
                }
            ));
            before
        }
    };
    Some(Method { method, tunnel })
}

/// keepalived's tunnel options, with its refusals.
fn tunnel_options(words: &[String]) -> Result<TunnelEncapsulation, String> {
    let mut kind = TunnelType::Ipip;
    let mut port = 0u16;
    let mut checksum = TunnelChecksum::None;
    let mut words = words.iter().map(String::as_str);
    while let Some(word) = words.next() {
        match word {
            "type" => {
                kind = match words.next() {
                    Some("ipip") => TunnelType::Ipip,
                    Some("gue") => TunnelType::Gue,
                    Some("gre") => TunnelType::Gre,
                    Some(other) => return Err(format!("unknown tunnel type `{other}`")),
                    None => return Err("`type` without a tunnel type".into()),
                }
            }
            "port" => {
                let value = words.next().ok_or("`port` without a number")?;
                port = value.parse().ok().filter(|port| *port > 0).ok_or(format!("`{value}` is not a port"))?;
            }
            "nocsum" => checksum = TunnelChecksum::None,
            "csum" => checksum = TunnelChecksum::Csum,
            "remcsum" => checksum = TunnelChecksum::Remcsum,
            other => return Err(format!("unknown tunnel option `{other}`")),
        }
    }
    if (kind == TunnelType::Gue) != (port != 0) {
        return Err("a GUE tunnel needs `port N`, and only GUE takes a port".into());
    }
    if kind == TunnelType::Ipip && checksum != TunnelChecksum::None {
        return Err("ipip tunnels take no checksum option".into());
    }
    if kind == TunnelType::Gre && checksum == TunnelChecksum::Remcsum {
        return Err("GRE tunnels do not support remcsum".into());
    }
    Ok(TunnelEncapsulation { kind, port, flags: checksum.flags() })
}

/// Keywords that shape keepalived's run-time behaviour, not the table it configures.
fn runtime_note(keyword: &str) -> Option<&'static str> {
    Some(match keyword {
        "HTTP_GET" | "SSL_GET" | "TCP_CHECK" | "MISC_CHECK" | "SMTP_CHECK" | "DNS_CHECK" | "BFD_CHECK"
        | "UDP_CHECK" | "PING_CHECK" | "FILE_CHECK" => {
            "health checker (the spec keeps the real server at its configured weight)"
        }
        "sorry_server" | "sorry_server_inhibit" | "sorry_server_lvs_method" => {
            "sorry server: only in the table while the quorum is lost"
        }
        "quorum" | "hysteresis" | "quorum_up" | "quorum_down" => "quorum handling is keepalived's run-time behaviour",
        "inhibit_on_failure" | "alpha" | "omega" | "ha_suspend" => "keepalived's failure handling",
        "delay_loop" | "connect_timeout" | "retry" | "delay_before_retry" | "warmup" | "notify_up" | "notify_down"
        | "smtp_alert" | "virtualhost" | "snmp_name" => "health-check setting",
        "lvs_flush" | "lvs_flush_onstop" => "keepalived knows it only in global_defs and ignores it here",
        "tunnel_type" => "keepalived 2.2.7 does not know it (\"Unknown keyword\"): write `lvs_method TUN type …`",
        _ => return None,
    })
}

/// A `virtual_server` block's settings, shared by every service it stands for.
#[derive(Debug, Default)]
struct VirtualServer {
    scheduler: Option<Scheduler>,
    method: Option<Method>,
    protocol: Option<(Protocol, Origin)>,
    persistence_timeout: Option<u32>,
    granularity: Option<String>,
    engine: Option<String>,
    one_packet: bool,
    flags: Vec<(String, Origin)>,
    family: Option<Family>,
    weight: Option<u32>,
    real_servers: Vec<RealServer>,
    notes: Vec<String>,
}

#[derive(Debug)]
struct RealServer {
    origin: Origin,
    address: IpAddr,
    port: u16,
    method: Option<Method>,
    weight: Option<u32>,
    upper: u32,
    lower: u32,
    notes: Vec<String>,
}

fn parse_number<T: std::str::FromStr>(node: &Node, index: usize) -> Result<T, ImportError> {
    let word = node.arg(index).unwrap_or("");
    word.parse().map_err(|_| ImportError::Parse {
        file: node.origin.file.to_string(),
        line: node.origin.line,
        message: format!("`{}`: `{word}` is not a valid number", node.keyword()),
        hint: None,
    })
}

fn address(word: Option<&str>, node: &Node) -> Result<IpAddr, ImportError> {
    let word = word.unwrap_or("");
    word.parse().map_err(|_| ImportError::Parse {
        file: node.origin.file.to_string(),
        line: node.origin.line,
        message: format!("`{word}` is not an IP address"),
        hint: Some("keepalived takes numeric addresses here".into()),
    })
}

/// A `weight` keepalived accepts (0-2147483647), or a note saying it keeps `fallback`. One
/// keepalived takes but the spec cannot hold (above ipvsadm's 65535, see [`WEIGHT`]) is an
/// error: the import would otherwise write a spec `validate` refuses.
fn weight(node: &Node, fallback: &str, notes: &mut Vec<String>) -> Result<Option<u32>, ImportError> {
    let word = node.arg(0).unwrap_or("");
    let weight = word.parse::<u32>().ok().filter(|weight| *weight <= KEEPALIVED_MAX_WEIGHT);
    match weight {
        None => notes.push(format!(
            "{}: `weight {word}`: keepalived takes 0-{KEEPALIVED_MAX_WEIGHT}, refuses it and keeps {fallback}",
            node.origin.line_ref()
        )),
        Some(weight) if i64::from(weight) > WEIGHT.max => {
            return Err(ImportError::Parse {
                file: node.origin.file.to_string(),
                line: node.origin.line,
                message: format!("keepalived takes `weight {word}`, but {}", WEIGHT.out_of_range(word)),
                hint: Some(WEIGHT.hint.into()),
            })
        }
        Some(_) => {}
    }
    Ok(weight)
}

fn virtual_server(
    node: &Node,
    groups: &BTreeMap<String, Group>,
    declared: &mut BTreeMap<ServiceKey, Origin>,
    config: &mut KeepalivedConfig,
) -> Result<(), ImportError> {
    let (targets, name) = match node.arg(0) {
        Some("fwmark") => {
            let mark = parse_number(node, 1)?;
            (vec![Target::Fwmark(mark)], format!("virtual_server fwmark {mark}"))
        }
        Some("group") => {
            let group_name = node.arg(1).unwrap_or("");
            let Some(group) = groups.get(group_name).filter(|group| !group.members.is_empty()) else {
                config.messages.push(format!(
                    "{}: `virtual_server group {group_name}`: no virtual_server_group {group_name} with members: \
                     keepalived adds nothing for it",
                    node.origin
                ));
                return Ok(());
            };
            (
                group.members.clone(),
                format!("virtual_server group {group_name}, virtual_server_group at {}", group.origin),
            )
        }
        first => {
            let address = address(first, node)?;
            let port = if node.arg(1).is_some() { parse_number(node, 1)? } else { 0 };
            (vec![Target::Address(address, port)], format!("virtual_server {address} {port}"))
        }
    };
    let vs = settings(node)?;
    if vs.real_servers.is_empty() {
        config.messages.push(format!("{}: `{name}` has no real servers: keepalived does not add it", node.origin));
        return Ok(());
    }
    for target in targets {
        let mut service_notes = vs.notes.clone();
        let key = match target {
            Target::Fwmark(fwmark) => {
                if let Some((protocol, origin)) = &vs.protocol {
                    service_notes.push(format!(
                        "{}: `protocol {}` ignored: keepalived ignores the protocol of a fwmark service",
                        origin.line_ref(),
                        protocol.name().to_ascii_uppercase()
                    ));
                }
                ServiceKey::FirewallMark { fwmark, family: vs.family.unwrap_or_else(|| fwmark_family(&vs)) }
            }
            Target::Address(address, port) => {
                let protocol = match &vs.protocol {
                    Some((protocol, _)) => *protocol,
                    None => {
                        service_notes.push("no `protocol`: keepalived uses UDP".into());
                        Protocol::Udp
                    }
                };
                ServiceKey::Address { protocol, address, port }
            }
        };
        let (service, destination_notes) = build_service(key, &vs, &mut service_notes, node)?;
        if let Some(first) = declared.get(&key) {
            return Err(ImportError::Parse {
                file: node.origin.file.to_string(),
                line: node.origin.line,
                message: format!("{key} is declared twice (first at {first})"),
                hint: Some("keepalived keeps one of them: remove the other".into()),
            });
        }
        declared.insert(key, node.origin.clone());
        config.notes.service(key, format!("from {} ({name})", node.origin));
        for text in service_notes {
            config.messages.push(format!("{key}: {text}"));
            config.notes.service(key, text);
        }
        for (destination, text) in destination_notes {
            config.messages.push(format!("{key} real server {destination}: {text}"));
            config.notes.destination(key, destination, text);
        }
        config.ipvs.services.insert(service.key(), service);
    }
    Ok(())
}

/// The settings of a `virtual_server` block and its real servers.
fn settings(node: &Node) -> Result<VirtualServer, ImportError> {
    let mut vs = VirtualServer::default();
    for child in node.children.iter().flatten() {
        let at = child.origin.line_ref();
        match child.keyword() {
            keyword @ ("lb_algo" | "lvs_sched") => {
                let name = child.arg(0).unwrap_or("");
                match Scheduler::from_name(name) {
                    Some(scheduler) => vs.scheduler = Some(scheduler),
                    None => vs.notes.push(format!(
                        "{at}: `{keyword} {name}`: keepalived does not know this scheduler, warns and keeps {}",
                        vs.scheduler.map_or("its default, wlc".to_string(), |s| s.name().to_string())
                    )),
                }
            }
            "lb_kind" | "lvs_method" => vs.method = forwarding(child, vs.method, &mut vs.notes),
            "protocol" => {
                let name = child.arg(0).unwrap_or("").to_ascii_lowercase();
                match Protocol::ALL.into_iter().find(|p| p.name() == name) {
                    Some(protocol) => vs.protocol = Some((protocol, child.origin.clone())),
                    None => vs
                        .notes
                        .push(format!("{at}: unknown protocol `{name}`: keepalived ignores it (TCP, UDP or SCTP)")),
                }
            }
            "persistence_timeout" => match child.arg(0) {
                None => vs.persistence_timeout = Some(KEEPALIVED_PERSISTENCE_TIMEOUT),
                Some(word) => match word.parse::<u32>() {
                    Ok(seconds) if (1..=KEEPALIVED_MAX_PERSISTENCE_TIMEOUT).contains(&seconds) => {
                        vs.persistence_timeout = Some(seconds)
                    }
                    _ => vs.notes.push(format!(
                        "{at}: `persistence_timeout {word}`: keepalived takes 1-{KEEPALIVED_MAX_PERSISTENCE_TIMEOUT} \
                         seconds, refuses it (\"persistence_timeout invalid\") and keeps {}",
                        vs.persistence_timeout.map_or("no persistence".to_string(), |t| format!("{t} s"))
                    )),
                },
            },
            "persistence_granularity" => vs.granularity = child.arg(0).map(str::to_string),
            "persistence_engine" => vs.engine = child.arg(0).map(str::to_string),
            "ops" => vs.one_packet = true,
            "hashed" => vs.notes.push(format!("{at}: `hashed` ignored (a kernel-internal flag)")),
            "flag-1" | "flag-2" | "flag-3" | "sh-port" | "sh-fallback" | "mh-port" | "mh-fallback" => {
                vs.flags.push((child.keyword().to_string(), child.origin.clone()))
            }
            "ip_family" => {
                vs.family = match child.arg(0) {
                    Some("inet6") => Some(Family::Ipv6),
                    _ => Some(Family::Ipv4),
                }
            }
            "weight" => {
                let fallback = vs.weight.map_or("1".to_string(), |w| w.to_string());
                if let Some(weight) = weight(child, &fallback, &mut vs.notes)? {
                    vs.weight = Some(weight);
                }
            }
            "real_server" => vs.real_servers.push(real_server(child)?),
            keyword => {
                let why = runtime_note(keyword).unwrap_or("unknown to this importer");
                let block = if child.children.is_some() { " block" } else { "" };
                vs.notes.push(format!("{at}: `{keyword}`{block} not converted: {why}"));
            }
        }
    }
    Ok(vs)
}

/// keepalived takes a fwmark service's family from its non-tunnelled real servers, else
/// IPv4.
fn fwmark_family(vs: &VirtualServer) -> Family {
    vs.real_servers
        .iter()
        .find(|real| effective_method(real.method, vs.method).method != ForwardingMethod::Tunnel)
        .map_or(Family::Ipv4, |real| Family::of(&real.address))
}

fn effective_method(own: Option<Method>, service: Option<Method>) -> Method {
    own.or(service).unwrap_or(Method::KEEPALIVED_DEFAULT)
}

/// keepalived's port rules: NAT keeps the real server's port (0 → the service's); any
/// other method uses the service's port (0 for fwmark services).
fn resolved_port(key: &ServiceKey, real: &RealServer, service_method: Option<Method>) -> u16 {
    let method = effective_method(real.method, service_method).method;
    match (key, method) {
        (ServiceKey::Address { port, .. }, ForwardingMethod::Masq) if real.port == 0 => *port,
        (_, ForwardingMethod::Masq) => real.port,
        (ServiceKey::Address { port, .. }, _) => *port,
        (ServiceKey::FirewallMark { .. }, _) => 0,
    }
}

/// The service `key` stands for with `vs`'s settings, and the notes on its real servers.
fn build_service(
    key: ServiceKey,
    vs: &VirtualServer,
    notes: &mut Vec<String>,
    node: &Node,
) -> Result<(Service, Vec<(DestinationKey, String)>), ImportError> {
    let scheduler = vs.scheduler.unwrap_or_default();
    let mut scheduler_flags = Vec::new();
    for (name, origin) in &vs.flags {
        let flag = match (name.as_str(), scheduler) {
            ("flag-1", Scheduler::Sh) | ("sh-fallback", Scheduler::Sh) => Some(SchedulerFlag::ShFallback),
            ("flag-2", Scheduler::Sh) | ("sh-port", Scheduler::Sh) => Some(SchedulerFlag::ShPort),
            ("flag-1", Scheduler::Mh) | ("mh-fallback", Scheduler::Mh) => Some(SchedulerFlag::MhFallback),
            ("flag-2", Scheduler::Mh) | ("mh-port", Scheduler::Mh) => Some(SchedulerFlag::MhPort),
            _ => None,
        };
        match flag {
            Some(flag) => scheduler_flags.push(flag),
            None => notes.push(format!(
                "{}: `{name}` not converted: no meaning for scheduler {} the spec can express",
                origin.line_ref(),
                scheduler.name()
            )),
        }
    }
    scheduler_flags.sort();
    scheduler_flags.dedup();
    let family = key.family();
    let udp_or_fwmark =
        matches!(key, ServiceKey::FirewallMark { .. } | ServiceKey::Address { protocol: Protocol::Udp, .. });
    let one_packet = vs.one_packet && udp_or_fwmark;
    if vs.one_packet && !udp_or_fwmark {
        notes.push("`ops` dropped: keepalived allows one-packet scheduling only for UDP".into());
    }
    let mut timeout = vs.persistence_timeout;
    if timeout.is_none() && vs.granularity.is_some() {
        timeout = Some(KEEPALIVED_PERSISTENCE_TIMEOUT);
    }
    if timeout.is_none() && matches!(key, ServiceKey::Address { port: 0, .. }) {
        notes.push("port 0 without persistence: keepalived sets persistence_timeout 360".into());
        timeout = Some(KEEPALIVED_PERSISTENCE_TIMEOUT);
    }
    let prefix_length = match &vs.granularity {
        None => family.max_prefix(),
        Some(mask) => granularity(mask, family).ok_or_else(|| ImportError::Parse {
            file: node.origin.file.to_string(),
            line: node.origin.line,
            message: format!("persistence_granularity `{mask}` is not a netmask for this {family:?} service"),
            hint: Some("an IPv4 netmask such as 255.255.255.0, or an IPv6 prefix length".into()),
        })?,
    };
    let persistence = timeout.map(|timeout| Persistence { timeout, prefix_length, engine: vs.engine.clone() });
    let mut destinations = KeyedMap::<Destination>::new();
    let mut destination_notes = Vec::new();
    for real in &vs.real_servers {
        let method = effective_method(real.method, vs.method);
        let destination = Destination {
            address: real.address,
            port: resolved_port(&key, real, vs.method),
            method: method.method,
            weight: real.weight.or(vs.weight).unwrap_or(1),
            upper_threshold: real.upper,
            lower_threshold: real.lower,
            tunnel: if method.method == ForwardingMethod::Tunnel { method.tunnel } else { Default::default() },
        };
        if destinations.contains_key(&destination.key()) {
            notes.push(format!(
                "{}: real server {} duplicated: keepalived drops the second",
                real.origin.line_ref(),
                destination.key()
            ));
            continue;
        }
        let destination_key = destination.key();
        destination_notes.extend(real.notes.iter().map(|text| (destination_key, text.clone())));
        if real.port != 0 && real.port != destination.port {
            destination_notes.push((
                destination_key,
                format!(
                    "{}: port {} {}: keepalived does that for {} real servers",
                    real.origin.line_ref(),
                    real.port,
                    match key {
                        ServiceKey::Address { port, .. } => format!("reset to the service's port {port}"),
                        ServiceKey::FirewallMark { .. } => "cleared to 0".to_string(),
                    },
                    method.describe().split(' ').next().unwrap_or("")
                ),
            ));
        }
        if real.weight.is_none() {
            if let Some(weight) = vs.weight {
                destination_notes.push((destination_key, format!("weight {weight}: the virtual server's `weight`")));
            }
        }
        destinations.insert(destination_key, destination);
    }
    let service = Service {
        key,
        settings: ServiceSettings { scheduler, scheduler_flags, persistence, one_packet },
        destinations,
    };
    Ok((service, destination_notes))
}

fn granularity(mask: &str, family: Family) -> Option<u8> {
    match family {
        Family::Ipv6 => mask.parse::<u8>().ok().filter(|p| (1..=128).contains(p)),
        Family::Ipv4 => {
            let bits = u32::from(mask.parse::<Ipv4Addr>().ok()?);
            (bits.leading_ones() + bits.trailing_zeros() == 32).then_some(bits.leading_ones() as u8)
        }
    }
}

fn real_server(node: &Node) -> Result<RealServer, ImportError> {
    let address = address(node.arg(0), node)?;
    let port = if node.arg(1).is_some() { parse_number(node, 1)? } else { 0 };
    let mut real = RealServer {
        origin: node.origin.clone(),
        address,
        port,
        method: None,
        weight: None,
        upper: 0,
        lower: 0,
        notes: Vec::new(),
    };
    for child in node.children.iter().flatten() {
        let at = child.origin.line_ref();
        match child.keyword() {
            "weight" => {
                let fallback = "the virtual server's weight (default 1)";
                if let Some(weight) = weight(child, fallback, &mut real.notes)? {
                    real.weight = Some(weight);
                }
            }
            "uthreshold" => real.upper = parse_number(child, 0)?,
            "lthreshold" => real.lower = parse_number(child, 0)?,
            "lvs_method" => real.method = forwarding(child, real.method, &mut real.notes),
            // keepalived 2.x knows only lvs_method here: it logs "Unknown keyword" and
            // the real server keeps the virtual server's method. So does the import.
            "lb_kind" => real.notes.push(format!(
                "{at}: `lb_kind` ignored: keepalived does not know it inside real_server (use lvs_method); the virtual server's method applies"
            )),
            keyword => {
                let why = runtime_note(keyword).unwrap_or("unknown to this importer");
                let block = if child.children.is_some() { " block" } else { "" };
                real.notes.push(format!("{at}: `{keyword}`{block} not converted: {why}"));
            }
        }
    }
    Ok(real)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn braces_nest_and_unknown_blocks_are_skipped_whole() {
        let text = "global_defs {\n  router_id x\n}\nvirtual_server 10.1.1.1 80 {\n  protocol TCP\n  lb_kind TUN\n  real_server 10.2.2.2 80 {\n    weight 2\n    HTTP_GET {\n      url { path / }\n      url {\n        path /x\n        digest abc\n      }\n    }\n  }\n}\n";
        let config = parse(text, "k.conf").unwrap();
        let service = config.ipvs.services.values().next().unwrap();
        let destination = service.destinations.values().next().unwrap();
        assert_eq!((destination.method, destination.weight), (ForwardingMethod::Tunnel, 2));
        assert!(
            config.messages.iter().any(|m| m.contains("line 9: `HTTP_GET` block not converted")),
            "{:?}",
            config.messages
        );
    }

    #[test]
    fn unbalanced_braces_are_errors_with_lines() {
        let error = parse("virtual_server 10.1.1.1 80 {\n  protocol TCP\n", "k.conf").unwrap_err().to_string();
        assert!(error.starts_with("k.conf:1: block opened here is never closed"), "{error}");
        // keepalived reads a `}` that closes nothing as an unknown keyword and goes on.
        let config = parse("}\n", "k.conf").unwrap();
        assert!(config.messages[0].starts_with("k.conf:1: `}` closes no block"), "{:?}", config.messages);
    }

    #[test]
    fn keepalived_defaults() {
        let text = "virtual_server 10.1.1.1 53 {\n  persistence_timeout\n  real_server 10.2.2.2 5353 {\n  }\n}\n";
        let config = parse(text, "k.conf").unwrap();
        let service = config.ipvs.services.values().next().unwrap();
        assert!(matches!(service.key, ServiceKey::Address { protocol: Protocol::Udp, .. }));
        assert_eq!(service.settings.scheduler, Scheduler::Wlc);
        assert_eq!(service.settings.persistence.as_ref().unwrap().timeout, 360);
        let destination = service.destinations.values().next().unwrap();
        // NAT by default, keeping its own port.
        assert_eq!((destination.method, destination.port, destination.weight), (ForwardingMethod::Masq, 5353, 1));
    }
}
