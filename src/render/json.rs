//! Machine-readable plans. `format_version` is MAJOR.MINOR: the major number changes only
//! when a consumer would have to (a field removed or its meaning changed), the minor one
//! when fields are added (1.1: `drift`; 1.2: the failure report of `apply`; 1.3: its
//! `operation` and `kernel_message`), so consumers check the major number and may read
//! newer minors.

use serde::Serialize;

use super::change::describe;
use crate::apply::{ApplyError, Outcome, Step, StepError};
use crate::lint::Finding;
use crate::plan::ipvs::Draining;
use crate::plan::{Action, Drift, Plan, Summary, Unmanaged};

pub const FORMAT_VERSION: &str = "1.3";

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

/// A change that failed, whose outcome is unknown, or whose undo failed.
#[derive(Serialize)]
struct JsonStepError {
    order: usize,
    subsystem: &'static str,
    kind: &'static str,
    id: String,
    action: Action,
    error: String,
    /// The kernel's errno (positive), when the kernel gave one.
    errno: Option<i32>,
    /// The request lvs-converge made when the kernel refused (`adding route …`), when the
    /// failing layer names it apart from `error`. Not `action`: that is the plan's verb.
    #[serde(skip_serializing_if = "Option::is_none")]
    operation: Option<String>,
    /// The kernel's own explanation (netlink extended ack), when it sent one.
    #[serde(skip_serializing_if = "Option::is_none")]
    kernel_message: Option<String>,
}

/// A failed or interrupted `apply`: how the host was left, computed from what the host
/// answered for every change. `None` for errors that come before or after the changes.
pub fn render_apply_failure(error: &ApplyError) -> Option<String> {
    #[derive(Serialize)]
    struct JsonFailure {
        format_version: &'static str,
        applied: bool,
        outcome: &'static str,
        interrupted: bool,
        message: String,
        failed: Vec<JsonStepError>,
        unknown: Vec<JsonStepError>,
        /// Changes that took effect and were not undone, shaped like `resource_changes`.
        stays: Vec<JsonChange>,
        rollback_failures: Vec<JsonStepError>,
    }
    let outcome = error.outcome()?;
    let failed = match error {
        ApplyError::Change { failed, .. } => failed.as_slice(),
        _ => &[],
    };
    let (name, unknown, rollback_failures) = match outcome {
        Outcome::Untouched => ("untouched", &[][..], &[][..]),
        Outcome::RolledBack { .. } => ("rolled_back", &[][..], &[][..]),
        Outcome::Partial { unknown, rollback_failures, .. } => ("partial", &unknown[..], &rollback_failures[..]),
    };
    let errors = |errors: &[StepError]| errors.iter().map(step_error).collect();
    Some(to_text(&JsonFailure {
        format_version: FORMAT_VERSION,
        applied: !outcome.stays().is_empty(),
        outcome: name,
        interrupted: matches!(error, ApplyError::Interrupted { .. }),
        message: super::apply_failure::apply_error(error),
        failed: errors(failed),
        unknown: errors(unknown),
        stays: outcome.stays().iter().map(|step| json_change(step.order, &step.change, None)).collect(),
        rollback_failures: errors(rollback_failures),
    }))
}

fn step_error(failed: &StepError) -> JsonStepError {
    let Step { order, change } = &failed.step;
    let view = describe(change);
    JsonStepError {
        order: *order,
        subsystem: view.subsystem.name(),
        kind: view.kind,
        id: view.id,
        action: view.action,
        error: failed.error.message.clone(),
        errno: failed.error.errno,
        operation: failed.error.action.clone(),
        kernel_message: failed.error.kernel_message.clone(),
    }
}

fn json_change(order: usize, change: &crate::plan::Change, origin: Option<String>) -> JsonChange {
    let view = describe(change);
    JsonChange {
        order,
        subsystem: view.subsystem.name(),
        kind: view.kind,
        id: view.id,
        action: view.action,
        before: view.before,
        after: view.after,
        origin,
        diff: super::change::detail(change),
    }
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
            .map(|(index, planned)| json_change(index + 1, &planned.change, planned.origin.clone()))
            .collect(),
        unmanaged: &plan.unmanaged,
        draining: &plan.draining,
        findings,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::apply::ChangeError;
    use crate::model::ipvs::Timeouts;
    use crate::plan::ipvs::IpvsChange;
    use crate::plan::Change;

    fn step(order: usize) -> Step {
        Step { order, change: Change::Ipvs(IpvsChange::SetTimeouts { before: None, after: Timeouts::KERNEL_DEFAULTS }) }
    }

    fn refused(order: usize, kernel_message: Option<&str>) -> StepError {
        let error = ChangeError {
            message: "setting IPVS timeouts: the kernel rejected the timeouts (EINVAL)".to_string(),
            errno: Some(22),
            action: Some("setting IPVS timeouts".to_string()),
            kernel_message: kernel_message.map(str::to_string),
        };
        StepError { step: step(order), error }
    }

    fn report(error: &ApplyError) -> serde_json::Value {
        serde_json::from_str(&render_apply_failure(error).expect("a failure document")).unwrap()
    }

    #[test]
    fn failure_entries_carry_the_operation_and_the_kernels_own_message() {
        let outcome = Outcome::Partial {
            stays: vec![step(1)],
            unknown: vec![refused(3, Some("lost"))],
            rollback_failures: vec![refused(1, Some("cannot undo"))],
        };
        let error = ApplyError::Change { total: 3, failed: vec![refused(2, Some("Invalid timeout"))], outcome };
        let json = report(&error);
        assert_eq!(json["format_version"], "1.3");
        for (list, kernel) in [("failed", "Invalid timeout"), ("unknown", "lost"), ("rollback_failures", "cannot undo")]
        {
            let entry = &json[list][0];
            assert_eq!(entry["kernel_message"], kernel, "{list}: {json}");
            assert_eq!(entry["operation"], "setting IPVS timeouts", "{list}: {json}");
            assert_eq!(entry["errno"], 22, "{list}: {json}");
            assert_eq!(entry["action"], "update", "{list}: the plan's verb stays: {json}");
        }
    }

    #[test]
    fn a_failure_without_kernel_words_has_no_such_fields() {
        let mut silent = refused(1, None);
        silent.error.action = None;
        let error = ApplyError::Change { total: 1, failed: vec![silent], outcome: Outcome::Untouched };
        let entry = &report(&error)["failed"][0];
        assert!(entry.get("kernel_message").is_none(), "{entry}");
        assert!(entry.get("operation").is_none(), "{entry}");
        assert_eq!(entry["errno"], 22);
    }
}
