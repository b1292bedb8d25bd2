//! A kit for serving a Kubernetes aggregated API server: what the kube-apiserver's aggregation
//! layer, `kubectl` and the HPA controller expect of the backend of an `APIService`. It knows
//! nothing of prescale's engine: the application plugs its numbers in through
//! [`external::ExternalMetricsProvider`] and hands over the routers to serve.
//!
//! - [`external`]: the external metrics API (`external.metrics.k8s.io/v1beta1`) — discovery
//!   documents and `ExternalMetricValueList`s, over a provider;
//! - [`status`]: [`status::Status`], the Kubernetes error object, rendering itself;
//! - [`openapi`]: `/openapi/v2` and `/openapi/v3`, which the aggregator downloads;
//! - [`selector`]: label selectors (`?labelSelector=`), parsed and matched as Kubernetes does;
//! - [`secure`]: the TLS port with front-proxy client-certificate authentication — its flags,
//!   certificates (reloaded when they change, or self-signed), listener and authentication;
//! - [`incluster`]: the in-cluster API client, and the front-proxy CA and allowed names read
//!   from the cluster (`--requestheader-from-cluster`);
//! - [`delegated`]: bearer tokens checked with `TokenReview`, requests authorized with
//!   `SubjectAccessReview`, both cached.
//!
//! The serving tasks stop when a `CancellationToken` is cancelled, and are spawned on a
//! `TaskTracker` the caller passes, so that its shutdown can await them.
//!
//! [`routes`] is everything a client reaches on the Kubernetes paths (`/apis/...`,
//! `/openapi/...`), with the API server's content negotiation: answers are `application/json`; a
//! request whose `Accept` header allows only other forms — the aggregated discovery format
//! (`application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList`), protobuf, tables —
//! gets `406 Not Acceptable`, so the client (and the aggregator) fall back to the legacy
//! documents.

pub mod delegated;
pub mod external;
pub mod incluster;
pub mod openapi;
pub mod secure;
pub mod selector;
pub mod status;

use std::convert::Infallible;
use std::pin::Pin;
use std::task::{Context, Poll};

use axum::Router;
use axum::extract::Request;
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use external::ExternalMetricsProvider;
use status::Status;

/// The Kubernetes paths over `provider`: the external metrics API, the OpenAPI documents, and a
/// `404` `Status` for any other `/apis/...` path; all content-negotiated.
pub fn routes<S, P>(provider: P) -> Router<S>
where
    S: Clone + Send + Sync + 'static,
    P: ExternalMetricsProvider,
{
    Router::new()
        .merge(external::routes(provider))
        .route(
            "/apis/{*rest}",
            get(|| async {
                Status::not_found(
                    "the server could not find the requested resource: prescale serves only \
                     external.metrics.k8s.io/v1beta1",
                )
            }),
        )
        .merge(openapi::routes())
        .layer(NegotiateLayer)
}

/// Answers `406` when the `Accept` header allows no plain JSON (see the module doc); every other
/// request goes on unchanged.
///
/// A hand-written tower layer rather than `axum::middleware::from_fn`, which boxes the rest of
/// the router and its future on every request: here a request that is served costs the check
/// of its `Accept` header alone (no allocation), and only a refusal builds anything.
#[derive(Debug, Clone, Copy, Default)]
pub struct NegotiateLayer;

impl<S> tower::Layer<S> for NegotiateLayer {
    type Service = Negotiate<S>;

    fn layer(&self, inner: S) -> Negotiate<S> {
        Negotiate { inner }
    }
}

/// The service of [`NegotiateLayer`].
#[derive(Debug, Clone)]
pub struct Negotiate<S> {
    inner: S,
}

impl<S> tower::Service<Request> for Negotiate<S>
where
    S: tower::Service<Request, Response = Response, Error = Infallible>,
    S::Future: Unpin,
{
    type Response = Response;
    type Error = Infallible;
    type Future = Negotiated<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request) -> Self::Future {
        if accepts_plain_json(request.headers()) {
            return Negotiated::Served(self.inner.call(request));
        }
        let accept = request
            .headers()
            .get(header::ACCEPT)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string();
        tracing::debug!(%accept, path = %request.uri().path(), "not acceptable: answering 406");
        Negotiated::Refused(Some(
            Status::not_acceptable(format!(
                "only application/json is served (legacy discovery and external metrics); \
                 none of {accept:?} is acceptable"
            ))
            .into_response(),
        ))
    }
}

/// The future of [`Negotiate`]: the inner service's answer, or the `406`.
pub enum Negotiated<F> {
    Served(F),
    Refused(Option<Response>),
}

impl<F> Future for Negotiated<F>
where
    F: Future<Output = Result<Response, Infallible>> + Unpin,
{
    type Output = Result<Response, Infallible>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.get_mut() {
            Negotiated::Served(future) => Pin::new(future).poll(cx),
            Negotiated::Refused(response) => Poll::Ready(Ok(response
                .take()
                .expect("Negotiated polled after it completed"))),
        }
    }
}

/// True when the `Accept` header is absent or has a range that plain `application/json`
/// satisfies: `application/json`, `application/*` or `*/*`, with a non-zero `q` and no
/// conversion parameters (`as`, `g`, `v`), which ask for another kind of object.
pub fn accepts_plain_json(headers: &HeaderMap) -> bool {
    let mut ranges = headers
        .get_all(header::ACCEPT)
        .iter()
        .flat_map(|value| value.to_str().unwrap_or("").split(','))
        .map(str::trim)
        .filter(|range| !range.is_empty())
        .peekable();
    if ranges.peek().is_none() {
        return true;
    }
    ranges.any(|range| {
        let mut parts = range.split(';').map(str::trim);
        let media = parts.next().unwrap_or("");
        if !["application/json", "application/*", "*/*"]
            .iter()
            .any(|served| media.eq_ignore_ascii_case(served))
        {
            return false;
        }
        parts.all(|param| {
            let (name, value) = param.split_once('=').unwrap_or((param, ""));
            let name = name.trim();
            if ["as", "g", "v"]
                .iter()
                .any(|conversion| name.eq_ignore_ascii_case(conversion))
            {
                false
            } else if name.eq_ignore_ascii_case("q") {
                value.trim().parse::<f64>().map_or(true, |q| q > 0.0)
            } else {
                true
            }
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn accept(values: &[&str]) -> bool {
        let mut headers = HeaderMap::new();
        for value in values {
            headers.append(header::ACCEPT, value.parse().unwrap());
        }
        accepts_plain_json(&headers)
    }

    #[test]
    fn aggregated_discovery_alone_is_not_acceptable() {
        assert!(accept(&[]));
        assert!(accept(&["application/json"]));
        assert!(accept(&["application/json, */*"]));
        assert!(accept(&["application/json;charset=utf-8"]));
        assert!(accept(&[
            "application/vnd.kubernetes.protobuf,application/json"
        ]));
        assert!(accept(&["*/*;q=0.8"]));
        let v2 = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList";
        let v2beta1 = "application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList";
        assert!(!accept(&[v2]));
        assert!(!accept(&[&format!("{v2},{v2beta1}")]));
        // With the legacy form as a fallback, the legacy form is served (as client-go asks).
        assert!(accept(&[&format!("{v2},{v2beta1},application/json")]));
        assert!(accept(&[v2, "application/json"]));
        assert!(!accept(&["application/json;as=Table;v=v1;g=meta.k8s.io"]));
        assert!(!accept(&["application/vnd.kubernetes.protobuf"]));
        assert!(!accept(&["text/html"]));
        assert!(!accept(&["application/json;q=0"]));
    }
}
