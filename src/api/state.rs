//! What every handler shares: the engine, the group committer, the request counters, the
//! Prometheus ingest settings and the monitor.

use std::sync::Arc;
use std::sync::atomic::AtomicU64;

use tokio_util::task::TaskTracker;

use super::auth::Auth;
use super::error::ApiError;
use super::rendered::{self, RenderCache, Versioned};
use crate::collect::Ingest;
use crate::collect::commit::Committer;
use crate::engine::Engine;
use crate::live::ModelEntry;
use crate::monitor::Monitor;
use crate::series::SeriesKey;
use crate::store::{Store, StoreError};

/// What every handler shares.
#[derive(Clone)]
pub struct AppState {
    pub engine: Arc<Engine>,
    pub committer: Committer,
    pub counters: Arc<ApiCounters>,
    /// The remote_write allow-list, its counters and the pull sources' statuses.
    pub ingest: Arc<Ingest>,
    /// The snapshot of forecasts, errors, decisions and alerts `/metrics` serves.
    pub monitor: Arc<Monitor>,
    /// Who may do what on the plain port.
    pub auth: Arc<Auth>,
    /// Forecast answers per series and horizon (in seconds), as rendered from a model and the
    /// step they start at ([`crate::live::first_step`]).
    pub forecasts: Arc<ForecastAnswers>,
}

/// The forecast endpoint's rendered answers (see [`rendered`]).
pub type ForecastAnswers = RenderCache<(SeriesKey, i64), Versioned<ModelEntry, usize>>;

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
    /// State for `engine`; starts the group-commit task on `tasks`, so call it inside a tokio
    /// runtime.
    pub fn new(engine: Arc<Engine>, tasks: &TaskTracker) -> AppState {
        let committer = Committer::start(engine.store().clone(), tasks);
        AppState {
            monitor: Arc::new(Monitor::new(engine.clone(), None)),
            engine,
            committer,
            counters: Arc::default(),
            ingest: Arc::default(),
            auth: Arc::new(Auth::open()),
            forecasts: Arc::new(RenderCache::new(rendered::DEFAULT_BUDGET)),
        }
    }

    /// The same state with the Prometheus ingest settings and the monitor (with its alerts).
    pub fn with_monitoring(mut self, ingest: Arc<Ingest>, monitor: Arc<Monitor>) -> AppState {
        self.ingest = ingest;
        self.monitor = monitor;
        self
    }

    /// The same state with `auth`'s access rules on the plain port.
    pub fn with_auth(mut self, auth: Arc<Auth>) -> AppState {
        self.auth = auth;
        self
    }

    /// Runs `append` (a store write) on the blocking pool, then waits until the group commit
    /// has made it durable: the push API and remote_write answer `204` only after this.
    pub async fn append_durably<F>(&self, append: F) -> Result<usize, ApiError>
    where
        F: FnOnce(&Store) -> Result<usize, StoreError> + Send + 'static,
    {
        let store = self.engine.store().clone();
        let generation = self.committer.generation();
        let written = tokio::task::spawn_blocking(move || append(&store))
            .await
            .map_err(|e| ApiError::Internal(format!("worker failed: {e}")))?
            .map_err(|error| match error {
                StoreError::SeriesLimit { .. } => ApiError::LimitReached(error.to_string()),
                other => ApiError::Internal(other.to_string()),
            })?;
        self.committer
            .durable(generation)
            .await
            .map_err(|e| ApiError::Internal(format!("samples not durable: {e}")))?;
        Ok(written)
    }
}
