//! Rules for a real server: can it take a tunnelled packet for the VIP, answer it, and stay
//! quiet about the VIP on its own segment.

use std::net::IpAddr;

use super::facts::{family_name, Facts, Source};
use super::Finding;
use crate::desired::Spec;
use crate::model::addresses::host_prefix_length;
use crate::model::interface_sysctl;
use crate::model::ipvs::{Family, TunnelType};
use crate::model::tunnels::Receiver;
use crate::model::Role;

const IPV4_HEADER: u32 = 20;
const IPV6_HEADER: u32 = 40;
const ETHERNET_MTU: u32 = 1500;

/// `receive_path`: where the spec says what the host receives (`receive`, or `role` that
/// implies ipip).
pub(super) fn check(spec: &Spec, facts: &Facts, prefix: &str, receive_path: &str) -> Vec<Finding> {
    let mut findings = Vec::new();
    let vips = held_vips(facts);
    if vips.is_empty() {
        findings.push(vip_missing(spec, prefix));
    }
    findings.extend(strict_rp_filter(facts, prefix));
    for vip in &vips {
        findings.extend(arp_for_vip(*vip, facts, prefix));
    }
    findings.extend(ipip_overhead(facts, prefix));
    if spec.node.is_none() && spec.role == Some(Role::RealServer) {
        findings.extend(receives(facts, &format!("{prefix}{receive_path}")));
    }
    findings
}

/// A Host spec's real server cannot be checked against its directors: say what it takes, so
/// that whoever writes the directors' destinations can compare.
fn receives(facts: &Facts, path: &str) -> Option<Finding> {
    let receivers = facts.receivers();
    if receivers.is_empty() {
        return None;
    }
    let described: Vec<String> =
        receivers.iter().map(|r| format!("{} ({} inside)", r.receive_entry(), family_name(r.inner))).collect();
    Some(
        Finding::note(
            "real-server-receives",
            format!("this real server receives {}", described.join(", ")),
            "Each director's tunnel destination for this host must use one of these encapsulations (and GUE \
             ports); the kernel drops any other. A Host spec cannot see its directors; a Cluster spec checks this \
             across hosts.",
            "give the directors' destinations for this host a matching `tunnel:`, or change `receive:` here".into(),
        )
        .at(path),
    )
}

/// Host addresses on lo or a tunnel device: where LVS-TUN real servers hold VIPs.
pub(super) fn held_vips(facts: &Facts) -> Vec<IpAddr> {
    let mut vips: Vec<IpAddr> = facts
        .addresses()
        .iter()
        .filter(|a| a.interface == "lo" || facts.is_tunnel_device(&a.interface))
        .filter(|a| a.prefix_length == host_prefix_length(&a.address) && !a.address.is_loopback())
        .map(|a| a.address)
        .collect();
    vips.sort();
    vips.dedup();
    vips
}

fn vip_missing(spec: &Spec, prefix: &str) -> Finding {
    let path = if spec.role == Some(Role::RealServer) { "vips" } else { "addresses" };
    Finding::error(
        "vip-missing",
        "this real server decapsulates tunnelled packets but holds no VIP on lo or a tunnel device".into(),
        "After a tunnel device unwraps a packet its destination is the VIP; the kernel accepts it only if the VIP is a local \
         address. Without it the packet is dropped (or forwarded), and the client never gets an answer.",
        "add each VIP as a /32 (IPv6: /128) on lo, e.g. `addresses: [{ address: 203.0.113.100/32, interface: lo }]`, \
         or use `role: real-server` with `vips: [...]`"
            .into(),
    )
    .at(format!("{prefix}{path}"))
}

/// The spec field of a sysctl, or none when the value was read from the host.
fn sysctl_path(prefix: &str, key: &str, source: Source) -> String {
    match source {
        Source::Spec => format!("{prefix}sysctls.{key}"),
        Source::Host => String::new(),
    }
}

fn where_set(source: Source) -> &'static str {
    match source {
        Source::Spec => "the spec sets",
        Source::Host => "the host has",
    }
}

/// The kernel filters with max(conf/all, conf/DEVICE); a device that does not exist yet
/// gets conf/default when it is created.
fn strict_rp_filter(facts: &Facts, prefix: &str) -> Vec<Finding> {
    let mut findings = Vec::new();
    for device in facts.ipv4_decapsulating_devices() {
        let all_key = interface_sysctl("all", "rp_filter");
        let device_key = interface_sysctl(device, "rp_filter");
        let default_key = interface_sysctl("default", "rp_filter");
        let all = facts.sysctl(&all_key).map(|(value, source)| (value, source, all_key.clone()));
        let own = facts
            .sysctl(&device_key)
            .map(|(value, source)| (value, source, device_key.clone()))
            .or_else(|| facts.sysctl(&default_key).map(|(value, source)| (value, source, default_key.clone())));
        let effective = [all, own].into_iter().flatten().max_by_key(|(value, ..)| *value);
        // Loose mode (2) accepts a source reachable by any route, but only on a device with an
        // IPv4 address of its own: on one without (tunl0, gre0 …) the kernel rejects before
        // looking (fib_validate_source), as measured on the lab kernel.
        let addressless = !facts.addresses().iter().any(|a| a.interface == device && a.address.is_ipv4());
        let effective = effective.filter(|(value, ..)| *value == 1 || (*value == 2 && addressless));
        let Some((value, source, key)) = effective else { continue };
        let mode = if value == 1 { "strict" } else { "loose" };
        findings.push(
            Finding::error(
                "rp-filter-strict",
                format!(
                    "{} {key} = {value}: {mode} reverse-path filtering on tunnel device {device}",
                    where_set(source)
                ),
                "A decapsulated packet comes from the client's address, and the route back to the client is not \
                 via the tunnel device; strict reverse-path filtering (1) drops every such packet, and so does \
                 loose (2) on a device without an IPv4 address of its own. The effective value is the larger of \
                 conf/all and conf/DEVICE (conf/default for a device not created yet).",
                format!(
                    "set net.ipv4.conf.all.rp_filter and {device_key} to 0 under `sysctls`; `role: real-server` \
                     does this"
                ),
            )
            .at(sysctl_path(prefix, &key, source)),
        );
    }
    findings
}

/// A real server on the VIP's own segment must neither answer ARP for the VIP nor announce it,
/// or clients and routers send VIP traffic straight to it and bypass the director.
fn arp_for_vip(vip: IpAddr, facts: &Facts, prefix: &str) -> Vec<Finding> {
    if !vip.is_ipv4() {
        return Vec::new();
    }
    let mut findings = Vec::new();
    let segments = facts.subnet_addresses().iter().filter(|a| {
        a.interface != "lo"
            && !facts.is_tunnel_device(&a.interface)
            && a.address != vip
            && a.prefix_length < 32
            && a.subnet_contains(vip)
    });
    for segment in segments {
        let interface = &segment.interface;
        for (name, required) in [("arp_ignore", 1), ("arp_announce", 2)] {
            let all = facts.sysctl(&interface_sysctl("all", name));
            let own = facts.sysctl(&interface_sysctl(interface, name));
            let effective = [all, own].into_iter().flatten().max_by_key(|(value, _)| *value);
            let sufficient = match (name, effective) {
                // 1 and 2 answer only for addresses on the asking interface, 8 never. 3 only
                // hides host-scope addresses, and a VIP on lo has global scope.
                ("arp_ignore", Some((value, _))) => matches!(value, 1 | 2 | 8),
                (_, Some((value, _))) => value >= required,
                (_, None) => false,
            };
            if sufficient {
                continue;
            }
            let state = match effective {
                Some((value, source)) => {
                    format!("{} net.ipv4.conf.all/{interface}.{name} at {value}", where_set(source))
                }
                None => format!("nothing sets net.ipv4.conf.all.{name} (kernel default 0)"),
            };
            // Point at the spec's sysctls unless the value only exists on the host.
            let path = match effective {
                Some((_, Source::Host)) => String::new(),
                _ => format!("{prefix}sysctls"),
            };
            findings.push(
                Finding::error(
                    "arp-not-suppressed",
                    format!(
                        "VIP {vip} is on this real server and {interface} ({}/{}) shares its segment, but {state}",
                        segment.address, segment.prefix_length
                    ),
                    "On the VIP's segment every host that answers ARP for the VIP competes with the director: \
                     clients and the router learn the real server's MAC and bypass IPVS. arp_ignore=1 answers only \
                     for addresses on the asking interface; arp_announce=2 never uses the VIP as ARP source.",
                    format!(
                        "set net.ipv4.conf.all.{name} (and net.ipv4.conf.{interface}.{name}) to {required} under \
                         `sysctls`; `role: real-server` does this"
                    ),
                )
                .at(path),
            );
        }
    }
    findings
}

/// The headers a tunnelled packet carries on top of the client's: the outer IP header
/// (20 bytes, IPv6 40), plus UDP and GUE (8 + 4) or GRE (4, 8 with its checksum).
fn tunnel_overhead(receiver: &Receiver) -> u32 {
    let outer = match receiver.outer {
        Family::Ipv4 => IPV4_HEADER,
        Family::Ipv6 => IPV6_HEADER,
    };
    outer
        + match receiver.encapsulation {
            TunnelType::Ipip => 0,
            TunnelType::Gue => 8 + 4,
            TunnelType::Gre if receiver.checksummed => 8,
            TunnelType::Gre => 4,
        }
}

/// Full-size client packets grow by the tunnel's headers; without a smaller MSS the
/// director needs working path-MTU discovery towards every client.
fn ipip_overhead(facts: &Facts, prefix: &str) -> Option<Finding> {
    let overhead = facts.receivers().iter().map(tunnel_overhead).max().unwrap_or(IPV4_HEADER);
    let fitting = ETHERNET_MTU - overhead;
    let lowered = facts
        .links()
        .values()
        .any(|link| !link.kind.is_tunnel() && link.name != "lo" && link.mtu.is_some_and(|mtu| mtu <= fitting));
    if lowered {
        return None;
    }
    Some(
        Finding::note(
            "ipip-mtu",
            format!(
                "no interface of this real server has an MTU of {fitting} or less: clients may send segments that do \
                 not fit the tunnel"
            ),
            "A tunnel adds its headers to the client's packet: IP-in-IP 20 bytes (IPv6 underlay 40), GRE 4 (8 with \
             checksums) and GUE 12 more. A 1500-byte client packet cannot be tunnelled on a 1500-byte path, so the director answers \
             with ICMP 'fragmentation needed'; clients behind firewalls that drop ICMP stall on large requests. The \
             MSS the real server advertises in its SYN-ACK decides how large client segments are.",
            format!(
                "lower the MTU of the real server's client-facing interface to {fitting} (e.g. `links: [{{ name: eth0, \
                 mtu: {fitting} }}]`), or clamp the MSS to {} with iptables/nftables TCPMSS",
                fitting - 40
            ),
        )
        .at(format!("{prefix}links")),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gre_s_checksum_adds_four_bytes_to_the_tunnel_overhead() {
        let gre = Receiver {
            encapsulation: TunnelType::Gre,
            port: None,
            inner: Family::Ipv4,
            outer: Family::Ipv4,
            checksummed: false,
        };
        assert_eq!(tunnel_overhead(&gre), 24);
        assert_eq!(tunnel_overhead(&Receiver { checksummed: true, ..gre }), 28);
    }
}
