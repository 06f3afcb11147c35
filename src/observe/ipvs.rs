//! Reads the live IPVS table of the current network namespace over generic netlink.

use super::ObserveError;
use crate::model::IpvsState;
use crate::netlink::ipvs::IpvsClient;

pub fn read() -> Result<IpvsState, ObserveError> {
    let mut client = IpvsClient::connect().map_err(ObserveError::Ipvs)?;
    client.dump().map_err(ObserveError::Ipvs)
}
