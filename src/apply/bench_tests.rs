//! Apply at scale against the in-memory host, timed by phase: how the CPU side of `apply`
//! (bookkeeping, verification, reports) grows with the plan. A benchmark, not a test:
//! `LVS_BENCH_SPEC=/path/spec.yaml cargo test --release --lib apply::bench_tests -- --ignored --nocapture`.

use std::time::Instant;

use super::memory::MemoryHost;
use super::*;
use crate::model::ipvs::Destination;
use crate::render::text::Style;

fn never() -> bool {
    false
}

#[test]
#[ignore = "benchmark: set LVS_BENCH_SPEC to a large spec without a role (`tests/bench/gen.py 10000 DIR` writes DIR/spec.yaml)"]
fn apply_at_scale_by_phase() {
    let path = std::env::var("LVS_BENCH_SPEC").expect("LVS_BENCH_SPEC names a spec");
    let text = std::fs::read_to_string(&path).expect("readable spec");
    let clock = Instant::now();
    let spec = crate::desired::parse(&text, std::path::Path::new(&path)).expect("valid spec");
    let mut desired = spec.desired;
    desired.modules.clear();
    let ownership = spec.ownership;
    eprintln!("parse+resolve           {:>8.3?}", clock.elapsed());
    let options = ApplyOptions { rollback: true, wait: false, stop: never };
    let plain = Style { color: false };

    let mut host = MemoryHost::default();
    let clock = Instant::now();
    let plan = plan::diff(&desired, &host.observe().unwrap(), &ownership);
    eprintln!("diff from empty         {:>8.3?} ({} changes)", clock.elapsed(), plan.changes.len());
    let clock = Instant::now();
    let report = apply(plan, &desired, &ownership, options, &mut host).expect("applies");
    eprintln!("apply from empty        {:>8.3?}", clock.elapsed());
    let clock = Instant::now();
    let text = crate::render::text::render_apply(&report.plan, None, plain);
    eprintln!("text report             {:>8.3?} ({} bytes)", clock.elapsed(), text.len());
    let clock = Instant::now();
    let json = crate::render::json::render_apply(&report.plan, None, report.netlink_writes);
    eprintln!("json report             {:>8.3?} ({} bytes)", clock.elapsed(), json.len());

    let service = host.state.ipvs.services.values_mut().next().expect("a service");
    let destination: &mut Destination = service.destinations.values_mut().next().expect("a real server");
    destination.weight += 1;
    let clock = Instant::now();
    let plan = plan::diff(&desired, &host.observe().unwrap(), &ownership);
    eprintln!("diff, one weight        {:>8.3?} ({} changes)", clock.elapsed(), plan.changes.len());
    let clock = Instant::now();
    let report = apply(plan, &desired, &ownership, options, &mut host).expect("applies");
    eprintln!("apply, one weight       {:>8.3?} ({} changes)", clock.elapsed(), report.plan.changes.len());
}
