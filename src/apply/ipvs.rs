//! Carrying out IPVS changes: on the kernel through generic netlink, or on an in-memory
//! table (unit tests, and simulating a plan).

use super::ChangeFailure;
use crate::model::ipvs::{Service, ServiceKey};
use crate::model::keyed::Keyed;
use crate::model::IpvsState;
use crate::netlink::ipvs::{IpvsClient, IpvsOp};
use crate::plan::ipvs::drained;
use crate::plan::IpvsChange;

/// Applies one change to an in-memory table, with the kernel's refusals (EEXIST, ESRCH,
/// ENOENT) as errors so tests see the same failure modes.
pub fn apply_to_state(state: &mut IpvsState, change: &IpvsChange) -> Result<(), String> {
    match change {
        IpvsChange::SetTimeouts { after, .. } => state.timeouts = Some(*after),
        IpvsChange::CreateService { service, after } => {
            if state.services.contains_key(service) {
                return Err(format!("service {service} already exists (EEXIST)"));
            }
            let created = Service { key: *service, settings: after.clone(), destinations: Default::default() };
            state.services.insert(*service, created);
        }
        IpvsChange::UpdateService { service, after, .. } => {
            find_service(state, service)?.settings = after.clone();
        }
        IpvsChange::DeleteService { service, .. } => {
            state.services.remove(service).ok_or_else(|| format!("service {service} not found (ESRCH)"))?;
        }
        IpvsChange::CreateDestination { service, after } => {
            let destinations = &mut find_service(state, service)?.destinations;
            if destinations.contains_key(&after.key()) {
                return Err(format!("real server {} already exists (EEXIST)", after.key()));
            }
            destinations.insert(after.key(), after.clone());
        }
        IpvsChange::UpdateDestination { service, after, .. } => {
            let destination = find_service(state, service)?
                .destinations
                .get_mut(&after.key())
                .ok_or_else(|| format!("real server {} not found (ENOENT)", after.key()))?;
            *destination = after.clone();
        }
        IpvsChange::DrainDestination { service, before, .. } => {
            let destination = find_service(state, service)?
                .destinations
                .get_mut(&before.key())
                .ok_or_else(|| format!("real server {} not found (ENOENT)", before.key()))?;
            destination.weight = 0;
        }
        IpvsChange::DeleteDestination { service, before } => {
            find_service(state, service)?
                .destinations
                .remove(&before.key())
                .ok_or_else(|| format!("real server {} not found (ENOENT)", before.key()))?;
        }
    }
    Ok(())
}

fn find_service<'a>(state: &'a mut IpvsState, key: &ServiceKey) -> Result<&'a mut Service, String> {
    state.services.get_mut(key).ok_or_else(|| format!("service {key} not found (ESRCH)"))
}

/// Makes `changes` on the kernel in one pipelined batch; stops at the first refusal.
pub fn apply(client: &mut IpvsClient, changes: &[&IpvsChange]) -> Result<(), ChangeFailure> {
    // Draining is an in-place update to weight 0.
    let changes: Vec<IpvsChange> = changes
        .iter()
        .map(|change| match change {
            IpvsChange::DrainDestination { service, before, .. } => {
                IpvsChange::UpdateDestination { service: *service, before: before.clone(), after: drained(before) }
            }
            other => (*other).clone(),
        })
        .collect();
    let ops: Vec<IpvsOp> = changes.iter().map(operation).collect();
    client.execute(&ops).map_err(|(index, error)| ChangeFailure { index, message: error.to_string() })
}

/// The netlink request that makes a change.
fn operation(change: &IpvsChange) -> IpvsOp<'_> {
    match change {
        IpvsChange::SetTimeouts { after, .. } => IpvsOp::SetTimeouts(*after),
        IpvsChange::CreateService { service, after } => IpvsOp::NewService(*service, after),
        IpvsChange::UpdateService { service, after, .. } => IpvsOp::SetService(*service, after),
        IpvsChange::DeleteService { service, .. } => IpvsOp::DelService(*service),
        IpvsChange::CreateDestination { service, after } => IpvsOp::NewDest(*service, after),
        IpvsChange::UpdateDestination { service, after, .. } => IpvsOp::SetDest(*service, after),
        IpvsChange::DeleteDestination { service, before } => IpvsOp::DelDest(*service, before.key()),
        IpvsChange::DrainDestination { .. } => unreachable!("turned into an update by apply()"),
    }
}
