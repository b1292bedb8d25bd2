//! `POST /api/v1/write`: the Prometheus remote_write 1.0 receiver.
//!
//! The body is decoded off the async threads, the kept samples are appended in one batch, and
//! the answer is `204` only once they are durable (the same group commit as the push API). A
//! body that does not decode is `400` — Prometheus drops such a batch rather than retrying it
//! forever — and a body over [`MAX_BODY_BYTES`], or one that decompresses past
//! `MAX_DECODED_BYTES` or holds more series, labels or samples than a request may, is `413`
//! with a message naming the limit. At most [`MAX_CONCURRENT_DECODES`] bodies are decoded at
//! once (decoding is CPU work; more at once would only hold more memory), so what decoding holds
//! is bounded whatever the number of connections. A `Content-Encoding` other than `snappy`
//! (the spec's) or `identity` is `415` naming it. A storage failure is `500`, which
//! Prometheus retries: nothing it sent is lost. See `collect::remote_write` for what is kept.

use std::sync::atomic::Ordering;

use axum::Router;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;

use super::error::{ApiError, check_content_encoding, decode, read_body};
use super::state::AppState;
use crate::collect::remote_write::{self, MAX_BODY_BYTES};
use crate::engine::runner::system_now;

/// How many remote_write bodies are decompressed and decoded at once; the others wait.
pub const MAX_CONCURRENT_DECODES: usize = 4;

static DECODING: tokio::sync::Semaphore = tokio::sync::Semaphore::const_new(MAX_CONCURRENT_DECODES);

pub fn routes() -> Router<AppState> {
    Router::new().route("/api/v1/write", post(write))
}

async fn write(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Body,
) -> Result<StatusCode, ApiError> {
    let outcome = accept(&state, &headers, body).await;
    let counters = &state.ingest.remote_write_counters;
    match &outcome {
        Ok(()) => counters.requests_accepted.fetch_add(1, Ordering::Relaxed),
        Err(error) => {
            tracing::warn!(error = ?error, "remote_write request refused");
            counters.requests_rejected.fetch_add(1, Ordering::Relaxed)
        }
    };
    outcome.map(|()| StatusCode::NO_CONTENT)
}

async fn accept(state: &AppState, headers: &HeaderMap, body: Body) -> Result<(), ApiError> {
    // The spec says `Content-Encoding: snappy`; a missing header is let through (the body is
    // snappy or it is a 400), any other coding is named in a 415.
    check_content_encoding(
        headers,
        &["snappy"],
        "remote_write bodies are snappy-compressed protobuf (Content-Encoding: snappy)",
    )?;
    let advice = "lower queue_config.max_samples_per_send";
    let body = read_body(headers, body, MAX_BODY_BYTES, advice).await?;
    let ingest = state.ingest.clone();
    let permit = DECODING
        .acquire()
        .await
        .map_err(|_| ApiError::Unavailable("shutting down".into()))?;
    let decoded = decode(
        move || remote_write::decode(&body, &ingest.remote_write, system_now()),
        remote_write::is_too_large,
    )
    .await?;
    drop(permit);
    let counters = &state.ingest.remote_write_counters;
    if decoded.tally.not_allowed > 0 && !counters.warned_not_allowed.swap(true, Ordering::Relaxed) {
        tracing::warn!(
            samples = decoded.tally.not_allowed,
            "remote_write: dropping metrics that are not in [remote_write] allow \
             (counted in prescale_remote_write_samples_total{{outcome=\"not_allowed\"}}; logged once)"
        );
    }
    if !decoded.invalid.is_empty() {
        tracing::warn!(
            samples = decoded.tally.invalid_series,
            examples = ?decoded.invalid,
            "remote_write: skipped series prescale cannot store"
        );
    }
    if !decoded.out_of_range.is_empty() {
        tracing::warn!(
            samples = decoded.tally.out_of_range,
            examples = ?decoded.out_of_range,
            "remote_write: skipped samples out of range"
        );
    }
    if !decoded.batch.is_empty() {
        let batch = decoded.batch;
        state
            .append_durably(move |store| store.append_batch(&batch))
            .await?;
    }
    // Counted once durable: the counters say what prescale holds.
    counters.add(&decoded.tally);
    Ok(())
}
