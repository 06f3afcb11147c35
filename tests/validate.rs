//! `lvs-converge validate` judges a whole spec the way plan and apply will.

use std::process::Command;

#[test]
fn a_cluster_without_nodes_is_invalid() {
    let spec = std::env::temp_dir().join(format!("lvs-converge-empty-cluster-{}.yaml", std::process::id()));
    std::fs::write(&spec, "apiVersion: lvs-converge/v1\nkind: Cluster\n").unwrap();
    let output =
        Command::new(env!("CARGO_BIN_EXE_lvs-converge")).arg("validate").arg("-f").arg(&spec).output().unwrap();
    let _ = std::fs::remove_file(&spec);
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("a Cluster spec lists its hosts under `nodes`"), "{stderr}");
}

/// Runs `validate` on `text` written to a file of its own; returns the exit code, stderr and
/// the file's path as messages show it.
fn validate(name: &str, text: &str) -> (Option<i32>, String, String) {
    let spec = std::env::temp_dir().join(format!("lvs-converge-{name}-{}.yaml", std::process::id()));
    std::fs::write(&spec, text).unwrap();
    let output =
        Command::new(env!("CARGO_BIN_EXE_lvs-converge")).arg("validate").arg("-f").arg(&spec).output().unwrap();
    let _ = std::fs::remove_file(&spec);
    (output.status.code(), String::from_utf8_lossy(&output.stderr).into_owned(), spec.display().to_string())
}

/// Issue 11, finding 2, as the issue saw it: `timeouts: {tcp: 9000000}` (the kernel answers
/// EINVAL) and a persistence timeout of 20000000s (read back as 2820130s) passed `validate`.
#[test]
fn values_the_kernel_cannot_hold_fail_validate_with_location_and_range() {
    let text = "apiVersion: lvs-converge/v1\nkind: Host\nipvs:\n  timeouts: {tcp: 9000000}\n  services:\n    - address: 203.0.113.100\n      port: 80\n      persistence: {timeout: 20000000}\n";
    let (code, stderr, file) = validate("kernel-limits", text);
    assert_eq!(code, Some(1), "{stderr}");
    assert!(
        stderr.contains(&format!(
            "{file}:4:19: ipvs.timeouts.tcp: timeout 9000000 is out of range 1-2147483 (ip_vs_set_timeout()"
        )),
        "{stderr}"
    );
    assert!(
        stderr.contains(&format!(
            "{file}:8:30: ipvs.services[0].persistence.timeout: persistence timeout 20000000 is out of range 1-2678400"
        )),
        "{stderr}"
    );
    assert!(stderr.contains("HZ"), "names where the bound comes from: {stderr}");
}

/// The README's list of limits is the one validation uses.
#[test]
fn readme_lists_every_kernel_limit() {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    for limit in lvs_converge::spec::ipvs::KERNEL_LIMITS {
        let range = format!("{}-{}", limit.min, limit.max);
        let field = limit.field;
        assert!(
            readme.lines().any(|line| line.starts_with('|') && line.contains(field) && line.contains(&range)),
            "README.md has no table row naming `{field}` with range {range}"
        );
    }
}

/// Issue 11, finding 10: a spec nested 40 000 levels deep is refused at once, naming the file
/// and the cap, instead of keeping the parsers busy for seconds to minutes.
#[test]
fn deeply_nested_spec_is_refused_naming_file_and_cap() {
    let depth = 40_000;
    let text =
        format!("apiVersion: lvs-converge/v1\nkind: Host\nipvs: {}1{}\n", "{a: ".repeat(depth), "}".repeat(depth));
    let (code, stderr, file) = validate("deep", &text);
    assert_eq!(code, Some(1), "{stderr}");
    assert!(stderr.contains(&format!("{file}:3:")), "{stderr}");
    assert!(stderr.contains("more than 64 levels deep"), "{stderr}");
}
