//! The scaling simulation: every policy replayed over the same steps from the same state.
//!
//! - **Demand** `d(t)` is the trace's value of step `t` (negative values count as 0); one
//!   replica serves `c`; `r(t)` is the number of ready replicas during step `t`.
//! - **Decisions** are made at the start of step `t` knowing `d` only up to `t − 1` (the oracle
//!   excepted); pods start and stop as [`Fleet`] says (start-up delay rounded up to whole
//!   steps, immediate removal, starting pods removed first).
//! - **Scored steps** are those with an observed demand. A gap step is not scored at all: it
//!   adds nothing to the under-provisioned count, `Σ d`, the replica-hours or the scale events
//!   (nobody knows what it needed, so neither cost nor service can be judged there); the
//!   policies still run through it — the HPA keeps its count for want of a metric, the oracle
//!   keeps its count, prescale keeps forecasting.
//! - **Initial state**: every policy starts with the same count, all pods ready: what the
//!   oracle would run for the last observed demand before the period (`min` if there is none).
//! - **Period**: from the first accuracy origin (`max(train window, half the trace)`, so the
//!   forecaster has a full train window from the first step) to the end of the trace.
//!
//! Policies: the oracle (`r(t) = ceil(d(t)/c)`, no delay), the reactive HPA ([`Hpa`]) for each
//! target utilization, and prescale ([`PredictivePolicy`]) for each quantile (`predictive`), for
//! each quantile with each reactive floor (`hybrid`), and in SLO mode (`slo`) for each SLO, all
//! within the same `min ..= max`. prescale's targets take the start-up delay as it is simulated
//! (rounded up to whole steps) as their lead time: a pod asked for at `t` serves from
//! `t + delay`. The Deployment follows prescale's published count through an HPA
//! ([`Follower`]), as in a cluster.

use std::ops::Range;

use crate::forecast::ModelSpec;
use crate::live::{CycleSettings, SeriesCycle, plan_levels};
use crate::plan::{MetricValue, Target};
use crate::series::{Sample, Series, SeriesKey, Span};

use super::BacktestError;
use super::fleet::{Fleet, PolicyKind, Tally, replicas_for};
use super::hpa::{Follower, Hpa};
use super::predictive::PredictivePolicy;

/// The HPA target utilizations simulated: down to 0.2, so that on most traces some HPA setting
/// meets a 1 % miss budget and the HPA tuned in hindsight is interpolated, not extrapolated.
pub const UTILIZATIONS: [f64; 8] = [0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9];

/// The forecast quantiles simulated.
pub const QUANTILES: [f64; 5] = [0.5, 0.8, 0.9, 0.95, 0.99];

/// The reactive floors simulated with each quantile (the hybrid policies): from 0.5, so that a
/// prescale setting sits beside every common HPA setting, to 1.0 (the floor only follows the
/// load), every 0.05, so that one sits between any two HPA settings of the grid.
pub const REACTIVE_UTILIZATIONS: [f64; 11] =
    [0.5, 0.55, 0.6, 0.65, 0.7, 0.75, 0.8, 0.85, 0.9, 0.95, 1.0];

/// The SLOs SLO mode is simulated at (besides `--slo`): the reliability a user states is SLO
/// mode's one knob, so its settings sit on the frontier beside the quantiles and floors.
pub const SLOS: [f64; 11] = [
    0.7, 0.8, 0.85, 0.9, 0.93, 0.95, 0.97, 0.98, 0.99, 0.995, 0.999,
];

/// The forecast band SLO mode multiplies by its headroom (the target default).
pub const SLO_QUANTILE: f64 = 0.9;

/// How a simulation runs.
#[derive(Debug, Clone)]
pub struct ScalingConfig {
    pub capacity_per_replica: f64,
    pub startup_delay: Span,
    pub min_replicas: u32,
    pub max_replicas: u32,
    pub utilizations: Vec<f64>,
    pub quantiles: Vec<f64>,
    /// Reactive floors: one hybrid policy per quantile and floor.
    pub reactive_utilizations: Vec<f64>,
    /// The SLOs of the SLO-mode policies, ascending.
    pub slos: Vec<f64>,
    /// `--slo`: the one the summary compares with the HPA tuned in hindsight.
    pub slo: Option<f64>,
    /// The HPA between prescale's metric and the Deployment.
    pub follower: Follower,
    /// The model the predictive policy refits (the engine's `model` setting).
    pub model: ModelSpec,
    /// The engine's `train_window`, `refit_interval` and `plan_horizon` settings.
    pub cycle: CycleSettings,
    /// The predictive targets' scale-down stabilization (the target default, 5 minutes).
    pub stabilization: Span,
}

/// One policy's run.
#[derive(Debug, Clone)]
pub struct PolicyRun {
    pub kind: PolicyKind,
    /// Quantile (predictive, hybrid), SLO (slo) or target utilization (HPA); `None` for the
    /// oracle.
    pub param: Option<f64>,
    /// The hybrid's reactive floor.
    pub reactive_utilization: Option<f64>,
    pub tally: Tally,
    /// Per simulated step: replicas provisioned (paid) and ready.
    pub provisioned: Vec<u32>,
    pub ready: Vec<u32>,
}

/// The outcome of a simulation.
#[derive(Debug, Clone)]
pub struct Simulation {
    /// Grid indices simulated.
    pub period: Range<usize>,
    pub initial_replicas: u32,
    pub delay_steps: usize,
    /// The predictive targets' lead time: `delay_steps` steps.
    pub lead_time: Span,
    /// Oracle first, then the HPAs, then the predictive policies, each in parameter order.
    pub runs: Vec<PolicyRun>,
    /// Per simulated step: the point forecast and the 80 % and 95 % bands the predictive
    /// policies had for that step, i.e. what the engine was publishing (NaN before the first
    /// fit).
    pub forecast_yhat: Vec<f64>,
    pub forecast_lo80: Vec<f64>,
    pub forecast_hi80: Vec<f64>,
    pub forecast_lo95: Vec<f64>,
    pub forecast_hi95: Vec<f64>,
    /// Fit attempts and failures of the predictive model, wall seconds spent fitting.
    pub fits: usize,
    pub fit_failures: usize,
    pub fit_seconds: f64,
    pub fit_error: Option<String>,
}

/// Runs every policy over `period` of `series` (the dataset on its grid); `samples` are its
/// observations as written, which the predictive policy trains on like the engine on its
/// store. `progress(done, total)` is called now and then.
pub fn simulate(
    series: &Series,
    samples: &[Sample],
    period: Range<usize>,
    config: &ScalingConfig,
    progress: &mut dyn FnMut(usize, usize),
) -> Result<Simulation, BacktestError> {
    let step = series.step();
    let demand = series.values();
    let period = period.start.min(demand.len())..period.end.min(demand.len());
    let (c, min, max) = (
        config.capacity_per_replica,
        config.min_replicas,
        config.max_replicas,
    );
    let delay = config.startup_delay.steps_ceil(step);
    let lead_time =
        Span::from_seconds(delay as i64 * step).map_err(|e| BacktestError::Input(e.to_string()))?;
    let initial = demand[..period.start]
        .iter()
        .rev()
        .find(|d| d.is_finite())
        .map_or(min, |d| replicas_for(*d, c, min, max));

    let target = |quantile, reactive_utilization, slo| {
        let target = Target {
            series: SeriesKey::new("backtest").expect("a valid name"),
            capacity_per_replica: c,
            min_replicas: min,
            max_replicas: max,
            lead_time,
            quantile,
            scale_down_stabilization: config.stabilization,
            metric_value: MetricValue::Replicas,
            labels: Default::default(),
            reactive_utilization,
            slo,
        };
        target
            .check()
            .map(|()| target)
            .map_err(|e| BacktestError::Input(e.to_string()))
    };
    // prescale's policies: (kind, param, target).
    let mut settings = Vec::new();
    for &q in &config.quantiles {
        settings.push((PolicyKind::Predictive, q, target(q, None, None)?));
    }
    for &q in &config.quantiles {
        for &u in &config.reactive_utilizations {
            settings.push((PolicyKind::Hybrid, q, target(q, Some(u), None)?));
        }
    }
    for &slo in &config.slos {
        settings.push((PolicyKind::Slo, slo, target(SLO_QUANTILE, None, Some(slo))?));
    }
    let mut hpas: Vec<Hpa> = config
        .utilizations
        .iter()
        .map(|&u| Hpa::new(u, c, step, min, max))
        .collect();
    let levels = plan_levels(settings.iter().flat_map(|(_, _, t)| t.levels()));
    let mut cycle = SeriesCycle::new(config.model.clone());
    let started = std::time::Instant::now();
    let mut clock = || started.elapsed().as_secs_f64();

    let run = |kind, param, reactive_utilization, fleet_delay| {
        (
            PolicyRun {
                kind,
                param,
                reactive_utilization,
                tally: Tally::default(),
                provisioned: Vec::with_capacity(period.len()),
                ready: Vec::with_capacity(period.len()),
            },
            Fleet::new(initial, fleet_delay),
        )
    };
    let mut runs = vec![run(PolicyKind::Oracle, None, None, 0)];
    runs.extend(
        config
            .utilizations
            .iter()
            .map(|&u| run(PolicyKind::ReactiveHpa, Some(u), None, delay)),
    );
    runs.extend(
        settings
            .iter()
            .map(|(kind, param, t)| run(*kind, Some(*param), t.reactive_utilization, delay)),
    );
    let mut predictive: Vec<PredictivePolicy> = settings
        .into_iter()
        .map(|(_, _, t)| PredictivePolicy::new(t))
        .collect();

    let mut forecast_yhat = Vec::with_capacity(period.len());
    let mut forecast_lo80 = Vec::with_capacity(period.len());
    let mut forecast_hi80 = Vec::with_capacity(period.len());
    let mut forecast_lo95 = Vec::with_capacity(period.len());
    let mut forecast_hi95 = Vec::with_capacity(period.len());
    let mut known = 0; // samples strictly before `now`
    let mut desired = vec![0u32; runs.len()];
    let total = period.len();
    for (done, t) in period.clone().enumerate() {
        if done % 500 == 0 {
            progress(done, total);
        }
        let now = series.timestamp(t);
        while known < samples.len() && samples[known].timestamp < now {
            known += 1;
        }
        let before = &samples[..known];
        let observed = before.last().copied();
        let metric = t
            .checked_sub(1)
            .map(|p| demand[p])
            .filter(|d| d.is_finite());
        if !predictive.is_empty() {
            cycle.tick(now, before, &config.cycle, &mut clock);
        }

        let mut slot = 0;
        desired[slot] = if demand[t].is_finite() {
            replicas_for(demand[t], c, min, max)
        } else {
            runs[slot].1.provisioned()
        };
        for hpa in &mut hpas {
            slot += 1;
            desired[slot] = hpa.decide(metric, runs[slot].1.provisioned());
        }
        for policy in &mut predictive {
            slot += 1;
            let current = runs[slot].1.provisioned();
            let published =
                policy.decide(&mut cycle, now, observed, &levels, &config.cycle, current);
            desired[slot] = config.follower.follow(published, current);
        }

        for ((run, fleet), &want) in runs.iter_mut().zip(&desired) {
            let changed = fleet.scale_to(want, t);
            let (ready, provisioned) = (fleet.ready(t), fleet.provisioned());
            if changed && demand[t].is_finite() {
                run.tally.scale_events += 1;
            }
            run.tally.record(demand[t], ready, provisioned, c);
            run.provisioned.push(provisioned);
            run.ready.push(ready);
        }

        let at = |values: Option<&[f64]>, start: i64| -> f64 {
            let index = (now - start) / step;
            values
                .and_then(|v| usize::try_from(index).ok().and_then(|i| v.get(i)))
                .copied()
                .unwrap_or(f64::NAN)
        };
        let cached = cycle.cached_forecast();
        let start = cached.map_or(0, |f| f.start);
        forecast_yhat.push(at(cached.map(|f| f.yhat.as_slice()), start));
        forecast_lo80.push(at(cached.and_then(|f| f.quantile(0.1)), start));
        forecast_hi80.push(at(cached.and_then(|f| f.quantile(0.9)), start));
        forecast_lo95.push(at(cached.and_then(|f| f.quantile(0.025)), start));
        forecast_hi95.push(at(cached.and_then(|f| f.quantile(0.975)), start));
    }
    progress(total, total);
    Ok(Simulation {
        period,
        initial_replicas: initial,
        delay_steps: delay,
        lead_time,
        runs: runs.into_iter().map(|(run, _)| run).collect(),
        forecast_yhat,
        forecast_lo80,
        forecast_hi80,
        forecast_lo95,
        forecast_hi95,
        fits: cycle.stats.fits,
        fit_failures: cycle.stats.failures,
        fit_seconds: cycle.stats.seconds,
        fit_error: cycle.stats.first_error,
    })
}

impl Simulation {
    /// The oracle's run.
    pub fn oracle(&self) -> &PolicyRun {
        &self.runs[0]
    }

    /// The run of `kind` with parameter `param`.
    pub fn run(&self, kind: PolicyKind, param: f64) -> Option<&PolicyRun> {
        self.runs
            .iter()
            .find(|r| r.kind == kind && r.param.is_some_and(|p| (p - param).abs() < 1e-9))
    }

    /// How often the bands the engine was publishing held the demand: over the simulated steps
    /// of `demand` (the whole series) with an observed demand and a forecast, the share inside
    /// the 80 % and inside the 95 % band (bounds included). Each step's forecast is the one the
    /// policies planned on, made at the latest refit before it: a rolling check of the
    /// intervals at every step, not at a sample of origins.
    pub fn published_coverage(&self, demand: &[f64]) -> BandCoverage {
        let mut coverage = BandCoverage::default();
        let bands = self.forecast_lo80.iter().zip(&self.forecast_hi80);
        let wide = self.forecast_lo95.iter().zip(&self.forecast_hi95);
        for ((&d, (&lo80, &hi80)), (&lo95, &hi95)) in
            demand[self.period.clone()].iter().zip(bands).zip(wide)
        {
            if [d, lo80, hi80, lo95, hi95].iter().all(|v| v.is_finite()) {
                coverage.steps += 1;
                coverage.in80 += usize::from(lo80 <= d && d <= hi80);
                coverage.in95 += usize::from(lo95 <= d && d <= hi95);
            }
        }
        coverage
    }

    /// How far the point forecasts the policies planned on lay from the demand, over the
    /// simulated steps with an observed demand and a forecast: the forecasts of the engine's
    /// own cycle (its kept selections and warm refits included), where the accuracy part
    /// scores a fresh fit at each of a sample of origins. `season` (in steps) gives the scale,
    /// the error of repeating the demand one season earlier over the same period.
    pub fn published_errors(&self, demand: &[f64], season: usize) -> PointErrors {
        let mut errors = PointErrors::default();
        for (t, &yhat) in self.period.clone().zip(&self.forecast_yhat) {
            let d = demand[t];
            if !d.is_finite() {
                continue;
            }
            if yhat.is_finite() {
                errors.steps += 1;
                errors.abs_sum += (d - yhat).abs();
            }
            let earlier = t.checked_sub(season).filter(|_| season > 0);
            if let Some(earlier) = earlier.map(|e| demand[e]).filter(|e| e.is_finite()) {
                errors.repeat_steps += 1;
                errors.repeat_abs_sum += (d - earlier).abs();
            }
        }
        errors
    }
}

/// Sums of [`Simulation::published_errors`].
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct PointErrors {
    /// Steps with an observed demand and a point forecast, and the forecasts' absolute errors.
    pub steps: usize,
    pub abs_sum: f64,
    /// Steps of the period whose demand and demand one season earlier are both observed, and
    /// the absolute differences of the two: the error of repeating the last season.
    pub repeat_steps: usize,
    pub repeat_abs_sum: f64,
}

impl PointErrors {
    /// The mean absolute error (NaN without a scored step).
    pub fn mae(&self) -> f64 {
        self.abs_sum / self.steps as f64
    }

    /// The mean absolute error over that of repeating the last season over the same period: a
    /// MASE whose scale comes from the simulated period rather than from each fit's window
    /// (NaN when either is undefined or the repeat never erred).
    pub fn mase(&self) -> f64 {
        let scale = self.repeat_abs_sum / self.repeat_steps as f64;
        if scale > 0.0 {
            self.mae() / scale
        } else {
            f64::NAN
        }
    }
}

/// Counts of [`Simulation::published_coverage`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BandCoverage {
    /// Steps scored: an observed demand and a forecast for it.
    pub steps: usize,
    /// Of those, inside the 80 % band and inside the 95 % band.
    pub in80: usize,
    pub in95: usize,
}

#[cfg(test)]
mod tests;
