//! `ipvsadm-save -n` / `ipvsadm -Sn` rules: one `-A` line per virtual service, one `-a`
//! line per real server, optionally a `--set TCP TCPFIN UDP` line (what `ipvsadm -R`
//! accepts). Options may come in any order, short or long, `--opt=value` or `--opt value`.
//! Defaults are ipvsadm's: scheduler wlc, weight 1, **direct routing** when no `-g/-i/-m`
//! is given, persistence 300 s for a bare `-p`, the service's port for a real server
//! without one.

use std::net::{IpAddr, Ipv4Addr};

use super::canonical::IpvsNotes;
use super::ImportError;
use crate::model::ipvs::{
    Destination, Family, ForwardingMethod, IpvsState, Persistence, Protocol, Scheduler, SchedulerFlag, Service,
    ServiceKey, ServiceSettings, Timeouts, TunnelChecksum, TunnelEncapsulation, TunnelType,
};
use crate::model::keyed::Keyed;
use crate::spec::ipvs::{Limit, DEFAULT_PERSISTENCE_TIMEOUT, PERSISTENCE_TIMEOUT, WEIGHT};

/// The table a rules file describes.
#[derive(Debug, Default)]
pub struct SavedTable {
    pub ipvs: IpvsState,
    pub notes: IpvsNotes,
    /// File-level notes (ignored lines and the like).
    pub messages: Vec<String>,
}

/// IP_VS_SVC_F_SCHED3: no scheduler gives it a meaning the spec knows.
const SCHED_FLAG_3: &str = "flag-3";

pub fn parse(text: &str, file: &str) -> Result<SavedTable, ImportError> {
    let mut table = SavedTable::default();
    // An editor's byte order mark glues itself to the first word: ipvsadm -R reads
    // "\u{feff}-A" as no option at all and stops there. The rules are plain enough to read
    // past it; the note says that ipvsadm cannot.
    let text = match text.strip_prefix('\u{feff}') {
        Some(rest) => {
            table.messages.push(format!(
                "{file}:1: a UTF-8 byte order mark at the start was skipped; `ipvsadm -R` rejects the first \
                 line with it: remove it from the file"
            ));
            rest
        }
        None => text,
    };
    for (index, raw) in text.lines().enumerate() {
        let line = index + 1;
        let content = raw.trim();
        if content.is_empty() || content.starts_with('#') {
            continue;
        }
        let fail = |message: String, hint: Option<&str>| ImportError::Parse {
            file: file.to_string(),
            line,
            message,
            hint: hint.map(str::to_string),
        };
        let mut options = Options::split(content);
        let command = options.next_word().ok_or_else(|| fail("empty line".into(), None))?;
        match command.as_str() {
            "-A" | "--add-service" => {
                let service = service_line(&mut options, &fail)?;
                if table.ipvs.services.contains_key(&service.key) {
                    return Err(fail(format!("service {} is added twice", service.key), None));
                }
                table.ipvs.services.insert(service.key(), service);
            }
            "-a" | "--add-server" => {
                let (key, destination) = destination_line(&mut options, &table.ipvs, &fail)?;
                let service = table.ipvs.services.get_mut(&key).expect("checked by destination_line");
                if service.destinations.insert(destination.key(), destination.clone()).is_some() {
                    return Err(fail(format!("real server {} of {key} is added twice", destination.key()), None));
                }
            }
            "--set" => {
                let mut values = [0u32; 3];
                for value in &mut values {
                    let word = options.next_word().ok_or_else(|| {
                        fail("--set needs three timeouts".into(), Some("--set TCP TCPFIN UDP, in seconds"))
                    })?;
                    *value = number(&word, "timeout", &fail)?;
                }
                // 0 means "leave this one as it is": the kernel keeps its value, the default
                // on a fresh host.
                let defaults = Timeouts::KERNEL_DEFAULTS;
                let pick = |value: u32, default: u32| if value == 0 { default } else { value };
                if values.contains(&0) {
                    table.messages.push(format!(
                        "{file}:{line}: --set with 0 (unchanged) imported as the kernel's default for that timeout"
                    ));
                }
                table.ipvs.timeouts = Some(Timeouts {
                    tcp: pick(values[0], defaults.tcp),
                    tcp_fin: pick(values[1], defaults.tcp_fin),
                    udp: pick(values[2], defaults.udp),
                });
            }
            "-C" | "--clear" => {
                table
                    .messages
                    .push(format!("{file}:{line}: `{command}` ignored: the spec describes the table after it"));
            }
            other => {
                return Err(fail(
                    format!("`{other}` is not a rule ipvsadm-save writes"),
                    Some("expected -A (service), -a (real server) or --set lines, as `ipvsadm-save -n` writes them"),
                ))
            }
        }
        if let Some(extra) = options.next_word() {
            return Err(fail(format!("unexpected `{extra}`"), Some("see `man ipvsadm` for the options of this rule")));
        }
    }
    Ok(table)
}

type Fail<'a> = &'a dyn Fn(String, Option<&str>) -> ImportError;

/// The words of a line, with `--opt=value` split in two.
struct Options {
    words: std::collections::VecDeque<String>,
}

impl Options {
    fn split(line: &str) -> Self {
        let mut words = std::collections::VecDeque::new();
        for word in line.split_whitespace() {
            match word.split_once('=').filter(|(name, _)| name.starts_with("--")) {
                Some((name, value)) => {
                    words.push_back(name.to_string());
                    words.push_back(value.to_string());
                }
                None => words.push_back(word.to_string()),
            }
        }
        Options { words }
    }

    fn next_word(&mut self) -> Option<String> {
        self.words.pop_front()
    }

    fn value(&mut self, option: &str, fail: Fail) -> Result<String, ImportError> {
        self.next_word().ok_or_else(|| fail(format!("`{option}` needs a value"), None))
    }

    /// The next word if it is a number (an optional argument such as `-p [TIMEOUT]`).
    fn optional_number(&mut self) -> Option<String> {
        let is_number = self.words.front().is_some_and(|w| w.chars().all(|c| c.is_ascii_digit()));
        if is_number {
            self.next_word()
        } else {
            None
        }
    }
}

fn number<T: std::str::FromStr>(word: &str, what: &str, fail: Fail) -> Result<T, ImportError> {
    word.parse().map_err(|_| fail(format!("`{word}` is not a valid {what}"), None))
}

/// A value ipvsadm checks against the range the spec shares with it (`limit`): outside it,
/// `ipvsadm -R` refuses the line (upstream's, at least) and the spec cannot hold it.
fn ipvsadm_number(word: &str, option: &str, limit: &Limit, fail: Fail) -> Result<u32, ImportError> {
    let value: u64 = number(word, limit.field, fail)?;
    match u32::try_from(value) {
        Ok(value) if (limit.min..=limit.max).contains(&i64::from(value)) => Ok(value),
        _ => Err(fail(
            format!("`{option} {word}`: {} out of range {}-{} ({})", limit.field, limit.min, limit.max, limit.source),
            // The spec's own hint speaks of spec fields; here the fix is in the saved rules.
            Some(
                "the spec holds only what every distro's ipvsadm -R restores: correct the value in the file (or drop the option) and import again",
            ),
        )),
    }
}

/// The service an option such as `-t 203.0.113.100:80` names. Host and service names are
/// refused: the import must not depend on DNS or /etc/services.
fn service_key(option: &str, value: &str, ipv6: bool, fail: Fail) -> Result<ServiceKey, ImportError> {
    let protocol = match option {
        "-t" | "--tcp-service" => Protocol::Tcp,
        "-u" | "--udp-service" => Protocol::Udp,
        "--sctp-service" => Protocol::Sctp,
        _ => {
            let fwmark: u32 = number(value, "firewall mark", fail)?;
            let family = if ipv6 { Family::Ipv6 } else { Family::Ipv4 };
            return Ok(ServiceKey::FirewallMark { fwmark, family });
        }
    };
    let (address, port) = socket(value, fail)?;
    let port = port.ok_or_else(|| fail(format!("service `{value}` has no port"), Some("write ADDRESS:PORT")))?;
    Ok(ServiceKey::Address { protocol, address, port })
}

/// `203.0.113.11:80`, `[2001:db8::1]:80`, `203.0.113.11` (no port).
fn socket(value: &str, fail: Fail) -> Result<(IpAddr, Option<u16>), ImportError> {
    let names_hint = Some("numeric addresses and ports only: save the table with `ipvsadm-save -n` (or `ipvsadm -Sn`)");
    let (address, port) = if let Some(rest) = value.strip_prefix('[') {
        let (address, port) = rest.split_once(']').ok_or_else(|| fail(format!("`{value}`: missing `]`"), None))?;
        (address, port.strip_prefix(':'))
    } else {
        match value.rsplit_once(':') {
            Some((address, port)) if !address.contains(':') => (address, Some(port)),
            _ => (value, None),
        }
    };
    let address: IpAddr = address.parse().map_err(|_| {
        // Digits and dots are a numeric address gone wrong, not a host name.
        if !address.is_empty() && address.chars().all(|c| c.is_ascii_digit() || c == '.') {
            fail(
                format!("`{address}` is not an IPv4 address"),
                Some("four numbers 0-255 separated by dots, such as 203.0.113.11"),
            )
        } else {
            fail(format!("`{address}` is not a numeric IP address"), names_hint)
        }
    })?;
    let port = match port {
        Some(port) if !port.is_empty() && port.chars().all(|c| c.is_ascii_digit()) => {
            Some(port.parse().map_err(|_| {
                fail(format!("port {port} is out of range 0-65535"), Some("a TCP/UDP/SCTP port is 0-65535"))
            })?)
        }
        Some(port) => Some(port.parse().map_err(|_| fail(format!("`{port}` is not a numeric port"), names_hint))?),
        None => None,
    };
    Ok((address, port))
}

/// The service a rule names with `(option, value)`, or `missing` as the error.
fn required_service(
    target: Option<(String, String)>,
    ipv6: bool,
    missing: &str,
    fail: Fail,
) -> Result<ServiceKey, ImportError> {
    let (option, value) = target
        .ok_or_else(|| fail(missing.into(), Some("name the service with -t/-u/--sctp-service ADDR:PORT or -f MARK")))?;
    service_key(&option, &value, ipv6, fail)
}

fn is_service_option(word: &str) -> bool {
    matches!(word, "-t" | "--tcp-service" | "-u" | "--udp-service" | "--sctp-service" | "-f" | "--fwmark-service")
}

fn service_line(options: &mut Options, fail: Fail) -> Result<Service, ImportError> {
    let mut target: Option<(String, String)> = None;
    let mut ipv6 = false;
    let mut scheduler = Scheduler::default();
    let mut flag_names: Vec<String> = Vec::new();
    let mut persistence_timeout: Option<u32> = None;
    let mut netmask: Option<String> = None;
    let mut engine: Option<String> = None;
    let mut one_packet = false;
    while let Some(word) = options.next_word() {
        match word.as_str() {
            w if is_service_option(w) => target = Some((word.clone(), options.value(&word, fail)?)),
            "-6" | "--ipv6" => ipv6 = true,
            "-s" | "--scheduler" => {
                let name = options.value(&word, fail)?;
                scheduler = Scheduler::from_name(&name).ok_or_else(|| {
                    fail(
                        format!("unknown scheduler `{name}`"),
                        Some("the kernel's schedulers: rr wrr lc wlc lblc lblcr dh sh sed nq fo ovf mh twos"),
                    )
                })?;
            }
            "-b" | "--sched-flags" => flag_names.extend(options.value(&word, fail)?.split(',').map(str::to_string)),
            "-p" | "--persistent" => {
                persistence_timeout = Some(match options.optional_number() {
                    Some(value) => ipvsadm_number(&value, "-p", &PERSISTENCE_TIMEOUT, fail)?,
                    None => DEFAULT_PERSISTENCE_TIMEOUT.0,
                })
            }
            "-M" | "--netmask" => netmask = Some(options.value(&word, fail)?),
            "--pe" => engine = Some(options.value(&word, fail)?),
            "-o" | "--ops" => one_packet = true,
            other => return Err(unknown_option(other, "service", fail)),
        }
    }
    let key = required_service(target, ipv6, "-A without a service", fail)?;
    let family = key.family();
    let persistence = match persistence_timeout {
        None if netmask.is_some() || engine.is_some() => {
            return Err(fail("-M/--pe without -p".into(), Some("persistence options need -p [TIMEOUT]")))
        }
        None => None,
        Some(timeout) => Some(Persistence {
            timeout,
            prefix_length: match &netmask {
                None => family.max_prefix(),
                Some(mask) => prefix_length(mask, family, fail)?,
            },
            engine,
        }),
    };
    let mut scheduler_flags = Vec::new();
    for name in &flag_names {
        scheduler_flags.push(scheduler_flag(name, scheduler, fail)?);
    }
    scheduler_flags.sort();
    scheduler_flags.dedup();
    Ok(Service {
        key,
        settings: ServiceSettings { scheduler, scheduler_flags, persistence, one_packet },
        destinations: Default::default(),
    })
}

fn unknown_option(option: &str, what: &str, fail: Fail) -> ImportError {
    fail(
        format!("`{option}` is not an option of a {what} rule"),
        Some("see `man ipvsadm`; lines are as `ipvsadm-save -n` writes them"),
    )
}

/// `255.255.255.0` (IPv4) or a prefix length (`24`, `64`).
fn prefix_length(mask: &str, family: Family, fail: Fail) -> Result<u8, ImportError> {
    if let Ok(prefix) = mask.parse::<u8>() {
        if prefix <= family.max_prefix() {
            return Ok(prefix);
        }
    }
    let bits = mask.parse::<Ipv4Addr>().map(u32::from).ok().filter(|_| family == Family::Ipv4);
    match bits {
        Some(bits) if bits.leading_ones() + bits.trailing_zeros() == 32 => Ok(bits.leading_ones() as u8),
        _ => Err(fail(format!("`{mask}` is not a netmask for this {family:?} service"), None)),
    }
}

/// ipvsadm's names, and the generic `flag-1`/`flag-2` that mean fallback/port for sh and mh.
fn scheduler_flag(name: &str, scheduler: Scheduler, fail: Fail) -> Result<SchedulerFlag, ImportError> {
    let generic = match (name, scheduler) {
        ("flag-1", Scheduler::Sh) => Some(SchedulerFlag::ShFallback),
        ("flag-2", Scheduler::Sh) => Some(SchedulerFlag::ShPort),
        ("flag-1", Scheduler::Mh) => Some(SchedulerFlag::MhFallback),
        ("flag-2", Scheduler::Mh) => Some(SchedulerFlag::MhPort),
        _ => None,
    };
    let flag = generic.or_else(|| SchedulerFlag::ALL.into_iter().find(|f| f.name() == name));
    match flag {
        Some(flag) if flag.scheduler() == scheduler => Ok(flag),
        _ if name == SCHED_FLAG_3 || name.starts_with("flag-") => Err(fail(
            format!("scheduler flag `{name}` has no meaning the spec can express for scheduler {}", scheduler.name()),
            Some("the spec knows sh-fallback, sh-port (sh) and mh-fallback, mh-port (mh)"),
        )),
        _ => Err(fail(
            format!("scheduler flag `{name}` does not apply to scheduler {}", scheduler.name()),
            Some("sh-fallback/sh-port go with -s sh, mh-fallback/mh-port with -s mh"),
        )),
    }
}

fn destination_line(
    options: &mut Options,
    ipvs: &IpvsState,
    fail: Fail,
) -> Result<(ServiceKey, Destination), ImportError> {
    let mut target: Option<(String, String)> = None;
    let mut ipv6 = false;
    let mut real_server: Option<String> = None;
    // ipvsadm's default forwarding method is direct routing (-g).
    let mut method = ForwardingMethod::Dr;
    let mut weight = 1u32;
    let (mut upper, mut lower) = (0u32, 0u32);
    let mut tunnel_kind: Option<TunnelType> = None;
    let mut tunnel_port = 0u16;
    let mut tunnel_flags = 0u16;
    while let Some(word) = options.next_word() {
        match word.as_str() {
            w if is_service_option(w) => target = Some((word.clone(), options.value(&word, fail)?)),
            "-6" | "--ipv6" => ipv6 = true,
            "-r" | "--real-server" => real_server = Some(options.value(&word, fail)?),
            "-g" | "--gatewaying" => method = ForwardingMethod::Dr,
            "-i" | "--ipip" => method = ForwardingMethod::Tunnel,
            "-m" | "--masquerading" => method = ForwardingMethod::Masq,
            "-w" | "--weight" => weight = ipvsadm_number(&options.value(&word, fail)?, "-w", &WEIGHT, fail)?,
            "-x" | "--u-threshold" => upper = number(&options.value(&word, fail)?, "upper threshold", fail)?,
            "-y" | "--l-threshold" => lower = number(&options.value(&word, fail)?, "lower threshold", fail)?,
            "--tun-type" => {
                let name = options.value(&word, fail)?;
                tunnel_kind = Some(match name.as_str() {
                    "ipip" => TunnelType::Ipip,
                    "gue" => TunnelType::Gue,
                    "gre" => TunnelType::Gre,
                    _ => return Err(fail(format!("unknown tunnel type `{name}`"), Some("ipip, gue or gre"))),
                });
            }
            "--tun-port" => tunnel_port = number(&options.value(&word, fail)?, "tunnel port", fail)?,
            "--tun-nocsum" => tunnel_flags = TunnelChecksum::None.flags(),
            "--tun-csum" => tunnel_flags = TunnelChecksum::Csum.flags(),
            "--tun-remcsum" => tunnel_flags = TunnelChecksum::Remcsum.flags(),
            other => return Err(unknown_option(other, "real-server", fail)),
        }
    }
    let key = required_service(target, ipv6, "-a without the service it belongs to", fail)?;
    if !ipvs.services.contains_key(&key) {
        return Err(fail(
            format!("real server for {key}, which no earlier -A line adds"),
            Some("add the service with -A before its real servers"),
        ));
    }
    let real_server = real_server.ok_or_else(|| fail("-a without -r ADDRESS[:PORT]".into(), None))?;
    let (address, port) = socket(&real_server, fail)?;
    let service_port = match key {
        ServiceKey::Address { port, .. } => port,
        ServiceKey::FirewallMark { .. } => 0,
    };
    let tunnel = if method == ForwardingMethod::Tunnel {
        let kind = tunnel_kind.unwrap_or_default();
        TunnelEncapsulation {
            kind,
            port: if kind == TunnelType::Gue { tunnel_port } else { 0 },
            flags: if kind == TunnelType::Ipip { 0 } else { tunnel_flags },
        }
    } else {
        TunnelEncapsulation::default()
    };
    let destination = Destination {
        address,
        port: port.unwrap_or(service_port),
        method,
        weight,
        upper_threshold: upper,
        lower_threshold: lower,
        tunnel,
    };
    Ok((key, destination))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_ipvsadms() {
        let table = parse("-A -t 10.1.1.1:80\n-a -t 10.1.1.1:80 -r 10.2.2.2\n", "t").unwrap();
        let service = table.ipvs.services.values().next().unwrap();
        assert_eq!(service.settings.scheduler, Scheduler::Wlc);
        let destination = service.destinations.values().next().unwrap();
        assert_eq!((destination.method, destination.weight, destination.port), (ForwardingMethod::Dr, 1, 80));
    }

    #[test]
    fn errors_name_line_and_token_with_a_hint() {
        let error = parse("# saved\n-A -t www.example.com:http -s rr\n", "rules").unwrap_err().to_string();
        assert!(error.starts_with("rules:2: `www.example.com` is not a numeric IP address"), "{error}");
        assert!(error.contains("ipvsadm-save -n"), "{error}");
        let error = parse("-A -t 10.1.1.1:80 --frobnicate\n", "rules").unwrap_err().to_string();
        assert!(error.starts_with("rules:1: `--frobnicate` is not an option"), "{error}");
        let error = parse("-a -t 10.1.1.1:80 -r 10.2.2.2:80\n", "rules").unwrap_err().to_string();
        assert!(error.contains("no earlier -A line"), "{error}");
        let error = parse("-A -u 10.1.1.1:53 -s rr -b sh-port\n", "rules").unwrap_err().to_string();
        assert!(error.contains("does not apply to scheduler rr"), "{error}");
    }

    /// Issue 18, persistence finding 5: both gave the "save with -n" hint, which names the
    /// wrong problem.
    #[test]
    fn a_number_out_of_range_is_named_as_such_not_as_a_host_name() {
        for (rules, expected) in [
            ("-A -t 10.1.1.1:99999 -s rr\n", "rules:1: port 99999 is out of range 0-65535"),
            ("-A -t 300.0.0.1:80 -s rr\n", "rules:1: `300.0.0.1` is not an IPv4 address"),
            ("-A -t 10.1.1.1:80\n-a -t 10.1.1.1:80 -r 10.0.0.256:80\n", "rules:2: `10.0.0.256` is not an IPv4 address"),
        ] {
            let error = parse(rules, "rules").unwrap_err().to_string();
            assert!(error.starts_with(expected), "{error}");
            assert!(!error.contains("ipvsadm-save -n"), "{error}");
        }
    }

    /// Issue 18, persistence finding 5: `-p 0` imported as `timeout: 0s`, a spec that fails
    /// validate; ipvsadm refuses it ("invalid timeout value") and `ipvsadm -R` stops there.
    /// The same for the other values ipvsadm refuses and the spec cannot hold.
    #[test]
    fn values_outside_ipvsadms_ranges_are_refused_naming_the_range() {
        for (rules, expected) in [
            (
                "-A -t 10.1.1.1:80 -s rr -p 0\n",
                "rules:1: `-p 0`: persistence timeout out of range 1-2678400 (ipvsadm -R",
            ),
            ("-A -t 10.1.1.1:80 -p 2678401\n", "rules:1: `-p 2678401`: persistence timeout out of range 1-2678400"),
            (
                "-A -t 10.1.1.1:80\n-a -t 10.1.1.1:80 -r 10.2.2.2 -w 65536\n",
                "rules:2: `-w 65536`: weight out of range 0-65535 (ipvsadm -R",
            ),
        ] {
            let error = parse(rules, "rules").unwrap_err().to_string();
            assert!(error.starts_with(expected), "{error}");
            assert!(error.contains("hint:"), "{error}");
        }
        let table = parse("-A -t 10.1.1.1:80 -p 2678400\n-a -t 10.1.1.1:80 -r 10.2.2.2 -w 65535\n", "t").unwrap();
        let service = table.ipvs.services.values().next().unwrap();
        assert_eq!(service.settings.persistence.as_ref().unwrap().timeout, 2678400);
        assert_eq!(service.destinations.values().next().unwrap().weight, 65535);
    }

    /// Issue 18, persistence finding 5: a byte order mark broke the first rule.
    #[test]
    fn a_byte_order_mark_is_skipped_with_a_note() {
        let table = parse("\u{feff}-A -t 10.1.1.1:80 -s rr\n", "rules").unwrap();
        assert_eq!(table.ipvs.services.len(), 1);
        assert_eq!(table.messages.len(), 1);
        assert!(table.messages[0].starts_with("rules:1: a UTF-8 byte order mark"), "{:?}", table.messages);
        assert!(table.messages[0].contains("ipvsadm -R"), "{:?}", table.messages);
    }

    #[test]
    fn long_options_and_equals_forms() {
        let table = parse(
            "--add-service --udp-service=10.1.1.1:53 --scheduler sh --sched-flags flag-1,flag-2 --persistent --netmask 255.255.0.0\n",
            "t",
        )
        .unwrap();
        let service = table.ipvs.services.values().next().unwrap();
        assert_eq!(service.settings.scheduler_flags, vec![SchedulerFlag::ShFallback, SchedulerFlag::ShPort]);
        let persistence = service.settings.persistence.as_ref().unwrap();
        assert_eq!((persistence.timeout, persistence.prefix_length), (300, 16));
    }
}
