//! The Kubernetes external metrics API (`external.metrics.k8s.io/v1beta1`), so that a stock
//! HorizontalPodAutoscaler follows prescale's plans:
//!
//! - `GET /apis` (`APIGroupList`), `GET /apis/external.metrics.k8s.io` (`APIGroup`) and
//!   `GET /apis/external.metrics.k8s.io/v1beta1` (`APIResourceList`, one resource per target):
//!   the discovery documents clients such as `kubectl get --raw` and the aggregator read;
//! - `GET /apis/external.metrics.k8s.io/v1beta1/namespaces/{ns}/{metric}`: an
//!   `ExternalMetricValueList` with the target's planned replicas (or planned load) for
//!   `now + lead_time`, as a Kubernetes quantity string.
//!
//! Targets are cluster-wide: every namespace sees every target. Errors are Kubernetes `Status`
//! objects. A known metric is never answered with an empty list (the HPA would stop scaling
//! with an error): without a plan, the target's safe fallback is served instead — the reactive
//! value from the newest fresh observation, else `min_replicas`.

use std::sync::atomic::Ordering;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{Value, json};

use super::AppState;
use crate::engine::PlanState;
use crate::engine::runner::system_now;
use crate::plan::{MetricValue, Target, observed_is_fresh};
use crate::series::{Sample, format_timestamp};

pub const GROUP: &str = "external.metrics.k8s.io";
pub const VERSION: &str = "v1beta1";
pub const GROUP_VERSION: &str = "external.metrics.k8s.io/v1beta1";

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/apis", get(api_group_list))
        .route("/apis/external.metrics.k8s.io", get(api_group))
        .route(
            "/apis/external.metrics.k8s.io/v1beta1",
            get(api_resource_list),
        )
        .route(
            "/apis/external.metrics.k8s.io/v1beta1/namespaces/{namespace}/{metric}",
            get(external_metric),
        )
}

fn group_document() -> Value {
    let version = json!({ "groupVersion": GROUP_VERSION, "version": VERSION });
    json!({
        "name": GROUP,
        "versions": [version.clone()],
        "preferredVersion": version,
    })
}

async fn api_group_list() -> Json<Value> {
    Json(json!({
        "kind": "APIGroupList",
        "apiVersion": "v1",
        "groups": [group_document()],
    }))
}

async fn api_group() -> Json<Value> {
    let mut group = group_document();
    group["kind"] = json!("APIGroup");
    group["apiVersion"] = json!("v1");
    Json(group)
}

async fn api_resource_list(State(state): State<AppState>) -> Json<Value> {
    let resources: Vec<Value> = state
        .engine
        .targets()
        .into_iter()
        .map(|(name, _)| {
            json!({
                "name": name,
                "singularName": "",
                "namespaced": true,
                "kind": "ExternalMetricValueList",
                "verbs": ["get"],
            })
        })
        .collect();
    Json(json!({
        "kind": "APIResourceList",
        "apiVersion": "v1",
        "groupVersion": GROUP_VERSION,
        "resources": resources,
    }))
}

/// A Kubernetes `Status` failure.
pub fn status(code: StatusCode, reason: &str, message: String, name: &str) -> Response {
    let body = json!({
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": message,
        "reason": reason,
        "details": { "name": name, "group": GROUP, "kind": name },
        "code": code.as_u16(),
    });
    (code, Json(body)).into_response()
}

async fn external_metric(
    State(state): State<AppState>,
    Path((namespace, metric)): Path<(String, String)>,
) -> Response {
    let Some(target) = state.engine.target(&metric) else {
        return status(
            StatusCode::NOT_FOUND,
            "NotFound",
            format!("external metric {metric:?} not found: no prescale target of that name"),
            &metric,
        );
    };
    state
        .counters
        .external_metric_reads
        .fetch_add(1, Ordering::Relaxed);
    let now = system_now();
    let value = match state.engine.plan_state(&metric).as_deref() {
        Some(PlanState::Planned { plan, .. }) => plan.current.metric_value(target.metric_value),
        other => {
            let reason = match other {
                Some(PlanState::Unplanned { reason, .. }) => reason.clone(),
                _ => "not planned yet".to_string(),
            };
            state
                .counters
                .external_metric_fallbacks
                .fetch_add(1, Ordering::Relaxed);
            let store = state.engine.store().clone();
            let series = target.series.clone();
            let observed = tokio::task::spawn_blocking(move || store.latest(&series))
                .await
                .ok()
                .and_then(Result::ok)
                .flatten();
            let value = fallback_value(&target, observed, now);
            tracing::warn!(target = %metric, %namespace, value, %reason, "serving the fallback value: no plan");
            value
        }
    };
    Json(json!({
        "kind": "ExternalMetricValueList",
        "apiVersion": GROUP_VERSION,
        "metadata": {},
        "items": [{
            "metricName": metric,
            "metricLabels": { "target": metric },
            "timestamp": format_timestamp(now),
            "value": quantity(value),
        }],
    }))
    .into_response()
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

/// A Kubernetes quantity string: integers as such (`12`), other values in milli-units rounded to
/// the nearest (`1500m`), the canonical form the HPA controller parses.
pub fn quantity(value: f64) -> String {
    if !value.is_finite() {
        return "0".to_string();
    }
    let milli = (value * 1000.0).round();
    if milli.abs() >= 9.0e15 {
        // Beyond exact milli-unit integers: whole units are precise enough.
        return format!("{}", value.round() as i64);
    }
    let milli = milli as i64;
    if milli % 1000 == 0 {
        format!("{}", milli / 1000)
    } else {
        format!("{milli}m")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantities_are_canonical() {
        assert_eq!(quantity(12.0), "12");
        assert_eq!(quantity(0.0), "0");
        assert_eq!(quantity(1.5), "1500m");
        assert_eq!(quantity(123.4567), "123457m");
        assert_eq!(quantity(0.0004), "0");
        assert_eq!(quantity(2.9999999), "3");
        assert_eq!(quantity(-1.25), "-1250m");
        assert_eq!(quantity(f64::NAN), "0");
        assert_eq!(quantity(1e17), "100000000000000000");
    }

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
