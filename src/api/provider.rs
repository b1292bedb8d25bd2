//! The external metrics provider: the one place that answers "what is external metric M worth
//! now, for label selector S, asked from namespace N", in the spirit of
//! kubernetes-sigs/custom-metrics-apiserver's `ExternalMetricsProvider`. The Kubernetes
//! external metrics API ([`super::k8s::external`], through the trait) and the KEDA external
//! scaler ([`super::keda`]) both ask it, so the two cannot drift apart.
//!
//! A metric is a prescale target: its name is the target's, and it publishes exactly one label
//! set, `target=NAME` plus the target's `labels`. The selector must match that set. The value
//! is the target's plan for `now + lead_time` — its replicas or its load, as the target's
//! `metric_value` says — and a known metric is never left without one: with no plan, the
//! target's safe fallback ([`fallback_value`]) is served instead, logged with the reason there
//! is no plan and counted (`prescale_external_metric_fallbacks_total`; every read counts in
//! `prescale_external_metric_reads_total`).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use super::k8s::external::{
    ExternalMetricValue, ExternalMetricsProvider, metric_not_found, no_matching_series,
};
use super::k8s::selector::Selector;
use super::k8s::status::Status;
use super::state::{ApiCounters, AppState};
use crate::engine::runner::system_now;
use crate::engine::{Engine, PlanState};
use crate::plan::{MetricValue, Target, observed_is_fresh};
use crate::series::Sample;

/// Answers external metric values from the engine's plans.
#[derive(Clone)]
pub struct Provider {
    engine: Arc<Engine>,
    counters: Arc<ApiCounters>,
}

/// A value as published.
#[derive(Debug, Clone)]
pub struct Published {
    pub target: Arc<Target>,
    /// The metric's label set (which the selector matched).
    pub labels: BTreeMap<String, String>,
    /// When the value holds (now, unix seconds).
    pub timestamp: i64,
    pub value: f64,
}

/// Why a metric has no value for the question asked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Unserved {
    /// No target of that name.
    UnknownMetric,
    /// The selector does not match the metric's only label set, `labels`.
    NoMatch { labels: BTreeMap<String, String> },
}

impl Provider {
    pub fn new(state: &AppState) -> Provider {
        Provider {
            engine: state.engine.clone(),
            counters: state.counters.clone(),
        }
    }

    /// The metrics served: one per target.
    pub fn metrics(&self) -> Vec<String> {
        self.engine
            .targets()
            .into_iter()
            .map(|(name, _)| name)
            .collect()
    }

    /// The target behind `metric`, without reading its value (nothing is counted).
    pub fn target(&self, metric: &str) -> Result<Arc<Target>, Unserved> {
        self.engine.target(metric).ok_or(Unserved::UnknownMetric)
    }

    /// The value of `metric` for `selector` now; `namespace` is the asker's, for the log.
    pub async fn value(
        &self,
        namespace: &str,
        metric: &str,
        selector: &Selector,
    ) -> Result<Published, Unserved> {
        let target = self.target(metric)?;
        let labels = target.label_set(metric);
        if !selector.matches(&labels) {
            return Err(Unserved::NoMatch { labels });
        }
        let now = system_now();
        self.counters
            .external_metric_reads
            .fetch_add(1, Ordering::Relaxed);
        let value = match self.engine.plan_state(metric).as_deref() {
            Some(PlanState::Planned { plan, .. }) => plan.current.metric_value(target.metric_value),
            other => {
                let reason = match other {
                    Some(PlanState::Unplanned { reason, .. }) => reason.clone(),
                    _ => "not planned yet".to_string(),
                };
                self.counters
                    .external_metric_fallbacks
                    .fetch_add(1, Ordering::Relaxed);
                let value = fallback_value(&target, self.observed(&target).await, now);
                tracing::warn!(target = %metric, %namespace, value, %reason, "serving the fallback value: no plan");
                value
            }
        };
        Ok(Published {
            target,
            labels,
            timestamp: now,
            value,
        })
    }

    /// The newest stored sample of the target's series (read on the blocking pool).
    async fn observed(&self, target: &Target) -> Option<Sample> {
        let store = self.engine.store().clone();
        let series = target.series.clone();
        tokio::task::spawn_blocking(move || store.latest(&series))
            .await
            .ok()
            .and_then(Result::ok)
            .flatten()
    }
}

impl ExternalMetricsProvider for Provider {
    fn list_all_external_metrics(&self) -> Vec<String> {
        self.metrics()
    }

    async fn get_external_metric(
        &self,
        namespace: &str,
        metric: &str,
        selector: &Selector,
    ) -> Result<ExternalMetricValue, Status> {
        match self.value(namespace, metric, selector).await {
            Ok(published) => Ok(ExternalMetricValue {
                metric_name: metric.to_string(),
                metric_labels: published.labels,
                timestamp: published.timestamp,
                value: published.value,
            }),
            Err(Unserved::UnknownMetric) => {
                Err(metric_not_found(metric, "no prescale target of that name"))
            }
            Err(Unserved::NoMatch { labels }) => Err(no_matching_series(metric, selector, &labels)),
        }
    }
}

/// The value served when a target has no plan: what a reactive HPA would ask for from the
/// newest fresh observation, never below `min_replicas`; `min_replicas` without one.
pub fn fallback_value(target: &Target, observed: Option<Sample>, now: i64) -> f64 {
    let c = target.capacity_per_replica;
    let min = f64::from(target.min_replicas);
    let max = f64::from(target.max_replicas);
    // A minute-grid freshness rule: the series' step is unknown without a model.
    let load = observed
        .filter(|sample| observed_is_fresh(*sample, now, 60))
        .map_or(0.0, |sample| sample.value.max(0.0));
    let replicas = (load / c - 1e-9).ceil().clamp(min, max);
    match target.metric_value {
        MetricValue::Replicas => replicas,
        MetricValue::Load => load.clamp(min * c, max * c),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fallback_is_reactive_then_min() {
        let target: Target = serde_json::from_str(
            r#"{"series":"rps","capacity_per_replica":10,"min_replicas":2,"max_replicas":8}"#,
        )
        .unwrap();
        let fresh = Sample::new(1000, 55.0).unwrap();
        assert_eq!(fallback_value(&target, Some(fresh), 1030), 6.0);
        assert_eq!(fallback_value(&target, Some(fresh), 100_000), 2.0);
        assert_eq!(fallback_value(&target, None, 0), 2.0);
        let huge = Sample::new(1000, 1e6).unwrap();
        assert_eq!(fallback_value(&target, Some(huge), 1000), 8.0);
    }
}
