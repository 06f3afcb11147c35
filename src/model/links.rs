//! Network interfaces lvs-converge manages: ipip tunnel devices (the fallback `tunl0` and
//! named point-to-point or any/any tunnels), and the admin state / MTU of any interface.

use std::fmt;
use std::net::Ipv4Addr;

use serde::{Deserialize, Serialize};

use super::keyed::Keyed;

/// Name of the fallback ipip device the `ipip` module creates in every namespace. It cannot
/// be created or deleted, and its endpoints cannot be changed.
pub const FALLBACK_TUNNEL: &str = "tunl0";

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum LinkKind {
    /// IPv4-in-IPv4 tunnel (protocol 4). `local`/`remote` None means "any".
    #[serde(rename_all = "camelCase")]
    Ipip {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        local: Option<Ipv4Addr>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        remote: Option<Ipv4Addr>,
        /// 0 = inherit the inner packet's TTL.
        #[serde(default)]
        ttl: u8,
        /// Path MTU discovery (DF on the outer header); the kernel's default is on.
        #[serde(default = "default_true")]
        pmtudisc: bool,
    },
    /// Any other kind of interface (ethernet, veth, loopback …): only its admin state and MTU
    /// are managed, never its existence.
    Other { kind: String },
}

fn default_true() -> bool {
    true
}

impl LinkKind {
    pub fn name(&self) -> &str {
        match self {
            LinkKind::Ipip { .. } => "ipip",
            LinkKind::Other { kind } => kind,
        }
    }
}

/// An interface. In a desired state, `None` fields are not managed.
// No deny_unknown_fields: serde cannot combine it with the flattened kind.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Link {
    pub name: String,
    #[serde(flatten)]
    pub kind: LinkKind,
    /// Administratively up.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub up: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mtu: Option<u32>,
}

impl Keyed for Link {
    type Key = String;
    fn key(&self) -> String {
        self.name.clone()
    }
}

impl Link {
    /// True when the kernel creates this device by itself (tunl0), so that it can only be
    /// configured, never created or removed.
    pub fn is_fallback_tunnel(&self) -> bool {
        self.name == FALLBACK_TUNNEL
    }
}

impl fmt::Display for Link {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.name, self.kind.name())
    }
}

/// Longest interface name in bytes: `IFNAMSIZ` (16) less the terminating NUL.
pub const MAX_INTERFACE_NAME: usize = 15;

/// Why the kernel would refuse a name for an interface.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InterfaceNameError {
    #[error("an interface name cannot be empty")]
    Empty,
    #[error("`{0}` is longer than {MAX_INTERFACE_NAME} bytes")]
    TooLong(String),
    #[error("`{0}` is a directory name, not an interface name")]
    Dot(String),
    #[error("`{name}` holds {character:?}, which an interface name cannot hold")]
    Character { name: String, character: char },
}

/// The rule of [`check_interface_name`] in words, for the hints that follow a refusal.
pub const INTERFACE_NAME_RULE: &str = "at most 15 bytes, no '/', ':' or whitespace, and not `.` or `..`";

/// The kernel's rule for interface names (`dev_valid_name()` in net/core/dev.c), the one
/// rule the spec and the netlink client both check: not empty, at most 15 bytes, not `.`
/// or `..` (which would also turn per-interface sysctl names into paths out of
/// /proc/sys/net/ipv4/conf), and no '/', ':', whitespace or NUL.
pub fn check_interface_name(name: &str) -> Result<(), InterfaceNameError> {
    if name.is_empty() {
        return Err(InterfaceNameError::Empty);
    }
    if name.len() > MAX_INTERFACE_NAME {
        return Err(InterfaceNameError::TooLong(name.to_string()));
    }
    if name == "." || name == ".." {
        return Err(InterfaceNameError::Dot(name.to_string()));
    }
    // The kernel tests bytes with its isspace(), which also counts 0xa0 (Latin-1 no-break
    // space); in UTF-8 that byte only occurs inside multi-byte characters.
    let refused = |c: char| matches!(c, '/' | ':' | '\0') || c.is_ascii_whitespace() || c == '\u{0b}';
    if let Some(character) = name.chars().find(|c| refused(*c) || (!c.is_ascii() && holds_byte_a0(*c))) {
        return Err(InterfaceNameError::Character { name: name.to_string(), character });
    }
    Ok(())
}

fn holds_byte_a0(c: char) -> bool {
    c.encode_utf8(&mut [0; 4]).bytes().any(|b| b == 0xa0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused(name: &str) -> InterfaceNameError {
        check_interface_name(name).expect_err(name)
    }

    #[test]
    fn ordinary_names_pass() {
        for name in ["lo", "eth0", "tunl0", "eth0.100", "a-very-long-nam", "vip_1", "é"] {
            assert_eq!(check_interface_name(name), Ok(()), "{name}");
        }
    }

    #[test]
    fn an_empty_name_is_refused() {
        assert_eq!(refused(""), InterfaceNameError::Empty);
    }

    #[test]
    fn sixteen_bytes_are_too_long_even_in_fewer_characters() {
        assert_eq!(refused("a-very-long-name"), InterfaceNameError::TooLong("a-very-long-name".into()));
        // Eight two-byte characters: 16 bytes.
        assert!(matches!(refused("éééééééé"), InterfaceNameError::TooLong(_)));
    }

    #[test]
    fn dot_and_dot_dot_are_refused() {
        assert_eq!(refused("."), InterfaceNameError::Dot(".".into()));
        assert_eq!(refused(".."), InterfaceNameError::Dot("..".into()));
    }

    #[test]
    fn slash_and_colon_are_refused() {
        assert!(matches!(refused("eth0/1"), InterfaceNameError::Character { character: '/', .. }));
        assert!(matches!(refused("eth0:1"), InterfaceNameError::Character { character: ':', .. }));
    }

    #[test]
    fn every_kind_of_whitespace_is_refused() {
        for (name, character) in [
            ("eth 0", ' '),
            ("eth\t0", '\t'),
            ("eth\n0", '\n'),
            ("eth\r0", '\r'),
            ("eth\x0b0", '\x0b'),
            ("eth\x0c0", '\x0c'),
        ] {
            assert_eq!(refused(name), InterfaceNameError::Character { name: name.into(), character }, "{name:?}");
        }
    }

    #[test]
    fn nul_is_refused() {
        assert!(matches!(refused("eth\u{0}1"), InterfaceNameError::Character { character: '\0', .. }));
    }

    #[test]
    fn a_character_whose_utf8_holds_the_kernels_latin1_space_is_refused() {
        // U+00E0 is C3 A0 in UTF-8; the kernel's isspace() says yes to 0xa0.
        assert!(matches!(refused("tun\u{e0}"), InterfaceNameError::Character { character: '\u{e0}', .. }));
    }
}
