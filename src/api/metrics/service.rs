//! The service's own families: build, store size, the push and external metrics counters, the
//! engine's fit and plan counters, and each target's current plan.

use super::exposition::{Exposition, read};
use super::labels::{Build, Outcome, Target};
use crate::api::state::ApiCounters;
use crate::engine::{Engine, PlanState};
use crate::plan::Decision;

/// What the store holds, read on the blocking pool before the scrape is built.
#[derive(Debug, Clone, Copy, Default)]
pub struct StoreFacts {
    pub series: usize,
    pub bytes: u64,
    /// False while a write error keeps the store out of service.
    pub in_service: bool,
    /// Repairs after a write error since the start.
    pub repairs: u64,
}

pub fn register(out: &mut Exposition, engine: &Engine, counters: &ApiCounters, store: StoreFacts) {
    let version = env!("CARGO_PKG_VERSION");
    let build = [(Build { version }, 1.0)];
    out.gauges("prescale_build_info", "Build of this prescale.", build);
    out.gauge(
        "prescale_series",
        "Series in the store.",
        store.series as f64,
    );
    let help = "Size of the sled store on disk.";
    out.gauge("prescale_store_bytes", help, store.bytes as f64);
    let help = "1 while the store serves reads and writes, 0 while a write error (a full disk) \
                keeps it out of service until it is repaired.";
    out.gauge(
        "prescale_store_in_service",
        help,
        f64::from(u8::from(store.in_service)),
    );
    let help = "Times the store was reopened after a write error, since the start.";
    out.counter("prescale_store_repairs_total", help, store.repairs);

    let c = counters;
    let help = "Samples accepted through the push API.";
    out.counter(
        "prescale_samples_ingested_total",
        help,
        read(&c.samples_ingested),
    );
    let batches = [
        (
            Outcome {
                outcome: "accepted",
            },
            read(&c.batches_accepted),
        ),
        (
            Outcome {
                outcome: "rejected",
            },
            read(&c.batches_rejected),
        ),
    ];
    out.counters(
        "prescale_push_batches_total",
        "Push batches by outcome.",
        batches,
    );
    let e = &engine.stats;
    let counters = [
        (
            "prescale_external_metric_reads_total",
            "External metric reads of known targets.",
            &c.external_metric_reads,
        ),
        (
            "prescale_external_metric_fallbacks_total",
            "External metric reads answered with the fallback value because the target had no \
             plan.",
            &c.external_metric_fallbacks,
        ),
        ("prescale_fits_total", "Model fits attempted.", &e.fits),
        (
            "prescale_fit_failures_total",
            "Model fits that failed.",
            &e.fit_failures,
        ),
    ];
    for (name, help, counter) in counters {
        out.counter(name, help, read(counter));
    }
    let seconds = read(&e.fit_micros) as f64 / 1e6;
    out.seconds_counter(
        "prescale_fit_seconds_total",
        "Time spent fitting models.",
        seconds,
    );
    let help = "Refit passes over all series.";
    out.counter("prescale_refit_passes_total", help, read(&e.refit_passes));
    let seconds = read(&e.last_refit_pass_micros) as f64 / 1e6;
    let help = "Duration of the latest refit pass.";
    out.gauge("prescale_last_refit_pass_seconds", help, seconds);
    let help = "Planning passes over all targets.";
    out.counter("prescale_replan_passes_total", help, read(&e.replan_passes));
    let help = "Target plannings that produced no plan.";
    out.counter("prescale_plan_failures_total", help, read(&e.plan_failures));

    plans(out, engine);
}

/// Per target: whether it has a plan, and the current decision's numbers when it does.
fn plans(out: &mut Exposition, engine: &Engine) {
    let states: Vec<(String, Option<Decision>)> = engine
        .targets()
        .into_iter()
        .map(|(name, _)| {
            let decision = match engine.plan_state(&name).as_deref() {
                Some(PlanState::Planned { plan, .. }) => Some(plan.current.clone()),
                _ => None,
            };
            (name, decision)
        })
        .collect();
    let planned = states.iter().map(|(name, decision)| {
        let labels = Target {
            target: name.clone(),
        };
        (labels, if decision.is_some() { 1.0 } else { 0.0 })
    });
    let help = "1 when the target has a plan, 0 when it is served its fallback.";
    out.gauges("prescale_target_planned", help, planned);
    type Pick = fn(&Decision) -> Option<f64>;
    let families: [(&str, &str, Pick); 10] = [
        (
            "prescale_target_replicas",
            "Planned replicas for now + lead time.",
            |d| Some(f64::from(d.replicas)),
        ),
        (
            "prescale_target_planned_load",
            "Planned load (after safety net, stabilization and clamp).",
            |d| Some(d.load),
        ),
        (
            "prescale_target_forecast_load",
            "Highest forecast quantile over the lead-time window.",
            |d| Some(d.forecast_load),
        ),
        (
            "prescale_target_observed_load",
            "Newest fresh observed load used by the safety net.",
            |d| d.observed_load,
        ),
        (
            "prescale_target_safety_net",
            "1 when observed load exceeded the forecast and raised the plan.",
            |d| Some(if d.safety_net { 1.0 } else { 0.0 }),
        ),
        (
            "prescale_target_reactive_floor_load",
            "Load the reactive floor provisions for (its replicas times the capacity).",
            |d| d.reactive_load,
        ),
        (
            "prescale_target_headroom",
            "Multiple of the forecast quantile planned for (adapted in SLO mode, else 1).",
            |d| Some(d.service_level.headroom),
        ),
        (
            "prescale_target_planned_miss_rate",
            "In SLO mode, the miss rate the headroom is steered to on the steps it shapes (1 - slo, plus the share steps held at min_replicas pass on).",
            |d| d.service_level.planned_miss_rate,
        ),
        (
            "prescale_target_service_level",
            "Realized fraction of scored steps whose observed load the estimated ready replicas served.",
            |d| (d.service_level.scored_steps > 0).then_some(d.service_level.realized),
        ),
        (
            "prescale_target_scored_steps",
            "Observed samples scored against the replicas estimated ready since the planner started.",
            |d| Some(d.service_level.scored_steps as f64),
        ),
    ];
    for (name, help, pick) in families {
        let values = states.iter().filter_map(|(target, decision)| {
            let value = pick(decision.as_ref()?)?;
            Some((
                Target {
                    target: target.clone(),
                },
                value,
            ))
        });
        out.gauges(name, help, values);
    }
}
