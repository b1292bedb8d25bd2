//! The Kubernetes external metrics API (`external.metrics.k8s.io/v1beta1`), so that a stock
//! HorizontalPodAutoscaler reads what an [`ExternalMetricsProvider`] publishes:
//!
//! - `GET /apis` (`APIGroupList`), `GET /apis/external.metrics.k8s.io` (`APIGroup`) and
//!   `GET /apis/external.metrics.k8s.io/v1beta1` (`APIResourceList`, one resource per metric
//!   the provider lists): the discovery documents clients such as `kubectl get --raw` and the
//!   aggregator read;
//! - `GET /apis/external.metrics.k8s.io/v1beta1/namespaces/{ns}/{metric}?labelSelector=…`: an
//!   `ExternalMetricValueList` with the provider's value, as a Kubernetes quantity string.
//!
//! This module checks the request — the namespace must be a possible name (else `404`), the
//! `labelSelector` must parse as Kubernetes parses it ([`super::selector`], else `400`) — and
//! renders the answer; the provider decides what the metric is worth, and answers a metric it
//! does not serve with one of the [`Status`]es below ([`metric_not_found`],
//! [`no_matching_series`]). The answer holds exactly one item: the HPA adds up the items of an
//! `External` metric, so a provider publishes one label set per metric.
//!
//! The trait follows kubernetes-sigs/custom-metrics-apiserver's `ExternalMetricsProvider`
//! (`ListAllExternalMetrics`, `GetExternalMetric`), so the split is the one Kubernetes metrics
//! adapters know.
//!
//! An answer is rendered once per request path (namespace and metric), query string and
//! provider *version*
//! ([`ExternalMetricsProvider::version`]: what the value, labels and timestamp come from) and
//! served as bytes with a strong `ETag` while the version holds ([`crate::api::rendered`], as
//! the forecast is): the HPA polls each metric every 15 s per autoscaler, and the answer only
//! changes with a new plan or a new second. A version that changed while the answer was computed
//! keeps nothing, so kept bytes never claim a version they were not computed at.

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, Uri};
use axum::response::Response;
use axum::routing::get;
use axum::{Json, Router};
use percent_encoding::percent_decode_str;
use serde_json::{Value, json};

use super::selector::Selector;
use super::status::Status;
use crate::api::rendered::{RenderCache, Rendered};
use crate::plan::check_namespace;
use crate::series::format_timestamp;

pub const GROUP: &str = "external.metrics.k8s.io";
pub const VERSION: &str = "v1beta1";
pub const GROUP_VERSION: &str = "external.metrics.k8s.io/v1beta1";

/// One external metric's value now.
#[derive(Debug, Clone, PartialEq)]
pub struct ExternalMetricValue {
    pub metric_name: String,
    /// The label set the value is published with (the one the selector matched).
    pub metric_labels: BTreeMap<String, String>,
    /// When the value holds (unix seconds).
    pub timestamp: i64,
    pub value: f64,
}

/// What the external metrics API serves.
pub trait ExternalMetricsProvider: Clone + Send + Sync + 'static {
    /// What an answer is computed from (see [`ExternalMetricsProvider::version`]).
    type Version: PartialEq + Send + Sync + 'static;

    /// The metric names, one discovery resource each.
    fn list_all_external_metrics(&self) -> Vec<String>;

    /// What `metric`'s answers are computed from now, when they can be served again as
    /// rendered: two equal versions promise the same answer (value, label set and timestamp) for
    /// the same selector, so the version must change when any of them would (the timestamp's
    /// second included). `None` when the answer must be computed every time.
    fn version(&self, metric: &str) -> Option<Self::Version>;

    /// What a kept answer of `metric` is checked against: equal to [`version`] whenever that
    /// is `Some` (answers are only kept at a `version`), so it may be cheaper — it need not
    /// tell whether `metric` can be kept at all. By default [`version`].
    ///
    /// [`version`]: ExternalMetricsProvider::version
    fn kept_version(&self, metric: &str) -> Option<Self::Version> {
        self.version(metric)
    }

    /// Counts a read of `metric` answered with what was rendered before (at an unchanged
    /// version), as a call of [`ExternalMetricsProvider::get_external_metric`] would.
    fn served_again(&self, metric: &str);

    /// The value of `metric` for `selector`, asked from `namespace` (a valid namespace name);
    /// a metric it does not serve is a `Status` ([`metric_not_found`],
    /// [`no_matching_series`]).
    fn get_external_metric(
        &self,
        namespace: &str,
        metric: &str,
        selector: &Selector,
    ) -> impl Future<Output = Result<ExternalMetricValue, Status>> + Send;
}

/// The `404` for a metric name the provider does not serve.
pub fn metric_not_found(metric: &str, why: &str) -> Status {
    Status::not_found(format!(
        "external metric {:?} not found: {why}",
        crate::series::clip(metric)
    ))
    .about(GROUP, metric, metric)
}

/// The `404` for a selector that matches none of a metric's label sets (rather than an empty
/// list, which the HPA would read as "no value").
pub fn no_matching_series(
    metric: &str,
    selector: &Selector,
    labels: &BTreeMap<String, String>,
) -> Status {
    let published: Vec<String> = labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
    Status::not_found(format!(
        "external metric {:?} has no series matching the label selector {selector:?}: \
         its only label set is {{{}}}",
        crate::series::clip(metric),
        published.join(","),
        selector = crate::series::clip(&selector.to_string())
    ))
    .about(GROUP, metric, metric)
}

/// Bytes all kept answers may take together: ~5,000 answers of ~200 bytes.
const ANSWERS_BUDGET: usize = 1024 * 1024;

/// The longest query string whose answers are kept (the key is not counted in the budget).
const MAX_KEPT_QUERY: usize = 256;

/// Rendered answers per request path and query string as the client sent them (so per
/// namespace asked from, metric and query: the namespace is in the key although today's
/// provider answers alike from every namespace, the trait lets a provider answer by namespace),
/// each kept for one provider version. Looked up with the request's own `&str`: a kept answer
/// costs no allocation.
type Answers<V> = RenderCache<String, V>;

/// Where the metric path's two segments start.
const METRIC_PATH_PREFIX: &str = "/apis/external.metrics.k8s.io/v1beta1/namespaces/";

/// The provider and its rendered answers.
struct Served<P: ExternalMetricsProvider> {
    provider: P,
    answers: Answers<P::Version>,
}

/// The discovery documents and the metric path, over `provider`.
pub fn routes<S, P>(provider: P) -> Router<S>
where
    S: Clone + Send + Sync + 'static,
    P: ExternalMetricsProvider,
{
    let served = Arc::new(Served {
        provider: provider.clone(),
        answers: RenderCache::new(ANSWERS_BUDGET),
    });
    let metric = Router::new()
        .route(
            "/apis/external.metrics.k8s.io/v1beta1/namespaces/{namespace}/{metric}",
            get(external_metric::<P>),
        )
        .with_state(served);
    Router::new()
        .route("/apis", get(api_group_list))
        .route("/apis/external.metrics.k8s.io", get(api_group))
        .route(
            "/apis/external.metrics.k8s.io/v1beta1",
            get(api_resource_list::<P>),
        )
        .with_state(provider)
        .merge(metric)
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

async fn api_resource_list<P: ExternalMetricsProvider>(State(provider): State<P>) -> Json<Value> {
    let resources: Vec<Value> = provider
        .list_all_external_metrics()
        .into_iter()
        .map(|name| {
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

/// The namespace and metric of a metric path (the router matched its shape), percent-decoded
/// as axum's `Path` decodes them; `None` when a segment is not UTF-8 once decoded.
fn namespace_and_metric(path: &str) -> Option<(Cow<'_, str>, Cow<'_, str>)> {
    let (namespace, metric) = path.strip_prefix(METRIC_PATH_PREFIX)?.split_once('/')?;
    let decode = |segment| percent_decode_str(segment).decode_utf8().ok();
    Some((decode(namespace)?, decode(metric)?))
}

async fn external_metric<P: ExternalMetricsProvider>(
    State(served): State<Arc<Served<P>>>,
    uri: Uri,
    headers: HeaderMap,
) -> Result<Response, Status> {
    let Some((namespace, metric)) = namespace_and_metric(uri.path()) else {
        return Err(Status::bad_request(
            "the namespace or metric is not UTF-8 once percent-decoded",
        ));
    };
    let (namespace, metric) = (namespace.as_ref(), metric.as_ref());
    let query = uri.query().unwrap_or("");
    let key = uri.path_and_query().map_or(uri.path(), |pq| pq.as_str());
    let about = |status: Status| status.about(GROUP, metric, metric);
    check_namespace(namespace)
        .map_err(|why| about(Status::not_found(format!("namespace not found: {why}"))))?;
    let provider = &served.provider;
    let keep = query.len() <= MAX_KEPT_QUERY;
    if keep
        && let Some(kept) = provider.kept_version(metric)
        && let Some(rendered) = served.answers.get(key, &kept)
    {
        provider.served_again(metric);
        return Ok(rendered.respond(&headers));
    }
    // Taken before the answer is computed: see the module doc.
    let version = keep.then(|| provider.version(metric)).flatten();
    let Query(params) = Query::<HashMap<String, String>>::try_from_uri(&uri).map_err(
        |rejection: QueryRejection| {
            about(Status::bad_request(format!(
                "invalid query: {}",
                crate::series::clip(&rejection.to_string())
            )))
        },
    )?;
    let selector = Selector::parse(params.get("labelSelector").map_or("", String::as_str))
        .map_err(|why| about(Status::bad_request(format!("invalid labelSelector: {why}"))))?;
    let value = provider
        .get_external_metric(namespace, metric, &selector)
        .await?;
    let body = serde_json::to_vec(&json!({
        "kind": "ExternalMetricValueList",
        "apiVersion": GROUP_VERSION,
        "metadata": {},
        "items": [{
            "metricName": value.metric_name,
            "metricLabels": value.metric_labels,
            "timestamp": format_timestamp(value.timestamp),
            "value": quantity(value.value),
        }],
    }))
    .map_err(|e| {
        Status::new(
            axum::http::StatusCode::INTERNAL_SERVER_ERROR,
            "InternalError",
            format!("rendering the answer: {e}"),
        )
    })?;
    let rendered = Rendered::json(body);
    if let Some(version) = version
        && provider.version(metric).as_ref() == Some(&version)
    {
        served
            .answers
            .put(key.to_string(), version, rendered.clone());
    }
    Ok(rendered.respond(&headers))
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
    fn the_metric_path_is_split_and_percent_decoded_as_axum_would() {
        let path = |rest: &str| format!("{METRIC_PATH_PREFIX}{rest}");
        let plain = path("default/checkout-rps");
        let (namespace, metric) = namespace_and_metric(&plain).unwrap();
        assert_eq!(
            (namespace.as_ref(), metric.as_ref()),
            ("default", "checkout-rps")
        );
        assert!(
            matches!(namespace, Cow::Borrowed(_)),
            "no allocation without escapes"
        );
        let escaped = path("de%66ault/checkout%2Drps");
        let (namespace, metric) = namespace_and_metric(&escaped).unwrap();
        assert_eq!(
            (namespace.as_ref(), metric.as_ref()),
            ("default", "checkout-rps")
        );
        assert!(namespace_and_metric(&path("default/%FF")).is_none());
        assert!(namespace_and_metric("/apis/other/default/x").is_none());
    }

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
    fn unserved_metrics_are_named() {
        let labels = BTreeMap::from([("target".to_string(), "web".to_string())]);
        let selector = Selector::parse("env=prod").unwrap();
        let status = no_matching_series("web", &selector, &labels);
        assert_eq!(status.code, 404);
        assert!(
            status.message.contains("{target=web}"),
            "{}",
            status.message
        );
        assert_eq!(status.body()["details"]["name"], "web");
        let status = metric_not_found("nope", "no prescale target of that name");
        assert_eq!(
            status.message,
            "external metric \"nope\" not found: no prescale target of that name"
        );
    }
}
