//! Sysctl names, checked against one grammar wherever a name turns into a path under
//! /proc/sys: the spec, the reader, the writer. A name is a list of path components beneath
//! /proc/sys, written as sysctl(8) writes it: dotted (`net.ipv4.conf.eth0/100.rp_filter`, a
//! `/` standing for the dot of a VLAN interface name) or slashed
//! (`net/ipv4/conf/eth0.100/rp_filter`, dots literal). As in sysctl(8), the first separator
//! decides which form a name is in.

use std::fmt;
use std::path::PathBuf;

/// The characters a component may hold. The kernel's own names use letters, digits, `_` and
/// `-`; interface names add `.` (VLANs), which is also why `.` and `..` are checked apart.
const ALLOWED: &str = "letters, digits, `_`, `-` and (inside an interface name) `.`";

/// Long enough for every `net.*` name the kernel has; bounds what a name can make us open.
const MAX_LENGTH: usize = 256;

/// A `net.*` sysctl name that is known to stay beneath /proc/sys/net.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SysctlKey {
    components: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SysctlKeyError {
    #[error("the sysctl name is empty")]
    Empty,
    #[error("sysctl name `{key}` is longer than {MAX_LENGTH} characters")]
    TooLong { key: String },
    #[error("`{key}` is not a net.* sysctl: lvs-converge manages network sysctls only")]
    NotNetwork { key: String },
    #[error("sysctl name `{key}` has an empty component (a doubled, leading or trailing separator)")]
    EmptyComponent { key: String },
    #[error("sysctl name `{key}` has the component `{component}`, which would leave its directory")]
    Traversal { key: String, component: String },
    #[error("sysctl name `{key}` holds {character:?}; a component may hold {ALLOWED}")]
    Character { key: String, character: char },
}

impl SysctlKeyError {
    /// What the operator should write instead.
    pub const HINT: &'static str = "write the name as sysctl(8) does: `net.ipv4.conf.all.arp_ignore`, \
        `net.ipv4.conf.eth0/100.rp_filter` for VLAN eth0.100, or `net/ipv4/conf/eth0.100/rp_filter`";
}

impl SysctlKey {
    pub fn parse(key: &str) -> Result<SysctlKey, SysctlKeyError> {
        if key.is_empty() {
            return Err(SysctlKeyError::Empty);
        }
        if key.len() > MAX_LENGTH {
            return Err(SysctlKeyError::TooLong { key: key.chars().take(MAX_LENGTH).collect() });
        }
        let slashed = key.find(['.', '/']).is_some_and(|at| key.as_bytes()[at] == b'/');
        let components: Vec<String> = if slashed {
            key.split('/').map(str::to_string).collect()
        } else {
            key.split('.').map(|component| component.replace('/', ".")).collect()
        };
        for component in &components {
            if component.is_empty() {
                return Err(SysctlKeyError::EmptyComponent { key: key.to_string() });
            }
            if component == "." || component == ".." {
                return Err(SysctlKeyError::Traversal { key: key.to_string(), component: component.clone() });
            }
            if let Some(character) =
                component.chars().find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.')))
            {
                return Err(SysctlKeyError::Character { key: key.to_string(), character });
            }
        }
        if components[0] != "net" || components.len() < 2 {
            return Err(SysctlKeyError::NotNetwork { key: key.to_string() });
        }
        Ok(SysctlKey { components })
    }

    /// The path beneath /proc/sys (relative: callers open it beneath a /proc/sys handle).
    pub fn relative_path(&self) -> PathBuf {
        self.components.iter().collect()
    }
}

/// The dotted form, the one state, plans and persistence files use.
impl fmt::Display for SysctlKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let dotted: Vec<String> = self.components.iter().map(|component| component.replace('.', "/")).collect();
        f.write_str(&dotted.join("."))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn path(key: &str) -> PathBuf {
        SysctlKey::parse(key).unwrap_or_else(|e| panic!("{key}: {e}")).relative_path()
    }

    #[test]
    fn dotted_and_slashed_names_map_to_the_same_path() {
        assert_eq!(path("net.ipv4.conf.tunl0.rp_filter"), PathBuf::from("net/ipv4/conf/tunl0/rp_filter"));
        assert_eq!(path("net.ipv4.conf.eth0/100.rp_filter"), PathBuf::from("net/ipv4/conf/eth0.100/rp_filter"));
        assert_eq!(path("net/ipv4/conf/eth0.100/rp_filter"), PathBuf::from("net/ipv4/conf/eth0.100/rp_filter"));
        let slashed = SysctlKey::parse("net/ipv4/conf/eth0.100/rp_filter").unwrap();
        assert_eq!(slashed.to_string(), "net.ipv4.conf.eth0/100.rp_filter");
        assert_eq!(SysctlKey::parse(&slashed.to_string()).unwrap(), slashed);
    }

    #[test]
    fn names_that_would_leave_proc_sys_net_are_refused() {
        for key in [
            "net.ipv4.//.//.//.//etc/passwd",
            "net.ipv4.conf.//.rp_filter",
            "net.ipv4.conf./.rp_filter",
            "net/../../etc/shadow",
            "net/ipv4/./ip_forward",
            "/net/ipv4/ip_forward",
        ] {
            let error = SysctlKey::parse(key).expect_err(key);
            assert!(
                matches!(error, SysctlKeyError::Traversal { .. } | SysctlKeyError::EmptyComponent { .. }),
                "{key}: {error}"
            );
        }
    }

    #[test]
    fn names_outside_the_grammar_are_refused_with_the_reason() {
        let cases = [
            ("", SysctlKeyError::Empty),
            ("kernel.core_pattern", SysctlKeyError::NotNetwork { key: "kernel.core_pattern".into() }),
            ("net", SysctlKeyError::NotNetwork { key: "net".into() }),
            ("net..ipv4.ip_forward", SysctlKeyError::EmptyComponent { key: "net..ipv4.ip_forward".into() }),
            ("net.ipv4.ip_forward.", SysctlKeyError::EmptyComponent { key: "net.ipv4.ip_forward.".into() }),
            (
                "net.ipv4.ip_forward = 1\nkernel.x",
                SysctlKeyError::Character { key: "net.ipv4.ip_forward = 1\nkernel.x".into(), character: ' ' },
            ),
            (
                "net.ipv4.conf.eth:0.x",
                SysctlKeyError::Character { key: "net.ipv4.conf.eth:0.x".into(), character: ':' },
            ),
        ];
        for (key, expected) in cases {
            assert_eq!(SysctlKey::parse(key), Err(expected), "{key:?}");
        }
        assert!(matches!(SysctlKey::parse(&format!("net.{}", "a".repeat(300))), Err(SysctlKeyError::TooLong { .. })));
    }
}
