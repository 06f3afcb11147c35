//! What a user and a package see of the binary besides its commands: `--version` (with the
//! commit and build date), `completions SHELL`, the hidden `man DIR`, `--quiet` for scripts
//! and the colour rules (`--color`, NO_COLOR, never on stderr).

use std::path::Path;
use std::process::{Command, Output, Stdio};

mod scratch;
use scratch::Scratch;

const ROOT: &str = env!("CARGO_MANIFEST_DIR");
const DRIFT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/cases/drift_repair");
const ESC: &str = "\x1b[";

fn lvs_converge(args: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_lvs-converge"));
    command.args(args).env_remove("NO_COLOR").stdin(Stdio::null());
    command
}

fn run(args: &[&str]) -> Output {
    lvs_converge(args).output().expect("run lvs-converge")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8(bytes.to_vec()).expect("UTF-8 output")
}

/// `plan` of the drift_repair golden case (exit 2: changes pending) with `extra` options.
fn plan_drift(extra: &[&str]) -> Output {
    let (spec, observed) = (format!("{DRIFT}/spec.yaml"), format!("{DRIFT}/observed.yaml"));
    let mut args = vec!["plan", "-f", &spec, "--observed", &observed];
    args.extend(extra);
    run(&args)
}

fn have(tool: &str) -> bool {
    Command::new("sh").args(["-c", &format!("command -v {tool}")]).output().is_ok_and(|o| o.status.success())
}

/// `lvs-converge 0.1.0 (commit X, built YYYY-MM-DD)` → (X, YYYY-MM-DD).
fn version_parts() -> (String, String) {
    let output = run(&["--version"]);
    assert_eq!(output.status.code(), Some(0));
    let line = text(&output.stdout);
    let prefix = format!("lvs-converge {} (commit ", env!("CARGO_PKG_VERSION"));
    let rest = line.strip_prefix(&prefix).unwrap_or_else(|| panic!("--version: {line:?}"));
    let (commit, rest) = rest.split_once(", built ").unwrap_or_else(|| panic!("--version: {line:?}"));
    let date = rest.strip_suffix(")\n").unwrap_or_else(|| panic!("--version: {line:?}"));
    (commit.to_string(), date.to_string())
}

#[test]
fn version_names_the_commit_and_the_build_day() {
    let (commit, date) = version_parts();
    let digits = |s: &str, n: usize| s.len() == n && s.bytes().all(|b| b.is_ascii_digit());
    let day: Vec<&str> = date.split('-').collect();
    assert!(day.len() == 3 && digits(day[0], 4) && digits(day[1], 2) && digits(day[2], 2), "built {date}");
    // Built from this work tree (no LVS_CONVERGE_COMMIT given): HEAD's short hash.
    let head = Command::new("git").args(["rev-parse", "--short=12", "HEAD"]).current_dir(ROOT).output();
    match head {
        Ok(head) if head.status.success() && std::env::var_os("LVS_CONVERGE_COMMIT").is_none() => {
            assert_eq!(commit, text(&head.stdout).trim(), "--version names HEAD")
        }
        _ => assert!(commit == "unknown" || commit.bytes().all(|b| b.is_ascii_alphanumeric()), "{commit}"),
    }
    assert_eq!(text(&run(&["-V"]).stdout), text(&run(&["--version"]).stdout));
}

#[test]
fn each_shell_gets_a_completion_script_for_lvs_converge() {
    let expect = [
        ("bash", "complete -F _lvs__converge"),
        ("zsh", "#compdef lvs-converge"),
        ("fish", "complete -c lvs-converge"),
        ("elvish", "edit:completion:arg-completer[lvs-converge]"),
        ("powershell", "Register-ArgumentCompleter -Native -CommandName 'lvs-converge'"),
    ];
    for (shell, marker) in expect {
        let output = run(&["completions", shell]);
        assert_eq!(output.status.code(), Some(0), "{shell}: {}", text(&output.stderr));
        let script = text(&output.stdout);
        assert!(script.contains(marker), "{shell} script lacks {marker:?}");
        // Every command is offered; the hidden `man` and `plan --spec-path` (packaging,
        // tools) are not, though clap_complete would offer them.
        assert!(script.contains("apply") && script.contains("completions"), "{shell}");
        assert!(!script.contains("Write the man pages") && !script.contains("spec-path"), "{shell} offers hidden ones");
    }
    let unknown = run(&["completions", "tcsh"]);
    assert_eq!(unknown.status.code(), Some(1));
    assert!(text(&unknown.stderr).contains("[possible values: bash, elvish, fish, powershell, zsh]"));
}

/// What bash completes `lvs-converge WORDS…` to (the last word being completed), through
/// the function the script registers for `lvs-converge` (`_lvs__converge`: clap_complete
/// spells `-` as `__`), found with `complete -p` and called as bash calls it (command,
/// current word, previous word).
fn bash_completes(words: &[&str]) -> String {
    let script = text(&run(&["completions", "bash"]).stdout);
    let words: Vec<String> = words.iter().map(|w| format!("'{w}'")).collect();
    let program = format!(
        "{script}\nCOMP_WORDS=({}); COMP_CWORD={}; COMP_LINE=\"${{COMP_WORDS[*]}}\"; COMP_POINT=${{#COMP_LINE}}; complete -p lvs-converge >/dev/null || exit 3; function=$(complete -p lvs-converge | sed -n 's/.* -F \\([^ ]*\\) .*/\\1/p'); \"$function\" lvs-converge \"${{COMP_WORDS[COMP_CWORD]}}\" \"${{COMP_WORDS[COMP_CWORD-1]}}\"; echo \"${{COMPREPLY[@]}}\"",
        words.join(" "),
        words.len() - 1
    );
    let output = Command::new("bash").args(["--norc", "--noprofile", "-c", &program]).output().expect("run bash");
    assert!(output.status.success(), "bash: {}", text(&output.stderr));
    text(&output.stdout).trim().to_string()
}

#[test]
fn bash_completes_commands_and_their_options() {
    if !have("bash") {
        eprintln!("skipped: no bash on this machine");
        return;
    }
    assert_eq!(bash_completes(&["lvs-converge", "pl"]), "plan");
    let commands = bash_completes(&["lvs-converge", ""]);
    for command in ["plan", "apply", "show", "check", "import", "validate", "status", "schema", "agent", "completions"]
    {
        assert!(commands.split(' ').any(|c| c == command), "{command} not offered: {commands}");
    }
    let options = bash_completes(&["lvs-converge", "plan", "--ob"]);
    assert_eq!(options, "--observed");
    assert_eq!(bash_completes(&["lvs-converge", "completions", "fi"]), "fish");
    // Hidden ones complete to nothing.
    assert_eq!(bash_completes(&["lvs-converge", "ma"]), "");
    assert_eq!(bash_completes(&["lvs-converge", "help", "ma"]), "");
    assert_eq!(bash_completes(&["lvs-converge", "plan", "--spec-"]), "");
    assert_eq!(bash_completes(&["lvs-converge", "plan", "--spe"]), "--spec");
}

const COMMANDS: [&str; 10] =
    ["plan", "apply", "show", "check", "import", "validate", "status", "schema", "agent", "completions"];

#[test]
fn man_writes_a_page_per_command_with_exit_status_and_examples() {
    let scratch = Scratch::new("cli-surface", "man");
    let dir = scratch.path("man1");
    let output = run(&["man", dir.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
    assert!(output.stdout.is_empty());
    let mut names: Vec<String> =
        std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    names.sort();
    let mut expected: Vec<String> = COMMANDS.iter().map(|c| format!("lvs-converge-{c}.1")).collect();
    expected.push("lvs-converge.1".into());
    expected.sort();
    assert_eq!(names, expected);

    let main = std::fs::read_to_string(dir.join("lvs-converge.1")).unwrap();
    assert!(main.lines().any(|line| line.starts_with(".TH lvs-converge 1 ")), "{main}");
    for section in [".SH NAME", ".SH SYNOPSIS", ".SH OPTIONS", ".SH \"EXIT STATUS\"", ".SH EXAMPLES", ".SH VERSION"] {
        assert!(main.contains(section), "lvs-converge.1 lacks {section}");
    }
    for command in COMMANDS {
        assert!(main.contains(&format!("lvs\\-converge\\-{command}(1)")), "lvs-converge.1 does not point to {command}");
        let page = std::fs::read_to_string(dir.join(format!("lvs-converge-{command}.1"))).unwrap();
        let title = format!(".TH lvs-converge-{command} 1 ");
        assert!(page.lines().any(|line| line.starts_with(&title)), "{command}: {page}");
        // The global options are on every page.
        assert!(page.contains("\\-\\-quiet"), "lvs-converge-{command}.1 lacks --quiet");
    }
    let (commit, _) = version_parts();
    assert!(main.contains(&commit), "the VERSION section names the commit {commit}");

    if have("man") {
        let rendered = Command::new("man")
            .arg("-l")
            .arg(dir.join("lvs-converge.1"))
            .env("MANPAGER", "cat")
            .env("MANWIDTH", "200")
            .output()
            .expect("man -l");
        let rendered = text(&rendered.stdout);
        assert!(rendered.contains("EXIT STATUS"), "{rendered}");
        assert!(rendered.contains("changes pending"), "{rendered}");
        assert!(rendered.contains("lvs-converge plan -f director.yaml --out plan.json && lvs-converge apply plan.json"));
    } else {
        eprintln!("man -l not run: no man on this machine (the roff text was checked)");
    }
}

#[test]
fn man_into_a_directory_it_cannot_make_says_where_and_what_to_do() {
    let output = run(&["man", "/proc/no-such-dir/man1"]);
    assert_eq!(output.status.code(), Some(1));
    let stderr = text(&output.stderr);
    assert!(stderr.starts_with("error: cannot write the man page /proc/no-such-dir/man1: "), "{stderr}");
    assert!(stderr.contains("\n  hint: "), "{stderr}");
}

#[test]
fn quiet_leaves_the_outcome_to_the_exit_code() {
    let loud = plan_drift(&[]);
    assert_eq!(loud.status.code(), Some(2));
    assert!(!loud.stdout.is_empty());
    for flag in ["-q", "--quiet"] {
        let quiet = plan_drift(&[flag]);
        assert_eq!(quiet.status.code(), Some(2), "{}", text(&quiet.stderr));
        assert_eq!((text(&quiet.stdout), text(&quiet.stderr)), (String::new(), String::new()), "{flag}");
    }
    // Global: before the command too.
    let (spec, observed) = (format!("{DRIFT}/spec.yaml"), format!("{DRIFT}/observed.yaml"));
    let before = run(&["--quiet", "plan", "-f", &spec, "--observed", &observed]);
    assert_eq!((before.status.code(), before.stdout.len()), (Some(2), 0));

    // JSON is what was asked for: still printed.
    let json = plan_drift(&["-q", "--format", "json"]);
    assert_eq!(json.status.code(), Some(2));
    let document: serde_json::Value = serde_json::from_slice(&json.stdout).expect("JSON plan under --quiet");
    assert_eq!(document["changes"], true);

    // The plan is saved; the notice of where is not said.
    let scratch = Scratch::new("cli-surface", "quiet");
    let out = scratch.path("plan.json");
    let saved = plan_drift(&["-q", "--out", out.to_str().unwrap()]);
    assert_eq!(
        (saved.status.code(), text(&saved.stdout), text(&saved.stderr)),
        (Some(2), String::new(), String::new())
    );
    assert!(out.exists());
    let said = plan_drift(&["--out", out.to_str().unwrap()]);
    assert!(text(&said.stderr).starts_with("Saved the plan to "), "without --quiet the notice is said");

    let others: [(&[&str], i32); 4] = [
        (&["validate", "-f", &format!("{ROOT}/examples/seed/cluster.yaml")], 0),
        (&["check", "-f", &format!("{ROOT}/tests/check/real_server_mistakes.yaml")], 2),
        (&["status", "--observed", &format!("{ROOT}/tests/health/unhealthy.observed.yaml")], 2),
        (
            &[
                "import",
                "--ipvsadm-save",
                &format!("{ROOT}/tests/import/rich.ipvsadm-save"),
                "-o",
                out.to_str().unwrap(),
                "--force",
            ],
            0,
        ),
    ];
    for (args, code) in others {
        let loud = run(args);
        assert_eq!(loud.status.code(), Some(code), "{args:?}: {}", text(&loud.stderr));
        let mut quiet_args = vec!["-q"];
        quiet_args.extend(args);
        let quiet = run(&quiet_args);
        assert_eq!(quiet.status.code(), Some(code), "{quiet_args:?}: {}", text(&quiet.stderr));
        assert_eq!(text(&quiet.stdout), "", "{quiet_args:?}");
    }
}

#[test]
fn quiet_still_says_errors() {
    let output = run(&["-q", "plan", "-f", "/nonexistent/spec.yaml", "--observed", "/nonexistent/observed.yaml"]);
    assert_eq!(output.status.code(), Some(1));
    assert!(output.stdout.is_empty());
    assert!(text(&output.stderr).starts_with("error: "), "{}", text(&output.stderr));
}

#[test]
fn quiet_is_refused_where_the_output_is_the_product() {
    let rich = format!("{ROOT}/tests/import/rich.ipvsadm-save");
    let spec = format!("{DRIFT}/spec.yaml");
    let cases: [(&[&str], &str); 5] = [
        (&["show"], "show"),
        (&["schema"], "schema"),
        (&["import", "--ipvsadm-save", &rich], "import without -o"),
        (&["completions", "bash"], "completions"),
        (&["agent", "-f", &spec, "--once"], "agent"),
    ];
    for (args, name) in cases {
        let mut quiet_args = vec!["--quiet"];
        quiet_args.extend(args);
        let output = run(&quiet_args);
        let stderr = text(&output.stderr);
        assert_eq!(output.status.code(), Some(1), "{quiet_args:?}: {stderr}");
        assert!(output.stdout.is_empty(), "{quiet_args:?}");
        assert!(
            stderr.starts_with(&format!(
                "error: --quiet cannot be used with `{name}`: its output is what it is run for\n  hint: "
            )),
            "{quiet_args:?}: {stderr}"
        );
    }
}

#[test]
fn colour_goes_where_it_was_asked_for_and_never_to_stderr() {
    // A pipe: auto gives plain text, NO_COLOR or not; always colours even so and wins over NO_COLOR.
    assert!(!text(&plan_drift(&[]).stdout).contains(ESC), "auto into a pipe");
    assert!(text(&plan_drift(&["--color", "always"]).stdout).contains(ESC));
    let always_despite = lvs_converge(&["plan", "--color", "always", "-f", &format!("{DRIFT}/spec.yaml")])
        .args(["--observed", &format!("{DRIFT}/observed.yaml")])
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    assert!(text(&always_despite.stdout).contains(ESC), "--color always wins over NO_COLOR");
    assert!(!text(&plan_drift(&["--color", "never"]).stdout).contains(ESC));

    // stderr: an error, a saved-plan notice, import's notes: never coloured.
    let scratch = Scratch::new("cli-surface", "colour");
    let out = scratch.path("plan.json");
    let error = run(&["--color", "always", "plan", "-f", "/nonexistent.yaml", "--observed", "/nonexistent.yaml"]);
    let notice = plan_drift(&["--color", "always", "--out", out.to_str().unwrap()]);
    let notes = run(&["--color", "always", "import", "--keepalived", &format!("{ROOT}/tests/import/keepalived.conf")]);
    for (what, output) in [("error", &error), ("notice", &notice), ("notes", &notes)] {
        let stderr = text(&output.stderr);
        assert!(!stderr.is_empty(), "{what}: nothing on stderr to judge");
        assert!(!stderr.contains(ESC), "{what} coloured on stderr: {stderr:?}");
    }
}

/// `plan` under a pseudo-terminal (`script`), so that `--color auto` sees a terminal.
fn plan_on_a_terminal(no_color: Option<&str>) -> String {
    let command =
        format!("{} plan -f {DRIFT}/spec.yaml --observed {DRIFT}/observed.yaml", env!("CARGO_BIN_EXE_lvs-converge"));
    let mut script = Command::new("script");
    script.args(["-qec", &command, "/dev/null"]).env_remove("NO_COLOR").stdin(Stdio::null());
    if let Some(value) = no_color {
        script.env("NO_COLOR", value);
    }
    let output = script.output().expect("run script");
    assert_eq!(output.status.code(), Some(2), "{}", text(&output.stderr));
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[test]
fn auto_colours_a_terminal_unless_no_color_has_a_value() {
    if !have("script") {
        eprintln!("skipped: no script(1) to make a terminal (util-linux); the unit test in src/cli.rs covers the rule");
        return;
    }
    assert!(plan_on_a_terminal(None).contains(ESC), "a terminal is coloured");
    assert!(plan_on_a_terminal(Some("")).contains(ESC), "an empty NO_COLOR does not count (no-color.org)");
    assert!(!plan_on_a_terminal(Some("1")).contains(ESC), "NO_COLOR=1");
}

#[test]
fn completions_help_names_the_places_the_deb_installs_to() {
    // The help of `completions` and Cargo.toml's deb assets name the same places.
    let manifest = std::fs::read_to_string(Path::new(ROOT).join("Cargo.toml")).unwrap();
    let help = text(&run(&["completions", "--help"]).stdout);
    for place in [
        "usr/share/bash-completion/completions/lvs-converge",
        "usr/share/zsh/vendor-completions/",
        "usr/share/fish/vendor_completions.d/",
    ] {
        assert!(manifest.contains(&format!("\"{place}")), "Cargo.toml's deb assets lack {place}");
        assert!(help.contains(&format!("/{place}")), "completions --help lacks /{place}");
    }
}
