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
//! - **Initial state** (not fitted, like statsmodels' `heuristic`): from the first two cycles,
//!   gaps interpolated: the level and slope from the two cycle means, the season from the
//!   detrended values averaged over both cycles, centred (sum 0, or mean 1 when multiplicative).
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

use serde::{Deserialize, Serialize};

use super::history::{History, TrainingInfo};
use super::intervals::{self, ErrorQuantiles};
use super::{
    Fit, Forecast, ForecastError, MAX_HORIZON, Predict, check_request, check_seasons, json_exact,
    json_exact_all,
};
use crate::series::{Series, Span};

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

const BOUND_LO: f64 = 1e-4;
const BOUND_HI: f64 = 0.9999;
const PHI_LO: f64 = 0.8;
const PHI_HI: f64 = 0.98;
/// Below this many observations and without a season, no trend is fitted.
const MIN_FOR_TREND: usize = 8;
/// At least this many observations are needed at all.
const MIN_OBSERVED: usize = 3;
/// Evaluations of the objective per Nelder-Mead run, per parameter.
const EVALS_PER_DIM: usize = 50;
const MAX_ANCHOR: usize = 4096;
/// Forecast errors measured per anchor horizon, at most (origins are spread evenly).
const MAX_ORIGINS: usize = 5000;

impl HoltWintersSpec {
    pub fn new(seasons: Vec<Span>) -> HoltWintersSpec {
        HoltWintersSpec {
            seasons,
            seasonality: SeasonalityChoice::Auto,
            trend: TrendChoice::Auto,
        }
    }

    /// Validates the parameters (see [`super::ModelSpec::check`]).
    pub fn check(&self) -> Result<(), ForecastError> {
        check_seasons(&self.seasons)
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
            let exact = season.seconds() / step;
            let rem = season.seconds() % step;
            let m = if rem * 2 >= step { exact + 1 } else { exact };
            let Ok(m) = usize::try_from(m) else { continue };
            if m < 2 {
                notes.push(format!(
                    "season {season} is shorter than two steps of {step}s: ignored"
                ));
                continue;
            }
            if let Some((used, _)) = chosen {
                notes.push(format!(
                    "season {season} not used: Holt-Winters models one season, the shortest \
                     with two full cycles ({used})"
                ));
                continue;
            }
            if history.len() >= 2 * m && history.observed >= m {
                if rem != 0 {
                    notes.push(format!(
                        "season {season} is not a whole number of {step}s steps: rounded to {m} steps"
                    ));
                }
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

impl Fit for HoltWintersSpec {
    type Fitted = FittedHoltWinters;

    fn fit(&self, series: &Series) -> Result<FittedHoltWinters, ForecastError> {
        self.check()?;
        fit_history(self, &History::new(series)?, true)
    }
}

/// One model form to fit.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Form {
    seasonality: Seasonality,
    trend: Trend,
}

impl Form {
    /// Free parameters, in the order of the optimiser's vector: α, then β, g, φ when present.
    fn dims(self) -> usize {
        1 + usize::from(self.trend != Trend::None)
            + usize::from(self.seasonality != Seasonality::None)
            + usize::from(self.trend == Trend::Damped)
    }

    /// Parameters fitted plus initial states, for the AIC.
    fn k(self, m: usize) -> usize {
        let states = 1
            + usize::from(self.trend != Trend::None)
            + if self.seasonality == Seasonality::None {
                0
            } else {
                m
            };
        self.dims() + states
    }

    /// The parameters at point `u` of the unbounded space.
    fn params(self, u: &[f64; 4]) -> Smoothing {
        let squash = |x: f64, lo: f64, hi: f64| lo + (hi - lo) / (1.0 + (-x).exp());
        let mut i = 0;
        let mut next = || {
            let v = u[i];
            i += 1;
            v
        };
        let alpha = squash(next(), BOUND_LO, BOUND_HI);
        let beta = if self.trend == Trend::None {
            0.0
        } else {
            squash(next(), BOUND_LO, BOUND_HI)
        };
        let gamma = if self.seasonality == Seasonality::None {
            0.0
        } else {
            squash(next(), BOUND_LO, BOUND_HI)
        };
        let phi = match self.trend {
            Trend::None => 0.0,
            Trend::Additive => 1.0,
            Trend::Damped => squash(next(), PHI_LO, PHI_HI),
        };
        Smoothing {
            alpha,
            beta,
            gamma,
            phi,
        }
    }

    /// The point of the unbounded space for natural parameters (α, β, γ, φ).
    fn unsquash(self, alpha: f64, beta: f64, g: f64, phi: f64) -> [f64; 4] {
        let logit = |x: f64, lo: f64, hi: f64| {
            let p = ((x - lo) / (hi - lo)).clamp(1e-6, 1.0 - 1e-6);
            (p / (1.0 - p)).ln()
        };
        let mut u = [0.0; 4];
        let mut i = 0;
        u[i] = logit(alpha, BOUND_LO, BOUND_HI);
        i += 1;
        if self.trend != Trend::None {
            u[i] = logit(beta, BOUND_LO, BOUND_HI);
            i += 1;
        }
        if self.seasonality != Seasonality::None {
            u[i] = logit(g, BOUND_LO, BOUND_HI);
            i += 1;
        }
        if self.trend == Trend::Damped {
            u[i] = logit(phi, PHI_LO, PHI_HI);
        }
        u
    }
}

/// The initial state (before the first step), in scaled units.
#[derive(Debug, Clone)]
struct Init {
    level: f64,
    slope: f64,
    /// `m` values, `[j]` for phase `j` (step `j` of the history); empty without a season.
    seasonal: Vec<f64>,
}

/// The state history of one pass, for the intervals: after step `t`, the level, the slope and
/// the season value written at `t`.
struct Trace {
    level: Vec<f64>,
    slope: Vec<f64>,
    season: Vec<f64>,
}

/// The result of one pass.
#[derive(Debug, Clone, Copy)]
struct Pass {
    sse: f64,
    level: f64,
    slope: f64,
}

/// One pass of the recursion over `y` (scaled, `NaN` at gaps) from `init`, leaving the final
/// season in `ring` (`ring[j]` for phase `j mod m`). Returns an infinite SSE when a
/// multiplicative state leaves the positive numbers or anything overflows. Allocates nothing;
/// `trace` is written only when `RECORD`.
fn run<const MULT: bool, const RECORD: bool>(
    y: &[f64],
    p: &Smoothing,
    init: &Init,
    ring: &mut [f64],
    trace: &mut Trace,
) -> Pass {
    let Smoothing {
        alpha, gamma, phi, ..
    } = *p;
    let ab = alpha * p.beta;
    let (mut l, mut b) = (init.level, if phi == 0.0 { 0.0 } else { init.slope });
    let m = ring.len();
    let seasonal = m > 0;
    if seasonal {
        ring.copy_from_slice(&init.seasonal);
    }
    let mut sse = 0.0;
    let mut j = 0;
    let infeasible = Pass {
        sse: f64::INFINITY,
        level: l,
        slope: b,
    };
    for (t, &yt) in y.iter().enumerate() {
        let s = if seasonal {
            ring[j]
        } else if MULT {
            1.0
        } else {
            0.0
        };
        let lp = l + phi * b;
        if MULT && !(lp > 0.0 && s > 0.0) {
            return infeasible;
        }
        if yt.is_nan() {
            l = lp;
            b *= phi;
        } else if MULT {
            let e = yt - lp * s;
            sse += e * e;
            let es = e / s;
            l = lp + alpha * es;
            b = phi * b + ab * es;
            if seasonal {
                ring[j] = s + gamma * e / lp;
            }
        } else {
            let e = yt - lp - s;
            sse += e * e;
            l = lp + alpha * e;
            b = phi * b + ab * e;
            if seasonal {
                ring[j] = s + gamma * e;
            }
        }
        if RECORD {
            trace.level[t] = l;
            trace.slope[t] = b;
            if seasonal {
                trace.season[t] = ring[j];
            }
        }
        if seasonal {
            j += 1;
            if j == m {
                j = 0;
            }
        }
    }
    if !(sse.is_finite() && l.is_finite() && b.is_finite()) {
        return infeasible;
    }
    Pass {
        sse,
        level: l,
        slope: b,
    }
}

/// [`run`] dispatched on the seasonality, without a trace.
fn objective(y: &[f64], form: Form, p: &Smoothing, init: &Init, ring: &mut [f64]) -> f64 {
    let mut none = Trace {
        level: Vec::new(),
        slope: Vec::new(),
        season: Vec::new(),
    };
    let pass = if form.seasonality == Seasonality::Multiplicative {
        run::<true, false>(y, p, init, ring, &mut none)
    } else {
        run::<false, false>(y, p, init, ring, &mut none)
    };
    pass.sse
}

/// The initial state from the first two cycles of `y2` (interpolated, scaled); `None` when a
/// multiplicative season cannot be formed (a non-positive trend value).
fn initial(y2: &[f64], m: usize, mult: bool) -> Option<Init> {
    if m == 0 {
        // No season: the level at the first value, the slope over the first few values.
        let k = y2.len().min(10);
        let first = *y2.first()?;
        let slope = if k >= 2 {
            (y2[k - 1] - first) / (k - 1) as f64
        } else {
            0.0
        };
        return Some(Init {
            level: first - slope,
            slope,
            seasonal: Vec::new(),
        });
    }
    let c1 = y2[..m].iter().sum::<f64>() / m as f64;
    let c2 = y2[m..2 * m].iter().sum::<f64>() / m as f64;
    let slope = (c2 - c1) / m as f64;
    let center = (m as f64 - 1.0) / 2.0;
    let mut seasonal = Vec::with_capacity(m);
    for j in 0..m {
        let t0 = c1 + slope * (j as f64 - center);
        let t1 = t0 + slope * m as f64;
        let s = if mult {
            if !(t0 > 0.0 && t1 > 0.0) {
                return None;
            }
            (y2[j] / t0 + y2[j + m] / t1) / 2.0
        } else {
            (y2[j] - t0 + y2[j + m] - t1) / 2.0
        };
        seasonal.push(s);
    }
    let mean = seasonal.iter().sum::<f64>() / m as f64;
    if mult {
        if mean.is_nan() || mean <= 0.0 || seasonal.iter().any(|s| *s <= 0.0) {
            return None;
        }
        seasonal.iter_mut().for_each(|s| *s /= mean);
    } else {
        seasonal.iter_mut().for_each(|s| *s -= mean);
    }
    Some(Init {
        level: c1 - slope * (center + 1.0),
        slope,
        seasonal,
    })
}

/// Nelder-Mead over the first `dims` coordinates from `start` (initial simplex: `start` and
/// `start + step` along each axis), at most `max_evals` evaluations. Returns the best point
/// and value.
fn nelder_mead(
    f: &mut impl FnMut(&[f64; 4]) -> f64,
    start: [f64; 4],
    dims: usize,
    max_evals: usize,
    step: f64,
) -> ([f64; 4], f64) {
    // Converged when the simplex's values agree to 1e-5 (relative: a forecast cannot tell them
    // apart) or its vertices to 1e-3 in the transformed space.
    const FTOL: f64 = 1e-5;
    const XTOL: f64 = 1e-3;
    let n = dims;
    let mut simplex = [[0.0; 4]; 5];
    let mut values = [0.0; 5];
    for (i, vertex) in simplex.iter_mut().enumerate().take(n + 1) {
        *vertex = start;
        if i > 0 {
            vertex[i - 1] += step;
        }
    }
    let mut evals = 0;
    for i in 0..=n {
        values[i] = f(&simplex[i]);
        evals += 1;
    }
    let mut order = [0usize, 1, 2, 3, 4];
    loop {
        let idx = &mut order[..=n];
        idx.sort_unstable_by(|&a, &b| values[a].total_cmp(&values[b]));
        let (best, worst, second) = (idx[0], idx[n], idx[n - 1]);
        let spread = (values[worst] - values[best]).abs();
        let size = (0..=n)
            .flat_map(|i| (0..n).map(move |d| (i, d)))
            .map(|(i, d)| (simplex[i][d] - simplex[best][d]).abs())
            .fold(0.0, f64::max);
        if evals >= max_evals || spread <= FTOL * values[best].abs() + 1e-300 || size <= XTOL {
            return (simplex[best], values[best]);
        }
        let mut centroid = [0.0; 4];
        for &i in &idx[..n] {
            for d in 0..n {
                centroid[d] += simplex[i][d] / n as f64;
            }
        }
        let point = |coef: f64| {
            let mut x = [0.0; 4];
            for d in 0..n {
                x[d] = centroid[d] + coef * (simplex[worst][d] - centroid[d]);
            }
            x
        };
        let reflected = point(-1.0);
        let fr = f(&reflected);
        evals += 1;
        if fr < values[best] {
            let expanded = point(-2.0);
            let fe = f(&expanded);
            evals += 1;
            if fe < fr {
                (simplex[worst], values[worst]) = (expanded, fe);
            } else {
                (simplex[worst], values[worst]) = (reflected, fr);
            }
        } else if fr < values[second] {
            (simplex[worst], values[worst]) = (reflected, fr);
        } else {
            let contracted = if fr < values[worst] {
                point(-0.5)
            } else {
                point(0.5)
            };
            let fc = f(&contracted);
            evals += 1;
            if fc < values[worst].min(fr) {
                (simplex[worst], values[worst]) = (contracted, fc);
            } else {
                // Shrink towards the best vertex.
                let keep = simplex[best];
                for i in 0..=n {
                    if i != best {
                        for d in 0..n {
                            simplex[i][d] = keep[d] + 0.5 * (simplex[i][d] - keep[d]);
                        }
                        values[i] = f(&simplex[i]);
                        evals += 1;
                    }
                }
            }
        }
    }
}

/// A fitted form: its parameters, SSE and AIC.
struct Candidate {
    form: Form,
    params: Smoothing,
    init: Init,
    sse: f64,
    aic: f64,
}

/// Fits the parameters of `form` on `y` (scaled). Cold (`warm = None`): from a middling start,
/// then once more from the best point with a fresh simplex (which escapes a collapsed one).
/// Warm: from the parameters of a related form already fitted, one run with a smaller simplex.
fn fit_form(
    y: &[f64],
    observed: usize,
    form: Form,
    init: Init,
    ring: &mut [f64],
    warm: Option<Smoothing>,
) -> Candidate {
    let dims = form.dims();
    let mut f = |u: &[f64; 4]| objective(y, form, &form.params(u), &init, ring);
    let budget = EVALS_PER_DIM * dims;
    let best = match warm {
        Some(p) => {
            let g = if p.gamma > 0.0 { p.gamma } else { 0.1 };
            let beta = if p.beta > 0.0 { p.beta } else { 0.05 };
            let phi = if p.phi > 0.0 && p.phi < 1.0 {
                p.phi
            } else {
                0.95
            };
            let start = form.unsquash(p.alpha, beta, g, phi);
            nelder_mead(&mut f, start, dims, budget, 0.5)
        }
        None => {
            let start = form.unsquash(0.5, 0.05, 0.1, 0.95);
            let first = nelder_mead(&mut f, start, dims, budget, 1.5);
            let again = nelder_mead(&mut f, first.0, dims, budget, 0.5);
            if again.1 < first.1 { again } else { first }
        }
    };
    let n = observed.max(1) as f64;
    let aic = if best.1.is_finite() {
        n * (best.1 / n).max(1e-300).ln() + 2.0 * form.k(ring.len()) as f64
    } else {
        f64::INFINITY
    };
    Candidate {
        form,
        params: form.params(&best.0),
        init,
        sse: best.1,
        aic,
    }
}

/// Fits on prepared history; `with_intervals = false` skips the error quantiles (for model
/// selection, which only needs point forecasts).
pub(crate) fn fit_history(
    spec: &HoltWintersSpec,
    history: &History,
    with_intervals: bool,
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
    let head_len = if m > 0 { 2 * m } else { n.min(10) };
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
                    .map(|b| b.params);
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
    let trailing_gaps = history
        .values
        .iter()
        .rev()
        .take_while(|v| v.is_nan())
        .count();
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
    let mut damp = 0.0;
    let mut power = 1.0;
    let mut counted = 0usize;
    loop {
        // The trend multiplier of an (h + 1)-step forecast: φ + φ² + … + φ^(h+1).
        while counted <= h {
            power *= phi;
            damp += power;
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

    pub fn training(&self) -> &TrainingInfo {
        &self.training
    }

    /// The point forecast `h` steps after the origin (no clamping).
    pub(crate) fn point(&self, h: usize, damp: f64) -> f64 {
        let base = self.level + damp * self.slope;
        match self.seasonality {
            Seasonality::None => base,
            Seasonality::Additive => base + self.seasonal[h % self.seasonal.len()],
            Seasonality::Multiplicative => base * self.seasonal[h % self.seasonal.len()],
        }
    }

    /// The damping factor of the slope per step: 0 without a trend, 1 for an additive trend.
    fn phi(&self) -> f64 {
        match self.trend {
            Trend::None => 0.0,
            Trend::Additive => 1.0,
            Trend::Damped => self.params.phi,
        }
    }

    /// Point forecasts from later origins with the fitted parameters kept, for `auto`'s
    /// holdout: the recursion continues from the state at the end of the training data over
    /// the steps of `history` after it, and each of `origins` (indices into `history`, at or
    /// after the training data's end) gets the forecasts of steps `origin..origin + len` (cut at
    /// the end of `history`) from the state built on the observations before it.
    pub(crate) fn rolling_forecasts(
        &self,
        history: &History,
        origins: &[usize],
        len: usize,
    ) -> Vec<Vec<f64>> {
        let n = history.len();
        let split = self.training.points.min(n);
        let phi = self.phi();
        let (alpha, gamma) = (self.params.alpha, self.params.gamma);
        let ab = alpha * self.params.beta;
        let mult = self.seasonality == Seasonality::Multiplicative;
        let m = self.seasonal.len();
        // ring[j]: the season of steps `split + j (mod m)`.
        let mut ring = self.seasonal.clone();
        let (mut level, mut slope) = (self.level, self.slope);
        let mut order: Vec<(usize, usize)> = origins
            .iter()
            .enumerate()
            .map(|(k, &origin)| (origin.clamp(split, n), k))
            .collect();
        order.sort_unstable();
        let mut out = vec![Vec::new(); origins.len()];
        let mut next = 0;
        for t in split..=n {
            while let Some(&(origin, k)) = order.get(next).filter(|(o, _)| *o == t) {
                let (mut damp, mut power) = (0.0, 1.0);
                out[k] = (origin..origin.saturating_add(len).min(n))
                    .map(|i| {
                        power *= phi;
                        damp += power;
                        let base = level + damp * slope;
                        match (m, mult) {
                            (0, _) => base,
                            (_, false) => base + ring[(i - split) % m],
                            (_, true) => base * ring[(i - split) % m],
                        }
                    })
                    .collect();
                next += 1;
            }
            let Some(&y) = history.values.get(t) else {
                break;
            };
            let j = if m > 0 { (t - split) % m } else { 0 };
            let season = if m == 0 {
                if mult { 1.0 } else { 0.0 }
            } else {
                ring[j]
            };
            let predicted = level + phi * slope;
            let feasible = !mult || (predicted > 0.0 && season > 0.0);
            if y.is_nan() || !feasible {
                level = predicted;
                slope *= phi;
            } else if mult {
                let e = y - predicted * season;
                level = predicted + alpha * e / season;
                slope = phi * slope + ab * e / season;
                if m > 0 {
                    ring[j] = season + gamma * e / predicted;
                }
            } else {
                let e = y - predicted - season;
                level = predicted + alpha * e;
                slope = phi * slope + ab * e;
                if m > 0 {
                    ring[j] = season + gamma * e;
                }
            }
        }
        out
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
}

impl Predict for FittedHoltWinters {
    fn predict(&self, horizon: usize, levels: &[f64]) -> Result<Forecast, ForecastError> {
        check_request(horizon, levels)?;
        self.validate()?;
        let phi = self.phi();
        let mut damp = 0.0;
        let mut power = 1.0;
        let mut yhat: Vec<f64> = (0..horizon)
            .map(|h| {
                power *= phi;
                damp += power;
                self.point(h, damp)
            })
            .collect();
        let offset = self.trailing_gaps;
        let bands = intervals::bands(
            &mut yhat,
            levels,
            &self.errors,
            |h| h.saturating_add(offset),
            self.training.nonnegative,
        );
        Ok(Forecast {
            start: self.training.origin,
            step: self.training.step,
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

    fn spec(seasons: &[&str]) -> HoltWintersSpec {
        HoltWintersSpec::new(seasons.iter().map(|s| span(s)).collect())
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
            &HoltWintersSpec {
                seasonality: SeasonalityChoice::Additive,
                ..spec(&["1d"])
            },
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
            let model = fit(
                &HoltWintersSpec {
                    trend,
                    ..spec(&["1d"])
                },
                values.clone(),
                3600,
            );
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
            &HoltWintersSpec {
                trend: TrendChoice::Damped,
                seasonality: SeasonalityChoice::Additive,
                ..spec(&["1d"])
            },
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
            assert!(
                model
                    .training()
                    .fallbacks
                    .iter()
                    .any(|n| n.contains("constant"))
            );
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
        assert!(notes.iter().any(|n| n.contains("1d")), "{notes:?}");
        assert!(notes.iter().any(|n| n.contains("Holt")), "{notes:?}");
        let forecast = model.predict(3, &[0.1, 0.9]).unwrap();
        assert!((forecast.yhat[0] - 40.0).abs() < 1.0, "{:?}", forecast.yhat);

        // Five points: simple exponential smoothing.
        let model = fit(&spec(&["1d"]), vec![1.0, 2.0, 1.5, 2.5, 2.0], 3600);
        assert_eq!(model.trend(), Trend::None);
        assert!(
            model
                .training()
                .fallbacks
                .iter()
                .any(|n| n.contains("simple"))
        );

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
        assert!(model.training().fallbacks.iter().any(|n| n.contains("1w")));
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
        assert!(
            serde_json::from_str::<HoltWintersSpec>(r#"{"seasons":["1d"],"trend":"x"}"#).is_err()
        );
    }

    #[test]
    fn multiplicative_is_refused_on_non_positive_values() {
        let values: Vec<f64> = (0..24 * 5).map(|i| 10.0 * shape(i)).collect();
        let model = fit(
            &HoltWintersSpec {
                seasonality: SeasonalityChoice::Multiplicative,
                ..spec(&["1d"])
            },
            values,
            3600,
        );
        assert_eq!(model.seasonality(), Seasonality::Additive);
        assert!(
            model
                .training()
                .fallbacks
                .iter()
                .any(|n| n.contains("positive"))
        );
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
}

#[cfg(test)]
mod diagnose {
    use super::*;

    /// Not a check: `cargo test --lib holt_winters::diagnose -- --ignored --nocapture`.
    #[test]
    #[ignore]
    fn one_step_on_traces() {
        for (file, horizon) in [("taylor-elec-gb-2000-30m.csv", 1), ("nyc-taxi-30m.csv", 1)] {
            let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("datasets")
                .join(file);
            let series = crate::series::csv::read_dataset(&path).unwrap().series;
            let day = (86_400 / series.step()) as usize;
            for (label, seasonality, trend) in [
                ("auto", SeasonalityChoice::Auto, TrendChoice::Auto),
                (
                    "add/add",
                    SeasonalityChoice::Additive,
                    TrendChoice::Additive,
                ),
                ("add/none", SeasonalityChoice::Additive, TrendChoice::None),
                (
                    "add/damped",
                    SeasonalityChoice::Additive,
                    TrendChoice::Damped,
                ),
                (
                    "mul/none",
                    SeasonalityChoice::Multiplicative,
                    TrendChoice::None,
                ),
            ] {
                let spec = HoltWintersSpec {
                    seasons: vec!["1d".parse().unwrap()],
                    seasonality,
                    trend,
                };
                let (mut abs, mut count) = (0.0, 0);
                let mut described = String::new();
                for k in 0..10 {
                    let end = series.len() / 2 + k * (series.len() / 2 - horizon) / 10;
                    let train = series.slice(end - 14 * day..end);
                    let model = spec.fit(&train).unwrap();
                    let forecast = model.predict(horizon, &[]).unwrap();
                    for h in 0..horizon {
                        let a = series.values()[end + h];
                        if !a.is_nan() {
                            abs += (a - forecast.yhat[h]).abs();
                            count += 1;
                        }
                    }
                    if k < 3 {
                        let p = model.params();
                        described += &format!(
                            " [{:?}/{:?} a{:.3} b{:.3} g{:.3} phi{:.3} rmse{:.1}]",
                            model.seasonality(),
                            model.trend(),
                            p.alpha,
                            p.beta,
                            p.gamma,
                            p.phi,
                            model.rmse()
                        );
                    }
                }
                println!("{file} {label}: MAE {:.1}{described}", abs / count as f64);
            }
        }
    }
}
