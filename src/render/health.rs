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
            format!("sorry server {who}: added{}, too few real servers healthy (quorum)", age(hold.since, now))
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

#[cfg(test)]
mod tests {
    use crate::model::health::HealthStatus;
    use crate::plan::health::{HealthHold, HoldEffect};
    use crate::plan::Plan;
    use crate::render::text::Style;

    const PLAIN: Style = Style { color: false };

    fn hold(destination: &str, status: HealthStatus, since: Option<u64>, effect: HoldEffect) -> HealthHold {
        HealthHold {
            service: serde_json::from_str(r#"{"protocol":"tcp","address":"203.0.113.100","port":80}"#).unwrap(),
            destination: serde_json::from_str(&format!(r#"{{"address":"{destination}","port":80}}"#)).unwrap(),
            status,
            since,
            effect,
        }
    }

    fn held_plan() -> Plan {
        Plan {
            observed_at: 1_000,
            health_holds: vec![
                hold("198.51.100.21", HealthStatus::Unhealthy, Some(700), HoldEffect::Drained),
                hold("198.51.100.22", HealthStatus::Healthy, Some(10), HoldEffect::Weight(7)),
                hold("198.51.100.23", HealthStatus::Starting, None, HoldEffect::Drained),
                hold("198.51.100.24", HealthStatus::Unhealthy, Some(940), HoldEffect::Removed),
                hold("192.0.2.50", HealthStatus::Unhealthy, Some(940), HoldEffect::SorryServerAdded),
            ],
            ..Plan::default()
        }
    }

    #[test]
    fn a_plan_lists_its_holds_after_the_changes_and_they_are_not_changes() {
        let text = crate::render::text::render_plan(&held_plan(), None, PLAIN);
        assert_eq!(
            text,
            "No changes. The host matches the spec, as its health checks hold it.\n\
             \n\
             Held by health checks (the agent's verdicts, not changes):\n    \
             real server 198.51.100.21:80 of tcp 203.0.113.100:80: unhealthy for 5m, drained (weight 0)\n    \
             real server 198.51.100.22:80 of tcp 203.0.113.100:80: healthy for 16m30s, weight 7 from its check\n    \
             real server 198.51.100.23:80 of tcp 203.0.113.100:80: no verdict yet, drained until healthy (startDrained)\n    \
             real server 198.51.100.24:80 of tcp 203.0.113.100:80: unhealthy for 1m, removed (onFailure: remove)\n    \
             sorry server 192.0.2.50:80 of tcp 203.0.113.100:80: added for 1m, too few real servers healthy (quorum)\n\
             \n\
             Plan: 0 to create, 0 to update, 0 to delete.\n"
        );
        let applied = crate::render::text::render_apply(&held_plan(), None, PLAIN);
        assert!(applied.contains("nothing was changed.\n\nHeld by health checks"), "{applied}");
        let plain = crate::render::text::render_plan(&Plan::default(), None, PLAIN);
        assert!(!plain.contains("Held") && plain.starts_with("No changes. The host matches the spec.\n"), "{plain}");
    }

    #[test]
    fn plan_json_lists_each_hold_with_its_effect_and_weight() {
        let json: serde_json::Value =
            serde_json::from_str(&crate::render::json::render_plan(&held_plan(), None, &[])).unwrap();
        assert_eq!(json["changes"], false, "holds alone are no changes");
        assert_eq!(
            json["health_holds"][0],
            serde_json::json!({"service": "tcp 203.0.113.100:80", "real_server": "198.51.100.21:80",
                "status": "unhealthy", "since": 700, "effect": "drained", "weight": 0})
        );
        let effects: Vec<_> = json["health_holds"].as_array().unwrap().iter().map(|h| h["effect"].clone()).collect();
        assert_eq!(effects, ["drained", "weight", "drained", "removed", "sorry_server_added"]);
        assert_eq!(json["health_holds"][1]["weight"], 7);
        assert_eq!(json["health_holds"][2]["since"], serde_json::Value::Null);
    }
}
