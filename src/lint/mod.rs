//! `check`: the mistakes LVS-TUN operators make that a valid spec can still contain — a real
//! server addressed through the director's own tunnel, strict reverse-path filtering on a
//! real server, a real server answering ARP for the VIP — each with why it breaks and how to
//! fix it. Rules read the resolved spec and, when there is one, the observed host; they never
//! touch the host. `plan` runs them too and shows errors and warnings.

mod cluster;
mod director;
mod facts;
mod persistence;
mod real_server;

use serde::Serialize;

use crate::desired::{self, Spec};
use crate::model::HostState;
use crate::model::Role;
use crate::spec::locate::Position;
use crate::spec::{Document, NodeSelector, SpecError, SpecKind};
use facts::Facts;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// LVS-TUN will not carry traffic as configured.
    Error,
    /// It works in the lab and breaks in production (some clients, some day).
    Warning,
    /// Worth knowing; nothing is wrong.
    Note,
}

impl Severity {
    pub fn name(self) -> &'static str {
        match self {
            Severity::Error => "error",
            Severity::Warning => "warning",
            Severity::Note => "note",
        }
    }
}

/// Where in the spec a finding points.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct Location {
    pub file: String,
    pub line: usize,
    pub column: usize,
    /// Field path such as `ipvs.services[0].realServers[1].address`.
    pub path: String,
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct Finding {
    pub severity: Severity,
    /// Stable identifier, e.g. `real-server-via-tunnel`.
    pub code: &'static str,
    /// The Cluster node the finding is about.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub node: Option<String>,
    pub message: String,
    /// Why it breaks LVS-TUN.
    pub why: String,
    /// What to change.
    pub fix: String,
    pub location: Option<Location>,
    /// The spec field the finding is about, before it is located in the file.
    #[serde(skip)]
    path: String,
}

impl Finding {
    fn new(severity: Severity, code: &'static str, message: String, why: &str, fix: String) -> Self {
        Finding { severity, code, node: None, message, why: why.to_string(), fix, location: None, path: String::new() }
    }

    fn error(code: &'static str, message: String, why: &str, fix: String) -> Self {
        Finding::new(Severity::Error, code, message, why, fix)
    }

    fn warning(code: &'static str, message: String, why: &str, fix: String) -> Self {
        Finding::new(Severity::Warning, code, message, why, fix)
    }

    fn note(code: &'static str, message: String, why: &str, fix: String) -> Self {
        Finding::new(Severity::Note, code, message, why, fix)
    }

    /// Points the finding at a spec field (a path inside the host's own sections).
    fn at(mut self, path: impl Into<String>) -> Self {
        self.path = path.into();
        self
    }
}

/// Counts by severity.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Counts {
    pub errors: usize,
    pub warnings: usize,
    pub notes: usize,
}

pub fn counts(findings: &[Finding]) -> Counts {
    let mut counts = Counts::default();
    for finding in findings {
        match finding.severity {
            Severity::Error => counts.errors += 1,
            Severity::Warning => counts.warnings += 1,
            Severity::Note => counts.notes += 1,
        }
    }
    counts
}

/// What a host is in LVS-TUN terms: its role, or what its sections make it look like (an
/// imported spec has no role).
fn acts_as(spec: &Spec, facts: &Facts) -> Option<Role> {
    if let Some(role) = spec.role {
        return Some(role);
    }
    if !spec.desired.ipvs.services.is_empty() {
        Some(Role::Director)
    } else if !facts.tunnel_devices().is_empty() {
        Some(Role::RealServer)
    } else {
        None
    }
}

/// The prefix of this host's own fields in the spec file (`nodes[1].` in a Cluster spec).
fn node_prefix(document: &Document, spec: &Spec) -> String {
    let index = spec.node.as_ref().and_then(|name| document.file.nodes.iter().position(|n| &n.name == name));
    index.map(|i| format!("nodes[{i}].")).unwrap_or_default()
}

/// Findings for one host: the resolved `spec`, and `observed` when the host was read; not
/// yet located (see [`finish`]).
fn host_findings(document: &Document, spec: &Spec, observed: Option<&HostState>) -> Vec<Finding> {
    let facts = Facts::new(&spec.desired, observed);
    let prefix = node_prefix(document, spec);
    let mut findings = Vec::new();
    match acts_as(spec, &facts) {
        Some(Role::Director) => findings.extend(director::check(document, spec, &facts)),
        Some(Role::RealServer) => {
            let receive_path = if document.file.receive.is_some() { "receive" } else { "role" };
            findings.extend(real_server::check(spec, &facts, &prefix, receive_path))
        }
        None => {}
    }
    findings.extend(persistence::check(document, spec, &prefix));
    for finding in &mut findings {
        finding.node = spec.node.clone();
    }
    findings
}

/// Findings for a whole spec without reading any host: every node of a Cluster spec (or the
/// one `node` names) and the rules that span hosts.
pub fn check_document(document: &Document, node: Option<&str>) -> Result<Vec<Finding>, SpecError> {
    if document.file.kind == SpecKind::Host {
        let spec = desired::resolve(document, &NodeSelector::default())?;
        return Ok(finish(document, host_findings(document, &spec, None)));
    }
    if node.is_some() {
        // An unknown --node is an error here too, not an empty (clean) report.
        desired::resolve(document, &NodeSelector { name: node, local_addresses: vec![] })?;
    }
    let specs = every_node(document)?;
    let mut findings = Vec::new();
    for spec in specs.iter().filter(|s| node.is_none() || s.node.as_deref() == node) {
        findings.extend(host_findings(document, spec, None));
    }
    findings.extend(cross_host(document, &specs, node));
    Ok(finish(document, findings))
}

/// Every node of a Cluster spec, resolved.
fn every_node(document: &Document) -> Result<Vec<Spec>, SpecError> {
    document
        .node_names()
        .into_iter()
        .map(|name| desired::resolve(document, &NodeSelector { name: Some(name), local_addresses: vec![] }))
        .collect()
}

/// The cross-host findings of a Cluster spec, about `node` only when one is given.
fn cross_host(document: &Document, specs: &[Spec], node: Option<&str>) -> Vec<Finding> {
    cluster::check(document, specs).into_iter().filter(|f| node.is_none() || f.node.as_deref() == node).collect()
}

/// Findings for the host `spec` was resolved for, as `observed` on it: its own and, in a
/// Cluster spec, the cross-host ones about its node.
pub fn check_observed(document: &Document, spec: &Spec, observed: &HostState) -> Vec<Finding> {
    let mut findings = host_findings(document, spec, Some(observed));
    if document.file.kind == SpecKind::Cluster {
        // The other nodes are judged from the spec alone; their own host checks are theirs.
        if let Ok(specs) = every_node(document) {
            findings.extend(cross_host(document, &specs, spec.node.as_deref()));
        }
    }
    finish(document, findings)
}

/// Locates every finding in the spec file, sorts errors first and drops repeats. Called once
/// per report: the positions are a second parse of the spec, made only if a finding needs one.
fn finish(document: &Document, mut findings: Vec<Finding>) -> Vec<Finding> {
    for finding in &mut findings {
        if finding.location.is_none() && !finding.path.is_empty() {
            let position = document.positions().find(&finding.path).unwrap_or(Position { line: 1, column: 1 });
            finding.location = Some(Location {
                file: document.source.display().to_string(),
                line: position.line,
                column: position.column,
                path: finding.path.clone(),
            });
        }
    }
    findings.sort();
    findings.dedup();
    findings
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::spec::locate;

    /// A director of `services` services, each with two tunnel real servers; `port` is the
    /// first real server's (80 is clean, anything else a `tunnel-port-mismatch`).
    fn director_spec(services: usize, port: u16) -> String {
        let mut text = String::from("apiVersion: lvs-converge/v1\nkind: Host\nipvs:\n  services:\n");
        for i in 0..services {
            let (high, low) = (i / 250, i % 250 + 1);
            text += &format!(
                "    - address: 203.0.{high}.{low}\n      port: 80\n      realServers:\n        \
                 - {{ address: 192.0.{high}.{low}, port: {port} }}\n        - {{ address: 198.18.{high}.{low} }}\n"
            );
        }
        text
    }

    fn plan_findings(text: &str) -> Vec<Finding> {
        let document = crate::spec::parse_document(text, Path::new("d.yaml")).unwrap();
        let spec = desired::resolve(&document, &NodeSelector::default()).unwrap();
        check_observed(&document, &spec, &HostState::default())
    }

    /// Issue 12: the position index is a second parse of the whole spec. A plan with nothing to
    /// report must not build it, and one with findings builds it once, not per check.
    #[test]
    fn positions_are_built_once_and_only_for_a_finding() {
        let before = locate::builds();
        let findings = plan_findings(&director_spec(300, 80));
        assert_eq!(findings, [], "the clean director has nothing to report");
        assert_eq!(locate::builds() - before, 0, "a clean spec is never indexed");

        let before = locate::builds();
        let findings = plan_findings(&director_spec(300, 8080));
        assert_eq!(findings.len(), 300, "{:#?}", &findings[..1]);
        assert_eq!(locate::builds() - before, 1, "indexed once for 300 findings and two checks");
        // The last service's first real server: 300 services of 5 lines after the 4-line head.
        let location = findings.iter().filter_map(|f| f.location.as_ref()).max().unwrap();
        assert_eq!(location.path, "ipvs.services[299].realServers[0].address");
        assert_eq!((location.line, location.column), (4 + 299 * 5 + 4, 22));
    }
}
