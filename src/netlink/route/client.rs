//! The rtnetlink socket, its runtime, and the request/dump machinery every request uses.

use std::future::Future;
use std::time::Duration;

use futures_util::stream::{StreamExt, TryStreamExt};
use rtnetlink::packet_core::{
    ErrorMessage, NetlinkMessage, NetlinkPayload, NLM_F_DUMP, NLM_F_DUMP_INTR, NLM_F_REQUEST,
};
use rtnetlink::packet_route::link::LinkMessage;
use rtnetlink::packet_route::RouteNetlinkMessage;
use rtnetlink::sys::AsyncSocket;
use rtnetlink::Handle;

use super::errno;
use super::error::{extack_message, hint, Op, RouteNetlinkError};

/// How long one request may wait for the kernel. Route requests are answered within
/// milliseconds; waiting forever on a lost answer would hold the apply lock forever.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// Reads of a table restarted when the kernel marks them inconsistent, before giving up.
const DUMP_ATTEMPTS: usize = 3;

/// Drives `request` on `runtime` for at most `limit`; `None` if it did not finish.
pub(super) fn within<T>(
    runtime: &tokio::runtime::Runtime,
    limit: Duration,
    request: impl Future<Output = T>,
) -> Option<T> {
    // The timer is made inside block_on: it needs the runtime's context.
    runtime.block_on(async { tokio::time::timeout(limit, request).await }).ok()
}

/// Repeats `read` while the kernel reports that the table changed during it
/// (`Ok((_, true))`): an interrupted dump may miss or repeat entries, and a plan made from
/// it would add or delete the wrong things.
pub(super) fn consistent_read<T>(
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

/// A synchronous rtnetlink client bound to the network namespace it was opened in.
pub struct RouteClient {
    pub(super) runtime: tokio::runtime::Runtime,
    pub(super) handle: Handle,
    /// NETLINK_CAP_ACK is on: error replies echo only the request's header.
    capped_acks: bool,
    /// Change requests sent so far (see [`RouteClient::writes`]).
    writes: std::cell::Cell<usize>,
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
        Ok(RouteClient { runtime, handle, capped_acks, writes: std::cell::Cell::new(0) })
    }

    pub(super) fn fail(&self, action: impl Into<String>, op: Op<'_>, error: rtnetlink::Error) -> RouteNetlinkError {
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

    /// Change requests this client has sent to the kernel (reads not counted), answered or
    /// not: what `apply` reports as its netlink writes.
    pub fn writes(&self) -> usize {
        self.writes.get()
    }

    /// Runs one request to its end, at most [`REQUEST_TIMEOUT`].
    pub(super) fn wait<T>(
        &self,
        action: impl Into<String>,
        op: Op<'_>,
        request: impl Future<Output = Result<T, rtnetlink::Error>>,
    ) -> Result<T, RouteNetlinkError> {
        // Counted once sent: a request that times out may have been applied, one that the
        // kernel refused was still sent (IPVS counts the same way, per request sent).
        if !matches!(op, Op::Read) {
            self.writes.set(self.writes.get() + 1);
        }
        match within(&self.runtime, REQUEST_TIMEOUT, request) {
            Some(result) => result.map_err(|e| self.fail(action, op, e)),
            None => Err(RouteNetlinkError::NoAnswer { action: action.into(), seconds: REQUEST_TIMEOUT.as_secs() }),
        }
    }

    /// A whole dump, restarted while the kernel marks it inconsistent.
    pub(super) fn dump(
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

    pub(super) fn link_message_by_name(&mut self, name: &str, action: &str) -> Result<LinkMessage, RouteNetlinkError> {
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

    pub(super) fn index_of(&mut self, name: &str, action: &str) -> Result<u32, RouteNetlinkError> {
        Ok(self.link_message_by_name(name, action)?.header.index)
    }
}
