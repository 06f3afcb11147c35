//! Prometheus metrics (text exposition) on `--metrics ADDR`: per-real-server health and check
//! latency, converge runs by outcome, drift found and repaired, and how long each stage of a
//! run took. Served by hyper (HTTP/1, GET /metrics) on the agent's own runtime.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::{Request, Response, StatusCode};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;

use super::{RunOutcome, RunReport};

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RealServerLabels {
    service: String,
    real_server: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OutcomeLabels {
    outcome: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StageLabels {
    stage: &'static str,
}

/// The agent's metrics; clones share the same series.
#[derive(Debug, Clone)]
pub struct Metrics {
    healthy: Family<RealServerLabels, Gauge>,
    check_duration: Histogram,
    runs: Family<OutcomeLabels, Counter>,
    drift_found: Counter,
    drift_repaired: Counter,
    stage_duration: Family<StageLabels, Histogram>,
}

/// 1 ms to ~33 s: a check's timeout and a big apply both fit.
fn duration_buckets() -> Histogram {
    Histogram::new(exponential_buckets(0.001, 2.0, 16))
}

impl Metrics {
    /// The metrics, and the registry that serves them.
    pub fn new() -> (Metrics, Registry) {
        let metrics = Metrics {
            healthy: Family::default(),
            check_duration: duration_buckets(),
            runs: Family::default(),
            drift_found: Counter::default(),
            drift_repaired: Counter::default(),
            stage_duration: Family::new_with_constructor(duration_buckets),
        };
        let mut registry = Registry::default();
        registry.register(
            "lvs_converge_real_server_healthy",
            "Whether the real server passes its health check (1) or not (0); absent before its first verdict",
            metrics.healthy.clone(),
        );
        registry.register(
            "lvs_converge_check_duration_seconds",
            "How long health checks took, to their verdict",
            metrics.check_duration.clone(),
        );
        registry.register("lvs_converge_converge_runs", "Converge runs by outcome", metrics.runs.clone());
        registry.register(
            "lvs_converge_drift_found",
            "Changes converge runs found the host needed",
            metrics.drift_found.clone(),
        );
        registry.register(
            "lvs_converge_drift_repaired",
            "Changes converge runs made and verified",
            metrics.drift_repaired.clone(),
        );
        registry.register(
            "lvs_converge_stage_duration_seconds",
            "How long each stage of a converge run took",
            metrics.stage_duration.clone(),
        );
        (metrics, registry)
    }

    pub fn record_run(&self, report: &RunReport) {
        self.runs.get_or_create(&OutcomeLabels { outcome: report.outcome.name() }).inc();
        let stages = match &report.outcome {
            RunOutcome::Converged { stages } => stages,
            RunOutcome::Repaired { changes, stages, .. } => {
                self.drift_found.inc_by(*changes as u64);
                self.drift_repaired.inc_by(*changes as u64);
                stages
            }
            RunOutcome::LockBusy { .. } | RunOutcome::Failed(_) => return,
        };
        for (stage, took) in [("observe", stages.observe), ("plan", stages.plan), ("apply", stages.apply)] {
            self.stage_duration.get_or_create(&StageLabels { stage }).observe(took.as_secs_f64());
        }
    }

    /// A real server's verdict; `service` and `real_server` as `ipvsadm` writes them.
    pub fn set_health(&self, service: &str, real_server: &str, healthy: bool) {
        let labels = RealServerLabels { service: service.to_string(), real_server: real_server.to_string() };
        self.healthy.get_or_create(&labels).set(i64::from(healthy));
    }

    /// Forgets a real server no longer checked (the spec dropped it).
    pub fn forget_health(&self, service: &str, real_server: &str) {
        let labels = RealServerLabels { service: service.to_string(), real_server: real_server.to_string() };
        self.healthy.remove(&labels);
    }

    pub fn observe_check(&self, took: Duration) {
        self.check_duration.observe(took.as_secs_f64());
    }
}

/// The text exposition of `registry`.
pub fn exposition(registry: &Registry) -> String {
    let mut text = String::new();
    // Writing to a String cannot fail; an encoder error would be a bug in a metric.
    let _ = prometheus_client::encoding::text::encode(&mut text, registry);
    text
}

/// Serves GET /metrics on `listener` until the runtime stops; each connection on a task of
/// its own, so a slow scraper holds up no one.
pub async fn serve(listener: tokio::net::TcpListener, registry: Arc<Registry>) {
    loop {
        let stream = match listener.accept().await {
            Ok((stream, _)) => stream,
            // Out of file descriptors, a connection reset before accept: the next may work.
            Err(_) => {
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let registry = Arc::clone(&registry);
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |request| {
                let response = respond(&request, &registry);
                async move { Ok::<_, Infallible>(response) }
            });
            let connection = hyper_util::rt::TokioIo::new(stream);
            // A scraper that hangs up mid-answer is its own business.
            let _ = hyper::server::conn::http1::Builder::new().serve_connection(connection, service).await;
        });
    }
}

fn respond(request: &Request<Incoming>, registry: &Registry) -> Response<Full<Bytes>> {
    let answer = |status, content_type, body: String| {
        let mut response = Response::new(Full::new(Bytes::from(body)));
        *response.status_mut() = status;
        if let Ok(value) = hyper::header::HeaderValue::from_str(content_type) {
            response.headers_mut().insert(hyper::header::CONTENT_TYPE, value);
        }
        response
    };
    match (request.method(), request.uri().path()) {
        (&hyper::Method::GET, "/metrics") => {
            answer(StatusCode::OK, "application/openmetrics-text; version=1.0.0; charset=utf-8", exposition(registry))
        }
        (&hyper::Method::GET, _) => answer(StatusCode::NOT_FOUND, "text/plain", "see /metrics\n".into()),
        _ => answer(StatusCode::METHOD_NOT_ALLOWED, "text/plain", "GET /metrics\n".into()),
    }
}

#[cfg(test)]
mod tests {
    use std::io::{Read, Write};

    use super::*;
    use crate::converge::StageDurations;

    fn run(outcome: RunOutcome) -> RunReport {
        RunReport { trigger: super::super::Trigger::Interval, outcome, took: Duration::from_millis(3) }
    }

    #[test]
    fn runs_drift_and_health_show_in_the_exposition() {
        let (metrics, registry) = Metrics::new();
        let stages = StageDurations { observe: Duration::from_millis(2), ..StageDurations::default() };
        metrics.record_run(&run(RunOutcome::Repaired { changes: 2, netlink_writes: 2, stages }));
        metrics.record_run(&run(RunOutcome::Converged { stages }));
        metrics.record_run(&run(RunOutcome::LockBusy { holder: "42".into() }));
        metrics.set_health("TCP 203.0.113.100:80", "198.51.100.21:80", false);
        metrics.observe_check(Duration::from_millis(4));
        let text = exposition(&registry);
        for line in [
            "lvs_converge_converge_runs_total{outcome=\"repaired\"} 1",
            "lvs_converge_converge_runs_total{outcome=\"converged\"} 1",
            "lvs_converge_converge_runs_total{outcome=\"lock_busy\"} 1",
            "lvs_converge_drift_repaired_total 2",
            "lvs_converge_drift_found_total 2",
            "lvs_converge_real_server_healthy{service=\"TCP 203.0.113.100:80\",real_server=\"198.51.100.21:80\"} 0",
            "lvs_converge_check_duration_seconds_count 1",
            "lvs_converge_stage_duration_seconds_count{stage=\"observe\"} 2",
        ] {
            assert!(text.lines().any(|l| l == line), "no `{line}` in:\n{text}");
        }
        metrics.forget_health("TCP 203.0.113.100:80", "198.51.100.21:80");
        assert!(!exposition(&registry).contains("198.51.100.21"), "a real server the spec dropped is forgotten");
    }

    #[test]
    fn a_scrape_of_get_metrics_answers_the_exposition() {
        let (metrics, registry) = Metrics::new();
        metrics.record_run(&run(RunOutcome::Converged { stages: StageDurations::default() }));
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let listener = runtime.block_on(tokio::net::TcpListener::bind("127.0.0.1:0")).unwrap();
        let address = listener.local_addr().unwrap();
        let _server = runtime.spawn(serve(listener, Arc::new(registry)));
        let scrape = |request: &'static str| {
            let client = std::thread::spawn(move || {
                let mut stream = std::net::TcpStream::connect(address).unwrap();
                stream.write_all(request.as_bytes()).unwrap();
                let mut answer = String::new();
                stream.read_to_string(&mut answer).unwrap();
                answer
            });
            runtime.block_on(async {
                while !client.is_finished() {
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
            });
            client.join().unwrap()
        };
        let answer = scrape("GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
        assert!(answer.starts_with("HTTP/1.1 200 OK"), "{answer}");
        assert!(answer.contains("lvs_converge_converge_runs_total{outcome=\"converged\"} 1"), "{answer}");
        assert!(answer.contains("\n# EOF"), "{answer}");
        let answer = scrape("GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
        assert!(answer.starts_with("HTTP/1.1 404"), "{answer}");
    }
}
