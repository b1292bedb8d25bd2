//! `prescale replay`: a recorded trace served as a live Prometheus metric at an accelerated
//! clock — the workload of the docker-compose demo, standing in for a real service.
//!
//! The trace's samples are played one after another (its gaps closed up), each lasting
//! `step / speed` seconds of wall time: with the NASA trace (1-minute steps) and `--speed 12`
//! one trace minute lasts 5 s and a trace day two hours, so a daily cycle can be watched in
//! an afternoon. At the end the trace starts again.
//!
//! `GET /metrics` serves, for `--metric NAME`:
//! - `NAME_total`, a counter of requests, growing at the current sample's rate;
//! - `NAME_per_second`, a gauge of that rate (the sample's value divided by its wall duration);
//! - `prescale_replay_trace_timestamp_seconds`, the trace time being played.
//!
//! With `--push-history URL --history-series SERIES`, before serving it pushes the trace's
//! `--history` preceding the replay start to prescale's push API, as per-second rates on the
//! same wall-clock grid ending now — the history a model needs, which Prometheus cannot take
//! (it refuses samples older than its head) — retrying until prescale answers.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;

use crate::series::csv::{CsvError, read_samples};
use crate::series::{Sample, SeriesKey, Span, Timestamp};

/// Errors of the replay command.
#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    #[error(transparent)]
    Csv(#[from] CsvError),
    #[error("{0}")]
    Invalid(String),
    #[error("cannot push the history: {0}")]
    Push(String),
    #[error("cannot serve: {0}")]
    Io(#[from] std::io::Error),
}

/// The replay's settings (the command's flags).
#[derive(Debug, Clone)]
pub struct ReplayOptions {
    /// A dataset CSV; `None`: the bundled NASA trace.
    pub dataset: Option<std::path::PathBuf>,
    /// Trace seconds per wall second; the trace step must be a multiple of it.
    pub speed: i64,
    pub listen: SocketAddr,
    /// Metric name prefix.
    pub metric: String,
    /// Trace time replayed before the live part starts (pushed as history when asked).
    pub history: Span,
    /// prescale's base URL to push the history to.
    pub push_history: Option<String>,
    pub history_series: Option<SeriesKey>,
}

/// A trace laid onto the wall clock.
#[derive(Debug, Clone)]
pub struct Clock {
    values: Vec<f64>,
    /// `prefix[i]`: the sum of `values[..i]`.
    prefix: Vec<f64>,
    /// The trace time of each value (for the trace-time gauge).
    times: Vec<Timestamp>,
    /// Wall seconds each value lasts.
    pub wall_step: i64,
    /// The first live value's index.
    first: usize,
    /// Wall time at which `values[first]` starts.
    start: Timestamp,
}

impl Clock {
    /// Lays `samples` (a trace with step `step`) onto the wall clock so that the sample after
    /// the first `history` of trace time starts at `start` (rounded down to the wall step).
    pub fn new(
        samples: &[Sample],
        step: i64,
        speed: i64,
        history: i64,
        start: Timestamp,
    ) -> Result<Clock, ReplayError> {
        if speed < 1 || step % speed != 0 {
            return Err(ReplayError::Invalid(format!(
                "--speed {speed}: the trace step ({step} s) must be a multiple of it, so that one sample lasts whole seconds"
            )));
        }
        let wall_step = step / speed;
        let first = (history / step) as usize;
        if first + 1 >= samples.len() {
            return Err(ReplayError::Invalid(format!(
                "--history reaches past the trace's end ({} samples)",
                samples.len()
            )));
        }
        let values: Vec<f64> = samples.iter().map(|s| s.value.max(0.0)).collect();
        let mut prefix = Vec::with_capacity(values.len() + 1);
        let mut sum = 0.0;
        prefix.push(0.0);
        for v in &values {
            sum += v;
            prefix.push(sum);
        }
        Ok(Clock {
            times: samples.iter().map(|s| s.timestamp).collect(),
            values,
            prefix,
            wall_step,
            first,
            start: start.div_euclid(wall_step) * wall_step,
        })
    }

    /// The live part's index at wall time `now` (seconds, fractional) and the fraction of it
    /// played; wraps around after the trace's end to its first live sample.
    fn position(&self, now: f64) -> (usize, f64, u64) {
        let live = (self.values.len() - self.first) as f64;
        let played = ((now - self.start as f64) / self.wall_step as f64).max(0.0);
        let cycles = (played / live).floor();
        let within = played - cycles * live;
        let index = within.floor() as usize;
        (
            self.first + index.min(self.values.len() - self.first - 1),
            within.fract(),
            cycles as u64,
        )
    }

    /// The request rate per wall second at `now`.
    pub fn rate(&self, now: f64) -> f64 {
        let (i, _, _) = self.position(now);
        self.values[i] / self.wall_step as f64
    }

    /// Requests counted from the live start to `now`.
    pub fn count(&self, now: f64) -> f64 {
        let (i, fraction, cycles) = self.position(now);
        let per_cycle = self.prefix[self.values.len()] - self.prefix[self.first];
        cycles as f64 * per_cycle
            + (self.prefix[i] - self.prefix[self.first])
            + fraction * self.values[i]
    }

    /// The trace time being played at `now`.
    pub fn trace_time(&self, now: f64) -> Timestamp {
        let (i, fraction, _) = self.position(now);
        let next = self.times.get(i + 1).copied().unwrap_or(self.times[i]);
        self.times[i] + ((next - self.times[i]) as f64 * fraction) as Timestamp
    }

    /// The history before the live start as per-second rates on the wall grid, ending one wall
    /// step before the start.
    pub fn history(&self) -> Vec<Sample> {
        (0..self.first)
            .map(|i| Sample {
                timestamp: self.start - (self.first - i) as i64 * self.wall_step,
                value: self.values[i] / self.wall_step as f64,
            })
            .collect()
    }
}

/// Loads the trace and lays it on the clock at `now`.
pub fn clock(options: &ReplayOptions, now: Timestamp) -> Result<Clock, ReplayError> {
    let samples = match &options.dataset {
        Some(path) => crate::series::csv::read_dataset(path)?.samples,
        None => read_samples(crate::demo::TRACE.as_bytes(), "nasa-http-1995-1m.csv")?,
    };
    let step = crate::series::infer_step(&samples)
        .ok_or_else(|| ReplayError::Invalid("the trace has fewer than two samples".into()))?;
    Clock::new(
        &samples,
        step,
        options.speed,
        options.history.seconds(),
        now,
    )
}

/// The Prometheus text for the clock at `now`.
pub fn render(metric: &str, clock: &Clock, now: f64) -> String {
    format!(
        "# HELP {metric}_total Requests served (replayed trace).\n# TYPE {metric}_total counter\n{metric}_total {}\n\
         # HELP {metric}_per_second Current request rate (replayed trace).\n# TYPE {metric}_per_second gauge\n{metric}_per_second {}\n\
         # HELP prescale_replay_trace_timestamp_seconds Trace time being replayed.\n# TYPE prescale_replay_trace_timestamp_seconds gauge\nprescale_replay_trace_timestamp_seconds {}\n",
        clock.count(now),
        clock.rate(now),
        clock.trace_time(now)
    )
}

fn wall_now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

/// Pushes the history (in batches, retrying for up to five minutes until prescale answers).
async fn push_history(
    base: &str,
    series: &SeriesKey,
    samples: &[Sample],
) -> Result<(), ReplayError> {
    let mut url =
        reqwest::Url::parse(base).map_err(|e| ReplayError::Push(format!("{base:?}: {e}")))?;
    url.path_segments_mut()
        .map_err(|_| ReplayError::Push(format!("{base:?} cannot be a base URL")))?
        .pop_if_empty()
        .extend(["api", "v1", "series", series.as_str(), "samples"]);
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(60))
        .build()
        .map_err(|e| ReplayError::Push(e.to_string()))?;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(300);
    for chunk in samples.chunks(10_000) {
        let body = serde_json::json!({
            "samples": chunk.iter().map(|s| serde_json::json!({"timestamp": s.timestamp, "value": s.value})).collect::<Vec<_>>(),
        });
        loop {
            match client.post(url.clone()).json(&body).send().await {
                Ok(response) if response.status().is_success() => break,
                Ok(response) if response.status().is_client_error() => {
                    let status = response.status();
                    let text = response.text().await.unwrap_or_default();
                    return Err(ReplayError::Push(format!("{url}: {status}: {text}")));
                }
                outcome => {
                    if tokio::time::Instant::now() > deadline {
                        return Err(ReplayError::Push(format!(
                            "{url}: no answer for 5 minutes ({outcome:?})"
                        )));
                    }
                    tracing::info!(%url, "prescale not answering yet; retrying in 2 s");
                    tokio::time::sleep(Duration::from_secs(2)).await;
                }
            }
        }
    }
    tracing::info!(series = %series, samples = samples.len(), "history pushed");
    Ok(())
}

/// Runs the replay until `shutdown` resolves.
pub async fn run(
    options: ReplayOptions,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<(), ReplayError> {
    let clock = Arc::new(clock(&options, wall_now() as Timestamp)?);
    let listener = tokio::net::TcpListener::bind(options.listen).await?;
    tracing::info!(
        listen = %listener.local_addr()?,
        metric = %options.metric,
        wall_step_seconds = clock.wall_step,
        "replay serving"
    );
    if let (Some(base), Some(series)) = (&options.push_history, &options.history_series) {
        let (base, series, history) = (base.clone(), series.clone(), clock.history());
        tokio::spawn(async move {
            if let Err(error) = push_history(&base, &series, &history).await {
                tracing::error!(%error, "history not pushed");
            }
        });
    }
    let metric: Arc<str> = options.metric.into();
    let app = Router::new()
        .route("/metrics", get(metrics))
        .with_state((clock, metric));
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await?;
    Ok(())
}

async fn metrics(State((clock, metric)): State<(Arc<Clock>, Arc<str>)>) -> impl IntoResponse {
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        render(&metric, &clock, wall_now()),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn trace() -> Vec<Sample> {
        // Values 10, 20, 30, 40, 50 per minute; minute 2 is missing (a gap closed up).
        [(0, 10.0), (60, 20.0), (180, 30.0), (240, 40.0), (300, 50.0)]
            .iter()
            .map(|&(t, v)| Sample {
                timestamp: t,
                value: v,
            })
            .collect()
    }

    #[test]
    fn the_clock_plays_samples_at_speed_and_wraps() {
        // Speed 12: each minute lasts 5 s; one minute of history.
        let clock = Clock::new(&trace(), 60, 12, 60, 1003).unwrap();
        assert_eq!(clock.wall_step, 5);
        // Live from 1000 (rounded down): 20, 30, 40, 50, then 20 again.
        assert_eq!(clock.rate(1000.0), 4.0);
        assert_eq!(clock.rate(1004.9), 4.0);
        assert_eq!(clock.rate(1005.0), 6.0);
        assert_eq!(clock.rate(1019.0), 10.0);
        assert_eq!(clock.rate(1020.0), 4.0);
        // The counter grows by each value over its wall step.
        assert_eq!(clock.count(1000.0), 0.0);
        assert!((clock.count(1002.5) - 10.0).abs() < 1e-9);
        assert!((clock.count(1010.0) - 50.0).abs() < 1e-9);
        assert!((clock.count(1020.0) - 140.0).abs() < 1e-9);
        assert!((clock.count(1025.0) - 160.0).abs() < 1e-9);
        // Before the start it stays at zero.
        assert_eq!(clock.count(900.0), 0.0);
        assert_eq!(clock.trace_time(1002.5), 60 + 60);
        // History: the sample before the live start, as a rate, one wall step before it.
        assert_eq!(
            clock.history(),
            [Sample {
                timestamp: 995,
                value: 2.0
            }]
        );
        let text = render("demo_requests", &clock, 1002.5);
        assert!(text.contains("demo_requests_total 10\n"), "{text}");
        assert!(text.contains("demo_requests_per_second 4\n"), "{text}");
    }

    #[test]
    fn bad_settings_are_errors() {
        assert!(Clock::new(&trace(), 60, 7, 0, 0).is_err());
        assert!(Clock::new(&trace(), 60, 0, 0, 0).is_err());
        assert!(Clock::new(&trace(), 60, 1, 3600, 0).is_err());
    }

    #[test]
    fn the_bundled_trace_loads() {
        let options = ReplayOptions {
            dataset: None,
            speed: 12,
            listen: "127.0.0.1:0".parse().unwrap(),
            metric: "demo_requests".into(),
            history: Span::from_seconds(7 * 86_400).unwrap(),
            push_history: None,
            history_series: None,
        };
        let clock = clock(&options, 1_767_607_200).unwrap();
        assert_eq!(clock.history().len(), 7 * 1440);
        assert_eq!(clock.history().last().unwrap().timestamp, 1_767_607_200 - 5);
    }
}
