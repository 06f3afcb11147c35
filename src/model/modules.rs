//! Kernel module names.

/// A module's name as the kernel lists it in /proc/modules: `modprobe` treats '-' and '_'
/// as the same character, the kernel always says '_'. Names from the spec, /proc/modules
/// and modules.builtin all go through here, so that `ip-vs` and `ip_vs` are one module.
pub fn canonical_module_name(name: &str) -> String {
    name.replace('-', "_")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dashes_become_underscores_and_the_rest_stays() {
        assert_eq!(canonical_module_name("ip-vs-wrr"), "ip_vs_wrr");
        assert_eq!(canonical_module_name("ip_vs"), "ip_vs");
        assert_eq!(canonical_module_name("nf_conntrack"), "nf_conntrack");
    }
}
