//! `prescale serve --demo`: a real trace as history ending now, a live replay of the rest, and
//! a demo target on it, so a newcomer sees forecasts, plans and external metrics at once.
//!
//! The trace is the NASA Kennedy Space Center web server's requests per minute (July–August
//! 1995, `datasets/nasa-http-1995-1m.csv`), compiled into the binary so the demo works from any
//! directory. Its last week is held back and replayed in real time (one sample per minute), so
//! the demo's load keeps moving and the safety net and refits can be watched working.
//!
//! Re-running `--demo` on the same data directory rewrites the demo series at the new
//! alignment (same timestamps, last write wins).

use std::time::Duration;

use crate::plan::{MetricValue, Target};
use crate::series::csv::read_samples;
use crate::series::{Sample, SeriesKey, Timestamp};
use crate::store::{Store, StoreError};

/// The bundled trace.
pub(crate) const TRACE: &str = include_str!("../datasets/nasa-http-1995-1m.csv");
/// The series the demo writes.
pub const DEMO_SERIES: &str = "demo_http_requests_per_minute";
/// The demo target (also its external metric name).
pub const DEMO_TARGET: &str = "demo";
/// How much of the trace's end is replayed live rather than loaded as history.
const REPLAY: i64 = 7 * 86_400;

/// The held-back part of the trace, already shifted onto the present.
pub struct Replay {
    pub key: SeriesKey,
    pub samples: Vec<Sample>,
}

/// Writes the demo history ending at `now` (flushed) and returns the demo target and the
/// samples to replay from `now` on.
pub fn load(store: &Store, now: Timestamp) -> Result<(Target, Replay), StoreError> {
    let samples = read_samples(TRACE.as_bytes(), "nasa-http-1995-1m.csv")
        .map_err(|e| StoreError::Corrupt(format!("bundled demo trace: {e}")))?;
    let last = samples.last().map_or(0, |s| s.timestamp);
    let split = last - REPLAY;
    // Shift by whole minutes so the last history sample lands on the current minute.
    let shift = (now - now.rem_euclid(60)) - split;
    let shifted = samples.iter().map(|s| Sample {
        timestamp: s.timestamp + shift,
        value: s.value,
    });
    let (history, replay): (Vec<Sample>, Vec<Sample>) =
        shifted.partition(|s| s.timestamp <= split + shift);
    let key = SeriesKey::new(DEMO_SERIES).expect("valid name");
    store.append(&key, &history)?;
    store.flush()?;
    // Capacity: the trace's 99th percentile spread over 20 replicas, as the backtest's
    // `--capacity-per-replica auto` does.
    let mut values: Vec<f64> = samples.iter().map(|s| s.value).collect();
    values.sort_by(f64::total_cmp);
    let p99 = values[(values.len() * 99 / 100).min(values.len() - 1)];
    let target = Target {
        series: key.clone(),
        capacity_per_replica: p99 / 20.0,
        min_replicas: 1,
        max_replicas: 60,
        lead_time: crate::plan::DEFAULT_LEAD_TIME,
        quantile: 0.9,
        scale_down_stabilization: crate::plan::DEFAULT_STABILIZATION,
        metric_value: MetricValue::Replicas,
        labels: Default::default(),
        reactive_utilization: None,
        slo: None,
    };
    Ok((
        target,
        Replay {
            key,
            samples: replay,
        },
    ))
}

/// Appends each held-back sample once its time has come, until the replay is exhausted or
/// `token` is cancelled. `now` reads the clock.
pub async fn replay(
    store: Store,
    replay: Replay,
    now: impl Fn() -> Timestamp,
    token: tokio_util::sync::CancellationToken,
) {
    let mut next = 0;
    while next < replay.samples.len() {
        let due = replay.samples[next..].partition_point(|s| s.timestamp <= now());
        if due > 0 {
            let batch = replay.samples[next..next + due].to_vec();
            let writer = store.clone();
            let key = replay.key.clone();
            let written = tokio::task::spawn_blocking(move || {
                writer.append(&key, &batch).and_then(|_| writer.flush())
            })
            .await;
            if !matches!(written, Ok(Ok(()))) {
                tracing::error!("demo replay could not write; stopping it");
                return;
            }
            next += due;
        }
        tokio::select! {
            biased;
            () = token.cancelled() => return,
            () = tokio::time::sleep(Duration::from_secs(5)) => {}
        }
    }
}
