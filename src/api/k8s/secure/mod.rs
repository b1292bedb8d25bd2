//! The Kubernetes port: the routes of [`super::routes`] (discovery, external metrics, OpenAPI)
//! over TLS, for the kube-apiserver's aggregation layer (which only speaks HTTPS to an
//! APIService's backend) and for `kubectl get --raw` through it. One job, in three parts:
//!
//! - [`tls`]: the serving certificate (files reloaded when they change, or self-signed) and the
//!   front-proxy client CA, as a rustls configuration;
//! - [`listener`]: TLS handshakes off the accept loop, each connection carrying its peer's
//!   verified client certificate;
//! - [`frontproxy`]: front-proxy client-certificate authentication, as an aggregated API server
//!   does it.
//!
//! [`start`] puts them together from [`SecureServingOptions`], flags that keep the names the
//! Kubernetes metrics adapters use (`--tls-cert-file`, `--requestheader-client-ca-file`, …), so
//! manifests written for those read naturally here.
//!
//! The TLS port is on by default, on loopback (`127.0.0.1:6443`) — the container image passes
//! `--tls-listen 0.0.0.0:6443`. When that *default* address is taken (a second local `serve`,
//! a local cluster's API server), the port is left off with a warning rather than failing a
//! server nobody asked to run TLS; an address given explicitly must bind or the start fails.
//! With `--requestheader-from-cluster`, the front-proxy CA and allowed names are fetched from
//! the cluster ([`super::incluster`]) before the TLS configuration is loaded.

pub mod frontproxy;
pub mod listener;
pub mod tls;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::incluster::{self, InClusterError};
use super::status::Status;
use crate::api::connections::ConnectionSettings;
use crate::series::Span;
use frontproxy::{Authentication, authenticate};
use listener::TlsListener;
use tls::{CertSource, TlsConfig, TlsError, TlsSources};

/// The default Kubernetes port outside a container.
pub const DEFAULT_TLS_LISTEN: &str = "127.0.0.1:6443";

/// The `serve` flags of the Kubernetes port.
#[derive(Debug, Clone, clap::Args)]
pub struct SecureServingOptions {
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
    /// CA that signs users' client certificates (as the kube-apiserver's --client-ca-file): a
    /// certificate it signed authenticates its common name as the user, as `kubectl` with a
    /// client certificate does.
    #[arg(long, value_name = "FILE")]
    pub client_ca_file: Option<PathBuf>,
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
}

impl Default for SecureServingOptions {
    fn default() -> SecureServingOptions {
        SecureServingOptions {
            tls_listen: None,
            no_tls: false,
            tls_cert_file: None,
            tls_private_key_file: None,
            requestheader_client_ca_file: None,
            client_ca_file: None,
            requestheader_allowed_names: Vec::new(),
            requestheader_from_cluster: false,
            tls_reload_interval: Span::from_seconds(10).expect("positive"),
        }
    }
}

/// Why the Kubernetes port could not start.
#[derive(Debug, thiserror::Error)]
pub enum SecureServingError {
    #[error(transparent)]
    Tls(#[from] TlsError),
    #[error("--requestheader-from-cluster")]
    InCluster(#[from] InClusterError),
    #[error("cannot listen on {address} ({what}): {source}")]
    Listen {
        address: SocketAddr,
        what: &'static str,
        source: std::io::Error,
    },
}

/// Loads the certificates, binds the port as configured and serves `api` (authenticated) and
/// `probes` (not: Kubernetes API servers leave the health probes open) in background tasks on
/// `tasks` until `token` is cancelled. Answers the bound address, or `None` when the port is
/// off.
/// Errors (an unreadable certificate file, an explicit address that cannot be bound) are
/// returned before anything is served.
pub async fn start(
    options: &SecureServingOptions,
    api: Router,
    probes: Router,
    connections: ConnectionSettings,
    token: &CancellationToken,
    tasks: &TaskTracker,
) -> Result<Option<SocketAddr>, SecureServingError> {
    if options.no_tls {
        return Ok(None);
    }
    let Some(tcp) = bind_tls(options).await? else {
        return Ok(None);
    };
    let sources = TlsSources {
        cert: match (&options.tls_cert_file, &options.tls_private_key_file) {
            (Some(cert), Some(key)) => CertSource::Files {
                cert: cert.clone(),
                key: key.clone(),
            },
            _ => CertSource::SelfSigned,
        },
        client_ca: options.requestheader_client_ca_file.clone(),
        user_ca: options.client_ca_file.clone(),
    };
    let authentication = authentication(options, token, tasks).await?;
    let interval = Duration::from_secs(options.tls_reload_interval.seconds().max(1) as u64);
    let tls = tls::load(sources, interval, token.clone(), tasks)?;
    match &authentication {
        Authentication::Certificates { allowed_names } => tracing::info!(
            client_ca = %options.requestheader_client_ca_file.as_deref().map_or("(none)".into(), |p| p.display().to_string()),
            user_ca = %options.client_ca_file.as_deref().map_or("(none)".into(), |p| p.display().to_string()),
            allowed_names = %allowed_names.join(","),
            "Kubernetes port: front-proxy client certificates (with X-Remote-User) or users' \
             client certificates required"
        ),
        Authentication::None => tracing::warn!(
            "Kubernetes port is UNAUTHENTICATED: anyone who reaches it reads the external \
             metrics; pass --requestheader-client-ca-file (the front-proxy CA) to accept only \
             the kube-apiserver's aggregator"
        ),
    }
    let address = tcp.local_addr().ok();
    tracing::info!(
        tls_address = %address.map_or("?".to_string(), |a| a.to_string()),
        "Kubernetes API serving over TLS"
    );
    let app = router(api, probes, Arc::new(authentication));
    tasks.spawn(serve(
        tcp,
        tls,
        app,
        connections,
        token.clone(),
        tasks.clone(),
    ));
    Ok(address)
}

/// How requests will be authenticated; with `--requestheader-from-cluster`, fetches the
/// front-proxy CA (and, unless given, the allowed names) first, and keeps the CA file fresh.
async fn authentication(
    options: &SecureServingOptions,
    token: &CancellationToken,
    tasks: &TaskTracker,
) -> Result<Authentication, SecureServingError> {
    let Some(ca) = &options.requestheader_client_ca_file else {
        return Ok(match options.client_ca_file {
            Some(_) => Authentication::Certificates {
                allowed_names: Vec::new(),
            },
            None => Authentication::None,
        });
    };
    let mut allowed_names = options.requestheader_allowed_names.clone();
    if options.requestheader_from_cluster {
        let client = incluster::client()?;
        let settings = incluster::fetch(&client).await?;
        incluster::write_ca(ca, &settings.client_ca_pem)?;
        if allowed_names.is_empty() {
            allowed_names = settings.allowed_names;
        }
        tracing::info!(
            client_ca = %ca.display(),
            "front-proxy CA read from kube-system/extension-apiserver-authentication"
        );
        tasks.spawn(incluster::refresh(client, ca.clone(), token.clone()));
    }
    Ok(Authentication::Certificates { allowed_names })
}

/// The Kubernetes port's router: `api` behind `authentication` (with a `404` `Status` for
/// unknown paths), `probes` outside it.
pub fn router(api: Router, probes: Router, authentication: Arc<Authentication>) -> Router {
    api.fallback(|| async { Status::not_found("the server could not find the requested resource") })
        .layer(axum::middleware::from_fn_with_state(
            authentication,
            authenticate,
        ))
        .merge(probes)
}

/// Serves `app` on `tcp` within `connections` until `token` is cancelled: the listener stops
/// accepting, the requests in flight are finished. The listener's and the connections' tasks
/// are spawned on `tasks`.
pub async fn serve(
    tcp: TcpListener,
    tls: TlsConfig,
    app: Router,
    connections: ConnectionSettings,
    token: CancellationToken,
    tasks: TaskTracker,
) {
    let listener = TlsListener::new(tcp, tls, token.clone(), &tasks);
    crate::api::connections::serve_with_connect_info(
        listener,
        app,
        connections,
        "kubernetes",
        token,
        tasks,
    )
    .await;
}

/// Binds the TLS port: an explicit address must bind; the default may be busy (see the module
/// doc), in which case there is no TLS port.
async fn bind_tls(
    options: &SecureServingOptions,
) -> Result<Option<TcpListener>, SecureServingError> {
    let (address, explicit) = match options.tls_listen {
        Some(address) => (address, true),
        None => (DEFAULT_TLS_LISTEN.parse().expect("valid default"), false),
    };
    match TcpListener::bind(address).await {
        Ok(tcp) => Ok(Some(tcp)),
        Err(source) if explicit => Err(SecureServingError::Listen {
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
