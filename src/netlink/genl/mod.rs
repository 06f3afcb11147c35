//! Generic netlink, whatever the family: the socket, requests written in place, replies
//! read in place, family lookup, and the request/ack/dump exchange. A family's client
//! (IPVS today) adds only its codec and commands:
//!
//! ```text
//! let mut socket = GenlSocket::open()?;                 // this netns
//! let family = socket.resolve_family("IPVS")?;          // autoloads the module
//! socket.request(true, REPLY_CMD, |w, seq| write_dump(w, family, seq), |attrs| decode(attrs))?;
//! ```
//!
//! Bulk changes are pipelined: [`GenlSocket::start_batch`], then [`GenlSocket::add_to_batch`]
//! per request, [`GenlSocket::send_batch`] sends them in one `send(2)`, and
//! [`GenlSocket::collect_acks`] matches the acknowledgements by sequence number. How many
//! requests go in one batch and what a refusal means is the family client's business.

pub mod controller;
mod decode;
mod transport;
mod writer;

#[cfg(test)]
pub(crate) mod tests;

use std::io;

pub use decode::{DecodeError, Typed};
pub use transport::{parse_datagram, Attrs, Calls, Reply};
pub use writer::{Writer, NLM_F_ACK, NLM_F_DUMP, NLM_F_REQUEST};

use transport::Transport;

/// Low-level failure of one exchange, before a family client puts it in words.
#[derive(Debug)]
pub enum Fault {
    /// The kernel refused the request (NLMSG_ERROR) or ended its dump with an error.
    Errno {
        errno: i32,
        message: Option<String>,
    },
    /// The request could not be sent: the kernel never saw it.
    Unsent(io::Error),
    /// Reading the answer failed, after the request was sent.
    Io(io::Error),
    Protocol(String),
    Decode(DecodeError),
}

/// One sent request's acknowledgement: `None` if it never arrived, otherwise success or
/// the kernel's errno with its extended-ack message.
pub type Ack = Option<Result<(), (i32, Option<String>)>>;

/// A generic netlink socket of one network namespace, with its sequence numbers and
/// outgoing buffer.
pub struct GenlSocket {
    transport: Transport,
    seq: u32,
    /// Outgoing requests, reused between calls.
    out: Writer,
    /// A request was abandoned before all its replies were read: drain before the next.
    dirty: bool,
}

impl GenlSocket {
    /// Opens a generic netlink socket in the *current* network namespace (the one the
    /// calling thread is in now; the socket stays bound to it).
    pub fn open() -> io::Result<Self> {
        Ok(GenlSocket { transport: Transport::open()?, seq: 0, out: Writer::new(), dirty: false })
    }

    /// System calls made on this socket so far.
    pub fn calls(&self) -> Calls {
        self.transport.calls()
    }

    fn next_seq(&mut self) -> u32 {
        self.seq = self.seq.wrapping_add(1);
        self.seq
    }

    /// The id of the family called `name`. The kernel answers ENOENT (as
    /// [`Fault::Errno`]) for a family it does not have, even after trying to load it.
    pub fn resolve_family(&mut self, name: &str) -> Result<u16, Fault> {
        let mut family = None;
        self.request(
            false,
            controller::CMD_NEWFAMILY,
            |w, seq| controller::family_lookup(w, seq, name),
            |attrs| {
                family = Some(controller::decode_family_id(attrs)?);
                Ok(())
            },
        )?;
        family.ok_or_else(|| Fault::Protocol("the controller acknowledged without giving a family id".into()))
    }

    /// Writes one request with `write` (given the sequence number to use), sends it and
    /// reads until it is finished: NLMSG_DONE for a dump, the ack for anything else. Every
    /// data message of the request (which must carry generic netlink command
    /// `reply_command`) goes to `each`. Replies to other sequence numbers (left over from an
    /// aborted batch) are skipped.
    pub fn request(
        &mut self,
        dump: bool,
        reply_command: u8,
        write: impl FnOnce(&mut Writer, u32),
        mut each: impl FnMut(Attrs<'_>) -> Result<(), DecodeError>,
    ) -> Result<(), Fault> {
        let seq = self.next_seq();
        self.out.clear();
        write(&mut self.out, seq);
        if self.dirty {
            self.transport.drain();
        }
        self.transport.send(self.out.bytes()).map_err(Fault::Unsent)?;
        let result = self.read_until_finished(seq, dump, reply_command, &mut each);
        // Finished cleanly, or refused by the kernel (which ends the request too).
        self.dirty = !matches!(result, Ok(()) | Err(Fault::Errno { .. }));
        result
    }

    fn read_until_finished(
        &mut self,
        seq: u32,
        dump: bool,
        reply_command: u8,
        each: &mut impl FnMut(Attrs<'_>) -> Result<(), DecodeError>,
    ) -> Result<(), Fault> {
        loop {
            for reply in self.transport.recv().map_err(Fault::Io)? {
                if reply.seq() != Some(seq) {
                    continue;
                }
                match reply {
                    Reply::Payload { command, attrs, .. } if command == reply_command => {
                        each(attrs).map_err(Fault::Decode)?
                    }
                    Reply::Payload { command, .. } => {
                        return Err(Fault::Protocol(format!(
                            "reply with generic netlink command {command}, expected {reply_command}"
                        )))
                    }
                    Reply::Error { errno, message, .. } => return Err(Fault::Errno { errno, message }),
                    Reply::Done { errno: 0, .. } | Reply::Ack { .. } if !dump => return Ok(()),
                    Reply::Done { errno: 0, .. } => return Ok(()),
                    Reply::Done { errno, message, .. } => return Err(Fault::Errno { errno, message }),
                    Reply::Ack { .. } => {
                        return Err(Fault::Protocol("a dump was acknowledged instead of ended".into()))
                    }
                    Reply::Other => {}
                }
            }
        }
    }

    /// Empties the outgoing buffer for a new batch; returns the sequence number its first
    /// request will carry.
    pub fn start_batch(&mut self) -> u32 {
        self.out.clear();
        self.seq.wrapping_add(1)
    }

    /// Appends one request to the batch under the next sequence number. `write` must append
    /// nothing when it fails (as [`Writer::message`] does); the number is then not used.
    pub fn add_to_batch<E>(&mut self, write: impl FnOnce(&mut Writer, u32) -> Result<(), E>) -> Result<(), E> {
        let seq = self.seq.wrapping_add(1);
        write(&mut self.out, seq)?;
        self.seq = seq;
        Ok(())
    }

    /// Bytes of requests in the batch so far.
    pub fn batch_len(&self) -> usize {
        self.out.len()
    }

    /// Sends the batch in one datagram: the kernel handles every request in it, in order,
    /// and does not stop at a failure. On error the kernel saw none of it.
    pub fn send_batch(&mut self) -> io::Result<()> {
        if self.dirty {
            self.transport.drain();
        }
        self.dirty = true;
        self.transport.send(self.out.bytes())
    }

    /// Reads the acknowledgements of a sent batch whose first request had `first_seq`.
    /// Returns the socket error if some never arrived (their slots stay `None`). After
    /// ENOBUFS it still reads what the kernel did queue, to narrow down what is unknown.
    pub fn collect_acks(&mut self, first_seq: u32, acks: &mut [Ack]) -> Option<io::Error> {
        let lost = self.read_acks(first_seq, acks);
        self.dirty = lost.is_some();
        lost
    }

    fn read_acks(&mut self, first_seq: u32, outcomes: &mut [Ack]) -> Option<io::Error> {
        let mut pending = outcomes.iter().filter(|ack| ack.is_none()).count();
        let mut overflow = None;
        while pending > 0 {
            let replies = match self.transport.recv() {
                Ok(replies) => replies,
                Err(e) if e.raw_os_error() == Some(super::errno::ENOBUFS) => {
                    overflow = Some(e);
                    continue;
                }
                Err(e) => return Some(overflow.unwrap_or(e)),
            };
            for reply in replies {
                let (seq, outcome) = match reply {
                    Reply::Ack { seq } => (seq, Ok(())),
                    Reply::Error { seq, errno, message } => (seq, Err((errno, message))),
                    _ => continue,
                };
                let slot = seq.wrapping_sub(first_seq) as usize;
                if slot < outcomes.len() && outcomes[slot].is_none() {
                    outcomes[slot] = Some(outcome);
                    pending -= 1;
                }
            }
        }
        None
    }
}
