//! `status`: what the agent found about each checked real server, and since when.

use std::fmt::Write;

use serde::Serialize;

use super::health::{age, outcome_text, status_word};
use super::text::Style;
use super::Format;
use crate::model::health::{HealthRecord, HealthRecords, HealthStatus};
use crate::model::ipvs::{DestinationKey, ServiceKey};
use crate::observe::health::FoundRecords;
use crate::plan::health::{HealthHold, HoldEffect};

/// What `status` reports on: the records found, the holds they make of the spec (when one
/// was given), the checked real servers of that spec the agent has no record of, and the
/// time to count ages from (Unix seconds).
pub struct StatusInput<'a> {
    pub found: &'a FoundRecords,
    pub holds: &'a [HealthHold],
    pub unjudged: &'a [(ServiceKey, DestinationKey)],
    pub now: u64,
    /// The records are current but the process that wrote them is gone (a stopped or
    /// crashed agent): they still hold weights until they expire.
    pub agent_exited: bool,
}

pub fn status(input: &StatusInput, format: Format, style: Style) -> String {
    match format {
        Format::Text => text(input, style),
        Format::Json => json(input),
    }
}

fn hold_of<'a>(holds: &'a [HealthHold], service: &ServiceKey, destination: &DestinationKey) -> Option<&'a HealthHold> {
    holds.iter().find(|h| h.service == *service && h.destination == *destination)
}

fn held_text(hold: &HealthHold) -> String {
    match hold.effect {
        HoldEffect::Drained => "held drained (weight 0)".into(),
        HoldEffect::Removed => "held out of the service (onFailure: remove)".into(),
        HoldEffect::Weight(weight) => format!("held at weight {weight} (from its check)"),
        HoldEffect::SorryServerAdded => "sorry server added".into(),
    }
}

fn text(input: &StatusInput, style: Style) -> String {
    let now = input.now;
    let mut out = String::new();
    let records = match input.found {
        FoundRecords::Absent => {
            out.push_str(&style.bold("No agent is running in this namespace:"));
            out.push_str(" no health records, so nothing is held (`lvs-converge agent -f SPEC` runs the checks).\n");
            return out;
        }
        FoundRecords::Expired(records) => {
            out.push_str(&style.bold("No agent is running in this namespace:"));
            let _ = writeln!(
                out,
                " the health records of pid {} expired{} ago, so nothing is held.",
                records.agent_pid,
                age(Some(records.valid_until), now).trim_start_matches(" for")
            );
            return out;
        }
        FoundRecords::Current(records) => records,
    };
    let _ = writeln!(
        out,
        "{} pid {}, records updated{} ago.",
        style.bold("Health checks by the agent:"),
        records.agent_pid,
        age(Some(records.updated_at), now).trim_start_matches(" for")
    );
    if input.agent_exited {
        let _ = writeln!(
            out,
            "  {} pid {} is no longer running: plan and apply keep these verdicts for{} more, until the records expire (start the agent again to judge anew).",
            style.bold("The agent has exited:"),
            records.agent_pid,
            age(Some(now), records.valid_until).trim_start_matches(" for")
        );
    }
    for record in &records.servers {
        let _ = writeln!(
            out,
            "  {}",
            record_line(record, hold_of(input.holds, &record.service, &record.destination), now, style)
        );
    }
    for (service, destination) in input.unjudged {
        let _ = writeln!(out, "  {destination} of {service}: no verdict yet (the agent has not checked it)");
    }
    for hold in input.holds.iter().filter(|h| h.effect == HoldEffect::SorryServerAdded) {
        let _ = writeln!(out, "  {}", super::health::hold_line(hold, now));
    }
    let unhealthy = unhealthy_count(records);
    if unhealthy > 0 {
        let _ = writeln!(out, "{} {unhealthy} real server(s) unhealthy.", style.bold("Status:"));
    } else {
        let _ = writeln!(out, "{} every checked real server is healthy or starting.", style.bold("Status:"));
    }
    out
}

fn record_line(record: &HealthRecord, hold: Option<&HealthHold>, now: u64, style: Style) -> String {
    let status = status_word(record.status);
    let status = match record.status {
        HealthStatus::Healthy => style.paint("32", status),
        HealthStatus::Unhealthy => style.paint("31", status),
        HealthStatus::Starting => style.paint("33", status),
    };
    let mut line = format!("{} of {}: {status}{}", record.destination, record.service, age(Some(record.since), now));
    if let Some(outcome) = &record.last_outcome {
        let _ = write!(line, "; last check");
        if let Some(checked) = record.last_check {
            let _ = write!(line, "{} ago", age(Some(checked), now).trim_start_matches(" for"));
        }
        let _ = write!(line, ": {}", outcome_text(outcome));
        if let Some(latency) = record.latency_ms {
            let _ = write!(line, " in {latency} ms");
        }
    }
    match (hold, record.weight) {
        (Some(hold), _) => {
            let _ = write!(line, "; {}", held_text(hold));
        }
        (None, Some(weight)) => {
            let _ = write!(line, "; weight {weight} from its check");
        }
        (None, None) => {}
    }
    line
}

/// Real servers the records call unhealthy: what makes `status` exit 2.
pub fn unhealthy_count(records: &HealthRecords) -> usize {
    records.servers.iter().filter(|r| r.status == HealthStatus::Unhealthy).count()
}

#[derive(Serialize)]
struct JsonStatus {
    format_version: &'static str,
    /// Whether an agent's records are current in this namespace and its process runs.
    agent_running: bool,
    /// Current records whose agent process is gone: they hold weights until `valid_until`.
    agent_exited: bool,
    /// The agent that wrote the records (also when they expired); null without records.
    agent: Option<JsonAgent>,
    real_servers: Vec<JsonRealServer>,
    /// Holds of a spec's quorum: sorry servers added.
    sorry_servers: Vec<super::health::JsonHold>,
    unhealthy: usize,
}

#[derive(Serialize)]
struct JsonAgent {
    pid: u32,
    updated_at: u64,
    valid_until: u64,
}

#[derive(Serialize)]
struct JsonRealServer {
    service: String,
    real_server: String,
    /// healthy, unhealthy or starting.
    health: &'static str,
    /// Unix seconds; null for a real server of the spec the agent has no record of.
    since: Option<u64>,
    last_check: Option<u64>,
    last_outcome: Option<String>,
    latency_ms: Option<u32>,
    /// The weight an exec check asked for.
    weight: Option<u32>,
    /// What the spec's real server is held at (`-f SPEC`): drained, removed or weight.
    held: Option<&'static str>,
}

fn json(input: &StatusInput) -> String {
    let (running, records) = match input.found {
        FoundRecords::Absent => (false, None),
        FoundRecords::Expired(records) => (false, Some(records)),
        FoundRecords::Current(records) => (true, Some(records)),
    };
    let mut real_servers: Vec<JsonRealServer> = Vec::new();
    if running {
        for record in records.iter().flat_map(|r| &r.servers) {
            let hold = hold_of(input.holds, &record.service, &record.destination);
            real_servers.push(JsonRealServer {
                service: record.service.to_string(),
                real_server: record.destination.to_string(),
                health: status_word(record.status),
                since: Some(record.since),
                last_check: record.last_check,
                last_outcome: record.last_outcome.as_ref().map(outcome_text),
                latency_ms: record.latency_ms,
                weight: record.weight,
                held: hold.map(|h| match h.effect {
                    HoldEffect::Drained => "drained",
                    HoldEffect::Removed => "removed",
                    HoldEffect::Weight(_) => "weight",
                    HoldEffect::SorryServerAdded => "sorry_server_added",
                }),
            });
        }
        for (service, destination) in input.unjudged {
            real_servers.push(JsonRealServer {
                service: service.to_string(),
                real_server: destination.to_string(),
                health: status_word(HealthStatus::Starting),
                since: None,
                last_check: None,
                last_outcome: None,
                latency_ms: None,
                weight: None,
                held: hold_of(input.holds, service, destination).map(|_| "drained"),
            });
        }
    }
    let document = JsonStatus {
        format_version: super::json::FORMAT_VERSION,
        agent_running: running && !input.agent_exited,
        agent_exited: running && input.agent_exited,
        agent: records.map(|r| JsonAgent { pid: r.agent_pid, updated_at: r.updated_at, valid_until: r.valid_until }),
        real_servers,
        sorry_servers: input
            .holds
            .iter()
            .filter(|h| h.effect == HoldEffect::SorryServerAdded)
            .map(super::health::json_hold)
            .collect(),
        unhealthy: if running { records.map_or(0, unhealthy_count) } else { 0 },
    };
    serde_json::to_string_pretty(&document).expect("status serializes") + "\n"
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(agent_exited: bool, format: Format) -> String {
        let records = HealthRecords { agent_pid: 4242, updated_at: 1_000, valid_until: 1_100, servers: vec![] };
        let found = FoundRecords::Current(records);
        let input = StatusInput { found: &found, holds: &[], unjudged: &[], now: 1_010, agent_exited };
        status(&input, format, Style { color: false })
    }

    /// Records outlive a stopped agent on purpose (a restart must not flap weights), so
    /// status must not call a dead agent running while its verdicts still hold.
    #[test]
    fn an_exited_agent_whose_records_still_hold_is_named_as_exited() {
        let text = report(true, Format::Text);
        assert!(text.contains("The agent has exited: pid 4242 is no longer running"), "{text}");
        assert!(text.contains("for 1m30s more"), "{text}");
        assert!(!report(false, Format::Text).contains("exited"));
        let json: serde_json::Value = serde_json::from_str(&report(true, Format::Json)).expect("json");
        assert_eq!((json["agent_running"].as_bool(), json["agent_exited"].as_bool()), (Some(false), Some(true)));
        let json: serde_json::Value = serde_json::from_str(&report(false, Format::Json)).expect("json");
        assert_eq!((json["agent_running"].as_bool(), json["agent_exited"].as_bool()), (Some(true), Some(false)));
    }
}
