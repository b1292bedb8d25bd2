//! The predictive policy: prescale's own forecaster and planner, replayed with the live
//! service's rules ([`crate::plan::live`]) so that it makes exactly the engine's decisions.
//!
//! At the start of step `t` (`now`), knowing the samples strictly before `now`:
//! 1. **refit** when the engine would ([`refit_due`]: never tried, the last attempt is
//!    `refit_interval` old, or it failed and samples arrived since), on the engine's training
//!    series ([`training_series`]); a failed fit keeps the previous model, as the engine's cache
//!    does;
//! 2. **forecast** from the model's origin far enough to cover `now + lead_time + plan_horizon`
//!    ([`plan_forecast_steps`]), with the engine's levels for the target's quantile
//!    ([`forecast_levels`]);
//! 3. **plan** through one [`Planner`] per target (its stabilization memory), with the newest
//!    sample before `now` as the observed load;
//! 4. the replica count of the plan's current decision is what the Deployment is scaled to.
//!    Without a model or a plan (the engine publishes none) the count is kept, as an HPA does
//!    when its external metric is missing.
//!
//! One fit serves every quantile. Each quantile's forecast is predicted once per fit, long
//! enough to last until the next refit, and each step plans on its first `steps` values: a
//! forecast's values do not depend on how long it is, so that prefix is exactly what the
//! engine's own `predict(steps, levels)` returns (a test checks it). Each quantile gets its own
//! prediction, not one call with every level, because bands are made monotone across the
//! levels of one call: a band depends on which lower levels were asked for with it.

use crate::forecast::{FittedModel, Forecast, ModelSpec};
use crate::plan::live::{
    FitAttempt, forecast_levels, plan_forecast_steps, refit_due, training_series,
};
use crate::plan::{Plan, Planner, Target};
use crate::series::{Sample, Span, Timestamp};

/// The engine's refit schedule and model cache for one series.
#[derive(Debug)]
pub struct Refitter {
    spec: ModelSpec,
    train_window: Span,
    refit_interval: Span,
    last: Option<FitAttempt>,
    model: Option<FittedModel>,
    /// Per quantile level list: the forecast predicted from the current model, if any.
    cache: Vec<Option<Forecast>>,
    /// Fit attempts, failures and the wall seconds they took.
    pub fits: usize,
    pub failures: usize,
    pub fit_seconds: f64,
    /// The first failure's message.
    pub first_error: Option<String>,
}

impl Refitter {
    /// A schedule for `spec`, caching forecasts for `slots` level lists.
    pub fn new(spec: ModelSpec, train_window: Span, refit_interval: Span, slots: usize) -> Self {
        Refitter {
            spec,
            train_window,
            refit_interval,
            last: None,
            model: None,
            cache: vec![None; slots],
            fits: 0,
            failures: 0,
            fit_seconds: 0.0,
            first_error: None,
        }
    }

    /// Refits at `now` if due; `before` are the samples strictly before `now` (what the store
    /// holds at that moment).
    pub fn tick(&mut self, now: Timestamp, before: &[Sample]) {
        let seen = before.len() as u64;
        if !refit_due(self.last.as_ref(), now, seen, self.refit_interval) {
            return;
        }
        let started = std::time::Instant::now();
        let outcome = training_series(before, now, self.train_window)
            .and_then(|series| self.spec.refit(&series, self.model.as_ref()));
        self.fit_seconds += started.elapsed().as_secs_f64();
        self.fits += 1;
        let failed = match outcome {
            Ok(model) => {
                self.model = Some(model);
                self.cache.iter_mut().for_each(|c| *c = None);
                false
            }
            Err(error) => {
                self.failures += 1;
                self.first_error
                    .get_or_insert_with(|| format!("{}: {error}", fmt_time(now)));
                true
            }
        };
        self.last = Some(FitAttempt {
            at: now,
            samples_seen: seen,
            failed,
        });
    }

    /// The current model, if any fit has succeeded.
    pub fn model(&self) -> Option<&FittedModel> {
        self.model.as_ref()
    }

    /// The forecast the engine would plan `target` on at `now`: `None` when there is no model,
    /// the data is too old, or prediction fails. `slot` names the cached level list.
    pub fn forecast(
        &mut self,
        slot: usize,
        target: &Target,
        now: Timestamp,
        plan_horizon: Span,
    ) -> Option<Forecast> {
        let model = self.model.as_ref()?;
        let step = model.step();
        let steps = plan_forecast_steps(now, target.lead_time, plan_horizon, model.origin(), step)?;
        let cached_len = self.cache[slot].as_ref().map_or(0, Forecast::len);
        if cached_len < steps {
            // Long enough to serve every step until the next refit.
            let ahead = steps + (self.refit_interval.seconds() / step) as usize + 1;
            let forecast = model
                .predict(ahead, &forecast_levels(target.quantile))
                .ok()?;
            self.cache[slot] = Some(forecast);
        }
        self.cache[slot].as_ref().map(|f| f.window(0, steps))
    }

    /// The cached forecast of `slot` (for plotting what the planner saw).
    pub fn cached(&self, slot: usize) -> Option<&Forecast> {
        self.cache.get(slot).and_then(Option::as_ref)
    }
}

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

    /// The replica count at `now` from `forecast` (none: keep `current`) and the newest
    /// observation before `now`.
    pub fn decide(
        &mut self,
        forecast: Option<&Forecast>,
        now: Timestamp,
        observed: Option<Sample>,
        current: u32,
    ) -> u32 {
        let Some(forecast) = forecast else {
            return current;
        };
        match self.planner.plan(&self.target, forecast, now, observed) {
            Ok(plan) => {
                let replicas = plan.current.replicas;
                self.last_plan = Some(plan);
                replicas
            }
            Err(_) => current,
        }
    }
}

fn fmt_time(t: Timestamp) -> String {
    crate::series::format_timestamp(t)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::MetricValue;
    use crate::series::SeriesKey;

    use crate::series::test_span as span;

    fn target(quantile: f64) -> Target {
        Target {
            series: SeriesKey::new("x").unwrap(),
            capacity_per_replica: 10.0,
            min_replicas: 1,
            max_replicas: 1000,
            lead_time: span("2m"),
            quantile,
            scale_down_stabilization: span("5m"),
            metric_value: MetricValue::Replicas,
            labels: Default::default(),
        }
    }

    /// Three days of a noisy daily cycle at 1-minute steps.
    fn samples() -> Vec<Sample> {
        (0..3 * 1440)
            .map(|i: i64| {
                let day = std::f64::consts::TAU * (i % 1440) as f64 / 1440.0;
                let noise = ((i * 7919) % 23) as f64;
                Sample::new(i * 60, 100.0 + 50.0 * day.sin() + noise).unwrap()
            })
            .collect()
    }

    #[test]
    fn cached_prefixes_equal_the_engines_own_predictions() {
        let samples = samples();
        let spec = ModelSpec::from_name("linear-seasonal", vec![span("1d")]).unwrap();
        let mut refitter = Refitter::new(spec.clone(), span("2d"), span("10m"), 2);
        let plan_horizon = span("1h");
        let start = 2 * 86_400 + 600;
        for minute in 0..25 {
            let now = start + minute * 60;
            let before = &samples[..samples.partition_point(|s| s.timestamp < now)];
            refitter.tick(now, before);
            // What the engine does at `now`: fit on its training series (refitted every 10
            // minutes), predict exactly `steps` with its levels.
            let fitted_at = start + minute / 10 * 600;
            let at_fit = &samples[..samples.partition_point(|s| s.timestamp < fitted_at)];
            let model = spec
                .fit(&training_series(at_fit, fitted_at, span("2d")).unwrap())
                .unwrap();
            for (k, q) in [0.5, 0.95].into_iter().enumerate() {
                let t = target(q);
                let got = refitter.forecast(k, &t, now, plan_horizon).unwrap();
                let steps = plan_forecast_steps(now, t.lead_time, plan_horizon, model.origin(), 60)
                    .unwrap();
                let want = model.predict(steps, &forecast_levels(q)).unwrap();
                assert_eq!(got, want, "quantile {q}, minute {minute}");
            }
        }
        assert_eq!(refitter.fits, 3);
    }

    #[test]
    fn failed_fits_retry_on_new_samples_and_keep_the_old_model() {
        let spec = ModelSpec::from_name("seasonal-naive", vec![span("1h")]).unwrap();
        let mut refitter = Refitter::new(spec, span("1h"), span("10m"), 1);
        // One sample: too short to fit.
        let samples: Vec<Sample> = (0..200)
            .map(|i| Sample::new(i * 60, 5.0).unwrap())
            .collect();
        refitter.tick(60, &samples[..1]);
        assert_eq!((refitter.fits, refitter.failures), (1, 1));
        assert!(refitter.forecast(0, &target(0.9), 60, span("1h")).is_none());
        // Same samples: no retry; a new sample: retry, and it fits.
        refitter.tick(90, &samples[..1]);
        assert_eq!(refitter.fits, 1);
        refitter.tick(120, &samples[..2]);
        assert_eq!((refitter.fits, refitter.failures), (2, 1));
        assert!(refitter.model().is_some());
        // A policy without a forecast keeps its count.
        let mut policy = PredictivePolicy::new(target(0.9));
        assert_eq!(policy.decide(None, 120, None, 7), 7);
    }
}
