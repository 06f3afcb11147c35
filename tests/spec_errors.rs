//! Bad specs: each mistake gives exactly one error that names file, line, column and field,
//! with a hint where the message alone doesn't say how to fix it.

use std::path::Path;
use std::process::Command;

use lvs_converge::spec::{self, Diagnostic};

const HEADER: &str = "apiVersion: lvs-converge/v1\nkind: Host\n";

fn service(body: &str) -> String {
    format!("{HEADER}ipvs:\n  services:\n    - address: 203.0.113.100\n{body}")
}

/// The single diagnostic `text` produces.
fn only_error(text: &str) -> Diagnostic {
    let error = spec::parse(text, Path::new("bad.yaml")).expect_err("spec must be rejected");
    let diagnostics = error.diagnostics();
    assert_eq!(diagnostics.len(), 1, "expected one error, got: {error}");
    assert_eq!(diagnostics[0].file, "bad.yaml");
    diagnostics[0].clone()
}

fn assert_error(text: &str, line: usize, path: &str, message: &str) -> Diagnostic {
    let diagnostic = only_error(text);
    assert_eq!((diagnostic.line, diagnostic.path.as_str()), (line, path), "{diagnostic}");
    assert!(diagnostic.message.contains(message), "`{}` does not mention `{message}`", diagnostic.message);
    diagnostic
}

#[test]
fn wrong_type() {
    let d = assert_error(&service("      port: eighty\n"), 6, "ipvs.services[0].port", "invalid type");
    assert!(d.hint.is_some());
}

#[test]
fn unknown_field() {
    let d = assert_error(
        &service("      port: 80\n      schedular: wlc\n"),
        7,
        "ipvs.services[0]",
        "unknown field `schedular`",
    );
    assert!(d.message.contains("scheduler"), "lists the valid field names: {d}");
}

#[test]
fn unknown_scheduler_lists_the_valid_ones() {
    let d = assert_error(
        &service("      port: 80\n      scheduler: wlcx\n"),
        7,
        "ipvs.services[0].scheduler",
        "unknown variant `wlcx`",
    );
    for name in ["rr", "wrr", "lc", "wlc", "lblc", "lblcr", "dh", "sh", "sed", "nq", "fo", "ovf", "mh"] {
        assert!(d.message.contains(&format!("`{name}`")), "{d}");
    }
    assert_eq!(d.column, 18);
}

#[test]
fn duplicate_service() {
    let text = format!(
        "{HEADER}ipvs:\n  services:\n    - address: 203.0.113.100\n      port: 80\n    - address: 203.0.113.100\n      port: 80\n"
    );
    let d = assert_error(&text, 7, "ipvs.services[1]", "declared twice");
    assert!(d.hint.as_deref().unwrap().contains("merge"));
}

#[test]
fn port_out_of_range() {
    assert_error(&service("      port: 70000\n"), 6, "ipvs.services[0].port", "out of range");
}

#[test]
fn negative_weight() {
    let d = assert_error(
        &service("      port: 80\n      realServers:\n        - address: 203.0.113.11\n          weight: -1\n"),
        9,
        "ipvs.services[0].realServers[0].weight",
        "weight -1 is out of range",
    );
    assert!(d.hint.unwrap().contains("drain"));
}

#[test]
fn ipv6_real_server_on_ipv4_service_needs_tunnel() {
    let d = assert_error(
        &service("      port: 80\n      realServers:\n        - address: 2001:db8::11\n          method: dr\n"),
        8,
        "ipvs.services[0].realServers[0].address",
        "needs `method: tunnel`",
    );
    assert_eq!(d.column, 20);
    // The same real server in tunnel mode is fine: the kernel encapsulates across families.
    let ok = service("      port: 80\n      realServers:\n        - address: 2001:db8::11\n");
    spec::parse(&ok, Path::new("ok.yaml")).expect("tunnel mode may mix families");
}

#[test]
fn yaml_syntax_error() {
    let d = only_error(&service("      port: [80\n"));
    assert!(d.line >= 6, "{d}");
}

#[test]
fn wrong_api_version() {
    let d = assert_error("apiVersion: v2\nkind: Host\n", 1, "apiVersion", "unsupported apiVersion");
    assert!(d.hint.unwrap().contains("lvs-converge/v1"));
}

#[test]
fn scheduler_flag_of_another_scheduler() {
    assert_error(
        &service("      port: 80\n      scheduler: rr\n      schedulerFlags: [sh-port]\n"),
        8,
        "ipvs.services[0].schedulerFlags[0]",
        "belongs to scheduler `sh`",
    );
}

#[test]
fn validate_command_prints_location_and_exits_1() {
    let dir = std::env::temp_dir().join(format!("lvs-converge-spec-errors-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("director.yaml");
    std::fs::write(&path, service("      port: 80\n      scheduler: wlcx\n")).unwrap();
    let output =
        Command::new(env!("CARGO_BIN_EXE_lvs-converge")).arg("validate").arg("-f").arg(&path).output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains(&format!("{}:7:18: ipvs.services[0].scheduler: unknown variant `wlcx`", path.display())),
        "{stderr}"
    );
    assert!(stderr.contains("hint:"), "{stderr}");
    std::fs::remove_dir_all(&dir).ok();
}

/// Every YAML file under examples/.
fn example_specs() -> Vec<std::path::PathBuf> {
    let mut specs = Vec::new();
    let mut stack = vec![Path::new(env!("CARGO_MANIFEST_DIR")).join("examples")];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "yaml") {
                specs.push(path);
            }
        }
    }
    specs.sort();
    specs
}

#[test]
fn every_example_is_valid() {
    let specs = example_specs();
    assert!(specs.len() >= 5, "examples/ has specs");
    for path in specs {
        let document = spec::read(&path).unwrap_or_else(|e| panic!("{e}"));
        let nodes: Vec<Option<&str>> = match document.file.kind {
            spec::SpecKind::Cluster => document.node_names().into_iter().map(Some).collect(),
            spec::SpecKind::Host => vec![None],
        };
        for name in nodes {
            document.resolve(&spec::NodeSelector { name, local_addresses: vec![] }).unwrap_or_else(|e| panic!("{e}"));
        }
    }
}

/// Every prefix of every example, and a few thousand byte-level mutations of them, give a
/// spec or an error, never a panic. (A quick guard; the real fuzzing belongs to issue 6.)
#[test]
fn no_panic_on_truncated_or_mutated_specs() {
    let texts: Vec<Vec<u8>> = example_specs().iter().map(|path| std::fs::read(path).unwrap()).collect();
    let alphabet = b" :-[]{}#\n'\"0123456789abcxyz.,*&!|>";
    let mut seed: u64 = 0x9e3779b97f4a7c15;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let mut inputs = 0;
    for text in &texts {
        for cut in 0..text.len() {
            let _ = spec::parse(&String::from_utf8_lossy(&text[..cut]), Path::new("cut.yaml"));
            inputs += 1;
        }
        for _ in 0..500 {
            let mut mutated = text.clone();
            for _ in 0..1 + next() % 4 {
                let at = (next() as usize) % mutated.len();
                mutated[at] = alphabet[(next() as usize) % alphabet.len()];
            }
            let _ = spec::parse(&String::from_utf8_lossy(&mutated), Path::new("mutated.yaml"));
            inputs += 1;
        }
    }
    assert!(inputs > 5000, "ran {inputs} inputs");
}

#[test]
fn tunnel_checksum_fits_its_encapsulation() {
    let real_server = |tunnel: &str| {
        service(&format!(
            "      port: 80\n      realServers:\n        - address: 198.51.100.24\n          tunnel: {tunnel}\n"
        ))
    };
    assert_error(
        &real_server("{ type: gre, checksum: remcsum }"),
        9,
        "ipvs.services[0].realServers[0].tunnel.checksum",
        "does not apply to gre",
    );
    assert_error(
        &real_server("{ checksum: csum }"),
        9,
        "ipvs.services[0].realServers[0].tunnel.checksum",
        "does not apply to ipip",
    );
    let spec = spec::parse(&real_server("{ type: gue, port: 6080, checksum: remcsum }"), Path::new("ok.yaml"))
        .expect("GUE takes remote checksum offload");
    let service = spec.desired.ipvs.services.values().next().unwrap();
    let tunnel = service.destinations.values().next().unwrap().tunnel;
    assert_eq!((tunnel.port, tunnel.flags), (6080, 2), "IP_VS_TUNNEL_ENCAP_FLAG_REMCSUM");
}
