//! `prescale replay`: serves a recorded trace as a live Prometheus metric (see
//! [`prescale::replay`]) until Ctrl-C or SIGTERM.

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::{Context, Result};

use prescale::replay::ReplayOptions;
use prescale::series::{SeriesKey, Span};

#[derive(clap::Args)]
pub struct ReplayArgs {
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
    history: Span,
    /// prescale's base URL: push the history there before serving.
    #[arg(long, requires = "history_series")]
    push_history: Option<String>,
    /// The series the history is pushed to.
    #[arg(long)]
    history_series: Option<String>,
}

pub fn run(args: ReplayArgs) -> Result<()> {
    let options = ReplayOptions {
        history_series: args.history_series.map(SeriesKey::new).transpose()?,
        dataset: args.dataset,
        speed: args.speed,
        listen: args.listen,
        metric: args.metric,
        history: args.history,
        push_history: args.push_history,
    };
    let runtime = tokio::runtime::Runtime::new().context("cannot start the async runtime")?;
    runtime.block_on(prescale::replay::run(options, super::signal()))?;
    Ok(())
}
