//! A Holt-Winters fit from start to end: the season, the candidate forms fitted and compared
//! by AIC, the final pass and the in-sample error quantiles.

use super::optimize::{Candidate, Form, fit_form};
use super::recursion::{Trace, damped, initial, run};
use super::{
    FittedHoltWinters, HoltWintersSpec, MIN_FOR_TREND, MIN_OBSERVED, Seasonality,
    SeasonalityChoice, Trend, TrendChoice,
};
use crate::forecast::ForecastError;
use crate::forecast::history::History;
use crate::forecast::intervals::ErrorQuantiles;

/// The largest anchor horizon of the in-sample errors.
const MAX_ANCHOR: usize = 4096;
/// The initial state is estimated from at most this many whole cycles (as statsmodels'
/// `heuristic`).
const INIT_CYCLES: usize = 5;
/// Forecast errors measured per anchor horizon, at most (origins are spread evenly).
const MAX_ORIGINS: usize = 5000;

/// Fits on prepared history; `with_intervals = false` skips the error quantiles (for model
/// selection, which only needs point forecasts).
pub(crate) fn fit_history(
    spec: &HoltWintersSpec,
    history: &History,
    with_intervals: bool,
) -> Result<FittedHoltWinters, ForecastError> {
    fit_from(spec, history, with_intervals, None)
}

/// [`fit_history`], starting from `previous` (a fit of the same spec on an earlier window)
/// when it can: its form only, its parameters the optimiser's start. A quarter of the
/// evaluations or fewer (one form, one simplex run from a near point, instead of up to four
/// forms and a restart); the state is estimated afresh.
pub(crate) fn fit_from(
    spec: &HoltWintersSpec,
    history: &History,
    with_intervals: bool,
    previous: Option<&FittedHoltWinters>,
) -> Result<FittedHoltWinters, ForecastError> {
    if history.observed < MIN_OBSERVED {
        return Err(ForecastError::TooShort {
            needed: MIN_OBSERVED,
            have: history.observed,
        });
    }
    let (chosen, mut notes) = spec.choose_season(history);
    let m = chosen.map_or(0, |(_, m)| m);
    let n = history.len();

    // Scale by the largest magnitude: the optimiser sees O(1) numbers.
    let scale = history
        .values
        .iter()
        .filter(|v| !v.is_nan())
        .fold(0.0f64, |acc, v| acc.max(v.abs()));
    let scale = if scale.is_finite() && scale > 0.0 {
        scale
    } else {
        1.0
    };
    let y: Vec<f64> = history.values.iter().map(|v| v / scale).collect();
    let head_len = if m > 0 {
        m * (n / m).min(INIT_CYCLES)
    } else {
        n.min(10)
    };
    let head = history.interpolated_tail(head_len, head_len);
    let head: Vec<f64> = head.iter().map(|v| v / scale).collect();

    let first = y.iter().copied().find(|v| !v.is_nan()).unwrap_or(0.0);
    let constant = y.iter().all(|v| v.is_nan() || *v == first);
    let positive = y.iter().all(|v| v.is_nan() || *v > 0.0);

    let seasonalities: Vec<Seasonality> = if m == 0 {
        vec![Seasonality::None]
    } else {
        match spec.seasonality {
            SeasonalityChoice::Additive => vec![Seasonality::Additive],
            SeasonalityChoice::Multiplicative if positive => vec![Seasonality::Multiplicative],
            SeasonalityChoice::Multiplicative => {
                notes.push(
                    "multiplicative seasonality needs strictly positive values: additive used"
                        .to_string(),
                );
                vec![Seasonality::Additive]
            }
            SeasonalityChoice::Auto if positive && !constant => {
                vec![Seasonality::Additive, Seasonality::Multiplicative]
            }
            SeasonalityChoice::Auto => vec![Seasonality::Additive],
        }
    };
    let trends: Vec<Trend> = if m == 0 && history.observed < MIN_FOR_TREND || constant {
        vec![Trend::None]
    } else {
        match spec.trend {
            // The richer form first: the simpler one starts from its parameters.
            TrendChoice::Auto => vec![Trend::Damped, Trend::None],
            TrendChoice::None => vec![Trend::None],
            TrendChoice::Additive => vec![Trend::Additive],
            TrendChoice::Damped => vec![Trend::Damped],
        }
    };

    // A previous fit's form, where it is still one of the candidates (same season).
    let previous = previous.filter(|p| {
        p.season == chosen.map(|(season, _)| season)
            && seasonalities.contains(&p.seasonality)
            && trends.contains(&p.trend)
    });
    let (seasonalities, trends) = match previous {
        Some(p) => (vec![p.seasonality], vec![p.trend]),
        None => (seasonalities, trends),
    };
    let mut ring = vec![0.0; m];
    let mut best: Option<Candidate> = None;
    for &seasonality in &seasonalities {
        let Some(init) = initial(&head, m, seasonality == Seasonality::Multiplicative) else {
            notes.push(
                "multiplicative seasonality: the first two cycles give no positive season"
                    .to_string(),
            );
            continue;
        };
        for &trend in &trends {
            let form = Form { seasonality, trend };
            let candidate = if constant {
                // Nothing to smooth: any parameters give zero error.
                let params = form.params(&form.unsquash(0.5, 0.1, 0.1, 0.9));
                Candidate {
                    form,
                    params,
                    init: init.clone(),
                    sse: 0.0,
                    aic: 0.0,
                }
            } else {
                let warm = best
                    .as_ref()
                    .filter(|b| b.sse.is_finite())
                    .map(|b| b.params)
                    .or(previous.map(|p| p.params));
                fit_form(&y, history.observed, form, init.clone(), &mut ring, warm)
            };
            if best.as_ref().is_none_or(|b| candidate.aic < b.aic) {
                best = Some(candidate);
            }
        }
    }
    if constant {
        notes.push("constant series: nothing to smooth, forecasting the constant".to_string());
    }
    let Some(best) = best.filter(|b| b.sse.is_finite()) else {
        return Err(ForecastError::Fit(
            "no Holt-Winters form gave a finite in-sample error".to_string(),
        ));
    };

    // The final pass, recording the state for the intervals.
    let mult = best.form.seasonality == Seasonality::Multiplicative;
    let mut trace = Trace {
        level: vec![0.0; n],
        slope: vec![0.0; n],
        season: vec![0.0; if m > 0 { n } else { 0 }],
    };
    let pass = if mult {
        run::<true, true>(&y, &best.params, &best.init, &mut ring, &mut trace)
    } else {
        run::<false, true>(&y, &best.params, &best.init, &mut ring, &mut trace)
    };
    if !pass.sse.is_finite() {
        return Err(ForecastError::Fit(
            "the fitted Holt-Winters recursion diverged".to_string(),
        ));
    }
    let trailing_gaps = history.trailing_gaps();
    // The smoothing parameters fitted (the initial states are not fitted but estimated).
    let p = best.form.dims();
    let errors = if with_intervals {
        let mut errors = error_quantiles(&y, &best, &trace, m);
        let n_obs = history.observed;
        if n_obs > p {
            errors.scale((n_obs as f64 / (n_obs - p) as f64).sqrt());
        }
        // Back from scaled units (errors are differences of values for both seasonalities).
        errors.scale(scale);
        errors
    } else {
        ErrorQuantiles::zero()
    };

    // The season rotated so that `[0]` is the phase of the first forecast step.
    let seasonal: Vec<f64> = (0..m)
        .map(|h| {
            let v = ring[(n + h) % m];
            if mult { v } else { v * scale }
        })
        .collect();
    let mut model = FittedHoltWinters {
        season: chosen.map(|(season, _)| season),
        seasonality: best.form.seasonality,
        trend: best.form.trend,
        params: best.params,
        level: pass.level * scale,
        slope: pass.slope * scale,
        seasonal,
        trailing_gaps,
        rmse: (best.sse / history.observed as f64).sqrt() * scale,
        errors,
        training: history.info(notes),
    };
    model.round_for_json();
    if !model.is_finite() || !model.bounded() {
        return Err(ForecastError::Fit(
            "values too large: the Holt-Winters state overflows".to_string(),
        ));
    }
    Ok(model)
}

/// Errors of the `h`-step forecasts from every origin after the first two cycles, at anchor
/// horizons 0, 1, 2, 4, …, in scaled units.
fn error_quantiles(y: &[f64], best: &Candidate, trace: &Trace, m: usize) -> ErrorQuantiles {
    let n = y.len();
    let warmup = (2 * m).min(n / 2).max(1);
    let max_anchor = (2 * m).clamp(64, MAX_ANCHOR).min(n / 2);
    let mult = best.form.seasonality == Seasonality::Multiplicative;
    let phi = best.params.phi;
    // At most about this many origins per anchor: plenty for the 0.5 % quantiles.
    let stride = (n.saturating_sub(warmup) / MAX_ORIGINS).max(1);
    let mut anchors = Vec::new();
    let mut h = 0usize;
    let mut damping = damped(phi);
    let (mut damp, mut counted) = (0.0, 0usize);
    loop {
        // The trend multiplier of an (h + 1)-step forecast: φ + φ² + … + φ^(h+1).
        while counted <= h {
            damp = damping.next().unwrap_or(damp);
            counted += 1;
        }
        let lag = if m > 0 { m * (h / m + 1) } else { 0 };
        let mut errors = Vec::with_capacity(n.saturating_sub(warmup + h));
        for o in (warmup..n.saturating_sub(h)).step_by(stride) {
            let target = o + h;
            let actual = y[target];
            if actual.is_nan() {
                continue;
            }
            let base = trace.level[o - 1] + damp * trace.slope[o - 1];
            let s = if m == 0 {
                if mult { 1.0 } else { 0.0 }
            } else if target >= lag {
                trace.season[target - lag]
            } else {
                best.init.seasonal[target % m]
            };
            let forecast = if mult { base * s } else { base + s };
            let e = actual - forecast;
            if e.is_finite() {
                errors.push(e);
            }
        }
        anchors.push((h, errors));
        if h >= max_anchor {
            break;
        }
        h = if h == 0 { 1 } else { h * 2 };
    }
    ErrorQuantiles::from_errors(anchors, |a, b| ((b + 1) as f64 / (a + 1) as f64).sqrt())
}
