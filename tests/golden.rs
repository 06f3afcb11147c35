//! Golden plans: for every `tests/cases/<name>/`, `lvs-converge plan` of `spec.yaml` against
//! the snapshot `observed.yaml` must print exactly `plan.txt` (text) and `plan.json` (JSON),
//! and exit 0 when there is nothing to change, 2 otherwise.
//!
//! After an intended output change, regenerate with `UPDATE_GOLDEN=1 cargo test --test golden`
//! and review the diff.
//!
//! `@CASE@` in `observed.yaml` stands for the case's directory, and the outputs are compared
//! with that directory written as `@CASE@` too (older lvs-converge headers named the spec's
//! path; today's name none, see `the_same_spec_at_another_path_plans_no_change`).

use std::path::{Path, PathBuf};
use std::process::Command;

fn plan(case: &Path, format: &str) -> (String, i32) {
    let placeholder = case.display().to_string();
    let observed = std::fs::read_to_string(case.join("observed.yaml")).expect("observed.yaml");
    let snapshot = std::env::temp_dir().join(format!(
        "lvs-converge-golden-{}-{}-{format}.yaml",
        std::process::id(),
        case.file_name().unwrap().to_string_lossy()
    ));
    std::fs::write(&snapshot, observed.replace("@CASE@", &placeholder)).expect("write snapshot");
    let output = Command::new(env!("CARGO_BIN_EXE_lvs-converge"))
        .args(["plan", "--color", "never", "--format", format, "-f"])
        .arg(case.join("spec.yaml"))
        .arg("--observed")
        .arg(&snapshot)
        .output()
        .expect("run lvs-converge");
    let _ = std::fs::remove_file(&snapshot);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.is_empty(), "{}: unexpected stderr: {stderr}", case.display());
    let stdout = String::from_utf8(output.stdout).expect("utf-8 output").replace(&placeholder, "@CASE@");
    (stdout, output.status.code().expect("exit code"))
}

fn cases() -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/cases");
    let mut cases: Vec<PathBuf> = std::fs::read_dir(&root)
        .expect("tests/cases exists")
        .map(|entry| entry.expect("readable entry").path())
        .filter(|path| path.join("spec.yaml").exists())
        .collect();
    cases.sort();
    cases
}

#[test]
fn every_case_plans_exactly_its_golden_output() {
    let update = std::env::var_os("UPDATE_GOLDEN").is_some();
    let cases = cases();
    assert!(cases.len() >= 6, "expected the golden cases under tests/cases, found {}", cases.len());
    let mut failures = Vec::new();
    for case in &cases {
        let (text, text_code) = plan(case, "text");
        let (json, json_code) = plan(case, "json");
        assert_eq!(text_code, json_code, "{}: exit code depends on the format", case.display());
        let document: serde_json::Value = serde_json::from_str(&json).expect("plan.json is JSON");
        let expected_code = if document["changes"] == serde_json::Value::Bool(true) { 2 } else { 0 };
        if text_code != expected_code {
            failures.push(format!("{}: exit {text_code}, expected {expected_code}", case.display()));
        }
        for (file, actual) in [("plan.txt", &text), ("plan.json", &json)] {
            let path = case.join(file);
            if update {
                std::fs::write(&path, actual).expect("write golden file");
                continue;
            }
            let expected = std::fs::read_to_string(&path).unwrap_or_default();
            if &expected != actual {
                failures.push(format!(
                    "{} differs (UPDATE_GOLDEN=1 to accept):\n--- expected\n{expected}\n+++ actual\n{actual}",
                    path.display()
                ));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn golden_cases_cover_every_change_kind() {
    let mut seen = std::collections::BTreeSet::new();
    for case in cases() {
        let json = std::fs::read_to_string(case.join("plan.json")).expect("plan.json");
        let document: serde_json::Value = serde_json::from_str(&json).expect("JSON");
        for change in document["resource_changes"].as_array().expect("array") {
            seen.insert(format!("{} {}", change["action"].as_str().unwrap(), change["kind"].as_str().unwrap()));
        }
    }
    for kind in [
        "create ipvs service",
        "update ipvs service",
        "delete ipvs service",
        "create ipvs real server",
        "update ipvs real server",
        "delete ipvs real server",
        "update ipvs connection timeouts",
        "update address",
        "create file",
        "update file",
        "delete file",
    ] {
        assert!(seen.contains(kind), "no golden case plans a `{kind}` change (seen: {seen:?})");
    }
}

/// Issue 18, persistence finding 1: every header named the spec's absolute path, so the
/// same spec planned from another place (a CI checkout) showed every file as drifted.
#[test]
fn the_same_spec_at_another_path_plans_no_change() {
    let case = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/cases/persist_converged");
    let checkout = std::env::temp_dir().join(format!("lvs-converge-ci-checkout-{}/deploy", std::process::id()));
    std::fs::create_dir_all(&checkout).expect("checkout directory");
    let spec = checkout.join("rs1.yaml");
    std::fs::copy(case.join("spec.yaml"), &spec).expect("copy the spec");
    let output = Command::new(env!("CARGO_BIN_EXE_lvs-converge"))
        .args(["plan", "--color", "never", "-f"])
        .arg(&spec)
        .arg("--observed")
        .arg(case.join("observed.yaml"))
        .output()
        .expect("run lvs-converge");
    let _ = std::fs::remove_dir_all(checkout.parent().unwrap());
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(0), "{stdout}{}", String::from_utf8_lossy(&output.stderr));
    assert!(stdout.starts_with("No changes."), "{stdout}");
}
