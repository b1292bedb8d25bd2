//! Forecasting: models behind one fit/predict split, prediction intervals, model selection.
//!
//! Pure and synchronous: no I/O, no clock, no async. The service's engine and the offline
//! backtest call exactly these functions, so what a backtest measures is what production does.
//!
//! The life of a model is split in two, in the style of augurs and linfa:
//! - a [`ModelSpec`] (parameters, serializable) is fitted on a [`Series`] into
//! - a [`FittedModel`] (serializable, so it can be saved under `models/`), which predicts
//!   `horizon` steps from the end of its training data, returning a [`Forecast`] with the point
//!   forecast and the quantiles asked for at predict time.
//!
//! The engine, the backtest and model files see these two closed enums rather than trait
//! objects. Each model family lives in its own module behind one crate-private interface
//! (`family`: a spec side and a fitted side), and the enums' methods delegate to it.
//!
//! # Layout
//!
//! - [`seasonal_naive`]: the value one season earlier (the baseline).
//! - [`linear`]: linear regression on a trend and Fourier terms per season (linfa-linear), with
//!   an optional weekend daily shape, log/Box-Cox transform, robust (IRLS) fitting and an AR(p)
//!   short-horizon correction on its residuals.
//! - [`holt_winters`]: Holt-Winters exponential smoothing (additive or multiplicative season,
//!   damped trend), its smoothing parameters fitted on the training data.
//! - [`auto`]: holdout model selection among the families (or a combination of the best two),
//!   with conformal intervals from out-of-sample errors of the recent days.
//! - `family`: the interface every family implements and the enums delegate to.
//! - `intervals`: prediction intervals from forecast errors per horizon step.
//! - `history`: the training series prepared once (gaps, leading gaps, overflow checks).
//! - `clock`: the clock the traffic keeps: a history a daylight-saving change moved by an hour,
//!   moved back onto the current clock before any model sees it.
//! - [`schedule`]: recurring closed periods (nights, weekends) recognised from the gaps.
//! - [`model_file`]: a fitted model with its metadata, as saved under `models/` (text only).
//! - [`window`]: what a fit at `now` is trained on, the seasons it can hold, the default window.

pub mod auto;
mod clock;
mod family;
mod history;
pub mod holt_winters;
mod intervals;
pub mod linear;
pub mod model_file;
pub mod mstl;
pub mod schedule;
pub mod seasonal_naive;
pub mod window;

use serde::{Deserialize, Serialize};

pub use auto::{AutoSpec, CandidateScore, Combine, Conformal, FittedAuto, Member, Validation};
pub use history::TrainingInfo;
pub use holt_winters::{FittedHoltWinters, HoltWintersSpec};
pub use linear::{FittedLinearSeasonal, LinearSeasonalSpec, SeasonUsed, Transform, WeekdayShape};
pub use model_file::{ModelFile, ModelFileError};
pub use mstl::{FittedMstl, MstlSpec};
pub use schedule::Schedule;
pub use seasonal_naive::{FittedSeasonalNaive, SeasonalNaiveSpec};

use crate::series::{Series, Span, Timestamp};
use family::{Family, FamilySpec};
use history::History;

/// The quantile levels of the 80 % and 95 % central intervals, which every forecast the service
/// publishes carries.
pub const INTERVAL_LEVELS: [f64; 4] = [0.025, 0.1, 0.9, 0.975];

/// Errors from fitting or predicting.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum ForecastError {
    /// Not enough (non-gap) history for any model.
    #[error("too little history: {have} observed step(s), at least {needed} needed")]
    TooShort { needed: usize, have: usize },
    /// The samples all lie before the training window (or after `now`): the message says how
    /// old the newest is.
    #[error("{0}")]
    OutsideWindow(String),
    /// A parameter is out of range (checked once, before fitting).
    #[error("invalid model parameter: {0}")]
    InvalidSpec(String),
    /// A quantile level outside (0, 1).
    #[error("quantile level {0} is not strictly between 0 and 1")]
    InvalidLevel(f64),
    /// No season asked for fits the training window (twice, and at least 2 steps long).
    #[error("{0}")]
    NoSeason(String),
    /// The training window holds more steps than a fit may take (samples spaced too finely).
    #[error("{0}")]
    Grid(String),
    /// The numerical fit failed (e.g. a singular design matrix).
    #[error("fit failed: {0}")]
    Fit(String),
}

/// A forecast: point values and quantile bands on the grid `start + i * step`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Forecast {
    /// Timestamp of the first forecast step (the end of the training data).
    pub start: Timestamp,
    /// Step in seconds, that of the training series.
    pub step: i64,
    /// Point forecast per step.
    pub yhat: Vec<f64>,
    /// One band per quantile level asked for, in the order asked.
    pub bands: Vec<Band>,
}

/// The `level` quantile of the predictive distribution at each forecast step (e.g. `level = 0.9`
/// is the value load stays under with 90 % probability).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Band {
    pub level: f64,
    pub values: Vec<f64>,
}

impl Forecast {
    /// Number of forecast steps.
    pub fn len(&self) -> usize {
        self.yhat.len()
    }

    pub fn is_empty(&self) -> bool {
        self.yhat.is_empty()
    }

    /// The start of forecast step `i`.
    pub fn timestamp(&self, i: usize) -> Timestamp {
        self.start + i as i64 * self.step
    }

    /// Steps `skip .. skip + len` (cut at the end), starting at step `skip`'s timestamp. A
    /// forecast's values do not depend on its length, so this is what predicting from the same
    /// model for that window would give.
    pub fn window(&self, skip: usize, len: usize) -> Forecast {
        let from = skip.min(self.len());
        let to = from.saturating_add(len).min(self.len());
        Forecast {
            start: self.timestamp(from),
            step: self.step,
            yhat: self.yhat[from..to].to_vec(),
            bands: self
                .bands
                .iter()
                .map(|band| Band {
                    level: band.level,
                    values: band.values[from..to].to_vec(),
                })
                .collect(),
        }
    }

    /// The band for quantile `level`, if it was asked for (levels compare within 1e-9).
    pub fn quantile(&self, level: f64) -> Option<&[f64]> {
        self.bands
            .iter()
            .find(|band| (band.level - level).abs() < 1e-9)
            .map(|band| band.values.as_slice())
    }

    /// The same forecast with only the bands at `levels`, in that order (levels it lacks are
    /// left out).
    pub fn with_levels(mut self, levels: &[f64]) -> Forecast {
        let mut bands = std::mem::take(&mut self.bands);
        self.bands = levels
            .iter()
            .filter_map(|&level| {
                let i = bands.iter().position(|b| (b.level - level).abs() < 1e-9)?;
                Some(bands.swap_remove(i))
            })
            .collect();
        self
    }
}

/// Version of the serialized [`FittedModel`] format, for the model files under `models/`
/// (bumped whenever a saved model would no longer load or would predict differently).
///
/// 2: `auto` keeps its members (one model, or a weighted combination) and conformal intervals;
/// linear-seasonal keeps its transform, weekend block and AR correction.
pub const MODEL_FORMAT_VERSION: u32 = 2;

/// The longest forecast one call may ask for, in steps (a guard against allocating without
/// bound on a hostile request; a year of 1-minute steps is about 525,600).
pub const MAX_HORIZON: usize = 1_000_000;

/// At most this many seasons per spec.
pub const MAX_SEASONS: usize = 8;

/// The longest season accepted: a year (366 days).
pub const MAX_SEASON_SECONDS: i64 = 366 * 86_400;

/// Which model to fit, with its parameters. Serialized with a `model` tag, e.g.
/// `{"model":"auto","seasons":["1d","7d"]}`,
/// `{"model":"seasonal-naive","seasons":["1d","7d"]}`,
/// `{"model":"linear-seasonal","seasons":["1d","7d"],"harmonics":[10,5]}` (`harmonics`
/// optional, as are `weekday_shape`, `transform`, `robust` and `ar_order`: see
/// [`LinearSeasonalSpec`]), `{"model":"holt-winters","seasons":["1d"],"seasonality":"auto",
/// "trend":"auto"}` (`seasonality` and `trend` optional), `{"model":"mstl","seasons":["1d","7d"]}`. Unknown fields are refused, so a typo
/// in a config or a `PUT` body is an error.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "model", rename_all = "kebab-case")]
pub enum ModelSpec {
    SeasonalNaive(SeasonalNaiveSpec),
    LinearSeasonal(LinearSeasonalSpec),
    HoltWinters(HoltWintersSpec),
    Mstl(MstlSpec),
    Auto(AutoSpec),
}

impl Default for ModelSpec {
    /// `auto` over daily and weekly seasonality.
    fn default() -> Self {
        let day = Span::from_seconds(86_400).expect("a day is a positive span");
        let week = Span::from_seconds(7 * 86_400).expect("a week is a positive span");
        ModelSpec::Auto(AutoSpec::new(vec![day, week]))
    }
}

impl ModelSpec {
    /// The spec named `name` (`auto`, `seasonal-naive`, `linear-seasonal`, `holt-winters`, `mstl`)
    /// with `seasons`, checked.
    pub fn from_name(name: &str, seasons: Vec<Span>) -> Result<ModelSpec, ForecastError> {
        let spec = match name {
            "auto" => ModelSpec::Auto(AutoSpec::new(seasons)),
            "seasonal-naive" => ModelSpec::SeasonalNaive(SeasonalNaiveSpec::new(seasons)),
            "linear-seasonal" => ModelSpec::LinearSeasonal(LinearSeasonalSpec::new(seasons)),
            "holt-winters" => ModelSpec::HoltWinters(HoltWintersSpec::new(seasons)),
            "mstl" => ModelSpec::Mstl(MstlSpec::new(seasons)),
            other => {
                return Err(ForecastError::InvalidSpec(format!(
                    "unknown model {other:?}: expected auto, seasonal-naive, linear-seasonal, holt-winters or mstl"
                )));
            }
        };
        spec.check()?;
        Ok(spec)
    }

    /// The family behind the enum: every method below delegates to it.
    pub(crate) fn as_family(&self) -> &dyn FamilySpec {
        match self {
            ModelSpec::SeasonalNaive(spec) => spec,
            ModelSpec::LinearSeasonal(spec) => spec,
            ModelSpec::HoltWinters(spec) => spec,
            ModelSpec::Mstl(spec) => spec,
            ModelSpec::Auto(spec) => spec,
        }
    }

    /// The model's name as in JSON and on the command line.
    pub fn name(&self) -> &'static str {
        self.as_family().name()
    }

    /// The seasons the spec may use.
    pub fn seasons(&self) -> &[Span] {
        self.as_family().seasons()
    }

    /// Validates the parameters once, before any fit (the fit checks again, cheaply, so an
    /// unchecked spec is an error value, never a panic).
    pub fn check(&self) -> Result<(), ForecastError> {
        self.as_family().check()
    }

    /// Fits this spec on `series`.
    pub fn fit(&self, series: &Series) -> Result<FittedModel, ForecastError> {
        self.check()?;
        self.fit_history(&History::new(series)?, true)
    }

    /// Fits `series` as [`ModelSpec::fit`] does, but keeps what `previous` — this spec's fit of
    /// an earlier window of the same series — learnt that need not be learnt again: `auto`'s
    /// choice of model and its conformal quantiles, while fresh (3 to 6 hours:
    /// [`auto::RESELECT_SECONDS`]); only the chosen members are refitted, each from its
    /// previous fit (a linear fit continues its robust iterations). Other specs, and
    /// `auto` when its selection is due, fit from scratch. The engine's refits and the
    /// backtest's replay of them go through here.
    pub fn refit(
        &self,
        series: &Series,
        previous: Option<&FittedModel>,
    ) -> Result<FittedModel, ForecastError> {
        self.check()?;
        let prior = previous.and_then(|model| model.training().schedule.as_ref());
        let history = History::with_prior_schedule(series, prior)?;
        if let Some(previous) = previous
            && let Some(model) = self.as_family().refit_kept(&history, previous)
        {
            return Ok(model);
        }
        self.fit_history(&history, true)
    }

    /// Fits on prepared history. `with_intervals = false` lets a family skip measuring its own
    /// error quantiles: `auto` fits its candidates this way and measures their errors itself,
    /// out of sample.
    pub(crate) fn fit_history(
        &self,
        history: &History,
        with_intervals: bool,
    ) -> Result<FittedModel, ForecastError> {
        self.check()?;
        self.as_family().fit_history(history, with_intervals)
    }

    /// Fits on prepared history without intervals (as `auto`'s members are fitted), starting
    /// from the series' `previous` fit of this spec where the family can use one (a linear fit
    /// continues its robust iterations); otherwise a plain fit.
    pub(crate) fn refit_history(
        &self,
        history: &History,
        previous: &FittedModel,
    ) -> Result<FittedModel, ForecastError> {
        self.check()?;
        self.as_family().refit_history(history, previous)
    }
}

/// A fitted model of any family (serializable, tagged like [`ModelSpec`]:
/// `{"model":"auto","chosen":{"model":"linear-seasonal",…},"validation":{…}}`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "model", rename_all = "kebab-case")]
pub enum FittedModel {
    SeasonalNaive(FittedSeasonalNaive),
    LinearSeasonal(FittedLinearSeasonal),
    HoltWinters(FittedHoltWinters),
    Mstl(FittedMstl),
    Auto(FittedAuto),
}

impl FittedModel {
    /// The family behind the enum: every method below delegates to it.
    pub(crate) fn as_family(&self) -> &dyn Family {
        match self {
            FittedModel::SeasonalNaive(model) => model,
            FittedModel::LinearSeasonal(model) => model,
            FittedModel::HoltWinters(model) => model,
            FittedModel::Mstl(model) => model,
            FittedModel::Auto(model) => model,
        }
    }

    /// The model family that predicts, e.g. `linear-seasonal`; for `auto`, what it chose in
    /// parentheses, with its seasons: `auto(linear-seasonal(1d,1w))`,
    /// `auto(combination(seasonal-naive(1w) + linear-seasonal(1d,1w)))`.
    pub fn name(&self) -> String {
        self.as_family().name()
    }

    /// The family, as [`ModelSpec::name`] spells it.
    pub fn family(&self) -> &'static str {
        self.as_family().family()
    }

    /// The family with the seasons it actually uses, e.g. `seasonal-naive(1w)`,
    /// `seasonal-naive(last value)`, `linear-seasonal(1d,1w)`; for `auto`, [`FittedModel::name`].
    pub fn label(&self) -> String {
        self.as_family().label()
    }

    /// Point forecasts from later origins with the fitted parameters kept, for `auto`'s
    /// holdout: for each of `origins` (indices into `history`, of which this model saw only the
    /// first `training().points` steps), the forecasts of steps `origin..origin + len` (cut at
    /// the end of `history`) that the model makes knowing the observations before `origin`.
    /// Each family updates its state cheaply instead of refitting.
    pub(crate) fn rolling_forecasts(
        &self,
        history: &History,
        origins: &[usize],
        len: usize,
    ) -> Result<Vec<Vec<f64>>, ForecastError> {
        self.as_family().rolling_forecasts(history, origins, len)
    }

    /// What the model knows about its training data.
    pub fn training(&self) -> &TrainingInfo {
        self.as_family().training()
    }

    /// The first timestamp this model forecasts (the end of its training data).
    pub fn origin(&self) -> Timestamp {
        self.training().origin
    }

    /// The grid step in seconds.
    pub fn step(&self) -> i64 {
        self.training().step
    }

    /// Point forecast and the `levels` quantiles (each strictly in (0, 1)) for `horizon` steps
    /// from [`FittedModel::origin`].
    pub fn predict(&self, horizon: usize, levels: &[f64]) -> Result<Forecast, ForecastError> {
        self.as_family().predict(horizon, levels)
    }

    /// A description of the fit for people (shown by the REST API next to the forecast).
    pub fn summary(&self) -> ModelSummary {
        self.as_family().summary()
    }
}

/// `1d,1w`, or `last value` for none.
pub(crate) fn join_seasons(seasons: &[Span]) -> String {
    let names: Vec<String> = seasons.iter().map(Span::to_string).collect();
    if names.is_empty() {
        "last value".to_string()
    } else {
        names.join(",")
    }
}

/// What a fit did, for people: shown by the REST API next to the forecast.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelSummary {
    /// [`FittedModel::name`], e.g. `auto(linear-seasonal(1d,1w))`.
    pub model: String,
    /// The family that predicts: `seasonal-naive`, `linear-seasonal`, `holt-winters`, or for
    /// `auto` a `combination` of several.
    pub family: String,
    /// Seasons actually used (empty: seasonal naive fell back to the last value, Holt-Winters to
    /// no season; for a combination, those of its first member).
    pub seasons: Vec<Span>,
    /// Linear-seasonal: Fourier harmonics per season in `seasons`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub harmonics: Vec<usize>,
    /// First observed training step.
    pub train_start: Timestamp,
    /// End of the training data = first forecast timestamp.
    pub origin: Timestamp,
    pub step: i64,
    /// Training steps (gaps included) and how many were observed.
    pub points: usize,
    pub observed: usize,
    /// The training data was non-negative, so forecasts are clamped at 0.
    pub clamped_at_zero: bool,
    /// Every simplification the fit took, and why.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub fallbacks: Vec<String>,
    /// `auto` only: the holdout scores of each candidate.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub validation: Option<Validation>,
}

impl ModelSummary {
    /// The summary of a fit: `model` its [`FittedModel::name`], `family` the family that
    /// predicts, the seasons (and harmonics) used, its training data, the simplifications
    /// taken before those of the training data's fit (`auto`'s), its validation (`auto`'s).
    pub(crate) fn new(
        model: String,
        family: &str,
        (seasons, harmonics): (Vec<Span>, Vec<usize>),
        training: &TrainingInfo,
        mut fallbacks: Vec<String>,
        validation: Option<Validation>,
    ) -> ModelSummary {
        fallbacks.extend(training.fallbacks.iter().cloned());
        ModelSummary {
            model,
            family: family.to_string(),
            seasons,
            harmonics,
            train_start: training.start,
            origin: training.origin,
            step: training.step,
            points: training.points,
            observed: training.observed,
            clamped_at_zero: training.nonnegative,
            fallbacks,
            validation,
        }
    }
}

/// Checks a season list: 1 to [`MAX_SEASONS`] distinct seasons of at most a year.
pub(crate) fn check_seasons(seasons: &[Span]) -> Result<(), ForecastError> {
    if seasons.is_empty() {
        return Err(ForecastError::InvalidSpec(
            "at least one season is needed (e.g. 1d)".to_string(),
        ));
    }
    if seasons.len() > MAX_SEASONS {
        return Err(ForecastError::InvalidSpec(format!(
            "{} seasons given, at most {MAX_SEASONS} are supported",
            seasons.len()
        )));
    }
    for (i, season) in seasons.iter().enumerate() {
        if season.seconds() > MAX_SEASON_SECONDS {
            return Err(ForecastError::InvalidSpec(format!(
                "season {season} is longer than a year"
            )));
        }
        if seasons[..i].contains(season) {
            return Err(ForecastError::InvalidSpec(format!(
                "season {season} is listed twice"
            )));
        }
    }
    Ok(())
}

/// Checks a predict request: every level strictly inside (0, 1), a bounded horizon.
pub(crate) fn check_request(horizon: usize, levels: &[f64]) -> Result<(), ForecastError> {
    if let Some(bad) = levels.iter().find(|l| !(**l > 0.0 && **l < 1.0)) {
        return Err(ForecastError::InvalidLevel(*bad));
    }
    if horizon > MAX_HORIZON {
        return Err(ForecastError::InvalidSpec(format!(
            "horizon of {horizon} steps is longer than the maximum of {MAX_HORIZON}"
        )));
    }
    Ok(())
}

/// `x` rounded to 14 significant digits (and to a multiple of 1e-22), so that it survives a trip
/// through JSON exactly.
///
/// serde_json (without its `float_roundtrip` feature) parses a number as
/// `significand × or ÷ 10^exponent`, which is exact only when the significand (every digit
/// written, including the `.0` it writes after whole numbers) is below 2^53 and the exponent
/// within ±22. Fitted models round every number they keep this way when they are fitted, so a
/// model loaded from a file predicts *exactly* what the saved model did, at a relative cost of
/// 1e-14. Magnitudes of 1e14 and more are left alone: they do not occur in traffic, and they
/// round-trip to within a unit in the last place.
pub(crate) fn json_exact(x: f64) -> f64 {
    const POW10: [f64; 23] = [
        1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16,
        1e17, 1e18, 1e19, 1e20, 1e21, 1e22,
    ];
    if !x.is_finite() || x == 0.0 || x.abs() >= 1e14 {
        return x;
    }
    // The position of the leading digit (`log10` may be off by one next to a power of ten,
    // which costs a digit, never the 2^53 bound), and of the last digit kept: always after the
    // decimal point below 1e14.
    let leading = x.abs().log10().floor() as i32;
    let last = (leading - 13).clamp(-22, -1);
    let pow = POW10[last.unsigned_abs() as usize];
    (x * pow).round() / pow
}

/// [`json_exact`] over a slice.
pub(crate) fn json_exact_all(values: &mut [f64]) {
    for v in values {
        *v = json_exact(*v);
    }
}

#[cfg(test)]
pub(crate) mod test_support {
    use super::TrainingInfo;

    /// A bundled trace (`datasets/FILE`), read by the dataset reader.
    pub(crate) fn bundled_trace(file: &str) -> crate::series::Series {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("datasets")
            .join(file);
        crate::series::csv::read_dataset(&path).unwrap().series
    }

    /// Whether one of the fit's notes (its fallbacks) mentions `words`.
    pub(crate) fn noted(training: &TrainingInfo, words: &str) -> bool {
        training.fallbacks.iter().any(|note| note.contains(words))
    }

    /// A deterministic pseudo-random stream, so tests need no extra dependency.
    pub(crate) struct Lcg(pub u64);

    impl Lcg {
        /// Uniform in (0, 1).
        pub fn uniform(&mut self) -> f64 {
            self.0 = self
                .0
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            ((self.0 >> 11) as f64 + 0.5) / (1u64 << 53) as f64
        }

        /// Standard normal (Box–Muller).
        pub fn normal(&mut self) -> f64 {
            let (u, v) = (self.uniform(), self.uniform());
            (-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos()
        }

        /// Student-t with 3 degrees of freedom (heavy tails), scaled to unit variance.
        pub fn student3(&mut self) -> f64 {
            let z = self.normal();
            let chi2: f64 = (0..3).map(|_| self.normal().powi(2)).sum();
            z / (chi2 / 3.0).sqrt() / 3f64.sqrt()
        }
    }
}

#[cfg(test)]
mod tests;
