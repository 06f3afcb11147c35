//! What `plan` prints: the plan, then the checks that found something to fix.

use super::text::Style;
use super::{findings, json, text, Format};
use crate::lint::Finding;
use crate::plan::Plan;

/// The plan for the Cluster `node` (None: a Host spec) and its findings (no notes: those
/// are `check`'s), as text or JSON.
pub fn plan_report(plan: &Plan, node: Option<&str>, found: &[Finding], format: Format, style: Style) -> String {
    match format {
        Format::Text if found.is_empty() => text::render_plan(plan, node, style),
        Format::Text => format!(
            "{}\nChecks ({}; `lvs-converge check` also shows notes):\n{}",
            text::render_plan(plan, node, style),
            findings::tally(found),
            findings::text(found, style)
        ),
        Format::Json => json::render_plan(plan, node, found),
    }
}
