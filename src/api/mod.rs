//! The HTTP interface (axum): the REST API, the Kubernetes external metrics API, Prometheus
//! `/metrics` and the health probes.
//!
//! - [`rest`]: `/api/v1/...` — push samples, list series, forecasts, targets, plans;
//! - [`kube`]: `/apis/...` — discovery documents and `ExternalMetricValueList`s for the HPA;
//! - [`metrics`]: `/metrics` in the Prometheus text format;
//! - [`health`]: `/healthz` and `/readyz`;
//! - [`remote_write`]: `POST /api/v1/write`, the Prometheus remote_write receiver;
//! - [`monitor_metrics`]: the forecast, error, decision, model, ingest and alert families of
//!   `/metrics` (documented in `docs/metrics.md`).
//!
//! Inside a Kubernetes cluster (issue 5) — [`cluster`] holds the flags and starts these:
//! - [`secure`]: the TLS port serving the Kubernetes paths to the API aggregation layer, with
//!   certificates from [`tls`] (files reloaded on change, or self-signed) and front-proxy
//!   client-certificate authentication in [`frontproxy`] (its CA read from the cluster by
//!   [`incluster`]);
//! - [`selector`]: Kubernetes label selectors (`?labelSelector=`), parsed as Kubernetes does;
//! - [`openapi`]: `/openapi/v2` and `/openapi/v3` for the aggregator;
//! - [`keda`]: the KEDA external scaler over gRPC.
//!
//! Handlers only read the engine's caches (and append to the store): no handler fits a model.
//! Errors are JSON `{"error": "..."}` with a 4xx status naming what was wrong (Kubernetes
//! paths answer with a Kubernetes `Status` object instead, as clients of that API expect).

pub mod health;
pub mod kube;
pub mod metrics;
pub mod monitor_metrics;
pub mod remote_write;
pub mod rest;
// Kubernetes serving (issue 5).
pub mod cluster;
pub mod frontproxy;
pub mod incluster;
pub mod keda;
pub mod openapi;
pub mod secure;
pub mod selector;
pub mod tls;

use std::sync::Arc;
use std::sync::atomic::AtomicU64;

use axum::Json;
use axum::Router;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use crate::collect::commit::Committer;
use crate::engine::Engine;

/// What every handler shares.
#[derive(Clone)]
pub struct AppState {
    pub engine: Arc<Engine>,
    pub committer: Committer,
    pub counters: Arc<ApiCounters>,
    // Prometheus in and out (issue 6): the remote_write allow-list, ingest counters and pull
    // statuses; the monitor's snapshot of forecasts, errors, decisions and alerts.
    pub ingest: Arc<crate::collect::Ingest>,
    pub monitor: Arc<crate::monitor::Monitor>,
}

/// Request counters shown by `/metrics`.
#[derive(Debug, Default)]
pub struct ApiCounters {
    pub samples_ingested: AtomicU64,
    pub batches_accepted: AtomicU64,
    pub batches_rejected: AtomicU64,
    pub external_metric_reads: AtomicU64,
    pub external_metric_fallbacks: AtomicU64,
}

impl AppState {
    /// State for `engine`; starts the group-commit task, so call it inside a tokio runtime.
    pub fn new(engine: Arc<Engine>) -> AppState {
        let committer = Committer::start(engine.store().clone());
        AppState {
            monitor: Arc::new(crate::monitor::Monitor::new(engine.clone(), None)),
            engine,
            committer,
            counters: Arc::default(),
            ingest: Arc::default(),
        }
    }

    /// The same state with the Prometheus ingest settings and the monitor (issue 6).
    pub fn with_monitoring(
        mut self,
        ingest: Arc<crate::collect::Ingest>,
        monitor: Arc<crate::monitor::Monitor>,
    ) -> AppState {
        self.ingest = ingest;
        self.monitor = monitor;
        self
    }
}

/// The whole service's router.
pub fn router(state: AppState) -> Router {
    Router::new()
        .merge(rest::routes())
        .merge(kube::routes())
        .merge(metrics::routes())
        .merge(health::routes())
        .merge(remote_write::routes())
        .fallback(|| async { ApiError::NotFound("no such endpoint".into()) })
        .with_state(state)
}

/// An error answered as `{"error": message}` with its status.
#[derive(Debug)]
pub enum ApiError {
    BadRequest(String),
    NotFound(String),
    PayloadTooLarge(String),
    Unavailable(String),
    Internal(String),
}

impl ApiError {
    fn status(&self) -> StatusCode {
        match self {
            ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        let (ApiError::BadRequest(message)
        | ApiError::NotFound(message)
        | ApiError::PayloadTooLarge(message)
        | ApiError::Unavailable(message)
        | ApiError::Internal(message)) = self;
        if status.is_server_error() {
            tracing::error!(%status, %message, "request failed");
        }
        (status, Json(serde_json::json!({ "error": message }))).into_response()
    }
}

/// Reads a request body of at most `limit` bytes; `advice` ends the 413 message (what the
/// client should do instead).
///
/// A declared `Content-Length` over the limit is refused before a byte of the body is read:
/// answering at once, instead of reading up to the limit and then cutting the upload off, lets
/// the client see the `413` rather than a connection reset in the middle of its upload. A body
/// without a declared length is cut at the limit while it is read.
pub async fn read_body(
    headers: &axum::http::HeaderMap,
    body: axum::body::Body,
    limit: usize,
    advice: &str,
) -> Result<axum::body::Bytes, ApiError> {
    let too_large =
        || ApiError::PayloadTooLarge(format!("body larger than {limit} bytes: {advice}"));
    let declared = headers
        .get(axum::http::header::CONTENT_LENGTH)
        .and_then(|value| value.to_str().ok())
        .and_then(|text| text.parse::<u64>().ok());
    if declared.is_some_and(|length| length > limit as u64) {
        return Err(too_large());
    }
    axum::body::to_bytes(body, limit).await.map_err(|error| {
        // `to_bytes` reports an exceeded limit as a `LengthLimitError` source.
        let over = std::error::Error::source(&error)
            .is_some_and(|source| source.is::<http_body_util::LengthLimitError>());
        if over {
            too_large()
        } else {
            ApiError::BadRequest(format!("could not read the request body: {error}"))
        }
    })
}

/// Runs blocking store work on the blocking pool and flattens its errors into [`ApiError`].
async fn blocking<T, E, F>(work: F) -> Result<T, ApiError>
where
    F: FnOnce() -> Result<T, E> + Send + 'static,
    T: Send + 'static,
    E: std::fmt::Display + Send + 'static,
{
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| ApiError::Internal(format!("worker failed: {e}")))?
        .map_err(|e| ApiError::Internal(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Body;
    use axum::http::{HeaderMap, HeaderValue, header};

    #[tokio::test]
    async fn bodies_over_the_limit_are_413_declared_or_not() {
        let undeclared = read_body(
            &HeaderMap::new(),
            Body::from(vec![0u8; 100]),
            10,
            "split it",
        )
        .await;
        match undeclared {
            Err(ApiError::PayloadTooLarge(message)) => assert!(message.contains("split it")),
            other => panic!("expected 413, got {other:?}"),
        }
        let mut headers = HeaderMap::new();
        headers.insert(header::CONTENT_LENGTH, HeaderValue::from_static("1000000"));
        // The declared length alone decides: the (short) body is never read.
        let declared = read_body(&headers, Body::from(vec![0u8; 5]), 10, "x").await;
        assert!(matches!(declared, Err(ApiError::PayloadTooLarge(_))));
        let fine = read_body(&HeaderMap::new(), Body::from(vec![7u8; 10]), 10, "x").await;
        assert_eq!(fine.unwrap().len(), 10);
    }
}
