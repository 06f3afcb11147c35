//! Rise and fall: a target's health from its probes' results, one result at a time. Pure: the
//! caller says when each result came, in whatever clock it keeps (`T`).
//!
//! A new target is `Starting`, with no verdict. It becomes `Healthy` after `rise` passes in a
//! row and `Unhealthy` after `fall` failures in a row, like any other target; whether a
//! starting real server carries traffic before its verdict (keepalived's default) or stays
//! drained (keepalived's `alpha`) is the health policy's `startDrained`, not the tracker's.

/// A target's health as its probes have shown it: the records' own type.
pub use crate::model::health::HealthStatus as Health;

/// A change of a target's health, and the time of the result that made it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Transition<T> {
    pub from: Health,
    pub to: Health,
    pub at: T,
}

/// One target's rise/fall counting.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tracker<T> {
    rise: u32,
    fall: u32,
    health: Health,
    since: T,
    /// Passes in a row (0 after a failure).
    passes: u32,
    /// Failures in a row (0 after a pass).
    failures: u32,
}

impl<T: Copy> Tracker<T> {
    /// A target first seen at `now`. A `rise` or `fall` of 0 counts as 1: one result is the
    /// least a verdict can rest on.
    pub fn new(rise: u32, fall: u32, now: T) -> Self {
        Tracker { rise: rise.max(1), fall: fall.max(1), health: Health::Starting, since: now, passes: 0, failures: 0 }
    }

    /// A target whose health was judged before (by an agent that ran before this one):
    /// it keeps that verdict and its time until `rise` passes or `fall` failures change it.
    pub fn resume(rise: u32, fall: u32, health: Health, since: T) -> Self {
        Tracker { health, since, ..Tracker::new(rise, fall, since) }
    }

    /// New rise/fall thresholds (a reloaded spec), counting on from the results so far.
    pub fn set_thresholds(&mut self, rise: u32, fall: u32) {
        self.rise = rise.max(1);
        self.fall = fall.max(1);
    }

    /// Counts one probe result, at `at`; the transition it completes, if any.
    pub fn record(&mut self, passed: bool, at: T) -> Option<Transition<T>> {
        let next = if passed {
            self.passes = self.passes.saturating_add(1);
            self.failures = 0;
            (self.passes >= self.rise).then_some(Health::Healthy)
        } else {
            self.failures = self.failures.saturating_add(1);
            self.passes = 0;
            (self.failures >= self.fall).then_some(Health::Unhealthy)
        };
        let to = next.filter(|to| *to != self.health)?;
        let transition = Transition { from: self.health, to, at };
        self.health = to;
        self.since = at;
        Some(transition)
    }

    pub fn health(&self) -> Health {
        self.health
    }

    /// When the current health began: the last transition, or when the target was first seen.
    pub fn since(&self) -> T {
        self.since
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A tracker fed one result per tick of its own clock, which started at 0.
    struct Feed {
        tracker: Tracker<u32>,
        clock: u32,
    }

    impl Feed {
        fn new(rise: u32, fall: u32) -> Self {
            Feed { tracker: Tracker::new(rise, fall, 0), clock: 0 }
        }

        /// Feeds `results` ('+' a pass, '-' a failure) at the next ticks; the transitions,
        /// with their times.
        fn run(&mut self, results: &str) -> Vec<(Health, Health, u32)> {
            let mut transitions = Vec::new();
            for result in results.chars() {
                self.clock += 1;
                if let Some(Transition { from, to, at }) = self.tracker.record(result == '+', self.clock) {
                    transitions.push((from, to, at));
                }
            }
            transitions
        }

        fn state(&self) -> (Health, u32) {
            (self.tracker.health(), self.tracker.since())
        }
    }

    use Health::{Healthy, Starting, Unhealthy};

    #[test]
    fn a_starting_target_rises_after_rise_passes_in_a_row() {
        let mut feed = Feed::new(2, 3);
        assert_eq!(feed.run("+"), vec![]);
        assert_eq!(feed.state(), (Starting, 0));
        assert_eq!(feed.run("+"), vec![(Starting, Healthy, 2)]);
        assert_eq!(feed.state(), (Healthy, 2));
    }

    #[test]
    fn a_starting_target_falls_after_fall_failures_in_a_row() {
        let mut feed = Feed::new(2, 3);
        assert_eq!(feed.run("--"), vec![]);
        assert_eq!(feed.run("-"), vec![(Starting, Unhealthy, 3)]);
        assert_eq!(feed.state(), (Unhealthy, 3));
    }

    #[test]
    fn only_results_in_a_row_count() {
        let mut feed = Feed::new(2, 3);
        assert_eq!(feed.run("+-+-+--+--+"), vec![]);
        assert_eq!(feed.state(), (Starting, 0));
        assert_eq!(feed.run("+"), vec![(Starting, Healthy, 12)]);
        assert_eq!(feed.run("--+---"), vec![(Healthy, Unhealthy, 18)]);
        assert_eq!(feed.run("+-++"), vec![(Unhealthy, Healthy, 22)]);
    }

    #[test]
    fn staying_healthy_or_unhealthy_is_no_transition_and_keeps_since() {
        let mut feed = Feed::new(1, 2);
        assert_eq!(feed.run("+++"), vec![(Starting, Healthy, 1)]);
        assert_eq!(feed.state(), (Healthy, 1));
        assert_eq!(feed.run("-----"), vec![(Healthy, Unhealthy, 5)]);
        assert_eq!(feed.state(), (Unhealthy, 5));
    }

    #[test]
    fn a_resumed_target_keeps_its_verdict_until_results_change_it() {
        let mut feed = Feed { tracker: Tracker::resume(2, 2, Unhealthy, 0), clock: 0 };
        assert_eq!(feed.run("+"), vec![]);
        assert_eq!(feed.state(), (Unhealthy, 0));
        assert_eq!(feed.run("+"), vec![(Unhealthy, Healthy, 2)]);
    }

    #[test]
    fn new_thresholds_count_from_the_results_so_far() {
        let mut feed = Feed::new(3, 3);
        assert_eq!(feed.run("+"), vec![]);
        feed.tracker.set_thresholds(2, 1);
        assert_eq!(feed.run("+"), vec![(Starting, Healthy, 2)]);
        assert_eq!(feed.run("-"), vec![(Healthy, Unhealthy, 3)]);
    }

    #[test]
    fn a_rise_or_fall_of_zero_counts_as_one() {
        let mut feed = Feed::new(0, 0);
        assert_eq!(feed.run("+-"), vec![(Starting, Healthy, 1), (Healthy, Unhealthy, 2)]);
    }
}
