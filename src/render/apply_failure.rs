//! A failed apply's words: which changes failed and why, and how the host was left.

use crate::apply::{ApplyError, Outcome, Step, StepError};
use crate::plan::Plan;

use super::change::{action_word, object};
use super::saved;

/// The whole error, as stderr shows it after `error: `.
pub fn apply_error(error: &ApplyError) -> String {
    match error {
        ApplyError::Observe(error) => error.to_string(),
        ApplyError::Change { total, failed, outcome } => describe_failure(*total, failed, outcome),
        ApplyError::Interrupted { sent, total, outcome } => format!(
            "apply was interrupted after {sent} of {total} change(s) were attempted\n  {}",
            self::outcome(outcome)
        ),
        ApplyError::Residual { residual } => format!(
            "apply finished but the host still differs from the spec in {} place(s):\n{}\n  hint: something else may be changing this host (another tool, a daemon); compare `lvs-converge plan`",
            residual.changes.len(),
            describe_residual(residual)
        ),
        ApplyError::Stale(stale) => saved::stale(stale),
        ApplyError::DrainRecords(reason) => format!(
            "the changes were applied, but recording which real servers drain failed: {reason}\n  hint: a later apply restarts their drain clock; check that /run is writable"
        ),
        ApplyError::AfterChanges { cause, outcome } => {
            format!("{}\n  {}", apply_error(cause), self::outcome(outcome))
        }
    }
}

/// `update ipvs real server …`: how messages name a step.
pub fn step(step: &Step) -> String {
    format!("{} {}", action_word(step.change.action()), object(&step.change))
}

/// What the host holds after a failed or interrupted apply, and what to do next.
pub fn outcome(outcome: &Outcome) -> String {
    match outcome {
        Outcome::Untouched => "nothing was changed; fix the cause and run apply again".into(),
        Outcome::RolledBack { kept } if kept.is_empty() => {
            "the changes that took effect were rolled back: the host is as it was".into()
        }
        Outcome::RolledBack { kept } => format!(
            "the changes that took effect were rolled back; these cannot be undone and stay:{}",
            list_steps(kept)
        ),
        Outcome::Partial { stays, unknown, rollback_failures } => {
            let mut text = if stays.is_empty() {
                "no change is known to stay applied".to_string()
            } else {
                format!("these {} change(s) were applied and stay:{}", stays.len(), list_steps(stays))
            };
            if !unknown.is_empty() {
                text.push_str(&format!(
                    "\n  whether these {} change(s) took effect is unknown (compare `lvs-converge plan`):{}",
                    unknown.len(),
                    list_errors(unknown)
                ));
            }
            if !rollback_failures.is_empty() {
                text.push_str(&format!(
                    "\n  rollback failed for {} change(s):{}",
                    rollback_failures.len(),
                    list_errors(rollback_failures)
                ));
            }
            text.push_str("\n  fix the cause and run apply again to finish");
            text
        }
    }
}

fn list_steps(steps: &[Step]) -> String {
    steps.iter().map(|one| format!("\n    #{} {}", one.order, step(one))).collect()
}

fn list_errors(errors: &[StepError]) -> String {
    errors
        .iter()
        .map(|failed| format!("\n    #{} {}: {}", failed.step.order, step(&failed.step), failed.error.message))
        .collect()
}

/// `change 3 of 5 failed: update …` for every refused change, then what the host holds.
fn describe_failure(total: usize, failed: &[StepError], outcome: &Outcome) -> String {
    let mut text: String = failed
        .iter()
        .map(|failed| {
            format!(
                "change {} of {total} failed: {}\n  cause: {}\n  ",
                failed.step.order,
                step(&failed.step),
                failed.error.message
            )
        })
        .collect();
    if failed.is_empty() {
        text.push_str("the host's answers to some changes were lost\n  ");
    }
    text.push_str(&self::outcome(outcome));
    text
}

/// One line a change, its action as Rust names it (`Update`): the residual list has always
/// read so.
fn describe_residual(plan: &Plan) -> String {
    plan.changes
        .iter()
        .map(|planned| format!("    {:?} {}", planned.change.action(), object(&planned.change)))
        .collect::<Vec<_>>()
        .join("\n")
}
