//! Reading the attributes of a reply: typed, with the attribute's name in errors.

use super::transport::Attrs;

/// Why a reply could not be turned into model data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DecodeError {
    /// The message is not what the protocol says (missing or short attribute).
    Malformed(String),
    /// Valid kernel state the model has no way to express.
    Unrepresentable(String),
}

/// Attribute types below this are found through a table built in one pass; IPVS, fou and
/// the controller use no higher ones. Looking each one up by walking the run made
/// decoding a real server (a dozen lookups past two large statistics nests) quadratic
/// in its attribute count.
const INDEXED: usize = 16;

/// Typed reads of attributes, with the attribute's name for error messages.
pub struct Typed<'a> {
    attrs: Attrs<'a>,
    /// The payload of the first attribute of each type below `INDEXED`.
    first: [Option<&'a [u8]>; INDEXED],
}

impl<'a> Typed<'a> {
    pub fn new(attrs: Attrs<'a>) -> Self {
        let mut first = [None; INDEXED];
        for (kind, payload) in attrs.iter() {
            if let Some(slot @ None) = first.get_mut(usize::from(kind)) {
                *slot = Some(payload);
            }
        }
        Typed { attrs, first }
    }

    /// The payload of the first attribute of type `kind`, as [`Attrs::get`] finds it.
    fn get(&self, kind: u16) -> Option<&'a [u8]> {
        match self.first.get(usize::from(kind)) {
            Some(payload) => *payload,
            None => self.attrs.get(kind),
        }
    }

    pub fn fixed<const N: usize>(&self, kind: u16, what: &str) -> Result<Option<[u8; N]>, DecodeError> {
        match self.get(kind) {
            None => Ok(None),
            Some(bytes) if bytes.len() >= N => {
                let mut out = [0u8; N];
                out.copy_from_slice(&bytes[..N]);
                Ok(Some(out))
            }
            Some(bytes) => {
                Err(DecodeError::Malformed(format!("attribute {what} has {} bytes, expected {N}", bytes.len())))
            }
        }
    }

    pub fn require<T>(value: Option<T>, what: &str) -> Result<T, DecodeError> {
        value.ok_or_else(|| DecodeError::Malformed(format!("attribute {what} is missing")))
    }

    pub fn u8(&self, kind: u16, what: &str) -> Result<Option<u8>, DecodeError> {
        Ok(self.fixed::<1>(kind, what)?.map(|b| b[0]))
    }
    pub fn u16(&self, kind: u16, what: &str) -> Result<Option<u16>, DecodeError> {
        Ok(self.fixed::<2>(kind, what)?.map(u16::from_ne_bytes))
    }
    pub fn be16(&self, kind: u16, what: &str) -> Result<Option<u16>, DecodeError> {
        Ok(self.fixed::<2>(kind, what)?.map(u16::from_be_bytes))
    }
    pub fn u32(&self, kind: u16, what: &str) -> Result<Option<u32>, DecodeError> {
        Ok(self.fixed::<4>(kind, what)?.map(u32::from_ne_bytes))
    }
    /// A NUL-terminated string attribute.
    pub fn string(&self, kind: u16) -> Option<String> {
        self.get(kind).map(|bytes| {
            let end = bytes.iter().position(|b| *b == 0).unwrap_or(bytes.len());
            String::from_utf8_lossy(&bytes[..end]).into_owned()
        })
    }

    /// The attributes inside nested attribute `kind`.
    pub fn nested(&self, kind: u16, what: &str) -> Result<Typed<'a>, DecodeError> {
        self.get(kind)
            .map(|payload| Typed::new(Attrs::new(payload)))
            .ok_or_else(|| DecodeError::Malformed(format!("attribute {what} is missing")))
    }
}
