//! `completions SHELL`: the shell completion script, generated from the same clap
//! definition the parser uses, so it can never offer a flag the binary refuses.

use clap::CommandFactory as _;

use super::{print_report, Cli, CliError, EXIT_OK};

#[derive(Debug, clap::Args)]
pub struct CompletionsArgs {
    /// The shell to complete for.
    #[arg(value_enum, value_name = "SHELL")]
    shell: clap_complete::Shell,
}

pub(super) fn run(args: &CompletionsArgs) -> Result<u8, CliError> {
    print_report(&script(args.shell), "the completion script")?;
    Ok(EXIT_OK)
}

/// The completion script for `shell`, for the binary named `lvs-converge` (the name the
/// user types, whatever this binary's file is called).
pub(crate) fn script(shell: clap_complete::Shell) -> String {
    let mut script = Vec::new();
    clap_complete::generate(shell, &mut without_hidden(&Cli::command()), "lvs-converge", &mut script);
    let script = String::from_utf8(script).expect("clap_complete writes UTF-8");
    match shell {
        clap_complete::Shell::Bash => bash_hyphen_fix(&script),
        _ => script,
    }
}

/// `command` without its hidden subcommands and options (`man`, `plan --spec-path`), which
/// clap_complete (4.6.12) would offer: they are for packaging and tools, not for people
/// typing. clap cannot remove a subcommand or an argument, so the tree is rebuilt from what
/// completion reads: names, help, version, the visible arguments and groups.
fn without_hidden(command: &clap::Command) -> clap::Command {
    // clap takes names as `&'static str` (without its `string` feature); `completions`
    // prints one script and exits, so the few names leaked here cost nothing.
    let name = |text: &str| -> &'static str { text.to_string().leak() };
    let mut visible = clap::Command::new(name(command.get_name()))
        .args(command.get_arguments().filter(|arg| !arg.is_hide_set()).cloned())
        .groups(command.get_groups().cloned())
        .subcommands(command.get_subcommands().filter(|sub| !sub.is_hide_set()).map(without_hidden))
        .visible_aliases(command.get_visible_aliases().map(name).collect::<Vec<_>>());
    if let Some(about) = command.get_about() {
        visible = visible.about(about.clone());
    }
    if let Some(long_about) = command.get_long_about() {
        visible = visible.long_about(long_about.clone());
    }
    if let Some(version) = command.get_version() {
        visible = visible.version(name(version));
    }
    visible
}

/// clap_complete (4.6.12) spells the state of a command under a hyphenated binary one way
/// in the loop that finds it (`lvs__converge__subcmd__plan`) and another in the `case`
/// arms that complete it (`lvs__subcmd__converge__subcmd__plan`), so no option of any
/// command ever completed in bash (clap-rs/clap#6421, open). The arms are respelled as
/// the loop spells them; once clap_complete is fixed there is nothing to replace.
fn bash_hyphen_fix(script: &str) -> String {
    script.replace("lvs__subcmd__converge", "lvs__converge")
}
