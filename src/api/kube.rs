//! The Kubernetes external metrics API (`external.metrics.k8s.io/v1beta1`), so that a stock
//! HorizontalPodAutoscaler follows prescale's plans:
//!
//! - `GET /apis` (`APIGroupList`), `GET /apis/external.metrics.k8s.io` (`APIGroup`) and
//!   `GET /apis/external.metrics.k8s.io/v1beta1` (`APIResourceList`, one resource per target):
//!   the discovery documents clients such as `kubectl get --raw` and the aggregator read;
//! - `GET /apis/external.metrics.k8s.io/v1beta1/namespaces/{ns}/{metric}?labelSelector=…`: an
//!   `ExternalMetricValueList` with the target's planned replicas (or planned load) for
//!   `now + lead_time`, as a Kubernetes quantity string.
//!
//! The same routes are served on the plain HTTP port and on the TLS port (`api::secure`).
//!
//! Targets are cluster-wide: every namespace sees every target (a namespace name that cannot
//! exist is a `404`). A target publishes exactly one label set, `target=NAME` plus its `labels`,
//! and so exactly one item: the HPA adds up the items of an `External` metric, so a second item
//! would double the replica count. The `labelSelector` (parsed as Kubernetes does, see
//! [`super::selector`]) must match that label set; when it does not, the answer is a `404`
//! `Status` naming the label set, rather than an empty list.
//!
//! Errors are Kubernetes `Status` objects. A known metric is never answered with an empty list
//! (the HPA would stop scaling with an error): without a plan, the target's safe fallback is
//! served instead — the reactive value from the newest fresh observation, else `min_replicas` —
//! and the log and `/metrics` (`prescale_external_metric_fallbacks_total`,
//! `prescale_target_planned`) say so.
//!
//! Content negotiation follows the Kubernetes API server: answers are `application/json`; a
//! request whose `Accept` header allows only other forms — the aggregated discovery format
//! (`application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList`), protobuf, tables —
//! gets `406 Not Acceptable`, so the client (and the aggregator) fall back to the legacy
//! documents above.

use std::sync::atomic::Ordering;

use std::collections::HashMap;

use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{Value, json};

use super::AppState;
use super::selector::Selector;
use crate::engine::PlanState;
use crate::engine::runner::system_now;
use crate::plan::{MetricValue, Target, check_namespace, observed_is_fresh};
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
        .route(
            "/apis/{*rest}",
            get(|| async {
                failure(
                    StatusCode::NOT_FOUND,
                    "NotFound",
                    "the server could not find the requested resource: prescale serves only \
                     external.metrics.k8s.io/v1beta1"
                        .to_string(),
                )
            }),
        )
        .merge(super::openapi::routes())
        .layer(middleware::from_fn(negotiate))
}

/// Answers `406` when the `Accept` header allows no plain JSON (see the module doc).
async fn negotiate(request: Request, next: Next) -> Response {
    if accepts_plain_json(request.headers()) {
        return next.run(request).await;
    }
    let accept = request
        .headers()
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    tracing::debug!(%accept, path = %request.uri().path(), "not acceptable: answering 406");
    failure(
        StatusCode::NOT_ACCEPTABLE,
        "NotAcceptable",
        format!(
            "only application/json is served (legacy discovery and external metrics); \
             none of {accept:?} is acceptable"
        ),
    )
}

/// True when the `Accept` header is absent or has a range that plain `application/json`
/// satisfies: `application/json`, `application/*` or `*/*`, with a non-zero `q` and no
/// conversion parameters (`as`, `g`, `v`), which ask for another kind of object.
pub fn accepts_plain_json(headers: &HeaderMap) -> bool {
    let mut ranges = headers
        .get_all(header::ACCEPT)
        .iter()
        .flat_map(|value| value.to_str().unwrap_or("").split(','))
        .map(str::trim)
        .filter(|range| !range.is_empty())
        .peekable();
    if ranges.peek().is_none() {
        return true;
    }
    ranges.any(|range| {
        let mut parts = range.split(';').map(str::trim);
        let media = parts.next().unwrap_or("").to_ascii_lowercase();
        if !matches!(media.as_str(), "application/json" | "application/*" | "*/*") {
            return false;
        }
        parts.all(|param| {
            let (name, value) = param.split_once('=').unwrap_or((param, ""));
            match name.trim().to_ascii_lowercase().as_str() {
                "as" | "g" | "v" => false,
                "q" => value.trim().parse::<f64>().map_or(true, |q| q > 0.0),
                _ => true,
            }
        })
    })
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

/// A Kubernetes `Status` failure about the metric `name`.
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

/// A Kubernetes `Status` failure about no object in particular (a path, a header, a client).
pub fn failure(code: StatusCode, reason: &str, message: String) -> Response {
    let body = json!({
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": message,
        "reason": reason,
        "code": code.as_u16(),
    });
    (code, Json(body)).into_response()
}

async fn external_metric(
    State(state): State<AppState>,
    Path((namespace, metric)): Path<(String, String)>,
    query: Result<Query<HashMap<String, String>>, QueryRejection>,
) -> Response {
    if let Err(why) = check_namespace(&namespace) {
        return status(
            StatusCode::NOT_FOUND,
            "NotFound",
            format!("namespace not found: {why}"),
            &metric,
        );
    }
    let selector = match query {
        Ok(Query(params)) => {
            Selector::parse(params.get("labelSelector").map_or("", String::as_str))
        }
        Err(rejection) => {
            return status(
                StatusCode::BAD_REQUEST,
                "BadRequest",
                format!("invalid query: {rejection}"),
                &metric,
            );
        }
    };
    let selector = match selector {
        Ok(selector) => selector,
        Err(why) => {
            return status(
                StatusCode::BAD_REQUEST,
                "BadRequest",
                format!("invalid labelSelector: {why}"),
                &metric,
            );
        }
    };
    let Some(target) = state.engine.target(&metric) else {
        return status(
            StatusCode::NOT_FOUND,
            "NotFound",
            format!("external metric {metric:?} not found: no prescale target of that name"),
            &metric,
        );
    };
    let labels = target.label_set(&metric);
    if !selector.matches(&labels) {
        let published: Vec<String> = labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
        return status(
            StatusCode::NOT_FOUND,
            "NotFound",
            format!(
                "external metric {metric:?} has no series matching the label selector \
                 {selector:?}: its only label set is {{{}}}",
                published.join(","),
                selector = selector.to_string()
            ),
            &metric,
        );
    }
    let now = system_now();
    let value = published_value(&state, &metric, &target, now, &namespace).await;
    Json(json!({
        "kind": "ExternalMetricValueList",
        "apiVersion": GROUP_VERSION,
        "metadata": {},
        "items": [{
            "metricName": metric,
            "metricLabels": labels,
            "timestamp": format_timestamp(now),
            "value": quantity(value),
        }],
    }))
    .into_response()
}

/// The value a known target publishes now (the external metrics API and the KEDA scaler alike):
/// its plan's replicas or load for `now + lead_time`, else the fallback, which is counted and
/// logged with the reason there is no plan. `namespace` is the asker's, for the log.
pub async fn published_value(
    state: &AppState,
    name: &str,
    target: &Target,
    now: i64,
    namespace: &str,
) -> f64 {
    state
        .counters
        .external_metric_reads
        .fetch_add(1, Ordering::Relaxed);
    match state.engine.plan_state(name).as_deref() {
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
            let value = fallback_value(target, observed, now);
            tracing::warn!(target = %name, %namespace, value, %reason, "serving the fallback value: no plan");
            value
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

    fn accept(values: &[&str]) -> bool {
        let mut headers = HeaderMap::new();
        for value in values {
            headers.append(header::ACCEPT, value.parse().unwrap());
        }
        accepts_plain_json(&headers)
    }

    #[test]
    fn aggregated_discovery_alone_is_not_acceptable() {
        assert!(accept(&[]));
        assert!(accept(&["application/json"]));
        assert!(accept(&["application/json, */*"]));
        assert!(accept(&["application/json;charset=utf-8"]));
        assert!(accept(&[
            "application/vnd.kubernetes.protobuf,application/json"
        ]));
        assert!(accept(&["*/*;q=0.8"]));
        let v2 = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList";
        let v2beta1 = "application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList";
        assert!(!accept(&[v2]));
        assert!(!accept(&[&format!("{v2},{v2beta1}")]));
        // With the legacy form as a fallback, the legacy form is served (as client-go asks).
        assert!(accept(&[&format!("{v2},{v2beta1},application/json")]));
        assert!(accept(&[v2, "application/json"]));
        assert!(!accept(&["application/json;as=Table;v=v1;g=meta.k8s.io"]));
        assert!(!accept(&["application/vnd.kubernetes.protobuf"]));
        assert!(!accept(&["text/html"]));
        assert!(!accept(&["application/json;q=0"]));
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
