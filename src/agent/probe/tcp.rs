//! The tcp probe, and the connected socket the http probe speaks over.

use std::io;
use std::net::SocketAddr;

use socket2::SockRef;
use tokio::net::{TcpSocket, TcpStream};

use super::{Outcome, ProbeTarget};

/// Healthy once the connection is established; it is closed straight away.
pub(super) async fn probe(target: &ProbeTarget) -> Outcome {
    match connect(target).await {
        Ok(_closed_on_drop) => Outcome::Passed,
        Err(outcome) => outcome,
    }
}

/// A TCP connection to `target.connect`, from a socket marked and bound as the target says,
/// before the SYN leaves: the mark is what routes it through IPVS to one real server. The
/// caller bounds it with the probe's timeout.
pub(super) async fn connect(target: &ProbeTarget) -> Result<TcpStream, Outcome> {
    let socket = match target.connect {
        SocketAddr::V4(_) => TcpSocket::new_v4(),
        SocketAddr::V6(_) => TcpSocket::new_v6(),
    }
    .map_err(failed)?;
    if let Some(mark) = target.mark {
        SockRef::from(&socket).set_mark(mark).map_err(failed)?;
    }
    if let Some(address) = target.bind {
        socket.bind(SocketAddr::new(address, 0)).map_err(failed)?;
    }
    socket.connect(target.connect).await.map_err(|error| match error.kind() {
        io::ErrorKind::ConnectionRefused => Outcome::Refused,
        io::ErrorKind::TimedOut => Outcome::TimedOut,
        _ => failed(error),
    })
}

pub(super) fn failed(error: io::Error) -> Outcome {
    Outcome::Failed(error.to_string())
}
