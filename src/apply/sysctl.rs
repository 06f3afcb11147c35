//! Writing sysctls under /proc/sys.

use crate::observe::sysctl::path_of;
use crate::plan::SysctlChange;

pub fn apply(change: &SysctlChange) -> Result<(), String> {
    let SysctlChange::Set { key, after, .. } = change;
    let path = path_of(key);
    std::fs::write(&path, format!("{after}\n")).map_err(|error| {
        let hint = match error.kind() {
            std::io::ErrorKind::NotFound => " (no such sysctl: check the name, and that its interface exists)",
            std::io::ErrorKind::PermissionDenied => " (writing sysctls needs root)",
            _ => "",
        };
        format!("setting {key} = {after} via {}: {error}{hint}", path.display())
    })
}
