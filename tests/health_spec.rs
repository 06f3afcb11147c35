//! Health checks in the spec (issue 15): defaults, a real server's override, and each mistake
//! as one error naming file, line and field.

use std::path::Path;

use lvs_converge::model::health::{CheckKind, CheckVia, HealthCheck, OnFailure, Quorum, ServiceHealth};
use lvs_converge::model::ipvs::{DestinationKey, ForwardingMethod, Protocol, ServiceKey};
use lvs_converge::spec::{self, Diagnostic};

const HEADER: &str = "apiVersion: lvs-converge/v1\nkind: Host\nipvs:\n  services:\n";

/// A port-80 service (line 5 is `- address:`) with `body` below it, indented for its fields.
fn service(body: &str) -> String {
    format!("{HEADER}    - address: 203.0.113.100\n      port: 80\n{body}")
}

fn only_error(text: &str) -> Diagnostic {
    let error = spec::parse(text, Path::new("bad.yaml")).expect_err("spec must be rejected");
    let diagnostics = error.diagnostics();
    assert_eq!(diagnostics.len(), 1, "expected one error, got: {error}");
    diagnostics[0].clone()
}

fn assert_error(text: &str, line: usize, path: &str, message: &str) {
    let diagnostic = only_error(text);
    assert_eq!((diagnostic.line, diagnostic.path.as_str()), (line, path), "{diagnostic}");
    assert!(diagnostic.message.contains(message), "`{}` does not mention `{message}`", diagnostic.message);
    assert!(diagnostic.hint.is_some(), "{diagnostic}");
}

fn health_of(text: &str) -> ServiceHealth {
    let validated = spec::parse(text, Path::new("ok.yaml")).unwrap_or_else(|e| panic!("valid: {e}"));
    let mut services = validated.health.services.into_values();
    let health = services.next().expect("a service with health checks");
    assert!(services.next().is_none());
    health
}

fn key(address: &str, port: u16) -> DestinationKey {
    DestinationKey { address: address.parse().unwrap(), port }
}

#[test]
fn a_service_check_applies_to_every_real_server_with_the_defaults() {
    let health = health_of(&service(
        "      healthCheck: { type: http }\n      realServers:\n        - { address: 198.51.100.11 }\n        - { address: 198.51.100.12, method: dr }\n",
    ));
    let tunnel = &health.checks[&key("198.51.100.11", 80)];
    assert_eq!(
        *tunnel,
        HealthCheck {
            kind: CheckKind::Http { path: "/".into(), status_min: 200, status_max: 399, body: None, host: None },
            port: 80,
            interval_ms: 5000,
            timeout_ms: 2000,
            rise: 2,
            fall: 3,
            on_failure: OnFailure::Drain,
            via: CheckVia::Tunnel,
        }
    );
    // A direct-routing real server has no tunnel to check through.
    assert_eq!(health.checks[&key("198.51.100.12", 80)].via, CheckVia::Direct);
    assert!(health.quorum.is_none() && !health.start_drained);
}

#[test]
fn a_real_server_overrides_fields_or_turns_its_check_off() {
    let health = health_of(&service(
        "      healthCheck: { type: http, path: /, status: 200, interval: 2s, timeout: 500ms, rise: 1, fall: 2, onFailure: remove }\n\
         \x20     realServers:\n\
         \x20       - { address: 198.51.100.11, healthCheck: { path: /healthz, via: direct } }\n\
         \x20       - { address: 198.51.100.12, healthCheck: false }\n\
         \x20       - { address: 198.51.100.13, healthCheck: { type: tcp, port: 8080 } }\n",
    ));
    assert_eq!(health.checks.len(), 2, "198.51.100.12 is not checked: {:?}", health.checks);
    let overridden = &health.checks[&key("198.51.100.11", 80)];
    assert_eq!(
        overridden.kind,
        CheckKind::Http { path: "/healthz".into(), status_min: 200, status_max: 200, body: None, host: None }
    );
    assert_eq!(
        (overridden.interval_ms, overridden.timeout_ms, overridden.rise, overridden.fall, overridden.on_failure),
        (2000, 500, 1, 2, OnFailure::Remove)
    );
    assert_eq!(overridden.via, CheckVia::Direct);
    // Another type keeps the timing but none of http's fields.
    let tcp = &health.checks[&key("198.51.100.13", 80)];
    assert_eq!((&tcp.kind, tcp.port, tcp.interval_ms), (&CheckKind::Tcp, 8080, 2000));
}

#[test]
fn exec_checks_quorum_and_start_drained() {
    let health = health_of(&service(
        "      healthCheck: { type: exec, command: [/usr/local/bin/check, --fast], dynamicWeight: true, interval: 1s }\n\
         \x20     quorum: { minHealthy: 2, sorryServer: { address: 192.0.2.50, method: masq } }\n\
         \x20     startDrained: true\n\
         \x20     realServers: [{ address: 198.51.100.11 }, { address: 198.51.100.12 }]\n",
    ));
    let check = &health.checks[&key("198.51.100.11", 80)];
    assert_eq!(
        check.kind,
        CheckKind::Exec { command: vec!["/usr/local/bin/check".into(), "--fast".into()], dynamic_weight: true }
    );
    // Exec checks never travel the tunnel; a 1s interval halves the default timeout.
    assert_eq!((check.via, check.interval_ms, check.timeout_ms), (CheckVia::Direct, 1000, 500));
    let Some(Quorum { min_healthy: 2, sorry_server: Some(sorry) }) = &health.quorum else {
        panic!("{:?}", health.quorum)
    };
    assert_eq!(
        (sorry.address.to_string(), sorry.port, sorry.method, sorry.weight),
        ("192.0.2.50".into(), 80, ForwardingMethod::Masq, 1)
    );
    assert!(health.start_drained);
}

#[test]
fn a_spec_without_checks_has_no_health_policy() {
    let validated =
        spec::parse(&service("      realServers: [{ address: 198.51.100.11 }]\n"), Path::new("ok.yaml")).unwrap();
    assert!(validated.health.is_empty());
}

#[test]
fn a_cluster_s_checks_are_the_director_s_only() {
    let text = "apiVersion: lvs-converge/v1\nkind: Cluster\nipvs:\n  services:\n\
        \x20   - { address: 203.0.113.100, port: 80, healthCheck: { type: tcp }, realServers: [{ node: rs1 }] }\n\
        nodes:\n\
        \x20 - { name: director, role: director, address: 203.0.113.10, vipInterface: eth0 }\n\
        \x20 - { name: rs1, role: real-server, address: 203.0.113.11 }\n";
    let document = spec::parse_document(text, Path::new("cluster.yaml")).unwrap();
    let pick = |name| document.validate(&spec::NodeSelector { name: Some(name), local_addresses: vec![] }).unwrap();
    let director = pick("director");
    let vip = ServiceKey::Address { protocol: Protocol::Tcp, address: "203.0.113.100".parse().unwrap(), port: 80 };
    assert_eq!(director.health.services[&vip].checks[&key("203.0.113.11", 80)].kind, CheckKind::Tcp);
    assert!(pick("rs1").health.is_empty());
}

#[test]
fn durations_take_milliseconds_seconds_and_minutes() {
    let health = health_of(&service(
        "      healthCheck: { type: tcp, interval: 1m, timeout: 1500ms }\n      realServers: [{ address: 198.51.100.11 }]\n",
    ));
    let check = &health.checks[&key("198.51.100.11", 80)];
    assert_eq!((check.interval_ms, check.timeout_ms), (60_000, 1500));
    let diagnostic = only_error(&service(
        "      healthCheck: { type: tcp, interval: 2x }\n      realServers: [{ address: 198.51.100.11 }]\n",
    ));
    assert_eq!((diagnostic.line, diagnostic.path.as_str()), (7, "ipvs.services[0].healthCheck.interval"));
    assert!(diagnostic.message.contains("`2x` is not a duration such as `500ms`"), "{diagnostic}");
}

/// Each mistake: the spec body, the line and field it is reported at, and what it says.
#[test]
fn each_mistake_is_one_error_at_its_field() {
    let one_rs = "      realServers: [{ address: 198.51.100.11 }]\n";
    let cases: &[(String, usize, &str, &str)] = &[
        (
            service(&format!("      healthCheck: {{ type: tcp, interval: 1s, timeout: 1s }}\n{one_rs}")),
            7,
            "ipvs.services[0].healthCheck.timeout",
            "below interval 1s",
        ),
        (
            service(&format!("      healthCheck: {{ type: tcp, interval: 50ms }}\n{one_rs}")),
            7,
            "ipvs.services[0].healthCheck.interval",
            "below 100ms",
        ),
        (
            service(&format!("      healthCheck: {{ type: http, status: 200-700 }}\n{one_rs}")),
            7,
            "ipvs.services[0].healthCheck.status",
            "100-599",
        ),
        (
            service(&format!("      healthCheck: {{ type: http, status: 399-200 }}\n{one_rs}")),
            7,
            "ipvs.services[0].healthCheck.status",
            "ends below where it starts",
        ),
        (
            service(&format!("      healthCheck: {{ type: tcp, rise: 0 }}\n{one_rs}")),
            7,
            "ipvs.services[0].healthCheck.rise",
            "at least 1",
        ),
        (
            service(&format!("      healthCheck: {{ type: tcp, fall: -1 }}\n{one_rs}")),
            7,
            "ipvs.services[0].healthCheck.fall",
            "at least 1",
        ),
        (service(&format!("      healthCheck: {{ type: exec }}\n{one_rs}")), 7, "ipvs.services[0].healthCheck", "needs `command`"),
        (
            service(&format!("      healthCheck: {{ type: exec, command: [] }}\n{one_rs}")),
            7,
            "ipvs.services[0].healthCheck.command",
            "no program",
        ),
        (
            service(&format!("      healthCheck: {{ type: tcp, path: /x }}\n{one_rs}")),
            7,
            "ipvs.services[0].healthCheck.path",
            "applies to http checks, not tcp",
        ),
        (
            service(&format!("      healthCheck: {{ type: exec, command: [/bin/true], via: tunnel }}\n{one_rs}")),
            7,
            "ipvs.services[0].healthCheck.via",
            "cannot travel through the tunnel",
        ),
        (
            service("      healthCheck: { type: tcp, via: tunnel }\n      realServers: [{ address: 198.51.100.11, method: dr }]\n"),
            7,
            "ipvs.services[0].healthCheck.via",
            "is `method: dr`",
        ),
        (
            service(&format!("      healthCheck: {{ port: 80 }}\n{one_rs}")),
            7,
            "ipvs.services[0].healthCheck",
            "no `type`",
        ),
        (
            service(&format!("      healthCheck: {{ type: tcp, port: 70000 }}\n{one_rs}")),
            7,
            "ipvs.services[0].healthCheck.port",
            "out of range 1-65535",
        ),
        (
            service(&format!("      healthCheck: {{ type: http, path: healthz }}\n{one_rs}")),
            7,
            "ipvs.services[0].healthCheck.path",
            "does not start with `/`",
        ),
        (
            service(&format!("      healthCheck: {{ type: http, path: '/health check' }}\n{one_rs}")),
            7,
            "ipvs.services[0].healthCheck.path",
            "a request line cannot carry",
        ),
        (
            service("      realServers:\n        - { address: 198.51.100.11, healthCheck: true }\n"),
            8,
            "ipvs.services[0].realServers[0].healthCheck",
            "the service has none",
        ),
        (
            service(
                "      healthCheck: { type: tcp }\n      realServers:\n        - { address: 198.51.100.11, healthCheck: { rise: 0 } }\n",
            ),
            9,
            "ipvs.services[0].realServers[0].healthCheck.rise",
            "at least 1",
        ),
        (
            service(&format!("      quorum: {{ minHealthy: 1 }}\n{one_rs}")),
            7,
            "ipvs.services[0].quorum",
            "no real server of this service has one",
        ),
        (
            service(&format!("      startDrained: true\n{one_rs}")),
            7,
            "ipvs.services[0].startDrained",
            "no real server of this service has one",
        ),
        (
            service(&format!("      healthCheck: {{ type: tcp }}\n      quorum: {{ minHealthy: 2 }}\n{one_rs}")),
            8,
            "ipvs.services[0].quorum.minHealthy",
            "outside 1-1",
        ),
        (
            service(&format!(
                "      healthCheck: {{ type: tcp }}\n      quorum:\n        sorryServer: {{ address: 198.51.100.11 }}\n{one_rs}"
            )),
            9,
            "ipvs.services[0].quorum.sorryServer.address",
            "is a real server of this service",
        ),
        (
            service(&format!(
                "      healthCheck: {{ type: tcp }}\n      quorum:\n        sorryServer: {{ address: 192.0.2.50, healthCheck: false }}\n{one_rs}"
            )),
            9,
            "ipvs.services[0].quorum.sorryServer.healthCheck",
            "not health-checked",
        ),
        // The service's mistake is the service's, even for a real server that overrides other fields.
        (
            service(
                "      healthCheck: { type: tcp, path: /x }\n      realServers:\n        - { address: 198.51.100.11, healthCheck: { port: 81 } }\n",
            ),
            7,
            "ipvs.services[0].healthCheck.path",
            "applies to http checks, not tcp",
        ),
    ];
    for (text, line, path, message) in cases {
        assert_error(text, *line, path, message);
    }
}

/// A firewall-mark service takes every port: the check must say which one it checks.
#[test]
fn a_real_server_of_port_0_needs_the_check_s_port() {
    let text = format!(
        "{HEADER}    - fwmark: 7\n      healthCheck: {{ type: tcp }}\n      realServers: [{{ address: 198.51.100.11 }}]\n"
    );
    assert_error(&text, 6, "ipvs.services[0].healthCheck", "needs `port`");
    let with_port = text.replace("type: tcp", "type: tcp, port: 443");
    let health = health_of(&with_port);
    assert_eq!(health.checks[&key("198.51.100.11", 0)].port, 443);
    // No VIP:port to travel to: a firewall-mark service's check goes direct, and asking for
    // the tunnel is refused rather than quietly checking the real server's own address.
    assert_eq!(health.checks[&key("198.51.100.11", 0)].via, CheckVia::Direct);
    let through_tunnel = text.replace("type: tcp", "type: tcp, port: 443, via: tunnel");
    assert_error(&through_tunnel, 6, "ipvs.services[0].healthCheck.via", "firewall-mark service has neither");
}

/// A mistake in the service's check is reported once, not once per real server.
#[test]
fn a_mistake_in_the_service_s_check_is_reported_once() {
    let text = service(
        "      healthCheck: { type: tcp, rise: 0 }\n      realServers: [{ address: 198.51.100.11 }, { address: 198.51.100.12 }]\n",
    );
    assert_error(&text, 7, "ipvs.services[0].healthCheck.rise", "at least 1");
}

#[test]
fn an_unknown_field_in_an_override_is_named() {
    let text = service("      realServers:\n        - { address: 198.51.100.11, healthCheck: { pth: /x } }\n");
    let diagnostic = only_error(&text);
    assert!(diagnostic.message.contains("unknown field `pth`"), "{diagnostic}");
}

#[test]
fn the_health_check_marks_are_not_for_declared_services() {
    let text = format!("{HEADER}    - fwmark: 0x4C560001\n");
    let text = text.replace("0x4C560001", &0x4C56_0001u32.to_string());
    assert_error(&text, 5, "ipvs.services[0].fwmark", "health-check services");
}
