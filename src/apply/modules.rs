//! Loading kernel modules with modprobe(8), which resolves dependencies and is what the
//! kernel's own autoloading calls.

use std::process::Command;

use super::ChangeError;
use crate::plan::ModuleChange;

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
        "ip_vs" => "IP_VS".into(),
        other => match other.strip_prefix("ip_vs_") {
            Some(scheduler) => format!("IP_VS_{}", scheduler.to_uppercase()),
            None => other.to_uppercase(),
        },
    }
}
