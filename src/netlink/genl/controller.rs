//! The generic netlink controller ("nlctrl"): it maps a family's name to the id that
//! requests to that family carry. Asking it by name also makes the kernel try to load the
//! module that registers the family.

use super::decode::{DecodeError, Typed};
use super::transport::Attrs;
use super::writer::{Writer, NLM_F_ACK};

/// `GENL_ID_CTRL`, `CTRL_CMD_*`, `CTRL_ATTR_*` from include/uapi/linux/genetlink.h.
pub const ID: u16 = 0x10;
pub const CMD_NEWFAMILY: u8 = 1;
pub const CMD_GETFAMILY: u8 = 3;
pub const VERSION: u8 = 2;
pub const ATTR_FAMILY_ID: u16 = 1;
pub const ATTR_FAMILY_NAME: u16 = 2;

/// CTRL_CMD_GETFAMILY for the family called `name` (e.g. "IPVS", "fou").
pub fn family_lookup(w: &mut Writer, seq: u32, name: &str) {
    let _ = w.message(ID, NLM_F_ACK, seq, (CMD_GETFAMILY, VERSION), |w| {
        w.string(ATTR_FAMILY_NAME, name);
        Ok::<(), ()>(())
    });
}

/// CTRL_ATTR_FAMILY_ID of a CTRL_CMD_NEWFAMILY reply.
pub fn decode_family_id(attrs: Attrs<'_>) -> Result<u16, DecodeError> {
    Typed::require(Typed::new(attrs).u16(ATTR_FAMILY_ID, "CTRL_ATTR_FAMILY_ID")?, "CTRL_ATTR_FAMILY_ID")
}
