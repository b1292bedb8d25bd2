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
//! target's safe fallback ([`Engine::fallback_value`]: what a reactive HPA would ask for from
//! the newest fresh observation) is served instead, logged with the reason there
//! is no plan and counted (`prescale_external_metric_fallbacks_total`; every read counts in
//! `prescale_external_metric_reads_total`).
//!
//! A planned metric's answer is versioned by the engine's generation of targets and plans and
//! the current second ([`AnswerVersion`]), so that the Kubernetes kit serves it again as
//! rendered bytes while neither moves on (checked without a lock); a fallback value has no
//! version and is computed on every read.

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
use crate::plan::Target;

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
                let value = self.fallback(&target, now).await;
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

    /// The engine's fallback value for `target` (it reads the store: on the blocking pool);
    /// `min_replicas` (or its load) when even that cannot be read.
    async fn fallback(&self, target: &Arc<Target>, now: i64) -> f64 {
        let engine = self.engine.clone();
        let asked = target.clone();
        let read = tokio::task::spawn_blocking(move || engine.fallback_value(&asked, now)).await;
        match read {
            Ok(Ok(value)) => value,
            outcome => {
                tracing::warn!(target = ?target.series, ?outcome, "the fallback value could not be read");
                crate::plan::reactive::fallback_value(target, None, now, None)
            }
        }
    }
}

/// What an external metric's answer is computed from: the engine's generation of targets and
/// plans (it moves on with every change to either, [`crate::engine::Engine::generation`]) and
/// the second the answer is stamped with.
pub type AnswerVersion = (u64, i64);

impl ExternalMetricsProvider for Provider {
    type Version = AnswerVersion;

    fn list_all_external_metrics(&self) -> Vec<String> {
        self.metrics()
    }

    /// Only a planned metric: a fallback value reads the store, and is computed every time. The
    /// generation is read before the target and plan, so a change racing with this call moves it
    /// on after what was read.
    fn version(&self, metric: &str) -> Option<AnswerVersion> {
        let generation = self.engine.generation();
        self.engine.target(metric)?;
        let plan = self.engine.plan_state(metric)?;
        if !matches!(*plan, PlanState::Planned { .. }) {
            return None;
        }
        Some((generation, system_now()))
    }

    /// No lock: an answer was kept at a `version`, so the metric was planned at that
    /// generation, and still is while the generation holds.
    fn kept_version(&self, _metric: &str) -> Option<AnswerVersion> {
        Some((self.engine.generation(), system_now()))
    }

    fn served_again(&self, _metric: &str) {
        self.counters
            .external_metric_reads
            .fetch_add(1, Ordering::Relaxed);
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
