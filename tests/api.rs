//! End to end through HTTP on 127.0.0.1: the real binary, a real sled directory.

mod common;

use std::time::Duration;

use common::{Server, client, daily_samples, now, push_body, wait_for_200};
use serde_json::{Value, json};

const CONFIG: &str = r#"
replan_interval = "1s"

[targets.checkout]
series = "checkout_rps"
capacity_per_replica = 20.0
min_replicas = 2
max_replicas = 30
lead_time = "3m"
quantile = 0.9
"#;

fn config_file(dir: &std::path::Path, text: &str) -> String {
    let path = dir.join("prescale.toml");
    std::fs::write(&path, text).unwrap();
    path.display().to_string()
}

async fn push(server: &Server, series: &str, body: String) -> reqwest::Response {
    client()
        .post(server.url(&format!("/api/v1/series/{series}/samples")))
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .unwrap()
}

async fn get(server: &Server, path: &str) -> (u16, Value) {
    let response = client().get(server.url(path)).send().await.unwrap();
    let status = response.status().as_u16();
    let text = response.text().await.unwrap();
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

async fn stored(server: &Server, series: &str) -> Vec<Value> {
    let (status, body) = get(server, &format!("/api/v1/series/{series}/samples")).await;
    assert_eq!(status, 200, "{body}");
    body["samples"].as_array().unwrap().clone()
}

#[tokio::test]
async fn push_then_forecast_plan_and_external_metric() {
    let dir = tempfile::tempdir().unwrap();
    let config = config_file(dir.path(), CONFIG);
    let server = Server::start(&dir.path().join("data"), &["--config", &config]);

    // Three days of a daily cycle ending now, in batches of 1000; the first in RFC 3339.
    let samples = daily_samples(now(), 3 * 1440);
    let first: Vec<Value> = samples[..1000]
        .iter()
        .map(|(t, v)| {
            let time = chrono::DateTime::from_timestamp(*t, 0).unwrap();
            json!({"timestamp": time.to_rfc3339(), "value": v})
        })
        .collect();
    let response = push(
        &server,
        "checkout_rps",
        json!({ "samples": first }).to_string(),
    )
    .await;
    assert_eq!(response.status(), 204);
    for chunk in samples[1000..].chunks(1000) {
        assert_eq!(
            push(&server, "checkout_rps", push_body(chunk))
                .await
                .status(),
            204
        );
    }
    assert_eq!(stored(&server, "checkout_rps").await.len(), samples.len());
    let (status, list) = get(&server, "/api/v1/series").await;
    assert_eq!(status, 200);
    assert_eq!(list["series"][0]["series"], "checkout_rps");
    assert_eq!(list["series"][0]["samples"], samples.len());

    // The plan appears once the engine has fitted the series.
    let plan = wait_for_200(
        &server.url("/api/v1/targets/checkout/plan"),
        Duration::from_secs(60),
    )
    .await;
    let current = &plan["current"];
    let replicas = current["replicas"].as_u64().unwrap();
    assert!((2..=30).contains(&replicas), "{plan}");
    assert_eq!(current["quantile"], 0.9);
    assert_eq!(current["capacity_per_replica"], 20.0);
    // Pushed history: prescale's own store is where it comes from.
    assert_eq!(
        plan["history"],
        serde_json::json!({"source": "local"}),
        "{plan}"
    );
    let start =
        chrono::DateTime::parse_from_rfc3339(current["window"]["start"].as_str().unwrap()).unwrap();
    let end =
        chrono::DateTime::parse_from_rfc3339(current["window"]["end"].as_str().unwrap()).unwrap();
    assert_eq!((end - start).num_seconds(), 180);
    assert!(current["clamp"].is_string());
    assert!(
        current["reason"].as_str().unwrap().contains("per replica"),
        "{plan}"
    );
    // The safety net: never below what the newest observation needs.
    let last = samples.last().unwrap().1;
    assert!(replicas as f64 >= (last / 20.0).ceil().min(30.0), "{plan}");
    // The q90 forecast of a clean daily cycle sits near the true load over the window.
    let truth = |t: i64| {
        let phase = (t.rem_euclid(86_400)) as f64 / 86_400.0 * std::f64::consts::TAU;
        200.0 + 150.0 * phase.sin()
    };
    let forecast_load = current["forecast_load"].as_f64().unwrap();
    let peak = (0..=3)
        .map(|m| truth(start.timestamp() + 60 * m))
        .fold(0.0, f64::max);
    assert!(
        (forecast_load - peak).abs() < 0.25 * peak,
        "{forecast_load} vs {peak}"
    );
    assert!(plan["points"].as_array().unwrap().len() >= 50, "{plan}");

    // The forecast: one hour of points with nested intervals.
    let (status, forecast) = get(&server, "/api/v1/series/checkout_rps/forecast?horizon=1h").await;
    assert_eq!(status, 200, "{forecast}");
    let points = forecast["points"].as_array().unwrap();
    assert_eq!(points.len(), 60);
    for p in points {
        let f = |k: &str| p[k].as_f64().unwrap();
        assert!(
            f("lo95") <= f("lo80") && f("lo80") <= f("hi80") && f("hi80") <= f("hi95"),
            "{p}"
        );
        assert!(
            f("lo80") <= f("yhat") + 1e-9 && f("yhat") <= f("hi80") + 1e-9,
            "{p}"
        );
    }
    assert!(forecast["model"].is_string() && forecast["fitted_at"].is_string());
    let (status, _) = get(&server, "/api/v1/series/checkout_rps/forecast?horizon=3h").await;
    assert_eq!(status, 200);
    let (status, body) = get(&server, "/api/v1/series/checkout_rps/forecast?horizon=soon").await;
    assert_eq!(status, 400);
    assert!(
        body["error"].as_str().unwrap().contains("horizon"),
        "{body}"
    );
    let (status, body) = get(&server, "/api/v1/series/nope/forecast").await;
    assert_eq!(status, 404, "{body}");

    // The external metric carries the planned replicas as a quantity.
    let path = "/apis/external.metrics.k8s.io/v1beta1/namespaces/default/checkout";
    let (_, before) = get(&server, "/api/v1/targets/checkout/plan").await;
    let (status, list) = get(&server, path).await;
    let (_, after) = get(&server, "/api/v1/targets/checkout/plan").await;
    assert_eq!(status, 200, "{list}");
    assert_eq!(list["kind"], "ExternalMetricValueList");
    assert_eq!(list["apiVersion"], "external.metrics.k8s.io/v1beta1");
    let item = &list["items"][0];
    assert_eq!(item["metricName"], "checkout");
    assert_eq!(item["metricLabels"]["target"], "checkout");
    assert!(chrono::DateTime::parse_from_rfc3339(item["timestamp"].as_str().unwrap()).is_ok());
    let value: u64 = item["value"].as_str().unwrap().parse().unwrap();
    let planned = [&before, &after].map(|p| p["current"]["replicas"].as_u64().unwrap());
    assert!(planned.contains(&value), "{value} not in {planned:?}");

    // /metrics shows it too.
    let text = common::get_text(server.url("/metrics")).await;
    assert!(
        text.contains("prescale_target_replicas{target=\"checkout\"}"),
        "{text}"
    );
    assert!(
        text.contains("prescale_samples_ingested_total 4320"),
        "{text}"
    );
}

#[tokio::test]
async fn targets_are_managed_validated_and_persisted() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let server = Server::start(&data, &[]);
    let put = |name: &str, body: Value| {
        client()
            .put(server.url(&format!("/api/v1/targets/{name}")))
            .json(&body)
            .send()
    };
    let body = json!({"series": "api_rps", "capacity_per_replica": 50, "max_replicas": 10});
    let response = put("api", body.clone()).await.unwrap();
    assert_eq!(response.status(), 201);
    let stored: Value = response.json().await.unwrap();
    assert_eq!(stored["min_replicas"], 1);
    assert_eq!(stored["lead_time"], "3m");
    assert_eq!(stored["scale_down_stabilization"], "5m");
    assert_eq!(stored["metric_value"], "replicas");
    assert_eq!(put("api", body.clone()).await.unwrap().status(), 200);
    let with_load = json!({"series": "api_rps", "capacity_per_replica": 50, "max_replicas": 10,
                           "metric_value": "load", "lead_time": "2m", "quantile": 0.95});
    assert_eq!(put("api-load", with_load).await.unwrap().status(), 201);

    let (status, list) = get(&server, "/api/v1/targets").await;
    assert_eq!(status, 200);
    assert_eq!(list["targets"]["api"]["capacity_per_replica"], 50.0);
    assert_eq!(list["targets"]["api-load"]["metric_value"], "load");

    // Impossible definitions are refused with the field named, and change nothing.
    let bad = [
        (
            json!({"series": "x", "capacity_per_replica": 0, "max_replicas": 10}),
            "capacity_per_replica",
        ),
        (
            json!({"series": "x", "capacity_per_replica": -1, "max_replicas": 10}),
            "capacity_per_replica",
        ),
        (
            json!({"series": "x", "capacity_per_replica": 5, "min_replicas": 4, "max_replicas": 3}),
            "min_replicas",
        ),
        (
            json!({"series": "x", "capacity_per_replica": 5, "max_replicas": 3, "quantile": 1.5}),
            "quantile",
        ),
        (
            json!({"series": "x", "capacity_per_replica": 5, "max_replicas": 3, "lead_time": "3 min"}),
            "lead_time",
        ),
        (
            json!({"series": "x", "capacity_per_replica": 5, "max_replicas": 3, "colour": "red"}),
            "colour",
        ),
        (
            json!({"capacity_per_replica": 5, "max_replicas": 3}),
            "series",
        ),
        (
            json!({"series": "x", "capacity_per_replica": "lots", "max_replicas": 3}),
            "capacity_per_replica",
        ),
    ];
    for (body, field) in bad {
        let response = put("api", body.clone()).await.unwrap();
        assert_eq!(response.status(), 400, "{body}");
        let error: Value = response.json().await.unwrap();
        assert!(
            error["error"].as_str().unwrap().contains(field),
            "{error} should name {field}"
        );
    }
    let response = put("bad%2Fname", body.clone()).await.unwrap();
    assert_eq!(response.status(), 400);
    let response = client()
        .put(server.url("/api/v1/targets/api"))
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    let (_, target) = get(&server, "/api/v1/targets/api").await;
    assert_eq!(target["capacity_per_replica"], 50.0);

    // A target whose series has no data is still answered: a stated reason, a safe metric.
    let (status, plan) = wait_plan_state(&server, "api").await;
    assert_eq!(status, 503);
    assert!(
        plan["error"].as_str().unwrap().contains("api_rps"),
        "{plan}"
    );
    let (status, ready) = get(&server, "/readyz").await;
    assert_eq!(status, 200, "{ready}");
    assert!(ready["unplanned_targets"]["api"].is_string(), "{ready}");
    let (status, list) = get(
        &server,
        "/apis/external.metrics.k8s.io/v1beta1/namespaces/prod/api",
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(
        list["items"][0]["value"], "1",
        "min_replicas is the fallback: {list}"
    );
    let (_, list) = get(
        &server,
        "/apis/external.metrics.k8s.io/v1beta1/namespaces/prod/api-load",
    )
    .await;
    assert_eq!(
        list["items"][0]["value"], "50",
        "min_replicas * capacity in load mode: {list}"
    );

    // Delete, and unknown targets.
    let response = client()
        .delete(server.url("/api/v1/targets/api-load"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 204);
    let response = client()
        .delete(server.url("/api/v1/targets/api-load"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 404);
    let (status, body) = get(&server, "/api/v1/targets/nope/plan").await;
    assert_eq!(status, 404);
    assert!(body["error"].as_str().unwrap().contains("nope"));

    // Targets survive a restart.
    drop(server);
    let server = Server::start(&data, &[]);
    let (status, list) = get(&server, "/api/v1/targets").await;
    assert_eq!(status, 200);
    assert_eq!(list["targets"]["api"]["max_replicas"], 10);
    assert!(list["targets"].get("api-load").is_none(), "{list}");
}

/// Waits until the target has been through a planning pass, returning the plan answer.
async fn wait_plan_state(server: &Server, name: &str) -> (u16, Value) {
    for _ in 0..200 {
        let (status, body) = get(server, &format!("/api/v1/targets/{name}/plan")).await;
        if status == 200
            || body["error"]
                .as_str()
                .is_some_and(|e| e.contains("no plan since"))
        {
            return (status, body);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("target {name} was never planned");
}

#[tokio::test]
async fn bad_pushes_are_refused_and_change_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("data"), &[]);
    let good = push_body(&[(1_767_607_200, 1.0), (1_767_607_260, 2.0)]);
    assert_eq!(push(&server, "rps", good).await.status(), 204);
    let before = stored(&server, "rps").await;

    let bad: [(&str, &str); 9] = [
        (
            r#"{"samples":[{"timestamp":1767607320,"value":3}"#,
            "invalid JSON",
        ),
        (r#"{"samples":[{"timestamp":1767607320}]}"#, "samples[0]"),
        (
            r#"{"samples":[{"timestamp":1767607320,"value":1e999}]}"#,
            "samples[0].value",
        ),
        (
            r#"{"samples":[{"timestamp":1767607320,"value":"NaN"}]}"#,
            "samples[0].value",
        ),
        (
            r#"{"samples":[{"timestamp":1767607320,"value":1},{"timestamp":"tomorrow","value":2}]}"#,
            "samples[1].timestamp",
        ),
        (
            r#"{"samples":[{"timestamp":1767607320000,"value":3}]}"#,
            "milliseconds",
        ),
        (
            r#"{"samples":[{"timestamp":1767607320,"value":3,"unit":"rps"}]}"#,
            "unit",
        ),
        (r#"{"sample":[]}"#, "sample"),
        ("", "invalid JSON"),
    ];
    for (body, hint) in bad {
        let response = push(&server, "rps", body.to_string()).await;
        assert_eq!(response.status(), 400, "{body}");
        let error: Value = response.json().await.unwrap();
        assert!(
            error["error"].as_str().unwrap().contains(hint),
            "{error} should contain {hint}"
        );
    }
    // A series name with a control character.
    let response = push(&server, "a%0Ab", push_body(&[(1_767_607_200, 1.0)])).await;
    assert_eq!(response.status(), 400);

    // Too many samples, and a body over the byte limit: 413 with a JSON message.
    let many: Vec<(i64, f64)> = (0..100_001)
        .map(|i| (1_600_000_000 + i * 60, 1.0))
        .collect();
    let response = push(&server, "rps", push_body(&many)).await;
    assert_eq!(response.status(), 413);
    let error: Value = response.json().await.unwrap();
    assert!(
        error["error"].as_str().unwrap().contains("100000"),
        "{error}"
    );
    let (status, error) =
        common::post_declaring(&server.url, "/api/v1/series/rps/samples", 17 * 1024 * 1024);
    assert_eq!(status, 413);
    assert!(
        error["error"].as_str().unwrap().contains("100000 samples"),
        "{error}"
    );

    assert_eq!(
        stored(&server, "rps").await,
        before,
        "a refused batch changed the store"
    );
    let (status, _) = get(&server, "/api/v1/series/nope/samples").await;
    assert_eq!(status, 404);

    // Exactly 100,000 samples are accepted.
    let response = push(&server, "big", push_body(&many[..100_000])).await;
    assert_eq!(response.status(), 204);
    assert_eq!(stored(&server, "big").await.len(), 100_000);
    assert_eq!(stored(&server, "rps").await, before);
}

#[tokio::test]
async fn discovery_health_and_kubernetes_errors() {
    let dir = tempfile::tempdir().unwrap();
    let config = config_file(dir.path(), CONFIG);
    let server = Server::start(&dir.path().join("data"), &["--config", &config]);
    let (status, body) = get(&server, "/healthz").await;
    assert_eq!((status, &body["status"]), (200, &json!("ok")));
    wait_for_200(&server.url("/readyz"), Duration::from_secs(30)).await;

    let (status, groups) = get(&server, "/apis").await;
    assert_eq!(status, 200);
    assert_eq!(groups["kind"], "APIGroupList");
    assert_eq!(groups["groups"][0]["name"], "external.metrics.k8s.io");
    assert_eq!(
        groups["groups"][0]["preferredVersion"]["groupVersion"],
        "external.metrics.k8s.io/v1beta1"
    );
    let (status, group) = get(&server, "/apis/external.metrics.k8s.io").await;
    assert_eq!((status, &group["kind"]), (200, &json!("APIGroup")));
    let (status, resources) = get(&server, "/apis/external.metrics.k8s.io/v1beta1").await;
    assert_eq!(status, 200);
    assert_eq!(resources["kind"], "APIResourceList");
    assert_eq!(resources["groupVersion"], "external.metrics.k8s.io/v1beta1");
    assert_eq!(resources["resources"][0]["name"], "checkout");
    assert_eq!(resources["resources"][0]["namespaced"], true);

    let (status, body) = get(
        &server,
        "/apis/external.metrics.k8s.io/v1beta1/namespaces/default/missing",
    )
    .await;
    assert_eq!(status, 404);
    assert_eq!(body["kind"], "Status");
    assert_eq!(body["status"], "Failure");
    assert_eq!(body["reason"], "NotFound");
    assert_eq!(body["code"], 404);

    let (status, body) = get(&server, "/no/such/path").await;
    assert_eq!(status, 404);
    assert!(body["error"].is_string());
}

#[tokio::test]
async fn demo_shows_a_forecast_a_plan_and_a_metric_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("data"), &["--demo"]);
    let plan = wait_for_200(
        &server.url("/api/v1/targets/demo/plan"),
        Duration::from_secs(90),
    )
    .await;
    let replicas = plan["current"]["replicas"].as_u64().unwrap();
    assert!(
        replicas > 1,
        "the demo should need more than one replica: {plan}"
    );
    let (status, forecast) = get(
        &server,
        "/api/v1/series/demo_http_requests_per_minute/forecast?horizon=1h",
    )
    .await;
    assert_eq!(status, 200, "{forecast}");
    assert_eq!(forecast["points"].as_array().unwrap().len(), 60);
    let (status, list) = get(
        &server,
        "/apis/external.metrics.k8s.io/v1beta1/namespaces/default/demo",
    )
    .await;
    assert_eq!(status, 200);
    let value: u64 = list["items"][0]["value"].as_str().unwrap().parse().unwrap();
    assert!(value > 1, "{list}");
}

/// Sample reads page: `limit` caps an answer, `next` is where the following page starts, and
/// the pages together are the whole range.
#[tokio::test]
async fn sample_reads_page_with_limit_and_next() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("data"), &[]);
    let pushed = daily_samples(now(), 250);
    assert_eq!(
        push(&server, "paged", push_body(&pushed)).await.status(),
        204
    );
    let mut read: Vec<(i64, f64)> = Vec::new();
    let mut from: Option<String> = None;
    let mut pages = 0;
    loop {
        let path = match &from {
            None => "/api/v1/series/paged/samples?limit=100".to_string(),
            Some(next) => format!("/api/v1/series/paged/samples?limit=100&from={next}"),
        };
        let (status, page) = get(&server, &path).await;
        assert_eq!(status, 200, "{page}");
        pages += 1;
        read.extend(common::samples_of::<Vec<_>>(&page));
        match page["next"].as_str() {
            Some(next) => {
                assert_eq!(page["truncated"], true);
                from = Some(next.to_string());
            }
            None => {
                assert_eq!(page["truncated"], false);
                break;
            }
        }
    }
    assert_eq!(pages, 3);
    assert_eq!(read, pushed);
    let (status, body) = get(&server, "/api/v1/series/paged/samples?limit=0").await;
    assert_eq!(status, 400, "{body}");
    assert!(body["error"].as_str().unwrap().contains("limit"), "{body}");
}

#[tokio::test]
async fn forecast_answers_are_served_as_bytes_with_an_etag_until_the_model_changes() {
    let dir = tempfile::tempdir().unwrap();
    let config = config_file(
        dir.path(),
        &format!("refit_interval = \"2s\"\n{}", CONFIG.trim_start()),
    );
    let server = Server::start(&dir.path().join("data"), &["--config", &config]);
    let samples = daily_samples(now() - 600, 3 * 1440);
    for chunk in samples.chunks(1000) {
        assert_eq!(
            push(&server, "checkout_rps", push_body(chunk))
                .await
                .status(),
            204
        );
    }
    let path = "/api/v1/series/checkout_rps/forecast?horizon=1h";
    wait_for_200(&server.url(path), Duration::from_secs(60)).await;
    let fetch = |if_none_match: Option<String>| conditional_get(server.url(path), if_none_match);
    // Asked twice from one model: the same bytes and the same strong tag.
    let (status, etag, cache, first) = fetch(None).await;
    assert_eq!(status, 200);
    let etag = etag.expect("an ETag");
    assert!(etag.starts_with('"') && !etag.starts_with("W/"), "{etag}");
    assert_eq!(cache.as_deref(), Some("no-cache"));
    let body: Value = serde_json::from_slice(&first).unwrap();
    assert_eq!(body["points"].as_array().unwrap().len(), 60);
    let fitted_at = body["fitted_at"].clone();
    // A client holding the tag gets 304 and no body (unless the model changed in between).
    let (status, again, _, bytes) = fetch(Some(etag.clone())).await;
    if again.as_deref() == Some(etag.as_str()) {
        assert_eq!(status, 304);
        assert!(bytes.is_empty());
    }
    // Another horizon is another answer.
    let (status, other, _, _) = {
        let response = client()
            .get(server.url("/api/v1/series/checkout_rps/forecast?horizon=2h"))
            .send()
            .await
            .unwrap();
        let etag = response.headers().get("etag").cloned();
        (response.status().as_u16(), etag, (), ())
    };
    assert_eq!(status, 200);
    assert_ne!(other.unwrap().to_str().unwrap(), etag);

    // New samples and a refit: a new model, a new answer, and the old tag no longer matches.
    let newer: Vec<(i64, f64)> = daily_samples(now(), 10)
        .into_iter()
        .map(|(t, v)| (t, v * 3.0))
        .filter(|(t, _)| *t > samples.last().unwrap().0)
        .collect();
    assert_eq!(
        push(&server, "checkout_rps", push_body(&newer))
            .await
            .status(),
        204
    );
    let started = std::time::Instant::now();
    let mut etag = etag;
    loop {
        let (status, tag, _, bytes) = fetch(Some(etag.clone())).await;
        if status == 200 {
            // A new answer: from a new model, or (a minute went by) from the next step.
            assert_ne!(tag.as_deref(), Some(etag.as_str()));
            let body: Value = serde_json::from_slice(&bytes).unwrap();
            if body["fitted_at"] != fitted_at {
                break;
            }
            etag = tag.unwrap();
        } else {
            assert_eq!(status, 304);
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "the answer never changed after a refit"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// A GET of `url`, with `If-None-Match` when a tag is given: the status, the `ETag` and
/// `Cache-Control` headers, and the body.
async fn conditional_get(
    url: String,
    if_none_match: Option<String>,
) -> (u16, Option<String>, Option<String>, axum::body::Bytes) {
    let request = client().get(url);
    let request = match if_none_match {
        Some(tag) => request.header("if-none-match", tag),
        None => request,
    };
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let header = |name: &str| {
        response
            .headers()
            .get(name)
            .map(|v| v.to_str().unwrap().to_string())
    };
    let (etag, cache) = (header("etag"), header("cache-control"));
    (status, etag, cache, response.bytes().await.unwrap())
}

/// `prescale_external_metric_reads_total`, from `/metrics`.
async fn external_metric_reads(server: &Server) -> u64 {
    let text = common::get_text(server.url("/metrics")).await;
    text.lines()
        .find_map(|line| line.strip_prefix("prescale_external_metric_reads_total "))
        .and_then(|value| value.trim().parse::<f64>().ok())
        .unwrap_or_else(|| panic!("no external metric reads in {text}")) as u64
}

#[tokio::test]
async fn external_metric_answers_are_served_as_bytes_with_an_etag_until_the_plan_changes() {
    let dir = tempfile::tempdir().unwrap();
    let config = config_file(dir.path(), CONFIG);
    let server = Server::start(&dir.path().join("data"), &["--config", &config]);
    let samples = daily_samples(now() - 60, 3 * 1440);
    for chunk in samples.chunks(1000) {
        let response = push(&server, "checkout_rps", push_body(chunk)).await;
        assert_eq!(response.status(), 204);
    }
    wait_for_200(
        &server.url("/api/v1/targets/checkout/plan"),
        Duration::from_secs(60),
    )
    .await;
    let path = "/apis/external.metrics.k8s.io/v1beta1/namespaces/default/checkout";
    let fetch = |if_none_match: Option<String>| {
        let answer = conditional_get(server.url(path), if_none_match);
        async move {
            let (status, etag, cache, bytes) = answer.await;
            assert_eq!(cache.as_deref(), Some("no-cache"));
            (status, etag, bytes)
        }
    };
    let item = |bytes: &[u8]| serde_json::from_slice::<Value>(bytes).unwrap()["items"][0].clone();

    // Within one second (and one plan) the answer is the same bytes with the same strong tag, and
    // a client holding the tag gets 304 with no body; every read is counted either way.
    let reads = external_metric_reads(&server).await;
    let mut asked = 0;
    let (mut same, mut not_modified) = (false, false);
    let started = std::time::Instant::now();
    while !(same && not_modified) {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "never served again"
        );
        let (status, etag, first) = fetch(None).await;
        let (again, tag, second) = fetch(None).await;
        let (revalidated, _, empty) = fetch(etag.clone()).await;
        asked += 3;
        assert_eq!((status, again), (200, 200));
        let etag = etag.expect("an ETag");
        assert!(etag.starts_with('"') && !etag.starts_with("W/"), "{etag}");
        if item(&first)["timestamp"] == item(&second)["timestamp"] {
            assert_eq!(first, second);
            assert_eq!(tag.as_deref(), Some(etag.as_str()));
            same = true;
        } else {
            assert_ne!(tag.as_deref(), Some(etag.as_str()));
        }
        if revalidated == 304 {
            assert!(empty.is_empty());
            not_modified = true;
        } else {
            assert_eq!(revalidated, 200);
            assert_ne!(item(&empty)["timestamp"], item(&first)["timestamp"]);
        }
    }
    assert_eq!(external_metric_reads(&server).await - reads, asked);

    // The timestamp stays the time of the answer: a second later, a new one and a new tag.
    let (_, etag, first) = fetch(None).await;
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let (status, later_tag, later) = fetch(etag.clone()).await;
    assert_eq!(status, 200);
    assert_ne!(later_tag, etag);
    assert!(item(&later)["timestamp"].as_str() > item(&first)["timestamp"].as_str());

    // A new definition is a new plan: its value is served as soon as it is planned.
    let value: u64 = item(&later)["value"].as_str().unwrap().parse().unwrap();
    let pinned = value + 1;
    let body = json!({"series": "checkout_rps", "capacity_per_replica": 20,
                      "min_replicas": pinned, "max_replicas": pinned});
    let response = client()
        .put(server.url("/api/v1/targets/checkout"))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let started = std::time::Instant::now();
    loop {
        let (status, _, bytes) = fetch(None).await;
        assert_eq!(status, 200);
        let value = item(&bytes)["value"].as_str().map(str::parse::<u64>);
        if value == Some(Ok(pinned)) {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "the answer never showed the new plan"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
