//! A modules-load.d file: one module name per line, sorted. systemd-modules-load loads them
//! early at boot (so do `modprobe` loops in scripts: one `modprobe NAME` per line).

use super::one_line;
use crate::model::HostState;

/// None when no module is needed.
pub fn render(desired: &HostState) -> Option<String> {
    (!desired.modules.is_empty()).then(|| desired.modules.iter().map(|name| format!("{}\n", one_line(name))).collect())
}
