//! Loading kernel modules with modprobe(8), which resolves dependencies and is what the
//! kernel's own autoloading calls.

use std::process::Command;

use super::live::Kernel;
use super::memory::MemoryHost;
use super::{Applier, ChangeError, ChangeOutcome};
use crate::model::keyed::Keyed;
use crate::model::links::{Link, LinkKind, FALLBACK_TUNNELS};
use crate::plan::ModuleChange;

impl Applier for ModuleChange {
    fn over_netlink(&self) -> bool {
        false
    }

    fn live(&self, _kernel: &mut Kernel) -> ChangeOutcome {
        apply(self).into()
    }

    /// A module this kernel lacks is refused as modprobe refuses it; loading a tunnel
    /// module brings its fallback device (ipip tunl0, ip_gre gre0 …), down, as the kernel
    /// does.
    fn in_memory(&self, host: &mut MemoryHost) -> Result<(), ChangeError> {
        let ModuleChange::Load { name } = self;
        if host.loadable_modules.as_ref().is_some_and(|loadable| !loadable.contains(name)) {
            // modprobe says so on stderr; there is no errno to keep.
            return Err(ChangeError::new(format!("modprobe {name} failed: FATAL: Module {name} not found")));
        }
        host.state.modules.insert(name.clone());
        for fallback in FALLBACK_TUNNELS {
            let Some(kind) = LinkKind::fallback(fallback).filter(|kind| kind.module() == Some(name.as_str())) else {
                continue;
            };
            if !host.state.links.contains_key(fallback) {
                let mtu = kind.usual_mtu();
                let link = Link { name: fallback.into(), kind, up: Some(false), mtu };
                host.state.links.insert(link.key(), link);
            }
        }
        Ok(())
    }
}

/// Loads the module; modprobe reports a refusal on stderr only, so only a failure to run
/// it has an errno.
pub fn apply(change: &ModuleChange) -> Result<(), ChangeError> {
    let ModuleChange::Load { name } = change;
    let output = Command::new("modprobe").arg(name).output().map_err(|error| {
        ChangeError::io(format!("cannot run modprobe to load {name}: {error} (is kmod installed?)"), &error)
    })?;
    if output.status.success() {
        return Ok(());
    }
    let stderr = String::from_utf8_lossy(&output.stderr);
    Err(ChangeError::new(format!(
        "modprobe {name} failed: {}; this kernel lacks {name}: use a kernel built with it (CONFIG_{}) or install its modules package",
        stderr.trim(),
        config_option(name)
    )))
}

/// The kernel config option behind a module, for the error message.
fn config_option(name: &str) -> String {
    match name {
        "ipip" => "NET_IPIP".into(),
        "fou" => "NET_FOU".into(),
        "ip_vs" => "IP_VS".into(),
        other => match other.strip_prefix("ip_vs_") {
            Some(scheduler) => format!("IP_VS_{}", scheduler.to_uppercase()),
            None => other.to_uppercase(),
        },
    }
}
