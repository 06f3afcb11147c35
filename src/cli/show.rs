//! `show`: the live host's state as a snapshot that `plan --observed` reads.

use clap::ValueEnum;

use super::{enter_netns, print_report, CliError, Context, EXIT_OK};
use crate::model::HostState;
use crate::observe::{self, snapshot, Interest};

#[derive(Debug, clap::Args)]
pub struct ShowArgs {
    /// yaml or json; `plan --observed` and `check --observed` read either.
    #[arg(long, value_enum, default_value_t = SnapshotFormat::Yaml)]
    format: SnapshotFormat,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SnapshotFormat {
    Yaml,
    Json,
}

pub(super) fn run(args: &ShowArgs, context: &Context) -> Result<u8, CliError> {
    enter_netns(context.netns)?;
    let state = observe::observe_host(&Interest::default())?;
    print_report(&render_snapshot(state, args.format), "the snapshot")?;
    Ok(EXIT_OK)
}

fn render_snapshot(state: HostState, format: SnapshotFormat) -> String {
    let snapshot = snapshot::Snapshot::new(state);
    match format {
        SnapshotFormat::Yaml => serde_yaml::to_string(&snapshot).expect("state serializes"),
        SnapshotFormat::Json => serde_json::to_string_pretty(&snapshot).expect("state serializes") + "\n",
    }
}
