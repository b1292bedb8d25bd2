//! `/openapi/v2` and `/openapi/v3`: minimal but valid OpenAPI documents for the external metrics
//! API, because the kube-apiserver's aggregator downloads them from every aggregated API server
//! (and logs errors, or marks the spec as failed, when they are missing or do not parse), and
//! `kubectl explain` reads them.
//!
//! They describe the one resource path prescale serves,
//! `/apis/external.metrics.k8s.io/v1beta1/namespaces/{namespace}/{name}`, and the
//! `ExternalMetricValueList` it answers, under the definition names the Kubernetes metrics API
//! types use. The documents do not depend on the targets (the metric name is a path parameter),
//! so they are built once. `/openapi/v3` is the index the aggregator reads first: it names the
//! group-version document with a content hash, as Kubernetes API servers do.

use std::sync::LazyLock;

use axum::Router;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::{Value, json};

use super::external::{GROUP, VERSION};
use super::status::Status;

const LIST: &str = "io.k8s.metrics.pkg.apis.external_metrics.v1beta1.ExternalMetricValueList";
const VALUE: &str = "io.k8s.metrics.pkg.apis.external_metrics.v1beta1.ExternalMetricValue";
const LIST_META: &str = "io.k8s.apimachinery.pkg.apis.meta.v1.ListMeta";
const METRIC_PATH: &str = "/apis/external.metrics.k8s.io/v1beta1/namespaces/{namespace}/{name}";
/// Where the v3 group-version document lives (relative to `/openapi/v3/`).
pub const V3_GROUP_VERSION_PATH: &str = "apis/external.metrics.k8s.io/v1beta1";

pub fn routes<S: Clone + Send + Sync + 'static>() -> Router<S> {
    Router::new()
        .route("/openapi/v2", get(|| async { json_document(&V2) }))
        .route("/openapi/v3", get(|| async { json_document(&V3_INDEX) }))
        .route(
            "/openapi/v3/apis/external.metrics.k8s.io/v1beta1",
            get(|| async { json_document(&V3) }),
        )
        .route(
            "/openapi/{*rest}",
            get(|| async {
                Status::not_found(
                    "no such OpenAPI document: prescale serves /openapi/v2, /openapi/v3 and \
                     /openapi/v3/apis/external.metrics.k8s.io/v1beta1",
                )
            }),
        )
}

fn json_document(document: &Value) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        document.to_string(),
    )
        .into_response()
}

fn group_version_kind() -> Value {
    json!({ "group": GROUP, "kind": "ExternalMetricValueList", "version": VERSION })
}

/// The schemas, with `$ref`s rooted at `prefix` (`#/definitions/` or `#/components/schemas/`).
fn schemas(prefix: &str) -> Value {
    json!({
        LIST: {
            "description": "A list of external metric values for one metric name: prescale \
                            answers a target's planned replicas (or planned load) for now + \
                            its lead time.",
            "type": "object",
            "required": ["items"],
            "properties": {
                "apiVersion": { "type": "string", "description": "external.metrics.k8s.io/v1beta1" },
                "kind": { "type": "string", "description": "ExternalMetricValueList" },
                "metadata": { "$ref": format!("{prefix}{LIST_META}") },
                "items": {
                    "type": "array",
                    "description": "The metric's values; prescale always answers exactly one.",
                    "items": { "$ref": format!("{prefix}{VALUE}") },
                },
            },
            "x-kubernetes-group-version-kind": [group_version_kind()],
        },
        VALUE: {
            "description": "One external metric value, with the labels it was selected by.",
            "type": "object",
            "required": ["metricName", "metricLabels", "timestamp", "value"],
            "properties": {
                "metricName": { "type": "string", "description": "The prescale target's name." },
                "metricLabels": {
                    "type": "object",
                    "description": "The target's label set: target=NAME and its labels.",
                    "additionalProperties": { "type": "string" },
                },
                "timestamp": { "type": "string", "format": "date-time" },
                "window": { "type": "integer", "format": "int64" },
                "value": {
                    "type": "string",
                    "description": "A Kubernetes quantity, e.g. 12 or 1500m.",
                },
            },
        },
        LIST_META: {
            "description": "Standard list metadata.",
            "type": "object",
            "properties": {
                "resourceVersion": { "type": "string" },
                "selfLink": { "type": "string" },
                "continue": { "type": "string" },
            },
        },
    })
}

/// The GET operation on [`METRIC_PATH`], in both versions: `parameters` and the `200` answer
/// are written as each version spells them, the rest is shared.
fn operation(parameters: Value, ok: Value) -> Value {
    json!({
        "description": "read the external metric: a prescale target's planned value",
        "operationId": "readNamespacedExternalMetricValue",
        "tags": ["externalMetrics_v1beta1"],
        "parameters": parameters,
        "responses": {
            "200": ok,
            "400": { "description": "BadRequest: the label selector does not parse" },
            "401": { "description": "Unauthorized" },
            "404": { "description": "NotFound: no such target, namespace or label set" },
        },
    })
}

fn info() -> Value {
    json!({ "title": "prescale external metrics", "version": env!("CARGO_PKG_VERSION") })
}

/// Swagger 2.0, as `/openapi/v2` is served by every Kubernetes API server.
static V2: LazyLock<Value> = LazyLock::new(|| {
    let mut get = operation(
        json!([
            { "name": "namespace", "in": "path", "required": true, "type": "string",
              "description": "The HPA's namespace." },
            { "name": "name", "in": "path", "required": true, "type": "string",
              "description": "The metric name: a prescale target." },
            { "name": "labelSelector", "in": "query", "type": "string", "uniqueItems": true,
              "description": "A Kubernetes label selector matched against the target's label \
                              set." },
        ]),
        json!({ "description": "OK", "schema": { "$ref": format!("#/definitions/{LIST}") } }),
    );
    get["consumes"] = json!(["*/*"]);
    get["produces"] = json!(["application/json"]);
    get["schemes"] = json!(["https"]);
    get["x-kubernetes-action"] = json!("get");
    get["x-kubernetes-group-version-kind"] = group_version_kind();
    json!({
        "swagger": "2.0",
        "info": info(),
        "paths": { METRIC_PATH: { "get": get } },
        "definitions": schemas("#/definitions/"),
    })
});

/// OpenAPI 3.0 for the `external.metrics.k8s.io/v1beta1` group-version.
static V3: LazyLock<Value> = LazyLock::new(|| {
    let string = json!({ "type": "string" });
    let get = operation(
        json!([
            { "name": "namespace", "in": "path", "required": true, "schema": string },
            { "name": "name", "in": "path", "required": true, "schema": string },
            { "name": "labelSelector", "in": "query", "schema": string },
        ]),
        json!({
            "description": "OK",
            "content": { "application/json": {
                "schema": { "$ref": format!("#/components/schemas/{LIST}") },
            } },
        }),
    );
    json!({
        "openapi": "3.0.0",
        "info": info(),
        "paths": { METRIC_PATH: { "get": get } },
        "components": { "schemas": schemas("#/components/schemas/") },
    })
});

/// The `/openapi/v3` index: each group-version's document with a hash of its content, so the
/// aggregator re-downloads only what changed.
static V3_INDEX: LazyLock<Value> = LazyLock::new(|| {
    let hash = fnv1a(V3.to_string().as_bytes());
    json!({
        "paths": {
            V3_GROUP_VERSION_PATH: {
                "serverRelativeURL": format!("/openapi/v3/{V3_GROUP_VERSION_PATH}?hash={hash:016X}"),
            },
        },
    })
});

/// FNV-1a, 64 bits: a stable content hash (the std hasher's output may change between Rust
/// releases, and the value is only a cache key).
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, &b| {
        (hash ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// The documents, for tests that validate them with an OpenAPI validator.
pub fn documents() -> [(&'static str, &'static Value); 3] {
    [("v2", &V2), ("v3", &V3), ("v3-index", &V3_INDEX)]
}

#[cfg(test)]
mod tests {
    use super::super::external::GROUP_VERSION;
    use super::*;

    #[test]
    fn documents_reference_only_what_they_define() {
        for (name, document) in documents() {
            let text = document.to_string();
            for reference in text.split("\"$ref\":\"").skip(1) {
                let target = &reference[..reference.find('"').unwrap()];
                let pointer = target.trim_start_matches('#');
                assert!(
                    document.pointer(pointer).is_some(),
                    "{name}: dangling $ref {target}"
                );
            }
        }
        assert_eq!(V2["swagger"], "2.0");
        assert_eq!(V3["openapi"], "3.0.0");
        let url = V3_INDEX["paths"][V3_GROUP_VERSION_PATH]["serverRelativeURL"]
            .as_str()
            .unwrap();
        assert!(url.starts_with("/openapi/v3/apis/external.metrics.k8s.io/v1beta1?hash="));
        assert_eq!(GROUP_VERSION, "external.metrics.k8s.io/v1beta1");
    }

    #[test]
    fn the_hash_is_stable() {
        assert_eq!(fnv1a(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a(b"a"), 0xaf63_dc4c_8601_ec8c);
    }
}
