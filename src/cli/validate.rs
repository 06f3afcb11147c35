//! `validate` and `schema`: the spec alone, never the host.

use super::{print_report, validated_nodes, CliError, Context, FormatArg, SpecArg, EXIT_OK};
use crate::render;
use crate::spec;

// validate reads no host, so `--node` cannot default to this host's node.
#[derive(Debug, clap::Args)]
#[command(mut_arg("node", |node| node.help("Validate only this node of a Cluster spec. Default: every node")))]
pub struct ValidateArgs {
    #[command(flatten)]
    spec: SpecArg,
}

/// Resolves the spec (every node of a Cluster spec, not just this host's) and says what it holds.
pub(super) fn run(args: &ValidateArgs, context: &Context) -> Result<u8, CliError> {
    let arg = &args.spec;
    let document = spec::read(&arg.path)?;
    let described: String =
        validated_nodes(&document, arg.node.as_deref())?.iter().map(render::spec_summary::validated).collect();
    // validate speaks only text.
    if context.shows_report(FormatArg::Text) {
        print_report(&described, "the result")?;
    }
    Ok(EXIT_OK)
}

pub(super) fn schema() -> Result<u8, CliError> {
    print_report(&spec::schema::render(), "the schema")?;
    Ok(EXIT_OK)
}
