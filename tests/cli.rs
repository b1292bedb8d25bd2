//! The CLI binary: `import` and `serve` start-up errors, as a user meets them.

mod common;

use std::process::Command;

use common::{BIN, Server, client};

fn prescale(args: &[&str]) -> std::process::Output {
    Command::new(BIN).args(args).output().expect("run prescale")
}

#[tokio::test]
async fn import_loads_a_dataset_that_serve_then_sees() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let out = prescale(&[
        "import",
        "--dataset",
        "datasets/aws-elb-request-count-5m.csv",
        "--series",
        "elb",
        "--data-dir",
        data.to_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("imported 4032 samples into elb"), "{text}");

    let server = Server::start(&data, &[]);
    let body: serde_json::Value = client()
        .get(server.url("/api/v1/series/elb/samples"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let samples = body["samples"].as_array().unwrap();
    assert_eq!(samples.len(), 4032);
    assert_eq!(samples[0]["timestamp"], "2014-04-10T00:04:00Z");
    assert_eq!(samples[0]["value"], 94.0);
}

#[test]
fn a_bad_csv_names_its_line_and_stores_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("bad.csv");
    std::fs::write(
        &csv,
        "timestamp,value\n2026-01-05T10:00:00Z,1\n2026-01-05T10:01:00Z,oops\n",
    )
    .unwrap();
    let data = dir.path().join("data");
    let out = prescale(&[
        "import",
        "--dataset",
        csv.to_str().unwrap(),
        "--series",
        "x",
        "--data-dir",
        data.to_str().unwrap(),
    ]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("bad.csv:3:") && err.contains("oops"), "{err}");
    assert!(!err.contains("panicked"), "{err}");

    let missing = prescale(&["import", "--dataset", "/nonexistent.csv", "--series", "x"]);
    assert!(!missing.status.success());
    assert!(String::from_utf8_lossy(&missing.stderr).contains("/nonexistent.csv"));
}

#[test]
fn serve_refuses_a_bad_config_with_the_key_named() {
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        ("listen = \"127.0.0.1:0\"\nbogus_key = 1\n", "bogus_key"),
        (
            "[targets.web]\nseries = \"rps\"\ncapacity_per_replica = 10\nmin_replicas = 5\nmax_replicas = 2\n",
            "min_replicas",
        ),
        (
            "[targets.web]\nseries = \"rps\"\ncapacity_per_replica = 0\nmax_replicas = 2\n",
            "capacity_per_replica",
        ),
        ("refit_interval = \"often\"\n", "refit_interval"),
    ];
    for (text, key) in cases {
        let path = dir.path().join("prescale.toml");
        std::fs::write(&path, text).unwrap();
        let out = prescale(&[
            "serve",
            "--config",
            path.to_str().unwrap(),
            "--data-dir",
            dir.path().join("data").to_str().unwrap(),
        ]);
        assert!(!out.status.success(), "{text}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("prescale.toml") && err.contains(key), "{err}");
        assert!(!err.contains("panicked"), "{err}");
    }
}

#[test]
fn every_command_has_help() {
    for args in [&["--help"][..], &["serve", "--help"], &["import", "--help"]] {
        let out = prescale(args);
        assert!(out.status.success());
        assert!(String::from_utf8_lossy(&out.stdout).contains("Usage"));
    }
}
