//! The human plan, in the style of `terraform plan`: `+` create, `~` update with
//! `old → new` per field, `-` delete, then a summary line.

use std::fmt::Write;

use super::change::{self, FieldChange};
use crate::model::ipvs::Family;
use crate::plan::unmanaged;
use crate::plan::{Action, Change, LinkChange, Plan};

/// ANSI colours, or none.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Style {
    pub color: bool,
}

impl Style {
    pub(crate) fn paint(&self, code: &str, text: &str) -> String {
        if self.color {
            format!("\x1b[{code}m{text}\x1b[0m")
        } else {
            text.to_string()
        }
    }

    fn action(&self, action: Action, text: &str) -> String {
        let code = match action {
            Action::Create => "32",
            Action::Update => "33",
            Action::Delete => "31",
        };
        self.paint(code, text)
    }

    pub fn bold(&self, text: &str) -> String {
        self.paint("1", text)
    }
}

fn symbol(action: Action) -> &'static str {
    match action {
        Action::Create => "+",
        Action::Update => "~",
        Action::Delete => "-",
    }
}

fn verb(change: &Change) -> String {
    match (change, change.action()) {
        (Change::Module(_), Action::Create) => "loaded".into(),
        // Its module makes a fallback device; lvs-converge only configures it.
        (Change::Link(LinkChange::Create { after }), Action::Create) if after.is_fallback_tunnel() => {
            format!("configured once the {} module loads", after.kind.module().unwrap_or("tunnel"))
        }
        (_, Action::Create) => "created".into(),
        (_, Action::Update) => "updated in place".into(),
        (_, Action::Delete) => "deleted".into(),
    }
}

/// `Cluster node: NAME`, the first line of every report about one node of a Cluster spec:
/// which part of the spec was applied to this host is not obvious when the host found it by
/// its address. Empty for a Host spec.
pub fn node_line(node: Option<&str>, style: Style) -> String {
    node.map(|name| format!("{} {name}\n", style.bold("Cluster node:"))).unwrap_or_default()
}

/// The whole plan for the Cluster `node` (None: a Host spec) as text. Ends with a newline.
pub fn render_plan(plan: &Plan, node: Option<&str>, style: Style) -> String {
    let mut out = node_line(node, style);
    for first in &plan.first_converge {
        let _ = writeln!(
            out,
            "{} it must receive {}{} before this director sends it.",
            style.bold(&format!("Converge node {} first:", first.node)),
            first.receives,
            if first.inner == Family::Ipv6 { " (IPv6 inside)" } else { "" }
        );
    }
    if !plan.first_converge.is_empty() {
        out.push('\n');
    }
    if plan.converged() && !plan.health_holds.is_empty() {
        out.push_str(&style.bold("No changes."));
        out.push_str(" The host matches the spec, as its health checks hold it.\n");
    } else if plan.converged() {
        out.push_str(&style.bold("No changes."));
        out.push_str(" The host matches the spec.\n");
    } else if plan.is_empty() {
        out.push_str(&style.bold("No changes to make now."));
        out.push('\n');
    } else {
        out.push_str("lvs-converge will make these changes, in this order:\n");
        for (index, planned) in plan.changes.iter().enumerate() {
            let view = change::describe_parts(&planned.change, change::Parts::Text);
            let _ = writeln!(
                out,
                "\n  {} {}",
                style.action(view.action, &format!("{}. {}", index + 1, symbol(view.action))),
                style.bold(&view.object())
            );
            match &planned.origin {
                Some(origin) => {
                    let _ = writeln!(out, "      # will be {} (from {origin})", verb(&planned.change));
                }
                None => {
                    let _ = writeln!(out, "      # will be {}", verb(&planned.change));
                }
            }
            let width = view.fields.iter().map(|f| f.name.len()).max().unwrap_or(0);
            for field in &view.fields {
                let _ = writeln!(out, "      {:width$}  {}", field.name, field_text(field, view.action, style));
            }
            if let Some(detail) = change::detail(&planned.change) {
                for line in detail.lines() {
                    let _ = writeln!(out, "      {}", detail_line(line, style));
                }
            }
        }
    }
    out.push_str(&holds_block(plan));
    if !plan.draining.is_empty() {
        let _ = writeln!(out, "\nDraining (no new connections; deleted by a later apply, or now with apply --wait):");
        for draining in &plan.draining {
            let _ = writeln!(out, "    {}", change::describe_draining(draining, plan.observed_at));
        }
    }
    if !plan.unmanaged.is_empty() {
        let _ = writeln!(out, "\nNot managed by this spec (left alone):");
        for item in &plan.unmanaged {
            let _ = writeln!(out, "    {} {}", unmanaged::kind(item), unmanaged::id(item));
        }
    }
    let summary = plan.summary();
    let _ = writeln!(
        out,
        "\n{} {} to create, {} to update, {} to delete.",
        style.bold("Plan:"),
        summary.create,
        summary.update,
        summary.delete
    );
    out
}

/// The real servers the agent's health verdicts hold, after a blank line; empty when none.
fn holds_block(plan: &Plan) -> String {
    let mut out = String::new();
    if !plan.health_holds.is_empty() {
        let _ = writeln!(out, "\nHeld by health checks (the agent's verdicts, not changes):");
        for hold in &plan.health_holds {
            let _ = writeln!(out, "    {}", super::health::hold_line(hold, plan.observed_at));
        }
    }
    out
}

/// A line of a unified diff, coloured like `git diff`.
fn detail_line(line: &str, style: Style) -> String {
    let code = if line.starts_with("+++") || line.starts_with("---") {
        "1"
    } else if line.starts_with('+') {
        "32"
    } else if line.starts_with('-') {
        "31"
    } else if line.starts_with("@@") {
        "36"
    } else {
        return line.to_string();
    };
    style.paint(code, line)
}

fn field_text(field: &FieldChange, action: Action, style: Style) -> String {
    let missing = "(unset)";
    match action {
        Action::Create => field.after.clone().unwrap_or_default(),
        Action::Delete => field.before.clone().unwrap_or_default(),
        // A note that only exists after the change (e.g. what happens next to a drained server).
        Action::Update if field.before.is_none() => field.after.clone().unwrap_or_default(),
        Action::Update => format!(
            "{} → {}",
            style.paint("31", field.before.as_deref().unwrap_or(missing)),
            style.paint("32", field.after.as_deref().unwrap_or(missing))
        ),
    }
}

/// After a successful apply: what was done, and that it was verified.
pub fn render_apply(plan: &Plan, node: Option<&str>, style: Style) -> String {
    if plan.converged() {
        return format!(
            "{}{} The host already matched the spec; nothing was changed.\n{}",
            node_line(node, style),
            style.bold("No changes."),
            holds_block(plan)
        );
    }
    let mut out = render_plan(plan, node, style);
    let summary = plan.summary();
    let _ = writeln!(
        out,
        "\n{} {} created, {} updated, {} deleted; host re-read and verified.",
        style.bold("Apply complete:"),
        summary.create,
        summary.update,
        summary.delete
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const PLAIN: Style = Style { color: false };

    #[test]
    fn a_cluster_nodes_reports_name_the_node_first() {
        let plan = Plan::default();
        assert_eq!(render_plan(&plan, Some("web1"), PLAIN).lines().next(), Some("Cluster node: web1"));
        assert_eq!(render_apply(&plan, Some("web1"), PLAIN).lines().next(), Some("Cluster node: web1"));
        let check = super::super::findings::check_text(&[], Some("web1"), PLAIN);
        assert_eq!(check.lines().next(), Some("Cluster node: web1"));
        assert!(!render_plan(&plan, None, PLAIN).contains("node"), "a Host spec has no node");
    }

    #[test]
    fn a_fallback_not_there_yet_is_configured_once_its_module_loads_not_created() {
        let planned = |yaml: &str| crate::plan::Planned {
            change: Change::Link(LinkChange::Create { after: serde_yaml::from_str(yaml).unwrap() }),
            origin: None,
        };
        let plan = Plan {
            changes: vec![
                planned("{ name: sit0, type: sit, up: true }"),
                planned("{ name: sit1, type: sit, up: true }"),
            ],
            ..Plan::default()
        };
        let text = render_plan(&plan, None, PLAIN);
        assert!(text.contains("sit tunnel sit0\n      # will be configured once the sit module loads\n"), "{text}");
        assert!(text.contains("sit tunnel sit1\n      # will be created\n"), "{text}");
    }

    #[test]
    fn a_plan_says_which_node_to_converge_first_before_its_changes() {
        let plan = Plan {
            first_converge: vec![crate::plan::FirstConverge {
                node: "rs1".into(),
                receives: "gue:6080".into(),
                inner: Family::Ipv4,
            }],
            ..Plan::default()
        };
        let text = render_plan(&plan, Some("director"), PLAIN);
        assert!(
            text.starts_with(
                "Cluster node: director\nConverge node rs1 first: it must receive gue:6080 before this director sends it.\n"
            ),
            "{text}"
        );
    }
}
