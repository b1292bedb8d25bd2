//! The interface of a model family, what the closed enums [`ModelSpec`](super::ModelSpec) and
//! [`FittedModel`]
//! delegate to: [`FamilySpec`] for a family's parameters (its name and seasons, the checks, the
//! fit on prepared history) and [`Family`] for a fitted model (what it is, what it knows of its
//! training data, prediction, and the forecasts from later origins that `auto` scores).
//!
//! Crate-private on purpose: outside `forecast` the two enums are the interface (serializable,
//! matched on by nobody), and their methods are one-line delegations through
//! [`ModelSpec::as_family`](super::ModelSpec::as_family) and [`FittedModel::as_family`], the only
//! `match` on the variants. A new family implements both traits and adds one variant to each enum;
//! `auto` lists it in its candidates.

use super::history::{History, TrainingInfo};
use super::{
    FittedModel, Forecast, ForecastError, ModelSummary, check_request, check_seasons, join_seasons,
};
use crate::series::{Series, Span};

/// A family's parameters: the spec side of the family interface.
pub(crate) trait FamilySpec {
    /// The family's name as in JSON and on the command line, e.g. `linear-seasonal`.
    fn name(&self) -> &'static str;

    /// The seasons the spec may use.
    fn seasons(&self) -> &[Span];

    /// Validates the parameters (by default the season list: [`check_seasons`]).
    fn check(&self) -> Result<(), ForecastError> {
        check_seasons(self.seasons())
    }

    /// Fits a checked spec on prepared history. `with_intervals = false` lets the family skip
    /// measuring its own error quantiles: `auto` fits its candidates this way and measures
    /// their errors itself, out of sample.
    fn fit_history(
        &self,
        history: &History,
        with_intervals: bool,
    ) -> Result<FittedModel, ForecastError>;

    /// Fits a checked spec on prepared history without intervals (as `auto`'s members are
    /// refitted), starting from `previous`, the series' fit of this spec on an earlier window,
    /// where the family can use it. By default a plain fit.
    fn refit_history(
        &self,
        history: &History,
        previous: &FittedModel,
    ) -> Result<FittedModel, ForecastError> {
        let _ = previous;
        self.fit_history(history, false)
    }

    /// A refit of a checked spec that keeps what `previous` learnt and need not be learnt again
    /// (`auto`'s selection, while fresh); `None`, the default, when a plain fit is due.
    fn refit_kept(&self, history: &History, previous: &FittedModel) -> Option<FittedModel> {
        let _ = (history, previous);
        None
    }
}

/// A fitted model of one family: the fitted side of the family interface.
pub(crate) trait Family {
    /// The family, as [`FamilySpec::name`] spells it.
    fn family(&self) -> &'static str;

    /// What the model knows about its training data.
    fn training(&self) -> &TrainingInfo;

    /// The seasons the fit actually uses and, for linear-seasonal, the Fourier harmonics of
    /// each (empty otherwise).
    fn seasons_used(&self) -> (Vec<Span>, Vec<usize>);

    /// [`FittedModel::name`]: the family (`auto` adds what it chose).
    fn name(&self) -> String {
        self.family().to_string()
    }

    /// [`FittedModel::label`]: the family with the seasons it uses, e.g. `seasonal-naive(1w)`,
    /// `seasonal-naive(last value)`.
    fn label(&self) -> String {
        format!(
            "{}({})",
            self.family(),
            join_seasons(&self.seasons_used().0)
        )
    }

    /// Checks a model read from a file (its fields are otherwise trusted by [`Family::forecast`]).
    fn validate(&self) -> Result<(), ForecastError>;

    /// The point forecast and the `levels` quantiles for `horizon` steps from the origin, for a
    /// request [`check_request`] accepted and a model [`Family::validate`] accepted.
    fn forecast(&self, horizon: usize, levels: &[f64]) -> Result<Forecast, ForecastError>;

    /// [`FittedModel::predict`]: the request and the model checked, then [`Family::forecast`],
    /// 0 at the steps a traffic series' schedule closes.
    fn predict(&self, horizon: usize, levels: &[f64]) -> Result<Forecast, ForecastError> {
        check_request(horizon, levels)?;
        self.validate()?;
        let mut forecast = self.forecast(horizon, levels)?;
        let training = self.training();
        if let Some(schedule) = training.schedule.as_ref().filter(|_| training.nonnegative) {
            schedule.close(&mut forecast);
        }
        Ok(forecast)
    }

    /// [`FittedModel::rolling_forecasts`]: point forecasts from later origins of `history` with
    /// the fitted parameters kept, each family updating its state cheaply instead of refitting.
    fn rolling_forecasts(
        &self,
        history: &History,
        origins: &[usize],
        len: usize,
    ) -> Result<Vec<Vec<f64>>, ForecastError>;

    /// [`FittedModel::summary`].
    fn summary(&self) -> ModelSummary {
        let seasons = self.seasons_used();
        ModelSummary::new(
            self.name(),
            self.family(),
            seasons,
            self.training(),
            vec![],
            None,
        )
    }
}

/// Fits `spec` on `series` the way [`ModelSpec::fit`](super::ModelSpec::fit) does (the spec
/// checked, the series prepared once) with `fit`, the family's own fit on prepared history: the
/// typed `fit` of each family's spec, which returns the family's own fitted type rather than a
/// [`FittedModel`].
pub(crate) fn fit_series<S: FamilySpec, F>(
    spec: &S,
    series: &Series,
    fit: impl FnOnce(&History) -> Result<F, ForecastError>,
) -> Result<F, ForecastError> {
    spec.check()?;
    fit(&History::new(series)?)
}
