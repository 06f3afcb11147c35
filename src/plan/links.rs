//! Diffing interfaces: tunnels are created, reconfigured or removed; any interface's
//! admin state and MTU are set in place; of a fallback device (tunl0, gre0, sit0, ip6tnl0,
//! ip6gre0) only those and ip6tnl0's mode.

use serde::{Deserialize, Serialize};

use super::compare::{each_difference, transition, HostDifference};
use super::unmanaged::Unmanaged;
use super::Change;

use crate::model::keyed::KeyedMap;
use crate::model::links::{Link, LinkKind};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "change", rename_all = "camelCase")]
pub enum LinkChange {
    /// Create a tunnel device; for a fallback device, which its module creates, configure
    /// it once the module is loaded.
    Create {
        after: Link,
    },
    /// Change admin state, MTU or tunnel endpoints in place. Fields that are `None` in
    /// `after` are left as they are.
    Update {
        before: Link,
        after: Link,
    },
    Delete {
        before: Link,
    },
}

impl LinkChange {
    /// The link as the change leaves it (created, updated) or finds it (deleted).
    pub fn link(&self) -> &Link {
        match self {
            LinkChange::Create { after } | LinkChange::Update { after, .. } => after,
            LinkChange::Delete { before } => before,
        }
    }
}

/// Declared links against the host's. Undeclared links are left alone; of them, tunnels
/// are reported as unmanaged.
pub fn diff(desired: &KeyedMap<Link>, observed: &KeyedMap<Link>) -> (Vec<LinkChange>, Vec<Unmanaged>) {
    let mut changes = Vec::new();
    for (name, want) in desired {
        match observed.get(name) {
            None => changes.push(LinkChange::Create { after: want.clone() }),
            Some(have) if !satisfies(have, want) => {
                let mut after = want.clone();
                if want.is_fallback_tunnel() {
                    // A fallback's tunnel parameters are the kernel's, not ours.
                    after.kind = have.kind.configured_fallback(&want.kind);
                }
                changes.push(LinkChange::Update { before: have.clone(), after })
            }
            Some(_) => {}
        }
    }
    let unmanaged = observed
        .values()
        // A fallback exists wherever its module is loaded (in every namespace): not worth
        // reporting.
        .filter(|link| !desired.contains_key(&link.name) && !link.is_fallback_tunnel())
        .filter(|link| link.kind.is_tunnel())
        .map(|link| Unmanaged::Tunnel { name: link.name.clone(), kind: link.kind.name().into() })
        .collect();
    (changes, unmanaged)
}

/// True when `have` matches every field `want` manages. The kind of a non-tunnel interface
/// is not managed (the spec can't turn an ethernet into anything else).
pub fn satisfies(have: &Link, want: &Link) -> bool {
    let kind_ok = match &want.kind {
        LinkKind::Other { .. } => true,
        kind if want.is_fallback_tunnel() => {
            std::mem::discriminant(kind) == std::mem::discriminant(&have.kind)
                && have.kind.configured_fallback(kind) == have.kind
        }
        tunnel => *tunnel == have.kind,
    };
    kind_ok && want.up.is_none_or(|up| have.up == Some(up)) && want.mtu.is_none_or(|mtu| have.mtu == Some(mtu))
}

pub fn compare(before: &KeyedMap<Link>, after: &KeyedMap<Link>) -> Vec<HostDifference> {
    each_difference(before, after, |_, old, new| {
        let change = transition(
            old,
            new,
            |after| LinkChange::Create { after },
            |before, after| LinkChange::Update { before, after },
            |before| LinkChange::Delete { before },
        );
        vec![HostDifference::Changed(Change::Link(change))]
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tunl0(up: bool) -> Link {
        Link {
            name: "tunl0".into(),
            kind: LinkKind::Ipip { local: None, remote: None, ttl: 0, pmtudisc: true },
            up: Some(up),
            mtu: Some(1480),
        }
    }

    #[test]
    fn unmanaged_fields_are_not_drift_but_admin_state_is() {
        let mut want = tunl0(true);
        want.mtu = None;
        let observed = KeyedMap::from([("tunl0".to_string(), tunl0(true))]);
        let desired = KeyedMap::from([("tunl0".to_string(), want.clone())]);
        assert!(diff(&desired, &observed).0.is_empty());
        let down = KeyedMap::from([("tunl0".to_string(), tunl0(false))]);
        assert!(matches!(diff(&desired, &down).0.as_slice(), [LinkChange::Update { .. }]));
    }

    fn fallback(name: &str, up: bool) -> Link {
        Link { name: name.into(), kind: LinkKind::fallback(name).unwrap(), up: Some(up), mtu: Some(1476) }
    }

    #[test]
    fn of_a_fallback_device_only_state_mtu_ip6tnl0s_mode_and_gre0s_icsum_are_managed() {
        use crate::model::links::Ip6tnlMode;
        let observed: KeyedMap<Link> =
            ["gre0", "sit0", "ip6tnl0", "ip6gre0"].into_iter().map(|n| (n.to_string(), fallback(n, true))).collect();
        // A spec's gre0 with its own TTL or endpoints: not ours to change, not drift.
        let gre0 = Link {
            kind: LinkKind::Gre { local: None, remote: None, ttl: 64, pmtudisc: true, require_checksum: false },
            mtu: None,
            ..fallback("gre0", true)
        };
        let desired = KeyedMap::from([("gre0".to_string(), gre0.clone())]);
        assert!(diff(&desired, &observed).0.is_empty());
        // gre0's icsum is managed, both ways.
        let icsum = LinkKind::Gre { local: None, remote: None, ttl: 0, pmtudisc: false, require_checksum: true };
        let desired = KeyedMap::from([("gre0".to_string(), Link { kind: icsum.clone(), ..gre0.clone() })]);
        let (changes, _) = diff(&desired, &observed);
        let [LinkChange::Update { after, .. }] = changes.as_slice() else { panic!("{changes:?}") };
        assert_eq!(after.kind, icsum);
        let observed_icsum: KeyedMap<Link> =
            [("gre0".to_string(), Link { kind: icsum, ..fallback("gre0", true) })].into();
        let desired = KeyedMap::from([("gre0".to_string(), gre0)]);
        let (changes, _) = diff(&desired, &observed_icsum);
        let [LinkChange::Update { after, .. }] = changes.as_slice() else { panic!("{changes:?}") };
        assert_eq!(after.kind, LinkKind::fallback("gre0").unwrap());
        // ip6tnl0's mode is.
        let any = LinkKind::Ip6tnl { local: None, remote: None, hop_limit: 64, mode: Ip6tnlMode::Any };
        let ip6tnl0 = Link { kind: any, mtu: None, ..fallback("ip6tnl0", true) };
        let desired = KeyedMap::from([("ip6tnl0".to_string(), ip6tnl0)]);
        let (changes, _) = diff(&desired, &observed);
        let [LinkChange::Update { before, after }] = changes.as_slice() else { panic!("{changes:?}") };
        assert_eq!(before.kind, LinkKind::fallback("ip6tnl0").unwrap());
        // The kernel's hop limit stays; only the mode moves.
        assert_eq!(after.kind, LinkKind::Ip6tnl { local: None, remote: None, hop_limit: 0, mode: Ip6tnlMode::Any });
        // A fallback down is drift.
        let down: KeyedMap<Link> = [("sit0".to_string(), fallback("sit0", false))].into();
        let desired = KeyedMap::from([("sit0".to_string(), Link { mtu: None, ..fallback("sit0", true) })]);
        assert!(matches!(diff(&desired, &down).0.as_slice(), [LinkChange::Update { .. }]));
    }

    #[test]
    fn undeclared_tunnels_of_every_kind_are_unmanaged_but_fallbacks_and_other_kinds_are_not() {
        let mut observed: KeyedMap<Link> = ["tunl0", "gre0", "sit0", "ip6tnl0", "ip6gre0"]
            .into_iter()
            .map(|n| (n.to_string(), fallback(n, true)))
            .collect();
        for (name, yaml) in [
            ("gre1", "{ name: gre1, type: gre, remote: 192.0.2.1 }"),
            ("sit1", "{ name: sit1, type: sit }"),
            ("t6", "{ name: t6, type: ip6tnl, remote: '2001:db8::1' }"),
            ("g6", "{ name: g6, type: ip6gre, remote: '2001:db8::1' }"),
            ("gretap0", "{ name: gretap0, type: other, kind: gretap }"),
        ] {
            observed.insert(name.to_string(), serde_yaml::from_str(yaml).unwrap());
        }
        let (_, unmanaged) = diff(&KeyedMap::new(), &observed);
        use super::super::unmanaged::{id, kind};
        let tunnels: Vec<_> = unmanaged.iter().map(|u| format!("{} {}", kind(u), id(u))).collect();
        assert_eq!(tunnels, ["ip6gre tunnel g6", "gre tunnel gre1", "sit tunnel sit1", "ip6tnl tunnel t6"]);
    }
}
