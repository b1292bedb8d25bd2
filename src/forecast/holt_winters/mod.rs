//! Holt-Winters exponential smoothing: a level, an optional (damped) trend and one additive or
//! multiplicative season, updated step by step, with the smoothing parameters fitted on the
//! training data.
//!
//! Error-correction form (Hyndman & Athanasopoulos, *Forecasting: Principles and Practice*,
//! §8.3), with `ŷ = l + φb + s` (additive) or `ŷ = (l + φb)·s` (multiplicative) and `e = y − ŷ`:
//!
//! ```text
//! additive:        l ← l + φb + α·e     b ← φb + αβ·e     s ← s + γ·e
//! multiplicative:  l ← l + φb + α·e/s   b ← φb + αβ·e/s   s ← s + γ·e/(l + φb)
//! ```
//!
//! - **Parameters** α, β, γ, φ are fitted by minimising the in-sample one-step squared error
//!   with a Nelder-Mead simplex written here, over a logistic transform of the box
//!   `α, β, γ ∈ [1e-4, 0.9999]`, `φ ∈ [0.8, 0.98]`. The textbook `γ ≤ 1 − α` is not imposed:
//!   on 30-minute traces the fit drives α to 1, and the constraint then froze the season at
//!   its initial estimate (one-step MAE on the Taylor trace 289 → 180 without it). The first form fitted starts from middling values and
//!   restarts once from its optimum with a fresh simplex; the other candidate forms start from
//!   the best parameters found so far (the richer trend is fitted first). One evaluation of the objective is one O(n) pass over the training data that allocates nothing
//!   (the season is a ring buffer of its `m` values), so a daily season at 1-minute steps
//!   (m = 1440) costs the same per step as an hourly one.
//! - **Initial state** (not fitted, as statsmodels' `heuristic`): from the first whole cycles
//!   (two to five), gaps interpolated: the trend is their centred moving average over a cycle,
//!   the season the detrended values averaged per phase over the cycles, centred (sum 0, or
//!   mean 1 when multiplicative), the level and slope the line through the trend's first ten
//!   values. (From two cycles detrended by the line through their means, the fitted forms
//!   forecast worse than statsmodels' on every short trace: docs/forecasting.md.)
//! - **Season**: the *shortest* season of the spec whose two full cycles fit in the history
//!   (`m ≥ 2` steps); the others are noted. With none, the fit falls back to Holt's linear trend
//!   (or simple exponential smoothing, below 8 observations) and says so.
//! - **Choices** (`seasonality: auto`, `trend: auto`, the defaults): multiplicative seasonality
//!   is a candidate only when every observed value is strictly positive; the trend candidates
//!   are none and damped (an undamped trend is fitted only when asked for: extrapolated for a
//!   day it is the classic way such models blow up). Every candidate is fitted and the one with
//!   the lowest AIC, `n·ln(SSE/n) + 2k`, wins (SSE of the one-step errors, k the smoothing
//!   parameters plus one initial state per component).
//! - **Gaps** (`NaN`) update the state with its own forecast (no error term): the level moves
//!   along the trend, the season slot keeps its value. They are never zeros.
//! - **Constant series** need no smoothing: the model is the constant, with zero-width intervals
//!   (noted). Fewer than 3 observations are a [`ForecastError::TooShort`]. A multiplicative
//!   candidate whose level or season leaves the positive numbers is rejected (infinite error).
//!
//! Values are scaled by their largest magnitude inside the fit, so the optimiser sees O(1)
//! numbers whatever the traffic's units, and huge inputs overflow into a clear error, not NaN.
//!
//! Intervals: one more pass with the fitted parameters records the state after every step, from
//! which the `h`-step forecast of every training origin is read in O(1) (the season slot a
//! forecast uses is the one last written `m·(⌊h/m⌋ + 1)` steps before its target, as for
//! seasonal naive). Their errors at horizons 0, 1, 2, 4, … (up to two seasons, at most 4096 and
//! half the history; at most 5000 origins per horizon, evenly spread) give the empirical
//! quantiles, skipping the first two cycles (the initialisation's own data), inflated by
//! `√(n/(n − p))` for the parameters fitted.
//!
//! # Layout
//!
//! - this module: the spec, the fitted model's types and its family interface;
//! - `fit`: a fit from start to end and the in-sample error quantiles;
//! - `optimize`: the model forms, their parameters and the Nelder-Mead fit of them;
//! - `recursion`: the smoothing recursion, its initial state and forecasts from later origins.

use serde::{Deserialize, Serialize};

use super::family::{Family, FamilySpec, fit_series};
use super::history::{History, TrainingInfo, season_length};
use super::intervals::{self, ErrorQuantiles};
use super::{FittedModel, Forecast, ForecastError, MAX_HORIZON, json_exact, json_exact_all};
use crate::series::{Series, Span};

mod fit;
mod optimize;
mod recursion;

use recursion::damped;

pub(crate) use fit::fit_history;

/// The family's name.
const NAME: &str = "holt-winters";

/// Which seasonality to fit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SeasonalityChoice {
    /// Additive, or multiplicative when the series is strictly positive and that fits better.
    #[default]
    Auto,
    Additive,
    Multiplicative,
}

/// Which trend to fit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum TrendChoice {
    /// None or damped, whichever has the lower AIC.
    #[default]
    Auto,
    None,
    Additive,
    Damped,
}

/// Parameters of Holt-Winters: the candidate seasons (the shortest one with two full cycles in
/// the history is used), the seasonality and the trend. JSON:
/// `{"model":"holt-winters","seasons":["1d"],"seasonality":"auto","trend":"damped"}`
/// (`seasonality` and `trend` optional, `auto` by default).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HoltWintersSpec {
    pub seasons: Vec<Span>,
    #[serde(default, skip_serializing_if = "is_default")]
    pub seasonality: SeasonalityChoice,
    #[serde(default, skip_serializing_if = "is_default")]
    pub trend: TrendChoice,
}

fn is_default<T: Default + PartialEq>(value: &T) -> bool {
    *value == T::default()
}

/// The seasonality of a fitted model.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Seasonality {
    /// No season was supported (Holt or simple exponential smoothing).
    None,
    Additive,
    Multiplicative,
}

/// The trend of a fitted model.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Trend {
    None,
    Additive,
    Damped,
}

/// Fitted smoothing parameters (`beta` is the slope's share of the level's gain: the slope moves
/// by `alpha·beta·e`; `phi` is 1 for an undamped trend, 0 without one).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Smoothing {
    pub alpha: f64,
    pub beta: f64,
    pub gamma: f64,
    pub phi: f64,
}

/// Below this many observations and without a season, no trend is fitted.
const MIN_FOR_TREND: usize = 8;
/// At least this many observations are needed at all.
const MIN_OBSERVED: usize = 3;

impl HoltWintersSpec {
    pub fn new(seasons: Vec<Span>) -> HoltWintersSpec {
        HoltWintersSpec {
            seasons,
            seasonality: SeasonalityChoice::Auto,
            trend: TrendChoice::Auto,
        }
    }

    /// Fits on `series` into this family's own type (what [`super::ModelSpec::fit`] wraps).
    pub fn fit(&self, series: &Series) -> Result<FittedHoltWinters, ForecastError> {
        fit_series(self, series, |history| fit_history(self, history, true))
    }

    /// The shortest season with two full cycles in `history`, and its length in steps, with a
    /// note for each season passed over.
    fn choose_season(&self, history: &History) -> (Option<(Span, usize)>, Vec<String>) {
        let mut seasons = self.seasons.clone();
        seasons.sort_unstable();
        let mut notes = Vec::new();
        let step = history.step;
        let mut chosen = None;
        for season in seasons {
            let (m, rounded) = match season_length(season, step) {
                Ok(length) => length,
                Err(note) => {
                    notes.push(note);
                    continue;
                }
            };
            if let Some((used, _)) = chosen {
                notes.push(format!(
                    "season {season} not used: Holt-Winters models one season, the shortest \
                     with two full cycles ({used})"
                ));
                continue;
            }
            if history.len() >= 2 * m && history.observed >= m {
                notes.extend(rounded);
                chosen = Some((season, m));
            } else {
                notes.push(format!(
                    "season {season} needs two full cycles ({} steps, half of them observed), \
                     the history has {} steps, {} observed",
                    2 * m,
                    history.len(),
                    history.observed
                ));
            }
        }
        if chosen.is_none() {
            notes.push(if history.observed >= MIN_FOR_TREND {
                "no season is supported: fitting Holt's trend without a season".to_string()
            } else {
                "no season is supported: fitting simple exponential smoothing".to_string()
            });
        }
        (chosen, notes)
    }
}

/// A fitted Holt-Winters model: the state at the end of the training data and the fitted
/// parameters.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FittedHoltWinters {
    /// The season used; `None` when no season was supported.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    season: Option<Span>,
    seasonality: Seasonality,
    trend: Trend,
    params: Smoothing,
    /// Level and slope after the last training step.
    level: f64,
    slope: f64,
    /// The season's `m` values, `seasonal[0]` for the first forecast step (empty without a
    /// season).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    seasonal: Vec<f64>,
    /// Trailing gap steps between the last observation and the origin (they count as horizon
    /// for the intervals).
    #[serde(default)]
    trailing_gaps: usize,
    /// Root mean squared one-step error in sample.
    rmse: f64,
    errors: ErrorQuantiles,
    training: TrainingInfo,
}

impl FamilySpec for HoltWintersSpec {
    fn name(&self) -> &'static str {
        NAME
    }

    fn seasons(&self) -> &[Span] {
        &self.seasons
    }

    fn fit_history(
        &self,
        history: &History,
        with_intervals: bool,
    ) -> Result<FittedModel, ForecastError> {
        fit_history(self, history, with_intervals).map(FittedModel::HoltWinters)
    }

    /// From `previous`'s form and parameters ([`fit::fit_from`]): `auto` refits its near model
    /// so on every refit of a kept selection (the window moved by minutes; the selection and
    /// the model's form are kept as the members' are).
    fn refit_history(
        &self,
        history: &History,
        previous: &FittedModel,
    ) -> Result<FittedModel, ForecastError> {
        let previous = match previous {
            FittedModel::HoltWinters(previous) => Some(previous),
            _ => None,
        };
        fit::fit_from(self, history, false, previous).map(FittedModel::HoltWinters)
    }
}

impl FittedHoltWinters {
    /// The season used (`None`: no season was supported).
    pub fn season(&self) -> Option<Span> {
        self.season
    }

    pub fn seasonality(&self) -> Seasonality {
        self.seasonality
    }

    pub fn trend(&self) -> Trend {
        self.trend
    }

    pub fn params(&self) -> Smoothing {
        self.params
    }

    /// Root mean squared one-step error in sample.
    pub fn rmse(&self) -> f64 {
        self.rmse
    }

    /// The point forecasts of the `horizon` steps from the origin (no clamping).
    pub(crate) fn points(&self, horizon: usize) -> Vec<f64> {
        damped(self.phi())
            .take(horizon)
            .enumerate()
            .map(|(h, damp)| self.point(h, damp))
            .collect()
    }

    /// The in-sample error quantiles (empty when fitted without intervals).
    pub(crate) fn errors(&self) -> &ErrorQuantiles {
        &self.errors
    }

    /// Steps between the last observation and the origin: they count as forecast horizon.
    pub(crate) fn trailing_gaps(&self) -> usize {
        self.trailing_gaps
    }

    fn round_for_json(&mut self) {
        let p = &mut self.params;
        for v in [&mut p.alpha, &mut p.beta, &mut p.gamma, &mut p.phi] {
            *v = json_exact(*v);
        }
        self.level = json_exact(self.level);
        self.slope = json_exact(self.slope);
        self.rmse = json_exact(self.rmse);
        json_exact_all(&mut self.seasonal);
        self.errors.round_for_json();
    }

    fn is_finite(&self) -> bool {
        let p = &self.params;
        [
            p.alpha, p.beta, p.gamma, p.phi, self.level, self.slope, self.rmse,
        ]
        .iter()
        .all(|v| v.is_finite())
            && self.seasonal.iter().all(|v| v.is_finite())
            && self.errors.is_finite()
    }

    /// Whether every forecast up to [`MAX_HORIZON`] stays finite with room to spare (the bands
    /// add error quantiles to it).
    fn bounded(&self) -> bool {
        let damp_max = match self.trend {
            Trend::None => 0.0,
            Trend::Additive => MAX_HORIZON as f64,
            Trend::Damped => self.params.phi / (1.0 - self.params.phi).max(1e-12),
        };
        let season_max = self.seasonal.iter().fold(0.0f64, |a, s| a.max(s.abs()));
        let base = self.level.abs() + damp_max * self.slope.abs();
        let bound = match self.seasonality {
            Seasonality::None => base,
            Seasonality::Additive => base + season_max,
            Seasonality::Multiplicative => base * season_max,
        };
        (bound * 1e3).is_finite()
    }
}

impl Family for FittedHoltWinters {
    fn family(&self) -> &'static str {
        NAME
    }

    fn training(&self) -> &TrainingInfo {
        &self.training
    }

    fn seasons_used(&self) -> (Vec<Span>, Vec<usize>) {
        (self.season.into_iter().collect(), Vec::new())
    }

    fn validate(&self) -> Result<(), ForecastError> {
        self.training.validate()?;
        self.errors.validate()?;
        let p = &self.params;
        let unit = |v: f64| (0.0..=1.0).contains(&v);
        let season_ok = match self.seasonality {
            Seasonality::None => self.seasonal.is_empty(),
            Seasonality::Additive => !self.seasonal.is_empty(),
            Seasonality::Multiplicative => {
                !self.seasonal.is_empty() && self.seasonal.iter().all(|s| *s > 0.0)
            }
        };
        if !self.is_finite()
            || !self.bounded()
            || !season_ok
            || ![p.alpha, p.beta, p.gamma, p.phi].into_iter().all(unit)
        {
            return Err(ForecastError::Fit(
                "corrupt model: non-finite or out-of-range Holt-Winters state".to_string(),
            ));
        }
        Ok(())
    }

    fn forecast(&self, horizon: usize, levels: &[f64]) -> Result<Forecast, ForecastError> {
        let yhat = self.points(horizon);
        let offset = self.trailing_gaps;
        Ok(intervals::forecast(
            &self.training,
            yhat,
            levels,
            &self.errors,
            |h| h.saturating_add(offset),
        ))
    }

    fn rolling_forecasts(
        &self,
        history: &History,
        origins: &[usize],
        len: usize,
    ) -> Result<Vec<Vec<f64>>, ForecastError> {
        Ok(self.rolling_forecasts_from(history, origins, len))
    }
}

#[cfg(test)]
mod tests;

#[cfg(test)]
mod diagnose;
