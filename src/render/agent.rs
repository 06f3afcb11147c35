//! The agent's log: one line per event, as text for journald and people, or one JSON object
//! per line for log shippers; and its one-line systemd status. No timestamps in text (journald
//! stamps each line); JSON lines carry `time` (Unix seconds) for shippers reading a file.

use std::time::Duration;

use serde_json::{json, Map, Value};

use crate::agent::{AgentEvent, RunFailure, RunOutcome, RunReport, Trigger};
use crate::converge::StageDurations;

use super::health::{outcome_text, status_word};

/// One log line (no trailing newline).
pub fn log_line(event: &AgentEvent, format: super::Format, now: u64) -> String {
    match format {
        super::Format::Text => text(event),
        super::Format::Json => {
            let mut object = Map::new();
            object.insert("time".into(), now.into());
            if let Value::Object(fields) = fields(event) {
                object.extend(fields);
            }
            Value::Object(object).to_string()
        }
    }
}

/// systemd's STATUS= after `event`, for the events that change what the agent is doing.
pub fn status(event: &AgentEvent) -> Option<String> {
    match event {
        AgentEvent::Run(report) => Some(match &report.outcome {
            RunOutcome::Converged { .. } => "converged: the host matches the spec".into(),
            RunOutcome::Repaired { changes, .. } => format!("converged: last run repaired {changes} change(s)"),
            RunOutcome::LockBusy { holder } => format!("last run skipped: apply pid {holder} held the lock"),
            RunOutcome::Failed(failure) => format!("last run failed: {}", first_line(&failure_text(failure))),
        }),
        AgentEvent::Stopping { signal } => Some(format!("stopping ({signal}); the IPVS table stays as it is")),
        _ => None,
    }
}

fn text(event: &AgentEvent) -> String {
    match event {
        AgentEvent::Started { spec, interval, checks } => format!(
            "agent started: spec {}, converge every {} (±10%), {checks} real server check(s)",
            spec.display(),
            seconds(*interval)
        ),
        AgentEvent::Run(report) => run_text(report),
        AgentEvent::Health(transition) => format!(
            "health: {} of {} is {} (was {}): the last check {} in {}",
            transition.destination,
            transition.service,
            status_word(transition.to),
            status_word(transition.from),
            outcome_text(&transition.outcome),
            took(transition.latency)
        ),
        AgentEvent::Reloaded { spec, checks } => {
            format!("reloaded {}: in force from now on, {checks} real server check(s)", spec.display())
        }
        AgentEvent::ReloadRefused { error } => {
            format!("reload refused, the spec in force stays: {}", one_line(&error.to_string()))
        }
        AgentEvent::Stopping { signal } => {
            format!("{signal}: stopping after the current step; the IPVS table and the health records stay as they are")
        }
        AgentEvent::RecordsUnwritten { dir, error } => format!(
            "cannot write the health records in {}: {error}; the agent's runs go by its verdicts, plan and apply by hand by the last records written (hint: check that {} is writable)",
            dir.display(),
            dir.display()
        ),
    }
}

fn run_text(report: &RunReport) -> String {
    let head = format!("converge run ({})", trigger(report.trigger));
    match &report.outcome {
        RunOutcome::Converged { stages } => {
            format!("{head}: converged, nothing to change ({}, {})", stage_text(stages), took(report.took))
        }
        RunOutcome::Repaired { changes, netlink_writes, stages } => format!(
            "{head}: drift repaired: {changes} change(s) made and verified, {netlink_writes} netlink write(s) ({}, {})",
            stage_text(stages),
            took(report.took)
        ),
        RunOutcome::LockBusy { holder } => format!(
            "{head}: skipped: another lvs-converge apply (pid {holder}) holds the lock; the next run comes in one interval"
        ),
        RunOutcome::Failed(failure) => {
            format!("{head}: failed: {}; the agent goes on", one_line(&failure_text(failure)))
        }
    }
}

fn fields(event: &AgentEvent) -> Value {
    match event {
        AgentEvent::Started { spec, interval, checks } => json!({
            "event": "started", "spec": spec, "interval_ms": millis(*interval), "checks": checks,
        }),
        AgentEvent::Run(report) => {
            let mut object = json!({
                "event": "converge",
                "trigger": trigger(report.trigger),
                "outcome": report.outcome.name(),
                "took_ms": millis(report.took),
            });
            let extra = match &report.outcome {
                RunOutcome::Converged { stages } => json!({ "changes": 0, "stages_ms": stage_json(stages) }),
                RunOutcome::Repaired { changes, netlink_writes, stages } => json!({
                    "changes": changes, "netlink_writes": netlink_writes, "stages_ms": stage_json(stages),
                }),
                RunOutcome::LockBusy { holder } => json!({ "lock_holder": holder }),
                RunOutcome::Failed(failure) => json!({ "error": failure_text(failure) }),
            };
            if let (Value::Object(object), Value::Object(extra)) = (&mut object, extra) {
                object.extend(extra);
            }
            object
        }
        AgentEvent::Health(transition) => json!({
            "event": "health",
            "service": transition.service.to_string(),
            "real_server": transition.destination.to_string(),
            "from": status_word(transition.from),
            "to": status_word(transition.to),
            "outcome": outcome_text(&transition.outcome),
            "latency_ms": millis(transition.latency),
        }),
        AgentEvent::Reloaded { spec, checks } => json!({ "event": "reloaded", "spec": spec, "checks": checks }),
        AgentEvent::ReloadRefused { error } => json!({ "event": "reload_refused", "error": error.to_string() }),
        AgentEvent::Stopping { signal } => json!({ "event": "stopping", "signal": signal }),
        AgentEvent::RecordsUnwritten { dir, error } => {
            json!({ "event": "records_unwritten", "dir": dir, "error": error.to_string() })
        }
    }
}

fn failure_text(failure: &RunFailure) -> String {
    match failure {
        RunFailure::Converge(error) => error.to_string(),
        RunFailure::Apply(error) => super::apply_failure::apply_error(error),
    }
}

fn trigger(trigger: Trigger) -> &'static str {
    match trigger {
        Trigger::Start => "start",
        Trigger::Interval => "interval",
        Trigger::Health => "health",
        Trigger::Reload => "reload",
    }
}

fn stage_text(stages: &StageDurations) -> String {
    format!("observe {}, plan {}, apply {}", took(stages.observe), took(stages.plan), took(stages.apply))
}

fn stage_json(stages: &StageDurations) -> Value {
    json!({ "observe": millis(stages.observe), "plan": millis(stages.plan), "apply": millis(stages.apply) })
}

fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

fn took(duration: Duration) -> String {
    format!("{} ms", millis(duration))
}

fn seconds(duration: Duration) -> String {
    match duration.subsec_millis() {
        0 => format!("{}s", duration.as_secs()),
        _ => format!("{}ms", millis(duration)),
    }
}

/// An error of several lines (a hint under it) as one log line.
fn one_line(text: &str) -> String {
    text.lines().map(str::trim).filter(|line| !line.is_empty()).collect::<Vec<_>>().join("; ")
}

fn first_line(text: &str) -> &str {
    text.lines().next().unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::render::Format;

    fn run(outcome: RunOutcome) -> AgentEvent {
        AgentEvent::Run(RunReport { trigger: Trigger::Interval, outcome, took: Duration::from_millis(42) })
    }

    #[test]
    fn each_event_is_one_line_in_text_and_in_json() {
        let stages = StageDurations { observe: Duration::from_millis(7), ..StageDurations::default() };
        let lock = crate::lock::LockError::Io { path: "/run/x".into(), source: std::io::Error::other("denied") };
        let events = [
            AgentEvent::Started { spec: "d.yaml".into(), interval: Duration::from_secs(30), checks: 2 },
            run(RunOutcome::Converged { stages }),
            run(RunOutcome::Repaired { changes: 3, netlink_writes: 4, stages }),
            run(RunOutcome::LockBusy { holder: "4242".into() }),
            run(RunOutcome::Failed(RunFailure::Converge(crate::converge::ConvergeError::Lock(lock)))),
            AgentEvent::Stopping { signal: "SIGTERM" },
        ];
        for event in &events {
            let text = log_line(event, Format::Text, 1);
            assert_eq!(text.lines().count(), 1, "{text}");
            let json: Value = serde_json::from_str(&log_line(event, Format::Json, 1700000000)).unwrap();
            assert_eq!(json["time"], 1700000000);
            assert!(json["event"].is_string(), "{json}");
        }
        assert_eq!(
            log_line(&events[2], Format::Text, 0),
            "converge run (interval): drift repaired: 3 change(s) made and verified, 4 netlink write(s) (observe 7 ms, plan 0 ms, apply 0 ms, 42 ms)"
        );
        let failed = log_line(&events[4], Format::Text, 0);
        assert!(
            failed.contains("failed: cannot use the apply lock /run/x: denied; hint: apply needs root"),
            "{failed}"
        );
        let busy: Value = serde_json::from_str(&log_line(&events[3], Format::Json, 0)).unwrap();
        assert_eq!((busy["outcome"].as_str(), busy["lock_holder"].as_str()), (Some("lock_busy"), Some("4242")));
        assert_eq!(status(&events[2]).as_deref(), Some("converged: last run repaired 3 change(s)"));
        assert_eq!(status(&events[0]), None);
        let unwritten =
            AgentEvent::RecordsUnwritten { dir: "/run/lvs-converge".into(), error: std::io::Error::other("read-only") };
        let text = log_line(&unwritten, Format::Text, 0);
        assert!(text.contains("cannot write the health records in /run/lvs-converge: read-only"), "{text}");
        let json: Value = serde_json::from_str(&log_line(&unwritten, Format::Json, 0)).unwrap();
        assert_eq!(json["dir"], "/run/lvs-converge");
    }
}
