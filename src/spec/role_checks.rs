//! What a role needs from the spec before its defaults can be derived (`desired::roles`):
//! refused here, with the spec's file and line, so that deriving them never fails.

use std::net::IpAddr;

use super::Problems;
use crate::model::ipvs::{IpvsState, ServiceKey};

/// A director puts its VIPs on `vipInterface`: a table with VIPs needs one.
pub fn director(ipvs: &IpvsState, vip_interface: Option<&str>, path: &str, problems: &mut Problems) {
    let has_vips = ipvs.services.keys().any(|key| ServiceKey::address(key).is_some());
    if vip_interface.is_none() && has_vips {
        problems.add(
            path,
            "a director needs `vipInterface` to hold its VIPs".into(),
            "name the client-facing interface, e.g. `vipInterface: eth0` (or `eth0:0` for a labelled alias as in classic setups)",
        );
    }
}

/// A real server's VIPs go on `lo`: each must be an address clients can connect to. Both
/// families are fine; the receivers decide the devices that decapsulate them.
pub fn real_server(vips: &[IpAddr], path: &str, problems: &mut Problems) {
    for vip in vips {
        if let Some(message) = super::ipvs::vip_problem(vip) {
            problems.add(path, message, "list the VIPs clients connect to");
        }
    }
}
