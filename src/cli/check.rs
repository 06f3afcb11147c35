//! `check`: LVS-TUN mistakes in a spec, alone or judged against a host.

use std::path::PathBuf;

use super::{
    enter_netns, print_report, refuse_root_with_observed, resolve, validated_nodes, CliError, Context, FormatArg,
    SpecArg, EXIT_CHANGES_PENDING, EXIT_OK,
};
use crate::lint;
use crate::observe::{self, snapshot, Interest};
use crate::render::{self, text::Style, Format};
use crate::spec;

// Offline, check judges every node; only with a host can `--node` default to its node.
#[derive(Debug, clap::Args)]
#[command(mut_arg("node", |node| node.help(
    "Check only this node of a Cluster spec. Default: every node; with --host or --observed, the node whose `address` is on that host",
)))]
pub struct CheckArgs {
    #[command(flatten)]
    spec: SpecArg,
    /// Also judge the live host (this netns, or --netns): what the spec leaves out is taken
    /// as the host has it. Read-only.
    #[arg(long, conflicts_with = "observed")]
    host: bool,
    /// Judge the host of a snapshot written by `show` instead of the live one.
    #[arg(long, value_name = "FILE")]
    observed: Option<PathBuf>,
    /// Exit 2 on warnings as well as errors.
    #[arg(long)]
    strict: bool,
    /// text for people (each finding with why and fix); json for scripts.
    #[arg(long, value_enum, default_value_t = FormatArg::Text)]
    format: FormatArg,
}

impl CheckArgs {
    /// Whether this check reads a host (live, or a snapshot), not only the spec.
    pub(super) fn judges_the_host(&self) -> bool {
        self.host || self.observed.is_some()
    }
}

pub(super) fn run(args: &CheckArgs, context: &Context) -> Result<u8, CliError> {
    let arg = &args.spec;
    refuse_root_with_observed(context, args.observed.as_deref())?;
    let judge_host = args.judges_the_host();
    if args.host && args.observed.is_none() {
        enter_netns(context.netns)?;
    }
    let document = spec::read(&arg.path)?;
    // A spec `validate` refuses is an error (exit 1), never a clean report: the rules below
    // judge only what resolves, and an empty node list resolves to nothing at all.
    validated_nodes(&document, arg.node.as_deref())?;
    let (findings, node) = if judge_host {
        let (observed, spec) = match &args.observed {
            Some(path) => {
                let observed = snapshot::read(path)?;
                let spec = resolve(&document, arg, &observed)?;
                (observed, spec)
            }
            None => {
                let observed = observe::observe_host(&Interest::default())?;
                let spec = crate::converge::resolve_on_host(&document, arg.node.as_deref(), &observed, context.root)?;
                (observed, spec)
            }
        };
        (lint::check_observed(&document, &spec, &observed), spec.node)
    } else {
        (lint::check_document(&document, arg.node.as_deref())?, arg.node.clone())
    };
    let format = if context.shows_report(args.format) { Some(args.format.into()) } else { None };
    report_findings(&findings, node.as_deref(), args.strict, format, context.style)
}

/// Prints `check`'s findings in `format` (None: `--quiet`, nothing); the exit code says
/// whether any is bad enough to act on.
fn report_findings(
    findings: &[lint::Finding],
    node: Option<&str>,
    strict: bool,
    format: Option<Format>,
    style: Style,
) -> Result<u8, CliError> {
    let text = match format {
        Some(Format::Text) => Some(render::findings::check_text(findings, node, style)),
        Some(Format::Json) => Some(render::findings::check_json(findings, node)),
        None => None,
    };
    if let Some(text) = text {
        print_report(&text, "the findings")?;
    }
    let counts = lint::counts(findings);
    Ok(if counts.errors > 0 || (strict && counts.warnings > 0) { EXIT_CHANGES_PENDING } else { EXIT_OK })
}
