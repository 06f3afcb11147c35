//! IPVS over generic netlink: read the whole table of the current network namespace and
//! change it in bulk.
//!
//! ```text
//! let mut ipvs = IpvsClient::connect()?;      // socket + "IPVS" family id, this netns
//! let table = ipvs.dump()?;                   // services, their real servers, timeouts
//! let outcomes = ipvs.execute(&[IpvsOp::NewService(key, &settings), IpvsOp::NewDest(key, &dest)], &mut || false);
//! ```
//!
//! Bulk changes are pipelined: up to [`IpvsClient::set_window`] requests (default
//! [`DEFAULT_WINDOW`]) go to the kernel in one `send(2)`, each with NLM_F_ACK, and their
//! acknowledgements are read afterwards and matched by sequence number. The kernel
//! handles the requests of one send in order and does not stop at a failure, so when
//! operation *i* fails, the operations after it in the same window have been attempted
//! too and may have taken effect: `execute` therefore returns one outcome per operation
//! (applied, refused with its errno, unknown, not sent), never a single "first failure".
//! No window after a failing one is sent. Use a window of 1 for strict one-by-one behaviour.
//!
//! Acknowledgements the kernel could not queue (receive buffer full) make the outcome of
//! the operations concerned unknown; that is reported as such ([`OpOutcome::Unknown`]),
//! never waited on: the client reads without blocking, since the kernel answers inside
//! the `send(2)` itself.

mod codec;
mod consts;
mod error;

#[cfg(test)]
mod live_tests;
#[cfg(test)]
mod tests;

use crate::model::ipvs::{
    Destination, DestinationActivity, DestinationKey, IpvsState, Service, ServiceKey, ServiceSettings, Timeouts,
};
use crate::model::keyed::Keyed;
use crate::netlink::genl::{Ack, Attrs, DecodeError, Fault, GenlSocket};
pub use error::NetlinkError;
use error::{describe_errno, errno};

/// Requests sent per `send(2)` by [`IpvsClient::execute`]. Their acknowledgements wait in
/// the socket's receive buffer until read, and the kernel silently drops what does not
/// fit: measured on Linux 6.1, 240 fit the default 208 KiB buffer and 280 did not. The
/// client enlarges the buffer to twice `net.core.rmem_max` (416 KiB by default), so 128
/// leaves a wide margin; past it, 32 and 128 measured the same.
pub const DEFAULT_WINDOW: usize = 128;
/// Upper bound for [`IpvsClient::set_window`]: safe even where the buffer could not be
/// enlarged.
pub const MAX_WINDOW: usize = 160;
/// Bytes of requests per `send(2)`, well below the default 208 KiB socket send buffer.
const MAX_BATCH_BYTES: usize = 64 * 1024;

/// One change to the IPVS table.
#[derive(Debug, Clone, Copy)]
pub enum IpvsOp<'a> {
    /// IPVS_CMD_NEW_SERVICE: create a service without real servers (EEXIST if present).
    NewService(ServiceKey, &'a ServiceSettings),
    /// IPVS_CMD_SET_SERVICE: replace all settings of an existing service.
    SetService(ServiceKey, &'a ServiceSettings),
    /// IPVS_CMD_DEL_SERVICE: delete a service and its real servers.
    DelService(ServiceKey),
    /// IPVS_CMD_NEW_DEST: add a real server to an existing service.
    NewDest(ServiceKey, &'a Destination),
    /// IPVS_CMD_SET_DEST: replace all settings of an existing real server.
    SetDest(ServiceKey, &'a Destination),
    /// IPVS_CMD_DEL_DEST: remove a real server.
    DelDest(ServiceKey, DestinationKey),
    /// IPVS_CMD_SET_CONFIG: set the three connection timeouts (each must be ≥ 1 s).
    SetTimeouts(Timeouts),
}

impl IpvsOp<'_> {
    /// What this operation does, in words: the start of its error messages.
    pub fn describe(&self) -> String {
        match self {
            IpvsOp::NewService(key, _) => format!("adding service {key}"),
            IpvsOp::SetService(key, _) => format!("updating service {key}"),
            IpvsOp::DelService(key) => format!("deleting service {key}"),
            IpvsOp::NewDest(key, dest) => {
                format!("adding real server {} to service {key}", dest.key())
            }
            IpvsOp::SetDest(key, dest) => {
                format!("updating real server {} of service {key}", dest.key())
            }
            IpvsOp::DelDest(key, dest) => format!("removing real server {dest} from service {key}"),
            IpvsOp::SetTimeouts(t) => {
                format!("setting IPVS timeouts (tcp {}s, tcpfin {}s, udp {}s)", t.tcp, t.tcp_fin, t.udp)
            }
        }
    }

    /// Why the kernel said `errno` to this operation, and what to do.
    fn rejection(&self, errno: i32) -> String {
        use errno::*;
        let service_missing = |key: &ServiceKey| format!("service {key} does not exist (ESRCH)");
        let modules = |settings: &ServiceSettings| {
            let sched = settings.scheduler;
            match settings.persistence.as_ref().and_then(|p| p.engine.as_deref()) {
                None => format!(
                    "scheduler '{}' is not available: load {} (modprobe {})",
                    sched.name(),
                    sched.module(),
                    sched.module()
                ),
                Some(pe) => format!(
                    "scheduler '{}' or persistence engine '{pe}' is not available: \
                     load {} and ip_vs_pe_{pe} (modprobe {} ip_vs_pe_{pe})",
                    sched.name(),
                    sched.module(),
                    sched.module()
                ),
            }
        };
        match (self, errno) {
            (IpvsOp::NewService(key, _), EEXIST) => {
                format!("service {key} already exists (EEXIST)")
            }
            (IpvsOp::NewService(_, settings) | IpvsOp::SetService(_, settings), ENOENT) => {
                format!("{} (ENOENT)", modules(settings))
            }
            (IpvsOp::SetService(key, _) | IpvsOp::DelService(key), ESRCH) => service_missing(key),
            (IpvsOp::NewService(..) | IpvsOp::SetService(..), EAFNOSUPPORT)
            | (IpvsOp::NewDest(..) | IpvsOp::SetDest(..), EAFNOSUPPORT) => {
                "this kernel's IPVS has no IPv6 support (CONFIG_IP_VS_IPV6) (EAFNOSUPPORT)".to_string()
            }
            (IpvsOp::NewService(..) | IpvsOp::SetService(..), EINVAL) => {
                "the kernel rejected the service settings as invalid (EINVAL): check the \
                 persistence prefix length and timeout"
                    .to_string()
            }
            (IpvsOp::NewDest(key, _) | IpvsOp::SetDest(key, _) | IpvsOp::DelDest(key, _), ESRCH) => {
                service_missing(key)
            }
            (IpvsOp::NewDest(_, dest), EEXIST) => {
                format!("real server {} already exists in this service (EEXIST)", dest.key())
            }
            (IpvsOp::SetDest(_, dest), ENOENT) => {
                format!("real server {} does not exist in this service (ENOENT)", dest.key())
            }
            (IpvsOp::DelDest(_, dest), ENOENT) => {
                format!("real server {dest} does not exist in this service (ENOENT)")
            }
            (IpvsOp::NewDest(_, dest) | IpvsOp::SetDest(_, dest), ERANGE) => format!(
                "weight {} or thresholds (upper {}, lower {}) out of range (ERANGE): the \
                 weight must be at most 2147483647 and the lower threshold must not exceed \
                 the upper one",
                dest.weight, dest.upper_threshold, dest.lower_threshold
            ),
            (IpvsOp::NewDest(key, dest) | IpvsOp::SetDest(key, dest), EINVAL) => format!(
                "the kernel rejected real server {} (EINVAL): its address must be a unicast \
                 address routable in this network namespace (is the loopback interface \
                 up?); a GUE tunnel needs a non-zero port; a real server of another address \
                 family than the service ({}) must use tunnel forwarding; the upper \
                 threshold must be at most 2147483647",
                dest.key(),
                match key.family() {
                    crate::model::ipvs::Family::Ipv4 => "IPv4",
                    crate::model::ipvs::Family::Ipv6 => "IPv6",
                }
            ),
            (IpvsOp::SetTimeouts(_), EINVAL) => "the kernel rejected the timeouts (EINVAL)".to_string(),
            (_, errno) => format!("the kernel refused: {}", describe_errno(errno)),
        }
    }
}

/// A connection to the IPVS generic netlink family of one network namespace.
pub struct IpvsClient {
    socket: GenlSocket,
    family: u16,
    window: usize,
    /// Change requests sent so far (see [`IpvsClient::writes`]).
    writes: usize,
}

/// Puts a failed exchange into words: `action` is what was being done.
fn fault_error(fault: Fault, action: String) -> NetlinkError {
    match fault {
        Fault::Errno { errno, .. } if errno == errno::EPERM => NetlinkError::PermissionDenied { action },
        Fault::Errno { errno, message } => NetlinkError::Rejected {
            action,
            errno,
            reason: format!("the kernel refused: {}", describe_errno(errno)),
            kernel: message,
        },
        Fault::Io(source) | Fault::Unsent(source) => NetlinkError::Io { action, source, note: String::new() },
        Fault::Protocol(detail) => NetlinkError::Protocol { action, detail },
        Fault::Decode(DecodeError::Malformed(detail)) => NetlinkError::Protocol { action, detail },
        Fault::Decode(DecodeError::Unrepresentable(detail)) => NetlinkError::Unrepresentable { action, detail },
    }
}

impl IpvsClient {
    /// Opens a generic netlink socket in the *current* network namespace (the one the
    /// calling thread is in now; the socket stays bound to it) and resolves the "IPVS"
    /// family. Looking the family up makes the kernel autoload ip_vs when it can.
    pub fn connect() -> Result<Self, NetlinkError> {
        let mut socket = GenlSocket::open().map_err(|source| NetlinkError::Socket { source })?;
        let family = match socket.resolve_family(consts::FAMILY_NAME) {
            Ok(family) => family,
            Err(Fault::Errno { errno, .. }) if errno == errno::ENOENT => return Err(NetlinkError::IpvsUnavailable),
            Err(fault) => return Err(fault_error(fault, "looking up the IPVS generic netlink family".into())),
        };
        Ok(IpvsClient { socket, family, window: DEFAULT_WINDOW, writes: 0 })
    }

    /// How many requests [`execute`](Self::execute) sends before reading their acks
    /// (clamped to 1..=[`MAX_WINDOW`]). 1 means: stop right at the first failure.
    pub fn set_window(&mut self, window: usize) {
        self.window = window.clamp(1, MAX_WINDOW);
    }

    /// Change requests this client has sent to the kernel (reads not counted): what
    /// `apply` reports as its netlink writes.
    pub fn writes(&self) -> usize {
        self.writes
    }

    /// Any window, for tests that overflow the receive buffer on purpose.
    #[cfg(test)]
    fn set_window_unchecked(&mut self, window: usize) {
        self.window = window.max(1);
    }

    /// Reads the whole table: one GET_SERVICE dump, one GET_DEST dump per service, and
    /// GET_CONFIG for the timeouts (always `Some`).
    ///
    /// Unlike route dumps, IPVS dumps never carry NLM_F_DUMP_INTR: ip_vs_ctl.c resumes
    /// them by position and keeps no generation count, so there is nothing to check here.
    pub fn dump(&mut self) -> Result<IpvsState, NetlinkError> {
        let mut services = self.dump_services()?;
        let activity = self.read_destinations(&mut services)?;
        let timeouts = self.read_timeouts()?;
        Ok(IpvsState {
            // In key order already, so the map is built in one pass instead of by search.
            services: services.into_iter().map(|service| (service.key, service)).collect(),
            timeouts: Some(timeouts),
            activity,
            observed_at: 0,
            health: None,
        })
    }

    /// Every service, without real servers, in key order (the kernel's is hash order).
    fn dump_services(&mut self) -> Result<Vec<Service>, NetlinkError> {
        let family = self.family;
        let mut services: Vec<Service> = Vec::new();
        self.socket
            .request(
                true,
                consts::cmd::NEW_SERVICE,
                |w, seq| codec::get_services(w, family, seq),
                |attrs| {
                    services.push(codec::decode_service(attrs)?);
                    Ok(())
                },
            )
            .map_err(|f| fault_error(f, "reading the IPVS services".into()))?;
        services.sort_unstable_by_key(|service| service.key);
        Ok(services)
    }

    /// Fills in the real servers of `services` (one GET_DEST dump each) and returns the
    /// ones with connections. A service deleted since `services` were read is dropped:
    /// the kernel answers GET_DEST for a missing service with an empty dump, so an empty
    /// answer is confirmed with GET_SERVICE, which says ESRCH for a missing one.
    fn read_destinations(&mut self, services: &mut Vec<Service>) -> Result<Vec<DestinationActivity>, NetlinkError> {
        let mut activity = Vec::new();
        let mut scratch = Vec::new();
        let mut deleted = Vec::new();
        for (index, service) in services.iter_mut().enumerate() {
            self.read_destinations_of(service, &mut activity, &mut scratch)?;
            if service.destinations.is_empty() && !self.service_exists(&service.key)? {
                deleted.push(index);
            }
        }
        for index in deleted.into_iter().rev() {
            services.remove(index);
        }
        Ok(activity)
    }

    /// Reads the real servers of `service` (one GET_DEST dump) into it, and the connection
    /// counts of those that have any into `activity`. `scratch` is an empty buffer reused
    /// from one service to the next.
    fn read_destinations_of(
        &mut self,
        service: &mut Service,
        activity: &mut Vec<DestinationActivity>,
        scratch: &mut Vec<Destination>,
    ) -> Result<(), NetlinkError> {
        let family = self.family;
        let key = service.key;
        let each = |attrs: Attrs<'_>| {
            let (dest, connections) = codec::decode_dest(attrs, &key)?;
            if connections.active + connections.inactive > 0 {
                activity.push(DestinationActivity {
                    service: key,
                    destination: dest.key(),
                    active: connections.active,
                    inactive: connections.inactive,
                    draining_since: None,
                });
            }
            scratch.push(dest);
            Ok(())
        };
        self.socket
            .request(true, consts::cmd::NEW_DEST, |w, seq| codec::get_dests(w, family, seq, &key), each)
            .map_err(|f| fault_error(f, format!("reading the real servers of service {key}")))?;
        // Collected, then sorted once: the kernel's order is the order of addition.
        scratch.sort_unstable_by_key(Destination::key);
        service.destinations = scratch.drain(..).map(|dest| (dest.key(), dest)).collect();
        Ok(())
    }

    /// Whether the kernel still has service `key` (GET_SERVICE; ESRCH: no).
    fn service_exists(&mut self, key: &ServiceKey) -> Result<bool, NetlinkError> {
        Ok(self.get_service(key)?.is_some())
    }

    /// GET_SERVICE of one service: its settings without real servers, `None` on ESRCH.
    fn get_service(&mut self, key: &ServiceKey) -> Result<Option<Service>, NetlinkError> {
        let family = self.family;
        let mut found = None;
        let read = self.socket.request(
            false,
            consts::cmd::NEW_SERVICE,
            |w, seq| codec::get_service(w, family, seq, key),
            |attrs| {
                found = Some(codec::decode_service(attrs)?);
                Ok(())
            },
        );
        match read {
            Err(Fault::Errno { errno, .. }) if errno == errno::ESRCH => return Ok(None),
            read => read.map_err(|f| fault_error(f, format!("reading the IPVS service {key}")))?,
        }
        found.map(Some).ok_or_else(|| NetlinkError::Protocol {
            action: format!("reading the IPVS service {key}"),
            detail: "GET_SERVICE was acknowledged without a reply".into(),
        })
    }

    fn read_timeouts(&mut self) -> Result<Timeouts, NetlinkError> {
        let family = self.family;
        let mut timeouts = None;
        self.socket
            .request(
                false,
                consts::cmd::SET_CONFIG,
                |w, seq| codec::get_config(w, family, seq),
                |attrs| {
                    timeouts = Some(codec::decode_timeouts(attrs)?);
                    Ok(())
                },
            )
            .map_err(|f| fault_error(f, "reading the IPVS timeouts".into()))?;
        timeouts.ok_or_else(|| NetlinkError::Protocol {
            action: "reading the IPVS timeouts".into(),
            detail: "GET_CONFIG was acknowledged without a reply".into(),
        })
    }

    /// Reads one service and its real servers (one GET_SERVICE, one GET_DEST dump), with
    /// the connection counts of those that have any; `None` when the namespace has no such
    /// service. What verification re-reads after an apply that touched only a few services.
    pub fn read_service(
        &mut self,
        key: &ServiceKey,
    ) -> Result<Option<(Service, Vec<DestinationActivity>)>, NetlinkError> {
        let Some(mut service) = self.get_service(key)? else { return Ok(None) };
        let mut activity = Vec::new();
        self.read_destinations_of(&mut service, &mut activity, &mut Vec::new())?;
        Ok(Some((service, activity)))
    }

    /// Applies `ops` in order, pipelined (see the module documentation), and says what became
    /// of each: one [`OpOutcome`] per operation, in order. After a window with a refused or
    /// unknown operation nothing more is sent. `stop` is asked before each window; when it
    /// says yes, the rest is not sent (a stop request ends the batch at a window boundary).
    pub fn execute(&mut self, ops: &[IpvsOp<'_>], stop: &mut dyn FnMut() -> bool) -> Vec<OpOutcome> {
        let mut outcomes: Vec<OpOutcome> = Vec::with_capacity(ops.len());
        while outcomes.len() < ops.len() && !stop() {
            let start = outcomes.len();
            let window = self.send_window(ops, start);
            let failed = window.iter().any(|o| !matches!(o, OpOutcome::Applied));
            outcomes.extend(window);
            if failed {
                break;
            }
        }
        outcomes.resize_with(ops.len(), || OpOutcome::NotSent);
        outcomes
    }

    /// Encodes, sends and acknowledges one window starting at `ops[start]`; returns the
    /// outcomes of the operations it covers (at least one).
    fn send_window(&mut self, ops: &[IpvsOp<'_>], start: usize) -> Vec<OpOutcome> {
        // An operation that cannot be encoded ends the window: the ones before it are
        // still sent, then it is reported as refused without reaching the kernel.
        let first_seq = self.socket.start_batch();
        let mut end = start;
        let mut invalid = None;
        while end < ops.len() && end - start < self.window && self.socket.batch_len() < MAX_BATCH_BYTES {
            let family = self.family;
            match self.socket.add_to_batch(|w, seq| codec::encode_op(w, family, seq, &ops[end])) {
                Ok(()) => end += 1,
                Err(detail) => {
                    invalid = Some(NetlinkError::InvalidRequest { action: ops[end].describe(), detail });
                    break;
                }
            }
        }
        let sent = &ops[start..end];
        let mut outcomes: Vec<OpOutcome> = Vec::with_capacity(sent.len() + 1);
        if !sent.is_empty() {
            if let Err(source) = self.socket.send_batch() {
                // One datagram: the kernel saw none of it.
                outcomes.push(OpOutcome::Refused(NetlinkError::Io {
                    action: sent[0].describe(),
                    source,
                    note: format!(" (sending a batch of {} operations; none of them was applied)", sent.len()),
                }));
                outcomes.resize_with(sent.len(), || OpOutcome::NotSent);
                return outcomes;
            }
            self.writes += sent.len();
            let mut acks: Vec<Ack> = vec![None; sent.len()];
            let lost = self.socket.collect_acks(first_seq, &mut acks);
            outcomes.extend(sent.iter().zip(acks).map(|(op, ack)| op_outcome(op, ack, lost.as_ref())));
        }
        if let Some(error) = invalid {
            outcomes.push(OpOutcome::Refused(error));
        }
        outcomes
    }
}

/// What became of one operation passed to [`IpvsClient::execute`].
#[derive(Debug)]
pub enum OpOutcome {
    /// Acknowledged by the kernel: it took effect.
    Applied,
    /// Refused by the kernel (the error carries its errno) or, for a request that cannot be
    /// encoded, before sending: it did not take effect.
    Refused(NetlinkError),
    /// Sent, but its acknowledgement was lost: it may or may not have taken effect.
    Unknown(NetlinkError),
    /// Never sent: an earlier window failed, or a stop was requested.
    NotSent,
}

/// The first operation that did not take effect for sure, with its error: for callers that
/// want all or nothing to be reported as one error (tests, tools). Operations after it may
/// still have been applied; callers that must report the host exactly read every outcome.
pub fn first_failure(outcomes: Vec<OpOutcome>) -> Result<(), (usize, NetlinkError)> {
    outcomes
        .into_iter()
        .enumerate()
        .find_map(|(index, outcome)| match outcome {
            OpOutcome::Refused(error) | OpOutcome::Unknown(error) => Some((index, error)),
            OpOutcome::Applied | OpOutcome::NotSent => None,
        })
        .map_or(Ok(()), Err)
}

/// Puts one acknowledgement into words. `lost` is the socket error that cost the missing
/// acknowledgements, if any were missing.
fn op_outcome(op: &IpvsOp<'_>, ack: Ack, lost: Option<&std::io::Error>) -> OpOutcome {
    match ack {
        Some(Ok(())) => OpOutcome::Applied,
        Some(Err((errno, _))) if errno == errno::EPERM => {
            OpOutcome::Refused(NetlinkError::PermissionDenied { action: op.describe() })
        }
        Some(Err((errno, message))) => OpOutcome::Refused(NetlinkError::Rejected {
            action: op.describe(),
            errno,
            reason: op.rejection(errno),
            kernel: message,
        }),
        None => {
            let cause = lost.map_or_else(|| "acknowledgement missing".to_string(), ToString::to_string);
            let kind = lost.map_or(std::io::ErrorKind::Other, std::io::Error::kind);
            let source = match lost.and_then(std::io::Error::raw_os_error) {
                Some(code) => std::io::Error::from_raw_os_error(code),
                None => std::io::Error::new(kind, cause),
            };
            OpOutcome::Unknown(NetlinkError::Io {
                action: op.describe(),
                source,
                note: " while reading acknowledgements: whether it was applied is unknown; read the table again"
                    .to_string(),
            })
        }
    }
}
