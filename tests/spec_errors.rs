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
    let d =
        assert_error(&text, 7, "ipvs.services[1]", "declared twice: first at line 5 (ipvs.services[0]), again here");
    assert!(d.hint.as_deref().unwrap().contains("merge"));
}

/// A repeated real server or node names where the first one is, like a repeated service.
#[test]
fn a_repeated_real_server_or_node_names_the_first() {
    let real_servers = service(
        "      port: 80\n      realServers:\n        - { address: 198.51.100.22 }\n        - { address: 198.51.100.23 }\n        - { address: 198.51.100.22 }\n",
    );
    assert_error(&real_servers, 10, "ipvs.services[0].realServers[2]", "listed twice in this service: first at line 8");
    let nodes = "apiVersion: lvs-converge/v1\nkind: Cluster\nnodes:\n  - { name: web1, address: 203.0.113.11, role: real-server }\n\
                 \x20 - { name: web1, address: 203.0.113.12, role: real-server }\n";
    let error = spec::parse(nodes, Path::new("bad.yaml")).expect_err("rejected");
    let d = error.diagnostics().iter().find(|d| d.message.contains("declared twice")).expect("the repeated node");
    assert_eq!((d.line, d.path.as_str()), (5, "nodes[1].name"), "{d}");
    assert!(d.message.contains("first at line 4 (nodes[0].name)"), "{d}");
}

/// A key set twice is reported where it is set again (serde_yaml places it at the mapping,
/// the first line of a document for a top-level key), naming the first.
#[test]
fn a_key_set_twice_is_reported_at_its_second_line() {
    let d = only_error(&format!("{HEADER}kind: Cluster\n"));
    assert_eq!((d.line, d.column, d.path.as_str()), (3, 1, "kind"), "{d}");
    assert_eq!(d.message, "`kind` is set twice: first at line 2, again here");
    let d = only_error(&service("      port: 80\n      scheduler: rr\n      port: 81\n"));
    assert_eq!((d.line, d.column, d.path.as_str()), (8, 7, "ipvs.services[0].port"), "{d}");
    assert!(d.message.contains("first at line 6"), "{d}");
}

/// A number too large for any integer type is out of the field's range, said in words: the
/// kernel's range where the spec checks one, the field's otherwise; never a Rust type name.
#[test]
fn huge_numbers_are_out_of_the_fields_range() {
    let cases = [
        (service("      port: 18446744073709551616\n"), "port 18446744073709551616 is out of range 0-65535"),
        (service("      port: 9223372036854775808\n"), "port 9223372036854775808 is out of range 0-65535"),
        (service("      port: -9223372036854775809\n"), "port -9223372036854775809 is out of range 0-65535"),
        (
            service("      port: 99999999999999999999999999999999999999999\n"),
            "port 99999999999999999999999999999999999999999 is out of range 0-65535",
        ),
        (
            real_server_with("          weight: 340282366920938463463374607431768211456\n"),
            "weight 340282366920938463463374607431768211456 is out of range 0-65535",
        ),
        (
            format!("{HEADER}ipvs:\n  timeouts:\n    tcp: 99999999999999999999\n"),
            "timeout 99999999999999999999 is out of range 1-2147483",
        ),
        (format!("{HEADER}links:\n  - name: tun1\n    type: ipip\n    ttl: 300\n"), "ttl 300 is out of range 0-255"),
        (
            service("      port: 80\n      persistence:\n        netmask: 99999999999999999999\n"),
            "netmask 99999999999999999999 is out of range: expected a prefix length",
        ),
    ];
    for (text, expected) in cases {
        let d = only_error(&text);
        assert!(d.message.contains(expected), "`{}` does not say `{expected}`", d.message);
        for rust_type in ["u128", "i128", "i64", "u8", "u32", "floating point"] {
            assert!(!d.message.contains(rust_type), "`{}` names `{rust_type}`", d.message);
        }
    }
    // A fraction stays a wrong type.
    assert!(only_error(&service("      port: 8.5\n")).message.contains("expected a whole number"));
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
            document.validate(&spec::NodeSelector { name, local_addresses: vec![] }).unwrap_or_else(|e| panic!("{e}"));
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
    let service = spec.ipvs.services.values().next().unwrap();
    let tunnel = service.destinations.values().next().unwrap().tunnel;
    assert_eq!((tunnel.port, tunnel.flags), (6080, 2), "IP_VS_TUNNEL_ENCAP_FLAG_REMCSUM");
}

/// A service on 203.0.113.100:80 with one real server whose fields are `fields` (line 8 on).
fn real_server_with(fields: &str) -> String {
    service(&format!("      port: 80\n      realServers:\n        - address: 203.0.113.11\n{fields}"))
}

/// A service whose VIP is `vip` (line 5).
fn service_on(vip: &str) -> String {
    format!("{HEADER}ipvs:\n  services:\n    - address: \"{vip}\"\n      port: 80\n")
}

/// Issue 11, finding 2: values the kernel cannot hold (it refuses them, or keeps something
/// else) are refused by the spec, with the range and the kernel code it comes from.
#[test]
fn values_the_kernel_cannot_hold_are_refused() {
    let persistence =
        |timeout: &str| service(&format!("      port: 80\n      persistence:\n        timeout: {timeout}\n"));
    let timeouts = |field: &str, value: &str| format!("{HEADER}ipvs:\n  timeouts:\n    {field}: {value}\n");
    let real_server_at =
        |address: &str| service(&format!("      port: 80\n      realServers:\n        - address: \"{address}\"\n"));
    let rs = "ipvs.services[0].realServers[0]";
    let mut cases: Vec<(String, usize, String, String)> = vec![
        // ipvsadm -R (the persisted rules) reads -p up to 31 days (issue 18, finding 3).
        (persistence("20000000"), 8, "ipvs.services[0].persistence.timeout".into(), "persistence timeout 20000000 is out of range 1-2678400 (ipvsadm -R, which restores the persisted rules, reads -p up to 31 days".into()),
        (persistence("2678401"), 8, "ipvs.services[0].persistence.timeout".into(), "out of range 1-2678400".into()),
        (persistence("31d1s"), 8, "ipvs.services[0].persistence.timeout".into(), "persistence timeout 2678401 is out of range".into()),
        (persistence("0"), 8, "ipvs.services[0].persistence.timeout".into(), "persistence timeout 0 is out of range 1-2678400".into()),
        // ip_vs_set_timeout: EINVAL above INT_MAX/HZ; 0 means "leave unchanged".
        (timeouts("tcp", "9000000"), 5, "ipvs.timeouts.tcp".into(), "timeout 9000000 is out of range 1-2147483 (ip_vs_set_timeout() refuses".into()),
        (timeouts("tcpFin", "2147484"), 5, "ipvs.timeouts.tcpFin".into(), "out of range 1-2147483".into()),
        (timeouts("udp", "0"), 5, "ipvs.timeouts.udp".into(), "timeout 0 is out of range 1-2147483".into()),
        (real_server_with("          port: 0\n"), 9, format!("{rs}.port"), "port 0 on a real server of a port-80 service".into()),
        (real_server_with("          lowerThreshold: 5\n"), 9, format!("{rs}.lowerThreshold"), "lowerThreshold 5 is above upperThreshold 0 (ip_vs_add_dest() refuses it".into()),
        // ipvsadm -R (the persisted rules) reads -w up to 65535 (issue 18, finding 3).
        (real_server_with("          weight: 65536\n"), 9, format!("{rs}.weight"), "weight 65536 is out of range 0-65535 (ipvsadm -R, which restores the persisted rules, reads -w up to 65535 (upstream".into()),
        (real_server_with("          weight: 2147483648\n"), 9, format!("{rs}.weight"), "weight 2147483648 is out of range 0-65535".into()),
        (
            format!("{HEADER}ipvs:\n  services:\n    - address: \"2001:db8::100\"\n      port: 80\n      persistence: {{netmask: 0}}\n"),
            7,
            "ipvs.services[0].persistence.netmask".into(),
            "netmask 0 is out of range 1-128 (ip_vs_add_service() refuses".into(),
        ),
        (format!("{HEADER}ipvs:\n  services:\n    - fwmark: 0\n"), 5, "ipvs.services[0].fwmark".into(), "fwmark 0 is out of range 1-4294967295".into()),
        (format!("{HEADER}role: real-server\nvips: [0.0.0.0]\n"), 3, "role".into(), "VIP 0.0.0.0 is unspecified".into()),
    ];
    for address in
        ["0.0.0.0", "0.1.2.3", "255.255.255.255", "224.0.0.1", "::", "ff02::1", "fe80::1", "::ffff:203.0.113.11"]
    {
        cases.push((real_server_at(address), 8, format!("{rs}.address"), format!("real server {address} is ")));
    }
    for vip in ["0.0.0.0", "255.255.255.255", "239.1.2.3", "::", "ff05::2"] {
        cases.push((service_on(vip), 5, "ipvs.services[0].address".into(), format!("VIP {vip} is ")));
    }
    let total = cases.len();
    let wrong: Vec<String> = cases
        .into_iter()
        .filter_map(|(text, line, path, message)| {
            let diagnostics = match spec::parse(&text, Path::new("bad.yaml")) {
                Ok(_) => return Some(format!("accepted:\n{text}")),
                Err(error) => error.diagnostics().to_vec(),
            };
            let found = diagnostics.iter().any(|d| {
                (d.line, d.path.as_str()) == (line, path.as_str()) && d.message.contains(&message) && d.hint.is_some()
            });
            let shown: Vec<String> = diagnostics.iter().map(ToString::to_string).collect();
            (diagnostics.len() != 1 || !found)
                .then(|| format!("expected {line}: {path}: …{message}…, got:\n{}", shown.join("\n")))
        })
        .collect();
    assert!(wrong.is_empty(), "{} of {total} cases wrong:\n{}", wrong.len(), wrong.join("\n\n"));
}

/// The edges of the same ranges are accepted, so the limits are the kernel's and ipvsadm's
/// and no tighter.
#[test]
fn values_at_the_kernel_limits_are_accepted() {
    let ok = [
        service("      port: 80\n      persistence:\n        timeout: 2678400\n"),
        service("      port: 80\n      persistence:\n        timeout: 31d\n"),
        format!("{HEADER}ipvs:\n  timeouts: {{tcp: 2147483, tcpFin: 1, udp: 24d20h31m23s}}\n"),
        real_server_with("          weight: 65535\n          upperThreshold: 2147483647\n          lowerThreshold: 2147483647\n"),
        real_server_with("          port: 8080\n          method: masq\n"),
        real_server_with("          upperThreshold: 5\n          lowerThreshold: 5\n"),
        // All-ports service: its real servers take port 0 too.
        service("      port: 0\n      persistence: {timeout: 5m}\n      realServers:\n        - address: 203.0.113.11\n          port: 0\n"),
        format!("{HEADER}ipvs:\n  services:\n    - address: \"2001:db8::100\"\n      port: 80\n      persistence: {{netmask: 1}}\n"),
        format!("{HEADER}ipvs:\n  services:\n    - address: \"2001:db8::100\"\n      port: 80\n      realServers: [{{address: \"2001:db8::11\"}}, {{address: \"::1\"}}]\n"),
        format!("{HEADER}ipvs:\n  services:\n    - fwmark: 4294967295\n      realServers: [{{address: 127.0.0.1, port: 0}}]\n"),
    ];
    for text in ok {
        spec::parse(&text, Path::new("ok.yaml")).unwrap_or_else(|e| panic!("{e}\n{text}"));
    }
}

/// Issue 11, finding 10: 40 000 levels of nesting took seconds to minutes in the YAML parsers
/// (quadratic). Deeper than 64 levels is refused before parsing, at the place it happens.
#[test]
fn deep_nesting_is_refused_before_parsing() {
    let depth = 40_000;
    let deep = [
        format!("{HEADER}ipvs:\n  services: {}{}\n", "[".repeat(depth), "]".repeat(depth)),
        format!("{HEADER}ipvs:\n  services:\n    {}x\n", "- ".repeat(depth)),
        format!("{HEADER}ipvs: {}1{}\n", "{a: ".repeat(depth), "}".repeat(depth)),
    ];
    for text in &deep {
        let d = only_error(text);
        assert!(d.message.contains("more than 64 levels deep"), "{d}");
        assert!(d.line >= 3, "points at the deep part: {d}");
    }
    // 64 levels are read (and the field judged), 65 are not.
    let nested = |levels: usize| format!("{HEADER}x: {}1{}\n", "[".repeat(levels - 1), "]".repeat(levels - 1));
    assert!(only_error(&nested(64)).message.contains("unknown field `x`"));
    let d = only_error(&nested(65));
    assert_eq!((d.line, d.column, d.path.as_str()), (3, 67, ""), "{d}");
}

/// A file over the size cap is refused before it is read whole, naming the file, its size
/// and the cap.
#[test]
fn oversized_spec_is_refused() {
    let path = std::env::temp_dir().join(format!("lvs-converge-oversized-{}.yaml", std::process::id()));
    let mut text = HEADER.to_string();
    text.push_str(&"# padding\n".repeat(spec::MAX_SPEC_BYTES / 10 + 10));
    std::fs::write(&path, &text).unwrap();
    let error = spec::read(&path).expect_err("over the cap");
    std::fs::remove_file(&path).ok();
    let message = error.to_string();
    let expected = format!(
        "{}:1:1: the spec is {} bytes (16.0 MiB), more than the limit of 16 MiB (16777216 bytes)",
        path.display(),
        text.len()
    );
    assert!(message.contains(&expected), "{message}");
    // The same text handed over directly (import, tests) meets the same cap.
    let error = spec::parse(&text, Path::new("big.yaml")).expect_err("over the cap");
    assert!(error.to_string().contains(&format!("the spec is {} bytes", text.len())), "{error}");
    // A device has no size: it is just over the limit, and never read whole.
    let error = spec::read(Path::new("/dev/zero")).expect_err("over the cap");
    assert!(error.to_string().contains("the spec is larger than the limit of 16 MiB"), "{error}");
}

/// A UTF-8 byte order mark (Windows editors, web forms) is not part of the first key.
#[test]
fn a_byte_order_mark_is_skipped() {
    let cluster = "apiVersion: lvs-converge/v1\nkind: Cluster\nnodes:\n  - { name: web1, address: 203.0.113.11, role: real-server }\n\
                   ipvs:\n  services:\n    - { address: 203.0.113.100, port: 80, realServers: [{ node: web1 }] }\n";
    for text in [service("      port: 80\n      realServers: [{ address: 198.51.100.22 }]\n"), cluster.to_string()] {
        let with_mark = format!("\u{feff}{text}");
        spec::parse(&with_mark, Path::new("bom.yaml")).unwrap_or_else(|error| panic!("{error}\n{text}"));
    }
    // Positions stay those of the text an editor shows.
    let d = only_error(&format!("\u{feff}{}", service("      port: 70000\n")));
    assert_eq!((d.line, d.column), (6, 13), "{d}");
    let d = only_error("\u{feff}apiVersion: lvs-converge/v1\nkind: Host\nbogus: 1\n");
    assert_eq!((d.line, d.column), (3, 1), "{d}");
}

#[test]
fn host_sections_at_the_top_of_a_cluster_spec_belong_to_a_node() {
    let text = "apiVersion: lvs-converge/v1\nkind: Cluster\nvips: [203.0.113.100]\nmodules: [ipip]\n\
        links:\n  - name: tunl0\naddresses:\n  - {interface: lo, address: 203.0.113.100}\n\
        routes:\n  - {destination: 203.0.113.100}\nsysctls:\n  net.ipv4.ip_forward: 1\n\
        nodes:\n  - {name: d1, address: 192.0.2.1, role: director}\n";
    let error = spec::parse(text, Path::new("bad.yaml")).expect_err("spec must be rejected");
    let belonging: Vec<String> = error
        .diagnostics()
        .iter()
        .filter(|d| d.message.ends_with("belongs to a node"))
        .map(|d| format!("{}:{}", d.line, d.path))
        .collect();
    assert_eq!(belonging, ["3:vips", "4:modules", "6:links", "8:addresses", "10:routes", "12:sysctls"], "{error}");
}

/// A `links:` list of one entry (line 4 on).
fn link(fields: &str) -> String {
    format!("{HEADER}links:\n  - name: {fields}\n")
}

#[test]
fn tunnel_endpoints_of_the_wrong_family_are_refused_at_their_line() {
    let d = assert_error(
        &link("t6\n    type: ip6tnl\n    local: 2001:db8::1\n    remote: 192.0.2.1"),
        7,
        "links[0].remote",
        "192.0.2.1 is not an IPv6 address, and ip6tnl tunnels run over IPv6",
    );
    assert!(d.hint.unwrap().contains("set `type` to ipip, gre or sit"));
    assert_error(
        &link("gre1\n    type: gre\n    local: 2001:db8::1"),
        6,
        "links[0].local",
        "2001:db8::1 is not an IPv4 address, and gre tunnels run over IPv4",
    );
    // Without a type, endpoints make an ipip tunnel: IPv6 ones say which types take them.
    let d = assert_error(&link("t6\n    remote: 2001:db8::1"), 5, "links[0].remote", "not an IPv4 address");
    assert!(d.hint.unwrap().contains("ip6tnl or ip6gre"));
}

#[test]
fn tunnel_fields_of_another_type_are_refused_at_their_line() {
    assert_error(
        &link("gre1\n    type: gre\n    hopLimit: 64"),
        6,
        "links[0].hopLimit",
        "does not apply to gre tunnels",
    );
    assert_error(&link("g6\n    type: ip6gre\n    mode: any"), 6, "links[0].mode", "does not apply to ip6gre tunnels");
    assert_error(&link("t6\n    type: ip6tnl\n    ttl: 64"), 6, "links[0].ttl", "does not apply to ip6tnl tunnels");
    assert_error(&link("t6\n    type: ip6tnl\n    mode: ip4ip6"), 6, "links[0].mode", "unknown variant");
    for other in ["ip6gre0\n    type: ip6gre", "tunl0", "sit1\n    type: sit"] {
        assert_error(
            &link(&format!("{other}\n    requireChecksum: true")),
            if other.contains('\n') { 6 } else { 5 },
            "links[0].requireChecksum",
            "does not apply to",
        );
    }
}

#[test]
fn a_fallback_device_is_of_its_modules_type_and_has_no_endpoints() {
    let d = assert_error(
        &link("gre0\n    type: ipip"),
        5,
        "links[0].type",
        "gre0 is the ip_gre module's fallback gre device, not ipip",
    );
    assert!(d.hint.unwrap().contains("write `type: gre` or leave `type` out"));
    assert_error(
        &link("ip6tnl0\n    remote: 2001:db8::1"),
        5,
        "links[0].remote",
        "ip6tnl0 is the ip6_tunnel module's fallback device: its local/remote can't be set",
    );
}

#[test]
fn a_fallback_devices_ttl_hop_limit_and_pmtudisc_are_refused_at_their_line() {
    for (device, field, value) in [
        ("sit0", "ttl", "5"),
        ("tunl0", "pmtudisc", "false"),
        ("gre0", "ttl", "64"),
        ("ip6tnl0", "hopLimit", "9"),
        ("ip6gre0", "hopLimit", "0"),
    ] {
        let d = assert_error(
            &link(&format!("{device}\n    {field}: {value}")),
            5,
            &format!("links[0].{field}"),
            &format!("{device} is the"),
        );
        assert!(d.message.contains(&format!("fallback device: its {field} is the kernel's")), "{}", d.message);
        assert!(
            d.hint.unwrap().contains("only up, mtu, mode (ip6tnl0) and requireChecksum (gre0) are managed"),
            "{device}"
        );
    }
}

#[test]
fn a_fallback_without_tunnel_fields_models_the_kernels_own_parameters() {
    let text =
        format!("{HEADER}links:\n  - {{ name: sit0 }}\n  - {{ name: ip6tnl0, mode: any }}\n  - {{ name: tunl0 }}\n");
    let spec = spec::parse(&text, Path::new("ok.yaml")).expect("fallbacks parse");
    use lvs_converge::model::links::{Ip6tnlMode, LinkKind};
    assert_eq!(spec.declared.links["sit0"].kind, LinkKind::fallback("sit0").unwrap());
    assert_eq!(spec.declared.links["tunl0"].kind, LinkKind::fallback("tunl0").unwrap());
    assert_eq!(
        spec.declared.links["ip6tnl0"].kind,
        LinkKind::Ip6tnl { local: None, remote: None, hop_limit: 0, mode: Ip6tnlMode::Any }
    );
}

#[test]
fn every_tunnel_type_reads_into_its_kind() {
    use lvs_converge::model::links::{Ip6tnlMode, LinkKind};
    let text = format!(
        "{HEADER}links:\n  - {{ name: gre0, requireChecksum: true }}\n  - {{ name: ip6tnl0, mode: ipip6 }}\n  - {{ name: gre1, type: gre, remote: 192.0.2.1, ttl: 64 }}\n  - {{ name: sit1, type: sit, local: 192.0.2.2 }}\n  - {{ name: t6, type: ip6tnl, remote: \"2001:db8::1\" }}\n  - {{ name: g6, type: ip6gre, local: \"2001:db8::2\", hopLimit: 0 }}\n"
    );
    let spec = spec::parse(&text, Path::new("ok.yaml")).expect("every tunnel type parses");
    let kind = |name: &str| spec.declared.links[name].kind.clone();
    // A fallback's parameters are the kernel's but for the ones the spec sets.
    assert_eq!(
        kind("gre0"),
        LinkKind::Gre { local: None, remote: None, ttl: 0, pmtudisc: false, require_checksum: true }
    );
    assert_eq!(kind("ip6tnl0"), LinkKind::Ip6tnl { local: None, remote: None, hop_limit: 0, mode: Ip6tnlMode::Ipip6 });
    assert_eq!(
        kind("gre1"),
        LinkKind::Gre {
            local: None,
            remote: Some("192.0.2.1".parse().unwrap()),
            ttl: 64,
            pmtudisc: true,
            require_checksum: false
        }
    );
    assert_eq!(
        kind("sit1"),
        LinkKind::Sit { local: Some("192.0.2.2".parse().unwrap()), remote: None, ttl: 0, pmtudisc: true }
    );
    assert_eq!(
        kind("t6"),
        LinkKind::Ip6tnl {
            local: None,
            remote: Some("2001:db8::1".parse().unwrap()),
            hop_limit: 64,
            mode: Ip6tnlMode::Ip6ip6
        }
    );
    assert_eq!(
        kind("g6"),
        LinkKind::Ip6gre { local: Some("2001:db8::2".parse().unwrap()), remote: None, hop_limit: 0 }
    );
    assert!(spec.declared.links.values().all(|link| link.up == Some(true)), "tunnels default to up");
}

#[test]
fn fou_port_mistakes_are_located_with_the_fix() {
    let fou = |entries: &str| format!("{HEADER}fou:\n{entries}");
    let d = assert_error(&fou("  - { port: 0, type: gue }\n"), 4, "fou[0].port", "port 0");
    assert!(d.hint.unwrap().contains("6080"));
    let d = assert_error(&fou("  - { port: 5555, type: direct }\n"), 4, "fou[0]", "needs the IP protocol");
    assert!(d.hint.unwrap().contains("protocol: 4"));
    assert_error(&fou("  - { port: 6080, type: gue, protocol: 4 }\n"), 4, "fou[0].protocol", "GUE port");
    assert_error(&fou("  - { port: 6080, type: vxlan }\n"), 4, "fou[0].type", "unknown variant `vxlan`");
    let d = assert_error(
        &fou("  - { port: 6080, type: gue }\n  - { port: 6080, type: direct, protocol: 4 }\n"),
        5,
        "fou[1]",
        "fou port 6080 (ipv4) is declared twice: first at line 4",
    );
    assert!(d.hint.is_some());
    // The same port number of the other family is another socket.
    spec::parse(
        &fou("  - { port: 6080, type: gue }\n  - { port: 6080, type: gue, family: ipv6 }\n"),
        Path::new("ok.yaml"),
    )
    .expect("two families, two ports");
}

#[test]
fn deprecated_is_for_ipv6_addresses_only() {
    let address =
        |cidr: &str| format!("{HEADER}addresses:\n  - address: {cidr}\n    interface: eth0\n    deprecated: true\n");
    let d = assert_error(&address("203.0.113.100/32"), 6, "addresses[0].deprecated", "is for IPv6 addresses");
    assert!(d.hint.as_deref().is_some_and(|hint| hint.contains("remove `deprecated: true`")), "{d}");
    spec::parse(&address("\"2001:db8:1::100/128\""), Path::new("ok.yaml")).expect("IPv6 may be deprecated");
}
