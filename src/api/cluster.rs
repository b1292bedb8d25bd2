//! Running inside a Kubernetes cluster: the `serve` flags for the TLS Kubernetes port
//! (`api::secure`), its certificates (`api::tls`), front-proxy authentication
//! (`api::frontproxy`) and the KEDA external scaler (`api::keda`), and [`start`], which opens
//! them beside the plain HTTP port.
//!
//! The flags keep the names the Kubernetes metrics adapters use (`--tls-cert-file`,
//! `--requestheader-client-ca-file`, …), so manifests written for those read naturally here.
//!
//! The TLS port is on by default, on loopback (`127.0.0.1:6443`) — the container image passes
//! `--tls-listen 0.0.0.0:6443`. When that *default* address is taken (a second local `serve`,
//! a local cluster's API server), the port is left off with a warning rather than failing a
//! server nobody asked to run TLS; an address given explicitly must bind or the start fails.
//!
//! In a cluster, `--requestheader-from-cluster` fetches the front-proxy CA and allowed names
//! (`api::incluster`) before the TLS configuration is loaded.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::watch;

use super::AppState;
use super::frontproxy::Authentication;
use super::incluster::InClusterError;
use super::tls::{CertSource, TlsError, TlsSources};
use crate::series::Span;

/// The default Kubernetes port outside a container.
pub const DEFAULT_TLS_LISTEN: &str = "127.0.0.1:6443";

/// The `serve` flags for running in a Kubernetes cluster.
#[derive(Debug, Clone, clap::Args)]
pub struct ClusterOptions {
    /// Address of the Kubernetes API port (HTTPS: discovery, external metrics, OpenAPI)
    /// [default: 127.0.0.1:6443; the container image uses 0.0.0.0:6443].
    #[arg(long, value_name = "ADDR")]
    pub tls_listen: Option<SocketAddr>,
    /// Serve no Kubernetes TLS port (the plain port still serves the same paths over HTTP).
    #[arg(long, conflicts_with = "tls_listen")]
    pub no_tls: bool,
    /// PEM certificate chain for the TLS port; without it a self-signed one is generated.
    #[arg(long, value_name = "FILE", requires = "tls_private_key_file")]
    pub tls_cert_file: Option<PathBuf>,
    /// PEM private key of --tls-cert-file.
    #[arg(long, value_name = "FILE", requires = "tls_cert_file")]
    pub tls_private_key_file: Option<PathBuf>,
    /// CA that signs the front proxy's client certificates (the kube-apiserver's
    /// --requestheader-client-ca-file); when given, requests need such a certificate.
    #[arg(long, value_name = "FILE")]
    pub requestheader_client_ca_file: Option<PathBuf>,
    /// Common names accepted on front-proxy client certificates, comma-separated (e.g.
    /// front-proxy-client); empty accepts any certificate the CA signed.
    #[arg(
        long,
        value_name = "NAMES",
        value_delimiter = ',',
        requires = "requestheader_client_ca_file"
    )]
    pub requestheader_allowed_names: Vec<String>,
    /// Read the front-proxy CA (written to --requestheader-client-ca-file) and the allowed
    /// names (unless given) from kube-system/extension-apiserver-authentication, with the pod's
    /// service account, at start and every 10 minutes.
    #[arg(long, requires = "requestheader_client_ca_file")]
    pub requestheader_from_cluster: bool,
    /// How often the certificate files are checked for changes (cert-manager rotation).
    #[arg(long, value_name = "DURATION", default_value = "10s")]
    pub tls_reload_interval: Span,
    /// Address of the KEDA external scaler (gRPC) [default: off].
    #[arg(long, value_name = "ADDR")]
    pub keda_listen: Option<SocketAddr>,
}

impl Default for ClusterOptions {
    fn default() -> ClusterOptions {
        ClusterOptions {
            tls_listen: None,
            no_tls: false,
            tls_cert_file: None,
            tls_private_key_file: None,
            requestheader_client_ca_file: None,
            requestheader_allowed_names: Vec::new(),
            requestheader_from_cluster: false,
            tls_reload_interval: Span::from_seconds(10).expect("positive"),
            keda_listen: None,
        }
    }
}

/// Why the cluster-facing ports could not start.
#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    #[error(transparent)]
    Tls(#[from] TlsError),
    #[error("--requestheader-from-cluster: {0}")]
    InCluster(#[from] InClusterError),
    #[error("cannot listen on {address} ({what}): {source}")]
    Listen {
        address: SocketAddr,
        what: &'static str,
        source: std::io::Error,
    },
}

/// The addresses actually bound (a port of `0` resolved).
#[derive(Debug, Clone, Default)]
pub struct ClusterPorts {
    pub tls: Option<SocketAddr>,
    pub keda: Option<SocketAddr>,
}

/// Loads the certificates, binds the TLS port and the KEDA port as configured, and serves them
/// in background tasks until `shutdown` turns true. Errors (an unreadable certificate file, an
/// explicit address that cannot be bound) are returned before anything is served.
pub async fn start(
    options: &ClusterOptions,
    state: AppState,
    shutdown: watch::Receiver<bool>,
) -> Result<ClusterPorts, ClusterError> {
    let mut ports = ClusterPorts::default();
    if !options.no_tls
        && let Some(tcp) = bind_tls(options).await?
    {
        let sources = TlsSources {
            cert: match (&options.tls_cert_file, &options.tls_private_key_file) {
                (Some(cert), Some(key)) => CertSource::Files {
                    cert: cert.clone(),
                    key: key.clone(),
                },
                _ => CertSource::SelfSigned,
            },
            client_ca: options.requestheader_client_ca_file.clone(),
        };
        let mut allowed_names = options.requestheader_allowed_names.clone();
        if let (true, Some(ca)) = (
            options.requestheader_from_cluster,
            &options.requestheader_client_ca_file,
        ) {
            let settings = super::incluster::fetch().await?;
            super::incluster::write_ca(ca, &settings.client_ca_pem)?;
            if allowed_names.is_empty() {
                allowed_names = settings.allowed_names;
            }
            tracing::info!(
                client_ca = %ca.display(),
                "front-proxy CA read from kube-system/extension-apiserver-authentication"
            );
            tokio::spawn(super::incluster::refresh(ca.clone(), shutdown.clone()));
        }
        let interval = Duration::from_secs(options.tls_reload_interval.seconds().max(1) as u64);
        let tls = super::tls::load(sources, interval, shutdown.clone())?;
        let authentication = match &options.requestheader_client_ca_file {
            Some(ca) => {
                tracing::info!(
                    client_ca = %ca.display(),
                    allowed_names = %allowed_names.join(","),
                    "Kubernetes port: front-proxy client certificates required"
                );
                Authentication::FrontProxy { allowed_names }
            }
            None => {
                tracing::warn!(
                    "Kubernetes port is UNAUTHENTICATED: anyone who reaches it reads the \
                     external metrics; pass --requestheader-client-ca-file (the front-proxy CA) \
                     to accept only the kube-apiserver's aggregator"
                );
                Authentication::None
            }
        };
        let address = tcp.local_addr().ok();
        ports.tls = address;
        tracing::info!(
            tls_address = %address.map_or("?".to_string(), |a| a.to_string()),
            "Kubernetes API serving over TLS"
        );
        let (state, shutdown) = (state.clone(), shutdown.clone());
        tokio::spawn(async move {
            if let Err(error) =
                super::secure::serve(tcp, tls, state, Arc::new(authentication), shutdown).await
            {
                tracing::error!(%error, "the Kubernetes TLS port stopped");
            }
        });
    }
    if let Some(address) = options.keda_listen {
        let tcp = TcpListener::bind(address)
            .await
            .map_err(|source| ClusterError::Listen {
                address,
                what: "--keda-listen",
                source,
            })?;
        let bound = tcp.local_addr().ok();
        ports.keda = bound;
        tracing::info!(
            grpc_address = %bound.map_or("?".to_string(), |a| a.to_string()),
            "KEDA external scaler serving (gRPC)"
        );
        tokio::spawn(super::keda::serve(tcp, state, shutdown));
    }
    Ok(ports)
}

/// Binds the TLS port: an explicit address must bind; the default may be busy (see the module
/// doc), in which case there is no TLS port.
async fn bind_tls(options: &ClusterOptions) -> Result<Option<TcpListener>, ClusterError> {
    let (address, explicit) = match options.tls_listen {
        Some(address) => (address, true),
        None => (DEFAULT_TLS_LISTEN.parse().expect("valid default"), false),
    };
    match TcpListener::bind(address).await {
        Ok(tcp) => Ok(Some(tcp)),
        Err(source) if explicit => Err(ClusterError::Listen {
            address,
            what: "--tls-listen",
            source,
        }),
        Err(error) => {
            tracing::warn!(
                %address, %error,
                "the default Kubernetes TLS port is unavailable: serving without it (pass \
                 --tls-listen ADDR to choose another, or --no-tls)"
            );
            Ok(None)
        }
    }
}
