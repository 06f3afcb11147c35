//! Sysctl names in a spec: one grammar (the one the reader and writer enforce again), so a
//! name can never point `plan` or `apply` at a file outside /proc/sys/net.

use std::path::Path;

use lvs_converge::desired;
use lvs_converge::spec::{self, Diagnostic};

const HEADER: &str = "apiVersion: lvs-converge/v1\nkind: Host\nsysctls:\n";

fn errors(sysctls: &str) -> Vec<Diagnostic> {
    let text = format!("{HEADER}{sysctls}");
    spec::parse(&text, Path::new("bad.yaml")).expect_err("spec must be rejected").diagnostics().to_vec()
}

#[test]
fn a_traversal_name_fails_validation_at_its_line() {
    let errors = errors("  net.ipv4.ip_forward: 1\n  net.ipv4.//.//.//.//etc/shadow: x\n");
    assert_eq!(errors.len(), 1, "{errors:?}");
    let error = &errors[0];
    assert_eq!(
        (error.file.as_str(), error.line, error.path.as_str()),
        ("bad.yaml", 5, "sysctls.net.ipv4.//.//.//.//etc/shadow")
    );
    assert!(error.message.contains("would leave its directory"), "{error}");
    assert!(error.hint.as_deref().is_some_and(|hint| hint.contains("sysctl(8)")), "{error}");
}

#[test]
fn names_outside_the_grammar_fail_validation() {
    for key in ["net/../../etc/shadow", "net.ipv4..ip_forward", "\"net.ipv4.ip_forward = 1\\nkernel.x\"", "net"] {
        let errors = errors(&format!("  {key}: 1\n"));
        assert_eq!(errors.len(), 1, "{key}: {errors:?}");
        assert_eq!(errors[0].line, 4, "{key}: {errors:?}");
    }
}

#[test]
fn a_value_with_a_line_break_fails_validation() {
    // It would add a line to the sysctl.d drop-in, and systemd-sysctl would apply it at boot.
    let errors = errors("  net.ipv4.ip_forward: \"1\\nkernel.core_pattern = |/tmp/x\"\n");
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(errors[0].message.contains("control character"), "{}", errors[0]);
}

#[test]
fn slashed_names_are_stored_dotted_and_count_once() {
    let text = format!("{HEADER}  net/ipv4/conf/eth0.100/rp_filter: 0\n");
    let spec = desired::parse(&text, Path::new("good.yaml")).expect("slashed name is valid");
    let names: Vec<_> = spec.desired.sysctls.keys().cloned().collect();
    assert_eq!(names, ["net.ipv4.conf.eth0/100.rp_filter"]);
    let errors = errors("  net/ipv4/ip_forward: 1\n  net.ipv4.ip_forward: 1\n");
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(errors[0].message.contains("names the same sysctl"), "{}", errors[0]);
}

#[test]
fn an_interface_named_dot_dot_fails_validation() {
    let text = "apiVersion: lvs-converge/v1\nkind: Host\nlinks:\n  - name: \"..\"\n    type: ipip\n";
    let error = spec::parse(text, Path::new("bad.yaml")).expect_err("`..` is no interface name");
    assert_eq!(error.diagnostics()[0].path, "links[0].name", "{error}");
}

/// The spec checks the kernel's rule (model::links::check_interface_name): any whitespace,
/// not only a space, with the same words as before.
#[test]
fn an_interface_name_with_a_tab_fails_validation() {
    let text = "apiVersion: lvs-converge/v1\nkind: Host\nlinks:\n  - name: \"tun\\t1\"\n    type: ipip\n";
    let error = spec::parse(text, Path::new("bad.yaml")).expect_err("a tab is no part of an interface name");
    let diagnostic = &error.diagnostics()[0];
    assert_eq!(diagnostic.path, "links[0].name", "{error}");
    assert_eq!(diagnostic.message, "`tun\t1` is not a valid interface name");
    assert_eq!(
        diagnostic.hint.as_deref(),
        Some("use at most 15 bytes, no '/', ':' or whitespace, and not `.` or `..`")
    );
}
