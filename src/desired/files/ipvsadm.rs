//! IPVS rules in `ipvsadm-save -n` format: what distro ipvsadm units (Debian's
//! /etc/ipvsadm.rules, RHEL's /etc/sysconfig/ipvsadm) hand to `ipvsadm-restore` or straight
//! to `ipvsadm -R`. Plain `ipvsadm -R` parses every line as options and stops at the first
//! it cannot (a `#` comment included), so the file holds nothing but rules (its first line,
//! the ownership marker `--set 0 0 0`, is one too: it changes no timeout).
//!
//! Services in key order, each followed by its real servers in key order. Two additions to
//! what `ipvsadm-save` writes, both accepted by `ipvsadm -R`: the spec's connection
//! timeouts as a first `--set TCP TCPFIN UDP` line (ipvsadm-save never saves timeouts), and
//! real-server thresholds as `-x`/`-y` (ipvsadm-save drops them). Restoring the file
//! therefore yields exactly the `ipvsadm -Sn` of the converged host.

use std::fmt::Write;
use std::net::IpAddr;

use crate::model::ipvs::{
    Destination, Family, ForwardingMethod, IpvsState, Protocol, Service, ServiceKey, SocketText, TunnelChecksum,
    TunnelType,
};

/// None when there is nothing to restore (a real server, or no IPVS in the spec).
pub fn render(ipvs: &IpvsState) -> Option<String> {
    if ipvs.services.is_empty() && ipvs.timeouts.is_none() {
        return None;
    }
    let mut out = String::new();
    if let Some(t) = &ipvs.timeouts {
        let _ = writeln!(out, "--set {} {} {}", t.tcp, t.tcp_fin, t.udp);
    }
    for service in ipvs.services.values() {
        out.push_str(&service_line(service));
        for destination in service.destinations.values() {
            out.push_str(&destination_line(&service.key, destination));
        }
    }
    Some(out)
}

/// `-t 203.0.113.100:80`, `--sctp-service [2001:db8::1]:3868`, `-f 7` (`-f 7 -6`).
fn service_id(key: &ServiceKey) -> String {
    match key {
        ServiceKey::Address { protocol, address, port } => {
            let flag = match protocol {
                Protocol::Tcp => "-t",
                Protocol::Udp => "-u",
                Protocol::Sctp => "--sctp-service",
            };
            format!("{flag} {}", SocketText(*address, *port))
        }
        ServiceKey::FirewallMark { fwmark, family: Family::Ipv4 } => format!("-f {fwmark}"),
        ServiceKey::FirewallMark { fwmark, family: Family::Ipv6 } => format!("-f {fwmark} -6"),
    }
}

fn service_line(service: &Service) -> String {
    let mut line = format!("-A {} -s {}", service_id(&service.key), service.settings.scheduler.name());
    if service.settings.one_packet {
        line.push_str(" -o");
    }
    if !service.settings.scheduler_flags.is_empty() {
        let flags: Vec<&str> = service.settings.scheduler_flags.iter().map(|f| f.name()).collect();
        let _ = write!(line, " -b {}", flags.join(","));
    }
    if let Some(persistence) = &service.settings.persistence {
        let _ = write!(line, " -p {}", persistence.timeout);
        let family = service.key.family();
        if persistence.prefix_length != family.max_prefix() {
            match family {
                Family::Ipv4 => {
                    let mask = u32::MAX.checked_shl(32 - u32::from(persistence.prefix_length)).unwrap_or(0);
                    let _ = write!(line, " -M {}", std::net::Ipv4Addr::from(mask));
                }
                Family::Ipv6 => {
                    let _ = write!(line, " -M {}", persistence.prefix_length);
                }
            }
        }
        if let Some(engine) = &persistence.engine {
            let _ = write!(line, " --pe {engine}");
        }
    }
    line.push('\n');
    line
}

fn destination_line(service: &ServiceKey, destination: &Destination) -> String {
    let method = match destination.method {
        ForwardingMethod::Dr => "-g",
        ForwardingMethod::Tunnel => "-i",
        ForwardingMethod::Masq => "-m",
    };
    let address: IpAddr = destination.address;
    let mut line = format!(
        "-a {} -r {} {method} -w {}",
        service_id(service),
        SocketText(address, destination.port),
        destination.weight
    );
    if destination.upper_threshold != 0 {
        let _ = write!(line, " -x {}", destination.upper_threshold);
    }
    if destination.lower_threshold != 0 {
        let _ = write!(line, " -y {}", destination.lower_threshold);
    }
    if destination.method == ForwardingMethod::Tunnel {
        let tunnel = &destination.tunnel;
        let _ = write!(line, " --tun-type {}", tunnel.kind.name());
        if tunnel.kind == TunnelType::Gue {
            let _ = write!(line, " --tun-port {}", tunnel.port);
        }
        if tunnel.kind != TunnelType::Ipip {
            let _ = write!(line, " --tun-{}", TunnelChecksum::from_flags(tunnel.flags).option_name());
        }
    }
    line.push('\n');
    line
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::desired;

    fn ipvs(text: &str) -> IpvsState {
        desired::parse(text, std::path::Path::new("t.yaml")).expect("valid spec").desired.ipvs
    }

    #[test]
    fn renders_ipvsadm_save_lines_with_timeouts_and_thresholds() {
        let text = "apiVersion: lvs-converge/v1\nkind: Host\nipvs:\n  timeouts: { tcp: 15m, tcpFin: 2m, udp: 5m }\n  services:\n    - address: 203.0.113.100\n      port: 80\n      scheduler: wlc\n      persistence: { timeout: 1h, netmask: 24 }\n      realServers:\n        - { address: 203.0.113.11, weight: 3 }\n        - { address: 198.51.100.22, upperThreshold: 500, lowerThreshold: 400 }\n    - protocol: udp\n      address: 203.0.113.100\n      port: 53\n      scheduler: sh\n      schedulerFlags: [sh-fallback, sh-port]\n      onePacket: true\n      realServers:\n        - { address: 203.0.113.11, method: dr }\n    - fwmark: 7\n      scheduler: mh\n      realServers:\n        - { address: 203.0.113.11, port: 0, method: masq }\n    - protocol: tcp\n      address: \"2001:db8::100\"\n      port: 443\n      scheduler: lc\n      persistence: { timeout: 10m, netmask: 64 }\n      realServers:\n        - { address: \"2001:db8:1::11\" }\n";
        assert_eq!(
            render(&ipvs(text)).unwrap(),
            "--set 900 120 300\n\
             -A -t 203.0.113.100:80 -s wlc -p 3600 -M 255.255.255.0\n\
             -a -t 203.0.113.100:80 -r 198.51.100.22:80 -i -w 1 -x 500 -y 400 --tun-type ipip\n\
             -a -t 203.0.113.100:80 -r 203.0.113.11:80 -i -w 3 --tun-type ipip\n\
             -A -t [2001:db8::100]:443 -s lc -p 600 -M 64\n\
             -a -t [2001:db8::100]:443 -r [2001:db8:1::11]:443 -i -w 1 --tun-type ipip\n\
             -A -u 203.0.113.100:53 -s sh -o -b sh-fallback,sh-port\n\
             -a -u 203.0.113.100:53 -r 203.0.113.11:53 -g -w 1\n\
             -A -f 7 -s mh\n\
             -a -f 7 -r 203.0.113.11:0 -m -w 1\n"
        );
    }

    #[test]
    fn nothing_to_restore_renders_no_file() {
        assert_eq!(render(&IpvsState::default()), None);
    }
}
