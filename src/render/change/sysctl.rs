//! Sysctls: one value each.

use super::{ChangeView, FieldChange};
use crate::model::Subsystem;
use crate::plan::{Action, SysctlChange};

pub fn describe(change: &SysctlChange) -> ChangeView {
    let SysctlChange::Set { key, before, after } = change;
    ChangeView {
        subsystem: Subsystem::Sysctl,
        action: Action::Update,
        kind: "sysctl",
        id: key.clone(),
        fields: vec![FieldChange {
            name: "value".into(),
            before: Some(before.clone().unwrap_or_else(|| "(not present yet)".into())),
            after: Some(after.clone()),
        }],
        before: before.as_ref().map(|v| serde_json::Value::String(v.clone())),
        after: Some(serde_json::Value::String(after.clone())),
    }
}
