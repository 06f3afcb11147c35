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
fn fou_ports_are_imported_in_their_short_form_and_plan_no_change() {
    let (state, yaml, spec) = import_host("rs-gue.yaml", live::RoleChoice::Auto).unwrap();
    assert_converged(&spec, &state, "rs-gue");
    assert!(yaml.contains("role: real-server\n"), "{yaml}");
    assert!(yaml.contains("- { port: 6080, type: gue }"), "{yaml}");
    assert!(yaml.contains("- { port: 5555, type: direct, family: ipv6, protocol: 41 }"), "{yaml}");
    assert!(!yaml.contains("- fou"), "the module follows from the ports:\n{yaml}");
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

/// The seed director with an IPv6 service beside its IPv4 one, its VIP on eth0 held
/// deprecated (as the director role holds it) or not.
fn director_with_ipv6_vip(deprecated: bool) -> HostState {
    use lvs_converge::model::addresses::Address;
    use lvs_converge::model::ipvs::ServiceKey;
    use lvs_converge::model::keyed;
    let mut state = snapshot::read(&sample("hosts/seed-director.yaml")).unwrap();
    let vip = "2001:db8:1::100".parse().unwrap();
    let mut service = state.ipvs.services.values().next().unwrap().clone();
    let ServiceKey::Address { protocol, port, .. } = service.key else { unreachable!() };
    service.key = ServiceKey::Address { protocol, address: vip, port };
    keyed::put(&mut state.ipvs.services, service);
    let address = Address { interface: "eth0".into(), address: vip, prefix_length: 128, label: None, deprecated };
    keyed::put(&mut state.addresses, address);
    state
}

fn import_state(state: &HostState, role: live::RoleChoice, name: &str) -> Result<(String, Spec), import::ImportError> {
    let imported = live::import(state, role, "a test snapshot", render::change::object)?;
    Ok(written_and_parsed(&imported, name))
}

#[test]
fn a_director_with_its_ipv6_vip_deprecated_is_the_role_and_a_preferred_one_is_kept_explicitly() {
    let held = director_with_ipv6_vip(true);
    let (yaml, spec) = import_state(&held, live::RoleChoice::Auto, "held").unwrap();
    assert_converged(&spec, &held, "held");
    assert!(yaml.contains("role: director\nvipInterface: eth0:0\n"), "{yaml}");
    assert!(!yaml.contains("2001:db8:1::100/128"), "the role holds it so, nothing to declare:\n{yaml}");

    let preferred = director_with_ipv6_vip(false);
    let (yaml, spec) = import_state(&preferred, live::RoleChoice::Auto, "preferred").unwrap();
    assert_converged(&spec, &preferred, "preferred");
    assert!(!yaml.contains("\nrole:"), "{yaml}");
    assert!(
        yaml.contains(
            "2001:db8:1::100/128 on eth0 is preferred (a possible source address): the role would make it deprecated"
        ),
        "the comment names why the role form does not fit:\n{yaml}"
    );
}

#[test]
fn a_deprecated_address_beyond_the_role_is_imported_deprecated() {
    use lvs_converge::model::addresses::Address;
    let mut state = director_with_ipv6_vip(true);
    let extra = Address {
        interface: "lo".into(),
        address: "2001:db8:1::200".parse().unwrap(),
        prefix_length: 128,
        label: None,
        deprecated: true,
    };
    lvs_converge::model::keyed::put(&mut state.addresses, extra);
    let (yaml, spec) = import_state(&state, live::RoleChoice::Auto, "extra").unwrap();
    assert_converged(&spec, &state, "extra");
    assert!(yaml.contains("2001:db8:1::200/128, interface: lo, deprecated: true"), "{yaml}");
}

#[test]
fn tunnels_of_every_kind_are_imported_but_fallbacks_left_down_are_not() {
    let (state, yaml, spec) = import_host("tunnel-kinds.yaml", live::RoleChoice::Auto).unwrap();
    assert_converged(&spec, &state, "tunnel-kinds");
    for line in [
        "- { name: gre0 }",
        "- { name: ip6tnl0, mode: any }",
        "- { name: gre1, type: gre, local: 198.51.100.22, remote: 198.51.100.1, ttl: 64 }",
        "- { name: sit1, type: sit, remote: 198.51.100.1 }",
        r#"- { name: t6, type: ip6tnl, local: "2001:db8::22", remote: "2001:db8::1", mode: ipip6 }"#,
        r#"- { name: g6, type: ip6gre, remote: "2001:db8::1", hopLimit: 255, up: false, mtu: 1400 }"#,
        "modules: [ip6_gre, ip6_tunnel, ip_gre, sit]",
        "address: 10.0.1.2/30, interface: gre1",
    ] {
        assert!(yaml.contains(line), "no `{line}` in:\n{yaml}");
    }
    for absent in ["sit0", "ip6gre0", "gretap0"] {
        assert!(!yaml.contains(absent), "`{absent}` imported:\n{yaml}");
    }
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

/// keepalived.conf fixtures, one per fidelity finding, in tests/import/keepalived/. Each is
/// imported from the repository root (so the header names a relative path), and the
/// written spec must pass what `validate` checks, plan no change against the table the
/// import describes, and equal `NAME.expected.yaml` (`UPDATE_GOLDEN=1` rewrites it).
fn keepalived_fixture(name: &str) -> (String, Spec, Vec<String>) {
    let relative = format!("tests/import/keepalived/{name}.conf");
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(&relative);
    std::env::set_current_dir(env!("CARGO_MANIFEST_DIR")).unwrap();
    let imported = import::from_keepalived_file(Path::new(&relative)).unwrap_or_else(|e| panic!("{name}: {e}"));
    let (yaml, spec) = written_and_parsed(&imported, name);
    let source = import::keepalived::parse(&std::fs::read_to_string(&path).unwrap(), &relative).unwrap();
    assert_eq!(spec.desired.ipvs, source.ipvs, "{name}: the spec is not the table read\n{yaml}");
    assert_converged(&spec, &host_with(&source.ipvs, &spec), name);
    let expected_path = path.with_extension("expected.yaml");
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::write(&expected_path, &yaml).unwrap();
    }
    let expected = std::fs::read_to_string(&expected_path).unwrap_or_default();
    assert_eq!(yaml, expected, "{name}: differs from {} (UPDATE_GOLDEN=1 to accept)", expected_path.display());
    (yaml, spec, imported.notes)
}

fn keepalived_fixture_error(name: &str) -> String {
    std::env::set_current_dir(env!("CARGO_MANIFEST_DIR")).unwrap();
    let relative = format!("tests/import/keepalived/{name}.conf");
    import::from_keepalived_file(Path::new(&relative)).map(|_| ()).expect_err(name).to_string()
}

fn table(spec: &Spec) -> Vec<String> {
    sorted_rules(&ipvsadm::render(&spec.desired.ipvs).unwrap())
}

#[test]
fn keepalived_persistence_timeout_0_is_no_persistence() {
    let (_, spec, notes) = keepalived_fixture("persistence-timeout-0");
    let rules = table(&spec);
    assert!(rules.contains(&"-A -t 203.0.113.100:80 -s wlc".to_string()), "{rules:?}");
    assert!(rules.contains(&"-A -t 203.0.113.100:443 -s wlc -p 600".to_string()), "{rules:?}");
    let notes = notes.join("\n");
    assert!(notes.contains("line 6: `persistence_timeout 0`: keepalived takes 1-2678400"), "{notes}");
    assert!(notes.contains("keeps no persistence"), "{notes}");
    assert!(notes.contains("line 15: `persistence_timeout 99999999`") && notes.contains("keeps 600 s"), "{notes}");
}

#[test]
fn keepalived_virtual_server_weight_goes_to_real_servers_without_one() {
    let (_, spec, notes) = keepalived_fixture("virtual-server-weight");
    let rules = table(&spec);
    for (real, weight) in [("198.51.100.21", 5), ("198.51.100.22", 2), ("198.51.100.23", 0), ("198.51.100.24", 5)] {
        let rule = format!("-a -t 203.0.113.100:80 -r {real}:80 -i -w {weight} --tun-type ipip");
        assert!(rules.contains(&rule), "{rule} not in {rules:?}");
    }
    assert!(notes.join("\n").contains("line 15: `weight 2147483648`: keepalived takes 0-2147483647"), "{notes:?}");
}

/// keepalived builds a weight of 70000, but no spec can hold it (ipvsadm -R restores 0-65535):
/// refused, naming the line, rather than written as a spec `validate` refuses.
#[test]
fn keepalived_weight_above_what_the_spec_holds_is_refused_at_its_line() {
    let error = keepalived_fixture_error("weight-above-ipvsadm");
    assert!(error.starts_with("tests/import/keepalived/weight-above-ipvsadm.conf:6:"), "{error}");
    assert!(error.contains("weight 70000 is out of range 0-65535"), "{error}");
}

#[test]
fn keepalived_non_breaking_space_lines_are_ignored_as_keepalived_does() {
    let (yaml, spec, notes) = keepalived_fixture("nbsp");
    assert_eq!(
        table(&spec),
        ["-A -t 203.0.113.100:443 -s wlc", "-a -t 203.0.113.100:443 -r 198.51.100.21:443 -i -w 1 --tun-type ipip"]
    );
    let notes = notes.join("\n");
    assert!(notes.contains("nbsp.conf: lines 8, 9, 10 start with a non-breaking space (U+00A0)"), "{notes}");
    assert!(notes.contains("nbsp.conf:5: `virtual_server 203.0.113.100 80` has no real servers"), "{notes}");
    assert!(notes.contains("nbsp.conf:11: `}` closes no block"), "{notes}");
    assert!(!yaml.contains("198.51.100.21, weight: 3"), "{yaml}");
}

#[test]
fn keepalived_warnings_fall_back_as_keepalived_does() {
    let (_, spec, notes) = keepalived_fixture("fallbacks");
    let rules = table(&spec);
    for rule in [
        "-A -t 203.0.113.100:80 -s wlc",
        "-a -t 203.0.113.100:80 -r 10.1.0.21:80 -m -w 1",
        "-a -t 203.0.113.100:443 -r 198.51.100.21:443 -i -w 1 --tun-type ipip",
        "-a -t 203.0.113.100:443 -r 198.51.100.22:443 -i -w 1 --tun-type ipip",
        "-a -t 203.0.113.100:443 -r 198.51.100.23:443 -i -w 1 --tun-type ipip",
        "-a -t 203.0.113.100:443 -r 198.51.100.24:443 -i -w 1 --tun-type gre --tun-csum",
        "-a -t 203.0.113.100:443 -r 198.51.100.25:443 -i -w 1 --tun-type gue --tun-port 6080 --tun-remcsum",
        "-a -t 203.0.113.100:443 -r 198.51.100.26:443 -i -w 1 --tun-type ipip",
        "-A -u 203.0.113.100:53 -s wlc",
    ] {
        assert!(rules.contains(&rule.to_string()), "{rule} not in {rules:?}");
    }
    let notes = notes.join("\n");
    for expected in [
        "line 6: `lb_algo fastest`: keepalived does not know this scheduler, warns and keeps its default, wlc",
        "line 7: `lb_kind dr`: keepalived knows only NAT, DR and TUN (upper case), warns and keeps its default, NAT",
        "line 16: `lvs_method TUN type gue`: a GUE tunnel needs `port N`",
        "line 20: `lvs_method TUN type gre remcsum`: GRE tunnels do not support remcsum",
        "line 23: `lvs_method TUN type ipip csum`: ipip tunnels take no checksum option",
        "line 32: `tunnel_type` not converted: keepalived 2.2.7 does not know it",
        "line 37: unknown protocol `tcpx`: keepalived ignores it",
    ] {
        assert!(notes.contains(expected), "no note `{expected}`:\n{notes}");
    }
}

#[test]
fn keepalived_silent_changes_are_said() {
    let (_, spec, notes) = keepalived_fixture("silent-changes");
    let rules = table(&spec);
    assert!(rules.contains(&"-a -t 203.0.113.100:80 -r 203.0.113.21:80 -g -w 1".to_string()), "{rules:?}");
    assert!(rules.contains(&"-a -f 5 -r 198.51.100.21:0 -i -w 1 --tun-type ipip".to_string()), "{rules:?}");
    let notes = notes.join("\n");
    for expected in [
        "real server 203.0.113.21:80: line 12: port 8080 reset to the service's port 80: keepalived does that for DR real servers",
        "real server 198.51.100.21:0: line 21: port 443 cleared to 0: keepalived does that for TUN real servers",
        "line 18: `protocol TCP` ignored: keepalived ignores the protocol of a fwmark service",
        "silent-changes.conf:6: `lvs_flush` not converted: keepalived empties the whole IPVS table",
        "line 11: `lvs_flush` not converted: keepalived knows it only in global_defs",
    ] {
        assert!(notes.contains(expected), "no note `{expected}`:\n{notes}");
    }
}

#[test]
fn keepalived_includes_are_followed_relative_to_the_including_file() {
    let (yaml, spec, notes) = keepalived_fixture("include");
    let rules = table(&spec);
    assert!(rules.contains(&"--set 900 60 120".to_string()), "{rules:?}");
    assert!(rules.contains(&"-a -t 203.0.113.100:80 -r 198.51.100.22:80 -i -w 2 --tun-type ipip".to_string()));
    assert!(rules.contains(&"-A -u 203.0.113.100:53 -s wlc".to_string()), "{rules:?}");
    assert!(yaml.contains("# from tests/import/keepalived/conf.d/10-web.conf:1 (virtual_server 203.0.113.100 80)"));
    assert!(yaml.contains("# tests/import/keepalived/conf.d/10-web.conf:5: `HTTP_GET` block not converted"), "{yaml}");
    let notes = notes.join("\n");
    assert!(notes.contains("include.conf:7: `include conf.d/nothing-*.conf` matches no file"), "{notes}");
    let error = keepalived_fixture_error("include-cycle");
    assert!(
        error.starts_with("tests/import/keepalived/include-cycle.conf:8: `include include-cycle.conf` includes"),
        "{error}"
    );
    assert!(error.contains("a cycle"), "{error}");
}

#[test]
fn keepalived_virtual_server_groups_are_one_service_per_member() {
    let (_, spec, notes) = keepalived_fixture("group");
    let services: Vec<String> = table(&spec).into_iter().filter(|rule| rule.starts_with("-A")).collect();
    assert_eq!(
        services,
        [
            "-A -f 7 -s wlc -p 600",
            "-A -t 203.0.113.100:80 -s wlc -p 600",
            "-A -t 203.0.113.110:80 -s wlc -p 600",
            "-A -t 203.0.113.111:80 -s wlc -p 600",
            "-A -t 203.0.113.112:80 -s wlc -p 600",
        ]
    );
    let notes = notes.join("\n");
    assert!(notes.contains("group.conf:17: virtual_server_group MIXED has IPv4 and IPv6 addresses and a fwmark"));
    assert!(notes.contains("group.conf:28: `virtual_server group MISSING`: no virtual_server_group MISSING"));
}

#[test]
fn keepalived_definitions_expand_and_conditional_lines_are_refused() {
    let (_, spec, notes) = keepalived_fixture("definitions");
    assert!(table(&spec).contains(&"-a -t 203.0.113.100:80 -r 198.51.100.21:80 -i -w 1 --tun-type ipip".to_string()));
    assert!(notes.join("\n").contains("definitions.conf:6: `$PORT` not converted"), "{notes:?}");
    let error = keepalived_fixture_error("conditional");
    assert!(error.starts_with("tests/import/keepalived/conditional.conf:4: `@lb1`: a line for one host only"));
    assert!(error.contains("hint: keep the lines meant for the host"), "{error}");
}

#[test]
fn keepalived_byte_order_mark_is_skipped_and_nul_refused() {
    let (_, spec, notes) = keepalived_fixture("bom");
    assert_eq!(table(&spec).iter().filter(|rule| rule.starts_with("-A")).count(), 2);
    assert!(notes[0].starts_with("tests/import/keepalived/bom.conf:1: the file starts with a UTF-8 byte order mark"));
    let error = keepalived_fixture_error("nul");
    assert!(error.starts_with("tests/import/keepalived/nul.conf:3: a NUL byte"), "{error}");
}

/// The sample configurations keepalived's own package ships (Debian: keepalived's
/// doc/samples), read where the package installed them rather than copied here: each
/// imports to a spec that passes `validate`, or fails naming the file and line (`@id` lines).
#[test]
fn keepalived_package_samples_import_to_valid_specs() {
    let directory = Path::new("/usr/share/doc/keepalived/samples");
    let Ok(entries) = std::fs::read_dir(directory) else {
        // tests/run-all.sh installs keepalived first and sets this: there, no samples is a failure.
        assert!(
            std::env::var_os("LVS_CONVERGE_REQUIRE_SAMPLES").is_none(),
            "no keepalived samples in {} (a package install that excludes /usr/share/doc?)",
            directory.display()
        );
        eprintln!("skipped: no keepalived samples in {}", directory.display());
        return;
    };
    let mut imported = 0;
    for path in entries.map(|entry| entry.unwrap().path()) {
        let name = path.file_name().unwrap().to_string_lossy().to_string();
        if !name.starts_with("keepalived.conf.") {
            continue;
        }
        match import::from_keepalived_file(&path) {
            Ok(result) => {
                let (yaml, spec) = written_and_parsed(&result, &name);
                if name == "keepalived.conf.virtual_server_group" {
                    assert!(spec.desired.ipvs.services.len() > 1, "{name}: one service per group member\n{yaml}");
                }
                imported += 1;
            }
            Err(error) => {
                let error = error.to_string();
                assert!(error.starts_with(&format!("{}:", path.display())), "{name}: {error}");
                assert!(error.contains("`@"), "{name}: only @id lines may fail: {error}");
            }
        }
    }
    assert!(imported >= 10, "only {imported} samples imported");
}
