//! Carrying out address changes on the kernel (`ip addr add|del`).

use crate::netlink::route::{RouteClient, RouteNetlinkError};
use crate::plan::AddressChange;

/// Makes one change; on failure, a message that names the address, the interface and the
/// cause.
pub fn apply(client: &mut RouteClient, change: &AddressChange) -> Result<(), RouteNetlinkError> {
    match change {
        AddressChange::Create { after } => client.add_address(after),
        AddressChange::Delete { before } => client.delete_address(before),
    }
}
