//! `lvs-converge import` round trips: every sample imported, written, parsed back as a spec
//! and planned against the state it came from shows no change; the resolved IPVS table is
//! the one the source describes, and (independently) the one the persistence renderer
//! writes back as ipvsadm rules equals the hand-written expectation.

use std::path::{Path, PathBuf};

use lvs_converge::desired::files::ipvsadm;
use lvs_converge::desired::{self, Spec};
use lvs_converge::import::{self, live, Imported};
use lvs_converge::model::HostState;
use lvs_converge::observe::snapshot;
use lvs_converge::render;

fn sample(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/import").join(name)
}

/// The imported spec as written, parsed back: the writer's output must be a valid spec.
fn written_and_parsed(imported: &Imported, name: &str) -> (String, Spec) {
    let yaml = imported.to_yaml("2024-05-01 12:34:56 UTC");
    let spec =
        desired::parse(&yaml, Path::new(name)).unwrap_or_else(|e| panic!("{name}: written spec invalid: {e}\n{yaml}"));
    (yaml, spec)
}

/// A host that has exactly `ipvs` and the modules it needs.
fn host_with(ipvs: &lvs_converge::model::IpvsState, spec: &Spec) -> HostState {
    HostState { ipvs: ipvs.clone(), modules: spec.desired.modules.clone(), ..HostState::default() }
}

fn sorted_rules(text: &str) -> Vec<String> {
    let mut lines: Vec<String> =
        text.lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with('#')).map(String::from).collect();
    lines.sort();
    lines
}

fn assert_converged(spec: &Spec, observed: &HostState, name: &str) {
    let plan = lvs_converge::plan::diff(&spec.desired, observed, &spec.ownership);
    let changes: Vec<String> = plan.changes.iter().map(|c| render::change::object(&c.change)).collect();
    assert!(plan.converged(), "{name}: plan of the imported spec is not empty: {changes:?}");
}

#[test]
fn ipvsadm_save_samples_round_trip() {
    for name in ["rich.ipvsadm-save", "seed-director.ipvsadm-save"] {
        let path = sample(name);
        let text = std::fs::read_to_string(&path).unwrap();
        let source = import::ipvsadm_save::parse(&text, name).unwrap();
        let imported = import::from_ipvsadm_save_file(&path).unwrap();
        let (yaml, spec) = written_and_parsed(&imported, name);
        assert_eq!(spec.desired.ipvs, source.ipvs, "{name}: imported table differs\n{yaml}");
        assert_converged(&spec, &host_with(&source.ipvs, &spec), name);
    }
}

#[test]
fn rich_ipvsadm_save_comes_back_as_the_same_rules() {
    let path = sample("rich.ipvsadm-save");
    let (yaml, spec) = written_and_parsed(&import::from_ipvsadm_save_file(&path).unwrap(), "rich");
    let rendered = ipvsadm::render(&spec.desired.ipvs).unwrap();
    assert_eq!(sorted_rules(&rendered), sorted_rules(&std::fs::read_to_string(&path).unwrap()), "\n{yaml}");
    // The canonical form leaves defaults out and writes durations as people do.
    assert!(yaml.contains("persistence: { timeout: 1h, netmask: 24 }"), "{yaml}");
    assert!(yaml.contains("- { address: 203.0.113.11, weight: 3 }"), "{yaml}");
    assert!(yaml.contains("- { address: 10.1.0.5, port: 5061, method: masq, weight: 4 }"), "{yaml}");
    assert!(yaml.contains("tunnel: { type: gue, port: 6080, checksum: remcsum }"), "{yaml}");
    assert!(yaml.contains("tunnel: { type: gre, checksum: csum }"), "{yaml}");
    assert!(yaml.contains("timeouts: { tcp: 1h }"), "{yaml}");
    assert!(!yaml.contains("protocol: tcp"), "{yaml}");
}

#[test]
fn keepalived_sample_is_the_table_keepalived_builds() {
    let path = sample("keepalived.conf");
    let text = std::fs::read_to_string(&path).unwrap();
    let source = import::keepalived::parse(&text, "keepalived.conf").unwrap();
    let imported = import::from_keepalived_file(&path).unwrap();
    let (yaml, spec) = written_and_parsed(&imported, "keepalived.conf");
    assert_eq!(spec.desired.ipvs, source.ipvs, "\n{yaml}");
    assert_converged(&spec, &host_with(&source.ipvs, &spec), "keepalived.conf");
    let expected = std::fs::read_to_string(sample("keepalived.expected.ipvsadm-save")).unwrap();
    assert_eq!(sorted_rules(&ipvsadm::render(&spec.desired.ipvs).unwrap()), sorted_rules(&expected), "\n{yaml}");
}

#[test]
fn keepalived_lab_sample_round_trips() {
    let path = sample("keepalived-lab.conf");
    let source = import::keepalived::parse(&std::fs::read_to_string(&path).unwrap(), "lab").unwrap();
    let (_, spec) = written_and_parsed(&import::from_keepalived_file(&path).unwrap(), "lab");
    assert_eq!(spec.desired.ipvs, source.ipvs);
    assert_eq!(source.ipvs.services.len(), 4);
}

#[test]
fn keepalived_things_not_converted_are_reported_with_their_lines() {
    let path = sample("keepalived.conf");
    let imported = import::from_keepalived_file(&path).unwrap();
    let yaml = imported.to_yaml("T");
    let notes = imported.notes.join("\n");
    let text = std::fs::read_to_string(&path).unwrap();
    let line_of = |needle: &str| text.lines().position(|l| l.contains(needle)).unwrap() + 1;
    for (needle, what) in [
        ("include /etc", "include"),
        ("vrrp_instance VI_1", "vrrp_instance"),
        ("virtual_server 203.0.113.100 25", "no real servers"),
    ] {
        let reference = format!("keepalived.conf:{}", line_of(needle));
        assert!(notes.contains(&reference), "{what}: no note naming {reference}:\n{notes}");
        assert!(yaml.contains(&reference), "{what}: no YAML comment naming {reference}:\n{yaml}");
    }
    // A group's services name the virtual_server block and the group they come from.
    let group = format!(
        "keepalived.conf:{} (virtual_server group WEB, virtual_server_group at {}:{})",
        line_of("virtual_server group WEB"),
        path.display(),
        line_of("virtual_server_group WEB")
    );
    assert_eq!(yaml.matches(&group).count(), 2, "{group}:\n{yaml}");
    for (needle, what) in [
        ("HTTP_GET {", "HTTP_GET"),
        ("TCP_CHECK {", "TCP_CHECK"),
        ("MISC_CHECK {", "MISC_CHECK"),
        ("sorry_server 203", "sorry_server"),
        ("quorum 1", "quorum"),
        ("inhibit_on_failure", "inhibit_on_failure"),
        ("delay_loop 6", "delay_loop"),
        ("lb_kind DR", "lb_kind"),
    ] {
        let reference = format!("line {}: `{what}`", line_of(needle));
        assert!(notes.contains(&reference), "{what}: no note `{reference}`:\n{notes}");
        assert!(yaml.contains(&reference), "{what}: no YAML comment `{reference}`:\n{yaml}");
    }
    assert!(yaml.contains("no `protocol`: keepalived uses UDP"), "{yaml}");
}

fn import_host(name: &str, role: live::RoleChoice) -> Result<(HostState, String, Spec), import::ImportError> {
    let state = snapshot::read(&sample(&format!("hosts/{name}"))).unwrap();
    let imported = live::import(&state, role, "a test snapshot", render::change::object)?;
    let (yaml, spec) = written_and_parsed(&imported, name);
    Ok((state, yaml, spec))
}

#[test]
fn seed_manual_hosts_round_trip_mistakes_included() {
    let (state, yaml, spec) = import_host("seed-director.yaml", live::RoleChoice::Auto).unwrap();
    assert_converged(&spec, &state, "seed-director");
    assert!(yaml.contains("role: director\nvipInterface: eth0:0\n"), "{yaml}");
    assert!(yaml.contains("- { address: 10.0.0.2 }"), "import mirrors the tunnel-interior real servers:\n{yaml}");
    assert!(yaml.contains("address: 10.0.0.1/24, interface: tunl0"), "{yaml}");
    assert!(yaml.contains("net.ipv4.ip_forward: 1"), "{yaml}");
    assert!(!yaml.contains("203.0.113.10/24"), "the director's own address is not LVS state:\n{yaml}");

    let (state, yaml, spec) = import_host("seed-rs1.yaml", live::RoleChoice::Auto).unwrap();
    assert_converged(&spec, &state, "seed-rs1");
    assert!(yaml.contains("role: real-server\nvips: [203.0.113.100]\n"), "{yaml}");
    assert!(!yaml.contains("arp_ignore"), "role defaults are not repeated:\n{yaml}");
}

#[test]
fn a_host_off_its_role_gets_explicit_sections_and_the_reason() {
    let (state, yaml, spec) = import_host("rs2-tunl0-rp-filter.yaml", live::RoleChoice::Auto).unwrap();
    assert_converged(&spec, &state, "rs2");
    assert!(!yaml.contains("\nrole:"), "{yaml}");
    assert!(
        yaml.contains("net.ipv4.conf.tunl0.rp_filter is 1: the role would set 0"),
        "the comment names the unmet default:\n{yaml}"
    );
    assert!(yaml.contains("net.ipv4.conf.tunl0.rp_filter: 1"), "{yaml}");
    let error = import_host("rs2-tunl0-rp-filter.yaml", live::RoleChoice::RealServer).unwrap_err().to_string();
    assert!(error.contains("does not match role real-server") && error.contains("tunl0.rp_filter is 1"), "{error}");
}

#[test]
fn golden_case_snapshots_round_trip() {
    let cases = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/cases");
    let mut count = 0;
    for entry in std::fs::read_dir(cases).unwrap() {
        let path = entry.unwrap().path().join("observed.yaml");
        let state = snapshot::read(&path).unwrap();
        let imported = live::import(&state, live::RoleChoice::Auto, "a snapshot", render::change::object).unwrap();
        let (_, spec) = written_and_parsed(&imported, &path.display().to_string());
        assert_converged(&spec, &state, &path.display().to_string());
        count += 1;
    }
    assert!(count >= 5, "only {count} snapshots");
}
