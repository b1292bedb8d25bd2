//! `prescale train` then `prescale serve` with `[model_files]`: a series starts from its model
//! file (forecasts and plans before any sample is stored), is then refitted on fresh samples
//! with the file's spec; a bad model file stops the start with the file named.

mod common;

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use common::{BIN, Server, assert_succeeded, client, daily_samples, push_body, wait_for_200};
use prescale::forecast::MODEL_FORMAT_VERSION;
use prescale::series::format_timestamp;

/// Trains a seasonal-naive model on three days of a daily cycle ending at `end`, recorded as
/// fitted at `fitted_at`; returns the model file's path.
fn train(dir: &Path, end: i64, fitted_at: i64) -> std::path::PathBuf {
    let csv = dir.join("web.csv");
    let mut text = String::from("timestamp,value\n");
    for (t, v) in daily_samples(end, 3 * 1440) {
        text.push_str(&format!("{t},{v}\n"));
    }
    std::fs::write(&csv, text).unwrap();
    let model = dir.join("models/web.json");
    train_model(&csv, &model, "seasonal-naive", fitted_at);
    model
}

/// `prescale train --model FAMILY --season 1d` on `csv` for series `web_rps`, recorded as fitted
/// at `fitted_at`, into `model`.
fn train_model(csv: &Path, model: &Path, family: &str, fitted_at: i64) {
    let out = Command::new(BIN)
        .args(["train", "--model", family, "--season", "1d"])
        .args(["--series", "web_rps", "--dataset"])
        .arg(csv)
        .arg("--out")
        .arg(model)
        .env("SOURCE_DATE_EPOCH", fitted_at.to_string())
        .output()
        .unwrap();
    assert_succeeded(&out);
}

#[tokio::test]
async fn serve_starts_a_series_from_its_model_file_then_refits_it() {
    let dir = tempfile::tempdir().unwrap();
    let now = common::now();
    let end = now - now.rem_euclid(60);
    let fitted_at = end - 7_200;
    let model = train(dir.path(), end, fitted_at);
    let config = dir.path().join("prescale.toml");
    std::fs::write(
        &config,
        format!(
            "refit_interval = \"2s\"\n\n[model_files]\n\"web_rps\" = {:?}\n\n\
             [targets.web]\nseries = \"web_rps\"\ncapacity_per_replica = 50\nmax_replicas = 20\n",
            model.to_str().unwrap()
        ),
    )
    .unwrap();
    let data = dir.path().join("data");
    let server = Server::start(&data, &["--config", config.to_str().unwrap()]);
    server.wait_for_log(
        &["series starts from its model file", "web_rps"],
        Duration::from_secs(10),
    );

    // No sample stored: the forecast and the plan come from the file.
    let url = server.url("/api/v1/series/web_rps/forecast?horizon=1h");
    let body = wait_for_200(&url, Duration::from_secs(30)).await;
    assert_eq!(body["model"], "seasonal-naive", "{body}");
    assert_eq!(body["fitted_at"], format_timestamp(fitted_at), "{body}");
    assert_eq!(body["origin"], format_timestamp(end), "{body}");
    assert_eq!(body["training_points"], 3 * 1440, "{body}");
    let points = body["points"].as_array().unwrap();
    assert!(points.len() >= 60, "{body}");
    for p in points {
        let row = ["lo95", "lo80", "yhat", "hi80", "hi95"].map(|k| p[k].as_f64().unwrap());
        assert!(row.windows(2).all(|w| w[0] <= w[1]), "{p}");
    }
    let plan = wait_for_200(
        &server.url("/api/v1/targets/web/plan"),
        Duration::from_secs(30),
    )
    .await;
    assert_eq!(
        plan["model_fitted_at"],
        format_timestamp(fitted_at),
        "{plan}"
    );

    // Fresh samples: the engine refits on them (with the file's spec, not the default auto)
    // and keeps the fresh fit.
    let samples = daily_samples(now - now.rem_euclid(60) + 60, 2 * 1440);
    let response = client()
        .post(server.url("/api/v1/series/web_rps/samples"))
        .header("content-type", "application/json")
        .body(push_body(&samples))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 204);
    let started = Instant::now();
    let refitted = loop {
        let body = wait_for_200(&url, Duration::from_secs(10)).await;
        if body["fitted_at"] != format_timestamp(fitted_at) {
            break body;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "no refit within 30 s: {body}"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    assert_eq!(refitted["model"], "seasonal-naive", "{refitted}");
    assert_eq!(refitted["training_points"], 2 * 1440, "{refitted}");
    // Not replaced by the file again on the next passes.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let later = wait_for_200(&url, Duration::from_secs(10)).await;
    assert_ne!(later["fitted_at"], format_timestamp(fitted_at), "{later}");
}

/// `serve` with `model` as series `web_rps`'s model file, which must stop it: its stderr.
fn start_refused(dir: &Path, model: &Path) -> String {
    let config = dir.join("prescale.toml");
    std::fs::write(
        &config,
        format!(
            "[model_files]\n\"web_rps\" = {:?}\n",
            model.to_str().unwrap()
        ),
    )
    .unwrap();
    common::failed_start(dir, &["--config", config.to_str().unwrap()])
}

#[test]
fn serve_refuses_a_bad_model_file_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let now = common::now();
    let good = train(dir.path(), now - now.rem_euclid(60), now);
    let text = std::fs::read_to_string(&good).unwrap();
    let write = |name: &str, content: &str| {
        let path = dir.path().join(name);
        std::fs::write(&path, content).unwrap();
        path
    };
    let cases = [
        (dir.path().join("missing.json"), "missing.json"),
        (
            write(
                "future.json",
                &text.replacen(
                    &format!("\"format_version\": {MODEL_FORMAT_VERSION}"),
                    "\"format_version\": 99",
                    1,
                ),
            ),
            "model format version 99",
        ),
        (write("cut.json", &text[..text.len() / 2]), "line "),
        (
            write(
                "edited.json",
                &text.replacen("\"step_seconds\": 60", "\"step_seconds\": 30", 1),
            ),
            "step_seconds",
        ),
        (write("empty.json", ""), "empty.json"),
    ];
    for (path, needle) in cases {
        let err = start_refused(dir.path(), &path);
        assert!(
            err.contains(path.to_str().unwrap()) && err.contains(needle),
            "{needle:?} or the path not in {err}"
        );
        assert!(err.contains("model_files"), "{err}");
        assert!(!err.contains("panicked"), "{err}");
    }
}

#[test]
fn serve_refuses_a_model_file_whose_pulses_are_corrupt() {
    // A linear-seasonal model of a series with a burst at 14:00 every day holds pulses; with
    // their step edited to 0 (which would divide by zero at every forecast step) the file is
    // refused at start, named, without a panic.
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("cron.csv");
    std::fs::write(&csv, common::daily_burst_csv(8)).unwrap();
    let model = dir.path().join("cron.json");
    train_model(&csv, &model, "linear-seasonal", common::now());
    let text = std::fs::read_to_string(&model).unwrap();
    let pulses = "\"period\": 86400,\n      \"step\": 300,";
    assert!(text.contains(pulses), "no pulses in {text}");
    std::fs::write(
        &model,
        text.replacen(pulses, "\"period\": 86400,\n      \"step\": 0,", 1),
    )
    .unwrap();
    let err = start_refused(dir.path(), &model);
    assert!(
        err.contains("cron.json") && err.contains("model_files"),
        "{err}"
    );
    assert!(!err.contains("panicked"), "{err}");
}
