//! Loaded kernel modules: `/proc/modules` plus the kernel's built-ins, so that a feature
//! compiled into the kernel counts as present.

use std::collections::BTreeSet;
use std::path::Path;

use super::ObserveError;
use crate::model::modules::canonical_module_name;

pub fn read() -> Result<BTreeSet<String>, ObserveError> {
    let loaded = super::read_proc(Path::new("/proc/modules"))?;
    let mut modules: BTreeSet<String> =
        loaded.lines().filter_map(|line| line.split_whitespace().next()).map(canonical_module_name).collect();
    modules.extend(builtin());
    Ok(modules)
}

/// `/lib/modules/$(uname -r)/modules.builtin` lists paths such as
/// `kernel/net/ipv4/ipip.ko`; a missing file just means nothing is known to be built in.
fn builtin() -> BTreeSet<String> {
    let Ok(release) = std::fs::read_to_string("/proc/sys/kernel/osrelease") else {
        return BTreeSet::new();
    };
    let path = Path::new("/lib/modules").join(release.trim()).join("modules.builtin");
    let Ok(text) = std::fs::read_to_string(path) else {
        return BTreeSet::new();
    };
    text.lines()
        .filter_map(|line| line.rsplit('/').next())
        .filter_map(|file| file.strip_suffix(".ko"))
        .map(canonical_module_name)
        .collect()
}
