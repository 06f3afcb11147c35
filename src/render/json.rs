//! Machine-readable plans. `format_version` is MAJOR.MINOR: the major number changes only
//! when a consumer would have to (a field removed or its meaning changed), the minor one
//! when fields are added (1.1: `drift`), so consumers check the major number and may read
//! newer minors.

use serde::Serialize;

use crate::lint::Finding;
use crate::plan::ipvs::Draining;
use crate::plan::{Action, Drift, Plan, Summary, Unmanaged};

pub const FORMAT_VERSION: &str = "1.1";

#[derive(Serialize)]
struct JsonPlan<'a> {
    format_version: &'static str,
    /// True when the host differs from the spec (changes to make, or real servers draining).
    changes: bool,
    summary: Summary,
    /// Counts per subsystem, every subsystem always present: for alerting without parsing
    /// the changes.
    drift: Drift,
    resource_changes: Vec<JsonChange>,
    unmanaged: &'a [Unmanaged],
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    draining: &'a [Draining],
    /// Errors and warnings of `lvs-converge check` for this host (absent: none).
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    findings: &'a [Finding],
}

#[derive(Serialize)]
struct JsonChange {
    order: usize,
    subsystem: &'static str,
    kind: &'static str,
    id: String,
    action: Action,
    before: Option<serde_json::Value>,
    after: Option<serde_json::Value>,
    /// Set when a role or another declaration implied this object (absent: the spec names it).
    #[serde(skip_serializing_if = "Option::is_none")]
    origin: Option<String>,
    /// Files: the unified diff from the host's file to the rendered one.
    #[serde(skip_serializing_if = "Option::is_none")]
    diff: Option<String>,
}

pub fn render_plan(plan: &Plan, findings: &[Finding]) -> String {
    to_text(&plan_document(plan, findings))
}

/// An apply's result: the plan that was carried out, and that it was verified.
pub fn render_apply(plan: &Plan) -> String {
    #[derive(Serialize)]
    struct JsonApply<'a> {
        #[serde(flatten)]
        plan: JsonPlan<'a>,
        applied: bool,
        verified: bool,
    }
    to_text(&JsonApply { plan: plan_document(plan, &[]), applied: !plan.is_empty(), verified: true })
}

fn to_text<T: Serialize>(document: &T) -> String {
    let mut text = serde_json::to_string_pretty(document).expect("plan serializes");
    text.push('\n');
    text
}

fn plan_document<'a>(plan: &'a Plan, findings: &'a [Finding]) -> JsonPlan<'a> {
    JsonPlan {
        format_version: FORMAT_VERSION,
        changes: !plan.converged(),
        summary: plan.summary(),
        drift: plan.drift(),
        resource_changes: plan
            .changes
            .iter()
            .enumerate()
            .map(|(index, planned)| {
                let view = planned.change.view();
                JsonChange {
                    order: index + 1,
                    subsystem: view.subsystem,
                    kind: view.kind,
                    id: view.id,
                    action: view.action,
                    before: view.before,
                    after: view.after,
                    origin: planned.origin.clone(),
                    diff: planned.change.detail(),
                }
            })
            .collect(),
        unmanaged: &plan.unmanaged,
        draining: &plan.draining,
        findings,
    }
}
