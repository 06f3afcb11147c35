//! The spec: what the user writes (YAML), checked and turned into model pieces for one host
//! ([`Validated`]); the `desired` stage makes the desired state of them. Every error names
//! file, line, column and field path, with a hint, and every error is found here.

pub mod host;
pub mod ipvs;
pub mod locate;
pub mod persist;
pub mod role_checks;
pub mod schema;

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::model::modules::canonical_module_name;
use crate::model::ownership::IpvsOwnership;
use crate::model::persistence::PersistSettings;
use crate::model::{HostState, IpvsState, Role, API_VERSION};
use host::{AddressSpec, LinkSpec, RouteSpec, SysctlValue};
use ipvs::IpvsSpec;
use locate::PositionIndex;
use persist::PersistSpec;

/// The top level of a spec file, as written. A `Host` spec describes one host; a `Cluster`
/// spec describes every node, and each host picks its part (`--node NAME`, or the node
/// whose address the host has).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[schemars(transform = schema::spec_file_rules)]
pub struct SpecFile {
    /// Always `lvs-converge/v1`.
    #[schemars(extend("const" = API_VERSION))]
    pub api_version: String,
    pub kind: SpecKind,
    /// Host: what this host is in the LVS-TUN cluster; its defaults show in the plan.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<Role>,
    /// Director: the interface that holds the VIPs (`eth0`, or `eth0:0` for a labelled alias).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vip_interface: Option<String>,
    /// Real server: the VIPs it answers for.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub vips: Vec<IpAddr>,
    /// Kernel modules to load.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub modules: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub links: Vec<LinkSpec>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub addresses: Vec<AddressSpec>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub routes: Vec<RouteSpec>,
    /// `net.*` sysctls by dotted name.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    #[schemars(extend("propertyNames" = schema::sysctl_names()))]
    pub sysctls: BTreeMap<String, SysctlValue>,
    /// Host: this director's IPVS table. Cluster: the cluster's services, applied on its
    /// director(s); real servers may be given by `node`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ipvs: Option<IpvsSpec>,
    /// Cluster: the hosts.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub nodes: Vec<NodeSpec>,
    /// Files that make the converged state survive a reboot. In a Cluster spec, the
    /// default for every node (a node's own `persist` replaces it). Absent: none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub persist: Option<PersistSpec>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum SpecKind {
    /// One host's desired state.
    Host,
    /// A whole cluster; each host selects its node.
    Cluster,
}

/// A host of a Cluster spec.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NodeSpec {
    pub name: String,
    /// The node's own address: how real servers are reached, and how a host recognises
    /// itself when no `--node` is given.
    pub address: IpAddr,
    pub role: Role,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vip_interface: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub modules: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub links: Vec<LinkSpec>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub addresses: Vec<AddressSpec>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub routes: Vec<RouteSpec>,
    /// `net.*` sysctls by dotted name.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    #[schemars(extend("propertyNames" = schema::sysctl_names()))]
    pub sysctls: BTreeMap<String, SysctlValue>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub persist: Option<PersistSpec>,
}

/// A spec validated for one host: what it declares, as model pieces. Nothing is derived yet
/// (role defaults, IPVS prerequisites, persistence files: `desired` adds them), but nothing
/// is left to refuse either.
#[derive(Debug, Default)]
pub struct Validated {
    pub source: PathBuf,
    /// The Cluster node this is, if any.
    pub node: Option<String>,
    pub role: Option<Role>,
    /// Director: the interface (or `eth0:0` label) that holds the VIPs.
    pub vip_interface: Option<String>,
    /// Real server: the VIPs it answers for.
    pub vips: Vec<IpAddr>,
    /// The host sections (modules, links, addresses, routes, sysctls).
    pub declared: HostState,
    pub ipvs: IpvsState,
    /// Which undeclared services the spec owns, and how real servers are drained.
    pub ipvs_ownership: IpvsOwnership,
    /// The `persist:` section resolved; `None`: no files are managed.
    pub persist: Option<PersistSettings>,
}

/// Which node of a Cluster spec this host is.
#[derive(Debug, Clone, Default)]
pub struct NodeSelector<'a> {
    /// `--node NAME`.
    pub name: Option<&'a str>,
    /// The host's own addresses, to find the node by `address` when no name is given.
    pub local_addresses: Vec<IpAddr>,
}

/// One problem in a spec, with where it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    pub file: String,
    pub line: usize,
    pub column: usize,
    /// Field path such as `ipvs.services[0].port`; empty for document-level problems.
    pub path: String,
    pub message: String,
    pub hint: Option<String>,
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}: ", self.file, self.line, self.column)?;
        if !self.path.is_empty() {
            write!(f, "{}: ", self.path)?;
        }
        f.write_str(&self.message)?;
        if let Some(hint) = &self.hint {
            write!(f, "\n  hint: {hint}")?;
        }
        Ok(())
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SpecError {
    #[error("cannot read spec {path}: {source}\n  hint: pass the spec file with --spec/-f")]
    Read { path: PathBuf, source: std::io::Error },
    #[error("{}", .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n"))]
    Invalid(Vec<Diagnostic>),
}

impl SpecError {
    pub fn diagnostics(&self) -> &[Diagnostic] {
        match self {
            SpecError::Invalid(diagnostics) => diagnostics,
            SpecError::Read { .. } => &[],
        }
    }
}

/// Problems found while turning a parsed spec into the model, by field path.
#[derive(Debug, Default)]
pub struct Problems {
    entries: Vec<(String, String, String)>,
}

impl Problems {
    pub fn add(&mut self, path: &str, message: String, hint: &str) {
        self.entries.push((path.to_string(), message, hint.to_string()));
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    fn into_diagnostics(self, file: &str, index: &PositionIndex) -> Vec<Diagnostic> {
        self.entries
            .into_iter()
            .map(|(path, message, hint)| {
                let position = index.find(&path).unwrap_or(locate::Position { line: 1, column: 1 });
                Diagnostic {
                    file: file.to_string(),
                    line: position.line,
                    column: position.column,
                    path,
                    message,
                    hint: (!hint.is_empty()).then_some(hint),
                }
            })
            .collect()
    }
}

/// The host-level sections, borrowed from wherever they are written (a Host spec's top level
/// or a Cluster spec's node). A new section is a field here, on [`SpecFile`] and
/// [`NodeSpec`], and a line in [`HostSections::to_model`] and [`HostSections::present`].
pub struct HostSections<'a> {
    pub path: &'a str,
    pub modules: &'a [String],
    pub links: &'a [LinkSpec],
    pub addresses: &'a [AddressSpec],
    pub routes: &'a [RouteSpec],
    pub sysctls: &'a BTreeMap<String, SysctlValue>,
}

impl SpecFile {
    fn host_sections(&self) -> HostSections<'_> {
        HostSections {
            path: "",
            modules: &self.modules,
            links: &self.links,
            addresses: &self.addresses,
            routes: &self.routes,
            sysctls: &self.sysctls,
        }
    }
}

impl NodeSpec {
    fn host_sections<'a>(&'a self, path: &'a str) -> HostSections<'a> {
        HostSections {
            path,
            modules: &self.modules,
            links: &self.links,
            addresses: &self.addresses,
            routes: &self.routes,
            sysctls: &self.sysctls,
        }
    }
}

impl HostSections<'_> {
    /// The names of the sections that hold something, in the order they are written.
    fn present(&self) -> Vec<&'static str> {
        [
            (!self.modules.is_empty(), "modules"),
            (!self.links.is_empty(), "links"),
            (!self.addresses.is_empty(), "addresses"),
            (!self.routes.is_empty(), "routes"),
            (!self.sysctls.is_empty(), "sysctls"),
        ]
        .into_iter()
        .filter_map(|(present, name)| present.then_some(name))
        .collect()
    }

    /// The sections as a partial host state (what `desired` overlays on role defaults).
    pub fn to_model(&self, problems: &mut Problems) -> HostState {
        let path =
            |section: &str| if self.path.is_empty() { section.to_string() } else { format!("{}.{section}", self.path) };
        let mut declared = HostState {
            modules: self.modules.iter().map(|m| canonical_module_name(m)).collect(),
            sysctls: host::sysctls_to_model(self.sysctls, &path("sysctls"), problems),
            ..HostState::default()
        };
        host::put_each(self.links, &path("links"), problems, LinkSpec::to_model, &mut declared.links);
        host::put_each(self.addresses, &path("addresses"), problems, AddressSpec::to_model, &mut declared.addresses);
        host::put_each(self.routes, &path("routes"), problems, RouteSpec::to_model, &mut declared.routes);
        declared
    }
}

/// A parsed spec file whose every part is valid, before a node is chosen.
#[derive(Debug, Clone)]
pub struct Document {
    pub source: PathBuf,
    pub file: SpecFile,
    index_text: String,
}

/// The largest spec read, in bytes. A spec of 4000 services is about 1 MiB; the cap keeps a
/// wrong file (a log, a disk image, /dev/zero) from being read whole.
pub const MAX_SPEC_BYTES: usize = 16 * 1024 * 1024;

/// The deepest nesting of mappings and sequences a spec may have. Real specs need 7 levels;
/// the YAML parsers slow down with depth (40 000 levels took from 30 s to minutes), so deeper
/// documents are refused before they are parsed.
pub const MAX_SPEC_DEPTH: usize = 64;

/// Reads and parses the spec at `path` (validation happens in [`Document::validate`]).
pub fn read(path: &Path) -> Result<Document, SpecError> {
    use std::io::Read;
    let read_error = |source| SpecError::Read { path: path.to_path_buf(), source };
    let mut bytes = Vec::new();
    // One byte past the cap tells a file at the cap from a larger one, without reading more.
    let file = std::fs::File::open(path).map_err(read_error)?;
    file.take(MAX_SPEC_BYTES as u64 + 1).read_to_end(&mut bytes).map_err(read_error)?;
    if bytes.len() > MAX_SPEC_BYTES {
        return Err(too_large(path));
    }
    let text = String::from_utf8(bytes)
        .map_err(|error| read_error(std::io::Error::new(std::io::ErrorKind::InvalidData, error)))?;
    parse_document(&text, path)
}

/// Parses spec `text` that came from `source` (used in messages only). Text over the size or
/// nesting cap is refused before any YAML parser builds anything from it.
pub fn parse_document(text: &str, source: &Path) -> Result<Document, SpecError> {
    let file_name = source.display().to_string();
    if text.len() > MAX_SPEC_BYTES {
        return Err(too_large(source));
    }
    if let Some(position) = locate::deeper_than(text, MAX_SPEC_DEPTH) {
        return Err(SpecError::Invalid(vec![Diagnostic {
            file: file_name,
            line: position.line,
            column: position.column,
            path: String::new(),
            message: format!("the spec nests mappings and sequences more than {MAX_SPEC_DEPTH} levels deep"),
            hint: Some("a spec needs a few levels; check the file is the spec you meant".into()),
        }]));
    }
    let file: SpecFile =
        serde_yaml::from_str(text).map_err(|error| SpecError::Invalid(vec![yaml_diagnostic(&file_name, &error)]))?;
    Ok(Document { source: source.to_path_buf(), file, index_text: text.to_string() })
}

fn too_large(source: &Path) -> SpecError {
    SpecError::Invalid(vec![Diagnostic {
        file: source.display().to_string(),
        line: 1,
        column: 1,
        path: String::new(),
        message: format!("the spec is larger than {} MiB ({MAX_SPEC_BYTES} bytes)", MAX_SPEC_BYTES >> 20),
        hint: Some("a spec is kilobytes; check the file is the spec you meant".into()),
    }])
}

/// Parses and validates a Host spec, or a Cluster spec for the first node (tests, tools).
pub fn parse(text: &str, source: &Path) -> Result<Validated, SpecError> {
    parse_document(text, source)?.validate(&NodeSelector::default())
}

impl Document {
    /// Node names of a Cluster spec.
    pub fn node_names(&self) -> Vec<&str> {
        self.file.nodes.iter().map(|n| n.name.as_str()).collect()
    }

    /// The text the document was parsed from.
    pub fn text(&self) -> &str {
        &self.index_text
    }

    /// Where each field path stands in the file (built on demand: only errors and findings
    /// need it).
    pub fn positions(&self) -> PositionIndex {
        PositionIndex::build(&self.index_text)
    }

    /// Validates the whole document and picks the part of the host `selector` names.
    pub fn validate(&self, selector: &NodeSelector) -> Result<Validated, SpecError> {
        let mut problems = Problems::default();
        let file = &self.file;
        if file.api_version != API_VERSION {
            problems.add(
                "apiVersion",
                format!("unsupported apiVersion `{}`", file.api_version),
                &format!("this lvs-converge reads `apiVersion: {API_VERSION}`"),
            );
        }
        let validated = match file.kind {
            SpecKind::Host => self.validate_host(&mut problems),
            SpecKind::Cluster => self.validate_cluster(selector, &mut problems),
        };
        if !problems.is_empty() {
            let index = PositionIndex::build(&self.index_text);
            return Err(SpecError::Invalid(problems.into_diagnostics(&self.source.display().to_string(), &index)));
        }
        Ok(validated)
    }

    fn validate_host(&self, problems: &mut Problems) -> Validated {
        let file = &self.file;
        for (present, field) in [(!file.nodes.is_empty(), "nodes")] {
            if present {
                problems.add(
                    field,
                    format!("`{field}` belongs to a Cluster spec"),
                    "use `kind: Cluster`, or remove it",
                );
            }
        }
        let sections = file.host_sections();
        let ipvs = file.ipvs.as_ref().map(|ipvs| ipvs.to_model("ipvs", &BTreeMap::new(), problems)).unwrap_or_default();
        if file.role == Some(Role::RealServer) && file.vips.is_empty() {
            problems.add("role", "a real server needs the VIPs it answers for".into(), "add `vips: [203.0.113.100]`");
        }
        let ipvs_ownership = self.ipvs_ownership();
        let persist = file.persist.as_ref().map(|p| ("persist", p));
        self.host_part(
            None,
            file.role,
            file.vip_interface.as_deref(),
            file.vips.clone(),
            &sections,
            ipvs,
            ipvs_ownership,
            persist,
            problems,
        )
    }

    fn validate_cluster(&self, selector: &NodeSelector, problems: &mut Problems) -> Validated {
        let file = &self.file;
        let host_only = [
            (file.role.is_some(), "role"),
            (file.vip_interface.is_some(), "vipInterface"),
            (!file.vips.is_empty(), "vips"),
        ]
        .into_iter()
        .filter_map(|(present, field)| present.then_some(field))
        .chain(file.host_sections().present());
        for field in host_only {
            problems.add(
                field,
                format!("in a Cluster spec, `{field}` belongs to a node"),
                "move it under the node it applies to in `nodes`",
            );
        }
        let mut addresses = BTreeMap::new();
        for (index, node) in file.nodes.iter().enumerate() {
            if addresses.insert(node.name.clone(), node.address).is_some() {
                problems.add(
                    &format!("nodes[{index}].name"),
                    format!("node `{}` is declared twice", node.name),
                    "node names are unique",
                );
            }
        }
        let ipvs = file.ipvs.as_ref().map(|ipvs| ipvs.to_model("ipvs", &addresses, problems)).unwrap_or_default();
        let Some((index, node)) = self.select(selector, problems) else {
            return Validated { source: self.source.clone(), ..Validated::default() };
        };
        let path = format!("nodes[{index}]");
        let persist_path = format!("{path}.persist");
        let persist = match (&node.persist, &file.persist) {
            (Some(own), _) => Some((persist_path.as_str(), own)),
            (None, Some(shared)) => Some(("persist", shared)),
            (None, None) => None,
        };
        let sections = node.host_sections(&path);
        match node.role {
            Role::Director => {
                let ipvs_ownership = self.ipvs_ownership();
                self.host_part(
                    Some(node.name.clone()),
                    Some(Role::Director),
                    node.vip_interface.as_deref(),
                    Vec::new(),
                    &sections,
                    ipvs,
                    ipvs_ownership,
                    persist,
                    problems,
                )
            }
            Role::RealServer => {
                let vips: BTreeSet<IpAddr> = ipvs
                    .services
                    .values()
                    .filter(|service| service.destinations.values().any(|d| d.address == node.address))
                    .filter_map(|service| service.key.address())
                    .collect();
                self.host_part(
                    Some(node.name.clone()),
                    Some(Role::RealServer),
                    None,
                    vips.into_iter().collect(),
                    &sections,
                    IpvsState::default(),
                    IpvsOwnership::default(),
                    persist,
                    problems,
                )
            }
        }
    }

    /// The node `selector` names, or the one whose address the host has.
    fn select(&self, selector: &NodeSelector, problems: &mut Problems) -> Option<(usize, &NodeSpec)> {
        let nodes = &self.file.nodes;
        let names = self.node_names().join(", ");
        if nodes.is_empty() {
            problems.add(
                "nodes",
                "a Cluster spec lists its hosts under `nodes`".into(),
                "add nodes with name, address and role",
            );
            return None;
        }
        if let Some(name) = selector.name {
            let found = nodes.iter().enumerate().find(|(_, n)| n.name == name);
            if found.is_none() {
                problems.add("nodes", format!("no node named `{name}`"), &format!("--node takes one of: {names}"));
            }
            return found;
        }
        if selector.local_addresses.is_empty() {
            // Offline use (tests, validate): the first node.
            return nodes.first().map(|n| (0, n));
        }
        let mut matching = nodes.iter().enumerate().filter(|(_, n)| selector.local_addresses.contains(&n.address));
        match (matching.next(), matching.next()) {
            (Some(found), None) => Some(found),
            (None, _) => {
                problems.add(
                    "nodes",
                    "none of the nodes' addresses is on this host".into(),
                    &format!("pick the node with --node NAME ({names})"),
                );
                None
            }
            (Some(_), Some(_)) => {
                problems.add(
                    "nodes",
                    "several nodes' addresses are on this host".into(),
                    &format!("pick the node with --node NAME ({names})"),
                );
                None
            }
        }
    }

    fn ipvs_ownership(&self) -> IpvsOwnership {
        let ipvs = self.file.ipvs.as_ref();
        let scope = ipvs.and_then(|ipvs| ipvs.scope.as_ref()).map(|s| s.to_model()).unwrap_or_default();
        let drain_timeout = ipvs.map_or(Some(ipvs::DEFAULT_DRAIN_TIMEOUT.0), |ipvs| ipvs.drain_timeout());
        IpvsOwnership { drain_timeout, ..scope }
    }

    /// Checks what the role needs, then the declared sections, then `persist:` (the order
    /// of the errors), and gathers the host's part.
    #[allow(clippy::too_many_arguments)]
    fn host_part(
        &self,
        node: Option<String>,
        role: Option<Role>,
        vip_interface: Option<&str>,
        vips: Vec<IpAddr>,
        sections: &HostSections,
        ipvs: IpvsState,
        ipvs_ownership: IpvsOwnership,
        persist: Option<(&str, &PersistSpec)>,
        problems: &mut Problems,
    ) -> Validated {
        let role_path = if sections.path.is_empty() { "role".to_string() } else { format!("{}.role", sections.path) };
        match role {
            Some(Role::Director) => role_checks::director(&ipvs, vip_interface, &role_path, problems),
            Some(Role::RealServer) => role_checks::real_server(&vips, &role_path, problems),
            None => {}
        }
        let declared = sections.to_model(problems);
        let persist = persist.map(|(path, persist)| {
            // The boot unit names the spec by its absolute path, whatever directory
            // lvs-converge runs from.
            let spec = std::path::absolute(&self.source).unwrap_or_else(|_| self.source.clone());
            let origin = persist::Origin { spec: &spec, node: node.as_deref() };
            persist.to_model(path, &origin, problems)
        });
        Validated {
            source: self.source.clone(),
            node,
            role,
            vip_interface: vip_interface.map(str::to_string),
            vips,
            declared,
            ipvs,
            ipvs_ownership,
            persist,
        }
    }
}

/// Turns serde_yaml's error ("path: message at line L column C") into a diagnostic with a
/// hint where the message alone doesn't say how to fix it.
fn yaml_diagnostic(file: &str, error: &serde_yaml::Error) -> Diagnostic {
    let (line, column) = error.location().map_or((1, 1), |l| (l.line(), l.column()));
    let full = error.to_string();
    let without_location = match full.rfind(" at line ") {
        Some(cut) => &full[..cut],
        None => full.as_str(),
    };
    let plain = without_location
        .replace("expected i64", "expected a whole number")
        .replace("expected u32", "expected a whole number")
        .replace("expected u8", "expected a whole number");
    let (path, message) = split_path(&plain);
    Diagnostic { file: file.to_string(), line, column, hint: hint_for(&message), path, message }
}

/// serde_yaml prefixes messages with the field path and a colon; the path never has spaces.
fn split_path(text: &str) -> (String, String) {
    match text.split_once(": ") {
        Some((path, message)) if !path.contains(' ') && !path.is_empty() => (path.to_string(), message.to_string()),
        _ => (String::new(), text.to_string()),
    }
}

fn hint_for(message: &str) -> Option<String> {
    if message.starts_with("unknown field") {
        Some(
            "check the spelling; field names are camelCase (realServers, upperThreshold); see schemas/ for all fields"
                .into(),
        )
    } else if message.starts_with("unknown variant") {
        Some("pick one of the values listed".into())
    } else if message.starts_with("missing field `apiVersion`") || message.starts_with("missing field `kind`") {
        Some(format!("a spec starts with `apiVersion: {API_VERSION}` and `kind: Host`"))
    } else if message.starts_with("invalid type") {
        Some("check the value's type (quote strings, no quotes around numbers)".into())
    } else {
        None
    }
}
