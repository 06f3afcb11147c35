//! Opening and closing foo-over-UDP receive ports on the kernel.

use nix::errno::Errno;

use super::live::{Kernel, KernelClient, KernelError};
use super::memory::{refused, MemoryHost};
use super::{Applier, ChangeError, ChangeOutcome};
use crate::model::keyed::Keyed;
use crate::netlink::fou::{action, FouClient, FouNetlinkError};
use crate::plan::FouChange;

impl From<&FouNetlinkError> for ChangeError {
    fn from(error: &FouNetlinkError) -> Self {
        ChangeError {
            message: error.to_string(),
            errno: error.errno(),
            action: error.action().map(str::to_string),
            kernel_message: error.kernel_message().map(str::to_string),
        }
    }
}

impl KernelClient for FouClient {
    fn connect() -> Result<Self, ChangeError> {
        FouClient::connect().map_err(|e| ChangeError::from(&e))
    }
    fn netlink_writes(&self) -> usize {
        self.writes()
    }
}

impl KernelError for FouNetlinkError {
    fn may_have_changed_the_host(&self) -> bool {
        FouNetlinkError::may_have_changed_the_host(self)
    }
}

impl Applier for FouChange {
    fn over_netlink(&self) -> bool {
        true
    }

    /// One request each: refused, made, or (its answer lost) unknown; never half made.
    fn live(&self, kernel: &mut Kernel) -> ChangeOutcome {
        kernel.change(|client: &mut FouClient| match self {
            FouChange::Create { after } => client.add(after),
            FouChange::Delete { before } => client.delete(before),
        })
    }

    /// Without the fou module there is no family to ask; a port already open (of any
    /// encapsulation) holds the UDP port, so opening it again is EADDRINUSE; closing one
    /// that is not open is EINVAL, as fou_destroy() answers.
    fn in_memory(&self, host: &mut MemoryHost) -> Result<(), ChangeError> {
        let port = self.port();
        if !host.state.modules.contains(port.module()) {
            return Err(ChangeError::new(format!(
                "foo-over-UDP is not available in this kernel: load {} (modprobe {})",
                port.module(),
                port.module()
            )));
        }
        let ports = &mut host.state.fou;
        match self {
            FouChange::Create { after } => {
                if ports.contains_key(&after.key()) {
                    return Err(refused(action("opening", after), Errno::EADDRINUSE));
                }
                ports.insert(after.key(), *after);
            }
            FouChange::Delete { before } => {
                ports.remove(&before.key()).ok_or_else(|| refused(action("closing", before), Errno::EINVAL))?;
            }
        }
        Ok(())
    }
}
