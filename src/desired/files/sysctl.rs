//! A sysctl.d drop-in: `key = value` per line, sorted. `sysctl -p FILE` and systemd-sysctl
//! read it; systemd-sysctl runs after systemd-modules-load, so per-interface keys of tunl0
//! (which appears when `ipip` loads) exist by then.

use super::one_line;
use crate::model::HostState;

/// None when the spec manages no sysctl.
pub fn render(desired: &HostState) -> Option<String> {
    (!desired.sysctls.is_empty()).then(|| {
        desired.sysctls.iter().map(|(key, value)| format!("{} = {}\n", one_line(key), one_line(value))).collect()
    })
}
