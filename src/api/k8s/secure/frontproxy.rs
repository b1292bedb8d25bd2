//! Authentication on the Kubernetes port, as an aggregated API server does it.
//!
//! The kube-apiserver reaches an aggregated API server through its front proxy: it
//! authenticates and authorizes the real user (the HPA controller, `kubectl`), then forwards the
//! request over TLS with its own *front-proxy client certificate* and the user in request
//! headers (`X-Remote-User`, `X-Remote-Group`). So, with `--requestheader-client-ca-file`
//! (and/or `--client-ca-file`, the CA of users' own client certificates):
//!
//! - the TLS handshake asks for a client certificate and refuses one signed by neither CA
//!   ([`super::tls`]);
//! - a certificate of the front-proxy CA authenticates the user named in `X-Remote-User` (with
//!   the groups of `X-Remote-Group`), when its common name is in
//!   `--requestheader-allowed-names` (if that list is given); without `X-Remote-User` it
//!   authenticates nobody — the front proxy always names a user — and the request is refused,
//!   as the generic apiserver's request-header authenticator does;
//! - a certificate of the users' CA authenticates its common name, as `kubectl` with a client
//!   certificate is;
//! - anything else, or no certificate, is answered `401 Unauthorized` (a Kubernetes `Status`).
//!
//! Each accepted request is logged with its user and groups (and the proxy's common name).
//! Authorization is left to the kube-apiserver, which has already checked the user's RBAC for
//! `external.metrics.k8s.io` before proxying; prescale only publishes read-only numbers.
//!
//! Without either CA the port is unauthenticated: anyone who can reach it reads the metrics,
//! and the user headers are not trusted (not logged as users). That is said loudly at start.
//! The health probes (`/healthz`, `/readyz`) are outside this check, as Kubernetes API servers
//! leave them (and answer there without naming targets).

use std::sync::Arc;

use axum::extract::{ConnectInfo, Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::super::status::Status;
use super::listener::TlsPeer;

/// The request header naming the user the front proxy authenticated.
pub const USER_HEADER: &str = "x-remote-user";
/// The request header (repeated) naming that user's groups.
pub const GROUP_HEADER: &str = "x-remote-group";

/// How requests on the Kubernetes port are authenticated.
#[derive(Debug, Clone)]
pub enum Authentication {
    /// No client CA: every request is served.
    None,
    /// Client certificates: the front proxy's (signed by the request-header CA, with the user
    /// in `X-Remote-User`; when `allowed_names` is not empty, its common name must be one of
    /// them) or users' own (signed by the users' CA).
    Certificates { allowed_names: Vec<String> },
}

/// The axum middleware enforcing [`Authentication`] and logging who asked.
pub async fn authenticate(
    State(authentication): State<Arc<Authentication>>,
    ConnectInfo(peer): ConnectInfo<TlsPeer>,
    request: Request,
    next: Next,
) -> Response {
    let method = request.method().clone();
    let path = request.uri().path().to_string();
    let allowed_names = match authentication.as_ref() {
        Authentication::None => {
            tracing::debug!(remote = %peer.remote, %method, %path, "unauthenticated Kubernetes API request");
            return next.run(request).await;
        }
        Authentication::Certificates { allowed_names } => allowed_names,
    };
    let Some(client) = &peer.client else {
        tracing::warn!(remote = %peer.remote, %method, %path, "refused: no client certificate");
        return Status::unauthorized(
            "Unauthorized: a client certificate signed by the request-header CA or the client CA \
             is required",
        )
        .into_response();
    };
    let common_name = client.common_name.as_deref().unwrap_or("");
    let headers = request.headers();
    let user = headers
        .get(USER_HEADER)
        .and_then(|v| v.to_str().ok())
        .filter(|v| !v.is_empty());
    let groups: Vec<&str> = headers
        .get_all(GROUP_HEADER)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .collect();
    let proxy_allowed =
        allowed_names.is_empty() || allowed_names.iter().any(|name| name == common_name);
    match (client.front_proxy && proxy_allowed, user) {
        (true, Some(user)) => tracing::info!(
            user, groups = %groups.join(","), proxy = common_name, %method, %path,
            "Kubernetes API request"
        ),
        _ if client.user => tracing::info!(
            user = common_name, %method, %path,
            "Kubernetes API request (client certificate)"
        ),
        (true, None) => {
            tracing::warn!(
                remote = %peer.remote, %method, %path, common_name,
                "refused: a front-proxy certificate without X-Remote-User"
            );
            return Status::unauthorized(
                "Unauthorized: the front proxy's certificate authenticates the user named in \
                 X-Remote-User, and none was given",
            )
            .into_response();
        }
        (false, _) => {
            tracing::warn!(
                remote = %peer.remote, %method, %path, common_name,
                "refused: client certificate common name not in --requestheader-allowed-names"
            );
            return Status::unauthorized(format!(
                "Unauthorized: client certificate common name {:?} is not one of the allowed \
                 names {allowed_names:?}",
                crate::api::error::clip(common_name)
            ))
            .into_response();
        }
    }
    next.run(request).await
}
