//! The live kernel of the current network namespace, as a [`Host`].

use std::any::Any;
use std::path::{Path, PathBuf};

use super::touched::{put_network, put_services, Touched};
use super::{applier, one_by_one, ChangeError, ChangeOutcome, Host};
use crate::model::ipvs::{DestinationKey, ServiceKey};
use crate::model::HostState;
use crate::netlink::ipvs::IpvsClient;
use crate::netlink::route::{RouteClient, RouteNetlinkError};
use crate::observe::{self, Interest, ObserveError};
use crate::plan::Change;

pub struct LiveHost {
    interest: Interest,
    kernel: Kernel,
    /// What was last read (or the state the plan was made from): what
    /// [`Host::observe_touched`] starts from.
    known: Option<HostState>,
}

/// What the appliers reach on the live kernel: its clients, connected when a change first
/// needs one (a plan of files alone opens no socket), and the settings of this apply.
pub struct Kernel {
    /// Connected clients, one of each type (see [`Kernel::client`]).
    clients: Vec<Box<dyn Connected>>,
    /// `--root DIR`: persistence files are written beneath it.
    root: Option<PathBuf>,
    /// `apply --take-over`: overwrite persistence files lvs-converge did not write.
    take_over: bool,
}

impl LiveHost {
    /// Allows overwriting persistence files without lvs-converge's header.
    pub fn take_over(mut self, take_over: bool) -> Self {
        self.kernel.take_over = take_over;
        self
    }

    /// A host observed with `interest` (the sysctls the spec cares about).
    pub fn new(interest: Interest) -> Self {
        let kernel = Kernel { clients: Vec::new(), root: interest.files.root.clone(), take_over: false };
        LiveHost { interest, kernel, known: None }
    }

    /// The host as the plan about to be applied read it: verification then re-reads only
    /// what apply touches.
    pub fn planned_from(mut self, observed: HostState) -> Self {
        self.known = Some(observed);
        self
    }
}

/// A kernel client appliers reach through [`Kernel::client`]. A subsystem with a client of
/// its own implements this beside its applier; nothing here changes.
pub trait KernelClient: Sized + 'static {
    fn connect() -> Result<Self, ChangeError>;
    /// Change requests sent over netlink so far (0 for a client that does not use netlink).
    fn netlink_writes(&self) -> usize;
}

/// A connected client of any type: found again by its type, asked for its writes.
trait Connected {
    fn as_any_mut(&mut self) -> &mut dyn Any;
    fn is(&self, type_id: std::any::TypeId) -> bool;
    fn netlink_writes(&self) -> usize;
}

impl<C: KernelClient> Connected for C {
    fn as_any_mut(&mut self) -> &mut dyn Any {
        self
    }
    fn is(&self, type_id: std::any::TypeId) -> bool {
        std::any::TypeId::of::<C>() == type_id
    }
    fn netlink_writes(&self) -> usize {
        KernelClient::netlink_writes(self)
    }
}

impl KernelClient for RouteClient {
    fn connect() -> Result<Self, ChangeError> {
        RouteClient::connect().map_err(|e| ChangeError::from(&e))
    }
    fn netlink_writes(&self) -> usize {
        self.writes()
    }
}

impl KernelClient for IpvsClient {
    fn connect() -> Result<Self, ChangeError> {
        IpvsClient::connect().map_err(|e| ChangeError::from(&e))
    }
    fn netlink_writes(&self) -> usize {
        self.writes()
    }
}

impl Kernel {
    /// The client of type `C`, connected on first use and kept for the rest of the apply.
    pub fn client<C: KernelClient>(&mut self) -> Result<&mut C, ChangeError> {
        let index = match self.clients.iter().position(|client| client.is(std::any::TypeId::of::<C>())) {
            Some(index) => index,
            None => {
                self.clients.push(Box::new(C::connect()?));
                self.clients.len() - 1
            }
        };
        Ok(self.clients[index].as_any_mut().downcast_mut::<C>().expect("found by its type"))
    }

    /// Change requests sent over netlink by every client so far.
    pub fn netlink_writes(&self) -> usize {
        self.clients.iter().map(|client| client.netlink_writes()).sum()
    }

    pub fn route(&mut self) -> Result<&mut RouteClient, ChangeError> {
        self.client()
    }

    pub fn ipvs(&mut self) -> Result<&mut IpvsClient, ChangeError> {
        self.client()
    }

    /// The root persistence files are written beneath (`None`: `/`).
    pub fn root(&self) -> Option<&Path> {
        self.root.as_deref()
    }

    /// Whether files lvs-converge did not write may be overwritten.
    pub fn takes_over(&self) -> bool {
        self.take_over
    }

    /// A change made by one request of client `C` (or several, taken back on failure),
    /// with the kernel's errno kept; one that may have taken effect although it failed (no
    /// answer, a broken exchange after sending, or several requests of which some stay) is
    /// unknown, not refused: it is then neither reported as "nothing changed" nor skipped
    /// by rollback's account of what stays.
    pub fn change<C: KernelClient, E: KernelError>(
        &mut self,
        make: impl FnOnce(&mut C) -> Result<(), E>,
    ) -> ChangeOutcome
    where
        for<'e> ChangeError: From<&'e E>,
    {
        let client = match self.client::<C>() {
            Ok(client) => client,
            Err(error) => return ChangeOutcome::Failed(error),
        };
        match make(client) {
            Ok(()) => ChangeOutcome::Applied,
            Err(e) if e.may_have_changed_the_host() => ChangeOutcome::Unknown(ChangeError::from(&e)),
            Err(e) => ChangeOutcome::Failed(ChangeError::from(&e)),
        }
    }

    /// A change over route netlink (see [`Kernel::change`]).
    pub fn route_change(
        &mut self,
        make: impl FnOnce(&mut RouteClient) -> Result<(), RouteNetlinkError>,
    ) -> ChangeOutcome {
        self.change(make)
    }
}

/// The error of a kernel client's failed change: whether the host may have been changed
/// all the same decides between a refusal and an unknown outcome.
pub trait KernelError {
    fn may_have_changed_the_host(&self) -> bool;
}

impl KernelError for RouteNetlinkError {
    fn may_have_changed_the_host(&self) -> bool {
        RouteNetlinkError::may_have_changed_the_host(self)
    }
}

impl Host for LiveHost {
    fn remember_drains(&mut self, draining: &[(ServiceKey, DestinationKey)]) -> Result<(), String> {
        super::drains::remember(draining)
    }

    fn observe(&mut self) -> Result<HostState, ObserveError> {
        let state = observe::observe_host(&self.interest)?;
        self.known = Some(state.clone());
        Ok(state)
    }

    /// Re-reads what was touched: the network subsystems and the files whole, IPVS one
    /// service at a time (see [`super::touched`]).
    fn observe_touched(&mut self, touched: &Touched) -> Result<&HostState, ObserveError> {
        let mut known = match self.known.take() {
            Some(known) if !touched.everything => known,
            _ => return Ok(self.known.insert(observe::observe_host(&self.interest)?)),
        };
        if touched.network {
            put_network(&mut known, observe::observe_network(&self.interest)?.0);
        }
        if touched.files {
            known.files = observe::files::read(&self.interest.files)?;
        }
        // A service read alone costs two requests (GET_SERVICE, GET_DEST), the whole table
        // about one per service: past half of the table, the whole dump is the cheaper read.
        if touched.services.len() * 2 > known.ipvs.services.len() {
            known.ipvs = observe::ipvs::read()?;
        } else if !touched.services.is_empty() {
            put_services(&mut known.ipvs, &touched.services, observe::ipvs::read_services(&touched.services)?);
        }
        Ok(self.known.insert(known))
    }

    fn netlink_writes(&self) -> usize {
        self.kernel.netlink_writes()
    }

    /// IPVS changes go to the kernel as one pipelined batch; the rest one by one, up to the
    /// first failure. IPVS is the one subsystem handled here by name: only its requests
    /// share a window, so a run of them cannot go through its applier one change at a time.
    fn apply(&mut self, changes: &[&Change], stop: &mut dyn FnMut() -> bool) -> Vec<ChangeOutcome> {
        let ipvs: Vec<_> =
            changes.iter().filter_map(|c| if let Change::Ipvs(i) = c { Some(i) } else { None }).collect();
        if ipvs.len() == changes.len() && !ipvs.is_empty() {
            return match self.kernel.ipvs() {
                Ok(client) => super::ipvs::apply(client, &ipvs, stop),
                Err(error) => not_sent_after(error, changes.len()),
            };
        }
        one_by_one(changes, stop, |change| applier(change).live(&mut self.kernel))
    }
}

/// The first change failed with `error`; the other `count - 1` were not attempted.
fn not_sent_after(error: ChangeError, count: usize) -> Vec<ChangeOutcome> {
    let mut outcomes = vec![ChangeOutcome::Failed(error)];
    outcomes.resize(count, ChangeOutcome::NotSent);
    outcomes
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    static CONNECTS: AtomicUsize = AtomicUsize::new(0);

    /// Fails its first connection, then connects.
    struct Flaky(usize);

    impl KernelClient for Flaky {
        fn connect() -> Result<Self, ChangeError> {
            match CONNECTS.fetch_add(1, Ordering::SeqCst) {
                0 => Err(ChangeError::new("no socket yet")),
                n => Ok(Flaky(n)),
            }
        }
        fn netlink_writes(&self) -> usize {
            0
        }
    }

    /// Answers each change with the error it is given.
    struct Answering;

    impl KernelClient for Answering {
        fn connect() -> Result<Self, ChangeError> {
            Ok(Answering)
        }
        fn netlink_writes(&self) -> usize {
            0
        }
    }

    struct Lost(bool);

    impl KernelError for Lost {
        fn may_have_changed_the_host(&self) -> bool {
            self.0
        }
    }

    impl From<&Lost> for ChangeError {
        fn from(lost: &Lost) -> Self {
            ChangeError::new(format!("may have changed the host: {}", lost.0))
        }
    }

    #[test]
    fn a_failure_that_may_have_changed_the_host_is_unknown_and_a_refusal_is_failed() {
        let mut kernel = Kernel { clients: Vec::new(), root: None, take_over: false };
        let outcome = |kernel: &mut Kernel, lost| kernel.change(|_: &mut Answering| Err(Lost(lost)));
        assert_eq!(
            outcome(&mut kernel, true),
            ChangeOutcome::Unknown(ChangeError::new("may have changed the host: true"))
        );
        assert_eq!(
            outcome(&mut kernel, false),
            ChangeOutcome::Failed(ChangeError::new("may have changed the host: false"))
        );
        assert_eq!(kernel.change(|_: &mut Answering| Ok::<(), Lost>(())), ChangeOutcome::Applied);
    }

    #[test]
    fn a_client_connects_on_first_use_once_and_a_failed_connect_is_tried_again() {
        let mut kernel = Kernel { clients: Vec::new(), root: None, take_over: false };
        assert_eq!(kernel.client::<Flaky>().err().map(|e| e.message), Some("no socket yet".to_string()));
        assert_eq!(kernel.client::<Flaky>().map(|c| c.0).ok(), Some(1));
        kernel.client::<Flaky>().unwrap().0 = 7;
        assert_eq!(kernel.client::<Flaky>().map(|c| c.0).ok(), Some(7), "the same client is kept");
        assert_eq!(CONNECTS.load(Ordering::SeqCst), 2);
    }
}
