//! Property test of the spec parser: arbitrary YAML documents built from the spec's own
//! vocabulary (so that they get deep into validation, not just past the first unknown field)
//! and arbitrary text give a spec or located errors, never a panic.
//!
//! `PROPTEST_CASES` sets the number of documents (default 4096 per property).

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

/// A document that starts like a real spec, so validation beyond the header is exercised.
fn document() -> impl Strategy<Value = String> {
    (prop::sample::select(&["Host", "Cluster"][..]), prop::collection::vec((prop::sample::select(KEYS), value()), 0..6))
        .prop_map(|(kind, entries)| {
            let mut mapping = serde_yaml::Mapping::new();
            mapping.insert("apiVersion".into(), "lvs-converge/v1".into());
            mapping.insert("kind".into(), kind.into());
            for (key, value) in entries {
                mapping.insert(key.into(), value);
            }
            serde_yaml::to_string(&serde_yaml::Value::Mapping(mapping)).expect("YAML serializes")
        })
}

fn check(text: &str) {
    match spec::parse(text, Path::new("fuzz.yaml")) {
        Ok(_) => {}
        Err(error) => {
            for diagnostic in error.diagnostics() {
                assert!(diagnostic.line >= 1 && diagnostic.column >= 1, "unlocated: {diagnostic}");
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 4096, ..ProptestConfig::default() })]

    #[test]
    fn structured_documents_never_panic(text in document()) {
        check(&text);
    }

    #[test]
    fn arbitrary_text_never_panics(text in "\\PC{0,300}") {
        check(&text);
    }
}
