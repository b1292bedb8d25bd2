//! Prometheus in and out, with the real Prometheus from Debian's `prometheus` package
//! (scripts/test.sh installs it): Prometheus scrapes a small exporter started here and
//! prescale's `/metrics`, and remote-writes to prescale; prescale pulls the same series back
//! through `query_range`. Alerts go to webhook receivers started here, one of which fails
//! with `500` and one of which never answers in time.
//!
//! The exporter exposes its samples with explicit whole-second timestamps, so what Prometheus
//! stores, what it remote-writes and what `query_range` evaluates can be compared exactly.

mod common;

use std::collections::BTreeMap;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::State;
use axum::routing::{get, post};
use common::{Server, client, free_port, now, push_body};
use serde_json::Value;

use prescale::collect::remote_write::{
    Label, PromSample, STALE_NAN_BITS, TimeSeries, WriteRequest, encode,
};

/// A real Prometheus; killed when dropped.
struct Prometheus {
    child: Child,
    url: String,
    log: std::path::PathBuf,
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Prometheus {
    fn start(dir: &std::path::Path, port: u16, config: &str) -> Prometheus {
        Prometheus::start_with(dir, port, config, &[])
    }

    /// [`Prometheus::start`] with extra flags.
    fn start_with(dir: &std::path::Path, port: u16, config: &str, extra: &[&str]) -> Prometheus {
        let version = Command::new("prometheus").arg("--version").output();
        assert!(
            version.is_ok_and(|out| out.status.success()),
            "the `prometheus` binary is needed by tests/prometheus.rs and is not on PATH: \
             run scripts/test.sh (it installs Debian's prometheus package) or `apt-get install -y prometheus`"
        );
        let config_path = dir.join("prometheus.yml");
        std::fs::write(&config_path, config).unwrap();
        let log = dir.join("prometheus.log");
        let child = Command::new("prometheus")
            .arg(format!("--config.file={}", config_path.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.join("tsdb").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .arg("--log.level=warn")
            .args(extra)
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .expect("start prometheus");
        Prometheus {
            child,
            url: format!("http://127.0.0.1:{port}"),
            log,
        }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// `GET /api/v1/query`: the answer's `data.result` (panics on a non-success).
    async fn query(&self, expr: &str) -> Vec<Value> {
        let mut url = reqwest::Url::parse(&format!("{}/api/v1/query", self.url)).unwrap();
        url.query_pairs_mut().append_pair("query", expr);
        let answer: Value = common::get_json(url).await;
        assert_eq!(answer["status"], "success", "{expr}: {answer}");
        answer["data"]["result"].as_array().unwrap().clone()
    }
}

/// What the webhook receivers got: (path, JSON body), in arrival order.
type Received = Arc<Mutex<Vec<(String, Value)>>>;

/// The exporter's value of `test_load{kind="a"}` at unix second `t`.
fn value_a(t: i64) -> f64 {
    100.0 + (t % 17) as f64 * 3.0
}

/// Starts the exporter and the webhook receivers on one 127.0.0.1 port.
async fn start_exporter(received: Received) -> u16 {
    async fn metrics() -> String {
        let t = now();
        format!(
            "# TYPE test_load gauge\ntest_load{{kind=\"a\"}} {} {}\ntest_load{{kind=\"b\"}} {} {}\n",
            value_a(t),
            t * 1000,
            7 + t % 5,
            t * 1000
        )
    }
    async fn record(
        State(received): State<Received>,
        uri: axum::http::Uri,
        body: axum::body::Bytes,
    ) -> axum::http::StatusCode {
        let path = uri.path().to_string();
        let json = serde_json::from_slice(&body).unwrap_or(Value::Null);
        received.lock().unwrap().push((path.clone(), json));
        match path.as_str() {
            "/fail" => axum::http::StatusCode::INTERNAL_SERVER_ERROR,
            "/slow" => {
                tokio::time::sleep(Duration::from_secs(3)).await;
                axum::http::StatusCode::OK
            }
            _ => axum::http::StatusCode::OK,
        }
    }
    let app = Router::new()
        .route("/metrics", get(metrics))
        .route("/hook", post(record))
        .route("/slack", post(record))
        .route("/fail", post(record))
        .route("/slow", post(record))
        .with_state(received);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    port
}

/// `{base}/api/v1/series/{key}/{what}` with the key percent-encoded.
fn series_url(server: &Server, key: &str, what: &str) -> reqwest::Url {
    let mut url = reqwest::Url::parse(&server.url).unwrap();
    url.path_segments_mut()
        .unwrap()
        .extend(["api", "v1", "series", key, what]);
    url
}

/// The stored samples of `key` as (unix seconds, value); empty for an unknown series.
async fn samples(server: &Server, key: &str) -> Vec<(i64, f64)> {
    let response = client()
        .get(series_url(server, key, "samples"))
        .send()
        .await
        .unwrap();
    if response.status() == 404 {
        return Vec::new();
    }
    let body: Value = response.json().await.unwrap();
    common::samples_of(&body)
}

/// prescale's `/metrics` as `name{labels}` → value.
async fn metrics(server: &Server) -> BTreeMap<String, f64> {
    let text = common::get_text(server.url("/metrics")).await;
    text.lines()
        .filter(|line| !line.starts_with('#') && !line.is_empty())
        .filter_map(|line| {
            let (name, value) = line.rsplit_once(' ')?;
            Some((name.to_string(), value.parse().ok()?))
        })
        .collect()
}

/// Polls `check` every 250 ms until it returns `Some`, or panics with `what` after `timeout`.
async fn eventually<T, F, Fut>(what: &str, timeout: Duration, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let started = Instant::now();
    loop {
        if let Some(found) = check().await {
            return found;
        }
        assert!(
            started.elapsed() < timeout,
            "timed out after {timeout:?} waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

fn prescale_config(prometheus_port: u16, hooks: u16) -> String {
    let prom = format!("http://127.0.0.1:{prometheus_port}");
    let hook = format!("http://127.0.0.1:{hooks}");
    format!(
        r#"
replan_interval = "1s"
refit_interval = "10m"

[model]
model = "auto"
seasons = ["10m"]

[remote_write]
allow = ["test_load"]

[[sources]]
url = "{prom}"
query = 'test_load{{kind="a"}}'
series = "pulled_a"
step = "1s"
interval = "1s"
backfill = "10m"
max_points_per_query = 4
settle = "10s"

[[sources]]
url = "{prom}"
query = "test_load"
series = "pulled_multi"
step = "1s"

[[sources]]
url = "{prom}"
query = "sum(rate(test_load[1m]"
series = "pulled_bad"
step = "1s"

[[sources]]
url = "{prom}"
query = 'test_load{{kind="a"}} / 0 * 0'
series = "pulled_nan"
step = "1s"
interval = "1s"

[targets.checkout]
series = "checkout_rps"
capacity_per_replica = 20.0
min_replicas = 1
max_replicas = 12
lead_time = "10s"
scale_down_stabilization = "1s"

[targets.thin]
series = "thin_rps"
capacity_per_replica = 1.0
max_replicas = 5

[alerts]
consecutive_steps = 3
resolve_after = "1s"
timeout = "1s"
attempts = 2

[[alerts.receivers]]
name = "ok"
kind = "webhook"
url = "{hook}/hook"

[[alerts.receivers]]
name = "chat"
kind = "slack"
url = "{hook}/slack"

[[alerts.receivers]]
name = "broken"
kind = "webhook"
url = "{hook}/fail"

[[alerts.receivers]]
name = "slow"
kind = "webhook"
url = "{hook}/slow"
"#
    )
}

fn prometheus_config(exporter: u16, prescale: u16) -> String {
    let rules = std::fs::canonicalize("deploy/prometheus/prescale-rules.yml").unwrap();
    format!(
        r#"
global:
  scrape_interval: 1s
  evaluation_interval: 1s
rule_files:
  - {rules}
scrape_configs:
  - job_name: exporter
    static_configs:
      - targets: ["127.0.0.1:{exporter}"]
  - job_name: prescale
    static_configs:
      - targets: ["127.0.0.1:{prescale}"]
remote_write:
  - url: http://127.0.0.1:{prescale}/api/v1/write
    queue_config:
      batch_send_deadline: 1s
      min_backoff: 100ms
      max_backoff: 1s
"#,
        rules = rules.display()
    )
}

/// A 10-minute cycle on a 1 s grid: the load of the `checkout` target.
fn cycle(t: i64) -> f64 {
    let phase = (t.rem_euclid(600)) as f64 / 600.0 * std::f64::consts::TAU;
    (100.0 + 50.0 * phase.sin()).round()
}

async fn push(server: &Server, key: &str, points: &[(i64, f64)]) {
    let response = client()
        .post(series_url(server, key, "samples"))
        .header("content-type", "application/json")
        .body(push_body(points))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 204, "{}", response.text().await.unwrap());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prometheus_remote_write_pull_metrics_and_alerts() {
    let started = Instant::now();
    let dir = tempfile::tempdir().unwrap();
    let received: Received = Arc::default();
    let exporter = start_exporter(received.clone()).await;
    let prometheus_port = free_port();
    let prescale_port = free_port();
    let config = dir.path().join("prescale.toml");
    std::fs::write(&config, prescale_config(prometheus_port, exporter)).unwrap();
    let config = config.display().to_string();
    let data = dir.path().join("data");
    let listen = format!("127.0.0.1:{prescale_port}");
    let mut server = Server::start_on(&data, &listen, &["--config", &config]);

    // Before Prometheus runs, the sources fail and say so.
    let m = eventually(
        "the pull sources to report Prometheus unreachable",
        Duration::from_secs(20),
        || async {
            let m = metrics(&server).await;
            (m.get(r#"prescale_pull_consecutive_failures{source="pulled_a"}"#) >= Some(&1.0))
                .then_some(m)
        },
    )
    .await;
    assert_eq!(m[r#"prescale_pull_up{source="pulled_a"}"#], 0.0);

    // The checkout target's history: two hours of a 10-minute cycle, 1 s apart, ending now;
    // the thin target's series a single sample, too short to fit.
    let end = now();
    let history: Vec<(i64, f64)> = (end - 7200..end).map(|t| (t, cycle(t))).collect();
    for chunk in history.chunks(5000) {
        push(&server, "checkout_rps", chunk).await;
    }
    push(&server, "thin_rps", &[(end - 1, 2.0)]).await;

    let prometheus = Prometheus::start(
        dir.path(),
        prometheus_port,
        &prometheus_config(exporter, prescale_port),
    );
    let ready = format!("{}/-/ready", prometheus.url);
    eventually(
        "Prometheus to be ready",
        Duration::from_secs(30),
        || async {
            match client().get(&ready).send().await {
                Ok(r) if r.status() == 200 => Some(()),
                _ => None,
            }
        },
    )
    .await;

    let rw_key = format!(r#"test_load{{instance="127.0.0.1:{exporter}",job="exporter",kind="a"}}"#);
    let enough = |n: usize| {
        let (server, rw_key) = (&server, rw_key.clone());
        async move {
            let rw = samples(server, &rw_key).await;
            let pulled = samples(server, "pulled_a").await;
            (rw.len() >= n && pulled.len() >= n).then_some(())
        }
    };
    eventually(
        "remote_write and pull to bring 5 samples each",
        Duration::from_secs(40),
        || enough(5),
    )
    .await;

    // A crash (SIGKILL) and a restart on the same data and port: the pull resumes from the
    // store, Prometheus re-sends what prescale missed.
    server.kill();
    tokio::time::sleep(Duration::from_secs(2)).await;
    let server = Server::start_on(&data, &listen, &["--config", &config]);
    let restarted_at = now();
    eventually("data after the restart", Duration::from_secs(30), || {
        let server = &server;
        async move {
            let pulled = samples(server, "pulled_a").await;
            (pulled.last().is_some_and(|(t, _)| *t >= restarted_at + 3)).then_some(())
        }
    })
    .await;

    // remote_write: the exporter's samples, at their own timestamps, with their own values.
    let rw = samples(&server, &rw_key).await;
    assert!(rw.len() >= 5, "{rw:?}");
    for (t, v) in &rw {
        assert_eq!(*v, value_a(*t), "remote-written sample at {t}");
    }
    // Across the restart nothing is missing: scrapes are 1 s apart (a jittered scrape may skip
    // one exposed second).
    for pair in rw.windows(2) {
        assert!(
            pair[1].0 - pair[0].0 <= 2,
            "remote_write lost samples between {pair:?}"
        );
    }
    let b = samples(&server, &rw_key.replace("kind=\"a\"", "kind=\"b\"")).await;
    assert!(!b.is_empty(), "the second series arrives under its own key");

    // Pull: a contiguous 1 s grid, resumed across the restart, every point equal to what
    // Prometheus holds at that time (the newest remote-written sample at or before it).
    let pulled = samples(&server, "pulled_a").await;
    for pair in pulled.windows(2) {
        assert_eq!(
            pair[1].0 - pair[0].0,
            1,
            "pull lost or duplicated a point: {pair:?}"
        );
    }
    let rw_last = rw.last().unwrap().0;
    let mut exact = 0;
    for (t, v) in pulled
        .iter()
        .filter(|(t, _)| *t >= rw[0].0 && *t <= rw_last)
    {
        let at = rw.partition_point(|(rt, _)| rt <= t) - 1;
        assert_eq!(
            rw[at].1,
            *v,
            "pulled value at {t} differs from the remote-written one (remote-written around it: \
             {:?}; restarted at {restarted_at}; Prometheus logged: {})",
            &rw[at.saturating_sub(3)..(at + 4).min(rw.len())],
            prometheus.log(),
        );
        if rw[at].0 == *t {
            exact += 1;
        }
    }
    assert!(exact >= 5, "only {exact} timestamps in common");

    // The bad sources: several series, a PromQL error, NaN values.
    let m = eventually(
        "every source to have tried",
        Duration::from_secs(20),
        || {
            let server = &server;
            async move {
                let m = metrics(server).await;
                (m.get(r#"prescale_pull_skipped_samples_total{source="pulled_nan"}"#) > Some(&0.0)
                    && m.get(r#"prescale_pull_consecutive_failures{source="pulled_multi"}"#)
                        >= Some(&1.0)
                    && m.get(r#"prescale_pull_consecutive_failures{source="pulled_bad"}"#)
                        >= Some(&1.0))
                .then_some(m)
            }
        },
    )
    .await;
    assert_eq!(m[r#"prescale_pull_up{source="pulled_multi"}"#], 0.0);
    assert_eq!(m[r#"prescale_pull_up{source="pulled_bad"}"#], 0.0);
    assert_eq!(m[r#"prescale_pull_up{source="pulled_nan"}"#], 1.0);
    assert_eq!(m[r#"prescale_pull_up{source="pulled_a"}"#], 1.0);
    assert!(m[r#"prescale_pull_staleness_seconds{source="pulled_a"}"#] < 30.0);
    for key in ["pulled_multi", "pulled_bad", "pulled_nan"] {
        assert!(
            samples(&server, key).await.is_empty(),
            "{key} wrote samples"
        );
    }
    assert!(m[r#"prescale_remote_write_samples_total{outcome="accepted"}"#] > 0.0);

    // The forecast for checkout is published and scraped by Prometheus.
    let yhat = eventually(
        "Prometheus to scrape prescale's forecast",
        Duration::from_secs(40),
        || {
            let prometheus = &prometheus;
            async move {
                let result = prometheus
                    .query(r#"prescale_forecast_yhat{series="checkout_rps",job="prescale"}"#)
                    .await;
                result
                    .first()
                    .map(|r| r["value"][1].as_str().unwrap().parse::<f64>().unwrap())
            }
        },
    )
    .await;
    assert!(yhat.is_finite() && yhat > 0.0, "{yhat}");
    for expr in [
        r#"prescale_forecast_hi95{series="checkout_rps"}"#,
        r#"prescale_target_replicas{target="checkout"}"#,
        r#"prescale_target_decision_replicas{target="checkout"}"#,
        r#"prescale_model_age_seconds{series="checkout_rps"}"#,
    ] {
        let prometheus = &prometheus;
        eventually(
            &format!("Prometheus to have {expr}"),
            Duration::from_secs(20),
            || async move { (!prometheus.query(expr).await.is_empty()).then_some(()) },
        )
        .await;
    }

    // Alerts. The thin target's model cannot fit: model_failed. Then checkout's load jumps far
    // above its forecast for several seconds (forecast miss; the safety net drives the plan to
    // max_replicas: capacity breach), and returns to normal (both resolve).
    let hook = |received: &Received, path: &str| -> Vec<Value> {
        received
            .lock()
            .unwrap()
            .iter()
            .filter(|(p, _)| p == path)
            .map(|(_, body)| body.clone())
            .collect()
    };
    eventually(
        "a model_failed alert for thin_rps",
        Duration::from_secs(20),
        || {
            let received = received.clone();
            async move {
                hook(&received, "/hook")
                    .iter()
                    .any(|b| {
                        b["alert"] == "model_failed"
                            && b["subject"] == "thin_rps"
                            && b["status"] == "firing"
                    })
                    .then_some(())
            }
        },
    )
    .await;
    // The fitted model of checkout must be forecasting before the spike.
    eventually(
        "checkout's forecast error to be measured",
        Duration::from_secs(30),
        || {
            let server = &server;
            async move {
                let m = metrics(server).await;
                m.contains_key(r#"prescale_forecast_yhat{series="checkout_rps"}"#)
                    .then_some(())
            }
        },
    )
    .await;
    let spike_until = Instant::now() + Duration::from_secs(20);
    loop {
        let t = now();
        push(&server, "checkout_rps", &[(t, 100_000.0)]).await;
        let firing = hook(&received, "/hook");
        let miss = firing
            .iter()
            .any(|b| b["alert"] == "forecast_miss" && b["status"] == "firing");
        let breach = firing
            .iter()
            .any(|b| b["alert"] == "capacity_breach" && b["status"] == "firing");
        if miss && breach {
            break;
        }
        assert!(
            Instant::now() < spike_until,
            "no forecast_miss/capacity_breach alerts: {firing:?}"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let calm_until = Instant::now() + Duration::from_secs(30);
    loop {
        let t = now();
        push(&server, "checkout_rps", &[(t, cycle(t))]).await;
        let got = hook(&received, "/hook");
        let resolved = |alert: &str| {
            got.iter()
                .any(|b| b["alert"] == alert && b["status"] == "resolved")
        };
        if resolved("forecast_miss") && resolved("capacity_breach") {
            break;
        }
        assert!(
            Instant::now() < calm_until,
            "alerts did not resolve: {got:?}"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let got = hook(&received, "/hook");
    for alert in ["forecast_miss", "capacity_breach"] {
        let statuses: Vec<&Value> = got
            .iter()
            .filter(|b| b["alert"] == alert)
            .map(|b| &b["status"])
            .collect();
        assert_eq!(
            statuses,
            ["firing", "resolved"],
            "{alert}: once per incident, in order"
        );
    }
    let miss = got.iter().find(|b| b["alert"] == "forecast_miss").unwrap();
    assert_eq!(miss["subject"], "checkout_rps");
    assert!(
        miss["details"]["consecutive_steps"].as_u64() >= Some(3),
        "{miss}"
    );
    let breach = got
        .iter()
        .find(|b| b["alert"] == "capacity_breach")
        .unwrap();
    assert_eq!(breach["details"]["max_replicas"], 12);
    let slack = hook(&received, "/slack");
    assert!(
        slack
            .iter()
            .any(|b| b["text"].as_str().unwrap().contains("FIRING")
                && b["text"].as_str().unwrap().contains("forecast_miss")),
        "{slack:?}"
    );

    // The failing receivers: each notification tried `attempts` (2) times, then counted as
    // failed; the good receiver was not held up by them (it got everything above).
    let m = eventually(
        "the failing receivers to give up",
        Duration::from_secs(30),
        || {
            let server = &server;
            async move {
                let m = metrics(server).await;
                (m.get(r#"prescale_alert_notifications_total{receiver="broken",outcome="failed"}"#)
                    >= Some(&1.0)
                    && m.get(
                        r#"prescale_alert_notifications_total{receiver="slow",outcome="failed"}"#,
                    ) >= Some(&1.0))
                .then_some(m)
            }
        },
    )
    .await;
    assert!(m[r#"prescale_alert_delivery_retries_total{receiver="broken"}"#] >= 1.0);
    assert!(hook(&received, "/fail").len() >= 2);
    assert!(m[r#"prescale_alert_notifications_total{receiver="ok",outcome="delivered"}"#] >= 5.0);

    // promtool's linter finds nothing wrong with prescale's exposition.
    let exposition = common::get_text(server.url("/metrics")).await;
    let mut lint = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("promtool comes with the prometheus package");
    std::io::Write::write_all(&mut lint.stdin.take().unwrap(), exposition.as_bytes()).unwrap();
    let lint = lint.wait_with_output().unwrap();
    assert!(
        lint.status.success() && lint.stdout.is_empty() && lint.stderr.is_empty(),
        "promtool check metrics: {}{}",
        String::from_utf8_lossy(&lint.stdout),
        String::from_utf8_lossy(&lint.stderr)
    );

    // The dashboard's and the rules' expressions all run in the real Prometheus.
    let dashboard: Value =
        serde_json::from_str(&std::fs::read_to_string("deploy/grafana/prescale.json").unwrap())
            .unwrap();
    let mut exprs = 0;
    for panel in dashboard["panels"].as_array().unwrap() {
        for target in panel["targets"].as_array().unwrap() {
            let expr = target["expr"]
                .as_str()
                .unwrap()
                .replace("$series", "checkout_rps")
                .replace("$target", "checkout")
                .replace("$lead", "10s");
            let result = prometheus.query(&expr).await;
            if !expr.contains("offset") && expr.starts_with("prescale_series_last_value")
                || !expr.contains("offset") && expr.starts_with("prescale_target_replicas{")
            {
                assert!(
                    !result.is_empty(),
                    "dashboard query {expr} returned nothing"
                );
            }
            exprs += 1;
        }
    }
    assert!(exprs >= 15, "{exprs}");
    let rules: Value = common::get_json(format!("{}/api/v1/rules", prometheus.url)).await;
    let rules = rules["data"]["groups"][0]["rules"]
        .as_array()
        .unwrap()
        .clone();
    assert_eq!(rules.len(), 8, "{rules:?}");
    for rule in &rules {
        assert_ne!(rule["health"], "err", "{rule}");
    }
    assert!(
        !prometheus.log().contains("level=error"),
        "Prometheus logged errors:\n{}",
        prometheus.log()
    );
    assert!(
        started.elapsed() < Duration::from_secs(120),
        "took {:?}",
        started.elapsed()
    );
}

fn request(series: Vec<TimeSeries>) -> Vec<u8> {
    encode(&WriteRequest { timeseries: series })
}

fn series(labels: &[(&str, &str)], samples: &[(i64, f64)]) -> TimeSeries {
    TimeSeries {
        labels: labels
            .iter()
            .map(|(n, v)| Label {
                name: n.to_string(),
                value: v.to_string(),
            })
            .collect(),
        samples: samples
            .iter()
            .map(|&(timestamp, value)| PromSample { value, timestamp })
            .collect(),
    }
}

#[tokio::test]
async fn remote_write_refuses_bad_bodies_and_keeps_what_it_accepted() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("prescale.toml");
    std::fs::write(&config, "[remote_write]\nallow = [\"http_requests_*\"]\n").unwrap();
    let server = Server::start(
        &dir.path().join("data"),
        &["--config", &config.display().to_string()],
    );
    let write = |body: Vec<u8>| {
        let url = server.url("/api/v1/write");
        async move {
            client()
                .post(url)
                .header("content-type", "application/x-protobuf")
                .header("content-encoding", "snappy")
                .header("x-prometheus-remote-write-version", "0.1.0")
                .body(body)
                .send()
                .await
                .unwrap()
        }
    };
    let t0 = 1_767_607_200_000i64;
    let good = request(vec![
        series(
            &[
                ("__name__", "http_requests_rate"),
                ("job", "api"),
                ("instance", "a:1"),
            ],
            &[
                (t0, 1.0),
                (t0 + 1000, f64::from_bits(STALE_NAN_BITS)),
                (t0 + 2000, 3.0),
                (t0 + 2000, 4.0),
            ],
        ),
        series(&[("__name__", "go_goroutines")], &[(t0, 10.0)]),
    ]);
    assert_eq!(write(good.clone()).await.status(), 204);
    // A retry of the same batch and an out-of-order sample: no duplicates, merged in place.
    assert_eq!(write(good.clone()).await.status(), 204);
    let late = request(vec![series(
        &[
            ("__name__", "http_requests_rate"),
            ("instance", "a:1"),
            ("job", "api"),
        ],
        &[(t0 + 1000, 2.0)],
    )]);
    assert_eq!(write(late).await.status(), 204);
    let key = r#"http_requests_rate{instance="a:1",job="api"}"#;
    let expected = vec![(t0 / 1000, 1.0), (t0 / 1000 + 1, 2.0), (t0 / 1000 + 2, 4.0)];
    assert_eq!(samples(&server, key).await, expected);
    assert!(
        samples(&server, "go_goroutines").await.is_empty(),
        "not in the allow-list"
    );

    // Bad bodies: 400 with a message, or 413; nothing accepted is lost.
    let not_protobuf = snap::raw::Encoder::new()
        .compress_vec(b"hello, this is not protobuf")
        .unwrap();
    let cases: Vec<(&str, Vec<u8>, u16, &str)> = vec![
        (
            "not snappy",
            b"\xff\xfe\xfd\xfc plain bytes".to_vec(),
            400,
            "snappy",
        ),
        ("not protobuf", not_protobuf, 400, "protobuf"),
        ("truncated", good[..good.len() / 2].to_vec(), 400, "snappy"),
        ("empty", Vec::new(), 400, "snappy"),
    ];
    for (what, body, status, hint) in cases {
        let response = write(body).await;
        assert_eq!(response.status().as_u16(), status, "{what}");
        let error: Value = response.json().await.unwrap();
        let message = error["error"].as_str().unwrap_or_default().to_string();
        assert!(message.contains(hint), "{what}: {message}");
    }
    // 100 MB: refused from its declared length, before any of it is read.
    let (status, error) = common::post_declaring(&server.url, "/api/v1/write", 100 * 1024 * 1024);
    assert_eq!(status, 413, "100 MB");
    assert!(
        error["error"]
            .as_str()
            .unwrap()
            .contains("max_samples_per_send"),
        "{error}"
    );
    assert_eq!(samples(&server, key).await, expected);

    let m = metrics(&server).await;
    assert_eq!(
        m[r#"prescale_remote_write_requests_total{outcome="accepted"}"#],
        3.0
    );
    assert_eq!(
        m[r#"prescale_remote_write_requests_total{outcome="rejected"}"#],
        5.0
    );
    assert_eq!(
        m[r#"prescale_remote_write_samples_total{outcome="stale"}"#],
        2.0
    );
    assert_eq!(
        m[r#"prescale_remote_write_samples_total{outcome="not_allowed"}"#],
        2.0
    );
    assert_eq!(
        m[r#"prescale_remote_write_samples_total{outcome="accepted"}"#],
        7.0
    );
}

/// The real Prometheus sends its token with remote_write's `authorization` block: with the
/// write token its samples are kept; with a wrong one every request is refused (`401`) and
/// nothing is kept.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prometheus_remote_write_authenticates_with_a_bearer_token() {
    let dir = tempfile::tempdir().unwrap();
    let write_token = "prometheus-write-0123456789";
    let tokens = dir.path().join("tokens");
    std::fs::write(&tokens, format!("{write_token} write\n")).unwrap();
    let token_file = dir.path().join("prescale-token");
    std::fs::write(&token_file, format!("{write_token}\n")).unwrap();
    let config = dir.path().join("prescale.toml");
    std::fs::write(
        &config,
        format!(
            "[remote_write]\nallow = [\"up\", \"scrape_samples_scraped\"]\n[auth]\ntokens_file = {:?}\n",
            tokens.display().to_string()
        ),
    )
    .unwrap();
    let prescale_port = free_port();
    let listen = format!("127.0.0.1:{prescale_port}");
    let server = Server::start_on(
        &dir.path().join("data"),
        &listen,
        &["--config", config.to_str().unwrap()],
    );
    let prometheus_port = free_port();
    let prometheus_config = format!(
        r#"
global:
  scrape_interval: 1s
scrape_configs:
  - job_name: prescale
    static_configs:
      - targets: ["127.0.0.1:{prescale_port}"]
remote_write:
  - url: http://127.0.0.1:{prescale_port}/api/v1/write
    authorization:
      credentials_file: {token_file}
    write_relabel_configs:
      - source_labels: [__name__]
        regex: up
        action: keep
    queue_config: {{ batch_send_deadline: 1s, min_backoff: 100ms, max_backoff: 1s }}
  - url: http://127.0.0.1:{prescale_port}/api/v1/write
    authorization:
      credentials: wrong-token-0123456789
    write_relabel_configs:
      - source_labels: [__name__]
        regex: scrape_samples_scraped
        action: keep
    queue_config: {{ batch_send_deadline: 1s, min_backoff: 100ms, max_backoff: 1s }}
"#,
        token_file = token_file.display()
    );
    let _prometheus = Prometheus::start(dir.path(), prometheus_port, &prometheus_config);
    let key = format!(r#"up{{instance="127.0.0.1:{prescale_port}",job="prescale"}}"#);
    let kept = eventually(
        "Prometheus' authenticated remote_write to arrive",
        Duration::from_secs(60),
        || async {
            let kept = samples(&server, &key).await;
            (kept.len() >= 2).then_some(kept)
        },
    )
    .await;
    assert!(kept.iter().all(|&(_, v)| v == 1.0), "{kept:?}");
    server.wait_for_log(
        &["request refused by authentication", "/api/v1/write", "401"],
        Duration::from_secs(30),
    );
    let wrong =
        format!(r#"scrape_samples_scraped{{instance="127.0.0.1:{prescale_port}",job="prescale"}}"#);
    assert!(samples(&server, &wrong).await.is_empty());
}

/// A pull source whose Prometheus is down is named in `/readyz` and in the plan's reason, and
/// the plan says until when the safety net trusted the newest observation (it is off after).
#[tokio::test]
async fn a_pull_source_that_is_down_is_named_in_readyz_and_the_plan() {
    let dir = tempfile::tempdir().unwrap();
    let dead = free_port();
    let config = dir.path().join("prescale.toml");
    std::fs::write(
        &config,
        format!(
            r#"
[[sources]]
url = "http://127.0.0.1:{dead}"
query = "sum(rate(http_requests_total[1m]))"
series = "pulled_rps"
step = "1m"
interval = "1s"

[targets.web]
series = "pulled_rps"
capacity_per_replica = 20
max_replicas = 30
lead_time = "3m"
"#
        ),
    )
    .unwrap();
    let server = Server::start(
        &dir.path().join("data"),
        &["--config", config.to_str().unwrap()],
    );
    // Three days of history, ending 20 minutes ago: too old for the safety net.
    let end = now() - 1200;
    for chunk in common::daily_samples(end, 3 * 1440).chunks(2000) {
        push(&server, "pulled_rps", chunk).await;
    }
    let plan = common::wait_for_200(
        &server.url("/api/v1/targets/web/plan"),
        Duration::from_secs(60),
    )
    .await;
    let current = &plan["current"];
    let reason = current["reason"].as_str().unwrap();
    assert!(
        reason.contains(r#"the Prometheus pull source of "pulled_rps" is failing"#)
            && reason.contains("never succeeded")
            && reason.contains("the safety net is off"),
        "{reason}"
    );
    let at = chrono::DateTime::parse_from_rfc3339(current["observed_at"].as_str().unwrap())
        .unwrap()
        .timestamp();
    let until =
        chrono::DateTime::parse_from_rfc3339(current["observed_trusted_until"].as_str().unwrap())
            .unwrap()
            .timestamp();
    assert_eq!(until - at, 300, "{current}");
    assert!(current["observed_load"].is_null(), "{current}");
    // The plan says which store its history comes from, and that it is not answering.
    let history = &plan["history"];
    assert_eq!(history["source"], "pull", "{plan}");
    assert_eq!(history["url"], format!("http://127.0.0.1:{dead}"), "{plan}");
    assert_eq!(history["up"], false, "{plan}");
    assert!(history["tenant"].is_null(), "{plan}");
    let ready = common::get_json(server.url("/readyz")).await;
    let down = ready["pull_sources_down"]["pulled_rps"]
        .as_str()
        .unwrap_or("");
    assert!(down.contains("polls in a row"), "{ready}");
}

/// What the authenticating store below saw.
#[derive(Default)]
struct Gateway {
    /// The bearer token it accepts now (rotated by the test).
    token: String,
    /// `(tenant, token)` of every query it answered with data.
    answered: Vec<(String, String)>,
    /// Queries it refused.
    refused: usize,
    /// The oldest and newest timestamps the store holds (`None`: the query's start and end).
    since: Option<i64>,
    until: Option<i64>,
    /// The stored value at each timestamp (`None`: a staircase, `100 + minute % 7`).
    shape: Option<fn(i64) -> f64>,
    /// What the replicas published before (as scraped from their `/metrics`): a planned load
    /// at one time, and a headroom; the queries for them it answered.
    peak: Option<(i64, f64)>,
    headroom: Option<f64>,
    memory_queries: Vec<String>,
}

/// A daily cycle with a fixed ripple: what a store holds for the replicas below.
fn daily_cycle(t: i64) -> f64 {
    let day = std::f64::consts::TAU * (t % 86_400) as f64 / 86_400.0;
    200.0 + 120.0 * day.sin() + ((t / 60) % 5) as f64
}

/// A multi-tenant Prometheus-compatible store behind a gateway, as Mimir or Thanos run it: HTTPS
/// with a private CA, `query_range` under a `/prometheus` prefix, answered only with the current
/// bearer token and the tenant `team-a` (401 otherwise, in plain text as gateways answer). The
/// answer holds one point per step of the range asked for.
fn gateway_app(gateway: Arc<Mutex<Gateway>>) -> Router {
    use axum::extract::Query;
    use axum::http::{HeaderMap, StatusCode};
    use axum::response::IntoResponse;

    async fn query_range(
        State(gateway): State<Arc<Mutex<Gateway>>>,
        headers: HeaderMap,
        Query(params): Query<BTreeMap<String, String>>,
    ) -> axum::response::Response {
        let header = |name: &str| {
            headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("")
                .to_string()
        };
        let (tenant, authorization) = (header("x-scope-orgid"), header("authorization"));
        let mut gateway = gateway.lock().unwrap();
        let token = authorization.strip_prefix("Bearer ").unwrap_or("");
        if tenant != "team-a" || token != gateway.token {
            gateway.refused += 1;
            return (StatusCode::UNAUTHORIZED, "no org id or bad token\n").into_response();
        }
        gateway.answered.push((tenant, token.to_string()));
        let number = |key: &str| params[key].parse::<i64>().unwrap();
        let (start, end, step) = (number("start"), number("end"), number("step"));
        let query = params["query"].clone();
        if query.contains("prescale_target_") {
            gateway.memory_queries.push(query.clone());
            let values: Vec<Value> = if query.contains("planned_load") {
                let peak = gateway.peak;
                (start..=end)
                    .step_by(step as usize)
                    .map(|t| {
                        let v = peak
                            .filter(|(at, _)| (t - at).abs() < step)
                            .map_or(100.0, |p| p.1);
                        serde_json::json!([t, v.to_string()])
                    })
                    .collect()
            } else {
                gateway
                    .headroom
                    .iter()
                    .map(|h| serde_json::json!([end, h.to_string()]))
                    .collect()
            };
            return axum::Json(serde_json::json!({
                "status": "success",
                "data": {"resultType": "matrix", "result": [{"metric": {}, "values": values}]}
            }))
            .into_response();
        }
        let end = gateway.until.map_or(end, |until| end.min(until));
        let start = gateway.since.map_or(start, |since| start.max(since));
        let shape = gateway.shape.unwrap_or(|t| (100 + (t / 60) % 7) as f64);
        let values: Vec<Value> = (start..=end)
            .step_by(step as usize)
            .map(|t| serde_json::json!([t, format!("{}", shape(t))]))
            .collect();
        axum::Json(serde_json::json!({
            "status": "success",
            "data": {"resultType": "matrix", "result": [{"metric": {}, "values": values}]}
        }))
        .into_response()
    }
    Router::new()
        .route("/prometheus/api/v1/query_range", get(query_range))
        .with_state(gateway)
}

/// [`gateway_app`] on HTTPS at 127.0.0.1 with a certificate from a fresh CA: its port, the CA's
/// file and a token file; stopped when dropped.
struct GatewayServer {
    port: u16,
    ca_file: std::path::PathBuf,
    token_file: std::path::PathBuf,
    stop: tokio_util::sync::CancellationToken,
}

impl GatewayServer {
    async fn start(
        dir: &std::path::Path,
        gateway: Arc<Mutex<Gateway>>,
        token: &str,
    ) -> GatewayServer {
        let ca = common::pki::Ca::new("store CA");
        let ca_file = ca.write(dir, "store-ca");
        let stop = tokio_util::sync::CancellationToken::new();
        let tasks = tokio_util::task::TaskTracker::new();
        let port = common::pki::serve_fake_api_server(
            dir,
            &ca,
            gateway_app(gateway),
            stop.clone(),
            &tasks,
        )
        .await;
        tasks.close();
        let token_file = dir.join("token");
        std::fs::write(&token_file, token).unwrap();
        GatewayServer {
            port,
            ca_file,
            token_file,
            stop,
        }
    }
}

impl GatewayServer {
    /// A `[[sources]]` entry pulling `series` through this store at 1-minute steps, polled
    /// every second, with its token, `tenant`, and its CA when `with_ca`.
    fn source(&self, series: &str, tenant: &str, backfill: &str, with_ca: bool) -> String {
        let ca = if with_ca {
            format!("ca_file = {:?}\n", self.ca_file.to_str().unwrap())
        } else {
            String::new()
        };
        format!(
            r#"
[[sources]]
url = "https://127.0.0.1:{port}/prometheus"
query = "sum(rate(http_requests_total[1m]))"
series = "{series}"
step = "1m"
interval = "1s"
backfill = "{backfill}"
tenant = "{tenant}"
bearer_token_file = {token:?}
{ca}"#,
            port = self.port,
            token = self.token_file.to_str().unwrap()
        )
    }
}

impl Drop for GatewayServer {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

/// A pull source reads a multi-tenant store over HTTPS with a private CA, a tenant and a bearer
/// token from a file: the history is backfilled, a rotated token is picked up without a restart,
/// and a wrong tenant or an untrusted certificate is a failing source named in `/readyz`.
/// Credentials over plain HTTP beyond loopback are refused at start.
#[tokio::test]
async fn a_pull_source_reads_a_multi_tenant_store_with_a_token_and_a_private_ca() {
    let dir = tempfile::tempdir().unwrap();
    // The gateway does not know the token yet: nothing can be backfilled.
    let gateway = Arc::new(Mutex::new(Gateway {
        token: "token-0".into(),
        ..Gateway::default()
    }));
    let store = GatewayServer::start(dir.path(), gateway.clone(), "token-1\n").await;
    let (port, token_file) = (store.port, store.token_file.clone());
    let config = dir.path().join("prescale.toml");
    let text = [
        store.source("tenant_rps", "team-a", "1h", true),
        store.source("other_tenant_rps", "team-b", "1h", true),
        store.source("untrusted_rps", "team-a", "1h", false),
    ]
    .concat();
    std::fs::write(&config, &text).unwrap();
    let server = Server::start(
        &dir.path().join("data"),
        &["--config", config.to_str().unwrap()],
    );

    // With nothing stored and the store refusing, the replica is not ready and says why.
    let waiting = eventually(
        "/readyz naming the refused backfill",
        Duration::from_secs(30),
        || async {
            let response = common::client()
                .get(server.url("/readyz"))
                .send()
                .await
                .unwrap();
            let status = response.status().as_u16();
            let body: Value = response.json().await.unwrap();
            let why = body["backfilling"]["tenant_rps"]
                .as_str()
                .unwrap_or("")
                .to_string();
            (status == 503 && why.contains("HTTP 401")).then_some(why)
        },
    )
    .await;
    assert!(
        waiting.contains(r#"nothing of "tenant_rps" is stored"#),
        "{waiting}"
    );
    assert_eq!(
        metrics(&server).await[r#"prescale_pull_backfill_pending{source="tenant_rps"}"#],
        1.0
    );
    gateway.lock().unwrap().token = "token-1".into();

    // The hour of history is backfilled: one point per minute, the store's values.
    let pulled = eventually(
        "the backfill through the gateway",
        Duration::from_secs(60),
        || async {
            let got = samples(&server, "tenant_rps").await;
            (got.len() >= 59).then_some(got)
        },
    )
    .await;
    assert!(
        pulled
            .iter()
            .all(|&(t, v)| v == (100 + (t / 60) % 7) as f64),
        "{pulled:?}"
    );

    // The token is rotated in the store and in the file: the next polls use the new one.
    gateway.lock().unwrap().token = "token-2".into();
    std::fs::write(&token_file, "token-2\n").unwrap();
    eventually(
        "a poll with the rotated token",
        Duration::from_secs(30),
        || async {
            let seen = gateway.lock().unwrap();
            seen.answered
                .iter()
                .any(|(_, token)| token == "token-2")
                .then_some(())
        },
    )
    .await;
    assert!(
        gateway
            .lock()
            .unwrap()
            .answered
            .iter()
            .all(|(tenant, _)| tenant == "team-a")
    );

    // The wrong tenant gets the gateway's 401; without the CA the certificate is not trusted.
    let ready = eventually(
        "both failing sources in /readyz",
        Duration::from_secs(30),
        || async {
            let ready = common::get_json(server.url("/readyz")).await;
            let down = &ready["pull_sources_down"];
            (down["other_tenant_rps"].is_string() && down["untrusted_rps"].is_string())
                .then_some(ready)
        },
    )
    .await;
    let down = &ready["pull_sources_down"];
    let other = down["other_tenant_rps"].as_str().unwrap();
    assert!(
        other.contains("HTTP 401") && other.contains("no org id"),
        "{other}"
    );
    let untrusted = down["untrusted_rps"].as_str().unwrap().to_lowercase();
    assert!(untrusted.contains("certificate"), "{untrusted}");
    assert!(down["tenant_rps"].is_null(), "{ready}");
    // The backfilled source no longer holds readiness back; the two that never got any
    // history do (a replica with nothing to plan on stays out of the Service).
    let backfilling = &ready["backfilling"];
    assert!(backfilling["tenant_rps"].is_null(), "{ready}");
    assert!(backfilling["other_tenant_rps"].is_string(), "{ready}");
    assert_eq!(ready["status"], "not ready");
    let m = metrics(&server).await;
    assert_eq!(
        m[r#"prescale_pull_backfill_pending{source="tenant_rps"}"#],
        0.0
    );
    assert_eq!(
        m[r#"prescale_pull_backfill_pending{source="untrusted_rps"}"#],
        1.0
    );
    assert_eq!(
        m[r#"prescale_pull_backfill_remaining_seconds{source="tenant_rps"}"#],
        0.0
    );
    assert!(samples(&server, "other_tenant_rps").await.is_empty());
    assert!(samples(&server, "untrusted_rps").await.is_empty());
    // The token is never logged.
    let log = server.log.lock().unwrap().join("\n");
    assert!(
        !log.contains("token-1") && !log.contains("token-2"),
        "{log}"
    );
    drop(server);

    // A token over plain HTTP beyond loopback is refused at start, naming the source.
    let clear = text.replacen(
        &format!("https://127.0.0.1:{port}"),
        "http://prometheus.monitoring:9090",
        1,
    );
    std::fs::write(&config, clear).unwrap();
    let stderr = common::failed_start(dir.path(), &["--config", config.to_str().unwrap()]);
    assert!(
        stderr.contains("sources[0].url") && stderr.contains("clear text"),
        "{stderr}"
    );
}

/// Two replicas pulling the same store answer alike: the same model and forecast, the same
/// plan. (The store holds two days ending two minutes ago, so both fit exactly the same samples
/// whenever they poll; live data differs only by the samples that arrived between their
/// refits.)
#[tokio::test]
async fn two_replicas_over_one_store_forecast_and_plan_alike() {
    let dir = tempfile::tempdir().unwrap();
    let until = (now() - 120).div_euclid(60) * 60;
    let gateway = Arc::new(Mutex::new(Gateway {
        token: "t".into(),
        since: Some(until - 2 * 86_400 + 60),
        until: Some(until),
        shape: Some(daily_cycle),
        ..Gateway::default()
    }));
    let store = GatewayServer::start(dir.path(), gateway.clone(), "t").await;
    // Writes need a token; the refusal comes after authentication.
    const ADMIN: &str = "admin-token-0123456789";
    let tokens = dir.path().join("tokens");
    std::fs::write(&tokens, format!("{ADMIN} admin\n")).unwrap();
    let config = dir.path().join("prescale.toml");
    std::fs::write(
        &config,
        format!(
            r#"
{source}
[targets.shop]
series = "shop_rps"
capacity_per_replica = 25
max_replicas = 50
lead_time = "3m"

[cluster]
shared_store = true

[auth]
tokens_file = {tokens:?}
"#,
            source = store.source("shop_rps", "team-a", "3d", true),
            tokens = tokens.to_str().unwrap()
        ),
    )
    .unwrap();
    let config = config.to_str().unwrap().to_string();
    let replicas = [
        Server::start(&dir.path().join("a"), &["--config", &config]),
        Server::start(&dir.path().join("b"), &["--config", &config]),
    ];
    for server in &replicas {
        common::wait_for_200(&server.url("/readyz"), Duration::from_secs(90)).await;
        common::wait_for_200(
            &server.url("/api/v1/targets/shop/plan"),
            Duration::from_secs(90),
        )
        .await;
    }
    // The same stored history on both.
    let stored: Vec<Vec<(i64, f64)>> = vec![
        samples(&replicas[0], "shop_rps").await,
        samples(&replicas[1], "shop_rps").await,
    ];
    assert_eq!(stored[0].len(), 2 * 1440, "{:?}", stored[0].last());
    assert_eq!(stored[0], stored[1]);

    // The same forecast, value for value, over the hour both cover.
    let forecast = |server: &Server| {
        let url = server.url("/api/v1/series/shop_rps/forecast?horizon=1h");
        async move { common::get_json(url).await }
    };
    let (a, b) = (forecast(&replicas[0]).await, forecast(&replicas[1]).await);
    let points = |f: &Value| -> BTreeMap<String, (f64, f64)> {
        f["points"]
            .as_array()
            .unwrap_or_else(|| panic!("{f}"))
            .iter()
            .map(|p| {
                let value = |key: &str| p[key].as_f64().unwrap();
                (
                    p["timestamp"].as_str().unwrap().to_string(),
                    (value("yhat"), value("hi95")),
                )
            })
            .collect()
    };
    let (a, b) = (points(&a), points(&b));
    let common_steps: Vec<_> = a.keys().filter(|k| b.contains_key(*k)).collect();
    assert!(common_steps.len() >= 55, "{a:?} {b:?}");
    for step in common_steps {
        assert_eq!(a[step], b[step], "at {step}");
    }

    // The same plan, read within the same minute (the plan covers now .. now + lead).
    let mut compared = false;
    for _ in 0..20 {
        let plan = |server: &Server| common::get_json(server.url("/api/v1/targets/shop/plan"));
        let (a, b) = (plan(&replicas[0]).await, plan(&replicas[1]).await);
        let minute =
            |p: &Value| p["current"]["window"]["start"].as_str().unwrap()[..16].to_string();
        if minute(&a) != minute(&b) {
            tokio::time::sleep(Duration::from_millis(500)).await;
            continue;
        }
        for key in ["replicas", "forecast_load"] {
            assert_eq!(a["current"][key], b["current"][key], "{key}: {a} {b}");
        }
        assert_eq!(a["value"], b["value"]);
        compared = true;
        break;
    }
    assert!(compared, "no two plans computed within the same minute");

    // Writes that would reach one replica alone are refused: the store is the one source.
    let server = &replicas[0];
    let push = push_body(&[(until + 60, 1.0)]);
    let path = "/api/v1/series/shop_rps/samples";
    let (status, body, _) = common::call(
        server,
        reqwest::Method::POST,
        path,
        None,
        Some(push.clone()),
    )
    .await;
    assert_eq!(
        status, 401,
        "without a token, authentication answers first: {body}"
    );
    let (status, body, _) =
        common::call(server, reqwest::Method::POST, path, Some(ADMIN), Some(push)).await;
    assert_eq!(status, 409, "{body}");
    assert!(
        body["error"].as_str().unwrap().contains("shared_store"),
        "{body}"
    );
    let target = serde_json::json!({"series": "shop_rps", "capacity_per_replica": 5});
    for (method, path, body) in [
        (
            reqwest::Method::PUT,
            "/api/v1/targets/other",
            Some(target.to_string()),
        ),
        (reqwest::Method::DELETE, "/api/v1/targets/shop", None),
        (reqwest::Method::DELETE, "/api/v1/series/shop_rps", None),
    ] {
        let (status, answer, _) =
            common::call(server, method.clone(), path, Some(ADMIN), body).await;
        assert_eq!(status, 409, "{method} {path}: {answer}");
    }
    let write = request(vec![series(
        &[("__name__", "shop_rps")],
        &[(until + 60, 1.0)],
    )]);
    let answer = client()
        .post(server.url("/api/v1/write"))
        .bearer_auth(ADMIN)
        .header("Content-Encoding", "snappy")
        .header("Content-Type", "application/x-protobuf")
        .body(write)
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status().as_u16(), 409);
    assert_eq!(samples(server, "shop_rps").await, stored[0]);
}

/// A replica that starts among others over one store takes back what they remember, from the
/// store that scraped their `/metrics`: a peak of planned load inside the scale-down
/// stabilization window holds its plan up as theirs is held, and SLO mode resumes from their
/// headroom instead of starting afresh.
#[tokio::test]
async fn a_new_replica_takes_back_the_stabilization_window_and_headroom_from_the_store() {
    let dir = tempfile::tempdir().unwrap();
    let until = (now() - 60).div_euclid(60) * 60;
    let gateway = Arc::new(Mutex::new(Gateway {
        token: "t".into(),
        since: Some(until - 2 * 86_400 + 60),
        until: Some(until),
        shape: Some(daily_cycle),
        peak: Some((now() - 240, 2000.0)),
        headroom: Some(1.7),
        ..Gateway::default()
    }));
    let store = GatewayServer::start(dir.path(), gateway.clone(), "t").await;
    let config = dir.path().join("prescale.toml");
    std::fs::write(
        &config,
        format!(
            r#"
[cluster]
shared_store = true
memory_matchers = 'namespace="prescale"'

{source}
[targets.shop]
series = "shop_rps"
capacity_per_replica = 25
max_replicas = 100
lead_time = "3m"
scale_down_stabilization = "10m"
slo = 0.99
"#,
            source = store.source("shop_rps", "team-a", "3d", true)
        ),
    )
    .unwrap();
    let server = Server::start(
        &dir.path().join("data"),
        &["--config", config.to_str().unwrap()],
    );
    let plan = common::wait_for_200(
        &server.url("/api/v1/targets/shop/plan"),
        Duration::from_secs(90),
    )
    .await;
    let current = &plan["current"];
    // The load peaked at 2000 four minutes ago on the other replicas: held for the window.
    assert_eq!(current["replicas"], 80, "{plan}");
    assert_eq!(current["stabilized"], true, "{plan}");
    assert!(
        current["forecast_load"].as_f64().unwrap() < 1000.0,
        "{plan}"
    );
    // SLO mode resumes from the replicas' headroom.
    assert_eq!(current["service_level"]["headroom"], 1.7, "{plan}");
    let queries = gateway.lock().unwrap().memory_queries.clone();
    assert!(
        queries.contains(
            &r#"max(prescale_target_planned_load{target="shop",namespace="prescale"})"#.to_string()
        ) && queries.contains(
            &r#"max(prescale_target_headroom{target="shop",namespace="prescale"})"#.to_string()
        ),
        "{queries:?}"
    );
    server.wait_for_log(
        &["took back the replicas' memory from the store"],
        Duration::from_secs(5),
    );
}

/// Issue 21's whole loop on a real Prometheus holding two days of history (written as TSDB
/// blocks by promtool, as a backfill does): two prescale replicas pulling it publish the same
/// value; one is killed with SIGKILL and the other keeps answering; a third started later on an
/// empty data directory is ready only after its backfill and agrees; and a replica restarted
/// from nothing takes back the stabilization memory (the planned load a replica published, as
/// Prometheus holds it) and holds the same peak.
#[tokio::test]
async fn replicas_over_a_real_prometheus_agree_survive_a_kill_and_keep_their_memory() {
    let dir = tempfile::tempdir().unwrap();
    // History ends six minutes ago, past Prometheus' 5-minute lookback: every replica pulls
    // exactly the same samples whenever it polls.
    let end = (now() - 360).div_euclid(60) * 60;
    let start = end - 2 * 86_400 + 60;
    let mut text = String::from("# TYPE shop_load gauge\n");
    for t in (start..=end).step_by(60) {
        text.push_str(&format!("shop_load {} {t}\n", daily_cycle(t)));
    }
    text.push_str("# EOF\n");
    let input = dir.path().join("history.om");
    std::fs::write(&input, text).unwrap();
    let created = Command::new("promtool")
        .args(["tsdb", "create-blocks-from", "openmetrics"])
        .arg(&input)
        .arg(dir.path().join("tsdb"))
        .output()
        .expect("promtool (Debian's prometheus package) is needed");
    assert!(
        created.status.success(),
        "{}",
        String::from_utf8_lossy(&created.stderr)
    );
    let port = free_port();
    // Prometheus scrapes the first two replicas' /metrics, as in a cluster.
    let (port_a, port_b) = (free_port(), free_port());
    let scrape = format!(
        "global:\n  scrape_interval: 1s\nscrape_configs:\n  - job_name: prescale\n    \
         static_configs:\n      - targets: ['127.0.0.1:{port_a}', '127.0.0.1:{port_b}']\n        \
         labels:\n          namespace: prescale\n"
    );
    let prometheus = Prometheus::start_with(
        dir.path(),
        port,
        &scrape,
        &["--web.enable-remote-write-receiver"],
    );
    eventually(
        "Prometheus to serve the backfilled history",
        Duration::from_secs(60),
        || async {
            let url = format!(
                "{}/api/v1/query?query=count_over_time(shop_load[3d])",
                prometheus.url
            );
            let answer: Value = match client().get(url).send().await {
                Ok(response) => response.json().await.unwrap_or(Value::Null),
                Err(_) => return None,
            };
            let count = answer["data"]["result"][0]["value"][1]
                .as_str()?
                .parse::<f64>()
                .ok()?;
            (count == 2880.0).then_some(())
        },
    )
    .await;

    let config = dir.path().join("prescale.toml");
    std::fs::write(
        &config,
        format!(
            r#"
[cluster]
shared_store = true
memory_matchers = 'namespace="prescale"'

[[sources]]
url = "{url}"
query = "shop_load"
series = "shop_rps"
step = "1m"
backfill = "3d"

[targets.shop]
series = "shop_rps"
capacity_per_replica = 25
max_replicas = 100
lead_time = "3m"
scale_down_stabilization = "10m"
"#,
            url = prometheus.url
        ),
    )
    .unwrap();
    let config = config.to_str().unwrap().to_string();
    let start_replica = |name: &str| Server::start(&dir.path().join(name), &["--config", &config]);
    let plan = |server: &Server| common::get_json(server.url("/api/v1/targets/shop/plan"));
    // Two plans read within one minute (a plan covers now .. now + lead).
    async fn same_minute(a: &Server, b: &Server) -> (Value, Value) {
        for _ in 0..40 {
            let pa = common::get_json(a.url("/api/v1/targets/shop/plan")).await;
            let pb = common::get_json(b.url("/api/v1/targets/shop/plan")).await;
            let minute = |p: &Value| {
                p["current"]["window"]["start"]
                    .as_str()
                    .map(|s| s[..16].to_string())
            };
            if minute(&pa).is_some() && minute(&pa) == minute(&pb) {
                return (pa, pb);
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        panic!("no two plans within one minute");
    }

    let on = |name: &str, port: u16| {
        let listen = format!("127.0.0.1:{port}");
        Server::start_on(&dir.path().join(name), &listen, &["--config", &config])
    };
    let mut a = on("a", port_a);
    let b = on("b", port_b);
    for server in [&a, &b] {
        common::wait_for_200(&server.url("/readyz"), Duration::from_secs(90)).await;
        common::wait_for_200(
            &server.url("/api/v1/targets/shop/plan"),
            Duration::from_secs(90),
        )
        .await;
    }
    let (pa, pb) = same_minute(&a, &b).await;
    assert_eq!(pa["value"], pb["value"], "{pa} {pb}");
    assert_eq!(
        pa["current"]["forecast_load"],
        pb["current"]["forecast_load"]
    );
    assert_eq!(pa["history"]["url"], prometheus.url.as_str());
    let normal = pb["current"]["replicas"].as_u64().unwrap();
    assert!(normal < 40, "{pb}");

    // SIGKILL one: the other keeps answering.
    a.kill();
    for _ in 0..3 {
        assert_eq!(plan(&b).await["current"]["replicas"], normal);
    }

    // A third, later, on an empty data directory: ready only once the history is in; agrees.
    let c = start_replica("c");
    eventually(
        "the third replica ready",
        Duration::from_secs(90),
        || async {
            let response = client().get(c.url("/readyz")).send().await.ok()?;
            (response.status() == 200).then_some(())
        },
    )
    .await;
    // The two days, and the last value repeated over Prometheus' 5-minute lookback: what the
    // running replica holds.
    let held_by_c = samples(&c, "shop_rps").await;
    assert_eq!(held_by_c.len(), 2880 + 5);
    assert_eq!(held_by_c, samples(&b, "shop_rps").await);
    common::wait_for_200(&c.url("/api/v1/targets/shop/plan"), Duration::from_secs(60)).await;
    let (pb, pc) = same_minute(&b, &c).await;
    assert_eq!(pb["value"], pc["value"], "{pb} {pc}");

    // What the replicas published is in Prometheus (scraped): a replica started from nothing
    // reads it back and seeds its stabilization window with it.
    let published = eventually(
        "Prometheus to hold B's planned load",
        Duration::from_secs(30),
        || async {
            let result = prometheus
                .query(r#"prescale_target_planned_load{target="shop",namespace="prescale"}"#)
                .await;
            result.first()?["value"][1].as_str()?.parse::<f64>().ok()
        },
    )
    .await;
    let fresh = start_replica("d");
    let line = fresh.wait_for_log(
        &["took back the replicas' memory from the store"],
        Duration::from_secs(60),
    );
    let peak: f64 = line
        .split("peak=Some(")
        .nth(1)
        .and_then(|rest| rest.split(')').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("{line}"));
    assert!(
        (peak - published).abs() <= 1e-9 * published.max(1.0),
        "{line} vs {published}"
    );
    assert!(!line.contains("points=0"), "{line}");
    drop(fresh);

    // A replica published a peak of 2000 two minutes ago (Prometheus scraped it into the store;
    // written here through its remote-write receiver). A replica restarted from nothing takes
    // it back and holds it for the stabilization window.
    let peak_at = now() - 120;
    let published = request(vec![series(
        &[
            ("__name__", "prescale_target_planned_load"),
            ("target", "shop"),
            ("namespace", "prescale"),
            ("pod", "prescale-a"),
        ],
        &[(peak_at * 1000, 2000.0)],
    )]);
    let written = client()
        .post(format!("{}/api/v1/write", prometheus.url))
        .header("Content-Encoding", "snappy")
        .header("Content-Type", "application/x-protobuf")
        .header("X-Prometheus-Remote-Write-Version", "0.1.0")
        .body(published)
        .send()
        .await
        .unwrap();
    assert!(written.status().is_success(), "{:?}", written.text().await);
    drop(c);
    let restarted = start_replica("c-again");
    let held = common::wait_for_200(
        &restarted.url("/api/v1/targets/shop/plan"),
        Duration::from_secs(90),
    )
    .await;
    assert_eq!(held["current"]["replicas"], 80, "{held}");
    assert_eq!(held["current"]["stabilized"], true, "{held}");
    restarted.wait_for_log(
        &["took back the replicas' memory from the store"],
        Duration::from_secs(5),
    );
}
