//! What the kernel needs before a declared object can exist.

use std::collections::{BTreeMap, BTreeSet};

use crate::model::fou::FouPort;
use crate::model::links::Link;
use crate::model::{HostState, IpvsState};

/// The kernel modules an IPVS table needs: ip_vs and each scheduler in use.
pub fn ipvs(ipvs: &IpvsState) -> HostState {
    let mut modules: BTreeSet<String> = ipvs.services.values().map(|s| s.settings.scheduler.module()).collect();
    let engines = ipvs.services.values().filter_map(|s| s.settings.persistence.as_ref()?.engine.as_ref());
    modules.extend(engines.map(|engine| format!("ip_vs_pe_{engine}")));
    if !ipvs.services.is_empty() || ipvs.timeouts.is_some() {
        modules.insert("ip_vs".into());
    }
    HostState { modules, ..HostState::default() }
}

/// The kernel modules tunnel links need, whoever declares them (a role or the spec), each
/// with the origin it shows in the plan (`ipip links`): a module creates its fallback device
/// (tunl0, gre0, …) and decapsulates for named tunnels too. Creating a named tunnel over
/// netlink would pull it in by itself, but at boot only modules-load.d does, and without it
/// the fallback device never appears for its sysctls and networkd file to act on.
pub fn links<'a>(links: impl IntoIterator<Item = &'a Link>) -> Vec<(String, HostState)> {
    let by_module: BTreeMap<&'static str, String> = links
        .into_iter()
        .filter_map(|link| Some((link.kind.module()?, format!("{} links", link.kind.name()))))
        .collect();
    by_module
        .into_iter()
        .map(|(module, origin)| {
            (origin, HostState { modules: BTreeSet::from([module.to_string()]), ..HostState::default() })
        })
        .collect()
}

/// The module FOU ports need: it opens them, at boot too.
pub fn fou<'a>(ports: impl IntoIterator<Item = &'a FouPort>) -> HostState {
    let modules = ports.into_iter().map(|port| port.module().to_string()).collect();
    HostState { modules, ..HostState::default() }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_tunnel_link_brings_its_module_and_other_links_none() {
        let links: Vec<Link> = [
            "{ name: tunl0, type: ipip }",
            "{ name: gre0, type: gre }",
            "{ name: sit1, type: sit }",
            "{ name: ip6tnl0, type: ip6tnl }",
            "{ name: g6, type: ip6gre }",
            "{ name: eth0, type: other, kind: ether }",
        ]
        .iter()
        .map(|yaml| serde_yaml::from_str(yaml).unwrap())
        .collect();
        let modules: Vec<String> = super::links(&links).into_iter().flat_map(|(_, state)| state.modules).collect();
        assert_eq!(modules, ["ip6_gre", "ip6_tunnel", "ip_gre", "ipip", "sit"]);
    }
}
