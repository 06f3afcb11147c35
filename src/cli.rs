//! Command line: `plan`, `apply`, `show`, `validate`.
//!
//! Exit codes follow Terraform's `-detailed-exitcode`: 0 success/converged, 1 error,
//! 2 `plan` found changes to make.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};

use crate::apply::live::LiveHost;
use crate::apply::{self, ApplyError, ApplyOptions, Outcome};
use crate::model::HostState;
use crate::observe::{self, snapshot, Interest, ObserveError};
use crate::render::{self, text::Style, Format};
use crate::spec::{self, NodeSelector, Spec, SpecError};
use crate::{lock, netns, plan};

pub const EXIT_OK: u8 = 0;
pub const EXIT_ERROR: u8 = 1;
pub const EXIT_CHANGES_PENDING: u8 = 2;
/// apply: a change failed and everything before it was undone.
pub const EXIT_ROLLED_BACK: u8 = 3;
/// apply: a change failed and earlier changes stay (--no-rollback, or the rollback failed).
pub const EXIT_PARTIAL: u8 = 4;

#[derive(Debug, Parser)]
#[command(
    name = "lvs-converge",
    version,
    about = "Converge a Linux host into an LVS-TUN director or real server from a declarative spec.",
    long_about = "Converge a Linux host into an LVS-TUN director or real server from a declarative spec.\n\n\
        `plan` shows what would change, `apply` makes exactly those changes and verifies them, \
        `show` prints the host's current state, `validate` checks a spec offline.\n\n\
        Exit codes: 0 success (plan: nothing to change), 1 error (nothing changed), 2 plan: changes pending, \
        3 apply failed and was rolled back, 4 apply failed and is partially applied.",
    after_help = "Examples:\n  lvs-converge validate -f director.yaml\n  lvs-converge plan -f director.yaml\n  lvs-converge apply -f director.yaml\n  lvs-converge show --format json > observed.json\n  lvs-converge plan -f director.yaml --observed observed.json   # offline, no root needed"
)]
pub struct Cli {
    /// Act inside this network namespace (a name from `ip netns list`, or a path).
    #[arg(long, global = true, value_name = "NAME")]
    pub netns: Option<String>,
    /// Colour the text output.
    #[arg(long, global = true, value_enum, default_value_t = ColorChoice::Auto)]
    pub color: ColorChoice,
    /// Read and write persistence files under this directory instead of `/` (tests, image
    /// building, one /etc per network namespace).
    #[arg(long, global = true, value_name = "DIR")]
    pub root: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ColorChoice {
    Auto,
    Always,
    Never,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Show the changes that `apply` would make. Exit 0: converged, 2: changes pending, 1: error.
    Plan {
        #[command(flatten)]
        spec: SpecArg,
        /// Plan against a snapshot written by `show` instead of the live host (no root needed).
        #[arg(long, value_name = "FILE")]
        observed: Option<PathBuf>,
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
    },
    /// Make the host match the spec, then re-read it and verify. Exit 0 on success; on a
    /// failed change, 3 when what was done is rolled back, 4 when it stays.
    Apply {
        #[command(flatten)]
        spec: SpecArg,
        /// Keep the changes made before a failing one instead of undoing them.
        #[arg(long)]
        no_rollback: bool,
        /// Overwrite persistence files that lvs-converge did not write (no header); each old
        /// file is kept as <path>.lvs-converge.bak.
        #[arg(long)]
        take_over: bool,
        /// Wait for removed real servers to drain (their connections to end, at most their
        /// drain timeout) and delete them now, instead of leaving that to the next run.
        #[arg(long)]
        wait: bool,
        /// Seconds to wait for another apply on this host (network namespace) to finish.
        #[arg(long, value_name = "SECONDS", default_value_t = 30)]
        lock_timeout: u64,
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
    },
    /// Print the host's current state (a snapshot `plan --observed` can read).
    Show {
        #[arg(long, value_enum, default_value_t = SnapshotFormat::Yaml)]
        format: SnapshotFormat,
    },
    /// Capture what the host (or an ipvsadm-save / keepalived.conf file) has as a Host spec,
    /// without changing anything: `plan` of the result against the same host shows no change.
    Import(crate::import::ImportArgs),
    /// Check a spec without touching the host.
    Validate {
        #[command(flatten)]
        spec: SpecArg,
    },
}

#[derive(Debug, clap::Args)]
pub struct SpecArg {
    /// The spec file (YAML): a Host spec, or a Cluster spec shared by every host.
    #[arg(short = 'f', long = "spec", value_name = "FILE")]
    pub path: PathBuf,
    /// Which node of a Cluster spec this host is. Default: the node whose `address` is on
    /// this host.
    #[arg(long, value_name = "NAME")]
    pub node: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SnapshotFormat {
    Yaml,
    Json,
}

#[derive(Debug, thiserror::Error)]
pub enum CliError {
    #[error(transparent)]
    Spec(#[from] SpecError),
    #[error(transparent)]
    Observe(#[from] ObserveError),
    #[error(transparent)]
    Apply(#[from] ApplyError),
    #[error(transparent)]
    Netns(#[from] netns::NetnsError),
    #[error(transparent)]
    Lock(#[from] lock::LockError),
    #[error(transparent)]
    Import(#[from] crate::import::ImportError),
    /// apply would overwrite a file lvs-converge did not write.
    #[error("{0}")]
    TakeOver(String),
}

impl CliError {
    /// The exit code that tells scripts how the host was left.
    pub fn exit_code(&self) -> u8 {
        match self {
            CliError::Apply(ApplyError::Change { outcome: Outcome::RolledBack { .. }, .. }) => EXIT_ROLLED_BACK,
            CliError::Apply(ApplyError::Change { outcome: Outcome::Partial { .. }, .. }) => EXIT_PARTIAL,
            _ => EXIT_ERROR,
        }
    }
}

pub fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(&cli) {
        Ok(code) => ExitCode::from(code),
        Err(error) => {
            eprintln!("error: {error}");
            ExitCode::from(error.exit_code())
        }
    }
}

fn style(choice: ColorChoice) -> Style {
    let color = match choice {
        ColorChoice::Always => true,
        ColorChoice::Never => false,
        ColorChoice::Auto => std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none(),
    };
    Style { color }
}

pub fn run(cli: &Cli) -> Result<u8, CliError> {
    let style = style(cli.color);
    // Validation first: a bad spec must never cause a namespace switch or a netlink socket.
    if let Command::Validate { spec: arg } = &cli.command {
        let document = spec::read(&arg.path)?;
        // Every node of a Cluster spec must resolve, not just this host's.
        let names: Vec<Option<String>> = match (&arg.node, document.file.kind) {
            (None, spec::SpecKind::Cluster) => document.node_names().into_iter().map(|n| Some(n.to_string())).collect(),
            (node, _) => vec![node.clone()],
        };
        for name in &names {
            let spec = document.resolve(&NodeSelector { name: name.as_deref(), local_addresses: vec![] })?;
            println!("{}", describe_spec(&spec));
        }
        return Ok(EXIT_OK);
    }
    if let Command::Import(args) = &cli.command {
        crate::import::run(args, cli.netns.as_deref())?;
        return Ok(EXIT_OK);
    }
    let live = !matches!(&cli.command, Command::Plan { observed: Some(_), .. });
    if live {
        if let Some(name) = &cli.netns {
            netns::enter(name)?;
        }
    }
    match &cli.command {
        Command::Validate { .. } | Command::Import(_) => unreachable!("handled above"),
        Command::Show { format } => {
            let state = observe::observe_host(&Interest::default())?;
            print!("{}", render_snapshot(state, *format));
            Ok(EXIT_OK)
        }
        Command::Plan { spec: arg, observed, format } => {
            let document = spec::read(&arg.path)?;
            let (spec, observed) = match observed {
                Some(path) => {
                    let observed = snapshot::read(path)?;
                    (resolve(&document, arg, &observed)?, observed)
                }
                None => observe_for(&document, arg, cli.root.as_deref())?,
            };
            let plan = plan::diff(&spec.desired, &observed, &spec.ownership).annotate(&spec.origins);
            print!("{}", render_plan(&plan, *format, style));
            Ok(if plan.converged() { EXIT_OK } else { EXIT_CHANGES_PENDING })
        }
        Command::Apply { spec: arg, format, no_rollback, wait, lock_timeout, take_over } => {
            let document = spec::read(&arg.path)?;
            let _lock = lock::acquire(std::time::Duration::from_secs(*lock_timeout))?;
            let (spec, observed) = observe_for(&document, arg, cli.root.as_deref())?;
            let plan = plan::diff(&spec.desired, &observed, &spec.ownership).annotate(&spec.origins);
            apply::files::check_take_over(&plan, *take_over).map_err(CliError::TakeOver)?;
            let interest = Interest::for_desired(&spec.desired).with_files(&spec.ownership.files, cli.root.as_deref());
            let mut host = LiveHost::new(interest).take_over(*take_over);
            let options = ApplyOptions { rollback: !no_rollback, wait: *wait };
            let report = apply::apply(plan, &spec.desired, &spec.ownership, options, &mut host)?;
            print!("{}", render_apply(&report, *format, style));
            Ok(EXIT_OK)
        }
    }
}

/// Resolves the spec for this host, given its observed state (whose addresses pick the node
/// of a Cluster spec when `--node` is not given).
fn resolve(document: &spec::Document, arg: &SpecArg, observed: &HostState) -> Result<Spec, SpecError> {
    let selector = NodeSelector {
        name: arg.node.as_deref(),
        local_addresses: observed.addresses.values().map(|a| a.address).collect(),
    };
    document.resolve(&selector)
}

/// Observes the live host as the spec needs it: addresses first when the node must be found
/// by address, then everything the resolved spec cares about.
fn observe_for(
    document: &spec::Document,
    arg: &SpecArg,
    root: Option<&std::path::Path>,
) -> Result<(Spec, HostState), CliError> {
    // Only a Cluster spec without --node needs the host's addresses to pick its node first.
    let spec = if document.file.kind == spec::SpecKind::Cluster && arg.node.is_none() {
        resolve(document, arg, &observe::observe_host(&Interest::default())?)?
    } else {
        resolve(document, arg, &HostState::default())?
    };
    let observed =
        observe::observe_host(&Interest::for_desired(&spec.desired).with_files(&spec.ownership.files, root))?;
    Ok((spec, observed))
}

fn describe_spec(spec: &Spec) -> String {
    let desired = &spec.desired;
    let services = desired.ipvs.services.len();
    let real_servers: usize = desired.ipvs.services.values().map(|s| s.destinations.len()).sum();
    let node = spec.node.as_ref().map(|n| format!(" node {n}")).unwrap_or_default();
    let role = spec.role.map(|r| format!(" ({})", r.name())).unwrap_or_default();
    format!(
        "{}{node}{role} is valid: {services} IPVS service(s), {real_servers} real server(s), {} link(s), {} address(es), {} route(s), {} sysctl(s), {} module(s).",
        spec.source.display(),
        desired.links.len(),
        desired.addresses.len(),
        desired.routes.len(),
        desired.sysctls.len(),
        desired.modules.len()
    )
}

fn render_plan(plan: &plan::Plan, format: Format, style: Style) -> String {
    match format {
        Format::Text => render::text::render_plan(plan, style),
        Format::Json => render::json::render_plan(plan),
    }
}

fn render_apply(report: &apply::ApplyReport, format: Format, style: Style) -> String {
    match format {
        Format::Text => render::text::render_apply(&report.plan, style),
        Format::Json => render::json::render_apply(&report.plan),
    }
}

fn render_snapshot(state: HostState, format: SnapshotFormat) -> String {
    let snapshot = snapshot::Snapshot::new(state);
    match format {
        SnapshotFormat::Yaml => serde_yaml::to_string(&snapshot).expect("state serializes"),
        SnapshotFormat::Json => serde_json::to_string_pretty(&snapshot).expect("state serializes") + "\n",
    }
}
