//! The running service, as one value: [`Service::start`] opens the store, builds the engine,
//! binds the listeners and spawns every background task; [`Running::shutdown`] stops them all,
//! awaits them and flushes the store.
//!
//! Every task is spawned on one [`TaskTracker`] and watches one [`CancellationToken`], as
//! mini-redis hands its `Shutdown` to every connection: cancelling the token asks each task
//! to stop at its next wait (the HTTP servers stop accepting and finish the requests in
//! flight), and waiting on the tracker proves that they all did before the store is flushed.
//! When [`Running::shutdown`] returns, nothing holds the store any more, so the same process
//! can open it again (`tests/app.rs` does).
//!
//! The tasks: the engine's refit and re-plan loops, the monitor, one delivery task per alert
//! receiver, one pull per Prometheus source, the demo's replay (with `--demo`), the group
//! commit, the store's repair after a write error ([`repair_store`]), the plain HTTP port, and
//! the Kubernetes TLS port and KEDA scaler with their helpers ([`crate::api::cluster`]).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use tokio::net::TcpListener;
use tokio::task::{JoinError, JoinHandle};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::alerts::Alerts;
use crate::api::auth::{Auth, AuthError};
use crate::api::cluster::{self, ClusterError, ClusterOptions, ClusterPorts};
use crate::api::connections;
use crate::api::{AppState, router};
use crate::collect::Ingest;
use crate::collect::prometheus_pull::{PullStatus, Puller, SourceConfig};
use crate::collect::replica_memory::MemoryQuery;
use crate::config::Config;
use crate::engine::{Engine, EngineError, runner};
use crate::monitor::Monitor;
use crate::series::format_timestamp;
use crate::store::{Store, StoreError, StoreOptions};

/// Why the service could not start, or did not stop cleanly.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error("cannot open the store in {}: {why}", .path.display())]
    Store {
        path: PathBuf,
        /// The likely cause, in words: the disk is full, another process holds it, or see the
        /// source.
        why: &'static str,
        #[source]
        source: StoreError,
    },
    #[error("target {name:?} from the config file")]
    Target {
        name: String,
        #[source]
        source: EngineError,
    },
    #[error("cannot listen on {address}")]
    Listen {
        address: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Auth(AuthError),
    #[error("cannot start the Kubernetes ports")]
    Cluster(#[source] ClusterError),
    #[error("HTTP server failed")]
    Http(#[source] std::io::Error),
    #[error(transparent)]
    Engine(#[from] EngineError),
    /// Writing the demo history, or the final flush.
    #[error(transparent)]
    Storage(#[from] StoreError),
    #[error(transparent)]
    Io(#[from] std::io::Error),
    /// A task the start or the shutdown waited on panicked.
    #[error(transparent)]
    Task(#[from] JoinError),
}

/// What `serve`'s flags add to the [`Config`].
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// `--demo`: the bundled trace as history ending now, its last week replayed live, and
    /// the target `demo` on it.
    pub demo: bool,
    /// The Kubernetes TLS port and the KEDA scaler.
    pub cluster: ClusterOptions,
}

/// Starts the service; see [`Service::start`].
pub struct Service;

/// A started service: its bound addresses, and the means to stop it.
///
/// Dropping it without [`shutdown`](Running::shutdown) or [`wait`](Running::wait) leaves the
/// tasks running on the runtime until the runtime itself goes.
pub struct Running {
    /// The plain HTTP port (a port of `0` in the config resolved).
    pub listen: SocketAddr,
    /// The Kubernetes TLS port and the KEDA port, where they are on.
    pub cluster: ClusterPorts,
    token: CancellationToken,
    tasks: TaskTracker,
    /// The plain HTTP port's task, whose end (graceful or failed) ends the service.
    http: JoinHandle<std::io::Result<()>>,
    store: Store,
}

impl Service {
    /// Opens the store in `config.data_dir`, builds the engine (the config's targets and model
    /// files in it), binds the ports and spawns every background task, on the current tokio
    /// runtime. A start that fails half-way stops what it had started before returning the
    /// error, so the store is released.
    pub async fn start(config: Config, options: Options) -> Result<Running, AppError> {
        let token = CancellationToken::new();
        let tasks = TaskTracker::new();
        match launch(&config, options, &token, &tasks).await {
            Ok(running) => Ok(running),
            Err(error) => {
                token.cancel();
                tasks.close();
                tasks.wait().await;
                Err(error)
            }
        }
    }
}

impl Running {
    /// The token every task watches: cancelling it (a signal handler, another task) stops the
    /// service as [`shutdown`](Running::shutdown) does. It is cancelled, too, when the plain
    /// HTTP port stops by itself.
    pub fn token(&self) -> CancellationToken {
        self.token.clone()
    }

    /// The service's store (a handle on the same database).
    pub fn store(&self) -> Store {
        self.store.clone()
    }

    /// Stops the service: cancels the token, then [`wait`](Running::wait)s.
    pub async fn shutdown(self) -> Result<(), AppError> {
        self.token.cancel();
        self.wait().await
    }

    /// Runs until the token is cancelled (or the plain HTTP port fails), then awaits every
    /// task and flushes the store. Errors: the HTTP port's failure, a task that panicked, a
    /// failed flush.
    pub async fn wait(self) -> Result<(), AppError> {
        let served = self.http.await;
        tracing::info!("shutting down: stopping the engine and flushing the store");
        self.token.cancel();
        self.tasks.close();
        self.tasks.wait().await;
        let store = self.store;
        tokio::task::spawn_blocking(move || store.flush()).await??;
        served?.map_err(AppError::Http)
    }
}

/// Opens the store in `dir`, naming the directory and the likely cause when it cannot.
pub fn open_store(dir: &Path) -> Result<Store, AppError> {
    open_store_with(dir, StoreOptions::default())
}

/// [`open_store`] with `options`.
pub fn open_store_with(dir: &Path, options: StoreOptions) -> Result<Store, AppError> {
    Store::open_with(dir, options).map_err(|source| AppError::Store {
        path: dir.to_path_buf(),
        why: if source.is_disk_full() {
            "the disk is full: free space on the device that holds it"
        } else if source.is_locked() {
            "another process holds its lock (is another prescale using it?)"
        } else if source.is_corrupt() {
            "its files are damaged (sled cannot verify its log, so nothing in it can be read): \
             restore the directory from a backup, or move it aside to start empty"
        } else {
            "the cause follows"
        },
        source,
    })
}

/// How often a store out of service tries to repair itself, at first and at most: the wait
/// doubles after each failed try, so a disk that stays full costs one reopen every 30 s.
const REPAIR_FIRST_WAIT: std::time::Duration = std::time::Duration::from_secs(1);
const REPAIR_LONGEST_WAIT: std::time::Duration = std::time::Duration::from_secs(30);

/// Watches the store and, after a write error (a full disk, an I/O error) has put it out of
/// service, repairs it: reopens it as after a crash once the cause is gone, so writes succeed
/// again without a restart. `/readyz` says not ready meanwhile (see `Engine::readiness`).
pub async fn repair_store(store: Store, token: CancellationToken) {
    let mut wait = REPAIR_FIRST_WAIT;
    loop {
        tokio::select! {
            biased;
            () = token.cancelled() => return,
            () = tokio::time::sleep(wait) => {}
        }
        let Some(failure) = store.failure() else {
            wait = REPAIR_FIRST_WAIT;
            continue;
        };
        let repairing = store.clone();
        match tokio::task::spawn_blocking(move || repairing.repair()).await {
            Ok(Ok(())) => {
                tracing::warn!(%failure, "store repaired after a write error: writes are accepted again");
                wait = REPAIR_FIRST_WAIT;
            }
            Ok(Err(error)) => {
                tracing::error!(%error, retry_in = ?wait, "store still out of service");
                wait = (wait * 2).min(REPAIR_LONGEST_WAIT);
            }
            Err(error) => tracing::error!(%error, "store repair task failed"),
        }
    }
}

/// Everything [`Service::start`] does, spawning on `tasks` and stopping on `token`.
async fn launch(
    config: &Config,
    options: Options,
    token: &CancellationToken,
    tasks: &TaskTracker,
) -> Result<Running, AppError> {
    let auth = Arc::new(Auth::load(&config.auth).map_err(AppError::Auth)?);
    let store = open_store_with(
        &config.data_dir,
        StoreOptions {
            max_series: config.max_series,
            ..StoreOptions::default()
        },
    )?;
    let engine = Arc::new(Engine::new(store.clone(), config.engine.clone())?);
    for (name, target) in &config.targets {
        engine
            .put_target(name, target.clone())
            .map_err(|source| AppError::Target {
                name: name.clone(),
                source,
            })?;
    }
    seed_models(&engine, config);
    if options.demo {
        start_demo(&engine, &store, token, tasks).await?;
    }
    tasks.spawn(runner::run(engine.clone(), token.clone()));
    tasks.spawn(repair_store(store.clone(), token.clone()));
    let listener = TcpListener::bind(config.listen)
        .await
        .map_err(|source| AppError::Listen {
            address: config.listen,
            source,
        })?;
    // Prometheus in and out, alerts: pull sources, the monitor and its alerts.
    let state = AppState::new(engine.clone(), tasks);
    let ingest = prometheus_ingest(config, &state, token, tasks);
    let alerts = Alerts::start(&config.alerts, config.engine.refit_interval, token, tasks);
    let monitor = Arc::new(Monitor::new(engine.clone(), Some(Arc::new(alerts))));
    tasks.spawn(monitor.clone().run(runner::system_now, token.clone()));
    let state = state
        .with_monitoring(ingest, monitor)
        .with_auth(auth.clone());
    if auth.is_enabled() {
        tasks.spawn(crate::api::auth::watch(auth, token.clone()));
    } else if !config.listen.ip().is_loopback() {
        tracing::warn!(
            listen = %config.listen,
            "serving beyond loopback WITHOUT authentication (--allow-unauthenticated): anyone \
             who reaches this port can push samples and change targets"
        );
    }
    // Kubernetes serving: the TLS port and the KEDA scaler, beside the plain port.
    let cluster = cluster::start(
        &options.cluster,
        state.clone(),
        config.connections,
        token,
        tasks,
    )
    .await
    .map_err(AppError::Cluster)?;
    let listen = listener.local_addr()?;
    tracing::info!(
        listen = %listen,
        data_dir = %config.data_dir.display(),
        targets = engine.targets().len(),
        "prescale serving"
    );
    let stop = token.clone();
    let (settings, tracker) = (config.connections, tasks.clone());
    let http = tasks.spawn(async move {
        let listener = crate::api::wire_errors::JsonErrorListener(listener);
        connections::serve(
            listener,
            router(state),
            settings,
            "http",
            stop.clone(),
            tracker,
        )
        .await;
        stop.cancel();
        Ok(())
    });
    Ok(Running {
        listen,
        cluster,
        token: token.clone(),
        tasks: tasks.clone(),
        http,
        store,
    })
}

/// Starts the config's `[model_files]` series from their files.
fn seed_models(engine: &Engine, config: &Config) {
    let started = runner::system_now();
    for seed in &config.model_files {
        let usable = engine.seed_model(&seed.series, &seed.file, started);
        let file = &seed.file;
        tracing::info!(
            series = %seed.series,
            file = %seed.path.display(),
            model = %file.chosen.model,
            trained_until = %format_timestamp(file.training.to),
            "series starts from its model file"
        );
        if !usable {
            tracing::warn!(
                series = %seed.series,
                file = %seed.path.display(),
                "the model's training data ends too long ago to forecast from now; the series \
                 has forecasts once it is refitted on fresh samples"
            );
        }
    }
}

/// `--demo`: writes the demo history, defines the demo target and spawns the live replay.
async fn start_demo(
    engine: &Engine,
    store: &Store,
    token: &CancellationToken,
    tasks: &TaskTracker,
) -> Result<(), AppError> {
    let now = runner::system_now();
    let loader = store.clone();
    let (target, replay) =
        tokio::task::spawn_blocking(move || crate::demo::load(&loader, now)).await??;
    engine.put_target(crate::demo::DEMO_TARGET, target)?;
    tasks.spawn(crate::demo::replay(
        store.clone(),
        replay,
        runner::system_now,
        token.clone(),
    ));
    tracing::info!(
        series = crate::demo::DEMO_SERIES,
        target = crate::demo::DEMO_TARGET,
        "demo history loaded; its last week replays live"
    );
    Ok(())
}

/// One target's memory to take back from the store its series is pulled from.
struct MemoryJob {
    query: MemoryQuery,
    source: SourceConfig,
}

/// The targets of the config whose series a source pulls, each with that source.
fn shared_memory_jobs(config: &Config) -> Vec<MemoryJob> {
    config
        .targets
        .iter()
        .filter_map(|(name, target)| {
            let source = config.sources.iter().find(|s| s.series == target.series)?;
            Some(MemoryJob {
                query: MemoryQuery {
                    target: name.clone(),
                    window: target.scale_down_stabilization.seconds(),
                    step: config.engine.replan_interval.seconds(),
                    slo: target.slo.is_some(),
                    matchers: config.cluster.memory_matchers.clone(),
                },
                source: source.clone(),
            })
        })
        .collect()
}

/// Reads back every job's memory at once ([`MemoryQuery::read_back`]) and seeds the target's
/// planner with it. A store that does not answer is logged: the replica starts as a fresh one
/// would.
async fn restore_shared_memory(engine: Arc<Engine>, jobs: Vec<MemoryJob>) {
    let mut running = tokio::task::JoinSet::new();
    for MemoryJob { query, source } in jobs {
        let engine = engine.clone();
        running.spawn(async move {
            let memory = match source.client() {
                Ok(client) => query
                    .read_back(&source, &client, runner::system_now())
                    .await
                    .map_err(|e| e.to_string()),
                Err(error) => Err(error),
            };
            match memory {
                Ok(memory) => {
                    let peak = memory.recommendations.iter().map(|r| r.1).reduce(f64::max);
                    tracing::info!(target_name = %query.target, points = memory.recommendations.len(), peak = ?peak, headroom = ?memory.headroom, "took back the replicas' memory from the store");
                    engine.seed_planner(&query.target, &memory.recommendations, memory.headroom);
                }
                Err(error) => {
                    tracing::warn!(target_name = %query.target, %error, "cannot read the replicas' memory from the store; starting afresh");
                }
            }
        });
    }
    while running.join_next().await.is_some() {}
}

/// The remote_write settings, and one pull task per `[[sources]]` entry.
fn prometheus_ingest(
    config: &Config,
    state: &AppState,
    token: &CancellationToken,
    tasks: &TaskTracker,
) -> Arc<Ingest> {
    if config.remote_write.allow.is_empty() {
        tracing::info!(
            "remote_write (POST /api/v1/write) keeps no metric until [remote_write] allow names some"
        );
    }
    let mut pulls = Vec::new();
    let mut pullers = Vec::new();
    for source in &config.sources {
        let status = Arc::new(PullStatus::for_source(source));
        pulls.push(status.clone());
        let puller = Puller {
            source: source.clone(),
            status,
            store: state.engine.store().clone(),
            committer: state.committer.clone(),
            default_backfill: config.engine.train_window,
            now: runner::system_now,
        };
        tracing::info!(source = %source.series, url = %source.url, query = %source.query, "Prometheus pull source");
        pullers.push(puller);
    }
    // Replicas over one store first take back what the others remember (their stabilization
    // windows and headroom, from the store), then pull: no plan is made before the history is
    // in, so none is made before the memory is back.
    let restore = config
        .cluster
        .shared_store
        .then(|| shared_memory_jobs(config));
    let (engine, tasks_inner, token_inner) = (state.engine.clone(), tasks.clone(), token.clone());
    tasks.spawn(async move {
        if let Some(jobs) = restore {
            restore_shared_memory(engine, jobs).await;
        }
        for puller in pullers {
            tasks_inner.spawn(puller.run(token_inner.clone()));
        }
    });
    Arc::new(Ingest {
        remote_write: config.remote_write.clone(),
        remote_write_counters: Default::default(),
        pulls,
        shared_store: config.cluster.shared_store,
    })
}
