//! `man DIR` (hidden; for packaging): the man pages, generated from the same clap
//! definition as `--help`: `lvs-converge.1`, and `lvs-converge-COMMAND.1` for each command
//! (how `man lvs-converge-plan` finds it, as git's pages are found).

use std::path::PathBuf;

use clap::CommandFactory as _;
use clap_mangen::roff::{roman, Roff};
use clap_mangen::Man;

use super::{Cli, CliError, EXIT_OK};
use crate::build_info;

#[derive(Debug, clap::Args)]
pub struct ManArgs {
    /// The directory to write the pages into (created when missing; pages there are replaced).
    #[arg(value_name = "DIR")]
    dir: PathBuf,
}

pub(super) fn run(args: &ManArgs) -> Result<u8, CliError> {
    let unwritten = |path: PathBuf| move |source| CliError::ManWrite { path, source };
    std::fs::create_dir_all(&args.dir).map_err(unwritten(args.dir.clone()))?;
    for (name, page) in pages() {
        let path = args.dir.join(format!("{name}.1"));
        std::fs::write(&path, page).map_err(unwritten(path.clone()))?;
    }
    Ok(EXIT_OK)
}

/// The paragraph of the top-level long help that states the exit codes: the main page
/// shows it as its EXIT STATUS section (`man` readers look there), not in DESCRIPTION.
const EXIT_CODES_PARAGRAPH: &str = "Exit codes: ";

/// Every page by its name: the whole tool's, then one per visible command (not `help`, not
/// this hidden one).
pub(crate) fn pages() -> Vec<(String, Vec<u8>)> {
    // No `help` command: it has no page, and the main page must not point to one.
    let mut cli = Cli::command().disable_help_subcommand(true);
    // Built: each command then carries the global options (--netns, --color, --quiet …)
    // and is named `lvs-converge-COMMAND`.
    cli.build();
    let mut pages = vec![("lvs-converge".to_string(), main_page(cli.clone()))];
    for command in cli.get_subcommands().filter(|c| !c.is_hide_set()) {
        let name = command.get_display_name().unwrap_or(command.get_name()).to_string();
        let mut page = Vec::new();
        dated(Man::new(command.clone())).render(&mut page).expect("rendering into memory cannot fail");
        pages.push((name, page));
    }
    pages
}

/// The same footer on every page: the day this build was made and the plain version (the
/// commit is in the VERSION section).
fn dated(man: Man) -> Man {
    man.date(build_info::BUILD_DATE).source(format!("lvs-converge {}", build_info::VERSION))
}

/// clap_mangen's page, with the exit codes as EXIT STATUS and the examples (the top-level
/// `after_help`) as EXAMPLES, kept line by line, both before VERSION.
fn main_page(cli: clap::Command) -> Vec<u8> {
    let long_about = cli.get_long_about().map(|about| about.to_string()).unwrap_or_default();
    let (exit_codes, description): (Vec<&str>, Vec<&str>) =
        long_about.split("\n\n").partition(|paragraph| paragraph.starts_with(EXIT_CODES_PARAGRAPH));
    let examples = cli.get_after_help().map(|help| help.to_string()).unwrap_or_default();
    let man = dated(Man::new(cli.long_about(description.join("\n\n")).after_help(None::<&str>)));
    let mut page = Vec::new();
    man.render(&mut page).expect("rendering into memory cannot fail");
    let page = String::from_utf8(page).expect("clap_mangen writes UTF-8");

    let mut roff = Roff::new();
    roff.control("SH", ["EXIT STATUS"]);
    for paragraph in exit_codes {
        roff.text([roman(paragraph.trim_start_matches(EXIT_CODES_PARAGRAPH))]);
    }
    roff.control("SH", ["EXAMPLES"]);
    // No filling: each example is one command line.
    roff.control("nf", []);
    for line in examples.lines().skip_while(|line| !line.starts_with("  ")) {
        roff.text([roman(line.trim_start())]);
    }
    roff.control("fi", []);
    let version = page.find("\n.SH VERSION").map_or(page.len(), |at| at + 1);
    let (before, after) = page.split_at(version);
    format!("{before}{}{after}", roff.to_roff()).into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_main_page_states_the_exit_codes_once_under_exit_status() {
        let pages = pages();
        let main = String::from_utf8(pages[0].1.clone()).unwrap();
        let exit_status = main.split(".SH \"EXIT STATUS\"").nth(1).expect("an EXIT STATUS section");
        let exit_status = exit_status.split(".SH").next().unwrap();
        assert!(exit_status.contains("3 apply failed or was stopped"), "{exit_status}");
        assert!(!main.contains(EXIT_CODES_PARAGRAPH), "the exit codes are not repeated in DESCRIPTION:\n{main}");
        let examples = main.split(".SH EXAMPLES").nth(1).expect("an EXAMPLES section");
        assert!(examples.contains("lvs\\-converge plan \\-f director.yaml \\-\\-out plan.json"), "{examples}");
    }

    #[test]
    fn there_is_a_page_per_visible_command_and_none_for_help_or_man() {
        let names: Vec<String> = pages().into_iter().map(|(name, _)| name).collect();
        assert_eq!(names[0], "lvs-converge");
        for command in
            ["plan", "apply", "show", "check", "import", "validate", "status", "schema", "agent", "completions"]
        {
            assert!(names.contains(&format!("lvs-converge-{command}")), "no page for {command}: {names:?}");
        }
        assert!(!names.iter().any(|n| n.ends_with("-help") || n.ends_with("-man")), "{names:?}");
    }
}
