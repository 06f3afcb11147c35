//! The agent's loop against an in-memory host, on real (short) time: what it runs, when,
//! and what signals do to it.

use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::notify::Notifier;
use super::run::{self, outcome_of, AgentHost, AgentOptions, Ended, Loaded, Told};
use super::signals::Command;
use super::{AgentEvent, RunOutcome};
use crate::apply::memory::MemoryHost;
use crate::apply::Host as _;
use crate::converge::{self, ConvergeError};
use crate::spec::{self, NodeSelector};

const SPEC: &str = "apiVersion: lvs-converge/v1\nkind: Host\nipvs:\n  services:\n    - address: 203.0.113.100\n      port: 80\n      realServers:\n        - address: 203.0.113.11\n        - address: 203.0.113.12\n";

/// The agent's host, in memory; `gate`, when set, holds each run until a message comes.
struct MemoryAgent {
    host: Mutex<MemoryHost>,
    busy_runs: Mutex<usize>,
    /// The health records each run was given.
    given: Mutex<Vec<crate::model::health::HealthRecords>>,
    gate: Mutex<Option<std::sync::mpsc::Receiver<()>>>,
}

impl MemoryAgent {
    fn new() -> Arc<MemoryAgent> {
        Arc::new(MemoryAgent {
            host: Mutex::new(MemoryHost::default()),
            busy_runs: Mutex::new(0),
            given: Mutex::default(),
            gate: Mutex::new(None),
        })
    }

    fn destinations(&self) -> usize {
        self.host.lock().unwrap().state.ipvs.services.values().map(|s| s.destinations.len()).sum()
    }
}

impl AgentHost for MemoryAgent {
    fn load(&self, path: &Path) -> Result<Loaded, ConvergeError> {
        let document = spec::read(path)?;
        let spec = crate::desired::resolve(&document, &NodeSelector { name: None, local_addresses: vec![] })?;
        Ok(Loaded { document, spec })
    }

    fn converge(&self, loaded: &Loaded, health: crate::model::health::HealthRecords) -> RunOutcome {
        self.given.lock().unwrap().push(health.clone());
        if let Some(gate) = self.gate.lock().unwrap().as_ref() {
            let _ = gate.recv_timeout(Duration::from_secs(10));
        }
        {
            let mut busy = self.busy_runs.lock().unwrap();
            if *busy > 0 {
                *busy -= 1;
                return RunOutcome::LockBusy { holder: "4242".into() };
            }
        }
        let mut host = self.host.lock().unwrap();
        let result = (|| {
            let mut observed = host.observe()?;
            // As the live host's runs: the agent's own verdicts, whatever the file says.
            observed.ipvs.health = Some(health);
            let spec =
                crate::desired::resolve(&loaded.document, &NodeSelector { name: None, local_addresses: vec![] })?;
            converge::converge_on(&loaded.document, spec, observed, &run::run_options(), |_| &mut *host)
        })();
        outcome_of(result)
    }
}

/// "Run(trigger:outcome)", "Reloaded", …: what a test compares.
fn describe(event: &AgentEvent) -> String {
    match event {
        AgentEvent::Started { .. } => "Started".into(),
        AgentEvent::Run(report) => format!("Run({:?}:{})", report.trigger, report.outcome.name()),
        AgentEvent::Reloaded { .. } => "Reloaded".into(),
        AgentEvent::ReloadRefused { .. } => "ReloadRefused".into(),
        AgentEvent::Stopping { signal } => format!("Stopping({signal})"),
        AgentEvent::RecordsUnwritten { .. } => "RecordsUnwritten".into(),
        AgentEvent::Health(transition) => format!("Health({}:{:?})", transition.destination, transition.to),
    }
}

struct Scene {
    dir: PathBuf,
    spec: PathBuf,
    events: Arc<Mutex<Vec<String>>>,
}

impl Scene {
    fn new(name: &str) -> Scene {
        let dir = crate::test_support::scratch_dir("agent", name);
        let spec = dir.join("spec.yaml");
        std::fs::write(&spec, SPEC).unwrap();
        Scene { dir, spec, events: Arc::default() }
    }

    fn events(&self) -> Vec<String> {
        self.watch().events()
    }

    /// What the test's driver watches while the agent runs.
    fn watch(&self) -> Watch {
        Watch { events: Arc::clone(&self.events), spec: self.spec.clone() }
    }

    /// Runs the agent on `host` while `drive` sends it commands; returns how it ended.
    fn run<F: std::future::Future<Output = ()>>(
        &self,
        host: Arc<MemoryAgent>,
        options: AgentOptions,
        notifier: &Notifier,
        drive: impl FnOnce(tokio::sync::mpsc::UnboundedSender<Command>) -> F,
    ) -> Ended {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let (sender, commands) = tokio::sync::mpsc::unbounded_channel();
        let events = Arc::clone(&self.events);
        let mut log = move |event: &AgentEvent| events.lock().unwrap().push(describe(event));
        let mut told = Told { log: &mut log, status_of: crate::render::agent::status, notifier, metrics: None };
        runtime.block_on(async {
            let (ended, ()) = tokio::join!(run::run(host, &options, commands, &mut told), drive(sender));
            ended.unwrap()
        })
    }

    fn options(&self, interval_ms: u64, once: bool) -> AgentOptions {
        AgentOptions {
            spec: self.spec.clone(),
            interval: Duration::from_millis(interval_ms),
            once,
            records_dir: self.dir.join("run"),
        }
    }
}

/// The log and spec of a scene, for the driver.
#[derive(Clone)]
struct Watch {
    events: Arc<Mutex<Vec<String>>>,
    spec: PathBuf,
}

impl Watch {
    fn events(&self) -> Vec<String> {
        self.events.lock().unwrap().clone()
    }

    /// Waits (at most 10 s) until the log holds `count` events like `event`.
    async fn seen(&self, event: &str, count: usize) {
        for _ in 0..1000 {
            if self.events().iter().filter(|e| *e == event).count() >= count {
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("no {count}× {event} in {:?}", self.events());
    }
}

impl Drop for Scene {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

#[test]
fn once_converges_the_host_one_time_and_ends() {
    let scene = Scene::new("once");
    let host = MemoryAgent::new();
    let ended = scene.run(Arc::clone(&host), scene.options(60_000, true), &Notifier::default(), |_| async {});
    assert_eq!(ended, Ended { last_run_failed: false });
    assert_eq!(scene.events(), ["Started", "Run(Start:repaired)"]);
    assert_eq!(host.destinations(), 2);
}

#[test]
fn drift_made_out_of_band_is_repaired_within_an_interval_and_stop_ends_the_loop() {
    let scene = Scene::new("drift");
    let watch = scene.watch();
    let host = MemoryAgent::new();
    let agent = Arc::clone(&host);
    let ended = scene.run(Arc::clone(&host), scene.options(100, false), &Notifier::default(), |commands| async move {
        let scene = watch;
        scene.seen("Run(Start:repaired)", 1).await;
        scene.seen("Run(Interval:converged)", 1).await;
        // `ipvsadm -d` of a real server, behind the agent's back.
        for service in agent.host.lock().unwrap().state.ipvs.services.values_mut() {
            service.destinations.pop_first();
        }
        scene.seen("Run(Interval:repaired)", 1).await;
        commands.send(Command::Stop("SIGTERM")).unwrap();
    });
    assert_eq!(ended, Ended { last_run_failed: false });
    assert_eq!(host.destinations(), 2, "the deleted real server is back");
    assert_eq!(scene.events().last().map(String::as_str), Some("Stopping(SIGTERM)"));
}

#[test]
fn a_reload_applies_a_valid_spec_and_keeps_the_old_one_when_the_new_one_is_invalid() {
    let scene = Scene::new("reload");
    let watch = scene.watch();
    let host = MemoryAgent::new();
    let agent = Arc::clone(&host);
    scene.run(Arc::clone(&host), scene.options(60_000, false), &Notifier::default(), |commands| async move {
        let scene = watch;
        scene.seen("Run(Start:repaired)", 1).await;
        std::fs::write(&scene.spec, SPEC.replace("        - address: 203.0.113.12\n", "")).unwrap();
        commands.send(Command::Reload).unwrap();
        scene.seen("Run(Reload:repaired)", 1).await;
        assert_eq!(agent.destinations(), 1, "the new spec is applied");
        std::fs::write(&scene.spec, SPEC.replace("port: 80", "port: eighty")).unwrap();
        commands.send(Command::Reload).unwrap();
        scene.seen("ReloadRefused", 1).await;
        commands.send(Command::Stop("SIGINT")).unwrap();
    });
    assert_eq!(
        scene.events(),
        ["Started", "Run(Start:repaired)", "Reloaded", "Run(Reload:repaired)", "ReloadRefused", "Stopping(SIGINT)"]
    );
    assert_eq!(host.destinations(), 1, "the old spec stays in force");
}

#[test]
fn a_busy_lock_skips_the_run_and_the_loop_goes_on() {
    let scene = Scene::new("busy");
    let watch = scene.watch();
    let host = MemoryAgent::new();
    *host.busy_runs.lock().unwrap() = 1;
    scene.run(Arc::clone(&host), scene.options(50, false), &Notifier::default(), |commands| async move {
        let scene = watch;
        scene.seen("Run(Interval:repaired)", 1).await;
        commands.send(Command::Stop("SIGTERM")).unwrap();
    });
    assert_eq!(scene.events()[..3], ["Started", "Run(Start:lock_busy)", "Run(Interval:repaired)"]);
}

#[test]
fn a_stop_during_a_run_waits_for_the_run_to_finish() {
    let scene = Scene::new("stop-mid-run");
    let watch = scene.watch();
    let host = MemoryAgent::new();
    let (release, gate) = std::sync::mpsc::channel();
    *host.gate.lock().unwrap() = Some(gate);
    scene.run(Arc::clone(&host), scene.options(60_000, false), &Notifier::default(), |commands| async move {
        let scene = watch;
        scene.seen("Started", 1).await;
        commands.send(Command::Stop("SIGTERM")).unwrap();
        scene.seen("Stopping(SIGTERM)", 1).await;
        release.send(()).unwrap();
    });
    assert_eq!(scene.events(), ["Started", "Stopping(SIGTERM)", "Run(Start:repaired)"]);
    assert_eq!(host.destinations(), 2, "the run under way finished its apply");
}

#[test]
fn systemd_hears_ready_after_the_first_run_and_the_watchdog_at_half_its_limit() {
    let scene = Scene::new("notify");
    let watch = scene.watch();
    let socket_path = scene.dir.join("notify");
    let systemd = UnixDatagram::bind(&socket_path).unwrap();
    systemd.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let host = MemoryAgent::new();
    let (release, gate) = std::sync::mpsc::channel();
    *host.gate.lock().unwrap() = Some(gate);
    // WatchdogSec=200ms: a tick every 100 ms, even while a run is under way.
    let notifier = Notifier::new(socket_path.to_str(), Some(200_000));
    let received = Arc::new(Mutex::new(Vec::new()));
    let heard = Arc::clone(&received);
    let listener = std::thread::spawn(move || {
        let mut buffer = [0u8; 256];
        while let Ok(n) = systemd.recv(&mut buffer) {
            let message = String::from_utf8_lossy(&buffer[..n]).into_owned();
            let stop = message == "STOPPING=1";
            heard.lock().unwrap().push(message);
            if stop {
                break;
            }
        }
    });
    scene.run(host, scene.options(60_000, false), &notifier, |commands| async move {
        let scene = watch;
        tokio::time::sleep(Duration::from_millis(350)).await;
        release.send(()).unwrap();
        scene.seen("Run(Start:repaired)", 1).await;
        tokio::time::sleep(Duration::from_millis(50)).await;
        commands.send(Command::Stop("SIGTERM")).unwrap();
    });
    listener.join().unwrap();
    let received = received.lock().unwrap().clone();
    let ready = received.iter().position(|m| m.starts_with("READY=1")).expect("READY=1 sent");
    assert!(
        received[..ready].iter().filter(|m| *m == "WATCHDOG=1").count() >= 2,
        "watchdog during the first run: {received:?}"
    );
    assert!(received[..ready].iter().all(|m| m == "WATCHDOG=1"), "nothing else before READY: {received:?}");
    assert_eq!(received[ready], "READY=1\nSTATUS=converged: last run repaired 5 change(s)");
}

#[test]
fn converge_failures_are_runs_that_failed_and_a_busy_lock_is_a_skip() {
    let busy = crate::lock::LockError::Busy {
        path: "/run/x".into(),
        holder: "77".into(),
        waited: Duration::ZERO,
        scope: crate::lock::Scope::Namespace,
    };
    assert!(matches!(outcome_of(Err(ConvergeError::Lock(busy))), RunOutcome::LockBusy { holder } if holder == "77"));
    let io = crate::lock::LockError::Io { path: "/run/x".into(), source: std::io::Error::other("x") };
    assert_eq!(outcome_of(Err(ConvergeError::Lock(io))).name(), "failed");
}

#[test]
fn jitter_stays_within_ten_percent() {
    let interval = Duration::from_secs(30);
    assert_eq!(run::jittered(interval, 0), Duration::from_secs(27));
    assert_eq!(run::jittered(interval, u64::MAX), Duration::from_secs(33));
    let middle = run::jittered(interval, u64::MAX / 2);
    assert!(middle > Duration::from_millis(29_900) && middle < Duration::from_millis(30_100), "{middle:?}");
}

/// A spec whose real server 127.0.0.1:`port` has a tcp check straight to it, every 100 ms,
/// one result enough for a verdict.
fn checked_spec(port: u16) -> String {
    format!(
        "apiVersion: lvs-converge/v1\nkind: Host\nipvs:\n  services:\n    - address: 203.0.113.100\n      port: {port}\n      healthCheck: {{ type: tcp, via: direct, interval: 100ms, timeout: 50ms, rise: 1, fall: 1 }}\n      realServers:\n        - address: 127.0.0.1\n        - address: 203.0.113.12\n          healthCheck: false\n"
    )
}

impl MemoryAgent {
    /// The weight of real server `address` in the one service.
    fn weight(&self, address: &str) -> Option<u32> {
        let host = self.host.lock().unwrap();
        let service = host.state.ipvs.services.values().next()?;
        service.destinations.values().find(|d| d.address.to_string() == address).map(|d| d.weight)
    }
}

#[test]
fn a_failing_check_drains_its_real_server_at_once_and_a_passing_one_restores_it() {
    let scene = Scene::new("health");
    let watch = scene.watch();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::fs::write(&scene.spec, checked_spec(port)).unwrap();
    let host = MemoryAgent::new();
    // The first run takes 300 ms: long enough for three rounds of checks, were they to start
    // before it.
    let (release, gate) = std::sync::mpsc::channel();
    *host.gate.lock().unwrap() = Some(gate);
    let agent = Arc::clone(&host);
    let mut listener = Some(listener);
    scene.run(Arc::clone(&host), scene.options(60_000, false), &Notifier::default(), |commands| async move {
        let scene = watch;
        tokio::time::sleep(Duration::from_millis(300)).await;
        (0..100).for_each(|_| release.send(()).unwrap());
        scene.seen("Health(127.0.0.1:PORT:Healthy)".replace("PORT", &port.to_string()).as_str(), 1).await;
        assert_eq!(agent.weight("127.0.0.1"), Some(1));
        drop(listener.take());
        scene.seen(&format!("Health(127.0.0.1:{port}:Unhealthy)"), 1).await;
        scene.seen("Run(Health:repaired)", 1).await;
        assert_eq!(agent.weight("127.0.0.1"), Some(0), "drained at once, not at the next interval");
        assert_eq!(agent.weight("203.0.113.12"), Some(1), "the unchecked real server keeps its weight");
        let _back = std::net::TcpListener::bind(("127.0.0.1", port)).unwrap();
        scene.seen(&format!("Health(127.0.0.1:{port}:Healthy)"), 2).await;
        scene.seen("Run(Health:repaired)", 2).await;
        assert_eq!(agent.weight("127.0.0.1"), Some(1), "restored after rise");
        commands.send(Command::Stop("SIGTERM")).unwrap();
    });
    let events = scene.events();
    let first_check = events.iter().position(|e| e.starts_with("Health(")).unwrap();
    let first_run = events.iter().position(|e| e == "Run(Start:repaired)").unwrap();
    assert!(first_run < first_check, "checks start once the first run made the check paths: {events:?}");
    let health_runs = scene.events().iter().filter(|e| e.starts_with("Run(Health:")).count();
    assert_eq!(health_runs, 2, "the first verdict (healthy, not startDrained) holds nothing new: {:?}", scene.events());
    let records = scene.dir.join("run").join(crate::observe::health::file_name().unwrap());
    let records: crate::model::health::HealthRecords =
        serde_json::from_str(&std::fs::read_to_string(&records).expect("records kept after SIGTERM")).unwrap();
    assert_eq!(records.servers.len(), 1, "{records:?}");
    assert_eq!(records.servers[0].status, crate::model::health::HealthStatus::Healthy);
    assert!(records.valid_until > records.updated_at, "{records:?}");
}

/// The records file a scene's agent writes (or finds at start).
fn records_path(scene: &Scene) -> PathBuf {
    scene.dir.join("run").join(crate::observe::health::file_name().unwrap())
}

fn read_records(scene: &Scene) -> crate::model::health::HealthRecords {
    serde_json::from_str(&std::fs::read_to_string(records_path(scene)).unwrap()).unwrap()
}

#[test]
fn a_restarted_agent_holds_the_verdicts_its_predecessor_left() {
    let scene = Scene::new("restart");
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::fs::write(&scene.spec, checked_spec(port)).unwrap();
    // The agent before this one judged 127.0.0.1 unhealthy; its records are still current.
    let run_dir = crate::rundir::RunDir::create_at(&scene.dir.join("run")).unwrap();
    let now = crate::rundir::unix_now();
    let left = serde_json::json!({
        "agent_pid": 1, "updated_at": now, "valid_until": now + 60,
        "servers": [{
            "service": {"protocol": "tcp", "address": "203.0.113.100", "port": port},
            "destination": {"address": "127.0.0.1", "port": port},
            "status": "unhealthy", "since": now - 100, "last_check": null, "last_outcome": null,
            "latency_ms": null, "weight": null
        }]
    });
    run_dir.replace_json(&crate::observe::health::file_name().unwrap(), &left).unwrap();
    let host = MemoryAgent::new();
    scene.run(Arc::clone(&host), scene.options(60_000, true), &Notifier::default(), |_| async {});
    assert_eq!(host.weight("127.0.0.1"), Some(0), "the first run held the verdict found: {:?}", scene.events());
    let given = &host.given.lock().unwrap()[0];
    assert_eq!(
        (given.servers[0].status, given.servers[0].since),
        (crate::model::health::HealthStatus::Unhealthy, now - 100)
    );
    assert!(scene.events().contains(&format!("Health(127.0.0.1:{port}:Healthy)")), "{:?}", scene.events());
    drop(listener);
}

#[test]
fn runs_hold_the_agents_own_verdicts_when_the_records_cannot_be_written() {
    let scene = Scene::new("unwritable");
    let watch = scene.watch();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::fs::write(&scene.spec, checked_spec(port)).unwrap();
    let host = MemoryAgent::new();
    let agent = Arc::clone(&host);
    let mut options = scene.options(60_000, false);
    // Below a plain file: no run directory can be made there.
    std::fs::write(scene.dir.join("file"), "").unwrap();
    options.records_dir = scene.dir.join("file").join("run");
    let mut listener = Some(listener);
    scene.run(Arc::clone(&host), options, &Notifier::default(), |commands| async move {
        let scene = watch;
        scene.seen(&format!("Health(127.0.0.1:{port}:Healthy)"), 1).await;
        drop(listener.take());
        scene.seen(&format!("Health(127.0.0.1:{port}:Unhealthy)"), 1).await;
        scene.seen("Run(Health:repaired)", 1).await;
        assert_eq!(agent.weight("127.0.0.1"), Some(0), "drained though no records file says so");
        commands.send(Command::Stop("SIGTERM")).unwrap();
    });
    assert!(scene.events().iter().any(|e| e == "RecordsUnwritten"), "{:?}", scene.events());
}

#[test]
fn checks_wait_for_a_run_that_converged_not_one_skipped_for_the_lock() {
    let scene = Scene::new("checks-after-skip");
    let watch = scene.watch();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::fs::write(&scene.spec, checked_spec(port)).unwrap();
    let host = MemoryAgent::new();
    *host.busy_runs.lock().unwrap() = 1;
    scene.run(Arc::clone(&host), scene.options(60_000, false), &Notifier::default(), |commands| async move {
        let scene = watch;
        scene.seen("Run(Start:lock_busy)", 1).await;
        // Five check intervals: a check started after the skipped run would have reported.
        tokio::time::sleep(Duration::from_millis(500)).await;
        commands.send(Command::Stop("SIGTERM")).unwrap();
    });
    assert!(!scene.events().iter().any(|e| e.starts_with("Health(")), "{:?}", scene.events());
    drop(listener);
}

#[test]
fn once_leaves_records_that_have_lapsed() {
    let scene = Scene::new("once-lapsed");
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::fs::write(&scene.spec, checked_spec(port)).unwrap();
    scene.run(MemoryAgent::new(), scene.options(60_000, true), &Notifier::default(), |_| async {});
    let records = read_records(&scene);
    assert_eq!(records.servers[0].status, crate::model::health::HealthStatus::Healthy, "{records:?}");
    assert!(records.valid_until <= records.updated_at, "nobody renews them: {records:?}");
    drop(listener);
}

#[test]
fn a_reload_gives_a_kept_probe_the_new_rise_and_fall() {
    use super::health::{Checks, Wanted};
    use super::probe::{Outcome, ProbeKey, ProbeKind, ProbeResult, ProbeTarget};
    let key = ProbeKey {
        kind: ProbeKind::Tcp,
        target: ProbeTarget {
            connect: "127.0.0.1:80".parse().unwrap(),
            bind: None,
            mark: None,
            timeout: Duration::from_secs(1),
        },
    };
    let wanted = |rise| {
        let checked = [(
            serde_json::from_str(r#"{"protocol":"tcp","address":"203.0.113.100","port":80}"#).unwrap(),
            serde_json::from_str(r#"{"address":"127.0.0.1","port":80}"#).unwrap(),
        )];
        let wanted = Wanted { interval: Duration::from_secs(1), rise, fall: 3, checked: checked.into_iter().collect() };
        [(key.clone(), wanted)].into_iter().collect()
    };
    let passed = ProbeResult { healthy: true, weight: None, latency: Duration::ZERO, outcome: Outcome::Passed };
    let mut checks = Checks::default();
    checks.update(wanted(3), tokio::time::Instant::now(), 0);
    assert!(checks.record(&key, &passed, 1).transitions.is_empty());
    checks.update(wanted(2), tokio::time::Instant::now(), 0);
    assert_eq!(checks.record(&key, &passed, 2).transitions.len(), 1, "rise 2 reached by the second pass");
}

#[test]
fn a_reload_skipped_for_a_busy_lock_is_tried_again_within_seconds() {
    let scene = Scene::new("busy-retry");
    let watch = scene.watch();
    let host = MemoryAgent::new();
    let agent = Arc::clone(&host);
    scene.run(Arc::clone(&host), scene.options(60_000, false), &Notifier::default(), |commands| async move {
        let scene = watch;
        scene.seen("Run(Start:repaired)", 1).await;
        *agent.busy_runs.lock().unwrap() = 1;
        commands.send(Command::Reload).unwrap();
        scene.seen("Run(Reload:lock_busy)", 1).await;
        scene.seen("Run(Interval:converged)", 1).await;
        commands.send(Command::Stop("SIGTERM")).unwrap();
    });
}
