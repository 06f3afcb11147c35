//! Carrying out address changes on the kernel (`ip addr add|change|del`).

use nix::errno::Errno;

use super::live::Kernel;
use super::memory::{refused, MemoryHost};
use super::{Applier, ChangeError, ChangeOutcome};
use crate::model::keyed::Keyed;
use crate::netlink::route::{RouteClient, RouteNetlinkError};
use crate::plan::AddressChange;

impl Applier for AddressChange {
    fn over_netlink(&self) -> bool {
        true
    }

    fn live(&self, kernel: &mut Kernel) -> ChangeOutcome {
        kernel.route_change(|client| apply(client, self))
    }

    /// ENODEV without the interface, EEXIST adding an address it has, EADDRNOTAVAIL
    /// removing one it has not.
    fn in_memory(&self, host: &mut MemoryHost) -> Result<(), ChangeError> {
        let (verb, address) = match self {
            AddressChange::Create { after } => ("adding", after),
            AddressChange::Update { after, .. } => ("changing", after),
            AddressChange::Delete { before } => ("removing", before),
        };
        let action = format!("{verb} {}/{} on {}", address.address, address.prefix_length, address.interface);
        if !host.state.links.contains_key(&address.interface) {
            return Err(refused(action, Errno::ENODEV));
        }
        let addresses = &mut host.state.addresses;
        match self {
            AddressChange::Create { after } if addresses.contains_key(&after.key()) => {
                Err(refused(action, Errno::EEXIST))
            }
            AddressChange::Create { after } => {
                addresses.insert(after.key(), after.clone());
                Ok(())
            }
            // Like the kernel's RTM_NEWADDR with NLM_F_REPLACE: an address gone meanwhile is
            // added.
            AddressChange::Update { after, .. } => {
                addresses.insert(after.key(), after.clone());
                Ok(())
            }
            AddressChange::Delete { before } => match addresses.remove(&before.key()) {
                Some(_) => Ok(()),
                None => Err(refused(action, Errno::EADDRNOTAVAIL)),
            },
        }
    }
}

/// Makes one change; on failure, a message that names the address, the interface and the
/// cause.
pub fn apply(client: &mut RouteClient, change: &AddressChange) -> Result<(), RouteNetlinkError> {
    match change {
        AddressChange::Create { after } => client.add_address(after),
        AddressChange::Update { after, .. } => client.change_address(after),
        AddressChange::Delete { before } => client.delete_address(before),
    }
}
