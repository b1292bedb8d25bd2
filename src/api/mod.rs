//! The HTTP interface (axum): the REST API, the Kubernetes external metrics API, Prometheus
//! `/metrics` and the health probes.
//!
//! - [`rest`]: `/api/v1/...` — push samples, list series, forecasts, targets, plans;
//! - [`kube`]: `/apis/...` — discovery documents and `ExternalMetricValueList`s for the HPA;
//! - [`metrics`]: `/metrics` in the Prometheus text format;
//! - [`health`]: `/healthz` and `/readyz`.
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
            engine,
            committer,
            counters: Arc::default(),
        }
    }
}

/// The whole service's router.
pub fn router(state: AppState) -> Router {
    Router::new()
        .merge(rest::routes())
        .merge(kube::routes())
        .merge(metrics::routes())
        .merge(health::routes())
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
