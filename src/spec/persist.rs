//! The `persist:` section: which files make the converged state survive a reboot, and
//! where. Each kind is `false` (off: a file lvs-converge wrote earlier is removed), `true`
//! or omitted (on, default path), or an object with its settings. No `persist:` section at
//! all: no files are managed.

use std::borrow::Cow;
use std::fmt;
use std::marker::PhantomData;
use std::path::{Component, Path, PathBuf};

use schemars::{json_schema, JsonSchema, Schema, SchemaGenerator};
use serde::de::{self, MapAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize};

use super::Problems;
use crate::model::persistence::{self as persist, unrepresentable, BootUnit, PersistSettings};

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PersistSpec {
    /// sysctl.d drop-in (default /etc/sysctl.d/90-lvs-converge.conf).
    #[serde(default)]
    pub sysctl: Toggle<PathSetting>,
    /// modules-load.d list (default /etc/modules-load.d/lvs-converge.conf).
    #[serde(default)]
    pub modules: Toggle<PathSetting>,
    /// IPVS rules for `ipvsadm -R` (default /etc/ipvsadm.rules, Debian's, whose
    /// /etc/default/ipvsadm then gets `AUTO="true"`; RHEL's ipvsadm.service reads
    /// /etc/sysconfig/ipvsadm).
    #[serde(default)]
    pub ipvs: Toggle<PathSetting>,
    /// Tunnels, VIPs and routes as systemd-networkd files (default /etc/systemd/network).
    #[serde(default)]
    pub network: Toggle<NetworkSetting>,
    /// The unit that runs `lvs-converge apply` at boot (default
    /// /etc/systemd/system/lvs-converge.service).
    #[serde(default)]
    pub boot_unit: Toggle<BootUnitSetting>,
}

/// `false`, `true`, or the kind's settings.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum Toggle<T> {
    Switch(bool),
    Settings(T),
}

impl<T> Default for Toggle<T> {
    fn default() -> Self {
        Toggle::Switch(true)
    }
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Toggle<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ToggleVisitor<T>(PhantomData<T>);
        impl<'de, T: Deserialize<'de>> Visitor<'de> for ToggleVisitor<T> {
            type Value = Toggle<T>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("`false`, `true` or an object with the settings")
            }
            fn visit_bool<E: de::Error>(self, value: bool) -> Result<Toggle<T>, E> {
                Ok(Toggle::Switch(value))
            }
            fn visit_unit<E: de::Error>(self) -> Result<Toggle<T>, E> {
                Ok(Toggle::Switch(true))
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Toggle<T>, A::Error> {
                T::deserialize(de::value::MapAccessDeserializer::new(map)).map(Toggle::Settings)
            }
        }
        deserializer.deserialize_any(ToggleVisitor(PhantomData))
    }
}

impl<T: JsonSchema> JsonSchema for Toggle<T> {
    fn schema_name() -> Cow<'static, str> {
        format!("Toggle_{}", T::schema_name()).into()
    }

    fn json_schema(generator: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "description": "`false` (off: a file lvs-converge wrote earlier is removed), `true` or empty (on, default path), or the settings.",
            "anyOf": [{"type": ["boolean", "null"]}, generator.subschema_for::<T>()]
        })
    }
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PathSetting {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum NetworkFormat {
    /// systemd-networkd `.netdev` / `.network` files.
    #[default]
    Networkd,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NetworkSetting {
    #[serde(default)]
    pub format: NetworkFormat,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub directory: Option<PathBuf>,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct BootUnitSetting {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<PathBuf>,
    /// Where the unit reads the spec at boot (default: this spec's absolute path).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub spec_path: Option<PathBuf>,
    /// The lvs-converge executable (default /usr/bin/lvs-converge).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub binary: Option<PathBuf>,
    /// Run `lvs-converge agent` (Type=notify, watchdog, restarted on failure: the host kept
    /// converged and its real servers health-checked) instead of a oneshot `apply` at boot.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub agent: bool,
}

/// Where the spec is: its absolute path (the boot unit's default `specPath`), and the node
/// of a Cluster spec.
pub struct Origin<'a> {
    pub spec: &'a Path,
    pub node: Option<&'a str>,
}

/// A persistence path must name one place on the target system, whatever `--root` is: an
/// absolute path without `.`/`..` components (which could climb out of the root) and
/// without control characters (it is written into file headers and the boot unit).
fn absolute(field: String, value: PathBuf, problems: &mut Problems) -> Option<PathBuf> {
    let text = value.to_string_lossy();
    let problem = if !value.is_absolute() {
        Some(format!("`{}` is not an absolute path", value.display()))
    } else if value.components().any(|c| matches!(c, Component::ParentDir | Component::CurDir)) {
        Some(format!("`{}` contains `.` or `..`", value.display()))
    } else if text.chars().any(char::is_control) {
        Some(format!("{text:?} contains a control character"))
    } else {
        None
    };
    match problem {
        None => Some(value),
        Some(problem) => {
            problems.add(
                &field,
                problem,
                "persistence paths are plain absolute paths on the host, such as /etc/sysctl.d/90-lvs-converge.conf",
            );
            None
        }
    }
}

/// A value the boot unit names must be writable into a unit file exactly.
fn unit_value(field: &str, what: &str, text: &str, problems: &mut Problems) -> bool {
    match unrepresentable(text) {
        None => true,
        Some(reason) => {
            problems.add(
                field,
                format!("{what} {text:?} {reason}"),
                "rename it, or set persist.bootUnit.specPath to a path a systemd unit can name",
            );
            false
        }
    }
}

impl PersistSpec {
    pub fn to_model(&self, path: &str, origin: &Origin, problems: &mut Problems) -> PersistSettings {
        let at = |field: &str| if path.is_empty() { field.to_string() } else { format!("{path}.{field}") };
        let mut settings = PersistSettings {
            node: origin.node.map(str::to_string),
            sysctl: None,
            modules: None,
            ipvs: None,
            network: None,
            boot_unit: None,
            off: Vec::new(),
            network_off: Vec::new(),
        };
        let single = |toggle: &Toggle<PathSetting>,
                      field: &str,
                      default: &str,
                      off: &mut Vec<PathBuf>,
                      problems: &mut Problems| {
            match toggle {
                Toggle::Switch(false) => {
                    off.push(PathBuf::from(default));
                    None
                }
                Toggle::Switch(true) => Some(PathBuf::from(default)),
                Toggle::Settings(setting) => match &setting.path {
                    Some(value) => absolute(at(&format!("{field}.path")), value.clone(), problems),
                    None => Some(PathBuf::from(default)),
                },
            }
        };
        settings.sysctl = single(&self.sysctl, "sysctl", persist::DEFAULT_SYSCTL_PATH, &mut settings.off, problems);
        settings.modules = single(&self.modules, "modules", persist::DEFAULT_MODULES_PATH, &mut settings.off, problems);
        settings.ipvs = single(&self.ipvs, "ipvs", persist::DEFAULT_IPVS_PATH, &mut settings.off, problems);
        settings.network = match &self.network {
            Toggle::Switch(false) => {
                settings.network_off.push(PathBuf::from(persist::DEFAULT_NETWORK_DIRECTORY));
                None
            }
            Toggle::Switch(true) => Some(PathBuf::from(persist::DEFAULT_NETWORK_DIRECTORY)),
            Toggle::Settings(NetworkSetting { format: NetworkFormat::Networkd, directory }) => match directory {
                Some(directory) => absolute(at("network.directory"), directory.clone(), problems),
                None => Some(PathBuf::from(persist::DEFAULT_NETWORK_DIRECTORY)),
            },
        };
        let unit = match &self.boot_unit {
            Toggle::Switch(false) => {
                settings.off.push(PathBuf::from(persist::DEFAULT_UNIT_PATH));
                None
            }
            Toggle::Switch(true) => Some(BootUnitSetting::default()),
            Toggle::Settings(setting) => Some(setting.clone()),
        };
        if let Some(unit) = unit {
            let path = match unit.path {
                Some(p) => absolute(at("bootUnit.path"), p, problems),
                None => Some(PathBuf::from(persist::DEFAULT_UNIT_PATH)),
            };
            let spec_path = match unit.spec_path {
                Some(p) => absolute(at("bootUnit.specPath"), p, problems),
                None => Some(origin.spec.to_path_buf()),
            };
            let binary = match unit.binary {
                Some(p) => absolute(at("bootUnit.binary"), p, problems),
                None => Some(PathBuf::from(persist::DEFAULT_BINARY)),
            };
            let field = at("bootUnit.specPath");
            let spec_path = spec_path.filter(|p| unit_value(&field, "the spec path", &p.to_string_lossy(), problems));
            let node_ok = origin.node.is_none_or(|node| unit_value(&at("bootUnit"), "the node name", node, problems));
            if let (Some(path), Some(spec_path), Some(binary), true) = (path, spec_path, binary, node_ok) {
                settings.boot_unit = Some(BootUnit {
                    path,
                    spec_path,
                    binary,
                    node: origin.node.map(str::to_string),
                    agent: unit.agent,
                });
            }
        }
        settings
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use crate::spec;

    #[test]
    fn relative_paths_are_located_errors() {
        let spec = "apiVersion: lvs-converge/v1\nkind: Host\nrole: real-server\nvips: [203.0.113.100]\npersist:\n  sysctl: { path: sysctl.conf }\n";
        let error = spec::parse(spec, Path::new("rs.yaml")).unwrap_err().to_string();
        assert!(error.starts_with("rs.yaml:6:"), "{error}");
        assert!(error.contains("persist.sysctl.path: `sysctl.conf` is not an absolute path"), "{error}");
    }

    fn persist_error(persist: &str, spec_path: &str) -> String {
        let spec = format!(
            "apiVersion: lvs-converge/v1\nkind: Host\nrole: real-server\nvips: [203.0.113.100]\npersist:\n{persist}"
        );
        spec::parse(&spec, Path::new(spec_path)).unwrap_err().to_string()
    }

    #[test]
    fn boot_unit_agent_true_asks_for_the_agent_unit() {
        let persist = |unit: &str| {
            let text = format!("apiVersion: lvs-converge/v1\nkind: Host\nrole: real-server\nvips: [203.0.113.100]\npersist:\n  bootUnit: {unit}\n");
            spec::parse(&text, Path::new("/etc/lvs/rs.yaml")).unwrap().persist.unwrap().boot_unit.unwrap()
        };
        assert!(persist("{ agent: true }").agent);
        assert!(!persist("true").agent);
        assert!(!persist("{ agent: false }").agent);
    }

    #[test]
    fn paths_that_climb_out_of_the_root_are_located_errors() {
        let error = persist_error("  sysctl: { path: /etc/../../tmp/x.conf }\n", "rs.yaml");
        assert!(error.starts_with("rs.yaml:6:"), "{error}");
        assert!(error.contains("persist.sysctl.path: `/etc/../../tmp/x.conf` contains `.` or `..`"), "{error}");
        let error = persist_error("  network: { directory: /etc/systemd/network/.. }\n", "rs.yaml");
        assert!(error.contains("persist.network.directory: `/etc/systemd/network/..` contains"), "{error}");
    }

    #[test]
    fn boot_unit_values_a_unit_cannot_hold_are_located_errors() {
        let error = persist_error("  bootUnit: { specPath: \"/etc/lvs/rs.yaml\\nExecStartPre=/bin/sh\" }\n", "rs.yaml");
        assert!(error.starts_with("rs.yaml:6:"), "{error}");
        assert!(
            error.contains(
                "persist.bootUnit.specPath: \"/etc/lvs/rs.yaml\\nExecStartPre=/bin/sh\" contains a control character"
            ),
            "{error}"
        );
        let error = persist_error("  bootUnit: { specPath: '/etc/lvs/rs\\' }\n", "rs.yaml");
        assert!(error.contains("the spec path \"/etc/lvs/rs\\\\\" ends with a backslash"), "{error}");
        // The default specPath is the spec's own path.
        let error = persist_error("  bootUnit: true\n", "/etc/lvs/rs\n.yaml");
        assert!(
            error.contains(
                "persist.bootUnit.specPath: the spec path \"/etc/lvs/rs\\n.yaml\" contains a control character"
            ),
            "{error}"
        );
    }
}
