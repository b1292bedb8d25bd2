//! The `/metrics` families added for Prometheus and Grafana users: forecasts at
//! `now + lead_time`, forecast errors, decisions with their reason, models, Prometheus ingest
//! and alerts. Every name is documented in `docs/metrics.md`; values come from the monitor's
//! snapshot and the ingest counters, nothing is computed per scrape.

use std::sync::atomic::{AtomicU64, Ordering};

use super::AppState;
use super::metrics::Out;
use crate::engine::runner::system_now;

fn load(counter: &AtomicU64) -> f64 {
    counter.load(Ordering::Relaxed) as f64
}

/// Appends the families to `out`.
pub(super) fn render(state: &AppState, out: &mut Out) {
    let snapshot = state.monitor.snapshot();
    let now = system_now();

    // ----- per series: the forecast at now + lead time -----
    type Pick = fn(&crate::monitor::ledger::PointForecast) -> f64;
    let forecasts: [(&str, &str, Pick); 6] = [
        (
            "prescale_forecast_yhat",
            "Point forecast for the step containing now + lead time.",
            |f| f.yhat,
        ),
        (
            "prescale_forecast_lo80",
            "Lower bound of the 80% interval at now + lead time.",
            |f| f.lo80,
        ),
        (
            "prescale_forecast_hi80",
            "Upper bound of the 80% interval at now + lead time.",
            |f| f.hi80,
        ),
        (
            "prescale_forecast_lo95",
            "Lower bound of the 95% interval at now + lead time.",
            |f| f.lo95,
        ),
        (
            "prescale_forecast_hi95",
            "Upper bound of the 95% interval at now + lead time.",
            |f| f.hi95,
        ),
        (
            "prescale_forecast_for_timestamp_seconds",
            "Start of the forecast step published (now + lead time, on the series' grid).",
            |f| f.timestamp as f64,
        ),
    ];
    for (name, help, pick) in forecasts {
        out.family(name, "gauge", help);
        for view in &snapshot.series {
            if let Some(forecast) = &view.ahead {
                out.sample(name, &[("series", view.key.as_str())], pick(forecast));
            }
        }
    }
    out.family(
        "prescale_forecast_lead_seconds",
        "gauge",
        "Lead time the forecast is published for (the largest of the series' targets, else 180).",
    );
    for view in &snapshot.series {
        out.sample(
            "prescale_forecast_lead_seconds",
            &[("series", view.key.as_str())],
            view.lead as f64,
        );
    }

    // ----- per series: actuals and forecast error over the last hour -----
    out.family(
        "prescale_series_last_value",
        "gauge",
        "Newest sample of the series.",
    );
    for view in &snapshot.series {
        if let Some(last) = view.last {
            out.sample(
                "prescale_series_last_value",
                &[("series", view.key.as_str())],
                last.value,
            );
        }
    }
    out.family(
        "prescale_series_last_timestamp_seconds",
        "gauge",
        "Time of the newest sample of the series.",
    );
    for view in &snapshot.series {
        if let Some(last) = view.last {
            out.sample(
                "prescale_series_last_timestamp_seconds",
                &[("series", view.key.as_str())],
                last.timestamp as f64,
            );
        }
    }
    type AccuracyPick = fn(&crate::monitor::ledger::Accuracy) -> Option<f64>;
    let errors: [(&str, &str, AccuracyPick); 5] = [
        (
            "prescale_forecast_error_steps",
            "Steps of the last hour with both an actual and a forecast recorded ahead of it.",
            |a| Some(a.steps as f64),
        ),
        (
            "prescale_forecast_error_mae",
            "Mean absolute error of the forecasts recorded ahead of time, over the last hour.",
            |a| (a.steps > 0).then_some(a.mae),
        ),
        (
            "prescale_forecast_error_mape",
            "Mean absolute percentage error (ratio) of those forecasts, over the last hour's non-zero actuals.",
            |a| a.mape,
        ),
        (
            "prescale_forecast_coverage_95",
            "Fraction of the last hour's actuals inside the 95% interval forecast for them.",
            |a| (a.steps > 0).then_some(a.coverage95),
        ),
        (
            "prescale_forecast_steps_above_95",
            "Newest steps in a row whose actual was above the 95% upper bound.",
            |a| Some(a.consecutive_above95 as f64),
        ),
    ];
    for (name, help, pick) in errors {
        out.family(name, "gauge", help);
        for view in &snapshot.series {
            if let Some(value) = pick(&view.accuracy) {
                out.sample(name, &[("series", view.key.as_str())], value);
            }
        }
    }

    // ----- per series: models -----
    out.family(
        "prescale_model_info",
        "gauge",
        "The model in use for the series (always 1).",
    );
    for view in &snapshot.series {
        if let Some(model) = &view.model {
            out.sample(
                "prescale_model_info",
                &[("series", view.key.as_str()), ("model", &model.name)],
                1.0,
            );
        }
    }
    type ModelPick = fn(&crate::engine::ModelEntry, i64) -> f64;
    let models: [(&str, &str, ModelPick); 4] = [
        (
            "prescale_model_fit_duration_seconds",
            "Duration of the fit of the model in use.",
            |m, _| m.fit_seconds,
        ),
        (
            "prescale_model_age_seconds",
            "Seconds since the model in use was fitted.",
            |m, now| (now - m.fitted_at).max(0) as f64,
        ),
        (
            "prescale_model_fitted_timestamp_seconds",
            "When the model in use was fitted.",
            |m, _| m.fitted_at as f64,
        ),
        (
            "prescale_model_training_points",
            "Observed steps the model in use was fitted on.",
            |m, _| m.training_points as f64,
        ),
    ];
    for (name, help, pick) in models {
        out.family(name, "gauge", help);
        for view in &snapshot.series {
            if let Some(model) = &view.model {
                out.sample(name, &[("series", view.key.as_str())], pick(model, now));
            }
        }
    }
    out.family(
        "prescale_model_last_fit_failed",
        "gauge",
        "1 when the last fit of the series failed.",
    );
    for view in &snapshot.series {
        let failed = if view.fit_error.is_some() { 1.0 } else { 0.0 };
        out.sample(
            "prescale_model_last_fit_failed",
            &[("series", view.key.as_str())],
            failed,
        );
    }

    // ----- per target: the decision and its reason -----
    out.family(
        "prescale_target_decision_replicas",
        "gauge",
        "Planned replicas for now + lead time, labelled with the decision's reason (forecast, safety_net, stabilization, min_replicas, max_replicas).",
    );
    for view in &snapshot.targets {
        if view.reason == "unplanned" {
            continue;
        }
        if let Some(crate::engine::PlanState::Planned { plan, .. }) =
            state.engine.plan_state(&view.name).as_deref()
        {
            out.sample(
                "prescale_target_decision_replicas",
                &[("target", view.name.as_str()), ("reason", view.reason)],
                f64::from(plan.current.replicas),
            );
        }
    }
    type TargetPick = fn(&crate::monitor::TargetView) -> Option<f64>;
    let targets: [(&str, &str, TargetPick); 6] = [
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
    for (name, help, pick) in targets {
        out.family(name, "gauge", help);
        for view in &snapshot.targets {
            if let Some(value) = pick(view) {
                out.sample(name, &[("target", view.name.as_str())], value);
            }
        }
    }

    // ----- store and monitor -----
    out.single(
        "prescale_store_samples",
        "gauge",
        "Samples in the store, over all series.",
        snapshot.store_samples as f64,
    );
    if let Some(at) = snapshot.at {
        out.single(
            "prescale_monitor_last_pass_timestamp_seconds",
            "gauge",
            "When the monitor last computed forecasts, errors and alerts.",
            at as f64,
        );
    }

    // ----- Prometheus ingest -----
    let rw = &state.ingest.remote_write_counters;
    out.family("prescale_remote_write_requests_total", "counter", "remote_write requests by outcome (rejected: not snappy/protobuf, too large, storage error).");
    out.sample(
        "prescale_remote_write_requests_total",
        &[("outcome", "accepted")],
        load(&rw.requests_accepted),
    );
    out.sample(
        "prescale_remote_write_requests_total",
        &[("outcome", "rejected")],
        load(&rw.requests_rejected),
    );
    out.family(
        "prescale_remote_write_samples_total",
        "counter",
        "remote_write samples of accepted requests by outcome: accepted (stored) or why skipped.",
    );
    for (outcome, counter) in [
        ("accepted", &rw.accepted),
        ("stale", &rw.stale),
        ("non_finite", &rw.non_finite),
        ("not_allowed", &rw.not_allowed),
        ("invalid_series", &rw.invalid_series),
        ("out_of_range", &rw.out_of_range),
    ] {
        out.sample(
            "prescale_remote_write_samples_total",
            &[("outcome", outcome)],
            load(counter),
        );
    }
    let pulls = &state.ingest.pulls;
    type PullPick = fn(&crate::collect::prometheus_pull::PullStatus, i64) -> Option<f64>;
    let pull_families: [(&str, &str, &str, PullPick); 6] = [
        (
            "prescale_pull_up",
            "gauge",
            "1 when the source's last poll succeeded.",
            |p, _| {
                Some(
                    if p.successes.load(Ordering::Relaxed) > 0
                        && p.consecutive_failures.load(Ordering::Relaxed) == 0
                    {
                        1.0
                    } else {
                        0.0
                    },
                )
            },
        ),
        (
            "prescale_pull_samples_total",
            "counter",
            "Samples written by the source.",
            |p, _| Some(load(&p.samples)),
        ),
        (
            "prescale_pull_skipped_samples_total",
            "counter",
            "NaN or infinite values the source's answers held (skipped).",
            |p, _| Some(load(&p.skipped)),
        ),
        (
            "prescale_pull_consecutive_failures",
            "gauge",
            "Failed polls since the last success.",
            |p, _| Some(load(&p.consecutive_failures)),
        ),
        (
            "prescale_pull_last_success_timestamp_seconds",
            "gauge",
            "When the source last polled successfully.",
            |p, _| match p.last_success.load(Ordering::Relaxed) {
                0 => None,
                t => Some(t as f64),
            },
        ),
        (
            "prescale_pull_staleness_seconds",
            "gauge",
            "Age of the source series' newest sample.",
            |p, now| p.staleness(now).map(|s| s as f64),
        ),
    ];
    for (name, kind, help, pick) in pull_families {
        out.family(name, kind, help);
        for pull in pulls {
            if let Some(value) = pick(pull, now) {
                out.sample(name, &[("source", pull.series.as_str())], value);
            }
        }
    }
    out.family(
        "prescale_pull_requests_total",
        "counter",
        "Polls by outcome.",
    );
    for pull in pulls {
        for (outcome, counter) in [("success", &pull.successes), ("failure", &pull.failures)] {
            out.sample(
                "prescale_pull_requests_total",
                &[("source", pull.series.as_str()), ("outcome", outcome)],
                load(counter),
            );
        }
    }

    // ----- alerts -----
    out.family("prescale_alert_active", "gauge", "Open alert incidents (alert: forecast_miss, capacity_breach, model_stale, model_failed; subject: series or target).");
    let Some(alerts) = state.monitor.alerts() else {
        return;
    };
    for (kind, subject) in alerts.open() {
        out.sample(
            "prescale_alert_active",
            &[("alert", kind.as_str()), ("subject", &subject)],
            1.0,
        );
    }
    out.single(
        "prescale_alerts_suppressed_total",
        "counter",
        "Firing notifications withheld by the max_per_hour rate limit.",
        alerts.suppressed() as f64,
    );
    out.family("prescale_alert_notifications_total", "counter", "Notifications per receiver by outcome (delivered, failed after every try, dropped on a full queue).");
    for receiver in alerts.receivers() {
        for (outcome, counter) in [
            ("delivered", &receiver.stats.delivered),
            ("failed", &receiver.stats.failed),
            ("dropped", &receiver.stats.dropped),
        ] {
            out.sample(
                "prescale_alert_notifications_total",
                &[("receiver", &receiver.name), ("outcome", outcome)],
                load(counter),
            );
        }
    }
    out.family(
        "prescale_alert_delivery_retries_total",
        "counter",
        "Delivery tries repeated after a timeout or an error answer.",
    );
    for receiver in alerts.receivers() {
        out.sample(
            "prescale_alert_delivery_retries_total",
            &[("receiver", &receiver.name)],
            load(&receiver.stats.retries),
        );
    }
}
