//! The reactive side of planning: what a reactive autoscaler asks for from the load observed
//! now. It is the value a target publishes when it has no plan (no model yet, data too old), so
//! an HPA following prescale never loses its metric and never scales below what the load
//! needs.

use crate::series::{Sample, Timestamp};

use super::{MetricValue, Target, clamp_load, observed_is_fresh, to_replicas};

/// The grid step assumed for the freshness of an observation when the series' step is unknown
/// (a series with a single sample).
const UNKNOWN_STEP: i64 = 60;

/// The value published for `target` without a plan: the replicas (or load) the newest fresh
/// observation needs, with the planner's own rounding and clamp; `min_replicas` (or its load)
/// without a fresh observation. `step` is the series' grid step, which decides how old an
/// observation may be ([`observed_is_fresh`]); `None` when unknown.
pub fn fallback_value(
    target: &Target,
    observed: Option<Sample>,
    now: Timestamp,
    step: Option<i64>,
) -> f64 {
    let step = step.filter(|s| *s > 0).unwrap_or(UNKNOWN_STEP);
    let load = observed
        .filter(|sample| observed_is_fresh(*sample, now, step))
        .map_or(0.0, |sample| sample.value.max(0.0));
    match target.metric_value {
        MetricValue::Replicas => f64::from(to_replicas(load, target).0),
        MetricValue::Load => clamp_load(load, target),
    }
}

/// The HPA's default tolerance: no change while the metric is within 10 % of its target.
pub const HPA_TOLERANCE: f64 = 0.1;

/// The count an HPA following prescale's published count runs, from `running` pods (`0`: none
/// yet): it keeps `running` while `published` is within `down_tolerance` below it or
/// `up_tolerance` above it, and scales to `published` otherwise. [`follow_published`] is the
/// follower docs/kubernetes.md sets up; the backtest's follower can be given other tolerances.
pub fn follow(published: u32, running: u32, up_tolerance: f64, down_tolerance: f64) -> u32 {
    if running == 0 {
        return published;
    }
    let ratio = f64::from(published) / f64::from(running);
    let within = if ratio >= 1.0 {
        ratio - 1.0 <= up_tolerance
    } else {
        1.0 - ratio <= down_tolerance
    };
    if within { running } else { published }
}

/// The follower docs/kubernetes.md sets up: `behavior.scaleUp.tolerance: 0` (scales up as
/// soon as prescale asks) and the default [`HPA_TOLERANCE`] for scaling down.
pub fn follow_published(published: u32, running: u32) -> u32 {
    follow(published, running, 0.0, HPA_TOLERANCE)
}

/// The reactive floor in load units: the replicas an HPA targeting `utilization` of
/// `capacity` per pod asks for `observed` (`ceil(observed / (u·c))`, or the `current` count
/// while the ratio is within [`HPA_TOLERANCE`] of it), times `capacity`.
pub fn floor_load(observed: f64, utilization: f64, capacity: f64, current: Option<u32>) -> f64 {
    let per_pod = utilization * capacity;
    let replicas = match current.filter(|n| *n > 0) {
        Some(n) if (observed / (f64::from(n) * per_pod) - 1.0).abs() <= HPA_TOLERANCE => {
            f64::from(n)
        }
        _ => (observed / per_pod - 1e-9).ceil().max(0.0),
    };
    replicas * capacity
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target() -> Target {
        serde_json::from_str(
            r#"{"series":"rps","capacity_per_replica":10,"min_replicas":2,"max_replicas":8}"#,
        )
        .unwrap()
    }

    #[test]
    fn fallback_is_reactive_then_min() {
        let target = target();
        let fresh = Sample::new(1000, 55.0).unwrap();
        assert_eq!(fallback_value(&target, Some(fresh), 1030, Some(60)), 6.0);
        assert_eq!(fallback_value(&target, Some(fresh), 100_000, Some(60)), 2.0);
        assert_eq!(fallback_value(&target, None, 0, None), 2.0);
        let huge = Sample::new(1000, 1e6).unwrap();
        assert_eq!(fallback_value(&target, Some(huge), 1000, None), 8.0);
        // Exactly n × capacity is n replicas, as the planner rounds.
        let exact = Sample::new(1000, 30.000000000000004).unwrap();
        assert_eq!(fallback_value(&target, Some(exact), 1000, None), 3.0);
        let mut load = target.clone();
        load.metric_value = MetricValue::Load;
        assert_eq!(fallback_value(&load, Some(fresh), 1030, None), 55.0);
        assert_eq!(fallback_value(&load, None, 1030, None), 20.0);
    }

    #[test]
    fn floor_is_the_hpa_recommendation_with_its_tolerance() {
        // u = 0.5 of 10: 5 per pod; 22.5 needs 5 pods (50 of load).
        assert_eq!(floor_load(22.5, 0.5, 10.0, None), 50.0);
        assert_eq!(floor_load(22.5, 0.5, 10.0, Some(3)), 50.0);
        // Within 10 % of 4 pods (20): the count stays.
        assert_eq!(floor_load(21.9, 0.5, 10.0, Some(4)), 40.0);
        assert_eq!(floor_load(0.0, 0.5, 10.0, Some(4)), 0.0);
    }

    #[test]
    fn freshness_follows_the_series_step() {
        // Half an hour old: stale on a 1-minute grid (5 minutes at most), fresh on a 30-minute
        // grid (three steps).
        let target = target();
        let sample = Sample::new(0, 55.0).unwrap();
        assert_eq!(fallback_value(&target, Some(sample), 1800, Some(60)), 2.0);
        assert_eq!(fallback_value(&target, Some(sample), 1800, Some(1800)), 6.0);
    }
}
