//! Foo-over-UDP receive ports over generic netlink (family "fou", what `ip fou` speaks):
//! list the ports of the current network namespace, open one, close one.
//!
//! ```text
//! let mut fou = FouClient::connect()?;   // socket + "fou" family id, this netns
//! let ports = fou.dump()?;
//! fou.add(&port)?; fou.delete(&port)?;
//! ```
//!
//! Looking the family up makes the kernel load `fou` when it can: readers only connect
//! when the module is already there.

mod codec;

#[cfg(test)]
mod tests;

use std::io;

use crate::model::fou::{BoundFouPort, FouPort};
use crate::netlink::errno::{self, describe_errno};
use crate::netlink::genl::{DecodeError, Fault, GenlSocket};

#[derive(Debug, thiserror::Error)]
pub enum FouNetlinkError {
    #[error("cannot open a generic netlink socket: {source} (is netlink allowed for this process?)")]
    Socket {
        #[source]
        source: io::Error,
    },
    /// The controller does not know the family, even after the kernel's autoload attempt.
    #[error("foo-over-UDP is not available in this kernel: load fou (modprobe fou)")]
    Unavailable,
    /// The kernel refused one request; `reason` explains `errno` for this request, `kernel`
    /// is the kernel's own explanation (extended ack) when it sent one.
    #[error("{action}: {reason}{}", kernel.as_ref().map(|m| format!(" (kernel: {m})")).unwrap_or_default())]
    Rejected { action: String, errno: i32, reason: String, kernel: Option<String> },
    /// The request never reached the kernel.
    #[error("{action}: cannot send the request: {source}")]
    Unsent {
        action: String,
        #[source]
        source: io::Error,
    },
    /// Reading the answer failed after the request was sent: for a change, whether the
    /// kernel made it is unknown.
    #[error("{action}: netlink I/O error: {source}")]
    Io {
        action: String,
        #[source]
        source: io::Error,
    },
    #[error("{action}: unexpected reply from the kernel: {detail}")]
    Protocol { action: String, detail: String },
    /// A port the model cannot express (an unknown family or encapsulation,
    /// remcsum_nopartial): acting on a partial reading could remove it, so the whole read
    /// fails.
    #[error("{action}: {detail}; lvs-converge cannot represent this, remove it with `ip fou del` first")]
    Unrepresentable { action: String, detail: String },
}

impl FouNetlinkError {
    pub fn errno(&self) -> Option<i32> {
        match self {
            FouNetlinkError::Rejected { errno, .. } => Some(*errno),
            FouNetlinkError::Socket { source }
            | FouNetlinkError::Unsent { source, .. }
            | FouNetlinkError::Io { source, .. } => source.raw_os_error(),
            _ => None,
        }
    }

    /// True when a failed change may have been made all the same: it was sent, and the
    /// answer was lost or made no sense. A refusal with an errno, or a request never sent,
    /// changed nothing.
    pub fn may_have_changed_the_host(&self) -> bool {
        matches!(self, FouNetlinkError::Io { .. } | FouNetlinkError::Protocol { .. })
    }

    /// What was being done, for refusals.
    pub fn action(&self) -> Option<&str> {
        match self {
            FouNetlinkError::Rejected { action, .. } => Some(action),
            _ => None,
        }
    }

    pub fn kernel_message(&self) -> Option<&str> {
        match self {
            FouNetlinkError::Rejected { kernel, .. } => kernel.as_deref(),
            _ => None,
        }
    }
}

/// Puts a failed exchange into words; `reason` explains a refusal's errno.
fn fault_error(fault: Fault, action: String, reason: impl Fn(i32) -> String) -> FouNetlinkError {
    match fault {
        Fault::Errno { errno, message } => {
            FouNetlinkError::Rejected { reason: reason(errno), action, errno, kernel: message }
        }
        Fault::Unsent(source) => FouNetlinkError::Unsent { action, source },
        Fault::Io(source) => FouNetlinkError::Io { action, source },
        Fault::Protocol(detail) | Fault::Decode(DecodeError::Malformed(detail)) => {
            FouNetlinkError::Protocol { action, detail }
        }
        Fault::Decode(DecodeError::Unrepresentable(detail)) => FouNetlinkError::Unrepresentable { action, detail },
    }
}

fn refused(errno: i32) -> String {
    match errno {
        errno::EPERM => "permission denied: foo-over-UDP ports need CAP_NET_ADMIN (run as root)".into(),
        _ => format!("the kernel refused: {}", describe_errno(errno)),
    }
}

/// Why the kernel refused to open `port`, and what to do.
fn add_refused(port: &FouPort, errno: i32) -> String {
    match errno {
        errno::EADDRINUSE => format!(
            "UDP port {} is already bound by another socket (EADDRINUSE): free it (`ss -ulpn 'sport = :{}'`) or choose another port",
            port.port, port.port
        ),
        errno::EALREADY => format!("port {} is already open (EALREADY)", port.port),
        errno::EAFNOSUPPORT => "this kernel has no IPv6 (EAFNOSUPPORT)".into(),
        _ => refused(errno),
    }
}

/// A connection to the "fou" generic netlink family of one network namespace.
pub struct FouClient {
    socket: GenlSocket,
    family: u16,
    /// Change requests sent so far (see [`FouClient::writes`]).
    writes: usize,
}

impl FouClient {
    /// Opens a generic netlink socket in the *current* network namespace and resolves the
    /// "fou" family (which makes the kernel autoload `fou` when it can).
    pub fn connect() -> Result<Self, FouNetlinkError> {
        let mut socket = GenlSocket::open().map_err(|source| FouNetlinkError::Socket { source })?;
        let family = match socket.resolve_family(codec::FAMILY_NAME) {
            Ok(family) => family,
            Err(Fault::Errno { errno, .. }) if errno == errno::ENOENT => return Err(FouNetlinkError::Unavailable),
            Err(fault) => return Err(fault_error(fault, "looking up the fou generic netlink family".into(), refused)),
        };
        Ok(FouClient { socket, family, writes: 0 })
    }

    /// Every port of the namespace with what it is bound to, in the kernel's order.
    pub fn dump(&mut self) -> Result<Vec<BoundFouPort>, FouNetlinkError> {
        let family = self.family;
        let mut ports = Vec::new();
        self.socket
            .request(
                true,
                codec::CMD_GET,
                |w, seq| codec::get_ports(w, family, seq),
                |attrs| {
                    ports.push(codec::decode_port(attrs)?);
                    Ok(())
                },
            )
            .map_err(|fault| fault_error(fault, "reading the foo-over-UDP ports".into(), refused))?;
        Ok(ports)
    }

    /// Change requests this client has sent to the kernel (reads not counted): what
    /// `apply` reports as its netlink writes.
    pub fn writes(&self) -> usize {
        self.writes
    }

    pub fn add(&mut self, port: &FouPort) -> Result<(), FouNetlinkError> {
        let family = self.family;
        self.writes += 1;
        self.socket
            .request(false, codec::CMD_ADD, |w, seq| codec::add_port(w, family, seq, port), |_| Ok(()))
            .map_err(|fault| fault_error(fault, action("opening", port), |e| add_refused(port, e)))?;
        answer_lost_at("fou-answer", || action("opening", port))
    }

    pub fn delete(&mut self, port: &FouPort) -> Result<(), FouNetlinkError> {
        let family = self.family;
        self.writes += 1;
        self.socket
            .request(false, codec::CMD_DEL, |w, seq| codec::delete_port(w, family, seq, port), |_| Ok(()))
            .map_err(|fault| {
                fault_error(fault, action("closing", port), |errno| match errno {
                    // fou_destroy() answers EINVAL when no port matches.
                    errno::EINVAL => format!("port {} is not open (EINVAL)", port.port),
                    _ => refused(errno),
                })
            })?;
        answer_lost_at("fou-answer", || action("closing", port))
    }
}

/// Fault injection (`fail-at:fou-answer`): the kernel made the change, and its answer is
/// lost as a broken socket would lose it.
fn answer_lost_at(point: &str, action: impl FnOnce() -> String) -> Result<(), FouNetlinkError> {
    crate::fault::fail_at(point)
        .map_err(|detail| FouNetlinkError::Io { action: action(), source: io::Error::other(detail) })
}

/// `opening foo-over-UDP port 6080 (ipv4)`: what a request does, the start of its errors.
pub fn action(verb: &str, port: &FouPort) -> String {
    format!("{verb} foo-over-UDP port {} ({})", port.port, port.family.name())
}
