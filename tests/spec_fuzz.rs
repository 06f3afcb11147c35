//! Property test of the spec parser: arbitrary YAML documents built from the spec's own
//! vocabulary (so that they get deep into validation, not just past the first unknown field)
//! give a spec or errors at the exact line and column of the field they name; arbitrary text
//! gives a spec or errors inside the text, never a panic.
//!
//! `PROPTEST_CASES` sets the number of documents (default 4096 per property).

use std::collections::HashMap;
use std::path::Path;

use lvs_converge::spec;
use proptest::prelude::*;

const KEYS: &[&str] = &[
    "apiVersion",
    "kind",
    "role",
    "vips",
    "vipInterface",
    "modules",
    "links",
    "addresses",
    "routes",
    "sysctls",
    "ipvs",
    "nodes",
    "services",
    "timeouts",
    "scope",
    "drain",
    "protocol",
    "address",
    "port",
    "fwmark",
    "family",
    "scheduler",
    "schedulerFlags",
    "persistence",
    "onePacket",
    "realServers",
    "node",
    "method",
    "weight",
    "upperThreshold",
    "lowerThreshold",
    "tunnel",
    "type",
    "timeout",
    "netmask",
    "engine",
    "name",
    "local",
    "remote",
    "ttl",
    "up",
    "mtu",
    "interface",
    "label",
    "destination",
    "device",
    "gateway",
    "table",
    "metric",
    "tcp",
    "tcpFin",
    "udp",
    "prune",
    "all",
    "fwmarks",
];

const SCALARS: &[&str] = &[
    "lvs-converge/v1",
    "Host",
    "Cluster",
    "director",
    "real-server",
    "203.0.113.100",
    "2001:db8::1",
    "10.0.0.0/8",
    "tcp",
    "udp",
    "sctp",
    "wlc",
    "rr",
    "sh",
    "mh",
    "sh-port",
    "mh-fallback",
    "tunnel",
    "dr",
    "masq",
    "ipip",
    "gue",
    "gre",
    "1h",
    "90s",
    "0",
    "-1",
    "65536",
    "4294967296",
    "true",
    "null",
    "lo",
    "eth0:0",
    "tunl0",
    "local",
    "main",
    "255.255.255.0",
    "/24",
    "rs1",
    "",
    "~",
    "x",
];

fn value() -> impl Strategy<Value = serde_yaml::Value> {
    let leaf = prop_oneof![
        prop::sample::select(SCALARS).prop_map(|s| serde_yaml::Value::String(s.to_string())),
        any::<i64>().prop_map(|n| serde_yaml::Value::Number(n.into())),
        any::<bool>().prop_map(serde_yaml::Value::Bool),
        Just(serde_yaml::Value::Null),
    ];
    leaf.prop_recursive(5, 64, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..5).prop_map(serde_yaml::Value::Sequence),
            prop::collection::vec((prop::sample::select(KEYS), inner), 0..6).prop_map(|entries| {
                serde_yaml::Value::Mapping(
                    entries.into_iter().map(|(k, v)| (serde_yaml::Value::String(k.to_string()), v)).collect(),
                )
            }),
        ]
    })
}

/// A YAML writer that records where it puts each node, by field path in the parser's notation
/// (`ipvs.services[0].port`): the positions errors must point at, computed without the
/// parser. Block style, every collection on its own line (a mapping starts at its first key,
/// a sequence at its first `-`), strings double-quoted so they stay strings.
#[derive(Default)]
struct Writer {
    text: String,
    line: usize,
    positions: HashMap<String, (usize, usize)>,
}

impl Writer {
    fn document(root: &serde_yaml::Mapping) -> Writer {
        let mut writer = Writer { line: 1, ..Writer::default() };
        writer.positions.insert(String::new(), (1, 1));
        writer.mapping(root, "", 0);
        writer
    }

    fn start_line(&mut self, indent: usize, marker: &str) {
        self.text.push_str(&" ".repeat(indent));
        self.text.push_str(marker);
    }

    fn end_line(&mut self) {
        self.text.push('\n');
        self.line += 1;
    }

    /// Writes `value` after a `key:` or `-` that ends at column `column` (0-based, exclusive).
    fn value(&mut self, value: &serde_yaml::Value, path: String, indent: usize, column: usize) {
        use serde_yaml::Value;
        match value {
            Value::Mapping(map) if !map.is_empty() => {
                self.end_line();
                self.positions.insert(path.clone(), (self.line, indent + 1));
                self.mapping(map, &path, indent);
            }
            Value::Sequence(items) if !items.is_empty() => {
                self.end_line();
                self.positions.insert(path.clone(), (self.line, indent + 1));
                self.sequence(items, &path, indent);
            }
            scalar => {
                self.positions.insert(path, (self.line, column + 2));
                self.text.push(' ');
                self.text.push_str(&match scalar {
                    Value::Mapping(_) => "{}".to_string(),
                    Value::Sequence(_) => "[]".to_string(),
                    Value::String(text) => serde_json::to_string(text).expect("a string serializes"),
                    other => serde_yaml::to_string(other).expect("a scalar serializes").trim_end().to_string(),
                });
                self.end_line();
            }
        }
    }

    fn mapping(&mut self, map: &serde_yaml::Mapping, path: &str, indent: usize) {
        for (key, value) in map {
            let key = key.as_str().expect("keys are words");
            self.start_line(indent, &format!("{key}:"));
            let child = if path.is_empty() { key.to_string() } else { format!("{path}.{key}") };
            self.value(value, child, indent + 2, indent + key.len() + 1);
        }
    }

    fn sequence(&mut self, items: &[serde_yaml::Value], path: &str, indent: usize) {
        for (index, item) in items.iter().enumerate() {
            self.start_line(indent, "-");
            self.value(item, format!("{path}[{index}]"), indent + 2, indent + 1);
        }
    }

    /// Where an error about `path` belongs: the node itself, or its closest written ancestor
    /// (a field left out has no node of its own).
    fn expected(&self, path: &str) -> (usize, usize) {
        let mut candidate = path;
        loop {
            if let Some(position) = self.positions.get(candidate) {
                return *position;
            }
            candidate = &candidate[..candidate.rfind(['.', '[']).unwrap_or(0)];
        }
    }
}

/// A document that starts like a real spec, so validation beyond the header is exercised.
fn document() -> impl Strategy<Value = serde_yaml::Mapping> {
    (prop::sample::select(&["Host", "Cluster"][..]), prop::collection::vec((prop::sample::select(KEYS), value()), 0..6))
        .prop_map(|(kind, entries)| {
            let mut mapping = serde_yaml::Mapping::new();
            mapping.insert("apiVersion".into(), "lvs-converge/v1".into());
            mapping.insert("kind".into(), kind.into());
            for (key, value) in entries {
                mapping.insert(key.into(), value);
            }
            mapping
        })
}

/// One of `choices`, or the field left out.
fn field(
    name: &'static str,
    choices: &'static [&'static str],
) -> impl Strategy<Value = Option<(String, serde_yaml::Value)>> {
    prop::option::of(prop::sample::select(choices)).prop_map(move |choice| {
        choice.map(|text| (name.to_string(), serde_yaml::from_str(text).expect("a YAML scalar")))
    })
}

fn mapping(fields: Vec<Option<(String, serde_yaml::Value)>>) -> serde_yaml::Value {
    serde_yaml::Value::Mapping(fields.into_iter().flatten().map(|(k, v)| (k.into(), v)).collect())
}

const ADDRESSES: &[&str] =
    &["203.0.113.100", "203.0.113.11", "198.51.100.22", "'2001:db8::1'", "0.0.0.0", "224.0.0.1", "'::'", "'fe80::1'"];

/// A Host spec whose IPVS section is shaped right, with values in and out of the kernel's
/// ranges, so that documents reach validation (wrong values, duplicates, mismatches) and
/// its errors deep in `ipvs.services[i].realServers[j]` are checked for position.
fn ipvs_document() -> impl Strategy<Value = serde_yaml::Mapping> {
    let tunnel = prop::option::of(
        (
            field("type", &["gue", "gre", "ipip"]),
            field("port", &["6080", "0"]),
            field("checksum", &["csum", "remcsum"]),
        )
            .prop_map(|(kind, port, checksum)| ("tunnel".to_string(), mapping(vec![kind, port, checksum]))),
    );
    let real_server = (
        field("address", ADDRESSES),
        field("port", &["0", "80", "8080", "70000"]),
        field("method", &["tunnel", "dr", "masq"]),
        field("weight", &["1", "0", "-1", "2147483648"]),
        field("upperThreshold", &["0", "10"]),
        field("lowerThreshold", &["0", "5", "20"]),
        tunnel,
    )
        .prop_map(|(a, p, m, w, u, l, t)| mapping(vec![a, p, m, w, u, l, t]));
    let persistence = prop::option::of(
        (field("timeout", &["300", "0", "20000000", "1h"]), field("netmask", &["24", "0", "128", "'255.0.255.0'"]))
            .prop_map(|(timeout, netmask)| ("persistence".to_string(), mapping(vec![timeout, netmask]))),
    );
    let service = (
        field("address", ADDRESSES),
        field("port", &["80", "0", "443", "70000"]),
        field("fwmark", &["0", "7"]),
        field("scheduler", &["rr", "sh", "wlc"]),
        field("schedulerFlags", &["[sh-port]", "[mh-port]"]),
        persistence,
        prop::collection::vec(real_server, 0..3),
    )
        .prop_map(|(a, p, f, s, flags, persistence, real_servers)| {
            let servers = Some(("realServers".to_string(), serde_yaml::Value::Sequence(real_servers)));
            mapping(vec![a, p, f, s, flags, persistence, servers])
        });
    let timeouts = prop::option::of(
        (field("tcp", &["900", "0", "9000000"]), field("udp", &["300", "2147484"]))
            .prop_map(|(tcp, udp)| ("timeouts".to_string(), mapping(vec![tcp, udp]))),
    );
    (prop::collection::vec(service, 0..4), timeouts).prop_map(|(services, timeouts)| {
        let services = Some(("services".to_string(), serde_yaml::Value::Sequence(services)));
        let mut root = serde_yaml::Mapping::new();
        root.insert("apiVersion".into(), "lvs-converge/v1".into());
        root.insert("kind".into(), "Host".into());
        root.insert("ipvs".into(), mapping(vec![timeouts, services]));
        root
    })
}

/// Every error of a document that parses points exactly where the writer put the field.
fn check_located(root: &serde_yaml::Mapping) {
    let writer = Writer::document(root);
    let text = &writer.text;
    let reparsed: serde_yaml::Mapping = serde_yaml::from_str(text).unwrap_or_else(|e| panic!("{e}\n{text}"));
    assert_eq!(&reparsed, root, "the writer changed the document:\n{text}");
    let errors = match spec::parse_document(text, Path::new("fuzz.yaml")) {
        Ok(document) => match document.validate(&spec::NodeSelector::default()) {
            Ok(_) => return,
            Err(error) => error,
        },
        // serde_yaml's own errors point at the key; only check they are inside the text.
        Err(error) => return check_in_text(text, &error),
    };
    for diagnostic in errors.diagnostics() {
        let expected = writer.expected(&diagnostic.path);
        assert_eq!((diagnostic.line, diagnostic.column), expected, "{diagnostic}\n{text}");
    }
}

fn check_in_text(text: &str, error: &spec::SpecError) {
    // libyaml (serde_yaml's scanner) also breaks lines at NEL, LS and PS, which `str::lines` keeps.
    let yaml_break = |c: char| matches!(c, '\n' | '\u{85}' | '\u{2028}' | '\u{2029}');
    let lines = text.split(yaml_break).count().max(1);
    for diagnostic in error.diagnostics() {
        assert!(diagnostic.line >= 1 && diagnostic.line <= lines + 1, "outside the text: {diagnostic}\n{text}");
        assert!(diagnostic.column >= 1, "{diagnostic}");
    }
}

fn check(text: &str) {
    if let Err(error) = spec::parse(text, Path::new("fuzz.yaml")) {
        check_in_text(text, &error);
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 4096, ..ProptestConfig::default() })]

    #[test]
    fn structured_documents_give_errors_at_the_offending_field(root in document()) {
        check_located(&root);
    }

    #[test]
    fn ipvs_errors_point_at_the_offending_field(root in ipvs_document()) {
        check_located(&root);
    }

    #[test]
    fn arbitrary_text_never_panics(text in "\\PC{0,300}") {
        check(&text);
    }
}
