//! Reads the IPv4 and IPv6 addresses of the current network namespace (all but IPv6
//! link-local ones, which the kernel manages). Read-only.

use crate::model::keyed::{Keyed, KeyedMap};
use crate::model::Address;
use crate::netlink::route::{RouteClient, RouteNetlinkError};

/// Every address by (interface, address, prefix length). The kernel refuses a second copy
/// of an address on one interface, so keys are unique.
pub fn read(client: &mut RouteClient) -> Result<KeyedMap<Address>, RouteNetlinkError> {
    Ok(client.addresses()?.into_iter().map(|address| (address.key(), address)).collect())
}
