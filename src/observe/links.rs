//! Reads the interfaces of the current network namespace: every link, with ipip tunnels'
//! endpoints decoded, admin state and MTU. Read-only.

use crate::model::keyed::{Keyed, KeyedMap};
use crate::model::Link;
use crate::netlink::route::{RouteClient, RouteNetlinkError};

/// Every interface by name (names are unique in a namespace).
pub fn read(client: &mut RouteClient) -> Result<KeyedMap<Link>, RouteNetlinkError> {
    Ok(client.links()?.into_iter().map(|link| (link.key(), link)).collect())
}
