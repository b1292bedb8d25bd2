//! The families of the monitor's snapshot, for Prometheus and Grafana users: forecasts at
//! `now + lead_time`, forecast errors, models, decisions with their reason, the targets'
//! settings, and the store's sample count. Nothing is computed per scrape.

use super::exposition::Exposition;
use super::labels::{Series, SeriesModel, Target, TargetReason};
use crate::engine::{Engine, ModelEntry, PlanState};
use crate::monitor::{SeriesView, Snapshot, TargetView};

/// The most series whose per-series families `/metrics` serves besides those targets use: past
/// it the rest are counted in `prescale_metrics_series_omitted`, so a scrape stays bounded
/// whatever the number of series (up to `max_series`).
pub const MAX_SERIES_SHOWN: usize = 1000;

pub fn register(out: &mut Exposition, snapshot: &Snapshot, engine: &Engine, now: i64) {
    let used: std::collections::HashSet<_> = engine
        .targets()
        .into_iter()
        .map(|(_, target)| target.series.clone())
        .collect();
    let mut others = 0;
    let shown: Vec<&SeriesView> = snapshot
        .series
        .iter()
        .filter(|view| {
            if used.contains(&view.key) {
                return true;
            }
            others += 1;
            others <= MAX_SERIES_SHOWN
        })
        .collect();
    series(out, &shown, now);
    let help = format!(
        "Series whose per-series families are left out of this page (more than \
         {MAX_SERIES_SHOWN} series that no target uses)."
    );
    out.gauge(
        "prescale_metrics_series_omitted",
        &help,
        others.saturating_sub(MAX_SERIES_SHOWN) as f64,
    );
    targets(out, &snapshot.targets, engine);
    let help = "Samples in the store, over all series.";
    out.gauge(
        "prescale_store_samples",
        help,
        snapshot.store_samples as f64,
    );
    if let Some(at) = snapshot.at {
        let help = "When the monitor last computed forecasts, errors and alerts.";
        out.gauge(
            "prescale_monitor_last_pass_timestamp_seconds",
            help,
            at as f64,
        );
    }
}

type SeriesPick = fn(&SeriesView, i64) -> Option<f64>;

/// The per-series forecast, actual and error gauges, in the order they are served.
const SERIES: [(&str, &str, SeriesPick); 14] = [
    (
        "prescale_forecast_yhat",
        "Point forecast for the step containing now + lead time.",
        |v, _| v.ahead.as_ref().map(|f| f.yhat),
    ),
    (
        "prescale_forecast_lo80",
        "Lower bound of the 80% interval at now + lead time.",
        |v, _| v.ahead.as_ref().map(|f| f.lo80),
    ),
    (
        "prescale_forecast_hi80",
        "Upper bound of the 80% interval at now + lead time.",
        |v, _| v.ahead.as_ref().map(|f| f.hi80),
    ),
    (
        "prescale_forecast_lo95",
        "Lower bound of the 95% interval at now + lead time.",
        |v, _| v.ahead.as_ref().map(|f| f.lo95),
    ),
    (
        "prescale_forecast_hi95",
        "Upper bound of the 95% interval at now + lead time.",
        |v, _| v.ahead.as_ref().map(|f| f.hi95),
    ),
    (
        "prescale_forecast_for_timestamp_seconds",
        "Start of the forecast step published (now + lead time, on the series' grid).",
        |v, _| v.ahead.as_ref().map(|f| f.timestamp as f64),
    ),
    (
        "prescale_forecast_lead_seconds",
        "Lead time the forecast is published for (the largest of the series' targets, else 180).",
        |v, _| Some(v.lead as f64),
    ),
    (
        "prescale_series_last_value",
        "Newest sample of the series.",
        |v, _| v.last.map(|last| last.value),
    ),
    (
        "prescale_series_last_timestamp_seconds",
        "Time of the newest sample of the series.",
        |v, _| v.last.map(|last| last.timestamp as f64),
    ),
    (
        "prescale_forecast_error_steps",
        "Steps of the last hour with both an actual and a forecast recorded ahead of it.",
        |v, _| Some(v.accuracy.steps as f64),
    ),
    (
        "prescale_forecast_error_mae",
        "Mean absolute error of the forecasts recorded ahead of time, over the last hour.",
        |v, _| (v.accuracy.steps > 0).then_some(v.accuracy.mae),
    ),
    (
        "prescale_forecast_error_mape",
        "Mean absolute percentage error (ratio) of those forecasts, over the last hour's \
         non-zero actuals.",
        |v, _| v.accuracy.mape,
    ),
    (
        "prescale_forecast_coverage_95",
        "Fraction of the last hour's actuals inside the 95% interval forecast for them.",
        |v, _| (v.accuracy.steps > 0).then_some(v.accuracy.coverage95),
    ),
    (
        "prescale_forecast_steps_above_95",
        "Newest steps in a row whose actual was above the 95% upper bound.",
        |v, _| Some(v.accuracy.consecutive_above95 as f64),
    ),
];

/// The per-series gauges of the model in use (served after `prescale_model_info`).
const MODELS: [(&str, &str, SeriesPick); 4] = [
    (
        "prescale_model_fit_duration_seconds",
        "Duration of the fit of the model in use.",
        |v, _| model(v, |m| m.fit_seconds),
    ),
    (
        "prescale_model_age_seconds",
        "Seconds since the model in use was fitted.",
        |v, now| model(v, |m| (now - m.fitted_at).max(0) as f64),
    ),
    (
        "prescale_model_fitted_timestamp_seconds",
        "When the model in use was fitted.",
        |v, _| model(v, |m| m.fitted_at as f64),
    ),
    (
        "prescale_model_training_points",
        "Observed steps the model in use was fitted on.",
        |v, _| model(v, |m| m.training_points as f64),
    ),
];

fn model(view: &SeriesView, pick: impl Fn(&ModelEntry) -> f64) -> Option<f64> {
    view.model.as_deref().map(pick)
}

fn series(out: &mut Exposition, views: &[&SeriesView], now: i64) {
    let gauges = |out: &mut Exposition, table: &[(&str, &str, SeriesPick)]| {
        for (name, help, pick) in table {
            let values = views.iter().filter_map(|view| {
                let labels = Series {
                    series: view.key.as_str().to_string(),
                };
                Some((labels, pick(view, now)?))
            });
            out.gauges(name, help, values);
        }
    };
    gauges(out, &SERIES);
    let info = views.iter().filter_map(|view| {
        let model = view.model.as_ref()?.name.clone();
        let series = view.key.as_str().to_string();
        Some((SeriesModel { series, model }, 1.0))
    });
    let help = "The model in use for the series (always 1).";
    out.gauges("prescale_model_info", help, info);
    gauges(out, &MODELS);
    let failed = views.iter().map(|view| {
        let labels = Series {
            series: view.key.as_str().to_string(),
        };
        (labels, if view.fit_error.is_some() { 1.0 } else { 0.0 })
    });
    let help = "1 when the last fit of the series failed.";
    out.gauges("prescale_model_last_fit_failed", help, failed);
}

type TargetPick = fn(&TargetView) -> Option<f64>;

const TARGETS: [(&str, &str, TargetPick); 6] = [
    (
        "prescale_target_min_replicas",
        "The target's min_replicas.",
        |v| Some(f64::from(v.target.min_replicas)),
    ),
    (
        "prescale_target_max_replicas",
        "The target's max_replicas.",
        |v| Some(f64::from(v.target.max_replicas)),
    ),
    (
        "prescale_target_lead_time_seconds",
        "The target's lead time (pod start-up).",
        |v| Some(v.target.lead_time.seconds() as f64),
    ),
    (
        "prescale_target_observed_replicas",
        "Replicas the newest observed load needs: ceil(load / capacity), unclamped.",
        |v| v.observed_replicas.map(|r| r as f64),
    ),
    (
        "prescale_target_at_max",
        "1 when the plan hits max_replicas now or ahead.",
        |v| Some(if v.at_max.is_some() { 1.0 } else { 0.0 }),
    ),
    (
        "prescale_target_at_max_timestamp_seconds",
        "When the plan first hits max_replicas.",
        |v| v.at_max.map(|(t, _)| t as f64),
    ),
];

fn targets(out: &mut Exposition, views: &[TargetView], engine: &Engine) {
    let decisions = views.iter().filter_map(|view| {
        if view.reason == "unplanned" {
            return None;
        }
        let replicas = match engine.plan_state(&view.name).as_deref() {
            Some(PlanState::Planned { plan, .. }) => plan.current.replicas,
            _ => return None,
        };
        let labels = TargetReason {
            target: view.name.clone(),
            reason: view.reason,
        };
        Some((labels, f64::from(replicas)))
    });
    let help = "Planned replicas for now + lead time, labelled with the decision's reason \
                (forecast, safety_net, stabilization, min_replicas, max_replicas).";
    out.gauges("prescale_target_decision_replicas", help, decisions);
    for (name, help, pick) in TARGETS {
        let values = views.iter().filter_map(|view| {
            let labels = Target {
                target: view.name.clone(),
            };
            Some((labels, pick(view)?))
        });
        out.gauges(name, help, values);
    }
}
