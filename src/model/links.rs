//! Network interfaces lvs-converge manages: tunnel devices (ipip, gre, sit, ip6tnl, ip6gre:
//! the fallback device each module creates, and named point-to-point or any/any tunnels),
//! and the admin state / MTU of any interface.

use std::fmt;
use std::net::{Ipv4Addr, Ipv6Addr};

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::keyed::Keyed;

/// Name of the fallback ipip device the `ipip` module creates in every namespace. It cannot
/// be created or deleted, and its endpoints cannot be changed.
pub const FALLBACK_TUNNEL: &str = "tunl0";
/// The `ip_gre` module's fallback GRE device (IPv4 underlay). The module also creates
/// `gretap0` and `erspan0`, which are other kinds (Ethernet over GRE), not this one.
pub const FALLBACK_GRE: &str = "gre0";
/// The `sit` module's fallback device: IPv6 in IPv4.
pub const FALLBACK_SIT: &str = "sit0";
/// The `ip6_tunnel` module's fallback device: IPv4 or IPv6 in IPv6, by its mode.
pub const FALLBACK_IP6TNL: &str = "ip6tnl0";
/// The `ip6_gre` module's fallback GRE device (IPv6 underlay); `ip6gretap0` and
/// `ip6erspan0` are other kinds.
pub const FALLBACK_IP6GRE: &str = "ip6gre0";

/// Every fallback device, each created by its module in every namespace.
pub const FALLBACK_TUNNELS: [&str; 5] = [FALLBACK_TUNNEL, FALLBACK_GRE, FALLBACK_SIT, FALLBACK_IP6TNL, FALLBACK_IP6GRE];

/// Which inner packets an ip6tnl device carries, in iproute2's words.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Ip6tnlMode {
    /// IPv6 in IPv6 (inner protocol 41); the mode of the fallback ip6tnl0.
    #[default]
    Ip6ip6,
    /// IPv4 in IPv6 (inner protocol 4).
    Ipip6,
    /// Both.
    Any,
}

impl Ip6tnlMode {
    pub fn name(self) -> &'static str {
        match self {
            Ip6tnlMode::Ip6ip6 => "ip6ip6",
            Ip6tnlMode::Ipip6 => "ipip6",
            Ip6tnlMode::Any => "any",
        }
    }
}

impl fmt::Display for Ip6tnlMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

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
    /// GRE over IPv4 (protocol 47), without keys or sequence numbers.
    #[serde(rename_all = "camelCase")]
    Gre {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        local: Option<Ipv4Addr>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        remote: Option<Ipv4Addr>,
        #[serde(default)]
        ttl: u8,
        #[serde(default = "default_true")]
        pmtudisc: bool,
        /// iproute2's `icsum`: only GRE packets with a checksum are taken (and those without
        /// dropped); without it, checksummed ones are dropped. The kernel matches the flag
        /// both ways, so one receiving address takes one of the two.
        #[serde(default, skip_serializing_if = "is_false")]
        require_checksum: bool,
    },
    /// IPv6 in IPv4 (protocol 41).
    #[serde(rename_all = "camelCase")]
    Sit {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        local: Option<Ipv4Addr>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        remote: Option<Ipv4Addr>,
        #[serde(default)]
        ttl: u8,
        #[serde(default = "default_true")]
        pmtudisc: bool,
    },
    /// IPv4 or IPv6 in IPv6, by `mode`.
    #[serde(rename_all = "camelCase")]
    Ip6tnl {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        local: Option<Ipv6Addr>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        remote: Option<Ipv6Addr>,
        /// 0 = inherit the inner packet's hop limit.
        #[serde(default = "default_hop_limit")]
        hop_limit: u8,
        #[serde(default)]
        mode: Ip6tnlMode,
    },
    /// GRE over IPv6, without keys, sequence numbers or checksums.
    #[serde(rename_all = "camelCase")]
    Ip6gre {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        local: Option<Ipv6Addr>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        remote: Option<Ipv6Addr>,
        #[serde(default = "default_hop_limit")]
        hop_limit: u8,
    },
    /// Any other kind of interface (ethernet, veth, loopback …): only its admin state and MTU
    /// are managed, never its existence.
    Other { kind: String },
}

fn default_true() -> bool {
    true
}

fn is_false(value: &bool) -> bool {
    !*value
}

/// iproute2's default hop limit for IPv6 tunnels it creates.
pub const DEFAULT_HOP_LIMIT: u8 = 64;

fn default_hop_limit() -> u8 {
    DEFAULT_HOP_LIMIT
}

impl LinkKind {
    /// The kind as `ip -d link` and rtnetlink's IFLA_INFO_KIND name it.
    pub fn name(&self) -> &str {
        match self {
            LinkKind::Ipip { .. } => "ipip",
            LinkKind::Gre { .. } => "gre",
            LinkKind::Sit { .. } => "sit",
            LinkKind::Ip6tnl { .. } => "ip6tnl",
            LinkKind::Ip6gre { .. } => "ip6gre",
            LinkKind::Other { kind } => kind,
        }
    }

    /// True for the tunnel kinds lvs-converge creates and configures.
    pub fn is_tunnel(&self) -> bool {
        !matches!(self, LinkKind::Other { .. })
    }

    /// The kernel module that brings this kind (and creates its fallback device).
    pub fn module(&self) -> Option<&'static str> {
        match self {
            LinkKind::Ipip { .. } => Some("ipip"),
            LinkKind::Gre { .. } => Some("ip_gre"),
            LinkKind::Sit { .. } => Some("sit"),
            LinkKind::Ip6tnl { .. } => Some("ip6_tunnel"),
            LinkKind::Ip6gre { .. } => Some("ip6_gre"),
            LinkKind::Other { .. } => None,
        }
    }

    /// What a fallback device of this kind becomes when configured as `want` asks: its
    /// tunnel parameters are the kernel's and stay, except ip6tnl0's mode and gre0's
    /// checksum requirement, which can be set.
    pub fn configured_fallback(&self, want: &LinkKind) -> LinkKind {
        match (self, want) {
            (LinkKind::Ip6tnl { local, remote, hop_limit, .. }, LinkKind::Ip6tnl { mode, .. }) => {
                LinkKind::Ip6tnl { local: *local, remote: *remote, hop_limit: *hop_limit, mode: *mode }
            }
            (LinkKind::Gre { local, remote, ttl, pmtudisc, .. }, LinkKind::Gre { require_checksum, .. }) => {
                LinkKind::Gre {
                    local: *local,
                    remote: *remote,
                    ttl: *ttl,
                    pmtudisc: *pmtudisc,
                    require_checksum: *require_checksum,
                }
            }
            _ => self.clone(),
        }
    }

    /// The MTU the kernel gives a new device of this kind over a 1500-byte underlay: 1500
    /// less the outer headers. None for other kinds.
    pub fn usual_mtu(&self) -> Option<u32> {
        match self {
            LinkKind::Ipip { .. } | LinkKind::Sit { .. } => Some(1480),
            LinkKind::Gre { .. } => Some(1476),
            LinkKind::Ip6tnl { .. } => Some(1452),
            LinkKind::Ip6gre { .. } => Some(1448),
            LinkKind::Other { .. } => None,
        }
    }

    /// The kind, with the kernel's settings, of the fallback device called `name`; None
    /// when no module creates a device of that name.
    pub fn fallback(name: &str) -> Option<LinkKind> {
        // Settings as the lab kernel reports them for a freshly loaded module.
        match name {
            FALLBACK_TUNNEL => Some(LinkKind::Ipip { local: None, remote: None, ttl: 0, pmtudisc: false }),
            FALLBACK_GRE => {
                Some(LinkKind::Gre { local: None, remote: None, ttl: 0, pmtudisc: false, require_checksum: false })
            }
            FALLBACK_SIT => Some(LinkKind::Sit { local: None, remote: None, ttl: 64, pmtudisc: false }),
            FALLBACK_IP6TNL => {
                Some(LinkKind::Ip6tnl { local: None, remote: None, hop_limit: 0, mode: Ip6tnlMode::Ip6ip6 })
            }
            FALLBACK_IP6GRE => Some(LinkKind::Ip6gre { local: None, remote: None, hop_limit: 0 }),
            _ => None,
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
    /// True when a module creates this device by itself (tunl0, gre0, sit0, ip6tnl0,
    /// ip6gre0), so that it can only be configured, never created or removed.
    pub fn is_fallback_tunnel(&self) -> bool {
        FALLBACK_TUNNELS.contains(&self.name.as_str())
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

    #[test]
    fn every_fallback_name_has_a_fallback_kind_whose_module_is_a_tunnel_module() {
        for name in FALLBACK_TUNNELS {
            let kind = LinkKind::fallback(name).expect(name);
            assert!(kind.is_tunnel(), "{name}");
            assert!(kind.module().is_some(), "{name}");
            let link = Link { name: name.into(), kind, up: None, mtu: None };
            assert!(link.is_fallback_tunnel(), "{name}");
        }
        assert_eq!(LinkKind::fallback("gretap0"), None);
        assert_eq!(LinkKind::fallback("tun1"), None);
    }

    #[test]
    fn a_configured_fallback_keeps_the_kernels_parameters_but_ip6tnl0_takes_the_mode_and_gre0_the_checksum() {
        let ip6tnl0 = LinkKind::fallback(FALLBACK_IP6TNL).unwrap();
        let want = LinkKind::Ip6tnl { local: None, remote: None, hop_limit: 64, mode: Ip6tnlMode::Any };
        assert_eq!(
            ip6tnl0.configured_fallback(&want),
            LinkKind::Ip6tnl { local: None, remote: None, hop_limit: 0, mode: Ip6tnlMode::Any }
        );
        let gre0 = LinkKind::fallback(FALLBACK_GRE).unwrap();
        let want = LinkKind::Gre { local: None, remote: None, ttl: 64, pmtudisc: true, require_checksum: false };
        assert_eq!(gre0.configured_fallback(&want), gre0);
        let want = LinkKind::Gre { local: None, remote: None, ttl: 64, pmtudisc: true, require_checksum: true };
        assert_eq!(
            gre0.configured_fallback(&want),
            LinkKind::Gre { local: None, remote: None, ttl: 0, pmtudisc: false, require_checksum: true }
        );
        let sit0 = LinkKind::fallback(FALLBACK_SIT).unwrap();
        assert_eq!(sit0.configured_fallback(&want), sit0);
    }

    #[test]
    fn kinds_serialize_with_iproute2s_names_and_camel_case_fields() {
        let kind = LinkKind::Ip6tnl {
            local: Some("2001:db8::1".parse().unwrap()),
            remote: None,
            hop_limit: 64,
            mode: Ip6tnlMode::Ipip6,
        };
        let json = serde_json::to_string(&kind).unwrap();
        assert_eq!(json, r#"{"type":"ip6tnl","local":"2001:db8::1","hopLimit":64,"mode":"ipip6"}"#);
        assert_eq!(serde_json::from_str::<LinkKind>(&json).unwrap(), kind);
        let gre: LinkKind = serde_json::from_str(r#"{"type":"gre","remote":"192.0.2.1"}"#).unwrap();
        assert_eq!(
            gre,
            LinkKind::Gre {
                local: None,
                remote: Some("192.0.2.1".parse().unwrap()),
                ttl: 0,
                pmtudisc: true,
                require_checksum: false
            }
        );
        let icsum = LinkKind::Gre { local: None, remote: None, ttl: 0, pmtudisc: true, require_checksum: true };
        let json = serde_json::to_string(&icsum).unwrap();
        assert_eq!(json, r#"{"type":"gre","ttl":0,"pmtudisc":true,"requireChecksum":true}"#);
        assert_eq!(serde_json::from_str::<LinkKind>(&json).unwrap(), icsum);
        assert!(!serde_json::to_string(&gre).unwrap().contains("requireChecksum"));
        let ip6gre: LinkKind = serde_json::from_str(r#"{"type":"ip6gre"}"#).unwrap();
        assert_eq!(ip6gre, LinkKind::Ip6gre { local: None, remote: None, hop_limit: 64 });
        for (kind, name) in [("sit", "sit"), ("ip6tnl", "ip6tnl")] {
            let parsed: LinkKind = serde_json::from_str(&format!(r#"{{"type":"{kind}"}}"#)).unwrap();
            assert_eq!(parsed.name(), name);
        }
    }

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
