//! The live host as a spec: what LVS-TUN depends on, read by `observe` (read-only).
//!
//! Imported: the IPVS table (timeouts only when they differ from the kernel's); ipip tunnel
//! links; addresses on tunnel devices and on `lo` (except 127.0.0.1/8 and ::1) and every
//! address equal to a service VIP, with its label; the LVS sysctls `show` reads (ip_forward,
//! vs.conntrack, arp_ignore/arp_announce/rp_filter of all, default, lo, tunnel and VIP
//! interfaces) whose value is not the kernel's default of 0, plus those a role sets; every
//! foo-over-UDP port (its module follows from it); and the ipip / ip_vs modules when loaded. Routes are not imported: the kernel makes the
//! local and prefix routes of the imported addresses itself.
//!
//! Role: when the short form (`role: director` + `vipInterface` + `ipvs`, or
//! `role: real-server` + `vips`, plus whatever the host has beyond the role) plans no change
//! against the host, that is what is written. Otherwise every section is explicit, with a
//! comment naming each role default the host does not meet.

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;
use std::path::Path;

use super::canonical::{self, IpvsNotes};
use super::{empty_host_spec, ImportError, Imported};
use crate::model::addresses::{host_prefix_length, Address};
use crate::model::fou::FouPort;
use crate::model::ipvs::ServiceKey;
use crate::model::keyed::Keyed;
use crate::model::links::{Link, FALLBACK_TUNNEL};
use crate::model::{HostState, Role};
use crate::plan::Change;
use crate::spec::SpecFile;

/// Which role form `--role` asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RoleChoice {
    /// The role the host looks like (director if it has IPVS services, real server if it
    /// has addresses on lo), if its short form describes the host exactly.
    Auto,
    Director,
    RealServer,
}

/// The explicit description of the host: what a spec without a role must declare.
#[derive(Debug, Default)]
struct Explicit {
    modules: BTreeSet<String>,
    links: Vec<Link>,
    fou: Vec<FouPort>,
    addresses: Vec<Address>,
    sysctls: BTreeMap<String, String>,
}

/// Imports the observed state `host` (from `observe::observe_host` with the default
/// interest, or a snapshot). `source` names the host for the header; `name_change` names a
/// change a role's defaults would make (render's words, passed in: import makes none).
pub fn import(
    host: &HostState,
    role: RoleChoice,
    source: &str,
    name_change: fn(&Change) -> String,
) -> Result<Imported, ImportError> {
    let explicit = explicit(host);
    let (ipvs_spec, mut ipvs_comments) = canonical::ipvs_spec(&host.ipvs, &IpvsNotes::default(), "ipvs");
    ipvs_comments
        .entry("apiVersion".into())
        .or_default()
        .push("Routes are not imported: the kernel makes the routes of the imported addresses itself.".into());
    let ipvs = (!ipvs_spec.services.is_empty() || ipvs_spec.timeouts.is_some()).then_some(ipvs_spec);
    let mut notes = Vec::new();

    let candidates: Vec<Role> = match role {
        RoleChoice::Auto if !host.ipvs.services.is_empty() => vec![Role::Director],
        RoleChoice::Auto if !lo_vips(host).is_empty() => vec![Role::RealServer],
        RoleChoice::Auto => vec![],
        RoleChoice::Director => vec![Role::Director],
        RoleChoice::RealServer => vec![Role::RealServer],
    };
    let mut unmet = Vec::new();
    for candidate in candidates {
        match role_form(host, &explicit, candidate, ipvs.clone(), name_change) {
            Ok(spec) => {
                return Ok(Imported { source: source.into(), spec, comments: ipvs_comments, notes });
            }
            Err(reasons) => unmet.push((candidate, reasons)),
        }
    }
    if role != RoleChoice::Auto {
        let (candidate, reasons) = &unmet[0];
        return Err(ImportError::Role(format!(
            "this host does not match role {}: {}\n  hint: import without --role to get explicit sections that mirror the host",
            candidate.name(),
            reasons.join("; ")
        )));
    }
    let mut spec = explicit_spec(&explicit);
    spec.ipvs = ipvs;
    let mut comments = ipvs_comments;
    for (candidate, reasons) in unmet {
        let mut lines =
            vec![format!("Not written as `role: {}`: the host does not meet that role's defaults:", candidate.name())];
        lines.extend(reasons.iter().map(|reason| format!("  {reason}")));
        comments.entry("apiVersion".into()).or_default().extend(lines);
        notes.extend(reasons.into_iter().map(|reason| format!("role {}: {reason}", candidate.name())));
    }
    Ok(Imported { source: source.into(), spec, comments, notes })
}

/// Service VIPs: the addresses of address services.
fn service_vips(host: &HostState) -> BTreeSet<IpAddr> {
    host.ipvs.services.keys().filter_map(ServiceKey::address).collect()
}

fn is_loopback_default(address: &Address) -> bool {
    address.address.is_loopback() && (address.prefix_length == 8 || address.prefix_length == 128)
}

/// Host addresses on lo, the real-server role's `vips`.
fn lo_vips(host: &HostState) -> Vec<IpAddr> {
    host.addresses
        .values()
        .filter(|a| a.interface == "lo" && !is_loopback_default(a) && a.address.is_ipv4() && a.prefix_length == 32)
        .map(|a| a.address)
        .collect()
}

fn explicit(host: &HostState) -> Explicit {
    let tunnels: BTreeSet<&str> = host
        .links
        .values()
        .filter(|link| link.kind.is_tunnel())
        // A fallback device exists wherever its module is loaded; one down decapsulates
        // nothing, so only tunl0 (as before) or one brought up is part of the setup.
        .filter(|link| !link.is_fallback_tunnel() || link.name == FALLBACK_TUNNEL || link.up == Some(true))
        .map(|link| link.name.as_str())
        .collect();
    let vips = service_vips(host);
    let addresses: Vec<Address> = host
        .addresses
        .values()
        .filter(|a| {
            tunnels.contains(a.interface.as_str())
                || (a.interface == "lo" && !is_loopback_default(a))
                || vips.contains(&a.address)
        })
        .cloned()
        .collect();
    let mut interfaces: BTreeSet<String> = ["all", "default", "lo"].into_iter().map(String::from).collect();
    interfaces.extend(tunnels.iter().map(|t| t.to_string()));
    // Sysctl keys write an interface's dots as slashes (`eth0/100`).
    interfaces.extend(addresses.iter().map(|a| a.interface.replace('.', "/")));
    let sysctls = host
        .sysctls
        .iter()
        .filter(|(key, value)| {
            let lvs_key = match key.strip_prefix("net.ipv4.conf.") {
                Some(rest) => rest.split_once('.').is_some_and(|(interface, _)| interfaces.contains(interface)),
                None => matches!(key.as_str(), "net.ipv4.ip_forward" | "net.ipv4.vs.conntrack"),
            };
            lvs_key && value.as_str() != "0"
        })
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let links: Vec<Link> = host.links.values().filter(|link| tunnels.contains(link.name.as_str())).cloned().collect();
    let tunnel_modules: BTreeSet<&str> = links.iter().filter_map(|link| link.kind.module()).collect();
    let modules = host
        .modules
        .iter()
        .filter(|m| m.as_str() == "ipip" || m.as_str() == "ip_vs" || tunnel_modules.contains(m.as_str()))
        .cloned()
        .collect();
    let fou = host.fou.values().copied().collect();
    Explicit { modules, links, fou, addresses, sysctls }
}

fn explicit_spec(explicit: &Explicit) -> SpecFile {
    let mut spec = empty_host_spec();
    spec.modules = explicit.modules.iter().cloned().collect();
    spec.links = explicit.links.iter().filter_map(canonical::link_spec).collect();
    spec.fou = explicit.fou.iter().map(canonical::fou_spec).collect();
    spec.addresses = explicit.addresses.iter().map(canonical::address_spec).collect();
    spec.sysctls = explicit.sysctls.iter().map(|(k, v)| (k.clone(), canonical::sysctl_value(v))).collect();
    spec
}

/// The role's short form plus what the host has beyond it, if the role's defaults all hold
/// on the host; else the defaults that don't, as reasons.
fn role_form(
    host: &HostState,
    explicit: &Explicit,
    role: Role,
    ipvs: Option<crate::spec::ipvs::IpvsSpec>,
    name_change: fn(&Change) -> String,
) -> Result<SpecFile, Vec<String>> {
    let mut spec = empty_host_spec();
    spec.role = Some(role);
    spec.ipvs = ipvs;
    match role {
        Role::Director => {
            spec.vip_interface = Some(vip_interface(host)?);
        }
        Role::RealServer => {
            spec.vips = lo_vips(host);
            if spec.vips.is_empty() {
                return Err(vec!["no IPv4 VIP (/32) on lo for the real-server role's `vips`".into()]);
            }
        }
    }
    // The role's own derivation decides what it covers: resolve the bare role form.
    let bare = resolve(&spec).map_err(|error| vec![error])?;
    let reasons = unmet_defaults(&bare.desired, host);
    if !reasons.is_empty() {
        return Err(reasons);
    }
    // What the host has beyond the role is declared as well.
    let residual = Explicit {
        modules: explicit.modules.iter().filter(|m| !bare.desired.modules.contains(*m)).cloned().collect(),
        links: explicit
            .links
            .iter()
            .filter(|l| !bare.desired.links.contains_key(&l.name) || needs_declaring(l))
            .cloned()
            .collect(),
        fou: explicit.fou.iter().filter(|p| bare.desired.fou.get(&p.key()) != Some(*p)).copied().collect(),
        addresses: explicit
            .addresses
            .iter()
            .filter(|a| !bare.desired.addresses.values().any(|b| b == *a))
            .cloned()
            .collect(),
        sysctls: explicit
            .sysctls
            .iter()
            .filter(|(k, _)| !bare.desired.sysctls.contains_key(*k))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect(),
    };
    let sections = explicit_spec(&residual);
    spec.modules = sections.modules;
    spec.links = sections.links;
    spec.fou = sections.fou;
    spec.addresses = sections.addresses;
    spec.sysctls = sections.sysctls;
    let full = resolve(&spec).map_err(|error| vec![error])?;
    let plan = crate::plan::diff(&full.desired, host, &full.ownership);
    if plan.converged() {
        Ok(spec)
    } else {
        let changes: Vec<String> =
            plan.changes.iter().map(|c| format!("it would change {}", name_change(&c.change))).collect();
        Err(changes)
    }
}

/// A tunnel the role creates but whose MTU differs from the usual is declared too.
fn needs_declaring(link: &Link) -> bool {
    link.mtu.is_some_and(|mtu| mtu != 1480)
}

fn resolve(spec: &SpecFile) -> Result<crate::desired::Spec, String> {
    let text = serde_yaml::to_string(spec).expect("spec serializes");
    crate::desired::parse(&text, Path::new("<import>")).map_err(|error| format!("the role form is not valid: {error}"))
}

/// The client-facing interface (or IPv4 label) holding every VIP, as `vipInterface` names
/// it. The role puts IPv6 VIPs on the label's interface, unlabelled.
fn vip_interface(host: &HostState) -> Result<String, Vec<String>> {
    let mut labels = BTreeSet::new();
    let mut interfaces = BTreeSet::new();
    for vip in service_vips(host) {
        let host_prefix = host_prefix_length(&vip);
        let on: Vec<&Address> = host
            .addresses
            .values()
            .filter(|a| a.address == vip && a.interface != "lo" && a.prefix_length == host_prefix)
            .collect();
        match on.as_slice() {
            [one] if vip.is_ipv4() => {
                labels.insert(one.effective_label().to_string());
                interfaces.insert(one.interface.clone());
            }
            [one] => {
                interfaces.insert(one.interface.clone());
            }
            [] => return Err(vec![format!("VIP {vip} is not on any interface as a /{host_prefix} address")]),
            _ => return Err(vec![format!("VIP {vip} is on several interfaces")]),
        }
    }
    let list = |set: &BTreeSet<String>| set.iter().cloned().collect::<Vec<_>>().join(", ");
    if labels.len() > 1 || interfaces.len() > 1 {
        return Err(vec![format!(
            "the VIPs are on more than one interface or label ({}): `vipInterface` names one",
            list(if labels.len() > 1 { &labels } else { &interfaces })
        )]);
    }
    labels
        .into_iter()
        .next()
        .or_else(|| interfaces.into_iter().next())
        .ok_or_else(|| vec!["no address service, so no VIP interface for the director role".into()])
}

fn source_preference(address: &Address) -> &'static str {
    if address.deprecated {
        "deprecated (never a source address)"
    } else {
        "preferred (a possible source address)"
    }
}

/// Every item the bare role form wants that the host doesn't already have, in words.
fn unmet_defaults(desired: &HostState, host: &HostState) -> Vec<String> {
    let mut reasons = Vec::new();
    for (key, want) in &desired.sysctls {
        match host.sysctls.get(key) {
            Some(have) if crate::plan::sysctl::normalize(have) == crate::plan::sysctl::normalize(want) => {}
            Some(have) => reasons.push(format!("{key} is {have}: the role would set {want}")),
            None => reasons.push(format!("{key} is not there: the role would set {want}")),
        }
    }
    for module in desired.modules.difference(&host.modules) {
        reasons.push(format!("module {module} is not loaded: the role would load it"));
    }
    for (name, want) in &desired.links {
        match host.links.get(name) {
            Some(have) if crate::plan::links::satisfies(have, want) => {}
            Some(_) => reasons.push(format!("{name} is down or differs: the role would set it up")),
            None => reasons.push(format!("{name} does not exist: the role would create it")),
        }
    }
    for (key, want) in &desired.fou {
        match host.fou.get(key) {
            Some(have) if have == want => {}
            Some(have) => reasons.push(format!(
                "fou {key} is open for {}: the role would reopen it for {}",
                have.encapsulation.name(),
                want.encapsulation.name()
            )),
            None => reasons.push(format!("fou {key} is not open: the role would open it")),
        }
    }
    for (id, want) in &desired.addresses {
        match host.addresses.get(id) {
            Some(have) if have == want => {}
            Some(have) if have.deprecated != want.deprecated => reasons.push(format!(
                "{id} is {}: the role would make it {}",
                source_preference(have),
                source_preference(want)
            )),
            Some(have) => reasons.push(format!(
                "{id} has label {}: the role would use {}",
                have.effective_label(),
                want.effective_label()
            )),
            None => reasons.push(format!("{id} is missing: the role would add it")),
        }
    }
    reasons
}
