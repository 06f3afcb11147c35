// TEMPORARY STUB written by the core engineer so the crate compiles while the rtnetlink
// layer is being written. The links/addresses/routes engineer replaces this whole file.
use crate::model::keyed::KeyedMap;
use crate::model::Address;
use crate::netlink::route::{RouteClient, RouteNetlinkError};
pub fn read(client: &mut RouteClient) -> Result<KeyedMap<Address>, RouteNetlinkError> {
    Ok(client.addresses()?.into_iter().map(|item| (crate::model::keyed::Keyed::key(&item), item)).collect())
}
