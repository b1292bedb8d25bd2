//! Running inside a Kubernetes cluster: the `serve` flags and [`start`], which opens the
//! Kubernetes TLS port (the [`super::k8s`] kit's [`secure`] port, serving this application's
//! [`Provider`] and health probes) and the KEDA external scaler ([`super::keda`]) beside the
//! plain HTTP port.
//!
//! This is wiring, so it lives with the application rather than in the kit: it is the one
//! place that knows both the kit and what the kit must not know (the [`AppState`], the probes,
//! KEDA). The flags of the TLS port are the kit's ([`SecureServingOptions`], flattened here);
//! `--keda-listen` is this application's.

use std::net::SocketAddr;

use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::connections::ConnectionSettings;
use super::health;
use super::k8s;
use super::k8s::secure::{self, SecureServingError, SecureServingOptions};
use super::keda;
use super::provider::Provider;
use super::state::AppState;

/// The `serve` flags for running in a Kubernetes cluster.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct ClusterOptions {
    #[command(flatten)]
    pub secure: SecureServingOptions,
    /// Address of the KEDA external scaler (gRPC) [default: off].
    #[arg(long, value_name = "ADDR")]
    pub keda_listen: Option<SocketAddr>,
}

/// Why the cluster-facing ports could not start.
#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    #[error(transparent)]
    Secure(#[from] SecureServingError),
    #[error("cannot listen on {address} (--keda-listen): {source}")]
    Keda {
        address: SocketAddr,
        source: std::io::Error,
    },
}

/// The addresses actually bound (a port of `0` resolved).
#[derive(Debug, Clone, Default)]
pub struct ClusterPorts {
    pub tls: Option<SocketAddr>,
    pub keda: Option<SocketAddr>,
}

/// Starts the TLS port and the KEDA port as configured, serving them in background tasks on
/// `tasks` until `token` is cancelled. Errors (an unreadable certificate file, an explicit
/// address that cannot be bound) are returned before anything is served.
pub async fn start(
    options: &ClusterOptions,
    state: AppState,
    connections: ConnectionSettings,
    token: &CancellationToken,
    tasks: &TaskTracker,
) -> Result<ClusterPorts, ClusterError> {
    let api = k8s::routes(Provider::new(&state));
    let probes = health::anonymous_routes().with_state(state.clone());
    let tls = secure::start(&options.secure, api, probes, connections, token, tasks).await?;
    let mut ports = ClusterPorts { tls, keda: None };
    if let Some(address) = options.keda_listen {
        let tcp = TcpListener::bind(address)
            .await
            .map_err(|source| ClusterError::Keda { address, source })?;
        let bound = tcp.local_addr().ok();
        ports.keda = bound;
        tracing::info!(
            grpc_address = %bound.map_or("?".to_string(), |a| a.to_string()),
            "KEDA external scaler serving (gRPC)"
        );
        tasks.spawn(keda::serve(
            tcp,
            state,
            connections,
            token.clone(),
            tasks.clone(),
        ));
    }
    Ok(ports)
}
