//! Collection: outside input turned into validated samples in the store.
//!
//! - [`push`]: the JSON body of `POST /api/v1/series/{series}/samples`, parsed and checked
//!   sample by sample, with errors that name the sample at fault;
//! - [`import`]: a dataset CSV loaded into the store (`prescale import`);
//! - [`commit`]: group commit — many concurrent writers share one flush, and each is answered
//!   only once its samples are durable;
//! - [`remote_write`]: Prometheus remote_write 1.0 bodies (snappy + protobuf) turned into
//!   samples per series key, through an allow-list of metric names;
//! - [`prometheus_pull`]: `[[sources]]` — PromQL queries backfilled and polled with
//!   `query_range`, resuming from the store after a restart.
//!
//! Nothing here is accepted half-way: a batch is validated whole before the first sample is
//! written, so a bad sample never leaves part of its batch behind.

pub mod commit;
pub mod import;
pub mod prometheus_pull;
pub mod push;
pub mod remote_write;
pub mod replica_memory;

use crate::series::Timestamp;

/// Errors from turning input into samples.
#[derive(Debug, thiserror::Error)]
pub enum CollectError {
    /// The input does not parse or a sample is invalid; the message names where.
    #[error("{0}")]
    Invalid(String),
    /// More samples than one batch may hold.
    #[error("{got} samples in one batch: at most {max} are accepted, split the batch")]
    TooLarge { got: usize, max: usize },
    #[error(transparent)]
    Csv(#[from] crate::series::csv::CsvError),
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
}

/// What the Prometheus ingest paths share with the API: the remote_write allow-list and
/// counters, and each pull source's status (all shown by `/metrics`).
#[derive(Debug, Default)]
pub struct Ingest {
    pub remote_write: remote_write::RemoteWriteConfig,
    pub remote_write_counters: remote_write::RemoteWriteCounters,
    pub pulls: Vec<std::sync::Arc<prometheus_pull::PullStatus>>,
    /// `[cluster] shared_store`: this replica is one of several that pull one store, so writes
    /// that would reach it alone are refused.
    pub shared_store: bool,
}

/// The most samples one push batch may hold.
pub const MAX_BATCH_SAMPLES: usize = 100_000;

/// The timestamps accepted from outside: 1900-01-01 to 2300-01-01. Anything beyond is almost
/// always milliseconds or nanoseconds sent as seconds, and is refused with a hint.
pub const TIMESTAMP_RANGE: std::ops::RangeInclusive<Timestamp> = -2_208_988_800..=10_413_792_000;

/// The largest sample value accepted from outside: 1e15, beyond any rate of requests, bytes or
/// CPU seconds per second. Loads are never negative. A value outside `0 ..= 1e15` is almost
/// always a unit error or a corrupt writer, and planning on it would only publish
/// `max_replicas`; bounding it keeps every sum in the forecast far from overflow.
pub const MAX_SAMPLE_VALUE: f64 = 1e15;

/// Checks that a (finite) value is a load: in `0 ..= MAX_SAMPLE_VALUE`.
pub fn check_value(value: f64) -> Result<(), String> {
    if value < 0.0 {
        Err(format!(
            "value {value} is negative: a load is never below 0"
        ))
    } else if value > MAX_SAMPLE_VALUE {
        Err(format!(
            "value {value} is larger than the largest load accepted, {MAX_SAMPLE_VALUE:e}"
        ))
    } else {
        Ok(())
    }
}

/// How far ahead of the wall clock a live sample (push, remote_write) may be stamped: one day.
/// More is a wrong clock or a unit error, and stored it would sit ahead of every real sample.
pub const MAX_FUTURE_SECONDS: i64 = 86_400;

/// Checks a timestamp that arrives live (the push API, remote_write) against the clock `now`:
/// not before the Unix epoch, and at most [`MAX_FUTURE_SECONDS`] after `now`. Historic data
/// (`prescale import`, `replay`) is not held to this: it only needs [`TIMESTAMP_RANGE`].
pub fn check_live_timestamp(timestamp: Timestamp, now: Timestamp) -> Result<(), String> {
    if timestamp < 0 {
        Err(format!(
            "timestamp {timestamp} is before the Unix epoch (1970-01-01T00:00:00Z): live samples \
             must be stamped from 0 on"
        ))
    } else if timestamp > now.saturating_add(MAX_FUTURE_SECONDS) {
        Err(format!(
            "timestamp {} is more than one day after the server's clock ({}): live samples may \
             be at most {MAX_FUTURE_SECONDS} s in the future",
            crate::series::format_timestamp(timestamp),
            crate::series::format_timestamp(now),
        ))
    } else {
        Ok(())
    }
}

/// Checks that a timestamp lies in [`TIMESTAMP_RANGE`].
pub fn check_timestamp(timestamp: Timestamp) -> Result<(), String> {
    if TIMESTAMP_RANGE.contains(&timestamp) {
        Ok(())
    } else {
        Err(format!(
            "timestamp {timestamp} is outside the years 1900-2300: unix timestamps are in seconds (not milliseconds)"
        ))
    }
}
