//! Machine-readable plans. `format_version` is MAJOR.MINOR: the major number changes only
//! when a consumer would have to (a field removed or its meaning changed), the minor one
//! when fields are added (1.1: `drift`; 1.2: the failure report of `apply`; 1.3: its
//! `operation` and `kernel_message`; 1.4: `node`, lists always present, complete service and
//! real-server settings, the timeouts object's id `timeouts`, a setting change's
//! `after.setting`; 1.5: `first_converge`, the `fou` subsystem and its changes, an address's
//! `deprecated` and its in-place `update`, tunnel kinds beyond ipip; 1.6: apply's
//! `netlink_writes`; 1.7: `health_holds` and the health-check path kinds), so consumers check the
//! major number and may read newer minors.

use serde::Serialize;

use super::change::{describe, describe_parts, Parts};
use crate::apply::{ApplyError, Outcome, Step, StepError};
use crate::lint::Finding;
use crate::plan::ipvs::Draining;
use crate::plan::{Action, Drift, FirstConverge, Plan, Summary, Unmanaged};

pub const FORMAT_VERSION: &str = "1.7";

#[derive(Serialize)]
struct JsonPlan<'a> {
    format_version: &'static str,
    /// The Cluster node this host was taken to be (`--node`, or the node whose address it
    /// has); null for a Host spec.
    node: Option<&'a str>,
    /// True when the host differs from the spec (changes to make, or real servers draining).
    changes: bool,
    summary: Summary,
    /// Counts per subsystem, every subsystem always present: for alerting without parsing
    /// the changes.
    drift: Drift,
    resource_changes: Vec<JsonChange>,
    // Arrays are always present, empty when there is nothing in them: `jq '.findings[]'`
    // must not fail on a clean host.
    unmanaged: &'a [Unmanaged],
    draining: &'a [Draining],
    /// Cluster nodes to converge before this plan is applied: each must receive what a new or
    /// changed tunnel destination will send it.
    first_converge: &'a [FirstConverge],
    /// Errors and warnings of `lvs-converge check` for this host.
    findings: &'a [Finding],
    /// Real servers whose weight the agent's health checks hold: part of the desired state,
    /// never changes.
    health_holds: Vec<super::health::JsonHold>,
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

/// A plan for the Cluster `node` (None: a Host spec) with the findings of its checks.
pub fn render_plan(plan: &Plan, node: Option<&str>, findings: &[Finding]) -> String {
    to_text(&plan_document(plan, node, findings))
}

/// An apply's result: the plan that was carried out, that it was verified, and how many
/// change requests it sent over netlink.
pub fn render_apply(plan: &Plan, node: Option<&str>, netlink_writes: usize) -> String {
    #[derive(Serialize)]
    struct JsonApply<'a> {
        #[serde(flatten)]
        plan: JsonPlan<'a>,
        applied: bool,
        verified: bool,
        netlink_writes: usize,
    }
    to_text(&JsonApply {
        plan: plan_document(plan, node, &[]),
        applied: !plan.is_empty(),
        verified: true,
        netlink_writes,
    })
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
/// answered for every change, and the change requests it sent over netlink (rollback
/// included). `None` for errors that come before or after the changes.
pub fn render_apply_failure(error: &ApplyError, netlink_writes: usize) -> Option<String> {
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
        netlink_writes: usize,
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
        netlink_writes,
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
    let view = describe_parts(change, Parts::Json);
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

fn plan_document<'a>(plan: &'a Plan, node: Option<&'a str>, findings: &'a [Finding]) -> JsonPlan<'a> {
    JsonPlan {
        format_version: FORMAT_VERSION,
        node,
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
        first_converge: &plan.first_converge,
        findings,
        health_holds: plan.health_holds.iter().map(super::health::json_hold).collect(),
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
        serde_json::from_str(&render_apply_failure(error, 0).expect("a failure document")).unwrap()
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
        assert_eq!(json["format_version"], "1.7");
        for (list, kernel) in [("failed", "Invalid timeout"), ("unknown", "lost"), ("rollback_failures", "cannot undo")]
        {
            let entry = &json[list][0];
            assert_eq!(entry["kernel_message"], kernel, "{list}: {json}");
            assert_eq!(entry["operation"], "setting IPVS timeouts", "{list}: {json}");
            assert_eq!(entry["errno"], 22, "{list}: {json}");
            assert_eq!(entry["action"], "update", "{list}: the plan's verb stays: {json}");
        }
    }

    fn plan_of(changes: Vec<Change>) -> Plan {
        let changes = changes.into_iter().map(|change| crate::plan::Planned { change, origin: None }).collect();
        Plan { changes, ..Plan::default() }
    }

    fn plan_json(plan: &Plan, node: Option<&str>) -> serde_json::Value {
        serde_json::from_str(&render_plan(plan, node, &[])).unwrap()
    }

    #[test]
    fn every_list_is_present_when_empty_so_jq_can_iterate_it() {
        let plan = plan_json(&Plan::default(), None);
        let apply: serde_json::Value = serde_json::from_str(&render_apply(&Plan::default(), None, 0)).unwrap();
        for (document, lists) in [
            (plan, &["resource_changes", "unmanaged", "draining", "first_converge", "findings"][..]),
            (apply, &["resource_changes", "unmanaged", "draining", "first_converge", "findings"]),
            (serde_json::from_str(&super::super::findings::check_json(&[], None)).unwrap(), &["findings"]),
        ] {
            for list in lists {
                assert_eq!(document[list], serde_json::json!([]), "{list}: {document}");
            }
            assert!(document.get("node").is_some_and(serde_json::Value::is_null), "a Host spec: {document}");
        }
    }

    #[test]
    fn the_cluster_node_is_named() {
        assert_eq!(plan_json(&Plan::default(), Some("web1"))["node"], "web1");
        let apply: serde_json::Value = serde_json::from_str(&render_apply(&Plan::default(), Some("web1"), 0)).unwrap();
        assert_eq!(apply["node"], "web1");
        let check: serde_json::Value =
            serde_json::from_str(&super::super::findings::check_json(&[], Some("web1"))).unwrap();
        assert_eq!(check["node"], "web1");
    }

    #[test]
    fn services_and_real_servers_show_every_setting_defaults_included() {
        use crate::model::ipvs::{
            Destination, ForwardingMethod, Protocol, Scheduler, ServiceKey, ServiceSettings, TunnelEncapsulation,
            TunnelType,
        };
        let service =
            ServiceKey::Address { protocol: Protocol::Tcp, address: "203.0.113.100".parse().unwrap(), port: 80 };
        let settings = ServiceSettings {
            scheduler: Scheduler::Wlc,
            scheduler_flags: vec![],
            persistence: None,
            one_packet: false,
        };
        let real_server = |method, tunnel| Destination {
            address: "192.0.2.11".parse().unwrap(),
            port: 80,
            method,
            weight: 1,
            upper_threshold: 0,
            lower_threshold: 0,
            tunnel,
        };
        let gue = TunnelEncapsulation { kind: TunnelType::Gue, port: 6080, flags: 2 };
        let plan = plan_of(vec![
            step(1).change,
            Change::Ipvs(IpvsChange::CreateService { service, after: settings.clone() }),
            Change::Ipvs(IpvsChange::UpdateService {
                service,
                before: settings.clone(),
                after: ServiceSettings { scheduler: Scheduler::Rr, ..settings },
            }),
            Change::Ipvs(IpvsChange::CreateDestination {
                service,
                after: real_server(ForwardingMethod::Tunnel, TunnelEncapsulation::default()),
            }),
            Change::Ipvs(IpvsChange::CreateDestination { service, after: real_server(ForwardingMethod::Tunnel, gue) }),
            Change::Ipvs(IpvsChange::CreateDestination {
                service,
                after: real_server(ForwardingMethod::Dr, TunnelEncapsulation::default()),
            }),
        ]);
        let changes = &plan_json(&plan, None)["resource_changes"];
        assert_eq!(changes[0]["id"], "timeouts", "{changes}");
        let service_after = serde_json::json!({
            "protocol": "tcp", "address": "203.0.113.100", "port": 80,
            "scheduler": "wlc", "schedulerFlags": [], "persistence": null, "onePacket": false
        });
        assert_eq!(changes[1]["after"], service_after);
        assert_eq!(changes[2]["before"], service_after);
        assert_eq!(changes[2]["after"]["scheduler"], "rr");
        assert_eq!(changes[2]["after"]["onePacket"], false, "{}", changes[2]);
        let real_server_after = |tunnel: serde_json::Value| {
            serde_json::json!({
                "address": "192.0.2.11", "port": 80, "method": tunnel.get("type").map_or("dr", |_| "tunnel"),
                "weight": 1, "upperThreshold": 0, "lowerThreshold": 0, "tunnel": tunnel
            })
        };
        assert_eq!(
            changes[3]["after"],
            real_server_after(serde_json::json!({"type": "ipip", "port": 0, "flags": 0, "checksum": "none"}))
        );
        assert_eq!(
            changes[4]["after"],
            real_server_after(serde_json::json!({"type": "gue", "port": 6080, "flags": 2, "checksum": "remcsum"}))
        );
        assert_eq!(changes[5]["after"], real_server_after(serde_json::Value::Null));
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
