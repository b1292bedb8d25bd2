//! Linear regression on a trend and Fourier terms per season, fitted with linfa-linear.
//!
//! `y(t) = a + b·trend(t) + Σ_seasons Σ_k (s_k sin(2πk·t/P) + c_k cos(2πk·t/P)) + correction`
//!
//! - **Fourier terms** from absolute time (`t mod P`), so the fitted model can be evaluated at
//!   any timestamp ([`FittedLinearSeasonal::value_at`]). Defaults: 10 harmonics for seasons up to
//!   a day, 5 for longer ones; harmonics are capped below the Nyquist limit of the step
//!   (`2k·step < P`), a frequency already present for another season is not added twice (it
//!   would make the design singular), and only seasons shorter than the observed training span
//!   are used.
//! - **Trend**: one linear term over the training window. A linear trend extrapolated far is the
//!   classic way such models blow up, so it is frozen a quarter of the training span after the
//!   last observation; and when every training value is ≥ 0 (traffic), forecasts and bands are
//!   clamped at 0.
//! - **Gaps** are rows left out of the fit, never zeros.
//! - **Residual correction**: traffic wanders around its seasonal shape for hours (a busy day),
//!   so the last residual is carried forward decaying as `φ^h`, with φ the lag-1
//!   autocorrelation of the residuals (clamped to [0, 0.99]). It only affects the first steps
//!   after the origin; far ahead the forecast is the regression alone.
//!
//! The fit solves least squares by linfa-linear's QR (no BLAS) on a column-major design matrix
//! built once, with columns scaled to O(1) and the target standardized; a tiny ridge (appended
//! as extra rows) keeps it solvable when gaps leave a column nearly empty.
//!
//! Intervals: the error of an `h`-step forecast from origin `o` is
//! `r[o+h] − φ^(h+1)·r[o−1]` (r = residuals), measured over every origin in the training data at
//! horizons 0, 1, 2, 4, … until the correction has died out, inflated by `√(n/(n−p))` for the
//! parameters fitted.

use linfa::Dataset;
use linfa::traits::Fit as _;
use linfa_linear::LinearRegression;
use ndarray::{Array1, Array2, ShapeBuilder, s};
use serde::{Deserialize, Serialize};

use super::history::{History, TrainingInfo};
use super::intervals::{self, ErrorQuantiles};
use super::{Fit, Forecast, ForecastError, Predict, check_request, check_seasons, json_exact};
use crate::series::{Series, Span};

/// Parameters of the linear trend + Fourier model.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LinearSeasonalSpec {
    /// The seasons to model (e.g. `1d`, `7d`).
    pub seasons: Vec<Span>,
    /// Harmonics per season, in the order of `seasons`; default 10 for seasons up to a day and
    /// 5 for longer ones.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub harmonics: Option<Vec<usize>>,
}

/// The most harmonics a season may ask for.
pub const MAX_HARMONICS: usize = 50;
const DAY: i64 = 86_400;
/// The trend is frozen this fraction of the training span after the last observation.
const TREND_REACH: f64 = 0.25;
/// The residual correction's decay factor is clamped to at most this.
const MAX_PHI: f64 = 0.99;
/// Error anchors stop once the correction has decayed below this fraction.
const PHI_NEGLIGIBLE: f64 = 0.01;
const MAX_ANCHOR: usize = 4096;
/// Ridge penalty relative to the number of rows (columns are O(1), so `X'X` is O(rows)).
const RIDGE: f64 = 1e-8;

impl LinearSeasonalSpec {
    pub fn new(seasons: Vec<Span>) -> LinearSeasonalSpec {
        LinearSeasonalSpec {
            seasons,
            harmonics: None,
        }
    }

    /// Validates the parameters (see [`super::ModelSpec::check`]).
    pub fn check(&self) -> Result<(), ForecastError> {
        check_seasons(&self.seasons)?;
        if let Some(harmonics) = &self.harmonics {
            if harmonics.len() != self.seasons.len() {
                return Err(ForecastError::InvalidSpec(format!(
                    "{} harmonics given for {} seasons: give one per season",
                    harmonics.len(),
                    self.seasons.len()
                )));
            }
            if let Some(bad) = harmonics.iter().find(|k| **k == 0 || **k > MAX_HARMONICS) {
                return Err(ForecastError::InvalidSpec(format!(
                    "{bad} harmonics: must be between 1 and {MAX_HARMONICS}"
                )));
            }
        }
        Ok(())
    }

    fn harmonics_for(&self, i: usize, season: Span) -> usize {
        match &self.harmonics {
            Some(harmonics) => harmonics.get(i).copied().unwrap_or(1),
            None if season.seconds() <= DAY => 10,
            None => 5,
        }
    }
}

/// One sine/cosine pair: harmonic `k` of a `period`-second season.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FourierTerm {
    pub period: i64,
    pub k: u32,
    pub sin: f64,
    pub cos: f64,
}

/// The linear trend: `slope · (min(t, until) − center) / scale`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Trend {
    pub center: i64,
    pub scale: f64,
    pub slope: f64,
    /// The trend is frozen after this timestamp.
    pub until: i64,
}

impl Trend {
    fn x(center: i64, scale: f64, until: i64, t: i64) -> f64 {
        (t.min(until) as i128 - center as i128) as f64 / scale
    }
}

/// The residual correction: `last · φ^d`, d = steps since the last observation at `at`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Correction {
    pub phi: f64,
    pub last: f64,
    pub at: i64,
}

/// A season as used by a fit: its length and how many harmonics made it into the design.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SeasonUsed {
    pub season: Span,
    pub harmonics: usize,
}

/// A fitted linear trend + Fourier model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FittedLinearSeasonal {
    intercept: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    trend: Option<Trend>,
    terms: Vec<FourierTerm>,
    seasons: Vec<SeasonUsed>,
    correction: Correction,
    errors: ErrorQuantiles,
    training: TrainingInfo,
}

/// Which columns the design has.
struct Design {
    /// `(center, scale, until)` when the trend is included.
    trend: Option<(i64, f64, i64)>,
    /// `(period, k)`, sorted by period then k.
    terms: Vec<(i64, u32)>,
    seasons: Vec<SeasonUsed>,
}

impl Design {
    fn columns(&self) -> usize {
        1 + usize::from(self.trend.is_some()) + 2 * self.terms.len()
    }
}

impl Fit for LinearSeasonalSpec {
    type Fitted = FittedLinearSeasonal;

    fn fit(&self, series: &Series) -> Result<FittedLinearSeasonal, ForecastError> {
        self.check()?;
        fit_history(self, &History::new(series)?, true)
    }
}

/// Chooses the columns for `history`, with a note for each simplification.
fn choose_design(spec: &LinearSeasonalSpec, history: &History) -> (Design, Vec<String>) {
    let mut notes = Vec::new();
    let step = history.step;
    let last = history
        .values
        .iter()
        .rposition(|v| !v.is_nan())
        .unwrap_or(0);
    let t_last = history.time(last);
    let span = t_last - history.start + step;

    let mut seasons: Vec<(usize, Span)> = spec.seasons.iter().copied().enumerate().collect();
    seasons.sort_unstable_by_key(|(_, season)| *season);
    let mut terms: Vec<(i64, u32)> = Vec::new();
    let mut used = Vec::new();
    for (i, season) in seasons {
        let period = season.seconds();
        if period >= span {
            notes.push(format!(
                "season {season} is not shorter than the observed span ({}s): left out",
                span
            ));
            continue;
        }
        let wanted = spec.harmonics_for(i, season);
        // Largest k with 2·k·step < period (strictly below the Nyquist frequency).
        let nyquist = usize::try_from((period - 1) / step.saturating_mul(2)).unwrap_or(0);
        if nyquist == 0 {
            notes.push(format!(
                "season {season} is shorter than two steps of {step}s: left out"
            ));
            continue;
        }
        if wanted > nyquist {
            notes.push(format!(
                "season {season}: {wanted} harmonics capped to {nyquist} (Nyquist limit of {step}s steps)"
            ));
        }
        let mut count = 0;
        for k in 1..=wanted.min(nyquist) as u32 {
            // The same frequency from another season would duplicate a column.
            let duplicate = terms
                .iter()
                .any(|&(p, j)| k as i128 * p as i128 == j as i128 * period as i128);
            if !duplicate {
                terms.push((period, k));
                count += 1;
            }
        }
        used.push(SeasonUsed {
            season,
            harmonics: count,
        });
    }
    terms.sort_unstable();

    // At least two observations per parameter: drop the longest seasons' highest harmonics
    // first (they are what a short history supports least).
    let observed = history.observed;
    let before = terms.len();
    while !terms.is_empty() && observed < 2 * (2 + 2 * terms.len()) {
        if let Some((period, _)) = terms.pop()
            && let Some(season) = used.iter_mut().find(|s| s.season.seconds() == period)
        {
            season.harmonics -= 1;
        }
    }
    if terms.len() < before {
        notes.push(format!(
            "{observed} observed steps support only {} of {before} Fourier terms",
            terms.len()
        ));
    }
    used.retain(|s| s.harmonics > 0);

    let trend = if observed >= 4 && t_last > history.start {
        let center = history.start + (t_last - history.start) / 2;
        let scale = (t_last - history.start) as f64;
        let reach = (scale * TREND_REACH) as i64;
        Some((center, scale, t_last.saturating_add(reach)))
    } else {
        notes.push(format!(
            "{observed} observed step(s) are too few for a trend: fitting the level only"
        ));
        None
    };
    (
        Design {
            trend,
            terms,
            seasons: used,
        },
        notes,
    )
}

/// Fits on prepared history; `with_intervals = false` skips the error quantiles (for `auto`'s
/// holdout candidates, which only need point forecasts).
pub(crate) fn fit_history(
    spec: &LinearSeasonalSpec,
    history: &History,
    with_intervals: bool,
) -> Result<FittedLinearSeasonal, ForecastError> {
    if history.observed < 2 {
        return Err(ForecastError::TooShort {
            needed: 2,
            have: history.observed,
        });
    }
    let (design, notes) = choose_design(spec, history);
    let p = design.columns();

    // Observed rows only; the target standardized so that the ridge and the solver see O(1)
    // numbers whatever the traffic's scale.
    let rows: Vec<usize> = (0..history.len())
        .filter(|&i| !history.values[i].is_nan())
        .collect();
    let n_obs = rows.len();
    let mean = rows.iter().map(|&i| history.values[i]).sum::<f64>() / n_obs as f64;
    let var = rows
        .iter()
        .map(|&i| (history.values[i] - mean).powi(2))
        .sum::<f64>()
        / n_obs as f64;
    let sd = if var.sqrt().is_finite() && var.sqrt() > 0.0 {
        var.sqrt()
    } else {
        1.0
    };
    if !mean.is_finite() {
        return Err(ForecastError::Fit(
            "values too large: their mean overflows".to_string(),
        ));
    }

    let times: Vec<i64> = rows.iter().map(|&i| history.time(i)).collect();
    let x = design_matrix(&design, &times, p);
    let mut y = Array1::<f64>::zeros(n_obs + p);
    for (r, &i) in rows.iter().enumerate() {
        y[r] = (history.values[i] - mean) / sd;
    }
    let dataset = Dataset::new(x, y);
    let fitted = LinearRegression::new()
        .with_intercept(false)
        .fit(&dataset)
        .map_err(|e| ForecastError::Fit(e.to_string()))?;
    let beta = fitted.params();
    if beta.len() != p || !beta.iter().all(|b| b.is_finite()) {
        return Err(ForecastError::Fit(
            "least squares gave non-finite coefficients".to_string(),
        ));
    }

    // Residuals on the grid (NaN at gaps), in the series' units.
    let fitted_values = dataset.records().slice(s![..n_obs, ..]).dot(beta);
    let mut residuals = vec![f64::NAN; history.len()];
    for (r, &i) in rows.iter().enumerate() {
        residuals[i] = (dataset.targets()[r] - fitted_values[r]) * sd;
    }

    let mut column = 1;
    let intercept = beta[0] * sd + mean;
    let trend = design.trend.map(|(center, scale, until)| {
        column += 1;
        Trend {
            center,
            scale,
            slope: beta[1] * sd,
            until,
        }
    });
    let terms = design
        .terms
        .iter()
        .enumerate()
        .map(|(j, &(period, k))| FourierTerm {
            period,
            k,
            sin: beta[column + 2 * j] * sd,
            cos: beta[column + 2 * j + 1] * sd,
        })
        .collect();

    let phi = lag_one_autocorrelation(&residuals);
    let last = rows.last().copied().unwrap_or(0);
    let correction = Correction {
        phi,
        last: residuals[last],
        at: history.time(last),
    };
    let errors = if with_intervals {
        let mut errors = error_quantiles(&residuals, phi);
        if n_obs > p {
            errors.scale((n_obs as f64 / (n_obs - p) as f64).sqrt());
        }
        errors
    } else {
        ErrorQuantiles::zero()
    };
    let mut model = FittedLinearSeasonal {
        intercept,
        trend,
        terms,
        seasons: design.seasons,
        correction,
        errors,
        training: history.info(notes),
    };
    model.round_for_json();
    if !model.is_finite() {
        return Err(ForecastError::Fit(
            "values too large: the fit overflowed".to_string(),
        ));
    }
    Ok(model)
}

/// The design matrix, column-major (linfa-linalg's Householder QR works down columns), with
/// `p` ridge rows `√(λ)·I` appended. Sines and cosines of harmonic k come from the base angle
/// by the angle-addition recurrence: one `sin_cos` per row and season, not per column.
fn design_matrix(design: &Design, times: &[i64], p: usize) -> Array2<f64> {
    let n_obs = times.len();
    let nrows = n_obs + p;
    let mut buf = vec![0.0; nrows * p];
    let col = |c: usize| c * nrows;
    buf[col(0)..col(0) + n_obs].fill(1.0);
    let mut next = 1;
    if let Some((center, scale, until)) = design.trend {
        let base = col(next);
        for (r, &t) in times.iter().enumerate() {
            buf[base + r] = Trend::x(center, scale, until, t);
        }
        next += 1;
    }
    let mut j = 0;
    while j < design.terms.len() {
        let period = design.terms[j].0;
        let group_end = j + design.terms[j..]
            .iter()
            .take_while(|(p, _)| *p == period)
            .count();
        let group = &design.terms[j..group_end];
        let k_max = group.last().map_or(0, |(_, k)| *k);
        for (r, &t) in times.iter().enumerate() {
            let (s1, c1) = angle(t, period).sin_cos();
            let (mut sk, mut ck) = (s1, c1);
            let mut g = 0;
            for k in 1..=k_max {
                if g < group.len() && group[g].1 == k {
                    let c = next + 2 * (j + g);
                    buf[col(c) + r] = sk;
                    buf[col(c + 1) + r] = ck;
                    g += 1;
                }
                (sk, ck) = (sk * c1 + ck * s1, ck * c1 - sk * s1);
            }
        }
        j = group_end;
    }
    let ridge = (RIDGE * n_obs as f64).sqrt();
    for c in 0..p {
        buf[col(c) + n_obs + c] = ridge;
    }
    // The shape matches the buffer by construction.
    Array2::from_shape_vec((nrows, p).f(), buf).unwrap_or_else(|_| Array2::zeros((nrows, p)))
}

/// The phase angle of `t` in a `period`-second season, from absolute time.
fn angle(t: i64, period: i64) -> f64 {
    std::f64::consts::TAU * t.rem_euclid(period) as f64 / period as f64
}

/// The lag-1 autocorrelation of residuals over consecutive observed pairs, in [0, MAX_PHI].
fn lag_one_autocorrelation(residuals: &[f64]) -> f64 {
    let (mut num, mut den) = (0.0, 0.0);
    for w in residuals.windows(2) {
        if !w[0].is_nan() && !w[1].is_nan() {
            num += w[0] * w[1];
            den += w[0] * w[0];
        }
    }
    if den > 0.0 && (num / den).is_finite() {
        (num / den).clamp(0.0, MAX_PHI)
    } else {
        0.0
    }
}

/// Errors of h-step forecasts from every origin with an observed residual just before it.
fn error_quantiles(residuals: &[f64], phi: f64) -> ErrorQuantiles {
    let n = residuals.len();
    let mut anchors = Vec::new();
    let mut h = 0;
    loop {
        let decay = phi.powf(h as f64 + 1.0);
        let errors: Vec<f64> = (1..n.saturating_sub(h))
            .map(|o| residuals[o + h] - decay * residuals[o - 1])
            .filter(|e| !e.is_nan())
            .collect();
        anchors.push((h, errors));
        if decay < PHI_NEGLIGIBLE || h >= MAX_ANCHOR || h >= n / 2 {
            break;
        }
        h = if h == 0 { 1 } else { h * 2 };
    }
    ErrorQuantiles::from_errors(anchors, |_, _| 1.0)
}

impl FittedLinearSeasonal {
    /// The regression part (level, trend, seasons) at any timestamp: no residual correction,
    /// no clamping.
    pub fn value_at(&self, t: i64) -> f64 {
        let mut value = self.intercept;
        if let Some(trend) = &self.trend {
            value += trend.slope * Trend::x(trend.center, trend.scale, trend.until, t);
        }
        for term in &self.terms {
            if term.period > 0 {
                let (s, c) = (angle(t, term.period) * term.k as f64).sin_cos();
                value += term.sin * s + term.cos * c;
            }
        }
        value
    }

    /// The seasons in the design and their harmonics.
    pub fn seasons(&self) -> &[SeasonUsed] {
        &self.seasons
    }

    pub fn training(&self) -> &TrainingInfo {
        &self.training
    }

    /// The residual correction at `t`, given the last observed residual `last` at `at`.
    fn correction_at(&self, last: f64, at: i64, t: i64) -> f64 {
        let steps = ((t as i128 - at as i128) / self.training.step.max(1) as i128).max(1);
        last * self.correction.phi.powf(steps as f64)
    }

    /// Point forecasts of steps `origin..(origin + len).min(history.len())` from each origin
    /// (indices into `history`, all ≥ the training length): the coefficients stay those of this
    /// fit, the residual correction restarts from the last observation before each origin.
    pub(crate) fn holdout_forecasts(
        &self,
        history: &History,
        origins: &[usize],
        len: usize,
    ) -> Vec<Vec<f64>> {
        let split = self.training.points.min(history.len());
        let base: Vec<f64> = (split..history.len())
            .map(|i| self.value_at(history.time(i)))
            .collect();
        origins
            .iter()
            .map(|&origin| {
                let origin = origin.clamp(split, history.len());
                let (last, at) = (split..origin)
                    .rev()
                    .find(|&i| !history.values[i].is_nan())
                    .map_or((self.correction.last, self.correction.at), |i| {
                        (history.values[i] - base[i - split], history.time(i))
                    });
                (origin..origin.saturating_add(len).min(history.len()))
                    .map(|i| base[i - split] + self.correction_at(last, at, history.time(i)))
                    .collect()
            })
            .collect()
    }

    /// Rounds every stored number so that a saved model predicts exactly like this one.
    fn round_for_json(&mut self) {
        self.intercept = json_exact(self.intercept);
        if let Some(trend) = &mut self.trend {
            trend.slope = json_exact(trend.slope);
            trend.scale = json_exact(trend.scale);
        }
        for term in &mut self.terms {
            term.sin = json_exact(term.sin);
            term.cos = json_exact(term.cos);
        }
        self.correction.phi = json_exact(self.correction.phi);
        self.correction.last = json_exact(self.correction.last);
        self.errors.round_for_json();
    }

    fn is_finite(&self) -> bool {
        self.intercept.is_finite()
            && self
                .trend
                .as_ref()
                .is_none_or(|t| t.slope.is_finite() && t.scale.is_finite() && t.scale > 0.0)
            && self
                .terms
                .iter()
                .all(|t| t.sin.is_finite() && t.cos.is_finite())
            && self.correction.phi.is_finite()
            && self.correction.last.is_finite()
            && self.errors.is_finite()
    }

    fn validate(&self) -> Result<(), ForecastError> {
        self.training.validate()?;
        self.errors.validate()?;
        if !self.is_finite() || !(0.0..=1.0).contains(&self.correction.phi) {
            return Err(ForecastError::Fit(
                "corrupt model: non-finite or out-of-range coefficient".to_string(),
            ));
        }
        Ok(())
    }
}

impl Predict for FittedLinearSeasonal {
    fn predict(&self, horizon: usize, levels: &[f64]) -> Result<Forecast, ForecastError> {
        check_request(horizon, levels)?;
        self.validate()?;
        let Some(_) = self.training.forecast_time(horizon) else {
            return Err(ForecastError::InvalidSpec(format!(
                "horizon {horizon}: forecast timestamps overflow"
            )));
        };
        let step = self.training.step;
        let origin = self.training.origin;
        let Correction { last, at, .. } = self.correction;
        let mut yhat: Vec<f64> = (0..horizon)
            .map(|h| {
                let t = origin + h as i64 * step;
                self.value_at(t) + self.correction_at(last, at, t)
            })
            .collect();
        // Steps between the last observation and the origin (trailing gaps) count as horizon.
        let offset = usize::try_from((origin as i128 - at as i128) / step as i128 - 1).unwrap_or(0);
        let bands = intervals::bands(
            &mut yhat,
            levels,
            &self.errors,
            |h| h.saturating_add(offset),
            self.training.nonnegative,
        );
        Ok(Forecast {
            start: origin,
            step,
            yhat,
            bands,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::forecast::test_support::Lcg;

    fn span(text: &str) -> Span {
        text.parse().unwrap()
    }

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
        let notes = &model.training().fallbacks;
        assert!(notes.iter().any(|n| n.contains("Nyquist")));
        assert!(notes.iter().any(|n| n.contains("1d")));
    }

    #[test]
    fn duplicate_frequencies_are_added_once() {
        let values: Vec<f64> = (0..24 * 30).map(|i| ((i % 24) as f64).sin()).collect();
        let series = Series::new(0, 3600, values).unwrap();
        let spec = LinearSeasonalSpec {
            seasons: vec![span("1d"), span("2d")],
            harmonics: Some(vec![10, 10]),
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
        assert!((forecast.yhat[99] - model.value_at(forecast.timestamp(99))).abs() < 0.1);
        let phi = model.correction.phi;
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
}
