//! [`ApiError`], the `{"error": message}` answer of the REST paths, the helpers that turn
//! the failures of request bodies and blocking work into it, and [`JsonErrorsLayer`], the layer
//! that gives axum's own refusals (a wrong method, a path that is not UTF-8, a body an
//! extractor refuses) the same shape.

use std::convert::Infallible;
use std::pin::Pin;
use std::task::{Context, Poll};

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

/// An error answered as `{"error": message}` with its status.
#[derive(Debug)]
pub enum ApiError {
    BadRequest(String),
    /// No credential, or one not known: `401`, with `WWW-Authenticate: Bearer`.
    Unauthorized(String),
    /// A credential whose rights do not cover the request: `403`.
    Forbidden(String),
    NotFound(String),
    Conflict(String),
    PayloadTooLarge(String),
    /// The body is in an encoding the path does not read (`Content-Encoding`): `415`.
    UnsupportedMediaType(String),
    /// A configured limit (`max_series`, `max_targets`) refuses the request: `422`.
    LimitReached(String),
    Unavailable(String),
    Internal(String),
}

impl ApiError {
    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden(_) => StatusCode::FORBIDDEN,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::Conflict(_) => StatusCode::CONFLICT,
            ApiError::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::LimitReached(_) => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        let (ApiError::BadRequest(message)
        | ApiError::Unauthorized(message)
        | ApiError::Forbidden(message)
        | ApiError::NotFound(message)
        | ApiError::Conflict(message)
        | ApiError::PayloadTooLarge(message)
        | ApiError::UnsupportedMediaType(message)
        | ApiError::LimitReached(message)
        | ApiError::Unavailable(message)
        | ApiError::Internal(message)) = self;
        // A 503 is a stated condition (no plan yet, the store repairing), not a fault.
        if status == StatusCode::SERVICE_UNAVAILABLE {
            tracing::debug!(%status, %message, "request answered unavailable");
        } else if status.is_server_error() {
            tracing::error!(%status, %message, "request failed");
        }
        let mut response = (status, Json(serde_json::json!({ "error": message }))).into_response();
        if status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(
                axum::http::header::WWW_AUTHENTICATE,
                axum::http::HeaderValue::from_static("Bearer realm=\"prescale\""),
            );
        }
        response
    }
}

/// Clipping lives in `series`, the lowest module, so that the errors built below the API
/// (series names, durations, timestamps, target names) bound what they repeat at the source.
pub use crate::series::{MAX_ECHO, clip};

/// The longest refusal text [`JsonErrorsLayer`] carries over into its JSON message.
const MAX_REFUSAL_TEXT: usize = 4096;

/// Makes every `4xx` and `5xx` answer JSON `{"error": …}`: an answer that is already JSON (ours,
/// or a Kubernetes `Status`) passes unchanged; axum's plain-text refusals keep their text as the
/// message; an empty one (a wrong method is `405` with no body) gets a message naming the
/// method and the path.
///
/// A hand-written tower layer rather than `axum::middleware::from_fn`, because it wraps every
/// request: `from_fn` boxes the rest of the router and its future on each one, and that cost
/// a quarter of a small answer's serving time (docs/metrics.md, "Serving speed"). Here an
/// answer that passes (any success, any JSON, any `HEAD`) costs a clone of the method and the
/// URI (a reference count); only a refusal to rewrite is boxed.
#[derive(Debug, Clone, Copy, Default)]
pub struct JsonErrorsLayer;

impl<S> tower::Layer<S> for JsonErrorsLayer {
    type Service = JsonErrors<S>;

    fn layer(&self, inner: S) -> JsonErrors<S> {
        JsonErrors { inner }
    }
}

/// The service of [`JsonErrorsLayer`].
#[derive(Debug, Clone)]
pub struct JsonErrors<S> {
    inner: S,
}

impl<S> tower::Service<axum::extract::Request> for JsonErrors<S>
where
    S: tower::Service<axum::extract::Request, Response = Response, Error = Infallible>,
    S::Future: Unpin,
{
    type Response = Response;
    type Error = Infallible;
    type Future = JsonErrorsFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: axum::extract::Request) -> Self::Future {
        let method = request.method().clone();
        let uri = request.uri().clone();
        JsonErrorsFuture(Stage::Inner {
            future: self.inner.call(request),
            method,
            uri,
        })
    }
}

/// The future of [`JsonErrors`]: the inner answer, then (for a refusal that is not JSON yet) its
/// rewrite.
pub struct JsonErrorsFuture<F>(Stage<F>);

enum Stage<F> {
    Inner {
        future: F,
        method: axum::http::Method,
        uri: axum::http::Uri,
    },
    Rewrite(Pin<Box<dyn Future<Output = Response> + Send>>),
    Done,
}

impl<F> Future for JsonErrorsFuture<F>
where
    F: Future<Output = Result<Response, Infallible>> + Unpin,
{
    type Output = Result<Response, Infallible>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let stage = &mut self.get_mut().0;
        loop {
            match stage {
                Stage::Inner { future, method, .. } => {
                    let Ok(response) = std::task::ready!(Pin::new(future).poll(cx));
                    if passes(method, &response) {
                        *stage = Stage::Done;
                        return Poll::Ready(Ok(response));
                    }
                    let Stage::Inner { method, uri, .. } = std::mem::replace(stage, Stage::Done)
                    else {
                        unreachable!("matched above");
                    };
                    *stage = Stage::Rewrite(Box::pin(as_json(response, method, uri)));
                }
                Stage::Rewrite(rewrite) => {
                    let response = std::task::ready!(rewrite.as_mut().poll(cx));
                    *stage = Stage::Done;
                    return Poll::Ready(Ok(response));
                }
                Stage::Done => panic!("JsonErrorsFuture polled after it completed"),
            }
        }
    }
}

/// True when `response` needs no rewrite: not a refusal, already JSON, or an answer to `HEAD`
/// (which has no body to say anything in).
fn passes(method: &axum::http::Method, response: &Response) -> bool {
    let status = response.status();
    if !(status.is_client_error() || status.is_server_error()) || method == axum::http::Method::HEAD
    {
        return true;
    }
    response
        .headers()
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| value.starts_with("application/json"))
}

/// `response`, a refusal in plain text (or none), as JSON `{"error": …}`.
async fn as_json(response: Response, method: axum::http::Method, uri: axum::http::Uri) -> Response {
    use axum::http::header;
    let status = response.status();
    let path: String = uri.path().chars().take(200).collect();
    let (mut parts, body) = response.into_parts();
    let text = axum::body::to_bytes(body, MAX_REFUSAL_TEXT)
        .await
        .map(|bytes| String::from_utf8_lossy(&bytes).trim().to_string())
        .unwrap_or_default();
    let message = if !text.is_empty() {
        // axum's refusals quote the request (a query string, a path segment): bounded.
        clip(&text)
    } else if status == StatusCode::METHOD_NOT_ALLOWED {
        // axum adds the `Allow` header outside this layer, so it is named, not quoted.
        format!("method {method} is not allowed on {path}: the Allow header lists those that are")
    } else {
        format!(
            "{} ({method} {path})",
            status.canonical_reason().unwrap_or("error")
        )
    };
    parts.headers.remove(header::CONTENT_LENGTH);
    parts.headers.insert(
        header::CONTENT_TYPE,
        axum::http::HeaderValue::from_static("application/json"),
    );
    let body = serde_json::json!({ "error": message }).to_string();
    Response::from_parts(parts, axum::body::Body::from(body))
}

/// Checks the request's `Content-Encoding` against the codings a path reads (lower case;
/// `identity`, and no header at all, are always accepted): any other is `415` naming it, with
/// `advice` saying what to send instead. Without this a gzip body would be parsed as if it were
/// plain, and refused with a confusing parse error (or worse, misread).
pub fn check_content_encoding(
    headers: &axum::http::HeaderMap,
    accepted: &[&str],
    advice: &str,
) -> Result<(), ApiError> {
    for value in headers.get_all(axum::http::header::CONTENT_ENCODING) {
        let text = String::from_utf8_lossy(value.as_bytes());
        for coding in text.split(',').map(str::trim).filter(|c| !c.is_empty()) {
            let lower = coding.to_ascii_lowercase();
            if lower != "identity" && !accepted.contains(&lower.as_str()) {
                return Err(ApiError::UnsupportedMediaType(format!(
                    "content-encoding {:?} is not supported: {advice}",
                    clip(coding)
                )));
            }
        }
    }
    Ok(())
}

/// Reads a request body of at most `limit` bytes; `advice` ends the 413 message (what the
/// client should do instead).
///
/// A declared `Content-Length` over the limit is refused before a byte of the body is read:
/// answering at once, instead of reading up to the limit and then cutting the upload off, lets
/// the client see the `413` rather than a connection reset in the middle of its upload. A body
/// without a declared length is cut at the limit while it is read.
pub async fn read_body(
    headers: &axum::http::HeaderMap,
    body: axum::body::Body,
    limit: usize,
    advice: &str,
) -> Result<axum::body::Bytes, ApiError> {
    let too_large =
        || ApiError::PayloadTooLarge(format!("body larger than {limit} bytes: {advice}"));
    let declared = headers
        .get(axum::http::header::CONTENT_LENGTH)
        .and_then(|value| value.to_str().ok())
        .and_then(|text| text.parse::<u64>().ok());
    if declared.is_some_and(|length| length > limit as u64) {
        return Err(too_large());
    }
    axum::body::to_bytes(body, limit).await.map_err(|error| {
        // `to_bytes` reports an exceeded limit as a `LengthLimitError` source.
        let over = std::error::Error::source(&error)
            .is_some_and(|source| source.is::<http_body_util::LengthLimitError>());
        if over {
            too_large()
        } else {
            ApiError::BadRequest(format!("could not read the request body: {error}"))
        }
    })
}

/// Decodes a request body on the blocking pool: an error `too_large` recognises is a `413`,
/// any other a `400` (the body is at fault, not the server).
pub async fn decode<T, E, F>(decode: F, too_large: fn(&E) -> bool) -> Result<T, ApiError>
where
    F: FnOnce() -> Result<T, E> + Send + 'static,
    T: Send + 'static,
    E: std::fmt::Display + Send + 'static,
{
    on_blocking_pool(decode).await?.map_err(|e| {
        if too_large(&e) {
            ApiError::PayloadTooLarge(e.to_string())
        } else {
            ApiError::BadRequest(e.to_string())
        }
    })
}

/// Runs blocking store work on the blocking pool and flattens its errors into [`ApiError`].
pub async fn blocking<T, E, F>(work: F) -> Result<T, ApiError>
where
    F: FnOnce() -> Result<T, E> + Send + 'static,
    T: Send + 'static,
    E: std::fmt::Display + Send + 'static,
{
    on_blocking_pool(work)
        .await?
        .map_err(|e| ApiError::Internal(e.to_string()))
}

/// `work`'s own result, or a `500` when the task panicked.
async fn on_blocking_pool<R, F>(work: F) -> Result<R, ApiError>
where
    F: FnOnce() -> R + Send + 'static,
    R: Send + 'static,
{
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| ApiError::Internal(format!("worker failed: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Body;
    use axum::http::{HeaderMap, HeaderValue, header};

    #[test]
    fn clip_keeps_at_most_200_bytes_on_a_char_boundary() {
        assert_eq!(clip("short"), "short");
        let long = "é".repeat(150);
        let clipped = clip(&long);
        assert!(clipped.ends_with('…') && clipped.len() <= MAX_ECHO + '…'.len_utf8());
    }

    #[test]
    fn only_identity_and_the_accepted_codings_pass() {
        let with = |value: &'static str| {
            let mut headers = HeaderMap::new();
            headers.insert(header::CONTENT_ENCODING, HeaderValue::from_static(value));
            headers
        };
        assert!(check_content_encoding(&HeaderMap::new(), &[], "x").is_ok());
        assert!(check_content_encoding(&with("identity"), &[], "x").is_ok());
        assert!(check_content_encoding(&with("Snappy"), &["snappy"], "x").is_ok());
        for value in ["gzip", "identity, gzip", "br"] {
            match check_content_encoding(&with(value), &["snappy"], "send it plain") {
                Err(ApiError::UnsupportedMediaType(message)) => {
                    assert!(message.contains("send it plain"), "{message}");
                    assert!(!message.contains("identity"), "{message}");
                }
                other => panic!("{value}: expected 415, got {other:?}"),
            }
        }
    }

    #[tokio::test]
    async fn bodies_over_the_limit_are_413_declared_or_not() {
        let undeclared = read_body(
            &HeaderMap::new(),
            Body::from(vec![0u8; 100]),
            10,
            "split it",
        )
        .await;
        match undeclared {
            Err(ApiError::PayloadTooLarge(message)) => assert!(message.contains("split it")),
            other => panic!("expected 413, got {other:?}"),
        }
        let mut headers = HeaderMap::new();
        headers.insert(header::CONTENT_LENGTH, HeaderValue::from_static("1000000"));
        // The declared length alone decides: the (short) body is never read.
        let declared = read_body(&headers, Body::from(vec![0u8; 5]), 10, "x").await;
        assert!(matches!(declared, Err(ApiError::PayloadTooLarge(_))));
        let fine = read_body(&HeaderMap::new(), Body::from(vec![7u8; 10]), 10, "x").await;
        assert_eq!(fine.unwrap().len(), 10);
    }
}
