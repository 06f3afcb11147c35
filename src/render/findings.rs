//! Lint findings (`check`, and the checks a plan shows) as text, compiler style, or JSON.

use serde::Serialize;

use super::text::Style;
use crate::lint::{counts, Counts, Finding, Severity};

/// Each finding with where it is, why it breaks and how to fix it. Empty for none.
pub fn text(findings: &[Finding], style: Style) -> String {
    let mut out = String::new();
    for finding in findings {
        let code = match finding.severity {
            Severity::Error => "31",
            Severity::Warning => "33",
            Severity::Note => "36",
        };
        let node = finding.node.as_ref().map(|n| format!(" (node {n})")).unwrap_or_default();
        let head = style.paint(code, &format!("{}[{}]", finding.severity.name(), finding.code));
        out.push_str(&format!("{head}{node}: {}\n", finding.message));
        if let Some(location) = &finding.location {
            out.push_str(&format!(
                "  --> {}:{}:{} ({})\n",
                location.file, location.line, location.column, location.path
            ));
        }
        out.push_str(&format!("  why: {}\n  fix: {}\n", finding.why, finding.fix));
    }
    out
}

/// `2 errors, 1 warning, 0 notes`.
pub fn tally(findings: &[Finding]) -> String {
    let Counts { errors, warnings, notes } = counts(findings);
    let plural = |n: usize, word: &str| format!("{n} {word}{}", if n == 1 { "" } else { "s" });
    format!("{}, {}, {}", plural(errors, "error"), plural(warnings, "warning"), plural(notes, "note"))
}

/// `check`'s whole text output; `node` is the Cluster node judged against a host (None: a
/// Host spec, or every node).
pub fn check_text(findings: &[Finding], node: Option<&str>, style: Style) -> String {
    let mut out = super::text::node_line(node, style);
    out.push_str(&text(findings, style));
    if findings.is_empty() {
        out.push_str(&style.bold("No problems found."));
        out.push('\n');
    } else {
        out.push_str(&format!("\n{}\n", style.bold(&format!("Checked: {}.", tally(findings)))));
    }
    out
}

/// `check --format json`; `node` as for [`check_text`] (null in JSON when None).
pub fn check_json(findings: &[Finding], node: Option<&str>) -> String {
    #[derive(Serialize)]
    struct JsonCheck<'a> {
        format_version: &'static str,
        node: Option<&'a str>,
        summary: Counts,
        findings: &'a [Finding],
    }
    let document = JsonCheck { format_version: super::json::FORMAT_VERSION, node, summary: counts(findings), findings };
    let mut text = serde_json::to_string_pretty(&document).expect("findings serialize");
    text.push('\n');
    text
}
