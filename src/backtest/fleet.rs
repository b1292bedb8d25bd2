//! The pods of one simulated policy and what they cost and serve.
//!
//! Semantics: a policy decides at the start of step `t`; a replica added at `t` is
//! ready from step `t + delay` (the start-up delay rounded up to whole steps) and is paid for
//! from `t`; removal is immediate and takes starting pods first (the newest first), as a
//! ReplicaSet scaling down deletes not-ready pods before ready ones. A step's `r(t)` is the
//! number of ready pods during it.

use serde::Serialize;

/// The pods of one policy, as the step from which each one is ready (ascending, since pods are
/// added at increasing steps with the same delay).
#[derive(Debug, Clone)]
pub struct Fleet {
    ready_at: Vec<usize>,
    delay: usize,
}

impl Fleet {
    /// `initial` pods, all ready; pods added later are ready `delay` steps after.
    pub fn new(initial: u32, delay: usize) -> Fleet {
        Fleet {
            ready_at: vec![0; initial as usize],
            delay,
        }
    }

    /// Pods running or starting: what is paid for, and the HPA's "current replicas".
    pub fn provisioned(&self) -> u32 {
        self.ready_at.len() as u32
    }

    /// Pods ready to serve during step `t`.
    pub fn ready(&self, t: usize) -> u32 {
        self.ready_at.partition_point(|&r| r <= t) as u32
    }

    /// Applies the decision made at the start of step `t`; true when the count changed (a scale
    /// event).
    pub fn scale_to(&mut self, desired: u32, t: usize) -> bool {
        let current = self.ready_at.len();
        let desired = desired as usize;
        if desired > current {
            self.ready_at.resize(desired, t + self.delay);
        } else {
            // The vector is sorted by ready step: the tail holds the starting pods, newest last.
            self.ready_at.truncate(desired);
        }
        desired != current
    }
}

/// What a policy cost and how well it served, over the scored steps.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Tally {
    /// Steps with an observed demand (the only ones scored).
    pub steps: usize,
    /// Scored steps with `d > r·c`.
    pub underprovisioned: usize,
    /// `Σ max(0, d − r·c)` and `Σ d`.
    pub unserved: f64,
    pub demand: f64,
    /// `Σ` provisioned replicas over scored steps (× step / 3600 = replica-hours).
    pub replica_steps: u64,
    /// Steps at which the provisioned count changed (gaps included: a decision is a decision).
    pub scale_events: usize,
}

impl Tally {
    /// Scores one step: `demand` (NaN = a gap: not scored), the ready and provisioned counts.
    pub fn record(&mut self, demand: f64, ready: u32, provisioned: u32, capacity: f64) {
        if demand.is_nan() {
            return;
        }
        let demand = demand.max(0.0);
        let served = f64::from(ready) * capacity;
        self.steps += 1;
        self.demand += demand;
        if demand > served {
            self.underprovisioned += 1;
            self.unserved += demand - served;
        }
        self.replica_steps += u64::from(provisioned);
    }

    pub fn underprovisioned_fraction(&self) -> f64 {
        if self.steps == 0 {
            0.0
        } else {
            self.underprovisioned as f64 / self.steps as f64
        }
    }

    pub fn unserved_fraction(&self) -> f64 {
        if self.demand > 0.0 {
            self.unserved / self.demand
        } else {
            0.0
        }
    }

    pub fn replica_hours(&self, step: i64) -> f64 {
        self.replica_steps as f64 * step as f64 / 3600.0
    }
}

/// The policy families of the simulation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum PolicyKind {
    /// prescale: the real planner on the real forecaster; `param` = the quantile.
    Predictive,
    /// prescale with a reactive floor; `param` = the quantile, beside `reactive_utilization`.
    Hybrid,
    /// prescale in SLO mode (adapted headroom); `param` = the SLO.
    Slo,
    /// The Kubernetes HPA on the last observed load; `param` = the target utilization.
    ReactiveHpa,
    /// Perfect foresight, no start-up delay; no `param`.
    Oracle,
}

impl PolicyKind {
    /// prescale's own policies (planned through [`crate::live`]).
    pub const PRESCALE: [PolicyKind; 3] =
        [PolicyKind::Predictive, PolicyKind::Hybrid, PolicyKind::Slo];

    pub fn as_str(self) -> &'static str {
        match self {
            PolicyKind::Predictive => "predictive",
            PolicyKind::Hybrid => "hybrid",
            PolicyKind::Slo => "slo",
            PolicyKind::ReactiveHpa => "reactive-hpa",
            PolicyKind::Oracle => "oracle",
        }
    }
}

/// `ceil(load / per_replica)` clamped to `min ..= max`, with the planner's tolerance: a load of
/// `n·per_replica` up to float noise (1e-9 of a replica) needs `n`, not `n + 1`.
pub fn replicas_for(load: f64, per_replica: f64, min: u32, max: u32) -> u32 {
    let ratio = (load.max(0.0) / per_replica - 1e-9).ceil();
    ratio.clamp(f64::from(min), f64::from(max)) as u32
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pods_start_after_the_delay_and_leave_at_once() {
        let mut fleet = Fleet::new(2, 2);
        assert_eq!((fleet.provisioned(), fleet.ready(0)), (2, 2));
        // Step 3: scale to 5; the three new pods are ready from step 5.
        assert!(fleet.scale_to(5, 3));
        assert_eq!(
            (fleet.provisioned(), fleet.ready(3), fleet.ready(4)),
            (5, 2, 2)
        );
        assert_eq!(fleet.ready(5), 5);
        // Step 4: scale to 3 removes two starting pods, the ready ones stay.
        assert!(fleet.scale_to(3, 4));
        assert_eq!(
            (fleet.provisioned(), fleet.ready(4), fleet.ready(5)),
            (3, 2, 3)
        );
        // Step 6: scale to 1 removes ready pods; no change is no event.
        assert!(fleet.scale_to(1, 6));
        assert_eq!(fleet.ready(6), 1);
        assert!(!fleet.scale_to(1, 7));
    }

    #[test]
    fn tally_scores_observed_steps_only() {
        let mut tally = Tally::default();
        tally.record(25.0, 2, 3, 10.0); // 5 unserved, paid 3
        tally.record(f64::NAN, 0, 3, 10.0); // a gap: not scored
        tally.record(-4.0, 0, 1, 10.0); // negative demand counts as 0
        tally.record(15.0, 2, 2, 10.0);
        assert_eq!(tally.steps, 3);
        assert_eq!(tally.underprovisioned, 1);
        assert_eq!(tally.unserved_fraction(), 5.0 / 40.0);
        assert_eq!(tally.replica_steps, 6);
        assert_eq!(tally.replica_hours(1800), 3.0);
    }

    #[test]
    fn replica_counts_round_up_with_a_tolerance() {
        assert_eq!(replicas_for(30.0, 10.0, 1, 100), 3);
        assert_eq!(replicas_for(30.000000001, 10.0, 1, 100), 3);
        assert_eq!(replicas_for(30.1, 10.0, 1, 100), 4);
        assert_eq!(replicas_for(0.0, 10.0, 1, 100), 1);
        assert_eq!(replicas_for(5000.0, 10.0, 1, 100), 100);
    }
}
