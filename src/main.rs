//! The `prescale` command line: parses arguments and calls the library, nothing more.

use std::io::IsTerminal;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};

use prescale::api::cluster::ClusterOptions;
use prescale::app::{Options, Service, open_store};
use prescale::backtest::{self, Capacity, Outcome, Stage};
use prescale::collect::import::import_dataset;
use prescale::config::{Config, DEFAULT_DATA_DIR, Overrides};
use prescale::engine::runner;
use prescale::series::{SeriesKey, Span, format_timestamp};

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
    /// Replay a recorded trace offline: forecast accuracy over rolling origins, and a scaling
    /// simulation of prescale against a reactive HPA and a perfect-foresight oracle.
    Backtest(BacktestArgs),
    /// Forecast a dataset at the origins listed in a file, in the forecast file format the
    /// evaluation yardstick (eval/peers.py --score-file) reads.
    Forecast(ForecastArgs),
    /// Fit a model on the newest train window of a dataset and save it as a model file (JSON,
    /// see README.md) that `serve` can start a series from (`[model_files]` in the config).
    Train(TrainArgs),
}

#[derive(clap::Args)]
struct TrainArgs {
    /// The dataset CSV (`timestamp,value`).
    #[arg(long)]
    dataset: PathBuf,
    /// `auto`, `seasonal-naive` or `linear-seasonal`.
    #[arg(long, default_value = "auto")]
    model: String,
    /// Seasons (comma list); those that do not fit twice in the training window are dropped.
    #[arg(long, value_delimiter = ',', default_value = "1d,7d")]
    season: Vec<Span>,
    /// History the fit sees: the newest part of the dataset [default: 14d, or all of a shorter
    /// dataset].
    #[arg(long)]
    train_window: Option<Span>,
    /// The series the model is meant for (recorded in the file).
    #[arg(long)]
    series: Option<String>,
    /// The model file to write, e.g. models/NAME.json.
    #[arg(long, value_name = "FILE.json")]
    out: PathBuf,
}

#[derive(clap::Args)]
#[command(group(clap::ArgGroup::new("input").required(true).args(["dataset", "all"])))]
struct BacktestArgs {
    /// The dataset CSV (`timestamp,value`).
    #[arg(long)]
    dataset: Option<PathBuf>,
    /// Backtest every .csv file of this directory and print one row per dataset.
    #[arg(long, value_name = "DIR")]
    all: Option<PathBuf>,
    /// Models scored for accuracy (comma list of `auto`, `seasonal-naive`, `linear-seasonal`,
    /// `holt-winters`); the first drives the predictive policy.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "auto,seasonal-naive,linear-seasonal"
    )]
    model: Vec<String>,
    /// Seasons (comma list); those that do not fit twice in the train window are dropped.
    #[arg(long, value_delimiter = ',', default_value = "1d,7d")]
    season: Vec<Span>,
    /// Forecast horizon of the accuracy part.
    #[arg(long, default_value = "30m")]
    horizon: Span,
    /// History each fit sees [default: 14d, or half the trace in whole days when it is shorter
    /// than 28 days].
    #[arg(long)]
    train_window: Option<Span>,
    /// Rolling origins of the accuracy part.
    #[arg(long, default_value_t = 50)]
    origins: usize,
    /// Load one replica serves, or `auto` (the trace's 99th percentile / 20).
    #[arg(long, default_value = "auto", value_name = "X|auto")]
    capacity_per_replica: Capacity,
    /// Pod start-up delay (rounded up to whole steps); also the predictive lead time.
    #[arg(long, default_value = "2m")]
    startup_delay: Span,
    #[arg(long, default_value_t = 1)]
    min_replicas: u32,
    #[arg(long, default_value_t = 10_000)]
    max_replicas: u32,
    /// How often the predictive policy refits [default: the engine's 10m].
    #[arg(long, default_value = "10m", value_name = "DUR")]
    refit_every: Span,
    /// Write the JSON report here (with --dataset).
    #[arg(long, value_name = "REPORT.json", conflicts_with = "all")]
    json: Option<PathBuf>,
    /// Write the SVG picture here (with --dataset).
    #[arg(long, value_name = "PLOT.svg", conflicts_with = "all")]
    plot: Option<PathBuf>,
    /// With --all: write NAME.json and NAME.svg for every dataset into this directory.
    #[arg(long, value_name = "DIR", requires = "all")]
    out_dir: Option<PathBuf>,
    /// With --all: datasets backtested at once [default: the number of CPUs].
    #[arg(long, requires = "all")]
    jobs: Option<usize>,
}

#[derive(clap::Args)]
struct ForecastArgs {
    /// The dataset CSV (`timestamp,value`).
    #[arg(long)]
    dataset: PathBuf,
    /// Origins, one timestamp per line (as `eval/peers.py --emit-origins` writes them).
    #[arg(long)]
    origins_file: PathBuf,
    /// How far each forecast reaches (whole steps, at least one).
    #[arg(long)]
    horizon: Span,
    /// `auto`, `seasonal-naive`, `linear-seasonal` or `holt-winters`.
    #[arg(long, default_value = "auto")]
    model: String,
    #[arg(long, value_delimiter = ',', default_value = "1d,7d")]
    season: Vec<Span>,
    /// History each fit sees (strictly before the origin) [default: 14d].
    #[arg(long)]
    train_window: Option<Span>,
    /// The forecast file to write.
    #[arg(long, value_name = "FILE.csv")]
    out: PathBuf,
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
        Command::Backtest(args) => backtest_command(args),
        Command::Forecast(args) => forecast_command(args),
        Command::Train(args) => train_command(args),
    };
    match outcome {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("prescale: {error:#}");
            std::process::ExitCode::FAILURE
        }
    }
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

fn backtest_command(args: BacktestArgs) -> Result<()> {
    let mut options = backtest::Options {
        models: Vec::new(),
        seasons: args.season.clone(),
        horizon: args.horizon,
        train_window: args.train_window,
        origins: args.origins,
        capacity: args.capacity_per_replica,
        startup_delay: args.startup_delay,
        min_replicas: args.min_replicas,
        max_replicas: args.max_replicas,
        refit_interval: args.refit_every,
        ..backtest::Options::default()
    };
    for name in &args.model {
        options
            .models
            .push(prescale::forecast::ModelSpec::from_name(
                name,
                args.season.clone(),
            )?);
    }
    options.check()?;
    if let Some(dir) = &args.all {
        return backtest_all(dir, &options, args.out_dir.as_deref(), args.jobs);
    }
    let dataset = args.dataset.expect("clap requires --dataset or --all");
    let outcome = with_progress(&dataset, |progress| {
        backtest::run(&dataset, &options, progress)
    })?;
    print!("{}", outcome.report.text());
    write_outputs(&outcome, args.json.as_deref(), args.plot.as_deref())
}

/// Runs one backtest with a progress bar on a terminal (nothing otherwise: one dataset is
/// one line of output).
fn with_progress<T>(dataset: &Path, work: impl FnOnce(&mut dyn FnMut(Stage)) -> T) -> T {
    if !std::io::stderr().is_terminal() {
        return work(&mut |_| {});
    }
    let bar = indicatif::ProgressBar::new(1);
    bar.set_style(
        indicatif::ProgressStyle::with_template("{msg:40} {bar:40} {percent:>3}% [{elapsed}]")
            .expect("a valid template"),
    );
    let name = backtest::dataset_name(dataset);
    let out = work(&mut |stage| match stage {
        Stage::Accuracy { model, models } => {
            bar.set_message(format!("{name}: accuracy, model {}/{models}", model + 1));
        }
        Stage::Simulation { done, total } => {
            bar.set_message(format!("{name}: scaling simulation"));
            bar.set_length(total as u64);
            bar.set_position(done as u64);
        }
    });
    bar.finish_and_clear();
    out
}

fn write_outputs(outcome: &Outcome, json: Option<&Path>, plot: Option<&Path>) -> Result<()> {
    if let Some(path) = json {
        std::fs::write(path, outcome.report.to_json())
            .with_context(|| format!("cannot write {}", path.display()))?;
        eprintln!("wrote {}", path.display());
    }
    if let Some(path) = plot {
        backtest::plot::write_svg(path, outcome)?;
        eprintln!("wrote {}", path.display());
    }
    Ok(())
}

fn backtest_all(
    dir: &Path,
    options: &backtest::Options,
    out_dir: Option<&Path>,
    jobs: Option<usize>,
) -> Result<()> {
    let paths = backtest::datasets_in(dir)?;
    if let Some(out) = out_dir {
        std::fs::create_dir_all(out).with_context(|| format!("cannot create {}", out.display()))?;
    }
    let jobs = jobs.unwrap_or_else(|| {
        std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get)
    });
    let tty = std::io::stderr().is_terminal();
    let bar = if tty {
        let bar = indicatif::ProgressBar::new(paths.len() as u64);
        bar.set_style(
            indicatif::ProgressStyle::with_template(
                "backtest {bar:40} {pos}/{len} datasets [{elapsed}] {msg}",
            )
            .expect("a valid template"),
        );
        bar.enable_steady_tick(std::time::Duration::from_millis(500));
        Some(bar)
    } else {
        None
    };
    let finished = std::sync::atomic::AtomicUsize::new(0);
    let done = |i: usize, outcome: &Result<Outcome, backtest::BacktestError>| {
        let name = backtest::dataset_name(&paths[i]);
        let count = finished.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
        let mut line = match outcome {
            Ok(o) => format!("{name}: done in {:.1} s", o.report.elapsed_seconds),
            Err(e) => format!("{name}: failed: {e}"),
        };
        if let (Some(out), Ok(outcome)) = (out_dir, outcome) {
            let stem = name.trim_end_matches(".csv");
            let json = out.join(format!("{stem}.json"));
            let svg = out.join(format!("{stem}.svg"));
            let written = std::fs::write(&json, outcome.report.to_json())
                .map_err(anyhow::Error::from)
                .and_then(|()| Ok(backtest::plot::write_svg(&svg, outcome)?));
            if let Err(e) = written {
                line.push_str(&format!(" (could not write its report: {e:#})"));
            }
        }
        match &bar {
            Some(bar) => {
                bar.println(line);
                bar.inc(1);
            }
            None => eprintln!("[{count}/{}] {line}", paths.len()),
        }
    };
    let results = backtest::run_many(&paths, options, jobs, &done);
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    let mut reports = Vec::new();
    let mut failed = Vec::new();
    for (path, result) in paths.iter().zip(results) {
        match result {
            Ok(report) => reports.push(report),
            Err(e) => failed.push((backtest::dataset_name(path), e.to_string())),
        }
    }
    print!("{}", backtest::report::overview(&reports, &failed));
    if failed.is_empty() {
        Ok(())
    } else {
        anyhow::bail!(
            "{} of {} datasets could not be backtested",
            failed.len(),
            paths.len()
        )
    }
}

fn forecast_command(args: ForecastArgs) -> Result<()> {
    let request = backtest::forecast_file::Request {
        dataset: &args.dataset,
        origins_file: &args.origins_file,
        horizon: args.horizon,
        model: &args.model,
        seasons: args.season.clone(),
        train_window: args.train_window,
        out: &args.out,
    };
    let written = backtest::forecast_file::run(&request)?;
    let seasons: Vec<String> = written.seasons.iter().map(|s| s.days_text()).collect();
    println!(
        "wrote {} forecasts of {} steps ({} rows, model {}, seasons {}) to {}; mean fit+predict {:.6} s",
        written.origins,
        written.horizon_steps,
        written.rows,
        args.model,
        seasons.join(","),
        args.out.display(),
        written.fit_predict_seconds
    );
    Ok(())
}

fn train_command(args: TrainArgs) -> Result<()> {
    // The model name first: a typo should not wait for the dataset to be read.
    prescale::forecast::ModelSpec::from_name(&args.model, args.season.clone())?;
    if let Some(series) = &args.series {
        SeriesKey::new(series.clone()).context("--series")?;
    }
    let request = prescale::train::TrainRequest {
        dataset: &args.dataset,
        model: &args.model,
        seasons: args.season.clone(),
        train_window: args.train_window,
        series: args.series.clone(),
        fitted_at: fitted_at()?,
    };
    let trained = prescale::train::train(&request)?;
    prescale::train::write_model_file(&args.out, &trained.file)?;
    for note in &trained.notes {
        eprintln!("note: {note}");
    }
    print!("{}", prescale::train::describe(&trained.file));
    println!("wrote {}", args.out.display());
    Ok(())
}

/// The time recorded as a model file's `fitted_at`: now, or `SOURCE_DATE_EPOCH` (unix seconds)
/// when set, the reproducible-builds convention, so that `scripts/train-models.sh` writes the
/// same files every time.
fn fitted_at() -> Result<i64> {
    match std::env::var("SOURCE_DATE_EPOCH") {
        Ok(text) => text
            .trim()
            .parse()
            .with_context(|| format!("SOURCE_DATE_EPOCH={text:?} is not unix seconds")),
        Err(_) => Ok(runner::system_now()),
    }
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
    runtime.block_on(async {
        let running = Service::start(config, Options { demo, cluster }).await?;
        // The service also stops by itself when its plain HTTP port fails.
        let stopped = running.token();
        tokio::select! {
            () = signal() => {}
            () = stopped.cancelled() => {}
        }
        running.shutdown().await?;
        Ok(())
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
