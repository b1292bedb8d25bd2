//! Linear regression on a trend and Fourier terms per season, fitted with linfa-linear.
//!
//! `z(t) = a + b·trend(t) + Σ_seasons Σ_k (s_k sin(2πk·t/P) + c_k cos(2πk·t/P))
//!        + weekend(t)·(w + Σ_k (s'_k sin(2πk·t/1d) + c'_k cos(2πk·t/1d))) + AR correction`,
//! with `z = T(y)` the (optionally Box-Cox transformed) value.
//!
//! - **Fourier terms** from absolute time (`t mod P`), so the fitted model can be evaluated at
//!   any timestamp ([`FittedLinearSeasonal::value_at`]). Defaults: 10 harmonics for seasons up to
//!   a day, 5 for longer ones; harmonics are capped below the Nyquist limit of the step
//!   (`2k·step < P`), a frequency already present for another season is not added twice (it
//!   would make the design singular), and only seasons shorter than the observed training span
//!   are used, and only seasons whose every part is observed in at least 1.5 cycles' worth of
//!   steps ([`MIN_CYCLES`]): after a multi-day outage in a two-week window, part of the week
//!   was seen once, and a weekly shape fitted to it replays the outage's aftermath or one odd
//!   day. Several seasons are fitted at once (e.g. daily and weekly).
//! - **Weekday shape** ([`WeekdayShape`]): traffic on Saturdays and Sundays often has another
//!   daily shape, not just another level. With a daily season and at least two weeks of history,
//!   the daily Fourier terms are repeated multiplied by a weekend indicator (plus a weekend
//!   level). The weekend is Saturday and Sunday **in UTC** (timestamps are UTC unix seconds; a
//!   service whose users live at UTC−8 sees its "weekend" shifted by 8 hours). `auto` keeps
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

use linfa::Dataset;
use linfa::traits::Fit as _;
use linfa_linear::LinearRegression;
use ndarray::{Array1, Array2, ArrayView1, ArrayView2, s};
use serde::{Deserialize, Serialize};

use super::history::{History, TrainingInfo};
use super::intervals::{self, ErrorQuantiles};
use super::{
    Band, Fit, Forecast, ForecastError, Predict, check_request, check_seasons, json_exact,
    json_exact_all,
};
use crate::series::{Series, Span};
use rows::DesignRows;

mod rows;

/// Whether the daily shape may differ on weekends (Saturday and Sunday, UTC).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum WeekdayShape {
    /// One daily shape for every day.
    Off,
    /// A separate weekend daily shape whenever the history holds two weeks and a daily season.
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

/// A season is fitted only when every part of it is observed in at least this many cycles'
/// worth of steps: a shape seen once cannot be told from a one-off (an outage, a busy day).
const MIN_CYCLES: f64 = 1.5;
/// The parts a season is cut into to measure its coverage.
const COVERAGE_BINS: usize = 28;
/// The most harmonics a season may ask for.
pub const MAX_HARMONICS: usize = 50;
const DAY: i64 = 86_400;
const WEEK: i64 = 7 * DAY;
/// The trend is frozen this fraction of the training span after the last observation.
const TREND_REACH: f64 = 0.25;
/// The residual autoregression's roots are kept within this radius.
const MAX_ROOT: f64 = 0.99;
/// Error anchors stop once the correction has decayed below this fraction.
const AR_NEGLIGIBLE: f64 = 0.01;
const MAX_ANCHOR: usize = 4096;
/// The in-sample error quantiles are taken over at most about this many origins per horizon.
const MAX_ERROR_ORIGINS: usize = 4096;
/// Ridge penalty relative to the number of rows (columns are O(1), so `X'X` is O(rows)).
const RIDGE: f64 = 1e-8;
/// Residuals are clipped at this many robust standard deviations (1.4826 · MAD) before the
/// AR is fitted to them.
const AR_CLIP: f64 = 3.0;
/// Huber's tuning constant (95 % efficiency under Gaussian noise).
const HUBER: f64 = 1.345;
/// Re-weighting passes of the robust fit.
const ROBUST_ITERATIONS: usize = 3;
/// Robust iterations of a refit that starts from the previous fit's coefficients.
const WARM_ITERATIONS: usize = 1;
/// MAD → standard deviation under Gaussian noise.
const MAD_TO_SD: f64 = 1.4826;
/// The Box-Cox λ grid searched.
const LAMBDAS: [f64; 5] = [0.0, 0.25, 0.5, 0.75, 1.0];
/// Data with zeros is shifted by this fraction of its mean before a log or Box-Cox.
const ZERO_SHIFT: f64 = 0.01;

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
        if self.ar_order > MAX_AR_ORDER {
            return Err(ForecastError::InvalidSpec(format!(
                "ar_order {}: must be at most {MAX_AR_ORDER}",
                self.ar_order
            )));
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

/// The weekend's daily shape, added to the regression on Saturdays and Sundays (UTC).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Weekend {
    /// Level difference on weekend days.
    pub level: f64,
    /// Daily Fourier terms added on weekend days.
    pub terms: Vec<FourierTerm>,
}

/// The Box-Cox transform `z = ((y + shift)^λ − 1) / λ`, `ln(y + shift)` for λ = 0.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct BoxCox {
    pub lambda: f64,
    pub shift: f64,
}

impl BoxCox {
    /// `T(y)`; NaN where undefined (`y + shift ≤ 0` for the log).
    pub fn forward(&self, y: f64) -> f64 {
        let x = y + self.shift;
        if x < 0.0 || (self.lambda == 0.0 && x == 0.0) {
            f64::NAN
        } else if self.lambda == 0.0 {
            x.ln()
        } else {
            (x.powf(self.lambda) - 1.0) / self.lambda
        }
    }

    /// `T⁻¹(z)`, monotone, always finite: values beyond the transform's range are clamped to
    /// its ends.
    pub fn inverse(&self, z: f64) -> f64 {
        let x = if self.lambda == 0.0 {
            z.min(700.0).exp()
        } else {
            (self.lambda * z + 1.0).max(0.0).powf(1.0 / self.lambda)
        };
        let y = x.min(f64::MAX) - self.shift;
        if y.is_nan() { -self.shift } else { y }
    }

    /// `ln |dT/dy|` summed over `ys` (the Jacobian of the profile likelihood).
    fn log_jacobian(lambda: f64, shift: f64, ys: &[f64]) -> f64 {
        (lambda - 1.0) * ys.iter().map(|y| (y + shift).ln()).sum::<f64>()
    }
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
    seasons: Vec<SeasonUsed>,
    /// The transform the regression was fitted in (none: the values themselves).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    transform: Option<BoxCox>,
    correction: Correction,
    errors: ErrorQuantiles,
    training: TrainingInfo,
}

/// Which columns the design has: `[1, trend?, (sin, cos) per term, weekend?, (sin, cos) per
/// weekend term]`; the weekend columns come last so that they can be dropped as a block.
struct Design {
    /// `(center, scale, until)` when the trend is included.
    trend: Option<(i64, f64, i64)>,
    /// `(period, k)`, sorted by period then k.
    terms: Vec<(i64, u32)>,
    seasons: Vec<SeasonUsed>,
    /// Indices into `terms` of the daily terms repeated for weekends (empty: no weekend block).
    weekend: Vec<usize>,
}

impl Design {
    /// Columns without the weekend block.
    fn base_columns(&self) -> usize {
        1 + usize::from(self.trend.is_some()) + 2 * self.terms.len()
    }

    fn columns(&self) -> usize {
        let weekend = if self.weekend.is_empty() {
            0
        } else {
            1 + 2 * self.weekend.len()
        };
        self.base_columns() + weekend
    }

    /// The distinct periods of the Fourier terms, in the order of `terms`.
    fn periods(&self) -> Vec<i64> {
        let mut periods: Vec<i64> = self.terms.iter().map(|(p, _)| *p).collect();
        periods.dedup();
        periods
    }

    /// Writes the row of timestamp `t` into `row` (of length [`Design::columns`]). Sines and
    /// cosines of harmonic k come from the base angle (`angles.at(t)`) by the angle-addition
    /// recurrence: no `sin_cos` per column.
    fn fill_row(&self, t: i64, angles: &mut BaseAngles, row: &mut [f64]) {
        let base_angles = angles.at(t);
        row[0] = 1.0;
        let mut next = 1;
        if let Some((center, scale, until)) = self.trend {
            row[next] = Trend::x(center, scale, until, t);
            next += 1;
        }
        let mut j = 0;
        for &(s1, c1) in base_angles {
            let period = self.terms[j].0;
            let group_end = j + self.terms[j..]
                .iter()
                .take_while(|(p, _)| *p == period)
                .count();
            let group = &self.terms[j..group_end];
            let k_max = group.last().map_or(0, |(_, k)| *k);
            let (mut sk, mut ck) = (s1, c1);
            let mut g = 0;
            for k in 1..=k_max {
                if g < group.len() && group[g].1 == k {
                    let c = next + 2 * (j + g);
                    row[c] = sk;
                    row[c + 1] = ck;
                    g += 1;
                }
                (sk, ck) = (sk * c1 + ck * s1, ck * c1 - sk * s1);
            }
            j = group_end;
        }
        if !self.weekend.is_empty() {
            let base = self.base_columns();
            let w = if is_weekend(t) { 1.0 } else { 0.0 };
            row[base] = w;
            for (i, &term) in self.weekend.iter().enumerate() {
                let c = next + 2 * term;
                row[base + 1 + 2 * i] = w * row[c];
                row[base + 2 + 2 * i] = w * row[c + 1];
            }
        }
    }
}

/// Rows filled between exact `sin_cos` values in [`BaseAngles`]: rounding grows by about one
/// unit in the last place per rotation, so a few hundred keep it far below the fit's noise.
const ROTATIONS_PER_EXACT: usize = 256;

/// The sine and cosine of each season's base angle, carried from row to row: the row one step
/// after the previous one gets them by one rotation (four multiplications) instead of a
/// `sin_cos` per season; any other row, and every [`ROTATIONS_PER_EXACT`]-th, from `sin_cos`.
struct BaseAngles {
    periods: Vec<i64>,
    step: i64,
    /// `(sin, cos)` of one step's angle, per period.
    rotations: Vec<(f64, f64)>,
    current: Vec<(f64, f64)>,
    last: Option<i64>,
    rotated: usize,
}

impl BaseAngles {
    fn new(design: &Design, step: i64) -> BaseAngles {
        let periods = design.periods();
        BaseAngles {
            rotations: periods.iter().map(|&p| angle(step, p).sin_cos()).collect(),
            current: vec![(0.0, 1.0); periods.len()],
            periods,
            step,
            last: None,
            rotated: 0,
        }
    }

    /// `(sin, cos)` of the base angle of each period at `t`.
    fn at(&mut self, t: i64) -> &[(f64, f64)] {
        let next_step = self.last.and_then(|last| last.checked_add(self.step)) == Some(t);
        if next_step && self.rotated < ROTATIONS_PER_EXACT {
            for ((s, c), &(sd, cd)) in self.current.iter_mut().zip(&self.rotations) {
                (*s, *c) = (*s * cd + *c * sd, *c * cd - *s * sd);
            }
            self.rotated += 1;
        } else {
            for (current, &period) in self.current.iter_mut().zip(&self.periods) {
                *current = angle(t, period).sin_cos();
            }
            self.rotated = 0;
        }
        self.last = Some(t);
        &self.current
    }
}

/// How many cycles of a `period`-second season the observations cover where they cover it
/// least: the period is cut into [`COVERAGE_BINS`] parts (at least a step each) and each part's
/// observed steps are counted in cycles' worth.
fn min_cycles_observed(history: &History, period: i64) -> f64 {
    let step = history.step.max(1);
    let bins = usize::try_from(period / step)
        .unwrap_or(1)
        .clamp(1, COVERAGE_BINS);
    let mut observed = vec![0usize; bins];
    for (i, v) in history.values.iter().enumerate() {
        if !v.is_nan() {
            let phase = history.time(i).rem_euclid(period) as i128;
            observed[(phase * bins as i128 / period as i128) as usize] += 1;
        }
    }
    let per_cycle = period as f64 / (bins as f64 * step as f64);
    observed
        .iter()
        .map(|&n| n as f64 / per_cycle)
        .fold(f64::INFINITY, f64::min)
}

/// Saturday or Sunday in UTC (1970-01-01 was a Thursday).
fn is_weekend(t: i64) -> bool {
    (t.div_euclid(DAY) + 3).rem_euclid(7) >= 5
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
        let cycles = min_cycles_observed(history, period);
        if cycles < MIN_CYCLES {
            notes.push(format!(
                "season {season}: part of it is observed in only {cycles:.1} cycles (needs {MIN_CYCLES}): left out"
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

    let mut design = Design {
        trend,
        terms,
        seasons: used,
        weekend: Vec::new(),
    };
    if spec.weekday_shape != WeekdayShape::Off {
        let daily: Vec<usize> = (0..design.terms.len())
            .filter(|&j| design.terms[j].0 == DAY)
            .collect();
        let extra = 1 + 2 * daily.len();
        if daily.is_empty() {
            if spec.weekday_shape == WeekdayShape::Weekend {
                notes.push("weekend shape: no daily season in the design: left out".to_string());
            }
        } else if span < 2 * WEEK {
            if spec.weekday_shape == WeekdayShape::Weekend {
                notes.push(format!(
                    "weekend shape needs two weeks of history, {span}s observed: left out"
                ));
            }
        } else if observed < 2 * (design.base_columns() + extra) {
            notes.push(format!(
                "{observed} observed steps are too few for a weekend shape: left out"
            ));
        } else {
            design.weekend = daily;
        }
    }
    (design, notes)
}

/// `X'X` for a design whose rows from `weekend_from` on are the weekend rows (and only those).
/// The weekend columns are copies of base columns on weekend rows and zero elsewhere, so their
/// blocks are sums over weekend rows of base-column products: one product over all rows for
/// the base block and one over the weekend rows (2/7 of them), about half the work of the full
/// product.
fn gram(design: &Design, x: ArrayView2<f64>, weekend_from: usize) -> Array2<f64> {
    let p = design.columns();
    let base = design.base_columns();
    if design.weekend.is_empty() || p != x.ncols() {
        return x.t().dot(&x);
    }
    let xb = x.slice(s![.., ..base]);
    let xw = x.slice(s![weekend_from.., ..base]);
    let gram_base = xb.t().dot(&xb);
    let gram_weekend = xw.t().dot(&xw);
    // The base column each weekend column copies on weekend rows.
    let first_term = 1 + usize::from(design.trend.is_some());
    let mut source = vec![0usize];
    for &term in &design.weekend {
        source.push(first_term + 2 * term);
        source.push(first_term + 2 * term + 1);
    }
    let mut g = Array2::<f64>::zeros((p, p));
    g.slice_mut(s![..base, ..base]).assign(&gram_base);
    for (i, &si) in source.iter().enumerate() {
        for a in 0..base {
            g[(a, base + i)] = gram_weekend[(a, si)];
            g[(base + i, a)] = gram_weekend[(a, si)];
        }
        for (j, &sj) in source.iter().enumerate() {
            g[(base + i, base + j)] = gram_weekend[(si, sj)];
        }
    }
    g
}

/// Solves the normal equations `gram · β = rhs` with linfa-linear (its QR least squares on the
/// square system), after adding `ridge` to the diagonal.
fn solve(
    gram: ArrayView2<f64>,
    rhs: ArrayView1<f64>,
    ridge: f64,
) -> Result<Array1<f64>, ForecastError> {
    let p = rhs.len();
    let mut a = gram.to_owned();
    for i in 0..p {
        a[(i, i)] += ridge;
    }
    let dataset = Dataset::new(a, rhs.to_owned());
    let fitted = LinearRegression::new()
        .with_intercept(false)
        .fit(&dataset)
        .map_err(|e| ForecastError::Fit(e.to_string()))?;
    let beta = fitted.params().to_owned();
    if beta.len() != p || !beta.iter().all(|b| b.is_finite()) {
        return Err(ForecastError::Fit(
            "least squares gave non-finite coefficients".to_string(),
        ));
    }
    Ok(beta)
}

/// `X·β` for a design with contiguous rows. ndarray's generic matrix-vector product walks the
/// rows through a slower iterator; over 20,000 rows it showed up as a fifth of a fit.
fn mat_vec(x: ArrayView2<f64>, beta: ArrayView1<f64>) -> Array1<f64> {
    x.rows()
        .into_iter()
        .map(|row| match (row.as_slice(), beta.as_slice()) {
            (Some(row), Some(beta)) => dot(row, beta),
            _ => row.dot(&beta),
        })
        .collect()
}

/// `X'·z` for a design with contiguous rows: one scaled row added per observation.
fn t_mat_vec(x: ArrayView2<f64>, z: &Array1<f64>) -> Array1<f64> {
    let mut out = vec![0.0; x.ncols()];
    for (row, &zr) in x.rows().into_iter().zip(z) {
        match row.as_slice() {
            Some(row) => out.iter_mut().zip(row).for_each(|(o, v)| *o += zr * v),
            None => out.iter_mut().zip(row).for_each(|(o, v)| *o += zr * v),
        }
    }
    Array1::from_vec(out)
}

/// A dot product of two slices through ndarray's unrolled kernel (the slow part of its
/// generic matrix-vector product is the row iteration, not the dot product).
fn dot(a: &[f64], b: &[f64]) -> f64 {
    ndarray::aview1(a).dot(&ndarray::aview1(b))
}

/// The residual sum of squares of `β` from the normal equations: `y'y − 2β'X'y + β'X'Xβ`.
fn rss(gram: ArrayView2<f64>, rhs: ArrayView1<f64>, yy: f64, beta: &Array1<f64>) -> f64 {
    let value = yy - 2.0 * beta.dot(&rhs) + beta.dot(&gram.dot(beta));
    value.max(0.0)
}

/// Mean and standard deviation (1 for a constant) of `values`.
fn standardize(values: &[f64]) -> Result<(f64, f64), ForecastError> {
    let n = values.len() as f64;
    let mean = values.iter().sum::<f64>() / n;
    if !mean.is_finite() {
        return Err(ForecastError::Fit(
            "values too large: their mean overflows".to_string(),
        ));
    }
    let var = values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / n;
    let sd = var.sqrt();
    Ok((mean, if sd.is_finite() && sd > 0.0 { sd } else { 1.0 }))
}

/// Chooses the transform for the observed values `ys` (the design's `x` and `gram = x'x` give
/// the Box-Cox profile likelihood), with a note when one asked for is not applied.
fn choose_transform(
    transform: Transform,
    ys: &[f64],
    rows: &DesignRows,
    gram: ArrayView2<f64>,
    ridge: f64,
    notes: &mut Vec<String>,
) -> Result<Option<BoxCox>, ForecastError> {
    if transform == Transform::None {
        return Ok(None);
    }
    let min = ys.iter().copied().fold(f64::INFINITY, f64::min);
    if min < 0.0 {
        if transform == Transform::Auto {
            return Ok(None);
        }
        return Err(ForecastError::InvalidSpec(format!(
            "transform {}: the data has negative values (down to {min}); use transform none",
            if transform == Transform::Log {
                "log"
            } else {
                "box-cox"
            }
        )));
    }
    let shift = if min > 0.0 {
        0.0
    } else {
        let mean = ys.iter().sum::<f64>() / ys.len() as f64;
        if mean > 0.0 && mean.is_finite() {
            ZERO_SHIFT * mean
        } else {
            1.0
        }
    };
    if shift > 0.0 {
        notes.push(format!(
            "the data has zeros: shifted by {} before the transform",
            json_exact(shift)
        ));
    }
    if transform == Transform::Log {
        return Ok(Some(BoxCox { lambda: 0.0, shift }));
    }
    // Profile likelihood of λ: −n/2·ln(RSS(λ)/n) + (λ−1)·Σ ln(y + shift).
    let n = ys.len() as f64;
    let mut best: Option<(f64, f64)> = None;
    for lambda in LAMBDAS {
        let transform = BoxCox { lambda, shift };
        let zs: Vec<f64> = ys.iter().map(|y| transform.forward(*y)).collect();
        if !zs.iter().all(|z| z.is_finite()) {
            continue;
        }
        let Ok((mean, sd)) = standardize(&zs) else {
            continue;
        };
        let z = Array1::from_iter(zs.iter().map(|z| (z - mean) / sd));
        let rhs = rows.t_mul(z.as_slice().expect("a vector"));
        let Ok(beta) = solve(gram, rhs.view(), ridge) else {
            continue;
        };
        let rss = rss(gram, rhs.view(), z.dot(&z), &beta) * sd * sd;
        if !(rss > 0.0 && rss.is_finite()) {
            // A perfect fit: nothing to stabilize.
            return Ok(None);
        }
        let ll = -0.5 * n * (rss / n).ln() + BoxCox::log_jacobian(lambda, shift, ys);
        if ll.is_finite() && best.is_none_or(|(b, _)| ll > b) {
            best = Some((ll, lambda));
        }
    }
    match best {
        Some((_, lambda)) if lambda < 1.0 => Ok(Some(BoxCox { lambda, shift })),
        _ => Ok(None),
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

/// Fits on prepared history (without intervals) and also returns the regression's values per
/// step of `history` in the transformed units (NaN at gaps), fitted on the days before each day
/// ([`fitted_on_days_before`]) for the days from step `from` on, the fit's own before them: what
/// [`FittedLinearSeasonal::cross_validated_forecasts`] forecasts from. `None` when no observed
/// day lies before the one holding `from`, or no observed step from `from` on.
pub(crate) fn fit_cross_validated(
    spec: &LinearSeasonalSpec,
    history: &History,
    from: usize,
) -> Result<(FittedLinearSeasonal, Option<Vec<f64>>), ForecastError> {
    fit_from(spec, history, false, None, Some(from))
}

/// Refits on prepared history starting from the series' `previous` fit of the same spec (a few
/// steps earlier): its weekend decision is kept and its coefficients start the robust
/// iterations, which then need only [`WARM_ITERATIONS`] (the iterations carry on across the
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

fn fit_from(
    spec: &LinearSeasonalSpec,
    history: &History,
    with_intervals: bool,
    previous: Option<&FittedLinearSeasonal>,
    cross_validate_from: Option<usize>,
) -> Result<(FittedLinearSeasonal, Option<Vec<f64>>), ForecastError> {
    if history.observed < 2 {
        return Err(ForecastError::TooShort {
            needed: 2,
            have: history.observed,
        });
    }
    let (mut design, mut notes) = choose_design(spec, history);

    let rows = DesignRows::new(&design, history);
    let n_obs = rows.len();
    let ys: Vec<f64> = rows.grid.iter().map(|&i| history.values[i]).collect();
    standardize(&ys)?;
    let p_all = design.columns();
    let gram_all = rows.gram(&design);
    let ridge = RIDGE * n_obs as f64;

    let transform = choose_transform(
        spec.transform,
        &ys,
        &rows,
        gram_all.view(),
        ridge,
        &mut notes,
    )?;
    let zs: Vec<f64> = match &transform {
        Some(t) => ys.iter().map(|y| t.forward(*y)).collect(),
        None => ys.clone(),
    };
    // The target standardized, so that the ridge and the solver see O(1) numbers whatever the
    // traffic's scale.
    let (mean, sd) = standardize(&zs)?;
    let z = Array1::from_iter(zs.iter().map(|v| (v - mean) / sd));
    let rhs_all = rows.t_mul(z.as_slice().expect("a vector"));
    let zz = z.dot(&z);

    let warm =
        previous.and_then(|previous| warm_start(previous, &design, transform.as_ref(), mean, sd));
    // The weekend block, if any, is kept when asked for, or (auto) when it lowers the BIC; a
    // warm refit keeps the previous fit's decision.
    let mut p = p_all;
    let warm_started = warm.is_some();
    let mut beta = match warm {
        Some(start) => {
            if start.len() < p_all {
                design.weekend.clear();
                p = start.len();
            }
            start
        }
        None => solve(gram_all.view(), rhs_all.view(), ridge)?,
    };
    if !warm_started && !design.weekend.is_empty() && spec.weekday_shape == WeekdayShape::Auto {
        let base = design.base_columns();
        let reduced = solve(
            gram_all.slice(s![..base, ..base]),
            rhs_all.slice(s![..base]),
            ridge,
        )?;
        let n = n_obs as f64;
        let bic =
            |rss: f64, k: usize| n * (rss.max(f64::MIN_POSITIVE) / n).ln() + k as f64 * n.ln();
        let full_bic = bic(rss(gram_all.view(), rhs_all.view(), zz, &beta), p_all);
        let reduced_bic = bic(
            rss(
                gram_all.slice(s![..base, ..base]),
                rhs_all.slice(s![..base]),
                zz,
                &reduced,
            ),
            base,
        );
        if reduced_bic <= full_bic {
            design.weekend.clear();
            p = base;
            beta = reduced;
        }
    }
    let gram = gram_all.slice(s![..p, ..p]);
    let rhs = rhs_all.slice(s![..p]);

    if spec.robust {
        let iterations = if warm_started {
            WARM_ITERATIONS
        } else {
            ROBUST_ITERATIONS
        };
        beta = robust_refit(&design, &rows, gram, rhs, &z, beta, ridge, iterations)?;
    } else if warm_started {
        beta = solve(gram, rhs, ridge)?;
    }

    // Residuals on the grid (NaN at gaps), in the transformed units.
    let fitted_values = rows.mul(beta.view());
    let mut residuals = vec![f64::NAN; history.len()];
    for (r, &i) in rows.grid.iter().enumerate() {
        residuals[i] = (z[r] - fitted_values[r]) * sd;
    }
    let cross_validated = match cross_validate_from {
        Some(from) => {
            let standardized: Vec<f64> = z.iter().zip(&fitted_values).map(|(z, f)| z - f).collect();
            let weights = if spec.robust {
                huber_weights(&standardized)
            } else {
                vec![1.0; n_obs]
            };
            let fit = WeightedFit {
                design: &design,
                rows: &rows,
                gram,
                rhs,
                z: &z,
                weights: &weights,
                ridge,
            };
            // Steps before the days forecast keep the fit's own values: the correction's state
            // at the first calibration origins starts from their residuals.
            fitted_on_days_before(&fit, history, from)?.map(|day_ahead| {
                let mut on_grid = vec![f64::NAN; history.len()];
                for ((&i, v), own) in rows.grid.iter().zip(day_ahead).zip(&fitted_values) {
                    on_grid[i] = if v.is_nan() { *own } else { v } * sd + mean;
                }
                on_grid
            })
        }
        None => None,
    };

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
    let weekend = (!design.weekend.is_empty()).then(|| {
        let base = design.base_columns();
        Weekend {
            level: beta[base] * sd,
            terms: design
                .weekend
                .iter()
                .enumerate()
                .map(|(i, &j)| FourierTerm {
                    period: design.terms[j].0,
                    k: design.terms[j].1,
                    sin: beta[base + 1 + 2 * i] * sd,
                    cos: beta[base + 2 + 2 * i] * sd,
                })
                .collect(),
        }
    });

    let ar = fit_ar(&residuals, spec.ar_order);
    let last = rows.grid.last().copied().unwrap_or(0);
    let state = state_at(&ar, &residuals[..=last]);
    let correction = Correction {
        ar,
        state,
        at: history.time(last),
    };
    let errors = if with_intervals {
        let mut errors = error_quantiles(&residuals, &correction.ar);
        let params = p + correction.ar.len();
        if n_obs > params {
            errors.scale((n_obs as f64 / (n_obs - params) as f64).sqrt());
        }
        errors
    } else {
        ErrorQuantiles::zero()
    };
    let mut model = FittedLinearSeasonal {
        intercept,
        trend,
        terms,
        weekend,
        seasons: design.seasons,
        transform,
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
    Ok((model, cross_validated))
}

/// The robust standard deviation of the observed values: 1.4826 · their median absolute value
/// (the residuals are centred by the regression); NaN when none is observed.
fn robust_scale(values: &[f64]) -> f64 {
    let mut abs: Vec<f64> = values
        .iter()
        .filter(|v| !v.is_nan())
        .map(|v| v.abs())
        .collect();
    MAD_TO_SD * intervals::empirical_quantiles(&mut abs, &[0.5])[0]
}

/// The Huber weights of standardized residuals: 1 within [`HUBER`] robust scales, `limit/|r|`
/// beyond; all 1 for a (nearly) perfect fit (the residuals are standardized, so a scale of
/// 1e-9 is tiny).
fn huber_weights(residuals: &[f64]) -> Vec<f64> {
    let scale = robust_scale(residuals);
    if scale.is_nan() || scale <= 1e-9 {
        return vec![1.0; residuals.len()];
    }
    let limit = HUBER * scale;
    residuals
        .iter()
        .map(|r| {
            if r.abs() > limit {
                limit / r.abs()
            } else {
                1.0
            }
        })
        .collect()
}

/// The rows whose weight is below 1, with `√(1 − w)`: what `X'WX = X'X − Σ (1 − wᵢ) xᵢxᵢ'`
/// subtracts.
fn down_weighted(weights: &[f64]) -> Vec<(usize, f64)> {
    weights
        .iter()
        .enumerate()
        .filter(|(_, w)| **w < 1.0)
        .map(|(i, w)| (i, (1.0 - w).sqrt()))
        .collect()
}

/// At most this many day-ahead blocks (days, or longer blocks for long histories).
const MAX_BLOCKS: usize = 64;

/// A weighted least-squares fit's parts: `X'X` and `X'z` unweighted (as the fit built them),
/// the per-row weights it ended with.
struct WeightedFit<'a> {
    design: &'a Design,
    rows: &'a DesignRows,
    gram: ArrayView2<'a, f64>,
    rhs: ArrayView1<'a, f64>,
    z: &'a Array1<f64>,
    weights: &'a [f64],
    ridge: f64,
}

impl WeightedFit<'_> {
    /// `(X'X, X'z)` over `rows` `(row, factor)`, each row times its factor (`√w` gives that
    /// row's share of `X'WX`, `√(1 − w)` what down-weighting it subtracts).
    fn products(&self, rows: &[(usize, f64)]) -> (Array2<f64>, Array1<f64>) {
        let p = self.rhs.len();
        let z = self.z.as_slice().expect("a vector");
        let (x, zw, weekend_from) = self.rows.scaled_rows(rows, z, p);
        (
            gram(self.design, x.view(), weekend_from),
            t_mat_vec(x.view(), &zw),
        )
    }
}

/// Day-ahead values of the regression, per observed row (standardized units; NaN before step
/// `from`): the observed rows are cut into days counted back from the end of `history`, and the
/// rows of each day from `from` on get the values of the coefficients fitted on the days before
/// it with the same weights (`X'WX` less the products of that day and every later one, summed
/// going back from the end: a pass over the rows from `from` on and a `p×p` solve per day, no
/// refit). Out of sample for each of those days, and forecast the way the final fit forecasts:
/// from the past alone, not interpolated between days on both sides (which knows the level the
/// days after reached, and was measured too narrow where it drifts). `None` when no observed
/// row lies before the first of those days or none from `from` on.
fn fitted_on_days_before(
    fit: &WeightedFit,
    history: &History,
    from: usize,
) -> Result<Option<Vec<f64>>, ForecastError> {
    let rows = fit.rows;
    let len = history.len();
    let block_steps = history.steps_per_day().max(len.div_ceil(MAX_BLOCKS));
    let block_of = |r: usize| (len - 1 - rows.grid[r]) / block_steps;
    let n = rows.len();
    let first = rows.grid.partition_point(|&i| i < from);
    if first >= n || block_of(0) == block_of(first) {
        return Ok(None);
    }
    // X'WX over every row: the unweighted products less the down-weighted rows' share.
    let (gram_down, rhs_down) = fit.products(&down_weighted(fit.weights));
    let mut gram_before = &fit.gram - &gram_down;
    let mut rhs_before = &fit.rhs - &rhs_down;
    let mut values = vec![f64::NAN; n];
    // The blocks (consecutive rows, rows being in time order) from the last back to the one
    // that holds `first`, each taking its products (with √w) off what the earlier ones see.
    let mut end = n;
    while end > first {
        let block = block_of(end - 1);
        let start = rows.grid[..end].partition_point(|&i| (len - 1 - i) / block_steps > block);
        let chosen: Vec<(usize, f64)> = (start..end).map(|r| (r, fit.weights[r].sqrt())).collect();
        let (g, b) = fit.products(&chosen);
        gram_before -= &g;
        rhs_before -= &b;
        let beta = solve(gram_before.view(), rhs_before.view(), fit.ridge)?;
        let from_row = start.max(first);
        for (r, value) in (from_row..end).zip(&mut values[from_row..end]) {
            *value = rows.value(r, beta.view());
        }
        end = start;
    }
    Ok(Some(values))
}

/// Iteratively re-weighted least squares with Huber weights on residuals standardized by their
/// MAD. Only rows whose weight drops below 1 are touched: `X'WX = X'X − Σ (1 − wᵢ) xᵢxᵢ'`.
#[allow(clippy::too_many_arguments)]
fn robust_refit(
    design: &Design,
    rows: &DesignRows,
    gram_x: ArrayView2<f64>,
    rhs: ArrayView1<f64>,
    z: &Array1<f64>,
    mut beta: Array1<f64>,
    ridge: f64,
    iterations: usize,
) -> Result<Array1<f64>, ForecastError> {
    let n = z.len();
    for _ in 0..iterations {
        let residuals = z - &rows.mul(beta.view());
        let down = down_weighted(&huber_weights(residuals.as_slice().expect("a vector")));
        if down.is_empty() {
            break;
        }
        let z_rows = z.as_slice().expect("a vector");
        let (xd, zd, down_weekend_from) = rows.scaled_rows(&down, z_rows, beta.len());
        let gram_w = &gram_x - &gram(design, xd.view(), down_weekend_from);
        let rhs_w = &rhs - &t_mat_vec(xd.view(), &zd);
        let next = solve(gram_w.view(), rhs_w.view(), ridge)?;
        let change = (&next - &beta).iter().fold(0.0f64, |m, d| m.max(d.abs()));
        beta = next;
        if change < 1e-6 || down.len() == n {
            break;
        }
    }
    Ok(beta)
}

/// The previous fit's coefficients in this fit's standardized columns, to start the robust
/// iterations from: `None` when its design differs (other Fourier terms, no trend on one side,
/// another transform, a weekend block this design cannot have). The trend column is rescaled to
/// this window's centre and scale, the level takes the difference of centres.
fn warm_start(
    previous: &FittedLinearSeasonal,
    design: &Design,
    transform: Option<&BoxCox>,
    mean: f64,
    sd: f64,
) -> Option<Array1<f64>> {
    let same_terms = |fitted: &[FourierTerm], columns: &[usize]| {
        fitted
            .iter()
            .map(|t| (t.period, t.k))
            .eq(columns.iter().map(|&j| design.terms[j]))
    };
    let every_term: Vec<usize> = (0..design.terms.len()).collect();
    if previous.transform.as_ref() != transform || !same_terms(&previous.terms, &every_term) {
        return None;
    }
    let mut beta = vec![previous.intercept];
    match (&previous.trend, design.trend) {
        (Some(old), Some((center, scale, _))) => {
            beta[0] += old.slope * (center - old.center) as f64 / old.scale;
            beta.push(old.slope * scale / old.scale);
        }
        (None, None) => {}
        _ => return None,
    }
    beta[0] -= mean;
    for term in &previous.terms {
        beta.extend([term.sin, term.cos]);
    }
    if let Some(weekend) = &previous.weekend {
        if design.weekend.is_empty() || !same_terms(&weekend.terms, &design.weekend) {
            return None;
        }
        beta.push(weekend.level);
        for term in &weekend.terms {
            beta.extend([term.sin, term.cos]);
        }
    }
    let beta = Array1::from_iter(beta.into_iter().map(|b| b / sd));
    beta.iter().all(|b| b.is_finite()).then_some(beta)
}

/// The phase angle of `t` in a `period`-second season, from absolute time.
fn angle(t: i64, period: i64) -> f64 {
    std::f64::consts::TAU * t.rem_euclid(period) as f64 / period as f64
}

/// An AR(p) on the residuals, p ≤ `max_order` chosen by AIC, fitted by least squares (no
/// intercept: the residuals are centred by the regression) to the residuals clipped at
/// [`AR_CLIP`] robust scales, on every residual whose `max_order` predecessors are observed,
/// so gaps are skipped, never filled. Empty when no order beats white noise or the data is too
/// thin.
fn fit_ar(residuals: &[f64], max_order: usize) -> Vec<f64> {
    // The orders tried are those the data can support: at least 10 windows per coefficient
    // (a short history lowers the largest order tried rather than losing the correction).
    let observed = residuals.iter().filter(|r| !r.is_nan()).count();
    // (`observed − q ≥ 10 (q + 1)`, the check below, for one run without gaps).
    let q = max_order.min(observed.saturating_sub(10) / 11);
    if q == 0 || residuals.len() <= q {
        return Vec::new();
    }
    // Bounded influence: a flash crowd is a few residuals tens of scales out, and least squares
    // would fit the AR to its shape; clipped at AR_CLIP robust scales, it counts as a large
    // deviation, not as the dynamics. (The state a forecast starts from is not clipped.)
    let bound = AR_CLIP * robust_scale(residuals);
    // No scale (most residuals 0, or none observed): nothing to clip.
    let bound = if bound > 0.0 { bound } else { f64::INFINITY };
    let clipped: Vec<f64> = residuals.iter().map(|r| r.clamp(-bound, bound)).collect();
    let residuals = &clipped[..];
    // Cross-products Σ r_{t−a}·r_{t−b} (0 ≤ a ≤ b ≤ q) over the complete windows, run by run
    // of consecutive observations.
    let mut m = Array2::<f64>::zeros((q + 1, q + 1));
    let mut count = 0usize;
    for run in residuals.split(|r| r.is_nan()) {
        if run.len() <= q {
            continue;
        }
        lagged_cross_products(run, q, &mut m);
        count += run.len() - q;
    }
    if count < 10 * (q + 1)
        || m[(0, 0)].is_nan()
        || m[(0, 0)] <= 0.0
        || !m.iter().all(|v| v.is_finite())
    {
        return Vec::new();
    }
    for a in 0..=q {
        for b in 0..a {
            m[(a, b)] = m[(b, a)];
        }
    }
    let n = count as f64;
    let mut best = (n * (m[(0, 0)] / n).ln(), Vec::new());
    for k in 1..=q {
        let gram = m.slice(s![1..=k, 1..=k]);
        let rhs = m.slice(s![1..=k, 0]);
        let ridge = 1e-10 * (0..k).map(|i| gram[(i, i)]).sum::<f64>() / k as f64;
        let Ok(phi) = solve(gram, rhs, ridge) else {
            continue;
        };
        let rss = m[(0, 0)] - phi.dot(&rhs);
        if rss.is_nan() || rss <= 0.0 {
            continue;
        }
        let aic = n * (rss / n).ln() + 2.0 * k as f64;
        if aic < best.0 {
            best = (aic, phi.to_vec());
        }
    }
    stabilize(best.1)
}

/// Adds `Σ r[t−a]·r[t−b]` over the complete windows `t = q … len − 1` of one run to `m[(a, b)]`,
/// for `0 ≤ a ≤ b ≤ q`. The sum for `(a, b)` is the run's lag-`(b − a)` product sum less its
/// first `q − b` and last `a` terms, so a long run costs `q + 1` dot products plus `O(q³)`
/// edge terms instead of `(q + 1)(q + 2)/2` dot products; a short run is summed directly.
fn lagged_cross_products(run: &[f64], q: usize, m: &mut Array2<f64>) {
    let len = run.len();
    let windows = len - q;
    if windows <= 4 * (q + 1) * (q + 1) {
        for a in 0..=q {
            for b in a..=q {
                m[(a, b)] += dot(&run[q - a..q - a + windows], &run[q - b..q - b + windows]);
            }
        }
        return;
    }
    let lag_sums: Vec<f64> = (0..=q).map(|d| dot(&run[..len - d], &run[d..])).collect();
    for a in 0..=q {
        for b in a..=q {
            let d = b - a;
            let head: f64 = (0..q - b).map(|u| run[u] * run[u + d]).sum();
            let tail: f64 = (len - b..len - d).map(|u| run[u] * run[u + d]).sum();
            m[(a, b)] += lag_sums[d] - head - tail;
        }
    }
}

/// Shrinks the AR's roots inside [`MAX_ROOT`] (`φⱼ → φⱼ·γʲ` scales every root by γ), so its
/// forecasts always decay to zero. The spectral radius is estimated from the growth of the
/// companion recursion over many steps.
fn stabilize(mut ar: Vec<f64>) -> Vec<f64> {
    for _ in 0..3 {
        let radius = spectral_radius(&ar);
        if !radius.is_finite() {
            return Vec::new();
        }
        if radius <= MAX_ROOT {
            return ar;
        }
        let gamma = MAX_ROOT / radius * 0.999;
        let mut g = 1.0;
        for phi in &mut ar {
            g *= gamma;
            *phi *= g;
        }
    }
    if spectral_radius(&ar) <= MAX_ROOT {
        ar
    } else {
        Vec::new()
    }
}

/// The spectral radius of the AR's companion matrix, from the growth rate of its recursion.
fn spectral_radius(ar: &[f64]) -> f64 {
    const STEPS: usize = 2000;
    /// Steps between renormalizations (growth over them stays far inside f64's range for any
    /// radius this is asked about; an overflow reads as an infinite radius).
    const RESCALE: usize = 25;
    if ar.is_empty() {
        return 0.0;
    }
    if ar.len() == 1 {
        return ar[0].abs();
    }
    let p = ar.len();
    // The recursion runs forward in one buffer, oldest value first, so that each step is one
    // dot product of the coefficients (reversed) with the last p values.
    let reversed: Vec<f64> = ar.iter().rev().copied().collect();
    let mut x: Vec<f64> = Vec::with_capacity(STEPS + p);
    // An arbitrary start that excites every root.
    x.extend((0..p).rev().map(|i| 1.0 / (i + 1) as f64));
    // ln of the size of the last p values, the scale divided out so far included.
    let mut log_scale = 0.0;
    let mut log_half = 0.0;
    for step in 1..=STEPS {
        let t = x.len();
        x.push(dot(&reversed, &x[t - p..t]));
        if step % RESCALE == 0 || step == STEPS / 2 || step == STEPS {
            let t = x.len();
            let window = &mut x[t - p..];
            let norm = window.iter().map(|s| s.abs()).fold(0.0, f64::max);
            if norm == 0.0 || !norm.is_finite() {
                return if norm == 0.0 { 0.0 } else { f64::INFINITY };
            }
            for s in window.iter_mut() {
                *s /= norm;
            }
            log_scale += norm.ln();
            if step == STEPS / 2 {
                log_half = log_scale;
            }
        }
    }
    ((log_scale - log_half) / (STEPS - STEPS / 2) as f64).exp()
}

/// The AR state (the last p residuals, most recent first) at the last observed value of
/// `residuals`; missing values inside it are filled by the AR's own one-step forecasts, values
/// before the window count as 0 (the residuals' mean).
fn state_at(ar: &[f64], residuals: &[f64]) -> Vec<f64> {
    let p = ar.len();
    if p == 0 {
        return Vec::new();
    }
    let Some(last) = residuals.iter().rposition(|v| !v.is_nan()) else {
        return vec![0.0; p];
    };
    let from = last.saturating_sub(4 * p);
    let mut filled: Vec<f64> = Vec::with_capacity(last + 1 - from);
    for &v in &residuals[from..=last] {
        let x = if v.is_nan() {
            ar.iter()
                .enumerate()
                .map(|(j, a)| a * filled.len().checked_sub(j + 1).map_or(0.0, |i| filled[i]))
                .sum()
        } else {
            v
        };
        filled.push(x);
    }
    (0..p)
        .map(|j| filled.len().checked_sub(j + 1).map_or(0.0, |i| filled[i]))
        .collect()
}

/// The AR's forecasts 1, 2, … steps after its state, at most `steps` of them: shorter when the
/// rest is negligible (every later value is then 0).
fn ar_path(ar: &[f64], state: &[f64], steps: usize) -> Vec<f64> {
    let p = ar.len();
    if p == 0 || state.len() != p {
        return Vec::new();
    }
    let size = state.iter().fold(0.0f64, |m, s| m.max(s.abs()));
    let mut window: Vec<f64> = state.to_vec();
    let mut path = Vec::new();
    while path.len() < steps {
        let next: f64 = ar.iter().zip(&window).map(|(a, s)| a * s).sum();
        window.rotate_right(1);
        window[0] = next;
        path.push(next);
        if window.iter().all(|w| w.abs() <= 1e-12 * size) {
            break;
        }
    }
    path
}

/// `c[d]` such that the AR's forecast `d + 1` steps after its state `s` is `c[d] · s`, for
/// `d < count` — fewer once `p` rows in a row are negligible (`Σ|c[d]| ≤ 1e-12`: every later
/// forecast is then 0 to within 1e-12 of the state).
fn lead_coefficients(ar: &[f64], count: usize) -> Vec<Vec<f64>> {
    let p = ar.len();
    // history[i]: coefficients of value i − p + 1 relative to the state (state[0] = index p − 1).
    let mut history: Vec<Vec<f64>> = (0..p)
        .map(|i| {
            let mut e = vec![0.0; p];
            e[p - 1 - i] = 1.0;
            e
        })
        .collect();
    let mut negligible = 0;
    for _ in 0..count {
        let len = history.len();
        let mut c = vec![0.0; p];
        for (j, a) in ar.iter().enumerate() {
            for (ci, hi) in c.iter_mut().zip(&history[len - 1 - j]) {
                *ci += a * hi;
            }
        }
        negligible = if c.iter().map(|v| v.abs()).sum::<f64>() <= 1e-12 {
            negligible + 1
        } else {
            0
        };
        history.push(c);
        if negligible >= p {
            break;
        }
    }
    history.split_off(p)
}

/// Errors of the corrected h-step forecasts from every origin whose p residuals before it are
/// observed: `r[o+h] − c[h] · (r[o−1], …, r[o−p])` — from every `stride`-th origin when there
/// are more than [`MAX_ERROR_ORIGINS`] (neighbouring origins' errors are nearly the same).
fn error_quantiles(residuals: &[f64], ar: &[f64]) -> ErrorQuantiles {
    let n = residuals.len();
    let p = ar.len();
    let mut anchors = Vec::new();
    let stride = n.saturating_sub(p).div_ceil(MAX_ERROR_ORIGINS).max(1);
    let mut h = 0;
    let mut leads = lead_coefficients(ar, 1);
    loop {
        if leads.len() <= h {
            leads = lead_coefficients(ar, h + 1);
        }
        let c = leads.get(h).cloned().unwrap_or_default();
        let errors: Vec<f64> = (p..n.saturating_sub(h))
            .step_by(stride)
            .filter_map(|o| {
                let actual = residuals[o + h];
                let mut forecast = 0.0;
                for (j, cj) in c.iter().enumerate() {
                    forecast += cj * residuals[o - 1 - j];
                }
                let e = actual - forecast;
                (!e.is_nan()).then_some(e)
            })
            .collect();
        anchors.push((h, errors));
        let reach: f64 = c.iter().map(|v| v.abs()).sum();
        if reach < AR_NEGLIGIBLE || h >= MAX_ANCHOR || h >= n / 2 {
            break;
        }
        h = if h == 0 { 1 } else { h * 2 };
    }
    ErrorQuantiles::from_errors(anchors, |_, _| 1.0)
}

impl FittedLinearSeasonal {
    /// The regression part in the transformed space (no correction).
    fn value_z(&self, t: i64) -> f64 {
        let mut value = self.intercept;
        if let Some(trend) = &self.trend {
            value += trend.slope * Trend::x(trend.center, trend.scale, trend.until, t);
        }
        let fourier = |terms: &[FourierTerm]| -> f64 {
            terms
                .iter()
                .filter(|term| term.period > 0)
                .map(|term| {
                    let (s, c) = (angle(t, term.period) * term.k as f64).sin_cos();
                    term.sin * s + term.cos * c
                })
                .sum()
        };
        value += fourier(&self.terms);
        if let Some(weekend) = &self.weekend
            && is_weekend(t)
        {
            value += weekend.level + fourier(&weekend.terms);
        }
        value
    }

    /// Back to the data's units.
    fn inverse(&self, z: f64) -> f64 {
        match &self.transform {
            Some(t) => t.inverse(z),
            None => z,
        }
    }

    /// The regression part (level, trend, seasons, weekend shape) at any timestamp, back-
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

    pub fn training(&self) -> &TrainingInfo {
        &self.training
    }

    /// Point forecasts of steps `origin..(origin + len).min(history.len())` from each origin
    /// (indices into `history`, all ≥ the training length): the coefficients stay those of this
    /// fit, the residual correction restarts from the residuals before each origin. Point
    /// forecasts are the back-transformed regression + correction (the holdout fits have no
    /// error table).
    pub(crate) fn holdout_forecasts(
        &self,
        history: &History,
        origins: &[usize],
        len: usize,
    ) -> Vec<Vec<f64>> {
        let split = self.training.points.min(history.len());
        let base: Vec<f64> = (split..history.len())
            .map(|i| self.value_z(history.time(i)))
            .collect();
        self.forecasts_from(history, split, &base, origins, len)
    }

    /// Point forecasts as [`Self::holdout_forecasts`] makes them, from any origins of the
    /// history this model was fitted on, with the regression's day-ahead `values`
    /// (from [`fit_cross_validated`]) in place of its own: every forecast step, and every
    /// residual the correction starts from, out of sample for its day.
    pub(crate) fn cross_validated_forecasts(
        &self,
        history: &History,
        values: &[f64],
        origins: &[usize],
        len: usize,
    ) -> Vec<Vec<f64>> {
        self.forecasts_from(history, 0, values, origins, len)
    }

    /// Forecasts from `origins` (clamped to ≥ `split`) with the regression's values `base` for
    /// the steps from `split` on.
    fn forecasts_from(
        &self,
        history: &History,
        split: usize,
        base: &[f64],
        origins: &[usize],
        len: usize,
    ) -> Vec<Vec<f64>> {
        let residuals: Vec<f64> = (split..history.len())
            .map(|i| {
                let v = history.values[i];
                let z = match &self.transform {
                    Some(t) => t.forward(v),
                    None => v,
                };
                z - base[i - split]
            })
            .collect();
        let step = history.step.max(1) as i128;
        // Lead coefficients for `leads_for` steps (fewer when the rest are negligible).
        let (mut leads, mut leads_for): (Vec<Vec<f64>>, usize) = (Vec::new(), 0);
        origins
            .iter()
            .map(|&origin| {
                let origin = origin.clamp(split, history.len());
                let seen = &residuals[..origin - split];
                let (state, at) = match seen.iter().rposition(|v| !v.is_nan()) {
                    Some(last) => (
                        state_at(&self.correction.ar, seen),
                        history.time(split + last),
                    ),
                    None => (self.correction.state.clone(), self.correction.at),
                };
                let first = ((history.time(origin) as i128 - at as i128) / step).max(1);
                let offset = usize::try_from(first - 1).unwrap_or(usize::MAX);
                let end = origin.saturating_add(len).min(history.len());
                let steps = offset.saturating_add(end - origin);
                // The correction's path from the state through lead coefficients shared by
                // every origin (a dot product per step, no recursion).
                if leads_for < steps && !self.correction.ar.is_empty() {
                    leads_for = steps.max(2 * leads_for);
                    leads = lead_coefficients(&self.correction.ar, leads_for);
                }
                (origin..end)
                    .map(|i| {
                        let lead = offset.saturating_add(i - origin);
                        let correction = leads.get(lead).map_or(0.0, |c| dot(c, &state));
                        self.inverse(base[i - split] + correction)
                    })
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
            && self.correction.ar.iter().all(|a| a.is_finite())
            && self.correction.state.iter().all(|s| s.is_finite())
            && self.errors.is_finite()
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
}

impl Predict for FittedLinearSeasonal {
    /// The point forecast is the median: the back-transformed median of the transformed
    /// forecast (regression + AR correction + the median of its errors at that horizon); bands
    /// are error quantiles added in the transformed space, then back-transformed.
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
        let at = self.correction.at;
        // Steps between the last observation and the origin (trailing gaps) count as horizon.
        let offset = usize::try_from((origin as i128 - at as i128) / step as i128 - 1).unwrap_or(0);
        let path = ar_path(
            &self.correction.ar,
            &self.correction.state,
            offset.saturating_add(horizon),
        );
        let mut zhat: Vec<f64> = (0..horizon)
            .map(|h| {
                let t = origin + h as i64 * step;
                let lead = offset.saturating_add(h);
                self.value_z(t) + path.get(lead).copied().unwrap_or(0.0)
            })
            .collect();
        let mut asked = levels.to_vec();
        asked.push(0.5);
        let clamp_z = self.transform.is_none() && self.training.nonnegative;
        let mut bands = intervals::bands(
            &mut zhat,
            &asked,
            &self.errors,
            |h| h.saturating_add(offset),
            clamp_z,
        );
        let median = bands.pop().map(|band| band.values).unwrap_or_default();
        let back = |z: f64| {
            let y = self.inverse(z);
            if self.training.nonnegative {
                y.max(0.0)
            } else {
                y
            }
        };
        let yhat = median.into_iter().map(back).collect();
        let bands = bands
            .into_iter()
            .map(|band| Band {
                level: band.level,
                values: band.values.into_iter().map(back).collect(),
            })
            .collect();
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

    fn spec_with(
        seasons: &[&str],
        edit: impl FnOnce(&mut LinearSeasonalSpec),
    ) -> LinearSeasonalSpec {
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
        // gets is that of a fit on the days before it, here checked for the sixth day from the
        // end by fitting the history up to that day and extrapolating.
        let spec = spec_with(&["1d", "7d"], |s| {
            s.robust = false;
            s.ar_order = 0;
        });
        let series = series_with_an_outage(0);
        let history = History::new(&series).unwrap();
        let per_day = 48;
        let len = history.len();
        let (_, values) = fit_cross_validated(&spec, &history, len - 6 * per_day).unwrap();
        let values = values.unwrap();
        let day = len - 6 * per_day..len - 5 * per_day;
        let before = spec.fit(&series.slice(0..day.start)).unwrap();
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
            fit_cross_validated(&spec, &history, 10)
                .unwrap()
                .1
                .is_none()
        );
        // From a later step on only: the earlier steps carry the fit's own values (where the
        // correction's state at the first calibration origin comes from).
        let (model, values) = fit_cross_validated(&spec, &history, len - per_day).unwrap();
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
            (len - per_day..len)
                .any(|i| (values[i] - model.value_at(history.time(i))).abs() > 1e-3),
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
        let clean = fit_ar(&residuals, 5);
        for (i, r) in residuals[3_000..3_012].iter_mut().enumerate() {
            *r += 400.0 * (1.0 - (i as f64 - 6.0).abs() / 6.0);
        }
        let spiked = fit_ar(&residuals, 5);
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
        let ar = fit_ar(&ar1_residuals(23, 168), 24);
        assert!(!ar.is_empty() && ar.len() <= 14, "{ar:?}");
        assert!((ar[0] - 0.6).abs() < 0.2, "{ar:?}");
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
        assert!(
            model
                .training
                .fallbacks
                .iter()
                .any(|n| n.contains("season 1w") && n.contains("observed in only 1.0 cycles")),
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
        // Too short a history: no weekend shape, and a note says why.
        let short = series.slice(0..10 * 48);
        let model = spec_with(&["1d"], |s| s.weekday_shape = WeekdayShape::Weekend)
            .fit(&short)
            .unwrap();
        assert!(!model.has_weekend_shape());
        assert!(
            model
                .training()
                .fallbacks
                .iter()
                .any(|n| n.contains("two weeks"))
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
            serde_json::from_str::<LinearSeasonalSpec>(r#"{"seasons":["1d"],"robus":true}"#)
                .is_err()
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
}
