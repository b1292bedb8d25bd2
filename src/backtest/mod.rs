//! The offline backtest: replay a recorded trace through prescale's own forecaster and
//! planner, and measure it against the yardstick's forecast metrics and against a reactive HPA
//! and a perfect-foresight oracle.
//!
//! Pure and synchronous like `forecast` and `plan`, which it drives through the service's own
//! live cycle ([`crate::live`]); it reads only the dataset file
//! and writes only what it is asked to. It may read the clock, to time fits.
//!
//! # Layout
//!
//! - [`setup`]: the rolling-origin frame shared with `eval/peers.py` (horizon and window in
//!   steps, seasons, numpy's origin placement).
//! - [`accuracy`]: rolling-origin MAE, RMSE, sMAPE, MASE, interval coverage and fit time.
//! - [`fleet`]: pods that take time to start, and what a policy cost and served.
//! - [`hpa`]: the Kubernetes HPA algorithm with its defaults (the reactive baseline).
//! - [`hindsight`]: the HPA frontier, the HPA tuned in hindsight and dominance.
//! - [`predictive`]: prescale's live cycle and planner, replayed.
//! - [`simulate`]: every policy over the same steps from the same state.
//! - [`report`]: the JSON report, the summary line and the text tables; [`figures`]: how
//!   figures are written.
//! - [`plot`]: the SVG picture (plotters).
//! - [`forecast_file`]: `prescale forecast`, forecasts at given origins in the yardstick's
//!   file format.

pub mod accuracy;
pub mod figures;
pub mod fleet;
pub mod forecast_file;
pub mod hindsight;
pub mod hpa;
pub mod plot;
pub mod predictive;
pub mod report;
pub mod setup;
pub mod simulate;

use std::path::{Path, PathBuf};
use std::time::Instant;

use crate::forecast::{ForecastError, ModelSpec};
use crate::series::Span;
use crate::series::csv::{CsvError, Dataset, read_dataset};

pub use report::Report;
pub use setup::Setup;
pub use simulate::Simulation;

/// Why a backtest could not run.
#[derive(Debug, thiserror::Error)]
pub enum BacktestError {
    #[error(transparent)]
    Dataset(#[from] CsvError),
    /// The trace cannot support the requested frame.
    #[error("{0}")]
    TooShort(String),
    /// A bad option or input value.
    #[error("{0}")]
    Input(String),
    #[error(transparent)]
    Forecast(#[from] ForecastError),
    #[error("{path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
}

/// The load one replica serves in the simulation.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Capacity {
    /// The 99th percentile of the trace divided by 20 (so the trace's busy hours need about 20
    /// replicas: enough for rounding to matter little, few enough to read).
    Auto,
    Given(f64),
}

impl std::str::FromStr for Capacity {
    type Err = String;
    fn from_str(text: &str) -> Result<Capacity, String> {
        if text == "auto" {
            return Ok(Capacity::Auto);
        }
        match text.parse::<f64>() {
            Ok(c) if c.is_finite() && c > 0.0 => Ok(Capacity::Given(c)),
            _ => Err(format!(
                "{text:?} is not a capacity: give a positive number or `auto`"
            )),
        }
    }
}

/// Everything a backtest run is configured with (the CLI flags).
#[derive(Debug, Clone)]
pub struct Options {
    /// Models scored for accuracy; the first also drives the predictive policy.
    pub models: Vec<ModelSpec>,
    pub seasons: Vec<Span>,
    pub horizon: Span,
    /// `None`: 14 days, shortened for short traces (see [`Setup::new`]).
    pub train_window: Option<Span>,
    pub origins: usize,
    pub capacity: Capacity,
    pub startup_delay: Span,
    pub min_replicas: u32,
    pub max_replicas: u32,
    /// The engine's refit interval (10 minutes unless `--refit-every`).
    pub refit_interval: Span,
    /// The engine's plan horizon (1 hour).
    pub plan_horizon: Span,
    /// The predictive targets' scale-down stabilization (the target default, 5 minutes).
    pub stabilization: Span,
    /// `--slo`: compare SLO mode at this SLO with the HPA tuned in hindsight (and simulate it
    /// when it is not one of [`simulate::SLOS`]).
    pub slo: Option<f64>,
}

impl Default for Options {
    /// The CLI defaults: `auto,seasonal-naive,linear-seasonal` on `1d,7d`, horizon 30 minutes,
    /// 50 origins, capacity `auto`, start-up delay 2 minutes, 1 to 10,000 replicas, and the
    /// engine's own settings.
    fn default() -> Options {
        let span = |s: i64| Span::from_seconds(s).expect("positive");
        let seasons = vec![span(86_400), span(7 * 86_400)];
        let models = ["auto", "seasonal-naive", "linear-seasonal"]
            .iter()
            .map(|name| ModelSpec::from_name(name, seasons.clone()).expect("known model"))
            .collect();
        Options {
            models,
            seasons,
            horizon: span(1800),
            train_window: None,
            origins: 50,
            capacity: Capacity::Auto,
            startup_delay: span(120),
            min_replicas: 1,
            max_replicas: 10_000,
            refit_interval: crate::live::DEFAULT_REFIT_INTERVAL,
            plan_horizon: crate::live::DEFAULT_PLAN_HORIZON,
            stabilization: span(300),
            slo: None,
        }
    }
}

impl Options {
    /// Checks the values no flag parser can (bounds, relations).
    pub fn check(&self) -> Result<(), BacktestError> {
        let bad = |m: String| Err(BacktestError::Input(m));
        if self.models.is_empty() {
            return bad("at least one model is needed".into());
        }
        if self.origins == 0 {
            return bad("--origins must be at least 1".into());
        }
        if self.min_replicas == 0 {
            return bad("--min-replicas must be at least 1 (an HPA cannot scale from 0)".into());
        }
        if self.min_replicas > self.max_replicas {
            return bad(format!(
                "--min-replicas ({}) is above --max-replicas ({})",
                self.min_replicas, self.max_replicas
            ));
        }
        if let Some(slo) = self.slo
            && !crate::plan::slo_in_range(slo)
        {
            return bad(format!(
                "--slo must be at least 0.5 and below 1 (e.g. 0.99), got {slo}"
            ));
        }
        if self.max_replicas > crate::plan::MAX_REPLICAS {
            return bad(format!(
                "--max-replicas is above the limit of {}",
                crate::plan::MAX_REPLICAS
            ));
        }
        Ok(())
    }

    /// The options with every model's seasons replaced by `seasons`.
    pub fn with_seasons(&self, seasons: &[Span]) -> Result<Vec<ModelSpec>, BacktestError> {
        self.models
            .iter()
            .map(|m| ModelSpec::from_name(m.name(), seasons.to_vec()).map_err(Into::into))
            .collect()
    }
}

/// A finished backtest: the report, and what the picture needs.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub report: Report,
    pub dataset: Dataset,
    pub simulation: Simulation,
}

/// Progress of one backtest, for a progress bar.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Stage {
    Accuracy { model: usize, models: usize },
    Simulation { done: usize, total: usize },
}

/// Backtests the dataset at `path`.
pub fn run(
    path: &Path,
    options: &Options,
    progress: &mut dyn FnMut(Stage),
) -> Result<Outcome, BacktestError> {
    let started = Instant::now();
    options.check()?;
    let dataset = read_dataset(path)?;
    let series = &dataset.series;
    let setup = Setup::new(
        series.len(),
        series.step(),
        options.horizon,
        options.train_window,
        &options.seasons,
    )?;
    let models = options.with_seasons(&setup.seasons)?;
    let capacity = match options.capacity {
        Capacity::Given(c) => c,
        Capacity::Auto => {
            let p99 = percentile(series.values(), 0.99);
            if !(p99.is_finite() && p99 > 0.0) {
                return Err(BacktestError::Input(format!(
                    "--capacity-per-replica auto needs a positive 99th percentile of the \
                     trace, and it is {p99}: give a capacity explicitly"
                )));
            }
            p99 / 20.0
        }
    };

    let origins = setup.origins(options.origins);
    let mut accuracy = Vec::new();
    for (i, spec) in models.iter().enumerate() {
        progress(Stage::Accuracy {
            model: i,
            models: models.len(),
        });
        accuracy.push(accuracy::evaluate(
            series,
            &dataset.samples,
            &setup,
            spec,
            &origins,
        ));
    }

    let config = simulate::ScalingConfig {
        capacity_per_replica: capacity,
        startup_delay: options.startup_delay,
        min_replicas: options.min_replicas,
        max_replicas: options.max_replicas,
        utilizations: simulate::UTILIZATIONS.to_vec(),
        quantiles: simulate::QUANTILES.to_vec(),
        reactive_utilizations: simulate::REACTIVE_UTILIZATIONS.to_vec(),
        slos: slo_grid(options.slo),
        slo: options.slo,
        follower: hpa::Follower::default(),
        model: models[0].clone(),
        cycle: crate::live::CycleSettings {
            train_window: setup.train_window,
            refit_interval: options.refit_interval,
            plan_horizon: options.plan_horizon,
        },
        stabilization: options.stabilization,
    };
    let simulation = simulate::simulate(
        series,
        &dataset.samples,
        setup.first_origin..series.len(),
        &config,
        &mut |done, total| progress(Stage::Simulation { done, total }),
    )?;
    let report = Report::new(
        &dataset_name(path),
        &dataset,
        &setup,
        &origins,
        accuracy,
        &config,
        options.capacity,
        &simulation,
        started.elapsed().as_secs_f64(),
    );
    Ok(Outcome {
        report,
        dataset,
        simulation,
    })
}

/// The SLOs simulated: [`simulate::SLOS`] and `asked`, ascending, each once.
fn slo_grid(asked: Option<f64>) -> Vec<f64> {
    let mut slos: Vec<f64> = simulate::SLOS.iter().copied().chain(asked).collect();
    slos.sort_by(f64::total_cmp);
    slos.dedup_by(|a, b| (*a - *b).abs() < 1e-12);
    slos
}

/// Backtests every dataset of `paths` on `jobs` threads (at least 1), calling `done` as each
/// finishes (from the worker thread, in completion order) with its index and outcome; returns
/// the reports in the order of `paths`.
///
/// Datasets run in parallel, not the steps of one: a simulation is sequential by nature (each
/// decision depends on the last), but traces are independent. Fit timings measured while
/// several datasets run share the machine.
pub fn run_many(
    paths: &[PathBuf],
    options: &Options,
    jobs: usize,
    done: &(dyn Fn(usize, &Result<Outcome, BacktestError>) + Sync),
) -> Vec<Result<Report, BacktestError>> {
    use std::sync::Mutex;
    use std::sync::atomic::{AtomicUsize, Ordering};
    let next = AtomicUsize::new(0);
    let results: Mutex<Vec<Option<Result<Report, BacktestError>>>> =
        Mutex::new((0..paths.len()).map(|_| None).collect());
    std::thread::scope(|scope| {
        for _ in 0..jobs.clamp(1, paths.len().max(1)) {
            scope.spawn(|| {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(path) = paths.get(i) else { break };
                    let outcome = run(path, options, &mut |_| {});
                    done(i, &outcome);
                    let report = outcome.map(|o| o.report);
                    results.lock().expect("results lock")[i] = Some(report);
                }
            });
        }
    });
    results
        .into_inner()
        .expect("results lock")
        .into_iter()
        .map(|r| r.expect("every dataset ran"))
        .collect()
}

/// The CSV files of `dir`, sorted by name.
pub fn datasets_in(dir: &Path) -> Result<Vec<PathBuf>, BacktestError> {
    let io = |source| BacktestError::Io {
        path: dir.display().to_string(),
        source,
    };
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(io)? {
        let path = entry.map_err(io)?.path();
        if path.is_file() && path.extension().is_some_and(|e| e == "csv") {
            files.push(path);
        }
    }
    files.sort();
    if files.is_empty() {
        return Err(BacktestError::Input(format!(
            "{}: no .csv file in this directory",
            dir.display()
        )));
    }
    Ok(files)
}

/// The file name of a dataset, as the report names it.
pub fn dataset_name(path: &Path) -> String {
    path.file_name().map_or_else(
        || path.display().to_string(),
        |n| n.to_string_lossy().into(),
    )
}

/// The `q` quantile of the non-NaN `values` with numpy's default (linear) interpolation; NaN
/// when there are none.
pub fn percentile(values: &[f64], q: f64) -> f64 {
    let mut sorted: Vec<f64> = values.iter().copied().filter(|v| !v.is_nan()).collect();
    if sorted.is_empty() {
        return f64::NAN;
    }
    sorted.sort_by(f64::total_cmp);
    let position = q.clamp(0.0, 1.0) * (sorted.len() - 1) as f64;
    let (lo, hi) = (position.floor() as usize, position.ceil() as usize);
    sorted[lo] + (sorted[hi] - sorted[lo]) * (position - lo as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentile_interpolates_like_numpy() {
        // np.percentile([1, 2, 3, 4, 10], 99) = 9.76
        let p = percentile(&[4.0, 1.0, f64::NAN, 10.0, 2.0, 3.0], 0.99);
        assert!((p - 9.76).abs() < 1e-12, "{p}");
        assert!(percentile(&[f64::NAN], 0.5).is_nan());
    }

    #[test]
    fn the_asked_slo_joins_the_grid_once() {
        assert_eq!(slo_grid(None), simulate::SLOS.to_vec());
        assert_eq!(slo_grid(Some(0.99)), simulate::SLOS.to_vec());
        assert_eq!(
            slo_grid(Some(0.96)),
            vec![
                0.7, 0.8, 0.85, 0.9, 0.93, 0.95, 0.96, 0.97, 0.98, 0.99, 0.995, 0.999
            ]
        );
    }

    #[test]
    fn capacity_parses() {
        assert_eq!("auto".parse::<Capacity>().unwrap(), Capacity::Auto);
        assert_eq!("2.5".parse::<Capacity>().unwrap(), Capacity::Given(2.5));
        assert!("0".parse::<Capacity>().is_err());
        assert!("-1".parse::<Capacity>().is_err());
        assert!("lots".parse::<Capacity>().is_err());
    }
}
