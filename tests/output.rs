//! Reports that cannot be written: stdout on a full disk (`> /dev/full`) or a pipe whose
//! reader is gone (`| head -c1`). Never a panic; a gone reader is quiet; a full disk is an
//! error (exit 1) except after an apply, whose exit code says what happened to the host.

use std::path::PathBuf;
use std::process::{Command, Output, Stdio};

const CASE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/cases/drift_repair");

fn plan_args() -> Vec<String> {
    ["plan", "--color", "never", "-f", &format!("{CASE}/spec.yaml"), "--observed", &format!("{CASE}/observed.yaml")]
        .map(String::from)
        .to_vec()
}

/// Runs lvs-converge as a shell would: with SIGPIPE at its default (death), which the
/// test harness itself ignores. lvs-converge must ignore it again to see EPIPE instead.
fn run(args: &[String], stdout: Stdio, stderr: Stdio) -> Output {
    use nix::sys::signal::{signal, SigHandler, Signal};
    use std::os::unix::process::CommandExt;
    let mut command = Command::new(env!("CARGO_BIN_EXE_lvs-converge"));
    command.args(args).stdout(stdout).stderr(stderr);
    // SAFETY: between fork and exec only async-signal-safe signal(2) is called.
    unsafe {
        command.pre_exec(|| signal(Signal::SIGPIPE, SigHandler::SigDfl).map(drop).map_err(std::io::Error::from));
    }
    command.output().expect("run lvs-converge")
}

fn dev_full() -> Stdio {
    std::fs::OpenOptions::new().write(true).open("/dev/full").expect("/dev/full").into()
}

/// A pipe whose reading end is already closed: every write gets EPIPE (or SIGPIPE).
fn closed_pipe() -> Stdio {
    let (reader, writer) = nix::unistd::pipe().expect("pipe");
    drop(reader);
    std::fs::File::from(writer).into()
}

fn assert_no_panic(output: &Output) {
    use std::os::unix::process::ExitStatusExt;
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert_eq!(output.status.signal(), None, "killed by a signal: {stderr}");
    assert_ne!(output.status.code(), Some(101), "{stderr}");
}

#[test]
fn a_report_on_a_full_disk_is_an_error_not_a_panic() {
    let output = run(&plan_args(), dev_full(), Stdio::piped());
    assert_no_panic(&output);
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.starts_with("error: cannot write the plan to standard output: No space left on device"), "{stderr}");
    let import = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/import/rich.ipvsadm-save");
    for args in [
        vec!["schema".to_string()],
        vec!["validate".into(), "-f".into(), format!("{CASE}/spec.yaml")],
        vec!["import".into(), "--ipvsadm-save".into(), import.into()],
    ] {
        let output = run(&args, dev_full(), Stdio::piped());
        assert_no_panic(&output);
        assert_eq!(output.status.code(), Some(1), "{args:?}");
        assert!(String::from_utf8_lossy(&output.stderr).contains("cannot write the"), "{args:?}");
    }
}

#[test]
fn a_reader_that_went_away_is_not_an_error() {
    // `lvs-converge plan | head -c1`: the plan is still what the exit code says (2: changes).
    let output = run(&plan_args(), closed_pipe(), Stdio::piped());
    assert_no_panic(&output);
    assert_eq!(output.status.code(), Some(2));
    assert_eq!(String::from_utf8_lossy(&output.stderr), "", "quiet");
    let output = run(&["schema".to_string()], closed_pipe(), Stdio::piped());
    assert_no_panic(&output);
    assert_eq!((output.status.code(), output.stderr.is_empty()), (Some(0), true));
}

#[test]
fn a_plan_that_cannot_be_printed_is_saved_all_the_same() {
    let out = std::env::temp_dir().join(format!("lvs-converge-output-{}.plan.json", std::process::id()));
    let _ = std::fs::remove_file(&out);
    let mut args = plan_args();
    args.extend(["--out".to_string(), out.display().to_string()]);
    let output = run(&args, dev_full(), Stdio::piped());
    assert_no_panic(&output);
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains(&format!("the plan was saved to {} all the same", out.display())), "{stderr}");
    let saved = std::fs::read_to_string(&out).expect("the plan file was written");
    let saved: serde_json::Value = serde_json::from_str(&saved).expect("a whole plan");
    assert_eq!(saved["plan"]["changes"].as_array().map(Vec::len), Some(4));
    std::fs::remove_file(&out).unwrap();
}

#[test]
fn errors_on_a_broken_stderr_do_not_panic() {
    // Nowhere to say it: the exit code alone tells.
    let missing = PathBuf::from(CASE).join("missing.yaml").display().to_string();
    let output = run(&["validate".into(), "-f".into(), missing], Stdio::null(), dev_full());
    use std::os::unix::process::ExitStatusExt;
    assert_eq!((output.status.code(), output.status.signal()), (Some(1), None));
}

/// `check` names the Cluster node it judged, in text and JSON: the one found by address in
/// the snapshot, the one `--node` names, none when it judged every node.
#[test]
fn check_names_the_cluster_node_it_judged() {
    let case = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/cases/cluster_node");
    let check = |extra: &[&str], format: &str| {
        let mut args: Vec<String> =
            ["check", "--color", "never", "--format", format, "-f", &format!("{case}/spec.yaml")]
                .map(String::from)
                .to_vec();
        args.extend(extra.iter().map(|a| a.to_string()));
        let output = run(&args, Stdio::piped(), Stdio::piped());
        assert_no_panic(&output);
        String::from_utf8(output.stdout).expect("utf-8")
    };
    let observed = format!("{case}/observed.yaml");
    for (extra, node) in
        [(vec!["--observed", observed.as_str()], Some("web1")), (vec!["--node", "lb1"], Some("lb1")), (vec![], None)]
    {
        let json: serde_json::Value = serde_json::from_str(&check(&extra, "json")).expect("JSON");
        assert_eq!(json["node"], node.map_or(serde_json::Value::Null, Into::into), "{extra:?}: {json}");
        assert!(json["findings"].is_array(), "{json}");
        let text = check(&extra, "text");
        let expected = node.map(|name| format!("Cluster node: {name}"));
        assert_eq!(
            text.lines().next().filter(|l| l.starts_with("Cluster node")).map(str::to_string),
            expected,
            "{text}"
        );
    }
}
