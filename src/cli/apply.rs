//! `apply`: make the changes (from a spec, or exactly those of a saved plan), verify them,
//! and exit with how the host was left.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::{enter_netns, write_report, CliError, Context, FormatArg, SpecArg, EXIT_OK};
use crate::apply::faults::FaultInjecting;
use crate::apply::live::LiveHost;
use crate::apply::{self, ApplyError, ApplyOptions, Host as _};
use crate::converge::{converge_live, ConvergeOptions};
use crate::observe::Interest;
use crate::plan::saved::{SavedPlan, SavedPlanError};
use crate::render::{self, text::Style, Format};
use crate::spec;
use crate::{interrupt, lock};

#[derive(Debug, clap::Args)]
#[command(group(clap::ArgGroup::new("source").required(true).args(["path", "plan_file"])))]
pub struct ApplyArgs {
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
    /// text for people; json for scripts (what changed; when apply failed or was stopped,
    /// what failed, what stays and what is unknown, while the error goes to stderr).
    #[arg(long, value_enum, default_value_t = FormatArg::Text)]
    format: FormatArg,
}

impl ApplyArgs {
    fn options(&self) -> ApplyOptions {
        ApplyOptions { rollback: !self.no_rollback, wait: self.wait, ..ApplyOptions::default() }
    }
}

pub(super) fn run(args: &ApplyArgs, context: &Context) -> Result<u8, CliError> {
    match (&args.plan_file, &args.spec) {
        (Some(plan_file), _) => apply_saved_plan(plan_file, args, context),
        (None, Some(spec)) => apply_spec(spec, args, context),
        (None, None) => Err(CliError::NothingToApply),
    }
}

/// Whether the saved plan's desired state persists interface settings (a `.network` file or
/// a drop-in of the host's): only then do the host's own networkd files bear on it.
fn writes_network_settings(desired: &crate::model::HostState) -> bool {
    let drop_ins = |path: &Path| path.to_str().is_some_and(|p| p.ends_with(".network.d"));
    desired
        .files
        .keys()
        .any(|path| path.extension().is_some_and(|e| e == "network") || path.parent().is_some_and(drop_ins))
}

/// `apply PLANFILE`: exactly the saved plan's changes, in the namespace and root it was made for.
fn apply_saved_plan(path: &Path, args: &ApplyArgs, context: &Context) -> Result<u8, CliError> {
    // A saved plan names its namespace and root; it is read before entering either.
    let saved = read_saved_plan(path)?;
    let (netns, root) = saved.context(path, context.netns, context.root)?;
    enter_netns(netns.as_deref())?;
    if writes_network_settings(&saved.desired) {
        let host_networkd = crate::observe::files::read_host_networkd(root.as_deref())?;
        saved
            .check_host_networkd(&host_networkd, path, crate::rundir::unix_now())
            .map_err(|stale| CliError::Apply(ApplyError::Stale(stale)))?;
    }
    apply::files::check_take_over(&saved.plan, args.take_over).map_err(CliError::TakeOver)?;
    let lock_timeout = Duration::from_secs(args.lock_timeout);
    let mut say_waiting = say_waiting(context);
    let mut apply_lock = lock::acquire(lock_timeout, &mut say_waiting)?;
    let writes_files = lock::writes_persistence(&saved.desired, &saved.ownership, Some(&saved.plan));
    ready_to_change(&mut apply_lock, writes_files, lock_timeout, &mut say_waiting)?;
    let interest = Interest::for_desired(&saved.desired).with_files(&saved.ownership.files, root.as_deref());
    let mut host = FaultInjecting::from_env(LiveHost::new(interest).take_over(args.take_over));
    let node = saved.made.node.clone();
    let result = apply::apply_saved(saved, path, crate::rundir::unix_now(), args.options(), &mut host);
    report_apply(result, node.as_deref(), host.netlink_writes(), args.format, context)
}

/// `apply -f SPEC`: plan against the live host, then make those changes.
fn apply_spec(arg: &SpecArg, args: &ApplyArgs, context: &Context) -> Result<u8, CliError> {
    enter_netns(context.netns)?;
    let document = spec::read(&arg.path)?;
    let options = ConvergeOptions {
        take_over: args.take_over,
        apply: args.options(),
        lock_timeout: Duration::from_secs(args.lock_timeout),
        stop_on_signals: true,
        health: None,
    };
    let converged = converge_live(&document, arg.node.as_deref(), context.root, &options, &mut say_waiting(context))?;
    let node = converged.spec.node.as_deref();
    report_apply(converged.result, node, converged.netlink_writes, args.format, context)
}

/// The last step before apply reads the host to change it: the host-wide lock when it may
/// write persistence files (always after the namespace lock), and SIGINT/SIGTERM taken
/// over so that they stop apply at an operation boundary (before this, they end the
/// process with nothing changed).
fn ready_to_change(
    apply_lock: &mut lock::ApplyLock,
    writes_files: bool,
    lock_timeout: std::time::Duration,
    say_waiting: &mut dyn FnMut(&lock::Waiting),
) -> Result<(), CliError> {
    if writes_files {
        apply_lock.cover_persistence_files(lock_timeout, say_waiting)?;
    }
    interrupt::install().map_err(CliError::Signals)
}

/// Says (unless `--quiet`) that apply waits for another's lock.
fn say_waiting<'a>(context: &'a Context) -> impl FnMut(&lock::Waiting) + 'a {
    |waiting| context.notice(&render::notice::lock_waiting(waiting))
}

/// An apply's report on stdout and its exit code: the JSON failure document for a failed
/// one (the error itself goes to stderr), the report of a successful one (none in text
/// with `--quiet`: the exit code says it).
/// `node`: the Cluster node applied (None: a Host spec); `netlink_writes`: the change
/// requests the host was sent, rollback included.
fn report_apply(
    result: Result<apply::ApplyReport, ApplyError>,
    node: Option<&str>,
    netlink_writes: usize,
    format: FormatArg,
    context: &Context,
) -> Result<u8, CliError> {
    let report = result.map_err(|error| report_apply_failure(error, netlink_writes, format.into()))?;
    if !context.shows_report(format) {
        return Ok(EXIT_OK);
    }
    let text = render_apply(&report, node, format.into(), context.style);
    Ok(report_applied(&mut std::io::stdout().lock(), &mut std::io::stderr(), &text))
}

fn read_saved_plan(path: &Path) -> Result<SavedPlan, SavedPlanError> {
    let text = std::fs::read_to_string(path).map_err(|source| SavedPlanError::Io {
        path: path.to_path_buf(),
        action: "reading",
        source,
    })?;
    SavedPlan::from_json(&text, path)
}

/// Prints the report of an apply that succeeded. The host WAS changed, so the exit code
/// stays 0 whatever happens to the report; a report that could not be written is said on
/// stderr (quietly dropped when the reader closed the pipe).
fn report_applied(out: &mut dyn Write, err: &mut dyn Write, text: &str) -> u8 {
    if let Err(error) = write_report(out, text) {
        let _ = writeln!(err, "{}", render::notice::apply_report_unwritten(&error));
    }
    EXIT_OK
}

fn render_apply(report: &apply::ApplyReport, node: Option<&str>, format: Format, style: Style) -> String {
    match format {
        Format::Text => render::text::render_apply(&report.plan, node, style),
        Format::Json => render::json::render_apply(&report.plan, node, report.netlink_writes),
    }
}

/// `apply --format json` that failed while changing the host: the failure document goes to
/// stdout (what failed, what stays, what is unknown); the text still goes to stderr.
fn report_apply_failure(error: ApplyError, netlink_writes: usize, format: Format) -> ApplyError {
    if format == Format::Json {
        if let Some(document) = render::json::render_apply_failure(&error, netlink_writes) {
            // Never a panic on a broken stdout: the exit code and stderr still tell.
            let _ = std::io::Write::write_all(&mut std::io::stdout().lock(), document.as_bytes());
        }
    }
    error
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
    fn apply_without_a_spec_or_a_plan_file_is_refused_not_a_panic() {
        use clap::Parser as _;
        assert!(super::super::Cli::try_parse_from(["lvs-converge", "apply"]).is_err(), "clap requires a source");
        let args = ApplyArgs {
            spec: None,
            plan_file: None,
            no_rollback: false,
            take_over: false,
            wait: false,
            lock_timeout: 0,
            format: FormatArg::Text,
        };
        let context = Context { netns: None, root: None, style: Style { color: false }, quiet: false };
        assert!(matches!(run(&args, &context), Err(CliError::NothingToApply)));
    }
}
