//! Diffing foo-over-UDP receive ports: declared ports are opened; a port open with another
//! encapsulation is closed and opened again (the kernel cannot change a port in place);
//! ports nobody declared are reported, never closed.

use serde::{Deserialize, Serialize};

use super::compare::{each_difference, HostDifference};
use super::Change;
use crate::model::fou::{BoundFouPort, FouKey, FouPort};
use crate::model::keyed::{Keyed, KeyedMap};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "change", rename_all = "camelCase")]
pub enum FouChange {
    Create { after: FouPort },
    Delete { before: FouPort },
}

impl FouChange {
    /// The port as the change opens it or finds it.
    pub fn port(&self) -> &FouPort {
        match self {
            FouChange::Create { after } => after,
            FouChange::Delete { before } => before,
        }
    }

    pub fn inverse(&self) -> FouChange {
        match *self {
            FouChange::Create { after } => FouChange::Delete { before: after },
            FouChange::Delete { before } => FouChange::Create { after: before },
        }
    }
}

/// Declared ports against the host's: the changes, and the keys of undeclared ports.
pub fn diff(desired: &KeyedMap<FouPort>, observed: &KeyedMap<FouPort>) -> (Vec<FouChange>, Vec<FouKey>) {
    let mut changes = Vec::new();
    for (key, want) in desired {
        match observed.get(key) {
            None => changes.push(FouChange::Create { after: *want }),
            Some(have) if have != want => {
                changes.push(FouChange::Delete { before: *have });
                changes.push(FouChange::Create { after: *want });
            }
            Some(_) => {}
        }
    }
    let unmanaged = observed.keys().filter(|key| !desired.contains_key(key)).copied().collect();
    (changes, unmanaged)
}

/// The bound ports the spec does not declare (reported), and those whose port and family it
/// declares: lvs-converge cannot open the declared port beside them, nor change them.
pub fn bound(desired: &KeyedMap<FouPort>, bound: &[BoundFouPort]) -> (Vec<BoundFouPort>, Vec<BoundFouPort>) {
    bound.iter().copied().partition(|port| !desired.contains_key(&port.port.key()))
}

/// Ports that appeared, went away, or were reopened with another encapsulation.
pub fn compare(before: &KeyedMap<FouPort>, after: &KeyedMap<FouPort>) -> Vec<HostDifference> {
    each_difference(before, after, |_, old, new| {
        let delete = old.map(|before| FouChange::Delete { before: *before });
        let create = new.map(|after| FouChange::Create { after: *after });
        delete.into_iter().chain(create).map(|change| HostDifference::Changed(Change::Fou(change))).collect()
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::fou::FouEncapsulation;
    use crate::model::ipvs::Family;

    fn ports(list: &[FouPort]) -> KeyedMap<FouPort> {
        list.iter().map(|port| (port.key(), *port)).collect()
    }

    fn gue(port: u16) -> FouPort {
        FouPort { port, family: Family::Ipv4, encapsulation: FouEncapsulation::Gue }
    }

    #[test]
    fn a_bound_port_is_reported_unless_its_port_and_family_are_declared() {
        use crate::model::fou::FouBinding;
        let binding = FouBinding { local: Some("192.0.2.10".parse().unwrap()), ..FouBinding::default() };
        let on = |port| BoundFouPort { port: gue(port), binding };
        let ipv6 = BoundFouPort { port: FouPort { family: Family::Ipv6, ..gue(6080) }, binding };
        let (undeclared, colliding) = bound(&ports(&[gue(6080)]), &[on(7000), on(6080), ipv6]);
        assert_eq!(undeclared, [on(7000), ipv6]);
        assert_eq!(colliding, [on(6080)]);
    }

    #[test]
    fn a_missing_port_is_opened_and_an_open_one_is_left_alone() {
        assert_eq!(diff(&ports(&[gue(6080)]), &ports(&[])), (vec![FouChange::Create { after: gue(6080) }], vec![]));
        assert_eq!(diff(&ports(&[gue(6080)]), &ports(&[gue(6080)])), (vec![], vec![]));
    }

    #[test]
    fn another_encapsulation_is_a_close_then_an_open() {
        let direct = FouPort { encapsulation: FouEncapsulation::Direct { protocol: 4 }, ..gue(6080) };
        let (changes, unmanaged) = diff(&ports(&[gue(6080)]), &ports(&[direct]));
        assert_eq!(changes, [FouChange::Delete { before: direct }, FouChange::Create { after: gue(6080) }]);
        assert!(unmanaged.is_empty());
    }

    #[test]
    fn undeclared_ports_are_reported_not_closed_and_families_are_apart() {
        let v6 = FouPort { family: Family::Ipv6, ..gue(6080) };
        let (changes, unmanaged) = diff(&ports(&[gue(6080)]), &ports(&[gue(6080), v6, gue(7000)]));
        assert!(changes.is_empty());
        assert_eq!(unmanaged, [gue(7000).key(), v6.key()]);
    }

    #[test]
    fn compare_names_a_reopened_port_as_its_close_and_open() {
        let direct = FouPort { encapsulation: FouEncapsulation::Direct { protocol: 4 }, ..gue(6080) };
        let differences = compare(&ports(&[direct, gue(7000)]), &ports(&[gue(6080)]));
        let changes: Vec<Change> = differences
            .into_iter()
            .map(|d| match d {
                HostDifference::Changed(change) => change,
                other => panic!("{other:?}"),
            })
            .collect();
        assert_eq!(
            changes,
            [
                Change::Fou(FouChange::Delete { before: direct }),
                Change::Fou(FouChange::Create { after: gue(6080) }),
                Change::Fou(FouChange::Delete { before: gue(7000) }),
            ]
        );
    }
}
