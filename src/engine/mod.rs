//! The running service's core: periodic refit of every series, periodic re-plan of every target,
//! and the cache of the latest fitted models and plans that the API reads.
//!
//! One writer, many readers (as in kube-rs' controller caches): only the engine's passes write
//! the caches; API handlers take a read lock just long enough to clone an `Arc` of an immutable
//! entry, so a read never waits for a fit, and never fits a model itself.
//!
//! Every method takes `now` as an argument and nothing here reads the clock: [`runner`] passes
//! the system time, tests and the backtest parity check pass a fixed one. Fitting and planning
//! are the pure `forecast` and `plan` functions; the engine only feeds them from the store.

pub mod runner;

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Instant;

use serde::Serialize;

use crate::forecast::{FittedModel, Forecast, ForecastError, ModelFile, ModelSpec};
use crate::plan::live::{self, forecast_levels, plan_forecast_steps};
use crate::plan::{self, Plan, Planner, Target};
use crate::series::{Series, SeriesKey, Span, Timestamp};
use crate::store::{SeriesInfo, Store, StoreError};

/// Errors the engine reports to its callers.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Plan(#[from] plan::PlanError),
    #[error(transparent)]
    Forecast(#[from] ForecastError),
    #[error("unknown series {0:?}")]
    UnknownSeries(String),
    #[error("no model for series {series:?} yet: {reason}")]
    NoModel { series: String, reason: String },
    #[error("invalid target definition: {0}")]
    InvalidJson(String),
}

/// How the engine runs; all durations have defaults (see [`EngineSettings::default`]).
#[derive(Debug, Clone, PartialEq)]
pub struct EngineSettings {
    /// Refit each series this often (and at once when it has no model).
    pub refit_interval: Span,
    /// Re-plan every target this often.
    pub replan_interval: Span,
    /// History each fit sees.
    pub train_window: Span,
    /// How far past `now + lead_time` each plan's trajectory reaches.
    pub plan_horizon: Span,
    /// The model fitted to every series.
    pub model: ModelSpec,
}

impl Default for EngineSettings {
    fn default() -> Self {
        let span = |s| Span::from_seconds(s).expect("positive");
        EngineSettings {
            refit_interval: span(600),
            replan_interval: span(15),
            train_window: span(14 * 86_400),
            plan_horizon: span(3_600),
            model: ModelSpec::default(),
        }
    }
}

pub use crate::plan::live::{INTERVAL_LEVELS, MAX_FORECAST_STEPS};

/// A fitted model in the cache.
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

/// A series' last fit attempt: what the refit schedule remembers, and the error when it failed.
#[derive(Debug, Clone)]
struct FitAttempt {
    schedule: live::FitAttempt,
    error: Option<String>,
}

/// A target's latest planning outcome: a plan, or the reason there is none.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum PlanState {
    Planned {
        plan: Plan,
        model: String,
        model_fitted_at: Timestamp,
    },
    Unplanned {
        reason: String,
        since: Timestamp,
    },
}

/// Counters for `/metrics`.
#[derive(Debug, Default)]
pub struct EngineStats {
    pub fits: AtomicU64,
    pub fit_failures: AtomicU64,
    pub fit_micros: AtomicU64,
    pub refit_passes: AtomicU64,
    pub last_refit_pass_micros: AtomicU64,
    pub replan_passes: AtomicU64,
    pub plan_failures: AtomicU64,
}

/// The service core. Share it as `Arc<Engine>`.
pub struct Engine {
    store: Store,
    settings: EngineSettings,
    targets: RwLock<BTreeMap<String, Arc<Target>>>,
    models: RwLock<HashMap<SeriesKey, Arc<ModelEntry>>>,
    /// Series fitted with another spec than `settings.model`: those started from a model file.
    specs: RwLock<HashMap<SeriesKey, ModelSpec>>,
    attempts: Mutex<HashMap<SeriesKey, FitAttempt>>,
    plans: RwLock<HashMap<String, Arc<PlanState>>>,
    /// Each target's stabilization memory.
    planners: Mutex<HashMap<String, Planner>>,
    first_pass_done: AtomicBool,
    pub stats: EngineStats,
    /// Wakes the runner's loops early (a new target, new series).
    pub(crate) wake: tokio::sync::Notify,
}

impl Engine {
    /// An engine over `store`, with the targets persisted in it.
    pub fn new(store: Store, settings: EngineSettings) -> Result<Engine, EngineError> {
        let mut targets = BTreeMap::new();
        for (name, json) in store.targets()? {
            let target: Target = serde_json::from_slice(&json)
                .map_err(|e| StoreError::Corrupt(format!("stored target {name:?}: {e}")))?;
            targets.insert(name, Arc::new(target));
        }
        Ok(Engine {
            store,
            settings,
            targets: RwLock::new(targets),
            models: RwLock::default(),
            specs: RwLock::default(),
            attempts: Mutex::default(),
            plans: RwLock::default(),
            planners: Mutex::default(),
            first_pass_done: AtomicBool::new(false),
            stats: EngineStats::default(),
            wake: tokio::sync::Notify::new(),
        })
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    pub fn settings(&self) -> &EngineSettings {
        &self.settings
    }

    // ----- targets -----

    /// Validates and persists a target (durably), replacing any of the same name.
    pub fn put_target(&self, name: &str, target: Target) -> Result<(), EngineError> {
        plan::check_target_name(name)?;
        target.check()?;
        let json = serde_json::to_vec(&target).expect("a target always serializes");
        self.store.put_target(name, &json)?;
        let mut targets = self.targets.write().expect("targets lock");
        targets.insert(name.to_string(), Arc::new(target));
        drop(targets);
        // A changed target's old stabilization memory and plan no longer apply.
        self.planners.lock().expect("planners lock").remove(name);
        self.plans.write().expect("plans lock").remove(name);
        self.wake.notify_waiters();
        Ok(())
    }

    /// Removes a target; `false` when there was none.
    pub fn delete_target(&self, name: &str) -> Result<bool, EngineError> {
        let existed = self.store.delete_target(name)?;
        self.targets.write().expect("targets lock").remove(name);
        self.plans.write().expect("plans lock").remove(name);
        self.planners.lock().expect("planners lock").remove(name);
        Ok(existed)
    }

    pub fn target(&self, name: &str) -> Option<Arc<Target>> {
        self.targets
            .read()
            .expect("targets lock")
            .get(name)
            .cloned()
    }

    /// Every target, sorted by name.
    pub fn targets(&self) -> Vec<(String, Arc<Target>)> {
        let targets = self.targets.read().expect("targets lock");
        targets
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    }

    // ----- model files -----

    /// Starts `key` from a model file (`[model_files]` in the config): its fitted model is cached
    /// at once, with the file's `fitted_at`, so forecasts and plans exist before any refit, even
    /// with no history in the store; and the series is refitted with the file's spec from then
    /// on (its model and seasons, rather than the engine's `[model]`).
    ///
    /// The seeded model counts as a fit made at `now`: the first refit comes one refit interval
    /// later, like after any fit, and replaces it (a failed refit keeps it, as it keeps any
    /// model). A model whose training data ends too long before `now` to forecast from it is
    /// still cached (the API says why it cannot forecast), but does not delay the first refit.
    /// Returns whether the model can forecast from `now`.
    pub fn seed_model(&self, key: &SeriesKey, file: &ModelFile, now: Timestamp) -> bool {
        let model = file.model.clone();
        // As `forecast` and `plan_target` reach from the model's origin to `now` and beyond.
        let behind = (now - model.origin()).max(0) / model.step().max(1);
        let usable = behind < MAX_FORECAST_STEPS as i64;
        let entry = ModelEntry {
            name: model.name(),
            model,
            spec: file.spec.clone(),
            fitted_at: file.fitted_at,
            fit_seconds: 0.0,
            training_points: file.training.observed,
        };
        self.specs
            .write()
            .expect("specs lock")
            .insert(key.clone(), file.spec.clone());
        self.models
            .write()
            .expect("models lock")
            .insert(key.clone(), Arc::new(entry));
        if usable {
            let samples_seen = self
                .store
                .info(key)
                .ok()
                .flatten()
                .map_or(0, |info| info.samples);
            let attempt = FitAttempt {
                schedule: live::FitAttempt {
                    at: now,
                    samples_seen,
                    failed: false,
                },
                error: None,
            };
            self.attempts
                .lock()
                .expect("attempts lock")
                .insert(key.clone(), attempt);
        }
        self.wake.notify_waiters();
        usable
    }

    /// The spec `key` is fitted with.
    pub fn spec(&self, key: &SeriesKey) -> ModelSpec {
        self.specs
            .read()
            .expect("specs lock")
            .get(key)
            .cloned()
            .unwrap_or_else(|| self.settings.model.clone())
    }

    // ----- reads for the API -----

    pub fn model(&self, key: &SeriesKey) -> Option<Arc<ModelEntry>> {
        self.models.read().expect("models lock").get(key).cloned()
    }

    pub fn plan_state(&self, target: &str) -> Option<Arc<PlanState>> {
        self.plans.read().expect("plans lock").get(target).cloned()
    }

    /// Ready once the first refit pass is done and every target has a plan or a stated reason.
    /// Returns the names of targets still waiting.
    pub fn readiness(&self) -> Result<(), Vec<String>> {
        if !self.first_pass_done.load(Ordering::Acquire) {
            return Err(vec![
                "the first fit and planning pass has not finished".into(),
            ]);
        }
        let plans = self.plans.read().expect("plans lock");
        let waiting: Vec<String> = self
            .targets()
            .into_iter()
            .filter(|(name, _)| !plans.contains_key(name))
            .map(|(name, _)| format!("target {name:?} has not been planned yet"))
            .collect();
        if waiting.is_empty() {
            Ok(())
        } else {
            Err(waiting)
        }
    }

    /// Why `key` has no model, when it has none.
    pub fn no_model_reason(&self, key: &SeriesKey) -> String {
        match self.attempts.lock().expect("attempts lock").get(key) {
            Some(FitAttempt {
                error: Some(error), ..
            }) => format!("the last fit failed: {error}"),
            _ => "not fitted yet; the engine fits new series within seconds".to_string(),
        }
    }

    /// The error of the last fit of `key`, when it failed (a previous model may still be in
    /// use). Read by the monitor's alerts.
    pub fn last_fit_error(&self, key: &SeriesKey) -> Option<String> {
        self.attempts
            .lock()
            .expect("attempts lock")
            .get(key)
            .and_then(|attempt| attempt.error.clone())
    }

    /// A forecast of `key` covering `now .. now + horizon`, from its cached model (predicting is
    /// cheap; fitting never happens here). The first point is the step that contains `now`, or
    /// the model's origin when that is later.
    pub fn forecast(
        &self,
        key: &SeriesKey,
        now: Timestamp,
        horizon: Span,
    ) -> Result<(Arc<ModelEntry>, Forecast), EngineError> {
        let entry = self.model(key).ok_or_else(|| EngineError::NoModel {
            series: key.to_string(),
            reason: self.no_model_reason(key),
        })?;
        let model = &entry.model;
        let step = model.step();
        let skip = ((now - model.origin()).max(0) / step) as usize;
        let steps = horizon.steps_ceil(step);
        if skip + steps > MAX_FORECAST_STEPS {
            return Err(EngineError::NoModel {
                series: key.to_string(),
                reason: "its data is too old to forecast from now".into(),
            });
        }
        let full = model.predict(skip + steps, &INTERVAL_LEVELS)?;
        Ok((entry, full.window(skip, steps)))
    }

    // ----- the passes -----

    /// Fits every series whose model is missing (and has new data since the last failed try) or
    /// older than the refit interval. Returns how many fits ran.
    pub fn refit_due(&self, now: Timestamp) -> Result<usize, EngineError> {
        let started = Instant::now();
        let due: Vec<SeriesInfo> = {
            let series = self.store.list()?;
            let attempts = self.attempts.lock().expect("attempts lock");
            series
                .into_iter()
                .filter(|info| {
                    let last = attempts.get(&info.key).map(|a| &a.schedule);
                    live::refit_due(last, now, info.samples, self.settings.refit_interval)
                })
                .collect()
        };
        // Fits are independent and CPU-bound: one worker per core takes the next due series
        // until none is left (each fit takes its locks only to store its outcome).
        let workers = std::thread::available_parallelism()
            .map_or(1, |n| n.get())
            .min(due.len());
        let next = AtomicUsize::new(0);
        let work = || {
            while let Some(info) = due.get(next.fetch_add(1, Ordering::Relaxed)) {
                self.refit(&info.key, now, info.samples);
            }
        };
        if workers <= 1 {
            work();
        } else {
            std::thread::scope(|scope| {
                for _ in 0..workers {
                    scope.spawn(work);
                }
            });
        }
        let fitted = due.len();
        self.stats.refit_passes.fetch_add(1, Ordering::Relaxed);
        self.stats
            .last_refit_pass_micros
            .store(started.elapsed().as_micros() as u64, Ordering::Relaxed);
        Ok(fitted)
    }

    /// Fits one series on its train window ending at `now` and caches the model (or the error).
    fn refit(&self, key: &SeriesKey, now: Timestamp, samples_seen: u64) {
        let started = Instant::now();
        let outcome = self.fit_series(key, now);
        let seconds = started.elapsed().as_secs_f64();
        self.stats.fits.fetch_add(1, Ordering::Relaxed);
        self.stats
            .fit_micros
            .fetch_add((seconds * 1e6) as u64, Ordering::Relaxed);
        let error = match outcome {
            Ok((model, spec, training_points)) => {
                let entry = ModelEntry {
                    name: model.name(),
                    model,
                    spec,
                    fitted_at: now,
                    fit_seconds: seconds,
                    training_points,
                };
                let mut models = self.models.write().expect("models lock");
                models.insert(key.clone(), Arc::new(entry));
                None
            }
            Err(error) => {
                self.stats.fit_failures.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(series = %key, %error, "fit failed");
                Some(error)
            }
        };
        let attempt = FitAttempt {
            schedule: live::FitAttempt {
                at: now,
                samples_seen,
                failed: error.is_some(),
            },
            error,
        };
        let mut attempts = self.attempts.lock().expect("attempts lock");
        attempts.insert(key.clone(), attempt);
    }

    /// The training series of `key` at `now` and its fit (keeping what the cached model of the
    /// same spec learnt, [`ModelSpec::refit`]), with the spec.
    fn fit_series(
        &self,
        key: &SeriesKey,
        now: Timestamp,
    ) -> Result<(FittedModel, ModelSpec, usize), String> {
        let series = self.training_series(key, now).map_err(|e| e.to_string())?;
        let points = series.present();
        let spec = self.spec(key);
        let previous = self.models.read().expect("models lock").get(key).cloned();
        let previous = previous
            .as_deref()
            .filter(|entry| entry.spec == spec)
            .map(|entry| &entry.model);
        let model = spec.refit(&series, previous).map_err(|e| e.to_string())?;
        Ok((model, spec, points))
    }

    /// The samples of `key` in `now - train_window ..= now`, on their grid
    /// ([`live::training_series`], which the backtest replays too).
    pub fn training_series(&self, key: &SeriesKey, now: Timestamp) -> Result<Series, EngineError> {
        let window = self.settings.train_window;
        let samples = self.store.read(key, now - window.seconds(), now + 1)?;
        Ok(live::training_series(&samples, now, window)?)
    }

    /// Plans every target at `now` from the cached models and the newest observations.
    pub fn replan(&self, now: Timestamp) {
        for (name, target) in self.targets() {
            let state = match self.plan_target(&name, &target, now) {
                Ok(state) => state,
                Err(reason) => {
                    self.stats.plan_failures.fetch_add(1, Ordering::Relaxed);
                    let since = match self.plan_state(&name).as_deref() {
                        Some(PlanState::Unplanned { since, .. }) => *since,
                        _ => now,
                    };
                    PlanState::Unplanned { reason, since }
                }
            };
            let mut plans = self.plans.write().expect("plans lock");
            plans.insert(name, Arc::new(state));
        }
        self.stats.replan_passes.fetch_add(1, Ordering::Relaxed);
    }

    /// Marks the end of the first refit pass (readiness waits for it).
    pub fn mark_first_pass_done(&self) {
        self.first_pass_done.store(true, Ordering::Release);
    }

    fn plan_target(
        &self,
        name: &str,
        target: &Target,
        now: Timestamp,
    ) -> Result<PlanState, String> {
        let Some(entry) = self.model(&target.series) else {
            if self
                .store
                .info(&target.series)
                .map_err(|e| e.to_string())?
                .is_none()
            {
                return Err(format!(
                    "series {:?} has no samples yet: push some or import a dataset",
                    target.series.as_str()
                ));
            }
            return Err(format!(
                "no model for series {:?}: {}",
                target.series.as_str(),
                self.no_model_reason(&target.series)
            ));
        };
        let model = &entry.model;
        let steps = plan_forecast_steps(
            now,
            target.lead_time,
            self.settings.plan_horizon,
            model.origin(),
            model.step(),
        )
        .ok_or_else(|| {
            format!(
                "the newest data of series {:?} is too old to plan from",
                target.series.as_str()
            )
        })?;
        let forecast = model
            .predict(steps, &forecast_levels(target.quantile))
            .map_err(|e| e.to_string())?;
        let observed = self
            .store
            .latest(&target.series)
            .map_err(|e| e.to_string())?;
        let plan = self
            .planners
            .lock()
            .expect("planners lock")
            .entry(name.to_string())
            .or_default()
            .plan(target, &forecast, now, observed)
            .map_err(|e| e.to_string())?;
        Ok(PlanState::Planned {
            plan,
            model: entry.name.clone(),
            model_fitted_at: entry.fitted_at,
        })
    }
}
