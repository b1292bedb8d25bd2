//! Tests across the module: the JSON forms other modules rely on, model files round-tripping,
//! interval calibration, robustness on random input, and a sanity check on real traces.

use proptest::prelude::*;

use super::test_support::{Lcg, bundled_trace};
use super::*;

use crate::series::test_span as span;

/// Every model name `ModelSpec::from_name` knows.
const EVERY_MODEL: [&str; 5] = [
    "seasonal-naive",
    "linear-seasonal",
    "holt-winters",
    "mstl",
    "auto",
];

fn daily_weekly() -> Vec<Span> {
    vec![span("1d"), span("7d")]
}

/// A state of huge values whose forecast is their near-cancelling sum: reloaded from JSON it
/// must give the same forecast, so JSON must reload every f64 exactly (serde_json's
/// `float_roundtrip`), not to within an ulp. (A case proptest found.)
#[test]
fn huge_cancelling_states_reload_exactly() {
    let mut values = vec![0.0; 20];
    values[7] = -1e300;
    values[12] = f64::INFINITY;
    values[17] = f64::NAN;
    let series = Series::new(0, 8229, values).unwrap();
    let spec = ModelSpec::from_name("holt-winters", vec![span("1d")]).unwrap();
    let model = spec.fit(&series).unwrap();
    let loaded: FittedModel =
        serde_json::from_str(&serde_json::to_string(&model).unwrap()).unwrap();
    assert_eq!(
        model.predict(1, &[]).unwrap().yhat,
        loaded.predict(1, &[]).unwrap().yhat
    );
}

#[test]
fn spec_json_forms() {
    let spec = ModelSpec::default();
    assert_eq!(
        serde_json::to_string(&spec).unwrap(),
        r#"{"model":"auto","seasons":["1d","1w"]}"#
    );
    let parsed: ModelSpec =
        serde_json::from_str(r#"{"model":"seasonal-naive","seasons":["1d","7d"]}"#).unwrap();
    assert_eq!(
        parsed,
        ModelSpec::from_name("seasonal-naive", daily_weekly()).unwrap()
    );
    let parsed: ModelSpec = serde_json::from_str(
        r#"{"model":"linear-seasonal","seasons":["1d","7d"],"harmonics":[8,3]}"#,
    )
    .unwrap();
    assert_eq!(
        parsed,
        ModelSpec::LinearSeasonal(LinearSeasonalSpec {
            seasons: daily_weekly(),
            harmonics: Some(vec![8, 3]),
            ..LinearSeasonalSpec::new(vec![])
        })
    );
    let parsed: ModelSpec = serde_json::from_str(
        r#"{"model":"holt-winters","seasons":["1d"],"seasonality":"additive","trend":"damped"}"#,
    )
    .unwrap();
    assert_eq!(
        parsed,
        ModelSpec::HoltWinters(HoltWintersSpec {
            seasons: vec![span("1d")],
            seasonality: holt_winters::SeasonalityChoice::Additive,
            trend: holt_winters::TrendChoice::Damped,
        })
    );
    assert_eq!(
        serde_json::to_string(&ModelSpec::from_name("holt-winters", vec![span("1d")]).unwrap())
            .unwrap(),
        r#"{"model":"holt-winters","seasons":["1d"]}"#
    );
    assert!(
        serde_json::from_str::<ModelSpec>(r#"{"model":"auto","seasons":["1d"],"seasnos":[]}"#)
            .is_err()
    );
    assert!(serde_json::from_str::<ModelSpec>(r#"{"model":"prophet","seasons":["1d"]}"#).is_err());
}

#[test]
fn specs_are_checked() {
    assert!(matches!(
        ModelSpec::from_name("arima", daily_weekly()),
        Err(ForecastError::InvalidSpec(_))
    ));
    for seasons in [vec![], vec![span("1d"), span("1d")], vec![span("400d")]] {
        assert!(matches!(
            ModelSpec::from_name("auto", seasons),
            Err(ForecastError::InvalidSpec(_))
        ));
    }
    let spec = ModelSpec::LinearSeasonal(LinearSeasonalSpec {
        seasons: daily_weekly(),
        harmonics: Some(vec![10]),
        ..LinearSeasonalSpec::new(vec![])
    });
    assert!(spec.check().is_err());
    let spec = ModelSpec::LinearSeasonal(LinearSeasonalSpec {
        seasons: vec![span("1d")],
        harmonics: Some(vec![0]),
        ..LinearSeasonalSpec::new(vec![])
    });
    assert!(spec.check().is_err());
    // An unchecked invalid spec is an error at fit time, not a panic.
    let spec = ModelSpec::SeasonalNaive(SeasonalNaiveSpec::new(vec![]));
    let series = Series::new(0, 60, vec![1.0; 10]).unwrap();
    assert!(spec.fit(&series).is_err());
    assert_eq!(ModelSpec::default().name(), "auto");
}

/// A daily + weekly traffic-like series at `step`, with noise from `noise`.
fn traffic(days: i64, step: i64, seed: u64, noise: impl Fn(&mut Lcg) -> f64) -> Series {
    let mut rng = Lcg(seed);
    let n = days * 86_400 / step;
    let values = (0..n)
        .map(|i| {
            let t = (i * step) as f64;
            let day = std::f64::consts::TAU * t / 86_400.0;
            let week = std::f64::consts::TAU * t / 604_800.0;
            let clean = 1000.0 + 400.0 * day.sin() + 150.0 * (2.0 * day).cos() + 100.0 * week.cos();
            (clean + noise(&mut rng)).max(0.0)
        })
        .collect();
    Series::new(1_700_006_400, step, values).unwrap()
}

#[test]
fn fitted_models_round_trip_through_json() {
    let series = traffic(15, 1800, 1, |rng| 30.0 * rng.normal());
    for name in EVERY_MODEL {
        let spec = ModelSpec::from_name(name, daily_weekly()).unwrap();
        let model = spec.fit(&series).unwrap();
        let json = serde_json::to_string(&model).unwrap();
        assert!(
            json.starts_with(&format!("{{\"model\":\"{name}\"")),
            "{json}"
        );
        let loaded: FittedModel = serde_json::from_str(&json).unwrap();
        assert_eq!(loaded, model);
        let levels = [0.025, 0.1, 0.5, 0.9, 0.975];
        assert_eq!(
            loaded.predict(96, &levels).unwrap(),
            model.predict(96, &levels).unwrap()
        );
        assert_eq!(loaded.origin(), series.end());
        assert_eq!(loaded.step(), 1800);
        // No training data is kept: a few kB, plus the reference season for seasonal naive
        // (here a week of 30-minute steps).
        assert!(json.len() < 20_000, "{name}: {} bytes", json.len());
        let summary = serde_json::to_value(model.summary()).unwrap();
        assert_eq!(summary["model"], model.name());
    }
}

#[test]
fn names_and_summaries() {
    let series = traffic(15, 1800, 2, |rng| 30.0 * rng.normal());
    let model = ModelSpec::default().fit(&series).unwrap();
    assert!(model.name().starts_with("auto("), "{}", model.name());
    let summary = model.summary();
    assert_eq!(summary.origin, series.end());
    assert_eq!(summary.points, series.len());
    assert!(summary.clamped_at_zero);
    let validation = summary.validation.unwrap();
    // Three candidates, the mean of the best two and the median of all three.
    assert_eq!(validation.scores.len(), 5);
    assert!(validation.scores.iter().all(|s| s.mae.is_some()));
    assert!(validation.scores[3].model.starts_with("combination("));
    assert!(validation.scores[4].model.starts_with("median("));
    // The choice, and the model blended into the first steps where it helps.
    let blended = format!("auto({} + near holt-winters(1d))", validation.chosen);
    assert!(
        model.name() == format!("auto({})", validation.chosen) || model.name() == blended,
        "{}",
        model.name()
    );

    let model = ModelSpec::from_name("linear-seasonal", daily_weekly())
        .unwrap()
        .fit(&series)
        .unwrap();
    let summary = model.summary();
    assert_eq!(summary.seasons, daily_weekly());
    assert_eq!(summary.harmonics, vec![10, 5]);
    assert_eq!(model.name(), "linear-seasonal");
}

#[test]
fn horizon_zero_and_invalid_levels() {
    let series = traffic(3, 3600, 3, |rng| rng.normal());
    for name in EVERY_MODEL {
        let model = ModelSpec::from_name(name, vec![span("1d")])
            .unwrap()
            .fit(&series)
            .unwrap();
        let forecast = model.predict(0, &[0.1, 0.9]).unwrap();
        assert!(forecast.is_empty());
        assert_eq!(forecast.bands.len(), 2);
        assert!(forecast.bands.iter().all(|b| b.values.is_empty()));
        for level in [0.0, 1.0, -0.1, 1.5, f64::INFINITY] {
            assert_eq!(
                model.predict(5, &[0.5, level]).unwrap_err(),
                ForecastError::InvalidLevel(level)
            );
        }
        assert!(matches!(
            model.predict(5, &[f64::NAN]),
            Err(ForecastError::InvalidLevel(_))
        ));
        assert!(model.predict(MAX_HORIZON + 1, &[]).is_err());
    }
}

#[test]
fn constant_and_all_gap_series() {
    let constant = Series::new(0, 300, vec![7.0; 4000]).unwrap();
    let gaps = Series::new(0, 300, vec![f64::NAN; 4000]).unwrap();
    let empty = Series::new(0, 300, vec![]).unwrap();
    for name in EVERY_MODEL {
        let spec = ModelSpec::from_name(name, daily_weekly()).unwrap();
        let forecast = spec
            .fit(&constant)
            .unwrap()
            .predict(30, &[0.05, 0.95])
            .unwrap();
        for (i, y) in forecast.yhat.iter().enumerate() {
            assert!((y - 7.0).abs() < 1e-6);
            assert!((forecast.bands[0].values[i] - 7.0).abs() < 1e-6);
            assert!((forecast.bands[1].values[i] - 7.0).abs() < 1e-6);
        }
        for series in [&gaps, &empty] {
            assert_eq!(
                spec.fit(series).unwrap_err(),
                ForecastError::TooShort { needed: 1, have: 0 }
            );
        }
    }
}

#[test]
fn median_band_is_near_the_point_forecast() {
    let series = traffic(20, 1800, 4, |rng| 50.0 * rng.student3());
    for name in ["seasonal-naive", "linear-seasonal", "holt-winters", "mstl"] {
        let model = ModelSpec::from_name(name, daily_weekly())
            .unwrap()
            .fit(&series)
            .unwrap();
        let forecast = model.predict(48, &[0.5]).unwrap();
        for (y, median) in forecast.yhat.iter().zip(&forecast.bands[0].values) {
            assert!((y - median).abs() < 10.0, "{name}: {y} vs {median}");
        }
    }
}

#[test]
fn a_band_does_not_depend_on_the_other_levels_asked_for() {
    // Callers ask for a target's quantile together with the interval levels, or alone: the
    // band of a level is the same to the bit either way, in any order, with repeats.
    let series = traffic(15, 1800, 5, |rng| 40.0 * rng.student3());
    let lists: [&[f64]; 4] = [
        &[0.9],
        &[0.1, 0.9, 0.975],
        &[0.975, 0.9, 0.025, 0.1, 0.9],
        &[0.5, 0.93, 0.9, 0.999, 0.001],
    ];
    for name in EVERY_MODEL {
        let model = ModelSpec::from_name(name, daily_weekly())
            .unwrap()
            .fit(&series)
            .unwrap();
        let alone = model.predict(200, &[0.9]).unwrap();
        for levels in lists {
            let forecast = model.predict(200, levels).unwrap();
            assert_eq!(forecast.yhat, alone.yhat, "{name}: {levels:?}");
            for (band, level) in forecast.bands.iter().zip(levels) {
                assert_eq!(band.level, *level);
                if *level == 0.9 {
                    assert_eq!(band.values, alone.bands[0].values, "{name}: {levels:?}");
                }
            }
        }
        let odd = model.predict(200, &[0.93]).unwrap();
        assert_eq!(
            odd.bands[0].values,
            model.predict(200, &[0.001, 0.93, 0.999]).unwrap().bands[1].values,
            "{name}"
        );
    }
}

/// Fraction of held-out values inside the 80 % interval, over rolling origins.
fn coverage_80(spec: &ModelSpec, series: &Series, train_days: usize, origins: usize) -> f64 {
    let day = (86_400 / series.step()) as usize;
    let (mut inside, mut total) = (0usize, 0usize);
    for k in 0..origins {
        let end = train_days * day + k * day / 3;
        let model = spec.fit(&series.slice(0..end)).unwrap();
        let forecast = model.predict(day, &[0.1, 0.9]).unwrap();
        for h in 0..day {
            let actual = series.values()[end + h];
            let (lo, hi) = (forecast.bands[0].values[h], forecast.bands[1].values[h]);
            inside += usize::from(lo <= actual && actual <= hi);
            total += 1;
        }
    }
    inside as f64 / total as f64
}

#[test]
fn eighty_percent_intervals_cover_about_eighty_percent() {
    // Heavy-tailed noise (Student t, 3 degrees of freedom): a Gaussian interval from the
    // residuals' standard deviation would be far too wide in the middle and too narrow in the
    // tails; empirical quantiles are not fooled.
    let series = traffic(40, 1800, 7, |rng| 60.0 * rng.student3());
    for name in EVERY_MODEL {
        let spec = ModelSpec::from_name(name, daily_weekly()).unwrap();
        let coverage = coverage_80(&spec, &series, 21, 20);
        assert!(
            (0.7..=0.9).contains(&coverage),
            "{name}: 80 % interval covered {:.1} %",
            coverage * 100.0
        );
    }
}

#[test]
fn series_with_gaps_and_trailing_gaps_forecast_from_the_end() {
    let series = traffic(15, 1800, 8, |rng| 20.0 * rng.normal());
    let mut values = series.values().to_vec();
    let n = values.len();
    for v in &mut values[100..160] {
        *v = f64::NAN;
    }
    for v in &mut values[n - 5..] {
        *v = f64::NAN;
    }
    let series = Series::new(series.start(), series.step(), values).unwrap();
    for name in EVERY_MODEL {
        let model = ModelSpec::from_name(name, daily_weekly())
            .unwrap()
            .fit(&series)
            .unwrap();
        assert_eq!(model.origin(), series.end());
        let forecast = model.predict(10, &[0.1, 0.9]).unwrap();
        assert!(forecast.yhat.iter().all(|y| y.is_finite() && *y > 0.0));
    }
}

/// A call centre open 08:00-18:00 UTC on weekdays, no samples otherwise: forecasts from inside
/// the night are 0 until the opening and then follow the open hours' profile (not the last
/// level, and no season dropped because the nights are never observed), and the schedule
/// survives a model file.
#[test]
fn office_hours_forecast_zero_while_closed_and_the_profile_from_the_opening() {
    let step = 300;
    let full = traffic(14, step, 0, |_| 0.0);
    let open = |t: i64| {
        let weekday = (t.div_euclid(86_400) + 3).rem_euclid(7) < 5; // 1970-01-01: a Thursday
        weekday && (8 * 3600..18 * 3600).contains(&t.rem_euclid(86_400))
    };
    let mut values: Vec<f64> = (0..full.len())
        .map(|i| {
            let t = full.start() + i as i64 * step;
            if open(t) { full.values()[i] } else { f64::NAN }
        })
        .collect();
    values.extend([f64::NAN; 72]); // until 06:00: the origin is inside the night
    let series = Series::new(full.start(), step, values).unwrap();
    let origin = series.end();
    assert_eq!(origin.rem_euclid(86_400), 6 * 3600);
    let clean = traffic(15, step, 0, |_| 0.0);
    // MSTL refuses a schedule, saying so (it would decompose interpolated closures).
    let refused = ModelSpec::from_name("mstl", daily_weekly())
        .unwrap()
        .fit(&series)
        .unwrap_err();
    assert!(refused.to_string().contains("closed periods"), "{refused}");
    for name in ["auto", "linear-seasonal", "seasonal-naive", "holt-winters"] {
        let model = ModelSpec::from_name(name, daily_weekly())
            .unwrap()
            .fit(&series)
            .unwrap();
        assert!(model.training().schedule.is_some(), "{name}");
        let reloaded: FittedModel =
            serde_json::from_str(&serde_json::to_string(&model).unwrap()).unwrap();
        let forecast = reloaded.predict(48, &[0.1, 0.9]).unwrap();
        for (h, y) in forecast.yhat.iter().enumerate() {
            let t = origin + h as i64 * step;
            if !open(t) {
                assert_eq!(*y, 0.0, "{name} at +{h}");
                assert!(forecast.bands.iter().all(|b| b.values[h] == 0.0));
            } else if name != "holt-winters" {
                let truth = clean.values()[((t - clean.start()) / step) as usize];
                assert!(
                    (y - truth).abs() < 0.05 * truth,
                    "{name} at +{h}: {y} vs {truth}"
                );
            }
        }
        assert!(
            forecast.yhat[24..].iter().all(|y| *y > 0.0),
            "{name} opens at 08:00"
        );
    }
}

/// Office hours (08:00-18:00 UTC on weekdays) at 5-minute steps, from `from` to `to` (seconds
/// after a Monday 00:00 UTC), trimmed to its first and last observation as the engine's window
/// is.
fn office_series(from: i64, to: i64) -> Series {
    const MONDAY: i64 = 1_699_833_600; // 2023-11-13
    let step = 300;
    let open =
        |s: i64| s % (7 * 86_400) < 5 * 86_400 && (8 * 3600..18 * 3600).contains(&(s % 86_400));
    let level = |s: i64| 100.0 + 50.0 * (std::f64::consts::TAU * s as f64 / 86_400.0).sin();
    let steps: Vec<i64> = (from / step..to / step)
        .map(|i| i * step)
        .filter(|&s| open(s))
        .collect();
    let (first, last) = (steps[0], *steps.last().unwrap());
    let values = (first / step..=last / step)
        .map(|i| {
            if open(i * step) {
                level(i * step)
            } else {
                f64::NAN
            }
        })
        .collect();
    Series::new(MONDAY + first, step, values).unwrap()
}

/// The engine refits on a window that ends at the last observation: late on a Friday the
/// weekend just past lies inside it once, so a fresh fit cannot tell it is closed and
/// forecasts Saturday noon like a weekday; a refit from the previous model (which saw two
/// weekends) keeps it closed.
#[test]
fn a_refit_keeps_the_weekend_its_previous_model_closed() {
    let day = 86_400;
    let spec = ModelSpec::from_name("linear-seasonal", daily_weekly()).unwrap();
    // Monday of week 0 to Monday 10:00 of week 2: two weekends seen.
    let previous = spec.fit(&office_series(0, 14 * day + 10 * 3600)).unwrap();
    let schedule = previous.training().schedule.clone().expect("a schedule");
    // Tuesday of week 1 to Friday 18:00 of week 2: one weekend inside.
    let later = office_series(8 * day, 19 * day);
    let saturday_noon = later.end() + 18 * 3600; // Friday 18:00 + 18 h
    assert!(schedule.is_closed(saturday_noon));
    let at_noon = |model: &FittedModel| {
        let forecast = model.predict(300, &[0.9]).unwrap();
        forecast.yhat[((saturday_noon - forecast.start) / forecast.step) as usize]
    };
    assert!(at_noon(&spec.fit(&later).unwrap()) > 0.0, "a fresh fit");
    let refitted = spec.refit(&later, Some(&previous)).unwrap();
    assert_eq!(at_noon(&refitted), 0.0);
    assert!(
        refitted
            .training()
            .schedule
            .as_ref()
            .unwrap()
            .is_closed(saturday_noon)
    );
}

/// A model file whose schedule or interval scaling is out of range is refused when it
/// predicts, not trusted.
#[test]
fn corrupt_schedules_and_powers_in_model_files_are_errors() {
    let series = office_series(0, 14 * 86_400 + 10 * 3600);
    let model = ModelSpec::default().fit(&series).unwrap();
    let json = serde_json::to_value(&model).unwrap();
    let text = json.to_string();
    assert!(text.contains("\"schedule\""), "{text}");
    let corrupt = |edit: &dyn Fn(&mut serde_json::Value)| {
        let mut json = json.clone();
        edit(&mut json);
        let model: FittedModel = serde_json::from_value(json).unwrap();
        model.predict(12, &[0.9]).unwrap_err().to_string()
    };
    let error = corrupt(&|json| {
        json["members"][0]["model"]["training"]["schedule"]["closed"][0] =
            serde_json::json!([0, 700_000])
    });
    assert!(error.contains("schedule"), "{error}");
    let error = corrupt(&|json| json["conformal"]["power"] = serde_json::json!(0.7));
    assert!(error.contains("power"), "{error}");
}

fn arb_series() -> impl Strategy<Value = Series> {
    let value = prop_oneof![
        6 => -1e3..1e4f64,
        2 => Just(f64::NAN),
        1 => Just(0.0),
        1 => prop_oneof![Just(f64::INFINITY), Just(-1e300), Just(1e300), Just(5.0)],
    ];
    (
        -2_000_000_000i64..2_000_000_000,
        prop_oneof![
            Just(1i64),
            Just(60),
            Just(300),
            Just(1800),
            Just(3600),
            Just(86_400),
            1..100_000i64
        ],
        prop::collection::vec(value, 0..400),
        any::<bool>(),
    )
        .prop_map(|(start, step, mut values, constant)| {
            if constant {
                for v in values.iter_mut().filter(|v| !v.is_nan()) {
                    *v = 3.0;
                }
            }
            Series::new(start, step, values).unwrap()
        })
}

fn arb_spec() -> impl Strategy<Value = ModelSpec> {
    let season = prop_oneof![
        Just(60i64),
        Just(3600),
        Just(86_400),
        Just(604_800),
        1..200_000i64
    ]
    .prop_map(|s| Span::from_seconds(s).unwrap());
    (0..4usize, prop::collection::vec(season, 1..4)).prop_map(|(family, mut seasons)| {
        seasons.sort();
        seasons.dedup();
        match family {
            0 => ModelSpec::SeasonalNaive(SeasonalNaiveSpec::new(seasons)),
            1 => ModelSpec::LinearSeasonal(LinearSeasonalSpec::new(seasons)),
            2 => ModelSpec::HoltWinters(HoltWintersSpec::new(seasons)),
            _ => ModelSpec::Auto(AutoSpec::new(seasons)),
        }
    })
}

proptest! {
    // Failures are not persisted to a file outside `src/forecast` (the shrunk case is printed).
    #![proptest_config(ProptestConfig {
        cases: 300,
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    /// Random series with random gaps, spikes and non-finite values never panic; forecasts
    /// that succeed are finite, of the asked length, and monotone in level.
    #[test]
    fn fit_and_predict_never_panic(
        series in arb_series(),
        spec in arb_spec(),
        horizon in 0..300usize,
        levels in prop::collection::vec(-0.2..1.2f64, 0..5),
    ) {
        let Ok(model) = spec.fit(&series) else { return Ok(()); };
        let _ = model.summary();
        match model.predict(horizon, &levels) {
            Err(ForecastError::InvalidLevel(level)) => {
                prop_assert!(!(level > 0.0 && level < 1.0));
            }
            Err(e) => prop_assert!(false, "unexpected error {e}"),
            Ok(forecast) => {
                prop_assert!(levels.iter().all(|l| *l > 0.0 && *l < 1.0));
                prop_assert_eq!(forecast.len(), horizon);
                prop_assert_eq!(forecast.start, model.origin());
                prop_assert!(forecast.yhat.iter().all(|y| y.is_finite()));
                let mut order: Vec<usize> = (0..levels.len()).collect();
                order.sort_by(|&a, &b| levels[a].total_cmp(&levels[b]));
                for h in 0..horizon {
                    for w in order.windows(2) {
                        let (lo, hi) = (&forecast.bands[w[0]], &forecast.bands[w[1]]);
                        prop_assert!(lo.values[h] <= hi.values[h]);
                    }
                }
                // Exact below 1e14 (see `json_exact`); within rounding for the huge values
                // this test throws in.
                let json = serde_json::to_string(&model).unwrap();
                let loaded: FittedModel = serde_json::from_str(&json).unwrap();
                let again = loaded.predict(horizon, &levels).unwrap();
                let close = |a: f64, b: f64| a == b || (a - b).abs() <= 1e-9 * a.abs().max(b.abs());
                for (a, b) in again.yhat.iter().zip(&forecast.yhat) {
                    prop_assert!(close(*a, *b), "{} vs {}", a, b);
                }
                for (band_a, band_b) in again.bands.iter().zip(&forecast.bands) {
                    for (a, b) in band_a.values.iter().zip(&band_b.values) {
                        prop_assert!(close(*a, *b), "{} vs {}", a, b);
                    }
                }
            }
        }
    }
}

/// MAE of a one-day forecast after `train_days` days of `file`, starting `skip_days` in.
fn real_trace_mae(file: &str, skip_days: usize, train_days: usize, spec: &ModelSpec) -> f64 {
    let series = bundled_trace(file);
    let day = (86_400 / series.step()) as usize;
    let end = (skip_days + train_days) * day;
    let train = series.slice(skip_days * day..end);
    let actual = &series.values()[end..end + day];
    let forecast = spec.fit(&train).unwrap().predict(day, &[0.1, 0.9]).unwrap();
    let pairs: Vec<(f64, f64)> = actual
        .iter()
        .zip(&forecast.yhat)
        .filter(|(a, _)| !a.is_nan())
        .map(|(a, y)| (*a, *y))
        .collect();
    pairs.iter().map(|(a, y)| (a - y).abs()).sum::<f64>() / pairs.len() as f64
}

#[test]
fn auto_is_no_worse_than_daily_seasonal_naive_on_real_traces() {
    let daily = ModelSpec::from_name("seasonal-naive", vec![span("1d")]).unwrap();
    let auto = ModelSpec::default();
    for file in ["taylor-elec-gb-2000-30m.csv", "nasa-http-1995-1m.csv"] {
        let baseline = real_trace_mae(file, 0, 14, &daily);
        let chosen = real_trace_mae(file, 0, 14, &auto);
        assert!(
            chosen <= baseline,
            "{file}: auto MAE {chosen:.2} > seasonal naive (1d) MAE {baseline:.2}"
        );
    }
}

#[test]
fn json_exact_numbers_survive_serde_json() {
    let mut rng = Lcg(13);
    for _ in 0..20_000 {
        let magnitude = 10f64.powf(rng.uniform() * 36.0 - 22.0);
        let raw = (rng.uniform() - 0.5) * magnitude;
        let x = json_exact(raw);
        let back: f64 = serde_json::from_str(&serde_json::to_string(&x).unwrap()).unwrap();
        assert_eq!(back, x, "{raw}");
        // 14 significant digits, or a multiple of 1e-22 for tiny numbers.
        assert!(
            (x - raw).abs() <= (raw.abs() * 1e-13).max(1e-22),
            "{raw} -> {x}"
        );
    }
}

#[test]
fn extreme_timestamps_and_steps_are_errors_or_forecasts_never_panics() {
    let cases = [
        (i64::MAX - 100 * 60, 60, 90),
        (i64::MIN, 60, 500),
        (0, i64::MAX, 1),
        (-5, i64::MAX / 3, 2),
        (i64::MAX - 10, 1, 11),
    ];
    for (start, step, len) in cases {
        let values: Vec<f64> = (0..len).map(|i| (i % 7) as f64).collect();
        let series = Series::new(start, step, values).unwrap();
        for name in EVERY_MODEL {
            let spec = ModelSpec::from_name(name, vec![span("1h"), span("1d")]).unwrap();
            if let Ok(model) = spec.fit(&series) {
                let _ = model.predict(100, &[0.1, 0.9]);
                let _ = model.summary();
            }
        }
    }
}

/// Rolling-origin accuracy on every bundled trace: 14 days of training (7 for the 14-day
/// traces), one day ahead, origins every 2 days: MAE, coverage of the 80 % and 95 % intervals,
/// and of the 80 % interval within the first hour. A report, not a check: `cargo test --release --lib accuracy_report --
/// --ignored --nocapture`.
#[test]
#[ignore]
fn accuracy_report() {
    // Listed rather than read from the directory: this module does no I/O of its own; the
    // dataset reader in `series` does.
    let files = [
        "aws-ec2-cpu-5f5533-5m.csv",
        "aws-elb-request-count-5m.csv",
        "google-cluster-2019-cpu-5m.csv",
        "nasa-http-1995-1m.csv",
        "nyc-taxi-30m.csv",
        "taylor-elec-gb-2000-30m.csv",
        "twitter-volume-aapl-5m.csv",
        "twitter-volume-amzn-5m.csv",
        "twitter-volume-fb-5m.csv",
        "twitter-volume-goog-5m.csv",
    ];
    let specs = [
        (
            "snaive-1d",
            ModelSpec::from_name("seasonal-naive", vec![span("1d")]).unwrap(),
        ),
        (
            "snaive-7d",
            ModelSpec::from_name("seasonal-naive", vec![span("7d")]).unwrap(),
        ),
        (
            "linear",
            ModelSpec::from_name("linear-seasonal", daily_weekly()).unwrap(),
        ),
        ("auto", ModelSpec::default()),
    ];
    for name in files {
        let series = bundled_trace(name);
        let day = (86_400 / series.step()) as usize;
        // The two 14-day traces train on 7 days.
        let train_days = if series.len() >= 16 * day { 14 } else { 7 };
        let mut line = format!("{name:34}");
        let mut chosen = std::collections::BTreeMap::new();
        for (label, spec) in &specs {
            let (mut abs, mut n, mut in80, mut in95) = (0.0, 0usize, 0usize, 0usize);
            let (mut n_short, mut in80_short) = (0usize, 0usize);
            let mut end = train_days * day;
            while end + day <= series.len() {
                let train = series.slice(end - train_days * day..end);
                if train.present() < train_days * day / 2 {
                    end += 2 * day;
                    continue;
                }
                let model = spec.fit(&train).unwrap();
                if *label == "auto" {
                    *chosen.entry(model.name()).or_insert(0) += 1;
                }
                let f = model.predict(day, &[0.025, 0.1, 0.9, 0.975]).unwrap();
                for h in 0..day {
                    let a = series.values()[end + h];
                    if a.is_nan() {
                        continue;
                    }
                    abs += (a - f.yhat[h]).abs();
                    n += 1;
                    in80 += usize::from(f.bands[1].values[h] <= a && a <= f.bands[2].values[h]);
                    in95 += usize::from(f.bands[0].values[h] <= a && a <= f.bands[3].values[h]);
                    if h * series.step() as usize <= 3600 {
                        n_short += 1;
                        in80_short +=
                            usize::from(f.bands[1].values[h] <= a && a <= f.bands[2].values[h]);
                    }
                }
                end += 2 * day;
            }
            let n = n.max(1) as f64;
            line += &format!(
                " | {label} {:9.3} {:3.0}% {:3.0}% (1h {:3.0}%)",
                abs / n,
                100.0 * in80 as f64 / n,
                100.0 * in95 as f64 / n,
                100.0 * in80_short as f64 / n_short.max(1) as f64,
            );
        }
        println!("{line} | {chosen:?}");
    }
}

/// A bundled trace multiplied by a growth ramp (issue 22: a launch, a tournament): the Google
/// cluster's CPU growing 7 % a day, 2.6× over a two-week train window. `auto` follows the level
/// without lag where daily seasonal naive, the value one day earlier, lags by a day's growth;
/// its bands hold on the days after the window and widen with the level.
#[test]
fn a_growing_trace_is_tracked_without_lag_and_its_bands_widen_with_it() {
    let raw = bundled_trace("google-cluster-2019-cpu-5m.csv");
    let day = (86_400 / raw.step()) as usize;
    let grown: Vec<f64> = raw
        .values()
        .iter()
        .enumerate()
        .map(|(i, v)| v * 1.07f64.powf(i as f64 / day as f64))
        .collect();
    let series = Series::new(raw.start(), raw.step(), grown).unwrap();
    let hour = day / 24;
    let levels = [0.1, 0.9, 0.025, 0.975];
    // (bias relative to the load, 80 % and 95 % coverage, the 95 % bands' width at the last
    // four origins over the first four)
    let score = |spec: &ModelSpec| {
        let (mut error, mut load) = (0.0, 0.0);
        let (mut in80, mut in95, mut points) = (0usize, 0usize, 0usize);
        let mut widths = Vec::new();
        for k in 0..16 {
            let end = 14 * day + k * 19 * hour;
            let model = spec.fit(&series.slice(end - 14 * day..end)).unwrap();
            let forecast = model.predict(hour, &levels).unwrap();
            let mut width = 0.0;
            for h in 0..hour {
                let actual = series.values()[end + h];
                let band = |i: usize| forecast.bands[i].values[h];
                width += band(3) - band(2);
                if actual.is_nan() {
                    continue;
                }
                error += forecast.yhat[h] - actual;
                load += actual;
                in80 += usize::from(band(0) <= actual && actual <= band(1));
                in95 += usize::from(band(2) <= actual && actual <= band(3));
                points += 1;
            }
            widths.push(width);
        }
        let n = points as f64;
        let (first, last) = (
            widths[..4].iter().sum::<f64>(),
            widths[12..].iter().sum::<f64>(),
        );
        (error / load, in80 as f64 / n, in95 as f64 / n, last / first)
    };
    let naive = score(&ModelSpec::from_name("seasonal-naive", vec![span("1d")]).unwrap());
    assert!(naive.0 < -0.03, "seasonal naive (1d) should lag: {naive:?}");
    let auto = score(&ModelSpec::default());
    assert!(
        auto.0.abs() < 0.02,
        "auto lags or leads the growth: {auto:?}"
    );
    assert!((0.7..=0.9).contains(&auto.1), "80 % band: {auto:?}");
    assert!((0.88..=0.99).contains(&auto.2), "95 % band: {auto:?}");
    // The last four origins are 9.5 days after the first four: at 7 % a day, 1.9× the level.
    assert!(
        auto.3 > 1.5,
        "the bands did not widen with the level: {auto:?}"
    );
}

/// A launch (issue 22): the Google cluster's CPU steps up 2.5× one morning and stays there.
/// The regression is fitted robustly, so the hours after the jump were outliers to it and its
/// forecast an hour ahead stayed a fifth too low for half a day; with the jump found in the
/// residuals ([`linear::Shift`](super::linear::Shift)) `auto` follows the new level from the
/// third hour, where daily seasonal naive replays the day before the launch.
#[test]
fn a_level_that_jumps_is_followed_within_hours() {
    let raw = bundled_trace("google-cluster-2019-cpu-5m.csv");
    let day = (86_400 / raw.step()) as usize;
    let hour = day / 24;
    let jump = 16 * day + 7 * hour;
    let stepped: Vec<f64> = raw
        .values()
        .iter()
        .enumerate()
        .map(|(i, v)| if i >= jump { v * 2.5 } else { *v })
        .collect();
    let series = Series::new(raw.start(), raw.step(), stepped).unwrap();
    // Bias and mean absolute error relative to the load, one hour ahead from every half hour
    // of the 3rd to the 12th hour after the jump.
    let score = |spec: &ModelSpec| {
        let (mut bias, mut error, mut load) = (0.0, 0.0, 0.0);
        for k in 0..18 {
            let end = jump + 3 * hour + k * hour / 2;
            let model = spec.fit(&series.slice(end - 14 * day..end)).unwrap();
            let forecast = model.predict(hour, &[]).unwrap();
            for (h, yhat) in forecast.yhat.iter().enumerate() {
                let actual = series.values()[end + h];
                if !actual.is_nan() {
                    bias += yhat - actual;
                    error += (yhat - actual).abs();
                    load += actual;
                }
            }
        }
        (bias / load, error / load)
    };
    let naive = score(&ModelSpec::from_name("seasonal-naive", vec![span("1d")]).unwrap());
    assert!(naive.0 < -0.4, "seasonal naive (1d) should lag: {naive:?}");
    let auto = score(&ModelSpec::default());
    assert!(auto.0.abs() < 0.05, "auto lags the jump: {auto:?}");
    assert!(auto.1 < 0.1, "auto's error after the jump: {auto:?}");
}
