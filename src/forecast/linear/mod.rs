//! Linear regression on a trend and Fourier terms per season, fitted with linfa-linear.
//!
//! `z(t) = a + b·trend(t) + Σ_seasons Σ_k (s_k sin(2πk·t/P) + c_k cos(2πk·t/P))
//!        + weekend(t)·(w + Σ_k (s'_k sin(2πk·t/1d) + c'_k cos(2πk·t/1d))) + pulse(t)
//!        + AR correction`,
//! with `z = T(y)` the (optionally Box-Cox transformed) value.
//!
//! - **Fourier terms** from absolute time (`t mod P`), so the fitted model can be evaluated at
//!   any timestamp ([`FittedLinearSeasonal::value_at`]). Defaults: 10 harmonics for seasons up to a
//!   day, 5 for longer ones; harmonics are capped below the Nyquist limit of the step (`2k·step <
//!   P`), a frequency already present for another season is not added twice (it would make the
//!   design singular), and only seasons shorter than the observed training span are used, and only
//!   seasons whose every part is observed in at least 1.5 cycles' worth of steps
//!   ([`MIN_CYCLES`](design::MIN_CYCLES)): after a multi-day outage in a two-week window, part of
//!   the week was seen once, and a weekly shape fitted to it replays the outage's aftermath or one
//!   odd day. Several seasons are fitted at once (e.g. daily and weekly).
//! - **Weekday shape** ([`WeekdayShape`]): traffic on Saturdays and Sundays often has another
//!   daily shape, not just another level. With a daily season and a whole weekend observed
//!   (every part of the day on Saturday and Sunday, give or take gaps:
//!   [`WEEKEND_DAYS`](design::WEEKEND_DAYS)), the daily Fourier terms are repeated multiplied by a
//!   weekend indicator (plus a weekend level). One weekend is enough: a history of one to two
//!   weeks (a new service, a short window) would otherwise forecast Saturday as a weekday, and
//!   the weekly season (a week and a half) cannot carry it yet. The weekend is Saturday and
//!   Sunday **in UTC** (timestamps are UTC unix seconds; a service whose users live at UTC−8 sees
//!   its "weekend" shifted by 8 hours). `auto` keeps
//!   these columns only when they lower the fit's BIC.
//! - **Transform** ([`Transform`]): multiplicative traffic (a daily swing proportional to the
//!   level) is additive after a log. The Box-Cox λ is chosen in [0, 1] by the profile likelihood
//!   of the regression over a grid; data with zeros is shifted by 1 % of its mean first, data
//!   with negative values is refused (`auto`: left untransformed). Forecasts are made in the
//!   transformed space and back-transformed **as quantiles**: the point forecast is the
//!   back-transformed median (no bias adjustment, so it is a median, not a mean: MAE, and so
//!   MASE, is minimized by the median, and the planner uses the quantiles anyway), and every
//!   band is the back-transform of the band in the transformed space, so bands stay nested and,
//!   for non-negative traffic, non-negative.
//! - **Robust fitting** (`robust`): iteratively re-weighted least squares with Huber weights on
//!   residuals standardized by their MAD, so an outage or a flash crowd does not bend the
//!   seasonal shape of the whole fit.
//! - **Recurring pulses** ([`Pulses`]): a burst at the same minutes every day (a cron job, a
//!   daily batch) is too narrow for the Fourier terms and is left in the residuals; where the
//!   residuals at one phase of the day lie well beyond the local noise in most cycles, on the
//!   same side (weekdays and weekends apart; weekend days seen too few times take the weekdays'
//!   pulse where theirs show it), their median is added back at that phase, and the seasonal
//!   terms are fitted again without those steps (so that they do not ring around an hour-long
//!   job), while the pulses hold at most a quarter of the day.
//! - **A level that jumps** ([`Shift`]): a launch steps the load up and it stays there; the
//!   robust fit treats the hours after the jump as outliers of the old level, and the correction
//!   decays towards it. Where the latest residuals have lain far on one side for hours (a run of
//!   at least two hours and 12 steps, its median 6 robust standard deviations out, its last two
//!   hours' too, the two within 0.8 of each other: a level that holds), the run's level is added
//!   to the regression from where the run began, and the correction and the error quantiles are
//!   fitted on what it leaves.
//! - **Trend**: one linear term over the training window. A linear trend extrapolated far is the
//!   classic way such models blow up, so it is frozen a quarter of the training span after the
//!   last observation; and when every training value is ≥ 0 (traffic), forecasts and bands are
//!   clamped at 0.
//! - **Gaps** are rows left out of the fit, never zeros.
//! - **Short-horizon correction**: traffic wanders around its seasonal shape for hours (a busy
//!   day), so the residuals are modelled by a linear autoregression AR(p), p ≤ `ar_order`
//!   (24 by default: two hours at 5-minute steps, whose longer memory carries a busy or quiet
//!   spell further ahead than a few lags can) chosen by AIC and fitted by least squares on runs
//!   of consecutive observed residuals clipped at 3 robust standard deviations (so a flash
//!   crowd does not become the AR's dynamics), its roots kept inside 0.99 so it always decays.
//!   The orders tried stop where the runs hold 10 windows per coefficient: a call centre's
//!   40 quarter-hours a day get a lower order, not none.
//!   The forecast adds the AR's recursion from the last residuals: it matters for the first
//!   steps after the origin and fades to zero; far ahead the forecast is the regression alone.
//!
//! **Solving.** The design matrix `X` (columns scaled to O(1), target standardized) is built
//! once, row-major, and stored once per phase of the seasons' common period (the week): all its
//! columns but the trend's repeat with it, so two weeks of data are half as many rows
//! ([`rows::DesignRows`]); sines and cosines come from one rotation per row rather than a
//! `sin_cos`. `X'X` is one matrix product (ndarray's blocked gemm), and linfa-linear
//! solves the small `p×p` normal equations (a tiny ridge keeps them solvable when gaps leave a
//! column nearly empty). Each robust re-weighting only subtracts the rows whose weight dropped
//! below 1 (`X'WX = X'X − Σ (1−wᵢ) xᵢxᵢ'`), so the iterations cost a fraction of the first
//! pass; the Box-Cox profile reuses the same `X'X` for every λ. A refit of the same series a
//! few steps later (`auto`'s kept selections) starts its robust iterations from the previous
//! fit's coefficients and keeps its weekend decision ([`refit_history`]): one re-weighting
//! instead of three, the iterations carrying on across refits. For calibration, `auto` asks for
//! day-ahead values ([`fit_cross_validated`]): each recent day's coefficients fitted on the days
//! before it, from `X'WX` less the products of that day and the later ones, one `p×p` solve per
//! day.
//!
//! **Intervals**: the error of an `h`-step forecast from origin `o` is the residual at `o+h`
//! minus the AR correction forecast from the residuals before `o` — the error of the corrected
//! forecast itself — measured over every origin in the training data at horizons 0, 1, 2, 4, …
//! until the correction has died out, inflated by `√(n/(n−p))` for the parameters fitted. They
//! are measured in the transformed space and back-transformed with the forecast.
//!
//! # Layout
//!
//! - this module: the spec, the fitted model's types and its family interface;
//! - `fit`: one fit from start to end (and the in-sample error quantiles);
//! - `design`: the columns and how a row is filled; `rows`: the design stored once per phase;
//! - `solve`: the products and the normal-equation solves;
//! - `transform`: Box-Cox and its choice; `robust`: Huber weights and the IRLS;
//! - `day_ahead`: the day-ahead values for `auto`'s calibration; `median`: forecasts moved to
//!   the median of the in-sample errors, for `auto`;
//! - `pulses`: the recurring pulses found in the residuals; `shift`: a jump in the level found
//!   in the latest residuals;
//! - `ar`: the residual autoregression; `predict`: forecasts from the origin and later origins.

use serde::{Deserialize, Serialize};

use super::family::{Family, FamilySpec, fit_series};
use super::history::{History, TrainingInfo};
use super::intervals::ErrorQuantiles;
use super::{FittedModel, Forecast, ForecastError, check_seasons, json_exact, json_exact_all};
use crate::series::{Series, Span};

mod ar;
mod day_ahead;
mod design;
mod fit;
mod median;
mod predict;
mod pulses;
mod robust;
mod rows;
mod shift;
mod solve;
mod transform;

use ar::spectral_radius;
use fit::fit_from;

pub(crate) use design::is_weekend;
pub use median::ErrorMedians;
pub use pulses::{Pulse, Pulses};
pub use shift::Shift;
pub use transform::BoxCox;

/// Whether the daily shape may differ on weekends (Saturday and Sunday, UTC).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum WeekdayShape {
    /// One daily shape for every day.
    Off,
    /// A separate weekend daily shape whenever the history holds a whole weekend and a daily
    /// season.
    Weekend,
    /// As `weekend`, but kept only when it lowers the fit's BIC.
    #[default]
    Auto,
}

/// How values are transformed before the regression.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Transform {
    /// The values as they are (additive seasonality).
    #[default]
    None,
    /// `ln(y)` (multiplicative seasonality); data with negative values is refused.
    Log,
    /// Box-Cox with λ ∈ [0, 1] estimated on the training data; negative values are refused.
    BoxCox,
    /// Box-Cox when the data allows it (no negative values), none otherwise.
    Auto,
}

/// Parameters of the linear trend + Fourier model.
///
/// The defaults were chosen by rolling-origin backtests (50 origins, horizons 15 and 60 minutes
/// or 1 and 4 steps) over all ten bundled traces, keeping an option only when it lowered the
/// mean MASE: the AR correction (mean MASE 0.632 without, 0.522 with AR(1), 0.491 with AR(≤5)),
/// robust fitting (0.530 without), the weekend shape `auto` (0.504 without; it costs on the
/// Taylor electricity trace, where it also narrows the intervals too much); `transform` stays
/// `none` (`auto` 0.492, `log` 0.495: better on the Twitter traces, worse on taxi and
/// Facebook).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LinearSeasonalSpec {
    /// The seasons to model (e.g. `1d`, `7d`).
    pub seasons: Vec<Span>,
    /// Harmonics per season, in the order of `seasons`; default 10 for seasons up to a day and
    /// 5 for longer ones.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub harmonics: Option<Vec<usize>>,
    /// A separate daily shape on weekends (UTC).
    #[serde(default, skip_serializing_if = "is_default")]
    pub weekday_shape: WeekdayShape,
    /// A variance-stabilizing transform for multiplicative traffic.
    #[serde(default, skip_serializing_if = "is_default")]
    pub transform: Transform,
    /// Robust (IRLS, Huber) rather than ordinary least squares.
    #[serde(default = "default_robust", skip_serializing_if = "is_default_robust")]
    pub robust: bool,
    /// Largest order of the residual autoregression (AIC picks the order up to it); 0 turns
    /// the short-horizon correction off.
    #[serde(
        default = "default_ar_order",
        skip_serializing_if = "is_default_ar_order"
    )]
    pub ar_order: usize,
}

fn is_default<T: Default + PartialEq>(value: &T) -> bool {
    *value == T::default()
}

/// Default of [`LinearSeasonalSpec::robust`].
pub const DEFAULT_ROBUST: bool = true;
/// Default of [`LinearSeasonalSpec::ar_order`].
pub const DEFAULT_AR_ORDER: usize = 24;
/// The largest `ar_order` accepted.
pub const MAX_AR_ORDER: usize = 96;

fn default_robust() -> bool {
    DEFAULT_ROBUST
}

fn is_default_robust(robust: &bool) -> bool {
    *robust == DEFAULT_ROBUST
}

fn default_ar_order() -> usize {
    DEFAULT_AR_ORDER
}

fn is_default_ar_order(order: &usize) -> bool {
    *order == DEFAULT_AR_ORDER
}

/// The family's name.
const NAME: &str = "linear-seasonal";
/// The most harmonics a season may ask for.
pub const MAX_HARMONICS: usize = 50;
/// Seconds in a day.
pub(crate) const DAY: i64 = 86_400;
const WEEK: i64 = 7 * DAY;

impl LinearSeasonalSpec {
    /// The seasons with every other option at its default.
    pub fn new(seasons: Vec<Span>) -> LinearSeasonalSpec {
        LinearSeasonalSpec {
            seasons,
            harmonics: None,
            weekday_shape: WeekdayShape::default(),
            transform: Transform::default(),
            robust: DEFAULT_ROBUST,
            ar_order: DEFAULT_AR_ORDER,
        }
    }

    /// Fits on `series` into this family's own type (what [`super::ModelSpec::fit`] wraps).
    pub fn fit(&self, series: &Series) -> Result<FittedLinearSeasonal, ForecastError> {
        fit_series(self, series, |history| fit_history(self, history, true))
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

/// The weekend's daily shape, added to the regression on Saturdays and Sundays (UTC).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Weekend {
    /// Level difference on weekend days.
    pub level: f64,
    /// Daily Fourier terms added on weekend days.
    pub terms: Vec<FourierTerm>,
}

/// The short-horizon correction: an AR(p) on the residuals (transformed space).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Correction {
    /// AR coefficients φ₁ … φ_p (empty: no correction).
    pub ar: Vec<f64>,
    /// The last p residuals up to and including the last observation, most recent first.
    pub state: Vec<f64>,
    /// The timestamp of the last observation (`state[0]`).
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
    #[serde(default, skip_serializing_if = "Option::is_none")]
    weekend: Option<Weekend>,
    /// Residual bursts recurring at the same phase of the day ([`pulses`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pulses: Option<Pulses>,
    /// A jump in the level the latest residuals hold ([`shift`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    shift: Option<Shift>,
    seasons: Vec<SeasonUsed>,
    /// The transform the regression was fitted in (none: the values themselves).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    transform: Option<BoxCox>,
    correction: Correction,
    errors: ErrorQuantiles,
    training: TrainingInfo,
}

impl FamilySpec for LinearSeasonalSpec {
    fn name(&self) -> &'static str {
        NAME
    }

    fn seasons(&self) -> &[Span] {
        &self.seasons
    }

    /// The seasons, and the harmonics (one count per season) and AR order within bounds.
    fn check(&self) -> Result<(), ForecastError> {
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
        if self.ar_order > MAX_AR_ORDER {
            return Err(ForecastError::InvalidSpec(format!(
                "ar_order {}: must be at most {MAX_AR_ORDER}",
                self.ar_order
            )));
        }
        Ok(())
    }

    fn fit_history(
        &self,
        history: &History,
        with_intervals: bool,
    ) -> Result<FittedModel, ForecastError> {
        fit_history(self, history, with_intervals).map(FittedModel::LinearSeasonal)
    }

    /// From the previous fit's coefficients and weekend decision ([`refit_history`]).
    fn refit_history(
        &self,
        history: &History,
        previous: &FittedModel,
    ) -> Result<FittedModel, ForecastError> {
        match previous {
            FittedModel::LinearSeasonal(previous) => {
                refit_history(self, history, false, previous).map(FittedModel::LinearSeasonal)
            }
            _ => self.fit_history(history, false),
        }
    }
}

/// Fits on prepared history; `with_intervals = false` skips the error quantiles (for `auto`'s
/// holdout candidates, which only need point forecasts).
pub(crate) fn fit_history(
    spec: &LinearSeasonalSpec,
    history: &History,
    with_intervals: bool,
) -> Result<FittedLinearSeasonal, ForecastError> {
    Ok(fit_from(spec, history, with_intervals, None, None)?.0)
}

/// Fits on prepared history (with the in-sample error table if `with_intervals`) and also
/// returns the regression's values per step of `history` in the transformed units (NaN at
/// gaps), fitted on the days before each day ([`day_ahead::fitted_on_days_before`]) for the days
/// from step `from` on, the fit's own before them: what
/// [`FittedLinearSeasonal::cross_validated_forecasts`] forecasts from. `None` when no observed
/// day lies before the one holding `from`, or no observed step from `from` on.
pub(crate) fn fit_cross_validated(
    spec: &LinearSeasonalSpec,
    history: &History,
    from: usize,
    with_intervals: bool,
) -> Result<(FittedLinearSeasonal, Option<Vec<f64>>), ForecastError> {
    fit_from(spec, history, with_intervals, None, Some(from))
}

/// For each step from `from` on, whether it is on a weekend whose day-ahead value
/// ([`fit_cross_validated`]) comes from a fit on days that hold no weekend day at all: where the
/// fitted model has a weekend shape, that value forecasts the weekend with what the final fit
/// knows and that fit could not (a Sunday after a Saturday is forecast with a weekend shape
/// fitted on one day, as the final fit's is on two: not concerned). One pass over the history
/// per day.
pub(crate) fn weekend_unseen_from(history: &History, from: usize) -> Vec<bool> {
    let mut day: Option<(usize, bool)> = None;
    (from..history.len())
        .map(|i| {
            if !design::is_weekend(history.time(i)) {
                return false;
            }
            let start = day_ahead::block_start(history, i);
            match day {
                Some((known, unseen)) if known == start => unseen,
                _ => {
                    let unseen =
                        design::weekend_days_observed(history, start) < design::WEEKEND_DAYS / 2.0;
                    day = Some((start, unseen));
                    unseen
                }
            }
        })
        .collect()
}

/// Refits on prepared history starting from the series' `previous` fit of the same spec (a few
/// steps earlier): its weekend decision is kept and its coefficients start the robust
/// iterations, which then need only [`robust::WARM_ITERATIONS`] (the iterations carry on across the
/// refits instead of starting from least squares each time). A previous fit whose design no
/// longer matches (other terms, transform or trend) is ignored: the refit is a plain fit.
pub(crate) fn refit_history(
    spec: &LinearSeasonalSpec,
    history: &History,
    with_intervals: bool,
    previous: &FittedLinearSeasonal,
) -> Result<FittedLinearSeasonal, ForecastError> {
    Ok(fit_from(spec, history, with_intervals, Some(previous), None)?.0)
}

impl FittedLinearSeasonal {
    /// The regression part (level, trend, seasons, weekend shape, pulses) at any timestamp, back-
    /// transformed: no residual correction, no clamping.
    pub fn value_at(&self, t: i64) -> f64 {
        self.inverse(self.value_z(t))
    }

    /// The seasons in the design and their harmonics.
    pub fn seasons(&self) -> &[SeasonUsed] {
        &self.seasons
    }

    /// The transform the regression was fitted in, if any.
    pub fn transform(&self) -> Option<&BoxCox> {
        self.transform.as_ref()
    }

    /// The residual autoregression's coefficients (empty: no correction).
    pub fn ar(&self) -> &[f64] {
        &self.correction.ar
    }

    /// Whether a weekend daily shape is part of the fit.
    pub fn has_weekend_shape(&self) -> bool {
        self.weekend.is_some()
    }

    /// The recurring pulses added to the regression, if any.
    pub fn pulses(&self) -> Option<&Pulses> {
        self.pulses.as_ref()
    }

    /// The jump in the level added to the regression, if any.
    pub fn shift(&self) -> Option<&Shift> {
        self.shift.as_ref()
    }

    /// Rounds every stored number so that a saved model predicts exactly like this one.
    fn round_for_json(&mut self) {
        self.intercept = json_exact(self.intercept);
        if let Some(trend) = &mut self.trend {
            trend.slope = json_exact(trend.slope);
            trend.scale = json_exact(trend.scale);
        }
        let round_terms = |terms: &mut [FourierTerm]| {
            for term in terms {
                term.sin = json_exact(term.sin);
                term.cos = json_exact(term.cos);
            }
        };
        round_terms(&mut self.terms);
        if let Some(weekend) = &mut self.weekend {
            weekend.level = json_exact(weekend.level);
            round_terms(&mut weekend.terms);
        }
        if let Some(shift) = &mut self.shift {
            shift.level = json_exact(shift.level);
        }
        if let Some(transform) = &mut self.transform {
            transform.lambda = json_exact(transform.lambda);
            transform.shift = json_exact(transform.shift);
        }
        json_exact_all(&mut self.correction.ar);
        json_exact_all(&mut self.correction.state);
        self.errors.round_for_json();
    }

    fn is_finite(&self) -> bool {
        let terms_finite =
            |terms: &[FourierTerm]| terms.iter().all(|t| t.sin.is_finite() && t.cos.is_finite());
        self.intercept.is_finite()
            && self
                .trend
                .as_ref()
                .is_none_or(|t| t.slope.is_finite() && t.scale.is_finite() && t.scale > 0.0)
            && terms_finite(&self.terms)
            && self
                .weekend
                .as_ref()
                .is_none_or(|w| w.level.is_finite() && terms_finite(&w.terms))
            && self.transform.as_ref().is_none_or(|t| {
                (0.0..=1.0).contains(&t.lambda) && t.shift.is_finite() && t.shift >= 0.0
            })
            && self.pulses.as_ref().is_none_or(Pulses::is_valid)
            && self.shift.as_ref().is_none_or(Shift::is_valid)
            && self.correction.ar.iter().all(|a| a.is_finite())
            && self.correction.state.iter().all(|s| s.is_finite())
            && self.errors.is_finite()
    }
}

impl Family for FittedLinearSeasonal {
    fn family(&self) -> &'static str {
        NAME
    }

    fn training(&self) -> &TrainingInfo {
        &self.training
    }

    fn seasons_used(&self) -> (Vec<Span>, Vec<usize>) {
        self.seasons
            .iter()
            .map(|used| (used.season, used.harmonics))
            .unzip()
    }

    fn validate(&self) -> Result<(), ForecastError> {
        self.training.validate()?;
        self.errors.validate()?;
        if !self.is_finite()
            || self.correction.state.len() != self.correction.ar.len()
            || spectral_radius(&self.correction.ar) > 1.0
        {
            return Err(ForecastError::Fit(
                "corrupt model: non-finite or out-of-range coefficient".to_string(),
            ));
        }
        Ok(())
    }

    /// The point forecast is the median: the back-transformed median of the transformed
    /// forecast (regression + AR correction + the median of its errors at that horizon); bands
    /// are error quantiles added in the transformed space, then back-transformed.
    fn forecast(&self, horizon: usize, levels: &[f64]) -> Result<Forecast, ForecastError> {
        self.forecast_from_origin(horizon, levels)
    }

    fn rolling_forecasts(
        &self,
        history: &History,
        origins: &[usize],
        len: usize,
    ) -> Result<Vec<Vec<f64>>, ForecastError> {
        Ok(self.holdout_forecasts(history, origins, len))
    }
}

#[cfg(test)]
mod tests;
