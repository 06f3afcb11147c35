//! Links, addresses and routes over rtnetlink (`NETLINK_ROUTE`), as plain synchronous calls.
//!
//! ```text
//! let mut net = RouteClient::connect()?;   // socket in the current network namespace
//! let links = net.links()?;                // every interface, ipip tunnels decoded
//! net.add_address(&vip)?;                  // like `ip addr add VIP/32 dev lo`
//! ```
//!
//! The `rtnetlink` crate is asynchronous. [`RouteClient`] owns a tokio current-thread
//! runtime (no threads are started: the process may have entered another namespace with
//! `setns`, which is per thread) and blocks on each request, so callers stay synchronous.
//!
//! Reading is lossless for what the model can express and drops what it deliberately does
//! not manage (see [`RouteClient::addresses`] and [`RouteClient::routes`]). Writing sends
//! exactly what `ip` would for the same command, with `proto static` on routes.
//!
//! Errors say what was being done, what the kernel answered (its errno and, where the kernel
//! gives one, its own explanation), and what to do about it.

use std::collections::BTreeMap;
use std::fmt;
use std::future::Future;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::Duration;

use futures_util::stream::{StreamExt, TryStreamExt};
use rtnetlink::packet_core::{
    ErrorMessage, NetlinkMessage, NetlinkPayload, NLM_F_DUMP, NLM_F_DUMP_INTR, NLM_F_REQUEST,
};
use rtnetlink::packet_route::address::{
    AddressAttribute, AddressFlags, AddressHeaderFlags, AddressMessage, AddressScope,
};
use rtnetlink::packet_route::link::{
    InfoData, InfoIpTunnel, InfoKind, LinkAttribute, LinkFlags, LinkInfo, LinkLayerType, LinkMessage,
};
use rtnetlink::packet_route::route::{
    RouteAddress, RouteAttribute, RouteFlags, RouteHeader, RouteMessage, RouteProtocol, RouteScope as RtScope,
    RouteType as RtType, RouteVia,
};
use rtnetlink::packet_route::{AddressFamily, RouteNetlinkMessage};
use rtnetlink::sys::AsyncSocket;
use rtnetlink::{Handle, LinkIpIp, LinkMessageBuilder, LinkUnspec};

use crate::model::addresses::Address;
use crate::model::links::{Link, LinkKind, FALLBACK_TUNNEL};
use crate::model::routes::{Route, RouteScope, RouteType, TABLE_LOCAL, TABLE_MAIN};

pub use super::errno::{self, describe_errno};

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

/// How long one request may wait for the kernel. Route requests are answered within
/// milliseconds; waiting forever on a lost answer would hold the apply lock forever.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// Reads of a table restarted when the kernel marks them inconsistent, before giving up.
const DUMP_ATTEMPTS: usize = 3;

/// Drives `request` on `runtime` for at most `limit`; `None` if it did not finish.
fn within<T>(runtime: &tokio::runtime::Runtime, limit: Duration, request: impl Future<Output = T>) -> Option<T> {
    // The timer is made inside block_on: it needs the runtime's context.
    runtime.block_on(async { tokio::time::timeout(limit, request).await }).ok()
}

/// Repeats `read` while the kernel reports that the table changed during it
/// (`Ok((_, true))`): an interrupted dump may miss or repeat entries, and a plan made from
/// it would add or delete the wrong things.
fn consistent_read<T>(
    attempts: usize,
    action: &str,
    mut read: impl FnMut() -> Result<(T, bool), RouteNetlinkError>,
) -> Result<T, RouteNetlinkError> {
    for _ in 0..attempts {
        let (value, interrupted) = read()?;
        if !interrupted {
            return Ok(value);
        }
    }
    Err(RouteNetlinkError::Inconsistent { action: action.to_string(), attempts })
}

impl RouteNetlinkError {
    fn not_restored(interface: &str, cause: RouteNetlinkError, restore: RouteNetlinkError) -> Self {
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
enum Op<'a> {
    Read,
    CreateIpip(&'a Link),
    ChangeTunnel(&'a str),
    SetMtu(&'a str),
    SetUp(&'a str),
    DeleteLink(&'a str),
    AddAddress(&'a Address),
    DeleteAddress(&'a Address),
    AddRoute(&'a Route),
    ReplaceRoute(&'a Route),
    DeleteRoute,
}

/// What to do about `code` in answer to `op`; None when the errno says it all.
fn hint(op: Op<'_>, code: i32) -> Option<String> {
    use errno::*;
    if code == EPERM {
        return Some(
            "changing links, addresses and routes needs CAP_NET_ADMIN in this network namespace (run as root)".into(),
        );
    }
    let text = match (op, code) {
        (Op::CreateIpip(link), EEXIST) => match &link.kind {
            LinkKind::Ipip { local: None, remote: None, .. } => format!(
                "an ipip device with no local/remote is the fallback {FALLBACK_TUNNEL}, which the ipip module already creates; configure {FALLBACK_TUNNEL} instead or give the tunnel a local/remote address"
            ),
            _ => format!(
                "either an interface named {} already exists, or another ipip tunnel already has the same local and remote addresses (the kernel allows one tunnel per endpoint pair; see `ip -d link show type ipip`)",
                link.name
            ),
        },
        (Op::CreateIpip(_), EOPNOTSUPP) | (Op::CreateIpip(_), ENOENT) => {
            "the kernel has no ipip support loaded and could not autoload it: run `modprobe ipip`".into()
        }
        (Op::CreateIpip(_), EINVAL) => {
            "the kernel refused these tunnel parameters (is the MTU within 68–65515? is the name at most 15 characters?)".into()
        }
        (Op::ChangeTunnel(name), EINVAL) => format!(
            "the kernel cannot change {name} in place (the fallback {FALLBACK_TUNNEL} and external/collect-metadata tunnels cannot be changed); delete and recreate it"
        ),
        (Op::ChangeTunnel(_), EEXIST) => {
            "another ipip tunnel already has these local and remote addresses (one tunnel per endpoint pair; see `ip -d link show type ipip`)".into()
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
        (Op::AddAddress(a) | Op::DeleteAddress(a), ENODEV) => format!("does interface {} exist?", a.interface),
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
fn extack_message(payload: &[u8], capped: bool) -> Option<String> {
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

/// A synchronous rtnetlink client bound to the network namespace it was opened in.
pub struct RouteClient {
    runtime: tokio::runtime::Runtime,
    handle: Handle,
    /// NETLINK_CAP_ACK is on: error replies echo only the request's header.
    capped_acks: bool,
}

impl RouteClient {
    /// Opens a NETLINK_ROUTE socket in the current network namespace.
    pub fn connect() -> Result<Self, RouteNetlinkError> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_io()
            .enable_time()
            .build()
            .map_err(|source| RouteNetlinkError::Runtime { source })?;
        let (mut connection, handle, _unsolicited) = {
            let _context = runtime.enter();
            rtnetlink::new_connection().map_err(|source| RouteNetlinkError::Socket { source })?
        };
        let socket = connection.socket_mut().socket_mut();
        // The kernel explains many refusals in words ("Invalid prefix for given prefix
        // length"); ask for that, and for short error replies. Old kernels lack both.
        let extended = socket.set_ext_ack(true).is_ok();
        let capped_acks = extended && socket.set_cap_ack(true).is_ok();
        // A dump's NLMSG_DONE can be the only message that carries NLM_F_DUMP_INTR.
        connection.set_forward_done(true);
        // Driven whenever block_on runs, i.e. during each request.
        runtime.spawn(connection);
        Ok(RouteClient { runtime, handle, capped_acks })
    }

    fn fail(&self, action: impl Into<String>, op: Op<'_>, error: rtnetlink::Error) -> RouteNetlinkError {
        let action = action.into();
        match error {
            rtnetlink::Error::NetlinkError(message) => self.rejected(action, op, &message),
            rtnetlink::Error::RequestFailed => {
                RouteNetlinkError::Transport { action, detail: "the netlink connection to the kernel is closed".into() }
            }
            rtnetlink::Error::UnexpectedMessage(message) => {
                RouteNetlinkError::Protocol { action, detail: format!("{:?}", message.payload) }
            }
            other => RouteNetlinkError::Protocol { action, detail: other.to_string() },
        }
    }

    fn rejected(&self, action: String, op: Op<'_>, message: &ErrorMessage) -> RouteNetlinkError {
        let code = message.raw_code().abs();
        RouteNetlinkError::Rejected {
            action,
            errno: code,
            kernel: extack_message(&message.header, self.capped_acks),
            hint: hint(op, code),
        }
    }

    /// Runs one request to its end, at most [`REQUEST_TIMEOUT`].
    fn wait<T>(
        &self,
        action: impl Into<String>,
        op: Op<'_>,
        request: impl Future<Output = Result<T, rtnetlink::Error>>,
    ) -> Result<T, RouteNetlinkError> {
        match within(&self.runtime, REQUEST_TIMEOUT, request) {
            Some(result) => result.map_err(|e| self.fail(action, op, e)),
            None => Err(RouteNetlinkError::NoAnswer { action: action.into(), seconds: REQUEST_TIMEOUT.as_secs() }),
        }
    }

    /// A whole dump, restarted while the kernel marks it inconsistent.
    fn dump(
        &mut self,
        request: RouteNetlinkMessage,
        action: &str,
    ) -> Result<Vec<RouteNetlinkMessage>, RouteNetlinkError> {
        consistent_read(DUMP_ATTEMPTS, action, || {
            let mut message = NetlinkMessage::from(request.clone());
            message.header.flags = NLM_F_REQUEST | NLM_F_DUMP;
            let replies = self.handle.request(message).map_err(|e| self.fail(action, Op::Read, e))?;
            let replies = self.wait(action, Op::Read, async { Ok(replies.collect::<Vec<_>>().await) })?;
            let interrupted = replies.iter().any(|reply| reply.header.flags & NLM_F_DUMP_INTR != 0);
            let mut messages = Vec::with_capacity(replies.len());
            for reply in replies {
                match reply.payload {
                    NetlinkPayload::InnerMessage(message) => messages.push(message),
                    NetlinkPayload::Error(error) => {
                        return Err(self.fail(action, Op::Read, rtnetlink::Error::NetlinkError(error)))
                    }
                    _ => {} // NLMSG_DONE, NOOP
                }
            }
            Ok((messages, interrupted))
        })
    }

    // ------------------------------------------------------------------ reading

    fn link_messages(&mut self) -> Result<Vec<LinkMessage>, RouteNetlinkError> {
        let messages = self.dump(RouteNetlinkMessage::GetLink(LinkMessage::default()), "reading the interfaces")?;
        Ok(messages
            .into_iter()
            .filter_map(|m| if let RouteNetlinkMessage::NewLink(link) = m { Some(link) } else { None })
            .collect())
    }

    /// Interface index → name.
    fn interface_names(&mut self) -> Result<BTreeMap<u32, String>, RouteNetlinkError> {
        Ok(self
            .link_messages()?
            .iter()
            .filter_map(|m| link_name(m).map(|name| (m.header.index, name.to_string())))
            .collect())
    }

    /// Every interface of the namespace, sorted by name.
    pub fn links(&mut self) -> Result<Vec<Link>, RouteNetlinkError> {
        let mut links: Vec<Link> = self.link_messages()?.iter().filter_map(link_from_message).collect();
        links.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(links)
    }

    /// Every IPv4 and IPv6 address, except IPv6 link-local ones (fe80::/10), which the
    /// kernel manages by itself.
    pub fn addresses(&mut self) -> Result<Vec<Address>, RouteNetlinkError> {
        let names = self.interface_names()?;
        let messages =
            self.dump(RouteNetlinkMessage::GetAddress(AddressMessage::default()), "reading the addresses")?;
        let mut addresses: Vec<Address> = messages
            .iter()
            .filter_map(
                |m| if let RouteNetlinkMessage::NewAddress(a) = m { address_from_message(a, &names) } else { None },
            )
            .collect();
        addresses.sort();
        Ok(addresses)
    }

    /// Every IPv4 and IPv6 route of every table, except what the model does not manage:
    /// broadcast, multicast, anycast and other special route types, routes with a scope
    /// other than universe/link/host, cached clones, and IPv6 link-local and multicast
    /// destinations (fe80::/10, ff00::/8) that the kernel adds per interface.
    pub fn routes(&mut self) -> Result<Vec<Route>, RouteNetlinkError> {
        let names = self.interface_names()?;
        let mut routes = Vec::new();
        for family in [AddressFamily::Inet, AddressFamily::Inet6] {
            let mut message = RouteMessage::default();
            message.header.address_family = family;
            let what = if family == AddressFamily::Inet { "IPv4" } else { "IPv6" };
            let messages = self.dump(RouteNetlinkMessage::GetRoute(message), &format!("reading the {what} routes"));
            let messages = match messages {
                Ok(messages) => messages,
                // A kernel without IPv6 has no IPv6 routes.
                Err(e) if family == AddressFamily::Inet6 && e.errno() == Some(errno::EAFNOSUPPORT) => continue,
                Err(e) => return Err(e),
            };
            routes.extend(
                messages
                    .iter()
                    .filter_map(|m| if let RouteNetlinkMessage::NewRoute(route) = m { Some(route) } else { None })
                    // Without a handler for a family the kernel answers with all of them.
                    .filter(|m| m.header.address_family == family)
                    .filter_map(|m| route_from_message(m, &names)),
            );
        }
        routes.sort();
        Ok(routes)
    }

    // ------------------------------------------------------------------ writing: links

    fn link_message_by_name(&mut self, name: &str, action: &str) -> Result<LinkMessage, RouteNetlinkError> {
        let request = self.handle.link().get().match_name(name).execute();
        let answer = self
            .runtime
            .block_on(async { tokio::time::timeout(REQUEST_TIMEOUT, request.try_collect::<Vec<_>>()).await });
        let Ok(answer) = answer else {
            return Err(RouteNetlinkError::NoAnswer { action: action.into(), seconds: REQUEST_TIMEOUT.as_secs() });
        };
        match answer {
            Ok(messages) => messages
                .into_iter()
                .next()
                .ok_or_else(|| RouteNetlinkError::NoSuchInterface { action: action.into(), interface: name.into() }),
            Err(rtnetlink::Error::NetlinkError(m)) if m.raw_code().abs() == errno::ENODEV => {
                Err(RouteNetlinkError::NoSuchInterface { action: action.into(), interface: name.into() })
            }
            Err(e) => Err(self.fail(action, Op::Read, e)),
        }
    }

    fn index_of(&mut self, name: &str, action: &str) -> Result<u32, RouteNetlinkError> {
        Ok(self.link_message_by_name(name, action)?.header.index)
    }

    /// `ip link add NAME type ipip local L remote R ttl T [no]pmtudisc [mtu M] [up]`.
    pub fn create_ipip(&mut self, link: &Link) -> Result<(), RouteNetlinkError> {
        let action = format!("creating ipip tunnel {}", describe_link(link));
        let message = ipip_create_message(link)
            .map_err(|detail| RouteNetlinkError::InvalidRequest { action: action.clone(), detail })?;
        let request = self.handle.link().add(message).execute();
        self.wait(action, Op::CreateIpip(link), request)
    }

    /// Brings `before` (as observed) to `after`: tunnel endpoints, TTL and PMTU discovery
    /// when they differ, then MTU and admin state where `after` says and they differ.
    ///
    /// Endpoints change in place (RTM_NEWLINK on the existing device, like `ip link set NAME
    /// type ipip remote X`), keeping the device, its addresses and routes. The kernel cannot
    /// turn a point-to-point tunnel (remote set) into an any-remote one or back in place;
    /// then the device is deleted and created again, and the addresses and routes it had
    /// are put back.
    pub fn update_link(&mut self, before: &Link, after: &Link) -> Result<(), RouteNetlinkError> {
        let name = after.name.as_str();
        // The kind of other interfaces is not managed: only their MTU and admin state.
        let recreate = match (&before.kind, &after.kind) {
            (_, LinkKind::Other { .. }) => false,
            (LinkKind::Ipip { .. }, LinkKind::Ipip { .. }) if before.kind == after.kind => false,
            (LinkKind::Ipip { .. }, LinkKind::Ipip { .. }) => {
                if before.is_fallback_tunnel() {
                    return Err(RouteNetlinkError::InvalidRequest {
                        action: format!("changing the tunnel parameters of {name}"),
                        detail: format!(
                            "{FALLBACK_TUNNEL} is the ipip module's fallback device; its endpoints, TTL and PMTU discovery cannot be changed (only its MTU and admin state)"
                        ),
                    });
                }
                needs_recreate(&before.kind, &after.kind)
            }
            (LinkKind::Other { kind }, LinkKind::Ipip { .. }) => {
                return Err(RouteNetlinkError::InvalidRequest {
                    action: format!("making {name} an ipip tunnel"),
                    detail: format!(
                        "{name} already exists as a {kind} interface; delete it or give the tunnel another name"
                    ),
                });
            }
        };
        if recreate {
            return self.recreate_ipip(before, after);
        }
        // Up to three requests: if a later one fails, the earlier ones are taken back, so
        // that a failed change leaves the interface as it was (or says that it could not).
        let mut made = false;
        let Err(cause) = self.set_in_place(before, after, &mut made) else {
            return Ok(());
        };
        if !made {
            return Err(cause);
        }
        match self.set_in_place(after, before, &mut false) {
            Ok(()) => Err(cause),
            Err(restore) => Err(RouteNetlinkError::not_restored(name, cause, restore)),
        }
    }

    /// Sets what differs between `from` and `to`: tunnel parameters, MTU, admin state.
    /// `made` turns true once the kernel took one of the requests.
    fn set_in_place(&mut self, from: &Link, to: &Link, made: &mut bool) -> Result<(), RouteNetlinkError> {
        let name = to.name.as_str();
        if matches!(to.kind, LinkKind::Ipip { .. }) && from.kind != to.kind {
            self.change_tunnel(to)?;
            *made = true;
        }
        if let Some(mtu) = to.mtu.filter(|mtu| from.mtu != Some(*mtu)) {
            crate::fault::fail_at("link-set-mtu").map_err(|detail| RouteNetlinkError::InvalidRequest {
                action: format!("setting the MTU of {name}"),
                detail,
            })?;
            self.set_mtu(name, mtu)?;
            *made = true;
        }
        if let Some(up) = to.up.filter(|up| from.up != Some(*up)) {
            self.set_up(name, up)?;
            *made = true;
        }
        Ok(())
    }

    fn change_tunnel(&mut self, after: &Link) -> Result<(), RouteNetlinkError> {
        let name = after.name.as_str();
        let action = format!("changing ipip tunnel {} in place", describe_link(after));
        let current = self.link_message_by_name(name, &action)?;
        let message = ipip_change_message(&current, after)
            .map_err(|detail| RouteNetlinkError::InvalidRequest { action: action.clone(), detail })?;
        let request = self.handle.link().change(message).execute();
        self.wait(action, Op::ChangeTunnel(name), request)
    }

    /// Deletes the tunnel and creates it again with `after`'s parameters, putting back the
    /// addresses and routes it had. If that fails once the old device is gone, the old one
    /// is built again as it was, so that a refused change does not lose the tunnel.
    fn recreate_ipip(&mut self, before: &Link, after: &Link) -> Result<(), RouteNetlinkError> {
        let name = after.name.as_str();
        // What lives on the device and goes with it.
        let addresses: Vec<Address> = self.addresses()?.into_iter().filter(|a| a.interface == name).collect();
        let routes: Vec<Route> = self.routes()?.into_iter().filter(|r| r.device.as_deref() == Some(name)).collect();
        let replacement = Link {
            name: name.to_string(),
            kind: after.kind.clone(),
            up: after.up.or(before.up),
            mtu: after.mtu.or(before.mtu),
        };
        let context = |e: RouteNetlinkError| {
            let what = "the kernel cannot switch a tunnel between a fixed and an any remote in place, so it is deleted and created again";
            match e {
                RouteNetlinkError::Rejected { action, errno, kernel, hint } => {
                    RouteNetlinkError::Rejected { action: format!("{action} ({what})"), errno, kernel, hint }
                }
                RouteNetlinkError::InvalidRequest { action, detail } => {
                    RouteNetlinkError::InvalidRequest { action: format!("{action} ({what})"), detail }
                }
                other => other,
            }
        };
        self.delete_link(name).map_err(context)?;
        let Err(cause) = self.build_ipip(&replacement, &addresses, &routes).map_err(context) else {
            return Ok(());
        };
        let restored = match self.delete_link(name) {
            Ok(()) | Err(RouteNetlinkError::NoSuchInterface { .. }) => self.build_ipip(before, &addresses, &routes),
            Err(e) => Err(e),
        };
        match restored {
            Ok(()) => Err(cause),
            Err(restore) => Err(RouteNetlinkError::not_restored(name, cause, restore)),
        }
    }

    /// Creates an ipip tunnel with these addresses and routes on it.
    fn build_ipip(&mut self, link: &Link, addresses: &[Address], routes: &[Route]) -> Result<(), RouteNetlinkError> {
        crate::fault::fail_at("ipip-create").map_err(|detail| RouteNetlinkError::InvalidRequest {
            action: format!("creating ipip tunnel {}", describe_link(link)),
            detail,
        })?;
        self.create_ipip(link)?;
        for address in addresses {
            self.add_address(address)?;
        }
        // Routes the kernel derives from the addresses are back by now; add the others.
        let present = self.routes()?;
        for route in routes.iter().filter(|r| !present.contains(r)) {
            self.add_route(route)?;
        }
        Ok(())
    }

    /// `ip link set NAME mtu MTU`.
    pub fn set_mtu(&mut self, name: &str, mtu: u32) -> Result<(), RouteNetlinkError> {
        let action = format!("setting the MTU of {name} to {mtu}");
        let index = self.index_of(name, &action)?;
        let message = LinkUnspec::new_with_index(index).mtu(mtu).build();
        let request = self.handle.link().change(message).execute();
        self.wait(action, Op::SetMtu(name), request)
    }

    /// `ip link set NAME up|down`.
    pub fn set_up(&mut self, name: &str, up: bool) -> Result<(), RouteNetlinkError> {
        let action = format!("setting {name} {}", if up { "up" } else { "down" });
        let index = self.index_of(name, &action)?;
        let builder = LinkUnspec::new_with_index(index);
        let message = if up { builder.up() } else { builder.down() }.build();
        let request = self.handle.link().change(message).execute();
        self.wait(action, Op::SetUp(name), request)
    }

    /// `ip link del NAME`. Refuses the fallback tunl0, which the kernel would silently keep.
    pub fn delete_link(&mut self, name: &str) -> Result<(), RouteNetlinkError> {
        let action = format!("deleting interface {name}");
        if name == FALLBACK_TUNNEL {
            return Err(RouteNetlinkError::InvalidRequest {
                action,
                detail: format!(
                    "{FALLBACK_TUNNEL} belongs to the ipip module and cannot be deleted (only unloading ipip removes it)"
                ),
            });
        }
        let index = self.index_of(name, &action)?;
        let request = self.handle.link().del(index).execute();
        self.wait(action, Op::DeleteLink(name), request)
    }

    // ------------------------------------------------------------------ writing: addresses

    /// `ip addr add ADDRESS/PREFIX dev IFACE [label LABEL]` (IPv6: also `nodad`, so that a
    /// VIP is usable at once instead of after duplicate address detection).
    pub fn add_address(&mut self, address: &Address) -> Result<(), RouteNetlinkError> {
        let action = describe_address_action("adding", address);
        let index = self.index_of(&address.interface, &action)?;
        let message = address_message(address, index, true)
            .map_err(|detail| RouteNetlinkError::InvalidRequest { action: action.clone(), detail })?;
        let mut request = self.handle.address().add(index, address.address, address.prefix_length);
        *request.message_mut() = message;
        self.wait(action, Op::AddAddress(address), request.execute())
    }

    /// `ip addr del ADDRESS/PREFIX dev IFACE [label LABEL]`.
    pub fn delete_address(&mut self, address: &Address) -> Result<(), RouteNetlinkError> {
        let action = describe_address_action("removing", address);
        let index = self.index_of(&address.interface, &action)?;
        let message = address_message(address, index, false)
            .map_err(|detail| RouteNetlinkError::InvalidRequest { action: action.clone(), detail })?;
        let request = self.handle.address().del(message).execute();
        self.wait(action, Op::DeleteAddress(address), request)
    }

    // ------------------------------------------------------------------ writing: routes

    fn route_request_message(&mut self, route: &Route, action: &str) -> Result<RouteMessage, RouteNetlinkError> {
        let index = match &route.device {
            Some(device) => Some(self.index_of(device, action)?),
            None => None,
        };
        route_message(route, index)
            .map_err(|detail| RouteNetlinkError::InvalidRequest { action: action.into(), detail })
    }

    /// `ip route add TYPE DEST/LEN [via GW] [dev DEV] table T metric M scope S [src SRC]
    /// proto static`.
    pub fn add_route(&mut self, route: &Route) -> Result<(), RouteNetlinkError> {
        let action = format!("adding route {}", describe_route(route));
        let message = self.route_request_message(route, &action)?;
        let request = self.handle.route().add(message).execute();
        self.wait(action, Op::AddRoute(route), request)
    }

    /// `ip route replace …`: the route with the same table, type, destination and metric
    /// takes the new device, gateway, scope and source (created if missing).
    pub fn replace_route(&mut self, route: &Route) -> Result<(), RouteNetlinkError> {
        let action = format!("replacing route {}", describe_route(route));
        let message = self.route_request_message(route, &action)?;
        let request = self.handle.route().add(message).replace().execute();
        self.wait(action, Op::ReplaceRoute(route), request)
    }

    /// `ip route del …`, matching the device, gateway, scope and source as given so that
    /// only this route goes when several share a destination.
    pub fn delete_route(&mut self, route: &Route) -> Result<(), RouteNetlinkError> {
        let action = format!("deleting route {}", describe_route(route));
        let mut message = self.route_request_message(route, &action)?;
        // Match routes of any origin (kernel, boot, static …).
        message.header.protocol = RouteProtocol::Unspec;
        let request = self.handle.route().del(message).execute();
        self.wait(action, Op::DeleteRoute, request)
    }
}

// ---------------------------------------------------------------------- decoding

fn link_name(message: &LinkMessage) -> Option<&str> {
    message.attributes.iter().find_map(|a| match a {
        LinkAttribute::IfName(name) => Some(name.as_str()),
        _ => None,
    })
}

/// An interface as the model sees it; None for a message without a name.
pub(crate) fn link_from_message(message: &LinkMessage) -> Option<Link> {
    let name = link_name(message)?.to_string();
    let mtu = message.attributes.iter().find_map(|a| match a {
        LinkAttribute::Mtu(mtu) => Some(*mtu),
        _ => None,
    });
    let mut info_kind = None;
    let mut info_data = None;
    for attribute in &message.attributes {
        if let LinkAttribute::LinkInfo(infos) = attribute {
            for info in infos {
                match info {
                    LinkInfo::Kind(kind) => info_kind = Some(kind),
                    LinkInfo::Data(data) => info_data = Some(data),
                    _ => {}
                }
            }
        }
    }
    let kind = match info_kind {
        Some(InfoKind::IpIp) => match info_data {
            Some(InfoData::IpTunnel(data)) => decode_ipip(data),
            _ => decode_ipip(&[]),
        },
        Some(kind) => LinkKind::Other { kind: kind.to_string() },
        None => LinkKind::Other { kind: link_layer_kind(message.header.link_layer_type) },
    };
    Some(Link { name, kind, up: Some(message.header.flags.contains(LinkFlags::Up)), mtu: Some(mtu.unwrap_or(0)) })
}

/// A kind name for interfaces without IFLA_INFO_KIND (physical NICs, lo): the ARPHRD type,
/// "ether" or "loopback" in practice.
fn link_layer_kind(layer: LinkLayerType) -> String {
    match layer {
        LinkLayerType::Loopback => "loopback".into(),
        LinkLayerType::Ether => "ether".into(),
        other => other.to_string().to_lowercase(),
    }
}

/// IFLA_INFO_DATA of an ipip device → the model. The kernel reports "any" as 0.0.0.0;
/// attributes the model does not manage (tos, link, fwmark, encapsulation) are ignored.
pub(crate) fn decode_ipip(data: &[InfoIpTunnel]) -> LinkKind {
    let v4 = |ip: &IpAddr| match ip {
        IpAddr::V4(v4) if !v4.is_unspecified() => Some(*v4),
        _ => None,
    };
    let mut local = None;
    let mut remote = None;
    let mut ttl = 0;
    // The kernel's default (and what it reports for every ipip device but tunl0).
    let mut pmtudisc = true;
    for attribute in data {
        match attribute {
            InfoIpTunnel::Local(ip) => local = v4(ip),
            InfoIpTunnel::Remote(ip) => remote = v4(ip),
            InfoIpTunnel::Ttl(value) => ttl = *value,
            InfoIpTunnel::PMtuDisc(value) => pmtudisc = *value,
            _ => {}
        }
    }
    LinkKind::Ipip { local, remote, ttl, pmtudisc }
}

fn interface_name(names: &BTreeMap<u32, String>, index: u32) -> String {
    names.get(&index).cloned().unwrap_or_else(|| format!("if{index}"))
}

fn is_ipv6_link_local(ip: &Ipv6Addr) -> bool {
    ip.segments()[0] & 0xffc0 == 0xfe80
}

/// An address as the model sees it; None for what is not reported (IPv6 link-local).
pub(crate) fn address_from_message(message: &AddressMessage, names: &BTreeMap<u32, String>) -> Option<Address> {
    let mut local = None;
    let mut address = None;
    let mut label = None;
    for attribute in &message.attributes {
        match attribute {
            AddressAttribute::Local(ip) => local = Some(*ip),
            AddressAttribute::Address(ip) => address = Some(*ip),
            AddressAttribute::Label(text) => label = Some(text.clone()),
            _ => {}
        }
    }
    // IFA_LOCAL is the interface's own address; IFA_ADDRESS is the peer on
    // point-to-point links (and the only one IPv6 sends).
    let ip = local.or(address)?;
    let family_ok = match (message.header.family, ip) {
        (AddressFamily::Inet, IpAddr::V4(_)) => true,
        (AddressFamily::Inet6, IpAddr::V6(v6)) => !is_ipv6_link_local(&v6),
        _ => false,
    };
    if !family_ok {
        return None;
    }
    let interface = interface_name(names, message.header.index);
    Some(Address {
        label: normalise_label(ip, label, &interface),
        interface,
        address: ip,
        prefix_length: message.header.prefix_len,
    })
}

/// The kernel reports the interface's name as the label of an address given none; the
/// model says None for that. IPv6 addresses have no labels.
pub(crate) fn normalise_label(ip: IpAddr, label: Option<String>, interface: &str) -> Option<String> {
    match ip {
        IpAddr::V6(_) => None,
        IpAddr::V4(_) => label.filter(|label| label != interface && !label.is_empty()),
    }
}

fn route_ip(address: &RouteAddress) -> Option<IpAddr> {
    match address {
        RouteAddress::Inet(v4) => Some(IpAddr::V4(*v4)),
        RouteAddress::Inet6(v6) => Some(IpAddr::V6(*v6)),
        _ => None,
    }
}

/// A route as the model sees it; None for kinds of route the model does not manage.
pub(crate) fn route_from_message(message: &RouteMessage, names: &BTreeMap<u32, String>) -> Option<Route> {
    let header = &message.header;
    let unspecified = match header.address_family {
        AddressFamily::Inet => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
        AddressFamily::Inet6 => IpAddr::V6(Ipv6Addr::UNSPECIFIED),
        _ => return None,
    };
    if header.flags.contains(RouteFlags::Cloned) {
        return None;
    }
    let kind = match header.kind {
        RtType::Unicast => RouteType::Unicast,
        RtType::Local => RouteType::Local,
        RtType::BlackHole => RouteType::Blackhole,
        RtType::Unreachable => RouteType::Unreachable,
        _ => return None,
    };
    let scope = match header.scope {
        RtScope::Universe => RouteScope::Universe,
        RtScope::Link => RouteScope::Link,
        RtScope::Host => RouteScope::Host,
        _ => return None,
    };
    let mut route = Route {
        table: u32::from(header.table),
        kind,
        destination: unspecified,
        prefix_length: header.destination_prefix_length,
        metric: 0,
        device: None,
        gateway: None,
        scope,
        source: None,
    };
    for attribute in &message.attributes {
        match attribute {
            RouteAttribute::Table(table) => route.table = *table,
            RouteAttribute::Destination(address) => route.destination = route_ip(address)?,
            RouteAttribute::Priority(metric) => route.metric = *metric,
            RouteAttribute::Oif(index) => route.device = Some(interface_name(names, *index)),
            RouteAttribute::Gateway(address) => route.gateway = route_ip(address),
            RouteAttribute::Via(RouteVia::Inet(v4)) => route.gateway = Some(IpAddr::V4(*v4)),
            RouteAttribute::Via(RouteVia::Inet6(v6)) => route.gateway = Some(IpAddr::V6(*v6)),
            RouteAttribute::PrefSource(address) => route.source = route_ip(address),
            _ => {}
        }
    }
    if let IpAddr::V6(v6) = route.destination {
        // Per-interface link-local and multicast routes the kernel maintains.
        if is_ipv6_link_local(&v6) || v6.is_multicast() {
            return None;
        }
    }
    Some(route)
}

// ---------------------------------------------------------------------- encoding

/// True when the kernel cannot change `before` into `after` in place: ipip_changelink
/// refuses to give an any-remote device a remote or to take a point-to-point device's
/// remote away (the IFF_POINTOPOINT flag is fixed at creation).
pub(crate) fn needs_recreate(before: &LinkKind, after: &LinkKind) -> bool {
    match (before, after) {
        (LinkKind::Ipip { remote: r1, .. }, LinkKind::Ipip { remote: r2, .. }) => r1.is_some() != r2.is_some(),
        _ => false,
    }
}

fn ipip_fields(kind: &LinkKind) -> Result<(Option<Ipv4Addr>, Option<Ipv4Addr>, u8, bool), String> {
    match kind {
        LinkKind::Ipip { local, remote, ttl, pmtudisc } => Ok((*local, *remote, *ttl, *pmtudisc)),
        LinkKind::Other { kind } => Err(format!("it is of kind {kind}; lvs-converge only creates ipip tunnels")),
    }
}

/// RTM_NEWLINK (create) of an ipip device with MTU and admin state in the same message.
pub(crate) fn ipip_create_message(link: &Link) -> Result<LinkMessage, String> {
    if link.is_fallback_tunnel() {
        return Err(format!(
            "{FALLBACK_TUNNEL} is created by the ipip module itself (modprobe ipip); it can only be configured"
        ));
    }
    check_interface_name(&link.name)?;
    let (local, remote, ttl, pmtudisc) = ipip_fields(&link.kind)?;
    let mut builder: LinkMessageBuilder<LinkIpIp> = LinkIpIp::new(&link.name);
    // Explicit "any" (0.0.0.0) is what `ip` sends too.
    builder = builder
        .local(local.unwrap_or(Ipv4Addr::UNSPECIFIED))
        .remote(remote.unwrap_or(Ipv4Addr::UNSPECIFIED))
        .ttl(ttl)
        .pmtudisc(pmtudisc);
    if let Some(mtu) = link.mtu {
        builder = builder.mtu(mtu);
    }
    if link.up == Some(true) {
        builder = builder.up();
    }
    Ok(builder.build())
}

/// RTM_NEWLINK (change) of an existing ipip device: its current IFLA_INFO_DATA with the
/// four managed attributes replaced. The kernel rebuilds all tunnel parameters from the
/// message (an attribute left out resets to its default), so the unmanaged ones (tos,
/// link, fwmark, encapsulation) are sent back as they are.
pub(crate) fn ipip_change_message(current: &LinkMessage, after: &Link) -> Result<LinkMessage, String> {
    let (local, remote, ttl, pmtudisc) = ipip_fields(&after.kind)?;
    let mut data: Vec<InfoIpTunnel> = Vec::new();
    let mut is_ipip = false;
    for attribute in &current.attributes {
        if let LinkAttribute::LinkInfo(infos) = attribute {
            for info in infos {
                match info {
                    LinkInfo::Kind(InfoKind::IpIp) => is_ipip = true,
                    LinkInfo::Data(InfoData::IpTunnel(existing)) => data = existing.clone(),
                    _ => {}
                }
            }
        }
    }
    if !is_ipip {
        return Err(format!("{} is not an ipip tunnel", after.name));
    }
    data.retain(|a| {
        !matches!(
            a,
            InfoIpTunnel::Local(_) | InfoIpTunnel::Remote(_) | InfoIpTunnel::Ttl(_) | InfoIpTunnel::PMtuDisc(_)
        )
    });
    data.extend([
        InfoIpTunnel::Local(IpAddr::V4(local.unwrap_or(Ipv4Addr::UNSPECIFIED))),
        InfoIpTunnel::Remote(IpAddr::V4(remote.unwrap_or(Ipv4Addr::UNSPECIFIED))),
        InfoIpTunnel::Ttl(ttl),
        InfoIpTunnel::PMtuDisc(pmtudisc),
    ]);
    Ok(LinkMessageBuilder::<LinkIpIp>::new_with_info_kind(InfoKind::IpIp)
        .index(current.header.index)
        .set_info_data(InfoData::IpTunnel(data))
        .build())
}

fn check_interface_name(name: &str) -> Result<(), String> {
    if name.is_empty() || name.len() > 15 || name.contains(['/', ':']) || name.contains(char::is_whitespace) {
        return Err(format!("`{name}` is not a valid interface name (1–15 characters, no '/', ':' or spaces)"));
    }
    Ok(())
}

/// RTM_NEWADDR / RTM_DELADDR message as `ip addr add|del` sends it: IFA_LOCAL and
/// IFA_ADDRESS both the address (no peer, no broadcast), IFA_LABEL when given, and for new
/// IPv6 addresses IFA_F_NODAD.
pub(crate) fn address_message(address: &Address, index: u32, create: bool) -> Result<AddressMessage, String> {
    let mut message = AddressMessage::default();
    message.header.index = index;
    message.header.prefix_len = address.prefix_length;
    match address.address {
        IpAddr::V4(v4) => {
            if address.prefix_length > 32 {
                return Err(format!("prefix length {} is longer than 32", address.prefix_length));
            }
            message.header.family = AddressFamily::Inet;
            // As `ip` does: loopback addresses are host scope, the rest global.
            message.header.scope = if v4.is_loopback() { AddressScope::Host } else { AddressScope::Universe };
            message.attributes.push(AddressAttribute::Local(address.address));
            message.attributes.push(AddressAttribute::Address(address.address));
            if let Some(label) = &address.label {
                if label.is_empty() || label.len() > 15 {
                    return Err(format!("label `{label}` must be 1–15 characters long"));
                }
                message.attributes.push(AddressAttribute::Label(label.clone()));
            }
        }
        IpAddr::V6(_) => {
            if address.prefix_length > 128 {
                return Err(format!("prefix length {} is longer than 128", address.prefix_length));
            }
            if let Some(label) = &address.label {
                return Err(format!("label `{label}`: only IPv4 addresses have labels"));
            }
            message.header.family = AddressFamily::Inet6;
            message.attributes.push(AddressAttribute::Address(address.address));
            if create {
                message.header.flags = AddressHeaderFlags::Nodad;
                message.attributes.push(AddressAttribute::Flags(AddressFlags::Nodad));
            }
        }
    }
    Ok(message)
}

fn model_scope(scope: RouteScope) -> RtScope {
    match scope {
        RouteScope::Universe => RtScope::Universe,
        RouteScope::Link => RtScope::Link,
        RouteScope::Host => RtScope::Host,
    }
}

/// RTM_NEWROUTE / RTM_DELROUTE message as `ip route` sends it: the table in the header
/// when it fits in 8 bits, else RT_TABLE_UNSPEC there and RTA_TABLE; `proto static`.
pub(crate) fn route_message(route: &Route, device_index: Option<u32>) -> Result<RouteMessage, String> {
    let family = match route.destination {
        IpAddr::V4(_) => AddressFamily::Inet,
        IpAddr::V6(_) => AddressFamily::Inet6,
    };
    let max_prefix = crate::model::addresses::host_prefix_length(&route.destination);
    if route.prefix_length > max_prefix {
        return Err(format!("prefix length {} is longer than {max_prefix}", route.prefix_length));
    }
    if route.table == 0 {
        return Err("table 0 (unspec) is not a routing table".into());
    }
    if let Some(source) = route.source {
        if source.is_ipv4() != route.destination.is_ipv4() {
            return Err(format!("source {source} is not of the destination's address family"));
        }
    }
    if let Some(gateway) = route.gateway {
        // An IPv6 gateway for IPv4 (RTA_VIA) is fine; an IPv4 one for IPv6 is not.
        if gateway.is_ipv4() && route.destination.is_ipv6() {
            return Err(format!("an IPv4 gateway ({gateway}) cannot serve an IPv6 route"));
        }
    }
    let mut message = RouteMessage::default();
    let header: &mut RouteHeader = &mut message.header;
    header.address_family = family;
    header.destination_prefix_length = route.prefix_length;
    header.protocol = RouteProtocol::Static;
    header.scope = model_scope(route.scope);
    header.kind = match route.kind {
        RouteType::Unicast => RtType::Unicast,
        RouteType::Local => RtType::Local,
        RouteType::Blackhole => RtType::BlackHole,
        RouteType::Unreachable => RtType::Unreachable,
    };
    if route.table < 256 {
        header.table = route.table as u8;
    } else {
        header.table = RouteHeader::RT_TABLE_UNSPEC;
        message.attributes.push(RouteAttribute::Table(route.table));
    }
    if route.prefix_length > 0 || !route.destination.is_unspecified() {
        message.attributes.push(RouteAttribute::Destination(route.destination.into()));
    }
    if let Some(gateway) = route.gateway {
        message.attributes.push(match (route.destination, gateway) {
            (IpAddr::V4(_), IpAddr::V6(v6)) => RouteAttribute::Via(RouteVia::Inet6(v6)),
            _ => RouteAttribute::Gateway(gateway.into()),
        });
    }
    if let Some(index) = device_index {
        message.attributes.push(RouteAttribute::Oif(index));
    }
    if route.metric != 0 {
        message.attributes.push(RouteAttribute::Priority(route.metric));
    }
    if let Some(source) = route.source {
        message.attributes.push(RouteAttribute::PrefSource(source.into()));
    }
    Ok(message)
}

// ---------------------------------------------------------------------- text

struct TableName(u32);

impl fmt::Display for TableName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            TABLE_MAIN => f.write_str("main"),
            TABLE_LOCAL => f.write_str("local"),
            other => write!(f, "{other}"),
        }
    }
}

/// A route in `ip route` words: "local 203.0.113.100/32 dev lo table local scope host".
pub fn describe_route(route: &Route) -> String {
    let kind = match route.kind {
        RouteType::Unicast => "unicast",
        RouteType::Local => "local",
        RouteType::Blackhole => "blackhole",
        RouteType::Unreachable => "unreachable",
    };
    let mut text = format!("{kind} {}/{}", route.destination, route.prefix_length);
    if let Some(gateway) = route.gateway {
        text += &format!(" via {gateway}");
    }
    if let Some(device) = &route.device {
        text += &format!(" dev {device}");
    }
    text += &format!(" table {}", TableName(route.table));
    if route.metric != 0 {
        text += &format!(" metric {}", route.metric);
    }
    text += match route.scope {
        RouteScope::Universe => "",
        RouteScope::Link => " scope link",
        RouteScope::Host => " scope host",
    };
    if let Some(source) = route.source {
        text += &format!(" src {source}");
    }
    text
}

/// A link in `ip link` words: "tun1 (local 192.0.2.10, remote any, ttl 64, pmtudisc)".
pub fn describe_link(link: &Link) -> String {
    match &link.kind {
        LinkKind::Ipip { local, remote, ttl, pmtudisc } => {
            let any = |ip: &Option<Ipv4Addr>| ip.map_or("any".to_string(), |ip| ip.to_string());
            let ttl = if *ttl == 0 { "inherit".to_string() } else { ttl.to_string() };
            format!(
                "{} (local {}, remote {}, ttl {ttl}, {})",
                link.name,
                any(local),
                any(remote),
                if *pmtudisc { "pmtudisc" } else { "nopmtudisc" }
            )
        }
        LinkKind::Other { kind } => format!("{} ({kind})", link.name),
    }
}

fn describe_address_action(verb: &str, address: &Address) -> String {
    let preposition = if verb == "adding" { "to" } else { "from" };
    let mut text = format!("{verb} {}/{} {preposition} {}", address.address, address.prefix_length, address.interface);
    if let Some(label) = &address.label {
        text += &format!(" (label {label})");
    }
    text
}

#[cfg(test)]
mod live_tests;
#[cfg(test)]
mod tests;
