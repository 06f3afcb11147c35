//! `agent`: converge continuously (and, with health checks, keep real servers' weights
//! following their health) until SIGTERM; the loop itself is [`crate::agent::run`].

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use super::{enter_netns, say, CliError, Context, FormatArg, SpecArg, EXIT_ERROR, EXIT_OK};
use crate::agent::metrics::{self, Metrics};
use crate::agent::notify::Notifier;
use crate::agent::run::{self, AgentOptions, LiveAgentHost, Told};
use crate::agent::signals;
use crate::render::{self, Format};

#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:\n  \
    lvs-converge agent -f director.yaml\n  \
    lvs-converge agent -f cluster.yaml --node lb1 --interval 10s --metrics 127.0.0.1:9469 --log-format json\n  \
    lvs-converge agent -f director.yaml --once     # one run, then exit (0 converged or repaired, 1 failed)\n\n\
    Signals: SIGHUP reads the spec again (an invalid one is logged and the old one kept); SIGTERM or SIGINT \
    stop after the current step and leave the IPVS table as it is.\n\
    Under systemd: examples/systemd/lvs-converge-agent.service (Type=notify, watchdog).")]
pub struct AgentArgs {
    #[command(flatten)]
    spec: SpecArg,
    /// Time between two converge runs (each moved by up to ±10% so that directors started
    /// together do not run in step): 30s, 2m, 1h30m.
    #[arg(long, value_name = "DURATION", default_value = "30s", value_parser = parse_interval)]
    interval: Duration,
    /// Serve Prometheus metrics at http://ADDR/metrics (e.g. 127.0.0.1:9469; port 0 picks one).
    #[arg(long, value_name = "ADDR")]
    metrics: Option<SocketAddr>,
    /// One log line per event on stderr: text for people and journald, json for log
    /// shippers (one object per line).
    #[arg(long, value_enum, default_value_t = FormatArg::Text)]
    log_format: FormatArg,
    /// One converge run, then exit: 0 when it converged or repaired the host, 1 when it failed
    /// or another apply held the lock.
    #[arg(long)]
    once: bool,
}

fn parse_interval(text: &str) -> Result<Duration, String> {
    match crate::model::duration::Seconds::parse(text)? {
        crate::model::duration::Seconds(0) => Err("the interval must be at least 1s".into()),
        crate::model::duration::Seconds(seconds) => Ok(Duration::from_secs(seconds.into())),
    }
}

pub(super) fn run(args: &AgentArgs, context: &Context) -> Result<u8, CliError> {
    enter_netns(context.netns)?;
    // Current-thread: the loop is a few timers and sockets; runs and spec loads go to
    // blocking threads, which inherit the network namespace entered above.
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().map_err(CliError::AgentRuntime)?;
    let host = Arc::new(LiveAgentHost { node: args.spec.node.clone(), root: context.root.map(Into::into) });
    let options = AgentOptions {
        spec: args.spec.path.clone(),
        interval: args.interval,
        once: args.once,
        records_dir: crate::rundir::RUN_DIR.into(),
    };
    let format: Format = args.log_format.into();
    let notifier = Notifier::from_env();
    let ended = runtime.block_on(async {
        let commands = signals::listen().map_err(CliError::AgentRuntime)?;
        let metrics = match args.metrics {
            Some(address) => Some(serve_metrics(address).await?),
            None => None,
        };
        let mut log = |event: &crate::agent::AgentEvent| {
            say(&render::agent::log_line(event, format, crate::rundir::unix_now()));
        };
        let mut told =
            Told { log: &mut log, status_of: render::agent::status, notifier: &notifier, metrics: metrics.as_ref() };
        Ok::<_, CliError>(run::run(host, &options, commands, &mut told).await?)
    })?;
    Ok(if args.once && ended.last_run_failed { EXIT_ERROR } else { EXIT_OK })
}

/// Binds `address` (a bad one is an error at start, not a silent lack of metrics) and serves
/// the metrics there on the agent's runtime.
async fn serve_metrics(address: SocketAddr) -> Result<Metrics, CliError> {
    let listener =
        tokio::net::TcpListener::bind(address).await.map_err(|source| CliError::MetricsListen { address, source })?;
    let (metrics, registry) = Metrics::new();
    tokio::spawn(metrics::serve(listener, Arc::new(registry)));
    Ok(metrics)
}
