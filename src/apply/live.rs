//! The live kernel of the current network namespace, as a [`Host`].

use std::path::{Path, PathBuf};

use super::{applier, ChangeError, ChangeOutcome, Host};
use crate::model::ipvs::{DestinationKey, ServiceKey};
use crate::model::HostState;
use crate::netlink::ipvs::IpvsClient;
use crate::netlink::route::{RouteClient, RouteNetlinkError};
use crate::observe::{self, Interest, ObserveError};
use crate::plan::Change;

pub struct LiveHost {
    interest: Interest,
    kernel: Kernel,
}

/// What the appliers reach on the live kernel: its netlink clients, connected when a change
/// first needs one (a plan of files alone opens no socket), and the settings of this apply.
pub struct Kernel {
    ipvs: Option<IpvsClient>,
    route: Option<RouteClient>,
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
        let kernel = Kernel { ipvs: None, route: None, root: interest.files.root.clone(), take_over: false };
        LiveHost { interest, kernel }
    }
}

impl Kernel {
    pub fn route(&mut self) -> Result<&mut RouteClient, ChangeError> {
        if self.route.is_none() {
            self.route = Some(RouteClient::connect().map_err(|e| ChangeError::from(&e))?);
        }
        Ok(self.route.as_mut().expect("connected above"))
    }

    pub fn ipvs(&mut self) -> Result<&mut IpvsClient, ChangeError> {
        if self.ipvs.is_none() {
            self.ipvs = Some(IpvsClient::connect().map_err(|e| ChangeError::from(&e))?);
        }
        Ok(self.ipvs.as_mut().expect("connected above"))
    }

    /// The root persistence files are written beneath (`None`: `/`).
    pub fn root(&self) -> Option<&Path> {
        self.root.as_deref()
    }

    /// Whether files lvs-converge did not write may be overwritten.
    pub fn takes_over(&self) -> bool {
        self.take_over
    }

    /// A change over route netlink, with the kernel's errno kept; one that may have taken
    /// effect although it failed (no answer, or several requests of which some stay) is
    /// unknown, not refused.
    pub fn route_change(
        &mut self,
        make: impl FnOnce(&mut RouteClient) -> Result<(), RouteNetlinkError>,
    ) -> ChangeOutcome {
        let client = match self.route() {
            Ok(client) => client,
            Err(error) => return ChangeOutcome::Failed(error),
        };
        match make(client) {
            Ok(()) => ChangeOutcome::Applied,
            Err(e) => {
                let error = ChangeError::from(&e);
                match e.may_have_changed_the_host() {
                    true => ChangeOutcome::Unknown(error),
                    false => ChangeOutcome::Failed(error),
                }
            }
        }
    }
}

impl Host for LiveHost {
    fn remember_drains(&mut self, draining: &[(ServiceKey, DestinationKey)]) -> Result<(), String> {
        super::drains::remember(draining)
    }

    fn observe(&mut self) -> Result<HostState, ObserveError> {
        observe::observe_host(&self.interest)
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
        let mut outcomes = Vec::with_capacity(changes.len());
        for (index, change) in changes.iter().enumerate() {
            if index > 0 && stop() {
                break;
            }
            let outcome = applier(change).live(&mut self.kernel);
            let went_wrong = outcome != ChangeOutcome::Applied;
            outcomes.push(outcome);
            if went_wrong {
                break;
            }
        }
        outcomes.resize(changes.len(), ChangeOutcome::NotSent);
        outcomes
    }
}

/// The first change failed with `error`; the other `count - 1` were not attempted.
fn not_sent_after(error: ChangeError, count: usize) -> Vec<ChangeOutcome> {
    let mut outcomes = vec![ChangeOutcome::Failed(error)];
    outcomes.resize(count, ChangeOutcome::NotSent);
    outcomes
}
