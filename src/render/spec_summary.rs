//! What `validate` says of each spec it resolved: where it came from and what it holds.

use crate::desired::Spec;
use crate::model::health::is_health_service;

/// One line (with its newline) saying that `spec`, a Host spec or one node of a Cluster
/// spec, is valid and how much of each kind it holds.
pub fn validated(spec: &Spec) -> String {
    let desired = &spec.desired;
    // The hidden health-check services are counted with the checks, not as the spec's own.
    let declared = || desired.ipvs.services.values().filter(|s| !is_health_service(&s.key));
    let services = declared().count();
    let real_servers: usize = declared().map(|s| s.destinations.len()).sum();
    let health = match spec.health.check_count() {
        0 => String::new(),
        checks => format!(" {checks} health check(s) ({} hidden check-path service(s)),", spec.health.paths.len()),
    };
    let node = spec.node.as_ref().map(|n| format!(" node {n}")).unwrap_or_default();
    let role = spec.role.map(|r| format!(" ({})", r.name())).unwrap_or_default();
    // Said only where there are some: GUE real servers have them, the rest never do.
    let fou = match desired.fou.len() {
        0 => String::new(),
        ports => format!(" {ports} fou port(s),"),
    };
    format!(
        "{}{node}{role} is valid: {services} IPVS service(s), {real_servers} real server(s),{health} {} link(s),{fou} {} address(es), {} route(s), {} sysctl(s), {} module(s).",
        spec.source.display(),
        desired.links.len(),
        desired.addresses.len(),
        desired.routes.len(),
        desired.sysctls.len(),
        desired.modules.len()
    ) + "\n"
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    #[test]
    fn a_valid_spec_is_named_with_its_node_and_role_and_counted_by_kind() {
        let path = Path::new("tests/cases/real_server_role/spec.yaml");
        let text = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join(path)).unwrap();
        let mut spec = crate::desired::parse(&text, path).unwrap();
        assert_eq!(
            validated(&spec),
            "tests/cases/real_server_role/spec.yaml (real-server) is valid: 0 IPVS service(s), 0 real server(s), 1 link(s), 2 address(es), 1 route(s), 6 sysctl(s), 1 module(s).\n"
        );
        let with_ports = "apiVersion: lvs-converge/v1\nkind: Host\nfou: [{ port: 6080, type: gue }]\n";
        let ports = crate::desired::parse(with_ports, Path::new("gue.yaml")).unwrap();
        assert_eq!(
            validated(&ports),
            "gue.yaml is valid: 0 IPVS service(s), 0 real server(s), 0 link(s), 1 fou port(s), 0 address(es), 0 route(s), 0 sysctl(s), 1 module(s).\n"
        );
        spec.node = Some("rs1".into());
        spec.role = None;
        assert!(validated(&spec).starts_with("tests/cases/real_server_role/spec.yaml node rs1 is valid: "));
    }

    #[test]
    fn health_checks_are_counted_with_their_hidden_services_apart_from_the_spec_s_own() {
        let text = "apiVersion: lvs-converge/v1\nkind: Host\nipvs:\n  services:\n\
            \x20   - { address: 203.0.113.100, port: 80, healthCheck: { type: http }, realServers: [{ address: 198.51.100.11 }, { address: 198.51.100.12, healthCheck: false }] }\n\
            \x20   - { address: 203.0.113.100, port: 443, healthCheck: { type: tcp }, realServers: [{ address: 198.51.100.11 }] }\n";
        let spec = crate::desired::parse(text, Path::new("checks.yaml")).unwrap();
        assert_eq!(
            validated(&spec),
            "checks.yaml is valid: 2 IPVS service(s), 3 real server(s), 2 health check(s) (1 hidden check-path service(s)), 0 link(s), 0 address(es), 0 route(s), 1 sysctl(s), 3 module(s).\n"
        );
    }
}
