//! Carrying out IPVS changes on the kernel through generic netlink, and on an in-memory
//! table as the kernel would.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use nix::errno::Errno;

use super::live::Kernel;
use super::memory::MemoryHost;
use super::{Applier, ChangeError, ChangeOutcome};
use crate::model::ipvs::{Destination, Family, ForwardingMethod, Service, ServiceKey, Timeouts};
use crate::model::keyed::Keyed;
use crate::model::IpvsState;
use crate::netlink::ipvs::{IpvsClient, IpvsOp, NetlinkError, OpOutcome};
use crate::plan::ipvs::drained;
use crate::plan::IpvsChange;

impl Applier for IpvsChange {
    fn over_netlink(&self) -> bool {
        true
    }

    /// One change alone; a run of them goes to [`apply`] as one batch (see
    /// [`super::live::LiveHost`]).
    fn live(&self, kernel: &mut Kernel) -> ChangeOutcome {
        match kernel.ipvs() {
            Ok(client) => apply(client, &[self], &mut || false).pop().unwrap_or(ChangeOutcome::NotSent),
            Err(error) => ChangeOutcome::Failed(error),
        }
    }

    fn in_memory(&self, host: &mut MemoryHost) -> Result<(), ChangeError> {
        apply_to_table(&mut host.state.ipvs, self)
    }
}

/// Makes `changes` on the kernel in one pipelined batch and says what became of each
/// (the kernel carries on after a refusal within a window); `stop` is asked between windows.
pub fn apply(client: &mut IpvsClient, changes: &[&IpvsChange], stop: &mut dyn FnMut() -> bool) -> Vec<ChangeOutcome> {
    let mut weight_zero = vec![None; changes.len()];
    let ops: Vec<IpvsOp> = changes.iter().zip(&mut weight_zero).map(|(change, slot)| operation(change, slot)).collect();
    client.execute(&ops, stop).into_iter().map(change_outcome).collect()
}

fn change_outcome(outcome: OpOutcome) -> ChangeOutcome {
    let error = |error: NetlinkError| ChangeError::from(&error);
    match outcome {
        OpOutcome::Applied => ChangeOutcome::Applied,
        OpOutcome::Refused(e) => ChangeOutcome::Failed(error(e)),
        OpOutcome::Unknown(e) => ChangeOutcome::Unknown(error(e)),
        OpOutcome::NotSent => ChangeOutcome::NotSent,
    }
}

/// A change the kernel always refuses, standing in for `change` at its position in a
/// batch (fault injection: `refuse-at-change`): an update of a real server that cannot
/// exist (the unspecified address, port 0; ENOENT, or ESRCH without the service), or, for
/// timeouts, values above INT_MAX / HZ (EINVAL).
pub fn refused_stand_in(change: &IpvsChange) -> IpvsChange {
    if let IpvsChange::SetTimeouts { before, .. } = change {
        let out_of_range = Timeouts { tcp: u32::MAX, tcp_fin: u32::MAX, udp: u32::MAX };
        return IpvsChange::SetTimeouts { before: *before, after: out_of_range };
    }
    let service = change.service().expect("only the timeouts are about no service");
    let template = match change {
        IpvsChange::CreateDestination { after: dest, .. }
        | IpvsChange::UpdateDestination { after: dest, .. }
        | IpvsChange::DeleteDestination { before: dest, .. }
        | IpvsChange::DrainDestination { before: dest, .. } => dest.clone(),
        _ => Destination {
            address: IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            port: 0,
            method: ForwardingMethod::Tunnel,
            weight: 1,
            upper_threshold: 0,
            lower_threshold: 0,
            tunnel: Default::default(),
        },
    };
    let address = match service.family() {
        Family::Ipv4 => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
        Family::Ipv6 => IpAddr::V6(Ipv6Addr::UNSPECIFIED),
    };
    let ghost = Destination { address, port: 0, ..template };
    IpvsChange::UpdateDestination { service, before: ghost.clone(), after: ghost }
}

/// The netlink request that makes a change. A drain is an in-place update to weight 0; the
/// real server it sends lives in `weight_zero`, which the request borrows.
fn operation<'a>(change: &'a IpvsChange, weight_zero: &'a mut Option<Destination>) -> IpvsOp<'a> {
    match change {
        IpvsChange::SetTimeouts { after, .. } => IpvsOp::SetTimeouts(*after),
        IpvsChange::CreateService { service, after } => IpvsOp::NewService(*service, after),
        IpvsChange::UpdateService { service, after, .. } => IpvsOp::SetService(*service, after),
        IpvsChange::DeleteService { service, .. } => IpvsOp::DelService(*service),
        IpvsChange::CreateDestination { service, after } => IpvsOp::NewDest(*service, after),
        IpvsChange::UpdateDestination { service, after, .. } => IpvsOp::SetDest(*service, after),
        IpvsChange::DeleteDestination { service, before } => IpvsOp::DelDest(*service, before.key()),
        IpvsChange::DrainDestination { service, before, .. } => {
            IpvsOp::SetDest(*service, weight_zero.insert(drained(before)))
        }
    }
}

/// Largest connection timeout (seconds) every kernel takes: ip_vs_set_timeout() refuses
/// more than INT_MAX / HZ with EINVAL, and HZ is at most 1000.
const MAX_TIMEOUT_ANY_HZ: u32 = i32::MAX as u32 / 1000;

/// Makes one IPVS change on a table, with the kernel's refusals: EEXIST creating what
/// exists, ESRCH for a missing service, ENOENT for a missing real server, EINVAL for
/// timeouts out of range.
pub(crate) fn apply_to_table(table: &mut IpvsState, change: &IpvsChange) -> Result<(), ChangeError> {
    let refused = |message: String, errno: Errno| ChangeError::with_errno(message, errno as i32);
    match change {
        IpvsChange::SetTimeouts { after, .. } => {
            if [after.tcp, after.tcp_fin, after.udp].iter().any(|t| *t > MAX_TIMEOUT_ANY_HZ) {
                return Err(refused(format!("timeouts {after:?} out of range (EINVAL)"), Errno::EINVAL));
            }
            table.timeouts = Some(*after)
        }
        IpvsChange::CreateService { service, after } => {
            if table.services.contains_key(service) {
                return Err(refused(format!("service {service} already exists (EEXIST)"), Errno::EEXIST));
            }
            let created = Service { key: *service, settings: after.clone(), destinations: Default::default() };
            table.services.insert(*service, created);
        }
        IpvsChange::UpdateService { service, after, .. } => {
            find_service(table, service)?.settings = after.clone();
        }
        IpvsChange::DeleteService { service, .. } => {
            table
                .services
                .remove(service)
                .ok_or_else(|| refused(format!("service {service} not found (ESRCH)"), Errno::ESRCH))?;
        }
        IpvsChange::CreateDestination { service, after } => {
            let destinations = &mut find_service(table, service)?.destinations;
            if destinations.contains_key(&after.key()) {
                return Err(refused(format!("real server {} already exists (EEXIST)", after.key()), Errno::EEXIST));
            }
            destinations.insert(after.key(), after.clone());
        }
        IpvsChange::UpdateDestination { service, after, .. } => {
            let destination = find_service(table, service)?
                .destinations
                .get_mut(&after.key())
                .ok_or_else(|| refused(format!("real server {} not found (ENOENT)", after.key()), Errno::ENOENT))?;
            *destination = after.clone();
        }
        IpvsChange::DrainDestination { service, before, .. } => {
            let destination = find_service(table, service)?
                .destinations
                .get_mut(&before.key())
                .ok_or_else(|| refused(format!("real server {} not found (ENOENT)", before.key()), Errno::ENOENT))?;
            destination.weight = 0;
        }
        IpvsChange::DeleteDestination { service, before } => {
            find_service(table, service)?
                .destinations
                .remove(&before.key())
                .ok_or_else(|| refused(format!("real server {} not found (ENOENT)", before.key()), Errno::ENOENT))?;
        }
    }
    Ok(())
}

fn find_service<'a>(table: &'a mut IpvsState, key: &ServiceKey) -> Result<&'a mut Service, ChangeError> {
    table
        .services
        .get_mut(key)
        .ok_or_else(|| ChangeError::with_errno(format!("service {key} not found (ESRCH)"), Errno::ESRCH as i32))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::ipvs::Protocol;

    #[test]
    fn a_drain_is_sent_as_an_update_of_its_real_server_to_weight_0() {
        let service =
            ServiceKey::Address { protocol: Protocol::Tcp, address: "203.0.113.100".parse().unwrap(), port: 80 };
        let before = Destination {
            address: "203.0.113.11".parse().unwrap(),
            port: 80,
            method: ForwardingMethod::Tunnel,
            weight: 3,
            upper_threshold: 0,
            lower_threshold: 0,
            tunnel: Default::default(),
        };
        let drain = IpvsChange::DrainDestination { service, before: before.clone(), timeout: 60 };
        let mut weight_zero = None;
        let IpvsOp::SetDest(key, sent) = operation(&drain, &mut weight_zero) else { panic!("not a SET_DEST") };
        assert_eq!((key, sent), (service, &Destination { weight: 0, ..before }));
    }
}
