//! The `prescale` command line: parses the arguments and hands each command to its module
//! under `cli/`, which calls the library. Nothing else happens here.

mod cli;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

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
    Serve(cli::serve::ServeArgs),
    /// Serve a recorded trace as a live Prometheus metric at an accelerated clock (the
    /// docker-compose demo's workload): NAME_total, NAME_per_second on /metrics.
    Replay(cli::replay::ReplayArgs),
    /// Load a dataset CSV (`timestamp,value`) into the store as one series.
    Import(cli::import::ImportArgs),
    /// Decode every block of a store (the service stopped) and report damage by series.
    Check(cli::check::CheckArgs),
    /// Replay a recorded trace offline: forecast accuracy over rolling origins, and a scaling
    /// simulation of prescale against a reactive HPA and a perfect-foresight oracle.
    Backtest(cli::backtest::BacktestArgs),
    /// Forecast a dataset at the origins listed in a file, in the forecast file format the
    /// evaluation yardstick (eval/peers.py --score-file) reads.
    Forecast(cli::forecast::ForecastArgs),
    /// Fit a model on the newest train window of a dataset and save it as a model file (JSON,
    /// see README.md) that `serve` can start a series from (`[model_files]` in the config).
    Train(cli::train::TrainArgs),
}

fn main() -> ExitCode {
    cli::allocator::tune();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let outcome = match Cli::parse().command {
        Command::Serve(args) => cli::serve::run(args),
        Command::Replay(args) => cli::replay::run(args),
        Command::Import(args) => cli::import::run(args),
        Command::Check(args) => cli::check::run(args),
        Command::Backtest(args) => cli::backtest::run(args),
        Command::Forecast(args) => cli::forecast::run(args),
        Command::Train(args) => cli::train::run(args),
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("prescale: {error:#}");
            ExitCode::FAILURE
        }
    }
}
