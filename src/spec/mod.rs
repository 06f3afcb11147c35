//! The spec: what the user writes (YAML), checked and turned into model pieces for one host
//! ([`Validated`]); the `desired` stage makes the desired state of them. Every error names
//! file, line, column and field path, with a hint, and every error is found here.

pub mod fou;
pub mod health;
pub mod host;
pub mod ipvs;
pub mod locate;
pub mod persist;
pub mod receive;
pub mod role_checks;
pub mod schema;

#[cfg(test)]
mod read_tests;

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::model::health::HealthPolicy;
use crate::model::modules::canonical_module_name;
use crate::model::ownership::IpvsOwnership;
use crate::model::persistence::PersistSettings;
use crate::model::tunnels::Receiver;
use crate::model::{HostState, IpvsState, Role, API_VERSION};
use fou::FouSpec;
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
    /// Real server: the tunnelled packets it takes (`ipip`, `gre`, `gue:6080`, or
    /// `{ type: gre, underlay: ipv6 }`); absent: ipip. A Cluster spec derives them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub receive: Option<Vec<receive::ReceiveSpec>>,
    /// Kernel modules to load.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub modules: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub links: Vec<LinkSpec>,
    /// Foo-over-UDP receive ports (`- { port: 6080, type: gue }`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub fou: Vec<FouSpec>,
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
    /// Real server: the tunnelled packets it takes, as in a Host spec; absent: what the
    /// services' destinations send to its address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub receive: Option<Vec<receive::ReceiveSpec>>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub modules: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub links: Vec<LinkSpec>,
    /// Foo-over-UDP receive ports (`- { port: 6080, type: gue }`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub fou: Vec<FouSpec>,
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
    /// Real server: the tunnelled packets it decapsulates.
    pub receivers: BTreeSet<Receiver>,
    /// The host sections (modules, links, fou, addresses, routes, sysctls).
    pub declared: HostState,
    pub ipvs: IpvsState,
    /// Which undeclared services the spec owns, and how real servers are drained.
    pub ipvs_ownership: IpvsOwnership,
    /// The `persist:` section resolved; `None`: no files are managed.
    pub persist: Option<PersistSettings>,
    /// Health checks, quorums and `startDrained` of the IPVS services (empty without checks).
    pub health: HealthPolicy,
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
    entries: Vec<Problem>,
}

#[derive(Debug)]
struct Problem {
    path: String,
    message: String,
    hint: String,
    /// For a repeated declaration: the path of the first one, whose line the message names.
    first: Option<String>,
}

impl Problems {
    pub fn add(&mut self, path: &str, message: String, hint: &str) {
        self.entries.push(Problem { path: path.to_string(), message, hint: hint.to_string(), first: None });
    }

    /// A declaration at `path` that repeats the one at `first`: the message is completed with
    /// where the first one is, once positions are known.
    pub fn add_repeated(&mut self, path: &str, first: &str, message: String, hint: &str) {
        let first = Some(first.to_string());
        self.entries.push(Problem { path: path.to_string(), message, hint: hint.to_string(), first });
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    fn into_diagnostics(self, file: &str, index: &PositionIndex) -> Vec<Diagnostic> {
        let at = |path: &str| index.find(path).unwrap_or(locate::Position { line: 1, column: 1 });
        self.entries
            .into_iter()
            .map(|Problem { path, mut message, hint, first }| {
                if let Some(first) = first {
                    message.push_str(&format!(": first at line {} ({first}), again here", at(&first).line));
                }
                let position = at(&path);
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
    pub fou: &'a [FouSpec],
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
            fou: &self.fou,
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
            fou: &self.fou,
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
            (!self.fou.is_empty(), "fou"),
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
        declared.fou = fou::to_model(self.fou, &path("fou"), problems);
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
    /// Built on first use: a second parse of the whole text, which only errors and findings
    /// need (a converged plan of a large spec has neither).
    positions: OnceLock<PositionIndex>,
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
    // One byte past the cap tells a file at the cap from a larger one, without reading more.
    let file = std::fs::File::open(path).map_err(read_error)?;
    // A device or a pipe has no size to tell; it is just "larger".
    let size = file.metadata().ok().filter(|meta| meta.is_file()).map(|meta| meta.len());
    // Sized once: a growing buffer doubles (a 2.6 MB spec ended in a 4 MiB one, each step a
    // fresh mapping under musl) and the text is kept for the whole run.
    let mut bytes = Vec::with_capacity(size.map_or(0, |size| size.min(MAX_SPEC_BYTES as u64 + 1) as usize));
    file.take(MAX_SPEC_BYTES as u64 + 1).read_to_end(&mut bytes).map_err(read_error)?;
    if bytes.len() > MAX_SPEC_BYTES {
        return Err(too_large(path, size));
    }
    let text = String::from_utf8(bytes)
        .map_err(|error| read_error(std::io::Error::new(std::io::ErrorKind::InvalidData, error)))?;
    parse_document(text, path)
}

/// Some editors (Windows ones, web forms) start a UTF-8 file with U+FEFF; YAML allows it,
/// but the parsers take it as part of the first key (`missing field kind`).
const BYTE_ORDER_MARK: char = '\u{feff}';

/// `text` without a leading byte order mark: what the YAML parsers read.
fn yaml_of(text: &str) -> &str {
    text.strip_prefix(BYTE_ORDER_MARK).unwrap_or(text)
}

/// Parses spec `text` that came from `source` (used in messages only). Text over the size or
/// nesting cap is refused before any YAML parser builds anything from it. An owned `text` is
/// kept as the document's text without a copy.
pub fn parse_document(text: impl Into<String>, source: &Path) -> Result<Document, SpecError> {
    let text = text.into();
    let file_name = source.display().to_string();
    if text.len() > MAX_SPEC_BYTES {
        return Err(too_large(source, Some(text.len() as u64)));
    }
    let yaml = yaml_of(&text);
    if let Some(position) = locate::deeper_than(yaml, MAX_SPEC_DEPTH) {
        return Err(SpecError::Invalid(vec![Diagnostic {
            file: file_name,
            line: position.line,
            column: position.column,
            path: String::new(),
            message: format!("the spec nests mappings and sequences more than {MAX_SPEC_DEPTH} levels deep"),
            hint: Some("a spec needs a few levels; check the file is the spec you meant".into()),
        }]));
    }
    let file: SpecFile = serde_yaml::from_str(yaml)
        .map_err(|error| SpecError::Invalid(vec![yaml_diagnostic(&file_name, yaml, &error)]))?;
    Ok(Document { source: source.to_path_buf(), file, index_text: text, positions: OnceLock::new() })
}

/// `size`: the file's size in bytes, when it has one (a device or pipe has not).
fn too_large(source: &Path, size: Option<u64>) -> SpecError {
    let limit = format!("{} MiB ({MAX_SPEC_BYTES} bytes)", MAX_SPEC_BYTES >> 20);
    let message = match size {
        Some(size) => format!(
            "the spec is {size} bytes ({:.1} MiB), more than the limit of {limit}",
            size as f64 / f64::from(1 << 20)
        ),
        None => format!("the spec is larger than the limit of {limit}"),
    };
    SpecError::Invalid(vec![Diagnostic {
        file: source.display().to_string(),
        line: 1,
        column: 1,
        path: String::new(),
        message,
        hint: Some("a spec is kilobytes (4000 services are about 1 MiB); check the file is the spec you meant".into()),
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

    /// Where each field path stands in the file (built on first use, once: only errors and
    /// findings need it).
    pub fn positions(&self) -> &PositionIndex {
        self.positions.get_or_init(|| PositionIndex::build(yaml_of(&self.index_text)))
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
            let index = self.positions();
            return Err(SpecError::Invalid(problems.into_diagnostics(&self.source.display().to_string(), index)));
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
        let (ipvs, health) =
            file.ipvs.as_ref().map(|ipvs| ipvs.to_model("ipvs", &BTreeMap::new(), problems)).unwrap_or_default();
        if file.role == Some(Role::RealServer) && file.vips.is_empty() {
            problems.add("role", "a real server needs the VIPs it answers for".into(), "add `vips: [203.0.113.100]`");
        }
        let receivers = if file.role == Some(Role::RealServer) {
            receive::to_model(file.receive.as_deref(), &file.vips, "receive", problems)
        } else {
            if file.receive.is_some() {
                problems.add(
                    "receive",
                    "`receive` says what a real server decapsulates, and this host is not one".into(),
                    "add `role: real-server`, or remove `receive`",
                );
            }
            BTreeSet::new()
        };
        let ipvs_ownership = self.ipvs_ownership();
        let persist = file.persist.as_ref().map(|p| ("persist", p));
        let validated = self.host_part(
            None,
            file.role,
            file.vip_interface.as_deref(),
            file.vips.clone(),
            &sections,
            ipvs,
            ipvs_ownership,
            persist,
            problems,
        );
        Validated { receivers, health: HealthPolicy { services: health, paths: BTreeMap::new() }, ..validated }
    }

    fn validate_cluster(&self, selector: &NodeSelector, problems: &mut Problems) -> Validated {
        let file = &self.file;
        let host_only = [
            (file.role.is_some(), "role"),
            (file.vip_interface.is_some(), "vipInterface"),
            (!file.vips.is_empty(), "vips"),
            (file.receive.is_some(), "receive"),
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
        let mut first_declared: BTreeMap<_, String> = BTreeMap::new();
        for (index, node) in file.nodes.iter().enumerate() {
            let path = format!("nodes[{index}].name");
            match first_declared.get(&node.name) {
                Some(first) => problems.add_repeated(
                    &path,
                    first,
                    format!("node `{}` is declared twice", node.name),
                    "node names are unique",
                ),
                None => {
                    addresses.insert(node.name.clone(), node.address);
                    first_declared.insert(node.name.clone(), path);
                }
            }
        }
        let (ipvs, health) =
            file.ipvs.as_ref().map(|ipvs| ipvs.to_model("ipvs", &addresses, problems)).unwrap_or_default();
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
        if node.role == Role::Director && node.receive.is_some() {
            problems.add(
                &format!("{path}.receive"),
                format!("node `{}` is a director: `receive` is a real server's", node.name),
                "remove `receive`, or make the node `role: real-server`",
            );
        }
        match node.role {
            Role::Director => {
                let ipvs_ownership = self.ipvs_ownership();
                let validated = self.host_part(
                    Some(node.name.clone()),
                    Some(Role::Director),
                    node.vip_interface.as_deref(),
                    Vec::new(),
                    &sections,
                    ipvs,
                    ipvs_ownership,
                    persist,
                    problems,
                );
                Validated { health: HealthPolicy { services: health, paths: BTreeMap::new() }, ..validated }
            }
            Role::RealServer => {
                let vips: BTreeSet<IpAddr> = ipvs
                    .services
                    .values()
                    .filter(|service| service.destinations.values().any(|d| d.address == node.address))
                    .filter_map(|service| service.key.address())
                    .collect();
                let vips: Vec<IpAddr> = vips.into_iter().collect();
                let receivers = match &node.receive {
                    Some(entries) => receive::to_model(Some(entries), &vips, &format!("{path}.receive"), problems),
                    None => receive::derived(&ipvs, node.address, &vips),
                };
                let validated = self.host_part(
                    Some(node.name.clone()),
                    Some(Role::RealServer),
                    None,
                    vips,
                    &sections,
                    IpvsState::default(),
                    IpvsOwnership::default(),
                    persist,
                    problems,
                );
                Validated { receivers, ..validated }
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
            receivers: BTreeSet::new(),
            declared,
            ipvs,
            ipvs_ownership,
            persist,
            health: HealthPolicy::default(),
        }
    }
}

/// Turns serde_yaml's error ("path: message at line L column C") into a diagnostic with a
/// hint where the message alone doesn't say how to fix it. `yaml` is the text it parsed.
fn yaml_diagnostic(file: &str, yaml: &str, error: &serde_yaml::Error) -> Diagnostic {
    let location = error.location();
    let (line, column) = location.as_ref().map_or((1, 1), |l| (l.line(), l.column()));
    let full = error.to_string();
    let without_location = match full.rfind(" at line ") {
        Some(cut) => &full[..cut],
        None => full.as_str(),
    };
    let (path, message) = split_path(without_location);
    let diagnostic =
        |line, column, path, message, hint| Diagnostic { file: file.to_string(), line, column, path, message, hint };
    if let Some(key) = message.strip_prefix("duplicate field `").and_then(|rest| rest.strip_suffix('`')) {
        // serde_yaml places it at the mapping; the second key is where to look.
        let key_path = if path.is_empty() { key.to_string() } else { format!("{path}.{key}") };
        let index = PositionIndex::build(yaml);
        if let (Some(again), Some(first)) = (index.repeated_key(&key_path), index.find(&key_path)) {
            let message = format!("`{key}` is set twice: first at line {}, again here", first.line);
            return diagnostic(again.line, again.column, key_path, message, Some("keep one of them".into()));
        }
    }
    let written = location.map(|l| scalar_at(yaml, l.index()));
    if let Some((message, hint)) = number_out_of_range(&path, &message, written) {
        return diagnostic(line, column, path, message, hint);
    }
    let mut plain = message.replace(" as u128", "").replace(" as i128", "");
    for (rust_type, _) in INTEGER_TYPES {
        plain = plain.replace(&format!("expected {rust_type}"), "expected a whole number");
    }
    let hint = hint_for(&plain);
    diagnostic(line, column, path, plain, hint)
}

/// Rust's integer types as serde names them in messages, and their ranges in words.
const INTEGER_TYPES: [(&str, &str); 5] = [
    ("u8", "0-255"),
    ("u16", "0-65535"),
    ("u32", "0-4294967295"),
    ("u64", "0-18446744073709551615"),
    ("i64", "-9223372036854775808 to 9223372036854775807"),
];

/// The plain scalar that starts at byte `index` of `yaml`, as written.
fn scalar_at(yaml: &str, index: usize) -> &str {
    let rest = yaml.get(index..).unwrap_or_default();
    let end = rest.find([' ', '\t', '\r', '\n', ',', '}', ']', '#']).unwrap_or(rest.len());
    &rest[..end]
}

/// serde's message for a whole number a field cannot hold (`integer `N` as u128, expected
/// i64`; past u128 the parser even makes it a float), said as the field's range: the
/// kernel's, from [`ipvs::limit_at`], or else the field type's. `written` is the number as
/// the spec has it. None for any other message (`8.5`, a number where text belongs).
fn number_out_of_range(path: &str, message: &str, written: Option<&str>) -> Option<(String, Option<String>)> {
    let (kind, rest) = ["invalid type: integer `", "invalid value: integer `", "invalid type: floating point `"]
        .into_iter()
        .find_map(|prefix| message.strip_prefix(prefix).map(|rest| (prefix, rest)))?;
    let (number, expected) = rest.split_once('`')?;
    let expected = expected.trim_start_matches(" as u128").trim_start_matches(" as i128");
    let expected = expected.strip_prefix(", expected ").unwrap_or_default();
    let integer_literal = |text: &str| {
        let digits = text.strip_prefix(['-', '+']).unwrap_or(text);
        !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit())
    };
    let number = match written.filter(|text| integer_literal(text)) {
        Some(text) => text.to_string(),
        // A float the spec wrote as one (`8.5`) is a wrong type, not a large number.
        None if kind.contains("floating point") => return None,
        None => number.to_string(),
    };
    if let Some(limit) = ipvs::limit_at(path) {
        return Some((limit.out_of_range(&number), Some(limit.hint.to_string())));
    }
    let field = path.rsplit('.').next().unwrap_or_default();
    let field = field.split('[').next().unwrap_or_default();
    let subject = if field.is_empty() { number.clone() } else { format!("{field} {number}") };
    if let Some((_, range)) = INTEGER_TYPES.iter().find(|(rust_type, _)| *rust_type == expected) {
        return Some((format!("{subject} is out of range {range}"), None));
    }
    // A field with its own reader (a netmask) says what it takes; a number too large for
    // any integer is out of its range whatever that is.
    (number.parse::<i64>().is_err()).then(|| (format!("{subject} is out of range: expected {expected}"), None))
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
