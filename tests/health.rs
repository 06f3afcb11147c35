//! Health records beside `plan`, `apply` and `status`. /run/lvs-converge is fixed, so these
//! tests give the records through a snapshot (`--observed`), which carries them as `show`
//! read them.

use std::path::Path;
use std::process::{Command, Output};

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

fn run(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_lvs-converge")).args(args).arg("--color").arg("never").output().unwrap()
}

fn fixture(name: &str) -> String {
    Path::new(ROOT).join("tests/health").join(name).display().to_string()
}

fn stdout(output: &Output) -> String {
    String::from_utf8(output.stdout.clone()).unwrap()
}

#[test]
fn status_shows_each_real_servers_health_and_exits_2_when_one_is_unhealthy() {
    let output = run(&["status", "--observed", &fixture("unhealthy.observed.yaml")]);
    assert_eq!(output.status.code(), Some(2), "{output:?}");
    assert_eq!(
        stdout(&output),
        "Health checks by the agent: pid 4242, records updated 3s ago.\n  \
         198.51.100.21:80 of tcp 203.0.113.100:80: unhealthy for 1m40s; last check 2s ago: connection refused in 3 ms\n  \
         198.51.100.22:80 of tcp 203.0.113.100:80: healthy for 2h48m20s; last check 1s ago: passed in 2 ms\n\
         Status: 1 real server(s) unhealthy.\n"
    );
    let output = run(&["status", "--observed", &fixture("recovered.observed.yaml"), "--format", "json"]);
    assert_eq!(output.status.code(), Some(0), "{output:?}");
    let json: serde_json::Value = serde_json::from_str(&stdout(&output)).unwrap();
    assert_eq!(json["agent_running"], true);
    assert_eq!(json["agent"]["pid"], 4242);
    assert_eq!(json["unhealthy"], 0);
    assert_eq!(json["real_servers"][0]["real_server"], "198.51.100.21:80");
    assert_eq!(json["real_servers"][0]["health"], "healthy");
    assert_eq!(json["real_servers"][0]["last_outcome"], "passed");
}

#[test]
fn status_without_an_agent_says_so_and_exits_0() {
    let converged = Path::new(ROOT).join("tests/cases/converged/observed.yaml").display().to_string();
    let output = run(&["status", "--observed", &converged]);
    assert_eq!(output.status.code(), Some(0), "{output:?}");
    assert!(stdout(&output).starts_with("No agent is running in this namespace: no health records"), "{output:?}");
    let output = run(&["status", "--observed", &converged, "--format", "json"]);
    let json: serde_json::Value = serde_json::from_str(&stdout(&output)).unwrap();
    assert_eq!((json["agent_running"].clone(), json["agent"].clone()), (false.into(), serde_json::Value::Null));
}

#[test]
fn a_snapshot_carries_health_records_as_show_read_them() {
    let output = run(&["status", "--observed", &fixture("unhealthy.observed.yaml"), "--format", "json"]);
    let json: serde_json::Value = serde_json::from_str(&stdout(&output)).unwrap();
    assert_eq!(json["agent"]["valid_until"], 1_700_000_200u64);
    assert_eq!(json["real_servers"].as_array().map(Vec::len), Some(2));
}

#[test]
fn plan_beside_an_agent_holds_an_unhealthy_real_server_and_restores_it_once_healthy() {
    let spec = Path::new(ROOT).join("tests/cases/health_holds/spec.yaml").display().to_string();
    let held = run(&["plan", "-f", &spec, "--observed", &fixture("unhealthy.observed.yaml")]);
    assert_eq!(held.status.code(), Some(0), "holds alone are not changes: {held:?}");
    assert!(stdout(&held).contains("Held by health checks"), "{held:?}");

    let recovered = run(&["plan", "-f", &spec, "--observed", &fixture("recovered.observed.yaml"), "--format", "json"]);
    assert_eq!(recovered.status.code(), Some(2), "{recovered:?}");
    let json: serde_json::Value = serde_json::from_str(&stdout(&recovered)).unwrap();
    assert_eq!(json["health_holds"], serde_json::json!([]));
    let change = &json["resource_changes"][0];
    assert_eq!(
        (change["id"].as_str(), change["action"].as_str()),
        (Some("198.51.100.21:80 of tcp 203.0.113.100:80"), Some("update"))
    );
    assert_eq!((change["before"]["weight"].clone(), change["after"]["weight"].clone()), (0.into(), 1.into()));
}

#[test]
fn status_with_the_spec_says_what_each_verdict_holds_and_who_is_not_judged_yet() {
    let spec = std::fs::read_to_string(Path::new(ROOT).join("tests/cases/health_holds/spec.yaml")).unwrap();
    let spec = spec.replace(
        "        - address: 198.51.100.22\n",
        "        - address: 198.51.100.22\n        - address: 198.51.100.23\n",
    );
    let dir = std::env::temp_dir().join(format!("lvs-converge-health-status-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("spec.yaml");
    std::fs::write(&path, spec).unwrap();
    let output = run(&["status", "-f", path.to_str().unwrap(), "--observed", &fixture("unhealthy.observed.yaml")]);
    std::fs::remove_dir_all(&dir).unwrap();
    assert_eq!(output.status.code(), Some(2), "{output:?}");
    let text = stdout(&output);
    assert!(text.contains("connection refused in 3 ms; held drained (weight 0)\n"), "{text}");
    assert!(text.contains("passed in 2 ms\n"), "a healthy one holds nothing: {text}");
    assert!(
        text.contains("  198.51.100.23:80 of tcp 203.0.113.100:80: no verdict yet (the agent has not checked it)\n"),
        "{text}"
    );
}
