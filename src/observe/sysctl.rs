//! Sysctls under /proc/sys. Dotted names map to paths; a `/` inside a name segment stands
//! for a dot in an interface name (`net.ipv4.conf.eth0/100.rp_filter`), as sysctl(8) has it.

use std::collections::{BTreeMap, BTreeSet};
use std::io::ErrorKind;
use std::path::PathBuf;

use super::ObserveError;

pub fn path_of(key: &str) -> PathBuf {
    let mut path = PathBuf::from("/proc/sys");
    for segment in key.split('.') {
        path.push(segment.replace('/', "."));
    }
    path
}

/// Reads `keys`; a key whose file does not exist (its interface isn't there yet) is absent
/// from the result.
pub fn read(keys: &BTreeSet<String>) -> Result<BTreeMap<String, String>, ObserveError> {
    let mut values = BTreeMap::new();
    for key in keys {
        let path = path_of(key);
        match std::fs::read_to_string(&path) {
            Ok(text) => {
                values.insert(key.clone(), text.trim_end().to_string());
            }
            Err(error) if error.kind() == ErrorKind::NotFound => {}
            Err(source) => return Err(ObserveError::Proc { path, source }),
        }
    }
    Ok(values)
}

/// The LVS-relevant keys of the interfaces that exist, for `show` without a spec.
pub fn default_keys(interfaces: impl Iterator<Item = String>) -> BTreeSet<String> {
    let mut keys = BTreeSet::from(["net.ipv4.ip_forward".to_string(), "net.ipv4.vs.conntrack".to_string()]);
    for interface in ["all".to_string(), "default".to_string()].into_iter().chain(interfaces) {
        for name in ["arp_ignore", "arp_announce", "rp_filter"] {
            keys.insert(crate::model::interface_sysctl(&interface, name));
        }
    }
    keys
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dotted_names_map_to_proc_paths() {
        assert_eq!(path_of("net.ipv4.conf.tunl0.rp_filter"), PathBuf::from("/proc/sys/net/ipv4/conf/tunl0/rp_filter"));
        assert_eq!(
            path_of("net.ipv4.conf.eth0/100.rp_filter"),
            PathBuf::from("/proc/sys/net/ipv4/conf/eth0.100/rp_filter")
        );
    }
}
