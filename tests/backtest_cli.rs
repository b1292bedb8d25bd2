//! `prescale backtest` and `prescale forecast` end to end, through the real binary.
//!
//! The binary is a debug build here, so every run is kept small: the seasonal-naive model,
//! a few origins, and a slow refit schedule (`--refit-every`), on the smallest bundled trace.

mod common;

use std::path::Path;
use std::process::{Command, Output};

const BIN: &str = env!("CARGO_BIN_EXE_prescale");
const ELB: &str = "datasets/aws-elb-request-count-5m.csv";

fn prescale(args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .env("RUST_LOG", "warn")
        .output()
        .expect("run prescale")
}

fn ok(out: &Output) -> String {
    assert!(
        out.status.success(),
        "exit {:?}\nstdout:\n{}\nstderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn failed(out: &Output) -> String {
    assert!(
        !out.status.success(),
        "expected a failure, got:\n{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(!stderr.contains("panicked"), "{stderr}");
    stderr
}

/// The small, fast options every backtest here uses.
const FAST: [&str; 6] = [
    "--model",
    "seasonal-naive,linear-seasonal",
    "--origins",
    "4",
    "--refit-every",
    "1d",
];

/// `days` of a daily cycle at 30-minute steps, through `value(i)`.
fn trace(path: &Path, days: usize, value: impl Fn(usize) -> Option<f64>) {
    let mut text = String::from("timestamp,value\n");
    for i in 0..days * 48 {
        if let Some(v) = value(i) {
            text.push_str(&format!("{},{v}\n", 1_700_000_000 + i as i64 * 1800));
        }
    }
    std::fs::write(path, text).unwrap();
}

fn daily(i: usize) -> f64 {
    let phase = std::f64::consts::TAU * (i % 48) as f64 / 48.0;
    (100.0 + 60.0 * phase.sin() + (i * 37 % 11) as f64).round()
}

/// The point forecasts `prescale forecast` writes for `dataset` from the origins of `origins`
/// (one file's `yhat` column, origin after origin), with `args` (horizon, model, …).
fn point_forecast(dataset: &Path, origins: &Path, args: &[&str]) -> Vec<f64> {
    let out = origins.with_extension("forecast.csv");
    let mut all = vec![
        "forecast",
        "--dataset",
        dataset.to_str().unwrap(),
        "--origins-file",
        origins.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ];
    all.extend(args);
    ok(&prescale(&all));
    let text = std::fs::read_to_string(&out).unwrap();
    text.lines()
        .skip(1)
        .map(|line| line.split(',').nth(2).unwrap().parse().unwrap())
        .collect()
}

#[test]
fn slo_adds_one_policy_that_serves_about_its_slo() {
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("report.json");
    let mut args = vec!["backtest", "--dataset", ELB];
    args.extend(FAST);
    let svg = dir.path().join("plot.svg");
    args.extend([
        "--slo",
        "0.9",
        "--json",
        json.to_str().unwrap(),
        "--plot",
        svg.to_str().unwrap(),
    ]);
    let stdout = ok(&prescale(&args));
    // The picture marks SLO mode and the HPA tuned in hindsight to its budget.
    let picture = std::fs::read_to_string(&svg).unwrap();
    for text in ["prescale SLO mode", "HPA tuned in hindsight", "slo=0.9"] {
        assert!(picture.contains(text), "the plot lacks {text:?}");
    }
    assert!(stdout.contains("| slo "), "{stdout}");
    assert!(stdout.contains("slo=0.9: under-provisioned"), "{stdout}");
    assert!(stdout.contains("dominance: "), "{stdout}");
    // The start-up delay says how it was rounded to the trace's steps.
    assert!(
        stdout.contains("start-up delay 2m (rounded up to 1 whole step(s) of the trace)"),
        "{stdout}"
    );
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    let policies = report["scaling"]["policies"].as_array().unwrap();
    // SLO mode is simulated at every SLO of the grid; 0.9 is one of them.
    let slos: Vec<_> = policies.iter().filter(|p| p["policy"] == "slo").collect();
    assert_eq!(slos.len(), 11);
    let slo: Vec<_> = slos.iter().filter(|p| p["param"] == 0.9).collect();
    assert_eq!(slo.len(), 1);
    assert_eq!(slo[0]["param"], 0.9);
    // Adapted online from its own misses: near the 10 % it was asked for, far from the 50 % a
    // plan on the median would miss.
    let under = slo[0]["underprovisioned_fraction"].as_f64().unwrap();
    assert!(under < 0.15, "{}", slo[0]);
    // Against the HPA tuned in hindsight: the HPA frontier read at the 10 % budget and at the
    // level SLO mode realized, both from the simulated HPA rows.
    let check = &report["scaling"]["summary"]["hindsight"];
    assert_eq!(check["slo"], 0.9, "{check}");
    assert!(
        (check["budget"].as_f64().unwrap() - 0.1).abs() < 1e-12,
        "{check}"
    );
    assert_eq!(
        check["underprovisioned_fraction"],
        slo[0]["underprovisioned_fraction"]
    );
    let at_budget = &check["at_budget"];
    let hours = at_budget["hpa_replica_hours"].as_f64().unwrap();
    let hpas: Vec<_> = policies
        .iter()
        .filter(|p| p["policy"] == "reactive-hpa")
        .map(|p| {
            (
                p["underprovisioned_fraction"].as_f64().unwrap(),
                p["replica_hours"].as_f64().unwrap(),
            )
        })
        .collect();
    // No HPA setting meeting the budget is cheaper than the frontier there.
    for (under, h) in &hpas {
        if *under <= 0.1 {
            assert!(*h >= hours - 1e-9, "{hpas:?} {at_budget}");
        }
    }
    let ratio = check["cost_vs_hpa_at_budget"].as_f64().unwrap();
    let own = slo[0]["replica_hours"].as_f64().unwrap();
    assert!((ratio - own / hours).abs() < 1e-9, "{check}");
    assert!(
        stdout.contains("the HPA tuned in hindsight to the budget"),
        "{stdout}"
    );
    // A bad SLO is refused with a message naming the flag.
    let mut args = vec!["backtest", "--dataset", ELB, "--slo", "1.5"];
    args.extend(FAST);
    let out = prescale(&args);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--slo"));
}

#[test]
fn backtest_writes_the_report_and_the_plot() {
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("report.json");
    let svg = dir.path().join("plot.svg");
    let mut args = vec!["backtest", "--dataset", ELB];
    args.extend(FAST);
    args.extend([
        "--json",
        json.to_str().unwrap(),
        "--plot",
        svg.to_str().unwrap(),
    ]);
    let stdout = ok(&prescale(&args));
    assert!(stdout.contains("| seasonal-naive"), "{stdout}");
    assert!(stdout.contains("| reactive-hpa"), "{stdout}");
    assert!(stdout.contains("summary: "), "{stdout}");
    assert!(stdout.contains("the bands it published held "), "{stdout}");

    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    assert_eq!(report["dataset"], "aws-elb-request-count-5m.csv");
    assert_eq!(report["step_seconds"], 300);
    assert_eq!(report["points"], 4040, "8 gaps make 4040 grid steps");
    // A 14-day trace: the default train window shrinks to 7 days, and the weekly season goes.
    assert_eq!(report["train_window_seconds"], 7 * 86_400);
    assert_eq!(report["seasons"], serde_json::json!(["1d"]));
    let accuracy = report["accuracy"].as_array().unwrap();
    assert_eq!(accuracy.len(), 2);
    for row in accuracy {
        assert_eq!(row["horizon_steps"], 6);
        assert_eq!(row["origins"], 4);
        for key in [
            "mae",
            "rmse",
            "smape",
            "mase",
            "coverage80",
            "coverage95",
            "fit_predict_seconds",
        ] {
            assert!(row[key].as_f64().unwrap() >= 0.0, "{key}: {row}");
        }
    }
    assert_eq!(report["origins"].as_array().unwrap().len(), 4);

    let scaling = &report["scaling"];
    assert_eq!(scaling["startup_delay_seconds"], 120);
    assert_eq!(scaling["startup_delay_steps"], 1);
    assert!(scaling["capacity_per_replica"].as_f64().unwrap() > 0.0);
    assert!(
        scaling["capacity_source"]
            .as_str()
            .unwrap()
            .starts_with("auto")
    );
    let policies = scaling["policies"].as_array().unwrap();
    assert_eq!(policies.len(), 80);
    let count = |name: &str| policies.iter().filter(|p| p["policy"] == name).count();
    assert_eq!(
        (
            count("oracle"),
            count("reactive-hpa"),
            count("predictive"),
            count("hybrid"),
            count("slo")
        ),
        (1, 8, 5, 55, 11)
    );
    for hybrid in policies.iter().filter(|p| p["policy"] == "hybrid") {
        let floor = hybrid["reactive_utilization"].as_f64().unwrap();
        assert!((0.5..=1.0).contains(&floor), "{hybrid}");
    }
    // Every HPA setting is matched with prescale's cheapest setting as reliable, or none.
    let dominance = &scaling["summary"]["dominance"];
    assert!(dominance["holds"].is_boolean(), "{dominance}");
    let matched = dominance["settings"].as_array().unwrap();
    assert_eq!(matched.len(), 8);
    for m in matched {
        if let Some(choice) = m["choice"].as_object() {
            assert!(
                choice["underprovisioned_fraction"].as_f64().unwrap()
                    <= m["hpa_underprovisioned_fraction"].as_f64().unwrap(),
                "{m}"
            );
        }
    }
    for p in policies {
        for key in [
            "underprovisioned_fraction",
            "unserved_fraction",
            "replica_hours",
            "cost_vs_oracle",
        ] {
            assert!(p[key].as_f64().unwrap() >= 0.0, "{key}: {p}");
        }
        assert!(p["scale_events"].as_u64().is_some(), "{p}");
    }
    let oracle = policies.iter().find(|p| p["policy"] == "oracle").unwrap();
    assert_eq!(oracle["cost_vs_oracle"], 1.0);
    assert_eq!(oracle["underprovisioned_fraction"], 0.0);
    assert!(oracle["param"].is_null());
    assert!(scaling["summary"]["text"].as_str().is_some());
    assert_eq!(scaling["period"]["steps"], 2020);
    // The bands the engine published, scored at every step with a demand and a forecast (the
    // 8 gaps and nothing else left out: the first refit is at the first simulated step), held
    // the demand about as often as they claim.
    let held = &scaling["published_coverage"];
    assert_eq!(held["steps"], scaling["period"]["scored_steps"], "{held}");
    let (c80, c95) = (
        held["coverage80"].as_f64().unwrap(),
        held["coverage95"].as_f64().unwrap(),
    );
    assert!(
        (0.65..=0.95).contains(&c80) && (0.85..=1.0).contains(&c95) && c80 <= c95,
        "{held}"
    );
    // The point forecasts it published, scored on the same steps against repeating the demand
    // a day earlier: seasonal naive over a day drives the policy here, which is that repeat
    // (but for the few steps whose day-old value is one of the gaps).
    let published = &scaling["published_accuracy"];
    assert_eq!(published["steps"], held["steps"], "{published}");
    let (mae, mase) = (
        published["mae"].as_f64().unwrap(),
        published["mase"].as_f64().unwrap(),
    );
    assert!(mae > 0.0 && (mase - 1.0).abs() < 0.01, "{published}");
    assert!(stdout.contains("its point forecasts erred by "), "{stdout}");

    let picture = std::fs::read_to_string(&svg).unwrap();
    assert!(picture.starts_with("<svg"), "{}", &picture[..80]);
    assert!(picture.len() > 20_000, "a plot of a week is not trivial");
    for text in [
        "prescale backtest",
        "HPA u=0.6",
        "oracle",
        "under-provisioned",
    ] {
        assert!(picture.contains(text), "the plot lacks {text:?}");
    }
}

#[test]
fn backtest_all_prints_one_row_per_dataset() {
    let dir = tempfile::tempdir().unwrap();
    trace(&dir.path().join("first.csv"), 6, |i| Some(daily(i)));
    trace(&dir.path().join("second.csv"), 5, |i| Some(2.0 * daily(i)));
    std::fs::write(dir.path().join("notes.txt"), "not a dataset").unwrap();
    let out_dir = dir.path().join("reports");
    let mut args = vec!["backtest", "--all", dir.path().to_str().unwrap()];
    args.extend(FAST);
    args.extend(["--season", "1d", "--out-dir", out_dir.to_str().unwrap()]);
    let out = prescale(&args);
    let stdout = ok(&out);
    let rows: Vec<&str> = stdout.lines().filter(|l| l.starts_with("| ")).collect();
    assert_eq!(rows.len(), 3, "a header and two rows:\n{stdout}");
    assert!(rows[1].starts_with("| first.csv"), "{stdout}");
    assert!(rows[2].starts_with("| second.csv"), "{stdout}");
    // Each row says how often the bands the engine published held the demand (80 / 95 %).
    assert!(rows[0].contains("bands held % (80/95)"), "{stdout}");
    // And how far its published point forecasts erred, against repeating the last day: the
    // model driving the policy here is seasonal naive over a day, that very repeat (MASE 1).
    let column = rows[0]
        .split('|')
        .position(|cell| cell.trim() == "MASE published")
        .unwrap_or_else(|| panic!("no MASE published column: {stdout}"));
    for row in &rows[1..] {
        let mase: f64 = row.split('|').nth(column).unwrap().trim().parse().unwrap();
        assert!((mase - 1.0).abs() < 1e-9, "{row}");
    }
    // The column says what scale it is on.
    assert!(
        stdout.contains("MASE published: the point forecasts the replay planned on"),
        "{stdout}"
    );
    for row in &rows[1..] {
        let held: Vec<f64> = row
            .split('|')
            .find(|cell| cell.contains(" / "))
            .unwrap_or_else(|| panic!("no bands-held cell: {row}"))
            .split('/')
            .map(|v| v.trim().parse().unwrap())
            .collect();
        assert!(held[0] <= held[1] && held[1] <= 100.0, "{row}");
    }
    // Not a terminal: plain progress lines instead of a bar.
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("[2/2] "), "{stderr}");
    assert!(out_dir.join("first.json").exists() && out_dir.join("second.svg").exists());
}

#[test]
fn backtest_all_with_slo_judges_each_dataset_against_the_hpa_tuned_in_hindsight() {
    let dir = tempfile::tempdir().unwrap();
    trace(&dir.path().join("first.csv"), 6, |i| Some(daily(i)));
    trace(&dir.path().join("second.csv"), 5, |i| Some(2.0 * daily(i)));
    let mut args = vec!["backtest", "--all", dir.path().to_str().unwrap()];
    args.extend(FAST);
    args.extend(["--season", "1d", "--slo", "0.95"]);
    let stdout = ok(&prescale(&args));
    let (_, after) = stdout
        .split_once("slo=0.95: SLO mode against the HPA tuned in hindsight")
        .unwrap_or_else(|| panic!("no hindsight table:\n{stdout}"));
    let rows: Vec<&str> = after.lines().filter(|l| l.starts_with("| ")).collect();
    assert_eq!(rows.len(), 3, "a header and two rows:\n{stdout}");
    assert!(
        rows[0].contains("cost / hindsight HPA at budget"),
        "{stdout}"
    );
    assert!(rows[1].starts_with("| first.csv") && rows[2].starts_with("| second.csv"));
    for row in &rows[1..] {
        assert!(row.contains("holds") || row.contains("fails"), "{row}");
    }
    // The line the targets are judged by, with the median.
    assert!(after.contains("budget (5%) met on "), "{stdout}");
    assert!(after.contains("(median "), "{stdout}");
}

#[test]
fn backtest_all_reports_a_bad_dataset_and_still_prints_the_others() {
    let dir = tempfile::tempdir().unwrap();
    trace(&dir.path().join("good.csv"), 6, |i| Some(daily(i)));
    std::fs::write(dir.path().join("broken.csv"), "timestamp,value\n1,2\n1,3\n").unwrap();
    let mut args = vec!["backtest", "--all", dir.path().to_str().unwrap()];
    args.extend(FAST);
    args.extend(["--season", "1d"]);
    let out = prescale(&args);
    let stderr = failed(&out);
    assert!(stderr.contains("1 of 2 datasets"), "{stderr}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("| good.csv"), "{stdout}");
    assert!(
        stdout.contains("broken.csv: not backtested:") && stdout.contains("duplicate timestamp"),
        "{stdout}"
    );
}

#[test]
fn forecast_writes_one_row_per_step_and_origin() {
    let dir = tempfile::tempdir().unwrap();
    let origins = dir.path().join("origins.txt");
    std::fs::write(
        &origins,
        "2014-04-20T00:04:00Z\n2014-04-21T12:04:00Z\n2014-04-23T00:04:00Z\n",
    )
    .unwrap();
    let out = dir.path().join("prescale.csv");
    let stdout = ok(&prescale(&[
        "forecast",
        "--dataset",
        ELB,
        "--origins-file",
        origins.to_str().unwrap(),
        "--horizon",
        "30m",
        "--model",
        "seasonal-naive",
        "--train-window",
        "7d",
        "--out",
        out.to_str().unwrap(),
    ]));
    assert!(stdout.contains("wrote 3 forecasts of 6 steps"), "{stdout}");
    let text = std::fs::read_to_string(&out).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[0], "origin,timestamp,yhat,lo80,hi80,lo95,hi95");
    assert_eq!(lines.len(), 1 + 3 * 6);
    assert!(lines[1].starts_with("2014-04-20T00:04:00Z,2014-04-20T00:04:00Z,"));
    assert!(lines[6].starts_with("2014-04-20T00:04:00Z,2014-04-20T00:29:00Z,"));
    assert!(lines[18].starts_with("2014-04-23T00:04:00Z,2014-04-23T00:29:00Z,"));
    for line in &lines[1..] {
        let fields: Vec<f64> = line
            .split(',')
            .skip(2)
            .map(|f| f.parse().unwrap())
            .collect();
        assert_eq!(fields.len(), 5);
        let [yhat, lo80, hi80, lo95, hi95] = fields[..] else {
            unreachable!()
        };
        assert!(lo95 <= lo80 && lo80 <= hi80 && hi80 <= hi95, "{line}");
        assert!(yhat.is_finite());
    }
}

#[test]
fn forecast_names_the_bad_origins_line() {
    let dir = tempfile::tempdir().unwrap();
    let origins = dir.path().join("origins.txt");
    std::fs::write(&origins, "2014-04-20T00:04:00Z\n2015-01-01T00:00:00Z\n").unwrap();
    let out = dir.path().join("prescale.csv");
    let stderr = failed(&prescale(&[
        "forecast",
        "--dataset",
        ELB,
        "--origins-file",
        origins.to_str().unwrap(),
        "--horizon",
        "30m",
        "--out",
        out.to_str().unwrap(),
    ]));
    assert!(
        stderr.contains("origins.txt:2:") && stderr.contains("outside the data"),
        "{stderr}"
    );
    assert!(!out.exists(), "no partial forecast file");
}

#[test]
fn bad_datasets_get_clear_messages() {
    let dir = tempfile::tempdir().unwrap();
    let run = |name: &str, text: &str| {
        let path = dir.path().join(name);
        std::fs::write(&path, text).unwrap();
        let mut args = vec!["backtest", "--dataset", path.to_str().unwrap()];
        args.extend(FAST);
        prescale(&args)
    };
    let stderr = failed(&run("empty.csv", ""));
    assert!(stderr.contains("empty file"), "{stderr}");
    // 30 hours at 30 minutes: shorter than twice the daily season.
    let mut short = String::from("timestamp,value\n");
    for i in 0..60 {
        short.push_str(&format!("{},{}\n", i * 1800, 10 + i % 7));
    }
    let stderr = failed(&run("short.csv", &short));
    assert!(
        stderr.contains("no season of 1d,7d fits twice") && stderr.contains("too short"),
        "{stderr}"
    );
    let stderr = failed(&prescale(&[
        "backtest",
        "--dataset",
        ELB,
        "--model",
        "prophet",
    ]));
    assert!(stderr.contains("unknown model"), "{stderr}");
}

#[test]
fn constant_gappy_and_negative_traces_still_backtest() {
    let dir = tempfile::tempdir().unwrap();
    // Constant: MASE has no scale (null), everything else is defined.
    let constant = dir.path().join("constant.csv");
    trace(&constant, 6, |_| Some(42.0));
    let json = dir.path().join("constant.json");
    let mut args = vec!["backtest", "--dataset", constant.to_str().unwrap()];
    args.extend(FAST);
    args.extend(["--season", "1d", "--json", json.to_str().unwrap()]);
    ok(&prescale(&args));
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    assert!(report["accuracy"][0]["mase"].is_null(), "{report}");
    assert_eq!(report["accuracy"][0]["mae"], 0.0);
    let oracle = &report["scaling"]["policies"][0];
    assert_eq!(oracle["underprovisioned_fraction"], 0.0);

    // Gaps (a missing half day) and negative values (counted as no demand).
    let rough = dir.path().join("rough.csv");
    trace(&rough, 6, |i| match i {
        200..=223 => None,
        _ if i % 17 == 0 => Some(-5.0),
        _ => Some(daily(i)),
    });
    let json = dir.path().join("rough.json");
    let mut args = vec!["backtest", "--dataset", rough.to_str().unwrap()];
    args.extend(FAST);
    args.extend([
        "--season",
        "1d",
        "--capacity-per-replica",
        "10",
        "--json",
        json.to_str().unwrap(),
    ]);
    ok(&prescale(&args));
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    assert_eq!(report["points"], 288);
    assert_eq!(report["observed_points"], 264);
    let period = &report["scaling"]["period"];
    assert_eq!(period["steps"], 144);
    assert_eq!(
        period["scored_steps"],
        144 - 24,
        "the gap's steps are not scored"
    );
    assert_eq!(report["scaling"]["capacity_per_replica"], 10.0);
}

#[test]
fn forecast_carries_a_burst_at_the_same_minutes_every_day() {
    // Fifteen days at 5-minute steps from 2024-01-01 (UTC): a daily shape with some noise, and
    // three times the load from 14:00 to 14:14 every day (a cron job). From 13:45 on the last
    // day, an hour ahead: the burst is the 4th to 6th step.
    let dir = tempfile::tempdir().unwrap();
    let dataset = dir.path().join("burst.csv");
    std::fs::write(&dataset, common::daily_burst_csv(15)).unwrap();
    let origins = dir.path().join("origins.txt");
    std::fs::write(&origins, "2024-01-15T13:45:00Z\n").unwrap();
    for model in ["linear-seasonal", "auto"] {
        let yhat = point_forecast(&dataset, &origins, &["--horizon", "60m", "--model", model]);
        assert_eq!(yhat.len(), 12);
        // Around 14:00 the shape is about 100 + 40·sin(210°) + 5 = 85: the burst about 255.
        for (h, y) in yhat.iter().enumerate() {
            let burst = (3..6).contains(&h);
            let (low, high) = if burst { (200.0, 310.0) } else { (60.0, 110.0) };
            assert!(
                (low..high).contains(y),
                "{model}, step {h}: {y} not in {low}..{high}: {yhat:?}"
            );
        }
    }
}

#[test]
fn forecast_opens_the_office_on_monday_after_one_week() {
    // An office, 30-minute steps from Monday 2024-01-01 (UTC): weekdays open 08:00–18:00 at
    // 100–130, a trickle of about 5 otherwise and all weekend. From Monday 2024-01-08 00:00
    // with one week of history: the Sunday's holdout is won by replaying Saturday, which on
    // Monday would forecast a closed office; `auto` forecasts it open.
    let dir = tempfile::tempdir().unwrap();
    let dataset = dir.path().join("office.csv");
    let mut text = String::from("timestamp,value\n");
    for i in 0..9 * 48 {
        let (day, hour) = (i / 48 % 7, (i % 48) as f64 / 2.0);
        let noise = (i * 37 % 11) as f64;
        let value = if day < 5 && (8.0..18.0).contains(&hour) {
            100.0 + 30.0 * (std::f64::consts::PI * (hour - 8.0) / 10.0).sin() + noise
        } else {
            5.0 + noise / 10.0
        };
        text.push_str(&format!("{},{value}\n", 1_704_067_200 + i as i64 * 1800));
    }
    std::fs::write(&dataset, text).unwrap();
    let origins = dir.path().join("origins.txt");
    std::fs::write(&origins, "2024-01-08T00:00:00Z\n").unwrap();
    let yhat = point_forecast(
        &dataset,
        &origins,
        &[
            "--horizon",
            "18h",
            "--model",
            "auto",
            "--train-window",
            "7d",
        ],
    );
    assert_eq!(yhat.len(), 36);
    // 09:00 to 17:00 open (100–130), the night before it closed.
    for (h, y) in yhat.iter().enumerate() {
        let (low, high) = if (18..34).contains(&h) {
            (80.0, 160.0)
        } else if h < 14 {
            (-1.0, 20.0)
        } else {
            continue;
        };
        assert!((low..high).contains(y), "step {h}: {y}: {yhat:?}");
    }
}
