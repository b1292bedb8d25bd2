//! The TLS listener of the Kubernetes port: it accepts TCP connections and runs each TLS
//! handshake in its own task (a slow or silent client cannot hold up the others), with the
//! configuration in force at that moment (see [`super::tls`] for reloading); axum then serves
//! HTTP/1.1 on the established streams ([`crate::api::connections`]). The peer's verified client certificate travels with
//! each connection as a [`TlsPeer`], which the authentication middleware
//! ([`super::frontproxy`]) reads.

use std::net::SocketAddr;
use std::time::Duration;

use axum::serve::Listener;
use rustls::pki_types::CertificateDer;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::server::TlsStream;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::tls::{Issuers, Name, TlsConfig};

/// Longest a client may take to complete its TLS handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Who is on the other end of a TLS connection.
#[derive(Debug, Clone)]
pub struct TlsPeer {
    pub remote: SocketAddr,
    /// The client certificate, present only when one was asked for and verified.
    pub client: Option<ClientCert>,
}

/// What prescale uses of a verified client certificate.
#[derive(Debug, Clone)]
pub struct ClientCert {
    /// The subject's common name (the front proxy's is `front-proxy-client` on kubeadm clusters).
    pub common_name: Option<String>,
    /// Signed by the front-proxy CA (`--requestheader-client-ca-file`).
    pub front_proxy: bool,
    /// Signed by the users' CA (`--client-ca-file`).
    pub user: bool,
}

impl TlsPeer {
    fn new(
        remote: SocketAddr,
        certificates: Option<&[CertificateDer<'static>]>,
        issuers: &Issuers,
    ) -> TlsPeer {
        let client = certificates
            .and_then(<[_]>::first)
            .map(|leaf| client_cert(leaf, issuers));
        TlsPeer { remote, client }
    }
}

/// The leaf's first common name, and which CA signed it (the chain was verified against the
/// two CAs together; its issuer's name says which).
fn client_cert(der: &CertificateDer<'_>, issuers: &Issuers) -> ClientCert {
    let Ok((_, cert)) = x509_parser::parse_x509_certificate(der) else {
        return ClientCert {
            common_name: None,
            front_proxy: false,
            user: false,
        };
    };
    let common_name = cert
        .subject()
        .iter_common_name()
        .next()
        .and_then(|name| name.as_str().ok())
        .map(str::to_string);
    let issuer = Name::of(cert.issuer());
    ClientCert {
        common_name,
        front_proxy: issuers.front_proxy.iter().any(|s| s.matches(&issuer)),
        user: issuers.users.iter().any(|s| s.matches(&issuer)),
    }
}

/// A listener yielding established TLS streams; handshakes run concurrently in their own tasks.
pub struct TlsListener {
    established: mpsc::Receiver<(TlsStream<TcpStream>, TlsPeer)>,
    local: SocketAddr,
}

impl TlsListener {
    /// Starts accepting on `tcp` with the configurations `tls` publishes, until `token` is
    /// cancelled. The accept loop and the handshakes run on `tasks`.
    pub fn new(
        tcp: TcpListener,
        tls: TlsConfig,
        token: CancellationToken,
        tasks: &TaskTracker,
    ) -> TlsListener {
        let local = tcp
            .local_addr()
            .unwrap_or_else(|_| SocketAddr::from(([0, 0, 0, 0], 0)));
        let (ready, established) = mpsc::channel(64);
        tasks.spawn(accept_loop(tcp, tls, ready, token, tasks.clone()));
        TlsListener { established, local }
    }
}

impl Listener for TlsListener {
    type Io = TlsStream<TcpStream>;
    type Addr = TlsPeer;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        match self.established.recv().await {
            Some(connection) => connection,
            // The accept loop has stopped (shutdown): nothing more will come.
            None => std::future::pending().await,
        }
    }

    fn local_addr(&self) -> std::io::Result<TlsPeer> {
        Ok(TlsPeer {
            remote: self.local,
            client: None,
        })
    }
}

async fn accept_loop(
    tcp: TcpListener,
    tls: TlsConfig,
    ready: mpsc::Sender<(TlsStream<TcpStream>, TlsPeer)>,
    token: CancellationToken,
    tasks: TaskTracker,
) {
    loop {
        let accepted = tokio::select! {
            biased;
            () = token.cancelled() => return,
            accepted = tcp.accept() => accepted,
        };
        let (stream, remote) = match accepted {
            Ok(accepted) => accepted,
            Err(error) => {
                // Out of file descriptors and the like: back off rather than spin.
                tracing::warn!(%error, "accepting a connection on the Kubernetes port failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let loaded = tls.current();
        let acceptor = TlsAcceptor::from(loaded.config.clone());
        let ready = ready.clone();
        tasks.spawn(async move {
            match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
                Ok(Ok(stream)) => {
                    let certificates = stream.get_ref().1.peer_certificates();
                    let peer = TlsPeer::new(remote, certificates, &loaded.issuers);
                    let _ = ready.send((stream, peer)).await;
                }
                Ok(Err(error)) => {
                    tracing::info!(%remote, %error, "TLS handshake refused or failed")
                }
                Err(_) => tracing::info!(%remote, "TLS handshake timed out"),
            }
        });
    }
}
