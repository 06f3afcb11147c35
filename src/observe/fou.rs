//! Reads the foo-over-UDP receive ports of the current network namespace. Read-only: the
//! "fou" family is only asked for when the module is there, because looking it up would
//! load it.

use super::modules::KernelModules;
use super::ObserveError;
use crate::model::fou::FouPort;
use crate::model::keyed::{Keyed, KeyedMap};
use crate::netlink::fou::{FouClient, FouNetlinkError};

pub fn read(modules: &KernelModules) -> Result<KeyedMap<FouPort>, ObserveError> {
    read_with(modules, || FouClient::connect()?.dump())
}

fn read_with(
    modules: &KernelModules,
    dump: impl FnOnce() -> Result<Vec<FouPort>, FouNetlinkError>,
) -> Result<KeyedMap<FouPort>, ObserveError> {
    let ports = match modules {
        KernelModules::Listed(listed) if !listed.contains("fou") => Vec::new(),
        KernelModules::Listed(_) => dump().map_err(ObserveError::Fou)?,
        // Without module support asking loads nothing, and is the only way to know.
        KernelModules::BuiltIn => match dump() {
            Err(FouNetlinkError::Unavailable) => Vec::new(),
            read => read.map_err(ObserveError::Fou)?,
        },
    };
    Ok(ports.into_iter().map(|port| (port.key(), port)).collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::fou::FouEncapsulation;
    use crate::model::ipvs::Family;

    const GUE: FouPort = FouPort { port: 6080, family: Family::Ipv4, encapsulation: FouEncapsulation::Gue };

    #[test]
    fn without_the_module_loaded_the_family_is_never_asked_for() {
        let listed = KernelModules::Listed(["ipip".to_string()].into());
        let ports = read_with(&listed, || panic!("asking would load fou")).unwrap();
        assert!(ports.is_empty());
    }

    #[test]
    fn with_the_module_loaded_the_ports_are_read() {
        let listed = KernelModules::Listed(["fou".to_string()].into());
        let ports = read_with(&listed, || Ok(vec![GUE])).unwrap();
        assert_eq!(ports.into_values().collect::<Vec<_>>(), [GUE]);
        let failed = read_with(&listed, || Err(FouNetlinkError::Unavailable));
        assert!(matches!(failed, Err(ObserveError::Fou(FouNetlinkError::Unavailable))));
    }

    #[test]
    fn a_kernel_without_modules_and_without_fou_has_no_ports() {
        assert!(read_with(&KernelModules::BuiltIn, || Err(FouNetlinkError::Unavailable)).unwrap().is_empty());
        assert_eq!(read_with(&KernelModules::BuiltIn, || Ok(vec![GUE])).unwrap().len(), 1);
    }
}
