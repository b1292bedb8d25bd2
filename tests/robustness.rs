//! What an attacker inside the cluster (or a broken client) sends, against the real binary over
//! loopback: nothing may crash, wedge or silently corrupt the service.
//!
//! - a remote_write decode bomb is refused with `413` before it is decoded, and memory stays
//!   bounded while several arrive at once;
//! - a duration that would overflow (`lead_time` of `i64::MAX` seconds) is `400`, and the
//!   monitor keeps running;
//! - an all-zero series gets a flat forecast with a zero-width band and a plan of
//!   `min_replicas`;
//! - samples spaced so that the training grid would be huge get a clear error, not a fit;
//! - negative and huge loads are refused naming the sample;
//! - a series can be deleted (`409` while a target uses it), and stays deleted after `kill -9`;
//! - axum's own plain-text and empty refusals come as JSON;
//! - a compressed push or a remote_write body in another coding than snappy is `415` naming it;
//! - no error repeats more than 200 bytes of what the client sent;
//! - a pushed sample before 1970 or more than a day ahead refuses the batch, naming it.

mod common;

use std::time::Duration;

use common::{Server, client, now, push_body};
use prescale::collect::remote_write::{
    MAX_DECODED_BYTES, MAX_REQUEST_SERIES, PromSample, TimeSeries, WriteRequest, encode,
};
use serde_json::{Value, json};

async fn send(
    method: reqwest::Method,
    server: &Server,
    path: &str,
    body: Option<String>,
) -> (u16, Value) {
    let mut request = client().request(method, server.url(path));
    if let Some(body) = body {
        request = request
            .header("content-type", "application/json")
            .body(body);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let text = response.text().await.unwrap();
    if status == 204 {
        assert!(text.is_empty(), "{text}");
        return (status, Value::Null);
    }
    let body = serde_json::from_str(&text)
        .unwrap_or_else(|_| panic!("{status}: answer is not JSON: {text:?}"));
    (status, body)
}

/// The binary with `toml` as its config file (in `dir`, data in `dir/data`), without TLS.
fn start_with_config(dir: &std::path::Path, toml: &str) -> Server {
    let config = dir.join("prescale.toml");
    std::fs::write(&config, toml).unwrap();
    Server::start(
        &dir.join("data"),
        &["--config", config.to_str().unwrap(), "--no-tls"],
    )
}

async fn get(server: &Server, path: &str) -> (u16, Value) {
    send(reqwest::Method::GET, server, path, None).await
}

fn error_of(body: &Value) -> &str {
    body["error"]
        .as_str()
        .unwrap_or_else(|| panic!("no error in {body}"))
}

/// The server's resident memory in MiB, from /proc.
fn rss_mib(server: &Server) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{}/status", server.child.id())).unwrap();
    let kib: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .expect("VmRSS");
    kib / 1024
}

async fn post_remote_write(server: &Server, body: Vec<u8>) -> (u16, Value) {
    let response = client()
        .post(server.url("/api/v1/write"))
        .header("content-type", "application/x-protobuf")
        .header("content-encoding", "snappy")
        .body(body)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    let body = response.json().await.unwrap_or(Value::Null);
    (status, body)
}

#[tokio::test]
async fn remote_write_bombs_are_refused_before_they_are_decoded() {
    let dir = tempfile::tempdir().unwrap();
    let server = start_with_config(dir.path(), "[remote_write]\nallow = [\"*\"]\n");
    let before = rss_mib(&server);

    // 32 MiB of empty TimeSeries (2 bytes each on the wire, about 48 in memory): a body of a
    // few MB that would decode to gigabytes.
    let raw = [0x0a_u8, 0x00].repeat(MAX_DECODED_BYTES / 2);
    let bomb = snap::raw::Encoder::new().compress_vec(&raw).unwrap();
    assert!(bomb.len() < 4 * 1024 * 1024, "{}", bomb.len());
    let (a, b, c) = tokio::join!(
        post_remote_write(&server, bomb.clone()),
        post_remote_write(&server, bomb.clone()),
        post_remote_write(&server, bomb.clone()),
    );
    for (status, body) in [a, b, c] {
        assert_eq!(status, 413, "{body}");
        let error = error_of(&body);
        assert!(
            error.contains(&format!("more than {MAX_REQUEST_SERIES} series")),
            "{error}"
        );
    }
    // One byte more than the decompressed limit: refused on the snappy header alone.
    let over = vec![0u8; MAX_DECODED_BYTES + 1];
    let (status, body) = post_remote_write(
        &server,
        snap::raw::Encoder::new().compress_vec(&over).unwrap(),
    )
    .await;
    assert_eq!(status, 413, "{body}");
    assert!(error_of(&body).contains("larger than the limit"), "{body}");
    let after = rss_mib(&server);
    assert!(
        after < before + 400,
        "resident memory grew from {before} MiB to {after} MiB"
    );

    // A request within every limit is still stored.
    let t = now() * 1000;
    let fine = WriteRequest {
        timeseries: vec![TimeSeries {
            labels: vec![prescale::collect::remote_write::Label {
                name: "__name__".into(),
                value: "rps".into(),
            }],
            samples: vec![PromSample {
                value: 5.0,
                timestamp: t,
            }],
        }],
    };
    let (status, body) = post_remote_write(&server, encode(&fine)).await;
    assert_eq!(status, 204, "{body}");
    let (status, body) = get(&server, "/api/v1/series/rps/samples").await;
    assert_eq!(status, 200);
    assert_eq!(body["samples"].as_array().unwrap().len(), 1, "{body}");
}

#[tokio::test]
async fn durations_and_loads_are_bounded_at_the_edge() {
    let dir = tempfile::tempdir().unwrap();
    let server = start_with_config(dir.path(), "replan_interval = \"1s\"\n");
    let put = |body: Value| {
        send(
            reqwest::Method::PUT,
            &server,
            "/api/v1/targets/x",
            Some(body.to_string()),
        )
    };
    let target = |field: &str, value: Value| {
        let mut body = json!({"series": "rps", "capacity_per_replica": 10, "max_replicas": 5});
        body[field] = value;
        body
    };
    // What once made every monitor pass panic.
    let (status, body) = put(target("lead_time", json!("9223372036854775807s"))).await;
    assert_eq!(status, 400, "{body}");
    assert!(error_of(&body).contains("longest duration"), "{body}");
    let (status, body) = put(target("lead_time", json!("7h"))).await;
    assert_eq!(status, 400, "{body}");
    assert!(
        error_of(&body).contains("lead_time must be at most 6h"),
        "{body}"
    );
    let (status, body) = put(target("scale_down_stabilization", json!("2h"))).await;
    assert_eq!(status, 400, "{body}");
    let (status, body) = put(target("capacity_per_replica", json!(1e300))).await;
    assert_eq!(status, 400, "{body}");
    // At the bound: accepted, and the monitor keeps passing over it.
    let (status, body) = put(target("lead_time", json!("6h"))).await;
    assert_eq!(status, 201, "{body}");
    let series: Vec<(i64, f64)> = (0..120).map(|i| (now() - 60 * (120 - i), 5.0)).collect();
    common::push_samples(&server, "rps", &series).await;
    let since = now();
    let started = std::time::Instant::now();
    while last_monitor_pass(&server).await < since + 2 {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "the monitor stopped passing"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let log = server.log.lock().unwrap().join("\n");
    assert!(!log.contains("panicked"), "{log}");

    // Loads: negative, huge, and the largest accepted.
    let t = now();
    for (value, needle) in [(-1.0, "negative"), (1.79e308, "largest load accepted")] {
        let (status, body) = send(
            reqwest::Method::POST,
            &server,
            "/api/v1/series/rps/samples",
            Some(push_body(&[(t, 1.0), (t + 1, value)])),
        )
        .await;
        assert_eq!(status, 400, "{body}");
        let error = error_of(&body);
        assert!(
            error.contains("samples[1].value") && error.contains(needle),
            "{error}"
        );
    }
    let (status, body) = send(
        reqwest::Method::POST,
        &server,
        "/api/v1/series/rps/samples",
        Some(push_body(&[(t, 1e15)])),
    )
    .await;
    assert_eq!(status, 204, "{body}");
}

#[tokio::test]
async fn degenerate_series_get_an_answer() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("data"), &["--no-tls"]);
    let end = now() - now().rem_euclid(60);
    // Two days of zeros at one minute.
    let zeros: Vec<(i64, f64)> = (0..2 * 1440)
        .map(|i| (end - 60 * (2 * 1440 - i), 0.0))
        .collect();
    for chunk in zeros.chunks(1000) {
        common::push_samples(&server, "idle", chunk).await;
    }
    let (status, body) = send(
        reqwest::Method::PUT,
        &server,
        "/api/v1/targets/idle",
        Some(json!({"series": "idle", "capacity_per_replica": 10, "min_replicas": 2, "max_replicas": 5}).to_string()),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    let plan = common::wait_for_200(
        &server.url("/api/v1/targets/idle/plan"),
        Duration::from_secs(90),
    )
    .await;
    assert_eq!(plan["current"]["replicas"], 2, "{plan}");
    let (status, forecast) = get(&server, "/api/v1/series/idle/forecast?horizon=30m").await;
    assert_eq!(status, 200, "{forecast}");
    assert_flat(&forecast, 0.0);

    // A constant series: a flat line at its level, with a zero-width band.
    let constant: Vec<(i64, f64)> = zeros.iter().map(|(t, _)| (*t, 5.0)).collect();
    for chunk in constant.chunks(1000) {
        common::push_samples(&server, "flat", chunk).await;
    }
    let forecast = common::wait_for_200(
        &server.url("/api/v1/series/flat/forecast?horizon=30m"),
        Duration::from_secs(90),
    )
    .await;
    assert_flat(&forecast, 5.0);

    // Three samples over 13 days, two of them a second apart: the 14-day training grid would
    // hold 1.2 M steps. A fit looks at the newest 200,000 steps only, which hold one sample:
    // the series gets a clear reason instead of a 200 MB fit.
    let sparse = [
        (end - 13 * 86_400, 1.0),
        (end - 13 * 86_400 + 1, 1.0),
        (end, 1.0),
    ];
    common::push_samples(&server, "sparse", &sparse).await;
    let started = std::time::Instant::now();
    loop {
        let (status, body) = get(&server, "/api/v1/series/sparse/forecast").await;
        if status != 200 && error_of(&body).contains("newest 200000 steps") {
            assert!(status < 500 || status == 503, "{status} {body}");
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "no clear refusal: {status} {body}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test]
async fn a_series_can_be_deleted_unless_a_target_uses_it() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let mut server = Server::start(&data, &["--no-tls"]);
    let samples: Vec<(i64, f64)> = (0..600).map(|i| (now() - 60 * (600 - i), 3.0)).collect();
    common::push_samples(&server, "junk", &samples).await;
    common::push_samples(&server, "kept", &samples).await;
    let (status, body) = send(
        reqwest::Method::PUT,
        &server,
        "/api/v1/targets/uses-junk",
        Some(json!({"series": "junk", "capacity_per_replica": 10, "max_replicas": 5}).to_string()),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    let (status, body) = delete(&server, "/api/v1/series/junk").await;
    assert_eq!(status, 409, "{body}");
    assert!(error_of(&body).contains("uses-junk"), "{body}");
    assert_eq!(delete(&server, "/api/v1/targets/uses-junk").await.0, 204);
    assert_eq!(delete(&server, "/api/v1/series/junk").await.0, 204);
    let (status, body) = delete(&server, "/api/v1/series/junk").await;
    assert_eq!(status, 404, "{body}");
    let (_, list) = get(&server, "/api/v1/series").await;
    let names: Vec<&str> = list["series"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["series"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["kept"], "{list}");
    let (status, read) = get(&server, "/api/v1/series/junk/samples").await;
    assert_eq!(status, 404, "{read}");

    // Gone for good: not back after kill -9; a new series of the same name starts empty.
    server.kill();
    let server = Server::start(&data, &["--no-tls"]);
    let (_, list) = get(&server, "/api/v1/series").await;
    assert_eq!(list["series"].as_array().unwrap().len(), 1, "{list}");
    common::push_samples(&server, "junk", &samples[..5]).await;
    let (_, read) = get(&server, "/api/v1/series/junk/samples").await;
    assert_eq!(read["samples"].as_array().map(Vec::len), Some(5), "{read}");
    let (_, read) = get(&server, "/api/v1/series/kept/samples").await;
    assert_eq!(
        read["samples"].as_array().map(Vec::len),
        Some(600),
        "{read}"
    );
}

#[tokio::test]
async fn axum_refusals_come_as_json() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("data"), &["--no-tls"]);
    // A wrong method: axum answers 405 with an empty body.
    let (status, body) = send(reqwest::Method::PATCH, &server, "/api/v1/targets/x", None).await;
    assert_eq!(status, 405, "{body}");
    let error = error_of(&body);
    assert!(
        error.contains("PATCH") && error.contains("not allowed"),
        "{error}"
    );
    // A path segment that is not UTF-8: axum's Path extractor answers in plain text.
    let (status, body) = get(&server, "/api/v1/series/%FF%FE/forecast").await;
    assert_eq!(status, 400, "{body}");
    assert!(!error_of(&body).is_empty(), "{body}");
    // A query that does not parse.
    let (status, body) = get(&server, "/api/v1/series/x/samples?from=%FF").await;
    assert!((400..500).contains(&status), "{status} {body}");
    error_of(&body);
    // An external metric path segment that is not UTF-8: a Kubernetes `Status`, 400.
    let (status, body) = get(
        &server,
        "/apis/external.metrics.k8s.io/v1beta1/namespaces/default/%FF%FE",
    )
    .await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["kind"], "Status", "{body}");
    assert!(
        body["message"]
            .as_str()
            .is_some_and(|m| m.contains("UTF-8")),
        "{body}"
    );
}

/// `prescale_monitor_last_pass_timestamp_seconds` from `/metrics`.
async fn last_monitor_pass(server: &Server) -> i64 {
    let text = common::get_text(server.url("/metrics")).await;
    text.lines()
        .find_map(|l| l.strip_prefix("prescale_monitor_last_pass_timestamp_seconds "))
        .and_then(|v| v.trim().parse::<f64>().ok())
        .map_or(0, |v| v as i64)
}

/// Every number of every point of a forecast answer (the point forecast and each band) is
/// `level`: a flat line with a zero-width band.
fn assert_flat(forecast: &Value, level: f64) {
    let points = forecast["points"].as_array().expect("points");
    assert!(!points.is_empty(), "{forecast}");
    for point in points {
        let numbers = point
            .as_object()
            .unwrap()
            .values()
            .filter_map(Value::as_f64);
        for number in numbers {
            assert!(
                (number - level).abs() < 1e-9,
                "not flat at {level}: {point}"
            );
        }
    }
}

async fn delete(server: &Server, path: &str) -> (u16, Value) {
    send(reqwest::Method::DELETE, server, path, None).await
}

#[tokio::test]
async fn series_retention_deletes_old_series_that_no_target_uses() {
    let dir = tempfile::tempdir().unwrap();
    let server = start_with_config(dir.path(), "series_retention = \"1h\"\n");
    let old: Vec<(i64, f64)> = (0..60).map(|i| (now() - 7200 - 60 * i, 1.0)).collect();
    let fresh: Vec<(i64, f64)> = (0..60).map(|i| (now() - 60 * i, 1.0)).collect();
    let (status, body) = send(
        reqwest::Method::PUT,
        &server,
        "/api/v1/targets/old-but-used",
        Some(
            json!({"series": "old_used", "capacity_per_replica": 10, "max_replicas": 5})
                .to_string(),
        ),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    common::push_samples(&server, "old_used", &old).await;
    common::push_samples(&server, "fresh", &fresh).await;
    common::push_samples(&server, "old_junk", &old).await;
    let started = std::time::Instant::now();
    loop {
        let (_, list) = get(&server, "/api/v1/series").await;
        let mut names: Vec<&str> = list["series"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["series"].as_str().unwrap())
            .collect();
        names.sort_unstable();
        if names == ["fresh", "old_used"] {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "old_junk was not deleted: {names:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    server.wait_for_log(
        &["deleted series past series_retention", "expired=1"],
        Duration::from_secs(5),
    );
}

/// Sends `request` as raw bytes on a fresh connection and reads the whole answer (the request
/// asks for `connection: close`, or the server closes after a refusal).
fn raw_exchange(server: &Server, request: &[u8]) -> (u16, String, String) {
    use std::io::{Read, Write};
    let address = server.url.trim_start_matches("http://");
    let mut stream = std::net::TcpStream::connect(address).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    // The server may answer and close before the whole request is written.
    let _ = stream.write_all(request);
    let mut raw = Vec::new();
    let _ = stream.read_to_end(&mut raw);
    let text = String::from_utf8_lossy(&raw).to_string();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|code| code.parse().ok())
        .unwrap_or_else(|| panic!("no status in {text:?}"));
    (status, head.to_string(), body.to_string())
}

/// A catalogue of malformed requests, from the socket up: every one gets a 4xx whose body is
/// JSON `{"error": …}`, and the service still answers afterwards.
#[tokio::test]
async fn every_malformed_request_gets_a_json_4xx() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("data"), &["--no-tls"]);
    let long_uri = format!("/api/v1/series/{}", "a".repeat(70_000));
    let many_headers: String = (0..120).map(|i| format!("x-h{i}: v\r\n")).collect();
    let too_many = format!(
        "{{\"samples\":[{}]}}",
        vec![r#"{"timestamp":1767607200,"value":1}"#; 100_001].join(",")
    );
    let target = |body: &str| {
        format!(
            "PUT /api/v1/targets/t HTTP/1.1\r\nhost: x\r\nconnection: close\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
            body.len()
        )
    };
    let push = |body: &str| {
        format!(
            "POST /api/v1/series/s/samples HTTP/1.1\r\nhost: x\r\nconnection: close\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
            body.len()
        )
    };
    let get = |path: &str| format!("GET {path} HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n");
    let write = |body: &[u8]| {
        let mut request = format!(
            "POST /api/v1/write HTTP/1.1\r\nhost: x\r\nconnection: close\r\ncontent-encoding: snappy\r\ncontent-length: {}\r\n\r\n",
            body.len()
        )
        .into_bytes();
        request.extend_from_slice(body);
        request
    };
    let cases: Vec<(&str, Vec<u8>)> = vec![
        // What hyper refuses before the router.
        ("URI too long", get(&long_uri).into_bytes()),
        ("bad Content-Length", b"POST /api/v1/series/s/samples HTTP/1.1\r\nhost: x\r\ncontent-length: abc\r\n\r\n".to_vec()),
        ("two Content-Lengths", b"POST /api/v1/series/s/samples HTTP/1.1\r\nhost: x\r\ncontent-length: 5\r\ncontent-length: 6\r\n\r\nhello".to_vec()),
        ("raw bytes in the path", b"GET /api/v1/series/\xff\xfe/forecast HTTP/1.1\r\nhost: x\r\n\r\n".to_vec()),
        ("120 headers", format!("GET /healthz HTTP/1.1\r\nhost: x\r\n{many_headers}\r\n").into_bytes()),
        ("a header without a colon", b"GET /healthz HTTP/1.1\r\nhost x\r\n\r\n".to_vec()),
        ("a bad chunk size", b"POST /api/v1/series/s/samples HTTP/1.1\r\nhost: x\r\ntransfer-encoding: chunked\r\n\r\nzz\r\n".to_vec()),
        // What axum refuses.
        ("wrong method", b"PATCH /api/v1/targets/t HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n".to_vec()),
        ("unknown path", get("/api/v2/nothing").into_bytes()),
        ("percent-encoded non-UTF-8", get("/api/v1/series/%FF/forecast").into_bytes()),
        ("bad horizon", get("/api/v1/series/s/forecast?horizon=soon").into_bytes()),
        ("overflowing horizon", get("/api/v1/series/s/forecast?horizon=9223372036854775807s").into_bytes()),
        ("horizon too long", get("/api/v1/series/s/forecast?horizon=15d").into_bytes()),
        ("bad from", get("/api/v1/series/s/samples?from=yesterday").into_bytes()),
        ("series name with a control character", get("/api/v1/series/a%07b/samples").into_bytes()),
        ("series name of 600 bytes", get(&format!("/api/v1/series/{}/samples", "n".repeat(600))).into_bytes()),
        // Push bodies.
        ("push: not JSON", push("{not json").into_bytes()),
        ("push: empty body", push("").into_bytes()),
        ("push: wrong type", push(r#"{"samples":[{"timestamp":1767607200,"value":"x"}]}"#).into_bytes()),
        ("push: unknown field", push(r#"{"samples":[],"extra":1}"#).into_bytes()),
        ("push: number out of range", push(r#"{"samples":[{"timestamp":1767607200,"value":1e309}]}"#).into_bytes()),
        ("push: negative load", push(r#"{"samples":[{"timestamp":1767607200,"value":-5}]}"#).into_bytes()),
        ("push: huge load", push(r#"{"samples":[{"timestamp":1767607200,"value":1.7e308}]}"#).into_bytes()),
        ("push: milliseconds", push(r#"{"samples":[{"timestamp":1767607200000,"value":1}]}"#).into_bytes()),
        ("push: 100,001 samples", push(&too_many).into_bytes()),
        ("push: declared 100 MB", b"POST /api/v1/series/s/samples HTTP/1.1\r\nhost: x\r\ncontent-length: 100000000\r\n\r\n".to_vec()),
        // Target bodies.
        ("target: not JSON", target("{").into_bytes()),
        ("target: unknown field", target(r#"{"series":"s","capacity_per_replica":1,"max_replicas":2,"lead":"3m"}"#).into_bytes()),
        ("target: min above max", target(r#"{"series":"s","capacity_per_replica":1,"min_replicas":5,"max_replicas":2}"#).into_bytes()),
        ("target: overflowing lead_time", target(r#"{"series":"s","capacity_per_replica":1,"max_replicas":2,"lead_time":"9223372036854775807s"}"#).into_bytes()),
        ("target: lead_time of 7h", target(r#"{"series":"s","capacity_per_replica":1,"max_replicas":2,"lead_time":"7h"}"#).into_bytes()),
        ("target: quantile 1.5", target(r#"{"series":"s","capacity_per_replica":1,"max_replicas":2,"quantile":1.5}"#).into_bytes()),
        ("target: capacity 1e300", target(r#"{"series":"s","capacity_per_replica":1e300,"max_replicas":2}"#).into_bytes()),
        ("target: bad label", target(r#"{"series":"s","capacity_per_replica":1,"max_replicas":2,"labels":{"bad key":"x"}}"#).into_bytes()),
        ("target: bad name", b"PUT /api/v1/targets/-x HTTP/1.1\r\nhost: x\r\nconnection: close\r\ncontent-length: 2\r\n\r\n{}".to_vec()),
        // remote_write bodies.
        ("remote_write: not snappy", write(b"\xff\xff\xff\xff\xff")),
        ("remote_write: not protobuf", write(&snap::raw::Encoder::new().compress_vec(b"hello, not protobuf").unwrap())),
        ("remote_write: 64 MiB declared", write(&[0x80, 0x80, 0x80, 0x20, 0, 0, 0])),
        ("remote_write: 200,000 empty series", write(&snap::raw::Encoder::new().compress_vec(&[0x0a, 0x00].repeat(200_000)).unwrap())),
    ];
    let mut refused_as_json = 0;
    for (name, request) in &cases {
        let (status, head, body) = raw_exchange(&server, request);
        assert!(
            (400..500).contains(&status),
            "{name}: {status}\n{head}\n{body}"
        );
        let json: Value = serde_json::from_str(&body)
            .unwrap_or_else(|_| panic!("{name}: {status} with a body that is not JSON: {body:?}"));
        assert!(
            json["error"].as_str().is_some_and(|e| !e.is_empty()),
            "{name}: {json}"
        );
        refused_as_json += 1;
    }
    eprintln!(
        "{refused_as_json} of {} malformed requests refused with a JSON 4xx",
        cases.len()
    );
    let (status, _) = get_health(&server).await;
    assert_eq!(status, 200, "the service still answers");
}

async fn get_health(server: &Server) -> (u16, Value) {
    get(server, "/healthz").await
}

#[tokio::test]
async fn a_forecast_answer_is_bounded_in_points() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("data"), &["--no-tls"]);
    let end = now() - now().rem_euclid(10);
    // Six hours at 10 s: a 14-day horizon would be 120,960 points.
    let fine: Vec<(i64, f64)> = (0..2160)
        .map(|i| (end - 10 * (2160 - i), 100.0 + (i % 60) as f64))
        .collect();
    for chunk in fine.chunks(1000) {
        common::push_samples(&server, "fine", chunk).await;
    }
    common::wait_for_200(
        &server.url("/api/v1/series/fine/forecast?horizon=1h"),
        Duration::from_secs(90),
    )
    .await;
    let (status, body) = get(&server, "/api/v1/series/fine/forecast?horizon=14d").await;
    assert_eq!(status, 400, "{body}");
    let error = error_of(&body);
    assert!(
        error.contains("120960 points") && error.contains("at most 56h"),
        "{error}"
    );
}

/// A `POST` of `body` to `path` with `Content-Encoding: encoding`.
async fn post_encoded(server: &Server, path: &str, encoding: &str, body: Vec<u8>) -> (u16, Value) {
    let response = client()
        .post(server.url(path))
        .header("content-encoding", encoding)
        .body(body)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    let body = response.json().await.unwrap_or(Value::Null);
    (status, body)
}

#[tokio::test]
async fn bodies_in_an_unsupported_coding_are_415_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let server = start_with_config(dir.path(), "[remote_write]\nallow = [\"*\"]\n");
    let samples = push_body(&[(now() - 60, 1.0)]).into_bytes();
    let push = "/api/v1/series/rps/samples";

    // Before, a JSON body sent as gzip was read as if plain; the gzip bytes would be garbage.
    let (status, body) = post_encoded(&server, push, "gzip", samples.clone()).await;
    assert_eq!(status, 415, "{body}");
    let error = error_of(&body);
    assert!(
        error.contains("\"gzip\"") && error.contains("uncompressed"),
        "{error}"
    );
    let (status, body) = post_encoded(&server, push, "br", samples.clone()).await;
    assert_eq!(status, 415, "{body}");
    let (status, body) = post_encoded(&server, push, "identity", samples).await;
    assert_eq!(status, 204, "{body}");

    let request = WriteRequest {
        timeseries: vec![TimeSeries {
            labels: vec![prescale::collect::remote_write::Label {
                name: "__name__".into(),
                value: "up".into(),
            }],
            samples: vec![PromSample {
                value: 1.0,
                timestamp: (now() - 60) * 1000,
            }],
        }],
    };
    let write = "/api/v1/write";
    let (status, body) = post_encoded(&server, write, "gzip", encode(&request)).await;
    assert_eq!(status, 415, "{body}");
    let error = error_of(&body);
    assert!(
        error.contains("\"gzip\"") && error.contains("snappy"),
        "{error}"
    );
    let (status, body) = post_encoded(&server, write, "snappy", encode(&request)).await;
    assert_eq!(status, 204, "{body}");
}

#[tokio::test]
async fn errors_repeat_at_most_200_bytes_of_the_request() {
    let dir = tempfile::tempdir().unwrap();
    let server = start_with_config(dir.path(), "");
    common::push_samples(&server, "rps", &[(now() - 60, 1.0)]).await;
    let long = "x".repeat(10_000);
    let target = r#"{"series":"rps","capacity_per_replica":50,"max_replicas":10}"#;
    let requests: Vec<(reqwest::Method, String, Option<String>)> = vec![
        (
            reqwest::Method::GET,
            format!("/api/v1/series/{long}/samples"),
            None,
        ),
        (
            reqwest::Method::GET,
            format!("/api/v1/series/{long}/forecast"),
            None,
        ),
        (
            reqwest::Method::DELETE,
            format!("/api/v1/series/{long}"),
            None,
        ),
        (
            reqwest::Method::POST,
            format!("/api/v1/series/{long}/samples"),
            Some(push_body(&[(now(), 1.0)])),
        ),
        (
            reqwest::Method::GET,
            format!("/api/v1/series/rps/forecast?horizon={long}"),
            None,
        ),
        (
            reqwest::Method::GET,
            format!("/api/v1/series/rps/forecast?{long}=1"),
            None,
        ),
        (
            reqwest::Method::GET,
            format!("/api/v1/series/rps/samples?from={long}"),
            None,
        ),
        (
            reqwest::Method::GET,
            format!("/api/v1/series/rps/samples?to=1&{long}=1"),
            None,
        ),
        (
            reqwest::Method::GET,
            format!("/api/v1/targets/{long}"),
            None,
        ),
        (
            reqwest::Method::GET,
            format!("/api/v1/targets/{long}/plan"),
            None,
        ),
        (
            reqwest::Method::DELETE,
            format!("/api/v1/targets/{long}"),
            None,
        ),
        (
            reqwest::Method::PUT,
            format!("/api/v1/targets/{long}"),
            Some(target.into()),
        ),
        (
            reqwest::Method::PUT,
            "/api/v1/targets/t".into(),
            Some(format!(r#"{{"series":"rps","{long}":1}}"#)),
        ),
        (
            reqwest::Method::PUT,
            "/api/v1/targets/t".into(),
            Some(format!(
                r#"{{"series":"{long}","capacity_per_replica":50,"max_replicas":10}}"#
            )),
        ),
        (
            reqwest::Method::POST,
            "/api/v1/series/rps/samples".into(),
            Some(format!(
                r#"{{"samples":[{{"timestamp":"{long}","value":1}}]}}"#
            )),
        ),
        (
            reqwest::Method::POST,
            "/api/v1/series/rps/samples".into(),
            Some(format!(
                r#"{{"samples":[{{"timestamp":1,"value":"{long}"}}]}}"#
            )),
        ),
        (
            reqwest::Method::GET,
            format!("/apis/external.metrics.k8s.io/v1beta1/namespaces/default/{long}"),
            None,
        ),
        (
            reqwest::Method::GET,
            format!("/apis/external.metrics.k8s.io/v1beta1/namespaces/{long}/m"),
            None,
        ),
        (
            reqwest::Method::GET,
            format!(
                "/apis/external.metrics.k8s.io/v1beta1/namespaces/default/m?labelSelector=a%3D{long}"
            ),
            None,
        ),
        (
            reqwest::Method::GET,
            format!(
                "/apis/external.metrics.k8s.io/v1beta1/namespaces/default/m?labelSelector={long}%20{long}"
            ),
            None,
        ),
    ];
    for (method, path, body) in requests {
        let what = format!("{method} {}", &path[..path.len().min(90)]);
        let (status, answer) = send(method, &server, &path, body).await;
        assert!((400..500).contains(&status), "{what}: {status} {answer}");
        let text = answer.to_string();
        assert!(text.len() < 1024, "{what}: {} bytes: {text}", text.len());
    }
}

#[tokio::test]
async fn pushed_samples_before_1970_or_a_day_ahead_refuse_the_batch() {
    let dir = tempfile::tempdir().unwrap();
    let server = start_with_config(dir.path(), "");
    let now = now();
    for (samples, needle) in [
        (vec![(now - 60, 1.0), (-1, 1.0)], "Unix epoch"),
        (vec![(now - 60, 1.0), (now + 2 * 86_400, 1.0)], "one day"),
    ] {
        let (status, body) = common::try_push(&server, "rps", &samples).await;
        assert_eq!(status, 400, "{body}");
        let error = error_of(&body);
        assert!(
            error.contains("samples[1].timestamp") && error.contains(needle),
            "{error}"
        );
    }
    // Nothing of a refused batch was stored; old (after 1970) and near-future samples are fine.
    let (status, _) = get(&server, "/api/v1/series/rps/samples").await;
    assert_eq!(status, 404);
    common::push_samples(&server, "rps", &[(1_600_000_000, 1.0), (now + 3_600, 2.0)]).await;
}
