//! README's exit-code table is the contract scripts branch on: this test reads it and runs
//! the binary once or more for each row, so that the table and the code cannot drift. A row
//! without a case fails, and so does a case without a row.
//!
//! Everything runs offline (snapshots, spec files) except apply, which changes sysctls, and
//! show, which reads the host: both in a network namespace of their own (`unshare --net`:
//! needs root; without it those cases are skipped and said to be, and the lab proves apply's
//! codes: 55_batch_outcomes, 57_signals).

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use clap::CommandFactory as _;

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

/// One invocation of lvs-converge and what else it must show besides its exit code.
struct Case {
    args: Vec<String>,
    /// Run in a fresh network namespace (apply changes what it finds there).
    private_netns: bool,
    /// Standard output is /dev/full.
    stdout_full: bool,
    /// What stderr must contain.
    stderr_has: Option<&'static str>,
}

fn case(args: &[&str]) -> Case {
    Case {
        args: args.iter().map(|a| a.to_string()).collect(),
        private_netns: false,
        stdout_full: false,
        stderr_has: None,
    }
}

impl Case {
    fn in_private_netns(mut self) -> Self {
        self.private_netns = true;
        self
    }
    fn writing_to_dev_full(mut self) -> Self {
        self.stdout_full = true;
        self
    }
    fn saying(mut self, text: &'static str) -> Self {
        self.stderr_has = Some(text);
        self
    }
}

/// A README table row: the command (`any` for every one), its exit code.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Row {
    command: String,
    exit: u8,
}

/// The rows of README's `### Exit codes` table.
fn readme_rows() -> Vec<Row> {
    let readme = std::fs::read_to_string(Path::new(ROOT).join("README.md")).unwrap();
    let section = readme.split("\n### Exit codes\n").nth(1).expect("README.md has a `### Exit codes` section");
    let rows: Vec<Row> = section
        .lines()
        .skip_while(|line| !line.starts_with('|'))
        .take_while(|line| line.starts_with('|'))
        .skip(2)
        .map(|line| {
            let cells: Vec<&str> = line.split('|').map(str::trim).collect();
            let exit = cells[2].parse().unwrap_or_else(|_| panic!("not an exit code in README row: {line}"));
            Row { command: cells[1].trim_matches('`').to_string(), exit }
        })
        .collect();
    assert!(rows.len() > 10, "the exit-code table was not found whole: {rows:?}");
    rows
}

/// Files the cases need, written once into a directory of their own.
struct Fixtures {
    dir: PathBuf,
}

impl Fixtures {
    fn new(test: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("lvs-converge-exit-codes-{test}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let header = "apiVersion: lvs-converge/v1\nkind: Host\n";
        let files = [
            ("empty-cluster.yaml", "apiVersion: lvs-converge/v1\nkind: Cluster\nnodes: []\n".to_string()),
            ("arp-ignore-0.yaml", format!("{header}sysctls:\n  net.ipv4.conf.all.arp_ignore: 0\n")),
            ("arp-ignore-1.yaml", format!("{header}sysctls:\n  net.ipv4.conf.all.arp_ignore: 1\n")),
            ("arp-ignore-2.yaml", format!("{header}sysctls:\n  net.ipv4.conf.all.arp_ignore: 2\n")),
            // The second change fails: there is no such interface in a fresh namespace.
            (
                "second-fails.yaml",
                format!("{header}sysctls:\n  net.ipv4.conf.all.arp_ignore: 1\n  net.ipv4.conf.nosuch0.arp_ignore: 1\n"),
            ),
            ("first-fails.yaml", format!("{header}sysctls:\n  net.ipv4.conf.nosuch0.arp_ignore: 1\n")),
            // A host whose arp_ignore is 1: a plan made against it is stale on a fresh namespace.
            (
                "arp-ignore-1.observed.yaml",
                "apiVersion: lvs-converge/v1\nkind: ObservedState\nstate:\n  sysctls: {net.ipv4.conf.all.arp_ignore: '1'}\n"
                    .to_string(),
            ),
            ("exists.yaml", String::new()),
            // The host has GUE port 6080 open bound to a local address: declaring 6080 is refused.
            ("fou-6080.yaml", format!("{header}fou:\n  - {{ port: 6080, type: gue }}\n")),
            (
                "fou-6080-bound.observed.yaml",
                "apiVersion: lvs-converge/v1\nkind: ObservedState\nstate:\n  modules: [fou]\n  fouBound:\n    - { port: 6080, family: ipv4, type: gue, local: 192.0.2.10 }\n"
                    .to_string(),
            ),
        ];
        for (name, text) in files {
            std::fs::write(dir.join(name), text).unwrap();
        }
        // A Cluster spec whose director is fine but whose rs2 node `validate` refuses, and a
        // snapshot of the director: check judged only the director and found nothing.
        let cluster = std::fs::read_to_string(Path::new(ROOT).join("examples/seed/cluster.yaml")).unwrap();
        let broken =
            cluster.replace("    address: 198.51.100.22", "    address: 198.51.100.22\n    sysctls: {kernel.panic: 1}");
        assert_ne!(broken, cluster);
        std::fs::write(dir.join("cluster-bad-rs2.yaml"), broken).unwrap();
        std::fs::write(
            dir.join("director.observed.yaml"),
            "apiVersion: lvs-converge/v1\nkind: ObservedState\nstate:\n  addresses:\n    - {interface: eth0, address: 203.0.113.10, prefixLength: 24}\n",
        )
        .unwrap();
        Fixtures { dir }
    }

    fn path(&self, name: &str) -> String {
        self.dir.join(name).display().to_string()
    }
}

impl Drop for Fixtures {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn repo(path: &str) -> String {
    Path::new(ROOT).join(path).display().to_string()
}

/// The invocations that prove one row; None: the row has no case.
fn cases_for(row: &Row, f: &Fixtures) -> Option<Vec<Case>> {
    let converged = |file: &str| repo(&format!("tests/cases/converged/{file}"));
    let drift = |file: &str| repo(&format!("tests/cases/drift_repair/{file}"));
    let plan_file = f.path("saved.plan.json");
    let cases = match (row.command.as_str(), row.exit) {
        ("any", 0) => vec![case(&["--help"]), case(&["--version"]), case(&["plan", "--help"]), case(&["help"])],
        ("any", 1) => {
            let mut cases: Vec<Case> =
                subcommands().iter().map(|name| case(&[name, "--no-such-flag"]).saying("'--no-such-flag'")).collect();
            cases.extend([
                case(&["plan"]).saying("--spec <FILE>"),
                case(&["check", "--format", "json"]).saying("--spec <FILE>"),
                case(&["plan", "-f", &drift("spec.yaml"), "--format", "yaml"]).saying("invalid value 'yaml'"),
                case(&["show", "--format", "xml"]).saying("invalid value 'xml'"),
                case(&["frobnicate"]).saying("unrecognized subcommand"),
                case(&[]).saying("Usage: lvs-converge"),
                case(&["schema"]).writing_to_dev_full().saying("cannot write the schema"),
            ]);
            cases
        }
        ("validate", 0) => vec![case(&["validate", "-f", &repo("examples/seed/cluster.yaml")])],
        ("validate", 1) => vec![
            case(&["validate", "-f", &f.path("empty-cluster.yaml")]).saying("lists its hosts under `nodes`"),
            case(&["validate", "-f", &f.path("missing.yaml")]),
            case(&["--root", &f.path(""), "validate", "-f", &repo("examples/seed/cluster.yaml")])
                .saying("--root does nothing for `validate`"),
        ],
        ("plan", 0) => vec![case(&["plan", "-f", &converged("spec.yaml"), "--observed", &converged("observed.yaml")])],
        ("plan", 2) => vec![case(&["plan", "-f", &drift("spec.yaml"), "--observed", &drift("observed.yaml")])],
        ("plan", 1) => vec![
            case(&["plan", "-f", &f.path("fou-6080.yaml"), "--observed", &f.path("fou-6080-bound.observed.yaml")])
                .saying("`fou` declares port 6080 (ipv4), which this host has open bound to local 192.0.2.10"),
            case(&["plan", "-f", &f.path("empty-cluster.yaml"), "--observed", &drift("observed.yaml")]),
            case(&["plan", "-f", &drift("spec.yaml"), "--observed", &f.path("missing.yaml")]),
            case(&["--root", &f.path(""), "plan", "-f", &drift("spec.yaml"), "--observed", &drift("observed.yaml")])
                .saying("--root and --observed cannot be used together"),
        ],
        ("apply", 0) => vec![
            case(&["apply", "-f", &f.path("arp-ignore-0.yaml")]).in_private_netns(),
            case(&["apply", "-f", &f.path("arp-ignore-1.yaml")]).in_private_netns(),
        ],
        ("apply", 1) => vec![
            case(&["apply", "-f", &f.path("empty-cluster.yaml")]).in_private_netns(),
            case(&["apply", "-f", &f.path("first-fails.yaml")]).in_private_netns().saying("change 1 of 1 failed"),
            case(&["apply", &plan_file]).in_private_netns().saying("is stale"),
        ],
        ("apply", 3) => vec![case(&["apply", "-f", &f.path("second-fails.yaml")])
            .in_private_netns()
            .saying("were rolled back: the host is as it was")],
        ("apply", 4) => {
            vec![case(&["apply", "--no-rollback", "-f", &f.path("second-fails.yaml")]).in_private_netns()]
        }
        ("agent", 0) => vec![case(&["agent", "-f", &f.path("arp-ignore-0.yaml"), "--once"])
            .in_private_netns()
            .saying("converge run (start): ")],
        ("agent", 1) => vec![
            case(&["agent", "-f", &f.path("empty-cluster.yaml"), "--once"]).saying("lists its hosts under `nodes`"),
            case(&["agent", "-f", &f.path("first-fails.yaml"), "--once"])
                .in_private_netns()
                .saying("failed: change 1 of 1 failed"),
            case(&["agent", "-f", &drift("spec.yaml"), "--interval", "0s"]).saying("at least 1s"),
            case(&["agent", "-q", "-f", &drift("spec.yaml"), "--once"]).saying("--quiet cannot be used with `agent`"),
        ],
        ("check", 0) => vec![case(&["check", "-f", &repo("examples/seed/cluster.yaml")])],
        ("check", 2) => vec![
            case(&["check", "-f", &repo("tests/check/real_server_mistakes.yaml")]),
            case(&["check", "--strict", "-f", &repo("tests/check/real_server_default_rp_filter.yaml")]),
        ],
        ("check", 1) => vec![
            case(&["check", "-f", &f.path("empty-cluster.yaml")]).saying("lists its hosts under `nodes`"),
            case(&["check", "-f", &f.path("cluster-bad-rs2.yaml"), "--observed", &f.path("director.observed.yaml")])
                .saying("nodes[2].sysctls.kernel.panic"),
            case(&["--root", &f.path(""), "check", "-f", &drift("spec.yaml"), "--observed", &drift("observed.yaml")])
                .saying("--root and --observed cannot be used together"),
            case(&["--root", &f.path(""), "check", "-f", &repo("examples/seed/cluster.yaml")])
                .saying("--root does nothing for `check without --host`"),
        ],
        // Not the test machine's own namespace: reading its IPVS table needs root.
        ("show", 0) => vec![case(&["show"]).in_private_netns(), case(&["show", "--format", "json"]).in_private_netns()],
        ("show", 1) => vec![
            case(&["--netns", "/etc/passwd", "show"]).saying("`/etc/passwd` is not a network namespace"),
            case(&["--netns", "no-such-namespace", "show"]).saying("not found"),
            case(&["--root", "/", "show"]).saying("--root does nothing for `show`"),
            case(&["--quiet", "show"]).saying("--quiet cannot be used with `show`"),
        ],
        ("import", 0) => vec![case(&["import", "--ipvsadm-save", &repo("tests/import/rich.ipvsadm-save")])],
        ("import", 1) => vec![
            case(&["import", "--ipvsadm-save", &f.path("missing.ipvsadm-save")]),
            case(&["import", "--ipvsadm-save", &repo("tests/import/rich.ipvsadm-save"), "-o", &f.path("exists.yaml")])
                .saying("already exists"),
            case(&["--root", "/", "import", "--ipvsadm-save", &repo("tests/import/rich.ipvsadm-save")])
                .saying("--root does nothing for `import`"),
            case(&["-q", "import", "--ipvsadm-save", &repo("tests/import/rich.ipvsadm-save")])
                .saying("--quiet cannot be used with `import without -o`"),
        ],
        ("status", 0) => vec![
            case(&["status", "--observed", &repo("tests/health/recovered.observed.yaml")]),
            case(&["status", "--observed", &converged("observed.yaml")]),
        ],
        ("status", 2) => vec![case(&["status", "--observed", &repo("tests/health/unhealthy.observed.yaml")])],
        ("status", 1) => vec![
            case(&["status", "--observed", &f.path("missing.yaml")]).saying("reading snapshot"),
            case(&["--root", "/", "status"]).saying("--root does nothing for `status`"),
        ],
        ("schema", 0) => vec![case(&["schema"])],
        ("schema", 1) => vec![
            case(&["--root", "/", "schema"]).saying("--root does nothing for `schema`"),
            case(&["schema", "--quiet"]).saying("--quiet cannot be used with `schema`"),
        ],
        ("completions", 0) => ["bash", "zsh", "fish", "elvish", "powershell"].map(|s| case(&["completions", s])).into(),
        ("completions", 1) => vec![
            case(&["--root", "/", "completions", "bash"]).saying("--root does nothing for `completions`"),
            case(&["-q", "completions", "bash"]).saying("--quiet cannot be used with `completions`"),
        ],
        ("man", 0) => vec![case(&["man", &f.path("man1")])],
        ("man", 1) => vec![case(&["man", &f.path("exists.yaml")]).saying("cannot write the man page")],
        _ => return None,
    };
    Some(cases)
}

/// Every subcommand clap knows, `help` included.
fn subcommands() -> Vec<String> {
    let mut names: Vec<String> =
        lvs_converge::cli::Cli::command().get_subcommands().map(|c| c.get_name().to_string()).collect();
    names.push("help".into());
    names
}

fn can_make_network_namespaces() -> bool {
    Command::new("unshare").args(["--net", "true"]).status().is_ok_and(|status| status.success())
}

fn run(case: &Case) -> Output {
    let binary = env!("CARGO_BIN_EXE_lvs-converge");
    let mut command = if case.private_netns {
        let mut command = Command::new("unshare");
        command.arg("--net").arg(binary);
        command
    } else {
        Command::new(binary)
    };
    command.args(&case.args).arg_color_never();
    let stdout: Stdio = if case.stdout_full {
        std::fs::OpenOptions::new().write(true).open("/dev/full").unwrap().into()
    } else {
        Stdio::piped()
    };
    command.stdout(stdout).stderr(Stdio::piped()).output().expect("run lvs-converge")
}

trait NoColor {
    fn arg_color_never(&mut self) -> &mut Self;
}

impl NoColor for Command {
    /// Plain text whatever the terminal; NO_COLOR rather than `--color`, which would change
    /// the usage errors under test.
    fn arg_color_never(&mut self) -> &mut Self {
        self.env("NO_COLOR", "1")
    }
}

#[test]
fn every_row_of_the_readme_exit_code_table_is_what_the_binary_does() {
    let fixtures = Fixtures::new("rows");
    let rows = readme_rows();
    let namespaces = can_make_network_namespaces();
    // The saved plan a fresh namespace no longer matches (apply exit 1).
    let saved = run(&case(&[
        "plan",
        "-f",
        &fixtures.path("arp-ignore-2.yaml"),
        "--observed",
        &fixtures.path("arp-ignore-1.observed.yaml"),
        "--out",
        &fixtures.path("saved.plan.json"),
    ]));
    assert_eq!(saved.status.code(), Some(2), "{}", String::from_utf8_lossy(&saved.stderr));

    let mut failures = Vec::new();
    let mut skipped = 0;
    for row in &rows {
        let Some(cases) = cases_for(row, &fixtures) else {
            failures.push(format!("README row `{}` exit {} has no case in tests/exit_codes.rs", row.command, row.exit));
            continue;
        };
        for case in cases {
            if case.private_netns && !namespaces {
                skipped += 1;
                continue;
            }
            let output = run(&case);
            let stdout = String::from_utf8_lossy(&output.stdout);
            let stderr = String::from_utf8_lossy(&output.stderr);
            let what = format!("`lvs-converge {}` (README: {} → {})", case.args.join(" "), row.command, row.exit);
            if output.status.code() != Some(i32::from(row.exit)) {
                failures.push(format!("{what} exited {:?}\n  stderr: {stderr}", output.status.code()));
                continue;
            }
            if let Some(text) = case.stderr_has {
                if !stderr.contains(text) {
                    failures.push(format!("{what}: stderr lacks {text:?}: {stderr}"));
                }
            }
            if stderr.contains("panicked") {
                failures.push(format!("{what} panicked: {stderr}"));
            }
            // Help and version are answers, on stdout; a usage error is said on stderr only.
            match (row.command.as_str(), row.exit) {
                ("any", 0) if stdout.is_empty() || !stderr.is_empty() => {
                    failures.push(format!("{what}: not on stdout alone\n  stdout: {stdout}\n  stderr: {stderr}"))
                }
                ("any", 1) if !stdout.is_empty() || !stderr.contains("error") => failures
                    .push(format!("{what}: not an error on stderr alone\n  stdout: {stdout}\n  stderr: {stderr}")),
                _ => {}
            }
        }
    }
    // Every command has its rows; `any` stands for all of them.
    for name in subcommands().iter().filter(|name| *name != "help") {
        if !rows.iter().any(|row| row.command == *name && row.exit == 0) {
            failures.push(format!("README's exit-code table has no row for `{name}` exit 0"));
        }
    }
    if skipped > 0 {
        eprintln!(
            "{skipped} apply/show case(s) skipped: they need root to make a network namespace (`unshare --net`); the lab proves those codes (55_batch_outcomes, 57_signals)"
        );
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn every_case_has_its_row() {
    let fixtures = Fixtures::new("cases");
    let rows = readme_rows();
    let commands =
        ["any", "validate", "plan", "apply", "check", "show", "import", "schema", "agent", "completions", "man"];
    for command in commands {
        for exit in 0..=4 {
            let row = Row { command: command.to_string(), exit };
            if cases_for(&row, &fixtures).is_some() {
                assert!(
                    rows.contains(&row),
                    "tests/exit_codes.rs proves `{command}` exit {exit}, README's table has no such row"
                );
            }
        }
    }
}
