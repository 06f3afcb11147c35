//! Rollback in every subsystem, against the in-memory host: a plan that loads a module,
//! changes and creates interfaces, opens a FOU port, sets sysctls, adds an address and a route, sets IPVS
//! timeouts, updates a service, creates, updates and deletes real servers, prunes a
//! service and writes files fails at each of its changes in turn, injected (fault rules
//! around the host) or refused by the host itself the kernel's way (what the change needs
//! changed out of band first: EEXIST, ENOENT, ESRCH, ENODEV); what the report says stays
//! must be exactly what the host holds.

use super::faults::FaultInjecting;
use super::memory::MemoryHost;
use super::*;
use crate::desired;
use crate::fault::FaultRules;
use crate::model::files::HEADER_PREFIX;
use crate::model::Subsystem;

/// Tests decide when apply stops, never the process-wide signal flag.
fn never() -> bool {
    false
}

fn options(rollback: bool) -> ApplyOptions {
    ApplyOptions { rollback, wait: false, stop: never }
}

/// The IPVS table before: timeouts, a service with .11 .12 .14, and a second service on
/// port 443.
const IPVS_START: &str = "apiVersion: lvs-converge/v1\nkind: Host\nipvs:\n  timeouts: { tcp: 900, tcpFin: 120, udp: 300 }\n  services:\n    - address: 203.0.113.100\n      port: 80\n      realServers:\n        - address: 203.0.113.11\n        - address: 203.0.113.12\n        - address: 203.0.113.14\n    - address: 203.0.113.100\n      port: 443\n      realServers:\n        - address: 203.0.113.11\n";

/// What the spec wants: other timeouts, another scheduler, .12 re-weighted, .13 added, .14
/// deleted, and the undeclared port 443 pruned.
const IPVS_TARGET: &str = "apiVersion: lvs-converge/v1\nkind: Host\nipvs:\n  scope: { addresses: [203.0.113.100], prune: true }\n  timeouts: { tcp: 600, tcpFin: 120, udp: 300 }\n  services:\n    - address: 203.0.113.100\n      port: 80\n      scheduler: rr\n      realServers:\n        - address: 203.0.113.11\n        - address: 203.0.113.12\n          weight: 5\n        - address: 203.0.113.13\n";

fn owned(body: &str) -> String {
    format!("{HEADER_PREFIX} from /s.yaml: changes here are overwritten.\n{body}")
}

/// The host before the apply, and what the spec wants of it.
fn fixture() -> (HostState, HostState, Ownership) {
    let start = format!(
        r#"
modules: [ip_vs, fou]
links:
  - {{ name: lo, type: other, kind: loopback, up: true, mtu: 65536 }}
  - {{ name: eth0, type: other, kind: veth, up: true, mtu: 1500 }}
sysctls:
  net.ipv4.ip_forward: "0"
  net.ipv4.conf.all.arp_ignore: "0"
addresses:
  - {{ interface: eth0, address: 192.0.2.1, prefixLength: 24 }}
files:
  /etc/lvs/a.conf: {{ content: {a:?} }}
"#,
        a = owned("old\n")
    );
    let desired = format!(
        r#"
modules: [ip_vs, ipip, fou]
links:
  - {{ name: eth0, type: other, kind: veth, mtu: 9000 }}
  - {{ name: tun1, type: ipip, local: 192.0.2.1, remote: 198.51.100.1, up: true }}
fou:
  - {{ port: 6080, family: ipv4, type: gue }}
sysctls:
  net.ipv4.ip_forward: "1"
  net.ipv4.conf.all.arp_ignore: "1"
addresses:
  - {{ interface: eth0, address: 192.0.2.1, prefixLength: 24 }}
  - {{ interface: eth0, address: 192.0.2.5, prefixLength: 32 }}
routes:
  - {{ table: 254, type: unicast, destination: 198.51.100.0, prefixLength: 24, device: tun1, scope: link }}
files:
  /etc/lvs/a.conf: {{ content: {a:?} }}
  /etc/lvs/b.conf: {{ content: {b:?} }}
"#,
        a = owned("new\n"),
        b = owned("created\n")
    );
    let mut start: HostState = serde_yaml::from_str(&start).expect("start state");
    let mut desired: HostState = serde_yaml::from_str(&desired).expect("desired state");
    let parse = |text: &str| desired::parse(text, std::path::Path::new("test.yaml")).expect("valid spec");
    start.ipvs = parse(IPVS_START).desired.ipvs;
    let target = parse(IPVS_TARGET);
    desired.ipvs = target.desired.ipvs;
    let mut ownership = target.ownership;
    // Deleted at once, so the plan holds a real server delete (a drain is an update).
    ownership.ipvs.drain_timeout = None;
    (start, desired, ownership)
}

#[test]
fn the_fixture_plans_changes_in_every_subsystem_and_converges() {
    let (start, desired, ownership) = fixture();
    let plan = plan::diff(&desired, &start, &ownership);
    let mut subsystems: Vec<Subsystem> = plan.changes.iter().map(|planned| planned.change.subsystem()).collect();
    subsystems.dedup();
    // A new subsystem fails here until the fixture (and the refusals below) cover it.
    assert_eq!(subsystems, Subsystem::ALL, "{plan:#?}");
    let mut host = MemoryHost::new(start);
    apply(plan, &desired, &ownership, options(true), &mut host).expect("converges");
    assert!(plan::diff(&desired, &host.state, &ownership).converged());
    assert!(host.state.links.contains_key("tunl0"), "loading ipip brings tunl0, as in the kernel");
}

/// The host `start` with exactly `steps` made: what the report claims the host holds.
fn replay(start: &HostState, steps: &[Step]) -> HostState {
    let mut host = MemoryHost::new(start.clone());
    for step in steps {
        let outcome = host.apply(&[&step.change], &mut || false);
        assert_eq!(
            outcome,
            [ChangeOutcome::Applied],
            "replaying #{} {}",
            step.order,
            crate::render::apply_failure::step(step)
        );
    }
    host.state
}

/// The report of a failed apply is the host: no unknowns, no failed undo, and replaying
/// what it says stays on the start gives exactly the host's state.
fn assert_report_is_the_host(error: &ApplyError, start: &HostState, host: &MemoryHost) {
    if let Some(Outcome::Partial { unknown, rollback_failures, .. }) = error.outcome() {
        assert!(unknown.is_empty() && rollback_failures.is_empty(), "{error:?}");
    }
    let stays = error.outcome().map_or(&[][..], Outcome::stays);
    assert_eq!(host.state, replay(start, stays), "{error:?}");
}

fn failed_orders(error: &ApplyError) -> Vec<usize> {
    match error {
        ApplyError::Change { failed, .. } => failed.iter().map(|failed| failed.step.order).collect(),
        _ => Vec::new(),
    }
}

#[test]
fn an_injected_failure_in_every_subsystem_is_rolled_back_and_the_report_is_the_host() {
    let (start, desired, ownership) = fixture();
    let total = plan::diff(&desired, &start, &ownership).changes.len();
    for at in 1..=total {
        for rollback in [true, false] {
            let rules = FaultRules::parse(&format!("fail-at-change:{at}"));
            let mut host = FaultInjecting::new(MemoryHost::new(start.clone()), rules);
            let plan = plan::diff(&desired, &start, &ownership);
            let error = apply(plan, &desired, &ownership, options(rollback), &mut host).expect_err("injected");
            assert_eq!(failed_orders(&error), [at], "{error:?}");
            let stays: Vec<usize> = error.outcome().unwrap().stays().iter().map(|step| step.order).collect();
            match (at, rollback) {
                (1, _) => assert_eq!(error.outcome(), Some(&Outcome::Untouched), "{error:?}"),
                // Only the loaded module cannot be undone.
                (_, true) => {
                    assert!(matches!(error.outcome(), Some(Outcome::RolledBack { .. })), "{error:?}");
                    assert_eq!(stays, [1], "{error:?}");
                }
                (_, false) => assert_eq!(stays, (1..at).collect::<Vec<_>>(), "{error:?}"),
            }
            assert_report_is_the_host(&error, &start, host.inner());
        }
    }
}

#[test]
fn a_module_that_cannot_be_unloaded_is_reported_as_staying() {
    let (start, desired, ownership) = fixture();
    let mut host = FaultInjecting::new(MemoryHost::new(start.clone()), FaultRules::parse("fail-at-change:3"));
    let plan = plan::diff(&desired, &start, &ownership);
    let error = apply(plan, &desired, &ownership, options(true), &mut host).expect_err("injected");
    let text = crate::render::apply_failure::apply_error(&error);
    assert!(text.contains("rolled back; these cannot be undone and stay:\n    #1 create kernel module ipip"), "{text}");
    assert!(host.inner().state.modules.contains("ipip") && host.inner().state.links.contains_key("tunl0"));
    assert_report_is_the_host(&error, &start, host.inner());
}

/// Makes the host refuse change `at` of the fixture's plan by itself, out of band (as
/// someone else changing the host between the plan and the change would).
fn break_host_for(at: usize, host: &mut MemoryHost) {
    let state = &mut host.state;
    match at {
        1 => host.loadable_modules = Some(["ip_vs".to_string()].into()),
        2 => {
            state.links.remove("eth0");
            state.addresses.clear();
        }
        3 => {
            let tun1: Link = serde_yaml::from_str("{ name: tun1, type: ipip, up: false, mtu: 1480 }").unwrap();
            state.links.insert(tun1.key(), tun1);
        }
        4 => {
            let port: FouPort =
                serde_yaml::from_str("{ port: 6080, family: ipv4, type: direct, protocol: 4 }").unwrap();
            state.fou.insert(port.key(), port);
        }
        5 => drop(state.sysctls.remove("net.ipv4.conf.all.arp_ignore")),
        6 => drop(state.sysctls.remove("net.ipv4.ip_forward")),
        7 => {
            let address: Address =
                serde_yaml::from_str("{ interface: eth0, address: 192.0.2.5, prefixLength: 32 }").unwrap();
            state.addresses.insert(address.key(), address);
        }
        8 => {
            let route: Route = serde_yaml::from_str(
                "{ table: 254, type: unicast, destination: 198.51.100.0, prefixLength: 24, device: eth0, scope: link }",
            )
            .unwrap();
            state.routes.insert(route.key(), route);
        }
        // The kernel refuses timeouts only out of range, which the plan never holds.
        9 => host.refuse = vec![at - 1],
        // The service goes (ESRCH for its update and for every real server change after
        // it), a real server appears before its create (EEXIST), goes before its update or
        // its delete (ENOENT), the pruned service goes before its delete (ESRCH).
        10..=14 => {
            let wanted = desired_real_servers();
            let services = &mut state.ipvs.services;
            let web = &mut services.values_mut().next().unwrap().destinations;
            match at {
                11 => drop(web.insert(wanted[2].key(), wanted[2].clone())),
                12 => drop(web.remove(&wanted[1].key())),
                13 => drop(web.pop_last()),
                10 => drop(services.pop_first()),
                _ => drop(services.pop_last()),
            }
        }
        15 => drop(state.files.insert("/etc/lvs/a.conf".into(), FileState { content: owned("edited\n").into() })),
        16 => drop(state.files.insert("/etc/lvs/b.conf".into(), FileState { content: owned("theirs\n").into() })),
        _ => unreachable!(),
    }
}

use crate::model::addresses::Address;
use crate::model::files::FileState;
use crate::model::fou::FouPort;
use crate::model::ipvs::Destination;
use crate::model::links::Link;
use crate::model::routes::Route;

/// The real servers the fixture wants: .11, .12 at weight 5, and the new .13.
fn desired_real_servers() -> Vec<Destination> {
    let (_, desired, _) = fixture();
    desired.ipvs.services.values().next().unwrap().destinations.values().cloned().collect()
}

#[test]
fn a_refusal_by_the_host_in_every_subsystem_is_rolled_back_with_its_errno_in_json() {
    let (start, desired, ownership) = fixture();
    // (change, errno the host answers, the changes refused): modprobe and the file checks
    // have none; a service gone out of band takes its real servers' changes with it.
    let expected: [(usize, Option<i32>, &[usize]); 16] = [
        (1, None, &[1]),
        (2, Some(19), &[2]),
        (3, Some(17), &[3]),
        (4, Some(98), &[4]),
        (5, Some(2), &[5]),
        (6, Some(2), &[6]),
        (7, Some(17), &[7]),
        (8, Some(17), &[8]),
        (9, Some(22), &[9]),
        (10, Some(3), &[10, 11, 12, 13]),
        (11, Some(17), &[11]),
        (12, Some(2), &[12]),
        (13, Some(2), &[13]),
        (14, Some(3), &[14]),
        (15, None, &[15]),
        (16, None, &[16]),
    ];
    for (at, errno, refused) in expected {
        for rollback in [true, false] {
            let mut host = MemoryHost::new(start.clone());
            let plan = plan::diff(&desired, &host.state, &ownership);
            break_host_for(at, &mut host);
            let broken = host.state.clone();
            let error = apply(plan, &desired, &ownership, options(rollback), &mut host).expect_err("refused");
            assert_eq!(failed_orders(&error), refused, "{error:?}");
            let json: serde_json::Value = serde_json::from_str(
                &crate::render::json::render_apply_failure(&error, host.netlink_writes()).unwrap(),
            )
            .unwrap();
            assert_eq!(json["failed"][0]["errno"], serde_json::json!(errno), "#{at}: {json}");
            if rollback && at > 1 {
                assert!(matches!(error.outcome(), Some(Outcome::RolledBack { kept }) if kept.len() == 1), "{error:?}");
            }
            assert_report_is_the_host(&error, &broken, &host);
        }
    }
}

#[test]
fn an_ipvs_batch_goes_on_after_a_refused_operation_and_all_of_it_is_accounted_for() {
    // The new real server, created out of band just before, is refused (EEXIST); the kernel
    // carries on with the rest of the window, so the re-weight after it is made.
    let (start, desired, ownership) = fixture();
    for rollback in [true, false] {
        let mut host = MemoryHost::new(start.clone());
        let plan = plan::diff(&desired, &host.state, &ownership);
        break_host_for(11, &mut host);
        let broken = host.state.clone();
        let error = apply(plan, &desired, &ownership, options(rollback), &mut host).expect_err("refused");
        let ApplyError::Change { failed, outcome, .. } = &error else { panic!("{error:?}") };
        assert_eq!(failed[0].error.errno, Some(17), "{error:?}");
        match outcome {
            Outcome::Partial { stays, .. } if !rollback => {
                assert_eq!(
                    stays.iter().map(|step| step.order).collect::<Vec<_>>(),
                    [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 12, 13, 14]
                );
                let service = host.state.ipvs.services.values().next().unwrap();
                assert_eq!(service.destinations.values().nth(1).unwrap().weight, 5, "{error:?}");
            }
            Outcome::RolledBack { kept } if rollback => assert_eq!(kept.len(), 1, "{error:?}"),
            other => panic!("rollback {rollback}: {other:?}"),
        }
        assert_report_is_the_host(&error, &broken, &host);
    }
}

#[test]
fn a_route_whose_undo_failed_is_gone_with_the_tunnel_the_rollback_deleted() {
    // The undo of route #8 (through tun1) is refused; the undo of #3 deletes tun1, and the
    // kernel takes the route with it: nothing of #8 stays, and the report must not say so.
    let (start, desired, ownership) = fixture();
    let mut memory = MemoryHost::new(start.clone());
    // Operations 0-7 are steps 1-8; step 9 fails by injection; the undo of #8 is next.
    memory.refuse = vec![8];
    let mut host = FaultInjecting::new(memory, FaultRules::parse("fail-at-change:9"));
    let plan = plan::diff(&desired, &start, &ownership);
    let error = apply(plan, &desired, &ownership, options(true), &mut host).expect_err("injected");
    assert!(matches!(error.outcome(), Some(Outcome::RolledBack { kept }) if kept.len() == 1), "{error:?}");
    assert!(host.inner().state.routes.is_empty(), "{error:?}");
    assert_report_is_the_host(&error, &start, host.inner());
}

#[test]
fn a_kernel_refusal_keeps_its_errno_action_and_extended_ack() {
    use crate::netlink::route::RouteNetlinkError;
    let refusal = RouteNetlinkError::Rejected {
        action: "adding route 198.51.100.0/24".into(),
        errno: 22,
        kernel: Some("Nexthop device is not up".into()),
        hint: None,
    };
    let error = ChangeError::from(&refusal);
    assert_eq!(error.message, refusal.to_string(), "the words are the netlink layer's, unchanged");
    assert_eq!(error.errno, Some(22));
    assert_eq!(error.action.as_deref(), Some("adding route 198.51.100.0/24"));
    assert_eq!(error.kernel_message.as_deref(), Some("Nexthop device is not up"));
    let denied = std::io::Error::from_raw_os_error(13);
    let error = sysctl::refused("net.ipv4.ip_forward", "1", &denied);
    assert_eq!((error.errno, error.action.as_deref()), (Some(13), Some("setting net.ipv4.ip_forward = 1")));
    assert!(error.message.ends_with("(writing sysctls needs root)"), "{error:?}");
}

/// The memory host, where someone deletes every route out of band just before the IPVS
/// changes are sent; it keeps the errno of every route change it refused.
struct RoutesGoOutOfBand {
    host: MemoryHost,
    route_errnos: Vec<Option<i32>>,
}

impl Host for RoutesGoOutOfBand {
    fn observe(&mut self) -> Result<HostState, crate::observe::ObserveError> {
        self.host.observe()
    }

    fn netlink_writes(&self) -> usize {
        self.host.netlink_writes()
    }

    fn observe_touched(&mut self, touched: &super::Touched) -> Result<&HostState, crate::observe::ObserveError> {
        self.host.observe_touched(touched)
    }

    fn apply(&mut self, changes: &[&Change], stop: &mut dyn FnMut() -> bool) -> Vec<ChangeOutcome> {
        if changes.first().is_some_and(|change| change.subsystem() == Subsystem::Ipvs) {
            self.host.state.routes.clear();
        }
        let outcomes = self.host.apply(changes, stop);
        for (change, outcome) in changes.iter().zip(&outcomes) {
            if let (Change::Route(_), ChangeOutcome::Failed(error)) = (change, outcome) {
                self.route_errnos.push(error.errno);
            }
        }
        outcomes
    }
}

#[test]
fn the_undo_of_a_route_gone_out_of_band_is_refused_with_esrch_and_the_tunnel_sweeps_it() {
    let (start, desired, ownership) = fixture();
    let host = RoutesGoOutOfBand { host: MemoryHost::new(start.clone()), route_errnos: Vec::new() };
    let mut host = FaultInjecting::new(host, FaultRules::parse("fail-at-change:10"));
    let plan = plan::diff(&desired, &start, &ownership);
    let error = apply(plan, &desired, &ownership, options(true), &mut host).expect_err("injected");
    assert_eq!(host.inner().route_errnos, [Some(3)], "the undo of #8 deleted nothing: {error:?}");
    // The route lived in tun1, which the undo of #3 deleted: nothing of #8 stays.
    assert!(matches!(error.outcome(), Some(Outcome::RolledBack { kept }) if kept.len() == 1), "{error:?}");
    assert_report_is_the_host(&error, &start, &host.inner().host);
}

/// Issue 14: deprecating an address, or making it preferred, is undone in place when a
/// later change fails: never deleted.
#[test]
fn an_address_changed_in_place_is_changed_back_by_the_rollback() {
    let state = |deprecated: bool| -> HostState {
        serde_yaml::from_str(&format!(
            "links: [{{ name: eth0, type: other, kind: veth, up: true, mtu: 1500 }}]\n\
             addresses: [{{ interface: eth0, address: \"2001:db8:1::100\", prefixLength: 128, deprecated: {deprecated} }}]\n"
        ))
        .unwrap()
    };
    let route: Route = serde_yaml::from_str(
        "{ table: 254, type: unicast, destination: \"2001:db8:2::\", prefixLength: 64, device: eth0, scope: link }",
    )
    .unwrap();
    let ownership = Ownership::default();
    for deprecated in [true, false] {
        let start = state(!deprecated);
        let mut desired = state(deprecated);
        desired.routes.insert(route.key(), route.clone());
        let plan = plan::diff(&desired, &start, &ownership);
        let objects: Vec<String> = plan.changes.iter().map(|p| crate::render::change::object(&p.change)).collect();
        assert_eq!(objects, ["address 2001:db8:1::100/128 on eth0", "route unicast 2001:db8:2::/64 table main"]);
        let mut host = FaultInjecting::new(MemoryHost::new(start.clone()), FaultRules::parse("fail-at-change:2"));
        let error = apply(plan, &desired, &ownership, options(true), &mut host).expect_err("injected");
        assert!(matches!(error.outcome(), Some(Outcome::RolledBack { .. })), "{error:?}");
        assert_eq!(host.inner().state, start, "deprecated {deprecated}: undone in place");
    }
}
