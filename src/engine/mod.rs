//! The running service's core: periodic refit of every series, periodic re-plan of every target,
//! and the cache of the latest fitted models and plans that the API reads.
//!
//! The rules of one cycle — when to refit, what a fit sees, what is kept when it fails, the
//! forecast a plan reads — are [`crate::live`]'s: the engine holds one [`SeriesCycle`] per
//! series and one [`Planner`] per target, feeds them from the store, and publishes what they
//! decide. The backtest replays the same cycle, so it measures what the service does.
//!
//! One writer, many readers (as in kube-rs' controller caches): only the engine's passes write
//! the caches; API handlers take a lock just long enough to clone an `Arc` of an immutable
//! entry, so a read never waits for a fit, and never fits a model itself (fits run on a job
//! taken out of the cycle, without holding it).
//!
//! Every method takes `now` as an argument and nothing here reads the clock: [`runner`] passes
//! the system time, tests and the backtest parity check pass a fixed one.

pub mod runner;

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Instant;

use serde::Serialize;

use crate::forecast::{Forecast, ForecastError, ModelFile, ModelSpec};
use crate::live::{self, CycleSettings, NoForecast, SeriesCycle, Unplanned, plan_levels};
use crate::plan::{self, Plan, Planner, ServiceLevelMemory, Target};
use crate::series::{Series, SeriesKey, Span, Timestamp, infer_step, span_text};
use crate::store::{SeriesInfo, Store, StoreError};

pub use crate::live::{MAX_FORECAST_STEPS, ModelEntry};

/// Errors the engine reports to its callers.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Plan(#[from] plan::PlanError),
    #[error(transparent)]
    Forecast(#[from] ForecastError),
    #[error("unknown series {:?}", crate::series::clip(.0))]
    UnknownSeries(String),
    #[error("no model for series {:?} yet: {reason}", crate::series::clip(series))]
    NoModel { series: String, reason: String },
    #[error("invalid target definition: {0}")]
    InvalidJson(String),
    /// A series that targets still use cannot be deleted.
    #[error(
        "series {:?} is used by target(s) {}: delete or change them first",
        crate::series::clip(series),
        targets.join(", ")
    )]
    InUse {
        series: String,
        targets: Vec<String>,
    },
    /// A new target past `max_targets`.
    #[error(
        "there are {limit} targets already, the most this server keeps (max_targets): \
         delete one first, or raise --max-targets"
    )]
    TooManyTargets { limit: usize },
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
    /// Delete a series that no target uses once its newest sample is older than this (see
    /// [`Engine::expire_series`]); `None` (the default): keep every series.
    pub series_retention: Option<Span>,
    /// The most targets kept; a new one past it is refused ([`EngineError::TooManyTargets`]).
    pub max_targets: usize,
}

/// The most targets kept unless configured otherwise.
pub const DEFAULT_MAX_TARGETS: usize = 10_000;

/// Re-plan every target this often unless configured otherwise.
pub const DEFAULT_REPLAN_INTERVAL: Span = Span::of_seconds(15);

impl Default for EngineSettings {
    fn default() -> Self {
        let cycle = CycleSettings::default();
        EngineSettings {
            refit_interval: cycle.refit_interval,
            replan_interval: DEFAULT_REPLAN_INTERVAL,
            train_window: cycle.train_window,
            plan_horizon: cycle.plan_horizon,
            model: ModelSpec::default(),
            series_retention: None,
            max_targets: DEFAULT_MAX_TARGETS,
        }
    }
}

impl EngineSettings {
    /// The documented range of each interval and window (`name`, value, shortest, longest): a
    /// refit every 1 s to 1 d, a re-plan every 1 s to 1 h, a training window of 1 h to 365 d,
    /// a plan horizon of 1 m to 14 d.
    fn ranges(&self) -> [(&'static str, Span, i64, i64); 4] {
        [
            ("refit_interval", self.refit_interval, 1, 86_400),
            ("replan_interval", self.replan_interval, 1, 3_600),
            ("train_window", self.train_window, 3_600, 365 * 86_400),
            ("plan_horizon", self.plan_horizon, 60, 14 * 86_400),
        ]
    }

    /// Checks every interval and window against its range; the error names the setting.
    pub fn check(&self) -> Result<(), String> {
        let retention = self.series_retention.map(|r| {
            (
                "series_retention",
                r,
                3_600,
                crate::series::MAX_SPAN.seconds(),
            )
        });
        for (name, value, shortest, longest) in self.ranges().into_iter().chain(retention) {
            if !(shortest..=longest).contains(&value.seconds()) {
                return Err(format!(
                    "{name} must be between {} and {}, got {value}",
                    span_text(shortest),
                    span_text(longest)
                ));
            }
        }
        self.model.check().map_err(|e| format!("model: {e}"))
    }

    /// The live cycle's part of the settings.
    pub fn cycle(&self) -> CycleSettings {
        CycleSettings {
            refit_interval: self.refit_interval,
            train_window: self.train_window,
            plan_horizon: self.plan_horizon,
        }
    }
}

/// A target's latest planning outcome: a plan, or the reason there is none.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum PlanState {
    Planned {
        plan: Box<Plan>,
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

/// One series' cycle, shared by the passes and the readers.
type Cycle = Arc<Mutex<SeriesCycle>>;

/// The service core. Share it as `Arc<Engine>`.
pub struct Engine {
    store: Store,
    settings: EngineSettings,
    targets: RwLock<BTreeMap<String, Arc<Target>>>,
    /// Every series' live cycle: its schedule, model and planning forecast.
    cycles: RwLock<HashMap<SeriesKey, Cycle>>,
    plans: RwLock<HashMap<String, Arc<PlanState>>>,
    /// Moves on after every change to `targets` or `plans` (see [`Engine::generation`]).
    generation: AtomicU64,
    /// Each target's planner (stabilization window, SLO mode's memory) and the SLO memory last
    /// written to the store.
    planners: Mutex<HashMap<String, TargetPlanner>>,
    first_pass_done: AtomicBool,
    pub stats: EngineStats,
    /// Wakes the runner's loops early (a new target, new series).
    pub(crate) wake: tokio::sync::Notify,
}

impl Engine {
    /// An engine over `store`, with the targets persisted in it. A stored target that no longer
    /// reads or passes [`Target::check`] (written by a version with looser bounds) is not served
    /// and is logged: one bad target never stops the service, nor the others.
    pub fn new(store: Store, settings: EngineSettings) -> Result<Engine, EngineError> {
        let mut targets = BTreeMap::new();
        for (name, json) in store.targets()? {
            let target = serde_json::from_slice::<Target>(&json)
                .map_err(|e| e.to_string())
                .and_then(|t| t.check().map(|()| t).map_err(|e| e.to_string()));
            match target {
                Ok(target) => {
                    targets.insert(name, Arc::new(target));
                }
                Err(error) => tracing::error!(
                    target_name = %name,
                    %error,
                    "stored target is invalid and is not served: PUT a valid one under this name \
                     or DELETE it"
                ),
            }
        }
        Ok(Engine {
            store,
            settings,
            targets: RwLock::new(targets),
            cycles: RwLock::default(),
            plans: RwLock::default(),
            planners: Mutex::default(),
            generation: AtomicU64::new(0),
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

    /// Validates and persists a target (durably), replacing any of the same name. Putting the
    /// same target again (the config file at every start) keeps its planner's memory; a changed
    /// target starts afresh.
    pub fn put_target(&self, name: &str, target: Target) -> Result<(), EngineError> {
        plan::check_target_name(name)?;
        target.check()?;
        let unchanged = self
            .targets
            .read()
            .expect("targets lock")
            .get(name)
            .is_some_and(|old| **old == target);
        if unchanged {
            return Ok(());
        }
        let json = serde_json::to_vec(&target).expect("a target always serializes");
        // Checked and stored under the lock, so racing creations cannot pass the limit.
        let mut targets = self.targets.write().expect("targets lock");
        let limit = self.settings.max_targets;
        if !targets.contains_key(name) && targets.len() >= limit {
            return Err(EngineError::TooManyTargets { limit });
        }
        self.store.put_target(name, &json)?;
        targets.insert(name.to_string(), Arc::new(target));
        drop(targets);
        self.moved_on();
        // A changed target's old stabilization memory, SLO memory and plan no longer apply.
        self.forget_planner(name)?;
        self.plans.write().expect("plans lock").remove(name);
        self.moved_on();
        self.wake.notify_waiters();
        Ok(())
    }

    /// Removes a target; `false` when there was none.
    pub fn delete_target(&self, name: &str) -> Result<bool, EngineError> {
        let existed = self.store.delete_target(name)?;
        self.targets.write().expect("targets lock").remove(name);
        self.plans.write().expect("plans lock").remove(name);
        self.moved_on();
        self.forget_planner(name)?;
        Ok(existed)
    }

    /// Deletes a series' history and model. Refused while a target uses the series (its
    /// HPA would lose its metric): the error names the targets. True if the series existed.
    pub fn delete_series(&self, key: &SeriesKey) -> Result<bool, EngineError> {
        let users: Vec<String> = self
            .targets()
            .into_iter()
            .filter(|(_, target)| &target.series == key)
            .map(|(name, _)| name)
            .collect();
        if !users.is_empty() {
            return Err(EngineError::InUse {
                series: key.to_string(),
                targets: users,
            });
        }
        let existed = self.store.delete_series(key)?;
        self.cycles.write().expect("cycles lock").remove(key);
        Ok(existed)
    }

    /// With `series_retention` set: deletes every series that no target uses and whose newest
    /// sample is older than `now - series_retention` (junk a client pushed once, a series
    /// whose target was removed). Returns how many were deleted.
    pub fn expire_series(&self, now: Timestamp) -> Result<usize, EngineError> {
        let Some(retention) = self.settings.series_retention else {
            return Ok(0);
        };
        let used: std::collections::HashSet<SeriesKey> = self
            .targets()
            .into_iter()
            .map(|(_, target)| target.series.clone())
            .collect();
        let mut deleted = 0;
        for info in self.store.list()? {
            if info.last < now - retention.seconds() && !used.contains(&info.key) {
                match self.delete_series(&info.key) {
                    Ok(true) => deleted += 1,
                    Ok(false) | Err(EngineError::InUse { .. }) => {}
                    Err(error) => return Err(error),
                }
            }
        }
        Ok(deleted)
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

    // ----- series cycles -----

    /// The cycle of `key`, if the engine has met the series.
    fn cycle(&self, key: &SeriesKey) -> Option<Cycle> {
        self.cycles.read().expect("cycles lock").get(key).cloned()
    }

    /// The cycle of `key`, created (fitted with the engine's `[model]`) when new.
    fn cycle_or_new(&self, key: &SeriesKey) -> Cycle {
        if let Some(cycle) = self.cycle(key) {
            return cycle;
        }
        let mut cycles = self.cycles.write().expect("cycles lock");
        cycles
            .entry(key.clone())
            .or_insert_with(|| Arc::new(Mutex::new(SeriesCycle::new(self.settings.model.clone()))))
            .clone()
    }

    /// Runs `read` on the cycle of `key`, if any.
    fn with_cycle<T>(
        &self,
        key: &SeriesKey,
        read: impl FnOnce(&mut SeriesCycle) -> T,
    ) -> Option<T> {
        let cycle = self.cycle(key)?;
        let mut cycle = cycle.lock().expect("cycle lock");
        Some(read(&mut cycle))
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
        let samples_seen = self
            .store
            .info(key)
            .ok()
            .flatten()
            .map_or(0, |info| info.samples);
        let cycle = SeriesCycle::seeded(entry, now, samples_seen, usable);
        self.cycles
            .write()
            .expect("cycles lock")
            .insert(key.clone(), Arc::new(Mutex::new(cycle)));
        self.wake.notify_waiters();
        usable
    }

    /// The spec `key` is fitted with.
    pub fn spec(&self, key: &SeriesKey) -> ModelSpec {
        self.with_cycle(key, |cycle| cycle.spec().clone())
            .unwrap_or_else(|| self.settings.model.clone())
    }

    // ----- reads for the API -----

    pub fn model(&self, key: &SeriesKey) -> Option<Arc<ModelEntry>> {
        self.with_cycle(key, |cycle| cycle.model().cloned())
            .flatten()
    }

    pub fn plan_state(&self, target: &str) -> Option<Arc<PlanState>> {
        self.plans.read().expect("plans lock").get(target).cloned()
    }

    /// A number that moves on after every change to a target or a plan (it is bumped once the
    /// change is in place): what was read of targets and plans at one generation still holds
    /// while the generation does. Lets a reader check a kept answer without a lock.
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    fn moved_on(&self) {
        self.generation.fetch_add(1, Ordering::Release);
    }

    /// Ready once the first refit pass is done and every target has a plan or a stated reason.
    /// Returns the names of targets still waiting.
    pub fn readiness(&self) -> Result<(), Vec<String>> {
        if let Some(failure) = self.store.failure() {
            return Err(vec![format!(
                "the store is out of service after a write error, repairing: {failure}"
            )]);
        }
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
        no_model_reason(self.last_fit_error(key).as_deref())
    }

    /// The error of the last fit of `key`, when it failed (a previous model may still be in
    /// use). Read by the monitor's alerts.
    pub fn last_fit_error(&self, key: &SeriesKey) -> Option<String> {
        self.with_cycle(key, |cycle| cycle.last_error().map(str::to_string))
            .flatten()
    }

    /// A forecast of `key` covering `now .. now + horizon`, from its cached model (predicting is
    /// cheap; fitting never happens here), with the 80 % and 95 % bands. The first point is the
    /// step that contains `now`, or the model's origin when that is later. Read from the
    /// forecast the plans read when it reaches that far: the monitor publishes what the plans
    /// acted on.
    pub fn forecast(
        &self,
        key: &SeriesKey,
        now: Timestamp,
        horizon: Span,
    ) -> Result<(Arc<ModelEntry>, Forecast), EngineError> {
        let no_model = |reason: String| EngineError::NoModel {
            series: key.to_string(),
            reason,
        };
        let Some(cycle) = self.cycle(key) else {
            return Err(no_model(no_model_reason(None)));
        };
        let mut cycle = cycle.lock().expect("cycle lock");
        let forecast = cycle.forecast(now, horizon).map_err(|why| match why {
            NoForecast::NoModel { last_error } => no_model(no_model_reason(last_error.as_deref())),
            NoForecast::TooOld => no_model("its data is too old to forecast from now".into()),
            NoForecast::Predict(error) => EngineError::Forecast(error),
        })?;
        let entry = cycle
            .model()
            .cloned()
            .expect("a forecast comes from a model");
        Ok((entry, forecast))
    }

    /// The value a target without a plan publishes: what a reactive HPA would ask for from the
    /// newest fresh observation of its series, on the series' own step ([`plan::reactive`]).
    pub fn fallback_value(&self, target: &Target, now: Timestamp) -> Result<f64, EngineError> {
        let observed = self.store.latest(&target.series)?;
        let step = match self.model(&target.series) {
            Some(entry) => Some(entry.model.step()),
            None => {
                let recent = self.store.read(&target.series, now - 3600, now + 1)?;
                infer_step(&recent)
            }
        };
        Ok(plan::reactive::fallback_value(target, observed, now, step))
    }

    // ----- the passes -----

    /// Fits every series whose model is missing (and has new data since the last failed try) or
    /// older than the refit interval. Returns how many fits ran.
    pub fn refit_due(&self, now: Timestamp) -> Result<usize, EngineError> {
        let started = Instant::now();
        let interval = self.settings.refit_interval;
        let due: Vec<(SeriesInfo, Cycle)> = self
            .store
            .list()?
            .into_iter()
            .filter_map(|info| {
                let cycle = self.cycle_or_new(&info.key);
                let due = cycle
                    .lock()
                    .expect("cycle lock")
                    .refit_due(now, info.samples, interval);
                due.then_some((info, cycle))
            })
            .collect();
        // Fits are independent and CPU-bound: one worker per core takes the next due series
        // until none is left (each fit holds its cycle only to take its job and record).
        let workers = std::thread::available_parallelism()
            .map_or(1, |n| n.get())
            .min(due.len());
        let next = AtomicUsize::new(0);
        let work = || {
            while let Some((info, cycle)) = due.get(next.fetch_add(1, Ordering::Relaxed)) {
                self.refit(info, cycle, now);
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

    /// Fits one series on its train window ending at `now` and records the outcome in its cycle.
    fn refit(&self, info: &SeriesInfo, cycle: &Cycle, now: Timestamp) {
        let started = Instant::now();
        let job = cycle.lock().expect("cycle lock").fit_job();
        let window = self.settings.train_window;
        let from = now - window.seconds();
        let outcome = if info.samples > 0 && info.last < from {
            // Only the window is read: say why it is empty rather than "no history".
            Err(crate::forecast::window::too_old(info.last, now, window))
        } else {
            self.store
                .read(&info.key, from, now + 1)
                .map_err(|e| e.to_string())
                .and_then(|samples| job.run(&samples, now, window))
        };
        let seconds = started.elapsed().as_secs_f64();
        self.stats.fits.fetch_add(1, Ordering::Relaxed);
        self.stats
            .fit_micros
            .fetch_add((seconds * 1e6) as u64, Ordering::Relaxed);
        let recorded =
            cycle
                .lock()
                .expect("cycle lock")
                .record(now, info.samples, outcome, seconds);
        if let Err(error) = recorded {
            self.stats.fit_failures.fetch_add(1, Ordering::Relaxed);
            tracing::warn!(series = %info.key, %error, "fit failed");
        }
    }

    /// The samples of `key` in `now - train_window ..= now`, on their grid, as a fit at `now`
    /// sees them ([`crate::forecast::window::training_series`]).
    pub fn training_series(&self, key: &SeriesKey, now: Timestamp) -> Result<Series, EngineError> {
        let window = self.settings.train_window;
        let samples = self.store.read(key, now - window.seconds(), now + 1)?;
        Ok(crate::forecast::window::training_series(
            &samples, now, window,
        )?)
    }

    /// Plans every target at `now` from the cached models and the newest observations.
    pub fn replan(&self, now: Timestamp) {
        let targets = self.targets();
        // One forecast per series serves all its targets: it carries every quantile they plan on.
        let mut quantiles: HashMap<&SeriesKey, Vec<f64>> = HashMap::new();
        for (_, target) in &targets {
            quantiles
                .entry(&target.series)
                .or_default()
                .extend(target.levels());
        }
        let levels: HashMap<&SeriesKey, Vec<f64>> = quantiles
            .into_iter()
            .map(|(key, qs)| (key, plan_levels(qs)))
            .collect();
        for (name, target) in &targets {
            let state = match self.plan_target(name, target, now, &levels[&target.series]) {
                Ok(state) => state,
                Err(reason) => {
                    self.stats.plan_failures.fetch_add(1, Ordering::Relaxed);
                    let since = match self.plan_state(name).as_deref() {
                        Some(PlanState::Unplanned { since, .. }) => *since,
                        _ => now,
                    };
                    PlanState::Unplanned { reason, since }
                }
            };
            let mut plans = self.plans.write().expect("plans lock");
            plans.insert(name.clone(), Arc::new(state));
            drop(plans);
            self.moved_on();
        }
        self.stats.replan_passes.fetch_add(1, Ordering::Relaxed);
    }

    /// Marks the end of the first refit pass (readiness waits for it).
    pub fn mark_first_pass_done(&self) {
        self.first_pass_done.store(true, Ordering::Release);
    }

    /// Whether the first refit pass has ended.
    pub fn first_pass_done(&self) -> bool {
        self.first_pass_done.load(Ordering::Acquire)
    }

    fn plan_target(
        &self,
        name: &str,
        target: &Target,
        now: Timestamp,
        levels: &[f64],
    ) -> Result<PlanState, String> {
        let series = target.series.as_str();
        let no_samples = || -> Result<PlanState, String> {
            Err(format!(
                "series {series:?} has no samples yet: push some or import a dataset"
            ))
        };
        let Some(cycle) = self.cycle(&target.series) else {
            if self
                .store
                .info(&target.series)
                .map_err(|e| e.to_string())?
                .is_none()
            {
                return no_samples();
            }
            return Err(format!(
                "no model for series {series:?}: {}",
                no_model_reason(None)
            ));
        };
        let observed = self
            .store
            .latest(&target.series)
            .map_err(|e| e.to_string())?;
        let mut cycle = cycle.lock().expect("cycle lock");
        let mut planners = self.planners.lock().expect("planners lock");
        let memory = planners
            .entry(name.to_string())
            .or_insert_with(|| self.restore_planner(name));
        let settings = self.settings.cycle();
        let planned = live::plan_target(
            &mut memory.planner,
            target,
            &mut cycle,
            now,
            observed,
            levels,
            &settings,
        );
        if target.slo.is_some() {
            self.save_planner(name, memory);
        }
        drop(planners);
        match planned {
            Ok(plan) => {
                let entry = cycle.model().expect("a plan comes from a model");
                Ok(PlanState::Planned {
                    plan: Box::new(plan),
                    model: entry.name.clone(),
                    model_fitted_at: entry.fitted_at,
                })
            }
            Err(Unplanned::Forecast(NoForecast::NoModel { last_error })) => {
                if observed.is_none() {
                    return no_samples();
                }
                Err(format!(
                    "no model for series {series:?}: {}",
                    no_model_reason(last_error.as_deref())
                ))
            }
            Err(Unplanned::Forecast(NoForecast::TooOld)) => Err(format!(
                "the newest data of series {series:?} is too old to plan from"
            )),
            Err(other) => Err(other.to_string()),
        }
    }
}

/// A target's planner and the SLO memory last written to the store for it.
#[derive(Debug, Default)]
struct TargetPlanner {
    planner: Planner,
    saved: Option<ServiceLevelMemory>,
}

impl Engine {
    /// The planner of `name` as the store remembers it (SLO mode's headroom and tally); a fresh
    /// one when nothing was stored or it does not read (logged).
    fn restore_planner(&self, name: &str) -> TargetPlanner {
        let stored = match self.store.planner(name) {
            Ok(stored) => stored,
            Err(error) => {
                tracing::warn!(target_name = %name, %error, "cannot read the planner's memory");
                None
            }
        };
        let Some(json) = stored else {
            return TargetPlanner::default();
        };
        match serde_json::from_slice::<ServiceLevelMemory>(&json) {
            Ok(memory) => TargetPlanner {
                planner: Planner::restored(memory),
                saved: Some(memory),
            },
            Err(error) => {
                tracing::warn!(
                    target_name = %name,
                    %error,
                    "the stored planner memory does not read; starting afresh"
                );
                TargetPlanner::default()
            }
        }
    }

    /// Seeds the planner of `name` with what the replicas sharing its store remembered
    /// ([`Planner::seed`]): their planned load over the stabilization window and their
    /// headroom. A planner restored from this replica's own store keeps its own headroom.
    pub fn seed_planner(
        &self,
        name: &str,
        recommendations: &[(Timestamp, f64)],
        headroom: Option<f64>,
    ) {
        let mut planners = self.planners.lock().expect("planners lock");
        let memory = planners
            .entry(name.to_string())
            .or_insert_with(|| self.restore_planner(name));
        memory.planner.seed(recommendations, headroom);
    }

    /// Forgets the planner of `name`, in memory and in the store. Both under the planners lock,
    /// which a plan holds while it saves: a plan racing with this cannot write the old memory
    /// back after the store forgot it.
    fn forget_planner(&self, name: &str) -> Result<(), EngineError> {
        let mut planners = self.planners.lock().expect("planners lock");
        planners.remove(name);
        self.store.delete_planner(name)?;
        Ok(())
    }

    /// Writes the planner's SLO memory to the store when it changed since the last write. A
    /// store error is logged; the store reports its own failure on `/readyz`.
    fn save_planner(&self, name: &str, memory: &mut TargetPlanner) {
        let current = memory.planner.memory();
        if memory.saved == Some(current) {
            return;
        }
        let json = serde_json::to_vec(&current).expect("a memory always serializes");
        match self.store.put_planner(name, &json) {
            Ok(()) => memory.saved = Some(current),
            Err(error) => {
                tracing::debug!(target_name = %name, %error, "cannot save the planner's memory")
            }
        }
    }
}

/// Why a series has no model, from its last fit error.
fn no_model_reason(last_error: Option<&str>) -> String {
    match last_error {
        Some(error) => format!("the last fit failed: {error}"),
        None => "not fitted yet; the engine fits new series within seconds".to_string(),
    }
}
