//! The http probe: one `GET` over a connection the probe opened itself (marked and bound like
//! the tcp probe's), with hyper's HTTP/1 client; no pool, no keep-alive.

use std::error::Error;
use std::net::SocketAddr;
use std::ops::RangeInclusive;
use std::pin::pin;

use bytes::Bytes;
use futures_util::future::{select, Either};
use http_body_util::{BodyExt, Empty};
use hyper::body::Incoming;
use hyper::client::conn::http1;
use hyper::header::{CONNECTION, HOST, USER_AGENT};
use hyper_util::rt::TokioIo;

use super::{tcp, Outcome, ProbeTarget};

/// How much of a body is searched for the expected text: a health page, not a download.
pub(super) const BODY_LIMIT: usize = 64 * 1024;

/// The request an http probe makes and what it expects back.
pub(super) struct Request<'a> {
    pub(super) path: &'a str,
    pub(super) status: &'a RangeInclusive<u16>,
    pub(super) body: Option<&'a str>,
    pub(super) host: Option<&'a str>,
}

/// Healthy when the status is in range and, when asked, the body contains the text. The
/// caller bounds the whole exchange, connect included, with the probe's timeout.
pub(super) async fn probe(request: &Request<'_>, target: &ProbeTarget) -> Outcome {
    let stream = match tcp::connect(target).await {
        Ok(stream) => stream,
        Err(outcome) => return outcome,
    };
    let host = request.host.map_or_else(|| host_of(target.connect), str::to_string);
    let get = match hyper::Request::get(request.path)
        .header(HOST, host)
        .header(CONNECTION, "close")
        .header(USER_AGENT, concat!("lvs-converge/", env!("CARGO_PKG_VERSION")))
        .body(Empty::<Bytes>::new())
    {
        Ok(get) => get,
        Err(error) => return failed(&error),
    };
    let (sender, connection) = match http1::handshake(TokioIo::new(stream)).await {
        Ok(handshake) => handshake,
        Err(error) => return failed(&error),
    };
    // The connection future moves the bytes; the exchange waits on it. Whichever ends first,
    // the other is still needed: the exchange reads what the connection left in its buffer.
    let exchange = pin!(exchange(sender, get, request));
    match select(exchange, connection).await {
        // Dropping the connection closes the socket, read to the end or not.
        Either::Left((outcome, _connection)) => outcome,
        Either::Right((_closed, exchange)) => exchange.await,
    }
}

async fn exchange(
    mut sender: http1::SendRequest<Empty<Bytes>>,
    get: hyper::Request<Empty<Bytes>>,
    request: &Request<'_>,
) -> Outcome {
    let response = match sender.send_request(get).await {
        Ok(response) => response,
        Err(error) => return failed(&error),
    };
    let status = response.status().as_u16();
    if !request.status.contains(&status) {
        return Outcome::HttpStatus(status);
    }
    match request.body {
        None => Outcome::Passed,
        Some(expected) => match body_contains(response.into_body(), expected.as_bytes()).await {
            Ok(true) => Outcome::Passed,
            Ok(false) => Outcome::BodyMismatch,
            Err(error) => failed(&error),
        },
    }
}

/// Whether the first [`BODY_LIMIT`] bytes of `body` contain `expected`; reading stops as soon
/// as they do.
async fn body_contains(mut body: Incoming, expected: &[u8]) -> Result<bool, hyper::Error> {
    let mut seen: Vec<u8> = Vec::new();
    while seen.len() < BODY_LIMIT {
        let Some(frame) = body.frame().await else { break };
        let Ok(data) = frame?.into_data() else { continue };
        // Only where the new bytes could complete a match is searched again.
        let search_from = seen.len().saturating_sub(expected.len().saturating_sub(1));
        let room = BODY_LIMIT - seen.len();
        seen.extend_from_slice(&data[..data.len().min(room)]);
        if contains(&seen[search_from..], expected) {
            return Ok(true);
        }
    }
    Ok(false)
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    needle.is_empty() || haystack.windows(needle.len()).any(|window| window == needle)
}

/// The Host header for a request to `address`: its IP, and its port unless it is HTTP's own.
fn host_of(address: SocketAddr) -> String {
    match address.port() {
        80 => match address {
            SocketAddr::V4(v4) => v4.ip().to_string(),
            SocketAddr::V6(v6) => format!("[{}]", v6.ip()),
        },
        _ => address.to_string(),
    }
}

/// The HTTP client's words for what went wrong, with their causes ("connection error: …").
fn failed(error: &dyn Error) -> Outcome {
    let mut text = error.to_string();
    let mut cause = error.source();
    while let Some(inner) = cause {
        text.push_str(": ");
        text.push_str(&inner.to_string());
        cause = inner.source();
    }
    Outcome::Failed(text)
}
