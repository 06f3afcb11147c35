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
