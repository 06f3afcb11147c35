//! Saved plans through the command line, against snapshots: `plan --observed SNAPSHOT --out
//! FILE` writes a plan whose observed digest follows configuration, not traffic; `apply FILE`
//! refuses files that are not, or no longer, plans it can apply, before touching anything.

use std::path::Path;
use std::process::{Command, Output};

use serde_json::Value;

mod scratch;
use scratch::Scratch;

const CASE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/cases/drift_repair");

fn lvs_converge(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_lvs-converge")).args(args).output().expect("run lvs-converge")
}

fn text(path: &Path) -> String {
    path.to_str().expect("utf-8 path").to_string()
}

/// Plans the drift_repair case against `observed` (a snapshot's YAML) and returns the saved
/// plan as JSON.
fn saved_plan(scratch: &Scratch, name: &str, observed: &str) -> Value {
    let snapshot = scratch.path(&format!("{name}.yaml"));
    std::fs::write(&snapshot, observed).expect("write snapshot");
    let out = scratch.path(&format!("{name}.plan.json"));
    let output = lvs_converge(&[
        "plan",
        "--color",
        "never",
        "-f",
        &format!("{CASE}/spec.yaml"),
        "--observed",
        &text(&snapshot),
        "--out",
        &text(&out),
    ]);
    assert_eq!(output.status.code(), Some(2), "{}", String::from_utf8_lossy(&output.stderr));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains(&format!("lvs-converge apply {}", out.display())), "{stderr}");
    serde_json::from_str(&std::fs::read_to_string(&out).expect("plan --out wrote the file")).expect("JSON")
}

/// What saved plans must name: the version with this build's commit as semver build
/// metadata (`0.1.0+0123456789ab`), the commit taken from `--version` (never hard-coded);
/// the bare version for a build whose commit is unknown.
fn tool_version() -> String {
    let output = Command::new(env!("CARGO_BIN_EXE_lvs-converge")).arg("--version").output().expect("--version");
    let line = String::from_utf8(output.stdout).expect("UTF-8");
    let commit =
        line.split("(commit ").nth(1).and_then(|rest| rest.split(',').next()).expect("--version names a commit");
    match commit {
        "unknown" => env!("CARGO_PKG_VERSION").to_string(),
        commit => format!("{}+{commit}", env!("CARGO_PKG_VERSION")),
    }
}

fn observed() -> String {
    std::fs::read_to_string(format!("{CASE}/observed.yaml")).expect("observed.yaml")
}

#[test]
fn a_saved_plan_holds_the_plan_and_where_it_came_from() {
    let scratch = Scratch::new("saved", "holds");
    let saved = saved_plan(&scratch, "a", &observed());
    assert_eq!(saved["format"], "lvs-converge/saved-plan");
    assert_eq!(saved["format_version"], 4);
    assert_eq!(saved["tool_version"], tool_version());
    assert_eq!(saved["observed_from"]["kind"], "snapshot");
    assert_eq!(saved["spec"]["path"], format!("{CASE}/spec.yaml"));
    // sha256 of the spec file's bytes, checked against the system's sha256sum when present.
    let sha = saved["spec"]["sha256"].as_str().expect("spec sha256");
    assert_eq!(sha.len(), 64);
    if let Ok(output) = Command::new("sha256sum").arg(format!("{CASE}/spec.yaml")).output() {
        assert!(String::from_utf8_lossy(&output.stdout).starts_with(sha));
    }
    // The same changes `plan --format json` lists, and the state they were planned from.
    assert_eq!(saved["plan"]["changes"].as_array().map(Vec::len), Some(4));
    assert_eq!(saved["observed"]["ipvs"]["observedAt"], 1764100060);
    assert!(saved["observed_digest"].as_str().is_some_and(|d| d.starts_with("sha256:")));
}

#[test]
fn the_digest_follows_configuration_not_traffic() {
    let scratch = Scratch::new("saved", "digest");
    let digest = |name: &str, observed: &str| saved_plan(&scratch, name, observed)["observed_digest"].clone();
    let original = digest("original", &observed());
    assert_eq!(digest("same", &observed()), original, "an unchanged host");
    let busier =
        observed().replace("active: 2, inactive: 5", "active: 90, inactive: 4000").replace("1764100060", "1764103660");
    assert_ne!(busier, observed());
    assert_eq!(digest("busier", &busier), original, "only connection counts and the read time changed");
    let reweighted = observed().replace("method: tunnel, weight: 7", "method: tunnel, weight: 5");
    assert_ne!(reweighted, observed());
    assert_ne!(digest("reweighted", &reweighted), original, "a real server's weight changed");
    let new_service = observed().replace(
        "destinations: []",
        "destinations: []\n      - {protocol: tcp, address: 192.0.2.80, port: 80, scheduler: rr}",
    );
    assert_ne!(digest("new-service", &new_service), original, "a service appeared");
}

#[test]
fn apply_refuses_what_it_cannot_apply_naming_the_file() {
    let scratch = Scratch::new("saved", "refuses");
    let saved = saved_plan(&scratch, "good", &observed());
    let write = |name: &str, content: &str| {
        let path = scratch.path(name);
        std::fs::write(&path, content).expect("write");
        text(&path)
    };
    let mut newer = saved.clone();
    newer["format_version"] = 5.into();
    let mut edited = saved.clone();
    edited["observed"]["ipvs"]["services"][0]["destinations"][0]["weight"] = 1.into();
    let cases = [
        (write("empty.json", ""), "is not an lvs-converge saved plan: not JSON"),
        (write("spec.json", "{\"apiVersion\": \"lvs-converge/v1\"}"), "is not an lvs-converge saved plan"),
        (write("newer.json", &newer.to_string()), "has format version 5, newer than"),
        (write("edited.json", &edited.to_string()), "is corrupt: its observed state does not match its digest"),
        (text(&scratch.path("missing.json")), "reading saved plan"),
    ];
    for (path, message) in cases {
        let output = lvs_converge(&["apply", &path]);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(1), "{path}: {stderr}");
        assert!(stderr.contains(&path) && stderr.contains(message), "{path}: expected `{message}` in: {stderr}");
    }
    // A plan names its namespace: another one is refused before entering it.
    let mut in_lb = saved.clone();
    in_lb["netns"] = "lb".into();
    let output = lvs_converge(&["--netns", "elsewhere", "apply", &write("lb.json", &in_lb.to_string())]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("was made with --netns lb, but this apply has --netns elsewhere"), "{stderr}");
}

#[test]
fn apply_takes_either_a_spec_or_a_plan_file() {
    let both = lvs_converge(&["apply", "-f", &format!("{CASE}/spec.yaml"), "plan.json"]);
    assert_ne!(both.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&both.stderr).contains("cannot be used with"));
    let neither = lvs_converge(&["apply"]);
    assert!(String::from_utf8_lossy(&neither.stderr).contains("<--spec <FILE>|PLANFILE>"));
}

#[test]
fn a_snapshot_that_cannot_see_the_persistence_files_cannot_make_a_saved_plan() {
    // `show` reads no persistence files; a plan saved from its snapshot would be stale on
    // every host that has them, so it is refused up front.
    let scratch = Scratch::new("saved", "narrow");
    let case = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/cases/persist_create");
    let observed = std::fs::read_to_string(format!("{case}/observed.yaml")).unwrap().replace("@CASE@", case);
    let snapshot = scratch.path("observed.yaml");
    std::fs::write(&snapshot, observed).unwrap();
    let out = scratch.path("plan.json");
    let output = lvs_converge(&[
        "plan",
        "-f",
        &format!("{case}/spec.yaml"),
        "--observed",
        &text(&snapshot),
        "--out",
        &text(&out),
    ]);
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("does not hold persistence files"), "{stderr}");
    assert!(!out.exists(), "nothing written");
}

/// Writes `saved` to `name` in the scratch directory, applies it, and returns the exit code
/// and stderr.
fn apply_edited(scratch: &Scratch, name: &str, saved: &Value) -> (Option<i32>, String) {
    let path = scratch.path(name);
    std::fs::write(&path, saved.to_string()).expect("write the edited plan");
    let output = lvs_converge(&["apply", &text(&path)]);
    (output.status.code(), String::from_utf8_lossy(&output.stderr).into_owned())
}

#[test]
fn changes_appended_to_a_saved_plan_are_refused_before_anything_changes() {
    // Finding 5 of issue 11: two changes appended to a saved plan were applied, exit 0.
    let scratch = Scratch::new("saved", "appended");
    let saved = saved_plan(&scratch, "good", &observed());
    let escaped = scratch.path("escaped");
    let outside = format!("/../../..{}", escaped.display());
    let appended = [
        ("file.json", serde_json::json!({"subsystem": "file", "change": "create", "path": outside, "after": "x\n"})),
        (
            "sysctl.json",
            serde_json::json!({"subsystem": "sysctl", "change": "set", "key": "net.//.//.//.//tmp.x", "before": null, "after": "1"}),
        ),
    ];
    for (name, change) in appended {
        let mut edited = saved.clone();
        edited["plan"]["changes"].as_array_mut().expect("changes").push(change);
        let (code, stderr) = apply_edited(&scratch, name, &edited);
        assert_eq!(code, Some(1), "{name}: {stderr}");
        assert!(stderr.contains("is not what `lvs-converge plan` makes: change 5 ("), "{name}: {stderr}");
        assert!(stderr.contains("is not one its desired state gives"), "{name}: {stderr}");
        assert!(stderr.contains("nothing was changed"), "{name}: {stderr}");
        assert!(!escaped.exists(), "{name}: the appended file create was carried out");
    }
    // Replacing a change instead of appending one is named as well.
    let mut replaced = saved.clone();
    replaced["plan"]["changes"][1]["after"]["weight"] = 9.into();
    let (code, stderr) = apply_edited(&scratch, "replaced.json", &replaced);
    assert_eq!(code, Some(1), "{stderr}");
    assert!(stderr.contains("change 2 (update ipvs real server 198.51.100.22:80"), "{stderr}");
    assert!(stderr.contains("holds other values than its desired state gives"), "{stderr}");
}

#[test]
fn a_saved_plan_whose_desired_state_or_spec_was_edited_is_refused() {
    let scratch = Scratch::new("saved", "desired");
    let saved = saved_plan(&scratch, "good", &observed());
    // The desired state and the plan edited together, consistently: the spec text still
    // says weight 2, and it is what counts.
    let mut desired = saved.clone();
    let real_server = &mut desired["desired"]["ipvs"]["services"][0]["destinations"][0];
    assert_eq!(real_server["address"], "198.51.100.22");
    real_server["weight"] = 9.into();
    desired["plan"]["changes"][1]["after"]["weight"] = 9.into();
    let (code, stderr) = apply_edited(&scratch, "desired.json", &desired);
    assert_eq!(code, Some(1), "{stderr}");
    assert!(
        stderr.contains("its desired state is not what its spec gives (first: ipvs real server 198.51.100.22:80"),
        "{stderr}"
    );

    // The spec text edited without its sha256.
    let spec_text = saved["spec_text"].as_str().expect("the spec's text is saved").to_string();
    assert_eq!(spec_text, std::fs::read_to_string(format!("{CASE}/spec.yaml")).unwrap());
    let mut unhashed = saved.clone();
    unhashed["spec_text"] = spec_text.replace("weight: 2", "weight: 9").into();
    let (code, stderr) = apply_edited(&scratch, "unhashed.json", &unhashed);
    assert_eq!(code, Some(1), "{stderr}");
    assert!(stderr.contains("its spec text does not have the spec's sha256"), "{stderr}");

    // A spec text the parser refuses, with a matching sha256: validated as a spec file is.
    let mut invalid = saved.clone();
    let bad = spec_text.replace("port: 80", "port: 70000");
    invalid["spec_text"] = bad.clone().into();
    invalid["spec"]["sha256"] = lvs_converge::plan::saved::sha256_hex(bad.as_bytes()).into();
    let (code, stderr) = apply_edited(&scratch, "invalid.json", &invalid);
    assert_eq!(code, Some(1), "{stderr}");
    assert!(stderr.contains("the spec saved in plan"), "{stderr}");
    assert!(stderr.contains("spec.yaml:6:") && stderr.contains("ipvs.services[0].port"), "{stderr}");

    // A relative root would make the plan act on whatever directory apply runs in.
    let mut relative = saved.clone();
    relative["root"] = "img".into();
    let (code, stderr) = apply_edited(&scratch, "relative.json", &relative);
    assert_eq!(code, Some(1), "{stderr}");
    assert!(stderr.contains("its root img is not an absolute path"), "{stderr}");
}

#[test]
fn plan_files_are_written_for_their_owner_only() {
    use std::os::unix::fs::PermissionsExt;
    let scratch = Scratch::new("saved", "mode");
    // An existing, world-readable file is replaced, not rewritten in place with its mode.
    let out = scratch.path("a.plan.json");
    std::fs::write(&out, "old").unwrap();
    std::fs::set_permissions(&out, std::fs::Permissions::from_mode(0o644)).unwrap();
    saved_plan(&scratch, "a", &observed());
    let mode = std::fs::metadata(&out).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "plan file mode {mode:o}");
    let leftovers: Vec<_> = std::fs::read_dir(scratch.dir())
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| name.ends_with(".tmp"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

#[test]
fn a_cluster_plan_whose_node_was_found_by_address_reads_back_as_consistent() {
    // The spec text is resolved again for the node the plan names, which must give what
    // resolving by the host's address gave.
    let scratch = Scratch::new("saved", "cluster");
    let out = scratch.path("rs1.plan.json");
    let output = lvs_converge(&[
        "plan",
        "-f",
        concat!(env!("CARGO_MANIFEST_DIR"), "/examples/seed/cluster.yaml"),
        "--observed",
        concat!(env!("CARGO_MANIFEST_DIR"), "/tests/cases/real_server_role/observed.yaml"),
        "--out",
        &text(&out),
    ]);
    assert_eq!(output.status.code(), Some(2), "{}", String::from_utf8_lossy(&output.stderr));
    let saved = std::fs::read_to_string(&out).expect("plan --out wrote the file");
    let saved = lvs_converge::plan::saved::SavedPlan::from_json(&saved, &out).expect("consistent");
    assert_eq!(saved.made.node.as_deref(), Some("rs1"));
    assert!(!saved.plan.changes.is_empty());
}

#[test]
fn a_plan_saved_to_a_link_to_a_pipe_goes_through_it() {
    // `--out /dev/stdout` as root replaced the system's /dev/stdout link with a file; a link
    // to a pipe in a scratch directory stands in for it here.
    let scratch = Scratch::new("saved", "pipe");
    let pipe = scratch.path("pipe");
    nix::unistd::mkfifo(&pipe, nix::sys::stat::Mode::from_bits_truncate(0o600)).expect("mkfifo");
    let link = scratch.path("stdout");
    std::os::unix::fs::symlink(&pipe, &link).unwrap();
    let reader = {
        let pipe = pipe.clone();
        std::thread::spawn(move || std::fs::read_to_string(pipe).expect("read the pipe"))
    };
    let snapshot = scratch.path("observed.yaml");
    std::fs::write(&snapshot, observed()).unwrap();
    let output = lvs_converge(&[
        "plan",
        "-f",
        &format!("{CASE}/spec.yaml"),
        "--observed",
        &text(&snapshot),
        "--out",
        &text(&link),
    ]);
    assert_eq!(output.status.code(), Some(2), "{}", String::from_utf8_lossy(&output.stderr));
    // If nothing was written through, the reader still waits for a writer: be one, so that a
    // failing run ends instead of hanging.
    {
        use std::os::unix::fs::OpenOptionsExt;
        let _ = std::fs::OpenOptions::new().write(true).custom_flags(nix::libc::O_NONBLOCK).open(&pipe);
    }
    let through = reader.join().unwrap();
    assert!(std::fs::symlink_metadata(&link).unwrap().file_type().is_symlink(), "the link was replaced");
    assert!(through.contains("\"spec_text\""), "the plan went through the pipe: {through:.200}");
}

/// `plan --spec-path PATH` plans a copy of a spec as the spec at PATH: the Ansible module
/// plans a private copy in check mode, and the boot unit and the saved plan must name the
/// spec it manages, not the copy it deletes afterwards.
#[test]
fn a_copy_planned_with_spec_path_names_that_path() {
    let scratch = Scratch::new("saved", "spec-path");
    let managed = "/etc/lvs-converge/managed.yaml";
    // The boot unit's spec path defaults to the spec's own path.
    let case = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/cases/persist_create");
    let spec = std::fs::read_to_string(format!("{case}/spec.yaml"))
        .unwrap()
        .replace("bootUnit: { specPath: /etc/lvs-converge/rs1.yaml }", "bootUnit: true");
    assert!(spec.contains("bootUnit: true"), "the case still has a boot unit to rewrite");
    let copy = scratch.path("copy.yaml");
    std::fs::write(&copy, spec).unwrap();
    let snapshot = scratch.path("observed.yaml");
    let persist_observed = std::fs::read_to_string(format!("{case}/observed.yaml")).unwrap().replace("@CASE@", case);
    std::fs::write(&snapshot, persist_observed).unwrap();
    let plan = |extra: &[&str]| {
        let mut args = vec!["plan", "--color", "never", "-f", copy.to_str().unwrap(), "--observed"];
        args.push(snapshot.to_str().unwrap());
        args.extend_from_slice(extra);
        let output = lvs_converge(&args);
        assert_eq!(output.status.code(), Some(2), "{}", String::from_utf8_lossy(&output.stderr));
        String::from_utf8_lossy(&output.stdout).into_owned()
    };
    let unit_for = |path: &str| format!("ExecStart=/usr/bin/lvs-converge apply -f {path}\n");
    // Without the option, the unit names the copy: what the option is there to prevent.
    assert!(plan(&[]).contains(&unit_for(&text(&copy))), "the copy's own path");
    let as_managed = plan(&["--spec-path", managed]);
    assert!(as_managed.contains(&unit_for(managed)), "{as_managed}");
    assert!(as_managed.contains(&format!("ConditionPathExists={managed}\n")), "{as_managed}");
    assert!(!as_managed.contains(&text(&copy)), "the copy is named nowhere: {as_managed}");

    // A saved plan records PATH as the spec it was made from.
    let copy = scratch.path("drift.yaml");
    std::fs::copy(format!("{CASE}/spec.yaml"), &copy).unwrap();
    std::fs::write(&snapshot, observed()).unwrap();
    let out = scratch.path("drift.plan.json");
    let output = lvs_converge(&[
        "plan",
        "-f",
        &text(&copy),
        "--spec-path",
        managed,
        "--observed",
        &text(&snapshot),
        "--out",
        &text(&out),
    ]);
    assert_eq!(output.status.code(), Some(2), "{}", String::from_utf8_lossy(&output.stderr));
    let saved: Value = serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();
    assert_eq!(saved["spec"]["path"], managed);

    // PATH is where the spec will be on the host: a relative one is refused, saying so.
    let output =
        lvs_converge(&["plan", "-f", &text(&copy), "--spec-path", "managed.yaml", "--observed", &text(&snapshot)]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("`managed.yaml` is not an absolute path"), "{stderr}");
}
