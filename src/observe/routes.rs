//! Reads the IPv4 and IPv6 routes of every table of the current network namespace, without
//! the kinds the model does not manage (broadcast, multicast, IPv6 link-local …). Read-only.

use crate::model::keyed::{Keyed, KeyedMap};
use crate::model::Route;
use crate::netlink::route::{RouteClient, RouteNetlinkError};

/// Every route by (table, type, destination, prefix length, metric).
///
/// The kernel can hold several routes with one such key: the same address on two
/// interfaces gives two `local` routes (`local VIP dev lo` and `local VIP dev tunl0`), and
/// `ip route append` adds IPv4 routes beside existing ones. Of those the map keeps the
/// first in the model's order (by device, then gateway, scope and source), so that the
/// reading is the same every time.
pub fn read(client: &mut RouteClient) -> Result<KeyedMap<Route>, RouteNetlinkError> {
    let mut routes = KeyedMap::<Route>::new();
    // `routes()` is sorted: the first of a key is the smallest.
    for route in client.routes()? {
        routes.entry(route.key()).or_insert(route);
    }
    Ok(routes)
}
