//! One health probe of one target: a tcp connect, an HTTP GET or a command, under a timeout.
//!
//! A probe is a plain future: no thread, no spawned task, no connection pool. The agent runs
//! every probe it schedules on its one current-thread runtime, so a hundred real servers
//! checked every two seconds cost a hundred short-lived sockets, not a hundred threads.
//!
//! Probes never fail: what went wrong is the [`Outcome`] of an unhealthy [`ProbeResult`].

mod exec;
mod http;
mod tcp;

use std::cmp::Ordering;
use std::future::Future;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, UdpSocket};
use std::ops::RangeInclusive;
use std::time::{Duration, Instant};

/// Where a probe goes and how its socket is set up.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ProbeTarget {
    /// The address the probe connects to: the VIP for a check through the tunnel, the real
    /// server's own address for a direct one. An exec probe passes it to its command only.
    pub connect: SocketAddr,
    /// The local address to bind before connecting (the director's own address toward the
    /// real server, see [`source_toward`]), so the real server's reply comes back to it.
    pub bind: Option<IpAddr>,
    /// SO_MARK for the socket: the firewall mark of the hidden IPVS service that tunnels to
    /// one real server. Setting it needs CAP_NET_ADMIN.
    pub mark: Option<u32>,
    /// The whole probe, connect to verdict, must finish within this.
    pub timeout: Duration,
}

/// What a probe does once it reaches its target.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ProbeKind {
    /// Healthy when a TCP connection is established; it is closed at once.
    Tcp,
    /// Healthy when `GET path` answers with a status in `status` and, when `body` is set, a body
    /// whose first 64 KiB contain it.
    Http {
        path: String,
        status: RangeInclusive<u16>,
        body: Option<String>,
        /// The Host header; default: the connect address.
        host: Option<String>,
    },
    /// Healthy when the command exits 0; with `dynamic_weight`, an exit of 2..=255 is healthy
    /// too, with weight exit-2 (keepalived's misc_dynamic).
    Exec {
        /// argv, no shell.
        command: Vec<String>,
        /// Added to the agent's environment.
        env: Vec<(String, String)>,
        dynamic_weight: bool,
    },
}

/// The order of [`ProbeKind`]: `RangeInclusive` has no `Ord`, so the kind is compared through
/// this view of it, its status range as (start, end).
#[derive(PartialEq, Eq, PartialOrd, Ord)]
enum KindOrder<'a> {
    Tcp,
    Http { path: &'a str, status: (u16, u16), body: Option<&'a str>, host: Option<&'a str> },
    Exec { command: &'a [String], env: &'a [(String, String)], dynamic_weight: bool },
}

impl ProbeKind {
    fn order(&self) -> KindOrder<'_> {
        match self {
            ProbeKind::Tcp => KindOrder::Tcp,
            ProbeKind::Http { path, status, body, host } => KindOrder::Http {
                path,
                status: (*status.start(), *status.end()),
                body: body.as_deref(),
                host: host.as_deref(),
            },
            ProbeKind::Exec { command, env, dynamic_weight } => {
                KindOrder::Exec { command, env, dynamic_weight: *dynamic_weight }
            }
        }
    }
}

impl Ord for ProbeKind {
    fn cmp(&self, other: &Self) -> Ordering {
        self.order().cmp(&other.order())
    }
}

impl PartialOrd for ProbeKind {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// Everything that makes two probes the same probe: what they do and where, with the same
/// socket setup and timeout. The agent schedules one probe per key, however many services
/// share a real server. How often it runs and its rise/fall counts are not part of it: they
/// are the scheduler's.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ProbeKey {
    pub kind: ProbeKind,
    pub target: ProbeTarget,
}

/// What one probe found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProbeResult {
    pub healthy: bool,
    /// The weight an exec probe with dynamic weight returned (exit code - 2); `None` keeps the
    /// spec's weight.
    pub weight: Option<u32>,
    /// From the start of the probe to its verdict (to the timeout when it timed out).
    pub latency: Duration,
    pub outcome: Outcome,
}

/// Why a probe is healthy or not: the records' own type, so a verdict reaches `status`
/// as the probe said it.
pub use crate::model::health::CheckOutcome as Outcome;

/// Runs one probe to its verdict, within `target.timeout`.
pub async fn probe(kind: &ProbeKind, target: &ProbeTarget) -> ProbeResult {
    let started = Instant::now();
    let verdict = match kind {
        ProbeKind::Tcp => within(target.timeout, tcp::probe(target)).await,
        ProbeKind::Http { path, status, body, host } => {
            let request = http::Request { path, status, body: body.as_deref(), host: host.as_deref() };
            within(target.timeout, http::probe(&request, target)).await
        }
        // The command is killed when it runs out of time, not just abandoned.
        ProbeKind::Exec { command, env, dynamic_weight } => {
            exec::probe(&exec::Command { argv: command, env, dynamic_weight: *dynamic_weight }, target.timeout).await
        }
    };
    ProbeResult {
        healthy: verdict.outcome == Outcome::Passed,
        weight: verdict.weight,
        latency: started.elapsed(),
        outcome: verdict.outcome,
    }
}

/// A probe's verdict before its latency is known.
#[derive(Debug)]
struct Verdict {
    outcome: Outcome,
    weight: Option<u32>,
}

impl From<Outcome> for Verdict {
    fn from(outcome: Outcome) -> Self {
        Verdict { outcome, weight: None }
    }
}

async fn within(timeout: Duration, probe: impl Future<Output = Outcome>) -> Verdict {
    tokio::time::timeout(timeout, probe).await.unwrap_or(Outcome::TimedOut).into()
}

/// The local address the kernel would send from toward `destination`: a UDP socket is
/// connected to it (a route lookup; no packet is sent) and asked its own address.
pub fn source_toward(destination: IpAddr) -> io::Result<IpAddr> {
    let any: IpAddr = match destination {
        IpAddr::V4(_) => Ipv4Addr::UNSPECIFIED.into(),
        IpAddr::V6(_) => Ipv6Addr::UNSPECIFIED.into(),
    };
    let socket = UdpSocket::bind(SocketAddr::new(any, 0))?;
    // Any port but 0 will do: connect() on UDP only picks a route and a source address.
    socket.connect(SocketAddr::new(destination, 9))?;
    Ok(socket.local_addr()?.ip())
}

#[cfg(test)]
mod tests;
