//! What `validate` says of each spec it resolved: where it came from and what it holds.

use crate::spec::Spec;

/// One line (with its newline) saying that `spec`, a Host spec or one node of a Cluster
/// spec, is valid and how much of each kind it holds.
pub fn validated(spec: &Spec) -> String {
    let desired = &spec.desired;
    let services = desired.ipvs.services.len();
    let real_servers: usize = desired.ipvs.services.values().map(|s| s.destinations.len()).sum();
    let node = spec.node.as_ref().map(|n| format!(" node {n}")).unwrap_or_default();
    let role = spec.role.map(|r| format!(" ({})", r.name())).unwrap_or_default();
    format!(
        "{}{node}{role} is valid: {services} IPVS service(s), {real_servers} real server(s), {} link(s), {} address(es), {} route(s), {} sysctl(s), {} module(s).",
        spec.source.display(),
        desired.links.len(),
        desired.addresses.len(),
        desired.routes.len(),
        desired.sysctls.len(),
        desired.modules.len()
    ) + "\n"
}
