//! IP addresses on interfaces: the VIP on `lo`/`tunl0`/an ethernet label, tunnel addresses.

use std::fmt;
use std::net::IpAddr;

use serde::{Deserialize, Serialize};

use super::keyed::Keyed;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct AddressKey {
    pub address: IpAddr,
    pub prefix_length: u8,
}

/// An address assigned to an interface (`ip addr add ADDRESS/PREFIX dev IFACE label LABEL`).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Address {
    pub interface: String,
    pub address: IpAddr,
    pub prefix_length: u8,
    /// IPv4 label such as `eth0:0` (the seed manual's alias interface); None = the interface
    /// name, which is what the kernel reports when no label was given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
}

/// Addresses are identified by interface and address: the same VIP on `lo` and on `eth0` are
/// two different objects.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct AddressId {
    pub interface: String,
    pub address: IpAddr,
    pub prefix_length: u8,
}

impl fmt::Display for AddressId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{} on {}", self.address, self.prefix_length, self.interface)
    }
}

impl Keyed for Address {
    type Key = AddressId;
    fn key(&self) -> AddressId {
        AddressId { interface: self.interface.clone(), address: self.address, prefix_length: self.prefix_length }
    }
}

impl Address {
    /// The label the kernel reports: the given one, or the interface's own name.
    pub fn effective_label(&self) -> &str {
        self.label.as_deref().unwrap_or(&self.interface)
    }
}
