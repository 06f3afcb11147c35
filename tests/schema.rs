//! The JSON Schema for specs: the committed file is what the spec types generate, every example
//! passes it, and it agrees with the parser on specs either of them could get wrong.

use std::path::{Path, PathBuf};

use lvs_converge::spec::{self, schema, NodeSelector, SpecKind};

const REGENERATE: &str =
    "regenerate it with `cargo run -q -- schema > schemas/lvs-converge-v1.schema.json` or `UPDATE_SCHEMA=1 cargo test --test schema`";

fn repo_path(relative: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(relative)
}

fn validator() -> jsonschema::Validator {
    jsonschema::validator_for(&schema::json_schema()).expect("the generated schema compiles")
}

/// The schema's complaints about a YAML document, one line each; empty when it passes.
fn schema_errors(validator: &jsonschema::Validator, yaml: &str) -> Vec<String> {
    let document: serde_yaml::Value = serde_yaml::from_str(yaml).expect("test document is YAML");
    let instance = serde_json::to_value(document).expect("YAML converts to JSON");
    validator.iter_errors(&instance).map(|error| format!("{}: {error}", error.instance_path())).collect()
}

/// What `plan` would say on any host: the document parses and every node of it resolves (a
/// Cluster spec without nodes resolves to an error, as on a host).
fn parser_verdict(yaml: &str, source: &Path) -> Result<(), String> {
    let document = spec::parse_document(yaml, source).map_err(|e| e.to_string())?;
    let names: Vec<Option<String>> = match (document.file.kind, document.node_names().is_empty()) {
        (SpecKind::Cluster, false) => document.node_names().into_iter().map(|n| Some(n.to_string())).collect(),
        _ => vec![None],
    };
    for name in &names {
        document
            .validate(&NodeSelector { name: name.as_deref(), local_addresses: vec![] })
            .map_err(|e| e.to_string())?;
    }
    Ok(())
}

#[test]
fn committed_schema_is_what_the_spec_types_generate() {
    let path = repo_path(schema::SCHEMA_PATH);
    let generated = schema::render();
    if std::env::var_os("UPDATE_SCHEMA").is_some() {
        std::fs::write(&path, &generated).expect("write the schema");
        return;
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    if committed != generated {
        let diff = similar::TextDiff::from_lines(&committed, &generated);
        let diff = diff.unified_diff().context_radius(2).header("committed", "generated").to_string();
        let shown: String = diff.lines().take(60).collect::<Vec<_>>().join("\n");
        panic!("{} is out of date with the spec types; {REGENERATE}\n{shown}", schema::SCHEMA_PATH);
    }
}

#[test]
fn schema_is_valid_draft_07() {
    let schema = schema::json_schema();
    assert_eq!(schema["$schema"], "http://json-schema.org/draft-07/schema#");
    jsonschema::draft7::meta::validate(&schema).expect("schema conforms to the draft-07 meta-schema");
}

fn yaml_files(directory: &Path, found: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(directory).expect("read examples/") {
        let path = entry.expect("directory entry").path();
        if path.is_dir() {
            yaml_files(&path, found);
        } else if matches!(path.extension().and_then(|e| e.to_str()), Some("yaml" | "yml")) {
            found.push(path);
        }
    }
}

#[test]
fn every_example_spec_passes_the_schema() {
    let mut files = Vec::new();
    yaml_files(&repo_path("examples"), &mut files);
    files.sort();
    let validator = validator();
    let mut checked = 0;
    for path in &files {
        let text = std::fs::read_to_string(path).expect("read example");
        // Other YAML (CI, compose files) may live under examples/ too; a spec names its apiVersion.
        let is_spec = serde_yaml::from_str::<serde_yaml::Value>(&text)
            .ok()
            .is_some_and(|document| document.get("apiVersion").is_some());
        if !is_spec {
            continue;
        }
        let errors = schema_errors(&validator, &text);
        assert!(errors.is_empty(), "{} fails the schema:\n{}", path.display(), errors.join("\n"));
        parser_verdict(&text, path).unwrap_or_else(|e| panic!("{} fails the parser: {e}", path.display()));
        checked += 1;
    }
    assert!(checked >= 5, "expected the example specs under examples/, found {checked}: {files:?}");
}

const HOST: &str = "apiVersion: lvs-converge/v1\nkind: Host\n";

fn with_service(service: &str) -> String {
    format!("{HOST}ipvs:\n  services:\n    - {service}\n")
}

fn web_service(extra: &str) -> String {
    with_service(&format!("{{ address: 203.0.113.100, port: 80, realServers: [{{ address: 203.0.113.11 }}]{extra} }}"))
}

/// Specs the parser rejects, and why: the schema must reject each too.
fn wrong_specs() -> Vec<(&'static str, String)> {
    vec![
        ("unknown top-level field", format!("{HOST}vipInterfaces: eth0\n")),
        ("misspelt real-server field", with_service("{ address: 203.0.113.100, port: 80, realServers: [{ address: 203.0.113.11, wieght: 2 }] }")),
        ("unknown scheduler", web_service(", scheduler: wrrr")),
        ("unknown protocol", web_service(", protocol: icmp")),
        ("missing kind", "apiVersion: lvs-converge/v1\n".into()),
        ("other apiVersion", "apiVersion: lvs-converge/v2\nkind: Host\n".into()),
        ("address without interface", format!("{HOST}addresses: [{{ address: 203.0.113.100/32 }}]\n")),
        ("duration with unknown unit", format!("{HOST}ipvs:\n  timeouts: {{ tcp: 10x }}\n")),
        ("duration ending without unit", format!("{HOST}ipvs:\n  timeouts: {{ tcp: 5m10 }}\n")),
        ("negative duration", format!("{HOST}ipvs:\n  timeouts: {{ udp: -5 }}\n")),
        ("non-contiguous netmask", web_service(", persistence: { netmask: 255.0.255.0 }")),
        ("prefix over 128", web_service(", persistence: { netmask: 129 }")),
        ("port out of range", with_service("{ address: 203.0.113.100, port: 70000 }")),
        ("service with fwmark and address", with_service("{ fwmark: 1, address: 203.0.113.100, port: 80 }")),
        ("fwmark service with port", with_service("{ fwmark: 1, port: 80 }")),
        ("service without port", with_service("{ address: 203.0.113.100 }")),
        ("real server with address and node", with_service("{ address: 203.0.113.100, port: 80, realServers: [{ address: 203.0.113.11, node: rs1 }] }")),
        ("flag of another scheduler", web_service(", scheduler: rr, schedulerFlags: [sh-port]")),
        ("GUE without port", with_service("{ address: 203.0.113.100, port: 80, realServers: [{ address: 203.0.113.11, tunnel: { type: gue } }] }")),
        ("checksum on ipip", with_service("{ address: 203.0.113.100, port: 80, realServers: [{ address: 203.0.113.11, tunnel: { checksum: csum } }] }")),
        ("remcsum on GRE", with_service("{ address: 203.0.113.100, port: 80, realServers: [{ address: 203.0.113.11, tunnel: { type: gre, checksum: remcsum } }] }")),
        ("drain as a word", format!("{HOST}ipvs:\n  drain: sometimes\n")),
        ("drain without timeout", format!("{HOST}ipvs:\n  drain: {{ timout: 5m }}\n")),
        ("non-net sysctl", format!("{HOST}sysctls:\n  kernel.panic: 10\n")),
        ("bad CIDR prefix", format!("{HOST}addresses: [{{ address: 203.0.113.100/33, interface: lo }}]\n")),
        ("route to nowhere", format!("{HOST}routes: [{{ destination: 203.0.113.0/24 }}]\n")),
        ("interface name too long", format!("{HOST}links: [{{ name: a-very-long-tunnel-name }}]\n")),
        ("interface name with a tab", format!("{HOST}links: [{{ name: \"tun\\t1\" }}]\n")),
        ("interface named ..", format!("{HOST}links: [{{ name: \"..\" }}]\n")),
        ("IPv4 endpoint on an ip6tnl tunnel", format!("{HOST}links: [{{ name: t6, type: ip6tnl, remote: 192.0.2.1 }}]\n")),
        ("IPv6 endpoint on a gre tunnel", format!("{HOST}links: [{{ name: gre1, type: gre, local: \"2001:db8::1\" }}]\n")),
        ("IPv6 endpoint on ip6gre0", format!("{HOST}links: [{{ name: ip6gre0, local: 192.0.2.1 }}]\n")),
        ("hopLimit on a gre tunnel", format!("{HOST}links: [{{ name: gre1, type: gre, hopLimit: 64 }}]\n")),
        ("ttl on an ip6gre tunnel", format!("{HOST}links: [{{ name: g6, type: ip6gre, ttl: 64 }}]\n")),
        ("mode on a sit tunnel", format!("{HOST}links: [{{ name: sit1, type: sit, mode: any }}]\n")),
        ("misspelt persist setting", format!("{HOST}persist:\n  sysctl: {{ paht: /etc/sysctl.d/x.conf }}\n")),
        ("real server without VIPs", format!("{HOST}role: real-server\n")),
        ("host field in a Cluster spec", "apiVersion: lvs-converge/v1\nkind: Cluster\nrole: director\nnodes: [{ name: d, address: 203.0.113.10, role: director, vipInterface: eth0 }]\n".into()),
        ("Cluster without nodes", "apiVersion: lvs-converge/v1\nkind: Cluster\n".into()),
        ("nodes in a Host spec", format!("{HOST}nodes: [{{ name: d, address: 203.0.113.10, role: director }}]\n")),
        ("node without role", "apiVersion: lvs-converge/v1\nkind: Cluster\nnodes: [{ name: d, address: 203.0.113.10 }]\n".into()),
        ("unknown health-check type", web_service(", healthCheck: { type: ping }")),
        ("misspelt health-check field", web_service(", healthCheck: { type: http, pth: / }")),
        ("health check as a word", with_service("{ address: 203.0.113.100, port: 80, realServers: [{ address: 203.0.113.11, healthCheck: never }] }")),
        ("HTTP status out of range", web_service(", healthCheck: { type: http, status: 700 }")),
        ("HTTP status as words", web_service(", healthCheck: { type: http, status: ok }")),
        ("interval with unknown unit", web_service(", healthCheck: { type: tcp, interval: 5x }")),
        ("path on a tcp check", web_service(", healthCheck: { type: tcp, path: / }")),
        ("command on an http check", web_service(", healthCheck: { type: http, command: [/bin/true] }")),
        ("rise of 0", web_service(", healthCheck: { type: tcp, rise: 0 }")),
        ("unknown onFailure", web_service(", healthCheck: { type: tcp, onFailure: reboot }")),
    ]
}

/// Valid specs in their less obvious spellings: the schema must accept each.
fn tricky_valid_specs() -> Vec<(&'static str, String)> {
    vec![
        ("durations as strings and numbers", format!("{HOST}ipvs:\n  timeouts: {{ tcp: 1h30m, tcpFin: \"120\", udp: 300 }}\n")),
        ("persistence with dotted netmask", web_service(", persistence: { timeout: 90s, netmask: 255.255.255.0 }")),
        ("netmask as a /prefix string", web_service(", persistence: { netmask: \"/24\" }")),
        ("drain: false", format!("{HOST}ipvs:\n  drain: false\n")),
        ("drain with timeout", format!("{HOST}ipvs:\n  drain: {{ timeout: 10m }}\n")),
        ("fwmark service", with_service("{ fwmark: 7, family: ipv6, scheduler: mh, schedulerFlags: [mh-port], realServers: [{ address: \"2001:db8::11\", port: 0 }] }")),
        ("GUE tunnel", with_service("{ address: 203.0.113.100, port: 80, realServers: [{ address: 203.0.113.11, tunnel: { type: gue, port: 6080 } }] }")),
        ("GRE with checksum", with_service("{ address: 203.0.113.100, port: 80, realServers: [{ address: 203.0.113.11, tunnel: { type: gre, checksum: csum } }] }")),
        ("all ports with persistence", with_service("{ address: 203.0.113.100, port: 0, persistence: { timeout: 5m } }")),
        ("sysctl numbers and text", format!("{HOST}sysctls:\n  net.ipv4.ip_forward: 1\n  net.ipv4.ip_local_port_range: \"1024 65000\"\n")),
        ("routes by table name and number", format!("{HOST}routes:\n  - {{ destination: 203.0.113.100, device: lo, table: local }}\n  - {{ destination: 198.51.100.0/24, gateway: 203.0.113.1, table: 100 }}\n  - {{ destination: 192.0.2.0/24, type: blackhole }}\n")),
        ("tunnels of every type", format!("{HOST}links:\n  - {{ name: gre0 }}\n  - {{ name: ip6tnl0, mode: any }}\n  - {{ name: gre1, type: gre, remote: 192.0.2.1, ttl: 64 }}\n  - {{ name: sit1, type: sit, local: 192.0.2.2, pmtudisc: false }}\n  - {{ name: t6, type: ip6tnl, remote: \"2001:db8::1\", hopLimit: 0, mode: ipip6 }}\n  - {{ name: g6, type: ip6gre, local: \"2001:db8::2\" }}\n")),
        ("IPv6 address with prefix", format!("{HOST}addresses: [{{ address: \"2001:db8::100/128\", interface: lo }}]\n")),
        ("persist switches and settings", format!("{HOST}persist:\n  sysctl: false\n  modules:\n  network: {{ directory: /run/systemd/network }}\n  bootUnit: {{ binary: /usr/local/bin/lvs-converge }}\n")),
        ("real server with its VIPs", format!("{HOST}role: real-server\nvips: [203.0.113.100]\n")),
        ("health checks with overrides", with_service("{ address: 203.0.113.100, port: 80, healthCheck: { type: http, status: 200, interval: 500ms, timeout: 200ms, via: direct }, quorum: { minHealthy: 1, sorryServer: { address: 192.0.2.50, method: masq } }, startDrained: true, realServers: [{ address: 203.0.113.11, healthCheck: { path: /healthz, status: 200-204 } }, { address: 203.0.113.12, healthCheck: false }, { address: 203.0.113.13, healthCheck: { type: exec, command: [/bin/check], dynamicWeight: true, interval: 2 } }] }")),
        ("Cluster with real servers by node", "apiVersion: lvs-converge/v1\nkind: Cluster\nipvs:\n  services:\n    - { address: 203.0.113.100, port: 80, realServers: [{ node: rs1 }] }\nnodes:\n  - { name: director, role: director, address: 203.0.113.10, vipInterface: \"eth0:0\" }\n  - { name: rs1, role: real-server, address: 203.0.113.11 }\n".into()),
    ]
}

#[test]
fn schema_rejects_specs_the_parser_rejects() {
    let validator = validator();
    for (what, yaml) in wrong_specs() {
        assert!(parser_verdict(&yaml, Path::new("wrong.yaml")).is_err(), "{what}: the parser accepts it:\n{yaml}");
        assert!(!schema_errors(&validator, &yaml).is_empty(), "{what}: the schema accepts it:\n{yaml}");
    }
}

#[test]
fn schema_accepts_tricky_valid_specs() {
    let validator = validator();
    for (what, yaml) in tricky_valid_specs() {
        parser_verdict(&yaml, Path::new("/etc/lvs-converge/tricky.yaml"))
            .unwrap_or_else(|e| panic!("{what}: the parser rejects it: {e}\n{yaml}"));
        let errors = schema_errors(&validator, &yaml);
        assert!(errors.is_empty(), "{what}: the schema rejects it:\n{}\n{yaml}", errors.join("\n"));
    }
}

/// The kernel's ranges (issue 11, finding 2) are in the schema where a schema can state them:
/// numbers of seconds; durations written with units are the parser's alone.
#[test]
fn schema_carries_the_kernel_timeout_ranges() {
    let validator = validator();
    let persistence = |timeout: &str| web_service(&format!(", persistence: {{ timeout: {timeout} }}"));
    let timeouts = |tcp: &str| format!("{HOST}ipvs:\n  timeouts: {{ tcp: {tcp} }}\n");
    for (what, yaml, valid) in [
        ("persistence timeout at the limit", persistence("2678400"), true),
        ("persistence timeout past the limit", persistence("2678401"), false),
        ("connection timeout at the limit", timeouts("2147483"), true),
        ("connection timeout past the limit", timeouts("9000000"), false),
        ("connection timeout 0", timeouts("0"), false),
    ] {
        let parser = parser_verdict(&yaml, Path::new("limits.yaml"));
        let schema = schema_errors(&validator, &yaml);
        assert_eq!((parser.is_ok(), schema.is_empty()), (valid, valid), "{what}: {parser:?} {schema:?}\n{yaml}");
    }
}
