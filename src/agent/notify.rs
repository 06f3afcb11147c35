//! systemd's notify protocol (sd_notify(3)), the few lines of it the agent needs: datagrams
//! of `KEY=value` lines to the socket in $NOTIFY_SOCKET. Without that variable (not started
//! by systemd, or `Type=simple`) every message goes nowhere, quietly.

use std::os::linux::net::SocketAddrExt;
use std::os::unix::net::{SocketAddr, UnixDatagram};
use std::time::Duration;

/// Where systemd listens, and how often it wants to hear that the agent lives.
#[derive(Debug, Default)]
pub struct Notifier {
    socket: Option<(UnixDatagram, SocketAddr)>,
    watchdog: Option<Duration>,
}

impl Notifier {
    /// From $NOTIFY_SOCKET and $WATCHDOG_USEC (with $WATCHDOG_PID, when set, naming this
    /// process), as systemd sets them.
    pub fn from_env() -> Notifier {
        let var = |name| std::env::var(name).ok().filter(|value: &String| !value.is_empty());
        let for_us = var("WATCHDOG_PID").is_none_or(|pid| pid == std::process::id().to_string());
        let watchdog = var("WATCHDOG_USEC").and_then(|usec| usec.parse().ok()).filter(|_| for_us);
        Notifier::new(var("NOTIFY_SOCKET").as_deref(), watchdog)
    }

    /// `socket`: a path, or `@name` for an abstract socket; `watchdog_usec`: systemd's
    /// WatchdogSec in microseconds.
    pub fn new(socket: Option<&str>, watchdog_usec: Option<u64>) -> Notifier {
        let address = socket.and_then(|socket| match socket.strip_prefix('@') {
            Some(name) => SocketAddr::from_abstract_name(name.as_bytes()).ok(),
            None => SocketAddr::from_pathname(socket).ok(),
        });
        let socket = address.and_then(|address| UnixDatagram::unbound().ok().map(|socket| (socket, address)));
        let watchdog = watchdog_usec.filter(|usec| *usec > 0).map(Duration::from_micros);
        Notifier { socket, watchdog }
    }

    /// How often to send WATCHDOG=1: half of systemd's WatchdogSec, so one late tick is no
    /// restart. None: no watchdog asked for.
    pub fn watchdog_every(&self) -> Option<Duration> {
        self.watchdog.map(|limit| limit / 2)
    }

    /// READY=1 with a status line: the first converge ran.
    pub fn ready(&self, status: &str) {
        self.send(&format!("READY=1\nSTATUS={}", one_line(status)));
    }

    pub fn watchdog(&self) {
        self.send("WATCHDOG=1");
    }

    pub fn status(&self, status: &str) {
        self.send(&format!("STATUS={}", one_line(status)));
    }

    pub fn stopping(&self) {
        self.send("STOPPING=1");
    }

    fn send(&self, message: &str) {
        if let Some((socket, address)) = &self.socket {
            // systemd may be gone or busy; the agent's work does not depend on it hearing.
            let _ = socket.send_to_addr(message.as_bytes(), address);
        }
    }
}

/// A STATUS= value is one line: a newline would start another KEY=value.
fn one_line(text: &str) -> String {
    text.replace('\n', " ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn received(socket: &UnixDatagram) -> Vec<String> {
        socket.set_nonblocking(true).unwrap();
        let mut buffer = [0u8; 512];
        std::iter::from_fn(|| socket.recv(&mut buffer).ok().map(|n| String::from_utf8_lossy(&buffer[..n]).into_owned()))
            .collect()
    }

    #[test]
    fn ready_watchdog_and_status_reach_the_notify_socket() {
        let dir = crate::test_support::scratch_dir("notify", "socket");
        let path = dir.join("notify");
        let systemd = UnixDatagram::bind(&path).unwrap();
        let notifier = Notifier::new(path.to_str(), Some(10_000_000));
        notifier.ready("converged: 3 services\nand more");
        notifier.watchdog();
        notifier.status("repaired 2 changes");
        assert_eq!(
            received(&systemd),
            ["READY=1\nSTATUS=converged: 3 services and more", "WATCHDOG=1", "STATUS=repaired 2 changes"]
        );
        assert_eq!(notifier.watchdog_every(), Some(Duration::from_secs(5)), "half of WatchdogSec");
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn an_abstract_socket_is_reached_by_its_at_name() {
        let name = format!("lvs-converge-test-{}", std::process::id());
        let systemd = UnixDatagram::bind_addr(&SocketAddr::from_abstract_name(name.as_bytes()).unwrap()).unwrap();
        Notifier::new(Some(&format!("@{name}")), None).watchdog();
        assert_eq!(received(&systemd), ["WATCHDOG=1"]);
    }

    #[test]
    fn without_a_socket_nothing_is_sent_and_nothing_fails() {
        let notifier = Notifier::new(None, None);
        notifier.ready("x");
        assert_eq!(notifier.watchdog_every(), None);
        assert_eq!(Notifier::new(None, Some(0)).watchdog_every(), None, "WATCHDOG_USEC=0 asks for none");
    }
}
