//! A host held in memory that answers like the kernel, for every subsystem: creating what
//! exists is EEXIST, changing or deleting what is missing is ENODEV (interfaces), ESRCH
//! (routes, IPVS services), ENOENT (real servers, sysctls) or EADDRNOTAVAIL (addresses),
//! deleting an interface takes its addresses, routes and sysctls with it, loading ipip
//! brings tunl0, and an IPVS batch is answered window by window, the kernel carrying on
//! after a refusal to the end of its window. What [`Host::observe`] reads back is the state
//! itself, so verify and rollback run against it exactly as against the kernel.
//!
//! It can also be told to misbehave the way hosts do: refuse chosen operations, lose an
//! answer, stop at a refusal instead of carrying on, or not take real server updates.

use std::collections::{BTreeMap, BTreeSet};
use std::io;
use std::path::PathBuf;

use nix::errno::Errno;

use super::{files, sysctl, ChangeError, ChangeOutcome, Host};
use crate::model::files::{FileContent, FileState};
use crate::model::ipvs::{Service, ServiceKey};
use crate::model::keyed::Keyed;
use crate::model::links::{Link, LinkKind, FALLBACK_TUNNEL};
use crate::model::{HostState, IpvsState};
use crate::observe::ObserveError;
use crate::plan::{AddressChange, Change, FileChange, IpvsChange, LinkChange, ModuleChange, RouteChange, SysctlChange};

/// Largest connection timeout (seconds) every kernel takes: ip_vs_set_timeout() refuses
/// more than INT_MAX / HZ with EINVAL, and HZ is at most 1000.
const MAX_TIMEOUT_ANY_HZ: u32 = i32::MAX as u32 / 1000;

#[derive(Debug, Clone)]
pub struct MemoryHost {
    pub state: HostState,
    /// `<path>.lvs-converge.bak` of each file that has one: what undoing a write restores.
    pub backups: BTreeMap<PathBuf, FileContent>,
    /// `apply --take-over`: files without lvs-converge's header may be overwritten.
    pub take_over: bool,
    /// Modules this kernel has; `None`: every module loads.
    pub loadable_modules: Option<BTreeSet<String>>,
    /// Operations to refuse (EINVAL), numbered from 0 across the host's life, undo
    /// operations included.
    pub refuse: Vec<usize>,
    /// An operation whose answer is lost, and whether it took effect.
    pub lose_answer: Option<(usize, bool)>,
    /// Within an IPVS window, carry on after a refusal (the kernel does).
    pub carry_on: bool,
    /// IPVS operations per window; 0: the whole batch is one window.
    pub window: usize,
    /// Answer real server updates as applied without making them (a host that does not
    /// take a change).
    pub ignore_updates: bool,
    /// Operations attempted so far.
    pub attempted: usize,
}

impl Default for MemoryHost {
    fn default() -> Self {
        MemoryHost {
            state: HostState::default(),
            backups: BTreeMap::new(),
            take_over: false,
            loadable_modules: None,
            refuse: Vec::new(),
            lose_answer: None,
            carry_on: true,
            window: 0,
            ignore_updates: false,
            attempted: 0,
        }
    }
}

impl MemoryHost {
    pub fn new(state: HostState) -> Self {
        MemoryHost { state, ..MemoryHost::default() }
    }

    fn attempt(&mut self, change: &Change) -> ChangeOutcome {
        let number = self.attempted;
        self.attempted += 1;
        if self.refuse.contains(&number) {
            return ChangeOutcome::Failed(ChangeError::with_errno("injected failure", Errno::EINVAL as i32));
        }
        let takes_effect = self.lose_answer.is_none_or(|(at, took)| at != number || took);
        let ignored = self.ignore_updates && matches!(change, Change::Ipvs(IpvsChange::UpdateDestination { .. }));
        if takes_effect && !ignored {
            if let Err(error) = self.make(change) {
                return ChangeOutcome::Failed(error);
            }
        }
        match self.lose_answer {
            Some((at, _)) if at == number => ChangeOutcome::Unknown(ChangeError::new("answer lost")),
            _ => ChangeOutcome::Applied,
        }
    }

    fn make(&mut self, change: &Change) -> Result<(), ChangeError> {
        match change {
            Change::Module(change) => self.load_module(change),
            Change::Link(change) => self.change_link(change),
            Change::Sysctl(change) => self.set_sysctl(change),
            Change::Address(change) => self.change_address(change),
            Change::Route(change) => self.change_route(change),
            Change::Ipvs(change) => apply_ipvs(&mut self.state.ipvs, change),
            Change::File(change) => self.change_file(change),
        }
    }

    fn load_module(&mut self, change: &ModuleChange) -> Result<(), ChangeError> {
        let ModuleChange::Load { name } = change;
        if self.loadable_modules.as_ref().is_some_and(|loadable| !loadable.contains(name)) {
            // modprobe says so on stderr; there is no errno to keep.
            return Err(ChangeError::new(format!("modprobe {name} failed: FATAL: Module {name} not found")));
        }
        self.state.modules.insert(name.clone());
        if name == "ipip" && !self.state.links.contains_key(FALLBACK_TUNNEL) {
            let fallback = Link {
                name: FALLBACK_TUNNEL.into(),
                kind: LinkKind::Ipip { local: None, remote: None, ttl: 0, pmtudisc: true },
                up: Some(false),
                mtu: Some(1480),
            };
            self.state.links.insert(fallback.key(), fallback);
        }
        Ok(())
    }

    fn change_link(&mut self, change: &LinkChange) -> Result<(), ChangeError> {
        let links = &mut self.state.links;
        match change {
            LinkChange::Create { after } if after.is_fallback_tunnel() => match links.get_mut(&after.name) {
                Some(current) => {
                    let up = after.up.or(current.up);
                    let mtu = after.mtu.or(current.mtu);
                    *current = Link { kind: current.kind.clone(), up, mtu, ..after.clone() };
                    Ok(())
                }
                None => Err(ChangeError::new(format!(
                    "configuring {}: {} does not exist: it appears when the ipip module is loaded",
                    after.name, after.name
                ))),
            },
            LinkChange::Create { after } => {
                let action = format!("creating interface {}", after.name);
                if !matches!(after.kind, LinkKind::Ipip { .. }) {
                    return Err(ChangeError::new(format!("{action}: lvs-converge only creates ipip tunnels")));
                }
                if links.contains_key(&after.name) {
                    return Err(refused(action, Errno::EEXIST));
                }
                // What the spec leaves out, the kernel decides: a new tunnel is down, MTU 1480.
                let created = Link { up: after.up.or(Some(false)), mtu: after.mtu.or(Some(1480)), ..after.clone() };
                links.insert(after.key(), created);
                Ok(())
            }
            LinkChange::Update { after, .. } => {
                let action = format!("changing interface {}", after.name);
                let current = links.get_mut(&after.name).ok_or_else(|| refused(action, Errno::ENODEV))?;
                // Only the MTU and admin state of interfaces of other kinds are managed.
                let kind = match after.kind {
                    LinkKind::Ipip { .. } => after.kind.clone(),
                    LinkKind::Other { .. } => current.kind.clone(),
                };
                // What the spec leaves out stays as it is.
                let up = after.up.or(current.up);
                let mtu = after.mtu.or(current.mtu);
                *current = Link { kind, up, mtu, ..after.clone() };
                Ok(())
            }
            LinkChange::Delete { before } => {
                let action = format!("deleting interface {}", before.name);
                if before.is_fallback_tunnel() || !matches!(before.kind, LinkKind::Ipip { .. }) {
                    return Err(ChangeError::new(format!("{action}: lvs-converge only deletes its ipip tunnels")));
                }
                links.remove(&before.name).ok_or_else(|| refused(action, Errno::ENODEV))?;
                // The kernel takes the interface's addresses, routes and sysctls with it.
                let name = &before.name;
                self.state.addresses.retain(|_, address| address.interface != *name);
                self.state.routes.retain(|_, route| route.device.as_ref() != Some(name));
                self.state.sysctls.retain(|key, _| sysctl::interface_of(key).as_ref() != Some(name));
                Ok(())
            }
        }
    }

    fn set_sysctl(&mut self, change: &SysctlChange) -> Result<(), ChangeError> {
        let SysctlChange::Set { key, after, .. } = change;
        let of_a_link = sysctl::interface_of(key).is_some_and(|interface| self.state.links.contains_key(&interface));
        if !of_a_link && !self.state.sysctls.contains_key(key) {
            return Err(sysctl::refused(key, after, &io::Error::from_raw_os_error(Errno::ENOENT as i32)));
        }
        self.state.sysctls.insert(key.clone(), after.clone());
        Ok(())
    }

    fn change_address(&mut self, change: &AddressChange) -> Result<(), ChangeError> {
        let (verb, address) = match change {
            AddressChange::Create { after } => ("adding", after),
            AddressChange::Delete { before } => ("removing", before),
        };
        let action = format!("{verb} {}/{} on {}", address.address, address.prefix_length, address.interface);
        if !self.state.links.contains_key(&address.interface) {
            return Err(refused(action, Errno::ENODEV));
        }
        let addresses = &mut self.state.addresses;
        match change {
            AddressChange::Create { after } if addresses.contains_key(&after.key()) => {
                Err(refused(action, Errno::EEXIST))
            }
            AddressChange::Create { after } => {
                addresses.insert(after.key(), after.clone());
                Ok(())
            }
            AddressChange::Delete { before } => match addresses.remove(&before.key()) {
                Some(_) => Ok(()),
                None => Err(refused(action, Errno::EADDRNOTAVAIL)),
            },
        }
    }

    fn change_route(&mut self, change: &RouteChange) -> Result<(), ChangeError> {
        let (verb, route) = match change {
            RouteChange::Create { after } => ("adding", after),
            RouteChange::Update { after, .. } => ("replacing", after),
            RouteChange::Delete { before } => ("deleting", before),
        };
        let action = format!("{verb} route {}", route.key());
        let device_missing = route.device.as_ref().is_some_and(|device| !self.state.links.contains_key(device));
        if device_missing && !matches!(change, RouteChange::Delete { .. }) {
            return Err(refused(action, Errno::ENODEV));
        }
        let routes = &mut self.state.routes;
        match change {
            RouteChange::Create { after } if routes.contains_key(&after.key()) => Err(refused(action, Errno::EEXIST)),
            // A replace creates the route when there is none (NLM_F_REPLACE | NLM_F_CREATE).
            RouteChange::Create { after } | RouteChange::Update { after, .. } => {
                routes.insert(after.key(), after.clone());
                Ok(())
            }
            RouteChange::Delete { before } => match routes.remove(&before.key()) {
                Some(_) => Ok(()),
                None => Err(refused(action, Errno::ESRCH)),
            },
        }
    }

    /// The checks the file applier makes (the file must be as planned; a foreign file is
    /// not overwritten without take-over; a backup must be what it was), on a map of files.
    fn change_file(&mut self, change: &FileChange) -> Result<(), ChangeError> {
        let path = change.path().to_path_buf();
        let current = self.state.files.get(&path).map(|file| file.content.clone());
        let forward =
            matches!(change, FileChange::Create { .. } | FileChange::Update { .. } | FileChange::Delete { .. });
        let foreign = current.as_ref().is_some_and(|content| !FileState { content: content.clone() }.is_owned());
        if forward && foreign && !self.take_over {
            return Err(ChangeError::new(files::take_over_hint(&path)));
        }
        let as_planned = |planned: Option<&FileContent>| match (current.as_ref(), planned) {
            (Some(current), Some(planned)) if current == planned => Ok(()),
            (None, None) => Ok(()),
            (Some(_), None) => Err(ChangeError::new(files::changed_since_plan(&path, "it was created"))),
            (None, Some(_)) => Err(ChangeError::new(files::changed_since_plan(&path, "it was removed"))),
            (Some(_), Some(_)) => Err(ChangeError::new(files::changed_since_plan(&path, "its content differs"))),
        };
        let write = |host: &mut MemoryHost, content: &FileContent| {
            host.state.files.insert(path.clone(), FileState { content: content.clone() });
        };
        match change {
            FileChange::Create { after, .. } => {
                as_planned(None)?;
                write(self, after);
            }
            FileChange::Update { before, after, .. } => {
                as_planned(Some(before))?;
                if before != after {
                    self.backups.insert(path.clone(), before.clone());
                    write(self, after);
                }
            }
            FileChange::Delete { before, .. } => {
                as_planned(Some(before))?;
                self.backups.insert(path.clone(), before.clone());
                self.state.files.remove(&path);
            }
            FileChange::RemoveCreated { content, .. } => match current {
                None => {}
                Some(current) if current == *content => {
                    self.state.files.remove(&path);
                }
                Some(_) => return Err(ChangeError::new(files::changed_since_apply(&path))),
            },
            FileChange::RestoreBackup { replaces, backup, .. } => {
                if self.backups.get(&path) != Some(backup) {
                    return Err(ChangeError::new(format!(
                        "{} no longer holds {} as it was: nothing was restored",
                        files::backup_path(&path).display(),
                        path.display()
                    )));
                }
                if current.as_ref() != replaces.as_ref() {
                    return Err(ChangeError::new(files::changed_since_apply(&path)));
                }
                let restored = self.backups.remove(&path).expect("checked above");
                write(self, &restored);
            }
        }
        Ok(())
    }
}

impl Host for MemoryHost {
    fn observe(&mut self) -> Result<HostState, ObserveError> {
        Ok(self.state.clone())
    }

    /// Like the kernel: an IPVS batch window by window (`stop` asked before each, nothing
    /// sent after a window with a refusal); other changes one by one up to the first that
    /// does not take effect (`stop` asked between them).
    fn apply(&mut self, changes: &[&Change], stop: &mut dyn FnMut() -> bool) -> Vec<ChangeOutcome> {
        let mut outcomes = Vec::new();
        if changes.iter().all(|change| matches!(change, Change::Ipvs(_))) {
            let window = if self.window == 0 { changes.len().max(1) } else { self.window };
            for batch in changes.chunks(window) {
                if outcomes.iter().any(|o| *o != ChangeOutcome::Applied) || stop() {
                    break;
                }
                for change in batch {
                    if !self.carry_on && outcomes.iter().any(|o| matches!(o, ChangeOutcome::Failed(_))) {
                        break;
                    }
                    outcomes.push(self.attempt(change));
                }
            }
        } else {
            for (index, change) in changes.iter().enumerate() {
                if index > 0 && stop() {
                    break;
                }
                let outcome = self.attempt(change);
                let went_wrong = outcome != ChangeOutcome::Applied;
                outcomes.push(outcome);
                if went_wrong {
                    break;
                }
            }
        }
        outcomes.resize(changes.len(), ChangeOutcome::NotSent);
        outcomes
    }
}

/// The kernel's refusal of `action` with `errno`.
fn refused(action: String, errno: Errno) -> ChangeError {
    let message = format!("{action}: {}", io::Error::from_raw_os_error(errno as i32));
    ChangeError { action: Some(action), ..ChangeError::with_errno(message, errno as i32) }
}

/// Makes one IPVS change on a table, with the kernel's refusals: EEXIST creating what
/// exists, ESRCH for a missing service, ENOENT for a missing real server, EINVAL for
/// timeouts out of range.
pub fn apply_ipvs(table: &mut IpvsState, change: &IpvsChange) -> Result<(), ChangeError> {
    let refused = |message: String, errno: Errno| ChangeError::with_errno(message, errno as i32);
    match change {
        IpvsChange::SetTimeouts { after, .. } => {
            if [after.tcp, after.tcp_fin, after.udp].iter().any(|t| *t > MAX_TIMEOUT_ANY_HZ) {
                return Err(refused(format!("timeouts {after:?} out of range (EINVAL)"), Errno::EINVAL));
            }
            table.timeouts = Some(*after)
        }
        IpvsChange::CreateService { service, after } => {
            if table.services.contains_key(service) {
                return Err(refused(format!("service {service} already exists (EEXIST)"), Errno::EEXIST));
            }
            let created = Service { key: *service, settings: after.clone(), destinations: Default::default() };
            table.services.insert(*service, created);
        }
        IpvsChange::UpdateService { service, after, .. } => {
            find_service(table, service)?.settings = after.clone();
        }
        IpvsChange::DeleteService { service, .. } => {
            table
                .services
                .remove(service)
                .ok_or_else(|| refused(format!("service {service} not found (ESRCH)"), Errno::ESRCH))?;
        }
        IpvsChange::CreateDestination { service, after } => {
            let destinations = &mut find_service(table, service)?.destinations;
            if destinations.contains_key(&after.key()) {
                return Err(refused(format!("real server {} already exists (EEXIST)", after.key()), Errno::EEXIST));
            }
            destinations.insert(after.key(), after.clone());
        }
        IpvsChange::UpdateDestination { service, after, .. } => {
            let destination = find_service(table, service)?
                .destinations
                .get_mut(&after.key())
                .ok_or_else(|| refused(format!("real server {} not found (ENOENT)", after.key()), Errno::ENOENT))?;
            *destination = after.clone();
        }
        IpvsChange::DrainDestination { service, before, .. } => {
            let destination = find_service(table, service)?
                .destinations
                .get_mut(&before.key())
                .ok_or_else(|| refused(format!("real server {} not found (ENOENT)", before.key()), Errno::ENOENT))?;
            destination.weight = 0;
        }
        IpvsChange::DeleteDestination { service, before } => {
            find_service(table, service)?
                .destinations
                .remove(&before.key())
                .ok_or_else(|| refused(format!("real server {} not found (ENOENT)", before.key()), Errno::ENOENT))?;
        }
    }
    Ok(())
}

fn find_service<'a>(table: &'a mut IpvsState, key: &ServiceKey) -> Result<&'a mut Service, ChangeError> {
    table
        .services
        .get_mut(key)
        .ok_or_else(|| ChangeError::with_errno(format!("service {key} not found (ESRCH)"), Errno::ESRCH as i32))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Address, Route};

    fn host() -> MemoryHost {
        let state = r#"
links:
  - { name: eth0, type: other, kind: veth, up: true, mtu: 1500 }
  - { name: tun1, type: ipip, up: true, mtu: 1480 }
sysctls:
  net.ipv4.ip_forward: "0"
  net.ipv4.conf.tun1.rp_filter: "1"
addresses:
  - { interface: tun1, address: 10.1.0.1, prefixLength: 32 }
routes:
  - { table: 254, type: unicast, destination: 198.51.100.0, prefixLength: 24, device: tun1, scope: link }
"#;
        MemoryHost::new(serde_yaml::from_str(state).unwrap())
    }

    fn errno(host: &mut MemoryHost, change: Change) -> Option<i32> {
        match host.apply(&[&change], &mut || false).pop() {
            Some(ChangeOutcome::Applied) => None,
            Some(ChangeOutcome::Failed(error)) => Some(error.errno.expect("an errno")),
            other => panic!("{other:?}"),
        }
    }

    fn link(name: &str) -> Link {
        serde_yaml::from_str(&format!("{{ name: {name}, type: ipip }}")).unwrap()
    }

    fn address(interface: &str) -> Address {
        serde_yaml::from_str(&format!("{{ interface: {interface}, address: 10.9.0.1, prefixLength: 32 }}")).unwrap()
    }

    fn route(device: &str) -> Route {
        serde_yaml::from_str(&format!(
            "{{ table: 254, type: unicast, destination: 192.0.2.0, prefixLength: 24, device: {device}, scope: link }}"
        ))
        .unwrap()
    }

    #[test]
    fn the_host_refuses_like_the_kernel() {
        let mut host = host();
        let eexist = Some(Errno::EEXIST as i32);
        let enodev = Some(Errno::ENODEV as i32);
        assert_eq!(errno(&mut host, Change::Link(LinkChange::Create { after: link("tun1") })), eexist);
        assert_eq!(errno(&mut host, Change::Link(LinkChange::Update { before: link("x"), after: link("x") })), enodev);
        assert_eq!(errno(&mut host, Change::Link(LinkChange::Delete { before: link("x") })), enodev);
        let unknown = SysctlChange::Set { key: "net.ipv4.no_such".into(), before: None, after: "1".into() };
        assert_eq!(errno(&mut host, Change::Sysctl(unknown)), Some(Errno::ENOENT as i32));
        assert_eq!(errno(&mut host, Change::Address(AddressChange::Create { after: address("x") })), enodev);
        assert_eq!(errno(&mut host, Change::Address(AddressChange::Create { after: address("tun1") })), None);
        assert_eq!(errno(&mut host, Change::Address(AddressChange::Create { after: address("tun1") })), eexist);
        assert_eq!(errno(&mut host, Change::Address(AddressChange::Delete { before: address("eth0") })), Some(99));
        assert_eq!(errno(&mut host, Change::Route(RouteChange::Create { after: route("x") })), enodev);
        assert_eq!(errno(&mut host, Change::Route(RouteChange::Create { after: route("eth0") })), None);
        assert_eq!(errno(&mut host, Change::Route(RouteChange::Create { after: route("eth0") })), eexist);
        assert_eq!(errno(&mut host, Change::Route(RouteChange::Delete { before: route("tun1") })), None);
        assert_eq!(errno(&mut host, Change::Route(RouteChange::Delete { before: route("tun1") })), Some(3));
    }

    #[test]
    fn deleting_an_interface_takes_its_addresses_routes_and_sysctls_with_it() {
        let mut host = host();
        assert_eq!(errno(&mut host, Change::Link(LinkChange::Delete { before: link("tun1") })), None);
        assert!(host.state.addresses.is_empty() && host.state.routes.is_empty(), "{:?}", host.state);
        assert_eq!(host.state.sysctls.keys().collect::<Vec<_>>(), ["net.ipv4.ip_forward"]);
        // A sysctl of an interface exists while the interface does.
        let rp_filter = || {
            Change::Sysctl(SysctlChange::Set {
                key: "net.ipv4.conf.tun1.rp_filter".into(),
                before: None,
                after: "2".into(),
            })
        };
        assert_eq!(errno(&mut host, rp_filter()), Some(Errno::ENOENT as i32));
        assert_eq!(errno(&mut host, Change::Link(LinkChange::Create { after: link("tun1") })), None);
        assert_eq!(errno(&mut host, rp_filter()), None);
    }

    #[test]
    fn loading_ipip_brings_tunl0_which_can_then_be_configured() {
        let mut host = MemoryHost::default();
        let tunl0 = Link { up: Some(true), ..link(FALLBACK_TUNNEL) };
        let configure = || Change::Link(LinkChange::Create { after: tunl0.clone() });
        assert!(matches!(host.apply(&[&configure()], &mut || false)[..], [ChangeOutcome::Failed(_)]));
        let load = Change::Module(ModuleChange::Load { name: "ipip".into() });
        assert_eq!(host.apply(&[&load, &configure()], &mut || false), [ChangeOutcome::Applied, ChangeOutcome::Applied]);
        assert_eq!(host.state.links[FALLBACK_TUNNEL].up, Some(true));
    }
}
