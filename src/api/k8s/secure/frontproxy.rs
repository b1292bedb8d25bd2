//! Authentication on the Kubernetes port, as an aggregated API server does it.
//!
//! The kube-apiserver reaches an aggregated API server through its front proxy: it
//! authenticates and authorizes the real user (the HPA controller, `kubectl`), then forwards the
//! request over TLS with its own *front-proxy client certificate* and the user in request
//! headers (`X-Remote-User`, `X-Remote-Group`). So, with `--requestheader-client-ca-file`:
//!
//! - the TLS handshake asks for a client certificate and refuses one not signed by that CA
//!   ([`super::tls`]);
//! - a request without a verified client certificate is answered `401 Unauthorized` (a
//!   Kubernetes `Status`), as is one whose certificate's common name is not in
//!   `--requestheader-allowed-names` (when that list is given);
//! - an accepted request is logged with the user from `X-Remote-User` (and the groups from
//!   `X-Remote-Group`) and the proxy's common name. A verified certificate without
//!   `X-Remote-User` is a client authenticated by its certificate alone (its common name is the
//!   user), as `kubectl` with a client certificate is.
//!
//! Authorization is left to the kube-apiserver, which has already checked the user's RBAC for
//! `external.metrics.k8s.io` before proxying; prescale only publishes read-only numbers.
//!
//! Without a client CA the port is unauthenticated: anyone who can reach it reads the metrics,
//! and the user headers are not trusted (not logged as users). That is said loudly at start.
//! The health probes (`/healthz`, `/readyz`) are outside this check, as Kubernetes API servers
//! leave them.

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
    /// Client certificates signed by the request-header CA; when `allowed_names` is not empty,
    /// the certificate's common name must be one of them.
    FrontProxy { allowed_names: Vec<String> },
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
        Authentication::FrontProxy { allowed_names } => allowed_names,
    };
    let Some(client) = &peer.client else {
        tracing::warn!(remote = %peer.remote, %method, %path, "refused: no client certificate");
        return Status::unauthorized(
            "Unauthorized: a client certificate signed by the request-header CA is required",
        )
        .into_response();
    };
    let common_name = client.common_name.as_deref().unwrap_or("");
    if !allowed_names.is_empty() && !allowed_names.iter().any(|name| name == common_name) {
        tracing::warn!(
            remote = %peer.remote, %method, %path, common_name,
            "refused: client certificate common name not in --requestheader-allowed-names"
        );
        return Status::unauthorized(format!(
            "Unauthorized: client certificate common name {common_name:?} is not one of the \
             allowed names {allowed_names:?}"
        ))
        .into_response();
    }
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
    match user {
        Some(user) => tracing::info!(
            user, groups = %groups.join(","), proxy = common_name, %method, %path,
            "Kubernetes API request"
        ),
        None => tracing::info!(
            user = common_name, %method, %path,
            "Kubernetes API request (client certificate, no X-Remote-User)"
        ),
    }
    next.run(request).await
}
