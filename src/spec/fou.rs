//! The `fou` section: foo-over-UDP receive ports (`- { port: 6080, type: gue }`).

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::Problems;
use crate::model::fou::{FouEncapsulation, FouPort};
use crate::model::ipvs::Family;
use crate::model::keyed::{Keyed, KeyedMap};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum FouType {
    /// Generic UDP Encapsulation: what IPVS sends with `--tun-type gue`.
    Gue,
    /// Bare IP packets of `protocol` in UDP.
    Direct,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[schemars(transform = direct_needs_protocol)]
pub struct FouSpec {
    /// The UDP port to receive on (1-65535).
    #[schemars(range(min = 1))]
    pub port: u16,
    #[serde(rename = "type")]
    pub kind: FouType,
    /// The socket's family, the underlay's (default `ipv4`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub family: Option<Family>,
    /// `type: direct` only: the IP protocol inside (4 = IPv4, 41 = IPv6, 47 = GRE).
    #[schemars(range(min = 1))]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub protocol: Option<u8>,
}

fn direct_needs_protocol(schema: &mut schemars::Schema) {
    let rules = serde_json::json!([
        {
            "if": {"properties": {"type": {"const": "direct"}}, "required": ["type"]},
            "then": {"required": ["protocol"]}
        },
        {
            "if": {"properties": {"type": {"const": "gue"}}, "required": ["type"]},
            "then": {"properties": {"protocol": {"type": "null", "errorMessage": "a GUE port names the protocol in each packet's header: remove `protocol`"}}}
        }
    ]);
    schema.insert("allOf".into(), rules);
}

/// The section as ports; entries with problems are left out, reported at `section[index]`.
pub(super) fn to_model(ports: &[FouSpec], section: &str, problems: &mut Problems) -> KeyedMap<FouPort> {
    let mut model = KeyedMap::new();
    let mut first_declared: BTreeMap<_, String> = BTreeMap::new();
    for (index, spec) in ports.iter().enumerate() {
        let path = format!("{section}[{index}]");
        let Some(port) = spec.to_model(&path, problems) else { continue };
        if let Some(first) = first_declared.get(&port.key()) {
            problems.add_repeated(
                &path,
                first,
                format!("fou port {} ({}) is declared twice", port.port, port.family.name()),
                "a port of one family opens once: keep one entry",
            );
            continue;
        }
        first_declared.insert(port.key(), path);
        model.insert(port.key(), port);
    }
    model
}

impl FouSpec {
    fn to_model(&self, path: &str, problems: &mut Problems) -> Option<FouPort> {
        if self.port == 0 {
            problems.add(
                &format!("{path}.port"),
                "port 0 is not a port to receive on".into(),
                "use the port the directors send to (IPVS: `tunnelPort`), e.g. 6080",
            );
            return None;
        }
        let encapsulation = match (self.kind, self.protocol) {
            (FouType::Gue, None) => FouEncapsulation::Gue,
            (FouType::Gue, Some(_)) => {
                problems.add(
                    &format!("{path}.protocol"),
                    "a GUE port takes the protocol from each packet's header".into(),
                    "remove `protocol`, or use `type: direct`",
                );
                return None;
            }
            (FouType::Direct, Some(protocol)) if protocol != 0 => FouEncapsulation::Direct { protocol },
            (FouType::Direct, _) => {
                problems.add(
                    path,
                    "a direct port needs the IP protocol its packets carry".into(),
                    "add `protocol: 4` (IPv4 inside), 41 (IPv6) or 47 (GRE)",
                );
                return None;
            }
        };
        Some(FouPort { port: self.port, family: self.family.unwrap_or(Family::Ipv4), encapsulation })
    }
}
