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
