//! Kernel modules: only ever loaded.

use super::ChangeView;
use crate::model::Subsystem;
use crate::plan::{Action, ModuleChange};

pub fn describe(change: &ModuleChange) -> ChangeView {
    let ModuleChange::Load { name } = change;
    ChangeView {
        subsystem: Subsystem::Modules,
        action: Action::Create,
        kind: "kernel module",
        id: name.clone(),
        fields: vec![],
        before: None,
        after: Some(serde_json::json!({ "loaded": true })),
    }
}
