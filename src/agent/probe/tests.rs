//! Probes against servers on 127.0.0.1 only, each run on a current-thread runtime like the
//! agent's. The servers are plain threads so that a probe's timeout is never the server's.

use std::collections::{BTreeSet, HashSet};
use std::io::{Read, Write};
use std::net::{Ipv4Addr, Ipv6Addr, Shutdown, SocketAddr, TcpListener, TcpStream};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use socket2::{Domain, Socket, Type};

use super::*;

fn block_on<F: Future>(future: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(future)
}

fn target(connect: SocketAddr, timeout: Duration) -> ProbeTarget {
    ProbeTarget { connect, bind: None, mark: None, timeout }
}

const LOOPBACK: Ipv4Addr = Ipv4Addr::LOCALHOST;
const SHORT: Duration = Duration::from_millis(300);
const LONG: Duration = Duration::from_secs(5);

fn run(kind: &ProbeKind, target: &ProbeTarget) -> ProbeResult {
    block_on(probe(kind, target))
}

fn listener() -> (TcpListener, SocketAddr) {
    let listener = TcpListener::bind((LOOPBACK, 0)).unwrap();
    let address = listener.local_addr().unwrap();
    (listener, address)
}

/// A port on 127.0.0.1 that is bound but not listening: a connect to it is refused.
fn closed_port() -> (Socket, SocketAddr) {
    let socket = Socket::new(Domain::IPV4, Type::STREAM, None).unwrap();
    socket.bind(&SocketAddr::from((LOOPBACK, 0)).into()).unwrap();
    let address = socket.local_addr().unwrap().as_socket().unwrap();
    (socket, address)
}

/// A listener whose accept queue is full: the kernel drops further SYNs, so a connect to it
/// neither succeeds nor is refused until its timeout.
fn full_backlog() -> (Socket, TcpStream, SocketAddr) {
    let socket = Socket::new(Domain::IPV4, Type::STREAM, None).unwrap();
    socket.bind(&SocketAddr::from((LOOPBACK, 0)).into()).unwrap();
    socket.listen(0).unwrap();
    let address = socket.local_addr().unwrap().as_socket().unwrap();
    let filler = TcpStream::connect(address).unwrap();
    (socket, filler, address)
}

#[test]
fn tcp_passes_when_the_port_accepts() {
    let (_listener, address) = listener();
    let result = run(&ProbeKind::Tcp, &target(address, LONG));
    assert_eq!((result.outcome, result.healthy, result.weight), (Outcome::Passed, true, None));
    assert!(result.latency < LONG);
}

#[test]
fn tcp_is_refused_by_a_port_that_does_not_listen() {
    let (_socket, address) = closed_port();
    let result = run(&ProbeKind::Tcp, &target(address, LONG));
    assert_eq!((result.outcome, result.healthy), (Outcome::Refused, false));
}

#[test]
fn tcp_times_out_when_nothing_answers_the_syn() {
    let (_socket, _filler, address) = full_backlog();
    let result = run(&ProbeKind::Tcp, &target(address, SHORT));
    assert_eq!((result.outcome, result.healthy), (Outcome::TimedOut, false));
    assert!(result.latency >= SHORT && result.latency < LONG, "{:?}", result.latency);
}

#[test]
fn tcp_binds_the_source_address_before_connecting() {
    let (listener, address) = listener();
    let source = Ipv4Addr::new(127, 0, 0, 2);
    let peer = thread::spawn(move || listener.accept().unwrap().1.ip());
    let bound = ProbeTarget { bind: Some(source.into()), ..target(address, LONG) };
    assert_eq!(run(&ProbeKind::Tcp, &bound).outcome, Outcome::Passed);
    assert_eq!(peer.join().unwrap(), IpAddr::from(source));
}

#[test]
fn tcp_fails_when_the_source_address_is_not_local() {
    let (_listener, address) = listener();
    // TEST-NET-1: never an address of this host, and nothing is sent to it.
    let foreign = ProbeTarget { bind: Some(Ipv4Addr::new(192, 0, 2, 1).into()), ..target(address, LONG) };
    let result = run(&ProbeKind::Tcp, &foreign);
    assert!(matches!(&result.outcome, Outcome::Failed(text) if text.contains("address")), "{result:?}");
}

#[test]
fn tcp_marks_its_socket_before_connecting() {
    let probe_socket = Socket::new(Domain::IPV4, Type::STREAM, None).unwrap();
    if let Err(error) = probe_socket.set_mark(1) {
        println!("skipped: setting SO_MARK needs CAP_NET_ADMIN ({error})");
        return;
    }
    let (_listener, address) = listener();
    let marked = ProbeTarget { mark: Some(0x4C56_0007), ..target(address, LONG) };
    let stream = block_on(async {
        let stream = tcp::connect(&marked).await.unwrap();
        socket2::SockRef::from(&stream).mark().unwrap()
    });
    assert_eq!(stream, 0x4C56_0007);
    assert_eq!(run(&ProbeKind::Tcp, &marked).outcome, Outcome::Passed);
}

/// An HTTP server for one request: it reads the request head, answers `response` (after
/// `delay`) and closes; the request it read comes back through the handle.
fn http_server(response: Vec<u8>, delay: Duration) -> (SocketAddr, JoinHandle<String>) {
    let (listener, address) = listener();
    let server = thread::spawn(move || {
        let (mut stream, _) = listener.accept().unwrap();
        let mut request = Vec::new();
        let mut buffer = [0u8; 1024];
        while !request.windows(4).any(|w| w == b"\r\n\r\n") {
            let read = stream.read(&mut buffer).unwrap();
            if read == 0 {
                break;
            }
            request.extend_from_slice(&buffer[..read]);
        }
        thread::sleep(delay);
        // The probe may have gone already (timed out, or read enough): that is its business.
        let _ = stream.write_all(&response);
        let _ = stream.shutdown(Shutdown::Write);
        String::from_utf8_lossy(&request).into_owned()
    });
    (address, server)
}

fn response(status: &str, body: &[u8]) -> Vec<u8> {
    let mut response = format!("HTTP/1.1 {status}\r\nContent-Length: {}\r\n\r\n", body.len()).into_bytes();
    response.extend_from_slice(body);
    response
}

fn http(path: &str, status: RangeInclusive<u16>, body: Option<&str>) -> ProbeKind {
    ProbeKind::Http { path: path.to_string(), status, body: body.map(str::to_string), host: None }
}

#[test]
fn http_passes_on_a_status_in_range_and_sends_host_and_connection_close() {
    let (address, server) = http_server(response("200 OK", b"fine"), Duration::ZERO);
    let result = run(&http("/healthz", 200..=399, None), &target(address, LONG));
    assert_eq!((result.outcome, result.healthy), (Outcome::Passed, true));
    let request = server.join().unwrap().to_ascii_lowercase();
    assert!(request.starts_with("get /healthz http/1.1\r\n"), "{request}");
    assert!(request.contains(&format!("\r\nhost: {address}\r\n")), "{request}");
    assert!(request.contains("\r\nconnection: close\r\n"), "{request}");
}

#[test]
fn http_sends_the_host_it_is_given() {
    let (address, server) = http_server(response("302 Found", b""), Duration::ZERO);
    let kind = ProbeKind::Http {
        path: "/".to_string(),
        status: 200..=399,
        body: None,
        host: Some("www.example.org".to_string()),
    };
    assert_eq!(run(&kind, &target(address, LONG)).outcome, Outcome::Passed);
    assert!(server.join().unwrap().to_ascii_lowercase().contains("\r\nhost: www.example.org\r\n"));
}

#[test]
fn http_fails_on_a_status_out_of_range() {
    let (address, _server) = http_server(response("503 Service Unavailable", b"busy"), Duration::ZERO);
    let result = run(&http("/", 200..=399, None), &target(address, LONG));
    assert_eq!((result.outcome, result.healthy), (Outcome::HttpStatus(503), false));
}

#[test]
fn http_checks_the_body_for_the_expected_text() {
    let (address, _server) = http_server(response("200 OK", b"status: all good"), Duration::ZERO);
    assert_eq!(run(&http("/", 200..=200, Some("all good")), &target(address, LONG)).outcome, Outcome::Passed);
    let (address, _server) = http_server(response("200 OK", b"status: degraded"), Duration::ZERO);
    let result = run(&http("/", 200..=200, Some("all good")), &target(address, LONG));
    assert_eq!((result.outcome, result.healthy), (Outcome::BodyMismatch, false));
}

#[test]
fn http_finds_the_text_across_reads_within_the_first_64_kib_only() {
    let mut near = vec![b'x'; http::BODY_LIMIT - 10];
    near.extend_from_slice(b"marker-ok");
    let (address, _server) = http_server(response("200 OK", &near), Duration::ZERO);
    assert_eq!(run(&http("/", 200..=200, Some("marker-ok")), &target(address, LONG)).outcome, Outcome::Passed);

    let mut beyond = vec![b'x'; http::BODY_LIMIT];
    beyond.extend_from_slice(b"marker-ok");
    let (address, _server) = http_server(response("200 OK", &beyond), Duration::ZERO);
    let result = run(&http("/", 200..=200, Some("marker-ok")), &target(address, LONG));
    assert_eq!(result.outcome, Outcome::BodyMismatch);
}

#[test]
fn http_times_out_on_a_slow_server_within_one_timeout() {
    let (address, _server) = http_server(response("200 OK", b""), Duration::from_secs(3));
    let result = run(&http("/", 200..=399, None), &target(address, SHORT));
    assert_eq!((result.outcome, result.healthy), (Outcome::TimedOut, false));
    assert!(result.latency >= SHORT && result.latency < Duration::from_secs(2), "{:?}", result.latency);
}

#[test]
fn http_times_out_when_the_connect_does() {
    let (_socket, _filler, address) = full_backlog();
    assert_eq!(run(&http("/", 200..=399, None), &target(address, SHORT)).outcome, Outcome::TimedOut);
}

#[test]
fn http_fails_on_a_garbage_response() {
    let (address, _server) = http_server(b"SSH-2.0-OpenSSH_9.6\r\n\r\n".to_vec(), Duration::ZERO);
    let result = run(&http("/", 200..=399, None), &target(address, LONG));
    assert!(matches!(&result.outcome, Outcome::Failed(text) if !text.is_empty()), "{result:?}");
    assert!(!result.healthy);
}

#[test]
fn http_fails_when_the_server_closes_without_answering() {
    let (address, _server) = http_server(Vec::new(), Duration::ZERO);
    let result = run(&http("/", 200..=399, None), &target(address, LONG));
    assert!(matches!(&result.outcome, Outcome::Failed(_)), "{result:?}");
}

#[test]
fn http_is_refused_like_tcp() {
    let (_socket, address) = closed_port();
    assert_eq!(run(&http("/", 200..=399, None), &target(address, LONG)).outcome, Outcome::Refused);
}

fn exec(script: &str, dynamic_weight: bool) -> ProbeKind {
    ProbeKind::Exec {
        command: vec!["/bin/sh".to_string(), "-c".to_string(), script.to_string()],
        env: vec![("LVS_VIP".to_string(), "192.0.2.1".to_string())],
        dynamic_weight,
    }
}

fn exec_target(timeout: Duration) -> ProbeTarget {
    target(SocketAddr::from((LOOPBACK, 80)), timeout)
}

#[test]
fn exec_is_healthy_on_exit_0_only() {
    let result = run(&exec("exit 0", false), &exec_target(LONG));
    assert_eq!((result.outcome, result.healthy, result.weight), (Outcome::Passed, true, None));
    let result = run(&exec("exit 1", false), &exec_target(LONG));
    assert_eq!((result.outcome, result.healthy), (Outcome::Exit(1), false));
    assert_eq!(run(&exec("exit 7", false), &exec_target(LONG)).outcome, Outcome::Exit(7));
}

#[test]
fn exec_runs_argv_with_the_environment_it_is_given() {
    assert_eq!(run(&exec(r#"test "$LVS_VIP" = 192.0.2.1"#, false), &exec_target(LONG)).outcome, Outcome::Passed);
}

#[test]
fn exec_with_dynamic_weight_reads_the_weight_from_exit_2_to_255() {
    let verdict = |script| {
        let result = run(&exec(script, true), &exec_target(LONG));
        (result.outcome, result.healthy, result.weight)
    };
    assert_eq!(verdict("exit 0"), (Outcome::Passed, true, None));
    assert_eq!(verdict("exit 1"), (Outcome::Exit(1), false, None));
    assert_eq!(verdict("exit 2"), (Outcome::Passed, true, Some(0)));
    assert_eq!(verdict("exit 12"), (Outcome::Passed, true, Some(10)));
    assert_eq!(verdict("exit 255"), (Outcome::Passed, true, Some(253)));
}

#[test]
fn exec_killed_by_a_signal_is_unhealthy() {
    let result = run(&exec("kill -TERM $$", false), &exec_target(LONG));
    assert_eq!((result.outcome, result.healthy), (Outcome::Signal(15), false));
}

#[test]
fn exec_that_cannot_start_fails() {
    let missing =
        ProbeKind::Exec { command: vec!["/nonexistent/check".to_string()], env: vec![], dynamic_weight: false };
    let result = run(&missing, &exec_target(LONG));
    assert!(matches!(&result.outcome, Outcome::Failed(text) if text.contains("No such file")), "{result:?}");
    let empty = ProbeKind::Exec { command: vec![], env: vec![], dynamic_weight: false };
    assert!(matches!(run(&empty, &exec_target(LONG)).outcome, Outcome::Failed(_)));
}

/// Whether `pid` still runs (a zombie nobody reaped yet has stopped running).
fn running(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .is_ok_and(|stat| stat.rsplit_once(") ").is_some_and(|(_, rest)| !rest.starts_with('Z')))
}

#[test]
fn exec_out_of_time_is_killed_with_everything_it_started() {
    let pid_file = std::env::temp_dir().join(format!("lvs-converge-probe-{}", std::process::id()));
    let script = format!("sleep 30 & echo $! > {}; wait", pid_file.display());
    let started = Instant::now();
    let result = run(&exec(&script, false), &exec_target(Duration::from_millis(500)));
    assert_eq!((result.outcome, result.healthy), (Outcome::TimedOut, false));
    assert!(started.elapsed() < Duration::from_secs(3), "{:?}", started.elapsed());
    let sleeper: i32 = std::fs::read_to_string(&pid_file).unwrap().trim().parse().unwrap();
    let _ = std::fs::remove_file(&pid_file);
    let deadline = Instant::now() + Duration::from_secs(2);
    while running(sleeper) && Instant::now() < deadline {
        thread::sleep(Duration::from_millis(20));
    }
    assert!(!running(sleeper), "the command's child {sleeper} outlived the timeout");
}

#[test]
fn exec_that_exits_leaves_nothing_running_in_the_background() {
    let pid_file = std::env::temp_dir().join(format!("lvs-converge-probe-bg-{}", std::process::id()));
    let script = format!("sleep 30 & echo $! > {}; exit 0", pid_file.display());
    let result = run(&exec(&script, false), &exec_target(LONG));
    assert_eq!((result.outcome, result.healthy), (Outcome::Passed, true));
    let sleeper: i32 = std::fs::read_to_string(&pid_file).unwrap().trim().parse().unwrap();
    let _ = std::fs::remove_file(&pid_file);
    let deadline = Instant::now() + Duration::from_secs(2);
    while running(sleeper) && Instant::now() < deadline {
        thread::sleep(Duration::from_millis(20));
    }
    assert!(!running(sleeper), "the command's background child {sleeper} outlived it");
}

#[test]
fn many_probes_share_one_current_thread_runtime() {
    let (listener, address) = listener();
    let _accepting = thread::spawn(move || for _ in listener.incoming() {});
    let results = block_on(async {
        let mut probes = tokio::task::JoinSet::new();
        for _ in 0..100 {
            probes.spawn(async move { probe(&ProbeKind::Tcp, &target(address, LONG)).await });
        }
        probes.join_all().await
    });
    assert_eq!(results.len(), 100);
    assert!(results.iter().all(|result| result.outcome == Outcome::Passed));
}

#[test]
fn source_toward_loopback_is_loopback() {
    assert_eq!(source_toward(LOOPBACK.into()).unwrap(), IpAddr::from(LOOPBACK));
}

#[test]
fn probe_keys_are_one_per_probe() {
    let base = ProbeKey { kind: http("/", 200..=399, None), target: target(SocketAddr::from((LOOPBACK, 80)), LONG) };
    let same = base.clone();
    let variants = [
        ProbeKey { kind: http("/", 200..=299, None), ..base.clone() },
        ProbeKey { kind: http("/", 100..=399, None), ..base.clone() },
        ProbeKey { kind: ProbeKind::Tcp, ..base.clone() },
        ProbeKey { target: ProbeTarget { mark: Some(0x4C56_0001), ..base.target.clone() }, ..base.clone() },
        ProbeKey { target: ProbeTarget { bind: Some(LOOPBACK.into()), ..base.target.clone() }, ..base.clone() },
        ProbeKey { target: target(SocketAddr::from((LOOPBACK, 8080)), LONG), ..base.clone() },
    ];
    let all = || [base.clone(), same.clone()].into_iter().chain(variants.iter().cloned());
    assert_eq!(all().collect::<BTreeSet<_>>().len(), 1 + variants.len());
    assert_eq!(all().collect::<HashSet<_>>().len(), 1 + variants.len());
    assert!(http("/", 200..=299, None) < http("/", 200..=399, None));
}

#[test]
fn source_toward_ipv6_loopback_is_ipv6_loopback() {
    if std::net::UdpSocket::bind((Ipv6Addr::LOCALHOST, 0)).is_err() {
        println!("skipped: no IPv6 loopback here");
        return;
    }
    assert_eq!(source_toward(Ipv6Addr::LOCALHOST.into()).unwrap(), IpAddr::from(Ipv6Addr::LOCALHOST));
}

/// CPU time this thread has used, from /proc (clock ticks, 10 ms on Linux).
fn thread_cpu() -> Duration {
    let stat = std::fs::read_to_string("/proc/thread-self/stat").unwrap();
    let fields: Vec<&str> = stat.rsplit_once(") ").unwrap().1.split(' ').collect();
    let ticks: u64 = fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap();
    Duration::from_millis(ticks * 10)
}

/// The agent's budget is 1% of a core for 100 real servers every 2 s: 50 probes a second,
/// 200 µs of CPU each. `cargo test --lib probe_cpu_cost -- --ignored --nocapture` prints what
/// a tcp and an http probe cost the probing thread (the servers run on threads of their own).
#[test]
#[ignore = "a measurement, printed; run it by name"]
fn probe_cpu_cost() {
    let (tcp_listener, tcp_address) = listener();
    thread::spawn(move || for _ in tcp_listener.incoming() {});
    let (http_listener, http_address) = listener();
    thread::spawn(move || {
        for stream in http_listener.incoming() {
            let mut stream = stream.unwrap();
            let mut buffer = [0u8; 2048];
            let _ = stream.read(&mut buffer);
            let _ = stream.write_all(&response("200 OK", b"ok"));
        }
    });
    let rounds = 20;
    for (name, kind, address) in
        [("tcp", ProbeKind::Tcp, tcp_address), ("http", http("/healthz", 200..=399, Some("ok")), http_address)]
    {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let (cpu, wall) = (thread_cpu(), Instant::now());
        for _ in 0..rounds {
            let results = runtime.block_on(async {
                let mut probes = tokio::task::JoinSet::new();
                for _ in 0..100 {
                    let kind = kind.clone();
                    probes.spawn(async move { probe(&kind, &target(address, LONG)).await });
                }
                probes.join_all().await
            });
            assert!(results.iter().all(|result| result.healthy), "{results:?}");
        }
        let probes = rounds * 100;
        println!(
            "{name}: {probes} probes, 100 at a time on one current-thread runtime: {:?} CPU per probe, {:?} wall per 100",
            (thread_cpu() - cpu) / probes,
            wall.elapsed() / rounds,
        );
    }
}
