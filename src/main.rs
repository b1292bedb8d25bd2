//! The `prescale` command line: parses arguments and calls the library, nothing more.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use tokio::sync::watch;

use prescale::alerts::Alerts;
use prescale::api::cluster::ClusterOptions;
use prescale::api::{AppState, router};
use prescale::collect::Ingest;
use prescale::collect::import::import_dataset;
use prescale::collect::prometheus_pull::{PullStatus, Puller};
use prescale::config::{Config, DEFAULT_DATA_DIR, Overrides};
use prescale::engine::{Engine, runner};
use prescale::monitor::Monitor;
use prescale::series::{SeriesKey, format_timestamp};
use prescale::store::Store;

/// Predictive autoscaling: learn each service's traffic and scale before the load arrives.
#[derive(Parser)]
#[command(name = "prescale", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the service: REST API, Kubernetes external metrics API, /metrics.
    Serve {
        /// TOML configuration file (optional; see README.md for the keys).
        #[arg(long)]
        config: Option<PathBuf>,
        /// Address to listen on [default: 127.0.0.1:8080].
        #[arg(long)]
        listen: Option<SocketAddr>,
        /// sled data directory [default: ./data].
        #[arg(long)]
        data_dir: Option<PathBuf>,
        /// Load a bundled real trace as history ending now, replay its last week live, and
        /// define the target `demo` on it.
        #[arg(long)]
        demo: bool,
        // Kubernetes serving (issue 5): the TLS port, front-proxy authentication, KEDA.
        #[command(flatten)]
        cluster: ClusterOptions,
    },
    /// Serve a recorded trace as a live Prometheus metric at an accelerated clock (the
    /// docker-compose demo's workload): NAME_total, NAME_per_second on /metrics.
    Replay {
        /// A dataset CSV [default: the bundled NASA trace].
        #[arg(long)]
        dataset: Option<PathBuf>,
        /// Trace seconds per wall second (the trace step must be a multiple of it).
        #[arg(long, default_value_t = 12)]
        speed: i64,
        /// Address to serve /metrics on.
        #[arg(long, default_value = "127.0.0.1:9100")]
        listen: SocketAddr,
        /// Metric name prefix.
        #[arg(long, default_value = "demo_requests")]
        metric: String,
        /// Trace time before the live part (pushed as history with --push-history).
        #[arg(long, default_value = "7d")]
        history: prescale::series::Span,
        /// prescale's base URL: push the history there before serving.
        #[arg(long, requires = "history_series")]
        push_history: Option<String>,
        /// The series the history is pushed to.
        #[arg(long)]
        history_series: Option<String>,
    },
    /// Load a dataset CSV (`timestamp,value`) into the store as one series.
    Import {
        /// The CSV file.
        #[arg(long)]
        dataset: PathBuf,
        /// The series to write.
        #[arg(long)]
        series: String,
        /// sled data directory.
        #[arg(long, default_value = DEFAULT_DATA_DIR)]
        data_dir: PathBuf,
    },
}

fn main() -> std::process::ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let cli = Cli::parse();
    let outcome = match cli.command {
        Command::Serve {
            config,
            listen,
            data_dir,
            demo,
            cluster,
        } => serve(config, Overrides { listen, data_dir }, demo, cluster),
        Command::Import {
            dataset,
            series,
            data_dir,
        } => import(dataset, series, data_dir),
        Command::Replay {
            dataset,
            speed,
            listen,
            metric,
            history,
            push_history,
            history_series,
        } => history_series
            .map(SeriesKey::new)
            .transpose()
            .map_err(anyhow::Error::from)
            .and_then(|history_series| {
                replay(prescale::replay::ReplayOptions {
                    dataset,
                    speed,
                    listen,
                    metric,
                    history,
                    push_history,
                    history_series,
                })
            }),
    };
    match outcome {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("prescale: {error:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn open_store(dir: &std::path::Path) -> Result<Store> {
    Store::open(dir).with_context(|| {
        format!(
            "cannot open the store in {} (is another prescale using it?)",
            dir.display()
        )
    })
}

fn import(dataset: PathBuf, series: String, data_dir: PathBuf) -> Result<()> {
    let key = SeriesKey::new(series)?;
    let store = open_store(&data_dir)?;
    let report = import_dataset(&store, &dataset, &key)?;
    println!(
        "imported {} samples into {key} ({} .. {}, step {}s) in {}",
        report.samples,
        format_timestamp(report.first),
        format_timestamp(report.last),
        report.step,
        data_dir.display()
    );
    Ok(())
}

fn replay(options: prescale::replay::ReplayOptions) -> Result<()> {
    let runtime = tokio::runtime::Runtime::new().context("cannot start the async runtime")?;
    runtime.block_on(prescale::replay::run(options, signal()))?;
    Ok(())
}

fn serve(
    config: Option<PathBuf>,
    overrides: Overrides,
    demo: bool,
    cluster: ClusterOptions,
) -> Result<()> {
    let config = Config::load(config.as_deref(), overrides)?;
    let runtime = tokio::runtime::Runtime::new().context("cannot start the async runtime")?;
    runtime.block_on(run(config, demo, cluster))
}

async fn run(config: Config, demo: bool, cluster: ClusterOptions) -> Result<()> {
    let store = open_store(&config.data_dir)?;
    let engine = Arc::new(Engine::new(store.clone(), config.engine.clone())?);
    for (name, target) in &config.targets {
        engine
            .put_target(name, target.clone())
            .with_context(|| format!("target {name:?} from the config file"))?;
    }
    let (stop, shutdown) = watch::channel(false);
    if demo {
        let now = runner::system_now();
        let loader = store.clone();
        let (target, replay) =
            tokio::task::spawn_blocking(move || prescale::demo::load(&loader, now)).await??;
        engine.put_target(prescale::demo::DEMO_TARGET, target)?;
        tokio::spawn(prescale::demo::replay(
            store.clone(),
            replay,
            runner::system_now,
            shutdown.clone(),
        ));
        tracing::info!(
            series = prescale::demo::DEMO_SERIES,
            target = prescale::demo::DEMO_TARGET,
            "demo history loaded; its last week replays live"
        );
    }
    let loops = tokio::spawn(runner::run(engine.clone(), shutdown.clone()));
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .with_context(|| format!("cannot listen on {}", config.listen))?;
    // Prometheus in and out, alerts (issue 6): pull sources, the monitor and its alerts.
    let state = AppState::new(engine.clone());
    let ingest = prometheus_ingest(&config, &state, shutdown.clone());
    let alerts = Arc::new(Alerts::start(
        &config.alerts,
        config.engine.refit_interval,
        shutdown.clone(),
    ));
    let monitor = Arc::new(Monitor::new(engine.clone(), Some(alerts)));
    tokio::spawn(monitor.clone().run(runner::system_now, shutdown.clone()));
    let state = state.with_monitoring(ingest, monitor);
    // Kubernetes serving (issue 5): the TLS port and the KEDA scaler, beside the plain port.
    prescale::api::cluster::start(&cluster, state.clone(), shutdown.clone())
        .await
        .context("cannot start the Kubernetes ports")?;
    tracing::info!(
        listen = %listener.local_addr()?,
        data_dir = %config.data_dir.display(),
        targets = engine.targets().len(),
        "prescale serving"
    );
    axum::serve(listener, router(state))
        .with_graceful_shutdown(signal())
        .await
        .context("HTTP server failed")?;
    tracing::info!("shutting down: stopping the engine and flushing the store");
    let _ = stop.send(true);
    let _ = loops.await;
    tokio::task::spawn_blocking(move || store.flush()).await??;
    Ok(())
}

/// The remote_write settings, and one task per `[[sources]]` entry.
fn prometheus_ingest(
    config: &Config,
    state: &AppState,
    shutdown: watch::Receiver<bool>,
) -> Arc<Ingest> {
    if config.remote_write.allow.is_empty() {
        tracing::info!(
            "remote_write (POST /api/v1/write) keeps no metric until [remote_write] allow names some"
        );
    }
    let mut pulls = Vec::new();
    for source in &config.sources {
        let status = Arc::new(PullStatus::new(source.series.clone()));
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
        tokio::spawn(puller.run(shutdown.clone()));
    }
    Arc::new(Ingest {
        remote_write: config.remote_write.clone(),
        remote_write_counters: Default::default(),
        pulls,
    })
}

/// Resolves on SIGTERM (Kubernetes stopping the pod) or Ctrl-C.
async fn signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {}
        _ = term => {}
    }
}
