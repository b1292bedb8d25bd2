//! The reactive baseline: the Kubernetes Horizontal Pod Autoscaler with its defaults, on an
//! `AverageValue` target of `u·c` per pod, replayed once per step.
//!
//! At the start of step `t` its metric is the last observed load `d(t−1)`:
//! - `desired = ceil(metric / T)` with `T = u·c`, unless `|metric / (current·T) − 1| ≤ 0.1`
//!   (the default tolerance), in which case the recommendation is the current count;
//! - scaling up follows the current recommendation at once (no scale-up stabilization);
//! - scaling down goes only to the highest of the current recommendation and those of the
//!   previous `ceil(300 s / step)` steps (the 5-minute scale-down stabilization: the controller
//!   syncs every 15 s and the metric is constant within a step);
//! - the result is clamped to `min ..= max`; recommendations are remembered unclamped, as the
//!   controller does.
//!
//! "current" is the Deployment's replica count, starting pods included (`status.replicas`).
//! When the metric is missing (a gap in the trace) the controller cannot compute a
//! recommendation: it keeps the count and remembers nothing for that step.
//!
//! Simplification, stated: the default scale-up rate limit (at most double, or +4 pods, per
//! 15 s) is not modelled; it binds only for jumps of more than 16× within a minute.

use std::collections::VecDeque;

use crate::plan::reactive::{self, HPA_TOLERANCE as TOLERANCE};

/// The HPA's default scale-down stabilization window in seconds.
pub const SCALE_DOWN_WINDOW_SECONDS: i64 = 300;

/// One HPA controller.
#[derive(Debug, Clone)]
pub struct Hpa {
    /// `T = u·c`, the target load per pod.
    target_per_pod: f64,
    /// How many previous steps the scale-down window holds.
    window: usize,
    /// The recommendations of the previous `window` steps, oldest first (`None`: no metric).
    recent: VecDeque<Option<u64>>,
    min: u32,
    max: u32,
}

impl Hpa {
    /// A controller targeting `utilization` of `capacity` per pod, on a grid of `step` seconds.
    pub fn new(utilization: f64, capacity: f64, step: i64, min: u32, max: u32) -> Hpa {
        let window = ((SCALE_DOWN_WINDOW_SECONDS + step - 1) / step) as usize;
        Hpa {
            target_per_pod: utilization * capacity,
            window,
            recent: VecDeque::with_capacity(window + 1),
            min,
            max,
        }
    }

    /// The replica count decided at the start of a step, from `metric` (the previous step's load,
    /// `None` when missing) and the `current` replica count.
    pub fn decide(&mut self, metric: Option<f64>, current: u32) -> u32 {
        let recommendation = metric.map(|load| {
            let load = load.max(0.0);
            let ratio = load / (f64::from(current) * self.target_per_pod);
            if (ratio - 1.0).abs() <= TOLERANCE {
                u64::from(current)
            } else {
                (load / self.target_per_pod - 1e-9).ceil().max(0.0) as u64
            }
        });
        let decided = match recommendation {
            None => u64::from(current),
            Some(up) => {
                let down = self.recent.iter().flatten().copied().fold(up, u64::max);
                u64::from(current).max(up).min(down)
            }
        };
        self.recent.push_back(recommendation);
        if self.recent.len() > self.window {
            self.recent.pop_front();
        }
        decided.clamp(u64::from(self.min), u64::from(self.max)) as u32
    }
}

/// The HPA that follows prescale's published replica count (an `External` metric with an
/// `AverageValue` target of 1, so its recommendation is the published count itself), set up as
/// docs/kubernetes.md recommends: `behavior.scaleUp.tolerance: 0` (Kubernetes 1.35+) so it
/// scales up as soon as prescale asks, the default 10 % tolerance for scaling down, and
/// `behavior.scaleDown.stabilizationWindowSeconds: 0` because prescale stabilizes itself. Its
/// 15 s sync period is within the first step of the start-up delay (steps are 1 minute or
/// more), so it is not modelled separately.
#[derive(Debug, Clone, Copy)]
pub struct Follower {
    pub scale_up_tolerance: f64,
    pub scale_down_tolerance: f64,
}

impl Default for Follower {
    fn default() -> Follower {
        Follower {
            scale_up_tolerance: 0.0,
            scale_down_tolerance: TOLERANCE,
        }
    }
}

impl Follower {
    /// The count the HPA scales to when prescale publishes `published` and `current` run.
    pub fn follow(&self, published: u32, current: u32) -> u32 {
        reactive::follow(
            published,
            current,
            self.scale_up_tolerance,
            self.scale_down_tolerance,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tolerance_skips_small_changes() {
        // T = 0.5 · 10 = 5 per pod; 4 pods are sized for 20.
        let mut hpa = Hpa::new(0.5, 10.0, 60, 1, 100);
        assert_eq!(hpa.decide(Some(21.9), 4), 4, "ratio 1.095: within 10 %");
        assert_eq!(
            hpa.decide(Some(22.5), 4),
            5,
            "ratio 1.125: ceil(22.5 / 5) = 5"
        );
    }

    #[test]
    fn scale_down_waits_five_minutes_at_one_minute_steps() {
        // 1-minute steps: the window holds the 5 previous recommendations.
        let mut hpa = Hpa::new(1.0, 10.0, 60, 1, 100);
        assert_eq!(hpa.decide(Some(100.0), 1), 10);
        let mut current = 10;
        let mut seen = Vec::new();
        for _ in 0..6 {
            current = hpa.decide(Some(20.0), current);
            seen.push(current);
        }
        // The 10 recommended at the first step is in the window for the next 5 steps.
        assert_eq!(seen, vec![10, 10, 10, 10, 10, 2]);
    }

    #[test]
    fn five_minute_steps_remember_one_step_and_gaps_keep_the_count() {
        let mut hpa = Hpa::new(1.0, 10.0, 300, 1, 100);
        assert_eq!(hpa.decide(Some(100.0), 1), 10);
        assert_eq!(hpa.decide(Some(20.0), 10), 10);
        assert_eq!(hpa.decide(Some(20.0), 10), 2);
        assert_eq!(hpa.decide(None, 2), 2);
        // After a gap, nothing from it holds the count up.
        assert_eq!(hpa.decide(Some(100.0), 2), 10);
        assert_eq!(hpa.decide(None, 10), 10);
        assert_eq!(hpa.decide(Some(10.0), 10), 1);
    }

    #[test]
    fn follower_scales_up_at_once_and_down_past_its_tolerance() {
        let follower = Follower::default();
        assert_eq!(follower.follow(21, 20), 21);
        assert_eq!(follower.follow(19, 20), 20, "5 % down: within tolerance");
        assert_eq!(follower.follow(17, 20), 17);
        let default_hpa = Follower {
            scale_up_tolerance: TOLERANCE,
            ..Follower::default()
        };
        assert_eq!(default_hpa.follow(21, 20), 20, "the default HPA waits");
    }

    #[test]
    fn clamped_to_bounds() {
        let mut hpa = Hpa::new(1.0, 10.0, 60, 2, 5);
        assert_eq!(hpa.decide(Some(0.0), 3), 2);
        assert_eq!(hpa.decide(Some(1000.0), 2), 5);
    }
}
