//! A host held in memory that answers like the kernel, for every subsystem: creating what
//! exists is EEXIST, changing or deleting what is missing is ENODEV (interfaces, and any
//! route through one), ESRCH (routes, IPVS services), ENOENT (real servers, sysctls, a
//! setting the kernel has under no interface) or EADDRNOTAVAIL (addresses),
//! deleting an interface takes its addresses, routes and sysctls with it, loading ipip
//! brings tunl0, and an IPVS batch is answered window by window, the kernel carrying on
//! after a refusal to the end of its window. What [`Host::observe`] reads back is the state
//! itself, so verify and rollback run against it exactly as against the kernel. How each
//! subsystem's change is made here is its [`super::Applier::in_memory`], in the
//! subsystem's own file; this host only numbers, refuses and loses operations.
//!
//! It can also be told to misbehave the way hosts do: refuse chosen operations, lose an
//! answer, stop at a refusal instead of carrying on, or not take real server updates.

use std::collections::{BTreeMap, BTreeSet};
use std::io;
use std::path::PathBuf;

use nix::errno::Errno;

use super::touched::{put_network, put_services, Touched};
use super::{applier, one_by_one, ChangeError, ChangeOutcome, Host};
use crate::model::files::FileContent;
use crate::model::{HostState, IpvsState};
use crate::observe::ObserveError;
use crate::plan::{Change, IpvsChange};

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
    /// Of those, the ones the kernel is asked over netlink: one request per change.
    pub netlink_writes: usize,
    /// What was last read: the state [`Host::observe_touched`] starts from.
    pub known: Option<HostState>,
    /// IPVS services read one by one (by [`Host::observe_touched`]), and whole reads of
    /// the host: what verification cost.
    pub services_read: usize,
    pub whole_reads: usize,
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
            netlink_writes: 0,
            known: None,
            services_read: 0,
            whole_reads: 0,
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
        self.netlink_writes += usize::from(applier(change).over_netlink());
        if self.refuse.contains(&number) {
            return ChangeOutcome::Failed(ChangeError::with_errno("injected failure", Errno::EINVAL as i32));
        }
        let takes_effect = self.lose_answer.is_none_or(|(at, took)| at != number || took);
        let ignored = self.ignore_updates && matches!(change, Change::Ipvs(IpvsChange::UpdateDestination { .. }));
        if takes_effect && !ignored {
            if let Err(error) = applier(change).in_memory(self) {
                return ChangeOutcome::Failed(error);
            }
        }
        match self.lose_answer {
            Some((at, _)) if at == number => ChangeOutcome::Unknown(ChangeError::new("answer lost")),
            _ => ChangeOutcome::Applied,
        }
    }
}

impl Host for MemoryHost {
    fn observe(&mut self) -> Result<HostState, ObserveError> {
        self.whole_reads += 1;
        self.known = Some(self.state.clone());
        Ok(self.state.clone())
    }

    /// Copies what was touched from the host's state into what was last read, as the live
    /// host reads it again from the kernel.
    fn observe_touched(&mut self, touched: &Touched) -> Result<&HostState, ObserveError> {
        let mut known = match self.known.take() {
            Some(known) if !touched.everything => known,
            _ => {
                self.whole_reads += 1;
                return Ok(self.known.insert(self.state.clone()));
            }
        };
        if touched.network {
            // put_network keeps what was read of IPVS and the files, and takes the rest.
            put_network(&mut known, self.state.clone());
        }
        if touched.files {
            known.files = self.state.files.clone();
        }
        if !touched.services.is_empty() {
            self.services_read += touched.services.len();
            let table = &self.state.ipvs;
            let fresh = IpvsState {
                services: touched
                    .services
                    .iter()
                    .filter_map(|key| table.services.get_key_value(key))
                    .map(|(k, s)| (*k, s.clone()))
                    .collect(),
                activity: table.activity.iter().filter(|a| touched.services.contains(&a.service)).cloned().collect(),
                timeouts: None,
                observed_at: table.observed_at,
                health: None,
            };
            put_services(&mut known.ipvs, &touched.services, fresh);
        }
        Ok(self.known.insert(known))
    }

    fn netlink_writes(&self) -> usize {
        self.netlink_writes
    }

    /// Like the kernel: an IPVS batch window by window (`stop` asked before each, nothing
    /// sent after a window with a refusal); other changes one by one up to the first that
    /// does not take effect (`stop` asked between them). IPVS is named here because only
    /// its operations share a window; each one is still made by its applier.
    fn apply(&mut self, changes: &[&Change], stop: &mut dyn FnMut() -> bool) -> Vec<ChangeOutcome> {
        if changes.iter().all(|change| matches!(change, Change::Ipvs(_))) {
            let mut outcomes = Vec::new();
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
            outcomes.resize(changes.len(), ChangeOutcome::NotSent);
            return outcomes;
        }
        one_by_one(changes, stop, |change| self.attempt(change))
    }
}

/// The kernel's refusal of `action` with `errno`, as route netlink words it.
pub(super) fn refused(action: String, errno: Errno) -> ChangeError {
    let message = format!("{action}: {}", io::Error::from_raw_os_error(errno as i32));
    ChangeError { action: Some(action), ..ChangeError::with_errno(message, errno as i32) }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::links::{Link, FALLBACK_TUNNEL};
    use crate::model::{Address, Route};
    use crate::plan::{AddressChange, LinkChange, ModuleChange, RouteChange, SysctlChange};

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
    fn deleting_a_route_through_a_missing_interface_is_enodev_as_on_the_live_path() {
        // The live client resolves the device before it sends the delete, so the kernel
        // never gets to answer ESRCH: the answer is the missing interface's ENODEV.
        let mut host = host();
        let mut stray = route("gone");
        stray.destination = "198.51.100.0".parse().unwrap();
        let delete = || Change::Route(RouteChange::Delete { before: stray.clone() });
        let routes_before = host.state.routes.clone();
        assert_eq!(errno(&mut host, delete()), Some(Errno::ENODEV as i32));
        assert_eq!(host.state.routes, routes_before, "a refused delete deletes nothing");
        let mut gone = route("gone");
        gone.destination = "203.0.113.0".parse().unwrap();
        assert_eq!(errno(&mut host, Change::Route(RouteChange::Delete { before: gone })), Some(Errno::ENODEV as i32));
        // Through an interface that exists, a missing route is still ESRCH.
        assert_eq!(errno(&mut host, Change::Route(RouteChange::Delete { before: route("eth0") })), Some(3));
    }

    #[test]
    fn a_setting_the_kernel_does_not_have_is_enoent_even_under_an_existing_interface() {
        let mut host = host();
        let set = |key: &str| Change::Sysctl(SysctlChange::Set { key: key.into(), before: None, after: "1".into() });
        assert_eq!(errno(&mut host, set("net.ipv4.conf.eth0.no_such_setting")), Some(Errno::ENOENT as i32));
        assert!(!host.state.sysctls.contains_key("net.ipv4.conf.eth0.no_such_setting"), "{:?}", host.state);
        assert_eq!(errno(&mut host, set("net.ipv4.conf.eth0.arp_ignore")), None);
        assert_eq!(errno(&mut host, set("net.ipv4.conf.eth0.accept_local")), None);
        // A setting the host was seen to have is there whatever its name.
        host.state.sysctls.insert("net.ipv4.conf.eth0.from_a_newer_kernel".into(), "0".into());
        assert_eq!(errno(&mut host, set("net.ipv4.conf.eth0.from_a_newer_kernel")), None);
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

    #[test]
    fn every_tunnel_module_brings_its_fallback_which_is_configured_never_created_or_deleted() {
        use crate::model::links::{Ip6tnlMode, LinkKind, FALLBACK_TUNNELS};
        let mut host = MemoryHost::default();
        // A fallback's sysctls exist once its module brought it.
        let rp_filter = || {
            Change::Sysctl(SysctlChange::Set {
                key: "net.ipv4.conf.gre0.rp_filter".into(),
                before: None,
                after: "0".into(),
            })
        };
        assert_eq!(errno(&mut host, rp_filter()), Some(Errno::ENOENT as i32));
        for module in ["ip_gre", "sit", "ip6_tunnel", "ip6_gre"] {
            let load = Change::Module(ModuleChange::Load { name: module.into() });
            assert_eq!(host.apply(&[&load], &mut || false), [ChangeOutcome::Applied]);
        }
        let names: Vec<&str> = host.state.links.keys().map(String::as_str).collect();
        assert_eq!(names, ["gre0", "ip6gre0", "ip6tnl0", "sit0"]);
        assert_eq!(errno(&mut host, rp_filter()), None);
        for name in FALLBACK_TUNNELS.into_iter().filter(|name| *name != FALLBACK_TUNNEL) {
            let fallback = host.state.links[name].clone();
            let delete = Change::Link(LinkChange::Delete { before: fallback.clone() });
            assert!(matches!(host.apply(&[&delete], &mut || false)[..], [ChangeOutcome::Failed(_)]), "{name}");
            let configure = Change::Link(LinkChange::Create { after: Link { up: Some(true), ..fallback } });
            assert_eq!(host.apply(&[&configure], &mut || false), [ChangeOutcome::Applied], "{name}");
            assert_eq!(host.state.links[name].up, Some(true), "{name}");
        }
        // ip6tnl0 takes a mode; gre0 keeps the kernel's parameters.
        let ip6tnl0 = host.state.links["ip6tnl0"].clone();
        let any = LinkKind::Ip6tnl { local: None, remote: None, hop_limit: 0, mode: Ip6tnlMode::Any };
        let mode =
            Change::Link(LinkChange::Update { before: ip6tnl0.clone(), after: Link { kind: any.clone(), ..ip6tnl0 } });
        assert_eq!(host.apply(&[&mode], &mut || false), [ChangeOutcome::Applied]);
        assert_eq!(host.state.links["ip6tnl0"].kind, any);
        let gre0 = host.state.links["gre0"].clone();
        let p2p = LinkKind::Gre {
            local: None,
            remote: Some("192.0.2.1".parse().unwrap()),
            ttl: 0,
            pmtudisc: false,
            require_checksum: false,
        };
        let endpoints = Change::Link(LinkChange::Update { before: gre0.clone(), after: Link { kind: p2p, ..gre0 } });
        assert_eq!(errno(&mut host, endpoints), Some(Errno::EINVAL as i32));
    }

    #[test]
    fn named_tunnels_of_every_kind_are_created_and_deleted() {
        let mut host = host();
        for yaml in [
            "{ name: gre1, type: gre, remote: 192.0.2.1 }",
            "{ name: sit1, type: sit, remote: 192.0.2.1 }",
            "{ name: ip6tnl1, type: ip6tnl, remote: '2001:db8::1', mode: any }",
            "{ name: ip6gre1, type: ip6gre, remote: '2001:db8::1' }",
        ] {
            let tunnel: Link = serde_yaml::from_str(yaml).unwrap();
            assert_eq!(errno(&mut host, Change::Link(LinkChange::Create { after: tunnel.clone() })), None, "{yaml}");
            assert_eq!(host.state.links[&tunnel.name].kind, tunnel.kind);
            assert_eq!(errno(&mut host, Change::Link(LinkChange::Delete { before: tunnel.clone() })), None, "{yaml}");
            assert!(!host.state.links.contains_key(&tunnel.name));
        }
    }
}
