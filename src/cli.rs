//! Command line: `plan`, `apply`, `show`, `validate`.
//!
//! Exit codes follow Terraform's `-detailed-exitcode`: 0 success/converged, 1 error,
//! 2 `plan` found changes to make.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};

use crate::apply::{self, ApplyError};
use crate::model::HostState;
use crate::observe::{self, snapshot, ObserveError};
use crate::render::{self, text::Style, Format};
use crate::spec::{self, SpecError};
use crate::{netns, plan};

pub const EXIT_OK: u8 = 0;
pub const EXIT_ERROR: u8 = 1;
pub const EXIT_CHANGES_PENDING: u8 = 2;

#[derive(Debug, Parser)]
#[command(
    name = "lvs-converge",
    version,
    about = "Converge a Linux host into an LVS-TUN director or real server from a declarative spec.",
    long_about = "Converge a Linux host into an LVS-TUN director or real server from a declarative spec.\n\n\
        `plan` shows what would change, `apply` makes exactly those changes and verifies them, \
        `show` prints the host's current state, `validate` checks a spec offline.\n\n\
        Exit codes: 0 success (plan: nothing to change), 1 error, 2 plan: changes pending.",
    after_help = "Examples:\n  lvs-converge validate -f director.yaml\n  lvs-converge plan -f director.yaml\n  lvs-converge apply -f director.yaml\n  lvs-converge show --format json > observed.json\n  lvs-converge plan -f director.yaml --observed observed.json   # offline, no root needed"
)]
pub struct Cli {
    /// Act inside this network namespace (a name from `ip netns list`, or a path).
    #[arg(long, global = true, value_name = "NAME")]
    pub netns: Option<String>,
    /// Colour the text output.
    #[arg(long, global = true, value_enum, default_value_t = ColorChoice::Auto)]
    pub color: ColorChoice,
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
    /// Make the host match the spec, then re-read it and verify. Exit 0 on success.
    Apply {
        #[command(flatten)]
        spec: SpecArg,
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
    },
    /// Print the host's current state (a snapshot `plan --observed` can read).
    Show {
        #[arg(long, value_enum, default_value_t = SnapshotFormat::Yaml)]
        format: SnapshotFormat,
    },
    /// Check a spec without touching the host.
    Validate {
        #[command(flatten)]
        spec: SpecArg,
    },
}

#[derive(Debug, clap::Args)]
pub struct SpecArg {
    /// The spec file (YAML).
    #[arg(short = 'f', long = "spec", value_name = "FILE")]
    pub path: PathBuf,
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
}

pub fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(&cli) {
        Ok(code) => ExitCode::from(code),
        Err(error) => {
            eprintln!("error: {error}");
            ExitCode::from(EXIT_ERROR)
        }
    }
}

fn style(choice: ColorChoice) -> Style {
    let color = match choice {
        ColorChoice::Always => true,
        ColorChoice::Never => false,
        ColorChoice::Auto => {
            std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none()
        }
    };
    Style { color }
}

pub fn run(cli: &Cli) -> Result<u8, CliError> {
    let style = style(cli.color);
    // Validation first: a bad spec must never cause a namespace switch or a netlink socket.
    if let Command::Validate { spec } = &cli.command {
        let spec = spec::load(&spec.path)?;
        let services = spec.desired.ipvs.services.len();
        let real_servers: usize = spec
            .desired
            .ipvs
            .services
            .values()
            .map(|s| s.destinations.len())
            .sum();
        println!(
            "{} is valid: {services} service(s), {real_servers} real server(s).",
            spec.source.display()
        );
        return Ok(EXIT_OK);
    }
    let live = !matches!(
        &cli.command,
        Command::Plan {
            observed: Some(_),
            ..
        }
    );
    if live {
        if let Some(name) = &cli.netns {
            netns::enter(name)?;
        }
    }
    match &cli.command {
        Command::Validate { .. } => unreachable!("handled above"),
        Command::Show { format } => {
            let state = observe::observe_host()?;
            print!("{}", render_snapshot(state, *format));
            Ok(EXIT_OK)
        }
        Command::Plan {
            spec,
            observed,
            format,
        } => {
            let spec = spec::load(&spec.path)?;
            let observed = match observed {
                Some(path) => snapshot::read(path)?,
                None => observe::observe_host()?,
            };
            let plan = plan::diff(&spec.desired, &observed, &spec.ownership);
            print!("{}", render_plan(&plan, *format, style));
            Ok(if plan.is_empty() {
                EXIT_OK
            } else {
                EXIT_CHANGES_PENDING
            })
        }
        Command::Apply { spec, format } => {
            let spec = spec::load(&spec.path)?;
            let mut host = apply::ipvs::LiveHost::default();
            let report = apply::apply(&spec.desired, &spec.ownership, &mut host)?;
            print!("{}", render_apply(&report, *format, style));
            Ok(EXIT_OK)
        }
    }
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
        SnapshotFormat::Json => {
            serde_json::to_string_pretty(&snapshot).expect("state serializes") + "\n"
        }
    }
}
