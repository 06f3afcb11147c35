//! Errors of the IPVS client: each says what was being done, what went wrong and, where
//! there is one, what to do about it.

use std::io;

pub use crate::netlink::errno::{self, describe_errno};

#[derive(Debug, thiserror::Error)]
pub enum NetlinkError {
    /// socket(2)/bind(2) of the generic netlink socket failed.
    #[error("cannot open a generic netlink socket: {source} (is netlink allowed for this process?)")]
    Socket {
        #[source]
        source: io::Error,
    },

    /// The generic netlink controller does not know the "IPVS" family, even after the
    /// kernel's module autoload attempt.
    #[error("IPVS is not available in this kernel: load ip_vs (modprobe ip_vs)")]
    IpvsUnavailable,

    /// The kernel answered EPERM: IPVS commands, reads included, need CAP_NET_ADMIN.
    #[error("{action}: permission denied: IPVS needs CAP_NET_ADMIN in this network namespace (run as root)")]
    PermissionDenied { action: String },

    /// The kernel refused one request. `errno` is the positive error number; `reason`
    /// explains it for this kind of request; `kernel` is the kernel's own explanation
    /// (extended ack) when it sent one, kept apart so that the report can show it as such.
    #[error("{action}: {reason}{}", kernel_says(.kernel))]
    Rejected { action: String, errno: i32, reason: String, kernel: Option<String> },

    /// A request the kernel cannot be given, caught before anything was sent.
    #[error("{action}: {detail}")]
    InvalidRequest { action: String, detail: String },

    /// The socket failed while talking to the kernel.
    #[error("{action}: netlink I/O error: {source}{note}")]
    Io {
        action: String,
        #[source]
        source: io::Error,
        note: String,
    },

    /// The kernel's answer does not follow the IPVS protocol as this client knows it.
    #[error("{action}: unexpected reply from the kernel: {detail}")]
    Protocol { action: String, detail: String },

    /// The kernel holds IPVS state that the model cannot express; acting on a partial
    /// reading could destroy it, so the whole read fails.
    #[error("{action}: {detail}; lvs-converge cannot represent this, change or remove it with ipvsadm first")]
    Unrepresentable { action: String, detail: String },
}

fn kernel_says(kernel: &Option<String>) -> String {
    match kernel {
        Some(message) => format!(" (kernel: {message})"),
        None => String::new(),
    }
}

impl NetlinkError {
    /// The kernel's errno, for errors that carry one.
    pub fn errno(&self) -> Option<i32> {
        match self {
            NetlinkError::Rejected { errno, .. } => Some(*errno),
            NetlinkError::PermissionDenied { .. } => Some(errno::EPERM),
            NetlinkError::Socket { source } | NetlinkError::Io { source, .. } => source.raw_os_error(),
            _ => None,
        }
    }

    /// The kernel's own explanation of a refusal (netlink extended ack), when it sent one.
    pub fn kernel_message(&self) -> Option<&str> {
        match self {
            NetlinkError::Rejected { kernel, .. } => kernel.as_deref(),
            _ => None,
        }
    }
}
