//! Prometheus pull: a `[[sources]]` entry is a PromQL query evaluated with `query_range` and
//! written to one prescale series.
//!
//! ```toml
//! [[sources]]
//! url = "http://prometheus:9090"                            # Prometheus' base URL
//! query = 'sum(rate(http_requests_total{job="api"}[1m]))'   # must return one series
//! series = "api_rps"                                        # the prescale series written
//! step = "1m"                                               # resolution; default 1m
//! interval = "1m"                                           # poll period; default: step
//! backfill = "14d"                                          # default: train_window
//! timeout = "30s"                                           # per request; default 30s
//! max_points_per_query = 10000                              # default 10,000
//! settle = "1m"                                             # re-read each poll; default 1m, ≤ 10,000 steps
//! ```
//!
//! Thanos Query, Mimir, Cortex and VictoriaMetrics answer the same API; behind a gateway or in
//! a multi-tenant store they need credentials, a tenant or a private CA:
//!
//! ```toml
//! [[sources]]
//! url = "https://mimir-gateway.monitoring:8080/prometheus"
//! query = 'sum(rate(http_requests_total{job="api"}[1m]))'
//! series = "api_rps"
//! tenant = "team-a"                          # X-Scope-OrgID (Mimir, Cortex, Thanos tenancy)
//! bearer_token_file = "/var/run/secrets/tokens/mimir"   # Authorization: Bearer, re-read every poll
//! # or: basic_auth = { username = "prescale", password_file = "/etc/prescale/password" }
//! ca_file = "/etc/prescale/store-ca.crt"     # trust this CA (PEM) instead of the system's roots
//! ```
//!
//! Secrets come from files only (a mounted Secret, a projected service-account token), never
//! from the config itself, and are read again at every poll, so a rotated token is used from
//! the next poll on without a restart. Credentials are refused over plain `http://` to anything
//! but loopback: they would cross the network in clear.
//!
//! # What it does
//!
//! The query is evaluated on a fixed grid, multiples of `step` in unix time, so every run and
//! every restart asks for the same timestamps. Each poll asks from the **store's newest sample**
//! of the series less `settle` (default a minute, at least the newest point: the points
//! evaluated before a slow scrape or a retried remote write landed in Prometheus are evaluated
//! again, and the later answer overwrites them) up to now; a first run, with nothing stored,
//! backfills `backfill` (at most the train window is useful). Long ranges are split into
//! chunks of `max_points_per_query` points (10,000), under Prometheus' limit of 11,000 points
//! per series. Each chunk is
//! made durable (group commit) before the next is asked for, so a crash or restart loses
//! nothing and — since the store keeps one value per timestamp — duplicates nothing: the next
//! run resumes from what is on disk.
//!
//! # When things go wrong
//!
//! Every failure is one log line naming the source, what failed and how stale the series now
//! is, and `/metrics` says the same (`prescale_pull_up`, `prescale_pull_staleness_seconds`,
//! `prescale_pull_consecutive_failures`). Then the source backs off: 1 s, 2 s, 4 s … up to 5
//! minutes between tries.
//! - Prometheus unreachable, a timeout, a non-JSON answer: retried with backoff.
//! - A PromQL error (`{"status":"error"}`, e.g. a syntax error): logged with Prometheus' own
//!   message, retried with backoff (the config may be fixed by a reload of Prometheus' side).
//! - A matrix with several series: refused whole, nothing written, with the label sets found —
//!   aggregate the query (`sum(...)`) so it names one series.
//! - An empty matrix: nothing to write (the series is absent in that range); not an error.
//! - `NaN` and `±Inf` values (Prometheus returns them for `0/0` and the like; stale markers
//!   never appear in query results, they end a series instead): skipped and counted, not
//!   errors — a gap is a missing sample in prescale.
//!
//! The series should belong to its source: samples pushed to it by other means move its newest
//! timestamp, and the source resumes after them.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::time::Duration;

use serde::Deserialize;
use tokio_util::sync::CancellationToken;

use super::commit::Committer;
use crate::series::{Sample, SeriesKey, Span, Timestamp};
use crate::store::Store;

/// Points per `query_range` call by default; Prometheus refuses more than 11,000.
pub const CHUNK_POINTS: i64 = 10_000;

/// Prometheus' own limit of points per series in one `query_range` answer.
pub const PROMETHEUS_MAX_POINTS: i64 = 11_000;
/// At most this many steps are evaluated again at every poll (`settle`): each poll reads them
/// from Prometheus and from the store, so a `settle` of days on a one-second step would make
/// every poll a backfill.
pub const MAX_SETTLE_STEPS: i64 = 10_000;

/// The longest wait between two tries after failures.
pub const MAX_BACKOFF: Duration = Duration::from_secs(300);

/// One `[[sources]]` entry.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SourceConfig {
    /// Prometheus' base URL (`http://prometheus:9090`, or with a path prefix).
    pub url: String,
    /// A PromQL expression returning one series.
    pub query: String,
    /// The prescale series the values are written to.
    pub series: SeriesKey,
    /// Evaluation step.
    #[serde(default = "default_step")]
    pub step: Span,
    /// How often to poll; default: `step`.
    pub interval: Option<Span>,
    /// How far back a first run reaches; default: the engine's train window.
    pub backfill: Option<Span>,
    /// Per-request timeout.
    #[serde(default = "default_timeout")]
    pub timeout: Span,
    /// Points per `query_range` call (1 to 11,000).
    #[serde(default = "default_max_points")]
    pub max_points_per_query: i64,
    /// How far back of the newest stored point each poll evaluates again: a point evaluated
    /// before the samples at or before it reached the store (a scrape that took long, a remote
    /// write retried) held the previous value, and the store keeps the later answer.
    #[serde(default = "default_settle")]
    pub settle: Span,
    /// Sent as `X-Scope-OrgID` with every query (the tenant of Mimir, Cortex or Thanos).
    #[serde(default)]
    pub tenant: Option<String>,
    /// A file holding a bearer token (`Authorization: Bearer …`), read at every poll.
    #[serde(default)]
    pub bearer_token_file: Option<PathBuf>,
    /// HTTP basic authentication, the password read from a file at every poll.
    #[serde(default)]
    pub basic_auth: Option<BasicAuth>,
    /// PEM certificates of the CA(s) the store's certificate is checked against, instead of the
    /// system's roots (`https://` only).
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
}

/// What a poll authenticates with (read from the files at each poll).
enum Credentials {
    Bearer(String),
    Basic { username: String, password: String },
}

/// `basic_auth = { username = "…", password_file = "…" }`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BasicAuth {
    pub username: String,
    pub password_file: PathBuf,
}

/// The longest tenant ID accepted (Mimir's own limit).
pub const MAX_TENANT_LENGTH: usize = 150;

/// The largest credential file read (a projected service-account token is about 1 kB).
pub const MAX_SECRET_BYTES: u64 = 64 * 1024;

/// The contents of a secret file, trimmed of surrounding whitespace (a trailing newline is the
/// rule in mounted Secrets); an error names the file and the key it came from.
fn read_secret(key: &str, path: &Path) -> Result<String, String> {
    let fail = |why: String| format!("{key} {}: {why}", path.display());
    let file = std::fs::File::open(path).map_err(|e| fail(e.to_string()))?;
    let mut text = String::new();
    std::io::Read::read_to_string(
        &mut std::io::Read::take(file, MAX_SECRET_BYTES + 1),
        &mut text,
    )
    .map_err(|e| fail(e.to_string()))?;
    if text.len() as u64 > MAX_SECRET_BYTES {
        return Err(fail(format!("larger than {MAX_SECRET_BYTES} bytes")));
    }
    let secret = text.trim();
    if secret.is_empty() {
        return Err(fail("is empty".into()));
    }
    if secret.chars().any(|c| c.is_control()) {
        return Err(fail("holds control characters (one line expected)".into()));
    }
    Ok(secret.to_string())
}

fn default_max_points() -> i64 {
    CHUNK_POINTS
}

fn default_step() -> Span {
    Span::from_seconds(60).expect("positive")
}

fn default_settle() -> Span {
    Span::from_seconds(60).expect("positive")
}

fn default_timeout() -> Span {
    Span::from_seconds(30).expect("positive")
}

impl SourceConfig {
    /// Checks the URL and the query; the message names the key.
    pub fn check(&self) -> Result<(), String> {
        let url = reqwest::Url::parse(&self.url).map_err(|e| format!("url {:?}: {e}", self.url))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(format!("url {:?}: must be http:// or https://", self.url));
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(
                "url: holds credentials, which would be logged and shown in plans; use basic_auth with a password_file"
                    .into(),
            );
        }
        if self.query.trim().is_empty() {
            return Err("query must not be empty".into());
        }
        if !(1..=PROMETHEUS_MAX_POINTS).contains(&self.max_points_per_query) {
            return Err(format!(
                "max_points_per_query must be 1 to {PROMETHEUS_MAX_POINTS}, got {}",
                self.max_points_per_query
            ));
        }
        let settle_steps = self.settle.seconds() / self.step.seconds().max(1);
        if settle_steps > MAX_SETTLE_STEPS {
            return Err(format!(
                "settle {}: at most {MAX_SETTLE_STEPS} steps of {} (every poll reads them again), got {settle_steps}",
                self.settle, self.step
            ));
        }
        if let Some(tenant) = &self.tenant {
            let printable = tenant.chars().all(|c| c.is_ascii_graphic());
            if tenant.is_empty() || tenant.len() > MAX_TENANT_LENGTH || !printable {
                return Err(format!(
                    "tenant {tenant:?}: 1 to {MAX_TENANT_LENGTH} printable ASCII characters, no spaces"
                ));
            }
        }
        if self.bearer_token_file.is_some() && self.basic_auth.is_some() {
            return Err(
                "bearer_token_file and basic_auth: give one (both would be one Authorization header)"
                    .into(),
            );
        }
        if let Some(auth) = &self.basic_auth
            && (auth.username.is_empty()
                || auth.username.contains(':')
                || auth.username.chars().any(|c| c.is_control()))
        {
            return Err(format!(
                "basic_auth.username {:?}: must be non-empty, without ':' or control characters",
                auth.username
            ));
        }
        let has_credentials = self.bearer_token_file.is_some() || self.basic_auth.is_some();
        let host = url.host_str().unwrap_or("");
        let loopback = host.eq_ignore_ascii_case("localhost")
            || host
                .trim_start_matches('[')
                .trim_end_matches(']')
                .parse::<std::net::IpAddr>()
                .is_ok_and(|ip| ip.is_loopback());
        if has_credentials && url.scheme() == "http" && !loopback {
            return Err(format!(
                "url {:?}: credentials would cross the network in clear text over http://; use https:// (with ca_file for a private CA)",
                self.url
            ));
        }
        if self.ca_file.is_some() && url.scheme() != "https" {
            return Err(format!("ca_file: the url {:?} is not https://", self.url));
        }
        // The files exist and read now: a typo fails the start, not every poll.
        self.credentials()?;
        self.root_certificates()?;
        Ok(())
    }

    /// The credentials, from the files read now (`None` without credentials).
    fn credentials(&self) -> Result<Option<Credentials>, String> {
        if let Some(path) = &self.bearer_token_file {
            let token = read_secret("bearer_token_file", path)?;
            return Ok(Some(Credentials::Bearer(token)));
        }
        if let Some(auth) = &self.basic_auth {
            let password = read_secret("basic_auth.password_file", &auth.password_file)?;
            return Ok(Some(Credentials::Basic {
                username: auth.username.clone(),
                password,
            }));
        }
        Ok(None)
    }

    /// `request` with this source's credentials and tenant (the header marked sensitive).
    fn authorize(
        &self,
        request: reqwest::RequestBuilder,
        credentials: Option<&Credentials>,
    ) -> reqwest::RequestBuilder {
        let request = match credentials {
            Some(Credentials::Bearer(token)) => request.bearer_auth(token),
            Some(Credentials::Basic { username, password }) => {
                request.basic_auth(username, Some(password))
            }
            None => request,
        };
        match &self.tenant {
            Some(tenant) => request.header("X-Scope-OrgID", tenant),
            None => request,
        }
    }

    /// The certificates of `ca_file`, when set.
    fn root_certificates(&self) -> Result<Option<Vec<reqwest::Certificate>>, String> {
        let Some(path) = &self.ca_file else {
            return Ok(None);
        };
        let fail = |why: String| format!("ca_file {}: {why}", path.display());
        let pem = std::fs::read(path).map_err(|e| fail(e.to_string()))?;
        let certificates = reqwest::Certificate::from_pem_bundle(&pem)
            .map_err(|e| fail(format!("not PEM certificates: {e}")))?;
        if certificates.is_empty() {
            return Err(fail("holds no PEM certificate".into()));
        }
        Ok(Some(certificates))
    }

    /// The HTTP client of this source: its timeout, and its CA when it has one.
    pub fn client(&self) -> Result<reqwest::Client, String> {
        let mut builder = reqwest::Client::builder()
            .timeout(Duration::from_secs(self.timeout.seconds() as u64))
            .connect_timeout(Duration::from_secs(self.timeout.seconds().min(10) as u64));
        if let Some(certificates) = self.root_certificates()? {
            builder = builder.tls_certs_only(certificates);
        }
        builder.build().map_err(|e| error_chain(&e))
    }

    /// The poll period.
    pub fn interval(&self) -> Span {
        self.interval.unwrap_or(self.step)
    }

    /// `{url}/api/v1/query_range` for `query`.
    fn url_for(
        &self,
        query: &str,
        start: Timestamp,
        end: Timestamp,
        step: i64,
    ) -> Result<reqwest::Url, String> {
        let mut url = reqwest::Url::parse(&self.url).map_err(|e| e.to_string())?;
        let path = format!("{}/api/v1/query_range", url.path().trim_end_matches('/'));
        url.set_path(&path);
        url.query_pairs_mut()
            .append_pair("query", query)
            .append_pair("start", &start.to_string())
            .append_pair("end", &end.to_string())
            .append_pair("step", &step.to_string());
        Ok(url)
    }

    /// Evaluates `query` (one series) over `start ..= end` every `step` seconds on this source's
    /// store, with its credentials (read from their files now) and tenant: what it answered.
    pub async fn query_range(
        &self,
        client: &reqwest::Client,
        query: &str,
        start: Timestamp,
        end: Timestamp,
        step: i64,
    ) -> Result<Points, PullError> {
        let url = self
            .url_for(query, start, end, step.max(1))
            .map_err(PullError::Decode)?;
        let credentials = self.credentials().map_err(PullError::Credentials)?;
        let response = self
            .authorize(client.get(url), credentials.as_ref())
            .send()
            .await
            .map_err(|e| PullError::Unreachable(error_chain(&e.without_url())))?;
        let status = response.status().as_u16();
        let body = read_capped(response, MAX_ANSWER_BYTES).await?;
        parse_answer(status, &body)
    }
}

/// Why one poll failed.
#[derive(Debug, thiserror::Error)]
pub enum PullError {
    #[error("Prometheus unreachable: {0}")]
    Unreachable(String),
    #[error("credentials unreadable: {0}")]
    Credentials(String),
    #[error("Prometheus answered HTTP {status} without a JSON body: {body}")]
    Http { status: u16, body: String },
    #[error("Prometheus refused the query ({kind}): {message}")]
    Query { kind: String, message: String },
    #[error(
        "the query returned {count} series, prescale needs exactly one: aggregate it (e.g. sum(...)); found {examples}"
    )]
    SeveralSeries { count: usize, examples: String },
    #[error("unexpected answer from Prometheus: {0}")]
    Decode(String),
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    #[error("samples not durable: {0}")]
    Durability(String),
}

/// A source's state for `/metrics`, shared with the API.
#[derive(Debug)]
pub struct PullStatus {
    pub series: SeriesKey,
    pub samples: AtomicU64,
    pub skipped: AtomicU64,
    pub successes: AtomicU64,
    pub failures: AtomicU64,
    pub consecutive_failures: AtomicU64,
    /// Unix seconds of the last successful poll; 0 before the first.
    pub last_success: AtomicI64,
    /// The newest sample of the series in the store; `i64::MIN` when there is none.
    pub newest: AtomicI64,
    /// The error of the last poll, while the source is failing (cut as `series::clip` cuts).
    pub last_error: std::sync::Mutex<Option<String>>,
    /// Seconds of the current poll's range not fetched yet (0 when caught up): a backfill's
    /// progress.
    pub backfill_remaining: AtomicI64,
    /// How old the cached series may be for the replica to serve from it before the first poll
    /// succeeds: three poll intervals, at least five minutes.
    pub fresh_within: i64,
    /// The store the series comes from (its URL) and the tenant asked for, for the plan API.
    pub url: String,
    pub tenant: Option<String>,
}

impl PullStatus {
    pub fn new(series: SeriesKey) -> PullStatus {
        PullStatus {
            series,
            samples: AtomicU64::new(0),
            skipped: AtomicU64::new(0),
            successes: AtomicU64::new(0),
            failures: AtomicU64::new(0),
            consecutive_failures: AtomicU64::new(0),
            last_success: AtomicI64::new(0),
            newest: AtomicI64::new(i64::MIN),
            last_error: std::sync::Mutex::new(None),
            backfill_remaining: AtomicI64::new(0),
            fresh_within: 300,
            url: String::new(),
            tenant: None,
        }
    }

    /// The status of `source`'s series, fresh within three of its poll intervals.
    pub fn for_source(source: &SourceConfig) -> PullStatus {
        PullStatus {
            fresh_within: source.interval().seconds().saturating_mul(3).max(300),
            url: source.url.clone(),
            tenant: source.tenant.clone(),
            ..PullStatus::new(source.series.clone())
        }
    }

    /// Why the replica should not serve yet, while the source's history is not in: no poll has
    /// succeeded since the start, and either nothing of the series is cached (an empty or lost
    /// volume: nothing to plan on until the store answers) or the cache is stale and the first
    /// poll, still under way, is bringing it up to date. A stale cache whose store fails is
    /// served (and the source named as down): a plan from yesterday's history beats no metric.
    pub fn backfilling(&self, now: Timestamp) -> Option<String> {
        if self.successes.load(Ordering::Relaxed) > 0 {
            return None;
        }
        let series = self.series.as_str();
        let remaining = self.backfill_remaining.load(Ordering::Relaxed);
        match self.staleness(now) {
            None => Some(match self.down(now) {
                Some(why) => format!("nothing of {series:?} is stored and {why}"),
                None if remaining > 0 => {
                    format!("backfilling {series:?} from the store: {remaining} s of history left")
                }
                None => format!("waiting for the first poll of {series:?}"),
            }),
            Some(age)
                if age > self.fresh_within
                    && self.consecutive_failures.load(Ordering::Relaxed) == 0 =>
            {
                Some(format!(
                    "backfilling {series:?} from the store: the cached series is {age} s old, {remaining} s of history left"
                ))
            }
            Some(_) => None,
        }
    }

    /// The error of the last poll (`None` while it succeeds); a poisoned lock still holds it.
    fn last_error(&self) -> std::sync::MutexGuard<'_, Option<String>> {
        self.last_error
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn set_last_error(&self, error: Option<String>) {
        *self.last_error() = error;
    }

    /// Why the source is down, when its last poll failed: the failures in a row, since when it
    /// last succeeded, how old its newest sample is and the last error.
    pub fn down(&self, now: i64) -> Option<String> {
        let failures = self.consecutive_failures.load(Ordering::Relaxed);
        if failures == 0 {
            return None;
        }
        let last_success = match self.last_success.load(Ordering::Relaxed) {
            0 => "never succeeded".to_string(),
            at => format!("last succeeded at {}", crate::series::format_timestamp(at)),
        };
        let newest = match self.staleness(now) {
            Some(seconds) => format!("newest sample {seconds} s old"),
            None => "no sample yet".to_string(),
        };
        let error = self.last_error().clone().unwrap_or_default();
        Some(format!(
            "the Prometheus pull source of {:?} is failing ({failures} polls in a row, \
             {last_success}, {newest}): {error}",
            self.series.as_str()
        ))
    }

    /// Seconds between `now` and the newest stored sample, when there is one.
    pub fn staleness(&self, now: Timestamp) -> Option<i64> {
        match self.newest.load(Ordering::Relaxed) {
            i64::MIN => None,
            newest => Some((now - newest).max(0)),
        }
    }
}

/// The wait before try `failures + 1`: 1 s, 2 s, 4 s … capped at [`MAX_BACKOFF`].
pub fn backoff(failures: u32) -> Duration {
    let seconds = 1u64 << failures.saturating_sub(1).min(16);
    Duration::from_secs(seconds).min(MAX_BACKOFF)
}

/// The grid of one poll: evaluation times from `start` to `end`, both multiples of `step`,
/// from `settle` before the newest stored point (at least the newest point itself). `None` when
/// there is nothing to ask for yet.
pub fn poll_range(
    newest: Option<Timestamp>,
    now: Timestamp,
    step: i64,
    (backfill, settle): (i64, i64),
) -> Option<(Timestamp, Timestamp)> {
    let end = now.div_euclid(step) * step;
    let earliest = (now - backfill).div_euclid(step) * step + step;
    let start = match newest {
        Some(newest) => (newest.saturating_sub(settle).div_euclid(step) * step).max(earliest),
        None => earliest,
    };
    (start <= end).then_some((start, end))
}

/// `query_range`'s answer as Prometheus documents it.
#[derive(Deserialize)]
struct Answer {
    status: String,
    data: Option<AnswerData>,
    #[serde(rename = "errorType")]
    error_type: Option<String>,
    error: Option<String>,
}

#[derive(Deserialize)]
struct AnswerData {
    #[serde(rename = "resultType")]
    result_type: String,
    result: Vec<MatrixSeries>,
}

#[derive(Deserialize)]
struct MatrixSeries {
    #[serde(default)]
    metric: serde_json::Map<String, serde_json::Value>,
    #[serde(default)]
    values: Vec<(f64, String)>,
}

/// What one `query_range` answer holds once checked.
#[derive(Debug, Default, PartialEq)]
pub struct Points {
    pub samples: Vec<Sample>,
    /// NaN, infinite, negative or larger than 1e15 values skipped.
    pub skipped: u64,
}

/// Parses a `query_range` body (any HTTP status: errors come as JSON too).
pub fn parse_answer(status: u16, body: &[u8]) -> Result<Points, PullError> {
    let answer: Answer = serde_json::from_slice(body).map_err(|_| PullError::Http {
        status,
        body: String::from_utf8_lossy(&body[..body.len().min(200)]).into_owned(),
    })?;
    if answer.status != "success" {
        return Err(PullError::Query {
            kind: answer.error_type.unwrap_or_else(|| "unknown".into()),
            message: answer.error.unwrap_or_else(|| "(no message)".into()),
        });
    }
    let data = answer
        .data
        .ok_or_else(|| PullError::Decode("a success without data".into()))?;
    if data.result_type != "matrix" {
        return Err(PullError::Decode(format!(
            "resultType {:?}, expected a matrix",
            data.result_type
        )));
    }
    if data.result.len() > 1 {
        let examples: Vec<String> = data
            .result
            .iter()
            .take(3)
            .map(|s| serde_json::Value::Object(s.metric.clone()).to_string())
            .collect();
        return Err(PullError::SeveralSeries {
            count: data.result.len(),
            examples: examples.join(", "),
        });
    }
    let mut points = Points::default();
    for series in data.result {
        for (time, text) in series.values {
            let value = match text.as_str() {
                "NaN" | "+Inf" | "-Inf" | "Inf" => f64::NAN,
                _ => text.parse::<f64>().map_err(|_| {
                    PullError::Decode(format!("value {text:?} at {time} is not a number"))
                })?,
            };
            if !value.is_finite() || super::check_value(value).is_err() {
                points.skipped += 1;
                continue;
            }
            if !time.is_finite() {
                return Err(PullError::Decode(format!("timestamp {time} is not finite")));
            }
            points.samples.push(Sample {
                timestamp: time.round() as Timestamp,
                value,
            });
        }
    }
    Ok(points)
}

/// Everything one source's loop needs.
pub struct Puller {
    pub source: SourceConfig,
    pub status: Arc<PullStatus>,
    pub store: Store,
    pub committer: Committer,
    /// Used when the source sets no `backfill`.
    pub default_backfill: Span,
    /// Reads the clock (unix seconds).
    pub now: fn() -> Timestamp,
}

impl Puller {
    /// Polls until `token` is cancelled: at once, then every `interval`, backing off after
    /// failures. A poll under way is finished first.
    pub async fn run(self, token: CancellationToken) {
        let client = match self.source.client() {
            Ok(client) => client,
            Err(error) => {
                tracing::error!(source = %self.source.series, %error, "cannot build an HTTP client; source stopped");
                return;
            }
        };
        let interval = Duration::from_secs(self.source.interval().seconds() as u64);
        let mut failures: u32 = 0;
        loop {
            let wait = match self.poll(&client).await {
                Ok(written) => {
                    failures = 0;
                    self.status.consecutive_failures.store(0, Ordering::Relaxed);
                    self.status.set_last_error(None);
                    self.status.successes.fetch_add(1, Ordering::Relaxed);
                    self.status
                        .last_success
                        .store((self.now)(), Ordering::Relaxed);
                    tracing::debug!(source = %self.source.series, written, "pulled");
                    interval
                }
                Err(error) => {
                    failures = failures.saturating_add(1);
                    self.status.failures.fetch_add(1, Ordering::Relaxed);
                    self.status
                        .set_last_error(Some(crate::series::clip(&error.to_string())));
                    self.status
                        .consecutive_failures
                        .store(u64::from(failures), Ordering::Relaxed);
                    let wait = backoff(failures);
                    let stale = match self.status.staleness((self.now)()) {
                        Some(seconds) => format!("newest sample {seconds} s old"),
                        None => "no sample yet".to_string(),
                    };
                    tracing::warn!(
                        source = %self.source.series,
                        url = %self.source.url,
                        %error,
                        staleness = %stale,
                        retry_in_seconds = wait.as_secs(),
                        failures,
                        "Prometheus pull failed"
                    );
                    wait
                }
            };
            tokio::select! {
                biased;
                () = token.cancelled() => return,
                () = tokio::time::sleep(wait) => {}
            }
        }
    }

    /// One poll: from the newest stored sample to now, chunk by chunk, each made durable.
    /// Returns the samples written.
    pub async fn poll(&self, client: &reqwest::Client) -> Result<u64, PullError> {
        let step = self.source.step.seconds();
        let backfill = self
            .source
            .backfill
            .unwrap_or(self.default_backfill)
            .seconds();
        let newest = self.newest().await?;
        let settle = self.source.settle.seconds();
        let Some((start, end)) = poll_range(newest, (self.now)(), step, (backfill, settle)) else {
            return Ok(0);
        };
        // The points re-read to settle are not history still to come: the backfill figures
        // count from the newest stored point, as before it was re-read.
        let resume = newest.map_or(start, |n| (n.div_euclid(step) * step).clamp(start, end));
        let backfilling = newest.is_none() || end - resume > 10 * step;
        // What the points to settle hold now: one answered the same again is not written again
        // (nor counted as a sample written).
        let settled = match newest {
            Some(newest) if start <= newest => self.stored(start, newest + 1).await?,
            _ => Vec::new(),
        };
        let mut written = 0;
        let mut chunk_start = start;
        while chunk_start <= end {
            self.status
                .backfill_remaining
                .store(end - chunk_start.max(resume) + step, Ordering::Relaxed);
            let chunk_end = (chunk_start + (self.source.max_points_per_query - 1) * step).min(end);
            let mut points = self
                .source
                .query_range(client, &self.source.query, chunk_start, chunk_end, step)
                .await?;
            points.samples.retain(|sample| {
                settled
                    .binary_search_by_key(&sample.timestamp, |stored| stored.timestamp)
                    .map_or(true, |at| settled[at].value != sample.value)
            });
            self.status
                .skipped
                .fetch_add(points.skipped, Ordering::Relaxed);
            if !points.samples.is_empty() {
                let (store, key, samples) = (
                    self.store.clone(),
                    self.source.series.clone(),
                    points.samples,
                );
                let count = samples.len() as u64;
                let newest = samples.iter().map(|s| s.timestamp).max();
                let generation = self.committer.generation();
                tokio::task::spawn_blocking(move || store.append(&key, &samples))
                    .await
                    .map_err(|e| PullError::Durability(e.to_string()))??;
                self.committer
                    .durable(generation)
                    .await
                    .map_err(PullError::Durability)?;
                written += count;
                self.status.samples.fetch_add(count, Ordering::Relaxed);
                if let Some(newest) = newest {
                    self.status.newest.fetch_max(newest, Ordering::Relaxed);
                }
            }
            chunk_start = chunk_end + step;
        }
        self.status.backfill_remaining.store(0, Ordering::Relaxed);
        if backfilling {
            tracing::info!(
                source = %self.source.series,
                from = %crate::series::format_timestamp(start),
                to = %crate::series::format_timestamp(end),
                samples = written,
                "Prometheus backfill done"
            );
        }
        Ok(written)
    }

    /// The stored samples of the series with `from <= timestamp < to`, sorted.
    async fn stored(&self, from: Timestamp, to: Timestamp) -> Result<Vec<Sample>, PullError> {
        let (store, key) = (self.store.clone(), self.source.series.clone());
        Ok(
            tokio::task::spawn_blocking(move || store.read(&key, from, to))
                .await
                .map_err(|e| PullError::Durability(e.to_string()))??,
        )
    }

    async fn newest(&self) -> Result<Option<Timestamp>, PullError> {
        let (store, key) = (self.store.clone(), self.source.series.clone());
        let newest = tokio::task::spawn_blocking(move || store.latest(&key))
            .await
            .map_err(|e| PullError::Durability(e.to_string()))??
            .map(|s| s.timestamp);
        if let Some(newest) = newest {
            self.status.newest.fetch_max(newest, Ordering::Relaxed);
        }
        Ok(newest)
    }
}

/// The largest `query_range` answer read: 11,000 points of one series take well under 1 MB of
/// JSON, so this only stops a store (or something posing as one) from filling the memory.
pub const MAX_ANSWER_BYTES: usize = 32 * 1024 * 1024;

/// The body of `response`, refused past `limit` bytes (announced or received).
async fn read_capped(mut response: reqwest::Response, limit: usize) -> Result<Vec<u8>, PullError> {
    let too_large = || PullError::Decode(format!("the answer is larger than {limit} bytes"));
    if response.content_length().is_some_and(|n| n > limit as u64) {
        return Err(too_large());
    }
    let mut body = Vec::new();
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|e| PullError::Unreachable(error_chain(&e.without_url())))?
    {
        if body.len() + chunk.len() > limit {
            return Err(too_large());
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// An error with its causes (reqwest's top-level message alone says little: "error sending
/// request").
fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// A stand-in for a Prometheus-compatible store's `query_range`, for tests: serves on
/// 127.0.0.1 (the port returned) one series whose value at each evaluation time `t` of the
/// request (`start..=end` by `step` seconds) is `value(t)`.
#[cfg(test)]
pub(crate) async fn serve_query_range(
    value: impl Fn(i64) -> String + Clone + Send + Sync + 'static,
) -> u16 {
    let app = axum::Router::new().route(
        "/api/v1/query_range",
        axum::routing::get(
            move |axum::extract::Query(q): axum::extract::Query<
                std::collections::HashMap<String, String>,
            >| async move {
                let field = |name: &str| -> i64 { q[name].parse().unwrap() };
                let step = usize::try_from(field("step")).unwrap().max(1);
                let values: Vec<String> = (field("start")..=field("end"))
                    .step_by(step)
                    .map(|t| format!("[{t},\"{}\"]", value(t)))
                    .collect();
                format!(
                    r#"{{"status":"success","data":{{"resultType":"matrix","result":[{{"metric":{{}},"values":[{}]}}]}}}}"#,
                    values.join(",")
                )
            },
        ),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move { axum::serve(listener, app).await });
    port
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_grid_resumes_at_the_newest_sample() {
        // Nothing stored: the backfill window, on the step grid.
        assert_eq!(poll_range(None, 1000, 60, (600, 0)), Some((420, 960)));
        // Resume: the newest point again, up to now.
        assert_eq!(poll_range(Some(900), 1000, 60, (600, 0)), Some((900, 960)));
        // An unaligned newest sample (another writer) starts at its grid step.
        assert_eq!(poll_range(Some(910), 1000, 60, (600, 0)), Some((900, 960)));
        // Down for longer than the backfill: no further back than it.
        assert_eq!(
            poll_range(Some(0), 10_000, 60, (600, 0)),
            Some((9420, 9960))
        );
        // Newest in the current step: that step is evaluated again.
        assert_eq!(poll_range(Some(960), 1000, 60, (600, 0)), Some((960, 960)));
        // A newest sample from the future (clock skew): nothing to ask.
        assert_eq!(poll_range(Some(2000), 1000, 60, (600, 0)), None);
    }

    #[test]
    fn each_poll_reads_the_settling_points_again() {
        // The default minute before the newest point, on the grid, up to now.
        assert_eq!(poll_range(Some(900), 1000, 60, (600, 60)), Some((840, 960)));
        // One-second steps: the last minute is evaluated again (a scrape that landed late).
        assert_eq!(poll_range(Some(347), 350, 1, (600, 60)), Some((287, 350)));
        // Never further back than the backfill.
        assert_eq!(
            poll_range(Some(900), 1000, 60, (120, 600)),
            Some((900, 960))
        );
        // A newest sample from the future: still nothing to ask.
        assert_eq!(poll_range(Some(2000), 1000, 60, (600, 60)), None);
    }

    #[test]
    fn backoff_doubles_up_to_five_minutes() {
        let waits: Vec<u64> = (1..=10).map(|n| backoff(n).as_secs()).collect();
        assert_eq!(waits, [1, 2, 4, 8, 16, 32, 64, 128, 256, 300]);
        assert_eq!(backoff(u32::MAX), MAX_BACKOFF);
    }

    #[test]
    fn answers_parse() {
        let ok = br#"{"status":"success","data":{"resultType":"matrix","result":[
            {"metric":{},"values":[[1700000000,"1.5"],[1700000060,"NaN"],[1700000120,"+Inf"],[1700000180,"2"]]}]}}"#;
        let points = parse_answer(200, ok).unwrap();
        assert_eq!(points.skipped, 2);
        assert_eq!(
            points.samples,
            [
                Sample {
                    timestamp: 1_700_000_000,
                    value: 1.5
                },
                Sample {
                    timestamp: 1_700_000_180,
                    value: 2.0
                }
            ]
        );
        let empty = br#"{"status":"success","data":{"resultType":"matrix","result":[]}}"#;
        assert_eq!(parse_answer(200, empty).unwrap(), Points::default());
    }

    #[test]
    fn bad_answers_are_clear_errors() {
        let error = br#"{"status":"error","errorType":"bad_data","error":"parse error: unexpected end of input"}"#;
        let text = parse_answer(400, error).unwrap_err().to_string();
        assert!(
            text.contains("bad_data") && text.contains("parse error"),
            "{text}"
        );
        let several = br#"{"status":"success","data":{"resultType":"matrix","result":[
            {"metric":{"job":"a"},"values":[[1,"1"]]},{"metric":{"job":"b"},"values":[[1,"2"]]}]}}"#;
        let text = parse_answer(200, several).unwrap_err().to_string();
        assert!(
            text.contains("2 series") && text.contains(r#""job":"b""#),
            "{text}"
        );
        let text = parse_answer(502, b"<html>bad gateway</html>")
            .unwrap_err()
            .to_string();
        assert!(
            text.contains("502") && text.contains("bad gateway"),
            "{text}"
        );
        let vector = br#"{"status":"success","data":{"resultType":"vector","result":[]}}"#;
        assert!(matches!(
            parse_answer(200, vector),
            Err(PullError::Decode(_))
        ));
        let junk = br#"{"status":"success","data":{"resultType":"matrix","result":[{"metric":{},"values":[[1,"x"]]}]}}"#;
        assert!(matches!(parse_answer(200, junk), Err(PullError::Decode(_))));
    }

    #[test]
    fn urls_keep_a_path_prefix() {
        let source = SourceConfig {
            url: "http://prom:9090/prefix/".into(),
            query: "sum(rate(x[1m]))".into(),
            series: SeriesKey::new("x").unwrap(),
            step: default_step(),
            interval: None,
            backfill: None,
            timeout: default_timeout(),
            max_points_per_query: CHUNK_POINTS,
            settle: default_settle(),
            tenant: None,
            bearer_token_file: None,
            basic_auth: None,
            ca_file: None,
        };
        let url = source.url_for(&source.query, 60, 120, 60).unwrap();
        assert_eq!(url.path(), "/prefix/api/v1/query_range");
        assert!(url.as_str().contains("step=60"), "{url}");
        assert!(
            url.as_str().contains("query=sum%28rate%28x%5B1m%5D%29%29"),
            "{url}"
        );
        assert!(source.check().is_ok());
        let bad = SourceConfig {
            url: "ftp://x".into(),
            ..source.clone()
        };
        assert!(bad.check().is_err());
        let bad = SourceConfig {
            query: " ".into(),
            ..source
        };
        assert!(bad.check().is_err());
    }

    fn source(toml_text: &str) -> SourceConfig {
        let text = format!(
            "url = \"https://mimir:8080/prometheus\"\nquery = \"up\"\nseries = \"x\"\n{toml_text}"
        );
        toml::from_str(&text).unwrap()
    }

    #[test]
    fn credentials_come_from_files_read_at_every_poll() {
        let dir = tempfile::tempdir().unwrap();
        let token = dir.path().join("token");
        std::fs::write(&token, "first-token\n").unwrap();
        let bearer = source(&format!(
            "tenant = \"team-a\"\nbearer_token_file = {:?}",
            token.to_str().unwrap()
        ));
        assert_eq!(bearer.check(), Ok(()));
        assert!(matches!(
            bearer.credentials(),
            Ok(Some(Credentials::Bearer(t))) if t == "first-token"
        ));
        // Rotated: the next read has the new token.
        std::fs::write(&token, "second-token").unwrap();
        assert!(matches!(
            bearer.credentials(),
            Ok(Some(Credentials::Bearer(t))) if t == "second-token"
        ));
        let client = bearer.client().unwrap();
        let request = bearer
            .authorize(
                client.get("https://mimir:8080/"),
                bearer.credentials().unwrap().as_ref(),
            )
            .build()
            .unwrap();
        let headers = request.headers();
        assert_eq!(headers["authorization"], "Bearer second-token");
        assert!(headers["authorization"].is_sensitive());
        assert_eq!(headers["x-scope-orgid"], "team-a");

        let password = dir.path().join("password");
        std::fs::write(&password, "s3cret\n").unwrap();
        let basic = source(&format!(
            "basic_auth = {{ username = \"prescale\", password_file = {:?} }}",
            password.to_str().unwrap()
        ));
        assert_eq!(basic.check(), Ok(()));
        let request = basic
            .authorize(
                client.get("https://mimir:8080/"),
                basic.credentials().unwrap().as_ref(),
            )
            .build()
            .unwrap();
        // base64("prescale:s3cret")
        assert_eq!(
            request.headers()["authorization"],
            "Basic cHJlc2NhbGU6czNjcmV0"
        );
        assert!(request.headers().get("x-scope-orgid").is_none());

        // A missing or empty file fails the check, naming the key and the file.
        std::fs::write(&token, "\n").unwrap();
        let error = bearer.check().unwrap_err();
        assert!(
            error.contains("bearer_token_file") && error.contains("is empty"),
            "{error}"
        );
        std::fs::remove_file(&password).unwrap();
        let error = basic.check().unwrap_err();
        assert!(
            error.contains("basic_auth.password_file") && error.contains("password"),
            "{error}"
        );
    }

    #[test]
    fn unsafe_or_contradictory_settings_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let token = dir.path().join("token");
        std::fs::write(&token, "t").unwrap();
        let token = format!("{:?}", token.to_str().unwrap());
        let refused = |extra: &str, url: &str, expected: &str| {
            let mut config = source(extra);
            config.url = url.into();
            let error = config.check().unwrap_err();
            assert!(error.contains(expected), "{extra} {url}: {error}");
        };
        // Credentials in clear text beyond loopback.
        let with_token = format!("bearer_token_file = {token}");
        refused(&with_token, "http://mimir:8080", "clear text");
        refused(&with_token, "http://10.0.0.7:9090", "clear text");
        for loopback in [
            "http://127.0.0.1:9090",
            "http://localhost:9090",
            "http://[::1]:9090",
        ] {
            let mut config = source(&with_token);
            config.url = loopback.into();
            assert_eq!(config.check(), Ok(()), "{loopback}");
        }
        // A settle window that would make every poll a backfill.
        refused("step = \"1s\"\nsettle = \"3h\"", "https://m", "settle 3h");
        let mut longest = source("step = \"1s\"\nsettle = \"10000s\"");
        longest.url = "https://m".into();
        assert_eq!(longest.check(), Ok(()));
        // A tenant alone is no secret: plain HTTP is fine.
        let mut tenant = source("tenant = \"team-a\"");
        tenant.url = "http://mimir:8080".into();
        assert_eq!(tenant.check(), Ok(()));
        refused("tenant = \"\"", "https://m", "tenant");
        refused("tenant = \"a b\"", "https://m", "tenant");
        refused(
            &format!("tenant = \"{}\"", "x".repeat(151)),
            "https://m",
            "tenant",
        );
        refused(
            &format!("{with_token}\nbasic_auth = {{ username = \"u\", password_file = {token} }}"),
            "https://m",
            "give one",
        );
        refused(
            &format!("basic_auth = {{ username = \"a:b\", password_file = {token} }}"),
            "https://m",
            "username",
        );
        refused("", "https://user:pw@mimir:8080", "holds credentials");
        refused(&format!("ca_file = {token}"), "http://m", "not https");
        refused(
            &format!("ca_file = {token}"),
            "https://m",
            "no PEM certificate",
        );
        // Unknown keys are errors, not silently ignored credentials.
        let text = "url = \"https://m\"\nquery = \"up\"\nseries = \"x\"\nbearer_token = \"inline\"";
        assert!(toml::from_str::<SourceConfig>(text).is_err());
    }

    #[test]
    fn a_replica_waits_for_history_it_does_not_have() {
        let source = source("interval = \"1m\"");
        let status = PullStatus::for_source(&source);
        assert_eq!(status.fresh_within, 300);
        let now = 100_000;
        // Nothing stored, no poll yet.
        let why = status.backfilling(now).unwrap();
        assert!(why.contains("waiting for the first poll"), "{why}");
        // The first poll under way.
        status.backfill_remaining.store(7200, Ordering::Relaxed);
        let why = status.backfilling(now).unwrap();
        assert!(why.contains("7200 s of history left"), "{why}");
        // The store refuses: still nothing to plan on.
        status.consecutive_failures.store(1, Ordering::Relaxed);
        status.set_last_error(Some("HTTP 503".into()));
        let why = status.backfilling(now).unwrap();
        assert!(
            why.contains("nothing of \"x\" is stored") && why.contains("HTTP 503"),
            "{why}"
        );
        // A stale cache while the store fails is served (the source is named as down instead).
        status.newest.store(now - 3600, Ordering::Relaxed);
        assert_eq!(status.backfilling(now), None);
        assert!(status.down(now).is_some());
        // A stale cache while the first poll refreshes it is not.
        status.consecutive_failures.store(0, Ordering::Relaxed);
        assert!(status.backfilling(now).unwrap().contains("3600 s old"));
        // A fresh cache is served at once; after a successful poll, always.
        status.newest.store(now - 120, Ordering::Relaxed);
        assert_eq!(status.backfilling(now), None);
        status.newest.store(now - 3600, Ordering::Relaxed);
        status.successes.store(1, Ordering::Relaxed);
        assert_eq!(status.backfilling(now), None);
    }

    #[tokio::test]
    async fn an_oversized_answer_is_refused_not_read_whole() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let app = axum::Router::new()
            .route(
                "/api/v1/query_range",
                axum::routing::get(|| async { "x".repeat(4096) }),
            )
            // No Content-Length: streamed in chunks, counted as they come.
            .route(
                "/stream",
                axum::routing::get(|| async {
                    let chunks = (0..8).map(|_| Ok::<_, std::io::Error>(vec![b'x'; 512]));
                    axum::body::Body::from_stream(tokio_stream::iter(chunks))
                }),
            );
        tokio::spawn(async move { axum::serve(listener, app).await });
        let mut source = source("");
        source.url = format!("http://127.0.0.1:{port}");
        let client = source.client().unwrap();
        let url = source.url_for("up", 0, 60, 60).unwrap();
        let response = client.get(url.clone()).send().await.unwrap();
        let error = read_capped(response, 1024).await.unwrap_err().to_string();
        assert!(error.contains("larger than 1024 bytes"), "{error}");
        let streamed = client
            .get(format!("http://127.0.0.1:{port}/stream"))
            .send()
            .await
            .unwrap();
        assert_eq!(streamed.content_length(), None);
        let error = read_capped(streamed, 1024).await.unwrap_err().to_string();
        assert!(error.contains("larger than 1024 bytes"), "{error}");
        // Below the cap the body is read as it is (and is no JSON: the usual error).
        let error = source
            .query_range(&client, "up", 0, 60, 60)
            .await
            .unwrap_err();
        assert!(
            matches!(error, PullError::Http { status: 200, .. }),
            "{error}"
        );
    }

    /// The clock of [`a_late_scrape_is_corrected_by_the_next_poll`] (a `Puller` reads a plain
    /// `fn`).
    static FAKE_NOW: AtomicI64 = AtomicI64::new(0);

    #[tokio::test]
    async fn a_late_scrape_is_corrected_by_the_next_poll() {
        // A store that has not yet ingested the newest scrapes answers their points with the
        // value before them (its lookback): 1 s steps, points after 345 read as 345's value.
        // The next poll, once they are in, must replace them, not only the newest point.
        let ingested = Arc::new(AtomicI64::new(345));
        let answers = ingested.clone();
        let port =
            serve_query_range(move |t| t.min(answers.load(Ordering::Relaxed)).to_string()).await;

        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let tasks = tokio_util::task::TaskTracker::new();
        let mut config = source("step = \"1s\"\nbackfill = \"20s\"\nsettle = \"10s\"");
        config.url = format!("http://127.0.0.1:{port}");
        let client = config.client().unwrap();
        let puller = Puller {
            source: config,
            status: Arc::new(PullStatus::for_source(&source(""))),
            store: store.clone(),
            committer: crate::collect::commit::Committer::start(store.clone(), &tasks),
            default_backfill: Span::from_seconds(20).unwrap(),
            now: || FAKE_NOW.load(Ordering::Relaxed),
        };
        let key = SeriesKey::new("x").unwrap();
        let stored = |from, to| -> Vec<(i64, f64)> {
            let samples = store.read(&key, from, to).unwrap();
            samples.iter().map(|s| (s.timestamp, s.value)).collect()
        };

        FAKE_NOW.store(350, Ordering::Relaxed);
        puller.poll(&client).await.unwrap();
        assert_eq!(
            stored(346, 351),
            (346..=350).map(|t| (t, 345.0)).collect::<Vec<_>>()
        );
        // The scrapes land; the next poll (two seconds on) reads the last ten seconds again.
        ingested.store(i64::MAX, Ordering::Relaxed);
        FAKE_NOW.store(352, Ordering::Relaxed);
        // Only what changed (346 to 350) and what is new (351, 352) is written.
        assert_eq!(puller.poll(&client).await.unwrap(), 7);
        let expected: Vec<(i64, f64)> = (331..=352).map(|t| (t, t as f64)).collect();
        assert_eq!(stored(331, 353), expected);
        // Nothing changed since: nothing written but the new point.
        FAKE_NOW.store(353, Ordering::Relaxed);
        assert_eq!(puller.poll(&client).await.unwrap(), 1);
    }
}
