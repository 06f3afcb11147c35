//! Diffing interfaces: ipip tunnels are created, reconfigured or removed; any interface's
//! admin state and MTU are set in place.

use serde::{Deserialize, Serialize};

use super::compare::{each_difference, transition, HostDifference};
use super::Change;

use crate::model::keyed::KeyedMap;
use crate::model::links::{Link, LinkKind};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "change", rename_all = "camelCase")]
pub enum LinkChange {
    /// Create a tunnel device (never `tunl0`, which the ipip module creates itself).
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

/// Declared links against the host's. Undeclared links are left alone; of them, ipip
/// tunnels are reported as unmanaged.
pub fn diff(desired: &KeyedMap<Link>, observed: &KeyedMap<Link>) -> (Vec<LinkChange>, Vec<String>) {
    let mut changes = Vec::new();
    for (name, want) in desired {
        match observed.get(name) {
            None => changes.push(LinkChange::Create { after: want.clone() }),
            Some(have) if !satisfies(have, want) => {
                let mut after = want.clone();
                if want.is_fallback_tunnel() {
                    // tunl0's tunnel parameters are the kernel's, not ours.
                    after.kind = have.kind.clone();
                }
                changes.push(LinkChange::Update { before: have.clone(), after })
            }
            Some(_) => {}
        }
    }
    let unmanaged = observed
        .values()
        // tunl0 exists wherever ipip is loaded (in every namespace): not worth reporting.
        .filter(|link| !desired.contains_key(&link.name) && !link.is_fallback_tunnel())
        .filter(|link| matches!(link.kind, LinkKind::Ipip { .. }))
        .map(|link| link.name.clone())
        .collect();
    (changes, unmanaged)
}

/// True when `have` matches every field `want` manages. The kind of a non-tunnel interface
/// is not managed (the spec can't turn an ethernet into anything else).
pub fn satisfies(have: &Link, want: &Link) -> bool {
    let kind_ok = match &want.kind {
        LinkKind::Other { .. } => true,
        LinkKind::Ipip { .. } if want.is_fallback_tunnel() => matches!(have.kind, LinkKind::Ipip { .. }),
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
}
