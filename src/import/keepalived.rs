//! keepalived.conf: the IPVS table keepalived's checker process builds from `virtual_server`
//! blocks when every real server is healthy, with keepalived's own defaults and
//! corrections (keepalived 2.x, `check_parser.c` / `validate_check_config`):
//!
//! - scheduler `wlc`; forwarding method: the real server's `lvs_method` (keepalived ignores
//!   `lb_kind` there), else the virtual server's `lvs_method`/`lb_kind`, else NAT; `TUN` may add `type ipip|gue port N|gre` and a checksum
//!   option (the same words are accepted after `tunnel_type`);
//! - weight 1; `persistence_timeout` without a value, or `persistence_granularity` without
//!   a timeout, or port 0 without persistence: 360 s (IPVS_SVC_PERSISTENT_TIMEOUT);
//! - **no `protocol` on an address service means UDP** (keepalived sets it explicitly);
//! - `ops` only for UDP or fwmark services; a non-NAT real server's port is the virtual
//!   server's (0 for fwmark services); a virtual server without real servers is not added.
//!
//! Health checkers, sorry servers, quorum and the like change the table at run time and
//! have no place in a spec; they are reported (with line numbers), as are VRRP, static
//! addresses, `include` and virtual server groups. `global_defs { lvs_timeouts … }` is
//! imported as the IPVS timeouts.

use std::net::{IpAddr, Ipv4Addr};

use super::canonical::IpvsNotes;
use super::ImportError;
use crate::model::ipvs::{
    Destination, DestinationKey, Family, ForwardingMethod, IpvsState, Persistence, Protocol, Scheduler, SchedulerFlag,
    Service, ServiceKey, ServiceSettings, Timeouts, TunnelChecksum, TunnelEncapsulation, TunnelType,
};
use crate::model::keyed::Keyed;

/// keepalived's persistence timeout when none is given (IPVS_SVC_PERSISTENT_TIMEOUT, 6 min).
pub const KEEPALIVED_PERSISTENCE_TIMEOUT: u32 = 360;

#[derive(Debug, Default)]
pub struct KeepalivedConfig {
    pub ipvs: IpvsState,
    pub notes: IpvsNotes,
    pub messages: Vec<String>,
}

/// One `keyword args…` line, with its block if it opens one.
#[derive(Debug, Clone)]
struct Node {
    line: usize,
    words: Vec<String>,
    children: Option<Vec<Node>>,
}

impl Node {
    fn keyword(&self) -> &str {
        self.words.first().map_or("", String::as_str)
    }

    fn arg(&self, index: usize) -> Option<&str> {
        self.words.get(index + 1).map(String::as_str)
    }
}

/// Words per line; `#` and `!` start comments anywhere; braces are words of their own;
/// a quoted string is one word.
fn tokenize(text: &str) -> Vec<(usize, Vec<String>)> {
    let mut lines = Vec::new();
    for (index, raw) in text.lines().enumerate() {
        let mut words = Vec::new();
        let mut current = String::new();
        let mut quoted = false;
        for ch in raw.chars() {
            match ch {
                '"' => {
                    quoted = !quoted;
                    current.push(ch);
                }
                _ if quoted => current.push(ch),
                '#' | '!' => break,
                '{' | '}' => {
                    if !current.is_empty() {
                        words.push(std::mem::take(&mut current));
                    }
                    words.push(ch.to_string());
                }
                c if c.is_whitespace() => {
                    if !current.is_empty() {
                        words.push(std::mem::take(&mut current));
                    }
                }
                c => current.push(c),
            }
        }
        if !current.is_empty() {
            words.push(current);
        }
        if !words.is_empty() {
            lines.push((index + 1, words));
        }
    }
    lines
}

/// Builds the block tree. A `{` opens a block for the statement before it on the same line,
/// or, alone at the start of a line, for the previous statement.
fn tree(text: &str, file: &str) -> Result<Vec<Node>, ImportError> {
    let mut stack: Vec<Vec<Node>> = vec![Vec::new()];
    let mut open_lines: Vec<usize> = Vec::new();
    for (line, words) in tokenize(text) {
        let mut statement: Vec<String> = Vec::new();
        for word in words {
            match word.as_str() {
                "{" => {
                    let level = stack.last_mut().expect("root level");
                    if !statement.is_empty() {
                        level.push(Node { line, words: std::mem::take(&mut statement), children: None });
                    }
                    if level.last().is_none_or(|node| node.children.is_some()) {
                        return Err(ImportError::Parse {
                            file: file.into(),
                            line,
                            message: "`{` without a keyword before it".into(),
                            hint: None,
                        });
                    }
                    open_lines.push(line);
                    stack.push(Vec::new());
                }
                "}" => {
                    if !statement.is_empty() {
                        let level = stack.last_mut().expect("level");
                        level.push(Node { line, words: std::mem::take(&mut statement), children: None });
                    }
                    if stack.len() == 1 {
                        return Err(ImportError::Parse {
                            file: file.into(),
                            line,
                            message: "`}` closes no block".into(),
                            hint: Some("check the braces above this line".into()),
                        });
                    }
                    let children = stack.pop().expect("nested level");
                    open_lines.pop();
                    let parent = stack.last_mut().expect("parent level").last_mut().expect("block owner");
                    parent.children = Some(children);
                }
                _ => statement.push(word),
            }
        }
        if !statement.is_empty() {
            stack.last_mut().expect("level").push(Node { line, words: statement, children: None });
        }
    }
    if let Some(line) = open_lines.last() {
        return Err(ImportError::Parse {
            file: file.into(),
            line: *line,
            message: "block opened here is never closed".into(),
            hint: Some("add the missing `}`".into()),
        });
    }
    Ok(stack.pop().expect("root"))
}

pub fn parse(text: &str, file: &str) -> Result<KeepalivedConfig, ImportError> {
    let mut config = KeepalivedConfig::default();
    for node in tree(text, file)? {
        match node.keyword() {
            "virtual_server" => virtual_server(&node, file, &mut config)?,
            "global_defs" => global_defs(&node, file, &mut config),
            "include" => config.messages.push(format!(
                "{file}:{}: `include {}` not followed: import the included file separately",
                node.line,
                node.words[1..].join(" ")
            )),
            other => config.messages.push(format!(
                "{file}:{}: `{other}` not converted ({})",
                node.line,
                match other {
                    "vrrp_instance" | "vrrp_sync_group" | "vrrp_script" | "vrrp_track_process" => {
                        "VRRP fails the VIP over between directors; the spec holds one host's state"
                    }
                    "virtual_server_group" =>
                        "virtual server groups are not supported; write one virtual_server per address",
                    "static_ipaddress" | "static_routes" | "static_rules" =>
                        "import the live host to capture addresses and routes",
                    _ => "not an IPVS setting",
                }
            )),
        }
    }
    Ok(config)
}

fn global_defs(node: &Node, file: &str, config: &mut KeepalivedConfig) {
    for child in node.children.iter().flatten() {
        match child.keyword() {
            "lvs_timeouts" => {
                let mut timeouts = Timeouts::KERNEL_DEFAULTS;
                let mut words = child.words[1..].iter();
                while let (Some(name), Some(value)) = (words.next(), words.next()) {
                    let Ok(seconds) = value.parse::<u32>() else {
                        config.messages.push(format!("{file}:{}: lvs_timeouts {name} `{value}` ignored", child.line));
                        continue;
                    };
                    match name.as_str() {
                        "tcp" => timeouts.tcp = seconds,
                        "tcpfin" => timeouts.tcp_fin = seconds,
                        "udp" => timeouts.udp = seconds,
                        _ => config.messages.push(format!("{file}:{}: lvs_timeouts `{name}` ignored", child.line)),
                    }
                }
                config.ipvs.timeouts = Some(timeouts);
            }
            "lvs_sync_daemon" => config.messages.push(format!(
                "{file}:{}: lvs_sync_daemon not converted (connection sync is not managed by lvs-converge)",
                child.line
            )),
            _ => {}
        }
    }
}

/// A forwarding method with its tunnel settings.
#[derive(Debug, Clone, Copy)]
struct Method {
    method: ForwardingMethod,
    tunnel: TunnelEncapsulation,
}

/// `NAT`, `DR`, `TUN [type ipip|gue port N|gre] [nocsum|csum|remcsum]`.
fn method(words: &[String], node: &Node, file: &str) -> Result<Method, ImportError> {
    let fail = |message: String| ImportError::Parse {
        file: file.into(),
        line: node.line,
        message,
        hint: Some("lvs_method NAT|DR|TUN [type ipip|gue port N|gre] [nocsum|csum|remcsum]".into()),
    };
    let (name, rest) = words.split_first().ok_or_else(|| fail(format!("`{}` needs a method", node.keyword())))?;
    let method = match name.as_str() {
        "NAT" => ForwardingMethod::Masq,
        "DR" => ForwardingMethod::Dr,
        "TUN" => ForwardingMethod::Tunnel,
        other => return Err(fail(format!("unknown forwarding method `{other}`"))),
    };
    let tunnel = tunnel(rest, &fail)?;
    if method != ForwardingMethod::Tunnel && !rest.is_empty() {
        return Err(fail(format!("`{}` after {name}: tunnel settings go with TUN", rest.join(" "))));
    }
    Ok(Method { method, tunnel })
}

fn tunnel(words: &[String], fail: &dyn Fn(String) -> ImportError) -> Result<TunnelEncapsulation, ImportError> {
    let mut tunnel = TunnelEncapsulation::default();
    let mut words = words.iter().map(String::as_str).peekable();
    while let Some(word) = words.next() {
        match word {
            "type" => {}
            "ipip" => tunnel.kind = TunnelType::Ipip,
            "gre" => tunnel.kind = TunnelType::Gre,
            "gue" => tunnel.kind = TunnelType::Gue,
            "port" => {
                let value = words.next().ok_or_else(|| fail("`port` needs a number".into()))?;
                tunnel.port = value.parse().map_err(|_| fail(format!("`{value}` is not a port")))?;
            }
            "nocsum" => tunnel.flags = TunnelChecksum::None.flags(),
            "csum" => tunnel.flags = TunnelChecksum::Csum.flags(),
            "remcsum" => tunnel.flags = TunnelChecksum::Remcsum.flags(),
            other => return Err(fail(format!("unknown tunnel setting `{other}`"))),
        }
    }
    if tunnel.kind != TunnelType::Gue {
        tunnel.port = 0;
    }
    if tunnel.kind == TunnelType::Ipip {
        tunnel.flags = 0;
    }
    Ok(tunnel)
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
        _ => return None,
    })
}

#[derive(Debug, Default)]
struct VirtualServer {
    scheduler: Option<Scheduler>,
    method: Option<Method>,
    protocol: Option<Protocol>,
    persistence_timeout: Option<u32>,
    granularity: Option<String>,
    engine: Option<String>,
    one_packet: bool,
    flags: Vec<(String, usize)>,
    family: Option<Family>,
    real_servers: Vec<RealServer>,
    notes: Vec<String>,
}

#[derive(Debug)]
struct RealServer {
    line: usize,
    address: IpAddr,
    port: u16,
    method: Option<Method>,
    weight: u32,
    upper: u32,
    lower: u32,
    notes: Vec<String>,
}

fn parse_number<T: std::str::FromStr>(node: &Node, index: usize, file: &str) -> Result<T, ImportError> {
    let word = node.arg(index).unwrap_or("");
    word.parse().map_err(|_| ImportError::Parse {
        file: file.into(),
        line: node.line,
        message: format!("`{}`: `{word}` is not a valid number", node.keyword()),
        hint: None,
    })
}

fn address(word: Option<&str>, node: &Node, file: &str) -> Result<IpAddr, ImportError> {
    let word = word.unwrap_or("");
    word.parse().map_err(|_| ImportError::Parse {
        file: file.into(),
        line: node.line,
        message: format!("`{word}` is not an IP address"),
        hint: Some("keepalived takes numeric addresses here".into()),
    })
}

fn virtual_server(node: &Node, file: &str, config: &mut KeepalivedConfig) -> Result<(), ImportError> {
    enum Target {
        Address(IpAddr, u16),
        Fwmark(u32),
    }
    let target = match node.arg(0) {
        Some("fwmark") => Target::Fwmark(parse_number(node, 1, file)?),
        Some("group") => {
            config.messages.push(format!(
                "{file}:{}: `virtual_server group {}` not converted (virtual server groups are not supported)",
                node.line,
                node.arg(1).unwrap_or("")
            ));
            return Ok(());
        }
        first => {
            let port = if node.arg(1).is_some() { parse_number(node, 1, file)? } else { 0 };
            Target::Address(address(first, node, file)?, port)
        }
    };
    let mut vs = VirtualServer::default();
    for child in node.children.iter().flatten() {
        let words = &child.words[1..];
        match child.keyword() {
            "lb_algo" | "lvs_sched" => {
                let name = child.arg(0).unwrap_or("");
                vs.scheduler = Some(Scheduler::from_name(name).ok_or_else(|| ImportError::Parse {
                    file: file.into(),
                    line: child.line,
                    message: format!("unknown scheduler `{name}`"),
                    hint: Some("rr wrr lc wlc lblc lblcr dh sh sed nq fo ovf mh twos".into()),
                })?);
            }
            "lb_kind" | "lvs_method" => vs.method = Some(method(words, child, file)?),
            "tunnel_type" => {
                let base = vs.method.unwrap_or(Method { method: ForwardingMethod::Tunnel, tunnel: Default::default() });
                let fail =
                    |message: String| ImportError::Parse { file: file.into(), line: child.line, message, hint: None };
                vs.method = Some(Method { tunnel: tunnel(words, &fail)?, ..base });
            }
            "protocol" => {
                let name = child.arg(0).unwrap_or("").to_ascii_lowercase();
                vs.protocol =
                    Some(Protocol::ALL.into_iter().find(|p| p.name() == name).ok_or_else(|| ImportError::Parse {
                        file: file.into(),
                        line: child.line,
                        message: format!("unknown protocol `{name}`"),
                        hint: Some("TCP, UDP or SCTP".into()),
                    })?);
            }
            "persistence_timeout" => {
                vs.persistence_timeout = Some(if child.arg(0).is_some() {
                    parse_number(child, 0, file)?
                } else {
                    KEEPALIVED_PERSISTENCE_TIMEOUT
                })
            }
            "persistence_granularity" => vs.granularity = child.arg(0).map(str::to_string),
            "persistence_engine" => vs.engine = child.arg(0).map(str::to_string),
            "ops" => vs.one_packet = true,
            "hashed" => vs.notes.push(format!("line {}: `hashed` ignored (a kernel-internal flag)", child.line)),
            "flag-1" | "flag-2" | "flag-3" | "sh-port" | "sh-fallback" | "mh-port" | "mh-fallback" => {
                vs.flags.push((child.keyword().to_string(), child.line))
            }
            "ip_family" => {
                vs.family = match child.arg(0) {
                    Some("inet6") => Some(Family::Ipv6),
                    _ => Some(Family::Ipv4),
                }
            }
            "real_server" => vs.real_servers.push(real_server(child, file)?),
            keyword => {
                let why = runtime_note(keyword).unwrap_or("unknown to this importer");
                let block = if child.children.is_some() { " block" } else { "" };
                vs.notes.push(format!("line {}: `{keyword}`{block} not converted: {why}", child.line));
            }
        }
    }
    let key = match target {
        Target::Fwmark(fwmark) => {
            let family = vs.family.unwrap_or_else(|| fwmark_family(&vs));
            ServiceKey::FirewallMark { fwmark, family }
        }
        Target::Address(address, port) => {
            let protocol = vs.protocol.unwrap_or_else(|| {
                vs.notes.push("no `protocol`: keepalived uses UDP".into());
                Protocol::Udp
            });
            ServiceKey::Address { protocol, address, port }
        }
    };
    let name = match key {
        ServiceKey::Address { address, port, .. } => format!("virtual_server {address} {port}"),
        ServiceKey::FirewallMark { fwmark, .. } => format!("virtual_server fwmark {fwmark}"),
    };
    if vs.real_servers.is_empty() {
        config.messages.push(format!("{file}:{}: `{name}` has no real servers: keepalived does not add it", node.line));
        return Ok(());
    }
    let service = build_service(key, &mut vs, file, node.line)?;
    if config.ipvs.services.contains_key(&service.key) {
        return Err(ImportError::Parse {
            file: file.into(),
            line: node.line,
            message: format!("{} is declared twice", service.key),
            hint: None,
        });
    }
    let origin = format!("from {file}:{} ({name})", node.line);
    config.notes.service(key, origin);
    for text in vs.notes.drain(..) {
        config.notes.service(key, text);
    }
    for real in &mut vs.real_servers {
        let destination_key = DestinationKey { address: real.address, port: resolved_port(&key, real, vs.method) };
        for text in real.notes.drain(..) {
            config.notes.destination(key, destination_key, text);
        }
    }
    for texts in config.notes.services.get(&key).into_iter().flatten().skip(1) {
        config.messages.push(format!("{}: {texts}", service.key));
    }
    for ((owner, destination), texts) in &config.notes.destinations {
        if *owner == key {
            for text in texts {
                config.messages.push(format!("{} real server {destination}: {text}", service.key));
            }
        }
    }
    config.ipvs.services.insert(service.key(), service);
    Ok(())
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
    own.or(service).unwrap_or(Method { method: ForwardingMethod::Masq, tunnel: TunnelEncapsulation::default() })
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

fn build_service(key: ServiceKey, vs: &mut VirtualServer, file: &str, line: usize) -> Result<Service, ImportError> {
    let scheduler = vs.scheduler.unwrap_or_default();
    let mut scheduler_flags = Vec::new();
    for (name, flag_line) in &vs.flags {
        let flag = match (name.as_str(), scheduler) {
            ("flag-1", Scheduler::Sh) | ("sh-fallback", Scheduler::Sh) => Some(SchedulerFlag::ShFallback),
            ("flag-2", Scheduler::Sh) | ("sh-port", Scheduler::Sh) => Some(SchedulerFlag::ShPort),
            ("flag-1", Scheduler::Mh) | ("mh-fallback", Scheduler::Mh) => Some(SchedulerFlag::MhFallback),
            ("flag-2", Scheduler::Mh) | ("mh-port", Scheduler::Mh) => Some(SchedulerFlag::MhPort),
            _ => None,
        };
        match flag {
            Some(flag) => scheduler_flags.push(flag),
            None => vs.notes.push(format!(
                "line {flag_line}: `{name}` not converted: no meaning for scheduler {} the spec can express",
                scheduler.name()
            )),
        }
    }
    scheduler_flags.sort();
    scheduler_flags.dedup();
    let family = key.family();
    let udp_or_fwmark =
        matches!(key, ServiceKey::FirewallMark { .. } | ServiceKey::Address { protocol: Protocol::Udp, .. });
    if vs.one_packet && !udp_or_fwmark {
        vs.notes.push("`ops` dropped: keepalived allows one-packet scheduling only for UDP".into());
        vs.one_packet = false;
    }
    let mut timeout = vs.persistence_timeout;
    if timeout.is_none() && vs.granularity.is_some() {
        timeout = Some(KEEPALIVED_PERSISTENCE_TIMEOUT);
    }
    if timeout.is_none() && matches!(key, ServiceKey::Address { port: 0, .. }) {
        vs.notes.push("port 0 without persistence: keepalived sets persistence_timeout 360".into());
        timeout = Some(KEEPALIVED_PERSISTENCE_TIMEOUT);
    }
    let prefix_length = match &vs.granularity {
        None => family.max_prefix(),
        Some(mask) => granularity(mask, family).ok_or_else(|| ImportError::Parse {
            file: file.into(),
            line,
            message: format!("persistence_granularity `{mask}` is not a netmask for this {family:?} service"),
            hint: Some("an IPv4 netmask such as 255.255.255.0, or an IPv6 prefix length".into()),
        })?,
    };
    let persistence = timeout.map(|timeout| Persistence { timeout, prefix_length, engine: vs.engine.clone() });
    let mut destinations = crate::model::keyed::KeyedMap::<Destination>::new();
    for real in &vs.real_servers {
        let method = effective_method(real.method, vs.method);
        let destination = Destination {
            address: real.address,
            port: resolved_port(&key, real, vs.method),
            method: method.method,
            weight: real.weight,
            upper_threshold: real.upper,
            lower_threshold: real.lower,
            tunnel: if method.method == ForwardingMethod::Tunnel { method.tunnel } else { Default::default() },
        };
        if destinations.contains_key(&destination.key()) {
            vs.notes.push(format!(
                "line {}: real server {} duplicated: keepalived drops the second",
                real.line,
                destination.key()
            ));
            continue;
        }
        destinations.insert(destination.key(), destination);
    }
    Ok(Service {
        key,
        settings: ServiceSettings { scheduler, scheduler_flags, persistence, one_packet: vs.one_packet },
        destinations,
    })
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

fn real_server(node: &Node, file: &str) -> Result<RealServer, ImportError> {
    let address = address(node.arg(0), node, file)?;
    let port = if node.arg(1).is_some() { parse_number(node, 1, file)? } else { 0 };
    let mut real =
        RealServer { line: node.line, address, port, method: None, weight: 1, upper: 0, lower: 0, notes: Vec::new() };
    for child in node.children.iter().flatten() {
        let words = &child.words[1..];
        match child.keyword() {
            "weight" => real.weight = parse_number(child, 0, file)?,
            "uthreshold" => real.upper = parse_number(child, 0, file)?,
            "lthreshold" => real.lower = parse_number(child, 0, file)?,
            "lvs_method" => real.method = Some(method(words, child, file)?),
            // keepalived 2.x knows only lvs_method here: it logs "Unknown keyword" and
            // the real server keeps the virtual server's method. So does the import.
            "lb_kind" => real.notes.push(format!(
                "line {}: `lb_kind` ignored: keepalived does not know it inside real_server (use lvs_method); the virtual server's method applies",
                child.line
            )),
            "tunnel_type" => {
                let fail =
                    |message: String| ImportError::Parse { file: file.into(), line: child.line, message, hint: None };
                real.method = Some(Method { method: ForwardingMethod::Tunnel, tunnel: tunnel(words, &fail)? });
            }
            keyword => {
                let why = runtime_note(keyword).unwrap_or("unknown to this importer");
                let block = if child.children.is_some() { " block" } else { "" };
                real.notes.push(format!("line {}: `{keyword}`{block} not converted: {why}", child.line));
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
        let error = parse("}\n", "k.conf").unwrap_err().to_string();
        assert!(error.starts_with("k.conf:1: `}` closes no block"), "{error}");
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
