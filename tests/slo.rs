//! SLO mode and the reactive floor through the real binary: a target with `slo` publishes a plan
//! whose headroom rises after the observed load beats the replicas it published and falls as
//! steps are served, the plan API and `/metrics` show the headroom and the realized service
//! level, and a restart keeps both.

mod common;

use std::time::Duration;

use common::{Server, client, daily_samples, get_json, get_text, now, push_samples, wait_for_200};
use serde_json::Value;

const CONFIG: &str = r#"
replan_interval = "1s"

[targets.checkout]
series = "checkout_rps"
capacity_per_replica = 20.0
min_replicas = 2
max_replicas = 30
lead_time = "3s"
slo = 0.99
reactive_utilization = 0.7
"#;

async fn plan(server: &Server) -> Value {
    get_json(server.url("/api/v1/targets/checkout/plan")).await
}

#[tokio::test]
async fn slo_headroom_rises_after_misses_and_is_published() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("prescale.toml");
    std::fs::write(&config, CONFIG).unwrap();
    let server = Server::start(
        &dir.path().join("data"),
        &["--config", config.to_str().unwrap()],
    );
    // Three days of a daily cycle up to a minute ago.
    let start = now();
    push_samples(
        &server,
        "checkout_rps",
        &daily_samples(start - 60, 3 * 1440),
    )
    .await;
    let first = wait_for_200(
        &server.url("/api/v1/targets/checkout/plan"),
        Duration::from_secs(60),
    )
    .await;
    let current = &first["current"];
    // A fresh target starts at its forecast's band at the SLO over the band it plans on.
    let start = current["headroom"].as_f64().unwrap();
    assert!((1.0..4.0).contains(&start), "{first}");
    assert_eq!(current["slo"], 0.99, "{first}");
    assert_eq!(current["service_level"]["missed_steps"], 0, "{first}");
    // Let a few plans be published more than a lead time ago, so that later samples are scored.
    tokio::time::sleep(Duration::from_secs(5)).await;

    // Load far above anything published: every new sample is a missed step.
    for _ in 0..6 {
        push_samples(&server, "checkout_rps", &[(now(), 5000.0)]).await;
        tokio::time::sleep(Duration::from_millis(1600)).await;
    }
    let after = plan(&server).await;
    let current = &after["current"];
    let level = &current["service_level"];
    assert!(level["missed_steps"].as_u64().unwrap() >= 3, "{after}");
    assert!(level["realized"].as_f64().unwrap() < 1.0, "{after}");
    let headroom = current["headroom"].as_f64().unwrap();
    // Each miss raises it by about γ = 3 %.
    assert!(
        headroom > 1.05 * start,
        "the headroom should rise after misses: {after}"
    );
    assert_eq!(current["service_level"]["headroom"], current["headroom"]);
    // The reactive floor follows the observed load (capped at max_replicas).
    assert!(
        current["reactive_load"].as_f64().unwrap() > 5000.0,
        "{after}"
    );
    assert_eq!(current["replicas"], 30, "{after}");
    assert!(
        current["reason"].as_str().unwrap().contains("SLO"),
        "{after}"
    );

    let metrics = get_text(server.url("/metrics")).await;
    let gauge = |name: &str| -> f64 {
        let line = metrics
            .lines()
            .find(|l| l.starts_with(&format!("{name}{{target=\"checkout\"}}")))
            .unwrap_or_else(|| panic!("{name} missing:\n{metrics}"));
        line.rsplit(' ').next().unwrap().parse().unwrap()
    };
    assert!(gauge("prescale_target_headroom") > 1.05);
    // The miss rate the headroom is steered to: at least the budget, and shown in the plan too.
    let planned = gauge("prescale_target_planned_miss_rate");
    assert!((0.01 - 1e-9..=0.5).contains(&planned), "{planned}");
    assert!(
        level["planned_miss_rate"].as_f64().unwrap() >= 0.01 - 1e-9,
        "{after}"
    );
    assert!(gauge("prescale_target_service_level") < 1.0);
    assert!(gauge("prescale_target_scored_steps") >= 3.0);

    // Served steps lower the headroom again (by γ · (1 − slo) each: slowly, but surely).
    for _ in 0..5 {
        push_samples(&server, "checkout_rps", &[(now(), 10.0)]).await;
        tokio::time::sleep(Duration::from_millis(1600)).await;
    }
    let served = plan(&server).await;
    let lowered = served["current"]["headroom"].as_f64().unwrap();
    assert!(
        lowered < headroom,
        "served steps should lower the headroom: {served}"
    );
    let scored = served["current"]["service_level"]["scored_steps"].clone();
    assert!(scored.as_u64().unwrap() >= 6, "{served}");

    // A restart (SIGKILL, once sled's half-second flush has passed) keeps the headroom and
    // the tally: SLO mode does not start over at 1.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let before = plan(&server).await["current"]["service_level"].clone();
    assert_eq!(before["headroom"], lowered, "{before}");
    let mut server = server;
    server.kill();
    let server = Server::start(
        &dir.path().join("data"),
        &["--config", config.to_str().unwrap()],
    );
    let resumed = wait_for_200(
        &server.url("/api/v1/targets/checkout/plan"),
        Duration::from_secs(60),
    )
    .await;
    let level = &resumed["current"]["service_level"];
    assert_eq!(level["headroom"], before["headroom"], "{resumed}");
    assert_eq!(level["scored_steps"], before["scored_steps"], "{resumed}");
    assert_eq!(level["missed_steps"], before["missed_steps"], "{resumed}");
}

#[tokio::test]
async fn slo_and_floor_are_checked_at_the_edge() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("data"), &[]);
    for (body, field) in [
        (
            r#"{"series":"rps","capacity_per_replica":10,"max_replicas":5,"slo":1.0}"#,
            "slo",
        ),
        (
            r#"{"series":"rps","capacity_per_replica":10,"max_replicas":5,"reactive_utilization":0}"#,
            "reactive_utilization",
        ),
    ] {
        let response = client()
            .put(server.url("/api/v1/targets/t1"))
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 400);
        let error: Value = response.json().await.unwrap();
        assert!(error["error"].as_str().unwrap().contains(field), "{error}");
    }
    let response = client()
        .put(server.url("/api/v1/targets/t1"))
        .header("content-type", "application/json")
        .body(r#"{"series":"rps","capacity_per_replica":10,"max_replicas":5,"slo":0.99,"reactive_utilization":0.8}"#)
        .send()
        .await
        .unwrap();
    assert!(response.status().is_success(), "{}", response.status());
    let target = get_json(server.url("/api/v1/targets/t1")).await;
    assert_eq!(target["slo"], 0.99, "{target}");
    assert_eq!(target["reactive_utilization"], 0.8, "{target}");
}
