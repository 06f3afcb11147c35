//! Diff: a pure function from (desired, observed) to an ordered list of typed changes.
//! The planner never touches the host; `apply` carries the changes out.

pub mod ipvs;

use serde::{Deserialize, Serialize};

use crate::model::HostState;
pub use ipvs::IpvsChange;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    Create,
    Update,
    Delete,
}

/// One change to the host, in the order it must be made.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "subsystem", rename_all = "lowercase")]
pub enum Change {
    Ipvs(IpvsChange),
}

/// An object on the host that the spec does not own: reported, never touched.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Unmanaged {
    pub subsystem: String,
    pub kind: String,
    pub id: String,
}

/// A field of a changed object, as text for people.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FieldChange {
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub before: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub after: Option<String>,
}

/// What renderers need to show any change, whatever its subsystem.
#[derive(Debug, Clone, PartialEq)]
pub struct ChangeView {
    pub subsystem: &'static str,
    pub action: Action,
    /// `service`, `real server`, `timeouts` …
    pub kind: &'static str,
    /// Human identity, e.g. `tcp 203.0.113.100:80`.
    pub id: String,
    /// For creates: every field; updates: the ones that differ; deletes: every old field.
    pub fields: Vec<FieldChange>,
    pub before: Option<serde_json::Value>,
    pub after: Option<serde_json::Value>,
}

impl Change {
    pub fn view(&self) -> ChangeView {
        match self {
            Change::Ipvs(change) => change.view(),
        }
    }
}

/// The ordered changes that take the host from observed to desired.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Plan {
    pub changes: Vec<Change>,
    pub unmanaged: Vec<Unmanaged>,
}

impl Plan {
    pub fn is_empty(&self) -> bool {
        self.changes.is_empty()
    }

    /// Counts of (create, update, delete).
    pub fn summary(&self) -> Summary {
        let mut summary = Summary::default();
        for change in &self.changes {
            match change.view().action {
                Action::Create => summary.create += 1,
                Action::Update => summary.update += 1,
                Action::Delete => summary.delete += 1,
            }
        }
        summary
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Summary {
    pub create: usize,
    pub update: usize,
    pub delete: usize,
}

/// Which objects on the host the spec owns beyond those it declares. By default only
/// declared objects are managed; everything else is reported as unmanaged.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Ownership {
    pub ipvs: ipvs::IpvsOwnership,
}

/// Plans the changes from `observed` to `desired`.
pub fn diff(desired: &HostState, observed: &HostState, ownership: &Ownership) -> Plan {
    let mut plan = Plan::default();
    let ipvs = ipvs::diff(&desired.ipvs, &observed.ipvs, &ownership.ipvs);
    plan.changes
        .extend(ipvs.changes.into_iter().map(Change::Ipvs));
    plan.unmanaged.extend(ipvs.unmanaged);
    plan
}

/// Pairs the fields of two objects by name, keeping the ones that differ. A field missing on
/// one side (e.g. an optional setting) shows as absent there.
pub fn changed_fields(
    before: &[(&'static str, String)],
    after: &[(&'static str, String)],
) -> Vec<FieldChange> {
    let mut names: Vec<&'static str> = before.iter().map(|(n, _)| *n).collect();
    for (name, _) in after {
        if !names.contains(name) {
            names.push(name);
        }
    }
    let lookup = |fields: &[(&'static str, String)], name: &str| {
        fields
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.clone())
    };
    names
        .into_iter()
        .filter_map(|name| {
            let (old, new) = (lookup(before, name), lookup(after, name));
            (old != new).then(|| FieldChange {
                name: name.to_string(),
                before: old,
                after: new,
            })
        })
        .collect()
}

/// Every field of one object, shown on one side only (creates and deletes).
pub fn all_fields(fields: Vec<(&'static str, String)>, side: Action) -> Vec<FieldChange> {
    fields
        .into_iter()
        .map(|(name, value)| FieldChange {
            name: name.to_string(),
            before: (side == Action::Delete).then(|| value.clone()),
            after: (side != Action::Delete).then_some(value),
        })
        .collect()
}
