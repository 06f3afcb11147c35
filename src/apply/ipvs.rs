//! Carrying out IPVS changes on the kernel through generic netlink (the in-memory table is
//! [`super::memory`]'s).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::{ChangeError, ChangeOutcome};
use crate::model::ipvs::{Destination, Family, ForwardingMethod, Timeouts};
use crate::model::keyed::Keyed;
use crate::netlink::ipvs::{IpvsClient, IpvsOp, NetlinkError, OpOutcome};
use crate::plan::ipvs::drained;
use crate::plan::IpvsChange;

/// Makes `changes` on the kernel in one pipelined batch and says what became of each
/// (the kernel carries on after a refusal within a window); `stop` is asked between windows.
pub fn apply(client: &mut IpvsClient, changes: &[&IpvsChange], stop: &mut dyn FnMut() -> bool) -> Vec<ChangeOutcome> {
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
    let service = match change {
        IpvsChange::SetTimeouts { before, .. } => {
            let out_of_range = Timeouts { tcp: u32::MAX, tcp_fin: u32::MAX, udp: u32::MAX };
            return IpvsChange::SetTimeouts { before: *before, after: out_of_range };
        }
        IpvsChange::CreateService { service, .. }
        | IpvsChange::UpdateService { service, .. }
        | IpvsChange::DeleteService { service, .. }
        | IpvsChange::CreateDestination { service, .. }
        | IpvsChange::UpdateDestination { service, .. }
        | IpvsChange::DeleteDestination { service, .. }
        | IpvsChange::DrainDestination { service, .. } => *service,
    };
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
