//! The monitor: what prescale publishes about its own forecasts and plans, and the alerts on
//! them. Every re-plan interval it
//! 1. reads each series' forecast at `now + lead_time` (the largest lead time of the targets on
//!    that series, or the targets' default for a series no target uses) — the forecast the
//!    plans acted on, from the series' live cycle ([`Engine::forecast`]) — and records every
//!    future step's forecast in the series' [`ledger`];
//! 2. compares the last hour of actual samples with the forecasts recorded for them (error,
//!    interval coverage, steps above the 95 % bound);
//! 3. reads every target's current decision: why it is what it is, and whether the plan hits
//!    `max_replicas` now or ahead;
//! 4. publishes all this as one immutable [`Snapshot`] (`/metrics` reads it, never computes)
//!    and hands the facts to the alerts (`crate::alerts`).
//!
//! It reads the engine's caches and the store; it writes nothing but its own snapshot. The
//! forecast ledgers live in memory: after a restart the error metrics start empty and fill in
//! as the recorded steps come to pass.

pub mod ledger;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::alerts::Alerts;
use crate::alerts::rules::{Facts, ModelFacts, SeriesFacts, TargetFacts};
use crate::engine::{Engine, EngineError, ModelEntry, PlanState};
use crate::forecast::Forecast;
use crate::plan::{Clamp, Target};
use crate::series::{Sample, SeriesKey, Span, Timestamp};
use ledger::{Accuracy, Ledger, PointForecast};

/// The lead time of a series no target uses: the targets' default.
pub const DEFAULT_LEAD: i64 = crate::plan::DEFAULT_LEAD_TIME.seconds();

/// The window of the forecast error metrics.
pub const ERROR_WINDOW: i64 = 3600;

/// What the monitor knows about one series.
#[derive(Debug, Clone)]
pub struct SeriesView {
    pub key: SeriesKey,
    /// The lead time its forecast is published for, in seconds.
    pub lead: i64,
    /// The forecast for the step containing `now + lead`.
    pub ahead: Option<PointForecast>,
    /// The newest sample.
    pub last: Option<Sample>,
    /// Recorded forecasts against actuals over the last [`ERROR_WINDOW`].
    pub accuracy: Accuracy,
    pub model: Option<Arc<ModelEntry>>,
    /// The last fit's error, when it failed.
    pub fit_error: Option<String>,
}

/// What the monitor knows about one target.
#[derive(Debug, Clone)]
pub struct TargetView {
    pub name: String,
    pub target: Arc<Target>,
    /// The current decision's reason: `forecast`, `safety_net`, `stabilization`,
    /// `min_replicas`, `max_replicas`, or `unplanned` when there is no plan.
    pub reason: &'static str,
    /// When the plan first hits `max_replicas` (now or ahead), and the replicas needed then
    /// when the current decision is the clamped one.
    pub at_max: Option<(Timestamp, Option<u64>)>,
    /// Replicas the newest fresh observed load needs (`ceil(load / capacity)`, unclamped).
    pub observed_replicas: Option<u64>,
}

/// One evaluation's results; immutable once published.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    /// When it was computed; `None` before the first pass.
    pub at: Option<Timestamp>,
    pub series: Vec<SeriesView>,
    pub targets: Vec<TargetView>,
    /// Samples in the store, over all series.
    pub store_samples: u64,
}

/// The monitor. Share it as `Arc<Monitor>`.
pub struct Monitor {
    engine: Arc<Engine>,
    alerts: Option<Arc<Alerts>>,
    ledgers: Mutex<HashMap<SeriesKey, Ledger>>,
    snapshot: RwLock<Arc<Snapshot>>,
}

impl Monitor {
    pub fn new(engine: Arc<Engine>, alerts: Option<Arc<Alerts>>) -> Monitor {
        Monitor {
            engine,
            alerts,
            ledgers: Mutex::default(),
            snapshot: RwLock::default(),
        }
    }

    /// The latest published snapshot.
    pub fn snapshot(&self) -> Arc<Snapshot> {
        self.snapshot
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    pub fn alerts(&self) -> Option<&Alerts> {
        self.alerts.as_deref()
    }

    /// One pass at `now` (see the module doc). CPU and store work: run it off the async threads.
    pub fn tick(&self, now: Timestamp) -> Result<(), EngineError> {
        let engine = &self.engine;
        let store = engine.store();
        let targets = engine.targets();
        let mut leads: HashMap<SeriesKey, i64> = HashMap::new();
        for (_, target) in &targets {
            let lead = target.lead_time.seconds();
            leads
                .entry(target.series.clone())
                .and_modify(|l| *l = (*l).max(lead))
                .or_insert(lead);
        }
        let infos = store.list()?;
        let mut series = Vec::with_capacity(infos.len());
        {
            let mut ledgers = self
                .ledgers
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            for info in &infos {
                let key = &info.key;
                let lead = leads.get(key).copied().unwrap_or(DEFAULT_LEAD);
                let model = engine.model(key);
                let ledger = ledgers.entry(key.clone()).or_default();
                let mut ahead = None;
                if let Some(entry) = &model {
                    let step = entry.model.step();
                    // Both are bounded (lead time ≤ 6h, a step ≤ a span), so this cannot
                    // overflow; the error path is for a model file's impossible step.
                    let forecast = Span::from_seconds(lead.saturating_add(step))
                        .map_err(|e| {
                            EngineError::Forecast(crate::forecast::ForecastError::InvalidSpec(
                                e.to_string(),
                            ))
                        })
                        .and_then(|horizon| engine.forecast(key, now, horizon));
                    match forecast {
                        Ok((_, forecast)) => {
                            for i in 0..forecast.len() {
                                if forecast.timestamp(i) > now {
                                    ledger.record(point(&forecast, i));
                                }
                            }
                            let index = (now + lead - forecast.start).div_euclid(step);
                            if (0..forecast.len() as i64).contains(&index) {
                                ahead = Some(point(&forecast, index as usize));
                            }
                        }
                        Err(error) => {
                            tracing::debug!(series = %key, %error, "no forecast to publish");
                        }
                    }
                }
                let actuals = store.read(key, now - ERROR_WINDOW, now + 1)?;
                let accuracy = ledger.compare(&actuals);
                ledger.prune(now - ERROR_WINDOW);
                let last = match actuals.last() {
                    Some(last) => Some(*last),
                    None => store.latest(key)?,
                };
                series.push(SeriesView {
                    key: key.clone(),
                    lead,
                    ahead,
                    last,
                    accuracy,
                    model,
                    fit_error: engine.last_fit_error(key),
                });
            }
            ledgers.retain(|key, _| infos.iter().any(|info| &info.key == key));
        }

        let targets: Vec<TargetView> = targets
            .into_iter()
            .map(|(name, target)| {
                let state = engine.plan_state(&name);
                target_view(name, target, state.as_deref())
            })
            .collect();

        if let Some(alerts) = &self.alerts {
            alerts.evaluate(&facts(now, &series, &targets, &leads));
        }
        let snapshot = Snapshot {
            at: Some(now),
            series,
            targets,
            store_samples: infos.iter().map(|info| info.samples).sum(),
        };
        *self
            .snapshot
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Arc::new(snapshot);
        Ok(())
    }

    /// Runs [`tick`](Self::tick) every re-plan interval until `token` is cancelled.
    pub async fn run(self: Arc<Self>, now: fn() -> Timestamp, token: CancellationToken) {
        let every = Duration::from_secs(self.engine.settings().replan_interval.seconds() as u64);
        let mut ticker = tokio::time::interval(every);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                biased;
                () = token.cancelled() => return,
                _ = ticker.tick() => {}
            }
            let monitor = self.clone();
            match tokio::task::spawn_blocking(move || monitor.tick(now())).await {
                Ok(Ok(())) => {}
                Ok(Err(error)) => tracing::error!(%error, "monitor pass failed"),
                Err(error) => tracing::error!(%error, "monitor task panicked"),
            }
        }
    }
}

/// Step `i` of `forecast` with its 80 % and 95 % intervals (the engine always asks for them).
fn point(forecast: &Forecast, i: usize) -> PointForecast {
    let band = |level: f64| {
        forecast
            .quantile(level)
            .map_or(forecast.yhat[i], |values| values[i])
    };
    PointForecast {
        timestamp: forecast.timestamp(i),
        step: forecast.step,
        yhat: forecast.yhat[i],
        lo80: band(0.1),
        hi80: band(0.9),
        lo95: band(0.025),
        hi95: band(0.975),
    }
}

/// A target's reason and its first step at `max_replicas`.
fn target_view(name: String, target: Arc<Target>, state: Option<&PlanState>) -> TargetView {
    let Some(PlanState::Planned { plan, .. }) = state else {
        return TargetView {
            name,
            target,
            reason: "unplanned",
            at_max: None,
            observed_replicas: None,
        };
    };
    let d = &plan.current;
    let reason = match d.clamp {
        Clamp::Max => "max_replicas",
        Clamp::Min => "min_replicas",
        Clamp::None if d.stabilized => "stabilization",
        Clamp::None if d.safety_net => "safety_net",
        Clamp::None => "forecast",
    };
    let capacity = target.capacity_per_replica;
    let cap = f64::from(target.max_replicas) * capacity;
    let at_max = if d.clamp == Clamp::Max {
        Some((plan.computed_at, Some(d.unclamped_replicas)))
    } else {
        plan.points
            .iter()
            .find(|p| p.replicas >= target.max_replicas && p.load >= cap * (1.0 - 1e-9))
            .map(|p| (p.timestamp, None))
    };
    let observed_replicas = d
        .observed_load
        .map(|load| (load / capacity - 1e-9).ceil().max(0.0) as u64);
    TargetView {
        name,
        target,
        reason,
        at_max,
        observed_replicas,
    }
}

/// The alert facts: the series targets scale on, and every target.
fn facts(
    now: Timestamp,
    series: &[SeriesView],
    targets: &[TargetView],
    leads: &HashMap<SeriesKey, i64>,
) -> Facts {
    let mut series_facts: Vec<SeriesFacts> = series
        .iter()
        .filter(|view| leads.contains_key(&view.key))
        .map(|view| SeriesFacts {
            series: view.key.to_string(),
            steps_above_95: view.accuracy.consecutive_above95,
            last_compared: view
                .accuracy
                .last
                .map(|(actual, forecast)| (actual.timestamp, actual.value, forecast.hi95)),
            model: match (&view.model, &view.fit_error) {
                (Some(model), _) => ModelFacts::Fitted {
                    fitted_at: model.fitted_at,
                },
                (None, Some(error)) => ModelFacts::Failed {
                    error: error.clone(),
                },
                (None, None) => ModelFacts::Pending,
            },
        })
        .collect();
    // A target on a series with no samples yet is pending, not silent.
    for key in leads.keys() {
        if !series.iter().any(|view| &view.key == key) {
            series_facts.push(SeriesFacts {
                series: key.to_string(),
                steps_above_95: 0,
                last_compared: None,
                model: ModelFacts::Pending,
            });
        }
    }
    Facts {
        now,
        series: series_facts,
        targets: targets
            .iter()
            .map(|view| TargetFacts {
                target: view.name.clone(),
                max_replicas: view.target.max_replicas,
                clamped_at_max: view.at_max,
            })
            .collect(),
    }
}
