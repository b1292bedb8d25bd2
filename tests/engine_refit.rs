//! The engine's refits keep `auto`'s selection: on a real sled store, a series refitted an hour
//! after its first fit keeps the holdout split chosen then (only the chosen members are refitted
//! on the newer window), and one refitted after `auto::RESELECT_SECONDS` selects afresh. And the
//! engine's generation (what kept external metric answers are checked against) moves on with
//! every change to a target or a plan, and only then.

mod common;

use std::path::Path;

use prescale::engine::{Engine, EngineSettings};
use prescale::forecast::ModelSpec;
use prescale::forecast::auto::RESELECT_SECONDS;
use prescale::series::SeriesKey;
use prescale::series::csv::read_dataset;
use prescale::store::Store;

use common::span;

#[test]
fn refits_keep_the_selection_until_it_is_stale() {
    let data = read_dataset(Path::new("datasets/aws-elb-request-count-5m.csv")).unwrap();
    let (series, samples) = (&data.series, &data.samples);
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let settings = EngineSettings {
        refit_interval: span("10m"),
        replan_interval: span("15s"),
        train_window: span("7d"),
        plan_horizon: span("1h"),
        model: ModelSpec::from_name("auto", vec![span("1d")]).unwrap(),
        series_retention: None,
        ..EngineSettings::default()
    };
    let engine = Engine::new(store.clone(), settings).unwrap();
    let key = SeriesKey::new("elb").unwrap();

    // Stores the samples before `now`, refits, and returns the model's split and origin.
    let mut stored = 0;
    let mut refit_at = |now: i64| {
        let known = samples.partition_point(|s| s.timestamp < now);
        store.append(&key, &samples[stored..known]).unwrap();
        stored = known;
        assert_eq!(engine.refit_due(now).unwrap(), 1, "a refit at {now}");
        let summary = engine.model(&key).expect("a model").model.summary();
        let validation = summary.validation.expect("auto reports its holdout");
        (validation.split, summary.origin)
    };

    let first = series.timestamp(8 * 288);
    let (split, origin) = refit_at(first);
    assert_eq!(origin, first);

    // An hour later: a new fit on the newer window, the same selection.
    let (kept_split, later_origin) = refit_at(first + 3600);
    assert_eq!(later_origin, first + 3600, "the refit saw the new hour");
    assert_eq!(kept_split, split, "the selection was kept");

    // Past the reselection age: a fresh holdout at the end of the newer window.
    let stale = first + RESELECT_SECONDS + 3600;
    let (fresh_split, _) = refit_at(stale);
    assert!(fresh_split > split, "{fresh_split} should follow {split}");
}

#[test]
fn the_generation_moves_on_with_every_target_and_plan_change() {
    let data = read_dataset(Path::new("datasets/aws-elb-request-count-5m.csv")).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let settings = EngineSettings {
        train_window: span("7d"),
        model: ModelSpec::from_name("seasonal-naive", vec![span("1d")]).unwrap(),
        ..EngineSettings::default()
    };
    let engine = Engine::new(store.clone(), settings).unwrap();
    let key = SeriesKey::new("elb").unwrap();
    let now = data.series.timestamp(8 * 288);
    let known = data.samples.partition_point(|s| s.timestamp < now);
    store.append(&key, &data.samples[..known]).unwrap();
    let target: prescale::plan::Target = serde_json::from_value(serde_json::json!({
        "series": "elb",
        "capacity_per_replica": 100.0,
        "min_replicas": 1,
        "max_replicas": 50,
    }))
    .unwrap();

    let start = engine.generation();
    engine.put_target("web", target.clone()).unwrap();
    let put = engine.generation();
    assert!(put > start, "a new target moves it on");
    engine.put_target("web", target.clone()).unwrap();
    assert_eq!(engine.generation(), put, "an unchanged target does not");
    assert_eq!(engine.refit_due(now).unwrap(), 1);
    let refit = engine.generation();
    assert_eq!(refit, put, "a refit alone changes no plan");
    engine.replan(now);
    let planned = engine.generation();
    assert!(planned > refit, "a new plan moves it on");
    assert!(engine.delete_target("web").unwrap());
    assert!(
        engine.generation() > planned,
        "a deleted target moves it on"
    );
}
