// TEMPORARY STUB written by the core engineer so the crate compiles while the rtnetlink
// layer is being written. The links/addresses/routes engineer replaces this whole file.
use crate::netlink::route::RouteClient;
use crate::plan::AddressChange;
pub fn apply(_client: &mut RouteClient, _change: &AddressChange) -> Result<(), String> {
    Err("not implemented yet".into())
}
