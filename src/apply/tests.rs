//! Apply against an in-memory host that answers like the kernel: what a failed apply
//! reports must always be what the host holds.
use super::ipvs::apply_to_table as apply_ipvs;
use super::memory::MemoryHost;
use super::*;
use crate::desired;

/// Tests decide when apply stops, never the process-wide signal flag.
fn never() -> bool {
    false
}

fn options(rollback: bool) -> ApplyOptions {
    ApplyOptions { rollback, wait: false, stop: never }
}

fn converge(desired: &HostState, ownership: &Ownership, host: &mut MemoryHost) -> Result<ApplyReport, ApplyError> {
    let plan = plan::diff(desired, &host.observe()?, ownership);
    apply(plan, desired, ownership, options(true), host)
}

fn desired(text: &str) -> (HostState, Ownership) {
    let spec = desired::parse(text, std::path::Path::new("test.yaml")).expect("valid spec");
    let mut desired = spec.desired;
    desired.modules.clear();
    (desired, spec.ownership)
}

const SPEC: &str = "apiVersion: lvs-converge/v1\nkind: Host\nipvs:\n  services:\n    - address: 203.0.113.100\n      port: 80\n      realServers:\n        - address: 203.0.113.11\n        - address: 198.51.100.22\n          weight: 0\n";

#[test]
fn apply_converges_and_second_apply_changes_nothing() {
    let (state, ownership) = desired(SPEC);
    let mut host = MemoryHost::default();
    let first = converge(&state, &ownership, &mut host).expect("apply");
    assert_eq!(first.plan.changes.len(), 3);
    assert_eq!(host.state, state);
    let second = converge(&state, &ownership, &mut host).expect("second apply");
    assert!(!second.changed());
}

#[test]
fn failure_rolls_back_to_the_exact_starting_state() {
    let (state, ownership) = desired(SPEC);
    let mut host = MemoryHost::default();
    converge(&state, &ownership, &mut host).unwrap();
    // Start from a converged host, then ask for a re-weight, a new and a removed server.
    let start = host.state.clone();
    let (changed, _) = desired(&SPEC.replace("203.0.113.11", "203.0.113.12").replace("weight: 0", "weight: 5"));
    host.refuse = vec![host.attempted + 2];
    let error = converge(&changed, &ownership, &mut host).expect_err("refused");
    let text = crate::render::apply_failure::apply_error(&error);
    assert!(text.starts_with("change 3 of 3 failed: update ipvs real server 203.0.113.11:80"), "{text}");
    assert!(
        matches!(&error, ApplyError::Change { outcome: Outcome::RolledBack { kept }, .. } if kept.is_empty()),
        "{text}"
    );
    assert!(text.contains("rolled back: the host is as it was"), "{text}");
    assert_eq!(host.state, start);
}

#[test]
fn without_rollback_the_earlier_changes_stay_and_are_listed() {
    let (state, ownership) = desired(SPEC);
    let mut host = MemoryHost { refuse: vec![1], carry_on: false, ..Default::default() };
    let plan = plan::diff(&state, &host.state, &ownership);
    let error = apply(plan, &state, &ownership, options(false), &mut host).expect_err("refused");
    let text = crate::render::apply_failure::apply_error(&error);
    assert!(text.starts_with("change 2 of 3 failed: create ipvs real server"), "{text}");
    assert!(
        matches!(&error, ApplyError::Change { outcome: Outcome::Partial { stays, unknown, rollback_failures }, .. }
            if stays.len() == 1 && unknown.is_empty() && rollback_failures.is_empty()),
        "{text}"
    );
    assert!(
        text.contains("injected failure")
            && text.contains("these 1 change(s) were applied and stay:\n    #1 create ipvs service"),
        "{text}"
    );
    assert_eq!(host.state.ipvs.services.len(), 1);
}

#[test]
fn a_change_that_does_not_take_is_reported_as_residual_drift() {
    let (state, ownership) = desired(SPEC);
    let mut host = MemoryHost::default();
    converge(&state, &ownership, &mut host).unwrap();
    host.state.ipvs.services.values_mut().next().unwrap().destinations.values_mut().next().unwrap().weight = 9;
    host.ignore_updates = true;
    let error = converge(&state, &ownership, &mut host).expect_err("residual drift");
    // The change was made (as far as the host said): it stays and is listed, exit 4, not
    // "nothing was changed".
    assert!(
        matches!(&error, ApplyError::AfterChanges { cause, outcome: Outcome::Partial { stays, .. } }
            if matches!(&**cause, ApplyError::Residual { residual } if residual.changes.len() == 1) && stays.len() == 1),
        "{error:?}"
    );
    assert!(crate::render::apply_failure::apply_error(&error).contains("Update ipvs real server"), "{error:?}");
    assert!(
        crate::render::apply_failure::apply_error(&error).contains("these 1 change(s) were applied and stay"),
        "{error:?}"
    );
}

fn save(desired: &HostState, ownership: &Ownership, host: &MemoryHost) -> SavedPlan {
    use crate::plan::saved::{ObservedFrom, Provenance, SpecFingerprint};
    let made = Provenance {
        created_at: 0,
        spec: SpecFingerprint { path: "director.yaml".into(), sha256: String::new() },
        node: None,
        netns: None,
        root: None,
        observed_from: ObservedFrom::Live,
    };
    let plan = plan::diff(desired, &host.state, ownership);
    SavedPlan::new(made, desired.clone(), ownership.clone(), &Default::default(), plan, host.state.clone())
}

fn apply_file(saved: &SavedPlan, host: &mut MemoryHost) -> Result<ApplyReport, ApplyError> {
    apply_saved(saved.clone(), std::path::Path::new("plan.json"), 0, options(true), host)
}

#[test]
fn a_saved_plan_applies_once_then_is_stale() {
    let (state, ownership) = desired(SPEC);
    let mut host = MemoryHost::default();
    let saved = save(&state, &ownership, &host);
    let report = apply_file(&saved, &mut host).expect("fresh plan applies");
    assert_eq!(report.plan.changes, saved.plan.changes);
    assert_eq!(host.state, state);
    let error = apply_file(&saved, &mut host).expect_err("the host changed under the plan: its own apply");
    assert!(matches!(error, ApplyError::Stale(_)), "{error:?}");
    assert!(
        crate::render::apply_failure::apply_error(&error).contains("appeared ipvs service tcp 203.0.113.100:80"),
        "{error:?}"
    );
    assert_eq!(host.state, state);
}

#[test]
fn a_stale_saved_plan_changes_nothing_and_names_the_drift() {
    let (state, ownership) = desired(SPEC);
    let mut host = MemoryHost::default();
    converge(&state, &ownership, &mut host).unwrap();
    let (changed, _) = desired(&SPEC.replace("weight: 0", "weight: 5"));
    let saved = save(&changed, &ownership, &host);
    assert_eq!(saved.plan.changes.len(), 1);
    host.state.ipvs.services.values_mut().next().unwrap().destinations.values_mut().next().unwrap().weight = 9;
    let before = host.state.clone();
    let made = host.attempted;
    let error = apply_file(&saved, &mut host).expect_err("stale");
    assert!(
        crate::render::apply_failure::apply_error(&error)
            .contains("changed  ipvs real server 198.51.100.22:80 of tcp 203.0.113.100:80: weight 0 → 9"),
        "{error:?}"
    );
    assert_eq!((host.state.clone(), host.attempted), (before, made));
}

#[test]
fn an_empty_saved_plan_is_a_no_op_as_often_as_it_is_applied() {
    let (state, ownership) = desired(SPEC);
    let mut host = MemoryHost::default();
    converge(&state, &ownership, &mut host).unwrap();
    let saved = save(&state, &ownership, &host);
    assert!(saved.plan.is_empty());
    for _ in 0..2 {
        assert!(!apply_file(&saved, &mut host).expect("no-op").changed());
    }
}

// ------------------------------------------------------------------ the report is the host

use crate::model::ipvs::{Destination, Timeouts};
use crate::model::IpvsState;
use crate::plan::{IpvsChange, Planned};

const THREE: &str = "apiVersion: lvs-converge/v1\nkind: Host\nipvs:\n  services:\n    - address: 203.0.113.100\n      port: 80\n      realServers:\n        - address: 203.0.113.11\n        - address: 203.0.113.12\n        - address: 203.0.113.13\n";

fn plan_of(changes: Vec<IpvsChange>) -> Plan {
    Plan {
        changes: changes.into_iter().map(|change| Planned { change: Change::Ipvs(change), origin: None }).collect(),
        ..Plan::default()
    }
}

/// A host holding THREE (one service, real servers .11 .12 .13 at weight 1), and a change
/// of the weight of real server `n` (0-based) to `weight`.
fn three() -> (MemoryHost, impl Fn(usize, u32) -> IpvsChange) {
    let (state, ownership) = desired(THREE);
    let mut host = MemoryHost::default();
    converge(&state, &ownership, &mut host).unwrap();
    let service = host.state.ipvs.services.values().next().unwrap().clone();
    let reweight = move |n: usize, weight: u32| {
        let before: Destination = service.destinations.values().nth(n).unwrap().clone();
        IpvsChange::UpdateDestination { service: service.key, after: Destination { weight, ..before.clone() }, before }
    };
    (host, reweight)
}

fn ghost_update(change: &IpvsChange) -> IpvsChange {
    let IpvsChange::UpdateDestination { service, before, .. } = change else { unreachable!("an update") };
    let ghost = Destination { address: "192.0.2.99".parse().unwrap(), ..before.clone() };
    IpvsChange::UpdateDestination { service: *service, before: ghost.clone(), after: ghost }
}

#[test]
fn a_refused_middle_operation_is_rolled_back_with_what_the_kernel_did_after_it() {
    // Finding 1a: [weight r1→2, update of a real server that does not exist, weight r3→4];
    // the kernel refuses the second and carries on with the third.
    let (mut host, reweight) = three();
    let start = host.state.clone();
    let plan = plan_of(vec![reweight(0, 2), ghost_update(&reweight(1, 1)), reweight(2, 4)]);
    let error = execute(&plan, 1, options(true), &mut host, &mut Journal::default()).expect_err("refused");
    let ApplyError::Change { failed, outcome, .. } = &error else { panic!("{error:?}") };
    assert_eq!(failed.iter().map(|f| f.step.order).collect::<Vec<_>>(), [2], "{error:?}");
    assert_eq!(*outcome, Outcome::RolledBack { kept: vec![] }, "{error:?}");
    assert_eq!(host.state, start, "'rolled back: the host is as it was' must be true: {error:?}");
}

#[test]
fn a_refused_first_operation_with_later_ones_applied_is_partial_not_untouched() {
    // Finding 1b: the failing operation first, rollback off.
    let (mut host, reweight) = three();
    let start = host.state.clone();
    let plan = plan_of(vec![ghost_update(&reweight(0, 1)), reweight(1, 3), reweight(2, 4)]);
    let error = execute(&plan, 1, options(false), &mut host, &mut Journal::default()).expect_err("refused");
    let Some(Outcome::Partial { stays, unknown, rollback_failures }) = error.outcome() else { panic!("{error:?}") };
    assert_eq!(stays.iter().map(|s| s.order).collect::<Vec<_>>(), [2, 3], "{error:?}");
    assert!(unknown.is_empty() && rollback_failures.is_empty(), "{error:?}");
    assert!(!crate::render::apply_failure::apply_error(&error).contains("nothing was changed"), "{error:?}");
    // Exactly what is listed differs from the start.
    let mut listed = start.clone();
    for step in stays {
        let Change::Ipvs(change) = &step.change else { unreachable!() };
        apply_ipvs(&mut listed.ipvs, change).unwrap();
    }
    assert_eq!(host.state, listed, "{error:?}");
}

#[test]
fn timeouts_the_kernel_refuses_do_not_hide_the_service_created_after_them() {
    // Finding 1c: `timeouts: {tcp: 9000000}` gets EINVAL; the service and its real servers
    // sent after it in the same batch are created all the same.
    let (mut desired, ownership) = desired(SPEC);
    desired.ipvs.timeouts = Some(Timeouts { tcp: 9_000_000, tcp_fin: 120, udp: 300 });
    for rollback in [false, true] {
        let mut host = MemoryHost::default();
        let plan = plan::diff(&desired, &host.state, &ownership);
        assert!(matches!(plan.changes[0].change, Change::Ipvs(IpvsChange::SetTimeouts { .. })));
        let error = apply(plan, &desired, &ownership, options(rollback), &mut host).expect_err("EINVAL");
        let text = crate::render::apply_failure::apply_error(&error);
        assert!(text.starts_with("change 1 of 4 failed: update ipvs connection timeouts"), "{text}");
        match error.outcome() {
            Some(Outcome::RolledBack { kept }) if rollback => {
                assert!(kept.is_empty(), "{text}");
                assert!(host.state.ipvs.services.is_empty(), "{text}");
            }
            Some(Outcome::Partial { stays, .. }) if !rollback => {
                assert_eq!(stays.len(), 3, "{text}");
                assert_eq!(host.state.ipvs.services.values().next().unwrap().destinations.len(), 2, "{text}");
            }
            other => panic!("rollback {rollback}: {other:?}\n{text}"),
        }
    }
}

#[test]
fn rollback_goes_on_past_a_failed_undo_and_lists_it() {
    // Finding 6 (rollback part): one undo fails; the others are still undone, the failed
    // one is named and stays.
    let (mut host, reweight) = three();
    let start = host.state.clone();
    let plan = plan_of(vec![reweight(0, 2), reweight(1, 3), reweight(2, 4), ghost_update(&reweight(0, 1))]);
    // Operations 0-3 are the plan (3 refused); undo runs newest first: 4 undoes step 3,
    // 5 undoes step 2 (refused), 6 undoes step 1.
    host.refuse = vec![host.attempted + 5];
    let error = execute(&plan, 1, options(true), &mut host, &mut Journal::default()).expect_err("refused");
    let Some(Outcome::Partial { stays, unknown, rollback_failures }) = error.outcome() else { panic!("{error:?}") };
    assert_eq!(stays.iter().map(|s| s.order).collect::<Vec<_>>(), [2], "{error:?}");
    assert_eq!(rollback_failures.iter().map(|f| f.step.order).collect::<Vec<_>>(), [2], "{error:?}");
    assert!(unknown.is_empty(), "{error:?}");
    let mut expected = start;
    let Change::Ipvs(change) = &plan.changes[1].change else { unreachable!() };
    apply_ipvs(&mut expected.ipvs, change).unwrap();
    assert_eq!(host.state, expected, "only the step whose undo failed stays: {error:?}");
    assert!(
        crate::render::apply_failure::apply_error(&error)
            .contains("rollback failed for 1 change(s):\n    #2 update ipvs real server"),
        "{error:?}"
    );
}

#[test]
fn a_lost_answer_makes_the_result_partial_and_names_the_change() {
    let (mut host, reweight) = three();
    let start = host.state.clone();
    let plan = plan_of(vec![reweight(0, 2), reweight(1, 3), reweight(2, 4)]);
    host.lose_answer = Some((host.attempted + 1, true));
    let error = execute(&plan, 1, options(true), &mut host, &mut Journal::default()).expect_err("unknown");
    let Some(Outcome::Partial { stays, unknown, .. }) = error.outcome() else { panic!("{error:?}") };
    assert!(stays.is_empty(), "steps 1 and 3 were applied and undone: {error:?}");
    assert_eq!(unknown.iter().map(|u| u.step.order).collect::<Vec<_>>(), [2], "{error:?}");
    assert!(
        crate::render::apply_failure::apply_error(&error).contains("whether these 1 change(s) took effect is unknown"),
        "{error:?}"
    );
    assert_ne!(host.state, start, "the lost one took effect here, and the report does not claim otherwise");
}

thread_local! {
    /// Stop checks left before a stop is requested (tests only; see `stop_countdown`).
    static STOP_AFTER: std::cell::Cell<usize> = const { std::cell::Cell::new(usize::MAX) };
}

/// A stop check that says yes from its (n+1)-th call on, n set in STOP_AFTER.
fn stop_countdown() -> bool {
    STOP_AFTER.with(|left| match left.get() {
        0 => true,
        n => {
            left.set(n - 1);
            false
        }
    })
}

fn interrupting(rollback: bool, checks_before_stop: usize) -> ApplyOptions {
    STOP_AFTER.with(|left| left.set(checks_before_stop));
    ApplyOptions { rollback, wait: false, stop: stop_countdown }
}

#[test]
fn a_stop_request_ends_apply_at_a_window_boundary_and_rolls_back() {
    // Finding 8 (core): SIGTERM during a large IPVS batch.
    let (mut host, reweight) = three();
    host.window = 1;
    let start = host.state.clone();
    let changes = || vec![reweight(0, 2), reweight(1, 3), reweight(2, 4)];
    // Checks: before the batch (1), before window 1 (2), before window 2 (3): stop there.
    let error = execute(&plan_of(changes()), 1, interrupting(true, 3), &mut host, &mut Journal::default())
        .expect_err("interrupted");
    assert!(matches!(error, ApplyError::Interrupted { sent: 2, total: 3, .. }), "{error:?}");
    assert_eq!(error.outcome(), Some(&Outcome::RolledBack { kept: vec![] }), "{error:?}");
    assert_eq!(host.state, start);

    let error = execute(&plan_of(changes()), 1, interrupting(false, 3), &mut host, &mut Journal::default())
        .expect_err("interrupted");
    let Some(Outcome::Partial { stays, .. }) = error.outcome() else { panic!("{error:?}") };
    assert_eq!(stays.iter().map(|s| s.order).collect::<Vec<_>>(), [1, 2], "{error:?}");
    assert_eq!(host.state.ipvs.services.values().next().unwrap().destinations.values().nth(2).unwrap().weight, 1);

    let mut untouched = three().0;
    let error = execute(&plan_of(changes()), 1, interrupting(true, 0), &mut untouched, &mut Journal::default())
        .expect_err("interrupted before anything");
    assert_eq!(error.outcome(), Some(&Outcome::Untouched), "{error:?}");
}

#[test]
fn a_failure_in_a_follow_up_pass_reports_the_first_pass_too() {
    // Pass 1 drains real server .13 (weight 0) and re-weights .11; pass 2 deletes the
    // drained .13 and is refused. What pass 1 did is this apply's too.
    for rollback in [false, true] {
        let (mut host, reweight) = three();
        let start = host.state.clone();
        let (mut target, mut ownership) = desired(&THREE.replace("        - address: 203.0.113.13\n", ""));
        let weights = &mut target.ipvs.services.values_mut().next().unwrap().destinations;
        let IpvsChange::UpdateDestination { after: heavier, .. } = reweight(0, 5) else { unreachable!() };
        weights.insert(heavier.key(), heavier);
        ownership.ipvs.drain_timeout = Some(60);
        let plan = plan::diff(&target, &host.state, &ownership);
        assert_eq!(plan.changes.len(), 2, "{plan:?}");
        host.refuse = vec![host.attempted + 2];
        let error = apply(plan, &target, &ownership, options(rollback), &mut host).expect_err("pass 2 refused");
        assert!(
            crate::render::apply_failure::apply_error(&error)
                .starts_with("change 3 of 3 failed: delete ipvs real server 203.0.113.13"),
            "{error:?}"
        );
        match error.outcome() {
            Some(Outcome::Partial { stays, .. }) if !rollback => {
                assert_eq!(stays.iter().map(|s| s.order).collect::<Vec<_>>(), [1, 2], "{error:?}")
            }
            Some(Outcome::RolledBack { kept }) if rollback => {
                assert!(kept.is_empty());
                assert_eq!(host.state, start, "{error:?}");
            }
            other => panic!("rollback {rollback}: {other:?}\n{error:?}"),
        }
    }
}

#[test]
fn the_json_failure_report_lists_what_stays_with_errnos() {
    let (mut host, reweight) = three();
    let plan = plan_of(vec![ghost_update(&reweight(0, 1)), reweight(1, 3)]);
    let setup = host.netlink_writes();
    let error = execute(&plan, 1, options(false), &mut host, &mut Journal::default()).expect_err("refused");
    let writes = host.netlink_writes() - setup;
    let document = crate::render::json::render_apply_failure(&error, writes).expect("a document");
    let json: serde_json::Value = serde_json::from_str(&document).unwrap();
    assert_eq!(json["format_version"], "1.7");
    assert_eq!(json["netlink_writes"], 2, "both sent in one window, the first refused: {json}");
    assert_eq!(json["outcome"], "partial");
    assert_eq!(json["failed"][0]["order"], 1);
    assert_eq!(json["failed"][0]["errno"], 2, "ENOENT: {json}");
    assert_eq!(json["stays"].as_array().unwrap().len(), 1);
    assert_eq!(json["stays"][0]["id"], "203.0.113.12:80 of tcp 203.0.113.100:80");
    assert_eq!(json["stays"][0]["after"]["weight"], 3);
    assert!(json["unknown"].as_array().unwrap().is_empty());
}

#[test]
fn the_fault_stand_in_is_refused_whatever_the_change() {
    // `refuse-at-change` must make the kernel refuse exactly that position, for every kind
    // of change, on the table the change was planned against.
    let (state, ownership) = desired(SPEC);
    let mut host = MemoryHost::default();
    let mut cases: Vec<(IpvsState, IpvsChange)> = Vec::new();
    let mut add = |observed: &HostState, desired: &HostState, ownership: &Ownership| {
        for planned in plan::diff(desired, observed, ownership).changes {
            let Change::Ipvs(change) = planned.change else { continue };
            cases.push((observed.ipvs.clone(), change));
        }
    };
    add(&host.state, &state, &ownership);
    converge(&state, &ownership, &mut host).unwrap();
    let prune_all = Ownership {
        ipvs: crate::model::ownership::IpvsOwnership { prune: true, all: true, ..Default::default() },
        ..ownership.clone()
    };
    add(&host.state, &HostState::default(), &prune_all);
    for edit in [("weight: 0", "weight: 5"), ("      port: 80\n", "      port: 80\n      scheduler: sh\n")] {
        add(&host.state, &desired(&SPEC.replace(edit.0, edit.1)).0, &ownership);
    }
    let (one_server, _) = desired(&SPEC.replace("        - address: 198.51.100.22\n          weight: 0\n", ""));
    add(&host.state, &one_server, &ownership);
    cases.push((IpvsState::default(), IpvsChange::SetTimeouts { before: None, after: Timeouts::KERNEL_DEFAULTS }));
    let kinds: std::collections::HashSet<_> = cases.iter().map(|(_, c)| std::mem::discriminant(c)).collect();
    assert_eq!(kinds.len(), 7, "create/update/delete of services and real servers, and timeouts");
    for (mut table, change) in cases {
        assert!(apply_ipvs(&mut table, &ipvs::refused_stand_in(&change)).is_err(), "{change:?}");
    }
}

// ------------------------------------------------------------------ property: report = host

mod report_is_the_host {
    use std::collections::BTreeSet;

    use proptest::prelude::*;

    use super::*;
    use crate::model::ipvs::{ForwardingMethod, Protocol, Scheduler, Service, ServiceKey, ServiceSettings};

    /// Interfaces, sysctls, addresses and routes over a small universe: eth0 (always there,
    /// its MTU varies), a tunnel tun1, a sysctl that may be missing (ENOENT), an address and a
    /// route on tun1 (ENODEV without it) and one on eth0.
    fn network() -> impl Strategy<Value = HostState> {
        let sysctls = proptest::collection::vec(proptest::option::of(0u32..2), 2);
        (any::<bool>(), 0u32..2, any::<bool>(), any::<bool>(), any::<bool>(), sysctls).prop_map(
            |(tunnel, mtu, tunnel_address, eth0_address, route, sysctls)| {
                let mut yaml = format!(
                    "links:\n  - {{ name: eth0, type: other, kind: veth, up: true, mtu: {} }}\n",
                    1500 + 500 * mtu
                );
                if tunnel {
                    yaml.push_str("  - { name: tun1, type: ipip, remote: 198.51.100.1, up: true, mtu: 1480 }\n");
                }
                yaml.push_str("sysctls:\n");
                for (key, value) in ["net.ipv4.ip_forward", "net.ipv4.conf.all.arp_ignore"].iter().zip(sysctls) {
                    if let Some(value) = value {
                        yaml.push_str(&format!("  {key}: \"{value}\"\n"));
                    }
                }
                yaml.push_str("addresses:\n");
                if tunnel_address {
                    yaml.push_str("  - { interface: tun1, address: 10.1.0.1, prefixLength: 32 }\n");
                }
                if eth0_address {
                    yaml.push_str("  - { interface: eth0, address: 192.0.2.1, prefixLength: 24 }\n");
                }
                yaml.push_str("routes:\n");
                if route {
                    yaml.push_str("  - { table: 254, type: unicast, destination: 198.51.100.0, prefixLength: 24, device: tun1, scope: link }\n");
                }
                serde_yaml::from_str(&yaml).expect("a host state")
            },
        )
    }

    /// A table over a small universe (3 services × 3 real servers), so that random plans
    /// create, update and delete the same objects.
    fn table() -> impl Strategy<Value = IpvsState> {
        let service = (any::<bool>(), any::<bool>(), proptest::collection::vec(proptest::option::of(0u32..3), 3));
        (proptest::collection::vec(service, 3), 0u32..2).prop_map(|(services, timeouts)| {
            let mut state = IpvsState {
                timeouts: Some(Timeouts { tcp: 900 + timeouts, tcp_fin: 120, udp: 300 }),
                ..Default::default()
            };
            for (n, (present, wlc, weights)) in services.into_iter().enumerate() {
                if !present {
                    continue;
                }
                let key = ServiceKey::Address {
                    protocol: Protocol::Tcp,
                    address: "203.0.113.100".parse().unwrap(),
                    port: 80 + n as u16,
                };
                let scheduler = if wlc { Scheduler::Wlc } else { Scheduler::Rr };
                let settings =
                    ServiceSettings { scheduler, scheduler_flags: vec![], persistence: None, one_packet: false };
                let destinations = weights
                    .into_iter()
                    .enumerate()
                    .filter_map(|(d, weight)| {
                        let dest = Destination {
                            address: format!("198.51.100.{}", d + 1).parse().unwrap(),
                            port: 80,
                            method: ForwardingMethod::Tunnel,
                            weight: weight?,
                            upper_threshold: 0,
                            lower_threshold: 0,
                            tunnel: Default::default(),
                        };
                        Some((dest.key(), dest))
                    })
                    .collect();
                state.services.insert(key, Service { key, settings, destinations });
            }
            state
        })
    }

    fn objects<'a>(changes: impl IntoIterator<Item = &'a Change>) -> BTreeSet<String> {
        changes.into_iter().map(crate::render::change::object).collect()
    }

    /// The service an object id belongs to (`… of tcp X` → `tcp X`).
    fn service_of(id: &str) -> String {
        id.rsplit_once(" of ").map_or(id.trim_start_matches("ipvs service ").to_string(), |(_, s)| s.to_string())
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

        #[test]
        fn the_report_equals_the_state_difference(
            before in table(),
            after in table(),
            network_before in network(),
            network_after in network(),
            refuse in proptest::collection::vec(0usize..32, 0..3),
            lose_answer in proptest::option::of((0usize..32, any::<bool>())),
            carry_on in any::<bool>(),
            window in 0usize..4,
            rollback in any::<bool>(),
            stop_after in proptest::option::of(0usize..8),
        ) {
            let ownership = Ownership {
                ipvs: crate::model::ownership::IpvsOwnership { prune: true, all: true, ..Default::default() },
                ..Default::default()
            };
            let start = HostState { ipvs: before, ..network_before };
            let desired = HostState { ipvs: after, ..network_after };
            let mut host = MemoryHost { state: start.clone(), refuse, lose_answer, carry_on, window, ..Default::default() };
            let plan = plan::diff(&desired, &start, &ownership);
            let options = match stop_after {
                Some(checks) => interrupting(rollback, checks),
                None => options(rollback),
            };
            let result = apply(plan, &desired, &ownership, options, &mut host);
            let error = match result {
                Ok(_) => {
                    // Objects the spec does not own (a tunnel it leaves out) stay as they were.
                    prop_assert!(plan::diff(&desired, &host.state, &ownership).converged());
                    return Ok(());
                }
                Err(error) => error,
            };
            let outcome = error.outcome().unwrap_or_else(|| panic!("a failure while changing the host: {error:?}"));
            let difference = plan::diff(&host.state, &start, &ownership);
            let changed = objects(difference.changes.iter().map(|planned| &planned.change));
            let stays = objects(outcome.stays().iter().map(|step| &step.change));
            let (unknown, rollback_failures) = match outcome {
                Outcome::Partial { unknown, rollback_failures, .. } => {
                    (objects(unknown.iter().map(|u| &u.step.change)), rollback_failures.len())
                }
                _ => (BTreeSet::new(), 0),
            };
            let failed = match &error {
                ApplyError::Change { failed, .. } => objects(failed.iter().map(|f| &f.step.change)),
                _ => BTreeSet::new(),
            };
            // An unknown service step leaves its real servers unknown too.
            let unknown_services: BTreeSet<String> =
                unknown.iter().filter(|id| id.starts_with("ipvs service ")).map(|id| service_of(id)).collect();
            let covered = |id: &String| unknown.contains(id) || unknown_services.contains(&service_of(id));
            let certain: BTreeSet<String> = changed.iter().filter(|id| !covered(id)).cloned().collect();
            prop_assert!(stays.is_disjoint(&unknown), "{:?}", error);
            prop_assert!(stays.is_subset(&changed), "reported as staying but not on the host:\n{:?}", error);
            prop_assert!(certain.is_subset(&stays), "on the host but not reported: {:?}\n{:?}", certain, error);
            prop_assert!(failed.is_disjoint(&changed), "a change reported as failed took effect:\n{:?}", error);
            match outcome {
                Outcome::Untouched | Outcome::RolledBack { .. } => prop_assert!(changed.is_empty(), "{:?}", error),
                Outcome::Partial { .. } => {
                    prop_assert!(!stays.is_empty() || !unknown.is_empty() || rollback_failures > 0, "{:?}", error)
                }
            }
            if !rollback {
                prop_assert_eq!(rollback_failures, 0);
            }
            let services: BTreeSet<String> = changed.iter().map(|id| service_of(id)).collect();
            let reported: BTreeSet<String> = stays.union(&unknown).map(|id| service_of(id)).collect();
            prop_assert!(services.is_subset(&reported), "{:?}", error);
        }
    }
}

/// The hosts reach every subsystem through [`applier`]: a match over the kinds of change in
/// either of them would be one more place a new subsystem has to be added.
#[test]
fn the_hosts_name_no_subsystem_but_ipvs() {
    let production = |source: &'static str| source.split("#[cfg(test)]").next().unwrap_or(source);
    let hosts =
        [("live.rs", production(include_str!("live.rs"))), ("memory.rs", production(include_str!("memory.rs")))];
    for (file, source) in hosts {
        for subsystem in ["Module", "Link", "Sysctl", "Address", "Route", "File"] {
            let named = format!("Change::{subsystem}");
            assert!(!source.contains(&named), "{file} names {named}: dispatch through apply::applier instead");
            let change_type = format!("{subsystem}Change");
            assert!(!source.contains(&change_type), "{file} names {change_type}: its applier belongs in its own file");
        }
    }
}

#[test]
fn one_changed_weight_is_one_netlink_write_and_a_converged_host_none() {
    let (state, ownership) = desired(SPEC);
    let mut host = MemoryHost::default();
    let first = converge(&state, &ownership, &mut host).expect("apply");
    assert_eq!(first.netlink_writes, 3, "a service and two real servers");
    let (reweighted, _) = desired(&SPEC.replace("weight: 0", "weight: 5"));
    let report = converge(&reweighted, &ownership, &mut host).expect("apply");
    assert_eq!((report.plan.changes.len(), report.netlink_writes), (1, 1));
    let json = crate::render::json::render_apply(&report.plan, None, report.netlink_writes);
    let json: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(json["netlink_writes"], 1, "{json}");
    assert_eq!(converge(&reweighted, &ownership, &mut host).expect("apply").netlink_writes, 0);
}

#[test]
fn the_writes_of_a_rollback_are_counted() {
    let (state, ownership) = desired(SPEC);
    let mut host = MemoryHost::default();
    converge(&state, &ownership, &mut host).unwrap();
    let before = host.netlink_writes;
    let (changed, _) = desired(&SPEC.replace("203.0.113.11", "203.0.113.12").replace("weight: 0", "weight: 5"));
    host.refuse = vec![host.attempted + 2];
    converge(&changed, &ownership, &mut host).expect_err("refused");
    // Three sent (the third refused), then the two that took effect undone.
    assert_eq!(host.netlink_writes - before, 5);
}

const TWO_SERVICES: &str = "apiVersion: lvs-converge/v1\nkind: Host\nipvs:\n  services:\n    - address: 203.0.113.100\n      port: 80\n      realServers:\n        - address: 203.0.113.11\n          weight: 1\n    - address: 203.0.113.101\n      port: 80\n      realServers:\n        - address: 203.0.113.12\n";

#[test]
fn verification_re_reads_only_the_service_apply_touched_and_finds_the_host() {
    let (state, ownership) = desired(TWO_SERVICES);
    let mut host = MemoryHost::default();
    converge(&state, &ownership, &mut host).expect("apply");
    let (reweighted, _) = desired(&TWO_SERVICES.replace("weight: 1", "weight: 7"));
    let plan = plan::diff(&reweighted, &host.observe().unwrap(), &ownership);
    let (whole, services) = (host.whole_reads, host.services_read);
    let report = apply(plan, &reweighted, &ownership, options(true), &mut host).expect("apply");
    assert_eq!(report.netlink_writes, 1);
    assert_eq!((host.whole_reads - whole, host.services_read - services), (0, 1), "one service read, no whole read");
    assert_eq!(host.known.as_ref(), Some(&host.state), "what verification read is the host");
}

#[test]
fn a_service_deleted_by_apply_is_gone_from_what_verification_reads() {
    let (state, ownership) = desired(TWO_SERVICES);
    let mut host = MemoryHost::default();
    converge(&state, &ownership, &mut host).expect("apply");
    let one = TWO_SERVICES.split("    - address: 203.0.113.101").next().unwrap();
    let (fewer, _) = desired(one);
    let prune_all = Ownership {
        ipvs: crate::model::ownership::IpvsOwnership { prune: true, all: true, ..Default::default() },
        ..ownership
    };
    converge(&fewer, &prune_all, &mut host).expect("apply deletes the second service");
    assert_eq!(host.state.ipvs.services.len(), 1);
    assert_eq!(host.known.as_ref(), Some(&host.state));
}

#[test]
fn what_a_pass_touched_is_read_again_whole_outside_ipvs() {
    use crate::plan::{Planned, SysctlChange};
    let (state, ownership) = desired(TWO_SERVICES);
    let plan = plan::diff(&state, &HostState::default(), &ownership);
    let touched = touched::Touched::of(&plan);
    assert_eq!((touched.everything, touched.network, touched.files, touched.services.len()), (false, false, false, 2));
    let sysctl =
        Change::Sysctl(SysctlChange::Set { key: "net.ipv4.ip_forward".into(), before: None, after: "1".into() });
    let plan = Plan { changes: vec![Planned { change: sysctl, origin: None }], ..Plan::default() };
    assert!(touched::Touched::of(&plan).network);
    let load = Change::Module(plan::ModuleChange::Load { name: "ip_vs".into() });
    let plan = Plan { changes: vec![Planned { change: load, origin: None }], ..Plan::default() };
    assert!(touched::Touched::of(&plan).everything, "a module can bring devices and the IPVS table with it");
}

/// The memory host, where a draining real server's connections end after the first read.
struct ConnectionsEnd {
    host: MemoryHost,
    reads: usize,
}

impl Host for ConnectionsEnd {
    fn observe(&mut self) -> Result<HostState, crate::observe::ObserveError> {
        self.host.observe()
    }

    fn observe_touched(&mut self, touched: &touched::Touched) -> Result<&HostState, crate::observe::ObserveError> {
        self.reads += 1;
        if self.reads == 2 {
            self.host.state.ipvs.activity.clear();
        }
        self.host.observe_touched(touched)
    }

    fn apply(&mut self, changes: &[&Change], stop: &mut dyn FnMut() -> bool) -> Vec<ChangeOutcome> {
        self.host.apply(changes, stop)
    }

    fn netlink_writes(&self) -> usize {
        self.host.netlink_writes()
    }
}

#[test]
fn apply_wait_sees_a_drain_end_although_nothing_was_changed() {
    use crate::model::ipvs::{Destination, DestinationActivity};
    static STOP_ASKED: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    fn stop_after_a_while() -> bool {
        STOP_ASKED.fetch_add(1, std::sync::atomic::Ordering::SeqCst) > 20
    }
    let (state, ownership) = desired(SPEC);
    let ownership = Ownership {
        ipvs: crate::model::ownership::IpvsOwnership { drain_timeout: Some(300), ..ownership.ipvs },
        ..ownership
    };
    let mut host = MemoryHost::new(state.clone());
    let (service_key, service) = host.state.ipvs.services.iter_mut().next().unwrap();
    let draining = Destination {
        address: "203.0.113.13".parse().unwrap(),
        weight: 0,
        ..service.destinations.values().next().unwrap().clone()
    };
    host.state.ipvs.activity.push(DestinationActivity {
        service: *service_key,
        destination: draining.key(),
        active: 3,
        inactive: 0,
        draining_since: None,
    });
    service.destinations.insert(draining.key(), draining);
    let plan = plan::diff(&state, &host.observe().unwrap(), &ownership);
    assert_eq!((plan.changes.len(), plan.draining.len()), (0, 1));
    let mut host = ConnectionsEnd { host, reads: 0 };
    let options = ApplyOptions { rollback: true, wait: true, stop: stop_after_a_while };
    let report = apply(plan, &state, &ownership, options, &mut host).expect("apply");
    assert!(report.plan.draining.is_empty(), "{report:?}");
    assert_eq!(host.host.state, state, "the drained real server was deleted");
}
