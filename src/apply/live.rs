//! The live kernel of the current network namespace, as a [`Host`].

use super::{ChangeError, ChangeOutcome, Host};
use crate::model::ipvs::{DestinationKey, ServiceKey};
use crate::model::HostState;
use crate::netlink::ipvs::IpvsClient;
use crate::netlink::route::{RouteClient, RouteNetlinkError};
use crate::observe::{self, Interest, ObserveError};
use crate::plan::Change;

pub struct LiveHost {
    interest: Interest,
    ipvs: Option<IpvsClient>,
    route: Option<RouteClient>,
    /// `apply --take-over`: overwrite persistence files lvs-converge did not write.
    take_over: bool,
}

impl LiveHost {
    /// Allows overwriting persistence files without lvs-converge's header.
    pub fn take_over(mut self, take_over: bool) -> Self {
        self.take_over = take_over;
        self
    }

    /// A host observed with `interest` (the sysctls the spec cares about).
    pub fn new(interest: Interest) -> Self {
        LiveHost { interest, ipvs: None, route: None, take_over: false }
    }
}

impl LiveHost {
    fn route(&mut self) -> Result<&mut RouteClient, ChangeError> {
        if self.route.is_none() {
            self.route = Some(RouteClient::connect().map_err(|e| ChangeError::from(&e))?);
        }
        Ok(self.route.as_mut().expect("connected above"))
    }

    fn ipvs(&mut self) -> Result<&mut IpvsClient, ChangeError> {
        if self.ipvs.is_none() {
            self.ipvs = Some(IpvsClient::connect().map_err(|e| ChangeError::from(&e))?);
        }
        Ok(self.ipvs.as_mut().expect("connected above"))
    }

    fn apply_one(&mut self, change: &Change) -> ChangeOutcome {
        let outcome =
            |result: Result<(), ChangeError>| result.map_or_else(ChangeOutcome::Failed, |()| ChangeOutcome::Applied);
        match change {
            Change::Module(c) => outcome(super::modules::apply(c)),
            Change::Sysctl(c) => outcome(super::sysctl::apply(c)),
            Change::Link(c) => self.route_change(|client| super::links::apply(client, c)),
            Change::Address(c) => self.route_change(|client| super::addresses::apply(client, c)),
            Change::Route(c) => self.route_change(|client| super::routes::apply(client, c)),
            Change::Ipvs(c) => match self.ipvs() {
                Ok(client) => super::ipvs::apply(client, &[c], &mut || false).pop().unwrap_or(ChangeOutcome::NotSent),
                Err(error) => ChangeOutcome::Failed(error),
            },
            Change::File(c) => outcome(super::files::apply(c, self.interest.files.root.as_deref(), self.take_over)),
        }
    }

    /// A change over route netlink, with the kernel's errno kept; one that may have taken
    /// effect although it failed (no answer, or several requests of which some stay) is
    /// unknown, not refused.
    fn route_change(&mut self, make: impl FnOnce(&mut RouteClient) -> Result<(), RouteNetlinkError>) -> ChangeOutcome {
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
    /// first failure.
    fn apply(&mut self, changes: &[&Change], stop: &mut dyn FnMut() -> bool) -> Vec<ChangeOutcome> {
        let ipvs: Vec<_> =
            changes.iter().filter_map(|c| if let Change::Ipvs(i) = c { Some(i) } else { None }).collect();
        if ipvs.len() == changes.len() && !ipvs.is_empty() {
            return match self.ipvs() {
                Ok(client) => super::ipvs::apply(client, &ipvs, stop),
                Err(error) => not_sent_after(error, changes.len()),
            };
        }
        let mut outcomes = Vec::with_capacity(changes.len());
        for (index, change) in changes.iter().enumerate() {
            if index > 0 && stop() {
                break;
            }
            let outcome = self.apply_one(change);
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
