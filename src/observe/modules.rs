//! Kernel modules: `/proc/modules` plus the kernel's built-ins, so that a feature
//! compiled into the kernel counts as present. A kernel built without module support has
//! no `/proc/modules` at all: every feature it has is built in, and nothing can be loaded.

use std::collections::BTreeSet;
use std::path::Path;

use super::ObserveError;
use crate::model::modules::canonical_module_name;

/// What the kernel says about its modules.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KernelModules {
    /// The loaded modules and the built-in ones.
    Listed(BTreeSet<String>),
    /// No `/proc/modules`: the kernel was built without module support.
    BuiltIn,
}

impl KernelModules {
    /// The modules to count as present on this host, given the ones `wanted`: without module
    /// support each of them is built in or cannot be had at all, and as no load can change
    /// that, none is planned (a missing feature fails where it is used, with its own error).
    pub fn present(self, wanted: &BTreeSet<String>) -> BTreeSet<String> {
        match self {
            KernelModules::Listed(modules) => modules,
            KernelModules::BuiltIn => wanted.clone(),
        }
    }
}

pub fn read() -> Result<KernelModules, ObserveError> {
    read_under(Path::new("/"))
}

/// [`read`] with `/proc` and `/lib/modules` below `root`.
fn read_under(root: &Path) -> Result<KernelModules, ObserveError> {
    let path = root.join("proc/modules");
    let loaded = match std::fs::read_to_string(&path) {
        Ok(loaded) => loaded,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(KernelModules::BuiltIn),
        Err(source) => return Err(ObserveError::Proc { path, source }),
    };
    let mut modules: BTreeSet<String> =
        loaded.lines().filter_map(|line| line.split_whitespace().next()).map(canonical_module_name).collect();
    modules.extend(builtin(root));
    Ok(KernelModules::Listed(modules))
}

/// `/lib/modules/$(uname -r)/modules.builtin` lists paths such as
/// `kernel/net/ipv4/ipip.ko`; a missing file just means nothing is known to be built in.
fn builtin(root: &Path) -> BTreeSet<String> {
    let Ok(release) = std::fs::read_to_string(root.join("proc/sys/kernel/osrelease")) else {
        return BTreeSet::new();
    };
    let path = root.join("lib/modules").join(release.trim()).join("modules.builtin");
    let Ok(text) = std::fs::read_to_string(path) else {
        return BTreeSet::new();
    };
    text.lines()
        .filter_map(|line| line.rsplit('/').next())
        .filter_map(|file| file.strip_suffix(".ko"))
        .map(canonical_module_name)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wanted() -> BTreeSet<String> {
        ["ip_vs", "ipip"].map(String::from).into()
    }

    /// Issue 18: a kernel without module support (no /proc/modules) failed every live command.
    #[test]
    fn without_proc_modules_every_wanted_module_is_built_in() {
        let root = crate::test_support::scratch_dir("observe", "no-module-support");
        std::fs::create_dir_all(root.join("proc/sys/kernel")).unwrap();
        let modules = read_under(&root).expect("no module support is no error");
        assert_eq!(modules, KernelModules::BuiltIn);
        assert_eq!(modules.present(&wanted()), wanted());
        std::fs::remove_dir_all(root).unwrap();
    }

    #[test]
    fn loaded_and_built_in_modules_are_listed_and_nothing_else_counts() {
        let root = crate::test_support::scratch_dir("observe", "module-support");
        std::fs::create_dir_all(root.join("proc/sys/kernel")).unwrap();
        std::fs::create_dir_all(root.join("lib/modules/6.1.0-lab")).unwrap();
        std::fs::write(root.join("proc/modules"), "ip_vs_wlc 12288 0 - Live 0x0\nip_vs 192512 2 ip_vs_wlc, Live 0x0\n")
            .unwrap();
        std::fs::write(root.join("proc/sys/kernel/osrelease"), "6.1.0-lab\n").unwrap();
        std::fs::write(root.join("lib/modules/6.1.0-lab/modules.builtin"), "kernel/net/ipv4/tunnel4.ko\n").unwrap();
        let modules = read_under(&root).unwrap().present(&wanted());
        assert_eq!(modules, ["ip_vs", "ip_vs_wlc", "tunnel4"].map(String::from).into());
        std::fs::remove_dir_all(root).unwrap();
    }

    /// What the planner makes of it: the spec's modules, read without module support
    /// through the interest a plan observes with, need no load (modprobe would fail).
    #[test]
    fn a_plan_on_a_kernel_without_module_support_loads_no_module() {
        let desired = crate::model::HostState { modules: wanted(), ..Default::default() };
        let interest = super::super::Interest::for_desired(&desired);
        let observed = crate::model::HostState {
            modules: KernelModules::BuiltIn.present(&interest.modules),
            ..Default::default()
        };
        let plan = crate::plan::diff(&desired, &observed, &Default::default());
        assert!(plan.converged(), "{:?}", plan.changes);
    }
}
