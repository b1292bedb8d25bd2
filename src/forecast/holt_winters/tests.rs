//! Unit tests of the Holt-Winters family: seasons, trends, gaps, fallbacks, intervals and JSON.

use super::optimize::{PHI_HI, PHI_LO};
use super::*;
use crate::forecast::test_support::{Lcg, noted};

use crate::series::test_span as span;

fn spec(seasons: &[&str]) -> HoltWintersSpec {
    HoltWintersSpec::new(seasons.iter().map(|s| span(s)).collect())
}

/// A daily season with the given choices.
fn daily(seasonality: SeasonalityChoice, trend: TrendChoice) -> HoltWintersSpec {
    HoltWintersSpec {
        seasonality,
        trend,
        ..spec(&["1d"])
    }
}

fn fit(spec: &HoltWintersSpec, values: Vec<f64>, step: i64) -> FittedHoltWinters {
    spec.fit(&Series::new(0, step, values).unwrap()).unwrap()
}

/// A 24-step season (1 day at 1-hour steps).
fn shape(i: usize) -> f64 {
    let x = std::f64::consts::TAU * (i % 24) as f64 / 24.0;
    x.sin() + 0.5 * (2.0 * x).cos()
}

fn mae(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| (x - y).abs()).sum::<f64>() / a.len() as f64
}

#[test]
fn pure_additive_season_is_forecast_almost_exactly() {
    let truth = |i: usize| 100.0 + 20.0 * shape(i);
    let model = fit(&spec(&["1d"]), (0..24 * 10).map(truth).collect(), 3600);
    assert_eq!(model.season(), Some(span("1d")));
    let forecast = model.predict(48, &[0.1, 0.9]).unwrap();
    let expected: Vec<f64> = (240..288).map(truth).collect();
    assert!(mae(&forecast.yhat, &expected) < 0.05, "{:?}", forecast.yhat);
    // Nearly no error in sample: nearly zero-width bands.
    let width = forecast.bands[1].values[5] - forecast.bands[0].values[5];
    assert!(width < 0.5, "width {width}");
}

#[test]
fn season_scaling_with_level_is_multiplicative() {
    // Level doubles over 20 days, the daily swing is ±30 % of the level.
    let mut rng = Lcg(5);
    let truth = |i: usize| (100.0 + 5.0 * i as f64 / 24.0) * (1.0 + 0.3 * shape(i));
    let values: Vec<f64> = (0..24 * 20)
        .map(|i| truth(i) * (1.0 + 0.01 * rng.normal()))
        .collect();
    let auto = fit(&spec(&["1d"]), values.clone(), 3600);
    assert_eq!(auto.seasonality(), Seasonality::Multiplicative);
    let additive = fit(
        &daily(SeasonalityChoice::Additive, TrendChoice::Auto),
        values,
        3600,
    );
    assert_eq!(additive.seasonality(), Seasonality::Additive);
    assert!(
        auto.rmse() < additive.rmse(),
        "{} vs {}",
        auto.rmse(),
        additive.rmse()
    );
    let expected: Vec<f64> = (480..504).map(truth).collect();
    let forecast = auto.predict(24, &[]).unwrap();
    assert!(mae(&forecast.yhat, &expected) < 4.0, "{:?}", forecast.yhat);
}

#[test]
fn a_linear_trend_is_followed() {
    let truth = |i: usize| 50.0 + 2.0 * i as f64 + 10.0 * shape(i);
    let values: Vec<f64> = (0..24 * 8).map(truth).collect();
    for trend in [
        TrendChoice::Auto,
        TrendChoice::Damped,
        TrendChoice::Additive,
    ] {
        let model = fit(&daily(SeasonalityChoice::Auto, trend), values.clone(), 3600);
        assert_ne!(model.trend(), Trend::None, "{trend:?}");
        let forecast = model.predict(6, &[]).unwrap();
        let expected: Vec<f64> = (192..198).map(truth).collect();
        assert!(
            mae(&forecast.yhat, &expected) < 2.0,
            "{trend:?}: {:?} vs {expected:?}",
            forecast.yhat
        );
    }
    // Damped: the forecast keeps rising but ever more slowly.
    let model = fit(
        &daily(SeasonalityChoice::Additive, TrendChoice::Damped),
        values,
        3600,
    );
    let phi = model.params().phi;
    assert!((PHI_LO..=PHI_HI).contains(&phi), "phi {phi}");
}

#[test]
fn gaps_update_the_state_with_the_forecast() {
    let truth = |i: usize| 100.0 + 20.0 * shape(i);
    let mut values: Vec<f64> = (0..24 * 10).map(truth).collect();
    for (i, v) in values.iter_mut().enumerate() {
        if i % 5 == 2 || (100..130).contains(&i) {
            *v = f64::NAN;
        }
    }
    // Trailing gaps: the forecast still starts at the end of the series.
    let n = values.len();
    for v in &mut values[n - 3..] {
        *v = f64::NAN;
    }
    let model = fit(&spec(&["1d"]), values, 3600);
    assert_eq!(model.training().origin, 240 * 3600);
    let forecast = model.predict(24, &[0.05, 0.95]).unwrap();
    let expected: Vec<f64> = (240..264).map(truth).collect();
    // Zeros in the gaps would pull the level far down.
    assert!(mae(&forecast.yhat, &expected) < 0.5, "{:?}", forecast.yhat);
    assert!(forecast.yhat.iter().all(|y| y.is_finite()));
}

#[test]
fn constant_series_forecasts_the_constant() {
    for values in [vec![42.0; 24 * 5], vec![-3.0; 100], vec![0.0; 50]] {
        let c = values[0];
        let model = fit(&spec(&["1d"]), values, 3600);
        let forecast = model.predict(30, &[0.025, 0.5, 0.975]).unwrap();
        for (h, y) in forecast.yhat.iter().enumerate() {
            assert!((y - c).abs() < 1e-9, "{y}");
            for band in &forecast.bands {
                assert!((band.values[h] - c).abs() < 1e-9);
            }
        }
        assert!(noted(model.training(), "constant"));
    }
}

#[test]
fn short_history_falls_back_then_errors() {
    // 30 hourly steps: one daily cycle only. Holt's trend, and it says so.
    let values: Vec<f64> = (0..30).map(|i| 10.0 + i as f64).collect();
    let model = fit(&spec(&["1d", "7d"]), values, 3600);
    assert_eq!(model.season(), None);
    assert_eq!(model.seasonality(), Seasonality::None);
    let notes = &model.training().fallbacks;
    assert!(noted(model.training(), "1d"), "{notes:?}");
    assert!(noted(model.training(), "Holt"), "{notes:?}");
    let forecast = model.predict(3, &[0.1, 0.9]).unwrap();
    assert!((forecast.yhat[0] - 40.0).abs() < 1.0, "{:?}", forecast.yhat);

    // Five points: simple exponential smoothing.
    let model = fit(&spec(&["1d"]), vec![1.0, 2.0, 1.5, 2.5, 2.0], 3600);
    assert_eq!(model.trend(), Trend::None);
    assert!(noted(model.training(), "simple"));

    // Two observations: too short.
    let series = Series::new(0, 60, vec![1.0, f64::NAN, 2.0]).unwrap();
    assert_eq!(
        spec(&["1h"]).fit(&series).unwrap_err(),
        ForecastError::TooShort { needed: 3, have: 2 }
    );
}

#[test]
fn the_shortest_supported_season_is_used() {
    let values: Vec<f64> = (0..24 * 10).map(|i| 5.0 + shape(i)).collect();
    let model = fit(&spec(&["7d", "1d", "2h"]), values.clone(), 3600);
    assert_eq!(model.season(), Some(span("2h")));
    let model = fit(&spec(&["7d", "1d"]), values, 3600);
    assert_eq!(model.season(), Some(span("1d")));
    assert!(noted(model.training(), "1w"));
}

#[test]
fn intervals_are_nested_finite_and_widen() {
    // A random walk around a season: errors grow with the horizon.
    let mut rng = Lcg(9);
    let mut level = 500.0;
    let values: Vec<f64> = (0..24 * 30)
        .map(|i| {
            level += 3.0 * rng.normal();
            level + 50.0 * shape(i) + 5.0 * rng.student3()
        })
        .collect();
    let model = fit(&spec(&["1d"]), values, 3600);
    let forecast = model.predict(100, &[0.025, 0.1, 0.9, 0.975]).unwrap();
    for h in 0..100 {
        let y = forecast.yhat[h];
        let [lo95, lo80, hi80, hi95] = [0, 1, 2, 3].map(|b| forecast.bands[b].values[h]);
        assert!(lo95.is_finite() && hi95.is_finite());
        assert!(
            lo95 <= lo80 && lo80 <= y && y <= hi80 && hi80 <= hi95,
            "h {h}"
        );
    }
    let width = |h: usize| forecast.bands[2].values[h] - forecast.bands[1].values[h];
    assert!(width(0) > 0.0);
    assert!(width(48) > width(0) * 1.5, "{} vs {}", width(48), width(0));
}

#[test]
fn round_trips_through_json_exactly() {
    let mut rng = Lcg(2);
    let values: Vec<f64> = (0..24 * 12)
        .map(|i| 100.0 + 30.0 * shape(i) + 3.0 * rng.normal())
        .collect();
    let model = fit(&spec(&["1d"]), values, 3600);
    let json = serde_json::to_string(&model).unwrap();
    let loaded: FittedHoltWinters = serde_json::from_str(&json).unwrap();
    assert_eq!(loaded, model);
    assert_eq!(
        loaded.predict(50, &[0.1, 0.9]).unwrap(),
        model.predict(50, &[0.1, 0.9]).unwrap()
    );
    let spec_json = r#"{"seasons":["1d"],"seasonality":"multiplicative","trend":"damped"}"#;
    let parsed: HoltWintersSpec = serde_json::from_str(spec_json).unwrap();
    assert_eq!(parsed.seasonality, SeasonalityChoice::Multiplicative);
    assert_eq!(parsed.trend, TrendChoice::Damped);
    assert_eq!(serde_json::to_string(&parsed).unwrap(), spec_json);
    assert_eq!(
        serde_json::to_string(&spec(&["1d"])).unwrap(),
        r#"{"seasons":["1d"]}"#
    );
    assert!(serde_json::from_str::<HoltWintersSpec>(r#"{"seasons":["1d"],"trend":"x"}"#).is_err());
}

#[test]
fn multiplicative_is_refused_on_non_positive_values() {
    let values: Vec<f64> = (0..24 * 5).map(|i| 10.0 * shape(i)).collect();
    let model = fit(
        &daily(SeasonalityChoice::Multiplicative, TrendChoice::Auto),
        values,
        3600,
    );
    assert_eq!(model.seasonality(), Seasonality::Additive);
    assert!(noted(model.training(), "positive"));
}

#[test]
fn huge_values_are_an_error_or_finite() {
    for big in [1e300, -1e300, 1e200] {
        let values: Vec<f64> = (0..100).map(|i| big * (1.0 + (i % 7) as f64)).collect();
        if let Ok(model) = spec(&["1h"]).fit(&Series::new(0, 60, values).unwrap()) {
            let forecast = model.predict(1000, &[0.01, 0.99]).unwrap();
            assert!(forecast.yhat.iter().all(|y| y.is_finite()));
        }
    }
}

#[test]
fn the_initial_state_of_a_trend_and_season_is_exact() {
    use super::recursion::initial;
    // Five cycles of a 24-step season on a line: the moving average of a line is the line, so
    // the season and the slope come back exactly, and the level is the line's value where the
    // moving average starts (half a cycle in, as statsmodels' heuristic places it).
    let m = 24;
    let line = |t: f64| 50.0 + 0.5 * t;
    let additive: Vec<f64> = (0..5 * m)
        .map(|t| line(t as f64) + 10.0 * shape(t))
        .collect();
    let init = initial(&additive, m, false).unwrap();
    assert!((init.slope - 0.5).abs() < 1e-9, "{}", init.slope);
    assert!((init.level - line(11.0)).abs() < 1e-9, "{}", init.level);
    for (j, s) in init.seasonal.iter().enumerate() {
        assert!((s - 10.0 * shape(j)).abs() < 1e-9, "phase {j}: {s}");
    }
    // Multiplicative: a season of ratios on a flat level.
    let ratios: Vec<f64> = (0..3 * m).map(|t| 200.0 * (1.0 + 0.3 * shape(t))).collect();
    let init = initial(&ratios, m, true).unwrap();
    assert!(init.slope.abs() < 1e-9 && (init.level - 200.0).abs() < 1e-9);
    for (j, s) in init.seasonal.iter().enumerate() {
        assert!((s - (1.0 + 0.3 * shape(j))).abs() < 1e-9, "phase {j}: {s}");
    }
    // Under two cycles there is no seasonal state to estimate.
    assert!(initial(&additive[..2 * m - 1], m, false).is_none());
}

#[test]
fn the_initial_season_averages_five_cycles_and_a_level_shift_is_no_slope() {
    use super::recursion::initial;
    // Seven days at 1-minute steps of a daily shape with noise (sd 10): the season is the mean
    // of five cycles (its error about 10/√5 per phase, where two cycles gave 10/√2 ≈ 7).
    let m = 1440;
    let mut rng = Lcg(17);
    let true_shape = |t: usize| 100.0 * shape(t * 24 / m);
    let values: Vec<f64> = (0..7 * m)
        .map(|t| 1000.0 + true_shape(t) + 10.0 * rng.normal())
        .collect();
    let rms_error = |cycles: usize| {
        let init = initial(&values[..cycles * m], m, false).unwrap();
        let squares: f64 = init
            .seasonal
            .iter()
            .enumerate()
            .map(|(j, s)| (s - true_shape(j)).powi(2))
            .sum();
        (squares / m as f64).sqrt()
    };
    let rms = rms_error(5);
    assert!(rms < 5.5, "season off by {rms} (rms)");
    // From two cycles (what the estimate used before) it is off by more.
    assert!(rms_error(2) > 6.5, "two cycles: {} (rms)", rms_error(2));
    let init = initial(&values[..5 * m], m, false).unwrap();
    assert!(init.slope.abs() < 0.05, "slope {}", init.slope);
    assert!((init.level - 1000.0).abs() < 10.0, "level {}", init.level);
    // The same with the level dropping to 700 after two days (a weekend): the slope comes from
    // the trend's start, not from the difference of the cycles' means (-0.1 a step here).
    let shifted: Vec<f64> = values
        .iter()
        .enumerate()
        .map(|(t, v)| if t < 2 * m { *v } else { v - 300.0 })
        .collect();
    let init = initial(&shifted[..5 * m], m, false).unwrap();
    assert!(init.slope.abs() < 0.05, "slope {}", init.slope);
    assert!((init.level - 1000.0).abs() < 10.0, "level {}", init.level);
}

#[test]
fn a_refit_from_a_previous_fit_keeps_its_form_and_finds_as_good_parameters() {
    // Twelve days of an hourly season with a slow trend and noise; the window moves by three
    // steps between the fits.
    let mut rng = Lcg(41);
    let values: Vec<f64> = (0..24 * 12)
        .map(|i| 200.0 + 0.05 * i as f64 + 30.0 * shape(i) + 3.0 * rng.normal())
        .collect();
    let series = Series::new(0, 3600, values).unwrap();
    let hw = spec(&["1d"]);
    let first = hw.fit(&series.slice(0..24 * 11)).unwrap();
    let window = series.slice(3..24 * 11 + 3);
    let history = History::new(&window).unwrap();
    let cold = fit_history(&hw, &history, false).unwrap();
    let FittedModel::HoltWinters(warm) = hw
        .refit_history(&history, &FittedModel::HoltWinters(first.clone()))
        .unwrap()
    else {
        panic!("a Holt-Winters model")
    };
    assert_eq!(
        (warm.seasonality(), warm.trend()),
        (first.seasonality(), first.trend())
    );
    assert!(
        warm.rmse() <= cold.rmse() * 1.01,
        "{} vs {}",
        warm.rmse(),
        cold.rmse()
    );
    // Another family's model is no start: a plain fit.
    let naive = crate::forecast::ModelSpec::SeasonalNaive(
        crate::forecast::seasonal_naive::SeasonalNaiveSpec::new(vec![span("1d")]),
    )
    .fit(&window)
    .unwrap();
    assert_eq!(
        hw.refit_history(&history, &naive).unwrap(),
        FittedModel::HoltWinters(cold)
    );
}
