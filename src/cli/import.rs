//! `import`: reads a source into a Host spec (see [`crate::import`]) and writes it out.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use clap::ValueEnum;

use super::{enter_netns, print_stdout, say, CliError, Context, EXIT_OK};
use crate::import::{self, live, utc_timestamp, Imported};
use crate::observe::{self, Interest};
use crate::render;

/// `lvs-converge import`'s options.
#[derive(Debug, clap::Args)]
pub struct ImportArgs {
    /// Import an `ipvsadm-save -n` (`ipvsadm -Sn`) rules file instead of the live host.
    #[arg(long, value_name = "FILE", conflicts_with = "keepalived")]
    ipvsadm_save: Option<PathBuf>,
    /// Import the virtual_server blocks of a keepalived.conf instead of the live host.
    #[arg(long, value_name = "FILE")]
    keepalived: Option<PathBuf>,
    /// Write the spec to FILE (default: standard output).
    #[arg(short = 'o', long = "output", value_name = "FILE")]
    output: Option<PathBuf>,
    /// Overwrite FILE if it exists.
    #[arg(long, requires = "output")]
    force: bool,
    /// Live host: write the short `role:` form of this role (auto: of the role the host
    /// looks like) when it describes the host exactly. With director/real-server, fail if it
    /// does not.
    #[arg(long, value_enum, default_value_t = RoleArg::Auto, conflicts_with_all = ["ipvsadm_save", "keepalived"])]
    role: RoleArg,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum RoleArg {
    Auto,
    Director,
    RealServer,
}

impl ImportArgs {
    /// Whether the spec goes to stdout (no `-o FILE`): then the output is the product and
    /// `--quiet` is refused.
    pub(super) fn prints(&self) -> bool {
        self.output.is_none()
    }
}

impl From<RoleArg> for live::RoleChoice {
    fn from(role: RoleArg) -> Self {
        match role {
            RoleArg::Auto => live::RoleChoice::Auto,
            RoleArg::Director => live::RoleChoice::Director,
            RoleArg::RealServer => live::RoleChoice::RealServer,
        }
    }
}

/// Reads the source (entering `--netns` first for the live host), writes the spec, prints
/// the notes to stderr.
pub(super) fn run(args: &ImportArgs, context: &Context) -> Result<u8, CliError> {
    let imported = read_source(args, context.netns)?;
    let text = imported.to_yaml_readable(&utc_timestamp(crate::rundir::unix_now()))?;
    for note in &imported.notes {
        say(&render::notice::note(note));
    }
    match &args.output {
        Some(path) => write_output(path, &text, args.force)?,
        None => print_stdout(&text).map_err(CliError::ImportPrint)?,
    }
    Ok(EXIT_OK)
}

fn read_source(args: &ImportArgs, netns: Option<&str>) -> Result<Imported, CliError> {
    if let Some(path) = &args.ipvsadm_save {
        return Ok(import::from_ipvsadm_save_file(path)?);
    }
    if let Some(path) = &args.keepalived {
        return Ok(import::from_keepalived_file(path)?);
    }
    enter_netns(netns)?;
    let host = observe::observe_host(&Interest::default())?;
    Ok(live::import(&host, args.role.into(), &render::import::live_host_source(netns), render::change::object)?)
}

/// Writes `text` to `path`, refusing to replace an existing file unless `force`.
fn write_output(path: &Path, text: &str, force: bool) -> Result<(), CliError> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true);
    if force {
        options.create(true).truncate(true);
    } else {
        options.create_new(true);
    }
    let mut file = options.open(path).map_err(|source| match source.kind() {
        std::io::ErrorKind::AlreadyExists => CliError::ImportExists(path.to_path_buf()),
        _ => CliError::ImportWrite { path: path.to_path_buf(), source },
    })?;
    file.write_all(text.as_bytes()).map_err(|source| CliError::ImportWrite { path: path.to_path_buf(), source })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn output_file_is_not_overwritten_without_force() {
        let directory = crate::test_support::scratch_dir("cli", "import-output");
        let path = directory.join("spec.yaml");
        write_output(&path, "first\n", false).unwrap();
        let error = write_output(&path, "second\n", false).unwrap_err().to_string();
        assert!(error.contains("already exists") && error.contains("--force"), "{error}");
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "first\n");
        write_output(&path, "second\n", true).unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "second\n");
        std::fs::remove_dir_all(directory).unwrap();
    }
}
