//! `plan`: the changes apply would make, printed and optionally saved for `apply PLANFILE`.

use std::io::Write;
use std::path::{Path, PathBuf};

use super::{
    enter_netns, observe_for, print_stdout, refuse_root_with_observed, resolve, CliError, Context, FormatArg, SpecArg,
    EXIT_CHANGES_PENDING, EXIT_OK,
};
use crate::desired::Spec;
use crate::model::HostState;
use crate::observe::snapshot;
use crate::plan::saved::{sha256_hex, ObservedFrom, Provenance, SavedPlan, SavedPlanError, SpecFingerprint};
use crate::render;
use crate::spec;
use crate::{lint, plan};

#[derive(Debug, clap::Args)]
pub struct PlanArgs {
    #[command(flatten)]
    spec: SpecArg,
    /// Plan against a snapshot written by `show` instead of the live host (no root needed).
    #[arg(long, value_name = "FILE")]
    observed: Option<PathBuf>,
    /// Also save the plan to FILE, for `apply FILE` to make exactly these changes later.
    #[arg(long, value_name = "FILE")]
    out: Option<PathBuf>,
    /// text for people; json for scripts (`format_version`, each change's before and after,
    /// the drift summary, the findings).
    #[arg(long, value_enum, default_value_t = FormatArg::Text)]
    format: FormatArg,
    /// Plan the spec read from -f FILE as if it were at PATH (absolute): the boot unit's
    /// default `specPath`, the saved plan's spec path and the spec's messages name PATH.
    /// For tools that plan a private copy of a spec they will install at PATH (the Ansible
    /// module in check mode): the plan must be the one the real spec makes.
    #[arg(long, value_name = "PATH", hide = true, value_parser = absolute_spec_path)]
    spec_path: Option<PathBuf>,
}

/// `--spec-path` names where the spec will be, wherever lvs-converge runs from.
fn absolute_spec_path(value: &str) -> Result<PathBuf, String> {
    let path = PathBuf::from(value);
    if path.is_absolute() {
        Ok(path)
    } else {
        Err(format!("`{value}` is not an absolute path: --spec-path names where the spec will be on the host, which must not depend on the directory lvs-converge runs from"))
    }
}

pub(super) fn run(args: &PlanArgs, context: &Context) -> Result<u8, CliError> {
    let arg = &args.spec;
    refuse_root_with_observed(context, args.observed.as_deref())?;
    if args.observed.is_none() {
        enter_netns(context.netns)?;
    }
    let mut document = spec::read(&arg.path)?;
    if let Some(spec_path) = &args.spec_path {
        // Everything derived from the spec's own path (the boot unit, the saved plan's
        // provenance) follows `source`.
        document.source = spec_path.clone();
    }
    let (mut spec, observed) = match &args.observed {
        Some(path) => {
            let observed = snapshot::read(path)?;
            let spec = resolve(&document, arg, &observed)?;
            if args.out.is_some() {
                snapshot::covers(&observed, &spec.desired)
                    .map_err(|what| SavedPlanError::SnapshotTooNarrow { snapshot: path.clone(), what })?;
            }
            (spec, observed)
        }
        None => observe_for(&document, arg, context.root)?,
    };
    let plan = crate::converge::plan_spec(&document, &mut spec, &observed)?;
    // Notes are for `check`; a plan shows what breaks or will.
    let mut findings = lint::check_observed(&document, &spec, &observed);
    findings.retain(|f| f.severity != lint::Severity::Note);
    let text =
        render::plan_report::plan_report(&plan, spec.node.as_deref(), &findings, args.format.into(), context.style);
    // The file first: a report that cannot be printed must not lose the saved plan.
    if let Some(out) = &args.out {
        let observed_from = match &args.observed {
            Some(path) => ObservedFrom::Snapshot { path: path.clone() },
            None => ObservedFrom::Live,
        };
        write_saved_plan(out, spec, document.text(), &plan, observed, observed_from, context)?;
    }
    if context.shows_report(args.format) {
        print_stdout(&text).map_err(|source| CliError::Output {
            what: "the plan",
            saved_to: args.out.clone(),
            source,
        })?;
    }
    if let Some(out) = &args.out {
        context.notice(&render::notice::plan_saved(out));
    }
    Ok(if plan.converged() { EXIT_OK } else { EXIT_CHANGES_PENDING })
}

/// `plan --out`: the plan with what it was made from, for `apply PLANFILE`.
fn write_saved_plan(
    out: &Path,
    spec: Spec,
    spec_text: &str,
    plan: &plan::Plan,
    observed: HostState,
    observed_from: ObservedFrom,
    context: &Context,
) -> Result<(), SavedPlanError> {
    let io = |action, source| SavedPlanError::Io { path: out.to_path_buf(), action, source };
    let made = Provenance {
        created_at: crate::rundir::unix_now(),
        // The text that was planned, not the file as it may be by now.
        spec: SpecFingerprint { path: spec.source, sha256: sha256_hex(spec_text.as_bytes()) },
        node: spec.node,
        netns: context.netns.map(str::to_string),
        // Absolute, so that applying from another directory acts on the same tree.
        root: context.root.map(|root| std::path::absolute(root).unwrap_or_else(|_| root.to_path_buf())),
        observed_from,
    };
    let saved = SavedPlan::new(made, spec.desired, spec.ownership, &spec.origins, plan.clone(), observed)
        .with_spec_text(spec_text)
        .with_host_networkd(spec.host_networkd);
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
