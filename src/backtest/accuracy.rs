//! Rolling-origin forecast accuracy, with the yardstick's definitions (`eval/peers.py`):
//!
//! - at each origin the model is fitted on the train window strictly before it — built exactly
//!   as the engine builds a training series ([`crate::forecast::window::training_series`]: the
//!   samples of the window on their grid, leading and trailing gaps trimmed, inner gaps left to
//!   the model) — and forecasts `h` steps starting *at* the origin;
//! - per origin: MAE, RMSE, sMAPE (%, `200·|y−ŷ|/(|y|+|ŷ|)`, 0 when both are 0), MASE = MAE
//!   divided by the in-sample MAE of the seasonal-naive forecast with the shortest season on
//!   the train window with its gaps linearly interpolated (NaN when that is 0), and the share of
//!   actuals inside the 80 % and 95 % intervals; steps whose actual is missing are skipped, and
//!   an origin without any actual is left out;
//! - figures are NaN-ignoring means over origins; time is the mean wall time of fit + predict.

use std::time::Instant;

use serde::Serialize;

use crate::forecast::INTERVAL_LEVELS;
use crate::forecast::window::training_series;
use crate::forecast::{ForecastError, ModelSpec};
use crate::series::{Sample, Series, Span, Timestamp};

use super::setup::Setup;

/// A forecast from one origin in the yardstick's shape: point forecast and the 80 % and 95 %
/// intervals, `h` steps from `origin`.
#[derive(Debug, Clone, PartialEq)]
pub struct OriginForecast {
    pub origin: Timestamp,
    pub step: i64,
    pub yhat: Vec<f64>,
    pub lo80: Vec<f64>,
    pub hi80: Vec<f64>,
    pub lo95: Vec<f64>,
    pub hi95: Vec<f64>,
    /// Wall seconds of fit + predict.
    pub seconds: f64,
    /// The fitted model's name, e.g. `auto(linear-seasonal(1d,1w))`.
    pub model: String,
}

/// Fits `spec` on the `train_window` of `samples` (sorted) strictly before `origin` and
/// forecasts `horizon` steps from `origin`. `step` is the dataset's grid step; `origin` must lie
/// on that grid.
///
/// When the window ends in gaps, the model's own origin is earlier (the engine trims trailing
/// gaps too); its forecast is then made longer and its first steps dropped, so that the result
/// always starts at `origin`.
pub fn forecast_from(
    samples: &[Sample],
    step: i64,
    spec: &ModelSpec,
    origin: Timestamp,
    train_window: Span,
    horizon: usize,
) -> Result<OriginForecast, ForecastError> {
    let before = &samples[..samples.partition_point(|s| s.timestamp < origin)];
    let train = training_series(before, origin, train_window)?;
    let started = Instant::now();
    let model = spec.fit(&train)?;
    if model.step() != step || (origin - model.origin()) % step != 0 {
        return Err(ForecastError::InvalidSpec(format!(
            "the samples before {} are not on the dataset's grid of {step} s",
            crate::series::format_timestamp(origin)
        )));
    }
    let skip = ((origin - model.origin()) / step).max(0) as usize;
    let forecast = model.predict(skip + horizon, &INTERVAL_LEVELS)?;
    let seconds = started.elapsed().as_secs_f64();
    let band = |level: f64| -> Vec<f64> {
        forecast
            .quantile(level)
            .map(|values| values[skip..].to_vec())
            .unwrap_or_else(|| vec![f64::NAN; horizon])
    };
    Ok(OriginForecast {
        origin,
        step,
        yhat: forecast.yhat[skip..].to_vec(),
        lo80: band(0.1),
        hi80: band(0.9),
        lo95: band(0.025),
        hi95: band(0.975),
        seconds,
        model: model.name(),
    })
}

/// The scores of one origin.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Scores {
    pub mae: f64,
    pub rmse: f64,
    pub smape: f64,
    pub mase: f64,
    pub coverage80: f64,
    pub coverage95: f64,
}

/// Scores a forecast against `actual` (NaN = missing, skipped) with the MASE `scale`; `None`
/// when no actual is present (peers.py's `score`).
pub fn score(actual: &[f64], forecast: &OriginForecast, scale: f64) -> Option<Scores> {
    let present: Vec<usize> = (0..actual.len().min(forecast.yhat.len()))
        .filter(|&i| actual[i].is_finite())
        .collect();
    if present.is_empty() {
        return None;
    }
    let n = present.len() as f64;
    let mean = |f: &dyn Fn(usize) -> f64| present.iter().map(|&i| f(i)).sum::<f64>() / n;
    let err = |i: usize| actual[i] - forecast.yhat[i];
    let mae = mean(&|i| err(i).abs());
    let rmse = mean(&|i| err(i).powi(2)).sqrt();
    let smape = mean(&|i| {
        let denom = actual[i].abs() + forecast.yhat[i].abs();
        if denom > 0.0 {
            200.0 * err(i).abs() / denom
        } else {
            0.0
        }
    });
    let inside = |lo: &[f64], hi: &[f64]| {
        mean(&|i| f64::from(u8::from(actual[i] >= lo[i] && actual[i] <= hi[i])))
    };
    Some(Scores {
        mae,
        rmse,
        smape,
        mase: if scale > 0.0 { mae / scale } else { f64::NAN },
        coverage80: inside(&forecast.lo80, &forecast.hi80),
        coverage95: inside(&forecast.lo95, &forecast.hi95),
    })
}

/// The MASE scale: the mean absolute difference between values `lag` steps apart
/// (`np.mean(np.abs(train[s0:] - train[:-s0]))`); NaN when the window is not longer than `lag`.
pub fn mase_scale(train: &[f64], lag: usize) -> f64 {
    if lag == 0 || train.len() <= lag {
        return f64::NAN;
    }
    let diffs = train[lag..].iter().zip(train).map(|(a, b)| (a - b).abs());
    diffs.sum::<f64>() / (train.len() - lag) as f64
}

/// The mean of the non-NaN values (`np.nanmean`); NaN when there are none.
pub fn nan_mean(values: impl IntoIterator<Item = f64>) -> f64 {
    let (sum, count) = values
        .into_iter()
        .filter(|v| !v.is_nan())
        .fold((0.0, 0usize), |(s, c), v| (s + v, c + 1));
    if count == 0 {
        f64::NAN
    } else {
        sum / count as f64
    }
}

/// One model's accuracy over the rolling origins (a row of the report's `accuracy` list).
/// NaN figures (e.g. MASE on a constant trace) are written as `null`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AccuracyRow {
    pub model: String,
    pub horizon_steps: usize,
    /// Origins scored (those with a successful fit and at least one actual).
    pub origins: usize,
    pub mase: f64,
    pub mae: f64,
    pub rmse: f64,
    pub smape: f64,
    pub coverage80: f64,
    pub coverage95: f64,
    pub fit_predict_seconds: f64,
    /// Origins where the model could not fit or predict.
    pub failures: usize,
    /// The first failure's message.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// Scores `spec` at the grid indices `origins` of `series` (the dataset on its grid; `samples`
/// are the same observations as written).
pub fn evaluate(
    series: &Series,
    samples: &[Sample],
    setup: &Setup,
    spec: &ModelSpec,
    origins: &[usize],
) -> AccuracyRow {
    let (h, win) = (setup.horizon_steps, setup.train_window_steps);
    let lag = setup.shortest_season();
    let mut rows = Vec::new();
    let mut seconds = Vec::new();
    let mut failures = 0;
    let mut error = None;
    for &i in origins {
        let origin = series.timestamp(i);
        let forecast =
            match forecast_from(samples, series.step(), spec, origin, setup.train_window, h) {
                Ok(forecast) => forecast,
                Err(e) => {
                    failures += 1;
                    error.get_or_insert_with(|| format!("{}: {e}", fmt_time(origin)));
                    continue;
                }
            };
        seconds.push(forecast.seconds);
        let window = series.slice(i.saturating_sub(win)..i).interpolated();
        let actual = &series.values()[i..(i + h).min(series.len())];
        if let Some(scores) = score(actual, &forecast, mase_scale(&window, lag)) {
            rows.push(scores);
        }
    }
    let mean = |f: fn(&Scores) -> f64| nan_mean(rows.iter().map(f));
    AccuracyRow {
        model: spec.name().to_string(),
        horizon_steps: h,
        origins: rows.len(),
        mase: mean(|s| s.mase),
        mae: mean(|s| s.mae),
        rmse: mean(|s| s.rmse),
        smape: mean(|s| s.smape),
        coverage80: mean(|s| s.coverage80),
        coverage95: mean(|s| s.coverage95),
        fit_predict_seconds: if seconds.is_empty() {
            f64::NAN
        } else {
            seconds.iter().sum::<f64>() / seconds.len() as f64
        },
        failures,
        error,
    }
}

fn fmt_time(t: Timestamp) -> String {
    crate::series::format_timestamp(t)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fc(yhat: &[f64], lo: &[f64], hi: &[f64]) -> OriginForecast {
        OriginForecast {
            origin: 0,
            step: 60,
            yhat: yhat.to_vec(),
            lo80: lo.to_vec(),
            hi80: hi.to_vec(),
            lo95: lo.iter().map(|v| v - 10.0).collect(),
            hi95: hi.iter().map(|v| v + 10.0).collect(),
            seconds: 0.0,
            model: "test".into(),
        }
    }

    #[test]
    fn metrics_on_a_tiny_forecast() {
        // actual 10, 20, 30; forecast 12, 20, 26: errors -2, 0, 4.
        let f = fc(&[12.0, 20.0, 26.0], &[9.0, 21.0, 25.0], &[11.0, 25.0, 29.0]);
        let s = score(&[10.0, 20.0, 30.0], &f, 3.0).unwrap();
        assert!((s.mae - 2.0).abs() < 1e-12);
        // RMSE = sqrt((4 + 0 + 16) / 3)
        assert!((s.rmse - (20.0f64 / 3.0).sqrt()).abs() < 1e-12);
        // sMAPE = mean(200·2/22, 0, 200·4/56) %
        let smape = (400.0 / 22.0 + 800.0 / 56.0) / 3.0;
        assert!((s.smape - smape).abs() < 1e-12);
        assert!((s.mase - 2.0 / 3.0).abs() < 1e-12);
        // 80 %: 10 in [9, 11] yes, 20 in [21, 25] no, 30 in [25, 29] no → 1/3;
        // 95 % (±10 wider): all three inside.
        assert!((s.coverage80 - 1.0 / 3.0).abs() < 1e-12);
        assert_eq!(s.coverage95, 1.0);
    }

    #[test]
    fn missing_actuals_are_skipped_and_zeros_are_not_errors() {
        let f = fc(&[0.0, 5.0], &[0.0, 0.0], &[1.0, 9.0]);
        let s = score(&[0.0, f64::NAN], &f, 0.0).unwrap();
        assert_eq!((s.mae, s.smape), (0.0, 0.0));
        assert!(
            s.mase.is_nan(),
            "a zero scale gives NaN MASE, as in peers.py"
        );
        assert!(score(&[f64::NAN, f64::NAN], &f, 1.0).is_none());
    }

    #[test]
    fn scale_and_nan_mean() {
        // |3-1| + |4-2| + |8-3| over 3 = 3.
        assert_eq!(mase_scale(&[1.0, 2.0, 3.0, 4.0, 8.0], 2), 3.0);
        assert!(mase_scale(&[1.0, 2.0], 2).is_nan());
        assert_eq!(nan_mean([1.0, f64::NAN, 3.0]), 2.0);
        assert!(nan_mean([f64::NAN]).is_nan());
    }

    #[test]
    fn a_forecast_starts_at_its_origin_even_after_trailing_gaps() {
        // 10 days of a 1-day cycle at 1 h, the 3 steps before the origin missing.
        let step = 3600;
        let samples: Vec<Sample> = (0..240)
            .filter(|i| !(237..240).contains(i))
            .map(|i| Sample::new(i * step, (i % 24) as f64).unwrap())
            .collect();
        let spec = ModelSpec::from_name("seasonal-naive", vec!["1d".parse().unwrap()]).unwrap();
        let origin = 240 * step;
        let f = forecast_from(&samples, step, &spec, origin, "7d".parse().unwrap(), 5).unwrap();
        assert_eq!(f.origin, origin);
        assert_eq!(f.yhat, vec![0.0, 1.0, 2.0, 3.0, 4.0]);
        assert_eq!(f.lo80.len(), 5);
    }
}
