//! The words for health: the holds a plan lists, and the verdicts `status` shows.

use serde::Serialize;

use crate::model::duration::Seconds;
use crate::model::health::{CheckOutcome, HealthStatus};
use crate::plan::health::{HealthHold, HoldEffect};

pub fn status_word(status: HealthStatus) -> &'static str {
    match status {
        HealthStatus::Healthy => "healthy",
        HealthStatus::Unhealthy => "unhealthy",
        HealthStatus::Starting => "starting",
    }
}

/// What a check's last run found: `connection refused`, `HTTP status 503`.
pub fn outcome_text(outcome: &CheckOutcome) -> String {
    match outcome {
        CheckOutcome::Passed => "passed".into(),
        CheckOutcome::Refused => "connection refused".into(),
        CheckOutcome::TimedOut => "timed out".into(),
        CheckOutcome::HttpStatus(code) => format!("HTTP status {code}"),
        CheckOutcome::BodyMismatch => "body did not match".into(),
        CheckOutcome::Exit(code) => format!("exit status {code}"),
        CheckOutcome::Signal(signal) => format!("killed by signal {signal}"),
        CheckOutcome::Failed(error) => format!("failed: {error}"),
    }
}

/// `for 5m3s` from `since` to `now` (Unix seconds); empty when either is unknown.
pub fn age(since: Option<u64>, now: u64) -> String {
    match since {
        Some(since) if now != 0 && since != 0 => {
            format!(" for {}", Seconds(u32::try_from(now.saturating_sub(since)).unwrap_or(u32::MAX)))
        }
        _ => String::new(),
    }
}

/// One line of a plan's "held by health checks" block, at `now` (the plan's read time).
pub fn hold_line(hold: &HealthHold, now: u64) -> String {
    let who = format!("{} of {}", hold.destination, hold.service);
    let verdict = || format!("{}{}", status_word(hold.status), age(hold.since, now));
    match hold.effect {
        HoldEffect::Drained if hold.since.is_none() => {
            format!("real server {who}: no verdict yet, drained until healthy (startDrained)")
        }
        HoldEffect::Drained if hold.status == HealthStatus::Starting => {
            format!("real server {who}: {}, drained until healthy (startDrained)", verdict())
        }
        HoldEffect::Drained => format!("real server {who}: {}, drained (weight 0)", verdict()),
        HoldEffect::Removed => format!("real server {who}: {}, removed (onFailure: remove)", verdict()),
        HoldEffect::Weight(weight) => format!("real server {who}: {}, weight {weight} from its check", verdict()),
        HoldEffect::SorryServerAdded => {
            format!("sorry server {who}: added, too few real servers healthy (quorum){}", age(hold.since, now))
        }
    }
}

/// A hold as `plan --format json` lists it in `health_holds`.
#[derive(Serialize)]
pub struct JsonHold {
    service: String,
    real_server: String,
    status: &'static str,
    /// Unix seconds; null when the agent has no record of it yet.
    since: Option<u64>,
    /// `drained`, `removed`, `weight` or `sorry_server_added`.
    effect: &'static str,
    /// The weight the hold gives it (absent when removed).
    weight: Option<u32>,
}

pub fn json_hold(hold: &HealthHold) -> JsonHold {
    let (effect, weight) = match hold.effect {
        HoldEffect::Drained => ("drained", Some(0)),
        HoldEffect::Removed => ("removed", None),
        HoldEffect::Weight(weight) => ("weight", Some(weight)),
        HoldEffect::SorryServerAdded => ("sorry_server_added", None),
    };
    JsonHold {
        service: hold.service.to_string(),
        real_server: hold.destination.to_string(),
        status: status_word(hold.status),
        since: hold.since,
        effect,
        weight,
    }
}
