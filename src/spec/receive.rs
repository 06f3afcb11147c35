//! `receive:` of a Host spec's real server: which tunnelled packets it takes, in the words of
//! a director's destination (`ipip`, `gre`, `gue:6080`, or the object form for an IPv6
//! underlay). A Cluster spec needs none: each real server's receivers are derived from the
//! directors' destinations that reach its address.

use std::collections::BTreeSet;
use std::net::IpAddr;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::Problems;
use crate::model::ipvs::{Family, IpvsState, TunnelChecksum, TunnelType};
use crate::model::tunnels::Receiver;

const ENTRY_FORMS: &str = "write `ipip`, `gre`, `gre:csum` (GRE with checksums), `gue:PORT` (e.g. `gue:6080`), or \
                           for an IPv6 underlay `{ type: gre, underlay: ipv6 }` / `{ type: gue, port: 6080, underlay: ipv6 }`";

/// One `receive:` entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum ReceiveSpec {
    /// Over an IPv4 underlay: `ipip`, `gre`, `gre:csum` (GRE with checksums) or `gue:PORT`.
    Short(#[schemars(regex(pattern = r"^(ipip|gre|gre:csum|gue:[0-9]{1,5})$"))] String),
    /// Any encapsulation over either underlay.
    Full(ReceiveObject),
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ReceiveObject {
    #[serde(rename = "type")]
    pub kind: TunnelType,
    /// GUE only: the UDP port the directors send to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<u16>,
    /// The family of the real server's address the directors tunnel to (default ipv4).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub underlay: Option<Family>,
    /// GRE over IPv4 only: `csum` when the directors send GRE with checksums (the
    /// destinations' `checksum: csum`); gre0 then takes only those.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checksum: Option<TunnelChecksum>,
}

/// One entry: encapsulation, GUE port, underlay, GRE with checksums.
type Entry = (TunnelType, Option<u16>, Family, bool);

/// What a real server receives when the spec does not say: ipip over IPv4, as before
/// `receive:` existed.
const DEFAULT: Entry = (TunnelType::Ipip, None, Family::Ipv4, false);

/// A Host spec's receivers: each `receive` entry (ipip when there is none) for the family of
/// each VIP.
pub fn to_model(
    entries: Option<&[ReceiveSpec]>,
    vips: &[IpAddr],
    path: &str,
    problems: &mut Problems,
) -> BTreeSet<Receiver> {
    let outer: Vec<Entry> = match entries {
        None => vec![DEFAULT],
        Some([]) => {
            problems.add(
                path,
                "`receive` is empty: this real server would take no tunnelled packet".into(),
                "list what the directors send it, e.g. `receive: [ipip]`, or leave `receive` out for ipip",
            );
            Vec::new()
        }
        Some(entries) => {
            let mut seen: Vec<(usize, Entry)> = Vec::new();
            for (index, entry) in entries.iter().enumerate() {
                let entry_path = format!("{path}[{index}]");
                let Some(entry) = entry_to_model(entry, &entry_path, problems) else { continue };
                let other_checksum = seen.iter().find(|(_, (kind, _, underlay, checksummed))| {
                    (*kind, *underlay) == (TunnelType::Gre, entry.2)
                        && entry.0 == TunnelType::Gre
                        && *checksummed != entry.3
                });
                if let Some((other, _)) = other_checksum {
                    problems.add(
                        &entry_path,
                        format!(
                            "{path}[{other}] and this entry ask for GRE both with and without checksums: gre0 takes one of the two"
                        ),
                        "the kernel's GRE device drops checksummed GRE without `icsum` and the rest with it: keep one \
                         checksum mode per real server (`gre` or `gre:csum`) and set the directors' destinations alike",
                    );
                    continue;
                }
                seen.push((index, entry));
            }
            seen.into_iter().map(|(_, entry)| entry).collect()
        }
    };
    with_vip_families(outer, vips)
}

/// The receivers of a Cluster spec's real server at `address`: one for each tunnel
/// destination of a service that reaches it; ipip over IPv4, as without `receive:`, when no
/// tunnel reaches it.
pub fn derived(ipvs: &IpvsState, address: IpAddr, vips: &[IpAddr]) -> BTreeSet<Receiver> {
    let receivers: BTreeSet<Receiver> = ipvs
        .services
        .values()
        .flat_map(|service| service.destinations.values().map(move |d| (service.key.family(), d)))
        .filter(|(_, d)| d.address == address && d.method == crate::model::ipvs::ForwardingMethod::Tunnel)
        .map(|(family, d)| Receiver::of(family, d))
        .collect();
    if receivers.is_empty() {
        with_vip_families(vec![DEFAULT], vips)
    } else {
        receivers
    }
}

fn with_vip_families(outer: Vec<Entry>, vips: &[IpAddr]) -> BTreeSet<Receiver> {
    let inner: BTreeSet<Family> = vips.iter().map(Family::of).collect();
    outer
        .into_iter()
        .flat_map(|(encapsulation, port, outer, checksummed)| {
            inner.iter().map(move |&inner| Receiver { encapsulation, port, inner, outer, checksummed })
        })
        .collect()
}

fn entry_to_model(entry: &ReceiveSpec, path: &str, problems: &mut Problems) -> Option<Entry> {
    let (kind, port, underlay, checksum) = match entry {
        ReceiveSpec::Short(text) => {
            let (word, port) = match text.split_once(':') {
                Some((word, port)) => (word.trim(), Some(port.trim())),
                None => (text.trim(), None),
            };
            match (word, port) {
                ("gre", Some("csum")) => return Some((TunnelType::Gre, None, Family::Ipv4, true)),
                ("gre", Some(other)) if other.parse::<u16>().is_err() => {
                    problems.add(
                        path,
                        format!("`{text}`: GRE takes `gre` or `gre:csum` (with checksums)"),
                        ENTRY_FORMS,
                    );
                    return None;
                }
                _ => {}
            }
            let kind = match word {
                "ipip" => TunnelType::Ipip,
                "gre" => TunnelType::Gre,
                "gue" => TunnelType::Gue,
                _ => {
                    problems.add(path, format!("`{text}` is not an encapsulation a real server receives"), ENTRY_FORMS);
                    return None;
                }
            };
            let port = match port.map(str::parse::<u16>) {
                None => None,
                Some(Ok(port)) => Some(port),
                Some(Err(_)) => {
                    problems.add(path, format!("`{text}`: the port is not a number 1-65535"), ENTRY_FORMS);
                    return None;
                }
            };
            (kind, port, Family::Ipv4, None)
        }
        ReceiveSpec::Full(object) => {
            (object.kind, object.port, object.underlay.unwrap_or(Family::Ipv4), object.checksum)
        }
    };
    let checksummed = match (kind, underlay, checksum) {
        (_, _, None | Some(TunnelChecksum::None)) => false,
        (TunnelType::Gre, Family::Ipv4, Some(TunnelChecksum::Csum)) => true,
        (TunnelType::Gre, Family::Ipv6, Some(TunnelChecksum::Csum)) => {
            problems.add(
                &format!("{path}.checksum"),
                "lvs-converge does not set ip6gre0's `icsum`: GRE with checksums over IPv6 is not received".into(),
                "send GRE without checksums over IPv6 (leave `checksum` out), or GUE, whose port takes every \
                 checksum mode",
            );
            return None;
        }
        (kind, _, Some(checksum)) => {
            problems.add(
                &format!("{path}.checksum"),
                format!("`checksum: {}` does not apply to a {} receiver", checksum.option_name(), kind.name()),
                "only GRE's checksum makes another receiver (`checksum: csum`); a GUE port takes every checksum \
                 mode: remove `checksum`",
            );
            return None;
        }
    };
    match (kind, port) {
        (TunnelType::Gue, Some(port)) if port != 0 => Some((kind, Some(port), underlay, false)),
        (TunnelType::Gue, _) => {
            problems.add(
                path,
                "a GUE receiver needs the UDP port (1-65535) the directors send to".into(),
                "write `gue:6080` (or `{ type: gue, port: 6080, underlay: ipv6 }`), the port of the destinations' \
                 `tunnel: { type: gue, port: 6080 }`",
            );
            None
        }
        (_, Some(_)) => {
            problems.add(
                path,
                format!("{} has no port: only GUE is carried in UDP", kind.name()),
                &format!("write `{}` without a port", kind.name()),
            );
            None
        }
        (_, None) => Some((kind, None, underlay, checksummed)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn receivers(yaml: &str, vips: &[&str]) -> Result<BTreeSet<Receiver>, Vec<String>> {
        let entries: Option<Vec<ReceiveSpec>> = serde_yaml::from_str(yaml).expect("YAML");
        let vips: Vec<IpAddr> = vips.iter().map(|v| v.parse().unwrap()).collect();
        let mut problems = Problems::default();
        let receivers = to_model(entries.as_deref(), &vips, "receive", &mut problems);
        if problems.is_empty() {
            Ok(receivers)
        } else {
            Err(problems.entries.iter().map(|p| format!("{}: {}", p.path, p.message)).collect())
        }
    }

    fn receiver(encapsulation: TunnelType, port: Option<u16>, inner: Family, outer: Family) -> Receiver {
        Receiver { encapsulation, port, inner, outer, checksummed: false }
    }

    #[test]
    fn gre_with_checksums_is_its_own_receiver_and_one_mode_per_underlay() {
        use Family::*;
        let csum = Receiver { checksummed: true, ..receiver(TunnelType::Gre, None, Ipv4, Ipv4) };
        assert_eq!(
            receivers("['gre:csum', { type: gre, underlay: ipv6 }]", &["203.0.113.100"]),
            Ok(BTreeSet::from([csum, receiver(TunnelType::Gre, None, Ipv4, Ipv6)]))
        );
        assert_eq!(receivers("[{ type: gre, checksum: csum }]", &["203.0.113.100"]), Ok(BTreeSet::from([csum])));
        assert_eq!(
            receivers("[gre, 'gre:csum']", &["203.0.113.100"]).unwrap_err(),
            ["receive[1]: receive[0] and this entry ask for GRE both with and without checksums: gre0 takes one of the two"]
        );
        let errors = receivers(
            "[{ type: gre, checksum: csum, underlay: ipv6 }, { type: gue, port: 6080, checksum: csum }, 'gre:nocsum']",
            &["203.0.113.100"],
        )
        .unwrap_err();
        assert_eq!(
            errors,
            [
                "receive[0].checksum: lvs-converge does not set ip6gre0's `icsum`: GRE with checksums over IPv6 is not received",
                "receive[1].checksum: `checksum: csum` does not apply to a gue receiver",
                "receive[2]: `gre:nocsum`: GRE takes `gre` or `gre:csum` (with checksums)",
            ]
        );
    }

    #[test]
    fn without_receive_a_real_server_takes_ipip_for_each_vip_family() {
        use Family::*;
        assert_eq!(
            receivers("null", &["203.0.113.100"]),
            Ok(BTreeSet::from([receiver(TunnelType::Ipip, None, Ipv4, Ipv4)]))
        );
        assert_eq!(
            receivers("null", &["203.0.113.100", "2001:db8:1::100"]),
            Ok(BTreeSet::from([
                receiver(TunnelType::Ipip, None, Ipv4, Ipv4),
                receiver(TunnelType::Ipip, None, Ipv6, Ipv4)
            ]))
        );
    }

    #[test]
    fn short_and_object_entries_name_encapsulation_port_and_underlay() {
        use Family::*;
        let yaml = "[ipip, 'gue:6080', gre, { type: gre, underlay: ipv6 }, { type: gue, port: 5555, underlay: ipv6 }]";
        assert_eq!(
            receivers(yaml, &["2001:db8:1::100"]),
            Ok(BTreeSet::from([
                receiver(TunnelType::Ipip, None, Ipv6, Ipv4),
                receiver(TunnelType::Gue, Some(6080), Ipv6, Ipv4),
                receiver(TunnelType::Gre, None, Ipv6, Ipv4),
                receiver(TunnelType::Gre, None, Ipv6, Ipv6),
                receiver(TunnelType::Gue, Some(5555), Ipv6, Ipv6),
            ]))
        );
    }

    #[test]
    fn wrong_entries_are_refused_at_their_index() {
        let errors =
            receivers("['vxlan', gue, 'gue:0', 'gue:http', 'gre:6080', { type: ipip, port: 1 }]", &["203.0.113.100"])
                .unwrap_err();
        assert_eq!(
            errors,
            [
                "receive[0]: `vxlan` is not an encapsulation a real server receives",
                "receive[1]: a GUE receiver needs the UDP port (1-65535) the directors send to",
                "receive[2]: a GUE receiver needs the UDP port (1-65535) the directors send to",
                "receive[3]: `gue:http`: the port is not a number 1-65535",
                "receive[4]: gre has no port: only GUE is carried in UDP",
                "receive[5]: ipip has no port: only GUE is carried in UDP",
            ]
        );
        assert_eq!(
            receivers("[]", &["203.0.113.100"]).unwrap_err(),
            ["receive: `receive` is empty: this real server would take no tunnelled packet"]
        );
    }

    fn diagnostics(yaml: &str) -> Vec<String> {
        let document = super::super::parse_document(yaml, std::path::Path::new("rs.yaml")).expect("parses");
        let error = document.validate(&super::super::NodeSelector::default()).expect_err("refused");
        error.diagnostics().iter().map(|d| format!("{}:{} {}: {}", d.file, d.line, d.path, d.message)).collect()
    }

    #[test]
    fn receive_errors_name_the_file_line_and_field() {
        let host = "apiVersion: lvs-converge/v1\nkind: Host\nrole: real-server\nvips: [203.0.113.100]\n\
                    receive:\n  - ipip\n  - gue\n";
        assert_eq!(
            diagnostics(host),
            ["rs.yaml:7 receive[1]: a GUE receiver needs the UDP port (1-65535) the directors send to"]
        );
        let not_a_real_server = "apiVersion: lvs-converge/v1\nkind: Host\nreceive: [ipip]\n";
        assert_eq!(
            diagnostics(not_a_real_server),
            ["rs.yaml:3 receive: `receive` says what a real server decapsulates, and this host is not one"]
        );
        let cluster = "apiVersion: lvs-converge/v1\nkind: Cluster\nreceive: [ipip]\nnodes:\n\
                       \x20 - { name: d, role: director, address: 203.0.113.10, receive: [gre] }\n";
        assert_eq!(
            diagnostics(cluster),
            [
                "rs.yaml:3 receive: in a Cluster spec, `receive` belongs to a node",
                "rs.yaml:5 nodes[0].receive: node `d` is a director: `receive` is a real server's",
            ]
        );
    }
}
