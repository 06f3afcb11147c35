//! What the kernel needs before a declared object can exist.

use std::collections::BTreeSet;

use crate::model::fou::FouPort;
use crate::model::links::{Link, LinkKind};
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

/// The kernel module ipip links need, whoever declares them (a role or the spec): `ipip`
/// creates tunl0 and decapsulates for named tunnels too. Loading a named tunnel over
/// netlink would pull it in by itself, but at boot only modules-load.d does, and without
/// it tunl0 never appears for its sysctls and networkd file to act on.
pub fn links<'a>(links: impl IntoIterator<Item = &'a Link>) -> HostState {
    let ipip = links.into_iter().any(|link| matches!(link.kind, LinkKind::Ipip { .. }));
    let modules = if ipip { BTreeSet::from(["ipip".to_string()]) } else { BTreeSet::new() };
    HostState { modules, ..HostState::default() }
}

/// The kernel modules foo-over-UDP ports need, whoever declares them: the module of the
/// "fou" family. An IPv6 port also needs the kernel's IPv6, which every host with an IPv6
/// underlay address already has loaded (or built in), so it is not asked for.
pub fn fou_ports<'a>(ports: impl IntoIterator<Item = &'a FouPort>) -> HostState {
    let modules = ports.into_iter().map(|port| port.module().to_string()).collect();
    HostState { modules, ..HostState::default() }
}
