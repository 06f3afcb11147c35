//! `status`: each checked real server's health as the agent running in this namespace
//! found it, and since when. Exit 0: none unhealthy (or no agent runs), 2: at least one
//! unhealthy (for alerting), 1: error.

use std::path::PathBuf;

use super::{enter_netns, print_report, CliError, Context, FormatArg, SpecArg, EXIT_CHANGES_PENDING, EXIT_OK};
use crate::desired::Spec;
use crate::model::health::HealthPolicy;
use crate::model::ipvs::{DestinationKey, ServiceKey};
use crate::model::HostState;
use crate::observe::health::FoundRecords;
use crate::observe::snapshot;
use crate::plan::health::overlay;
use crate::render::status::{self, StatusInput};
use crate::spec;

#[derive(Debug, clap::Args)]
pub struct StatusArgs {
    /// The spec the agent runs: also show what each verdict holds (drained, removed, a
    /// dynamic weight, a sorry server) and the checked real servers not judged yet.
    #[arg(short = 'f', long = "spec", value_name = "FILE")]
    spec: Option<PathBuf>,
    /// Which node of a Cluster spec this host is (with -f). Default: the node whose
    /// `address` is on this host.
    #[arg(long, value_name = "NAME", requires = "spec")]
    node: Option<String>,
    /// Read the health records from a snapshot written by `show` instead of this host.
    #[arg(long, value_name = "FILE")]
    observed: Option<PathBuf>,
    /// text for people; json for scripts (`agent_running`, `real_servers`, `unhealthy`).
    #[arg(long, value_enum, default_value_t = FormatArg::Text)]
    format: FormatArg,
}

pub(super) fn run(args: &StatusArgs, context: &Context) -> Result<u8, CliError> {
    let (found, now, observed) = match &args.observed {
        Some(path) => {
            let observed = snapshot::read(path)?;
            let found = observed.ipvs.health.clone().map_or(FoundRecords::Absent, FoundRecords::Current);
            let now =
                if observed.ipvs.observed_at != 0 { observed.ipvs.observed_at } else { crate::rundir::unix_now() };
            (found, now, Some(observed))
        }
        None => {
            enter_netns(context.netns)?;
            let now = crate::rundir::unix_now();
            // Unlike plan, status says why it cannot look (not root, a directory not ours)
            // rather than report that no agent runs.
            let found = match crate::rundir::RunDir::existing()? {
                Some(run_dir) => crate::observe::health::find_in(&run_dir, now),
                None => FoundRecords::Absent,
            };
            (found, now, None)
        }
    };
    let spec = match &args.spec {
        Some(path) => Some(resolve(path, args.node.clone(), observed.as_ref())?),
        None => None,
    };
    let current = match &found {
        FoundRecords::Current(records) => Some(records),
        FoundRecords::Absent | FoundRecords::Expired(_) => None,
    };
    let (holds, unjudged) = match (&spec, current) {
        (Some(spec), Some(records)) => {
            let (_, holds) = overlay(&spec.desired.ipvs, &spec.health, Some(records));
            (holds, unjudged(&spec.health, records))
        }
        _ => (Vec::new(), Vec::new()),
    };
    // A snapshot's agent is another host's process: only a live look can tell it exited.
    let agent_exited = args.observed.is_none() && current.is_some_and(|records| !process_exists(records.agent_pid));
    let input = StatusInput { found: &found, holds: &holds, unjudged: &unjudged, now, agent_exited };
    if context.shows_report(args.format) {
        print_report(&status::status(&input, args.format.into(), context.style), "the status")?;
    }
    Ok(match current {
        Some(records) if status::unhealthy_count(records) > 0 => EXIT_CHANGES_PENDING,
        _ => EXIT_OK,
    })
}

/// Whether a process with this pid exists (signal 0: nothing is sent). EPERM means it
/// exists under another user.
fn process_exists(pid: u32) -> bool {
    let Ok(pid) = i32::try_from(pid) else { return false };
    !matches!(nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), None), Err(nix::errno::Errno::ESRCH))
}

/// The spec for this host (`observed` from a snapshot, else the live host, picks a
/// Cluster's node when `--node` is not given).
fn resolve(path: &std::path::Path, node: Option<String>, observed: Option<&HostState>) -> Result<Spec, CliError> {
    let document = spec::read(path)?;
    let arg = SpecArg { path: path.to_path_buf(), node };
    match observed {
        Some(observed) => Ok(super::resolve(&document, &arg, observed)?),
        None => Ok(crate::converge::resolve_for(&document, arg.node.as_deref(), None)?),
    }
}

/// Checked real servers of the spec the records do not mention yet.
fn unjudged(policy: &HealthPolicy, records: &crate::model::health::HealthRecords) -> Vec<(ServiceKey, DestinationKey)> {
    let recorded = |service: &ServiceKey, destination: &DestinationKey| {
        records.servers.iter().any(|r| r.service == *service && r.destination == *destination)
    };
    policy
        .services
        .iter()
        .flat_map(|(service, health)| health.checks.keys().map(move |destination| (*service, *destination)))
        .filter(|(service, destination)| !recorded(service, destination))
        .collect()
}
