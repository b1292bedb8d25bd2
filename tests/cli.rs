//! The CLI binary: `import`, `train` and `serve` start-up errors, as a user meets them.

mod common;

use std::process::Command;

use common::{BIN, Server, assert_succeeded};

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
    assert_succeeded(&out);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("imported 4032 samples into elb"), "{text}");

    let server = Server::start(&data, &[]);
    let body: serde_json::Value = common::get_json(server.url("/api/v1/series/elb/samples")).await;
    let samples = body["samples"].as_array().unwrap();
    assert_eq!(samples.len(), 4032);
    assert_eq!(samples[0]["timestamp"], "2014-04-10T00:04:00Z");
    assert_eq!(samples[0]["value"], 94.0);
}

/// A recorded trace as history: imported as it is, a target on it says its samples are years
/// older than the training window; imported with `--shift-to-now`, the target gets a plan.
#[tokio::test]
async fn an_imported_trace_plans_once_shifted_to_now() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    for (series, shift) in [("old", false), ("taxi", true)] {
        let mut args = vec![
            "import",
            "--dataset",
            "datasets/nyc-taxi-30m.csv",
            "--series",
            series,
            "--data-dir",
            data.to_str().unwrap(),
        ];
        if shift {
            args.push("--shift-to-now");
        }
        let out = prescale(&args);
        assert_succeeded(&out);
    }
    let config = dir.path().join("prescale.toml");
    let target = |name: &str, series: &str| {
        format!(
            "[targets.{name}]\nseries = \"{series}\"\ncapacity_per_replica = 1000\nmax_replicas = 50\nlead_time = \"30m\"\n"
        )
    };
    std::fs::write(
        &config,
        format!("{}{}", target("stale", "old"), target("live", "taxi")),
    )
    .unwrap();
    let server = Server::start(&data, &["--config", config.to_str().unwrap()]);
    let plan = common::wait_for_200(
        &server.url("/api/v1/targets/live/plan"),
        std::time::Duration::from_secs(60),
    )
    .await;
    assert!(plan["current"]["replicas"].as_u64().unwrap() >= 1, "{plan}");
    let answer = common::client()
        .get(server.url("/api/v1/targets/stale/plan"))
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 503);
    let body: serde_json::Value = answer.json().await.unwrap();
    let message = body["error"].as_str().unwrap();
    assert!(
        message.contains("days old") && message.contains("training window is 2w"),
        "{message}"
    );
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
        (
            "[[sources]]\nurl = \"http://127.0.0.1:9\"\nquery = \"up\"\nseries = \"up\"\nsettle = \"soon\"\n",
            "settle",
        ),
        (
            "[[sources]]\nurl = \"http://127.0.0.1:9\"\nquery = \"up\"\nseries = \"up\"\nstep = \"1s\"\nsettle = \"1d\"\n",
            "sources[0].settle",
        ),
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
    for args in [
        &["--help"][..],
        &["serve", "--help"],
        &["import", "--help"],
        &["train", "--help"],
    ] {
        let out = prescale(args);
        assert!(out.status.success());
        assert!(String::from_utf8_lossy(&out.stdout).contains("Usage"));
    }
}

#[test]
fn train_writes_a_model_file_that_loads() {
    let dir = tempfile::tempdir().unwrap();
    let out_path = dir.path().join("models/elb.json");
    let out = Command::new(BIN)
        .args([
            "train",
            "--dataset",
            "datasets/aws-elb-request-count-5m.csv",
            "--series",
            "elb",
            "--out",
        ])
        .arg(&out_path)
        .env("SOURCE_DATE_EPOCH", "1767225600")
        .output()
        .unwrap();
    assert_succeeded(&out);
    let text = String::from_utf8_lossy(&out.stdout);
    for needle in [
        "model:      auto(",
        "training:   2014-04-10T00:44:00Z .. 2014-04-24T00:44:00Z (4032 steps of 5m",
        "validation: MAE",
        "linear-seasonal(1d,1w)",
        "wrote ",
    ] {
        assert!(text.contains(needle), "{needle:?} not in\n{text}");
    }
    let file = prescale::train::read_model_file(&out_path).unwrap();
    assert_eq!(file.dataset, "aws-elb-request-count-5m.csv");
    assert_eq!(file.series.as_deref(), Some("elb"));
    assert_eq!(file.step_seconds, 300);
    assert_eq!(file.fitted_at, 1_767_225_600);
    assert_eq!(file.prescale_version, env!("CARGO_PKG_VERSION"));
    assert!(file.validation.is_some());

    // A train window shorter than the week drops the weekly season, and says so.
    let out = Command::new(BIN)
        .args([
            "train",
            "--dataset",
            "datasets/aws-elb-request-count-5m.csv",
            "--model",
            "linear-seasonal",
            "--train-window",
            "3d",
            "--out",
        ])
        .arg(dir.path().join("short.json"))
        .output()
        .unwrap();
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("season(s) 7d dropped"));
    let file = prescale::train::read_model_file(&dir.path().join("short.json")).unwrap();
    assert_eq!(file.seasons, vec!["1d".parse().unwrap()]);
    assert_eq!(file.training.points, 3 * 288);
    assert!(file.validation.is_none());
}

#[test]
fn train_errors_name_the_file_and_exit_non_zero() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.csv");
    std::fs::write(
        &bad,
        "timestamp,value\n2026-01-05T10:00:00Z,1\n2026-01-05T10:01:00Z,oops\n",
    )
    .unwrap();
    let short = dir.path().join("short.csv");
    std::fs::write(
        &short,
        "timestamp,value\n2026-01-05T10:00:00Z,1\n2026-01-05T10:01:00Z,2\n",
    )
    .unwrap();
    let blocker = dir.path().join("file");
    std::fs::write(&blocker, "").unwrap();
    let out_path = dir.path().join("m.json");
    let blocked = blocker.join("m.json");
    let elb = "datasets/aws-elb-request-count-5m.csv";
    let cases: [(&[&str], String); 5] = [
        (
            &["--dataset", "/nonexistent.csv"],
            "/nonexistent.csv".into(),
        ),
        (&["--dataset", bad.to_str().unwrap()], "bad.csv:3:".into()),
        (
            &["--dataset", short.to_str().unwrap()],
            "no season of 1d,7d fits twice".into(),
        ),
        (&["--dataset", elb, "--model", "prophet"], "prophet".into()),
        (
            &["--dataset", elb, "--out", blocked.to_str().unwrap()],
            blocker.display().to_string(),
        ),
    ];
    for (args, needle) in cases {
        let mut command = Command::new(BIN);
        command.arg("train").args(args);
        if !args.contains(&"--out") {
            command.arg("--out").arg(&out_path);
        }
        let out = command.output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{args:?}");
        assert!(err.contains(&needle), "{args:?}: {needle:?} not in {err}");
        assert!(!err.contains("panicked"), "{err}");
        assert!(!out_path.exists(), "{args:?} wrote a model");
    }
}

/// `prescale check` on a store with one damaged block (bytes changed under sled, as a bad
/// disk would): it names the series and the block, fails, and says what still reads; on an
/// undamaged store it says so and succeeds.
#[test]
fn check_names_the_damaged_series_and_fails() {
    use prescale::series::{Sample, SeriesKey};
    use prescale::store::{SEGMENT_SIZE, Store, StoreOptions};
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    {
        let options = StoreOptions {
            block_samples: 10,
            ..StoreOptions::default()
        };
        let store = Store::open_with(&data, options).unwrap();
        for name in ["checkout_rps", "web_rps"] {
            let samples: Vec<Sample> = (0..35)
                .map(|i| Sample {
                    timestamp: 1_700_000_000 + 60 * i,
                    value: i as f64,
                })
                .collect();
            store
                .append(&SeriesKey::new(name).unwrap(), &samples)
                .unwrap();
        }
        store.flush().unwrap();
    }
    let data_dir = data.to_str().unwrap();
    let clean = prescale(&["check", "--data-dir", data_dir]);
    let out = String::from_utf8_lossy(&clean.stdout);
    assert!(clean.status.success(), "{out}");
    assert!(
        out.contains("checked 2 series") && out.contains("no damage found"),
        "{out}"
    );

    // Damage one sealed block of web_rps (the second series: id 1) directly in sled.
    {
        let db = sled::Config::new()
            .path(&data)
            .segment_size(SEGMENT_SIZE)
            .open()
            .unwrap();
        let blocks = db.open_tree("blocks").unwrap();
        let (key, _) = blocks
            .scan_prefix(1u32.to_be_bytes())
            .next()
            .unwrap()
            .unwrap();
        blocks.insert(key, &[0x10, 0xff, 0x13][..]).unwrap();
        db.flush().unwrap();
    }
    let damaged = prescale(&["check", "--data-dir", data_dir]);
    let out = String::from_utf8_lossy(&damaged.stdout);
    let err = String::from_utf8_lossy(&damaged.stderr);
    assert!(!damaged.status.success(), "{out}");
    assert!(
        out.contains("damaged: series \"web_rps\": block ending at"),
        "{out}"
    );
    assert!(!out.contains("\"checkout_rps\""), "{out}");
    assert!(err.contains("1 series damaged"), "{err}");
    let missing = prescale(&["check", "--data-dir", "/nonexistent/prescale"]);
    assert!(!missing.status.success());
    assert!(String::from_utf8_lossy(&missing.stderr).contains("no such data directory"));
}

/// Two `serve`s with their own `--listen` and data directories run side by side: the second
/// finds the default Kubernetes TLS port taken and serves without it, saying so.
#[tokio::test]
async fn two_serves_start_side_by_side() {
    let dir = tempfile::tempdir().unwrap();
    let first = Server::start(&dir.path().join("one"), &[]);
    let second = Server::start(&dir.path().join("two"), &[]);
    for server in [&first, &second] {
        let health = common::get_json(server.url("/healthz")).await;
        assert_eq!(health["status"], "ok");
    }
    // At most one of them holds 127.0.0.1:6443 (another process may hold it already).
    let holders = [&first, &second]
        .iter()
        .filter(|s| s.logged_field("tls_address").is_some())
        .count();
    assert!(holders <= 1);
    if holders == 1 {
        let without = if first.logged_field("tls_address").is_some() {
            &second
        } else {
            &first
        };
        without.wait_for_log(
            &["default Kubernetes TLS port is unavailable"],
            std::time::Duration::from_secs(5),
        );
    }
}

/// A second `serve` on a data directory in use says so once, naming the lock.
#[test]
fn a_store_in_use_is_named_once() {
    let dir = tempfile::tempdir().unwrap();
    let _first = Server::start(&dir.path().join("data"), &["--no-tls"]);
    let error = common::failed_start(dir.path(), &["--no-tls"]);
    assert_eq!(
        error.matches("could not acquire lock").count(),
        1,
        "{error}"
    );
    assert!(error.contains("another process holds its lock"), "{error}");
}

/// `prescale train --model mstl` through the binary: a model file of the `mstl` family over both
/// seasons; a series with closed periods (office hours) is refused, the reason said once.
#[test]
fn train_fits_mstl_and_refuses_a_schedule_saying_why_once() {
    let dir = tempfile::tempdir().unwrap();
    let out_path = dir.path().join("mstl.json");
    let out = Command::new(BIN)
        .args([
            "train",
            "--dataset",
            "datasets/aws-elb-request-count-5m.csv",
            "--model",
            "mstl",
            "--out",
        ])
        .arg(&out_path)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.contains("model:      mstl"), "{text}");
    let file = prescale::train::read_model_file(&out_path).unwrap();
    assert_eq!(file.model.family(), "mstl");
    assert_eq!(file.model.label(), "mstl(1d,1w)");
    assert_eq!(file.model.predict(12, &[0.1, 0.9]).unwrap().yhat.len(), 12);

    // Three weeks of hourly counts, observed only 09:00–17:00 on weekdays.
    let office = dir.path().join("office.csv");
    let mut csv = String::from("timestamp,value\n");
    let monday = 1_767_571_200; // 2026-01-05T00:00:00Z
    for hour in 0..21 * 24 {
        let (day, at) = (hour / 24, hour % 24);
        if day % 7 < 5 && (9..17).contains(&at) {
            let t = chrono::DateTime::from_timestamp(monday + hour * 3600, 0).unwrap();
            csv.push_str(&format!(
                "{},{}\n",
                t.format("%Y-%m-%dT%H:%M:%SZ"),
                100 + 10 * at
            ));
        }
    }
    std::fs::write(&office, csv).unwrap();
    let out = Command::new(BIN)
        .args(["train", "--dataset"])
        .arg(&office)
        .args(["--model", "mstl", "--season", "1d", "--out"])
        .arg(dir.path().join("office.json"))
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{err}");
    assert_eq!(err.matches("closed periods").count(), 1, "{err}");
    assert!(err.contains("office.csv"), "{err}");
}

/// Deterministic uniforms in [0, 1) (a 64-bit LCG) for generated traces.
fn uniforms(mut state: u64) -> impl FnMut() -> f64 {
    move || {
        state = state
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (state >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// Dataset CSV (`timestamp,value`, RFC 3339 UTC) of `(unix seconds, value)` rows.
fn dataset_csv(rows: impl IntoIterator<Item = (i64, f64)>) -> String {
    let mut csv = String::from("timestamp,value\n");
    for (t, value) in rows {
        let at = chrono::DateTime::from_timestamp(t, 0).unwrap();
        csv.push_str(&format!("{},{value:.3}\n", at.format("%Y-%m-%dT%H:%M:%SZ")));
    }
    csv
}

/// `prescale train --model MODEL` on `rows` written as `NAME.csv` in `dir`: the model file's
/// path, its text and its JSON.
fn train_on(
    dir: &std::path::Path,
    name: &str,
    model: &str,
    rows: impl IntoIterator<Item = (i64, f64)>,
) -> (std::path::PathBuf, String, serde_json::Value) {
    let csv_path = dir.join(format!("{name}.csv"));
    std::fs::write(&csv_path, dataset_csv(rows)).unwrap();
    let out_path = dir.join(format!("{name}.json"));
    let out = Command::new(BIN)
        .args(["train", "--model", model, "--dataset"])
        .arg(&csv_path)
        .arg("--out")
        .arg(&out_path)
        .output()
        .unwrap();
    assert_succeeded(&out);
    let text = std::fs::read_to_string(&out_path).unwrap();
    let raw = serde_json::from_str(&text).unwrap();
    (out_path, text, raw)
}

/// The model file `raw` changed by `edit`, written as `edited.json` in `dir` and read back as
/// `serve` reads it.
fn edited_model_file(
    dir: &std::path::Path,
    raw: &serde_json::Value,
    edit: impl FnOnce(&mut serde_json::Value),
) -> prescale::forecast::ModelFile {
    let mut file = raw.clone();
    edit(&mut file);
    let path = dir.join("edited.json");
    std::fs::write(&path, file.to_string()).unwrap();
    prescale::train::read_model_file(&path).unwrap()
}

/// `prescale train` on a series whose weekends are three times as noisy as its weekdays: the
/// model file's `auto` carries a weekend factor, and a forecast from the file (as `serve` loads
/// it) has weekend bands that much wider than the same file's without it, weekday bands equal.
#[test]
fn train_widens_the_weekend_bands_where_the_weekends_erred_more() {
    let dir = tempfile::tempdir().unwrap();
    // 18.5 days at 30 minutes from Monday 2026-01-05, ending on a Friday at noon: the last
    // 14 days' later half (the calibration) holds a whole weekend.
    let monday: i64 = 1_767_571_200;
    let mut uniform = uniforms(0x2545_f491_4f6c_dd1d);
    let rows = (0..(18 * 48 + 24)).map(|i| {
        let t = monday + i * 1800;
        let weekend = (t / 86_400 + 3) % 7 >= 5;
        let noise: f64 = (0..12).map(|_| uniform()).sum::<f64>() - 6.0;
        let phase = std::f64::consts::TAU * (t % 86_400) as f64 / 86_400.0;
        let spread = if weekend { 0.12 } else { 0.04 };
        (t, (1000.0 + 400.0 * phase.sin()) * (1.0 + spread * noise))
    });
    let (out_path, text, raw) = train_on(dir.path(), "weekends", "auto", rows);
    let factor = raw["model"]["conformal"]["weekend_factor"]
        .as_f64()
        .unwrap_or_else(|| panic!("no weekend factor in {text}"));
    assert!((1.5..4.0).contains(&factor), "{factor}");

    let with = prescale::train::read_model_file(&out_path).unwrap();
    let without = edited_model_file(dir.path(), &raw, |file| {
        file["model"]["conformal"]
            .as_object_mut()
            .unwrap()
            .remove("weekend_factor");
    });
    // Friday noon to Sunday noon.
    let (a, b) = (
        with.model.predict(96, &[0.1, 0.9]).unwrap(),
        without.model.predict(96, &[0.1, 0.9]).unwrap(),
    );
    assert_eq!(a.yhat, b.yhat);
    let (mut weekend_steps, mut weekday_steps) = (0, 0);
    for h in 0..96 {
        let t = a.start + h as i64 * 1800;
        let width = a.bands[1].values[h] - a.bands[0].values[h];
        let plain = b.bands[1].values[h] - b.bands[0].values[h];
        if (t / 86_400 + 3) % 7 >= 5 {
            weekend_steps += 1;
            assert!(
                (width - factor * plain).abs() < 1e-6 * plain,
                "{h}: {width} {plain}"
            );
        } else {
            weekday_steps += 1;
            assert_eq!(width, plain, "{h}");
        }
    }
    assert_eq!((weekday_steps, weekend_steps), (24, 72));
}

/// `prescale train` on a call centre's quarter-hours (weekdays 09:00–19:00 UTC, nothing at night
/// or at weekends: runs of 40 steps): the linear-seasonal model file carries a short-horizon
/// correction (the AR's order was once sized as if the history had no gaps, and dropped), and
/// one step ahead from the file it forecasts the lasting deviation the shape alone misses.
#[test]
fn train_keeps_a_call_centre_s_quarter_hour_correction() {
    let dir = tempfile::tempdir().unwrap();
    // Three weeks from Monday 2026-01-05; a daily shape plus a deviation that lasts (AR(1),
    // φ = 0.9, innovations of about 10). The file ends at 14:00 on the last Friday.
    let monday: i64 = 1_767_571_200;
    let mut uniform = uniforms(0x9e37_79b9_7f4a_7c15);
    let mut deviation = 0.0;
    let mut rows = Vec::new();
    for i in 0..(18 * 96 + 56) {
        let (t, day, minute) = (monday + i * 900, i / 96 % 7, i % 96 * 15);
        deviation = 0.9 * deviation + 10.0 * ((0..12).map(|_| uniform()).sum::<f64>() - 6.0);
        if day < 5 && (9 * 60..19 * 60).contains(&minute) {
            let phase = std::f64::consts::TAU * (t % 86_400) as f64 / 86_400.0;
            rows.push((t, 300.0 + 100.0 * phase.sin() + deviation));
        }
    }
    let (out_path, text, raw) = train_on(dir.path(), "calls", "linear-seasonal", rows);
    let ar = raw["model"]["correction"]["ar"].as_array().unwrap();
    assert!(!ar.is_empty() && ar.len() <= 19, "{text}");
    let last_residual = raw["model"]["correction"]["state"][0].as_f64().unwrap();
    assert!(last_residual.abs() > 1.0, "{text}");
    // One step ahead from the file the forecast carries part of the deviation (the AR's
    // decay of the last residual), where the shape alone would forecast none of it.
    let file = prescale::train::read_model_file(&out_path).unwrap();
    let forecast = file.model.predict(1, &[]).unwrap();
    let phase = std::f64::consts::TAU * (forecast.start % 86_400) as f64 / 86_400.0;
    let shape = 300.0 + 100.0 * phase.sin();
    let carried = forecast.yhat[0] - shape;
    assert!(
        carried * last_residual > 0.0 && carried.abs() > 0.3 * last_residual.abs(),
        "forecast {} shape {shape} last residual {last_residual}",
        forecast.yhat[0]
    );
}

/// `prescale train` on the last 28 days of Britain's half-hourly electricity load: `auto` hands
/// its later steps over to MSTL (the far model), the model file carries it, and a forecast from
/// the file (as `serve` loads it) differs from the same file's without it from the second step
/// on, not at the first. With the default 14-day window there is no far model.
#[test]
fn train_hands_the_later_steps_over_to_mstl_on_a_four_week_window() {
    let dir = tempfile::tempdir().unwrap();
    let train = |window: &str, name: &str| {
        let path = dir.path().join(name);
        let out = Command::new(BIN)
            .args([
                "train",
                "--dataset",
                "datasets/taylor-elec-gb-2000-30m.csv",
                "--train-window",
                window,
                "--out",
            ])
            .arg(&path)
            .output()
            .unwrap();
        assert_succeeded(&out);
        let stdout = String::from_utf8_lossy(&out.stdout).to_string();
        let raw: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        (path, stdout, raw)
    };
    let (path, stdout, raw) = train("28d", "four-weeks.json");
    assert!(stdout.contains(" → mstl(1d,1w)"), "{stdout}");
    assert_eq!(raw["model"]["far"]["model"]["model"], "mstl", "{raw}");

    let with = prescale::train::read_model_file(&path).unwrap();
    let without = edited_model_file(dir.path(), &raw, |file| {
        file["model"].as_object_mut().unwrap().remove("far");
        // The file names what it holds: the name without the far model.
        let name = raw["chosen"]["model"].as_str().unwrap();
        let cut = name.find(" → mstl").unwrap_or_else(|| panic!("{name}"));
        file["chosen"]["model"] = format!("{})", &name[..cut]).into();
    });
    let (a, b) = (
        with.model.predict(4, &[0.1, 0.9]).unwrap(),
        without.model.predict(4, &[0.1, 0.9]).unwrap(),
    );
    assert_eq!(a.start, b.start);
    assert_eq!(a.yhat[0], b.yhat[0]);
    assert!((1..4).all(|h| a.yhat[h] != b.yhat[h]), "{a:?} {b:?}");
    assert!(
        a.bands
            .iter()
            .all(|band| band.values.iter().all(|v| v.is_finite()))
    );

    let (_, stdout, raw) = train("14d", "two-weeks.json");
    assert!(!stdout.contains("mstl"), "{stdout}");
    assert!(raw["model"].get("far").is_none(), "{raw}");
}

/// Traffic that keeps New York's wall clock, recorded in UTC: `train` moves the weeks before
/// the autumn daylight-saving change onto the current clock and says so.
#[test]
fn train_moves_the_history_onto_the_clock_the_traffic_keeps() {
    use chrono::{LocalResult, NaiveDateTime, TimeZone};
    let dir = tempfile::tempdir().unwrap();
    let published = std::fs::read_to_string("datasets/nyc-taxi-30m.csv").unwrap();
    let ny = chrono_tz::America::New_York;
    let mut rows = Vec::new();
    for line in published.lines().skip(1) {
        let (wall, value) = line.split_once(',').unwrap();
        let wall = NaiveDateTime::parse_from_str(wall, "%Y-%m-%dT%H:%M:%SZ").unwrap();
        let value: f64 = value.parse().unwrap();
        let instants = match ny.from_local_datetime(&wall) {
            LocalResult::Single(t) => vec![(t, value)],
            LocalResult::Ambiguous(a, b) => vec![(a, value / 2.0), (b, value / 2.0)],
            LocalResult::None => vec![],
        };
        rows.extend(instants.into_iter().map(|(t, v)| (t.timestamp(), v)));
    }
    rows.sort_by_key(|r| r.0);
    // Up to three days after the change (2014-11-02T06:00Z).
    let mut csv = String::from("timestamp,value\n");
    for (t, v) in rows.iter().filter(|r| r.0 < 1_414_908_000 + 3 * 86_400) {
        let t = chrono::DateTime::from_timestamp(*t, 0).unwrap();
        csv.push_str(&format!("{},{v}\n", t.format("%Y-%m-%dT%H:%M:%SZ")));
    }
    // `train` on `csv`: what it prints.
    let train = |name: &str, csv: String| {
        let dataset = dir.path().join(name);
        std::fs::write(&dataset, csv).unwrap();
        let out = Command::new(BIN)
            .args(["train", "--dataset"])
            .arg(&dataset)
            .arg("--out")
            .arg(dir.path().join("model.json"))
            .output()
            .unwrap();
        assert_succeeded(&out);
        String::from_utf8_lossy(&out.stdout).to_string()
    };
    let stdout = train("taxi-utc.csv", csv);
    assert!(
        stdout.contains(
            "the daily shape arrives an hour later in UTC since the US daylight-saving change \
             at 2014-11-02T06:00Z"
        ),
        "{stdout}"
    );
    // The published trace (New York's wall clock written as UTC) up to the same day has no
    // change to follow, though the US and the EU changes fall inside its window.
    let mut csv = String::from("timestamp,value\n");
    csv.extend(
        published
            .lines()
            .skip(1)
            .filter(|line| line < &"2014-11-05")
            .map(|line| format!("{line}\n")),
    );
    assert!(!train("taxi-published.csv", csv).contains("daylight-saving"));
}
