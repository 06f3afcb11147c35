//! The generic netlink socket and the framing of what comes back on it.
//!
//! This drives neli's low-level [`NlSocket`] (the socket that `NlSocketHandle` wraps)
//! because bulk changes want several requests in one `send(2)`, which
//! `NlSocketHandle::send` (one message per call) cannot do, and because its `recv` goes
//! through a mutex-guarded buffer pool per call. Replies are taken several datagrams per
//! `recvmmsg(2)`. Requests are written by `codec::Writer`; replies are split here, data
//! messages read in place, acks and errors through neli's `Nlmsghdr` parser (which also
//! decodes extended-ack messages).

use std::io::{self, Cursor};
use std::os::fd::AsRawFd;

use neli::consts::socket::{Msg, NlFamily};
use neli::err::Nlmsgerr;
use neli::nl::{NlPayload, Nlmsghdr};
use neli::socket::NlSocket;
use neli::types::Buffer;
use neli::utils::Groups;
use neli::FromBytes;
use nix::libc;

/// Datagrams taken by one receive call. A small dump and its NLMSG_DONE are two (the
/// kernel makes the next part of a dump inside the receive that takes the previous one,
/// so `recvmmsg` finds it queued), a window of pipelined requests is one ack each: with
/// one datagram per call, reading 10,000 GET_DEST dumps took 20,000 receives.
const SLOTS: usize = 32;
/// Room for one datagram. The kernel sizes a dump's datagrams to the largest receive
/// buffer it has seen on the socket (capped at 32 KiB; never less than NLMSG_GOODSIZE,
/// a page or 8 KiB minus overhead) and trims them to that size, so every datagram fits.
const SLOT_SIZE: usize = 32 * 1024;

pub struct Transport {
    socket: NlSocket,
    /// `SLOTS` receive buffers of `SLOT_SIZE` bytes, end to end.
    buffer: Vec<u8>,
    /// Length of the datagram in each slot after the last receive.
    lengths: [usize; SLOTS],
    /// `send(2)` and `recvmmsg(2)` calls so far (failed ones too).
    calls: Calls,
}

/// How many system calls a socket made: what a dump's cost grows with.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Calls {
    pub sends: u64,
    pub receives: u64,
}

impl Transport {
    /// A generic netlink socket in the caller's current network namespace.
    pub fn open() -> io::Result<Self> {
        let socket = NlSocket::connect(NlFamily::Generic, None, Groups::empty())?;
        socket.block()?;
        // Extended acks add the kernel's own explanation to errors where it has one
        // (attribute validation). Old kernels refuse the option: that only loses detail.
        let _ = socket.enable_ext_ack(true);
        // Every pipelined request's ack waits in the receive buffer until read (about
        // 800 bytes of socket memory each). Ask for the most the kernel allows: it caps
        // the request at net.core.rmem_max and doubles it (416 KiB with the defaults,
        // twice the 208 KiB a socket starts with).
        let _ = socket.set_recv_buffer_size(1 << 20);
        Ok(Transport { socket, buffer: vec![0; SLOTS * SLOT_SIZE], lengths: [0; SLOTS], calls: Calls::default() })
    }

    /// Sends one datagram holding one or more complete netlink messages. The kernel
    /// processes every message in it, in order, before `send` returns.
    pub fn send(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.calls.sends += 1;
        let sent = self.socket.send(bytes, Msg::empty())?;
        if sent != bytes.len() {
            return Err(io::Error::other(format!("short netlink send: {sent} of {} bytes", bytes.len())));
        }
        Ok(())
    }

    /// Receives every queued datagram (up to `SLOTS`) and splits them into replies, in
    /// the order the kernel queued them.
    ///
    /// Never blocks. The kernel answers generic netlink requests inside the `send(2)`
    /// that carries them, and produces the next part of a dump inside the receive that
    /// takes the previous one, so everything still owed is already queued. An empty queue
    /// therefore means replies were lost (the kernel drops what does not fit the receive
    /// buffer and reports ENOBUFS only once until the queue is drained): waiting would
    /// hang forever, so that is returned as [`io::ErrorKind::WouldBlock`]. ENOBUFS met
    /// after some datagrams were taken is returned by the next call.
    pub fn recv(&mut self) -> io::Result<Vec<Reply<'_>>> {
        let count = self.recv_raw().map_err(|e| match e.kind() {
            io::ErrorKind::WouldBlock => io::Error::new(
                io::ErrorKind::WouldBlock,
                "replies the kernel owed were lost (the socket receive buffer overflowed)",
            ),
            _ => e,
        })?;
        let mut replies = Vec::new();
        for (slot, len) in self.buffer.chunks_exact(SLOT_SIZE).zip(&self.lengths[..count]) {
            parse_datagram_into(&slot[..*len], &mut replies).map_err(io::Error::other)?;
        }
        Ok(replies)
    }

    /// Takes up to `SLOTS` queued datagrams into the slots; returns how many.
    fn recv_raw(&mut self) -> io::Result<usize> {
        // SAFETY: all-zero is a valid iovec and mmsghdr (null pointers, zero lengths).
        let mut iovecs: [libc::iovec; SLOTS] = unsafe { std::mem::zeroed() };
        let mut headers: [libc::mmsghdr; SLOTS] = unsafe { std::mem::zeroed() };
        for ((iovec, header), slot) in
            iovecs.iter_mut().zip(headers.iter_mut()).zip(self.buffer.chunks_exact_mut(SLOT_SIZE))
        {
            iovec.iov_base = slot.as_mut_ptr().cast();
            iovec.iov_len = SLOT_SIZE;
            header.msg_hdr.msg_iov = iovec;
            header.msg_hdr.msg_iovlen = 1;
        }
        let count = loop {
            self.calls.receives += 1;
            // SAFETY: every header points at one iovec that covers its own slot of
            // `self.buffer`, all of which outlive the call; no address, no control data.
            let count = unsafe {
                libc::recvmmsg(
                    self.socket.as_raw_fd(),
                    headers.as_mut_ptr(),
                    SLOTS as libc::c_uint,
                    (libc::MSG_TRUNC | libc::MSG_DONTWAIT) as _,
                    std::ptr::null_mut(),
                )
            };
            match count {
                -1 => match io::Error::last_os_error() {
                    e if e.kind() == io::ErrorKind::Interrupted => continue,
                    e => return Err(e),
                },
                count => break count as usize,
            }
        };
        for (length, header) in self.lengths.iter_mut().zip(&headers[..count]) {
            // With MSG_TRUNC the length is the datagram's own, even where it was cut.
            let len = header.msg_len as usize;
            if len > SLOT_SIZE {
                return Err(io::Error::other(format!(
                    "netlink datagram of {len} bytes did not fit the {SLOT_SIZE} byte receive buffer"
                )));
            }
            *length = len;
        }
        Ok(count)
    }

    pub fn calls(&self) -> Calls {
        self.calls
    }

    /// Throws away everything queued (replies to an aborted batch, the rest of an
    /// abandoned dump, a pending ENOBUFS), so that the next request starts clean: an
    /// unfinished dump would make the next one fail with EBUSY, and a congested socket
    /// drops replies without reporting it again.
    pub fn drain(&mut self) {
        loop {
            match self.recv_raw() {
                Ok(_) => continue,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.raw_os_error() == Some(crate::netlink::errno::ENOBUFS) => continue,
                Err(_) => break,
            }
        }
    }
}

/// What one netlink message in a reply datagram says. Data messages borrow the receive
/// buffer: a 10,000-service dump is 30,000 of them, and copying each into neli's
/// per-attribute buffers took about as long as the kernel needed to produce them.
#[derive(Debug)]
pub enum Reply<'a> {
    /// Data (a dump entry or a GET reply): the generic netlink command and the raw
    /// attributes after the genl header.
    Payload { seq: u32, command: u8, attrs: Attrs<'a> },
    /// NLMSG_ERROR with error 0: the request succeeded.
    Ack { seq: u32 },
    /// NLMSG_ERROR with a negative errno (stored positive here), plus the extended ack
    /// message if the kernel gave one.
    Error { seq: u32, errno: i32, message: Option<String> },
    /// NLMSG_DONE: the end of a dump; `errno` is non-zero if the dump failed midway.
    Done { seq: u32, errno: i32, message: Option<String> },
    /// Anything else (NLMSG_NOOP, …): ignored.
    Other,
}

impl Reply<'_> {
    pub fn seq(&self) -> Option<u32> {
        match self {
            Reply::Payload { seq, .. } | Reply::Ack { seq } | Reply::Error { seq, .. } | Reply::Done { seq, .. } => {
                Some(*seq)
            }
            Reply::Other => None,
        }
    }
}

fn ext_ack_message<M>(err: &Nlmsgerr<M>) -> Option<String> {
    err.ext_ack()
        .as_ref()
        .iter()
        .find(|a| u16::from(*a.nla_type().nla_type()) == 1) // NLMSGERR_ATTR_MSG
        .map(|a| {
            let bytes: &[u8] = a.nla_payload().as_ref();
            let end = bytes.iter().position(|b| *b == 0).unwrap_or(bytes.len());
            String::from_utf8_lossy(&bytes[..end]).into_owned()
        })
        .filter(|m| !m.is_empty())
}

const NLMSG_HDRLEN: usize = 16;
const GENL_HDRLEN: usize = 4;
const NLMSG_ERROR: u16 = 2;
const NLMSG_DONE: u16 = 3;
const NLMSG_MIN_TYPE: u16 = 0x10;

/// Splits a datagram into messages using each header's length. Data messages are read in
/// place; NLMSG_ERROR and NLMSG_DONE go through neli's parser.
pub fn parse_datagram(bytes: &[u8]) -> Result<Vec<Reply<'_>>, String> {
    let mut replies = Vec::new();
    parse_datagram_into(bytes, &mut replies)?;
    Ok(replies)
}

/// [`parse_datagram`], appending to `replies`.
fn parse_datagram_into<'a>(bytes: &'a [u8], replies: &mut Vec<Reply<'a>>) -> Result<(), String> {
    let mut offset = 0;
    while offset + NLMSG_HDRLEN <= bytes.len() {
        let header = &bytes[offset..offset + NLMSG_HDRLEN];
        let len = u32::from_ne_bytes(header[0..4].try_into().expect("4 bytes")) as usize;
        if len < NLMSG_HDRLEN || offset + len > bytes.len() {
            return Err(format!(
                "netlink message at offset {offset} claims {len} bytes, {} are left",
                bytes.len() - offset
            ));
        }
        let kind = u16::from_ne_bytes([header[4], header[5]]);
        let seq = u32::from_ne_bytes(header[8..12].try_into().expect("4 bytes"));
        let message = &bytes[offset..offset + len];
        replies.push(match kind {
            // The common case, a plain ack (error 0), needs no further parsing.
            NLMSG_ERROR if message.get(NLMSG_HDRLEN..NLMSG_HDRLEN + 4) == Some(&[0; 4]) => Reply::Ack { seq },
            NLMSG_ERROR | NLMSG_DONE => parse_control(message)?,
            k if k < NLMSG_MIN_TYPE => Reply::Other, // NLMSG_NOOP, NLMSG_OVERRUN
            _ => {
                let body = &message[NLMSG_HDRLEN..];
                if body.len() < GENL_HDRLEN {
                    return Err(format!("generic netlink message of {len} bytes has no genl header"));
                }
                Reply::Payload { seq, command: body[0], attrs: Attrs::new(&body[GENL_HDRLEN..]) }
            }
        });
        offset += (len + 3) & !3;
    }
    Ok(())
}

fn parse_control(message: &[u8]) -> Result<Reply<'static>, String> {
    // neli reads trailing alignment padding, which the last message may lack.
    let mut padded = message.to_vec();
    padded.resize((message.len() + 3) & !3, 0);
    let header = Nlmsghdr::<u16, Buffer>::from_bytes(&mut Cursor::new(&padded))
        .map_err(|e| format!("cannot parse netlink message: {e}"))?;
    let seq = *header.nl_seq();
    let is_done = *header.nl_type() == NLMSG_DONE;
    Ok(match header.nl_payload() {
        NlPayload::Ack(_) => Reply::Ack { seq },
        NlPayload::Err(err) => Reply::Error { seq, errno: -*err.error(), message: ext_ack_message(err) },
        NlPayload::DumpExtAck(err) => Reply::Done { seq, errno: -*err.error(), message: ext_ack_message(err) },
        NlPayload::Payload(body) if is_done => {
            // NLMSG_DONE without NLM_F_MULTI: neli hands over the raw int.
            let raw: &[u8] = body.as_ref();
            let code = raw.get(..4).map(|b| i32::from_ne_bytes(b.try_into().expect("4 bytes")));
            Reply::Done { seq, errno: -code.unwrap_or(0), message: None }
        }
        NlPayload::Empty if is_done => Reply::Done { seq, errno: 0, message: None },
        _ => Reply::Other,
    })
}

/// A run of netlink attributes, read in place.
#[derive(Clone, Copy)]
pub struct Attrs<'a>(&'a [u8]);

impl std::fmt::Debug for Attrs<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.iter().map(|(kind, payload)| (kind, payload.len()))).finish()
    }
}

impl<'a> Attrs<'a> {
    pub fn new(bytes: &'a [u8]) -> Self {
        Attrs(bytes)
    }

    /// (type without the NLA_F_NESTED/NLA_F_NET_BYTEORDER bits, payload) pairs. Stops
    /// at a truncated attribute.
    pub fn iter(&self) -> impl Iterator<Item = (u16, &'a [u8])> + 'a {
        let mut rest = self.0;
        std::iter::from_fn(move || {
            if rest.len() < 4 {
                return None;
            }
            let len = u16::from_ne_bytes([rest[0], rest[1]]) as usize;
            let kind = u16::from_ne_bytes([rest[2], rest[3]]) & 0x3fff;
            if len < 4 || len > rest.len() {
                rest = &[];
                return None;
            }
            let payload = &rest[4..len];
            rest = &rest[((len + 3) & !3).min(rest.len())..];
            Some((kind, payload))
        })
    }

    pub fn get(&self, kind: u16) -> Option<&'a [u8]> {
        self.iter().find(|(k, _)| *k == kind).map(|(_, payload)| payload)
    }
}
