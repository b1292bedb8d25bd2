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
//! Handlers only read the engine's caches (and append to the store): no handler fits a model.
//! Errors are JSON `{"error": "..."}` with a 4xx status naming what was wrong (Kubernetes
//! paths answer with a Kubernetes `Status` object instead, as clients of that API expect).

pub mod health;
pub mod kube;
pub mod metrics;
pub mod monitor_metrics;
pub mod remote_write;
pub mod rest;

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
