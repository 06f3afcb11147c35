//! What an apply pass changed, so that verification re-reads exactly that: the report is
//! still the host, since what is not read again is what apply did not touch.
//!
//! IPVS is narrowed to the services that had changes (one GET_SERVICE and one GET_DEST dump
//! each, instead of the whole table); every other subsystem with changes is read whole,
//! because the kernel changes them together (deleting an interface takes its addresses,
//! routes and sysctls; an address brings its local route; a module brings its devices).

use std::collections::BTreeSet;

use crate::model::ipvs::ServiceKey;
use crate::model::{HostState, IpvsState};
use crate::plan::{Change, Plan};

/// The parts of the host a pass changed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Touched {
    /// Read the whole host again (a module was loaded, or the IPVS timeouts changed).
    pub everything: bool,
    /// Modules, links, foo-over-UDP ports, sysctls, addresses or routes changed.
    pub network: bool,
    /// Persistence files changed.
    pub files: bool,
    /// The IPVS services that had changes (of their own or of their real servers).
    pub services: BTreeSet<ServiceKey>,
}

impl Touched {
    /// Everything, for a host whose state before the pass is not known.
    pub fn everything() -> Self {
        Touched { everything: true, ..Touched::default() }
    }

    /// What the changes of `plan` touch.
    pub fn of(plan: &Plan) -> Self {
        let mut touched = Touched::default();
        for planned in &plan.changes {
            match &planned.change {
                Change::Module(_) => touched.everything = true,
                // Only the timeouts are about no service.
                Change::Ipvs(change) => match change.service() {
                    Some(service) => _ = touched.services.insert(service),
                    None => touched.everything = true,
                },
                Change::File(_) => touched.files = true,
                Change::Link(_) | Change::Fou(_) | Change::Sysctl(_) | Change::Address(_) | Change::Route(_) => {
                    touched.network = true
                }
            }
        }
        touched
    }
}

/// `state` with everything but its IPVS table and files taken from `network`.
pub fn put_network(state: &mut HostState, network: HostState) {
    let ipvs = std::mem::take(&mut state.ipvs);
    let files = std::mem::take(&mut state.files);
    *state = HostState { ipvs, files, ..network };
}

/// `table` with the services `keys` as `fresh` has them (absent from it: deleted), their
/// connection counts and drain records with them; read at `fresh.observed_at`.
pub fn put_services(table: &mut IpvsState, keys: &BTreeSet<ServiceKey>, fresh: IpvsState) {
    for key in keys {
        table.services.remove(key);
    }
    table.activity.retain(|activity| !keys.contains(&activity.service));
    table.services.extend(fresh.services.into_iter().filter(|(key, _)| keys.contains(key)));
    table.activity.extend(fresh.activity.into_iter().filter(|activity| keys.contains(&activity.service)));
    table.activity.sort();
    table.observed_at = fresh.observed_at;
}
