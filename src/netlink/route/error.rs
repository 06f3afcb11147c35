//! What went wrong talking to the kernel, and what to do about it: the error type, the
//! hints per request and errno, and the kernel's own words from an extended ack.

use std::io;

use crate::model::addresses::Address;
use crate::model::links::{Link, LinkKind, FALLBACK_TUNNELS};
use crate::model::routes::Route;

use super::errno::{self, describe_errno};

#[derive(Debug, thiserror::Error)]
pub enum RouteNetlinkError {
    /// The tokio runtime that drives rtnetlink could not be built.
    #[error("cannot start the netlink I/O runtime: {source}")]
    Runtime {
        #[source]
        source: io::Error,
    },

    /// socket(2)/bind(2) of the NETLINK_ROUTE socket failed.
    #[error("cannot open a route netlink socket: {source} (is netlink allowed for this process?)")]
    Socket {
        #[source]
        source: io::Error,
    },

    /// The kernel refused one request. `errno` is positive; `kernel` is the kernel's own
    /// explanation (extended ack) when it sent one; `hint` says what to do.
    #[error("{action}: {}{}{}", describe_errno(*.errno), kernel_text(.kernel), hint_text(.hint))]
    Rejected { action: String, errno: i32, kernel: Option<String>, hint: Option<String> },

    /// An interface named in the request does not exist.
    #[error("{action}: there is no interface named {interface} in this network namespace (ENODEV) — does interface {interface} exist? Create it first or fix the name in the spec")]
    NoSuchInterface { action: String, interface: String },

    /// A request the kernel cannot be given, caught before anything was sent.
    #[error("{action}: {detail}")]
    InvalidRequest { action: String, detail: String },

    /// The connection to the kernel failed (the socket closed, a send failed).
    #[error("{action}: netlink request failed: {detail}")]
    Transport { action: String, detail: String },

    /// The kernel's answer is not what rtnetlink expects.
    #[error("{action}: unexpected reply from the kernel: {detail}")]
    Protocol { action: String, detail: String },

    /// No answer in time. For a change, whether the kernel made it is unknown.
    #[error("{action}: no answer from the kernel within {seconds} s; whether it took effect is unknown — run `lvs-converge plan` to see the host as it is now")]
    NoAnswer { action: String, seconds: u64 },

    /// A change of several requests failed after some took effect, and putting the
    /// interface back as it was failed too: the interface is left changed.
    #[error("{cause}\n  putting {interface} back as it was failed too: {restore}\n  {interface} is left changed; run `lvs-converge plan` to see it as it is now")]
    NotRestored { interface: String, cause: Box<RouteNetlinkError>, restore: Box<RouteNetlinkError> },

    /// Every read of a table was interrupted by changes to it (NLM_F_DUMP_INTR).
    #[error("{action}: the kernel's table kept changing while it was read ({attempts} attempts, each marked inconsistent) — something is changing it right now; try again when it has settled")]
    Inconsistent { action: String, attempts: usize },
}

impl RouteNetlinkError {
    pub(super) fn not_restored(interface: &str, cause: RouteNetlinkError, restore: RouteNetlinkError) -> Self {
        RouteNetlinkError::NotRestored {
            interface: interface.to_string(),
            cause: Box::new(cause),
            restore: Box::new(restore),
        }
    }

    /// True when the request may have changed the host although it failed: it was not
    /// answered, the connection broke or the answer made no sense (the kernel may have
    /// acted on the request all the same), or it was several requests of which some took
    /// effect and stay.
    pub fn may_have_changed_the_host(&self) -> bool {
        matches!(
            self,
            RouteNetlinkError::NotRestored { .. }
                | RouteNetlinkError::NoAnswer { .. }
                | RouteNetlinkError::Transport { .. }
                | RouteNetlinkError::Protocol { .. }
        )
    }

    /// The kernel's errno, for errors that carry one.
    pub fn errno(&self) -> Option<i32> {
        match self {
            RouteNetlinkError::Rejected { errno, .. } => Some(*errno),
            RouteNetlinkError::NoSuchInterface { .. } => Some(errno::ENODEV),
            RouteNetlinkError::Socket { source } | RouteNetlinkError::Runtime { source } => source.raw_os_error(),
            RouteNetlinkError::NotRestored { cause, .. } => cause.errno(),
            _ => None,
        }
    }
}

fn kernel_text(kernel: &Option<String>) -> String {
    match kernel {
        Some(text) => format!(" (kernel: {text})"),
        None => String::new(),
    }
}

fn hint_text(hint: &Option<String>) -> String {
    match hint {
        Some(text) => format!(" — {text}"),
        None => String::new(),
    }
}

/// What a request was doing, for hints on failure.
#[derive(Clone, Copy)]
pub(super) enum Op<'a> {
    Read,
    CreateTunnel(&'a Link),
    ChangeTunnel(&'a str),
    SetMtu(&'a str),
    SetUp(&'a str),
    DeleteLink(&'a str),
    AddAddress(&'a Address),
    ChangeAddress(&'a Address),
    DeleteAddress(&'a Address),
    AddRoute(&'a Route),
    ReplaceRoute(&'a Route),
    DeleteRoute,
}

/// What to do about `code` in answer to `op`; None when the errno says it all.
pub(super) fn hint(op: Op<'_>, code: i32) -> Option<String> {
    use errno::*;
    if code == EPERM {
        return Some(
            "changing links, addresses and routes needs CAP_NET_ADMIN in this network namespace (run as root)".into(),
        );
    }
    let text = match (op, code) {
        (Op::CreateTunnel(link), EEXIST) => {
            let kind = link.kind.name();
            match any_any_fallback(&link.kind) {
                Some(fallback) => format!(
                    "with no local/remote this {kind} device would be the fallback {fallback}, which the {} module already creates; configure {fallback} instead or give the tunnel a local/remote address",
                    link.kind.module().unwrap_or(kind)
                ),
                None => format!(
                    "either an interface named {} already exists, or another {kind} tunnel already has the same local and remote addresses (the kernel allows one tunnel per endpoint pair; see `ip -d link show type {kind}`)",
                    link.name
                ),
            }
        }
        (Op::CreateTunnel(link), EOPNOTSUPP) | (Op::CreateTunnel(link), ENOENT) => {
            let module = link.kind.module().unwrap_or("its");
            format!(
                "the kernel has no {} support loaded and could not autoload it: run `modprobe {module}`",
                link.kind.name()
            )
        }
        (Op::CreateTunnel(_), EINVAL) => {
            "the kernel refused these tunnel parameters (is the MTU within 68–65515? is the name at most 15 characters?)".into()
        }
        (Op::ChangeTunnel(name), EINVAL) => format!(
            "the kernel cannot change {name} in place (the fallback devices such as tunl0 and gre0, and external/collect-metadata tunnels, cannot be changed); delete and recreate it"
        ),
        (Op::ChangeTunnel(_), EEXIST) => {
            "another tunnel of this kind already has these local and remote addresses (one tunnel per endpoint pair; see `ip -d link`)".into()
        }
        (Op::SetMtu(name), EINVAL) => format!(
            "the MTU is outside what {name} accepts; `ip -d link show {name}` shows its minmtu and maxmtu"
        ),
        (Op::SetUp(name), _) => format!(
            "the driver of {name} refused the change; `ip link set {name} up` and the kernel log (dmesg) may say why"
        ),
        (Op::DeleteLink(name), ENODEV) => format!("{name} is already gone"),
        (Op::DeleteLink(name), EOPNOTSUPP) => {
            format!("{name} is not a virtual device that can be deleted")
        }
        (Op::AddAddress(a), EEXIST) => format!(
            "{}/{} is already assigned to {}",
            a.address, a.prefix_length, a.interface
        ),
        (Op::AddAddress(a), EACCES) if a.address.is_ipv6() => format!(
            "IPv6 is disabled on {} (net.ipv6.conf.{}.disable_ipv6=1)",
            a.interface, a.interface
        ),
        (Op::AddAddress(_), EAFNOSUPPORT) => {
            "IPv6 is not available in this kernel (booted with ipv6.disable=1?)".into()
        }
        (Op::AddAddress(a), EINVAL) if a.label.is_some() => format!(
            "is the label valid? It must start with the interface name ({}), optionally followed by ':' and a suffix, at most 15 characters",
            a.interface
        ),
        (Op::DeleteAddress(a), EADDRNOTAVAIL) => format!(
            "{}/{} is not (or no longer) assigned to {}",
            a.address, a.prefix_length, a.interface
        ),
        (Op::AddRoute(_), EEXIST) => {
            "a route with the same table, type, destination and metric already exists (`ip route show table all`)".into()
        }
        (Op::AddRoute(r) | Op::ReplaceRoute(r), ENETUNREACH) => match r.gateway {
            Some(gateway) => format!(
                "gateway {gateway} is not on a directly connected network: add an address in its subnet first"
            ),
            None => "the destination is not reachable through the given device".into(),
        },
        (Op::AddRoute(r) | Op::ReplaceRoute(r), ENETDOWN) => match &r.device {
            Some(device) => format!("bring {device} up first"),
            None => "the route's device is down".into(),
        },
        (Op::AddRoute(r) | Op::ReplaceRoute(r), EINVAL) if r.source.is_some() => {
            "is the preferred source address configured on this host? The kernel only accepts a local address as `src`".into()
        }
        (Op::AddRoute(_) | Op::ReplaceRoute(_), EAFNOSUPPORT) => {
            "IPv6 is not available in this kernel (booted with ipv6.disable=1?)".into()
        }
        (Op::ReplaceRoute(_), ENOENT) | (Op::DeleteRoute, ESRCH) | (Op::DeleteRoute, ENOENT) => {
            "no such route: something else changed it meanwhile; run plan again".into()
        }
        (Op::AddAddress(a) | Op::ChangeAddress(a) | Op::DeleteAddress(a), ENODEV) => format!("does interface {} exist?", a.interface),
        (Op::AddRoute(r) | Op::ReplaceRoute(r), ENODEV) if r.device.is_some() => {
            format!("does interface {} exist?", r.device.as_deref().unwrap_or_default())
        }
        (_, ENODEV) => "does the interface exist?".into(),
        (Op::Read, _) => return None,
        _ => return None,
    };
    Some(text)
}

/// The kernel's own error text from an extended ack (NLMSGERR_ATTR_MSG), if it sent one.
///
/// `payload` follows the error code: the echoed request (only its 16-byte header when the
/// socket has NETLINK_CAP_ACK, i.e. `capped`), then the extended-ack attributes.
pub(super) fn extack_message(payload: &[u8], capped: bool) -> Option<String> {
    const NLMSG_HDRLEN: usize = 16;
    const NLMSGERR_ATTR_MSG: u16 = 1;
    if payload.len() < NLMSG_HDRLEN {
        return None;
    }
    let echoed = if capped {
        NLMSG_HDRLEN
    } else {
        let len = u32::from_ne_bytes(payload[0..4].try_into().ok()?) as usize;
        (len + 3) & !3
    };
    let mut rest = payload.get(echoed..)?;
    while rest.len() >= 4 {
        let len = u16::from_ne_bytes([rest[0], rest[1]]) as usize;
        let kind = u16::from_ne_bytes([rest[2], rest[3]]) & 0x3fff;
        if len < 4 || len > rest.len() {
            return None;
        }
        if kind == NLMSGERR_ATTR_MSG {
            let text = &rest[4..len];
            let text = text.split(|b| *b == 0).next().unwrap_or_default();
            let text = String::from_utf8_lossy(text).trim().to_string();
            return (!text.is_empty()).then_some(text);
        }
        rest = rest.get((len + 3) & !3..).unwrap_or_default();
    }
    None
}

/// The fallback device a tunnel of this kind with no local and no remote would duplicate
/// (the kernel says EEXIST, as the fallback already has those endpoints).
fn any_any_fallback(kind: &LinkKind) -> Option<&'static str> {
    let any_any = match kind {
        LinkKind::Ipip { local, remote, .. }
        | LinkKind::Gre { local, remote, .. }
        | LinkKind::Sit { local, remote, .. } => local.is_none() && remote.is_none(),
        LinkKind::Ip6tnl { local, remote, .. } | LinkKind::Ip6gre { local, remote, .. } => {
            local.is_none() && remote.is_none()
        }
        LinkKind::Other { .. } => false,
    };
    let same_kind = |name: &&str| LinkKind::fallback(name).is_some_and(|fallback| fallback.name() == kind.name());
    FALLBACK_TUNNELS.into_iter().find(same_kind).filter(|_| any_any)
}
