//! The scale benchmarks (tests/lab/bench.sh, tests/bench/scale.sh) time runs on what
//! tests/bench/gen.py writes; a benchmark of a failing run is worthless. So: the snapshot it
//! writes is the converged host of its spec (plan exits 0), plain and as a director; one
//! weight changed in it is exactly one update (what the lab's one-change apply measures);
//! and its ipvsadm rules name the same table.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const GENERATOR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/bench/gen.py");

fn generate(name: &str, args: &[&str]) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("lvs-converge-bench-inputs-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let status = Command::new("python3")
        .arg(GENERATOR)
        .args(args.iter().take(1))
        .arg(&dir)
        .args(args.iter().skip(1))
        .status()
        .expect("python3 runs tests/bench/gen.py");
    assert!(status.success(), "gen.py {args:?} failed");
    dir
}

fn plan(spec: &Path, observed: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_lvs-converge"))
        .args(["plan", "--color", "never", "-f"])
        .arg(spec)
        .arg("--observed")
        .arg(observed)
        .output()
        .expect("run lvs-converge")
}

fn assert_converged(dir: &Path) {
    let output = plan(&dir.join("spec.yaml"), &dir.join("observed.yaml"));
    let text = String::from_utf8_lossy(&output.stdout);
    assert_eq!(
        output.status.code(),
        Some(0),
        "{}: the generated snapshot is not the spec's converged host:\n{text}\n{}",
        dir.display(),
        String::from_utf8_lossy(&output.stderr)
    );
}

#[test]
fn generated_snapshot_is_the_converged_host() {
    for (name, args) in
        [("plain", &["7"][..]), ("director", &["7", "director"][..]), ("one-real", &["7", "--reals", "1"][..])]
    {
        let dir = generate(name, args);
        assert_converged(&dir);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}

#[test]
fn one_weight_changed_in_the_snapshot_is_one_update() {
    let dir = generate("drift", &["3", "director"]);
    let observed = std::fs::read_to_string(dir.join("observed.yaml")).unwrap();
    let first = "{ address: 192.0.1.1, port: 80, method: tunnel, weight: 1 }";
    assert!(observed.contains(first), "gen.py's first real server is not where this test looks:\n{observed}");
    std::fs::write(dir.join("drifted.yaml"), observed.replacen(first, &first.replace("weight: 1", "weight: 9"), 1))
        .unwrap();
    let output = plan(&dir.join("spec.yaml"), &dir.join("drifted.yaml"));
    let text = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(2), "{text}");
    assert!(text.contains("Plan: 0 to create, 1 to update, 0 to delete."), "{text}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn rules_name_the_snapshot_table() {
    let dir = generate("rules", &["300", "--reals", "2"]);
    let rules = std::fs::read_to_string(dir.join("rules")).unwrap();
    let services: Vec<&str> = rules.lines().filter(|line| line.starts_with("-A ")).collect();
    let reals: Vec<&str> = rules.lines().filter(|line| line.starts_with("-a ")).collect();
    assert_eq!((services.len(), reals.len(), rules.lines().count()), (300, 600, 900), "{rules}");
    assert_eq!(services[299], "-A -t 10.0.1.43:80 -s wlc");
    assert_eq!(reals[599], "-a -t 10.0.1.43:80 -r 192.0.2.50:80 -i -w 2 --tun-type ipip");
    let observed = std::fs::read_to_string(dir.join("observed.yaml")).unwrap();
    assert!(observed.contains("        address: 10.0.1.43\n"), "last service missing from the snapshot");
    assert!(
        observed.contains("{ address: 192.0.2.50, port: 80, method: tunnel, weight: 2 }"),
        "last real server missing"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}
