//! What `plan` prints: the plan, then the checks that found something to fix.

use super::text::Style;
use super::{findings, json, text, Format};
use crate::lint::Finding;
use crate::plan::Plan;

/// The plan and its findings (no notes: those are `check`'s), as text or JSON.
pub fn plan_report(plan: &Plan, found: &[Finding], format: Format, style: Style) -> String {
    match format {
        Format::Text if found.is_empty() => text::render_plan(plan, style),
        Format::Text => format!(
            "{}\nChecks ({}; `lvs-converge check` also shows notes):\n{}",
            text::render_plan(plan, style),
            findings::tally(found),
            findings::text(found, style)
        ),
        Format::Json => json::render_plan(plan, found),
    }
}
