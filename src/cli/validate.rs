//! `validate` and `schema`: the spec alone, never the host.

use super::{print_report, CliError, SpecArg, EXIT_OK};
use crate::desired;
use crate::render;
use crate::spec::{self, NodeSelector};

// validate reads no host, so `--node` cannot default to this host's node.
#[derive(Debug, clap::Args)]
#[command(mut_arg("node", |node| node.help("Validate only this node of a Cluster spec. Default: every node")))]
pub struct ValidateArgs {
    #[command(flatten)]
    spec: SpecArg,
}

/// Resolves the spec (every node of a Cluster spec, not just this host's) and says what it holds.
pub(super) fn run(args: &ValidateArgs) -> Result<u8, CliError> {
    let arg = &args.spec;
    let document = spec::read(&arg.path)?;
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
        described.push_str(&render::spec_summary::validated(&spec));
    }
    print_report(&described, "the result")?;
    Ok(EXIT_OK)
}

pub(super) fn schema() -> Result<u8, CliError> {
    print_report(&spec::schema::render(), "the schema")?;
    Ok(EXIT_OK)
}
