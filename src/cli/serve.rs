//! `prescale serve`: loads the configuration, starts the service ([`Service::start`]) and
//! stops it gracefully ([`Running::shutdown`](prescale::app::Running::shutdown)) on Ctrl-C or
//! SIGTERM.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};

use prescale::api::cluster::ClusterOptions;
use prescale::app::{Options, Service};
use prescale::config::{Config, Overrides};
use prescale::series::Span;
use prescale::store::Store;

use super::allocator::Trimmer;

#[derive(clap::Args)]
pub struct ServeArgs {
    /// TOML configuration file (optional; see README.md for the keys).
    #[arg(long)]
    config: Option<PathBuf>,
    /// Address to listen on [default: 127.0.0.1:8080].
    #[arg(long)]
    listen: Option<SocketAddr>,
    /// sled data directory [default: ./data].
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// File of `TOKEN ROLE` lines (roles: read, write, admin) whose bearer tokens the plain
    /// port requires for writes (and reads with `[auth] protect_reads`); re-read on change.
    #[arg(long, value_name = "FILE")]
    auth_tokens_file: Option<PathBuf>,
    /// Serve beyond loopback without authentication (refused otherwise).
    #[arg(long)]
    allow_unauthenticated: bool,
    /// The most series kept; a new one past it is refused (422) [default: 100000].
    #[arg(long, value_name = "N")]
    max_series: Option<usize>,
    /// The most targets kept; a new one past it is refused (422) [default: 10000].
    #[arg(long, value_name = "N")]
    max_targets: Option<usize>,
    /// The most connections each HTTP port serves at once; more wait [default: 768].
    #[arg(long, value_name = "N")]
    max_connections: Option<usize>,
    /// Close a connection that makes no progress this long, between requests or in a stalled
    /// read or write [default: 60s].
    #[arg(long, value_name = "DURATION")]
    idle_timeout: Option<Span>,
    /// Load a bundled real trace as history ending now, replay its last week live, and
    /// define the target `demo` on it.
    #[arg(long)]
    demo: bool,
    // Kubernetes serving: the TLS port, front-proxy authentication, KEDA.
    #[command(flatten)]
    cluster: ClusterOptions,
}

/// Gives the heap's free pages back to the system once writes stop (see
/// [`Trimmer`](super::allocator::Trimmer)): a tick a second, the trim off the runtime's workers.
async fn return_freed_memory(store: Store) {
    let mut trimmer = Trimmer::new(store.flushes(), Instant::now());
    let mut ticks = tokio::time::interval(Duration::from_secs(1));
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        if trimmer.tick(store.flushes(), Instant::now()) {
            let _ = tokio::task::spawn_blocking(super::allocator::trim).await;
        }
    }
}

pub fn run(args: ServeArgs) -> Result<()> {
    let overrides = Overrides {
        listen: args.listen,
        data_dir: args.data_dir,
        auth_tokens_file: args.auth_tokens_file,
        allow_unauthenticated: args.allow_unauthenticated,
        max_series: args.max_series,
        max_targets: args.max_targets,
        max_connections: args.max_connections,
        idle_timeout: args.idle_timeout,
    };
    let config = Config::load(args.config.as_deref(), overrides)?;
    let options = Options {
        demo: args.demo,
        cluster: args.cluster,
    };
    let runtime = tokio::runtime::Runtime::new().context("cannot start the async runtime")?;
    runtime.block_on(async {
        let running = Service::start(config, options).await?;
        let trimmer = tokio::spawn(return_freed_memory(running.store()));
        // The service also stops by itself when its plain HTTP port fails.
        let stopped = running.token();
        tokio::select! {
            () = super::signal() => {}
            () = stopped.cancelled() => {}
        }
        // The trimmer's store handle goes first, so the shutdown's flush is followed by the
        // store's clean close as before (the last handle closes it), not by a runtime's drop.
        trimmer.abort();
        let _ = trimmer.await;
        running.shutdown().await?;
        Ok(())
    })
}
