//! Command line: `plan`, `apply`, `show`, `validate`.
//!
//! Exit codes follow Terraform's `-detailed-exitcode`: 0 success/converged, 1 error,
//! 2 `plan` found changes to make.

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};

use crate::apply::live::LiveHost;
use crate::apply::{self, ApplyError, ApplyOptions, Outcome};
use crate::desired::{self, Spec};
use crate::model::HostState;
use crate::observe::{self, snapshot, Interest, ObserveError};
use crate::plan::saved::{sha256_hex, ObservedFrom, Provenance, SavedPlan, SavedPlanError, SpecFingerprint};
use crate::render::{self, text::Style, Format};
use crate::spec::{self, NodeSelector, SpecError};
use crate::{interrupt, lint, lock, netns, plan};

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
        `show` prints the host's current state, `validate` checks a spec offline, `check` finds LVS-TUN \
        mistakes (why and fix), `import` captures an existing host, ipvsadm-save file or keepalived.conf as a \
        spec, `schema` prints the spec's JSON Schema.\n\n\
        Exit codes: 0 success (plan: nothing to change), 1 error (nothing changed), 2 plan: changes pending \
        (check: errors found), 3 apply failed or was stopped (SIGINT/SIGTERM) and was rolled back, 4 apply failed or \
        was stopped and what took effect stays (listed; JSON: `stays`).",
    after_help = "Examples:\n  lvs-converge validate -f director.yaml\n  lvs-converge plan -f director.yaml\n  lvs-converge apply -f director.yaml\n  lvs-converge plan -f director.yaml --out plan.json && lvs-converge apply plan.json\n  lvs-converge show --format json > observed.json\n  lvs-converge plan -f director.yaml --observed observed.json   # offline, no root needed\n  lvs-converge import -o host.yaml && lvs-converge check -f host.yaml --host"
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
        /// Also save the plan to FILE, for `apply FILE` to make exactly these changes later.
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
    },
    /// Make the host match the spec (or carry out a saved plan), then re-read it and verify.
    /// Exit 0 on success; 1 on error or a stale saved plan (nothing changed); on a failed
    /// change or SIGINT/SIGTERM (apply stops at the next operation boundary), 3 when what
    /// was done is rolled back, 4 when it stays (listed).
    #[command(group(clap::ArgGroup::new("source").required(true).args(["path", "plan_file"])))]
    Apply {
        #[command(flatten)]
        spec: Option<SpecArg>,
        /// A plan saved by `plan --out`: make exactly its changes, or nothing if the host
        /// changed since it was made (instead of -f SPEC).
        #[arg(value_name = "PLANFILE")]
        plan_file: Option<PathBuf>,
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
    /// Find LVS-TUN mistakes that a valid spec can still hold (a real server reached through
    /// the director's own tunnel, strict rp_filter or ARP answers on a real server …), each with
    /// why it breaks and how to fix it. Offline unless --host or --observed. Exit 0: no errors,
    /// 2: errors found (with --strict, warnings too), 1: the spec could not be checked.
    Check {
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
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
    },
    /// Capture what the host (or an ipvsadm-save / keepalived.conf file) has as a Host spec,
    /// without changing anything: `plan` of the result against the same host shows no change.
    Import(crate::import::ImportArgs),
    /// Check a spec without touching the host.
    Validate {
        #[command(flatten)]
        spec: SpecArg,
    },
    /// Print the spec's JSON Schema, for editors and CI linters.
    Schema,
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
    SavedPlan(#[from] SavedPlanError),
    #[error(transparent)]
    Import(#[from] crate::import::ImportError),
    #[error("cannot install the SIGINT/SIGTERM handlers that let apply stop cleanly: {0}")]
    Signals(nix::Error),
    /// apply would overwrite a file lvs-converge did not write.
    #[error("{0}")]
    TakeOver(String),
    /// stdout refused the report (a full disk, a dead terminal); a reader that closed the
    /// pipe is not an error.
    #[error("cannot write {what} to standard output: {source}\n  hint: check where standard output goes (a full disk, a closed terminal){}", .saved_to.as_ref().map(|p| format!("; the plan was saved to {} all the same", p.display())).unwrap_or_default())]
    Output { what: &'static str, saved_to: Option<PathBuf>, source: std::io::Error },
}

impl CliError {
    /// The exit code that tells scripts how the host was left.
    pub fn exit_code(&self) -> u8 {
        match self {
            CliError::Apply(error) => match error.outcome() {
                Some(Outcome::RolledBack { .. }) => EXIT_ROLLED_BACK,
                Some(Outcome::Partial { .. }) => EXIT_PARTIAL,
                Some(Outcome::Untouched) | None => EXIT_ERROR,
            },
            _ => EXIT_ERROR,
        }
    }
}

pub fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(&cli) {
        Ok(code) => ExitCode::from(code),
        Err(error) => {
            say(&format!("error: {error}"));
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
            // Without nodes, resolving once reports that the spec has none.
            (None, spec::SpecKind::Cluster) if !document.file.nodes.is_empty() => {
                document.node_names().into_iter().map(|n| Some(n.to_string())).collect()
            }
            (node, _) => vec![node.clone()],
        };
        let mut described = String::new();
        for name in &names {
            let spec = desired::resolve(&document, &NodeSelector { name: name.as_deref(), local_addresses: vec![] })?;
            described.push_str(&describe_spec(&spec));
            described.push('\n');
        }
        print_report(&described, "the result")?;
        return Ok(EXIT_OK);
    }
    if let Command::Schema = &cli.command {
        print_report(&spec::schema::render(), "the schema")?;
        return Ok(EXIT_OK);
    }
    if let Command::Check { spec: arg, host: false, observed: None, strict, format } = &cli.command {
        let document = spec::read(&arg.path)?;
        let findings = lint::check_document(&document, arg.node.as_deref())?;
        return report_findings(&findings, *strict, *format, style);
    }
    if let Command::Import(args) = &cli.command {
        crate::import::run(args, cli.netns.as_deref())?;
        return Ok(EXIT_OK);
    }
    // A saved plan names its namespace and root; it is read before entering either.
    let saved = match &cli.command {
        Command::Apply { plan_file: Some(path), .. } => Some(read_saved_plan(path)?),
        _ => None,
    };
    let (netns, root) = match &saved {
        Some((path, saved)) => saved.context(path, cli.netns.as_deref(), cli.root.as_deref())?,
        None => (cli.netns.clone(), cli.root.clone()),
    };
    let live =
        !matches!(&cli.command, Command::Plan { observed: Some(_), .. } | Command::Check { observed: Some(_), .. });
    if live {
        if let Some(name) = &netns {
            netns::enter(name)?;
        }
    }
    match &cli.command {
        Command::Validate { .. } | Command::Schema | Command::Import(_) => unreachable!("handled above"),
        Command::Check { host: false, observed: None, .. } => unreachable!("handled above"),
        Command::Show { format } => {
            let state = observe::observe_host(&Interest::default())?;
            print_report(&render_snapshot(state, *format), "the snapshot")?;
            Ok(EXIT_OK)
        }
        Command::Plan { spec: arg, observed: snapshot_path, out, format } => {
            let document = spec::read(&arg.path)?;
            let (spec, observed) = match snapshot_path {
                Some(path) => {
                    let observed = snapshot::read(path)?;
                    let spec = resolve(&document, arg, &observed)?;
                    if out.is_some() {
                        snapshot::covers(&observed, &spec.desired)
                            .map_err(|what| SavedPlanError::SnapshotTooNarrow { snapshot: path.clone(), what })?;
                    }
                    (spec, observed)
                }
                None => observe_for(&document, arg, cli.root.as_deref())?,
            };
            let plan = plan::diff(&spec.desired, &observed, &spec.ownership)
                .annotate(|object| spec.origins.get(object).cloned());
            // Notes are for `check`; a plan shows what breaks or will.
            let mut findings = lint::check_observed(&document, &spec, &observed);
            findings.retain(|f| f.severity != lint::Severity::Note);
            let text = render_plan(&plan, &findings, *format, style);
            // The file first: a report that cannot be printed must not lose the saved plan.
            if let Some(out) = out {
                let observed_from = match snapshot_path {
                    Some(path) => ObservedFrom::Snapshot { path: path.clone() },
                    None => ObservedFrom::Live,
                };
                write_saved_plan(out, spec, document.text(), &plan, observed, observed_from, cli)?;
            }
            render::print(&text).map_err(|source| CliError::Output {
                what: "the plan",
                saved_to: out.clone(),
                source,
            })?;
            if let Some(out) = out {
                say(&format!(
                    "Saved the plan to {0}. To make exactly these changes: lvs-converge apply {0}",
                    out.display()
                ));
            }
            Ok(if plan.converged() { EXIT_OK } else { EXIT_CHANGES_PENDING })
        }
        Command::Check { spec: arg, observed, strict, format, .. } => {
            let document = spec::read(&arg.path)?;
            let observed = match observed {
                Some(path) => snapshot::read(path)?,
                None => observe::observe_host(&Interest::default())?,
            };
            let spec = resolve(&document, arg, &observed)?;
            let findings = lint::check_observed(&document, &spec, &observed);
            report_findings(&findings, *strict, *format, style)
        }
        Command::Apply { format, no_rollback, wait, lock_timeout, take_over, .. } if saved.is_some() => {
            let (path, saved) = saved.expect("matched");
            apply::files::check_take_over(&saved.plan, *take_over).map_err(CliError::TakeOver)?;
            let lock_timeout = std::time::Duration::from_secs(*lock_timeout);
            let mut apply_lock = lock::acquire(lock_timeout)?;
            let writes_files = lock::writes_persistence(&saved.desired, &saved.ownership, Some(&saved.plan));
            ready_to_change(&mut apply_lock, writes_files, lock_timeout)?;
            let interest = Interest::for_desired(&saved.desired).with_files(&saved.ownership.files, root.as_deref());
            let mut host = LiveHost::new(interest).take_over(*take_over);
            let options = ApplyOptions { rollback: !no_rollback, wait: *wait, ..ApplyOptions::default() };
            let result = apply::apply_saved(saved, &path, crate::rundir::unix_now(), options, &mut host);
            report_apply(result, *format, style)
        }
        Command::Apply { spec: arg, format, no_rollback, wait, lock_timeout, take_over, .. } => {
            let arg = arg.as_ref().expect("clap requires -f without PLANFILE");
            let document = spec::read(&arg.path)?;
            let lock_timeout = std::time::Duration::from_secs(*lock_timeout);
            let mut apply_lock = lock::acquire(lock_timeout)?;
            let spec = resolve_for(&document, arg)?;
            ready_to_change(
                &mut apply_lock,
                lock::writes_persistence(&spec.desired, &spec.ownership, None),
                lock_timeout,
            )?;
            let observed = observe_resolved(&spec, cli.root.as_deref())?;
            let plan = plan::diff(&spec.desired, &observed, &spec.ownership)
                .annotate(|object| spec.origins.get(object).cloned());
            apply::files::check_take_over(&plan, *take_over).map_err(CliError::TakeOver)?;
            let interest = Interest::for_desired(&spec.desired).with_files(&spec.ownership.files, cli.root.as_deref());
            let mut host = LiveHost::new(interest).take_over(*take_over);
            let options = ApplyOptions { rollback: !no_rollback, wait: *wait, ..ApplyOptions::default() };
            let result = apply::apply(plan, &spec.desired, &spec.ownership, options, &mut host);
            report_apply(result, *format, style)
        }
    }
}

/// The last step before apply reads the host to change it: the host-wide lock when it may
/// write persistence files (always after the namespace lock), and SIGINT/SIGTERM taken
/// over so that they stop apply at an operation boundary (before this, they end the
/// process with nothing changed).
fn ready_to_change(
    apply_lock: &mut lock::ApplyLock,
    writes_files: bool,
    lock_timeout: std::time::Duration,
) -> Result<(), CliError> {
    if writes_files {
        apply_lock.cover_persistence_files(lock_timeout)?;
    }
    interrupt::install().map_err(CliError::Signals)
}

/// An apply's report on stdout and its exit code: the JSON failure document for a failed
/// one (the error itself goes to stderr), the report of a successful one.
fn report_apply(result: Result<apply::ApplyReport, ApplyError>, format: Format, style: Style) -> Result<u8, CliError> {
    let report = result.map_err(|error| report_apply_failure(error, format))?;
    Ok(report_applied(&mut std::io::stdout().lock(), &mut std::io::stderr(), &render_apply(&report, format, style)))
}

fn read_saved_plan(path: &Path) -> Result<(PathBuf, SavedPlan), SavedPlanError> {
    let text = std::fs::read_to_string(path).map_err(|source| SavedPlanError::Io {
        path: path.to_path_buf(),
        action: "reading",
        source,
    })?;
    Ok((path.to_path_buf(), SavedPlan::from_json(&text, path)?))
}

/// `plan --out`: the plan with what it was made from, for `apply PLANFILE`.
fn write_saved_plan(
    out: &Path,
    spec: Spec,
    spec_text: &str,
    plan: &plan::Plan,
    observed: HostState,
    observed_from: ObservedFrom,
    cli: &Cli,
) -> Result<(), SavedPlanError> {
    let io = |action, source| SavedPlanError::Io { path: out.to_path_buf(), action, source };
    let made = Provenance {
        created_at: crate::rundir::unix_now(),
        // The text that was planned, not the file as it may be by now.
        spec: SpecFingerprint { path: spec.source, sha256: sha256_hex(spec_text.as_bytes()) },
        node: spec.node,
        netns: cli.netns.clone(),
        // Absolute, so that applying from another directory acts on the same tree.
        root: cli.root.as_ref().map(|root| std::path::absolute(root).unwrap_or_else(|_| root.clone())),
        observed_from,
    };
    let saved = SavedPlan::new(made, spec.desired, spec.ownership, &spec.origins, plan.clone(), observed)
        .with_spec_text(spec_text);
    write_private(out, saved.to_json().as_bytes()).map_err(|source| io("writing", source))
}

/// Writes `bytes` to `path` as a new file only its owner can read (0600: a plan shows the
/// host's whole configuration): a fresh temporary file beside it, created exclusively and
/// without following symlinks, then renamed over `path`, so a reader never sees half a
/// plan and an old file's mode is not inherited.
fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    // A pipe, a device or a link to one (`--out /dev/stdout`) is written through: renaming
    // a temporary file over it would replace the link itself.
    if std::fs::metadata(path).is_ok_and(|meta| !meta.is_file()) {
        return std::fs::OpenOptions::new().write(true).open(path)?.write_all(bytes);
    }
    let name = path.file_name().ok_or_else(|| std::io::Error::other("the path names no file"))?;
    let mut temporary_name = std::ffi::OsString::from(".");
    temporary_name.push(name);
    temporary_name.push(format!(".{}.tmp", std::process::id()));
    let temporary = path.with_file_name(temporary_name);
    let written = (|| {
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .custom_flags(nix::libc::O_NOFOLLOW)
            .open(&temporary)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        std::fs::rename(&temporary, path)
    })();
    if written.is_err() {
        let _ = std::fs::remove_file(&temporary);
    }
    written
}

/// Prints a command's report; see [`render::print`].
fn print_report(text: &str, what: &'static str) -> Result<(), CliError> {
    render::print(text).map_err(|source| CliError::Output { what, saved_to: None, source })
}

/// A line for people on stderr. A failure to write it must not turn into a panic (or
/// another exit code): the exit code already says what happened.
fn say(line: &str) {
    let _ = writeln!(std::io::stderr().lock(), "{line}");
}

/// Prints the report of an apply that succeeded. The host WAS changed, so the exit code
/// stays 0 whatever happens to the report; a report that could not be written is said on
/// stderr (quietly dropped when the reader closed the pipe).
fn report_applied(out: &mut dyn Write, err: &mut dyn Write, text: &str) -> u8 {
    if let Err(error) = render::write_report(out, text) {
        let _ = writeln!(
            err,
            "error: the changes were applied and verified, but the report could not be written to standard output: {error}\n  hint: `lvs-converge plan` shows that the host matches the spec"
        );
    }
    EXIT_OK
}

/// Resolves the spec for this host, given its observed state (whose addresses pick the node
/// of a Cluster spec when `--node` is not given).
fn resolve(document: &spec::Document, arg: &SpecArg, observed: &HostState) -> Result<Spec, SpecError> {
    let selector = NodeSelector {
        name: arg.node.as_deref(),
        local_addresses: observed.addresses.values().map(|a| a.address).collect(),
    };
    desired::resolve(document, &selector)
}

/// Observes the live host as the spec needs it: addresses first when the node must be found
/// by address, then everything the resolved spec cares about.
fn observe_for(
    document: &spec::Document,
    arg: &SpecArg,
    root: Option<&std::path::Path>,
) -> Result<(Spec, HostState), CliError> {
    let spec = resolve_for(document, arg)?;
    let observed = observe_resolved(&spec, root)?;
    Ok((spec, observed))
}

fn resolve_for(document: &spec::Document, arg: &SpecArg) -> Result<Spec, CliError> {
    // Only a Cluster spec without --node needs the host's addresses to pick its node first.
    if document.file.kind == spec::SpecKind::Cluster && arg.node.is_none() {
        Ok(resolve(document, arg, &observe::observe_host(&Interest::default())?)?)
    } else {
        Ok(resolve(document, arg, &HostState::default())?)
    }
}

fn observe_resolved(spec: &Spec, root: Option<&std::path::Path>) -> Result<HostState, CliError> {
    let interest = Interest::for_desired(&spec.desired).with_files(&spec.ownership.files, root).with_lvs_sysctls();
    Ok(observe::observe_host(&interest)?)
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

fn render_plan(plan: &plan::Plan, findings: &[lint::Finding], format: Format, style: Style) -> String {
    match format {
        Format::Text if findings.is_empty() => render::text::render_plan(plan, style),
        Format::Text => format!(
            "{}\nChecks ({}; `lvs-converge check` also shows notes):\n{}",
            render::text::render_plan(plan, style),
            render::findings::tally(findings),
            render::findings::text(findings, style)
        ),
        Format::Json => render::json::render_plan(plan, findings),
    }
}

/// Prints `check`'s findings; the exit code says whether any is bad enough to act on.
fn report_findings(findings: &[lint::Finding], strict: bool, format: Format, style: Style) -> Result<u8, CliError> {
    let text = match format {
        Format::Text => render::findings::check_text(findings, style),
        Format::Json => render::findings::check_json(findings),
    };
    print_report(&text, "the findings")?;
    let counts = lint::counts(findings);
    Ok(if counts.errors > 0 || (strict && counts.warnings > 0) { EXIT_CHANGES_PENDING } else { EXIT_OK })
}

fn render_apply(report: &apply::ApplyReport, format: Format, style: Style) -> String {
    match format {
        Format::Text => render::text::render_apply(&report.plan, style),
        Format::Json => render::json::render_apply(&report.plan),
    }
}

/// `apply --format json` that failed while changing the host: the failure document goes to
/// stdout (what failed, what stays, what is unknown); the text still goes to stderr.
fn report_apply_failure(error: ApplyError, format: Format) -> ApplyError {
    if format == Format::Json {
        if let Some(document) = render::json::render_apply_failure(&error) {
            // Never a panic on a broken stdout: the exit code and stderr still tell.
            let _ = std::io::Write::write_all(&mut std::io::stdout().lock(), document.as_bytes());
        }
    }
    error
}

fn render_snapshot(state: HostState, format: SnapshotFormat) -> String {
    let snapshot = snapshot::Snapshot::new(state);
    match format {
        SnapshotFormat::Yaml => serde_yaml::to_string(&snapshot).expect("state serializes"),
        SnapshotFormat::Json => serde_json::to_string_pretty(&snapshot).expect("state serializes") + "\n",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A stdout that refuses every write with `kind`.
    struct Refusing(std::io::ErrorKind);

    impl Write for Refusing {
        fn write(&mut self, _: &[u8]) -> std::io::Result<usize> {
            Err(self.0.into())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Err(self.0.into())
        }
    }

    #[test]
    fn an_apply_whose_report_cannot_be_written_still_exits_with_what_the_host_holds() {
        // `apply > /dev/full` applied and verified, then panicked with exit 101.
        let mut stderr = Vec::new();
        let code = report_applied(&mut Refusing(std::io::ErrorKind::StorageFull), &mut stderr, "Apply complete\n");
        assert_eq!(code, EXIT_OK);
        let said = String::from_utf8(stderr).unwrap();
        assert!(said.starts_with("error: the changes were applied and verified, but the report could not be written to standard output: "), "{said}");

        let mut stderr = Vec::new();
        let code = report_applied(&mut Refusing(std::io::ErrorKind::BrokenPipe), &mut stderr, "Apply complete\n");
        assert_eq!((code, stderr.len()), (EXIT_OK, 0), "a closed pipe is quiet");

        let mut stdout = Vec::new();
        assert_eq!(report_applied(&mut stdout, &mut Refusing(std::io::ErrorKind::StorageFull), "done\n"), EXIT_OK);
        assert_eq!(stdout, b"done\n");
    }

    #[test]
    fn a_failed_or_interrupted_apply_exits_with_how_it_left_the_host() {
        let partial = || Outcome::Partial { stays: vec![], unknown: vec![], rollback_failures: vec![] };
        let cases = [
            (Outcome::Untouched, EXIT_ERROR),
            (Outcome::RolledBack { kept: vec![] }, EXIT_ROLLED_BACK),
            (partial(), EXIT_PARTIAL),
        ];
        for (outcome, code) in cases {
            let interrupted = ApplyError::Interrupted { sent: 1, total: 2, outcome: outcome.clone() };
            let failed = ApplyError::Change { total: 2, failed: vec![], outcome };
            assert_eq!(CliError::Apply(interrupted).exit_code(), code);
            assert_eq!(CliError::Apply(failed).exit_code(), code);
        }
    }
}
