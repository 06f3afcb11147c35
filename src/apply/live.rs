//! The live kernel of the current network namespace, as a [`Host`].

use super::{ChangeError, ChangeOutcome, Host};
use crate::model::ipvs::{DestinationKey, ServiceKey};
use crate::model::HostState;
use crate::netlink::ipvs::IpvsClient;
use crate::netlink::route::RouteClient;
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
    fn route(&mut self) -> Result<&mut RouteClient, String> {
        if self.route.is_none() {
            self.route = Some(RouteClient::connect().map_err(|e| e.to_string())?);
        }
        Ok(self.route.as_mut().expect("connected above"))
    }

    fn ipvs(&mut self) -> Result<&mut IpvsClient, String> {
        if self.ipvs.is_none() {
            self.ipvs = Some(IpvsClient::connect().map_err(|e| e.to_string())?);
        }
        Ok(self.ipvs.as_mut().expect("connected above"))
    }

    fn apply_one(&mut self, change: &Change) -> Result<(), String> {
        match change {
            Change::Module(c) => super::modules::apply(c),
            Change::Sysctl(c) => super::sysctl::apply(c),
            Change::Link(c) => super::links::apply(self.route()?, c),
            Change::Address(c) => super::addresses::apply(self.route()?, c),
            Change::Route(c) => super::routes::apply(self.route()?, c),
            Change::Ipvs(c) => match super::ipvs::apply(self.ipvs()?, &[c], &mut || false).pop() {
                Some(ChangeOutcome::Applied) => Ok(()),
                Some(ChangeOutcome::Failed(error) | ChangeOutcome::Unknown(error)) => Err(error.message),
                Some(ChangeOutcome::NotSent) | None => Err("the IPVS change was not sent".into()),
            },
            Change::File(c) => super::files::apply(c, self.interest.files.root.as_deref(), self.take_over),
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
                Err(message) => not_sent_after(ChangeError::new(message), changes.len()),
            };
        }
        let mut outcomes = Vec::with_capacity(changes.len());
        for (index, change) in changes.iter().enumerate() {
            if index > 0 && stop() {
                break;
            }
            match self.apply_one(change) {
                Ok(()) => outcomes.push(ChangeOutcome::Applied),
                Err(message) => {
                    outcomes.push(ChangeOutcome::Failed(ChangeError::new(message)));
                    break;
                }
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
