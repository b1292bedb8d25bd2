//! `prescale serve`: loads the configuration, starts the service ([`Service::start`]) and
//! stops it gracefully ([`Running::shutdown`](prescale::app::Running::shutdown)) on Ctrl-C or
//! SIGTERM.

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::{Context, Result};

use prescale::api::cluster::ClusterOptions;
use prescale::app::{Options, Service};
use prescale::config::{Config, Overrides};

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
    /// Load a bundled real trace as history ending now, replay its last week live, and
    /// define the target `demo` on it.
    #[arg(long)]
    demo: bool,
    // Kubernetes serving: the TLS port, front-proxy authentication, KEDA.
    #[command(flatten)]
    cluster: ClusterOptions,
}

pub fn run(args: ServeArgs) -> Result<()> {
    let overrides = Overrides {
        listen: args.listen,
        data_dir: args.data_dir,
    };
    let config = Config::load(args.config.as_deref(), overrides)?;
    let options = Options {
        demo: args.demo,
        cluster: args.cluster,
    };
    let runtime = tokio::runtime::Runtime::new().context("cannot start the async runtime")?;
    runtime.block_on(async {
        let running = Service::start(config, options).await?;
        // The service also stops by itself when its plain HTTP port fails.
        let stopped = running.token();
        tokio::select! {
            () = super::signal() => {}
            () = stopped.cancelled() => {}
        }
        running.shutdown().await?;
        Ok(())
    })
}
