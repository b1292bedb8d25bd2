//! The `prescale` command line: parses arguments and calls the library, nothing more.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use tokio::sync::watch;

use prescale::api::cluster::ClusterOptions;
use prescale::api::{AppState, router};
use prescale::collect::import::import_dataset;
use prescale::config::{Config, DEFAULT_DATA_DIR, Overrides};
use prescale::engine::{Engine, runner};
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
    let state = AppState::new(engine.clone());
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
