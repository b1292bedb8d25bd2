//! The HTTP interface (axum): the REST API, the Kubernetes external metrics API, Prometheus
//! `/metrics` and the health probes, and — inside a cluster — the Kubernetes TLS port and the
//! KEDA external scaler.
//!
//! The application's own surfaces:
//! - [`rest`]: `/api/v1/...` — push samples, list series, forecasts, targets, plans;
//! - [`remote_write`]: `POST /api/v1/write`, the Prometheus remote_write receiver;
//! - [`metrics`]: `/metrics`, one registry of typed metric families (documented in
//!   `docs/metrics.md`) built from the engine, the request and ingest counters and the
//!   monitor's snapshot;
//! - [`health`]: `/healthz` and `/readyz`;
//! - [`auth`]: bearer tokens with roles on the plain port;
//! - [`provider`]: the value of an external metric now — the plan, or the fallback — for both
//!   the Kubernetes external metrics API and the KEDA scaler;
//! - [`keda`]: the KEDA external scaler over gRPC;
//! - [`cluster`]: the `serve` flags for running in a cluster, and the start of the TLS and KEDA
//!   ports.
//!
//! [`k8s`] is a kit for serving a Kubernetes aggregated API server (the external metrics API,
//! `Status` errors, OpenAPI, label selectors, the TLS port with front-proxy authentication, the
//! in-cluster settings); it knows nothing of the engine and is served over [`provider`].
//! [`connections`] serves both HTTP ports with bounds (connections, head and idle timeouts).
//! [`rendered`] keeps answers rendered once (the forecast's, the external metric's) as bytes
//! with an `ETag`.
//! [`state`] and [`error`] hold what the handlers share; [`wire_errors`] gives the refusals hyper
//! sends by itself (a request that does not parse) the same JSON shape. Dependencies point one way: this file
//! assembles the modules, and none of them reaches back into it.
//!
//! Handlers only read the engine's caches (and append to the store): no handler fits a model.
//! Errors are JSON `{"error": "..."}` with a 4xx status naming what was wrong (Kubernetes
//! paths answer with a Kubernetes `Status` object instead, as clients of that API expect);
//! [`error::JsonErrorsLayer`] gives axum's own refusals the same shape.

pub mod auth;
pub mod cluster;
pub mod connections;
pub mod error;
pub mod health;
pub mod k8s;
pub mod keda;
pub mod metrics;
pub mod provider;
pub mod remote_write;
pub mod rendered;
pub mod rest;
pub mod state;
pub mod wire_errors;

use axum::Router;

pub use error::ApiError;
pub use state::{ApiCounters, AppState};

/// The whole service's router (the plain HTTP port).
pub fn router(state: AppState) -> Router {
    let routes = Router::new()
        .merge(rest::routes())
        .merge(k8s::routes(provider::Provider::new(&state)))
        .merge(metrics::routes())
        .merge(health::routes())
        .merge(remote_write::routes());
    // Only where it refuses something: each layer costs every request (docs/metrics.md).
    let routes = if state.ingest.shared_store {
        routes.route_layer(axum::middleware::from_fn(refuse_local_writes))
    } else {
        routes
    };
    let routes = routes.fallback(|| async { ApiError::NotFound("no such endpoint".into()) });
    // Without tokens or cluster tokens every request is allowed (`Auth::check`): no layer.
    let routes = if state.auth.is_enabled() {
        routes.layer(axum::middleware::from_fn_with_state(
            state.auth.clone(),
            auth::authorize,
        ))
    } else {
        routes
    };
    routes.layer(error::JsonErrorsLayer).with_state(state)
}

/// With `[cluster] shared_store`, every write on the plain port (anything but `GET`/`HEAD`:
/// pushes, remote_write, targets and series changed) answers `409`, after authentication: it
/// would reach this replica alone, and the replicas sharing the store would drift apart.
async fn refuse_local_writes(
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    let read = matches!(
        *request.method(),
        axum::http::Method::GET | axum::http::Method::HEAD
    );
    if !read {
        return ApiError::Conflict(
            "this replica is one of several that pull one store ([cluster] shared_store), and a \
             write here would reach it alone: load goes to the store its [[sources]] pull from, \
             targets to the configuration every replica reads"
                .into(),
        )
        .into_response();
    }
    next.run(request).await
}
