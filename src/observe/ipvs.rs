//! Reads the live IPVS table of the current network namespace over generic netlink, with
//! the connection counts and drain records that removing real servers gracefully needs.

use super::{drains, health, ObserveError};
use std::collections::BTreeSet;

use crate::model::ipvs::{DestinationActivity, ServiceKey};
use crate::model::IpvsState;
use crate::netlink::ipvs::IpvsClient;

pub fn read() -> Result<IpvsState, ObserveError> {
    let mut client = IpvsClient::connect().map_err(ObserveError::Ipvs)?;
    let mut state = client.dump().map_err(ObserveError::Ipvs)?;
    state.observed_at = crate::rundir::unix_now();
    attach_drain_records(&mut state, &drains::read());
    state.health = health::read(state.observed_at);
    Ok(state)
}

/// Reads only the services `keys` (those that exist), one GET_SERVICE and one GET_DEST
/// dump each, with their connection counts and drain records: what verification re-reads
/// after an apply that changed only these services.
pub fn read_services(keys: &BTreeSet<ServiceKey>) -> Result<IpvsState, ObserveError> {
    let mut client = IpvsClient::connect().map_err(ObserveError::Ipvs)?;
    let mut state = IpvsState::default();
    for key in keys {
        if let Some((service, activity)) = client.read_service(key).map_err(ObserveError::Ipvs)? {
            state.services.insert(service.key, service);
            state.activity.extend(activity);
        }
    }
    state.observed_at = crate::rundir::unix_now();
    attach_drain_records(&mut state, &drains::read());
    Ok(state)
}

/// Marks real servers that are being drained, keeping records only for those that exist.
fn attach_drain_records(state: &mut IpvsState, records: &drains::DrainRecords) {
    // Usually there are none: then spell out no record key (40,000 on a large director).
    let services = if records.since.is_empty() { &Default::default() } else { &state.services };
    for (key, service) in services {
        for destination in service.destinations.keys() {
            let Some(since) = records.since.get(&drains::record_key(key, destination)) else { continue };
            match state.activity.iter_mut().find(|a| a.service == *key && a.destination == *destination) {
                Some(activity) => activity.draining_since = Some(*since),
                None => state.activity.push(DestinationActivity {
                    service: *key,
                    destination: *destination,
                    active: 0,
                    inactive: 0,
                    draining_since: Some(*since),
                }),
            }
        }
    }
    state.activity.sort();
}
