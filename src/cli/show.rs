//! `show`: the live host's state as a snapshot that `plan --observed` reads.

use clap::ValueEnum;

use super::{enter_netns, print_report, CliError, Context, EXIT_OK};
use crate::observe::{self, Interest};
use crate::render::snapshot::{self, SnapshotFormat};

#[derive(Debug, clap::Args)]
pub struct ShowArgs {
    /// yaml or json; `plan --observed` and `check --observed` read either.
    #[arg(long, value_enum, default_value_t = SnapshotFormatArg::Yaml)]
    format: SnapshotFormatArg,
}

/// `--format` of `show`; render has its own type, free of clap.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SnapshotFormatArg {
    Yaml,
    Json,
}

impl From<SnapshotFormatArg> for SnapshotFormat {
    fn from(format: SnapshotFormatArg) -> Self {
        match format {
            SnapshotFormatArg::Yaml => SnapshotFormat::Yaml,
            SnapshotFormatArg::Json => SnapshotFormat::Json,
        }
    }
}

pub(super) fn run(args: &ShowArgs, context: &Context) -> Result<u8, CliError> {
    enter_netns(context.netns)?;
    let state = observe::observe_host(&Interest::default())?;
    print_report(&snapshot::snapshot(state, args.format.into()), "the snapshot")?;
    Ok(EXIT_OK)
}
