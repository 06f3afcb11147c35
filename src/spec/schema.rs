//! The spec's JSON Schema, generated from the spec types so that editors (yaml-language-server,
//! VS Code) complete and check specs with the same field names, enums and ranges the parser
//! uses. `lvs-converge schema` prints it; `schemas/lvs-converge-v1.schema.json` is the committed
//! copy, and tests/schema.rs keeps the two equal and checks the schema against the parser.
//!
//! Draft-07, not 2020-12: yaml-language-server validates draft-07 fully and newer drafts only
//! partly. Rules the derive cannot see (which fields go together, what a Cluster spec may not
//! have) are added by the `*_rules` transforms below; `errorMessage` and `patternErrorMessage`
//! are yaml-language-server's keywords for a readable complaint and are ignored by validators.

use schemars::generate::SchemaSettings;
use schemars::Schema;
use serde_json::{json, Value};

use super::SpecFile;
use crate::model::ipvs::{Scheduler, SchedulerFlag};
use crate::model::API_VERSION;

/// Where the committed schema lives, relative to the repository root.
pub const SCHEMA_PATH: &str = "schemas/lvs-converge-v1.schema.json";

/// A stable name for the schema; no URL serves it (editors are pointed at the file instead).
pub const SCHEMA_ID: &str = "urn:lvs-converge:schema:v1";

/// An IPv4 address as `Ipv4Addr` parses it: four decimal octets, no leading zeros.
pub const IPV4_PATTERN: &str =
    r"(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])(\.(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])){3}";
/// Roughly an IPv6 address: hex digits, colons (at least one) and an embedded IPv4 tail.
pub const IPV6_PATTERN: &str = r"[0-9A-Fa-f:.]*:[0-9A-Fa-f:.]*";
/// A prefix length 0-32 as `u8` parses it (leading zeros allowed).
pub const PREFIX_V4_PATTERN: &str = r"0*(3[0-2]|[12]?[0-9])";
/// A prefix length 0-128 as `u8` parses it (leading zeros allowed).
pub const PREFIX_V6_PATTERN: &str = r"0*(12[0-8]|1[01][0-9]|[1-9]?[0-9])";

/// Sysctl keys the spec manages: network ones, dotted or slashed (`model::sysctl::SysctlKey`
/// also refuses the `.` and `..` components a pattern cannot tell apart).
pub fn sysctl_names() -> Value {
    json!({
        "pattern": r"^net(\.[A-Za-z0-9_/-]+)+$|^net(/[A-Za-z0-9_.-]+)+$",
        "patternErrorMessage": "a net.* sysctl as sysctl(8) writes it: net.ipv4.conf.all.arp_ignore, net.ipv4.conf.eth0/100.rp_filter or net/ipv4/conf/eth0.100/rp_filter"
    })
}

/// The schema of a spec file, as a JSON value.
pub fn json_schema() -> Value {
    let mut schema = SchemaSettings::draft07().into_generator().into_root_schema_for::<SpecFile>();
    schema.insert("$id".into(), SCHEMA_ID.into());
    schema.insert("title".into(), format!("lvs-converge spec ({API_VERSION})").into());
    schema.to_value()
}

/// The schema as the committed file holds it: pretty JSON with a trailing newline.
pub fn render() -> String {
    serde_json::to_string_pretty(&json_schema()).expect("a JSON value serializes") + "\n"
}

fn add_all_of(schema: &mut Schema, rules: Vec<Value>) {
    let all_of = schema.ensure_object().entry("allOf").or_insert_with(|| json!([]));
    all_of.as_array_mut().expect("allOf is an array").extend(rules);
}

/// A field that must be left out (or null, which serde reads as left out), and why.
fn absent(message: &str) -> Value {
    json!({"type": "null", "errorMessage": message})
}

/// What `Document::validate` checks across fields of the top level: a Host spec has no `nodes`;
/// a Cluster spec has nodes and leaves host fields to them; a real server lists its VIPs.
pub fn spec_file_rules(schema: &mut Schema) {
    let node_only = |field: &str| format!("in a Cluster spec, `{field}` belongs to a node");
    let mut cluster_properties = serde_json::Map::new();
    for field in ["role", "vipInterface", "receive"] {
        cluster_properties.insert(field.into(), absent(&node_only(field)));
    }
    for field in ["vips", "modules", "links", "fou", "addresses", "routes"] {
        cluster_properties.insert(field.into(), json!({"maxItems": 0, "errorMessage": node_only(field)}));
    }
    cluster_properties.insert("sysctls".into(), json!({"maxProperties": 0, "errorMessage": node_only("sysctls")}));
    cluster_properties
        .insert("nodes".into(), json!({"minItems": 1, "errorMessage": "a Cluster spec lists its hosts under `nodes`"}));
    add_all_of(
        schema,
        vec![
            json!({
                "if": {"properties": {"kind": {"const": "Host"}}, "required": ["kind"]},
                "then": {"properties": {"nodes": {"maxItems": 0, "errorMessage": "`nodes` belongs to a Cluster spec"}}}
            }),
            json!({
                "if": {"properties": {"kind": {"const": "Cluster"}}, "required": ["kind"]},
                "then": {"required": ["nodes"], "properties": cluster_properties}
            }),
            json!({
                "if": {"properties": {"role": {"const": "real-server"}}, "required": ["role"]},
                "then": {
                    "required": ["vips"],
                    "properties": {"vips": {"minItems": 1, "errorMessage": "a real server needs the VIPs it answers for"}}
                }
            }),
        ],
    );
}

/// A service is either `address` + `port` (with an optional `protocol`) or a `fwmark`
/// (with an optional `family`), as `ServiceSpec::key` decides. (`family` next to an address
/// is allowed when it agrees with the address, which a schema cannot compare.)
pub fn service_rules(schema: &mut Schema) {
    let not_with_fwmark =
        "a firewall-mark service has no `address`, `port` or `protocol`: its mark selects the traffic";
    add_all_of(
        schema,
        vec![json!({
            "if": {"required": ["fwmark"]},
            "then": {"properties": {
                "address": absent(not_with_fwmark),
                "port": absent(not_with_fwmark),
                "protocol": absent(not_with_fwmark)
            }},
            "else": {"required": ["address", "port"]}
        })],
    );
}

/// Scheduler flags belong to their scheduler (`SchedulerFlag::scheduler`).
pub fn scheduler_flag_rules(schema: &mut Schema) {
    let rules = [Scheduler::Sh, Scheduler::Mh].map(|scheduler| {
        let flags: Vec<&str> = SchedulerFlag::ALL
            .into_iter()
            .filter(|flag| flag.scheduler() == scheduler)
            .map(SchedulerFlag::name)
            .collect();
        json!({
            "if": {"properties": {"schedulerFlags": {"contains": {"enum": flags}}}, "required": ["schedulerFlags"]},
            "then": {
                "required": ["scheduler"],
                "properties": {"scheduler": {
                    "const": scheduler.name(),
                    "errorMessage": format!("flags {} belong to `scheduler: {}`", flags.join(", "), scheduler.name())
                }}
            }
        })
    });
    add_all_of(schema, rules.into());
}

/// A route needs `device` or `gateway`, unless it only drops packets (`RouteSpec::to_model`).
pub fn route_rules(schema: &mut Schema) {
    add_all_of(
        schema,
        vec![json!({
            "if": {"not": {"properties": {"type": {"enum": ["blackhole", "unreachable"]}}, "required": ["type"]}},
            "then": {"anyOf": [{"required": ["device"]}, {"required": ["gateway"]}]}
        })],
    );
}

/// The fields a link's type takes (`LinkSpec::to_model`): endpoints of its underlay's
/// family, `ttl`/`pmtudisc` over IPv4, `hopLimit` over IPv6, `mode` on ip6tnl only. A
/// fallback device without `type` is of its own type.
pub fn link_rules(schema: &mut Schema) {
    let of_type = |types: &[&str], fallbacks: &[&str]| {
        json!({"anyOf": [
            {"properties": {"type": {"enum": types}}, "required": ["type"]},
            {"properties": {"name": {"enum": fallbacks}}, "not": {"required": ["type"]}}
        ]})
    };
    add_all_of(
        schema,
        vec![
            json!({
                "if": of_type(&["ip6tnl", "ip6gre"], &["ip6tnl0", "ip6gre0"]),
                "then": {"properties": {
                    "local": {"format": "ipv6"},
                    "remote": {"format": "ipv6"},
                    "ttl": absent("`ttl` does not apply to IPv6 tunnels: use `hopLimit`"),
                    "pmtudisc": absent("`pmtudisc` does not apply to IPv6 tunnels")
                }},
                "else": {"properties": {
                    "local": {"format": "ipv4"},
                    "remote": {"format": "ipv4"},
                    "hopLimit": absent("`hopLimit` applies to ip6tnl and ip6gre only: use `ttl`")
                }}
            }),
            json!({
                "if": {"not": of_type(&["ip6tnl"], &["ip6tnl0"])},
                "then": {"properties": {"mode": absent("`mode` applies to ip6tnl only")}}
            }),
            json!({
                "if": {"not": of_type(&["gre"], &["gre0"])},
                "then": {"properties": {"requireChecksum": absent("`requireChecksum` applies to gre only")}}
            }),
        ],
    );
}

/// A real server is given by `address` or, in a Cluster spec, by `node`: one of the two.
pub fn real_server_rules(schema: &mut Schema) {
    add_all_of(
        schema,
        vec![json!({
            "if": {"required": ["node"]},
            "then": {"properties": {"address": absent("a real server has `address` or `node`, not both")}},
            "else": {"required": ["address"]}
        })],
    );
}

/// GUE needs the receiver's `port`; the other encapsulations take none.
pub fn tunnel_rules(schema: &mut Schema) {
    add_all_of(
        schema,
        vec![
            json!({
                "if": {"properties": {"type": {"const": "gue"}}, "required": ["type"]},
                "then": {"required": ["port"]},
                "else": {"properties": {"port": absent("`port` applies to GUE only")}}
            }),
            json!({
                "if": {"properties": {"type": {"enum": ["ipip"]}}},
                "then": {"properties": {"checksum": absent("ipip has no checksum option")}}
            }),
            json!({
                "if": {"properties": {"type": {"const": "gre"}}, "required": ["type"]},
                "then": {"properties": {"checksum": {"enum": ["none", "csum"], "errorMessage": "`remcsum` is GUE only"}}}
            }),
        ],
    );
}

/// A health check's fields of one type only, when the type is written here (an override may
/// leave it to the service's check).
pub fn health_check_rules(schema: &mut Schema) {
    let fields_of = |kind: &str| match kind {
        "http" => vec!["path", "status", "body", "host"],
        _ => vec!["command", "dynamicWeight"],
    };
    let rule = |kind: &str, foreign: &[&str]| {
        let properties: serde_json::Map<String, Value> = foreign
            .iter()
            .map(|field| {
                let owner = if fields_of("http").contains(field) { "http" } else { "exec" };
                ((*field).to_string(), absent(&format!("`{field}` applies to {owner} checks, not {kind}")))
            })
            .collect();
        json!({
            "if": {"properties": {"type": {"const": kind}}, "required": ["type"]},
            "then": {"properties": properties}
        })
    };
    let http = fields_of("http");
    let exec = fields_of("exec");
    let tcp_foreign: Vec<&str> = http.iter().chain(&exec).copied().collect();
    add_all_of(schema, vec![rule("tcp", &tcp_foreign), rule("http", &exec), rule("exec", &http)]);
}
