//! Unit tests of the linear-seasonal family: recovery of known shapes, transforms, robust and
//! warm refits, the AR correction, the weekend block and the design's products.

use ndarray::Array2;

use super::ar::{
    MAX_ROOT, ar_path, fit_ar, lagged_cross_products, lead_coefficients, spectral_radius, stabilize,
};
use super::design::{BaseAngles, choose_design, is_weekend};
use super::fit::warm_start;
use super::robust::robust_scale;
use super::rows::DesignRows;
use super::solve::{gram, standardize};
use super::*;
use crate::forecast::Forecast;
use crate::forecast::test_support::{Lcg, noted};

use crate::series::test_span as span;

/// Daily + weekly sines and a trend, at 30-minute steps.
fn truth(t: i64) -> f64 {
    let day = std::f64::consts::TAU * t as f64 / 86_400.0;
    let week = std::f64::consts::TAU * t as f64 / 604_800.0;
    500.0 + 0.0002 * t as f64 + 100.0 * day.sin() + 40.0 * (2.0 * day).cos() + 60.0 * week.sin()
}

#[test]
fn recovers_daily_weekly_sines_and_trend() {
    let step = 1800;
    let mut rng = Lcg(3);
    let values: Vec<f64> = (0..28 * 48)
        .map(|i| truth(i * step) + 5.0 * rng.normal())
        .collect();
    let series = Series::new(0, step, values).unwrap();
    let spec = LinearSeasonalSpec::new(vec![span("1d"), span("7d")]);
    let model = spec.fit(&series).unwrap();
    assert_eq!(model.seasons().len(), 2);
    assert_eq!(model.seasons()[0].harmonics, 10);
    assert_eq!(model.seasons()[1].harmonics, 5);
    let forecast = model.predict(48, &[0.1, 0.5, 0.9]).unwrap();
    let mae = forecast
        .yhat
        .iter()
        .enumerate()
        .map(|(h, y)| (y - truth(forecast.timestamp(h))).abs())
        .sum::<f64>()
        / 48.0;
    assert!(mae < 2.0, "MAE {mae}");
    // The 80 % band around noise of sd 5 is about ±6.4.
    let width = forecast.bands[2].values[10] - forecast.bands[0].values[10];
    assert!(width > 10.0 && width < 16.0, "width {width}");
}

#[test]
fn gaps_are_skipped_not_zero_filled() {
    let step = 1800;
    let mut values: Vec<f64> = (0..14 * 48).map(|i| truth(i * step)).collect();
    for (i, v) in values.iter_mut().enumerate() {
        if i % 7 == 3 || (200..300).contains(&i) {
            *v = f64::NAN;
        }
    }
    let series = Series::new(0, step, values).unwrap();
    let model = LinearSeasonalSpec::new(vec![span("1d")])
        .fit(&series)
        .unwrap();
    let forecast = model.predict(24, &[]).unwrap();
    for (h, y) in forecast.yhat.iter().enumerate() {
        // Only the weekly sine (not modelled) is left over.
        assert!((y - truth(forecast.timestamp(h))).abs() < 70.0);
    }
}

#[test]
fn harmonics_are_capped_below_nyquist_and_seasons_by_span() {
    let values: Vec<f64> = (0..200).map(|i| (i % 12) as f64).collect();
    let series = Series::new(0, 300, values).unwrap();
    let spec = LinearSeasonalSpec::new(vec![span("1h"), span("1d")]);
    let model = spec.fit(&series).unwrap();
    // 1 h at 5 min = 12 steps: k < 6.
    assert_eq!(
        model.seasons(),
        &[SeasonUsed {
            season: span("1h"),
            harmonics: 5
        }]
    );
    assert!(noted(model.training(), "Nyquist"));
    assert!(noted(model.training(), "1d"));
}

#[test]
fn duplicate_frequencies_are_added_once() {
    let values: Vec<f64> = (0..24 * 30).map(|i| ((i % 24) as f64).sin()).collect();
    let series = Series::new(0, 3600, values).unwrap();
    let spec = LinearSeasonalSpec {
        seasons: vec![span("1d"), span("2d")],
        harmonics: Some(vec![10, 10]),
        ..LinearSeasonalSpec::new(vec![])
    };
    let model = spec.fit(&series).unwrap();
    // 2d harmonics 2, 4, …, 10 equal 1d harmonics 1 … 5.
    assert_eq!(model.seasons()[1].harmonics, 5);
}

#[test]
fn trend_is_frozen_and_forecasts_clamped_at_zero() {
    // Falling steeply: an unfrozen trend would reach far below zero.
    let values: Vec<f64> = (0..100).map(|i| 1000.0 - 10.0 * i as f64).collect();
    let series = Series::new(0, 60, values).unwrap();
    let model = LinearSeasonalSpec::new(vec![span("1d")])
        .fit(&series)
        .unwrap();
    let forecast = model.predict(500, &[0.05, 0.95]).unwrap();
    assert!(forecast.yhat.iter().all(|y| *y >= 0.0));
    assert!(
        forecast
            .bands
            .iter()
            .all(|b| b.values.iter().all(|v| *v >= 0.0))
    );
    // Frozen 25 steps after the last observation: 10 - 25·10 < 0 → 0, then flat.
    assert_eq!(forecast.yhat[100], forecast.yhat[499]);
}

#[test]
fn constant_series_gives_zero_width_intervals() {
    let series = Series::new(0, 60, vec![42.0; 3000]).unwrap();
    let model = LinearSeasonalSpec::new(vec![span("1h")])
        .fit(&series)
        .unwrap();
    let forecast = model.predict(10, &[0.01, 0.99]).unwrap();
    for y in &forecast.yhat {
        assert!((y - 42.0).abs() < 1e-6);
    }
    for band in &forecast.bands {
        for (v, y) in band.values.iter().zip(&forecast.yhat) {
            assert!((v - y).abs() < 1e-6);
        }
    }
}

#[test]
fn residual_correction_follows_a_recent_excursion() {
    // A sine plus an AR(1) wander with φ = 0.9: the first forecast steps should start near
    // the last value rather than at the seasonal mean.
    let step = 60;
    let mut rng = Lcg(11);
    let mut wander = 0.0;
    let mut values: Vec<f64> = (0..3 * 1440)
        .map(|i| {
            wander = 0.9 * wander + 3.0 * rng.normal();
            100.0 + 30.0 * (std::f64::consts::TAU * i as f64 / 1440.0).sin() + wander
        })
        .collect();
    let n = values.len();
    values[n - 1] += 50.0;
    let series = Series::new(0, step, values.clone()).unwrap();
    let model = LinearSeasonalSpec::new(vec![span("1d")])
        .fit(&series)
        .unwrap();
    let forecast = model.predict(100, &[0.5]).unwrap();
    let plain = model.value_at(forecast.start);
    assert!(forecast.yhat[0] > plain + 30.0);
    // Far ahead: the regression plus the median error (small against the wander's sd 7).
    assert!((forecast.yhat[99] - model.value_at(forecast.timestamp(99))).abs() < 1.5);
    let phi = model.ar()[0];
    assert!(phi > 0.8 && phi < 0.95, "phi {phi}");
}

#[test]
fn too_short_history_is_an_error() {
    let series = Series::new(0, 60, vec![f64::NAN, 1.0, f64::NAN]).unwrap();
    assert_eq!(
        LinearSeasonalSpec::new(vec![span("1d")])
            .fit(&series)
            .unwrap_err(),
        ForecastError::TooShort { needed: 2, have: 1 }
    );
}

fn spec_with(seasons: &[&str], edit: impl FnOnce(&mut LinearSeasonalSpec)) -> LinearSeasonalSpec {
    let mut spec = LinearSeasonalSpec::new(seasons.iter().map(|s| span(s)).collect());
    edit(&mut spec);
    spec
}

fn mae_against(forecast: &Forecast, truth: impl Fn(i64) -> f64) -> f64 {
    forecast
        .yhat
        .iter()
        .enumerate()
        .map(|(h, y)| (y - truth(forecast.timestamp(h))).abs())
        .sum::<f64>()
        / forecast.len().max(1) as f64
}

fn assert_nested(forecast: &Forecast) {
    // Levels asked in ascending order; the point forecast (the median) in the middle.
    for h in 0..forecast.len() {
        let values: Vec<f64> = forecast.bands.iter().map(|b| b.values[h]).collect();
        assert!(values.iter().all(|v| v.is_finite()));
        assert!(values.windows(2).all(|w| w[0] <= w[1]), "{values:?}");
        let mid = values.len() / 2;
        assert!(values[mid - 1] <= forecast.yhat[h] && forecast.yhat[h] <= values[mid]);
    }
}

#[test]
fn a_pure_sine_is_recovered_exactly() {
    let sine = |t: i64| 50.0 + 20.0 * (std::f64::consts::TAU * t as f64 / 3600.0).sin();
    let values: Vec<f64> = (0..2000).map(|i| sine(i * 60)).collect();
    let series = Series::new(0, 60, values).unwrap();
    let model = spec_with(&["1h"], |_| {}).fit(&series).unwrap();
    let forecast = model.predict(120, &[0.1, 0.9]).unwrap();
    assert!(mae_against(&forecast, sine) < 1e-6);
}

#[test]
fn a_linear_trend_is_extrapolated() {
    let line = |t: i64| 10.0 + 0.5 * (t / 300) as f64;
    let values: Vec<f64> = (0..1000).map(|i| line(i * 300)).collect();
    let series = Series::new(0, 300, values).unwrap();
    let model = spec_with(&["1d"], |_| {}).fit(&series).unwrap();
    let forecast = model.predict(50, &[0.1, 0.9]).unwrap();
    // Within 1e-5 of values of 10 to 510: the ridge leaves residuals of ~1e-7 whose smooth
    // shape the AR carries on.
    let mae = mae_against(&forecast, line);
    assert!(mae < 1e-5, "{mae}");
}

/// A daily swing proportional to a rising level, with multiplicative noise.
fn multiplicative(t: i64, noise: f64) -> f64 {
    let day = std::f64::consts::TAU * t as f64 / 86_400.0;
    let level = 100.0 * (t as f64 / (20.0 * 86_400.0)).exp();
    level * (1.0 + 0.8 * day.sin()).max(0.05) * noise.exp()
}

#[test]
fn log_and_box_cox_recover_a_multiplicative_season() {
    let step = 1800;
    let mut rng = Lcg(5);
    let values: Vec<f64> = (0..28 * 48)
        .map(|i| multiplicative(i * step, 0.05 * rng.normal()))
        .collect();
    let series = Series::new(0, step, values).unwrap();
    let truth = |t: i64| multiplicative(t, 0.0);
    let mae = |transform: Transform| {
        let spec = spec_with(&["1d"], |s| {
            s.transform = transform;
            s.ar_order = 0;
        });
        let model = spec.fit(&series).unwrap();
        let forecast = model.predict(96, &[0.025, 0.1, 0.9, 0.975]).unwrap();
        assert_nested(&forecast);
        assert!(forecast.bands[0].values.iter().all(|v| *v >= 0.0));
        (mae_against(&forecast, truth), model)
    };
    let (plain, model) = mae(Transform::None);
    assert!(model.transform().is_none());
    let (log, model) = mae(Transform::Log);
    assert_eq!(model.transform().unwrap().lambda, 0.0);
    let (box_cox, model) = mae(Transform::BoxCox);
    assert!(model.transform().unwrap().lambda <= 0.25);
    assert!(log < 0.5 * plain, "log {log} vs none {plain}");
    assert!(box_cox < 0.5 * plain, "box-cox {box_cox} vs none {plain}");
}

#[test]
fn transforms_refuse_negative_data_and_shift_zeros() {
    let mut values: Vec<f64> = (0..1000).map(|i| 5.0 + (i % 24) as f64).collect();
    values[10] = -1.0;
    let series = Series::new(0, 3600, values.clone()).unwrap();
    let log = spec_with(&["1d"], |s| s.transform = Transform::Log);
    assert!(matches!(
        log.fit(&series),
        Err(ForecastError::InvalidSpec(_))
    ));
    let auto = spec_with(&["1d"], |s| s.transform = Transform::Auto);
    assert!(auto.fit(&series).unwrap().transform().is_none());
    values[10] = 0.0;
    let series = Series::new(0, 3600, values).unwrap();
    let model = log.fit(&series).unwrap();
    assert!(model.transform().unwrap().shift > 0.0);
    let forecast = model.predict(48, &[0.01, 0.5, 0.99]).unwrap();
    assert_nested(&forecast);
    assert!(forecast.bands[0].values.iter().all(|v| *v >= 0.0));
}

#[test]
fn robust_fitting_resists_an_outage() {
    let series = series_with_an_outage(0);
    let step = series.step();
    let error = |robust: bool| {
        let model = spec_with(&["1d", "7d"], |s| {
            s.robust = robust;
            s.weekday_shape = WeekdayShape::Off;
        })
        .fit(&series)
        .unwrap();
        (0..21 * 48)
            .map(|i| (model.value_at(i * step) - truth(i * step)).abs())
            .sum::<f64>()
            / (21 * 48) as f64
    };
    let (robust, ordinary) = (error(true), error(false));
    assert!(robust < 3.0, "robust {robust}");
    assert!(
        robust < 0.3 * ordinary,
        "robust {robust} vs ordinary {ordinary}"
    );
}

/// 21 days of `truth` at 30-minute steps with noise, a 10-hour outage (zeros) and a spike,
/// from step `from`: the window a refit sees `from` steps later.
fn series_with_an_outage(from: usize) -> Series {
    let step = 1800;
    let mut rng = Lcg(23);
    let mut values: Vec<f64> = (0..22 * 48)
        .map(|i| truth(i * step) + 5.0 * rng.normal())
        .collect();
    for v in &mut values[300..320] {
        *v = 0.0;
    }
    values[700] += 3000.0;
    let values = values[from..from + 21 * 48].to_vec();
    Series::new(from as i64 * step, step, values).unwrap()
}

fn window_with_an_outage(from: usize) -> History {
    History::new(&series_with_an_outage(from)).unwrap()
}

#[test]
fn warm_coefficients_reproduce_the_previous_fit_in_the_new_window() {
    let spec = spec_with(&["1d", "7d"], |s| s.weekday_shape = WeekdayShape::Weekend);
    let previous = fit_history(&spec, &window_with_an_outage(0), false).unwrap();
    assert!(previous.has_weekend_shape());
    // Ten steps later: another trend centre and scale, another standardization.
    let history = window_with_an_outage(10);
    let (design, _) = choose_design(&spec, &history);
    let rows = DesignRows::new(&design, &history);
    let ys: Vec<f64> = rows.grid.iter().map(|&i| history.values[i]).collect();
    let (mean, sd) = standardize(&ys).unwrap();
    let beta = warm_start(&previous, &design, None, mean, sd).unwrap();
    assert_eq!(beta.len(), design.columns());
    for (r, z) in rows.mul(beta.view()).iter().enumerate() {
        let expected = previous.value_z(history.time(rows.grid[r]));
        assert!(
            (z * sd + mean - expected).abs() < 1e-9 * expected.abs().max(1.0),
            "row {r}: {} vs {expected}",
            z * sd + mean
        );
    }
    // Another design (fewer harmonics) or transform: no warm start.
    let other = spec_with(&["1d", "7d"], |s| s.harmonics = Some(vec![4, 2]));
    let (design, _) = choose_design(&other, &history);
    assert!(warm_start(&previous, &design, None, mean, sd).is_none());
    let (design, _) = choose_design(&spec, &history);
    let log = BoxCox {
        lambda: 0.0,
        shift: 0.0,
    };
    assert!(warm_start(&previous, &design, Some(&log), mean, sd).is_none());
}

#[test]
fn a_warm_refit_carries_the_robust_iterations_on() {
    let spec = LinearSeasonalSpec::new(vec![span("1d"), span("7d")]);
    let previous = fit_history(&spec, &window_with_an_outage(0), true).unwrap();
    let history = window_with_an_outage(10);
    let warm = refit_history(&spec, &history, true, &previous).unwrap();
    let fresh = fit_history(&spec, &history, true).unwrap();
    assert_eq!(warm.has_weekend_shape(), previous.has_weekend_shape());
    // A fresh fit stops after three re-weightings, short of the robust estimate; the warm
    // refit's one re-weighting continues from where the previous fit stopped, so it lands
    // closer to the truth (over the window and a day ahead), and no point strays.
    let times: Vec<i64> = (0..22 * 48).map(|i| history.start + i * 1800).collect();
    let mae = |model: &FittedLinearSeasonal| {
        times
            .iter()
            .map(|&t| (model.value_at(t) - truth(t)).abs())
            .sum::<f64>()
            / times.len() as f64
    };
    assert!(
        mae(&warm) < mae(&fresh),
        "warm {} vs fresh {}",
        mae(&warm),
        mae(&fresh)
    );
    for &t in &times {
        let (w, f) = (warm.value_at(t), fresh.value_at(t));
        assert!(
            (w - truth(t)).abs() < 5.0,
            "at {t}: warm {w} vs {}",
            truth(t)
        );
        assert!((w - f).abs() < 2.0, "at {t}: warm {w} vs fresh {f}");
    }
}

#[test]
fn day_ahead_values_are_fits_on_the_days_before() {
    // Ordinary least squares (no weights to re-estimate), no correction: the value a day
    // gets is that of a fit on the days before it, here checked for the seventh day from the
    // end by fitting the history up to that day and extrapolating. (A fit on the days before
    // that finds pulses the whole history's fit does not is refitted to what they leave,
    // which the day-ahead values cannot follow: the day checked is the fifteenth, whose days
    // before hold no pulse; with the spike of day 14 among them, OLS finds one.)
    let spec = spec_with(&["1d", "7d"], |s| {
        s.robust = false;
        s.ar_order = 0;
    });
    let series = series_with_an_outage(0);
    let history = History::new(&series).unwrap();
    let per_day = 48;
    let len = history.len();
    let (_, values) = fit_cross_validated(&spec, &history, len - 7 * per_day, false).unwrap();
    let values = values.unwrap();
    let day = len - 7 * per_day..len - 6 * per_day;
    let before = spec.fit(&series.slice(0..day.start)).unwrap();
    assert!(before.pulses().is_none(), "{:?}", before.pulses());
    for i in day {
        let expected = before.value_at(history.time(i));
        assert!(
            (values[i] - expected).abs() < 1e-6 * expected.abs().max(1.0),
            "step {i}: {} vs {expected}",
            values[i]
        );
    }
    // No day before the first one asked for: no values.
    assert!(
        fit_cross_validated(&spec, &history, 10, false)
            .unwrap()
            .1
            .is_none()
    );
    // From a later step on only: the earlier steps carry the fit's own values (where the
    // correction's state at the first calibration origin comes from).
    let (model, values) = fit_cross_validated(&spec, &history, len - per_day, false).unwrap();
    let values = values.unwrap();
    for (i, v) in values[..len - per_day].iter().enumerate() {
        let own = model.value_at(history.time(i));
        assert!(
            (v - own).abs() < 1e-6 * own.abs().max(1.0),
            "step {i}: {v} vs {own}"
        );
    }
    assert!(values[len - per_day..].iter().all(|v| v.is_finite()));
    assert!(
        (len - per_day..len).any(|i| (values[i] - model.value_at(history.time(i))).abs() > 1e-3),
        "the last day is forecast from the days before it"
    );
}

#[test]
fn an_ar2_residual_is_found_and_exploited() {
    let step = 60;
    let mut rng = Lcg(17);
    let (mut a1, mut a2) = (0.0, 0.0);
    let values: Vec<f64> = (0..4 * 1440)
        .map(|i| {
            let a = 0.5 * a1 + 0.3 * a2 + 2.0 * rng.normal();
            (a2, a1) = (a1, a);
            100.0 + 30.0 * (std::f64::consts::TAU * i as f64 / 1440.0).sin() + a
        })
        .collect();
    let series = Series::new(0, step, values.clone()).unwrap();
    let model = spec_with(&["1d"], |_| {}).fit(&series).unwrap();
    let ar = model.ar();
    assert!(ar.len() >= 2, "{ar:?}");
    assert!(
        (ar[0] - 0.5).abs() < 0.08 && (ar[1] - 0.3).abs() < 0.08,
        "{ar:?}"
    );
    // One-step forecasts over the last day: the AR(2) beats the lag-1 correction and no
    // correction at all.
    let one_step_mae = |order: usize| {
        let spec = spec_with(&["1d"], |s| s.ar_order = order);
        let mut sum = 0.0;
        for end in (3 * 1440..4 * 1440).step_by(60) {
            let model = spec.fit(&series.slice(0..end)).unwrap();
            sum += (model.predict(1, &[]).unwrap().yhat[0] - values[end]).abs();
        }
        sum
    };
    let (none, one, five) = (one_step_mae(0), one_step_mae(1), one_step_mae(5));
    assert!(
        five < one && one < none,
        "AR(5) {five}, AR(1) {one}, none {none}"
    );
}

/// `len` residuals of an AR(1) with φ = 0.6 and unit noise.
fn ar1_residuals(seed: u64, len: usize) -> Vec<f64> {
    let mut rng = Lcg(seed);
    let mut residuals = vec![0.0; len];
    for t in 1..len {
        residuals[t] = 0.6 * residuals[t - 1] + rng.normal();
    }
    residuals
}

#[test]
fn a_flash_crowd_does_not_become_the_ar() {
    // AR(1) with φ = 0.6, and a flash crowd: 12 steps rising to 400 scales and back.
    let mut residuals = ar1_residuals(17, 6_000);
    let clean = fit_ar(&residuals, robust_scale(&residuals), 5);
    for (i, r) in residuals[3_000..3_012].iter_mut().enumerate() {
        *r += 400.0 * (1.0 - (i as f64 - 6.0).abs() / 6.0);
    }
    let spiked = fit_ar(&residuals, robust_scale(&residuals), 5);
    assert!((clean[0] - 0.6).abs() < 0.05, "{clean:?}");
    assert!(
        (spiked[0] - clean[0]).abs() < 0.05,
        "clean {clean:?}, with the spike {spiked:?}"
    );
}

#[test]
fn a_short_history_lowers_the_ar_order_instead_of_dropping_the_ar() {
    // A week of hourly residuals, AR(1) with φ = 0.6: too few for 24 lags (10 windows per
    // coefficient), enough for a lower order.
    let residuals = ar1_residuals(23, 168);
    let ar = fit_ar(&residuals, robust_scale(&residuals), 24);
    assert!(!ar.is_empty() && ar.len() <= 14, "{ar:?}");
    assert!((ar[0] - 0.6).abs() < 0.2, "{ar:?}");
}

#[test]
fn short_runs_between_gaps_lower_the_ar_order_instead_of_dropping_the_ar() {
    // Ten days of an office at 15-minute steps: 40 observed residuals a day (AR(1), φ = 0.6),
    // 56 missing overnight. 24 lags leave 16 windows a run (160 for 25 coefficients).
    let mut residuals = Vec::new();
    for day in 0..10 {
        residuals.extend(ar1_residuals(40 + day, 40));
        residuals.extend([f64::NAN; 56]);
    }
    let ar = fit_ar(&residuals, robust_scale(&residuals), 24);
    assert!(!ar.is_empty() && ar.len() <= 19, "{ar:?}");
    assert!((ar[0] - 0.6).abs() < 0.2, "{ar:?}");
}

#[test]
fn an_office_s_quarter_hours_keep_their_correction() {
    // Weekdays 09:00-19:00 UTC at 15 minutes, nothing at night or at weekends: a daily shape
    // and a deviation that lasts (AR(1), φ = 0.9). One step ahead from every half hour of two
    // days, the fit's correction takes most of the deviation; the shape alone cannot.
    let step = 900;
    let monday = 4 * 86_400;
    let mut rng = Lcg(31);
    let mut deviation = 0.0;
    let values: Vec<f64> = (0..14 * 96)
        .map(|i| {
            let t = monday + i * step;
            let (day, minute) = ((i / 96) % 7, (i % 96) * 15);
            deviation = 0.9 * deviation + 10.0 * rng.normal();
            let open = day < 5 && (9 * 60..19 * 60).contains(&minute);
            let shape = 300.0 + 100.0 * (std::f64::consts::TAU * t as f64 / 86_400.0).sin();
            if open { shape + deviation } else { f64::NAN }
        })
        .collect();
    let spec = LinearSeasonalSpec::new(vec![span("1d")]);
    let (mut with, mut shape_only, mut origins) = (0.0, 0.0, 0);
    for day in [10, 11] {
        for i in (day * 96 + 40..day * 96 + 74).step_by(2) {
            let series = Series::new(monday, step, values[..i].to_vec()).unwrap();
            let model = spec.fit(&series).unwrap();
            assert!(!model.ar().is_empty(), "no correction at step {i}");
            let forecast = model.predict(1, &[]).unwrap();
            with += (values[i] - forecast.yhat[0]).abs();
            shape_only += (values[i] - model.value_at(forecast.timestamp(0))).abs();
            origins += 1;
        }
    }
    assert!(
        with < 0.75 * shape_only,
        "{origins} origins: MAE {} with the correction, {} without",
        with / origins as f64,
        shape_only / origins as f64
    );
}

#[test]
fn lagged_cross_products_match_the_window_sums() {
    let mut rng = Lcg(21);
    for (len, q) in [(3_000, 24), (2_600, 24), (400, 5), (30, 5), (2_000, 1)] {
        let run: Vec<f64> = (0..len).map(|_| 3.0 + rng.normal()).collect();
        let mut fast = Array2::<f64>::zeros((q + 1, q + 1));
        lagged_cross_products(&run, q, &mut fast);
        for a in 0..=q {
            for b in a..=q {
                let plain: f64 = (q..len).map(|t| run[t - a] * run[t - b]).sum();
                let got = fast[(a, b)];
                assert!(
                    (got - plain).abs() <= 1e-9 * plain.abs().max(1.0),
                    "len {len} q {q} ({a}, {b}): {got} vs {plain}"
                );
            }
        }
    }
}

#[test]
fn a_season_seen_once_in_part_is_left_out() {
    // 14 days hourly with a weekly shape: both seasons fit; a 2-day outage leaves two days
    // of the week observed once, so the weekly season is left out and the note says why.
    let values: Vec<f64> = (0..14 * 24)
        .map(|i| 100.0 + 20.0 * (i % 24) as f64 + 30.0 * (i / 24 % 7) as f64)
        .collect();
    let spec = LinearSeasonalSpec::new(vec![span("1d"), span("7d")]);
    let whole = spec
        .fit(&Series::new(0, 3600, values.clone()).unwrap())
        .unwrap();
    assert_eq!(whole.seasons.len(), 2);
    let mut gapped = values;
    for v in &mut gapped[3 * 24..5 * 24] {
        *v = f64::NAN;
    }
    let model = spec.fit(&Series::new(0, 3600, gapped).unwrap()).unwrap();
    assert_eq!(model.seasons.len(), 1);
    assert_eq!(model.seasons[0].season, span("1d"));
    let note = "season 1w: part of it is observed in only 1.0 cycles";
    assert!(
        noted(&model.training, note),
        "{:?}",
        model.training.fallbacks
    );
}

#[test]
fn weekend_days_get_their_own_daily_shape() {
    let step = 1800;
    // 1970-01-05 was a Monday: start there.
    let start = 4 * DAY;
    let shape = |t: i64| {
        let day = std::f64::consts::TAU * t as f64 / 86_400.0;
        if is_weekend(t) {
            200.0 + 80.0 * day.cos()
        } else {
            300.0 + 100.0 * day.sin()
        }
    };
    let mut rng = Lcg(23);
    let values: Vec<f64> = (0..28 * 48)
        .map(|i| shape(start + i * step) + 3.0 * rng.normal())
        .collect();
    let series = Series::new(start, step, values).unwrap();
    let mut errors = Vec::new();
    for mode in [WeekdayShape::Off, WeekdayShape::Weekend, WeekdayShape::Auto] {
        let model = spec_with(&["1d", "7d"], |s| s.weekday_shape = mode)
            .fit(&series)
            .unwrap();
        assert_eq!(model.has_weekend_shape(), mode != WeekdayShape::Off);
        // A whole week ahead, weekend included.
        let forecast = model.predict(7 * 48, &[0.1, 0.5, 0.9]).unwrap();
        errors.push(mae_against(&forecast, shape));
    }
    assert!(errors[1] < 3.0 && errors[2] < 3.0, "{errors:?}");
    assert!(errors[0] > 3.0 * errors[1], "{errors:?}");
    // Monday to Saturday: no whole weekend, no weekend shape, and a note says why.
    let short = series.slice(0..6 * 48);
    let model = spec_with(&["1d"], |s| s.weekday_shape = WeekdayShape::Weekend)
        .fit(&short)
        .unwrap();
    assert!(!model.has_weekend_shape());
    assert!(noted(model.training(), "whole weekend"));
}

#[test]
fn one_whole_weekend_gives_the_weekend_its_shape() {
    // A weekday schedule (open 12:00–22:00 UTC, a trickle otherwise and all weekend), 12 days
    // from a Monday: one weekend seen. The next weekend is forecast closed.
    let step = 1800;
    let start = 4 * DAY;
    let load = |t: i64| {
        let hour = t.rem_euclid(DAY) / 3600;
        if !is_weekend(t) && (12..22).contains(&hour) {
            100.0
        } else {
            2.0
        }
    };
    let mut rng = Lcg(31);
    let values: Vec<f64> = (0..12 * 48)
        .map(|i| load(start + i * step) + rng.normal())
        .collect();
    let series = Series::new(start, step, values).unwrap();
    let model = spec_with(&["1d", "7d"], |_| {}).fit(&series).unwrap();
    assert!(model.has_weekend_shape());
    // Saturday and Sunday, 12:00–22:00: the days after the 12 observed.
    let forecast = model.predict(3 * 48, &[]).unwrap();
    let weekend_noon: Vec<f64> = (0..3 * 48)
        .map(|h| (forecast.start + h as i64 * step, forecast.yhat[h]))
        .filter(|&(t, _)| is_weekend(t) && (12..22).contains(&(t.rem_euclid(DAY) / 3600)))
        .map(|(_, y)| y)
        .collect();
    assert_eq!(weekend_noon.len(), 40);
    let worst = weekend_noon
        .iter()
        .fold(0.0f64, |m, y| m.max((y - 2.0).abs()));
    assert!(worst < 10.0, "weekend forecast {weekend_noon:?}");
    // Without the weekend shape the open hours' level is forecast on Saturday.
    let off = spec_with(&["1d", "7d"], |s| s.weekday_shape = WeekdayShape::Off)
        .fit(&series)
        .unwrap()
        .predict(3 * 48, &[])
        .unwrap();
    let saturday_noon = &off.yhat[24..44];
    assert!(
        saturday_noon.iter().sum::<f64>() / 20.0 > 50.0,
        "{saturday_noon:?}"
    );
    // The Saturday's day-ahead values come from a fit on Monday to Friday: no weekend day seen.
    // The Sunday's fit saw the Saturday; weekdays are not concerned.
    let history = History::new(&series).unwrap();
    let unseen = weekend_unseen_from(&history, 0);
    let days: Vec<usize> = (0..12)
        .filter(|day| unseen[day * 48..(day + 1) * 48].iter().all(|u| *u))
        .collect();
    assert_eq!(days, [5]);
    assert!(unseen[5 * 48..6 * 48].iter().all(|u| *u));
    assert_eq!(
        weekend_unseen_from(&history, 6 * 48)[..48],
        unseen[6 * 48..7 * 48]
    );
}

#[test]
fn the_split_gram_equals_the_full_product() {
    let step = 3600;
    let values: Vec<f64> = (0..30 * 24).map(|i| truth(i * step)).collect();
    let history = History::new(&Series::new(0, step, values).unwrap()).unwrap();
    let (design, _) = choose_design(&spec_with(&["1d", "7d"], |_| {}), &history);
    assert!(!design.weekend.is_empty());
    // Weekday rows first, as `fit_history` orders them.
    let mut times: Vec<i64> = (0..history.len()).map(|i| history.time(i)).collect();
    times.sort_by_key(|&t| is_weekend(t));
    let weekend_from = times.partition_point(|&t| !is_weekend(t));
    let mut x = Array2::<f64>::zeros((times.len(), design.columns()));
    let mut angles = BaseAngles::new(&design, step);
    for (mut row, &t) in x.rows_mut().into_iter().zip(&times) {
        design.fill_row(t, &mut angles, row.as_slice_mut().unwrap());
    }
    let fast = gram(&design, x.view(), weekend_from);
    let full = x.t().dot(&x);
    for (a, b) in fast.iter().zip(&full) {
        assert!((a - b).abs() < 1e-9 * (1.0 + b.abs()), "{a} vs {b}");
    }
}

#[test]
fn utc_weekends() {
    // 2024-06-01 was a Saturday, 2024-06-03 a Monday.
    assert!(is_weekend(1_717_200_000));
    assert!(is_weekend(1_717_200_000 + 2 * DAY - 1));
    assert!(!is_weekend(1_717_200_000 + 2 * DAY));
    assert!(!is_weekend(1_717_200_000 - 1));
    assert!(!is_weekend(0));
    assert!(is_weekend(2 * DAY));
}

#[test]
fn older_spec_json_still_parses_and_defaults_are_not_written() {
    let spec: LinearSeasonalSpec =
        serde_json::from_str(r#"{"seasons":["1d","7d"],"harmonics":[8,3]}"#).unwrap();
    assert_eq!(spec.weekday_shape, WeekdayShape::default());
    assert_eq!(spec.transform, Transform::default());
    assert_eq!(spec.robust, DEFAULT_ROBUST);
    assert_eq!(spec.ar_order, DEFAULT_AR_ORDER);
    let json = serde_json::to_string(&LinearSeasonalSpec::new(vec![span("1d")])).unwrap();
    assert_eq!(json, r#"{"seasons":["1d"]}"#);
    let spec: LinearSeasonalSpec = serde_json::from_str(
        r#"{"seasons":["1d"],"weekday_shape":"weekend","transform":"box-cox","robust":false,"ar_order":2}"#,
    )
    .unwrap();
    assert_eq!(spec.transform, Transform::BoxCox);
    assert!(
        serde_json::from_str::<LinearSeasonalSpec>(r#"{"seasons":["1d"],"robus":true}"#).is_err()
    );
    assert!(
        spec_with(&["1d"], |s| s.ar_order = MAX_AR_ORDER + 1)
            .check()
            .is_err()
    );
}

#[test]
fn lead_coefficients_match_the_recursion() {
    let ar = [0.6, -0.2, 0.1];
    let state = [1.0, -2.0, 0.5];
    let path = ar_path(&ar, &state, 10);
    let leads = lead_coefficients(&ar, 10);
    for (d, c) in leads.iter().enumerate() {
        let direct: f64 = c.iter().zip(&state).map(|(a, b)| a * b).sum();
        assert!((direct - path[d]).abs() < 1e-12);
    }
    assert!((spectral_radius(&[0.5]) - 0.5).abs() < 1e-12);
    // Roots 0.9 and 0.5: (1 − 0.9B)(1 − 0.5B) = 1 − 1.4B + 0.45B².
    assert!((spectral_radius(&[1.4, -0.45]) - 0.9).abs() < 1e-3);
    // A unit root is pulled inside.
    let stable = stabilize(vec![1.0]);
    assert!(stable[0] <= MAX_ROOT);
    let stable = stabilize(vec![1.5, -0.4]);
    assert!(spectral_radius(&stable) <= MAX_ROOT);
}

/// A daily shape at 1-minute steps with noise, and a 3x burst from 14:00 to 14:09 (UTC) every day
/// when `burst`.
fn daily_with_burst(days: usize, minutes: usize, burst: bool) -> Series {
    let mut rng = Lcg(29);
    let values = (0..days * 1440 + minutes)
        .map(|i| {
            let day = std::f64::consts::TAU * (i % 1440) as f64 / 1440.0;
            let level = 100.0 + 40.0 * day.sin() + 5.0 * rng.normal();
            let minute = i % 1440;
            if burst && (840..850).contains(&minute) {
                3.0 * level
            } else {
                level
            }
        })
        .collect();
    Series::new(0, 60, values).unwrap()
}

#[test]
fn a_burst_at_the_same_minutes_every_day_is_forecast() {
    // Fourteen days and 13:50 of the fifteenth: the forecast's 11th to 20th steps are the burst.
    let spec = LinearSeasonalSpec::new(vec![span("1d"), span("7d")]);
    let model = spec.fit(&daily_with_burst(14, 830, true)).unwrap();
    let pulses = model.pulses().expect("the burst is found");
    assert_eq!(
        pulses.pulses.len(),
        20,
        "ten minutes on weekdays and weekends: {pulses:?}"
    );
    let forecast = model.predict(30, &[0.8]).unwrap();
    for (h, y) in forecast.yhat.iter().enumerate() {
        let level = 100.0 + 40.0 * (std::f64::consts::TAU * (830 + h) as f64 / 1440.0).sin();
        let truth = if (10..20).contains(&h) {
            3.0 * level
        } else {
            level
        };
        assert!(
            (y - truth).abs() < 0.1 * truth,
            "step {h}: {y} against {truth}"
        );
    }
    // The saved model forecasts the same.
    assert_eq!(saved(&model).predict(30, &[0.8]).unwrap(), forecast);
    // Without the burst there is nothing to add.
    let model = spec.fit(&daily_with_burst(14, 830, false)).unwrap();
    assert!(model.pulses().is_none(), "{:?}", model.pulses());
}

#[test]
fn an_hour_long_batch_job_is_forecast_on_a_weekend_without_ringing_around_it() {
    // Nine days at 5-minute steps from Thursday 1970-01-01 and half an hour of Saturday
    // 1970-01-10: a daily shape with noise and a batch job adding 150 from 02:00 to 02:55 every
    // day. Ten harmonics cannot draw the hour's edges; fitted with the job they rang for hours
    // around it, and the two weekend days seen were too few for a weekend pulse of their own.
    let mut rng = Lcg(31);
    let level = |i: usize| 100.0 + 40.0 * (std::f64::consts::TAU * (i % 288) as f64 / 288.0).sin();
    let job = |i: usize| {
        if (24..36).contains(&(i % 288)) {
            150.0
        } else {
            0.0
        }
    };
    let steps = 9 * 288 + 6;
    let values = (0..steps)
        .map(|i| level(i) + job(i) + 3.0 * rng.normal())
        .collect();
    let series = Series::new(0, 300, values).unwrap();
    let model = LinearSeasonalSpec::new(vec![span("1d"), span("7d")])
        .fit(&series)
        .unwrap();
    let forecast = model.predict(36, &[0.8]).unwrap();
    for (h, y) in forecast.yhat.iter().enumerate() {
        let truth = level(steps + h) + job(steps + h);
        assert!(
            (y - truth).abs() < 0.05 * truth,
            "Saturday {:02}:{:02}: {y} against {truth}",
            (steps + h) % 288 / 12,
            (steps + h) % 12 * 5
        );
    }
}

#[test]
fn a_level_that_jumped_hours_ago_is_forecast_at_its_new_level_and_saved_with_it() {
    // Ten days at 5-minute steps of a daily shape with noise; four hours before the end a new
    // customer's 150 is added to the load (a launch). The robust regression sees those hours
    // as outliers; with the shift the next hour is forecast at the new level.
    let mut rng = Lcg(17);
    let level = |i: usize| 100.0 + 40.0 * (std::f64::consts::TAU * (i % 288) as f64 / 288.0).sin();
    let steps = 10 * 288;
    let jump = steps - 48;
    let added = |i: usize| if i >= jump { 150.0 } else { 0.0 };
    let values: Vec<f64> = (0..steps)
        .map(|i| level(i) + added(i) + 3.0 * rng.normal())
        .collect();
    let series = Series::new(0, 300, values).unwrap();
    let spec = LinearSeasonalSpec::new(vec![span("1d"), span("7d")]);
    let model = spec.fit(&series).unwrap();
    let shift = model.shift().expect("the jump is found");
    let from = usize::try_from(shift.from / 300).unwrap();
    assert!(
        from <= jump && from + 5 >= jump,
        "from step {from}, jump {jump}"
    );
    let forecast = model.predict(12, &[0.8]).unwrap();
    for (h, y) in forecast.yhat.iter().enumerate() {
        let truth = level(steps + h) + 150.0;
        assert!(
            (y - truth).abs() < 0.05 * truth,
            "step {h}: {y} against {truth}"
        );
    }
    // The saved model forecasts the same.
    assert_eq!(saved(&model).predict(12, &[0.8]).unwrap(), forecast);
    // Without the jump there is none.
    let calm: Vec<f64> = (0..steps).map(|i| level(i) + 3.0 * rng.normal()).collect();
    let model = spec.fit(&Series::new(0, 300, calm).unwrap()).unwrap();
    assert!(model.shift().is_none(), "{:?}", model.shift());
}

/// The model after a save and a load, as `prescale train` writes it and `serve` reads it.
fn saved(model: &FittedLinearSeasonal) -> FittedLinearSeasonal {
    serde_json::from_str(&serde_json::to_string(model).unwrap()).unwrap()
}

#[test]
fn a_sunday_s_day_ahead_values_take_no_weekday_pulse_once_saturday_was_seen() {
    // One week at 5 minutes from Monday 09:00: 70 from 09:00 to 17:00 on weekdays, 17 otherwise
    // (the edges are pulses: ten harmonics cannot draw them). The calibration days are Friday,
    // Saturday and Sunday from 09:00; the Sunday's fit saw Saturday, whose 17:00 holds no
    // edge: the Sunday's day-ahead values take no weekday pulse there (found on the days
    // before Friday alone, with no weekend day among them, they took the weekdays').
    let step = 300;
    let per_day = 288;
    let start = 4 * DAY + 9 * 3600;
    let load = |t: i64| {
        let hour = t.rem_euclid(DAY) / 3600;
        if !is_weekend(t) && (9..17).contains(&hour) {
            70.0
        } else {
            17.0
        }
    };
    let mut rng = Lcg(5);
    let values: Vec<f64> = (0..7 * per_day)
        .map(|i| {
            let level = load(start + i as i64 * step);
            level * (1.0 + 0.03 * rng.normal())
        })
        .collect();
    let series = Series::new(start, step, values).unwrap();
    let history = History::new(&series).unwrap();
    let spec = spec_with(&["1d"], |_| {});
    let len = history.len();
    let (model, day_ahead) =
        fit_cross_validated(&spec, &history, len - 3 * per_day, false).unwrap();
    assert!(model.has_weekend_shape());
    assert!(model.pulses().is_some());
    // From Sunday 14:00 (the sixth day's 05:00 from the start), four hours ahead.
    let origin = 6 * per_day + 5 * 12;
    assert_eq!(history.time(origin).rem_euclid(DAY), 14 * 3600);
    let forecast =
        &model.cross_validated_forecasts(&history, &day_ahead.unwrap(), &[origin], 48)[0];
    let worst = (36..48).fold(0.0f64, |m, h| m.max((forecast[h] - 17.0).abs()));
    assert!(worst < 3.0, "Sunday 17:00–18:00: {:?}", &forecast[36..48]);
}
