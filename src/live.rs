//! One live cycle: when a series is refitted, what the fit is trained on, what is kept when a
//! fit fails, and the forecast a target is planned on — the service's rules, as one piece that
//! the engine runs on what its store holds (one [`SeriesCycle`] per series) and the backtest
//! replays on a recorded trace. The two cannot drift apart: they run this code
//! (`tests/parity.rs` guards it).
//!
//! Pure like `forecast` and `plan`: time comes in as `now`, samples come in as slices, and the
//! wall time a fit took is measured by the caller ([`SeriesCycle::record`] takes it).
//!
//! At `now`, for a series holding `samples_seen` samples:
//! 1. **refit** when due ([`SeriesCycle::refit_due`]: never tried, the last attempt is
//!    `refit_interval` old, or it failed and samples arrived since), on the samples of the
//!    train window ending at `now` ([`window::training_series`]), keeping what the current
//!    model learnt when its spec is the same ([`ModelSpec::refit`]); a failed fit keeps the
//!    current model and records the error;
//! 2. **forecast** from the model's origin far enough to cover `now + lead_time +
//!    plan_horizon` ([`plan_forecast_steps`]), predicted once per fit with every level the
//!    series' targets need ([`plan_levels`]) and long enough to last until the next refit; a
//!    forecast's values depend neither on its length nor on the other levels asked for, so each
//!    plan reads exactly what `predict(steps, levels)` would return;
//! 3. **plan** each target through its [`Planner`] (its stabilization memory) with the newest
//!    observation ([`plan_target`]).

use std::sync::Arc;

use serde::Serialize;

use crate::forecast::window::{DEFAULT_TRAIN_WINDOW, training_series};
use crate::forecast::{FittedModel, Forecast, ForecastError, INTERVAL_LEVELS, ModelSpec};
use crate::plan::{Plan, PlanError, Planner, Target};
use crate::series::{Sample, Span, Timestamp, format_timestamp};

/// The longest forecast the cycle computes, in steps: a model whose data ends further back than
/// this is too old to forecast from.
pub const MAX_FORECAST_STEPS: usize = 100_000;

/// Refit each series this often unless configured otherwise.
pub const DEFAULT_REFIT_INTERVAL: Span = Span::of_seconds(600);

/// How far past `now + lead_time` a plan's trajectory reaches unless configured otherwise.
pub const DEFAULT_PLAN_HORIZON: Span = Span::of_seconds(3600);

/// The timing of the cycle.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CycleSettings {
    /// Refit each series this often (and at once when it has no model).
    pub refit_interval: Span,
    /// History each fit sees.
    pub train_window: Span,
    /// How far past `now + lead_time` each plan's trajectory reaches.
    pub plan_horizon: Span,
}

impl Default for CycleSettings {
    fn default() -> Self {
        CycleSettings {
            refit_interval: DEFAULT_REFIT_INTERVAL,
            train_window: DEFAULT_TRAIN_WINDOW,
            plan_horizon: DEFAULT_PLAN_HORIZON,
        }
    }
}

/// The levels of the forecast a series' targets are planned on: [`INTERVAL_LEVELS`] (the
/// published 80 % and 95 % bands) and each target's quantile, once each.
pub fn plan_levels(quantiles: impl IntoIterator<Item = f64>) -> Vec<f64> {
    let mut levels = INTERVAL_LEVELS.to_vec();
    for quantile in quantiles {
        if !levels.iter().any(|l| (l - quantile).abs() < 1e-12) {
            levels.push(quantile);
        }
    }
    levels
}

/// How many steps, from the model's `origin`, the forecast a target is planned on at `now`
/// holds: enough to cover `now + lead_time + plan_horizon`, at least 1; `None` when that is more
/// than [`MAX_FORECAST_STEPS`] (the data is too old to plan from).
pub fn plan_forecast_steps(
    now: Timestamp,
    lead_time: Span,
    plan_horizon: Span,
    origin: Timestamp,
    step: i64,
) -> Option<usize> {
    let reach = now + lead_time.seconds() + plan_horizon.seconds();
    let steps = ((reach - origin).max(0) + step - 1) / step;
    (steps as usize <= MAX_FORECAST_STEPS).then_some((steps as usize).max(1))
}

/// A fitted model as the cycle keeps it, and as the API describes it.
#[derive(Debug, Clone, Serialize)]
pub struct ModelEntry {
    #[serde(skip)]
    pub model: FittedModel,
    /// The spec the model was fitted with: a refit with the same spec may keep what the model
    /// learnt ([`ModelSpec::refit`]).
    #[serde(skip)]
    pub spec: ModelSpec,
    pub name: String,
    pub fitted_at: Timestamp,
    pub fit_seconds: f64,
    /// Observed steps in the training window.
    pub training_points: usize,
}

/// What a fit needs, taken out of the cycle so that the fit runs without holding it (the
/// engine fits many series on several threads while readers keep reading the current model).
#[derive(Debug, Clone)]
pub struct FitJob {
    spec: ModelSpec,
    previous: Option<Arc<ModelEntry>>,
}

/// A fit's result: the model and its observed training steps, or why it failed.
pub type FitOutcome = Result<(FittedModel, usize), String>;

impl FitJob {
    /// Fits on the samples of the train window ending at `now` (`samples` sorted; those outside
    /// the window are ignored), keeping what the previous model of the same spec learnt.
    pub fn run(&self, samples: &[Sample], now: Timestamp, train_window: Span) -> FitOutcome {
        let series = training_series(samples, now, train_window).map_err(|e| e.to_string())?;
        let previous = self
            .previous
            .as_deref()
            .filter(|entry| entry.spec == self.spec)
            .map(|entry| &entry.model);
        let model = self
            .spec
            .refit(&series, previous)
            .map_err(|e| e.to_string())?;
        Ok((model, series.present()))
    }
}

/// The outcome of a series' last fit attempt, as the refit schedule remembers it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Attempt {
    at: Timestamp,
    /// How many samples the series held then.
    samples_seen: u64,
    failed: bool,
}

/// Fit counts of one cycle, for reports.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FitStats {
    pub fits: usize,
    pub failures: usize,
    /// Wall seconds spent fitting, as measured by the caller.
    pub seconds: f64,
    /// The first failure, with its time.
    pub first_error: Option<String>,
}

/// Why a series gives no forecast to plan on.
#[derive(Debug, PartialEq, thiserror::Error)]
pub enum NoForecast {
    /// No fit has succeeded yet (`last_error` says why, when one failed).
    #[error("no model yet")]
    NoModel { last_error: Option<String> },
    /// The model's data ends more than [`MAX_FORECAST_STEPS`] steps before what is needed.
    #[error("the newest data is too old to forecast from")]
    TooOld,
    #[error(transparent)]
    Predict(#[from] ForecastError),
}

/// One series' side of the live cycle: its refit schedule, its current model and the
/// forecast its targets are planned on.
#[derive(Debug, Clone)]
pub struct SeriesCycle {
    spec: ModelSpec,
    last: Option<Attempt>,
    last_error: Option<String>,
    model: Option<Arc<ModelEntry>>,
    /// The current model's forecast from its origin, once predicted (cleared by a new model).
    forecast: Option<Arc<Forecast>>,
    pub stats: FitStats,
}

impl SeriesCycle {
    /// A series fitted with `spec`, not tried yet.
    pub fn new(spec: ModelSpec) -> SeriesCycle {
        SeriesCycle {
            spec,
            last: None,
            last_error: None,
            model: None,
            forecast: None,
            stats: FitStats::default(),
        }
    }

    /// A series started from a saved model (a model file), fitted with its spec from then on.
    /// The model counts as a fit made at `now` when `usable` (the first refit comes one refit
    /// interval later); an unusable one (too old to forecast from `now`) is kept for the API to
    /// describe, but the series is refitted at once.
    pub fn seeded(
        entry: ModelEntry,
        now: Timestamp,
        samples_seen: u64,
        usable: bool,
    ) -> SeriesCycle {
        let mut cycle = SeriesCycle::new(entry.spec.clone());
        cycle.model = Some(Arc::new(entry));
        if usable {
            cycle.last = Some(Attempt {
                at: now,
                samples_seen,
                failed: false,
            });
        }
        cycle
    }

    /// The spec this series is fitted with.
    pub fn spec(&self) -> &ModelSpec {
        &self.spec
    }

    /// The current model, if any fit has succeeded (or the series was seeded).
    pub fn model(&self) -> Option<&Arc<ModelEntry>> {
        self.model.as_ref()
    }

    /// The error of the last fit attempt, when it failed (the current model may be older).
    pub fn last_error(&self) -> Option<&str> {
        self.last_error.as_deref()
    }

    /// Whether the series is due for a (re)fit at `now`, holding `samples_now` samples: it has
    /// never been tried, or its last attempt is `refit_interval` old or more, or the last
    /// attempt failed and samples have arrived since (new data may make it fit).
    pub fn refit_due(&self, now: Timestamp, samples_now: u64, refit_interval: Span) -> bool {
        match &self.last {
            None => true,
            Some(attempt) if now - attempt.at >= refit_interval.seconds() => true,
            Some(attempt) => attempt.failed && attempt.samples_seen != samples_now,
        }
    }

    /// What a fit at this moment needs (see [`FitJob::run`]).
    pub fn fit_job(&self) -> FitJob {
        FitJob {
            spec: self.spec.clone(),
            previous: self.model.clone(),
        }
    }

    /// Remembers a fit attempt made at `now` on `samples_seen` samples that took `seconds`: a
    /// new model replaces the current one (and its forecast); a failure keeps both.
    pub fn record(
        &mut self,
        now: Timestamp,
        samples_seen: u64,
        outcome: FitOutcome,
        seconds: f64,
    ) -> Result<(), String> {
        self.stats.fits += 1;
        self.stats.seconds += seconds;
        let failed = outcome.is_err();
        let result = match outcome {
            Ok((model, training_points)) => {
                self.model = Some(Arc::new(ModelEntry {
                    name: model.name(),
                    model,
                    spec: self.spec.clone(),
                    fitted_at: now,
                    fit_seconds: seconds,
                    training_points,
                }));
                self.forecast = None;
                self.last_error = None;
                Ok(())
            }
            Err(error) => {
                self.stats.failures += 1;
                self.stats
                    .first_error
                    .get_or_insert_with(|| format!("{}: {error}", format_timestamp(now)));
                self.last_error = Some(error.clone());
                Err(error)
            }
        };
        self.last = Some(Attempt {
            at: now,
            samples_seen,
            failed,
        });
        result
    }

    /// Refits at `now` when due, timing the fit with `clock` (seconds): `samples` are those the
    /// series holds at that moment. The backtest's whole step; the engine splits it to fit
    /// without holding the cycle.
    pub fn tick(
        &mut self,
        now: Timestamp,
        samples: &[Sample],
        settings: &CycleSettings,
        clock: &mut dyn FnMut() -> f64,
    ) {
        let seen = samples.len() as u64;
        if !self.refit_due(now, seen, settings.refit_interval) {
            return;
        }
        let started = clock();
        let outcome = self.fit_job().run(samples, now, settings.train_window);
        let seconds = clock() - started;
        let _ = self.record(now, seen, outcome, seconds);
    }

    /// The forecast predicted from the current model, if any (from its origin; what the plans
    /// since the last fit read).
    pub fn cached_forecast(&self) -> Option<&Forecast> {
        self.forecast.as_deref()
    }

    /// The current model's forecast from its origin, `steps` long, with bands at `levels`
    /// (and possibly more). Served from the cached forecast when it covers them; otherwise
    /// predicted once, `ahead` steps long (at least `steps`), with the cached levels and
    /// `levels`, and cached.
    fn forecast_from_origin(
        &mut self,
        steps: usize,
        levels: &[f64],
        ahead: usize,
    ) -> Result<Forecast, NoForecast> {
        let model = self.model.as_ref().ok_or_else(|| NoForecast::NoModel {
            last_error: self.last_error.clone(),
        })?;
        let covers = |f: &Forecast| {
            f.len() >= steps && levels.iter().all(|&level| f.quantile(level).is_some())
        };
        if !self.forecast.as_deref().is_some_and(covers) {
            let mut wanted: Vec<f64> = self
                .forecast
                .as_ref()
                .map(|f| f.bands.iter().map(|band| band.level).collect())
                .unwrap_or_default();
            for &level in levels {
                if !wanted.iter().any(|l| (l - level).abs() < 1e-12) {
                    wanted.push(level);
                }
            }
            let forecast = model.model.predict(ahead.max(steps), &wanted)?;
            self.forecast = Some(Arc::new(forecast));
        }
        let cached = self.forecast.as_ref().expect("just cached");
        Ok(cached.window(0, steps))
    }

    /// The forecast a target with `lead_time` is planned on at `now`: from the model's origin
    /// to `now + lead_time + plan_horizon` ([`plan_forecast_steps`]), with bands at `levels`
    /// ([`plan_levels`] of the series' targets). Predicted long enough to serve every plan
    /// until the next refit.
    pub fn plan_forecast(
        &mut self,
        now: Timestamp,
        lead_time: Span,
        levels: &[f64],
        settings: &CycleSettings,
    ) -> Result<Forecast, NoForecast> {
        let Some(entry) = &self.model else {
            return Err(NoForecast::NoModel {
                last_error: self.last_error.clone(),
            });
        };
        let (origin, step) = (entry.model.origin(), entry.model.step());
        let steps = plan_forecast_steps(now, lead_time, settings.plan_horizon, origin, step)
            .ok_or(NoForecast::TooOld)?;
        let ahead = steps + (settings.refit_interval.seconds() / step) as usize + 1;
        self.forecast_from_origin(steps, levels, ahead)
    }

    /// A forecast covering `now .. now + horizon` with the [`INTERVAL_LEVELS`] bands, starting
    /// at the step that contains `now` (or at the model's origin when that is later): read from
    /// the cached forecast when it reaches that far, else predicted without caching it (a long
    /// horizon asked for once must not stay in memory).
    pub fn forecast(&mut self, now: Timestamp, horizon: Span) -> Result<Forecast, NoForecast> {
        let Some(entry) = &self.model else {
            return Err(NoForecast::NoModel {
                last_error: self.last_error.clone(),
            });
        };
        let model = &entry.model;
        let step = model.step();
        let skip = first_step(model, now);
        let steps = horizon.steps_ceil(step);
        if skip + steps > MAX_FORECAST_STEPS {
            return Err(NoForecast::TooOld);
        }
        let cached = self.forecast.as_deref().filter(|f| {
            f.len() >= skip + steps && INTERVAL_LEVELS.iter().all(|&l| f.quantile(l).is_some())
        });
        let full = match cached {
            Some(forecast) => forecast.window(skip, steps),
            None => model
                .predict(skip + steps, &INTERVAL_LEVELS)?
                .window(skip, steps),
        };
        Ok(full.with_levels(&INTERVAL_LEVELS))
    }
}

/// The step of `model`'s forecast that a forecast asked for at `now` starts at: the one that
/// contains `now`, or the model's first when `now` is before its origin. With the model, what a
/// forecast answer ([`SeriesCycle::forecast`]) depends on.
pub fn first_step(model: &FittedModel, now: Timestamp) -> usize {
    ((now - model.origin()).max(0) / model.step().max(1)) as usize
}

/// Why a target has no plan.
#[derive(Debug, PartialEq, thiserror::Error)]
pub enum Unplanned {
    #[error(transparent)]
    Forecast(#[from] NoForecast),
    #[error(transparent)]
    Plan(#[from] PlanError),
}

/// Plans `target` at `now` through its `planner`: on the forecast of its series' cycle (with
/// `levels`, see [`SeriesCycle::plan_forecast`]) and the newest observation of its load.
pub fn plan_target(
    planner: &mut Planner,
    target: &Target,
    series: &mut SeriesCycle,
    now: Timestamp,
    observed: Option<Sample>,
    levels: &[f64],
    settings: &CycleSettings,
) -> Result<Plan, Unplanned> {
    let forecast = series.plan_forecast(now, target.lead_time, levels, settings)?;
    Ok(planner.plan(target, &forecast, now, observed)?)
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
            reactive_utilization: None,
            slo: None,
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

    fn settings(train_window: &str, refit_interval: &str) -> CycleSettings {
        CycleSettings {
            refit_interval: span(refit_interval),
            train_window: span(train_window),
            plan_horizon: span("1h"),
        }
    }

    #[test]
    fn levels_start_with_the_published_bands_then_each_quantile_once() {
        assert_eq!(plan_levels([0.8]), vec![0.025, 0.1, 0.9, 0.975, 0.8]);
        assert_eq!(
            plan_levels([0.9, 0.5, 0.5]),
            vec![0.025, 0.1, 0.9, 0.975, 0.5]
        );
    }

    #[test]
    fn forecast_reaches_past_lead_and_horizon() {
        // Origin 1000, step 60, now 1030, lead 120, horizon 600: reach 1750 → ceil(750/60) = 13.
        assert_eq!(
            plan_forecast_steps(1030, span("120s"), span("600s"), 1000, 60),
            Some(13)
        );
        // A model whose origin is far in the future still gets one step.
        assert_eq!(
            plan_forecast_steps(0, span("60s"), span("60s"), 10_000, 60),
            Some(1)
        );
        // Data older than MAX_FORECAST_STEPS steps: no plan.
        assert_eq!(
            plan_forecast_steps(60 * 200_000, span("60s"), span("60s"), 0, 60),
            None
        );
    }

    #[test]
    fn refit_schedule() {
        let spec = ModelSpec::from_name("seasonal-naive", vec![span("1h")]).unwrap();
        let interval = span("600s");
        let mut cycle = SeriesCycle::new(spec);
        assert!(cycle.refit_due(0, 0, interval));
        cycle.record(1000, 5, Err("no".into()), 0.0).unwrap_err();
        assert!(
            !cycle.refit_due(1060, 5, interval),
            "failed, no new samples"
        );
        assert!(cycle.refit_due(1060, 6, interval), "failed, new samples");
        assert!(cycle.refit_due(1600, 5, interval), "an interval later");
        let model = cycle
            .fit_job()
            .run(&samples()[..200], 12_000, span("1d"))
            .unwrap();
        cycle.record(1000, 5, Ok(model), 0.5).unwrap();
        assert!(!cycle.refit_due(1599, 9, interval));
        assert!(cycle.refit_due(1600, 9, interval));
        assert_eq!((cycle.stats.fits, cycle.stats.failures), (2, 1));
        assert!(
            cycle
                .stats
                .first_error
                .as_deref()
                .unwrap()
                .ends_with(": no")
        );
    }

    #[test]
    fn cached_prefixes_equal_fresh_predictions() {
        let samples = samples();
        let spec = ModelSpec::from_name("linear-seasonal", vec![span("1d")]).unwrap();
        let settings = settings("2d", "10m");
        let mut cycle = SeriesCycle::new(spec.clone());
        let levels = plan_levels([0.5, 0.95]);
        let start = 2 * 86_400 + 600;
        let mut clock = || 0.0;
        for minute in 0..25 {
            let now = start + minute * 60;
            let before = &samples[..samples.partition_point(|s| s.timestamp < now)];
            cycle.tick(now, before, &settings, &mut clock);
            // A fresh fit at the last refit (every 10 minutes), predicting exactly `steps`
            // with one quantile.
            let fitted_at = start + minute / 10 * 600;
            let at_fit = &samples[..samples.partition_point(|s| s.timestamp < fitted_at)];
            let model = spec
                .fit(&training_series(at_fit, fitted_at, span("2d")).unwrap())
                .unwrap();
            for q in [0.5, 0.95] {
                let t = target(q);
                let got = cycle.plan_forecast(now, t.lead_time, &levels, &settings);
                let steps =
                    plan_forecast_steps(now, t.lead_time, span("1h"), model.origin(), 60).unwrap();
                let want = model.predict(steps, &[q]).unwrap();
                let got = got.unwrap();
                assert_eq!(got.yhat, want.yhat, "minute {minute}");
                assert_eq!(
                    got.quantile(q),
                    want.quantile(q),
                    "quantile {q}, minute {minute}"
                );
            }
        }
        assert_eq!(cycle.stats.fits, 3);
    }

    #[test]
    fn failed_fits_retry_on_new_samples_and_keep_the_old_model() {
        let spec = ModelSpec::from_name("seasonal-naive", vec![span("1h")]).unwrap();
        let settings = settings("1h", "10m");
        let mut cycle = SeriesCycle::new(spec);
        let mut clock = || 0.0;
        let samples: Vec<Sample> = (0..200)
            .map(|i| Sample::new(i * 60, 5.0).unwrap())
            .collect();
        let levels = plan_levels([0.9]);
        // One sample: too short to fit.
        cycle.tick(60, &samples[..1], &settings, &mut clock);
        assert_eq!((cycle.stats.fits, cycle.stats.failures), (1, 1));
        let no = cycle.plan_forecast(60, span("2m"), &levels, &settings);
        assert!(matches!(
            no,
            Err(NoForecast::NoModel {
                last_error: Some(_)
            })
        ));
        // Same samples: no retry; a new sample: retry, and it fits.
        cycle.tick(90, &samples[..1], &settings, &mut clock);
        assert_eq!(cycle.stats.fits, 1);
        cycle.tick(120, &samples[..2], &settings, &mut clock);
        assert_eq!((cycle.stats.fits, cycle.stats.failures), (2, 1));
        let fitted = cycle.model().unwrap().clone();
        // A failed refit keeps the model.
        cycle
            .record(2000, 3, Err("broken".into()), 0.0)
            .unwrap_err();
        assert!(Arc::ptr_eq(cycle.model().unwrap(), &fitted));
        assert_eq!(cycle.last_error(), Some("broken"));
    }

    #[test]
    fn api_forecasts_carry_the_published_bands_only() {
        let samples = samples();
        let spec = ModelSpec::from_name("linear-seasonal", vec![span("1d")]).unwrap();
        let settings = settings("2d", "10m");
        let mut cycle = SeriesCycle::new(spec);
        let now = 2 * 86_400 + 600;
        cycle.tick(now, &samples[..now as usize / 60], &settings, &mut || 0.0);
        let planned = cycle
            .plan_forecast(now, span("2m"), &plan_levels([0.99]), &settings)
            .unwrap();
        assert!(planned.quantile(0.99).is_some());
        // Read from the cache (30 minutes fit in it) and predicted fresh (a week does not):
        // the same values where they overlap, the interval levels only.
        let short = cycle.forecast(now + 90, span("30m")).unwrap();
        let long = cycle.forecast(now + 90, span("7d")).unwrap();
        assert_eq!(short.start, now + 60, "the step that contains now + 90 s");
        assert_eq!(short.bands.len(), INTERVAL_LEVELS.len());
        assert_eq!(short.yhat[..], long.yhat[..short.len()]);
        assert_eq!(
            short.quantile(0.975).unwrap(),
            &long.quantile(0.975).unwrap()[..30]
        );
    }
}
