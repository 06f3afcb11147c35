//! What the kernel needs before a declared object can exist.

use std::collections::BTreeSet;

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
