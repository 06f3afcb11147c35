//! Command line: parses the arguments, runs one command, turns its result into an exit code.
//! Each command lives in its own module with its arguments and the function that runs it;
//! this module holds what they share (global options, the spec argument, errors, output
//! helpers). Only the command line knows clap and writes to stdout and stderr: the core
//! below it takes plain values and returns data, render returns the words
//! (tests/command_line_boundary.rs holds both rules).
//!
//! Exit codes follow Terraform's `-detailed-exitcode`: 0 success/converged, 1 error,
//! 2 `plan` found changes to make (README's exit-code table is the contract,
//! tests/exit_codes.rs walks it). A usage error is an error like any other (1): clap's own
//! 2 would read as "changes pending" to a script.

mod agent;
mod apply;
mod check;
mod completions;
mod import;
mod man;
mod plan;
mod show;
mod status;
mod validate;

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};

use crate::apply::{ApplyError, Outcome};
use crate::converge::{self, ConvergeError};
use crate::desired::{self, Spec};
use crate::model::HostState;
use crate::observe::ObserveError;
use crate::plan::saved::SavedPlanError;
use crate::render::{self, text::Style};
use crate::spec::{self, NodeSelector, SpecError};
use crate::{lock, netns};

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
    version = crate::build_info::VERSION_LINE,
    about = "Converge a Linux host into an LVS-TUN director or real server from a declarative spec.",
    long_about = "Converge a Linux host into an LVS-TUN director or real server from a declarative spec.\n\n\
        `plan` shows what would change, `apply` makes exactly those changes and verifies them, \
        `show` prints the host's current state, `validate` checks a spec offline, `check` finds LVS-TUN \
        mistakes (why and fix), `import` captures an existing host, ipvsadm-save file or keepalived.conf as a \
        spec, `schema` prints the spec's JSON Schema, `completions` a shell's completion script.\n\n\
        Exit codes: 0 success (plan: nothing to change), 1 error (nothing changed; a usage error too), 2 plan: changes pending \
        (check: errors found), 3 apply failed or was stopped (SIGINT/SIGTERM) and was rolled back, 4 apply failed or \
        was stopped and what took effect stays (listed; JSON: `stays`).",
    after_help = "Examples:\n  lvs-converge validate -f director.yaml\n  lvs-converge plan -f director.yaml\n  lvs-converge apply -f director.yaml\n  lvs-converge plan -f director.yaml --out plan.json && lvs-converge apply plan.json\n  lvs-converge show --format json > observed.json\n  lvs-converge plan -f director.yaml --observed observed.json   # offline, no root needed\n  lvs-converge import -o host.yaml && lvs-converge check -f host.yaml --host"
)]
pub struct Cli {
    /// Act inside this network namespace (a name from `ip netns list`, or a path).
    #[arg(long, global = true, value_name = "NAME")]
    pub netns: Option<String>,
    /// Colour the text report on stdout.
    ///
    /// auto: only when stdout is a terminal and NO_COLOR is unset or empty; always: even
    /// into a pipe or file, whatever NO_COLOR says. Nothing on stderr is ever coloured.
    #[arg(long, global = true, value_enum, default_value_t = ColorChoice::Auto)]
    pub color: ColorChoice,
    /// No report on stdout: the exit code says the outcome (for scripts).
    ///
    /// plan, apply, check, validate and status print no text report; `--format json` is
    /// still printed (it is what was asked for). Errors and import's notes still go to
    /// stderr; notices (where a plan was saved, waiting for a lock) do not. Refused where the
    /// output is the product: show, schema, import without -o, completions, agent (its log).
    #[arg(short = 'q', long, global = true)]
    pub quiet: bool,
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
    Plan(plan::PlanArgs),
    /// Make the host match the spec (or carry out a saved plan), then re-read it and verify.
    /// Exit 0 on success; 1 on error or a stale saved plan (nothing changed); on a failed
    /// change or SIGINT/SIGTERM (apply stops at the next operation boundary), 3 when what
    /// was done is rolled back, 4 when it stays (listed).
    Apply(apply::ApplyArgs),
    /// Print the host's current state (a snapshot `plan --observed` can read).
    Show(show::ShowArgs),
    /// Find LVS-TUN mistakes that a valid spec can still hold (a real server reached through
    /// the director's own tunnel, strict rp_filter or ARP answers on a real server …), each with
    /// why it breaks and how to fix it. Offline unless --host or --observed. Exit 0: no errors,
    /// 2: errors found (with --strict, warnings too), 1: the spec is invalid (as `validate` says) or could
    /// not be checked.
    Check(check::CheckArgs),
    /// Capture what the host (or an ipvsadm-save / keepalived.conf file) has as a Host spec,
    /// without changing anything: `plan` of the result against the same host shows no change.
    Import(import::ImportArgs),
    /// Check a spec without touching the host (every node of a Cluster spec) and say what it
    /// holds. Exit 0: valid, 1: invalid.
    Validate(validate::ValidateArgs),
    /// Show each checked real server's health as the agent running in this namespace found
    /// it: health, since when, the last check's outcome and latency, and (with -f SPEC) what
    /// the verdict holds. Exit 0: none unhealthy, or no agent runs (said so); 2: at least one
    /// real server unhealthy; 1: error.
    Status(status::StatusArgs),
    /// Print the spec's JSON Schema, for editors and CI linters.
    Schema,
    /// Keep the host converged: run `apply` every interval (under the same lock, skipping a
    /// run while someone else applies) and health-check real servers in between, until
    /// SIGTERM. Logs one line per event; systemd Type=notify with watchdog.
    Agent(agent::AgentArgs),
    /// Print the shell completion script for SHELL (bash, zsh, fish, elvish, powershell) on stdout.
    ///
    /// Where to put it (the .deb installs the bash, zsh and fish ones):
    ///
    /// bash: /usr/share/bash-completion/completions/lvs-converge, or for one user
    /// ~/.local/share/bash-completion/completions/lvs-converge (bash-completion loads it
    /// on first use);
    ///
    /// zsh: a file named `_lvs-converge` in a directory of $fpath
    /// (/usr/share/zsh/vendor-completions/, or ~/.zfunc with `fpath+=~/.zfunc` before
    /// `compinit` in ~/.zshrc);
    ///
    /// fish: /usr/share/fish/vendor_completions.d/lvs-converge.fish, or
    /// ~/.config/fish/completions/lvs-converge.fish;
    ///
    /// elvish: `eval (lvs-converge completions elvish | slurp)` in ~/.config/elvish/rc.elv;
    ///
    /// powershell: `lvs-converge completions powershell | Out-String | Invoke-Expression`
    /// in $PROFILE.
    Completions(completions::CompletionsArgs),
    /// Write the man pages into DIR (for packaging): lvs-converge.1, and
    /// lvs-converge-COMMAND.1 for each command.
    #[command(hide = true)]
    Man(man::ManArgs),
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

/// `--format` of `plan`, `apply` and `check`; render has its own type, free of clap.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum FormatArg {
    Text,
    Json,
}

impl From<FormatArg> for render::Format {
    fn from(format: FormatArg) -> Self {
        match format {
            FormatArg::Text => render::Format::Text,
            FormatArg::Json => render::Format::Json,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum CliError {
    #[error(transparent)]
    Spec(#[from] SpecError),
    #[error(transparent)]
    Observe(#[from] ObserveError),
    /// Worded by render: naming a failed step takes render's words for changes.
    #[error("{}", render::apply_failure::apply_error(.0))]
    Apply(ApplyError),
    #[error(transparent)]
    Netns(#[from] netns::NetnsError),
    #[error(transparent)]
    Lock(#[from] lock::LockError),
    /// `status` could not look into the runtime directory (not root, or not ours).
    #[error(transparent)]
    RunDir(#[from] crate::rundir::RunDirError),
    /// Worded by render, as `Apply` is.
    #[error("{}", render::saved::saved_plan_error(.0))]
    SavedPlan(SavedPlanError),
    #[error(transparent)]
    Import(#[from] crate::import::ImportError),
    /// A converge run's own refusals (a bound foo-over-UDP port …); its other errors map to
    /// the variants above and below, so their words and exit codes stay those of each stage.
    #[error(transparent)]
    Converge(ConvergeError),
    #[error("cannot install the SIGINT/SIGTERM handlers that let apply stop cleanly: {0}")]
    Signals(nix::Error),
    /// apply would overwrite a file lvs-converge did not write.
    #[error("{0}")]
    TakeOver(String),
    /// clap's `source` group lets `apply` through only with one of them; this is said rather
    /// than panicking should that rule ever be lost.
    #[error("apply needs a spec (-f FILE) or a plan saved by `plan --out` (PLANFILE)")]
    NothingToApply,
    /// `--observed` takes the host's files from the snapshot, so a `--root` beside it would
    /// be ignored: refused rather than ignored silently.
    #[error("--root and --observed cannot be used together: --root DIR reads and writes the persistence files below DIR on this host, while --observed FILE takes the whole host, its persistence files included, from the snapshot FILE written by `show`\n  hint: leave out --root to plan or check against the snapshot, or leave out --observed to read this host with its persistence files below DIR")]
    RootWithObserved,
    /// `--quiet` given to a command whose output is what it exists for: refused rather than
    /// printing nothing, which a script would take for an empty answer.
    #[error("--quiet cannot be used with `{0}`: its output is what it is run for\n  hint: leave out --quiet (send the output to /dev/null to discard it)")]
    QuietRefused(&'static str),
    /// `man DIR` could not write a page.
    #[error("cannot write the man page {}: {source}\n  hint: check that DIR can be created and written, or choose another DIR", .path.display())]
    ManWrite { path: PathBuf, source: std::io::Error },
    /// `--root` given to a command that reads and writes no persistence file: refused rather
    /// than ignored silently.
    #[error("--root does nothing for `{0}`: only plan, apply and check --host read (and apply writes) the persistence files below it\n  hint: leave out --root (for check: or add --host to check this host with its files below DIR)")]
    RootUnused(&'static str),
    #[error("cannot start the agent's event loop (timers, signals): {0}\n  hint: this is the system refusing resources (threads, file descriptors); check `ulimit -n` and memory")]
    AgentRuntime(std::io::Error),
    #[error("cannot serve metrics on {address}: {source}\n  hint: give --metrics an address of this host and a free port (127.0.0.1:9469), or leave it out")]
    MetricsListen { address: std::net::SocketAddr, source: std::io::Error },
    /// `import -o FILE` without `--force`, and FILE exists.
    #[error("{} already exists\n  hint: pass --force to overwrite it, or choose another -o FILE", .0.display())]
    ImportExists(PathBuf),
    #[error("cannot write {}: {source}\n  hint: check that its directory exists and is writable, or leave out -o to print the spec", .path.display())]
    ImportWrite { path: PathBuf, source: std::io::Error },
    /// stdout refused the imported spec (a closed pipe is not an error: see [`print_stdout`]).
    #[error("cannot write the spec to standard output: {0}\n  hint: write it to a file with -o FILE")]
    ImportPrint(std::io::Error),
    /// stdout refused the report (a full disk, a dead terminal); a reader that closed the
    /// pipe is not an error.
    #[error("cannot write {what} to standard output: {source}\n  hint: check where standard output goes (a full disk, a closed terminal){}", .saved_to.as_ref().map(|p| format!("; the plan was saved to {} all the same", p.display())).unwrap_or_default())]
    Output { what: &'static str, saved_to: Option<PathBuf>, source: std::io::Error },
}

impl From<ApplyError> for CliError {
    fn from(error: ApplyError) -> Self {
        CliError::Apply(error)
    }
}

impl From<ConvergeError> for CliError {
    fn from(error: ConvergeError) -> Self {
        match error {
            ConvergeError::Spec(error) => CliError::Spec(error),
            ConvergeError::Observe(error) => CliError::Observe(error),
            ConvergeError::Lock(error) => CliError::Lock(error),
            ConvergeError::Signals(error) => CliError::Signals(error),
            ConvergeError::TakeOver(error) => CliError::TakeOver(error),
            other @ ConvergeError::FouPortBound { .. } => CliError::Converge(other),
        }
    }
}

impl From<SavedPlanError> for CliError {
    fn from(error: SavedPlanError) -> Self {
        CliError::SavedPlan(error)
    }
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

/// The global options every command may use.
struct Context<'a> {
    netns: Option<&'a str>,
    root: Option<&'a Path>,
    style: Style,
    /// `--quiet`: no text report on stdout, no notices on stderr.
    quiet: bool,
}

impl Context<'_> {
    /// Whether a report in `format` goes to stdout: `--quiet` drops text reports, never
    /// JSON (asking for JSON asks for the output; a script that wants neither passes no
    /// `--format json`).
    fn shows_report(&self, format: FormatArg) -> bool {
        !(self.quiet && format == FormatArg::Text)
    }

    /// A notice for people on stderr (where a plan went, an apply waiting), unless `--quiet`.
    fn notice(&self, line: &str) {
        if !self.quiet {
            say(line);
        }
    }
}

pub fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(usage) => return ExitCode::from(usage_exit(&usage)),
    };
    match run(&cli) {
        Ok(code) => ExitCode::from(code),
        Err(error) => {
            say(&render::notice::error(&error));
            ExitCode::from(error.exit_code())
        }
    }
}

/// Prints clap's answer where it belongs and returns its exit code: `--help` and
/// `--version` on stdout with 0, a usage error (unknown flag or subcommand, a missing or bad
/// value) on stderr with 1.
fn usage_exit(answer: &clap::Error) -> u8 {
    // Nowhere to print it (a closed stdout or stderr): the exit code alone tells.
    let _ = answer.print();
    if answer.use_stderr() {
        EXIT_ERROR
    } else {
        EXIT_OK
    }
}

/// Runs the command `cli` names and returns its exit code.
pub fn run(cli: &Cli) -> Result<u8, CliError> {
    let context = Context {
        netns: cli.netns.as_deref(),
        root: cli.root.as_deref(),
        style: style(cli.color, std::io::stdout().is_terminal(), std::env::var_os("NO_COLOR")),
        quiet: cli.quiet,
    };
    let unused_root = match &cli.command {
        Command::Show(_) => Some("show"),
        Command::Import(_) => Some("import"),
        Command::Validate(_) => Some("validate"),
        Command::Schema => Some("schema"),
        Command::Status(_) => Some("status"),
        Command::Check(args) if !args.judges_the_host() => Some("check without --host"),
        Command::Completions(_) => Some("completions"),
        Command::Man(_) => Some("man"),
        _ => None,
    };
    if let (Some(command), Some(_)) = (unused_root, context.root) {
        return Err(CliError::RootUnused(command));
    }
    // Where the output is the product, a quiet run would be an empty answer.
    let output_is_the_product = match &cli.command {
        Command::Show(_) => Some("show"),
        Command::Schema => Some("schema"),
        Command::Import(args) if args.prints() => Some("import without -o"),
        Command::Completions(_) => Some("completions"),
        Command::Agent(_) => Some("agent"),
        _ => None,
    };
    if let (Some(command), true) = (output_is_the_product, context.quiet) {
        return Err(CliError::QuietRefused(command));
    }
    match &cli.command {
        Command::Plan(args) => plan::run(args, &context),
        Command::Apply(args) => apply::run(args, &context),
        Command::Show(args) => show::run(args, &context),
        Command::Check(args) => check::run(args, &context),
        Command::Import(args) => import::run(args, &context),
        Command::Validate(args) => validate::run(args, &context),
        Command::Status(args) => status::run(args, &context),
        Command::Schema => validate::schema(),
        Command::Agent(args) => agent::run(args, &context),
        Command::Completions(args) => completions::run(args),
        Command::Man(args) => man::run(args),
    }
}

/// The style of the report on stdout. `--color auto` colours a terminal unless NO_COLOR
/// holds a value: no-color.org says an empty NO_COLOR does not count. `always` wins over
/// NO_COLOR (the user asked on this very command line). stderr gets no style at all.
fn style(choice: ColorChoice, stdout_is_terminal: bool, no_color: Option<std::ffi::OsString>) -> Style {
    let color = match choice {
        ColorChoice::Always => true,
        ColorChoice::Never => false,
        ColorChoice::Auto => stdout_is_terminal && no_color.is_none_or(|value| value.is_empty()),
    };
    Style { color }
}

/// Refuses `--root` beside `--observed` (see [`CliError::RootWithObserved`]).
fn refuse_root_with_observed(context: &Context, observed: Option<&Path>) -> Result<(), CliError> {
    match (context.root, observed) {
        (Some(_), Some(_)) => Err(CliError::RootWithObserved),
        _ => Ok(()),
    }
}

/// Enters `--netns` when given. Commands call it only once they know they read the live
/// host, and before anything else that could fail, so that a wrong name is said first.
fn enter_netns(netns: Option<&str>) -> Result<(), netns::NetnsError> {
    match netns {
        Some(name) => netns::enter(name),
        None => Ok(()),
    }
}

/// Writes a whole report to stdout. A reader that went away (EPIPE: `| head`) is not an
/// error: it asked for no more, so nothing is said. Rust ignores SIGPIPE, which is what
/// turns a closed pipe into EPIPE here instead of killing the process mid-apply.
fn print_stdout(text: &str) -> std::io::Result<()> {
    write_report(&mut std::io::stdout().lock(), text)
}

/// [`print_stdout`] to any writer.
fn write_report(out: &mut dyn Write, text: &str) -> std::io::Result<()> {
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Err(error) if error.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        written => written,
    }
}

/// Prints a command's report; see [`print_stdout`].
fn print_report(text: &str, what: &'static str) -> Result<(), CliError> {
    print_stdout(text).map_err(|source| CliError::Output { what, saved_to: None, source })
}

/// A line for people on stderr. A failure to write it must not turn into a panic (or
/// another exit code): the exit code already says what happened.
fn say(line: &str) {
    let _ = writeln!(std::io::stderr().lock(), "{line}");
}

/// The spec as `validate` judges it: `node` of a Cluster spec, or every node when none is
/// named (`check` judges no spec that `validate` refuses), each resolved as plan would.
fn validated_nodes(document: &spec::Document, node: Option<&str>) -> Result<Vec<Spec>, SpecError> {
    let names: Vec<Option<&str>> = match (node, document.file.kind) {
        // Without nodes, resolving once reports that the spec has none.
        (None, spec::SpecKind::Cluster) if !document.file.nodes.is_empty() => {
            document.node_names().into_iter().map(Some).collect()
        }
        (node, _) => vec![node],
    };
    names.into_iter().map(|name| desired::resolve(document, &NodeSelector { name, local_addresses: vec![] })).collect()
}

/// Resolves the spec for this host, given its observed state (whose addresses pick the node
/// of a Cluster spec when `--node` is not given).
fn resolve(document: &spec::Document, arg: &SpecArg, observed: &HostState) -> Result<Spec, SpecError> {
    desired::resolve(document, &converge::node_selector(arg.node.as_deref(), observed))
}

/// Observes the live host as the spec needs it: addresses first when the node must be found
/// by address, then everything the resolved spec cares about.
fn observe_for(
    document: &spec::Document,
    arg: &SpecArg,
    root: Option<&std::path::Path>,
) -> Result<(Spec, HostState), CliError> {
    let spec = converge::resolve_for(document, arg.node.as_deref(), root)?;
    let observed = converge::observe_resolved(&spec, root)?;
    Ok((spec, observed))
}

#[cfg(test)]
mod tests {
    use super::*;

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

    #[test]
    fn auto_colours_only_a_terminal_without_a_non_empty_no_color() {
        use std::ffi::OsString;
        let colors =
            |choice, terminal, no_color: Option<&str>| style(choice, terminal, no_color.map(OsString::from)).color;
        assert!(colors(ColorChoice::Auto, true, None));
        assert!(colors(ColorChoice::Auto, true, Some("")), "an empty NO_COLOR does not count (no-color.org)");
        assert!(!colors(ColorChoice::Auto, true, Some("1")));
        assert!(!colors(ColorChoice::Auto, false, None), "a pipe or file gets no colour");
        assert!(colors(ColorChoice::Always, false, Some("1")), "--color always wins over NO_COLOR");
        assert!(!colors(ColorChoice::Never, true, None));
    }

    #[test]
    fn node_help_says_each_commands_own_default() {
        use clap::CommandFactory as _;
        let node_help = |command: &str| {
            let cli = Cli::command();
            let subcommand = cli.find_subcommand(command).unwrap();
            let node = subcommand.get_arguments().find(|a| a.get_id() == "node").unwrap();
            node.get_help().unwrap().to_string()
        };
        // validate and an offline check read no host: their default cannot be this host's node.
        assert!(node_help("validate").ends_with("Default: every node"), "{}", node_help("validate"));
        assert!(node_help("check").contains("Default: every node; with --host"), "{}", node_help("check"));
        for command in ["plan", "apply"] {
            assert!(node_help(command).contains("`address` is on this host"), "{command}: {}", node_help(command));
        }
    }
}
