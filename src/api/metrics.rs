//! `GET /metrics` in the Prometheus text exposition format (0.0.4): the planned replicas and
//! loads per target, the engine's fit and plan counters, ingest counters and store size.
//!
//! Written by hand: a few dozen lines of formatting do not justify a metrics registry, and every
//! value already lives in the engine's caches and counters.

use std::fmt::Write;
use std::sync::atomic::Ordering;

use axum::Router;
use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;

use super::AppState;
use crate::engine::PlanState;

pub fn routes() -> Router<AppState> {
    Router::new().route("/metrics", get(metrics))
}

async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    let store = state.engine.store().clone();
    let store_facts = tokio::task::spawn_blocking(move || {
        let series = store.list().map(|l| l.len()).unwrap_or(0);
        let bytes = store.size_on_disk().unwrap_or(0);
        (series, bytes)
    })
    .await
    .unwrap_or((0, 0));
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        render(&state, store_facts),
    )
}

/// Escapes a label value: backslash, double quote and newline.
pub(super) fn escape(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

pub(super) struct Out(pub(super) String);

impl Out {
    pub(super) fn family(&mut self, name: &str, kind: &str, help: &str) {
        let _ = writeln!(self.0, "# HELP {name} {help}\n# TYPE {name} {kind}");
    }
    pub(super) fn sample(&mut self, name: &str, labels: &[(&str, &str)], value: f64) {
        self.0.push_str(name);
        if !labels.is_empty() {
            let inner: Vec<String> = labels
                .iter()
                .map(|(k, v)| format!("{k}=\"{}\"", escape(v)))
                .collect();
            let _ = write!(self.0, "{{{}}}", inner.join(","));
        }
        let _ = writeln!(self.0, " {value}");
    }
    pub(super) fn single(&mut self, name: &str, kind: &str, help: &str, value: f64) {
        self.family(name, kind, help);
        self.sample(name, &[], value);
    }
}

fn render(state: &AppState, (series, store_bytes): (usize, u64)) -> String {
    let mut out = Out(String::new());
    let load = |counter: &std::sync::atomic::AtomicU64| counter.load(Ordering::Relaxed) as f64;
    let c = &state.counters;
    let e = &state.engine.stats;

    out.family("prescale_build_info", "gauge", "Build of this prescale.");
    out.sample(
        "prescale_build_info",
        &[("version", env!("CARGO_PKG_VERSION"))],
        1.0,
    );
    out.single(
        "prescale_series",
        "gauge",
        "Series in the store.",
        series as f64,
    );
    out.single(
        "prescale_store_bytes",
        "gauge",
        "Size of the sled store on disk.",
        store_bytes as f64,
    );
    out.single(
        "prescale_samples_ingested_total",
        "counter",
        "Samples accepted through the push API.",
        load(&c.samples_ingested),
    );
    out.family(
        "prescale_push_batches_total",
        "counter",
        "Push batches by outcome.",
    );
    out.sample(
        "prescale_push_batches_total",
        &[("outcome", "accepted")],
        load(&c.batches_accepted),
    );
    out.sample(
        "prescale_push_batches_total",
        &[("outcome", "rejected")],
        load(&c.batches_rejected),
    );
    out.single(
        "prescale_external_metric_reads_total",
        "counter",
        "External metric reads of known targets.",
        load(&c.external_metric_reads),
    );
    out.single(
        "prescale_external_metric_fallbacks_total",
        "counter",
        "External metric reads answered with the fallback value because the target had no plan.",
        load(&c.external_metric_fallbacks),
    );
    out.single(
        "prescale_fits_total",
        "counter",
        "Model fits attempted.",
        load(&e.fits),
    );
    out.single(
        "prescale_fit_failures_total",
        "counter",
        "Model fits that failed.",
        load(&e.fit_failures),
    );
    out.single(
        "prescale_fit_seconds_total",
        "counter",
        "Time spent fitting models.",
        load(&e.fit_micros) / 1e6,
    );
    out.single(
        "prescale_refit_passes_total",
        "counter",
        "Refit passes over all series.",
        load(&e.refit_passes),
    );
    out.single(
        "prescale_last_refit_pass_seconds",
        "gauge",
        "Duration of the latest refit pass.",
        load(&e.last_refit_pass_micros) / 1e6,
    );
    out.single(
        "prescale_replan_passes_total",
        "counter",
        "Planning passes over all targets.",
        load(&e.replan_passes),
    );
    out.single(
        "prescale_plan_failures_total",
        "counter",
        "Target plannings that produced no plan.",
        load(&e.plan_failures),
    );

    let targets = state.engine.targets();
    let families: [(&str, &str); 6] = [
        (
            "prescale_target_planned",
            "1 when the target has a plan, 0 when it is served its fallback.",
        ),
        (
            "prescale_target_replicas",
            "Planned replicas for now + lead time.",
        ),
        (
            "prescale_target_planned_load",
            "Planned load (after safety net, stabilization and clamp).",
        ),
        (
            "prescale_target_forecast_load",
            "Highest forecast quantile over the lead-time window.",
        ),
        (
            "prescale_target_observed_load",
            "Newest fresh observed load used by the safety net.",
        ),
        (
            "prescale_target_safety_net",
            "1 when observed load exceeded the forecast and raised the plan.",
        ),
    ];
    for (index, (name, help)) in families.iter().enumerate() {
        out.family(name, "gauge", help);
        for (target, _) in &targets {
            let labels = [("target", target.as_str())];
            let state = state.engine.plan_state(target);
            let value = match (index, state.as_deref()) {
                (0, Some(PlanState::Planned { .. })) => Some(1.0),
                (0, _) => Some(0.0),
                (_, Some(PlanState::Planned { plan, .. })) => {
                    let d = &plan.current;
                    match index {
                        1 => Some(f64::from(d.replicas)),
                        2 => Some(d.load),
                        3 => Some(d.forecast_load),
                        4 => d.observed_load,
                        _ => Some(if d.safety_net { 1.0 } else { 0.0 }),
                    }
                }
                _ => None,
            };
            if let Some(value) = value {
                out.sample(name, &labels, value);
            }
        }
    }
    // Forecasts, errors, decisions, models, Prometheus ingest and alerts (issue 6).
    super::monitor_metrics::render(state, &mut out);
    out.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_values_are_escaped() {
        assert_eq!(escape(r#"a"b\c"#), r#"a\"b\\c"#);
        assert_eq!(escape("x\ny"), "x\\ny");
    }
}
