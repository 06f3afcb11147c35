//! Writing generic netlink requests straight into the outgoing buffer.
//!
//! Not through neli's `Nlmsghdr`/`Genlmsghdr`/`Nlattr` builders: those allocate per
//! attribute and re-serialize every nest, which measured as 43 % of the time of a
//! 30,000-operation IPVS batch.

/// `nlmsg_flags` bits used in requests.
pub const NLM_F_REQUEST: u16 = 0x1;
pub const NLM_F_ACK: u16 = 0x4;
pub const NLM_F_DUMP: u16 = 0x300;
/// `NLA_F_NESTED`: set on the nests we send, as current kernels expect and older ones
/// ignore.
const NLA_F_NESTED: u16 = 0x8000;

/// Netlink messages laid end to end in one buffer, ready for one `send(2)`.
#[derive(Default)]
pub struct Writer {
    buf: Vec<u8>,
}

impl Writer {
    pub fn new() -> Self {
        Writer { buf: Vec::with_capacity(16 * 1024) }
    }

    pub fn bytes(&self) -> &[u8] {
        &self.buf
    }

    pub fn len(&self) -> usize {
        self.buf.len()
    }

    pub fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }

    pub fn clear(&mut self) {
        self.buf.clear();
    }

    /// Appends one request: netlink header (NLM_F_REQUEST is added to `flags`), generic
    /// netlink header, then whatever `body` writes. If `body` fails, nothing is appended.
    pub fn message<E>(
        &mut self,
        kind: u16,
        flags: u16,
        seq: u32,
        (command, version): (u8, u8),
        body: impl FnOnce(&mut Self) -> Result<(), E>,
    ) -> Result<(), E> {
        let start = self.buf.len();
        self.buf.extend_from_slice(&0u32.to_ne_bytes()); // nlmsg_len, patched below
        self.buf.extend_from_slice(&kind.to_ne_bytes());
        self.buf.extend_from_slice(&(flags | NLM_F_REQUEST).to_ne_bytes());
        self.buf.extend_from_slice(&seq.to_ne_bytes());
        self.buf.extend_from_slice(&0u32.to_ne_bytes()); // nlmsg_pid: the kernel
        self.buf.extend_from_slice(&[command, version, 0, 0]);
        if let Err(e) = body(self) {
            self.buf.truncate(start);
            return Err(e);
        }
        let len = (self.buf.len() - start) as u32;
        self.buf[start..start + 4].copy_from_slice(&len.to_ne_bytes());
        Ok(())
    }

    /// One attribute, padded to 4 bytes.
    pub fn attr(&mut self, kind: u16, payload: &[u8]) {
        self.buf.extend_from_slice(&((4 + payload.len()) as u16).to_ne_bytes());
        self.buf.extend_from_slice(&kind.to_ne_bytes());
        self.buf.extend_from_slice(payload);
        self.pad();
    }

    fn pad(&mut self) {
        while self.buf.len() % 4 != 0 {
            self.buf.push(0);
        }
    }

    /// A nested attribute around whatever `inner` writes.
    pub fn nest<E>(&mut self, kind: u16, inner: impl FnOnce(&mut Self) -> Result<(), E>) -> Result<(), E> {
        let start = self.buf.len();
        self.buf.extend_from_slice(&[0, 0]);
        self.buf.extend_from_slice(&(kind | NLA_F_NESTED).to_ne_bytes());
        inner(self)?;
        let len = (self.buf.len() - start) as u16;
        self.buf[start..start + 2].copy_from_slice(&len.to_ne_bytes());
        Ok(())
    }

    pub fn u8(&mut self, kind: u16, value: u8) {
        self.attr(kind, &[value]);
    }
    pub fn u16(&mut self, kind: u16, value: u16) {
        self.attr(kind, &value.to_ne_bytes());
    }
    pub fn be16(&mut self, kind: u16, value: u16) {
        self.attr(kind, &value.to_be_bytes());
    }
    pub fn u32(&mut self, kind: u16, value: u32) {
        self.attr(kind, &value.to_ne_bytes());
    }
    /// A NUL-terminated string.
    pub fn string(&mut self, kind: u16, value: &str) {
        let mut payload = Vec::with_capacity(value.len() + 1);
        payload.extend_from_slice(value.as_bytes());
        payload.push(0);
        self.attr(kind, &payload);
    }
}
