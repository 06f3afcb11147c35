//! Reads the foo-over-UDP receive ports of the current network namespace. Read-only: the
//! "fou" family is only asked for when the module is there, because looking it up would
//! load it.

use super::modules::KernelModules;
use super::ObserveError;
use crate::model::fou::{BoundFouPort, FouPort};
use crate::model::keyed::{Keyed, KeyedMap};
use crate::netlink::fou::{FouClient, FouNetlinkError};

/// The ports of the model, and those bound to an address, a peer or a device apart.
pub fn read(modules: &KernelModules) -> Result<(KeyedMap<FouPort>, Vec<BoundFouPort>), ObserveError> {
    read_with(modules, || FouClient::connect()?.dump())
}

fn read_with(
    modules: &KernelModules,
    dump: impl FnOnce() -> Result<Vec<BoundFouPort>, FouNetlinkError>,
) -> Result<(KeyedMap<FouPort>, Vec<BoundFouPort>), ObserveError> {
    let ports = match modules {
        KernelModules::Listed(listed) if !listed.contains("fou") => Vec::new(),
        KernelModules::Listed(_) => dump().map_err(ObserveError::Fou)?,
        // Without module support asking loads nothing, and is the only way to know.
        KernelModules::BuiltIn => match dump() {
            Err(FouNetlinkError::Unavailable) => Vec::new(),
            read => read.map_err(ObserveError::Fou)?,
        },
    };
    let (plain, bound): (Vec<BoundFouPort>, Vec<BoundFouPort>) =
        ports.into_iter().partition(|port| port.binding.is_unbound());
    Ok((plain.into_iter().map(|bound| (bound.port.key(), bound.port)).collect(), bound))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::fou::{FouBinding, FouEncapsulation};
    use crate::model::ipvs::Family;

    const GUE: FouPort = FouPort { port: 6080, family: Family::Ipv4, encapsulation: FouEncapsulation::Gue };
    const OPEN: BoundFouPort =
        BoundFouPort { port: GUE, binding: FouBinding { local: None, peer: None, peer_port: None, ifindex: None } };

    #[test]
    fn a_bound_port_is_read_apart_from_the_ports_of_the_model() {
        let listed = KernelModules::Listed(["fou".to_string()].into());
        let other = FouPort { port: 7000, ..GUE };
        let bound = BoundFouPort { port: other, binding: FouBinding { ifindex: Some(3), ..FouBinding::default() } };
        let (ports, bound_ports) = read_with(&listed, || Ok(vec![OPEN, bound])).unwrap();
        assert_eq!(ports.into_values().collect::<Vec<_>>(), [GUE]);
        assert_eq!(bound_ports, [bound]);
    }

    #[test]
    fn without_the_module_loaded_the_family_is_never_asked_for() {
        let listed = KernelModules::Listed(["ipip".to_string()].into());
        let (ports, bound) = read_with(&listed, || panic!("asking would load fou")).unwrap();
        assert!(ports.is_empty() && bound.is_empty());
    }

    #[test]
    fn with_the_module_loaded_the_ports_are_read() {
        let listed = KernelModules::Listed(["fou".to_string()].into());
        let (ports, _) = read_with(&listed, || Ok(vec![OPEN])).unwrap();
        assert_eq!(ports.into_values().collect::<Vec<_>>(), [GUE]);
        let failed = read_with(&listed, || Err(FouNetlinkError::Unavailable));
        assert!(matches!(failed, Err(ObserveError::Fou(FouNetlinkError::Unavailable))));
    }

    #[test]
    fn a_kernel_without_modules_and_without_fou_has_no_ports() {
        assert!(read_with(&KernelModules::BuiltIn, || Err(FouNetlinkError::Unavailable)).unwrap().0.is_empty());
        assert_eq!(read_with(&KernelModules::BuiltIn, || Ok(vec![OPEN])).unwrap().0.len(), 1);
    }
}
