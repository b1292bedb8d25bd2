//! The predictive policy: prescale's own live cycle ([`crate::live`]) replayed on a recorded
//! trace, so that it makes exactly the engine's decisions.
//!
//! At the start of step `t` (`now`), knowing the samples strictly before `now`, the series'
//! [`SeriesCycle`] refits when the engine would and each predictive target plans through its
//! [`Planner`] on the cycle's forecast, with the newest sample before `now` as the observed load
//! ([`live::plan_target`]). The replica count of the plan's current decision is what the
//! Deployment is scaled to. Without a model or a plan (the engine publishes none) the count is
//! kept, as an HPA does when its external metric is missing.

use crate::live::{self, CycleSettings, SeriesCycle};
use crate::plan::{Plan, Planner, Target};
use crate::series::{Sample, Timestamp};

/// One predictive target: the planner's memory and what it decided last.
#[derive(Debug, Clone)]
pub struct PredictivePolicy {
    pub target: Target,
    planner: Planner,
    /// The last plan made (for inspection and the parity test).
    pub last_plan: Option<Plan>,
}

impl PredictivePolicy {
    pub fn new(target: Target) -> PredictivePolicy {
        PredictivePolicy {
            target,
            planner: Planner::default(),
            last_plan: None,
        }
    }

    /// The replica count at `now`, planned on the forecast of `series` (with `levels`, those of
    /// every policy on the series) and the newest observation before `now`; without a plan,
    /// `current` is kept.
    pub fn decide(
        &mut self,
        series: &mut SeriesCycle,
        now: Timestamp,
        observed: Option<Sample>,
        levels: &[f64],
        settings: &CycleSettings,
        current: u32,
    ) -> u32 {
        let planned = live::plan_target(
            &mut self.planner,
            &self.target,
            series,
            now,
            observed,
            levels,
            settings,
        );
        match planned {
            Ok(plan) => {
                let replicas = plan.current.replicas;
                self.last_plan = Some(plan);
                replicas
            }
            Err(_) => current,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::forecast::ModelSpec;
    use crate::plan::MetricValue;
    use crate::series::SeriesKey;
    use crate::series::test_span as span;

    #[test]
    fn without_a_forecast_the_count_is_kept() {
        let target = Target {
            series: SeriesKey::new("x").unwrap(),
            capacity_per_replica: 10.0,
            min_replicas: 1,
            max_replicas: 1000,
            lead_time: span("2m"),
            quantile: 0.9,
            scale_down_stabilization: span("5m"),
            metric_value: MetricValue::Replicas,
            labels: Default::default(),
            reactive_utilization: None,
            slo: None,
        };
        let spec = ModelSpec::from_name("seasonal-naive", vec![span("1h")]).unwrap();
        let mut series = SeriesCycle::new(spec);
        let mut policy = PredictivePolicy::new(target);
        let levels = live::plan_levels([0.9]);
        let settings = CycleSettings::default();
        assert_eq!(
            policy.decide(&mut series, 120, None, &levels, &settings, 7),
            7
        );
        assert!(policy.last_plan.is_none());
    }
}
