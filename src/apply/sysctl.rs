//! Writing sysctls under /proc/sys, by the same confined path the reader takes.

use std::io::Write;

use super::live::Kernel;
use super::memory::MemoryHost;
use super::{Applier, ChangeError, ChangeOutcome};
use crate::model::sysctl::{SysctlKey, SysctlKeyError};
use crate::observe::sysctl::{open, path_of, Access};
use crate::plan::SysctlChange;

impl Applier for SysctlChange {
    fn over_netlink(&self) -> bool {
        false
    }

    fn live(&self, _kernel: &mut Kernel) -> ChangeOutcome {
        apply(self).into()
    }

    /// A sysctl that does not exist is ENOENT, as /proc/sys answers: one the host was not
    /// seen to have, unless it is a per-interface setting the kernel has, of an interface
    /// the host has.
    fn in_memory(&self, host: &mut MemoryHost) -> Result<(), ChangeError> {
        let SysctlChange::Set { key, after, .. } = self;
        let of_a_link = interface_of(key).is_some_and(|interface| host.state.links.contains_key(&interface));
        let exists = host.state.sysctls.contains_key(key) || (of_a_link && is_interface_setting(key));
        if !exists {
            let missing = std::io::Error::from_raw_os_error(nix::errno::Errno::ENOENT as i32);
            return Err(refused(key, after, &missing));
        }
        host.state.sysctls.insert(key.clone(), after.clone());
        Ok(())
    }
}

pub fn apply(change: &SysctlChange) -> Result<(), ChangeError> {
    let SysctlChange::Set { key, after, .. } = change;
    let name = SysctlKey::parse(key).map_err(|error| {
        ChangeError::new(format!("refusing to set sysctl `{key}`: {error}\n  hint: {}", SysctlKeyError::HINT))
    })?;
    open(&name, Access::Write)
        .and_then(|mut file| file.write_all(format!("{after}\n").as_bytes()))
        .map_err(|error| refused(key, after, &error))
}

/// Writing `key` failed with `error`: what was written where, why, and what to check.
pub(super) fn refused(key: &str, after: &str, error: &std::io::Error) -> ChangeError {
    let hint = match error.kind() {
        std::io::ErrorKind::NotFound => " (no such sysctl: check the name, and that its interface exists)",
        std::io::ErrorKind::PermissionDenied => " (writing sysctls needs root)",
        _ => "",
    };
    let path = SysctlKey::parse(key).map(|name| path_of(&name).display().to_string()).unwrap_or_default();
    let message = format!("setting {key} = {after} via {path}: {error}{hint}");
    ChangeError { action: Some(format!("setting {key} = {after}")), ..ChangeError::io(message, error) }
}

/// The per-interface IPv4 settings the kernel creates under `net.ipv4.conf.<interface>`
/// (`DEVINET_SYSCTL_*` in net/ipv4/devinet.c, Linux 6.1): lvs-converge's own (`arp_ignore`,
/// `arp_announce`, `rp_filter`) and every other. A kernel older or newer than that may have
/// fewer or more; the in-memory host answers ENOENT for any other name, as /proc/sys does.
const IPV4_INTERFACE_SETTINGS: &[&str] = &[
    "accept_local",
    "accept_redirects",
    "accept_source_route",
    "arp_accept",
    "arp_announce",
    "arp_evict_nocarrier",
    "arp_filter",
    "arp_ignore",
    "arp_notify",
    "bc_forwarding",
    "bootp_relay",
    "disable_policy",
    "disable_xfrm",
    "drop_gratuitous_arp",
    "drop_unicast_in_l2_multicast",
    "force_igmp_version",
    "forwarding",
    "igmpv2_unsolicited_report_interval",
    "igmpv3_unsolicited_report_interval",
    "ignore_routes_with_linkdown",
    "log_martians",
    "mc_forwarding",
    "medium_id",
    "promote_secondaries",
    "proxy_arp",
    "proxy_arp_pvlan",
    "route_localnet",
    "rp_filter",
    "secure_redirects",
    "send_redirects",
    "shared_media",
    "src_valid_mark",
    "tag",
];

/// Whether the kernel has `key` under each interface: an IPv4 setting it creates for
/// every interface. IPv6 settings are not checked (lvs-converge manages none of them), so
/// any name under `net.ipv6.conf.<interface>` counts.
fn is_interface_setting(key: &str) -> bool {
    match key.strip_prefix("net.ipv4.conf.").and_then(|rest| rest.rsplit_once('.')) {
        Some((_interface, setting)) => IPV4_INTERFACE_SETTINGS.contains(&setting),
        None => key.starts_with("net.ipv6.conf."),
    }
}

/// The interface of a per-interface sysctl (`net.ipv4.conf.eth0/100.rp_filter` →
/// `eth0.100`, the inverse of [`crate::model::interface_sysctl`]); `all` and `default` are
/// no interface. The kernel removes these with their interface.
pub fn interface_of(key: &str) -> Option<String> {
    let rest = key.strip_prefix("net.ipv4.conf.").or_else(|| key.strip_prefix("net.ipv6.conf."))?;
    let (interface, _setting) = rest.rsplit_once('.')?;
    (!matches!(interface, "all" | "default")).then(|| interface.replace('/', "."))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_interface_of_a_sysctl_is_read_back_from_its_name() {
        let key = crate::model::interface_sysctl("eth0.100", "rp_filter");
        assert_eq!(interface_of(&key).as_deref(), Some("eth0.100"));
        assert_eq!(interface_of("net.ipv6.conf.tun1.disable_ipv6").as_deref(), Some("tun1"));
        assert_eq!(interface_of("net.ipv4.conf.all.rp_filter"), None);
        assert_eq!(interface_of("net.ipv4.ip_forward"), None);
    }

    #[test]
    fn the_settings_the_kernel_has_under_every_interface_are_known() {
        for setting in ["arp_ignore", "arp_announce", "rp_filter", "accept_local", "forwarding"] {
            assert!(is_interface_setting(&crate::model::interface_sysctl("eth0.100", setting)), "{setting}");
        }
        assert!(!is_interface_setting("net.ipv4.conf.eth0.no_such_setting"));
        assert!(!is_interface_setting("net.ipv4.conf.eth0.rp_filte"));
        assert!(is_interface_setting("net.ipv6.conf.tun1.disable_ipv6"));
        assert!(!is_interface_setting("net.ipv4.ip_forward"));
        let sorted = IPV4_INTERFACE_SETTINGS.windows(2).all(|pair| pair[0] < pair[1]);
        assert!(sorted, "kept sorted so that a duplicate or a missing name shows");
    }

    #[test]
    fn a_name_that_leaves_proc_sys_is_refused_before_anything_is_written() {
        let target = std::env::temp_dir().join(format!("lvs-converge-sysctl-write-{}", std::process::id()));
        std::fs::write(&target, "untouched\n").unwrap();
        // /proc/sys/net/ipv4/../../../.. is /; each further component of the target is one
        // dotted segment (its own dots written as `/`).
        let components: Vec<String> =
            target.iter().skip(1).map(|component| component.to_string_lossy().replace('.', "/")).collect();
        let traversal = format!("net.ipv4.//.//.//.//.{}", components.join("."));
        let change = SysctlChange::Set { key: traversal, before: None, after: "written".into() };
        let error = apply(&change).expect_err("a traversal name was written");
        assert!(error.message.contains("refusing to set sysctl"), "{error:?}");
        assert_eq!(std::fs::read_to_string(&target).unwrap(), "untouched\n");
        std::fs::remove_file(target).unwrap();
    }
}
