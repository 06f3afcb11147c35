//! The desired stage: from a validated spec ([`spec::Validated`]) to the whole desired state of
//! one host. It adds what the spec implies but does not write (a role's defaults, the kernel
//! modules an IPVS table needs), records where each such object comes from, and renders the
//! persistence files from the result. Nothing here can fail: the spec refused all it had to.
//!
//! The result keeps the name [`Spec`] and its fields (`desired`, `ownership`, `origins`):
//! it is still the spec, resolved for one host, and that is how plan, cli, saved plans,
//! lint and import read it.

pub mod files;
mod merge;
mod prerequisites;
pub mod roles;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::model::ownership::{FileOwnership, Ownership};
use crate::model::{HostState, ObjectId, Role};
use crate::spec::{self, Document, NodeSelector, SpecError, Validated};

/// A spec resolved for one host: its desired state and what it owns.
#[derive(Debug, Clone, PartialEq)]
pub struct Spec {
    pub source: PathBuf,
    /// The Cluster node this is, if any.
    pub node: Option<String>,
    pub role: Option<Role>,
    pub desired: HostState,
    pub ownership: Ownership,
    /// Where derived objects come from (`role real-server`, `ipvs services`); objects the
    /// spec declares itself are absent.
    pub origins: BTreeMap<ObjectId, String>,
}

/// Reads and validates the spec at `path`, resolved for the host `selector` picks.
pub fn load(path: &Path, selector: &NodeSelector) -> Result<Spec, SpecError> {
    resolve(&spec::read(path)?, selector)
}

/// Validates `document` for the host `selector` picks and resolves its desired state.
pub fn resolve(document: &Document, selector: &NodeSelector) -> Result<Spec, SpecError> {
    document.validate(selector).map(build)
}

/// Parses a Host spec, or a Cluster spec for the first node, and resolves it (tests, tools).
pub fn parse(text: &str, source: &Path) -> Result<Spec, SpecError> {
    spec::parse(text, source).map(build)
}

/// Role defaults, then IPVS prerequisites, then the declared sections (which win), then the
/// files that persist the result.
pub fn build(validated: Validated) -> Spec {
    let Validated { source, node, role, vip_interface, vips, declared, ipvs, ipvs_ownership, persist } = validated;
    let mut desired = HostState::default();
    let mut origins = BTreeMap::new();
    if let Some(role) = role {
        let derived = match role {
            Role::Director => roles::director(&ipvs, vip_interface.as_deref()),
            Role::RealServer => roles::real_server(&vips),
        };
        merge::merge(&mut desired, &mut origins, derived, Some(&format!("role {}", role.name())));
    }
    merge::merge(&mut desired, &mut origins, prerequisites::ipvs(&ipvs), Some("ipvs services"));
    merge::merge(&mut desired, &mut origins, declared, None);
    desired.ipvs = ipvs;
    let mut file_ownership = FileOwnership::default();
    if let Some(settings) = persist {
        (desired.files, file_ownership) = files::render(&desired, &settings);
    }
    Spec { source, node, role, desired, ownership: Ownership { ipvs: ipvs_ownership, files: file_ownership }, origins }
}
