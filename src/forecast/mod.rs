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
//! objects; each model family lives in its own module behind the [`Fit`] and [`Predict`] traits.

use serde::{Deserialize, Serialize};

use crate::series::{Series, Span, Timestamp};

/// Errors from fitting or predicting.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum ForecastError {
    /// Not enough (non-gap) history for any model.
    #[error("too little history: {have} observed step(s), at least {needed} needed")]
    TooShort { needed: usize, have: usize },
    /// A parameter is out of range (checked once, before fitting).
    #[error("invalid model parameter: {0}")]
    InvalidSpec(String),
    /// A quantile level outside (0, 1).
    #[error("quantile level {0} is not strictly between 0 and 1")]
    InvalidLevel(f64),
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

    /// The band for quantile `level`, if it was asked for (levels compare within 1e-9).
    pub fn quantile(&self, level: f64) -> Option<&[f64]> {
        self.bands
            .iter()
            .find(|band| (band.level - level).abs() < 1e-9)
            .map(|band| band.values.as_slice())
    }
}

/// Fitting: a configured, unfitted model turns a training series into a fitted one.
pub trait Fit {
    type Fitted: Predict;
    /// Fits on `series` (gaps are `NaN` and mean "unknown", never zero). The fitted model
    /// forecasts from `series.end()`.
    fn fit(&self, series: &Series) -> Result<Self::Fitted, ForecastError>;
}

/// Prediction: a fitted model forecasts `horizon` steps from the end of its training data.
pub trait Predict {
    /// Point forecast and the `levels` quantiles (each strictly in (0, 1)) for `horizon` steps.
    fn predict(&self, horizon: usize, levels: &[f64]) -> Result<Forecast, ForecastError>;
}

/// Which model to fit, with its parameters. Serialized with a `model` tag:
/// `{"model":"seasonal-naive","seasons":["1d","7d"]}`.
///
/// CONTRACT (skeleton — the forecast helper fills in the variants' parameter structs in their own
/// modules): variants `SeasonalNaive`, `LinearSeasonal`, `Auto`; names `seasonal-naive`,
/// `linear-seasonal`, `auto`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "model", rename_all = "kebab-case")]
pub enum ModelSpec {
    SeasonalNaive { seasons: Vec<Span> },
    LinearSeasonal { seasons: Vec<Span> },
    Auto { seasons: Vec<Span> },
}

impl Default for ModelSpec {
    /// `auto` over daily and weekly seasonality.
    fn default() -> Self {
        todo!()
    }
}

impl ModelSpec {
    /// The spec named `name` (`auto`, `seasonal-naive`, `linear-seasonal`) with `seasons`.
    pub fn from_name(name: &str, seasons: Vec<Span>) -> Result<ModelSpec, ForecastError> {
        let _ = (name, seasons);
        todo!()
    }

    /// Validates the parameters once, before any fit.
    pub fn check(&self) -> Result<(), ForecastError> {
        todo!()
    }

    /// Fits this spec on `series`.
    pub fn fit(&self, series: &Series) -> Result<FittedModel, ForecastError> {
        let _ = series;
        todo!()
    }
}

/// A fitted model of any family (serializable).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FittedModel {}

impl FittedModel {
    /// The model family that predicts, e.g. `linear-seasonal` (for `auto`, the chosen one).
    pub fn name(&self) -> String {
        todo!()
    }

    /// The first timestamp this model forecasts (the end of its training data).
    pub fn origin(&self) -> Timestamp {
        todo!()
    }

    /// The grid step in seconds.
    pub fn step(&self) -> i64 {
        todo!()
    }

    pub fn predict(&self, horizon: usize, levels: &[f64]) -> Result<Forecast, ForecastError> {
        let _ = (horizon, levels);
        todo!()
    }
}
